"""Endpoints: where send/call deliver a message. Built at deploy time, resolved per request."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict
from uritemplate import URITemplate
from yarl import URL

from gateway.errors import ENDPOINT_KEY_MISSING, MediationError, SourceLocation
from gateway.expressions import Expression
from gateway.message import formats
from gateway.message.payload import Payload
from gateway.message.soap import ADDRESSING_OUT
from gateway.message.soap import is_fault as is_soap_fault
from gateway.runtime import local, mail, tracing, vfs
from gateway.runtime.amqp import AmqpTarget, is_rabbitmq_uri, outgoing_for, parse_rabbitmq_uri
from gateway.runtime.endpoint_state import DEFAULT_SUSPENSION, NONE_READY, Discarded, EndpointContext, Suspension

if TYPE_CHECKING:
    from lxml import etree
    from uritemplate.variable import VariableValue

    from gateway.expressions import Value
    from gateway.mediators.template import TemplateParameter
    from gateway.message.context import MessageContext
    from gateway.runtime.metrics import Series
    from gateway.runtime.services import Transport

log = logging.getLogger("gateway.endpoint")

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
    """An endpoint. `send` is the entry of a root endpoint (a send, call or proxy target): a leaf that is not
    ready (suspended, timed out, switched off) fails at once with MI's code. A load-balance or fail-over parent
    calls `deliver` instead, after choosing a ready child itself (W: AddressEndpoint.send checks readiness only
    without a parent). A leaf's failure updates its state (W: AddressEndpoint.onFault)."""

    __slots__ = ("name", "location", "timeout", "context", "properties")
    kind = "address"

    def __init__(
        self,
        name: str | None,
        location: SourceLocation,
        timeout: float | Expression | None,
        suspension: Suspension = DEFAULT_SUSPENSION,
    ):
        self.name = name
        self.location = location
        self.timeout = timeout  # seconds; None = the gateway default; an expression: milliseconds per message
        self.context = EndpointContext(name, self.kind, suspension)
        self.properties: tuple[EndpointProperty, ...] = ()  # set by the builder

    async def send(self, ctx: MessageContext) -> MessageContext:
        if not self.context.ready():
            raise self.context.not_ready()
        return await self.deliver(ctx)

    async def deliver(self, ctx: MessageContext) -> MessageContext:
        if self.properties:
            await set_properties(self.properties, ctx)
        addressing = self.context.definition.addressing
        if addressing is not None:  # the transport writes the headers and drops the mark (W: engageAddressing)
            ctx.axis2[ADDRESSING_OUT] = addressing
        try:
            reply = await self.exchange(ctx)
            if _forced_error(ctx) and await _soap_fault(reply):
                raise _fault_reply(reply, self.location)
        except MediationError as exc:
            if not is_endpoint_failure(exc.code):
                raise  # a refused path or destination: the back end was never asked
            self.context.on_fault(exc.code)
            if self.context.definition.timeout_action == "discard":
                raise Discarded(exc.message, exc.code, exc.detail) from exc
            raise
        self.context.on_success()
        return reply

    async def exchange(self, ctx: MessageContext) -> MessageContext:
        raise NotImplementedError

    def ready(self, ctx: MessageContext) -> bool:
        return self.context.ready()

    def is_retry(self, code: int) -> bool:
        return self.context.definition.is_retry(code)

    @property
    def children(self) -> tuple[Endpoint, ...]:
        return ()

    def describe(self) -> dict[str, object]:
        """Type, state and children, for the management API."""
        info: dict[str, object] = {"type": self.kind, **self.context.describe()}
        address = getattr(self, "uri", None) or getattr(self, "template", None)
        if address:
            info["address"] = address
        if self.children:
            info["children"] = [child.describe() for child in self.children]
        return info

    def _timeout(self, ctx: MessageContext) -> float:
        timeout = self.timeout
        if isinstance(timeout, Expression):
            return _dynamic_timeout(timeout, ctx, self.location)
        return timeout if timeout is not None else ctx.exchange.services.settings.endpoint_timeout


@dataclass(frozen=True, slots=True)
class EndpointProperty:
    """`<endpoint><property name value|expression scope/>`: set on each message sent through the endpoint."""

    name: str
    value: str | None
    expression: Expression | None
    write: Callable[[Any, str, Any], None]


async def set_properties(properties: tuple[EndpointProperty, ...], ctx: MessageContext) -> None:
    """W: AbstractEndpoint.evaluateProperties."""
    for prop in properties:
        if prop.expression is not None:
            if prop.expression.needs_body:
                await ctx.build()
            value = prop.expression.string_value(ctx)
        else:
            value = prop.value
        prop.write(ctx, prop.name, value)


