"""Endpoints: where send/call deliver a message. Built at deploy time, resolved per request."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from uritemplate import URITemplate
from yarl import URL

from gateway.errors import ENDPOINT_KEY_MISSING, MediationError, SourceLocation
from gateway.runtime import tracing

if TYPE_CHECKING:
    from uritemplate.variable import VariableValue

    from gateway.expressions import Value
    from gateway.message.context import MessageContext
    from gateway.runtime.services import Transport

FORMAT_MEDIA = {
    "soap11": "text/xml",
    "soap12": "application/soap+xml",
    "pox": "application/xml",
    "json": "application/json",
    "get": None,
    "rest": None,
}
FORMATS = tuple(FORMAT_MEDIA)


class Endpoint:
    __slots__ = ("name", "location", "timeout")

    def __init__(self, name: str | None, location: SourceLocation, timeout: float | None):
        self.name = name
        self.location = location
        self.timeout = timeout  # seconds; None = the gateway default

    async def send(self, ctx: MessageContext) -> MessageContext:
        raise NotImplementedError

    def _timeout(self, ctx: MessageContext) -> float:
        return self.timeout if self.timeout is not None else ctx.exchange.services.settings.endpoint_timeout


def _transport(ctx: MessageContext) -> Transport:
    transport = ctx.exchange.services.transport
    assert transport is not None, "the HTTP transport is created at start-up"
    return transport


_SOAP_FORMATS = ("soap11", "soap12")


async def _measured(
    name: str | None, ctx: MessageContext, *, url: str | URL, method: str, media: str | None, timeout: float
) -> MessageContext:
    """The exchange, counted per endpoint (our metrics: a failure to get an answer, or a 5xx, is an error)."""
    services = ctx.exchange.services
    if services.tracer is not None:
        with services.tracer.start_as_current_span(
            f"endpoint {name or 'AnonymousEndpoint'}",
            kind=tracing.client_kind(),
            attributes={"http.request.method": method, "url.full": str(url)},
        ) as span:
            reply = await _counted(name, ctx, url=url, method=method, media=media, timeout=timeout)
            status = reply.axis2.get("HTTP_SC", 200)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                tracing.mark_error(span, f"HTTP {status}")
            return reply
    return await _counted(name, ctx, url=url, method=method, media=media, timeout=timeout)


async def _counted(
    name: str | None, ctx: MessageContext, *, url: str | URL, method: str, media: str | None, timeout: float
) -> MessageContext:
    metrics = ctx.exchange.services.metrics
    if metrics is None:
        return await _transport(ctx).exchange(ctx, url=url, method=method, media=media, timeout=timeout)
    started = time.perf_counter()
    failed = True
    try:
        reply = await _transport(ctx).exchange(ctx, url=url, method=method, media=media, timeout=timeout)
        failed = reply.axis2.get("HTTP_SC", 200) >= 500
        return reply
    finally:
        metrics.endpoint(name).record(time.perf_counter() - started, failed)


def _method(ctx: MessageContext, fmt: str | None) -> str:
    if fmt == "get":
        return "GET"
    if fmt in _SOAP_FORMATS:  # W: Axis2FlexibleMEPClient: a SOAP format is POSTed whatever the request was
        return "POST"
    explicit = ctx.axis2.get("HTTP_METHOD")
    if explicit:
        return str(explicit).upper()
    return ctx.exchange.method if not ctx.exchange.client_is_soap else "POST"


_DOT_SEGMENT = re.compile(r"^(?:\.|%2e){1,2}$", re.IGNORECASE)
_ENCODED_SEPARATOR = re.compile(r"%2f|%5c|\\", re.IGNORECASE)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal that can never climb above the start of `path` ('..' at the top is
    dropped). `%2e` counts as '.', as the RFC says; a segment that hides a dot segment behind an encoded
    '/' or '\\' (which some back ends decode) is refused."""
    if "." not in path and "%" not in path and "\\" not in path:
        return path  # the common case: nothing to resolve
    segments = path.split("/")
    kept: list[str] = []
    for index, segment in enumerate(segments):
        if _DOT_SEGMENT.match(segment):
            if segment.replace("%2e", ".").replace("%2E", ".") == ".." and len(kept) > 1:
                kept.pop()
            if index == len(segments) - 1:
                kept.append("")  # "/a/b/.." is "/a/": the trailing slash stays
            continue
        if _ENCODED_SEPARATOR.search(segment) and any(
            _DOT_SEGMENT.match(part) for part in _ENCODED_SEPARATOR.split(segment)
        ):
            raise MediationError(
                "the request path hides a dot segment behind an encoded separator",
                detail=f"segment {segment!r} of {path!r}: '..' next to %2F, %5C or '\\' is "
                "refused, so no back end can be made to climb its path",
                http_status=400,
            )
        kept.append(segment)
    if len(kept) == 1 and kept[0] == "" and path.startswith("/"):
        return "/"
    return "/".join(kept)


