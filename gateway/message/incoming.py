"""The message context of a request coming in, as the HTTP transport (gateway.transport.server) and the `local:`
transport (gateway.runtime.local) both hand it to the engine (W: the Axis2 MessageContext a transport receiver
makes, with the properties Synapse reads of it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.message import kinds
from gateway.message.context import MessageContext
from gateway.message.errors import client_media_type

if TYPE_CHECKING:
    from multidict import CIMultiDict, MultiMapping

    from gateway.message.context import Exchange
    from gateway.message.payload import Payload
    from gateway.runtime.configuration import Configuration, ProxyService


def request_context(
    exchange: Exchange,
    config: Configuration,
    payload: Payload,
    headers: CIMultiDict[str],
    *,
    transport: str,
    media: str,
    content_type: str | None,
    query_params: MultiMapping[str],
    soap_action: str | None,
    proxy: ProxyService | None = None,
    remote: str | None = None,
) -> MessageContext:
    """A request's context: the exchange's method and path (with query) are the request's, `media` its media type
    ("" without a body), `transport` its TRANSPORT_IN_NAME; the values of the headers the settings call secret are
    masked in the message's log lines from here on."""
    for name in exchange.services.secret_header_keys:
        if name in headers:
            for value in headers.getall(name):
                exchange.secrets.add_header(name, value)
    path = exchange.path
    ctx = MessageContext(
        exchange=exchange,
        config=config,
        payload=payload,
        transport_headers=headers,
        proxy=proxy,
        to=path,
        query_params=query_params,
        soap_action=soap_action,
    )
    ctx.to_from_request = True
    props = ctx.properties
    props["TRANSPORT_IN_NAME"] = transport
    props["IsClientDoingREST"] = "false" if exchange.client_is_soap else "true"
    props["IsClientDoingSOAP11"] = "true" if exchange.client_kind == kinds.SOAP11 else "false"
    props["CLIENT_MESSAGE_TYPE"] = client_media_type(exchange, media)  # extension: see conformance
    axis2 = ctx.axis2
    axis2["HTTP_METHOD"] = exchange.method
    if remote:
        axis2["REMOTE_ADDR"] = remote  # W: the client's address (throttle, get-property('axis2', …))
    axis2["TransportInURL"] = path
    if media:
        axis2["messageType"] = media
        axis2["ContentType"] = content_type
        axis2["_initialMessageType"] = media
    else:
        axis2["NO_ENTITY_BODY"] = "true"
    return ctx
