"""Outgoing HTTP: one client for the whole gateway, the lean HTTP/1.1 client (http1.py) with pooled keep-alive
connections for http and https, and an aiohttp ClientSession for the two cases it does not take (a streamed request
body, user:password@ in the URL). Transport failures become MI's error codes (101503 connection failed, 101504
timeout) through gateway.errors.transport_failure, the one mapping."""

from __future__ import annotations

import functools
import logging
import re
import ssl
import uuid
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict, istr
from yarl import URL

from gateway.errors import MediationError, transport_failure
from gateway.message import formats, kinds, soap
from gateway.message.payload import Payload, body_incomplete
from gateway.runtime import tracing
from gateway.runtime.services import HttpReply, ReplyTooLarge
from gateway.transport.http1 import Http1Pool

if TYPE_CHECKING:
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.endpoint")

_SOAP_ACTION = istr("SOAPAction")
_ACTION_PARAMETER = re.compile(r';\s*action\s*=\s*("[^"]*"|[^;]*)', re.IGNORECASE)
_HOP_BY_HOP = tuple(
    istr(name)  # case-insensitive keys, lowered once here instead of on every lookup
    for name in (
        "Host",
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
        "Keep-Alive",
        "TE",
        "Trailer",
        "Upgrade",
        "Expect",
        "Proxy-Authorization",
        "Proxy-Connection",
        "Content-Type",
        "Accept-Encoding",
    )
)
# Replies up to this size are read at once (fewer awaits); bigger or unknown ones are streamed.
_BUFFER_REPLY_UP_TO = 256 * 1024
# Endpoints on the lean client (http1.py); a streamed request body or user:password@ in the URL stay on aiohttp.
_LEAN_SCHEMES = ("http", "https")


@functools.lru_cache(maxsize=64)
def _client_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """Idle-style timeouts (connect, and each read) as MI's endpoint timeout; no cap on a long stream."""
    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


class HttpTransport:
    """The gateway's one outgoing HTTP client (services.transport): pooled connections for every endpoint.
    Created inside the running loop at start-up; endpoints reach it through the services they are given."""

    __slots__ = ("session", "pool")

    def __init__(self, verify_tls: bool = True, ca_bundle: Path | None = None) -> None:
        tls = client_tls(verify_tls, ca_bundle)  # one TLS context for both clients
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30, ssl=tls)
        self.session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent",),
        )
        # endpoints (http and https) and connectors' requests: the lean client (gateway/transport/http1.py);
        # the session above only for a streamed request body or credentials in the URL
        self.pool = Http1Pool(_BUFFER_REPLY_UP_TO, tls)

    async def close(self) -> None:
        self.pool.close()
        await self.session.close()

    async def exchange(
        self, ctx: MessageContext, *, url: str | URL, method: str, media: str | None, timeout: float
    ) -> MessageContext:
        """Send the current message to `url` and return the reply as a fresh response context."""
        return await _exchange(self, ctx, url, method, media, timeout)

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        timeout: float | None = None,
        max_bytes: int,
    ) -> HttpReply:
        """The connectors' HTTP client (gateway.connector.HttpClient): one request on the lean client's pooled
        connections, the whole answer read (at most `max_bytes`)."""
        target = _parsed(url)
        if target.scheme not in ("http", "https") or target.raw_user:
            raise aiohttp.InvalidURL(url)
        sent = headers if isinstance(headers, CIMultiDict) else CIMultiDict(headers)
        answer = await self.pool.request(method, target, sent, body, timeout)
        reply_headers = answer.headers
        if answer.stream is None:
            data = answer.body or b""
            if len(data) > max_bytes:
                raise ReplyTooLarge(f"{len(data)} bytes")
        else:
            try:
                length = _length(reply_headers)
                if length is not None and length > max_bytes:
                    raise ReplyTooLarge(f"{length} bytes")
                chunks: list[bytes] = []
                size = 0
                while chunk := await answer.stream.readany():
                    size += len(chunk)
                    if size > max_bytes:
                        raise ReplyTooLarge(f"over {max_bytes} bytes")
                    chunks.append(chunk)
                data = b"".join(chunks)
            finally:
                answer.release()
        encoding = reply_headers.get(hdrs.CONTENT_ENCODING)
        if encoding and data:
            data = _decoded(data, encoding.strip().lower(), max_bytes)
        return HttpReply(answer.status, reply_headers, data)