def _dynamic_timeout(expression: Expression, ctx: MessageContext, where: SourceLocation) -> float:
    """W: EndpointDefinition.evaluateDynamicEndpointTimeout: the value in milliseconds; one that is not a number
    gives the default timeout (logged)."""
    default = ctx.exchange.services.settings.endpoint_timeout
    text = (expression.string_value(ctx) or "").strip()
    try:
        millis = int(text)
    except ValueError:
        log.warning(
            "the dynamic timeout {%s} at %s is '%s', not milliseconds: %g s", expression.source, where, text, default
        )
        return default
    return millis / 1000.0 if millis > 0 else default


ENDPOINT_CUSTOM_ERROR = 500000  # W: SynapseConstants: a SOAP fault reply with FORCE_ERROR_ON_SOAP_FAULT=true


def is_endpoint_failure(code: int) -> bool:
    """Failures that say something about the back end: the transport's 1015xx codes, a SOAP fault made an error
    (500000), and a child group or leaf that was not ready (303xxx)."""
    return 101500 <= code < 101600 or 303000 <= code < 304000 or code == ENDPOINT_CUSTOM_ERROR


def _forced_error(ctx: MessageContext) -> bool:
    value = ctx.properties.get("FORCE_ERROR_ON_SOAP_FAULT")
    return value is True or str(value).lower() == "true"


async def _soap_fault(reply: MessageContext) -> bool:
    if reply.payload.kind not in ("soap11", "soap12"):
        return False
    try:
        return is_soap_fault(await reply.payload.build())
    except MediationError:
        return False  # an unreadable reply is not a SOAP fault; whoever reads it gets the parse error


def _fault_reply(reply: MessageContext, where: SourceLocation) -> MediationError:
    """W: SynapseCallbackReceiver: with FORCE_ERROR_ON_SOAP_FAULT=true a SOAP fault reply fails the endpoint
    (500000): a fail-over parent tries the next child; else the fault handlers run on the fault."""
    raw = reply.payload.raw or b""
    return MediationError(
        "the back end answered a SOAP fault (FORCE_ERROR_ON_SOAP_FAULT)",
        ENDPOINT_CUSTOM_ERROR,
        f"endpoint at {where}: {raw[:300].decode('utf-8', 'replace')}",
        body=raw,
        content_type=reply.payload.content_type,
    )


def _transport(ctx: MessageContext) -> Transport:
    transport = ctx.exchange.services.transport
    assert transport is not None, "the HTTP transport is created at start-up"
    return transport


_SOAP_FORMATS = ("soap11", "soap12")


def _measured(
    name: str | None, ctx: MessageContext, *, url: str | URL, method: str, media: str | None, timeout: float
) -> Awaitable[MessageContext]:
    """The exchange, traced and counted per endpoint when tracing or metrics are on. Returns the awaitable
    rather than awaiting it, so that a request pays one coroutine per measurement that is on, none otherwise."""
    exchange = _transport(ctx).exchange(ctx, url=url, method=method, media=media, timeout=timeout)
    tracer = ctx.exchange.services.tracer
    if tracer is None:
        return _counted(name, ctx, exchange)
    return _traced(tracer, name, _counted(name, ctx, exchange), method, url)


async def _traced(
    tracer: Any, name: str | None, exchange: Awaitable[MessageContext], method: str, url: str | URL
) -> MessageContext:
    with tracer.start_as_current_span(
        f"endpoint {name or 'AnonymousEndpoint'}",
        kind=tracing.client_kind(),
        attributes={"http.request.method": method, "url.full": str(url)},
    ) as span:
        reply = await exchange
        status = reply.axis2.get("HTTP_SC", 200)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            tracing.mark_error(span, f"HTTP {status}")
        return reply


def _counted(
    name: str | None, ctx: MessageContext, exchange: Coroutine[Any, Any, MessageContext]
) -> Awaitable[MessageContext]:
    """The exchange, counted per endpoint when metrics are on (no answer, or a 5xx, is an error)."""
    metrics = ctx.exchange.services.metrics
    return exchange if metrics is None else _timed(metrics.endpoint(name), exchange)


async def _timed(series: Series, exchange: Coroutine[Any, Any, MessageContext]) -> MessageContext:
    started = time.perf_counter()
    failed = True
    try:
        reply = await exchange
        failed = reply.axis2.get("HTTP_SC", 200) >= 500
        return reply
    finally:
        series.record(time.perf_counter() - started, failed)


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

    def __init__(
        self,
        name: str | None,
        location: SourceLocation,
        timeout: float | Expression | None,
        uri: str,
        fmt: str | None,
        suspension: Suspension = DEFAULT_SUSPENSION,
    ):
        super().__init__(name, location, timeout, suspension)
        self.uri = uri
        self.url = URL(uri)  # parsed once here, not by the HTTP client on every request
        self.format = fmt
        self.media = FORMAT_MEDIA.get(fmt) if fmt else None

    async def exchange(self, ctx: MessageContext) -> MessageContext:
        url: URL | str = self.url
        postfix = ctx.axis2.get("REST_URL_POSTFIX")
        # W: Axis2FlexibleMEPClient appends it for a REST request, never with format soap11 / soap12
        if postfix and not ctx.exchange.client_is_soap and self.format not in _SOAP_FORMATS:
            postfix = safe_postfix(str(postfix))
            url = self.uri.rstrip("/") + ("" if postfix.startswith(("/", "?")) else "/") + postfix
        return await _measured(
            self.name, ctx, url=url, method=_method(ctx, self.format), media=self.media, timeout=self._timeout(ctx)
        )


