"""Writing the reply: choose the format (messageType, SOAP alignment, Accept extension), the status
(reference §2) and serialise the payload. Untouched payloads go back byte-for-byte."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree
from multidict import CIMultiDict

from gateway.message import soap
from gateway.message.payload import kind_of, media_type_of

if TYPE_CHECKING:
    from gateway.message.context import MessageContext, Reply

# Request headers that must not be echoed back on a request-path reply (hop-by-hop, framing, credentials).
_NOT_ECHOED = frozenset(h.lower() for h in (
    "Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Keep-Alive", "TE", "Trailer",
    "Upgrade", "Expect", "Accept", "Accept-Encoding", "Content-Encoding", "Authorization", "Proxy-Authorization",
    "Cookie", "SOAPAction", "User-Agent", "Accept-Language", "Origin", "Referer",
))
_NOT_RELAYED = frozenset(h.lower() for h in (
    "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Content-Type", "Content-Encoding",
    "Date", "Server",
))

ACCEPTABLE = ("application/json", "application/xml", "text/xml", "application/soap+xml")


def negotiate_accept(accept: str | None) -> str | None:
    """Our extension: pick the best supported media type from Accept (q-values honoured)."""
    if not accept:
        return None
    best, best_q = None, 0.0
    for position, item in enumerate(accept.split(",")):
        parts = item.strip().split(";")
        media = parts[0].strip().lower()
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media in ACCEPTABLE and q > best_q:
            best, best_q = media, q
        del position
    return best


def output_media_type(ctx: MessageContext) -> str:
    message_type = ctx.axis2.get("messageType")
    exchange = ctx.exchange
    if exchange.client_kind == "soap11":
        return "text/xml"
    if exchange.client_kind == "soap12":
        return "application/soap+xml"
    if message_type is None or message_type == ctx.axis2.get("_initialMessageType"):
        negotiated = negotiate_accept(exchange.accept)
        if negotiated is not None:
            return negotiated
    return str(message_type) if message_type else (ctx.payload.media_type or "application/xml")


def status_of(ctx: MessageContext, is_fault: bool) -> int:
    explicit = ctx.axis2.get("HTTP_SC")
    if explicit not in (None, ""):
        try:
            return int(explicit)
        except (TypeError, ValueError):
            pass
    if is_fault and str(ctx.axis2.get("FAULTS_AS_HTTP_200", "")).lower() != "true":
        return 500
    return 200


def build_reply(ctx: MessageContext) -> Reply:
    """Serialise the current message for the client."""
    from gateway.message.context import Reply

    media = output_media_type(ctx)
    headers = CIMultiDict()
    skip = _NOT_RELAYED if ctx.is_response else _NOT_ECHOED
    for name, value in ctx.transport_headers.items():
        if name.lower() not in skip:
            headers.add(name, value)
    body, stream, ctype, is_fault = serialise(ctx, media)
    status = status_of(ctx, is_fault)
    if str(ctx.axis2.get("NO_ENTITY_BODY", "")).lower() == "true":
        return Reply(status, headers, b"")
    if ctype:
        headers["Content-Type"] = ctype
    return Reply(status, headers, body, stream=stream)


def serialise(ctx: MessageContext, media: str) -> tuple[bytes | None, object, str | None, bool]:
    """(body, stream, content type, is_fault) of the current message written as `media`.
    Shared by replies to clients and requests to backends."""
    payload = ctx.payload
    target = kind_of(media)
    explicit = ctx.axis2.get("ContentType")
    override = explicit if explicit and media_type_of(explicit) == media else None
    if not payload.modified and not payload.is_built and _same_format(payload.kind, target):
        if payload.kind == "empty":
            return b"", None, None, False
        stream = payload.iter_stream()
        return (None if stream is not None else payload.raw or b""), stream, \
            override or payload.content_type or media, False
    if not payload.is_built:
        raise RuntimeError("serialise needs a built payload for conversion; call prepare() first")
    envelope = payload.envelope
    is_fault = soap.is_fault(envelope)
    if target in ("soap11", "soap12"):
        from gateway.message.faults import align_fault

        converted = soap.convert_version(envelope, target)
        if is_fault:
            converted = align_fault(converted, target)
        body = etree.tostring(converted, xml_declaration=True, encoding="UTF-8")
        ctype = override or soap.SOAP_CONTENT_TYPES[target]
    else:
        element = soap.first_body_element(envelope)
        if is_fault:
            from gateway.message.faults import fault_to_pox

            element = fault_to_pox(element)
        body, ctype = _serialise_rest(element, target, media)
        ctype = override or ctype
    if ctype and _textual(ctype) and "charset" not in ctype:
        ctype = f"{ctype}; charset=UTF-8"
    return body, None, ctype, is_fault


def _same_format(kind: str, target: str) -> bool:
    return kind == target or (kind == "empty") or (kind == "binary" and target == "binary")


def _textual(ctype: str) -> bool:
    return ctype.startswith("text/") or "json" in ctype or "xml" in ctype


def _serialise_rest(element, target: str, media: str) -> tuple[bytes, str]:
    if target == "json":
        from gateway.message.json_xml import xml_to_json_bytes

        if element is None:
            return b"", media
        return xml_to_json_bytes(element), media
    if target == "text":
        if element is None:
            return b"", media
        return ("".join(element.itertext())).encode("utf-8"), media
    if target == "form":
        from urllib.parse import urlencode

        pairs = [] if element is None else [(etree.QName(c).localname, c.text or "") for c in element
                                             if isinstance(c.tag, str)]
        return urlencode(pairs).encode("ascii"), media
    if target == "binary" and element is not None and etree.QName(element).localname == "binary":
        import base64

        return base64.b64decode(element.text or ""), media
    if element is None:
        return b"", media if "xml" in media else "application/xml"
    return etree.tostring(element, encoding="UTF-8"), media if "xml" in media else "application/xml"


async def prepare(ctx: MessageContext, media: str) -> None:
    """Build the payload when writing it as `media` needs conversion (so serialise stays synchronous)."""
    payload = ctx.payload
    if payload.is_built:
        return
    if payload.modified or not _same_format(payload.kind, kind_of(media)):
        await payload.build()
