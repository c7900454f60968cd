"""Shared helpers of the content-changing mediators (payloadFactory, enrich, makefault): replacing the
payload, switching the message type, and reading a JSON payload without the XML round trip's losses.

A new XML body keeps the current envelope (and its SOAP headers) when one was built, as W: mutates the
envelope in place; a new JSON or text body is a fresh raw payload that is only parsed if a later
mediator reads it (W: JsonUtil.getNewJsonPayload keeps JSON as a stream)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.errors import MESSAGE_PARSING_ERROR, MediationError
from gateway.message import json_codec, kinds, soap
from gateway.message.formats import AUTO_MESSAGE_TYPE
from gateway.message.payload import SAFE_PARSER, Payload

if TYPE_CHECKING:
    from gateway.message.context import MessageContext


def set_message_type_automatically(ctx: MessageContext, media: str) -> None:
    """payloadFactory's implicit messageType switch (W: setContentType). Recorded as automatic so the
    Accept extension may still apply (gateway.message.formats.flow_chose_message_type)."""
    ctx.set_message_type(media)
    ctx.axis2.pop("_flowMessageType", None)  # an automatic switch is not the flow's explicit choice
    ctx.axis2[AUTO_MESSAGE_TYPE] = media


async def envelope_keeping_headers(ctx: MessageContext) -> etree._Element | None:
    """The current envelope when it is (or may carry) something to keep: built already, or a SOAP
    message whose headers must survive. None for an unread non-SOAP body (nothing to keep)."""
    payload = ctx.payload
    if payload.is_built:
        return payload.envelope
    if payload.kind in kinds.SOAP_KINDS:
        try:
            return await ctx.build()
        except MediationError:
            return None  # a malformed message has no headers to keep (e.g. in a fault sequence after 601000)
    return None


async def set_xml_body(ctx: MessageContext, element: etree._Element) -> None:
    """The Body now holds `element` alone."""
    envelope = await envelope_keeping_headers(ctx)
    if envelope is None:
        envelope = soap.wrap(element)
    else:
        soap.set_body_element(envelope, element)
    set_envelope(ctx, envelope)


def set_envelope(ctx: MessageContext, envelope: etree._Element) -> None:
    """Install a (new or modified) envelope. A payload that was not XML (JSON, text, …) becomes an XML one,
    so the original bytes or JSON stream are never used again (W: JsonUtil.removeJsonPayload)."""
    payload = ctx.payload
    if payload.kind in kinds.XML_KINDS:
        payload.replace_envelope(envelope)
        return
    fresh = Payload(kinds.APPLICATION_XML)
    fresh.replace_envelope(envelope)
    ctx.payload = fresh


def set_json_payload(ctx: MessageContext, raw: bytes) -> None:
    ctx.payload = Payload("application/json; charset=UTF-8", raw)


def set_text_payload(ctx: MessageContext, text: str) -> None:
    ctx.payload = Payload("text/plain; charset=UTF-8", text.encode("utf-8"))


def has_json_payload(ctx: MessageContext) -> bool:
    """W: JsonUtil.hasAJsonPayload: the message is still the JSON the client or backend sent (or a JSON
    payload a mediator produced), not an XML body derived from it."""
    return ctx.payload.kind == kinds.JSON and not ctx.payload.modified


async def json_document(ctx: MessageContext) -> Any:
    """The JSON payload as Python values, numbers kept exactly (Decimal for non-integers)."""
    payload = ctx.payload
    if has_json_payload(ctx):
        raw = await payload.read()
        try:
            return parse_json(raw)
        except ValueError as exc:
            raise MediationError(
                f"Error while building the message: malformed JSON: {exc}",
                MESSAGE_PARSING_ERROR,
                "send a valid JSON document",
            ) from None
    await ctx.build()
    return payload.json_value()


def parse_json(text: str | bytes) -> Any:
    """Strict JSON with exact numbers (gateway.message.json_codec); raises ValueError."""
    if not text.strip():
        raise ValueError("empty JSON text")
    return json_codec.loads(text)


def dump_json(value: Any) -> bytes:
    return json_codec.dumps(value)


def looks_like_xml(text: str) -> bool:
    """W: TemplateProcessor.isXML, without Axiom's lazy parse: well-formed markup starting with '<' and
    ending with '>' (several sibling elements count, as an XPath node-set serialises them)."""
    value = text.strip()
    if len(value) < 4 or value[0] != "<" or value[-1] != ">":
        return False
    return parse_fragment(value) is not None


def parse_fragment(text: str) -> etree._Element | None:
    """`text` parsed inside a dummy root (so several top-level elements are allowed), or None."""
    try:
        return etree.fromstring(f"<fragment>{text}</fragment>", SAFE_PARSER)
    except etree.XMLSyntaxError:
        return None


def looks_like_json(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and stripped[0] in "{["