async def amqp_exchange(ctx: MessageContext, target: AmqpTarget, media: str | None, timeout: float) -> MessageContext:
    """Publish the message; the reply is the broker's answer (request-response), or, once the broker confirmed,
    the message itself (OUT_ONLY, or rabbitmq.publisher.confirms.enabled)."""
    body, content_type = await formats.message_bytes(ctx, media)
    out_only = str(ctx.properties.get("OUT_ONLY", ctx.axis2.get("OUT_ONLY", ""))).lower() == "true"
    services = ctx.exchange.services
    answer = await services.amqp.send(
        target, outgoing_for(ctx, body, content_type), wait_reply=not out_only, timeout=timeout
    )
    if answer is None:
        return _message_as_reply(ctx, body, content_type)  # delivered; a RabbitMQ reply has no status of its own
    settings = services.settings
    payload = Payload(
        answer.content_type,
        answer.body,
        limit=settings.max_response_bytes,
        tree_limit=settings.max_tree_bytes,
        from_backend=True,
    )
    return _status_200(ctx.response_context(payload, CIMultiDict(answer.headers)))


def _message_as_reply(ctx: MessageContext, data: bytes, content_type: str | None) -> MessageContext:
    """A transport with no answer of its own (a file, a mail, a confirmed publish): the reply is the message."""
    settings = ctx.exchange.services.settings
    payload = Payload(content_type, data, limit=settings.max_body_bytes, tree_limit=settings.max_tree_bytes)
    return _status_200(ctx.response_context(payload, CIMultiDict(ctx.transport_headers)))


def _status_200(reply: MessageContext) -> MessageContext:
    reply.axis2["HTTP_SC"] = 200
    if reply.payload.media_type:
        reply.axis2["messageType"] = reply.payload.media_type
    return reply


OtherTarget = AmqpTarget | vfs.VfsTarget | local.LocalTarget | mail.MailTarget


def parse_other_uri(uri: str) -> OtherTarget | None:
    """A `rabbitmq:`, `vfs:`, `local:` or `mailto:` address read (ValueError says what is wrong); None for any
    other."""
    if is_rabbitmq_uri(uri):
        return parse_rabbitmq_uri(uri)
    if vfs.is_vfs_uri(uri):
        return vfs.parse_vfs_uri(uri)
    if local.is_local_uri(uri):
        return local.parse_local_uri(uri)
    if mail.is_mail_uri(uri):
        return mail.parse_mail_uri(uri)
    return None


class TransportEndpoint(Endpoint):
    """`<address uri="rabbitmq:/NAME?…"/>`, `"vfs:file:///…"`, `"local://services/NAME"` or
    `"mailto:someone@example.com"`: the message is published to RabbitMQ (gateway.runtime.amqp; W: axis2
    RabbitMQSender), written to a file (gateway.runtime.vfs), handed to a proxy or API of this gateway
    (gateway.runtime.local) or mailed (gateway.runtime.mail)."""

    __slots__ = ("uri", "target", "format", "media")
    kind = "address"

    def __init__(
        self,
        name: str | None,
        location: SourceLocation,
        timeout: float | Expression | None,
        uri: str,
        target: OtherTarget,
        fmt: str | None,
        suspension: Suspension = DEFAULT_SUSPENSION,
    ):
        super().__init__(name, location, timeout, suspension)
        self.uri = uri
        self.target = target
        self.format = fmt
        self.media = FORMAT_MEDIA.get(fmt) if fmt else None

    async def exchange(self, ctx: MessageContext) -> MessageContext:
        where = f"the endpoint at {self.location}"
        exchange = other_exchange(ctx, self.target, self.format, self.media, self._timeout(ctx), where)
        return await _counted(self.name, ctx, exchange)  # counted per endpoint as an HTTP one

    def describe(self) -> dict[str, object]:
        info = super().describe()
        info["address"] = self.uri.split("?", 1)[0]  # a rabbitmq: uri's parameters hold the broker's password
        return info


