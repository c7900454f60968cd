"""The property scopes of a message and MI's rules to read, write and remove a named value in each
(docs/synapse-semantics.md §1.3, §5.1). Every reader and writer of a scoped value goes through this module:
get-property(), the `$ctx:`/`$axis2:`/`$trp:`/… XPath variables, `json-eval($ctx:…)`, the property mediator and
enrich.

Lookups are resolved once, at deploy time (`getter`, `reader`, `writer`, `remover`), so a message only pays
for the dictionary access itself.

Rules kept here (W: PropertyMediator, Axis2MessageContext, Axis2 AbstractContext):
  * default (alias synapse): setting null is ignored, so an existing value is not cleared;
  * axis2, axis2-client, operation: setting null removes the value;
  * transport: values are strings (null is ""); removing drops every header of that name;
  * special names (the property mediator's, not enrich's): axis2 `messageType` also rewrites ContentType and
    the Content-Type header; removing axis2 `TRANSPORT_HEADERS` clears the transport headers;
  * func reads the innermost template frame (a deferred with-param value is evaluated then);
  * registry reads `key` (the resource) or `key@name` (a property of it) from the file registry, "" when there is
    none; writing one writes the registry (the property mediator); removing one does nothing, as in MI;
  * system, env and file are read-only; a missing system/env value, and anything from the file scope, is "".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol

from multidict import CIMultiDict, MultiMapping

from gateway.message.values import to_synapse_string


class Scope(StrEnum):
    DEFAULT = "default"
    AXIS2 = "axis2"
    AXIS2_CLIENT = "axis2-client"
    TRANSPORT = "transport"
    OPERATION = "operation"
    FUNC = "func"
    SYSTEM = "system"
    ENV = "env"
    FILE = "file"
    REGISTRY = "registry"
    URL = "url"  # the query parameters ($url:name), read-only


#: Other spellings of a scope: the property mediator's `synapse`, and the XPath variable prefixes.
ALIASES: dict[str, Scope] = {
    "synapse": Scope.DEFAULT,
    "ctx": Scope.DEFAULT,
    "trp": Scope.TRANSPORT,
    "sys": Scope.SYSTEM,
}
#: The `$prefix:name` XPath variables that read a scope (any other prefix reads a map property).
VARIABLE_SCOPES: dict[str, Scope] = {
    "ctx": Scope.DEFAULT,
    "axis2": Scope.AXIS2,
    "trp": Scope.TRANSPORT,
    "url": Scope.URL,
    "func": Scope.FUNC,
    "operation": Scope.OPERATION,
    "sys": Scope.SYSTEM,
}
#: Scopes a value can be set in or removed from.
WRITABLE = frozenset({Scope.DEFAULT, Scope.AXIS2, Scope.AXIS2_CLIENT, Scope.TRANSPORT, Scope.OPERATION, Scope.REGISTRY})

#: Java system properties for get-property('system', x) and $sys:x; the runtime may add to it.
SYSTEM_PROPERTIES: dict[str, str] = {
    "file.separator": os.sep,
    "line.separator": os.linesep,
    "os.name": os.uname().sysname if hasattr(os, "uname") else os.name,
    "user.dir": os.getcwd(),
    "user.home": os.path.expanduser("~"),
}


class ScopedContext(Protocol):
    """What the scopes live in (gateway.message.context.MessageContext has it all)."""

    properties: dict[str, Any]
    axis2: dict[str, Any]
    operation: dict[str, Any]
    transport_headers: CIMultiDict[str]
    func_stack: list[dict[str, Any]]
    query_params: MultiMapping[str]


class Deferred(Protocol):
    """A template parameter held unevaluated in a func frame (a `{{…}}` with-param)."""

    def param_value(self, ctx: Any) -> Any: ...


def scope_of(name: str) -> Scope:
    """The scope a name (or alias) means; ValueError for an unknown one."""
    alias = ALIASES.get(name)
    return alias if alias is not None else Scope(name)


# --------------------------------------------------------------------------------------------------------
# Reading


def func_value(ctx: ScopedContext, name: str) -> Any:
    """A template parameter from the innermost frame; a deferred expression is evaluated now.

    Contract: whoever pushes such an expression into a func frame builds the body first when the
    expression needs it, so `$func:` itself never needs the body."""
    stack = ctx.func_stack
    if not stack:
        return None
    value = stack[-1].get(name)
    if value is None or value.__class__ is str:
        return value
    deferred = getattr(value, "param_value", None)
    return deferred(ctx) if deferred is not None else value


def url_value(ctx: ScopedContext, name: str) -> str:
    # W: matches the query parameter name ignoring case; a missing one is "".
    params = ctx.query_params
    value = params.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in params.items():
        if key.lower() == lowered:
            return val
    return ""


def registry_value(ctx: Any, name: str) -> str:
    """get-property('registry', 'key[@property]'): the deployed configuration's file registry reads it (W:
    GetPropertyFunction); "" when there is none, or no registry (a context without a configuration)."""
    registry = getattr(getattr(ctx, "config", None), "registry", None)
    value = registry.lookup(name) if registry is not None else None
    return value if value is not None else ""


Reader = Callable[[Any, str], Any]

_READERS: dict[Scope, Reader] = {
    Scope.DEFAULT: lambda ctx, name: ctx.properties.get(name),
    Scope.AXIS2: lambda ctx, name: ctx.axis2.get(name),
    Scope.AXIS2_CLIENT: lambda ctx, name: ctx.axis2.get(name),
    Scope.TRANSPORT: lambda ctx, name: ctx.transport_headers.get(name),
    Scope.OPERATION: lambda ctx, name: ctx.operation.get(name),
    Scope.FUNC: func_value,
    Scope.URL: url_value,
    Scope.SYSTEM: lambda ctx, name: SYSTEM_PROPERTIES.get(name, ""),
    Scope.ENV: lambda ctx, name: os.environ.get(name, ""),
    Scope.FILE: lambda ctx, name: "",
    Scope.REGISTRY: lambda ctx, name: registry_value(ctx, name),
}


def reader(scope: str) -> Reader:
    """`(ctx, name) -> value` for a scope, None when a stored value is missing."""
    return _READERS[scope_of(scope)]


def getter(scope: str, name: str) -> Callable[[Any], Any]:
    """`ctx -> value` of one name, resolved at deploy time (one dictionary access per message)."""
    resolved = scope_of(scope)
    if resolved is Scope.DEFAULT:
        return lambda ctx: ctx.properties.get(name)
    if resolved in (Scope.AXIS2, Scope.AXIS2_CLIENT):
        return lambda ctx: ctx.axis2.get(name)
    if resolved is Scope.TRANSPORT:
        return lambda ctx: ctx.transport_headers.get(name)
    if resolved is Scope.OPERATION:
        return lambda ctx: ctx.operation.get(name)
    read = _READERS[resolved]
    return lambda ctx: read(ctx, name)


def read(ctx: ScopedContext, scope: str, name: str) -> Any:
    """One read with a scope known only now (prefer `getter` / `reader` where the scope is known earlier)."""
    return _READERS[scope_of(scope)](ctx, name)


# --------------------------------------------------------------------------------------------------------
# Writing and removing

Writer = Callable[[Any, str, Any], None]


def _set_default(ctx: Any, name: str, value: Any) -> None:
    if value is not None:  # W: Axis2MessageContext.setProperty ignores null
        ctx.properties[name] = value


def _set_transport(ctx: Any, name: str, value: Any) -> None:
    ctx.transport_headers[name] = "" if value is None else (to_synapse_string(value) or "")


def _set_axis2(ctx: Any, name: str, value: Any) -> None:
    if value is None:  # Axis2's AbstractContext stores the null, i.e. the value is gone
        ctx.axis2.pop(name, None)
    else:
        ctx.axis2[name] = value


def _set_axis2_special(ctx: Any, name: str, value: Any) -> None:
    if name == "messageType" and value is not None:
        ctx.set_message_type(to_synapse_string(value) or "")  # W: PropertyMediator.handleSpecialProperties
    else:
        _set_axis2(ctx, name, value)


def _set_operation(ctx: Any, name: str, value: Any) -> None:
    if value is None:
        ctx.operation.pop(name, None)
    else:
        ctx.operation[name] = value


def _set_registry(ctx: Any, name: str, value: Any) -> None:
    # W: PropertyMediator writes `key` (the content) or `key@name` (a property) through the registry.
    if value is not None:
        ctx.config.registry.write(name, to_synapse_string(value) or "")


_WRITERS: dict[Scope, Writer] = {
    Scope.REGISTRY: _set_registry,
    Scope.DEFAULT: _set_default,
    Scope.TRANSPORT: _set_transport,
    Scope.AXIS2: _set_axis2,
    Scope.AXIS2_CLIENT: _set_axis2,
    Scope.OPERATION: _set_operation,
}


def writer(scope: str, *, special_names: bool = False) -> Writer:
    """`(ctx, name, value) -> None` for a writable scope; ValueError otherwise. `special_names` applies the
    property mediator's axis2 `messageType` rule."""
    resolved = scope_of(scope)
    if resolved not in WRITABLE:
        raise ValueError(f"scope '{scope}' is read-only")
    if special_names and resolved is Scope.AXIS2:
        return _set_axis2_special
    if special_names and resolved is Scope.DEFAULT:
        return _set_default_special
    return _WRITERS[resolved]


