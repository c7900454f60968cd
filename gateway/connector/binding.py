"""Deploy time: `<prefix.operation>` children compiled into a BoundOperation; a configKey local entry's
connection compiled once per deployed entry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.connector.invocation import BoundOperation, ConnectorError
from gateway.connector.model import NO_CONNECTION
from gateway.errors import DeployError, ExpressionError, SourceLocation
from gateway.expressions import Value, compile_value
from gateway.masking import CONFIGURED
from gateway.xmlutil import attribute_items, children, did_you_mean, local_name, location, prefixed_namespaces

if TYPE_CHECKING:
    from gateway.connector.model import Connector, OperationSpec


def bind_operation(
    connector: Connector, spec: OperationSpec, element: etree._Element, path: str, *, allow_config_key: bool = True
) -> BoundOperation:
    """Compile the parameter children of an operation element; DeployError on anything unknown."""
    where = location(element, path)
    qualified = f"{connector.name}.{spec.name}"
    for attribute, _ in attribute_items(element):
        if attribute.startswith("{") or attribute == "description":
            continue
        if attribute == "configKey" and allow_config_key:
            continue
        allowed = ["configKey", "description"] if allow_config_key else ["description"]
        raise DeployError(
            where,
            qualified,
            f"unknown attribute '{attribute}'",
            did_you_mean(attribute, allowed) or f"allowed: {', '.join(allowed)}",
        )
    if element.text and element.text.strip():
        raise DeployError(
            where,
            qualified,
            "text is not allowed here; parameters are child elements",
            f"e.g. <{qualified}><{next(iter(spec.parameters), 'name')}>…</…></{qualified}>",
        )
    given: dict[str, list[Value]] = {}
    for child in children(element):
        child_where = location(child, path)
        name = local_name(child)
        parameter_name = spec.element_names.get(name)
        if parameter_name is None:
            hint = did_you_mean(name, spec.element_names) or (
                f"parameters of {qualified}: {', '.join(spec.parameters)}"
                if spec.parameters
                else f"{qualified} takes no parameters"
            )
            raise DeployError(child_where, qualified, f"unknown parameter '{name}'", hint)
        parameter = spec.parameters[parameter_name]
        if children(child):
            raise DeployError(
                child_where,
                qualified,
                f"parameter '{name}' takes a text value, not elements",
                "use an expression such as {//path/text()} to pick a value from the message",
            )
        text = (child.text or "").strip()
        if parameter_name in given and not parameter.repeatable:
            raise DeployError(
                child_where, qualified, f"parameter '{parameter_name}' is given more than once", "give it once"
            )
        values = given.setdefault(parameter_name, [])
        if not text:
            continue  # empty = absent, exactly like a missing element
        try:
            compiled = compile_value(text, prefixed_namespaces(child))
        except ExpressionError as exc:
            raise DeployError(
                child_where,
                qualified,
                f"invalid value for parameter '{name}': {exc}",
                "use {$ctx:name}, {//xpath}, {json-eval($.path)} or {{literal}}",
            ) from None
        if parameter.secret and not compiled.is_dynamic:
            CONFIGURED.add(compiled.static_text)  # a secret written in the configuration: masked process-wide
        values.append(compiled)
    return bound(connector, spec, given, where)


def bound(
    connector: Connector, spec: OperationSpec, given: Mapping[str, list[Value]], where: SourceLocation
) -> BoundOperation:
    """An operation with its compiled values (parameter name -> values; empty lists are absent ones)."""
    arguments = tuple((spec.parameters[name], tuple(values)) for name, values in given.items() if values)
    needs_body = any(value.needs_body for _, values in arguments for value in values)
    return BoundOperation(connector, spec, arguments, where, needs_body)


def template_arguments(spec: OperationSpec, element: etree._Element, path: str) -> dict[str, Value]:
    """The parameter children of a template operation, compiled (W: MediatorFactoryFinder.createInvokeParam
    reads each child's text as a value); an undeclared one is an error, as for callable operations."""
    qualified = local_name(element)
    where = location(element, path)
    for attribute, _ in attribute_items(element):
        if not attribute.startswith("{") and attribute not in ("description", "configKey"):
            raise DeployError(where, qualified, f"unknown attribute '{attribute}'", "allowed: configKey, description")
    values: dict[str, Value] = {}
    for child in children(element):
        name = local_name(child)
        child_where = location(child, path)
        if name not in spec.element_names:
            hint = did_you_mean(name, spec.element_names) or (
                f"parameters of {qualified}: {', '.join(spec.parameters)}"
                if spec.parameters
                else f"{qualified} takes no parameters"
            )
            raise DeployError(child_where, qualified, f"unknown parameter '{name}'", hint)
        if children(child):
            raise DeployError(child_where, qualified, f"parameter '{name}' takes a text value, not elements")
        if name in values:
            raise DeployError(child_where, qualified, f"parameter '{name}' is given more than once", "give it once")
        text = (child.text or "").strip()
        if not text:
            continue  # W: InvokeMediatorFactory keeps a text only if it is not empty
        try:
            values[name] = compile_value(text, prefixed_namespaces(child))
        except ExpressionError as exc:
            raise DeployError(child_where, qualified, f"invalid value for parameter '{name}': {exc}") from None
    return values


def connection_from_entry(connector: Connector, key: str, entry: Any) -> BoundOperation:
    """The connection operation held by a local entry, compiled on first use and cached for as long as the same
    entry object is deployed (a redeployed entry is recompiled). An invalid entry faults per message."""
    cached = connector.connections.get(key)
    if cached is None or cached[0] is not entry:
        try:
            compiled: BoundOperation | str = _compile_entry(connector, key, entry)
        except DeployError as exc:
            compiled = str(exc)
        connector.connections[key] = cached = (entry, compiled)
    result = cached[1]
    if isinstance(result, str):
        raise ConnectorError(
            f"the connection in local entry '{key}' is invalid: {result}",
            NO_CONNECTION,
            f"fix the local entry; it must hold one <{connector.name}.{connector.connection}> element",
            http_status=500,
        )
    return result


def _compile_entry(connector: Connector, key: str, entry: Any) -> BoundOperation:
    value = getattr(entry, "value", None)
    where = getattr(entry, "location", None) or SourceLocation("<local entry>")
    expected = f"{connector.name}.{connector.connection}"
    if not isinstance(value, etree._Element) or local_name(value) != expected:
        raise DeployError(where, f"localEntry '{key}'", f"does not hold a <{expected}> element")
    return bind_operation(
        connector, connector.operations[connector.connection or ""], value, where.path, allow_config_key=False
    )