async def other_exchange(
    ctx: MessageContext, target: OtherTarget, fmt: str | None, media: str | None, timeout: float, where: str
) -> MessageContext:
    """Deliver over RabbitMQ, file, local or mail; a file or a mail has no answer: the reply is the message."""
    if isinstance(target, AmqpTarget):
        return await amqp_exchange(ctx, target, media, timeout)
    if isinstance(target, local.LocalTarget):
        return await local.exchange(ctx, target, method=_method(ctx, fmt), media=media, timeout=timeout, where=where)
    settings = ctx.exchange.services.settings
    data, content_type = await formats.message_bytes(ctx, media)
    if isinstance(target, vfs.VfsTarget):
        file = await asyncio.to_thread(  # stat, realpath, mkdir: off the event loop, as the write
            vfs.destination,
            target,
            vfs.reply_file_name(ctx),
            settings.file_roots,
            where,
            make_folder=vfs.create_folder(ctx, target),
        )
        await vfs.write(target, file, data)
    else:
        mail.check_server(settings.mail)  # before composing: no server also means no From address
        message, recipients = mail.compose(ctx, target, data, content_type, settings.mail.sender)
        await mail.send(settings.mail, message, recipients, timeout)
    return _message_as_reply(ctx, data, content_type)  # written or mailed; neither has a status of its own


class WsdlEndpoint(AddressEndpoint):
    """`<wsdl uri service port>`: an address endpoint whose address and SOAP version came from the WSDL at
    deploy time (W: WSDLEndpoint); not ready, it fails with 303002."""

    __slots__ = ()
    kind = "wsdl"


class HttpEndpoint(Endpoint):
    """`<http uri-template="…{uri.var.x}…" method>`: an RFC 6570 template (as MI's, which uses an RFC 6570
    library too) whose variables come from default-scope properties, `query.param.*` also from the
    request's query; an unset variable expands to nothing.

    What the message fills in may not move the call elsewhere: the expanded path must stay under the
    template's fixed path, and a host taken from the message must pass the outbound allow-list."""

    __slots__ = ("template", "compiled", "variables", "method", "format", "fixed_path", "dynamic_host")
    kind = "http"

    def __init__(
        self,
        name: str | None,
        location: SourceLocation,
        timeout: float | Expression | None,
        template: str,
        method: str | None,
        fmt: str | None,
        suspension: Suspension = DEFAULT_SUSPENSION,
    ):
        super().__init__(name, location, timeout, suspension)
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

    async def exchange(self, ctx: MessageContext) -> MessageContext:
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
    """`<endpoint key="name"/>` (or `key-expression`, resolved per message): a dangling key fails per message
    with 305100, as in MI. Its state is the named endpoint's."""

    __slots__ = ("key",)
    kind = "indirect"

    def __init__(self, location: SourceLocation, key: Value):
        super().__init__(None, location, None)
        self.key = key

    async def target(self, ctx: MessageContext) -> Endpoint:
        if self.key.needs_body:
            await ctx.build()
        name = self.key.resolve(ctx)
        target = ctx.config.endpoints.get(name) if name else None
        if target is None:
            raise MediationError(
                f"Couldn't find the endpoint with the key : {name}",
                ENDPOINT_KEY_MISSING,
                f"referenced at {self.location}; deploy endpoints/{name}.xml or fix the key",
            )
        return target

    async def send(self, ctx: MessageContext) -> MessageContext:
        return await (await self.target(ctx)).send(ctx)

    async def deliver(self, ctx: MessageContext) -> MessageContext:
        return await (await self.target(ctx)).deliver(ctx)

    def ready(self, ctx: MessageContext) -> bool:
        name = self.key.resolve(ctx) if not self.key.needs_body else None
        target = ctx.config.endpoints.get(name) if name else None
        return target.ready(ctx) if target is not None else True  # a missing key fails when it is used

    def is_retry(self, code: int) -> bool:
        return True

    def describe(self) -> dict[str, object]:
        return {"type": "indirect", "key": self.key.source}


class EndpointTemplate:
    """`<template name><parameter name/>…<endpoint …/></template>` (W: Template): the endpoint's XML, kept to be
    instantiated for each `<endpoint template=…>` once every artifact is loaded (gateway.deploy.loader)."""

    __slots__ = ("name", "parameters", "element", "location")

    def __init__(
        self, name: str, parameters: tuple[TemplateParameter, ...], element: etree._Element, location: SourceLocation
    ):
        self.name = name
        self.parameters = parameters
        self.element = element
        self.location = location

    @property
    def names(self) -> frozenset[str]:
        """W: TemplateFactory.createEndpointTemplate adds `name` and `uri` to the declared parameters."""
        return frozenset({parameter.name for parameter in self.parameters} | {"name", "uri"})


