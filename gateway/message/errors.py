"""The error answer a client gets when a flow fails without writing its own reply: a SOAP 1.1/1.2
Fault, `{"error": {...}}` JSON or a POX `<Exception>`, matching the client's own format.

This is the Python safety net behind the shipped, editable `sequences/fault.xml`; both produce the same
shapes (docs/conformance.md, rows C-FS*):
  SOAP 1.1  Fault faultcode soapenv:Server, faultstring ERROR_MESSAGE, detail ERROR_CODE
  SOAP 1.2  Fault Code/Value soapenv:Receiver, Reason/Text ERROR_MESSAGE, Detail ERROR_CODE
  JSON      {"error": {"code": ERROR_CODE (a number), "message": ERROR_MESSAGE}}
  POX       <Exception>ERROR_MESSAGE</Exception>
with status HTTP_SC when it is already >= 400, else 500."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree
from multidict import CIMultiDict

from gateway.message import json_codec, kinds
from gateway.message.context import Reply
from gateway.message.faults import make_fault_envelope, make_pox_fault
from gateway.message.formats import negotiate_accept

if TYPE_CHECKING:
    from gateway.message.context import Exchange, MessageContext, Reply

DEFAULT_MESSAGE = "Error while mediating the message"


def client_media_type(exchange: Exchange, request_media_type: str) -> str:
    """CLIENT_MESSAGE_TYPE (our extension): the format this client expects back. Its SOAP version; else
    the type its request implies (JSON stays JSON; XML, text and bodiless requests get XML; anything else
    JSON), unless Accept explicitly prefers another supported type."""
    if exchange.client_kind == kinds.SOAP11:
        return kinds.TEXT_XML
    if exchange.client_kind == kinds.SOAP12:
        return kinds.APPLICATION_SOAP_XML
    if exchange.client_kind == kinds.JSON:
        natural = kinds.APPLICATION_JSON
    elif request_media_type in ("", kinds.APPLICATION_XML, kinds.TEXT_PLAIN) or "xml" in request_media_type:
        natural = kinds.APPLICATION_XML
    else:
        natural = kinds.APPLICATION_JSON
    return negotiate_accept(exchange.accept, natural) or natural


def error_status(ctx: MessageContext) -> int:
    """HTTP_SC when a handler or the failing step already chose an error status, else 500."""
    status = ctx.axis2.get("HTTP_SC")
    try:
        value = int(status) if status is not None and status != "" else 500
    except (TypeError, ValueError):
        return 500
    return value if value >= 400 else 500


def error_body(media: str, code: Any, message: str) -> bytes:
    if media in (kinds.TEXT_XML, kinds.APPLICATION_SOAP_XML):
        version = kinds.SOAP11 if media == kinds.TEXT_XML else kinds.SOAP12
        envelope = make_fault_envelope(
            version, "Server" if version == kinds.SOAP11 else "Receiver", message, detail=str(code)
        )
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    if media == kinds.APPLICATION_JSON:
        return json_codec.dumps({"error": {"code": _number(code), "message": message}})
    return etree.tostring(make_pox_fault(message), encoding="UTF-8")


def error_reply(ctx: MessageContext) -> Reply:
    code = ctx.properties.get("ERROR_CODE", 0)
    message = str(ctx.properties.get("ERROR_MESSAGE") or DEFAULT_MESSAGE)
    media = str(ctx.properties.get("CLIENT_MESSAGE_TYPE") or kinds.APPLICATION_XML)
    if media not in (kinds.TEXT_XML, kinds.APPLICATION_SOAP_XML, kinds.APPLICATION_JSON):
        media = kinds.APPLICATION_XML
    headers: CIMultiDict[str] = CIMultiDict()
    headers["Content-Type"] = f"{media}; charset=UTF-8"
    return Reply(error_status(ctx), headers, error_body(media, code, message))


def _number(code: Any) -> Any:
    """Error codes are JSON numbers; a code that is not numeric stays a string rather than being lost."""
    try:
        return int(str(code).strip())
    except (TypeError, ValueError):
        return code
