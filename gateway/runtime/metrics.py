"""Prometheus metrics with MI's names (W: org.wso2.micro.integrator.observability MetricConstants,
PrometheusReporter, MetricHandler): request counts, error counts and latency histograms per proxy service and
per REST API, recorded for every artifact as MI's MetricHandler does (MI's `statistics="enable"` feeds its
analytics, not these metrics). Ours, under the same prefix: endpoints and connector operations.

Request time costs a dict lookup and a few additions in plain Python numbers (one event loop per process: no
lock); prometheus-client only renders the scrape (imported then: workers never load it). With `--workers N`
the supervisor asks every worker for a snapshot when it is scraped and sums them; a worker that dies hands its
last snapshot to the supervisor's `retired` total when it is respawned, so the sums never go down (what it
counted after the last scrape is lost).
"""

from __future__ import annotations

import platform
import socket
import sys
import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from gateway.runtime.configuration import Configuration
    from gateway.settings import Settings

PATH = "/metric-service/metrics"  # MI's path (on its internal API port 9201; here on the management port)
MI_BUCKETS = (0.19, 0.20, 0.25, 0.30, 0.35, 0.40, 0.50, 0.60, 1.0, 5.0)  # PrometheusReporter's, in seconds
PROXY, API, ENDPOINT, INBOUND = "proxy", "api", "endpoint", "inbound-endpoint"  # MI's service_type values
ANONYMOUS_ENDPOINT = "AnonymousEndpoint"  # MI's name for an inline endpoint without one
# family -> (metric name part, what, label names); MI's three and our endpoint family
FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    PROXY: ("proxy", "a proxy service", ("service_name", "service_type")),
    API: ("api", "an api", ("service_name", "service_type", "invocation_url")),
    INBOUND: ("inbound_endpoint", "an inbound endpoint", ("service_name", "service_type")),  # "inbound-endpoint"
    ENDPOINT: ("endpoint", "an endpoint (extension)", ("service_name", "service_type")),
}
CONNECTOR = "connector"
CONNECTOR_LABELS = ("connector", "operation")
CONNECTOR_REQUEST_LABELS = ("connector", "operation", "status", "error_code")

# A snapshot, as a worker sends it through its pipe: plain tuples and lists (picklable, mergeable).
#   "series": {(family, labels): [requests, errors, sum, bucket counts…]}
#   "connector": {(connector, operation, status, error code): count}; "retries": {(connector, operation): count}
Snapshot = dict[str, dict[Any, Any]]


class Series:
    """One artifact's numbers: requests, errors, the sum of latencies, and a count per bucket (+Inf last)."""

    __slots__ = ("requests", "errors", "total", "buckets", "bounds")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.requests = 0
        self.errors = 0
        self.total = 0.0
        self.buckets = [0] * (len(bounds) + 1)
        self.bounds = bounds

    def record(self, seconds: float, failed: bool) -> None:
        self.requests += 1
        if failed:
            self.errors += 1
        self.total += seconds
        self.buckets[bisect_left(self.bounds, seconds)] += 1

    def numbers(self) -> list[float]:
        return [self.requests, self.errors, self.total, *self.buckets]


