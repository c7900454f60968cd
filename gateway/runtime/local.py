"""The `local:` address transport of endpoints (W: axis2 LocalTransportSender / LocalTransportReceiver): an address
endpoint whose uri is `local://services/NAME` (also `local:/services/NAME`, `local:///services/NAME`,
`local://localhost/services/NAME`) or `local:///CONTEXT/…` hands the message to a deployed proxy or API of this
gateway in the same process, with no network in between.

- The message goes through the target's in-flow as if it had come over HTTP: a fresh request context (new
  properties, the message's transport headers carried, the same activity id), the body as the endpoint's format
  or the messageType writes it; the target's reply (or its fault, in the caller's format) is the endpoint's reply.
- Any deployed proxy is reachable, whatever its `transports` list (MI's own local-transport tests reach a proxy
  with transports="https http").
- Calls may nest `local_transport_depth` deep (8 by default): a proxy that reaches itself fails with a clear fault
  instead of looping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import parse_qsl

from multidict import CIMultiDict, MultiDict, istr

from gateway.errors import CONNECT_TIMEOUT, DEFAULT_ERROR, MediationError
from gateway.masking import bind_message_secrets, unbind_message_secrets
from gateway.message import formats, kinds
from gateway.message.context import Exchange, MessageContext, Reply
from gateway.message.errors import error_reply
from gateway.message.incoming import request_context
from gateway.message.payload import Payload, kind_of, media_type_of
from gateway.runtime.api import Request, elect

log = logging.getLogger("gateway.endpoint")
_DEPTH: ContextVar[int] = ContextVar("gateway_local_depth", default=0)  # nested local: calls of this task
_HOP_BY_HOP = tuple(
    istr(name) for name in ("Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Content-Type")
)


@dataclass(frozen=True, slots=True)
class LocalTarget:
    """A `local:` uri, read at deploy time: the path a request would have (/services/NAME… or an API's)."""

    path: str

    def address(self) -> str:
        return "local://" + self.path.lstrip("/")


def is_local_uri(uri: str) -> bool:
    return uri[:6].lower() == "local:"


def parse_local_uri(uri: str) -> LocalTarget:
    """`local://services/NAME`, `local:/services/NAME`, `local:///api/…`, `local://localhost/…`; ValueError says
    what is wrong."""
    rest = uri[len("local:") :].lstrip("/")
    head, sep, tail = rest.partition("/")
    if head.lower() == "localhost" or head.lower().startswith("localhost:"):
        rest = tail
    elif "." in head and sep and head not in ("services",):  # local://host.example/…: another machine
        raise ValueError(f"'{head}' names another host: the local transport reaches this gateway only")
    path = "/" + rest
    if path == "/" or path.startswith("/?"):
        raise ValueError("names no service (local://services/NAME, or local:///CONTEXT/path of an API)")
    if path.rstrip("/") == "/services":
        raise ValueError("names no proxy after /services/ (local://services/NAME)")
    if any(segment in (".", "..") for segment in path.split("?", 1)[0].split("/")):
        raise ValueError(f"the path '{path}' has dot segments")
    return LocalTarget(path)


async def exchange(
    ctx: MessageContext, target: LocalTarget, *, method: str, media: str | None, timeout: float, where: str
) -> MessageContext:
    """Run the message through the target's flow and return its reply as a response context."""
    services = ctx.exchange.services
    depth = _DEPTH.get()
    limit = services.settings.local_depth
    if depth >= limit:
        raise MediationError(
            f"local: calls nest deeper than {limit} (the last to {target.path})",
            DEFAULT_ERROR,
            f"{where}: a proxy or API that reaches itself through local: loops; raise local_transport_depth in "
            "the settings only when the nesting is meant",
        )
    body = b""
    content_type: str | None = None
    if method not in ("GET", "HEAD") and ctx.payload.kind != kinds.EMPTY:
        body, content_type = await formats.message_bytes(ctx, media)
    inner = _request(ctx, target, method, body, content_type)
    token = _DEPTH.set(depth + 1)
    secrets = bind_message_secrets(inner.exchange)
    try:
        async with asyncio.timeout(timeout):
            try:
                reply = await _run(inner, target, where)
            except (MediationError, TimeoutError):
                raise
            except Exception:  # noqa: BLE001 - as the HTTP transport: the traceback to the log, an error reply back
                log.exception("unexpected failure while mediating the local call to %s", target.path)
                inner.properties.setdefault("ERROR_CODE", 0)
                inner.properties["ERROR_MESSAGE"] = f"Internal gateway error (activity id {inner.exchange.activity_id})"
                reply = error_reply(inner)
            answer = reply.body or b""
            if reply.stream is not None:
                answer = b"".join([chunk async for chunk in reply.stream])
    except TimeoutError:
        raise MediationError(
            f"the local service {target.path} did not answer within {timeout:g}s",
            CONNECT_TIMEOUT,
            f"{where}: raise the endpoint <timeout> or look at the target's flow",
        ) from None
    finally:
        unbind_message_secrets(secrets)
        _DEPTH.reset(token)
        for close in inner.exchange.closing_tasks:
            close()
    if reply.on_done is not None:
        with contextlib.suppress(Exception):
            reply.on_done()
    settings = services.settings
    reply_type = reply.headers.get("Content-Type")
    payload = Payload(
        reply_type, answer, limit=settings.max_response_bytes, tree_limit=settings.max_tree_bytes, from_backend=True
    )
    headers = CIMultiDict(reply.headers)
    headers.popall(services.correlation_header, None)
    response = ctx.response_context(payload, headers)
    response.axis2["HTTP_SC"] = reply.status
    if payload.media_type:
        response.axis2["messageType"] = payload.media_type
        response.axis2["_initialMessageType"] = payload.media_type
    if reply.status >= 400:
        response.axis2["FAULT_MESSAGE"] = "true"
    return response


def _request(
    ctx: MessageContext, target: LocalTarget, method: str, body: bytes, content_type: str | None
) -> MessageContext:
    """A fresh request context, made as the HTTP transport makes one (gateway.message.incoming)."""
    services = ctx.exchange.services
    settings = services.settings
    media = media_type_of(content_type) if content_type else ""
    kind = kind_of(media) if media else kinds.EMPTY
    exchange = Exchange(method, target.path, kind, ctx.transport_headers.get("Accept"), services)
    exchange.take_activity_id(ctx.exchange.activity_id)
    headers = CIMultiDict(ctx.transport_headers)
    for name in _HOP_BY_HOP:
        headers.popall(name, None)
    if content_type:
        headers["Content-Type"] = content_type
    soap_action = ctx.soap_action if kind in (kinds.SOAP11, kinds.SOAP12) else None
    if kind == kinds.SOAP11:
        headers["SOAPAction"] = f'"{soap_action or ""}"'
    return request_context(
        exchange,
        ctx.config,
        Payload(content_type, body, limit=settings.max_body_bytes, tree_limit=settings.max_tree_bytes),
        headers,
        transport="local",
        media=media,
        content_type=content_type,
        query_params=MultiDict(parse_qsl(target.path.partition("?")[2], keep_blank_values=True)),
        soap_action=soap_action,
    )


async def _run(inner: MessageContext, target: LocalTarget, where: str) -> Reply:
    config = inner.config
    engine = inner.exchange.services.engine
    path = target.path
    if path.startswith("/services/"):
        rest = path[len("/services/") :]
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i != -1), default=len(rest))
        name = rest[:cut]
        proxy = config.proxies.get(name)
        if proxy is None:
            raise MediationError(
                f"no proxy '{name}' is deployed for the local transport",
                DEFAULT_ERROR,
                f"{where}: deploy proxies/{name}.xml, or fix the uri",
            )
        inner.proxy = proxy
        inner.properties["proxy.name"] = proxy.name
        if cut < len(rest):
            inner.axis2["REST_URL_POSTFIX"] = rest[cut:]
        await engine.mediate_proxy(proxy, inner)
    else:
        index = config.api_index
        request = Request(
            inner.exchange.method,
            path,
            "localhost",
            "http",
            inner.axis2.get("ContentType"),
            inner.payload.kind != kinds.EMPTY,
        )
        api = index.find(request) if index else None
        if api is None:
            raise MediationError(
                f"no proxy or API of this gateway takes the local path {path}",
                DEFAULT_ERROR,
                f"{where}: use local://services/NAME for a proxy, or local:///CONTEXT/… for an API",
            )
        await engine.mediate_api(elect(api, request), inner)
    exchange = inner.exchange
    if exchange.pending:
        await exchange.settle()
    if exchange.reply is not None:
        return exchange.reply
    return error_reply(inner) if exchange.faulted else Reply(202, CIMultiDict(), b"")