def safe_postfix(postfix: str) -> str:
    """REST_URL_POSTFIX with its dot segments resolved inside itself: appended to an endpoint's address it
    can never reach above that address's path."""
    path, mark, query = postfix.partition("?")
    rooted = path if path.startswith("/") or not path else "/" + path
    resolved = remove_dot_segments(rooted)
    if not path.startswith("/") and resolved.startswith("/"):
        resolved = resolved[1:]
    return resolved + mark + query


class AddressEndpoint(Endpoint):
    """`<address uri format timeout>`; a REST client's URL suffix (REST_URL_POSTFIX) is appended."""

    __slots__ = ("uri", "url", "format", "media")

    def __init__(self, name: str | None, location: SourceLocation, timeout: float | None, uri: str, fmt: str | None):
        super().__init__(name, location, timeout)
        self.uri = uri
        self.url = URL(uri)  # parsed once here, not by the HTTP client on every request
        self.format = fmt
        self.media = FORMAT_MEDIA.get(fmt) if fmt else None

    async def send(self, ctx: MessageContext) -> MessageContext:
        url: URL | str = self.url
        postfix = ctx.axis2.get("REST_URL_POSTFIX")
        # W: Axis2FlexibleMEPClient appends it for a REST request, never with format soap11 / soap12
        if postfix and not ctx.exchange.client_is_soap and self.format not in _SOAP_FORMATS:
            postfix = safe_postfix(str(postfix))
            url = self.uri.rstrip("/") + ("" if postfix.startswith(("/", "?")) else "/") + postfix
        return await _measured(
            self.name, ctx, url=url, method=_method(ctx, self.format), media=self.media, timeout=self._timeout(ctx)
        )


class HttpEndpoint(Endpoint):
    """`<http uri-template="…{uri.var.x}…" method>`: an RFC 6570 template (as MI's, which uses an RFC 6570
    library too) whose variables come from default-scope properties, `query.param.*` also from the
    request's query; an unset variable expands to nothing.

    What the message fills in may not move the call elsewhere: the expanded path must stay under the
    template's fixed path, and a host taken from the message must pass the outbound allow-list."""

    __slots__ = ("template", "compiled", "variables", "method", "format", "fixed_path", "dynamic_host")

    def __init__(
        self,
        name: str | None,
        location: SourceLocation,
        timeout: float | None,
        template: str,
        method: str | None,
        fmt: str | None,
    ):
        super().__init__(name, location, timeout)
        self.template = template
        self.compiled = URITemplate(template)  # parsed once, here
        self.variables = tuple(self.compiled.variable_names)
        self.method = method.upper() if method else None
        self.format = fmt
        fixed = template.split("{", 1)[0]  # the part no variable can change
        scheme, sep, rest = fixed.partition("://")
        slash = rest.find("/") if sep else -1
        self.dynamic_host = slash == -1 and "{" in template
        self.fixed_path = rest[slash : rest.rfind("/") + 1] if slash != -1 else "/"

    def expand(self, ctx: MessageContext) -> str:
        values: dict[str, VariableValue] = {}
        for name in self.variables:
            value = ctx.properties.get(name)
            if value is None and name.startswith("query.param."):
                value = ctx.query_params.get(name[len("query.param.") :])
            if value is not None:
                values[name] = str(value)
        return self.compiled.expand(values)

    def target(self, ctx: MessageContext) -> str:
        url = self.expand(ctx)
        scheme, sep, rest = url.partition("://")
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i != -1), default=len(rest))
        authority, path_query = rest[:cut], rest[cut:]
        path, mark, query = path_query.partition("?")
        path = remove_dot_segments(path or "/")
        if not (path + "/").startswith(self.fixed_path):
            raise MediationError(
                "the expanded uri-template leaves the endpoint's path",
                detail=f"{self.template} at {self.location} expanded to a path outside "
                f"{self.fixed_path}; check the uri.var / query.param values",
                http_status=400,
            )
        url = f"{scheme}{sep}{authority}{path}{mark}{query}"
        if self.dynamic_host:
            ctx.exchange.services.outbound.check(url, f"the http endpoint at {self.location}")
        return url

    async def send(self, ctx: MessageContext) -> MessageContext:
        media = FORMAT_MEDIA.get(self.format) if self.format else None
        return await _measured(
            self.name,
            ctx,
            url=self.target(ctx),
            method=self.method or _method(ctx, self.format),
            media=media,
            timeout=self._timeout(ctx),
        )


class IndirectEndpoint(Endpoint):
    """`<endpoint key="name"/>`: a dangling key fails per message with 305100, as in MI."""

    __slots__ = ("key",)

    def __init__(self, location: SourceLocation, key: Value):
        super().__init__(None, location, None)
        self.key = key

    async def send(self, ctx: MessageContext) -> MessageContext:
        name = self.key.resolve(ctx)
        target = ctx.config.endpoints.get(name) if name else None
        if target is None:
            raise MediationError(
                f"Couldn't find the endpoint with the key : {name}",
                ENDPOINT_KEY_MISSING,
                f"referenced at {self.location}; deploy endpoints/{name}.xml or fix the key",
            )
        return await target.send(ctx)
