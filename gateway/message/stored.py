"""A message as a message store keeps it (W: message/store/impl/commons/StorableMessage): the body as it would
go out, its content type, the transport headers and the default-scope properties, so that a processor can
rebuild a message context from it later, in another worker or after a restart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from multidict import CIMultiDict

from gateway.message import formats
from gateway.message.context import Exchange, MessageContext
from gateway.message.payload import Payload

if TYPE_CHECKING:
    from gateway.runtime.configuration import Configuration
    from gateway.runtime.services import Services

# axis2-scope properties that describe the message itself, so they travel with it (MI keeps them in the
# stored Axis2Message); the rest of the axis2 scope belongs to the request that stored it.
_AXIS2_KEPT = ("messageType", "ContentType", "HTTP_METHOD", "REST_URL_POSTFIX", "OUT_ONLY", "FORCE_SC_ACCEPTED")
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    message_id: str
    body: bytes
    content_type: str | None
    method: str
    path: str
    client_kind: str
    soap_action: str | None
    to: str | None
    headers: tuple[tuple[str, str], ...]
    properties: dict[str, Any]
    axis2: dict[str, Any]

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.message_id,
                "body": self.body.decode("latin-1"),  # bytes kept exactly (latin-1 maps each byte to one char)
                "type": self.content_type,
                "method": self.method,
                "path": self.path,
                "kind": self.client_kind,
                "action": self.soap_action,
                "to": self.to,
                "headers": self.headers,
                "properties": self.properties,
                "axis2": self.axis2,
            }
        )

    @staticmethod
    def from_bytes(data: bytes) -> StoredMessage:
        item = orjson.loads(data)
        return StoredMessage(
            message_id=item["id"],
            body=item["body"].encode("latin-1"),
            content_type=item["type"],
            method=item["method"],
            path=item["path"],
            client_kind=item["kind"],
            soap_action=item["action"],
            to=item["to"],
            headers=tuple((name, value) for name, value in item["headers"]),
            properties=item["properties"],
            axis2=item["axis2"],
        )


async def capture(ctx: MessageContext) -> StoredMessage:
    """The message as it stands now (W: MessageHelper.cloneMessageContext before storeMessage)."""
    await ctx.payload.read()
    body, content_type = await formats.message_bytes(ctx)
    properties = {name: value for name, value in ctx.properties.items() if isinstance(value, _SCALARS)}
    axis2 = {name: ctx.axis2[name] for name in _AXIS2_KEPT if isinstance(ctx.axis2.get(name), _SCALARS)}
    return StoredMessage(
        message_id=ctx.message_id,
        body=body,
        content_type=content_type or ctx.payload.content_type,
        method=ctx.exchange.method,
        path=ctx.exchange.path,
        client_kind=ctx.exchange.client_kind,
        soap_action=ctx.soap_action,
        to=ctx.to,
        headers=tuple(ctx.transport_headers.items()),
        properties=properties,
        axis2=axis2,
    )


def restore(message: StoredMessage, config: Configuration, services: Services) -> MessageContext:
    """A fresh message context for a stored message: no client waits for it."""
    settings = services.settings
    payload = Payload(
        message.content_type, message.body, limit=settings.max_body_bytes, tree_limit=settings.max_tree_bytes
    )
    exchange = Exchange(message.method, message.path, message.client_kind, None, services)
    ctx = MessageContext(
        exchange=exchange,
        config=config,
        payload=payload,
        transport_headers=CIMultiDict(message.headers),
        to=message.to,
        soap_action=message.soap_action,
    )
    ctx.message_id = message.message_id
    ctx.properties.update(message.properties)
    ctx.axis2.update(message.axis2)
    ctx.axis2.pop("FORCE_SC_ACCEPTED", None)  # it answered the client that stored it; nobody waits now
    return ctx
