"""The `rabbitmq:` address transport of endpoints (W: axis2 RabbitMQSender, RabbitMQMessageSender): an address
endpoint whose uri is `rabbitmq:/NAME?rabbitmq.server.host.name=…&rabbitmq.queue.name=…` publishes the message.

- The uri's parameters are MI's (RabbitMQConstants): rabbitmq.server.host.name, .server.port, .server.user.name,
  .server.password, .server.virtual.host, rabbitmq.queue.name, .queue.routing.key, .queue.durable,
  .queue.autodeclare, .queue.delivery.mode, rabbitmq.exchange.name, .exchange.type, .exchange.durable,
  .exchange.autodeclare, rabbitmq.replyto.name, rabbitmq.publisher.confirms.enabled, rabbitmq.wait.reply.timeout,
  rabbitmq.publisher.confirms.wait.timeout. They are read once, at deploy time (parse_rabbitmq_uri).
- The routing key is rabbitmq.queue.routing.key, else the queue name, else the uri's NAME. A queue named is
  declared (durable by default) and bound to the exchange; an exchange named (not amq.*) is declared (direct,
  durable by default), as MI does.
- Every publish waits for the broker's publisher confirm (MI confirms only with
  rabbitmq.publisher.confirms.enabled): an OUT_ONLY send, or a processor's forward, is done once the broker has
  the message.
- A send that waits for a reply (not OUT_ONLY): with rabbitmq.publisher.confirms.enabled=true the flow goes on
  with the message itself once confirmed (W: SenderType.PUBLISHER_CONFIRMS); otherwise request-response
  (W: SenderType.RPC): the message carries a reply-to (rabbitmq.replyto.name, else RabbitMQ's direct reply-to)
  and a correlation id, and the first reply with that correlation id within rabbitmq.wait.reply.timeout
  (default 30 s) is the reply.
- Connections are pooled per broker and credentials (one connection, its channels reused); one unused for
  IDLE_SECONDS is closed (an undeployed endpoint's connection goes), and all are closed at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from gateway.errors import CONNECT_FAILED, CONNECT_TIMEOUT, MediationError

if TYPE_CHECKING:
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.amqp")

IDLE_SECONDS = 60.0
_DEFAULT_TIMEOUT = 30.0  # W: RabbitMQConstants.DEFAULT_RABBITMQ_TIMEOUT (ms 30000)
_KNOWN = {
    "rabbitmq.server.host.name",
    "rabbitmq.server.port",
    "rabbitmq.server.user.name",
    "rabbitmq.server.password",
    "rabbitmq.server.virtual.host",
    "rabbitmq.queue.name",
    "rabbitmq.queue.routing.key",
    "rabbitmq.queue.durable",
    "rabbitmq.queue.exclusive",
    "rabbitmq.queue.auto.delete",
    "rabbitmq.queue.autodeclare",
    "rabbitmq.queue.delivery.mode",
    "rabbitmq.exchange.name",
    "rabbitmq.exchange.type",
    "rabbitmq.exchange.durable",
    "rabbitmq.exchange.auto.delete",
    "rabbitmq.exchange.autodeclare",
    "rabbitmq.replyto.name",
    "rabbitmq.publisher.confirms.enabled",
    "rabbitmq.wait.reply.timeout",
    "rabbitmq.publisher.confirms.wait.timeout",
    "rabbitmq.connection.factory",
    "rabbitmq.message.content.type",
    "rabbitmq.factory.heartbeat",
}
_EXCHANGE_TYPES = ("direct", "fanout", "topic", "headers")


@dataclass(frozen=True, slots=True)
class Broker:
    """Where to connect: one pooled connection per broker and credentials."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    vhost: str


@dataclass(frozen=True, slots=True)
class AmqpTarget:
    """A `rabbitmq:` uri, read at deploy time."""

    broker: Broker
    routing_key: str
    queue: str | None
    exchange: str | None
    exchange_type: str = "direct"
    queue_durable: bool = True
    queue_exclusive: bool = False
    queue_auto_delete: bool = False
    exchange_durable: bool = True
    exchange_auto_delete: bool = False
    declare_queue: bool = True
    declare_exchange: bool = True
    delivery_mode: int = 2
    reply_to: str | None = None
    publisher_confirms: bool = False  # a reply-waiting send: the message itself goes on once confirmed
    reply_timeout: float = _DEFAULT_TIMEOUT
    confirm_timeout: float = _DEFAULT_TIMEOUT

    def address(self) -> str:
        """The destination as the outbound allow-list sees it."""
        port = "" if self.broker.port == 5672 else f":{self.broker.port}"
        return f"rabbitmq://{self.broker.host}{port}/"