class TemplateEndpoint(Endpoint):
    """`<endpoint template="T" name uri><parameter name value/></endpoint>` (W: TemplateEndpoint): the template's
    endpoint with `$name`, `$uri` and `$PARAM` replaced, built when the configuration is assembled and held by it
    (`Configuration.template_endpoints`); a template that is missing or does not build fails each message."""

    __slots__ = ("template", "values")
    kind = "template"

    def __init__(self, name: str | None, location: SourceLocation, template: str, values: dict[str, str]):
        super().__init__(name, location, None)
        self.template = template
        self.values = values

    def real(self, ctx: MessageContext) -> Endpoint:
        endpoint = ctx.config.template_endpoints.get(self)
        if endpoint is None:
            raise MediationError(
                f"Template endpoint {self.name or self.template}: the endpoint template {self.template} is not ready",
                ENDPOINT_KEY_MISSING,
                f"at {self.location}: deploy templates/{self.template}.xml holding an <endpoint>, or fix it "
                "(see `gateway validate`)",
            )
        return endpoint

    async def send(self, ctx: MessageContext) -> MessageContext:
        return await self.real(ctx).send(ctx)

    async def deliver(self, ctx: MessageContext) -> MessageContext:
        return await self.real(ctx).deliver(ctx)

    def ready(self, ctx: MessageContext) -> bool:
        endpoint = ctx.config.template_endpoints.get(self)
        return endpoint.ready(ctx) if endpoint is not None else True

    def is_retry(self, code: int) -> bool:
        return True

    def describe(self) -> dict[str, object]:
        return {"type": "template", "template": self.template}


class DefaultEndpoint(Endpoint):
    """`<default/>`: the message's To address (W: DefaultEndpoint): a WS-Addressing To header, or one set
    by the header mediator. The address came from the message, so it must pass the outbound allow-list."""

    __slots__ = ("format", "media")
    kind = "default"

    def __init__(
        self,
        name: str | None,
        location: SourceLocation,
        timeout: float | Expression | None,
        fmt: str | None,
        suspension: Suspension = DEFAULT_SUSPENSION,
    ):
        super().__init__(name, location, timeout, suspension)
        self.format = fmt
        self.media = FORMAT_MEDIA.get(fmt) if fmt else None

    async def exchange(self, ctx: MessageContext) -> MessageContext:
        address = await to_address(ctx)
        try:
            other = parse_other_uri(address) if address is not None else None
        except ValueError as exc:
            raise MediationError(
                "the message's To is not an address this gateway can send to",
                detail=f"the default endpoint at {self.location}: {exc}",
            ) from None
        if other is not None:
            where = f"the default endpoint at {self.location}"
            if not isinstance(other, vfs.VfsTarget):  # a file's directory is checked against file_transport.roots
                ctx.exchange.services.outbound.check(other.address(), where)
            return await other_exchange(ctx, other, self.format, self.media, self._timeout(ctx), where)
        if address is None or "://" not in address:
            raise MediationError(
                "the message has no To address to send to",
                detail=f"the default endpoint at {self.location} sends to the message's To; the To is "
                f'{address!r}: set it with <header name="To" value="http://host/path"/> or a WS-Addressing To',
            )
        ctx.exchange.services.outbound.check(address, f"the default endpoint at {self.location}")
        if _is_self(address, ctx):
            raise MediationError(
                "the message's To is the address it came in on: sending there would loop",
                detail=f"the default endpoint at {self.location} sends to the To {address!r}; set another with "
                '<header name="To" value="http://…"/>, or give the send an <endpoint>',
            )
        return await _transport(ctx).exchange(
            ctx, url=address, method=_method(ctx, self.format), media=self.media, timeout=self._timeout(ctx)
        )


class ImplicitTo(DefaultEndpoint):
    """A send or call without an endpoint: the To, with no endpoint state (W: Axis2Sender.sendOn uses no
    endpoint, so nothing is suspended: one failing To must not stop the sends to every other)."""

    __slots__ = ()

    async def send(self, ctx: MessageContext) -> MessageContext:
        return await self.exchange(ctx)

    async def deliver(self, ctx: MessageContext) -> MessageContext:
        return await self.exchange(ctx)


def _is_self(address: str, ctx: MessageContext) -> bool:
    """The To names this request's own URL (its Host header and path): a send there calls itself again."""
    host = ctx.transport_headers.get("Host")
    if not host:
        return False
    try:
        url = URL(address)
    except ValueError:
        return False
    own = URL(f"http://{host}{ctx.exchange.path}")
    return url.host == own.host and url.port == own.port and url.path.rstrip("/") == own.path.rstrip("/")


async def to_address(ctx: MessageContext) -> str | None:
    """The message's To (MessageContext.to), with a streamed SOAP body read first so that its WS-Addressing To
    header can be seen."""
    if ctx.to_from_request and ctx.payload.kind in ("soap11", "soap12") and not ctx.payload.is_read:
        await ctx.payload.read()
    return ctx.to


