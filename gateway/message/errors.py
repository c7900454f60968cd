"""The error answer a client gets when a flow fails without writing its own reply: a SOAP 1.1/1.2
Fault, `{"error": {...}}` JSON or a POX `<Exception>`, matching the client's own format."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from lxml import etree
from multidict import CIMultiDict

from gateway.message.faults import make_fault_envelope

if TYPE_CHECKING:
    from gateway.message.context import Exchange, MessageContext, Reply


def client_media_type(exchange: Exchange, request_media_type: str) -> str:
    """The format this client expects back: its SOAP version, else Accept, else its request's type."""
    from gateway.message.formats import negotiate_accept

    if exchange.client_kind == "soap11":
        return "text/xml"
    if exchange.client_kind == "soap12":
        return "application/soap+xml"
    negotiated = negotiate_accept(exchange.accept)
    if negotiated:
        return negotiated
    if exchange.client_kind == "json":
        return "application/json"
    return "application/xml" if request_media_type in ("", "application/xml", "text/plain") or \
        "xml" in request_media_type else "application/json"


def error_reply(ctx: MessageContext) -> Reply:
    from gateway.message.context import Reply

    code = ctx.properties.get("ERROR_CODE", 0)
    message = str(ctx.properties.get("ERROR_MESSAGE") or "Error while mediating the message")
    status = ctx.axis2.get("HTTP_SC")
    try:
        status = int(status) if status not in (None, "") else 500
    except (TypeError, ValueError):
        status = 500
    if status < 400:
        status = 500
    media = ctx.properties.get("CLIENT_MESSAGE_TYPE") or "application/xml"
    headers: CIMultiDict[str] = CIMultiDict()
    if media in ("text/xml", "application/soap+xml"):
        version = "soap11" if media == "text/xml" else "soap12"
        envelope = make_fault_envelope(version, "Server" if version == "soap11" else "Receiver", message,
                                       detail=f"ERROR_CODE {code}")
        body = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    elif media == "application/json":
        body = orjson.dumps({"error": {"code": _number(code), "message": message}})
    else:
        exception = etree.Element("Exception")
        exception.text = message
        body = etree.tostring(exception, encoding="UTF-8")
    headers["Content-Type"] = f"{media}; charset=UTF-8"
    return Reply(status, headers, body)


def _number(code):
    try:
        return int(code)
    except (TypeError, ValueError):
        return code