def is_rabbitmq_uri(uri: str) -> bool:
    return uri.lower().startswith("rabbitmq:")


def parse_rabbitmq_uri(uri: str) -> AmqpTarget:
    """MI's `rabbitmq:/NAME?key=value&…` (also `rabbitmq://?…`); ValueError says what is wrong."""
    rest = uri[len("rabbitmq:") :]
    name, _, query = rest.partition("?")
    values: dict[str, str] = {}
    for item in query.split("&"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"'{item}' is not key=value")
        values[unquote(key.strip())] = unquote(value.strip())
    unknown = sorted(set(values) - _KNOWN)
    if unknown:
        raise ValueError(
            f"unknown parameter '{unknown[0]}' (MI's are rabbitmq.server.host.name, rabbitmq.queue.name, …)"
        )
    host = values.get("rabbitmq.server.host.name", "")
    if not host:
        named = values.get("rabbitmq.connection.factory")
        raise ValueError(
            f"rabbitmq.connection.factory '{named}' names a connection factory of MI's axis2.xml, which this "
            "gateway does not have; give rabbitmq.server.host.name (and .server.port, .server.user.name, "
            ".server.password) in the uri"
            if named
            else "rabbitmq.server.host.name is missing (the broker to publish to)"
        )

    def number(key: str, default: float) -> float:
        text = values.get(key, "")
        if not text:
            return default
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{key} must be a number, not '{text}'") from None

    def flag(key: str, default: bool) -> bool:
        text = values.get(key, "").lower()
        if not text:
            return default
        if text not in ("true", "false"):
            raise ValueError(f"{key} must be true or false, not '{text}'")
        return text == "true"

    queue = values.get("rabbitmq.queue.name") or None
    routing_key = values.get("rabbitmq.queue.routing.key") or queue or name.strip("/")
    exchange = values.get("rabbitmq.exchange.name") or None
    if not routing_key and not exchange:
        raise ValueError("no queue to publish to: give rabbitmq.queue.name or rabbitmq.queue.routing.key")
    exchange_type = values.get("rabbitmq.exchange.type", "direct").lower()
    if exchange_type not in _EXCHANGE_TYPES:
        raise ValueError(f"rabbitmq.exchange.type '{exchange_type}' is not one of {', '.join(_EXCHANGE_TYPES)}")
    mode = int(number("rabbitmq.queue.delivery.mode", 2))
    if mode not in (1, 2):
        raise ValueError("rabbitmq.queue.delivery.mode is 1 (not persistent) or 2 (persistent)")
    port = number("rabbitmq.server.port", 5672)
    return AmqpTarget(
        broker=Broker(
            host=host,
            port=int(port),
            user=values.get("rabbitmq.server.user.name", "guest"),
            password=values.get("rabbitmq.server.password", "guest"),
            vhost=values.get("rabbitmq.server.virtual.host", "/") or "/",
        ),
        routing_key=routing_key,
        queue=queue,
        exchange=exchange,
        exchange_type=exchange_type,
        queue_durable=flag("rabbitmq.queue.durable", True),
        queue_exclusive=flag("rabbitmq.queue.exclusive", False),
        queue_auto_delete=flag("rabbitmq.queue.auto.delete", False),
        exchange_durable=flag("rabbitmq.exchange.durable", True),
        exchange_auto_delete=flag("rabbitmq.exchange.auto.delete", False),
        declare_queue=flag("rabbitmq.queue.autodeclare", True),
        declare_exchange=flag("rabbitmq.exchange.autodeclare", True),
        delivery_mode=mode,
        reply_to=values.get("rabbitmq.replyto.name") or None,
        publisher_confirms=flag("rabbitmq.publisher.confirms.enabled", False),
        reply_timeout=number("rabbitmq.wait.reply.timeout", _DEFAULT_TIMEOUT * 1000) / 1000,
        confirm_timeout=number("rabbitmq.publisher.confirms.wait.timeout", _DEFAULT_TIMEOUT * 1000) / 1000,
    )


