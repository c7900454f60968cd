"""Process-wide runtime services shared by every message: settings, the engine, the HTTP transport,
connector runtimes, the database pools, the secret masker and the outbound allow-list. Created once at
start-up, never per message. Mediators and endpoints reach the engine and the transport only through these objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from multidict import istr

from gateway.database import Databases
from gateway.masking import SecretMasker, masker_for
from gateway.outbound import OutboundPolicy
from gateway.runtime.amqp import AmqpSenders
from gateway.runtime.engine import Engine
from gateway.runtime.metrics import Metrics
from gateway.runtime.stores import StoreHub
from gateway.runtime.throttle import ThrottleCounters, counters_for
from gateway.runtime.tracing import tracer_for

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer
    from yarl import URL

    from gateway.message.context import MessageContext
    from gateway.settings import Settings


class HttpReply(NamedTuple):
    """An answer of the gateway's HTTP client: status, headers (case-insensitive) and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class ReplyTooLarge(Exception):
    """The answer's body exceeds the `max_bytes` the caller gave (nothing more of it is read)."""


class HttpClient(Protocol):
    """The gateway's outbound HTTP client as connectors use it (services.transport): pooled keep-alive
    connections, http and https (the gateway's TLS settings: verified, TLS >= 1.2, outbound.ca_bundle).

    `headers` go out as given (a CIMultiDict is used as it is, anything else is copied into one), plus what
    aiohttp adds (Host, Accept, Accept-Encoding, Content-Type for a body, Content-Length); a gzip or deflate
    answer is decoded. `timeout` bounds the connect and each wait for data (None: only the caller's deadline).
    Failures raise what aiohttp raises (OSError, TimeoutError, aiohttp.ClientError), which the connector
    framework maps to MI's 101503 / 101504; an answer over `max_bytes` raises ReplyTooLarge."""

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        timeout: float | None = None,
        max_bytes: int,
    ) -> HttpReply: ...


class Transport(HttpClient, Protocol):
    """Sends a message to a URL and returns the reply as a response context (gateway.transport.client)."""

    async def exchange(
        self, ctx: MessageContext, *, url: str | URL, method: str, media: str | None, timeout: float
    ) -> MessageContext: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class Services:
    settings: Settings
    transport: Transport | None = None  # set by the transport layer at start-up
    engine: Engine = field(default_factory=Engine)
    connectors: dict[str, Any] = field(default_factory=dict)  # connector name -> its runtime object
    caches: dict[str, Any] = field(default_factory=dict)  # the cache mediators' in-memory stores, by finder
    databases: Databases = field(default_factory=Databases)  # the connection pools, closed at shutdown
    stores: StoreHub = field(default_factory=StoreHub)  # the live message-store backends of this process
    amqp: AmqpSenders = field(default_factory=AmqpSenders)  # RabbitMQ connections of rabbitmq: endpoints
    masker: SecretMasker = field(init=False)
    outbound: OutboundPolicy = field(init=False)
    secret_headers: tuple[str, ...] = field(init=False)  # lower-case names of credential headers
    secret_header_keys: tuple[istr, ...] = field(init=False)  # the same, as case-insensitive header keys
    correlation_header: istr = field(init=False)  # MI's activityid: taken, sent on, returned
    metrics: Metrics | None = field(init=False)  # Prometheus metrics (None: metrics.enabled is false)
    tracer: Tracer | None = field(init=False)  # OpenTelemetry (None: tracing.enabled is false, the default)
    throttle: ThrottleCounters = field(init=False)  # the throttle mediators' counters (here or in Redis)

    def __post_init__(self) -> None:
        self.masker = masker_for(tuple(self.settings.secret_names))
        self.outbound = OutboundPolicy(self.settings.outbound_allow)
        self.secret_headers = tuple(name.lower() for name in self.settings.secret_headers)
        self.secret_header_keys = tuple(istr(name) for name in self.secret_headers)
        self.correlation_header = istr(self.settings.correlation_header)
        self.metrics = Metrics(self.settings) if self.settings.metrics.enabled else None
        self.tracer = tracer_for(self.settings)
        self.throttle = counters_for(self.settings.throttle_redis)