def _length(headers: CIMultiDict[str]) -> int | None:
    """A streamed answer's declared length (None when chunked or close-delimited)."""
    if hdrs.TRANSFER_ENCODING in headers:
        return None
    value = headers.get(hdrs.CONTENT_LENGTH)
    return int(value) if value is not None and value.isdigit() else None


@functools.lru_cache(maxsize=256)
def _parsed(url: str) -> URL:
    return URL(url)


def _decoded(data: bytes, encoding: str, max_bytes: int) -> bytes:
    """A gzip or deflate answer decoded, as aiohttp's auto_decompress does (other codings are left as they are)."""
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return data
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    if encoding == "deflate" and data[:1] and (data[0] & 0x0F) != 8:
        wbits = -zlib.MAX_WBITS  # raw deflate, without the zlib header (aiohttp accepts both)
    decoder = zlib.decompressobj(wbits)
    try:
        plain = decoder.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise aiohttp.ClientPayloadError(f"Can not decode content-encoding: {encoding}") from exc
    if len(plain) > max_bytes:
        raise ReplyTooLarge(f"over {max_bytes} bytes once decoded")
    return plain


def client_tls(verify: bool = True, ca_bundle: Path | None = None) -> ssl.SSLContext:
    """The outbound TLS context: back ends' certificates and host names are checked against the system's CAs, or
    `outbound.ca_bundle`; TLS 1.2 or later. `outbound.verify_tls: false` turns the checks off (a warning says so
    at start-up)."""
    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle is not None else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        log.warning("outbound.verify_tls is false: back ends' TLS certificates are NOT checked")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


_SOAP_MEDIA = (kinds.TEXT_XML, kinds.APPLICATION_SOAP_XML)


def _addressing(ctx: MessageContext, namespace: str | None, url: str) -> None:
    """W: Axis2FlexibleMEPClient: the request's WS-Addressing headers are not sent on (cloneForSend) unless
    PRESERVE_WS_ADDRESSING; an endpoint with <enableAddressing> writes fresh ones (a new message id)."""
    envelope = ctx.payload.envelope
    action = ctx.soap_action  # read first: the request's wsa:Action is in the headers about to go
    preserve = ctx.properties.get("PRESERVE_WS_ADDRESSING") in ("true", True)
    header = soap.header_of(envelope) if namespace is not None else None
    # the message's ReplyTo / From / FaultTo / RelatesTo (W: the outgoing Options' parent is the request's)
    references = {name: soap.wsa_address(header, name) for name in soap.REFERENCES} if header is not None else {}
    relates_to = soap.wsa_relates_to(header)
    changed = not preserve and soap.remove_addressing(envelope)
    if namespace is not None:
        message_id = ctx.message_id if preserve else f"urn:uuid:{uuid.uuid4()}"
        soap.add_addressing(envelope, namespace, url, message_id, action, references, relates_to)
        changed = True
    if changed:
        ctx.payload.mark_modified()