@dataclass(slots=True)
class Outgoing:
    body: bytes
    content_type: str | None
    message_id: str
    correlation_id: str
    headers: dict[str, str]
    soap_action: str | None


@dataclass(slots=True)
class Incoming:
    body: bytes
    content_type: str | None
    headers: dict[str, str]


class _Connection:
    """One broker connection: a confirming channel for publishes, and what it has declared already."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.connection: Any = None
        self.channel: Any = None
        self.declared: set[tuple[str, str]] = set()
        self.opening = asyncio.Lock()
        self.last_used = time.monotonic()
        self.busy = 0

    async def open(self) -> Any:
        async with self.opening:
            if self.channel is None or self.channel.is_closed:
                import aio_pika

                if self.connection is None:
                    b = self.broker
                    self.connection = await aio_pika.connect_robust(
                        host=b.host, port=b.port, login=b.user, password=b.password, virtualhost=b.vhost
                    )
                self.channel = await self.connection.channel(publisher_confirms=True)
                self.declared.clear()
            return self.channel

    async def close(self) -> None:
        connection, self.connection, self.channel = self.connection, None, None
        if connection is not None:
            await connection.close()


class AmqpSenders:
    """The process's RabbitMQ connections for `rabbitmq:` endpoints, by broker."""

    def __init__(self) -> None:
        self._live: dict[Broker, _Connection] = {}
        self._janitor: asyncio.Task[None] | None = None

    def _connection(self, broker: Broker) -> _Connection:
        live = self._live.get(broker)
        if live is None:
            live = self._live[broker] = _Connection(broker)
        if self._janitor is None or self._janitor.done():
            self._janitor = asyncio.create_task(self._close_idle())
        return live

    async def _close_idle(self) -> None:
        while self._live:
            await asyncio.sleep(IDLE_SECONDS / 4 + 0.01)
            now = time.monotonic()
            for broker, live in list(self._live.items()):
                if live.busy == 0 and now - live.last_used > IDLE_SECONDS:
                    del self._live[broker]
                    with contextlib.suppress(Exception):
                        await live.close()

    def open_connections(self) -> int:
        """How many broker connections are held (the management view and the tests)."""
        return sum(1 for live in self._live.values() if live.connection is not None)

    async def close(self) -> None:
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
        live, self._live = list(self._live.values()), {}
        for connection in live:
            with contextlib.suppress(Exception):
                await connection.close()

    async def send(self, target: AmqpTarget, message: Outgoing, *, wait_reply: bool, timeout: float) -> Incoming | None:
        """Publish (confirmed); with wait_reply and no publisher.confirms, wait for the reply (RPC)."""
        live = self._connection(target.broker)
        live.busy += 1
        try:
            async with asyncio.timeout(timeout):
                channel = await self._declare(live, await live.open(), target)
            if wait_reply and not target.publisher_confirms:
                return await self._request(live, target, message)
            async with asyncio.timeout(target.confirm_timeout):
                await self._publish(channel, target, message, reply_to=None)
            return None
        except MediationError:
            raise
        except TimeoutError:
            raise MediationError(
                f"RabbitMQ at {target.broker.host}:{target.broker.port} did not answer in time",
                CONNECT_TIMEOUT,
                "no publisher confirm (or connection) within the timeout; check the broker",
            ) from None
        except Exception as exc:  # noqa: BLE001 - the broker or the connection failed: an endpoint failure
            live.channel = None
            detail = f"{type(exc).__name__}: {exc}"
            if len(target.broker.password) > 2:  # a driver message must not carry the password on
                detail = detail.replace(target.broker.password, "****")
            raise MediationError(
                f"Error occurred while sending message out to RabbitMQ at {target.broker.host}:{target.broker.port}",
                CONNECT_FAILED,
                detail,
            ) from None
        finally:
            live.busy -= 1
            live.last_used = time.monotonic()

    async def _declare(self, live: _Connection, channel: Any, target: AmqpTarget) -> Any:
        """W: RabbitMQUtils.declareQueue / declareExchange / bindQueueToExchange, once per connection. A queue or
        exchange that exists with other settings is used as it is (W: checkAndIgnoreInEquivalentParamException):
        the broker closes the channel, so a new one is opened. Returns the channel to publish on."""
        import aio_pika
        from aio_pika.exceptions import ChannelPreconditionFailed

        key = ("q", target.queue or ""), ("x", target.exchange or "")
        if all(k in live.declared for k in key):
            return channel
        if target.queue and target.declare_queue:
            try:
                await channel.declare_queue(
                    target.queue,
                    durable=target.queue_durable,
                    exclusive=target.queue_exclusive,
                    auto_delete=target.queue_auto_delete,
                )
            except ChannelPreconditionFailed:
                log.debug("queue %s exists with other settings: used as it is", target.queue)
                channel = await live.open()
        if target.exchange and target.declare_exchange and not target.exchange.startswith("amq."):
            try:
                await channel.declare_exchange(
                    target.exchange,
                    aio_pika.ExchangeType(target.exchange_type),
                    durable=target.exchange_durable,
                    auto_delete=target.exchange_auto_delete,
                )
            except ChannelPreconditionFailed:
                log.debug("exchange %s exists with other settings: used as it is", target.exchange)
                channel = await live.open()
        if target.exchange and target.queue:
            queue = await channel.get_queue(target.queue, ensure=False)
            await queue.bind(target.exchange, routing_key=target.routing_key)
        live.declared.update(key)
        return channel

    async def _publish(self, channel: Any, target: AmqpTarget, message: Outgoing, reply_to: str | None) -> None:
        import aio_pika

        headers: dict[str, Any] = dict(message.headers)
        if message.soap_action:
            headers["SOAP_ACTION"] = message.soap_action
        outgoing = aio_pika.Message(
            message.body,
            content_type=message.content_type,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            headers=headers,
            delivery_mode=aio_pika.DeliveryMode(target.delivery_mode),
            reply_to=reply_to,
        )
        if target.exchange:
            exchange = await channel.get_exchange(target.exchange, ensure=False)
        else:
            exchange = channel.default_exchange
        # On a channel with publisher confirms, publish() returns once the broker confirmed; a nack raises.
        await exchange.publish(outgoing, routing_key=target.routing_key, mandatory=False)

    async def _request(self, live: _Connection, target: AmqpTarget, message: Outgoing) -> Incoming:
        """W: RabbitMQMessageSender.sendRPC: publish with a reply-to, then wait for the reply."""
        connection = live.connection
        channel = await connection.channel(publisher_confirms=True)
        try:
            reply_queue = target.reply_to or "amq.rabbitmq.reply-to"
            queue = await channel.get_queue(reply_queue, ensure=False)
            answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            direct = target.reply_to is None

            async def receive(incoming: Any) -> None:
                if incoming.correlation_id == message.correlation_id and not answer.done():
                    answer.set_result(incoming)
                    if not direct:
                        await incoming.ack()
                elif not direct:
                    await incoming.nack(requeue=True)  # someone else's reply, on a shared reply queue

            tag = await queue.consume(receive, no_ack=direct)
            try:
                await self._publish(channel, target, message, reply_to=reply_queue)
                try:
                    async with asyncio.timeout(target.reply_timeout):
                        incoming = await answer
                except TimeoutError:
                    raise MediationError(
                        f"Did not receive a response within {int(target.reply_timeout * 1000)}ms to the replyTo "
                        f"queue {reply_queue}",
                        CONNECT_TIMEOUT,
                        "raise rabbitmq.wait.reply.timeout, or set OUT_ONLY=true when no reply is wanted",
                    ) from None
            finally:
                with contextlib.suppress(Exception):
                    await queue.cancel(tag)
            headers = {str(k): str(v) for k, v in (incoming.headers or {}).items()}
            return Incoming(bytes(incoming.body), incoming.content_type, headers)
        finally:
            with contextlib.suppress(Exception):
                await channel.close()


def outgoing_for(ctx: MessageContext, body: bytes, content_type: str | None) -> Outgoing:
    correlation = ctx.properties.get("rabbitmq.message.correlation.id") or ctx.message_id
    headers = {str(k): str(v) for k, v in ctx.transport_headers.items() if k.lower() not in _DROPPED_HEADERS}
    return Outgoing(body, content_type, ctx.message_id, str(correlation), headers, ctx.soap_action)


_DROPPED_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-type", "keep-alive"}