def _set_default_special(ctx: Any, name: str, value: Any) -> None:
    """W: Axis2MessageContext.isResponse() reads a String `RESPONSE` property: "true" makes the message a
    response (a `<send/>` then answers the client), anything else a request."""
    _set_default(ctx, name, value)
    if name == "RESPONSE" and isinstance(value, str):
        ctx.is_response = value.strip().lower() == "true"


def _remove_default_special(ctx: Any, name: str) -> None:
    ctx.properties.pop(name, None)
    if name == "RESPONSE":
        ctx.is_response = False


def write(ctx: ScopedContext, scope: str, name: str, value: Any) -> None:
    """One write with a scope known only now, without the special names."""
    writer(scope)(ctx, name, value)


def _remove_axis2_special(ctx: Any, name: str) -> None:
    if name == "TRANSPORT_HEADERS":
        ctx.transport_headers = CIMultiDict()  # the MI idiom to stop request headers being echoed on a reply
    else:
        ctx.axis2.pop(name, None)


_REMOVERS: dict[Scope, Callable[[Any, str], None]] = {
    Scope.DEFAULT: lambda ctx, name: ctx.properties.pop(name, None),
    Scope.TRANSPORT: lambda ctx, name: ctx.transport_headers.popall(name, None),
    Scope.AXIS2: lambda ctx, name: ctx.axis2.pop(name, None),
    Scope.AXIS2_CLIENT: lambda ctx, name: ctx.axis2.pop(name, None),
    Scope.OPERATION: lambda ctx, name: ctx.operation.pop(name, None),
    Scope.REGISTRY: lambda ctx, name: None,  # W: PropertyMediator has no registry branch for remove
}


def remover(scope: str, *, special_names: bool = False) -> Callable[[Any, str], None]:
    """`(ctx, name) -> None` for a writable scope; ValueError otherwise. `special_names` applies the property
    mediator's axis2 `TRANSPORT_HEADERS` rule."""
    resolved = scope_of(scope)
    if resolved not in WRITABLE:
        raise ValueError(f"scope '{scope}' is read-only")
    if special_names and resolved is Scope.AXIS2:
        return _remove_axis2_special
    if special_names and resolved is Scope.DEFAULT:
        return _remove_default_special
    return _REMOVERS[resolved]