async def _exchange(
    transport: HttpTransport, ctx: MessageContext, url: str | URL, method: str, media: str | None, timeout: float
) -> MessageContext:
    headers = ctx.transport_headers.copy()  # a C-level copy, then drop the few hop-by-hop ones
    for name in _HOP_BY_HOP:
        if name in headers:
            del headers[name]
    # The answer is relayed as bytes and may be parsed, and Content-Encoding is not relayed: ask for it plain
    # (aiohttp's default "gzip, deflate" let a compressing back end's bytes reach the client undecoded).
    headers[hdrs.ACCEPT_ENCODING] = "identity"
    exchange = ctx.exchange
    headers[exchange.services.correlation_header] = exchange.activity_id  # MI's activityid, to the back end
    if exchange.services.tracer is not None:
        tracing.inject(headers)  # W3C traceparent of the endpoint's span
    data = None
    stream = None
    # GET/HEAD never carry a body; a DELETE carries one only if the message has one.
    if method not in ("GET", "HEAD") and not (method == "DELETE" and ctx.payload.kind == kinds.EMPTY):
        media = media or ctx.axis2.get("messageType") or ctx.payload.media_type or kinds.APPLICATION_XML
        addressing = ctx.axis2.pop(soap.ADDRESSING_OUT, None)  # the endpoint's mark, taken by this exchange
        if addressing is not None and media not in _SOAP_MEDIA:
            addressing = None  # W: addressing is written on SOAP envelopes only
        if addressing is not None or formats.needs_build(ctx, media):
            await ctx.payload.build()
        sent = ctx.payload
        if sent.is_built and (addressing is not None or sent.modified or sent.may_hold_addressing()):
            _addressing(ctx, addressing, str(url))  # an untouched body without WS-Addressing has none to drop
        body, stream, ctype, _ = formats.serialise(ctx, media, fault=False)
        data = stream if stream is not None else body
        action = ctx.soap_action if ctx.payload.is_built else ctx.unbuilt_action
        if ctype:
            if action and media == kinds.APPLICATION_SOAP_XML:  # W: SOAPMessageFormatter.getContentType
                ctype = f'{_ACTION_PARAMETER.sub("", ctype)}; action="{action}"'
            headers[hdrs.CONTENT_TYPE] = ctype
        if media == kinds.TEXT_XML:
            if action:  # W: TargetRequest: the message's action replaces the client's SOAPAction header
                headers[_SOAP_ACTION] = action if action.startswith('"') else f'"{action}"'
            elif _SOAP_ACTION not in headers:
                headers[_SOAP_ACTION] = '""'
    target = url if isinstance(url, URL) else URL(url)
    settings = exchange.services.settings
    try:
        if stream is None and target.scheme in _LEAN_SCHEMES and not target.raw_user:
            answer = await transport.pool.request(method, target, headers, data, timeout)  # type: ignore[arg-type]
            status, reason, reply_headers = answer.status, answer.reason, answer.headers
            content_type = reply_headers.get(hdrs.CONTENT_TYPE)
            if answer.stream is None:
                payload = Payload(
                    content_type,
                    answer.body,
                    limit=settings.max_response_bytes,
                    tree_limit=settings.max_tree_bytes,
                    from_backend=True,
                )
            else:
                payload = Payload(
                    content_type,
                    stream=answer.stream,
                    length=_length(reply_headers),
                    limit=settings.max_response_bytes,
                    tree_limit=settings.max_tree_bytes,
                    from_backend=True,
                )
                exchange.closing_tasks.append(answer.release)
        else:
            # aiohttp's own timeout (no extra timer per request); sock_read also bounds each read of a stream.
            response = await transport.session.request(
                method, target, data=data, headers=headers, allow_redirects=False, timeout=_client_timeout(timeout)
            )
            status, reason = response.status, response.reason or ""
            length = response.content_length
            content_type = response.headers.get(hdrs.CONTENT_TYPE)
            if length is not None and length <= _BUFFER_REPLY_UP_TO or response.status in (204, 304):
                raw = await response.read()
                response.release()
                payload = Payload(
                    content_type,
                    raw,
                    limit=settings.max_response_bytes,
                    tree_limit=settings.max_tree_bytes,
                    from_backend=True,
                )
            else:
                payload = Payload(
                    content_type,
                    stream=response.content,
                    length=length,
                    limit=settings.max_response_bytes,
                    tree_limit=settings.max_tree_bytes,
                    from_backend=True,
                )
                exchange.closing_tasks.append(response.release)
            reply_headers = CIMultiDict(response.headers)
    except aiohttp.ClientPayloadError as exc:
        raise body_incomplete(exc, from_backend=True) from None
    except Exception as exc:
        if ctx.payload.read_error is not None:  # the client's streamed body failed, not the back end
            raise ctx.payload.read_error from None
        failure = transport_failure(exc, f"{method} {url}", timeout)
        if failure is None:
            raise
        hint = "; raise the endpoint <timeout> or check the back end" if failure.timed_out else ""
        raise MediationError(failure.message, failure.code, failure.detail + hint) from None
    reply = ctx.response_context(payload, reply_headers)
    reply.axis2["HTTP_SC"] = status
    reply.axis2["HTTP_SC_DESC"] = reason
    if payload.media_type:
        reply.axis2["messageType"] = payload.media_type
        reply.axis2["_initialMessageType"] = payload.media_type
    elif ctx.axis2.get("messageType"):
        reply.axis2["messageType"] = ctx.axis2["messageType"]
    if status >= 400:
        reply.axis2["FAULT_MESSAGE"] = "true"
    return reply
