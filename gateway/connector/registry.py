"""The connectors known to this process: discovery (bundled package and entry points), deploy-time building
of `<prefix.operation>` mediators and connection local entries, and the start of their runtimes."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from lxml import etree

from gateway.connector.binding import bind_operation, bound, template_arguments
from gateway.connector.mediator import ConnectorOperation
from gateway.connector.model import Command, Connector, ConnectorDefinitionError, OperationSpec, TemplateSource
from gateway.errors import DeployError, ExpressionError
from gateway.expressions import Value, compile_value
from gateway.mediators.base import Mediator, MediatorList
from gateway.mediators.sequence import NamedSequence
from gateway.mediators.template import CallTemplate, SequenceTemplate
from gateway.xmlutil import did_you_mean, local_name, location, prefixed_namespaces

if TYPE_CHECKING:
    from gateway.runtime.services import Services

log = logging.getLogger("gateway.connectors")

ENTRY_POINT_GROUP = "synapse_gateway.connectors"
BUNDLED_PACKAGE = "synapse_gateway_connectors"  # the repository's connectors/ folder, as installed


class BuildContext(Protocol):
    """What building an operation needs from the deploy step: the file it is in, where its static
    references (a configKey naming a local entry) are noted for the loader to check, and the compiler of a
    template operation (the deploy step's template declaration)."""

    path: str

    def refer(self, kind: str, key: Value | str | None, element: etree._Element, role: str = ...) -> None: ...

    def connector_template(
        self, qualified: str, source: TemplateSource, used_at: etree._Element
    ) -> SequenceTemplate: ...


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
            raise ConnectorDefinitionError(
                f"two connectors are named '{connector.name}': {existing.source} and {connector.source}"
            )
        self._connectors[connector.name] = connector

    def get(self, name: str) -> Connector | None:
        return self._connectors.get(name)

    def __iter__(self) -> Iterator[Connector]:
        return iter(self._connectors.values())

    def __contains__(self, name: object) -> bool:
        return name in self._connectors

    def names(self) -> list[str]:
        return sorted(self._connectors)

    def commands(self) -> dict[str, Command]:
        """The command-line tools the connectors add to `gateway`, by name."""
        return {
            name: command for connector in self._connectors.values() for name, command in connector.commands.items()
        }

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
    def _operation(self, name: str, element: etree._Element, path: str) -> tuple[Connector, OperationSpec]:
        where = location(element, path)
        prefix, _, operation = name.partition(".")
        connector = self._connectors.get(prefix)
        if connector is None:
            hint = did_you_mean(prefix, self._connectors) or (
                f"known connectors: {', '.join(self.names())}" if self._connectors else "no connector is installed"
            )
            if self.problems:
                hint += "; connectors that failed to load: " + "; ".join(self.problems)
            raise DeployError(where, name, f"unknown connector '{prefix}'", hint)
        spec = connector.operations.get(operation)
        if spec is None:
            hint = (
                did_you_mean(operation, connector.operations)
                or f"operations of {prefix}: {', '.join(connector.operations)}"
            )
            raise DeployError(where, name, f"unknown operation '{operation}' of connector '{prefix}'", hint)
        return connector, spec

    def build_call(
        self,
        target: str,
        arguments: dict[str, Value],
        element: etree._Element,
        fctx: BuildContext,
        on_error: Value | None = None,
    ) -> Mediator:
        """`<call-template target="prefix.operation">` with `<with-param>`s: the operation, called with those
        values (W: a connector operation is the template `prefix.operation`)."""
        connector, spec = self._operation(target, element, fctx.path)
        where = location(element, fctx.path)
        for name in arguments:
            if name not in spec.element_names:
                hint = did_you_mean(name, spec.element_names) or f"parameters of {target}: {', '.join(spec.parameters)}"
                raise DeployError(where, "call-template", f"'{name}' is not a parameter of {target}", hint)
        handler = on_error.static_text if on_error is not None else None
        if spec.template is not None:
            template = fctx.connector_template(target, spec.template, element)
            return CallTemplate(target, arguments, handler, where, template=template)
        given: dict[str, list[Value]] = {}
        for name, value in arguments.items():
            if value.is_dynamic or (value.static_text or "").strip():  # an empty literal is an absent value
                given.setdefault(spec.element_names[name], []).append(value)
        operation: Mediator = ConnectorOperation(bound(connector, spec, given, where), None)
        if handler is not None:
            operation = NamedSequence(target, MediatorList([operation], where), handler, where)
        return operation

    def build_operation(self, element: etree._Element, fctx: BuildContext) -> Mediator:
        name = local_name(element)
        where = location(element, fctx.path)
        connector, spec = self._operation(name, element, fctx.path)
        if spec.template is not None:
            if element.get("configKey") is not None:
                raise DeployError(
                    where,
                    name,
                    "configKey is not supported for an operation written as a template yet",
                    f"call <{connector.name}.{connector.connection or 'init'}> before it in the same sequence",
                )
            arguments = template_arguments(spec, element, fctx.path)
            return CallTemplate(
                name, arguments, None, where, template=fctx.connector_template(name, spec.template, element)
            )
        bound_operation = bind_operation(connector, spec, element, fctx.path)
        config_key = None
        raw_key = element.get("configKey")
        if raw_key is not None:
            if connector.connection is None:
                raise DeployError(where, name, "configKey is not supported: this connector has no connection operation")
            if spec.name == connector.connection:
                raise DeployError(
                    where,
                    name,
                    f"configKey cannot be used on {name} itself",
                    f"put this <{name}> in a local entry and reference it from the operations",
                )
            if not raw_key.strip():
                raise DeployError(where, name, "configKey is empty", "name the local entry holding the connection")
            try:
                config_key = compile_value(raw_key.strip(), prefixed_namespaces(element))
            except ExpressionError as exc:
                raise DeployError(where, name, f"invalid configKey '{raw_key}': {exc}") from None
            fctx.refer("localEntry", config_key, element)
        return ConnectorOperation(bound_operation, config_key)

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
            problems.append(
                f"{origin}: a connector named '{candidate.name}' is already provided by {existing.source}; ignored"
            )

    try:
        bundled_path = list(importlib.import_module(BUNDLED_PACKAGE).__path__)
    except ImportError:
        bundled_path = []
    for module in pkgutil.iter_modules(bundled_path):
        if not module.ispkg:
            continue
        origin = f"{BUNDLED_PACKAGE}.{module.name}"
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