class MemberEndpoint(Endpoint):
    """`<member hostName httpPort httpsPort>` of a load-balance endpoint: the message's To path (the request
    path, or the path of its WS-Addressing To) on that host (W: LoadbalanceEndpoint.sendToApplicationMember)."""

    __slots__ = ("host", "http_port", "https_port")
    kind = "member"

    def __init__(self, location: SourceLocation, host: str, http_port: int, https_port: int | None):
        super().__init__(f"{host}:{http_port}", location, None)
        self.host = host
        self.http_port = http_port
        self.https_port = https_port

    async def exchange(self, ctx: MessageContext) -> MessageContext:
        address = await to_address(ctx) or "/"
        target = URL(address)
        path = target.raw_path_qs if target.is_absolute() else address
        path = path if path.startswith("/") else "/" + path
        url = f"http://{self.host}:{self.http_port}{remove_dot_segments(path)}"
        return await _transport(ctx).exchange(
            ctx, url=url, method=_method(ctx, None), media=None, timeout=self._timeout(ctx)
        )

    def describe(self) -> dict[str, object]:
        return {"type": "member", "address": f"{self.host}:{self.http_port}", **self.context.describe()}


class _Group(Endpoint):
    """What fail-over and load-balance endpoints share: children, readiness, the message kept for a retry."""

    __slots__ = ("members",)

    def __init__(self, name: str | None, location: SourceLocation, members: tuple[Endpoint, ...]):
        super().__init__(name, location, None)
        self.members = members

    @property
    def children(self) -> tuple[Endpoint, ...]:
        return self.members

    def ready(self, ctx: MessageContext) -> bool:
        return not self.context.switched_off and any(child.ready(ctx) for child in self.members)

    async def send(self, ctx: MessageContext) -> MessageContext:
        return await self.deliver(ctx)

    def describe(self) -> dict[str, object]:
        return {
            "type": self.kind,
            "state": "OFF" if self.context.switched_off else "ACTIVE",
            "children": [child.describe() for child in self.members],
        }

    async def _start(self, ctx: MessageContext, what: str) -> None:
        """W: a switched-off group refuses the message; else the group's own properties are set on it."""
        if self.context.switched_off:
            raise MediationError(f"{what} endpoint : {self.name or 'AnonymousEndpoint'} - is inactive", NONE_READY)
        if self.properties:
            await set_properties(self.properties, ctx)

    def _pick(self, ctx: MessageContext, tried: set[int]) -> int | None:
        """The next ready child to try, none of `tried`."""
        raise NotImplementedError

    async def _first_answer(self, ctx: MessageContext, what: str, failover: bool) -> tuple[int, MessageContext]:
        """The children in _pick's order until one answers, and its index: with failover a retriable endpoint
        failure goes on to the next child, each child tried once per message. None left: the error of the last
        child that failed (W: informFailure), or 303000 with none tried."""
        tried: set[int] = set()
        last: MediationError | None = None
        while True:
            index = self._pick(ctx, tried)
            if index is None:
                if last is not None:
                    raise last
                name = self.name or "AnonymousEndpoint"
                raise MediationError(f"{what} endpoint : {name} - no ready child endpoints", NONE_READY)
            child = self.members[index]
            try:
                return index, await child.deliver(ctx)
            except Discarded:
                raise
            except MediationError as exc:
                if not failover or not is_endpoint_failure(exc.code) or not child.is_retry(exc.code):
                    raise
                last = exc
                tried.add(index)


class FailoverEndpoint(_Group):
    """`<failover [dynamic]>`: the first ready child; on a retriable failure the next ready one (W:
    FailoverEndpoint). dynamic (the default) goes back to the first child once it is ready again; static
    (`dynamic="false"`) stays on the child that answered last. Each child is tried once per message."""

    __slots__ = ("dynamic", "current")
    kind = "failover"

    def __init__(self, name: str | None, location: SourceLocation, members: tuple[Endpoint, ...], dynamic: bool):
        super().__init__(name, location, members)
        self.dynamic = dynamic
        self.current = 0

    async def deliver(self, ctx: MessageContext) -> MessageContext:
        await self._start(ctx, "Failover")
        await ctx.payload.read()  # kept in memory: a second child gets the same message
        index, reply = await self._first_answer(ctx, "Failover", True)
        if not self.dynamic:
            self.current = index
        return reply

    def _pick(self, ctx: MessageContext, tried: set[int]) -> int | None:
        """Dynamic: the first ready child. Static: the current child while it is ready, else the first ready
        one from the start (W: FailoverEndpoint.sendMessage)."""
        current = self.current
        if not self.dynamic and current not in tried and self.members[current].ready(ctx):
            return current
        for index, child in enumerate(self.members):
            if index not in tried and child.ready(ctx):
                return index
        return None


class RoundRobin:
    """W: algorithms.RoundRobin: the next ready child after the last one used."""

    __slots__ = ("cursor",)
    name = "roundRobin"

    def __init__(self, weights: tuple[int, ...]) -> None:
        self.cursor = 0

    def pick(self, members: tuple[Endpoint, ...], ctx: MessageContext, tried: set[int]) -> int | None:
        for _ in range(len(members)):
            index = self.cursor
            self.cursor = (self.cursor + 1) % len(members)
            if index not in tried and members[index].ready(ctx):
                return index
        return None


