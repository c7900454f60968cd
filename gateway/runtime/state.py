"""What changes while a gateway process runs: the deployed configuration, swapped whole by hot deployment (a
message keeps the one it started with: `ctx.config`), and the switches the management API sets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from gateway.runtime.configuration import Configuration, ProxyService
    from gateway.runtime.metrics import Metrics


class RuntimeState:
    __slots__ = (
        "config",
        "proxy_running",
        "processor_active",
        "endpoint_active",
        "counters",
        "metrics",
        "report",
        "_unconfirmed",
    )

    def __init__(self, config: Configuration) -> None:
        self.config = config
        self.proxy_running: dict[str, bool] = {}  # set through the management API; else the proxy's startOnLoad
        self.processor_active: dict[str, bool] = {}  # message processors (none deployable yet)
        self.endpoint_active: dict[str, bool] = {}  # named endpoints switched on / off through the management API
        self.counters: dict[str, list[int]] = {}  # proxy name -> [requests, errors], for the dashboard
        self.metrics: Metrics | None = None  # the serving process's Prometheus metrics (set by the transport)
        # A worker of --workers N: tells the supervisor what changed here (set by gateway.transport.control).
        self.report: Callable[[dict[str, Any]], None] | None = None
        self._unconfirmed: set[str] = set()  # processors deactivated here that the supervisor has not confirmed

    def running(self, proxy: ProxyService) -> bool:
        return self.proxy_running.get(proxy.name, proxy.start_on_load)

    def swap(self, config: Configuration) -> None:
        """Serve `config` from now on. A proxy that was redeployed starts as its file says, as in MI (a new
        ProxyService object), so a switch set on the old one is dropped."""
        for name in list(self.proxy_running):
            if config.proxies.get(name) is not self.config.proxies.get(name):
                del self.proxy_running[name]
        for name in list(self.endpoint_active):  # likewise a redeployed endpoint starts active, as in MI
            if config.endpoints.get(name) is not self.config.endpoints.get(name):
                del self.endpoint_active[name]
        self.config = config
        if self.metrics is not None:
            self.metrics.deployed(config)

    def count(self, name: str, failed: bool) -> None:
        counter = self.counters.get(name)
        if counter is None:
            counter = self.counters[name] = [0, 0]
        counter[0] += 1
        if failed:
            counter[1] += 1

    def switches(self) -> dict[str, Any]:
        """The switches, as the supervisor sends them to its workers."""
        return {
            "proxies": dict(self.proxy_running),
            "processors": dict(self.processor_active),
            "endpoints": dict(self.endpoint_active),
        }

    def apply_switches(self, switches: dict[str, Any]) -> None:
        self.proxy_running = dict(switches.get("proxies", {}))
        processors = dict(switches.get("processors", {}))
        for name in list(self._unconfirmed):
            if processors.get(name) is False:
                self._unconfirmed.discard(name)
            else:  # sent before the supervisor heard of the deactivation: it must not restart the processor
                processors[name] = False
        self.processor_active = processors
        for name, active in dict(switches.get("endpoints", {})).items():
            self.switch_endpoint(name, bool(active))

    def deactivate_processor(self, name: str) -> None:
        """A processor stopped itself (max.delivery.attempts, no reply sequence). Its state is one for the
        whole gateway, as MI keeps it in its registry: a worker tells the supervisor, whose management API then
        shows it, and whose next switches keep it off in every worker until someone activates it."""
        self.processor_active[name] = False
        if self.report is not None:
            self._unconfirmed.add(name)
            self.report({"op": "processor", "name": name, "active": False})

    def switch_endpoint(self, name: str, active: bool) -> bool:
        """W: EndpointContext.switchOn / switchOff: an endpoint switched off is never ready. False when no
        endpoint has that name."""
        endpoint = self.config.endpoints.get(name)
        if endpoint is None:
            return False
        self.endpoint_active[name] = active
        endpoint.context.switch(active)
        return True
