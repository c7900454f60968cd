"""Prometheus metrics with MI's names (W: org.wso2.micro.integrator.observability MetricConstants,
PrometheusReporter, MetricHandler): request counts, error counts and latency histograms per proxy service and
per REST API, as MI's MetricHandler records them for every artifact (MI's `statistics="enable"` feeds its
analytics, not these metrics). Ours, under the same prefix: named endpoints and connector operations.

One `Metrics` per serving process, with a registry of its own. With `--workers N` the supervisor points every
worker at one folder (prometheus-client's multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`): each worker writes
its own memory-mapped files and the supervisor's scrape sums them, so a respawned worker loses no count.

Request time costs a dict lookup, one counter increment and one histogram observation per artifact: the
labelled children are made once per artifact and kept.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from gateway.runtime.configuration import Configuration
    from gateway.settings import Settings

disable_created_metrics()  # type: ignore[no-untyped-call]  # MI's Java client exports no *_created series
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's multiprocess mode
PATH = "/metric-service/metrics"  # MI's path (on its internal API port 9201; here on the management port)
# MI's default latency buckets (PrometheusReporter), in seconds.
MI_BUCKETS = (0.19, 0.20, 0.25, 0.30, 0.35, 0.40, 0.50, 0.60, 1.0, 5.0)
PROXY, API, ENDPOINT, INBOUND = "proxy", "api", "endpoint", "inbound-endpoint"  # MI's service_type values
ANONYMOUS_ENDPOINT = "AnonymousEndpoint"  # MI's name for an inline endpoint without one


@dataclass(frozen=True, slots=True)
class Series:
    """The labelled children of one artifact: requests, errors, latency."""

    requests: Counter
    errors: Counter
    latency: Histogram

    def record(self, seconds: float, failed: bool) -> None:
        self.requests.inc()
        if failed:
            self.errors.inc()
        self.latency.observe(seconds)


class Metrics:
    """The metrics a serving process records (services.metrics)."""

    def __init__(self, settings: Settings | None = None, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        buckets = tuple(settings.metrics.latency_buckets) if settings is not None else MI_BUCKETS
        self.enabled = settings.metrics.enabled if settings is not None else True
        r = self.registry
        name, kind, url = "service_name", "service_type", "invocation_url"
        self._proxy = _family(r, "proxy", "a proxy service", (name, kind), buckets)
        self._api = _family(r, "api", "an api", (name, kind, url), buckets)
        self._inbound = _family(r, "inbound_endpoint", "an inbound endpoint", (name, kind), buckets)
        self._endpoint = _family(r, "endpoint", "an endpoint (extension)", (name, kind), buckets)
        self._connector_requests = Counter(
            "wso2_integration_connector_request_count",
            "Connector operations (extension), by status and error code",
            ("connector", "operation", "status", "error_code"),
            registry=r,
        )
        self._connector_latency = Histogram(
            "wso2_integration_connector_latency_seconds",
            "Latency of connector operations (extension)",
            ("connector", "operation"),
            buckets=buckets,
            registry=r,
        )
        self._connector_retries = Counter(
            "wso2_integration_connector_retry_count",
            "Retries connectors made (extension)",
            ("connector", "operation"),
            registry=r,
        )
        self._series: dict[tuple[str, str, str], Series] = {}
        self._api_urls: dict[tuple[str, str], str] = {}
        self._host = _public_host(settings.host) if settings is not None else "localhost"
        self._ports = {"http": settings.port if settings is not None else 8290}
        if settings is not None and settings.https.enabled:
            self._ports["https"] = settings.https.port

    # -- request time ---------------------------------------------------------------------------------------
    def proxy(self, name: str) -> Series:
        series = self._series.get((PROXY, name, ""))
        if series is None:
            series = self._series[(PROXY, name, "")] = self._proxy.series(name, PROXY)
        return series

    def api(self, name: str, context: str, scheme: str = "http") -> Series:
        """MI's invocation_url is the whole request URL; ours is the API's base URL (bounded cardinality)."""
        key = (API, name, scheme)
        series = self._series.get(key)
        if series is None:
            port = self._ports.get(scheme, self._ports["http"])
            url = f"{scheme}://{self._host}:{port}{context}"
            series = self._series[key] = self._api.series(name, API, url)
        return series

    def endpoint(self, name: str | None) -> Series:
        label = name or ANONYMOUS_ENDPOINT
        series = self._series.get((ENDPOINT, label, ""))
        if series is None:
            series = self._series[(ENDPOINT, label, "")] = self._endpoint.series(label, ENDPOINT)
        return series

    def connector(
        self, connector: str, operation: str, status: int | str, error_code: int | str, seconds: float
    ) -> None:
        self._connector_requests.labels(connector, operation, str(status), str(error_code)).inc()
        self._connector_latency.labels(connector, operation).observe(seconds)

    def connector_retry(self, connector: str, operation: str) -> None:
        self._connector_retries.labels(connector, operation).inc()

    # -- deploy time ----------------------------------------------------------------------------------------
    def deployed(self, config: Configuration) -> None:
        """MI's serviceUp sets each deployed artifact's counters to 0, so its series exist before the first
        request (rate() then counts the first one)."""
        for name in config.proxies:
            self.proxy(name)
        for api in config.apis.values():
            self.api(api.name, api.base_path)


class _Family:
    __slots__ = ("requests", "errors", "latency")

    def __init__(self, requests: Counter, errors: Counter, latency: Histogram) -> None:
        self.requests, self.errors, self.latency = requests, errors, latency

    def series(self, *labels: str) -> Series:
        return Series(self.requests.labels(*labels), self.errors.labels(*labels), self.latency.labels(*labels))


def _family(
    registry: CollectorRegistry, kind: str, what: str, labels: tuple[str, ...], buckets: tuple[float, ...]
) -> _Family:
    # prometheus-client adds `_total` to a counter's name: these are exported exactly as MI's constants.
    return _Family(
        Counter(
            f"wso2_integration_{kind}_request_count", f"Total number of requests to {what}", labels, registry=registry
        ),
        Counter(
            f"wso2_integration_{kind}_request_count_error",
            f"Total number of error requests to {what}",
            labels,
            registry=registry,
        ),
        Histogram(
            f"wso2_integration_{kind}_latency_seconds",
            f"Latency of requests to {what}",
            labels,
            buckets=buckets,
            registry=registry,
        ),
    )


def _public_host(host: str) -> str:
    return socket.gethostname() if host in ("", "0.0.0.0", "::") else host


class ServerCollector:
    """What the process that answers the scrape knows: MI's server_up and service_up gauges (set to the time
    the server or the artifact came up, 0 once undeployed) from the configuration being served."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._started = time.time()
        self._seen: dict[tuple[str, str], tuple[int, float]] = {}  # (name, type) -> (id of the object, since)
        self.current: Configuration | None = None

    def collect(self) -> Iterator[Metric]:
        import platform
        import sys

        settings = self._settings
        server = GaugeMetricFamily(
            "wso2_integration_server_up", "Server status", labels=("host", "port", "java_home", "java_version")
        )
        server.add_metric(
            (_public_host(settings.host), str(settings.port), sys.prefix, platform.python_version()), self._started
        )
        yield server
        service = GaugeMetricFamily(
            "wso2_integration_service_up", "Service status", labels=("service_name", "service_type")
        )
        config = self.current
        now = time.time()
        live: set[tuple[str, str]] = set()
        if config is not None:
            artifacts: list[tuple[str, str, object]] = [(n, PROXY, p) for n, p in config.proxies.items()]
            artifacts += [(api.name, API, api) for api in config.apis.values()]
            for name, kind, artifact in artifacts:
                key = (name, kind)
                live.add(key)
                seen = self._seen.get(key)
                if seen is None or seen[0] != id(artifact) or seen[1] == 0:
                    self._seen[key] = (id(artifact), now if seen is not None else self._started)
        for key, (_, since) in sorted(self._seen.items()):
            if key not in live:
                self._seen[key] = (0, 0.0)
                since = 0.0
            service.add_metric(key, since)
        yield service


CONTENT_TYPE = CONTENT_TYPE_LATEST


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR) or None


class _Registered:
    """Another registry's metrics, as one collector."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()


def exposition(metrics: Metrics | None, server: ServerCollector) -> bytes:
    """The text Prometheus scrapes: this process's metrics, or (the supervisor of --workers N, which records
    none itself) the sum of every worker's multiprocess files."""
    registry = CollectorRegistry()
    if metrics is not None:
        registry.register(_Registered(metrics.registry))
    else:
        path = multiprocess_dir()
        if path is not None:
            from prometheus_client.multiprocess import MultiProcessCollector

            MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
    registry.register(server)
    return generate_latest(registry)
