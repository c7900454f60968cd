"""Endpoints: where send/call deliver a message. Built at deploy time, resolved per request."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from yarl import URL

from gateway.errors import ENDPOINT_KEY_MISSING, MediationError, SourceLocation
from gateway.transport import client

if TYPE_CHECKING:
    from gateway.expressions import Value
    from gateway.message.context import MessageContext

FORMAT_MEDIA = {"soap11": "text/xml", "soap12": "application/soap+xml", "pox": "application/xml",
                "json": "application/json", "get": None, "rest": None}
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


def _method(ctx: MessageContext, fmt: str | None) -> str:
    if fmt == "get":
        return "GET"
    explicit = ctx.axis2.get("HTTP_METHOD")
    if explicit:
        return str(explicit).upper()
    return ctx.exchange.method if not ctx.exchange.client_is_soap else "POST"


class AddressEndpoint(Endpoint):
    """`<address uri format timeout>`; a REST client's URL suffix (REST_URL_POSTFIX) is appended."""

    __slots__ = ("uri", "url", "format", "media")

    def __init__(self, name, location, timeout, uri: str, fmt: str | None):
        super().__init__(name, location, timeout)
        self.uri = uri
        self.url = URL(uri)  # parsed once here, not by the HTTP client on every request
        self.format = fmt
        self.media = FORMAT_MEDIA.get(fmt) if fmt else None

    async def send(self, ctx: MessageContext) -> MessageContext:
        url: URL | str = self.url
        postfix = ctx.axis2.get("REST_URL_POSTFIX")
        if postfix and not ctx.exchange.client_is_soap:
            url = self.uri.rstrip("/") + ("" if postfix.startswith(("/", "?")) else "/") + postfix
        media = self.media
        return await client.exchange(ctx, url=url, method=_method(ctx, self.format), media=media,
                                     timeout=self._timeout(ctx))


_TEMPLATE_VAR = re.compile(r"\{(\+?)([^{}]+)\}")


class HttpEndpoint(Endpoint):
    """`<http uri-template="…{uri.var.x}…" method>`: variables come from default-scope properties."""

    __slots__ = ("template", "method", "format")

    def __init__(self, name, location, timeout, template: str, method: str | None, fmt: str | None):
        super().__init__(name, location, timeout)
        self.template = template
        self.method = method.upper() if method else None
        self.format = fmt

    def expand(self, ctx: MessageContext) -> str:
        def substitute(match: re.Match[str]) -> str:
            reserved, name = match.group(1), match.group(2)
            value = ctx.properties.get(name)
            if value is None and name.startswith("query.param."):
                value = ctx.query_params.get(name[len("query.param."):])
            if value is None:
                return ""
            return str(value) if reserved else quote(str(value), safe="")

        return _TEMPLATE_VAR.sub(substitute, self.template)

    async def send(self, ctx: MessageContext) -> MessageContext:
        media = FORMAT_MEDIA.get(self.format) if self.format else None
        return await client.exchange(ctx, url=self.expand(ctx), method=self.method or _method(ctx, self.format),
                                     media=media, timeout=self._timeout(ctx))


class IndirectEndpoint(Endpoint):
    """`<endpoint key="name"/>`: a dangling key fails per message with 305100, as in MI."""

    __slots__ = ("key",)

    def __init__(self, location, key: Value):
        super().__init__(None, location, None)
        self.key = key

    async def send(self, ctx: MessageContext) -> MessageContext:
        name = self.key.resolve(ctx)
        target = ctx.config.endpoints.get(name) if name else None
        if target is None:
            raise MediationError(f"Couldn't find the endpoint with the key : {name}", ENDPOINT_KEY_MISSING,
                                 f"referenced at {self.location}; deploy endpoints/{name}.xml or fix the key")
        return await target.send(ctx)
