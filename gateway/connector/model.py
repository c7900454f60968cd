"""The connector model: a connector, its operations, their parameters and its options (gateway YAML)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lxml import etree

    from gateway.connector.invocation import OperationCall
    from gateway.runtime.services import Services
    from gateway.settings import Settings

# ERROR_CODEs raised by the framework itself (connectors add their own, e.g. Twilio's).
MISSING_PARAMETER = 500101  # W: TemplateMediator's code for a mandatory parameter without a value
INVALID_PARAMETER = 500102  # ours: a value the connector rejects before calling out
NO_CONNECTION = 500103  # ours: no init ran and no usable configKey connection
RESPONSE_PROCESSING_FAILED = 101510  # W: SynapseConstants, the back end's answer could not be processed

Handler = Callable[["OperationCall"], Awaitable[None]]
StartHook = Callable[["Services", Mapping[str, Any]], Awaitable[Any]]


class ConnectorDefinitionError(ValueError):
    """A broken descriptor file or connector package (a bug of the connector, not of the user's XML)."""


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
    # Declared by the operation's `passthrough` list (the service's own field name, sent unchanged),
    # not written in the descriptor: the callable finds these among its parameters.
    passthrough: bool = False


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """A per-connector setting under `connectors: {NAME: {...}}` in the gateway YAML."""

    name: str
    type: str = "str"  # str | int | float | bool
    default: Any = None
    minimum: float | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """A connector operation written as a Synapse `<template>` (as MI's connectors are): the file and its
    parsed root element, compiled by the deploy step with the same declarations as templates/."""

    path: str
    element: etree._Element


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """An operation: a Python callable (`handler`), or a Synapse template (`template`)."""

    name: str
    handler: Handler | None
    description: str
    parameters: Mapping[str, ParameterSpec]
    element_names: Mapping[str, str]  # every accepted child name (aliases too) -> parameter name
    template: TemplateSource | None = None
    # `local: true` in the descriptor: the callable does no I/O (it checks its parameters and sets properties),
    # so it runs without the operation's timeout (no timer is armed and cancelled for it per message).
    local: bool = False


_TIMEOUT_OPTION = OptionSpec(
    "timeout", "float", None, 0.001, "seconds for one operation; default: timeouts.connector of the gateway"
)


@dataclass(frozen=True, slots=True)
class Command:
    """A command-line tool a connector adds to `gateway` (e.g. `gateway twilio-sandbox`)."""

    name: str
    help: str
    run: Callable[[list[str]], int | None]  # gets the arguments after the command name


class Connector:
    """A loaded connector: its operations, options, optional runtime start hook and commands."""

    def __init__(
        self,
        name: str,
        operations: Iterable[OperationSpec],
        *,
        description: str = "",
        connection: str | None = None,
        start: StartHook | None = None,
        options: Iterable[OptionSpec] = (),
        source: str = "",
        commands: Mapping[str, Command] | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.operations: Mapping[str, OperationSpec] = MappingProxyType({op.name: op for op in operations})
        if connection is not None and connection not in self.operations:
            raise ConnectorDefinitionError(f"{source or name}: connection operation '{connection}' is not declared")
        if connection is not None and self.operations[connection].handler is None:
            raise ConnectorDefinitionError(
                f"{source or name}: connection operation '{connection}' must be a callable, not a template "
                "(configKey with template operations is not supported yet)"
            )
        self.connection = connection
        self.start = start
        declared = {option.name: option for option in options}
        declared.setdefault("timeout", _TIMEOUT_OPTION)
        self.options: Mapping[str, OptionSpec] = MappingProxyType(declared)
        self.source = source or name
        self.commands: Mapping[str, Command] = MappingProxyType(dict(commands or {}))
        # configKey connections, compiled on first use per local entry (see binding.connection_from_entry)
        self.connections: dict[str, tuple[Any, Any]] = {}
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
            raise ValueError(
                f"connectors.{self.name}: unknown option(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(self.options))})"
            )
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
        raise ValueError(f"connectors.{connector}.{option.name} must be a {option.type}, not {value!r}") from None
    if option.minimum is not None and coerced < option.minimum:
        raise ValueError(f"connectors.{connector}.{option.name} must be at least {option.minimum}")
    return coerced