class Metrics:
    """What a serving process records (services.metrics)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.bounds = tuple(settings.metrics.latency_buckets) if settings is not None else MI_BUCKETS
        self._series: dict[tuple[str, tuple[str, ...]], Series] = {}
        self._proxies: dict[str, Series] = {}  # the hot paths, keyed by name alone
        self._endpoints: dict[str | None, Series] = {}
        self._inbound: dict[str, Series] = {}
        self._apis: dict[tuple[str, str], Series] = {}
        self._connector: dict[tuple[str, str, str, str], int] = {}
        self._connector_fast: dict[
            tuple[str, str, int | str, int | str], tuple[tuple[str, str, str, str], Series, bool]
        ] = {}
        self._retries: dict[tuple[str, str], int] = {}
        self._throttled: dict[tuple[str], int] = {}
        self._host = _public_host(settings.host) if settings is not None else "localhost"
        self._ports = {"http": settings.port if settings is not None else 8290}
        if settings is not None and settings.https.enabled:
            self._ports["https"] = settings.https.port

    def _new(self, family: str, labels: tuple[str, ...]) -> Series:
        series = self._series.get((family, labels))
        if series is None:
            series = self._series[(family, labels)] = Series(self.bounds)
        return series

    # -- request time ---------------------------------------------------------------------------------------
    def proxy(self, name: str) -> Series:
        series = self._proxies.get(name)
        if series is None:
            series = self._proxies[name] = self._new(PROXY, (name, PROXY))
        return series

    def api(self, name: str, context: str, scheme: str = "http") -> Series:
        """MI's invocation_url is the whole request URL; ours is the API's base URL (bounded cardinality)."""
        series = self._apis.get((name, scheme))
        if series is None:
            port = self._ports.get(scheme, self._ports["http"])
            url = f"{scheme}://{self._host}:{port}{context}"
            series = self._apis[(name, scheme)] = self._new(API, (name, API, url))
        return series

    def inbound(self, name: str) -> Series:
        series = self._inbound.get(name)
        if series is None:
            series = self._inbound[name] = self._new(INBOUND, (name, INBOUND))
        return series

    def endpoint(self, name: str | None) -> Series:
        series = self._endpoints.get(name)
        if series is None:
            series = self._endpoints[name] = self._new(ENDPOINT, (name or ANONYMOUS_ENDPOINT, ENDPOINT))
        return series

    def connector(
        self, connector: str, operation: str, status: int | str, error_code: int | str, seconds: float
    ) -> None:
        fast = self._connector_fast.get((connector, operation, status, error_code))
        if fast is None:  # first time for this outcome: its labels as text and its series, kept
            fast = (
                (connector, operation, str(status), str(error_code)),
                self._new(CONNECTOR, (connector, operation)),
                bool(error_code),
            )
            self._connector_fast[(connector, operation, status, error_code)] = fast
        key, series, failed = fast
        self._connector[key] = self._connector.get(key, 0) + 1
        series.record(seconds, failed)

    def connector_retry(self, connector: str, operation: str) -> None:
        self._retries[(connector, operation)] = self._retries.get((connector, operation), 0) + 1

    def throttle_rejected(self, throttle_id: str) -> None:
        key = (throttle_id,)
        self._throttled[key] = self._throttled.get(key, 0) + 1

    # -- deploy time ----------------------------------------------------------------------------------------
    def deployed(self, config: Configuration) -> None:
        """MI's serviceUp sets each deployed artifact's counters to 0, so its series exist before the first
        request (rate() then counts the first one)."""
        for name in config.proxies:
            self.proxy(name)
        for api in config.apis.values():
            self.api(api.name, api.base_path)
        for name in config.inbound_endpoints:
            self.inbound(name)

    # -- the scrape -----------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return {
            "series": {key: series.numbers() for key, series in self._series.items()},
            "connector": dict(self._connector),
            "retries": dict(self._retries),
            "throttled": dict(self._throttled),
        }


def merge(into: Snapshot, other: Snapshot) -> Snapshot:
    """Add `other` to `into` (series element by element, counts by key) and return `into`."""
    for part, values in other.items():
        target = into.setdefault(part, {})
        for key, value in values.items():
            if isinstance(value, list):
                old = target.get(key)
                target[key] = list(value) if old is None else [a + b for a, b in zip(old, value, strict=True)]
            else:
                target[key] = target.get(key, 0) + value
    return into


def _public_host(host: str) -> str:
    return socket.gethostname() if host in ("", "0.0.0.0", "::") else host


class SnapshotCollector:
    """A (summed) snapshot as Prometheus metric families, with MI's names."""

    def __init__(self, snapshot: Snapshot, bounds: tuple[float, ...]) -> None:
        self._snapshot = snapshot
        self._bounds = bounds

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        series = self._snapshot.get("series", {})
        for family, (part, what, labels) in FAMILIES.items():
            # CounterMetricFamily adds `_total`: exported exactly as MI's constants
            requests = CounterMetricFamily(
                f"wso2_integration_{part}_request_count", f"Total number of requests to {what}", labels=labels
            )
            errors = CounterMetricFamily(
                f"wso2_integration_{part}_request_count_error",
                f"Total number of error requests to {what}",
                labels=labels,
            )
            latency = HistogramMetricFamily(
                f"wso2_integration_{part}_latency_seconds", f"Latency of requests to {what}", labels=labels
            )
            for (kind, values), numbers in sorted(series.items()):
                if kind == family:
                    requests.add_metric(values, numbers[0])
                    errors.add_metric(values, numbers[1])
                    latency.add_metric(values, self._buckets(numbers), numbers[2])
            yield from (requests, errors, latency)
        operations = CounterMetricFamily(
            "wso2_integration_connector_request_count",
            "Connector operations (extension), by status and error code ('' when it succeeded)",
            labels=CONNECTOR_REQUEST_LABELS,
        )
        for key, count in sorted(self._snapshot.get("connector", {}).items()):
            operations.add_metric(key, count)
        latency = HistogramMetricFamily(
            "wso2_integration_connector_latency_seconds",
            "Latency of connector operations (extension)",
            labels=CONNECTOR_LABELS,
        )
        for (kind, values), numbers in sorted(series.items()):
            if kind == CONNECTOR:
                latency.add_metric(values, self._buckets(numbers), numbers[2])
        retries = CounterMetricFamily(
            "wso2_integration_connector_retry_count", "Retries connectors made (extension)", labels=CONNECTOR_LABELS
        )
        for key, count in sorted(self._snapshot.get("retries", {}).items()):
            retries.add_metric(key, count)
        throttled = CounterMetricFamily(
            "wso2_integration_throttle_rejection_count",
            "Messages a throttle mediator refused (extension), by the throttle's id",
            labels=("throttle_id",),
        )
        for key, count in sorted(self._snapshot.get("throttled", {}).items()):
            throttled.add_metric(key, count)
        yield from (operations, latency, retries, throttled)

    def _buckets(self, numbers: list[float]) -> list[tuple[str, float]]:
        cumulative, buckets = 0.0, []
        for bound, count in zip([*map(_le, self._bounds), "+Inf"], numbers[3:], strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        return buckets


def _le(bound: float) -> str:
    return repr(float(bound))


class ServerCollector:
    """What the process that answers the scrape knows: MI's server_up and service_up gauges (set to the time
    the server or the artifact came up, 0 once undeployed) from the configuration being served."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._started = time.time()
        self._seen: dict[tuple[str, str], tuple[int, float]] = {}  # (name, type) -> (id of the object, since)
        self.current: Configuration | None = None
        self.stores: list[tuple[str, str, int]] = []  # (name, MI's type, size), set before each scrape
        self.processors: list[tuple[str, str, bool]] = []  # (name, MI's type, active)

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

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
            artifacts += [(n, INBOUND, spec) for n, spec in config.inbound_endpoints.items()]
            for name, kind, artifact in artifacts:
                key = (name, kind)
                live.add(key)
                seen = self._seen.get(key)
                if seen is None or seen[0] != id(artifact):
                    self._seen[key] = (id(artifact), now if seen is not None else self._started)
        for key, (_, since) in sorted(self._seen.items()):
            if key not in live:
                self._seen[key] = (0, 0.0)
                since = 0.0
            service.add_metric(key, since)
        yield service
        stores = GaugeMetricFamily(
            "wso2_integration_message_store_size",
            "Messages held by a message store (extension)",
            labels=("store_name", "store_type"),
        )
        for name, kind, size in self.stores:
            stores.add_metric((name, kind), size)
        yield stores
        processors = GaugeMetricFamily(
            "wso2_integration_message_processor_active",
            "1 when a message processor is active, 0 when deactivated (extension)",
            labels=("processor_name", "processor_type"),
        )
        for name, kind, active in self.processors:
            processors.add_metric((name, kind), 1 if active else 0)
        yield processors


def content_type() -> str:
    from prometheus_client import CONTENT_TYPE_LATEST

    return CONTENT_TYPE_LATEST


def exposition(snapshot: Snapshot, bounds: tuple[float, ...], server: ServerCollector) -> bytes:
    """The text Prometheus scrapes (prometheus-client is imported here: workers only count)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(SnapshotCollector(snapshot, bounds))
    registry.register(server)
    return generate_latest(registry)
