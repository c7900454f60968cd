"""Writing the reply: choose the format (messageType, SOAP alignment, Accept extension), the status
(docs/synapse-semantics.md §2, §4.2) and serialise the payload. Untouched payloads go back byte-for-byte.

Rules, in order (docs/conformance.md):
1. A SOAP 1.1 client always gets SOAP 1.1 (text/xml), a SOAP 1.2 client SOAP 1.2, whatever the payload
   (W: Axis2Sender.doSOAPFormatConversion). A JSON payload's `<jsonObject>` with a single child is unwrapped
   so the Body holds the real element.
2. Otherwise the axis2 `messageType` decides (it starts as the request's or the backend reply's type;
   payloadFactory switches it).
3. Extension: when the flow did not choose `messageType` itself (it still holds the transport's value or
   payloadFactory's automatic one), the client's `Accept` header picks among application/json,
   application/xml, text/xml and application/soap+xml (q-values honoured; wildcards keep the current type).
4. A REST client receiving a SOAP fault gets `<Exception>` (or `{"Exception": …}` as JSON), status 500.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from lxml import etree
from multidict import istr

from gateway.errors import MediationError
from gateway.message import kinds, soap
from gateway.message.context import Reply
from gateway.message.faults import align_fault, fault_to_pox
from gateway.message.json_xml import JsonConversionError, xml_to_json_bytes
from gateway.message.payload import content_type_parameter, kind_of, media_type_of
from gateway.xmlutil import text_content

if TYPE_CHECKING:
    from gateway.message.context import MessageContext

# Request headers that must not be echoed back on a request-path reply (hop-by-hop, framing, credentials).
_NOT_ECHOED = frozenset(
    h.lower()
    for h in (
        "Host",
        "Content-Length",
        "Content-Type",
        "Transfer-Encoding",
        "Connection",
        "Keep-Alive",
        "TE",
        "Trailer",
        "Upgrade",
        "Expect",
        "Accept",
        "Accept-Encoding",
        "Content-Encoding",
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "SOAPAction",
        "User-Agent",
        "Accept-Language",
        "Origin",
        "Referer",
    )
)
_NOT_RELAYED = frozenset(
    h.lower()
    for h in (
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
        "Keep-Alive",
        "Content-Type",
        "Content-Encoding",
        "Date",
        "Server",
    )
)

# The same names as case-insensitive keys (multidict's istr), for deleting them from a copy.
_NOT_ECHOED_KEYS = tuple(istr(name) for name in sorted(_NOT_ECHOED))
_NOT_RELAYED_KEYS = tuple(istr(name) for name in sorted(_NOT_RELAYED))

_CONVERTIBLE = (kinds.SOAP11, kinds.SOAP12, kinds.POX, kinds.JSON)
ACCEPTABLE = (kinds.APPLICATION_JSON, kinds.APPLICATION_XML, kinds.TEXT_XML, kinds.APPLICATION_SOAP_XML)
# axis2 keys (private to the gateway) recording messageType values the flow did not choose itself.
INITIAL_MESSAGE_TYPE = "_initialMessageType"  # set by the transport (request / backend reply)
AUTO_MESSAGE_TYPE = "_autoMessageType"  # set by payloadFactory's automatic switch
PROCESSING_FAULT = "_processingFault"  # W: setProcessingFault (makefault pox): status 500


def _accept_entries(accept: str) -> list[tuple[str, float, int]]:
    entries: list[tuple[str, float, int]] = []
    for position, item in enumerate(accept.split(",")):
        media = media_type_of(item)
        if not media:
            continue
        q = 1.0
        weight = content_type_parameter(item, "q")
        if weight is not None:
            try:
                q = min(max(float(weight), 0.0), 1.0)
            except ValueError:
                q = 0.0
        entries.append((media, q, position))
    return entries


def _q_of(entries: list[tuple[str, float, int]], media: str) -> float | None:
    """The q of the most specific Accept range matching `media` (RFC 9110 §12.5.1), None if none does."""
    major = media.split("/", 1)[0]
    best: tuple[int, float] | None = None
    for candidate, q, _ in entries:
        if candidate == media:
            specificity = 2
        elif candidate == f"{major}/*":
            specificity = 1
        elif candidate == "*/*":
            specificity = 0
        else:
            continue
        if best is None or specificity > best[0]:
            best = (specificity, q)
    return None if best is None else best[1]


@functools.lru_cache(maxsize=1024)  # Accept headers repeat; the answer is a pure function of both values
def negotiate_accept(accept: str | None, current: str | None = None) -> str | None:
    """Our extension: the supported media type the client explicitly prefers, or None to keep `current`.

    Only types named in Accept can be picked (wildcards express no preference); the current type is kept
    when Accept rates it at least as high as the best named one. Ties between named types go to the
    first listed."""
    if not accept:
        return None
    entries = _accept_entries(accept)
    named = {media: (q, position) for media, q, position in entries if media in ACCEPTABLE and q > 0}
    if not named:
        return None
    best = min(named, key=lambda media: (-named[media][0], named[media][1]))
    if current:
        current_q = _q_of(entries, media_type_of(current))
        if current_q is not None and current_q >= named[best][0]:
            return None
    return best


def flow_chose_message_type(ctx: MessageContext) -> bool:
    """True when messageType holds a value the flow set itself (not the transport's or payloadFactory's)."""
    value = ctx.axis2.get("messageType")
    if value in (None, ""):
        return False
    media = media_type_of(str(value))
    if ctx.axis2.get("_flowMessageType") == value:
        return True  # set explicitly (property messageType), even if equal to the transport's type
    return media not in (ctx.axis2.get(INITIAL_MESSAGE_TYPE), ctx.axis2.get(AUTO_MESSAGE_TYPE))


def output_media_type(ctx: MessageContext) -> str:
    exchange = ctx.exchange
    if exchange.client_kind == kinds.SOAP11:
        return kinds.TEXT_XML
    if exchange.client_kind == kinds.SOAP12:
        return kinds.APPLICATION_SOAP_XML
    message_type = ctx.axis2.get("messageType")
    current = media_type_of(str(message_type)) if message_type else (ctx.payload.media_type or kinds.APPLICATION_XML)
    if kind_of(current) in kinds.SOAP_KINDS and not flow_chose_message_type(ctx):
        # A REST client (POX, JSON, GET) gets a SOAP reply as its body's element, a fault as POX (W: Axis2's
        # formatters write a doingREST message without its envelope; A: samples 50, 800 and 10001)
        current = kinds.APPLICATION_XML
    # Only structured messages are converted: binary, form or HTML bodies keep their type.
    if exchange.accept and kind_of(current) in _CONVERTIBLE and not flow_chose_message_type(ctx):
        negotiated = negotiate_accept(exchange.accept, current)
        if negotiated is not None:
            return negotiated
    return current


def is_processing_fault(ctx: MessageContext) -> bool:
    return bool(ctx.axis2.get(PROCESSING_FAULT))


def status_of(ctx: MessageContext, is_fault: bool) -> int:
    explicit = ctx.axis2.get("HTTP_SC")
    if explicit is not None and explicit != "":
        try:
            return int(explicit)
        except (TypeError, ValueError):
            pass
    if (is_fault or is_processing_fault(ctx)) and str(ctx.axis2.get("FAULTS_AS_HTTP_200", "")).lower() != "true":
        return 500
    return 200


def build_reply(ctx: MessageContext, media: str | None = None) -> Reply:
    """Serialise the current message for the client (as `media`, by default output_media_type)."""
    if media is None:
        media = output_media_type(ctx)
    # A backend's headers are relayed, the client's own echoed: respond marks the message as a response,
    # so is_response cannot tell them apart. A C-level copy, then the few names that do not go back.
    headers = ctx.transport_headers.copy()
    for name in _NOT_RELAYED_KEYS if ctx.headers_from_backend else _NOT_ECHOED_KEYS:
        if name in headers:
            del headers[name]
    payload = ctx.payload
    if payload.is_built and ctx.properties.get("PRESERVE_WS_ADDRESSING") not in ("true", True):
        if soap.remove_addressing(payload.envelope):  # W: Axis2Sender.sendBack (removeAddressingHeaders)
            payload.mark_modified()
    body, stream, ctype, is_fault = serialise(ctx, media)
    status = status_of(ctx, is_fault)
    if str(ctx.axis2.get("NO_ENTITY_BODY", "")).lower() == "true":
        return Reply(status, headers, b"")
    if ctype:
        headers["Content-Type"] = ctype
    return Reply(status, headers, body, stream=stream)


def _passes_through(ctx: MessageContext, target: str) -> bool:
    """An unmodified payload already in the target format goes out as its original bytes, even after it was
    parsed for reading (W: JsonUtil.writeAsJson re-emits the original JSON stream; for XML the original
    bytes are the faithful serialisation, and re-serialising a tree nobody changed is wasted work).
    Every mediator that changes the message marks the payload modified."""
    payload = ctx.payload
    return (
        not payload.modified
        and _same_format(payload.kind, target)
        and (payload.raw is not None or not payload.is_built)
    )


def serialise(
    ctx: MessageContext, media: str, fault: bool = True
) -> tuple[bytes | None, AsyncIterator[bytes] | None, str | None, bool]:
    """(body, stream, content type, is_fault) of the current message written as `media`.
    Shared by replies to clients and requests to backends; never changes the message itself. With
    `fault=False` (a request to a back end, whose caller ignores it) an unchanged body is not looked at
    for a SOAP fault and is_fault is False."""
    payload = ctx.payload
    media = media_type_of(media) or media  # a messageType set with parameters still names the format
    target = kind_of(media)
    explicit = ctx.axis2.get("ContentType")
    override = explicit if explicit and media_type_of(str(explicit)) == media else None
    if _passes_through(ctx, target):
        if payload.kind == kinds.EMPTY:
            return b"", None, None, False
        stream = payload.iter_stream()
        return (
            (None if stream is not None else payload.raw or b""),
            stream,
            _pass_through_type(override, payload.content_type, media),
            fault and payload.is_built and payload.kind in kinds.SOAP_KINDS and soap.is_fault(payload.envelope),
        )
    if not payload.is_built:
        raise RuntimeError("serialise needs a built payload for conversion; call prepare() first")
    envelope = payload.envelope
    is_fault = soap.is_fault(envelope)
    if target in kinds.SOAP_KINDS:
        body = etree.tostring(soap_output(envelope, target, is_fault), xml_declaration=True, encoding="UTF-8")
        ctype = override or soap.SOAP_CONTENT_TYPES[target]
    else:
        element = soap.first_body_element(envelope)
        if is_fault:
            element = fault_to_pox(element)
        body, ctype = _serialise_rest(element, target, media)
        ctype = override or ctype
    if ctype and _textual(ctype) and content_type_parameter(ctype, "charset") is None:
        ctype = f"{ctype}; charset=UTF-8"
    return body, None, ctype, is_fault


def _pass_through_type(override: str | None, original: str, media: str) -> str:
    """An explicit ContentType with parameters wins; otherwise the payload's own header (it may carry a
    charset the bare messageType lacks)."""
    if override and ";" in override:
        return override
    if original and media_type_of(original) == media:
        return original
    return override or original or media


def soap_output(envelope: etree._Element, version: str, is_fault: bool) -> etree._Element:
    """The envelope as SOAP `version`: converted (W: doSOAPFormatConversion), faults re-shaped, a single-child
    `jsonObject` unwrapped. The input envelope is not modified."""
    converted = soap.convert_version(envelope, version)
    if is_fault:
        return align_fault(converted, version)
    first = soap.first_body_element(converted)
    inner = soap.unwrap_json_object(first)
    if inner is first or inner is None:
        return converted
    fresh = soap.new_envelope(version)
    header = soap.header_of(converted)
    if header is not None and len(header):
        new_header = soap.header_of(fresh, create=True)
        assert new_header is not None
        new_header.extend(copy.deepcopy(block) for block in header)
    soap.body_of(fresh).append(copy.deepcopy(inner))
    return fresh


def _same_format(kind: str, target: str) -> bool:
    return kind == target or (kind == kinds.EMPTY) or (kind == kinds.BINARY and target == kinds.BINARY)


def _textual(ctype: str) -> bool:
    return ctype.startswith("text/") or "json" in ctype or "xml" in ctype


def _serialise_rest(element: etree._Element | None, target: str, media: str) -> tuple[bytes, str]:
    if target == kinds.JSON:
        if element is None:
            return b"", media
        try:
            return xml_to_json_bytes(element), media
        except JsonConversionError as exc:  # e.g. deeper than JSON can be written
            raise MediationError(f"Error while writing the message as JSON: {exc}") from None
    if target == kinds.TEXT:
        if element is None:
            return b"", media
        return text_content(element).encode("utf-8"), media
    if target == kinds.FORM:
        from urllib.parse import urlencode

        pairs = (
            []
            if element is None
            else [(etree.QName(c).localname, c.text or "") for c in element if isinstance(c.tag, str)]
        )
        return urlencode(pairs).encode("ascii"), media
    if target == kinds.BINARY and element is not None and etree.QName(element).localname == "binary":
        import base64

        return base64.b64decode(element.text or ""), media
    ctype = media if "xml" in media else kinds.APPLICATION_XML
    if element is None:
        return b"", ctype
    if element.getparent() is not None:
        element = soap.detached_copy(element)  # only the namespaces it uses, not soapenv
    return etree.tostring(element, encoding="UTF-8", xml_declaration=False), ctype


def needs_build(ctx: MessageContext, media: str) -> bool:
    """Whether writing the message as `media` needs the payload built first (see prepare)."""
    return not ctx.payload.is_built and not _passes_through(ctx, kind_of(media_type_of(media) or media))


async def prepare(ctx: MessageContext, media: str) -> None:
    """Build the payload when writing it as `media` needs conversion (so serialise stays synchronous)."""
    if needs_build(ctx, media):
        await ctx.payload.build()


async def message_bytes(ctx: MessageContext, media: str | None = None) -> tuple[bytes, str | None]:
    """The whole message as bytes in `media` (by default its messageType, else its own type, else XML) and its
    Content-Type: what a store keeps and a non-HTTP transport sends (a streamed body read to its end)."""
    media = media or ctx.axis2.get("messageType") or ctx.payload.media_type or kinds.APPLICATION_XML
    await prepare(ctx, media)
    body, stream, content_type, _ = serialise(ctx, media)
    if stream is not None:
        body = b"".join([chunk async for chunk in stream])
    return body or b"", content_type