class WeightedRoundRobin:
    """W: algorithms.WeightedRoundRobin: each child `loadbalance.weight` times in a row, then the next. Unlike
    MI's, a child that is not ready is skipped (MI's weighted algorithm sends to a suspended child)."""

    __slots__ = ("weights", "left", "cursor")
    name = "weightedRoundRobin"

    def __init__(self, weights: tuple[int, ...]) -> None:
        self.weights = weights
        self.left = list(weights)
        self.cursor = 0

    def pick(self, members: tuple[Endpoint, ...], ctx: MessageContext, tried: set[int]) -> int | None:
        for _ in range(sum(self.weights) + len(members)):
            if self.left[self.cursor] == 0:
                self.left[self.cursor] = self.weights[self.cursor]
                self.cursor = (self.cursor + 1) % len(members)
            index = self.cursor
            self.left[index] -= 1
            if index not in tried and members[index].ready(ctx):
                return index
            self.left[index] = 0  # not usable now: on to the next child
        return None


class RecipientListEndpoint(_Group):
    """`<recipientlist>` (W: RecipientListEndpoint): the message goes to every ready child at once (children,
    `<member>`s, or `<endpoints value="{expr}">`, a comma-separated list of addresses per message). The first
    reply in the children's order answers; the other replies are read and dropped (MI runs each through the
    out flow, where an aggregate mediator would join them: there is none here). All failed: the last error."""

    __slots__ = ("dynamic", "max_cache", "pool")
    kind = "recipientlist"

    def __init__(
        self,
        name: str | None,
        location: SourceLocation,
        members: tuple[Endpoint, ...],
        dynamic: Value | None = None,
        max_cache: int = 20,
    ):
        super().__init__(name, location, members)
        self.dynamic = dynamic
        self.max_cache = max(1, max_cache)
        self.pool: OrderedDict[str, Endpoint] = OrderedDict()  # W: dynamicEndpointPool

    def ready(self, ctx: MessageContext) -> bool:
        return not self.context.switched_off and (self.dynamic is not None or super().ready(ctx))

    async def _targets(self, ctx: MessageContext) -> list[Endpoint]:
        if self.dynamic is None:
            return [child for child in self.members if child.ready(ctx)]
        if self.dynamic.needs_body:
            await ctx.build()
        targets = []
        for url in (self.dynamic.resolve(ctx) or "").split(","):
            url = url.strip()
            if not url:
                continue
            endpoint = self.pool.get(url)
            if endpoint is None:
                if not url.startswith(("http://", "https://")):
                    raise MediationError(
                        f"the recipient list address '{url}' is not an http(s) URL",
                        detail=f"<endpoints value={self.dynamic.source!r}> at {self.location}",
                    )
                ctx.exchange.services.outbound.check(url, f"the recipient list at {self.location}")
                endpoint = AddressEndpoint(None, self.location, None, url, None)
                self.pool[url] = endpoint
                while len(self.pool) > self.max_cache:
                    self.pool.popitem(last=False)
            else:
                ctx.exchange.services.outbound.check(url, f"the recipient list at {self.location}")
            targets.append(endpoint)
        return targets

    async def deliver(self, ctx: MessageContext) -> MessageContext:
        await self._start(ctx, "RecipientList")
        await ctx.payload.read()  # every recipient gets the same bytes
        targets = await self._targets(ctx)
        if not targets:
            name = self.name or "AnonymousEndpoint"
            raise MediationError(f"Recipient List endpoint : {name} - no ready child endpoints", NONE_READY)
        results = await asyncio.gather(*(target.deliver(ctx) for target in targets), return_exceptions=True)
        answer: MessageContext | None = None
        failure: BaseException | None = None
        for result in results:
            if isinstance(result, BaseException):
                failure = result
            elif answer is None:
                answer = result
            else:
                await result.payload.read()  # dropped: nobody waits for it
        if answer is not None:
            return answer
        assert failure is not None
        raise failure


ALGORITHMS: dict[str, type[RoundRobin] | type[WeightedRoundRobin]] = {
    "org.apache.synapse.endpoints.algorithms.RoundRobin": RoundRobin,
    "org.apache.synapse.endpoints.algorithms.WeightedRoundRobin": WeightedRoundRobin,
    "roundRobin": RoundRobin,
    "weightedRoundRobin": WeightedRoundRobin,
}
_SYNAPSE_NS = "http://ws.apache.org/ns/synapse"
_SESSION_COOKIES = ("JSESSIONID", "PHPSESSID", "phpMyAdmin", "wordpress_test_cookie")  # W: AbstractDispatcher
MAX_SESSIONS = 10_000
SESSION_NOT_READY = 309001  # W: SynapseConstants.ENDPOINT_SAL_NOT_READY


