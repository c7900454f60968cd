"""Request time: an operation with its compiled parameters (BoundOperation) is invoked for a message; the
callable gets an OperationCall (the message, resolved parameters, the connector's runtime)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict

from gateway.connector.model import INVALID_PARAMETER, MISSING_PARAMETER, NO_CONNECTION
from gateway.errors import MediationError, SourceLocation, transport_failure
from gateway.message import json_codec, kinds
from gateway.message.payload import Payload, media_type_of
from gateway.runtime import tracing

if TYPE_CHECKING:
    from gateway.connector.model import Connector, OperationSpec, ParameterSpec
    from gateway.expressions import Value
    from gateway.message.context import MessageContext


class ConnectorError(MediationError):
    """A connector failure. It always carries a body, so a fault sequence can simply `<respond/>`:
    the upstream error (e.g. Twilio's JSON) or `{"error": {"code": …, "message": …}}`."""

    def __init__(
        self,
        message: str,
        code: int,
        detail: str | None = None,
        *,
        http_status: int = 500,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if body is None:
            body = json_codec.dumps({"error": {"code": code, "message": message}})
            content_type = kinds.APPLICATION_JSON
        super().__init__(
            message,
            code,
            detail,
            http_status=http_status,
            body=body,
            content_type=content_type or kinds.APPLICATION_JSON,
        )
        self.headers = headers  # upstream response headers to relay (None: leave the context's alone)


@dataclass(frozen=True, slots=True)
class BoundOperation:
    """An operation with its compiled parameter values (from an element or a local entry)."""

    connector: Connector
    spec: OperationSpec
    arguments: tuple[tuple[ParameterSpec, tuple[Value, ...]], ...]
    location: SourceLocation | None
    needs_body: bool
    plan: tuple[tuple[ParameterSpec, tuple[Value, ...]], ...] = field(init=False, repr=False, compare=False)

    @property
    def qualified_name(self) -> str:
        return f"{self.connector.name}.{self.spec.name}"

    def __post_init__(self) -> None:
        # The declared parameters that can give a value or a fault (given ones, absent ones with a default or
        # mandatory), with their compiled values, in declaration order: computed once here, not per message.
        given = {spec.name: values for spec, values in self.arguments}
        plan = []
        for spec in self.spec.parameters.values():
            values = given.get(spec.name, ())
            if values or spec.default is not None or spec.mandatory:
                plan.append((spec, values))
        object.__setattr__(self, "plan", tuple(plan))

    def resolve(self, ctx: MessageContext) -> dict[str, list[str]]:
        """Evaluate every parameter now; defaults fill absent ones; a missing mandatory one fails."""
        resolved: dict[str, list[str]] = {}
        for spec, values in self.plan:
            items: list[str] = []
            for value in values:
                # A repeatable parameter takes one item per selected node (a JSON array).
                for text in value.resolve_items(ctx) if spec.repeatable else [value.resolve(ctx)]:
                    if text is None or not text.strip():
                        continue  # an empty value is an absent value (W: InvokeMediatorFactory)
                    if spec.secret:
                        ctx.exchange.secrets.add(text)  # masked by value in every later log line
                    if spec.split:
                        items.extend(part.strip() for part in text.split(spec.split) if part.strip())
                    else:
                        items.append(text)
            if not items and spec.default is not None:
                items = [spec.default]
            if not items:
                if spec.mandatory:
                    raise missing_parameter(self, spec.name)
                continue
            if spec.max_occurs is not None and len(items) > spec.max_occurs:
                raise invalid_parameter(
                    self, spec.name, f"at most {spec.max_occurs} values are allowed, got {len(items)}"
                )
            resolved[spec.name] = items
        return resolved

    async def invoke(self, ctx: MessageContext) -> None:
        tracer = ctx.exchange.services.tracer
        if tracer is None:
            await self._counted(ctx)
            return
        with tracer.start_as_current_span(
            f"connector {self.qualified_name}",
            kind=tracing.client_kind(),
            attributes={"synapse.connector": self.connector.name, "synapse.operation": self.spec.name},
        ) as span:
            try:
                await self._counted(ctx)
            except ConnectorError as exc:
                span.set_attribute("synapse.error_code", str(exc.code))
                raise
            span.set_attribute("http.response.status_code", ctx.axis2.get("HTTP_SC", 200))

    async def _counted(self, ctx: MessageContext) -> None:
        services = ctx.exchange.services
        metrics = services.metrics
        if metrics is None:
            await self._invoke(ctx)
            return
        started = time.perf_counter()
        status: int | str = "none"
        code: int | str = ""
        try:
            await self._invoke(ctx)
            status = ctx.axis2.get("HTTP_SC", 200)
        except ConnectorError as exc:
            status, code = exc.http_status or "none", exc.code
            raise
        finally:
            # By operation, status and error code (a Twilio error's own code, e.g. 21211), per connector.
            metrics.connector(self.connector.name, self.spec.name, status, code, time.perf_counter() - started)

    async def _invoke(self, ctx: MessageContext) -> None:
        services = ctx.exchange.services
        timeout = self.connector.timeout_for(services.settings)
        try:
            arguments = self.resolve(ctx)
            runtime = services.connectors.get(self.connector.name)
            if runtime is None and self.connector.start is not None:
                raise ConnectorError(
                    f"the {self.connector.name} connector is not started",
                    NO_CONNECTION,
                    "its runtime is created at server start-up",
                    http_status=500,
                )
            call = OperationCall(ctx, arguments, runtime, self, timeout)
            handler = self.spec.handler
            assert handler is not None, "a template operation is run as a template, never invoked"
            try:
                if self.spec.local:
                    await handler(call)  # no I/O: nothing to time out
                else:
                    async with asyncio.timeout(timeout):
                        await handler(call)
            except MediationError:
                raise
            except Exception as exc:
                target = call.target or self.qualified_name
                failure = transport_failure(exc, target, timeout, what=self.qualified_name)
                if failure is None:
                    raise
                hint = (
                    (
                        " A create may still have been accepted: look it up before sending again. Raise "
                        f"connectors.{self.connector.name}.timeout (or timeouts.connector) if the service is just "
                        "slow"
                    )
                    if failure.timed_out
                    else ""
                )
                raise ConnectorError(
                    failure.message, failure.code, failure.detail + hint, http_status=504 if failure.timed_out else 502
                ) from None
        except ConnectorError as exc:
            mark_failure(ctx, self.qualified_name, exc)
            raise


def mark_failure(ctx: MessageContext, operation: str, exc: ConnectorError) -> None:
    """Tell the fault sequence a connector failed (CONNECTOR_ERROR) and keep the reply format rules
    coherent: the error body is treated like a back-end reply (Accept still applies)."""
    ctx.properties["CONNECTOR_ERROR"] = operation
    ctx.axis2.pop("NO_ENTITY_BODY", None)
    ctx.axis2.pop("ContentType", None)
    if exc.headers is not None:
        ctx.transport_headers = CIMultiDict(exc.headers)
        ctx.headers_from_backend = True  # relayed like a back-end reply's, not echoed request headers


def missing_parameter(
    bound: BoundOperation, name: str, message: str | None = None, code: int | None = None
) -> ConnectorError:
    spec = bound.spec.parameters.get(name)
    reason = message or (spec.missing_message if spec else None) or "no value was given"
    text = f"{bound.qualified_name}: mandatory parameter '{name}' is missing: {reason}"
    if code is None:
        code = spec.missing_code if spec else MISSING_PARAMETER
    return ConnectorError(
        text,
        code,
        f"at {bound.location}: give <{name}> a non-empty value (an empty value counts as absent); nothing was sent",
        http_status=400,
    )


def invalid_parameter(bound: BoundOperation, name: str, reason: str, code: int = INVALID_PARAMETER) -> ConnectorError:
    return ConnectorError(
        f"{bound.qualified_name}: invalid value for parameter '{name}': {reason}",
        code,
        f"at {bound.location}; nothing was sent",
        http_status=400,
    )


class OperationCall:
    """What an operation callable gets: the message, the resolved parameters and the runtime."""

    __slots__ = ("ctx", "arguments", "runtime", "bound", "timeout", "target")

    def __init__(
        self, ctx: MessageContext, arguments: dict[str, list[str]], runtime: Any, bound: BoundOperation, timeout: float
    ) -> None:
        self.ctx = ctx
        self.arguments = arguments
        self.runtime = runtime
        self.bound = bound
        self.timeout = timeout
        self.target: str | None = None  # set by the callable (e.g. "POST https://…") for error messages

    @property
    def name(self) -> str:
        return self.bound.qualified_name

    @property
    def activity_id(self) -> str:
        """The message's activity id (MI's activityid): send it along so the service's logs can be matched."""
        return self.ctx.exchange.activity_id

    def correlation_headers(self) -> dict[str, str]:
        """The header that carries the activity id to the service, as the gateway sends it to back ends."""
        exchange = self.ctx.exchange
        return {str(exchange.services.correlation_header): exchange.activity_id}

    def retried(self) -> None:
        """Count a retry of this operation (wso2_integration_connector_retry_count_total)."""
        metrics = self.ctx.exchange.services.metrics
        if metrics is not None:
            metrics.connector_retry(self.bound.connector.name, self.bound.spec.name)

    def value(self, name: str) -> str | None:
        items = self.arguments.get(name)
        return items[0] if items else None

    def values(self, name: str) -> list[str]:
        return list(self.arguments.get(name, ()))

    def missing(self, name: str, message: str | None = None, code: int | None = None) -> ConnectorError:
        return missing_parameter(self.bound, name, message, code)

    def invalid(self, name: str, reason: str, code: int = INVALID_PARAMETER) -> ConnectorError:
        return invalid_parameter(self.bound, name, reason, code)

    def set_result(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        """The operation's answer becomes the message, as a `call` reply would: body, HTTP_SC, messageType,
        transport headers. An untouched result goes back to a same-format client byte for byte."""
        ctx = self.ctx
        ctx.payload = Payload(content_type, body, limit=ctx.exchange.services.settings.max_body_bytes)
        media = media_type_of(content_type)
        axis2 = ctx.axis2
        axis2["HTTP_SC"] = status
        if not axis2.get("messageType"):
            # A body-less request (GET): the operation's own format is the natural answer.
            axis2["messageType"] = media
            axis2["_initialMessageType"] = media
        # Otherwise the client's messageType stays: each client gets the result in its own format
        # (JSON byte for byte, converted for POX / SOAP), and Accept still applies.
        for stale in ("ContentType", "NO_ENTITY_BODY", "FAULT_MESSAGE", "HTTP_SC_DESC"):
            axis2.pop(stale, None)
        reply_headers: CIMultiDict[str] = CIMultiDict(headers or {})
        reply_headers["Content-Type"] = content_type
        ctx.transport_headers = reply_headers
        ctx.headers_from_backend = True  # as `call` does: these are the service's headers now
