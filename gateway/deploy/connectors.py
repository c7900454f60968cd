"""The connector framework: named groups of operations used as `<prefix.operation>` elements.

A connector is a descriptor file (`connector.yaml`: name, operations, parameters, options) plus the
Python callables it names. The engine knows no connector: the deploy registry asks this module to turn
`<twilioRest.sendSms>` into a mediator, and the server asks it to start the connector runtimes once.

Connectors come from the bundled `connectors/` package (each subpackage exposes `CONNECTOR`) and from
the `synapse_gateway.connectors` entry-point group (third-party packages).

Parameter values are compiled at deploy time (`{$ctx:x}`, `{xpath}`, `{json-eval(...)}`, `{{literal}}`)
and resolved per message; an empty value counts as absent (W: InvokeMediatorFactory). Mandatory
parameters are checked before the operation's callable runs, so nothing is called out with missing data.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
import yaml
from lxml import etree
from multidict import CIMultiDict

from gateway.deploy.xmlutil import children, did_you_mean, local_name, location, prefixed_namespaces
from gateway.errors import (
    CONNECT_FAILED,
    CONNECT_TIMEOUT,
    DeployError,
    ExpressionError,
    MediationError,
    SourceLocation,
)
from gateway.expressions import Value, compile_value
from gateway.masking import CONFIGURED
from gateway.mediators.base import Mediator
from gateway.message.payload import Payload, media_type_of

if TYPE_CHECKING:
    from gateway.deploy.registry import FactoryContext
    from gateway.message.context import MessageContext
    from gateway.runtime.services import Services
    from gateway.settings import Settings

log = logging.getLogger("gateway.connectors")

ENTRY_POINT_GROUP = "synapse_gateway.connectors"

# ERROR_CODEs raised by the framework itself (connectors add their own, e.g. Twilio's).
MISSING_PARAMETER = 500101  # W: TemplateMediator's code for a mandatory parameter without a value
INVALID_PARAMETER = 500102  # ours: a value the connector rejects before calling out
NO_CONNECTION = 500103  # ours: no init ran and no usable configKey connection
RESPONSE_PROCESSING_FAILED = 101510  # W: SynapseConstants, the back end's answer could not be processed

Handler = Callable[["OperationCall"], Awaitable[None]]
StartHook = Callable[["Services", Mapping[str, Any]], Awaitable[Any]]


class ConnectorDefinitionError(ValueError):
    """A broken descriptor file or connector package (a bug of the connector, not of the user's XML)."""


class ConnectorError(MediationError):
    """A connector failure. It always carries a body, so a fault sequence can simply `<respond/>`:
    the upstream error (e.g. Twilio's JSON) or `{"error": {"code": …, "message": …}}`."""

    def __init__(self, message: str, code: int, detail: str | None = None, *, http_status: int = 500,
                 body: bytes | None = None, content_type: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        if body is None:
            body = orjson.dumps({"error": {"code": code, "message": message}})
            content_type = "application/json"
        super().__init__(message, code, detail, http_status=http_status, body=body,
                         content_type=content_type or "application/json")
        self.headers = headers  # upstream response headers to relay (None: leave the context's alone)


# -- the model -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ParameterSpec:
    name: str
    description: str = ""
    mandatory: bool = False
    default: str | None = None
    repeatable: bool = False
    max_occurs: int | None = None  # only for repeatable parameters
    split: str | None = None  # a value may list several items, e.g. "a,b" with split ","
    aliases: tuple[str, ...] = ()
    secret: bool = False  # documentation and tooling: never echo the value
    missing_code: int = MISSING_PARAMETER
    missing_message: str | None = None


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """A per-connector setting under `connectors: {NAME: {...}}` in the gateway YAML."""

    name: str
    type: str = "str"  # str | int | float | bool
    default: Any = None
    minimum: float | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class OperationSpec:
    name: str
    handler: Handler
    description: str
    parameters: Mapping[str, ParameterSpec]
    element_names: Mapping[str, str]  # every accepted child name (aliases too) -> parameter name


_TIMEOUT_OPTION = OptionSpec("timeout", "float", None, 0.001,
                             "seconds for one operation; default: timeouts.connector of the gateway")


class Connector:
    """A loaded connector: its operations, options and optional runtime start hook."""

    def __init__(self, name: str, operations: Iterable[OperationSpec], *, description: str = "",
                 connection: str | None = None, start: StartHook | None = None,
                 options: Iterable[OptionSpec] = (), source: str = "") -> None:
        self.name = name
        self.description = description
        self.operations: Mapping[str, OperationSpec] = MappingProxyType({op.name: op for op in operations})
        if connection is not None and connection not in self.operations:
            raise ConnectorDefinitionError(
                f"{source or name}: connection operation '{connection}' is not declared")
        self.connection = connection
        self.start = start
        declared = {option.name: option for option in options}
        declared.setdefault("timeout", _TIMEOUT_OPTION)
        self.options: Mapping[str, OptionSpec] = MappingProxyType(declared)
        self.source = source or name
        # configKey connections, compiled once per local entry (keyed by entry key, checked by identity)
        self._connections: dict[str, tuple[Any, BoundOperation | str]] = {}
        self._timeout: tuple[Settings, float] | None = None

    def __repr__(self) -> str:
        return f"<Connector {self.name} ({len(self.operations)} operations) from {self.source}>"

    # -- settings --------------------------------------------------------------------------------
    def options_for(self, settings: Settings) -> dict[str, Any]:
        """This connector's settings, validated and with defaults; ValueError names the bad key."""
        raw = (settings.connectors or {}).get(self.name) or {}
        if not isinstance(raw, Mapping):
            raise ValueError(f"connectors.{self.name} must be a mapping of options")
        unknown = sorted(set(raw) - set(self.options))
        if unknown:
            raise ValueError(f"connectors.{self.name}: unknown option(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(self.options))})")
        values: dict[str, Any] = {}
        for option in self.options.values():
            values[option.name] = _coerce_option(self.name, option, raw.get(option.name, option.default))
        return values

    def timeout_for(self, settings: Settings) -> float:
        cached = self._timeout
        if cached is not None and cached[0] is settings:
            return cached[1]
        option = (settings.connectors or {}).get(self.name) or {}
        value = option.get("timeout") if isinstance(option, Mapping) else None
        timeout = float(value) if value is not None else float(settings.connector_timeout)
        self._timeout = (settings, timeout)
        return timeout

    # -- configKey connections -------------------------------------------------------------------
    def connection_from_entry(self, key: str, entry: Any) -> BoundOperation:
        """The connection operation held by a local entry, compiled on first use and cached for as long
        as the same entry object is deployed (a redeployed entry is recompiled)."""
        cached = self._connections.get(key)
        if cached is None or cached[0] is not entry:
            try:
                compiled: BoundOperation | str = self._compile_entry(key, entry)
            except DeployError as exc:
                compiled = str(exc)
            self._connections[key] = cached = (entry, compiled)
        result = cached[1]
        if isinstance(result, str):
            raise ConnectorError(f"the connection in local entry '{key}' is invalid: {result}", NO_CONNECTION,
                                 "fix the local entry; it must hold one "
                                 f"<{self.name}.{self.connection}> element", http_status=500)
        return result

    def _compile_entry(self, key: str, entry: Any) -> BoundOperation:
        value = getattr(entry, "value", None)
        where = getattr(entry, "location", None) or SourceLocation("<local entry>")
        expected = f"{self.name}.{self.connection}"
        if not isinstance(value, etree._Element) or local_name(value) != expected:
            raise DeployError(where, f"localEntry '{key}'", f"does not hold a <{expected}> element")
        return bind_operation(self, self.operations[self.connection or ""], value, where.path,
                              allow_config_key=False)


def _coerce_option(connector: str, option: OptionSpec, value: Any) -> Any:
    if value is None:
        return None
    try:
        if option.type == "int":
            if isinstance(value, bool):
                raise TypeError
            coerced: Any = int(value)
        elif option.type == "float":
            if isinstance(value, bool):
                raise TypeError
            coerced = float(value)
        elif option.type == "bool":
            if not isinstance(value, bool):
                raise TypeError
            coerced = value
        else:
            coerced = str(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"connectors.{connector}.{option.name} must be a {option.type}, not {value!r}") from None
    if option.minimum is not None and coerced < option.minimum:
        raise ValueError(f"connectors.{connector}.{option.name} must be at least {option.minimum}")
    return coerced


# -- descriptor files ------------------------------------------------------------------------------
_TOP_KEYS = {"name", "description", "module", "start", "connection", "options", "operations"}
_OPERATION_KEYS = {"description", "handler", "parameters"}
_PARAMETER_KEYS = {"description", "mandatory", "default", "repeatable", "max", "split", "aliases", "secret",
                   "missing_code", "missing_message"}
_OPTION_KEYS = {"type", "default", "minimum", "description"}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def load_connector(path: str | Path) -> Connector:
    """Read a `connector.yaml` and resolve its callables; ConnectorDefinitionError says what is wrong."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConnectorDefinitionError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConnectorDefinitionError(f"{path}: malformed YAML: {exc}") from None
    where = str(path)
    document = _mapping(document, where, _TOP_KEYS)
    name = _required_name(document, "name", where)
    module_name = document.get("module")
    if not isinstance(module_name, str) or not module_name:
        raise ConnectorDefinitionError(f"{where}: 'module' (the module with the callables) is required")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConnectorDefinitionError(f"{where}: cannot import module '{module_name}': {exc}") from exc

    def callable_named(attr: Any, what: str) -> Callable[..., Any]:
        if not isinstance(attr, str):
            raise ConnectorDefinitionError(f"{where}: {what} must name a callable of {module_name}")
        function = getattr(module, attr, None)
        if not callable(function):
            raise ConnectorDefinitionError(f"{where}: {what}: {module_name} has no callable '{attr}'")
        return function

    operations = []
    raw_ops = document.get("operations")
    if not isinstance(raw_ops, Mapping) or not raw_ops:
        raise ConnectorDefinitionError(f"{where}: 'operations' must map operation names to definitions")
    for op_name, raw in raw_ops.items():
        op_where = f"{where}: operations.{op_name}"
        if not isinstance(op_name, str) or not _NAME_RE.match(op_name):
            raise ConnectorDefinitionError(f"{op_where}: invalid operation name")
        raw = _mapping(raw or {}, op_where, _OPERATION_KEYS)
        handler = callable_named(raw.get("handler", _snake(op_name)), f"operations.{op_name}.handler")
        parameters: dict[str, ParameterSpec] = {}
        element_names: dict[str, str] = {}
        for param_name, spec in (raw.get("parameters") or {}).items():
            parameter = _parameter(param_name, spec, f"{op_where}.parameters.{param_name}")
            parameters[parameter.name] = parameter
            for element_name in (parameter.name, *parameter.aliases):
                if element_name in element_names:
                    raise ConnectorDefinitionError(f"{op_where}: '{element_name}' is declared twice")
                element_names[element_name] = parameter.name
        operations.append(OperationSpec(op_name, handler, str(raw.get("description", "")),
                                        MappingProxyType(parameters), MappingProxyType(element_names)))
    options = []
    for option_name, spec in (document.get("options") or {}).items():
        spec = _mapping(spec or {}, f"{where}: options.{option_name}", _OPTION_KEYS)
        option_type = spec.get("type", "str")
        if option_type not in ("str", "int", "float", "bool"):
            raise ConnectorDefinitionError(
                f"{where}: options.{option_name}.type must be str, int, float or bool")
        options.append(OptionSpec(str(option_name), option_type, spec.get("default"), spec.get("minimum"),
                                  str(spec.get("description", ""))))
    start = callable_named(document["start"], "start") if "start" in document else None
    return Connector(name, operations, description=str(document.get("description", "")),
                     connection=document.get("connection"), start=start, options=options, source=where)


def _mapping(value: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConnectorDefinitionError(f"{where}: expected a mapping")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConnectorDefinitionError(f"{where}: unknown key(s) {', '.join(map(str, unknown))} "
                                       f"(known: {', '.join(sorted(allowed))})")
    return value


def _required_name(document: Mapping[str, Any], key: str, where: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ConnectorDefinitionError(f"{where}: '{key}' must be a simple name (letters, digits, _ and -)")
    return value


def _parameter(name: Any, spec: Any, where: str) -> ParameterSpec:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConnectorDefinitionError(f"{where}: invalid parameter name")
    spec = _mapping(spec or {}, where, _PARAMETER_KEYS)
    repeatable = bool(spec.get("repeatable", False))
    max_occurs = spec.get("max")
    if max_occurs is not None and (not repeatable or not isinstance(max_occurs, int) or max_occurs < 1):
        raise ConnectorDefinitionError(f"{where}: 'max' is a positive integer, for repeatable ones only")
    default = spec.get("default")
    aliases = spec.get("aliases") or ()
    if isinstance(aliases, str) or not all(isinstance(a, str) and _NAME_RE.match(a) for a in aliases):
        raise ConnectorDefinitionError(f"{where}: 'aliases' must be a list of names")
    return ParameterSpec(
        name=name, description=str(spec.get("description", "")).strip(),
        mandatory=bool(spec.get("mandatory", False)), default=None if default is None else str(default),
        repeatable=repeatable, max_occurs=max_occurs, split=spec.get("split"), aliases=tuple(aliases),
        secret=bool(spec.get("secret", False)), missing_code=int(spec.get("missing_code", MISSING_PARAMETER)),
        missing_message=spec.get("missing_message"),
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# -- deploy time: <prefix.operation> -> mediator -----------------------------------------------------
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
        # Every declared parameter with its compiled values, in declaration order: computed once here,
        # not per message.
        given = {spec.name: values for spec, values in self.arguments}
        object.__setattr__(self, "plan", tuple((spec, given.get(spec.name, ()))
                                               for spec in self.spec.parameters.values()))

    def resolve(self, ctx: MessageContext) -> dict[str, list[str]]:
        """Evaluate every parameter now; defaults fill absent ones; a missing mandatory one fails."""
        resolved: dict[str, list[str]] = {}
        for spec, values in self.plan:
            items: list[str] = []
            for value in values:
                text = value.resolve(ctx)
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
                raise invalid_parameter(self, spec.name, f"at most {spec.max_occurs} values are allowed, "
                                        f"got {len(items)}")
            resolved[spec.name] = items
        return resolved

    async def invoke(self, ctx: MessageContext) -> None:
        services = ctx.exchange.services
        timeout = self.connector.timeout_for(services.settings)
        try:
            arguments = self.resolve(ctx)
            runtime = services.connectors.get(self.connector.name)
            if runtime is None and self.connector.start is not None:
                raise ConnectorError(f"the {self.connector.name} connector is not started", NO_CONNECTION,
                                     "its runtime is created at server start-up", http_status=500)
            call = OperationCall(ctx, arguments, runtime, self, timeout)
            try:
                async with asyncio.timeout(timeout):
                    await self.spec.handler(call)
            except TimeoutError:  # before OSError: TimeoutError is one
                target = call.target or self.qualified_name
                raise ConnectorError(
                    f"Send timeout: {self.qualified_name} got no answer within {timeout:g} s",
                    CONNECT_TIMEOUT,
                    f"{target}: no answer within {timeout:g} s. A create may still have been accepted: look "
                    f"it up before sending again. Raise connectors.{self.connector.name}.timeout (or "
                    "timeouts.connector) if the service is just slow", http_status=504) from None
            except (aiohttp.ClientError, OSError) as exc:
                target = call.target or self.qualified_name
                raise ConnectorError(
                    f"Error connecting to the back end: {self.qualified_name} could not reach "
                    f"{call.target or 'the service'}", CONNECT_FAILED,
                    f"{target}: {type(exc).__name__}: {exc}", http_status=502) from None
        except ConnectorError as exc:
            _mark_failure(ctx, self.qualified_name, exc)
            raise


def _mark_failure(ctx: MessageContext, operation: str, exc: ConnectorError) -> None:
    """Tell the fault sequence a connector failed (CONNECTOR_ERROR) and keep the reply format rules
    coherent: the error body is treated like a back-end reply (Accept still applies)."""
    ctx.properties["CONNECTOR_ERROR"] = operation
    ctx.axis2.pop("NO_ENTITY_BODY", None)
    ctx.axis2.pop("ContentType", None)
    if exc.headers is not None:
        ctx.transport_headers = CIMultiDict(exc.headers)
        ctx.headers_from_backend = True  # relayed like a back-end reply's, not echoed request headers


def missing_parameter(bound: BoundOperation, name: str, message: str | None = None,
                      code: int | None = None) -> ConnectorError:
    spec = bound.spec.parameters.get(name)
    reason = message or (spec.missing_message if spec else None) or "no value was given"
    text = f"{bound.qualified_name}: mandatory parameter '{name}' is missing: {reason}"
    if code is None:
        code = spec.missing_code if spec else MISSING_PARAMETER
    return ConnectorError(text, code,
                          f"at {bound.location}: give <{name}> a non-empty value (an empty value counts as "
                          "absent); nothing was sent", http_status=400)


def invalid_parameter(bound: BoundOperation, name: str, reason: str,
                      code: int = INVALID_PARAMETER) -> ConnectorError:
    return ConnectorError(f"{bound.qualified_name}: invalid value for parameter '{name}': {reason}", code,
                          f"at {bound.location}; nothing was sent", http_status=400)


class OperationCall:
    """What an operation callable gets: the message, the resolved parameters and the runtime."""

    __slots__ = ("ctx", "arguments", "runtime", "bound", "timeout", "target")

    def __init__(self, ctx: MessageContext, arguments: dict[str, list[str]], runtime: Any,
                 bound: BoundOperation, timeout: float) -> None:
        self.ctx = ctx
        self.arguments = arguments
        self.runtime = runtime
        self.bound = bound
        self.timeout = timeout
        self.target: str | None = None  # set by the callable (e.g. "POST https://…") for error messages

    @property
    def name(self) -> str:
        return self.bound.qualified_name

    def value(self, name: str) -> str | None:
        items = self.arguments.get(name)
        return items[0] if items else None

    def values(self, name: str) -> list[str]:
        return list(self.arguments.get(name, ()))

    def missing(self, name: str, message: str | None = None, code: int | None = None) -> ConnectorError:
        return missing_parameter(self.bound, name, message, code)

    def invalid(self, name: str, reason: str, code: int = INVALID_PARAMETER) -> ConnectorError:
        return invalid_parameter(self.bound, name, reason, code)

    def set_result(self, status: int, body: bytes, content_type: str,
                   headers: Mapping[str, str] | None = None) -> None:
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


class ConnectorOperation(Mediator):
    """`<prefix.operation [configKey="entry"]>` with parameter children."""

    __slots__ = ("bound", "config_key")
    tag = "connector"  # the element name varies: see `qualified_name`

    def __init__(self, bound: BoundOperation, config_key: Value | None) -> None:
        super().__init__(bound.location)
        self.bound = bound
        self.config_key = config_key

    @property
    def qualified_name(self) -> str:
        return self.bound.qualified_name

    def __repr__(self) -> str:
        return f"<ConnectorOperation {self.qualified_name} {self.location or ''}>"

    @property
    def reads_body(self) -> bool:  # type: ignore[override]
        return self.bound.needs_body or bool(self.config_key is not None and self.config_key.needs_body)

    async def mediate(self, ctx: MessageContext) -> bool:
        if self.config_key is not None:
            connection = self._connection(ctx)
            if connection.needs_body and not ctx.payload.is_built:
                await ctx.build()
            await connection.invoke(ctx)
        await self.bound.invoke(ctx)
        return True

    def _connection(self, ctx: MessageContext) -> BoundOperation:
        assert self.config_key is not None
        connector = self.bound.connector
        key = self.config_key.resolve(ctx)
        entry = ctx.config.local_entries.get(key) if key else None
        if key is None or entry is None:
            error = ConnectorError(f"{self.bound.qualified_name}: configKey '{key or ''}' names no local "
                                   "entry", NO_CONNECTION,
                                   f"at {self.location}: deploy a local entry holding "
                                   f"<{connector.name}.{connector.connection}>", http_status=500)
            _mark_failure(ctx, self.bound.qualified_name, error)
            raise error
        try:
            return connector.connection_from_entry(key, entry)
        except ConnectorError as exc:
            _mark_failure(ctx, self.bound.qualified_name, exc)
            raise


def bind_operation(connector: Connector, spec: OperationSpec, element: etree._Element, path: str,
                   *, allow_config_key: bool = True) -> BoundOperation:
    """Compile the parameter children of an operation element; DeployError on anything unknown."""
    where = location(element, path)
    qualified = f"{connector.name}.{spec.name}"
    for attribute in element.attrib:
        if attribute.startswith("{") or attribute == "description":
            continue
        if attribute == "configKey" and allow_config_key:
            continue
        allowed = ["configKey", "description"] if allow_config_key else ["description"]
        raise DeployError(where, qualified, f"unknown attribute '{attribute}'",
                          did_you_mean(attribute, allowed) or f"allowed: {', '.join(allowed)}")
    if element.text and element.text.strip():
        raise DeployError(where, qualified, "text is not allowed here; parameters are child elements",
                          f"e.g. <{qualified}><{next(iter(spec.parameters), 'name')}>…</…></{qualified}>")
    given: dict[str, list[Value]] = {}
    for child in children(element):
        child_where = location(child, path)
        name = local_name(child)
        parameter_name = spec.element_names.get(name)
        if parameter_name is None:
            hint = did_you_mean(name, spec.element_names) or (
                f"parameters of {qualified}: {', '.join(spec.parameters)}" if spec.parameters
                else f"{qualified} takes no parameters")
            raise DeployError(child_where, qualified, f"unknown parameter '{name}'", hint)
        parameter = spec.parameters[parameter_name]
        if children(child):
            raise DeployError(child_where, qualified, f"parameter '{name}' takes a text value, not elements",
                              "use an expression such as {//path/text()} to pick a value from the message")
        text = (child.text or "").strip()
        if parameter_name in given and not parameter.repeatable:
            raise DeployError(child_where, qualified, f"parameter '{parameter_name}' is given more than once",
                              "give it once")
        values = given.setdefault(parameter_name, [])
        if not text:
            continue  # empty = absent, exactly like a missing element
        try:
            compiled = compile_value(text, prefixed_namespaces(child))
        except ExpressionError as exc:
            raise DeployError(child_where, qualified, f"invalid value for parameter '{name}': {exc}",
                              "use {$ctx:name}, {//xpath}, {json-eval($.path)} or {{literal}}") from None
        if parameter.secret and not compiled.is_dynamic:
            CONFIGURED.add(compiled.static_text)  # a secret written in the configuration: masked process-wide
        values.append(compiled)
    arguments = tuple((spec.parameters[name], tuple(values)) for name, values in given.items() if values)
    needs_body = any(value.needs_body for _, values in arguments for value in values)
    return BoundOperation(connector, spec, arguments, where, needs_body)


# -- the registry ------------------------------------------------------------------------------------
class ConnectorRegistry:
    """The connectors known to this process, by name."""

    def __init__(self, connectors: Iterable[Connector] = (), problems: Iterable[str] = ()) -> None:
        self._connectors: dict[str, Connector] = {}
        self.problems: list[str] = list(problems)
        for connector in connectors:
            self.add(connector)

    def add(self, connector: Connector) -> None:
        existing = self._connectors.get(connector.name)
        if existing is not None and existing is not connector:
            raise ConnectorDefinitionError(f"two connectors are named '{connector.name}': "
                                           f"{existing.source} and {connector.source}")
        self._connectors[connector.name] = connector

    def get(self, name: str) -> Connector | None:
        return self._connectors.get(name)

    def __iter__(self) -> Iterator[Connector]:
        return iter(self._connectors.values())

    def __contains__(self, name: object) -> bool:
        return name in self._connectors

    def names(self) -> list[str]:
        return sorted(self._connectors)

    @classmethod
    def discover(cls, *, refresh: bool = False) -> ConnectorRegistry:
        """Bundled `connectors.*` packages first, then entry points; the same object found twice is kept
        once, a different one under a taken name is reported and ignored. Cached per process."""
        global _DISCOVERED
        if _DISCOVERED is None or refresh:
            _DISCOVERED = _discover()
        found, problems = _DISCOVERED
        return cls(found, problems)

    # -- deploy time -----------------------------------------------------------------------------
    def build_operation(self, element: etree._Element, fctx: FactoryContext) -> Mediator:
        name = local_name(element)
        where = location(element, fctx.path)
        prefix, _, operation = name.partition(".")
        connector = self._connectors.get(prefix)
        if connector is None:
            hint = did_you_mean(prefix, self._connectors) or (
                f"known connectors: {', '.join(self.names())}" if self._connectors
                else "no connector is installed")
            if self.problems:
                hint += "; connectors that failed to load: " + "; ".join(self.problems)
            raise DeployError(where, name, f"unknown connector '{prefix}'", hint)
        spec = connector.operations.get(operation)
        if spec is None:
            hint = did_you_mean(operation, connector.operations) or \
                f"operations of {prefix}: {', '.join(connector.operations)}"
            raise DeployError(where, name, f"unknown operation '{operation}' of connector '{prefix}'", hint)
        bound = bind_operation(connector, spec, element, fctx.path)
        config_key = None
        raw_key = element.get("configKey")
        if raw_key is not None:
            if connector.connection is None:
                raise DeployError(where, name, "configKey is not supported: this connector has no connection "
                                  "operation")
            if operation == connector.connection:
                raise DeployError(where, name, f"configKey cannot be used on {name} itself",
                                  f"put this <{name}> in a local entry and reference it from the operations")
            if not raw_key.strip():
                raise DeployError(where, name, "configKey is empty",
                                  "name the local entry holding the connection")
            try:
                config_key = compile_value(raw_key.strip(), prefixed_namespaces(element))
            except ExpressionError as exc:
                raise DeployError(where, name, f"invalid configKey '{raw_key}': {exc}") from None
            fctx.refer("localEntry", config_key, element)
        return ConnectorOperation(bound, config_key)

    def check_local_entry(self, element: etree._Element, path: str) -> None:
        """Deploy-time check for a local entry holding a connection (`<twilioRest.init>…`), so a typo fails
        `gateway validate` rather than the first message. Any other XML is left alone. Raises DeployError."""
        prefix, dot, operation = local_name(element).partition(".")
        connector = self._connectors.get(prefix) if dot else None
        if connector is None or connector.connection is None or operation != connector.connection:
            return
        bind_operation(connector, connector.operations[operation], element, path, allow_config_key=False)

    # -- start-up --------------------------------------------------------------------------------
    async def start(self, services: Services) -> dict[str, Any]:
        """Validate every connector's options and run its start hook once; returns name -> runtime (each may
        have `async close()`). A failure closes what was already started and propagates."""
        runtimes: dict[str, Any] = {}
        try:
            for connector in self._connectors.values():
                options = connector.options_for(services.settings)
                if connector.start is not None:
                    runtimes[connector.name] = await connector.start(services, options)
        except BaseException:
            for runtime in runtimes.values():
                close = getattr(runtime, "close", None)
                if close is not None:
                    await close()
            raise
        return runtimes


_DISCOVERED: tuple[list[Connector], list[str]] | None = None


def _discover() -> tuple[list[Connector], list[str]]:
    found: dict[str, Connector] = {}
    problems: list[str] = []

    def add(candidate: Any, origin: str) -> None:
        if not isinstance(candidate, Connector):
            problems.append(f"{origin}: not a Connector ({type(candidate).__name__})")
            return
        existing = found.get(candidate.name)
        if existing is None:
            found[candidate.name] = candidate
        elif existing is not candidate:
            problems.append(f"{origin}: a connector named '{candidate.name}' is already provided by "
                            f"{existing.source}; ignored")

    try:
        bundled_path = list(importlib.import_module("connectors").__path__)
    except ImportError:
        bundled_path = []
    for module in pkgutil.iter_modules(bundled_path):
        if not module.ispkg:
            continue
        origin = f"connectors.{module.name}"
        try:
            package = importlib.import_module(origin)
        except Exception as exc:  # one broken connector must not take the others down
            problems.append(f"{origin}: {type(exc).__name__}: {exc}")
            continue
        if hasattr(package, "CONNECTOR"):
            add(package.CONNECTOR, origin)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {entry.name} = {entry.value}"
        try:
            candidate = entry.load()
        except Exception as exc:
            problems.append(f"{origin}: {type(exc).__name__}: {exc}")
            continue
        add(candidate, origin)
        if isinstance(candidate, Connector) and candidate.name != entry.name:
            log.warning("%s declares connector '%s' under another name", origin, candidate.name)
    for problem in problems:
        log.error("connector not loaded: %s", problem)
    return list(found.values()), problems