class SessionAffinity:
    """`<session type="http|simpleClientSession"><sessionTimeout>ms</sessionTimeout></session>` (W:
    SALoadbalanceEndpoint, HttpSessionDispatcher, SimpleClientSessionDispatcher, SALSessions).

    http: the back end starts the session with a Set-Cookie (JSESSIONID, PHPSESSID, …); the client's Cookie
    then names it. simpleClientSession: the client names it in a SOAP header `<syn:ClientID>` (namespace
    http://ws.apache.org/ns/synapse). At most MAX_SESSIONS are kept (the oldest go first); without a
    sessionTimeout a session lasts until then, as in MI."""

    __slots__ = ("type", "timeout", "sessions")

    def __init__(self, kind: str, timeout_millis: int | None):
        self.type = kind
        self.timeout = timeout_millis / 1000.0 if timeout_millis and timeout_millis > 0 else None
        self.sessions: OrderedDict[str, tuple[int, float]] = OrderedDict()

    async def request_id(self, ctx: MessageContext) -> str | None:
        if self.type == "http":
            return _session_cookie(ctx.transport_headers.getall("Cookie", []))
        if ctx.payload.kind not in ("soap11", "soap12"):
            return None
        envelope = await ctx.build()
        header = envelope.find("{*}Header")
        block = header.find(f"{{{_SYNAPSE_NS}}}ClientID") if header is not None else None
        text = block.text.strip() if block is not None and block.text else ""
        return text or None

    def lookup(self, session: str | None) -> int | None:
        if session is None:
            return None
        entry = self.sessions.get(session)
        if entry is None:
            return None
        index, expires = entry
        if time.monotonic() > expires:
            del self.sessions[session]
            return None
        self.bind(session, index)  # in use: kept for another timeout
        return index

    def bind(self, session: str | None, index: int) -> None:
        if session is None:
            return
        self.sessions[session] = (index, time.monotonic() + self.timeout if self.timeout else float("inf"))
        self.sessions.move_to_end(session)
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)

    def unbind(self, session: str | None) -> None:
        if session is not None:
            self.sessions.pop(session, None)

    def started_by(self, reply: MessageContext) -> str | None:
        """The session a back end's reply starts (http only: its Set-Cookie)."""
        if self.type != "http":
            return None
        return _session_cookie(reply.transport_headers.getall("Set-Cookie", []))


def _session_cookie(headers: list[str]) -> str | None:
    """W: AbstractDispatcher.extractSessionCookie: the first `NAME=value` pair that is a session cookie."""
    for header in headers:
        for part in header.split(";"):
            part = part.strip()
            if any(name in part for name in _SESSION_COOKIES) and "=" in part:
                return part
    return None


class LoadbalanceEndpoint(_Group):
    """`<loadbalance algorithm failover>` over child endpoints or `<member>`s (W: LoadbalanceEndpoint,
    SALoadbalanceEndpoint). With failover (the default) a retriable failure goes to the next child; each child
    is tried once per message. With a `<session>`, a known session goes to its child (a failure there is not
    failed over, as in MI, and ends the session); a new one is bound to the child that answered."""

    __slots__ = ("algorithm", "failover", "session")
    kind = "loadbalance"

    def __init__(
        self,
        name: str | None,
        location: SourceLocation,
        members: tuple[Endpoint, ...],
        algorithm: RoundRobin | WeightedRoundRobin,
        failover: bool,
        session: SessionAffinity | None,
    ):
        super().__init__(name, location, members)
        self.algorithm = algorithm
        self.failover = failover
        self.session = session

    async def deliver(self, ctx: MessageContext) -> MessageContext:
        await self._start(ctx, "Loadbalance")
        session_id = None
        if self.session is not None:
            session_id = await self.session.request_id(ctx)
            bound = self.session.lookup(session_id)
            if bound is not None:
                child = self.members[bound]
                if not child.ready(ctx):  # W: sendMessageOnCurrentSession
                    raise MediationError(
                        f"The endpoint {child.name or 'AnonymousEndpoint'} on the session with id {session_id} is "
                        "not ready.",
                        SESSION_NOT_READY,
                    )
                try:
                    return await child.deliver(ctx)
                except MediationError:
                    self.session.unbind(session_id)
                    raise
        if self.failover:
            await ctx.payload.read()  # kept in memory: a second child gets the same message
        index, reply = await self._first_answer(ctx, "Loadbalance", self.failover)
        if self.session is not None:  # http: the back end starts a session (Set-Cookie); else the client's id
            started = self.session.started_by(reply) if self.session.type == "http" else session_id
            self.session.bind(started, index)
        return reply

    def _pick(self, ctx: MessageContext, tried: set[int]) -> int | None:
        return self.algorithm.pick(self.members, ctx, tried)

    def describe(self) -> dict[str, object]:
        info = super().describe()
        info["algorithm"] = self.algorithm.name
        if self.session is not None:
            info["session"] = {"type": self.session.type, "sessions": len(self.session.sessions)}
        return info
