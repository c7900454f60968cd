"""`property` (W: config/xml/PropertyMediatorFactory; docs/synapse-semantics.md §5.1)."""

from __future__ import annotations

import copy
import logging
from typing import Any

from lxml import etree

from gateway.deploy.declare import Attribute, Body, Element, Kind, Node
from gateway.deploy.registry import mediator
from gateway.errors import ExpressionError
from gateway.expressions import Value, compile_value
from gateway.mediators.property import SCOPES, TYPES, UNSET, ConversionError, PropertyMediator, converter
from gateway.xmlutil import did_you_mean

log = logging.getLogger("gateway.deploy")
# W: accepts these scopes too; they write to places this gateway does not have
_UNSUPPORTED_SCOPES = {
    "system": "Java system properties do not exist here; use a default-scope property",
    "trace": "tracing spans are not supported",
    "analytics": "analytics metadata is not supported",
    "env": "env is readable through get-property('env', …) only",
    "file": "file is readable through get-property('file', …) only",
}


def dynamic_name(node: Node, name: str) -> tuple[str, Value | None]:
    """`name="{expr}"` (W: MediatorPropertyUtils.isDynamicName) → (name, compiled value); an escaped
    `{{…}}` name is the literal text with one brace pair removed."""
    if len(name) < 2 or not (name.startswith("{") and name.endswith("}")):
        return name, None
    try:
        value = compile_value(name, node.namespaces)
    except ExpressionError as exc:
        raise node.error(f"invalid expression for attribute 'name' : {name}", str(exc)) from None
    if value.is_dynamic:
        return name, value
    return value.static_text or name, None


def _property(node: Node) -> PropertyMediator:
    name = node["name"]
    if not name:
        raise node.error("the 'name' attribute is required for a property mediator")
    remove = node["action"] == "remove"
    scope = node["scope"]
    if scope in _UNSUPPORTED_SCOPES:
        raise node.error(f"scope '{scope}' is not supported", _UNSUPPORTED_SCOPES[scope])
    type_name = node["type"]
    if type_name is not None and type_name not in TYPES:
        hint = did_you_mean(type_name, TYPES)
        if type_name.upper() in TYPES:
            hint = f"type names are case-sensitive: did you mean '{type_name.upper()}'?"
        raise node.error(f"unknown type '{type_name}'", hint or f"use one of: {', '.join(TYPES)}")

    value = node["value"]
    xml_children = node.others
    sources = (
        ("value", value is not None),
        ("expression", node.has("expression")),
        ("a child element", bool(xml_children)),
    )
    given = [what for what, present in sources if present]
    if not remove and not given:
        raise node.error(
            "either a child element or one of 'value', 'expression' attributes is required for a "
            "property mediator when action is set"
        )
    if len(given) > 1:
        # W: silently prefers value, then the child, then expression; a config with both is a mistake
        raise node.error(f"give only one of {' / '.join(given)}")
    if len(xml_children) > 1:
        raise node.error("a property takes a single XML child element", "wrap the elements in one parent element")

    pattern, group = node["pattern"], 0
    if pattern is not None:
        if node.has("group"):
            group = node["group"]
            if group < 0:
                raise node.error("group can have a positive value only")
    elif node.has("group"):
        raise node.error("group is only allowed when a pattern is specified")

    name, dynamic = dynamic_name(node, name)
    built = PropertyMediator(
        name=name,
        dynamic_name=dynamic,
        scope=scope,
        remove=remove,
        type_name=type_name,
        pattern=pattern,
        group=group,
        location=node.location,
    )
    if remove:
        return built
    if value is not None:
        built.constant = _static_value(node, value, type_name, built)
    elif xml_children:
        template = copy.deepcopy(xml_children[0])
        etree.cleanup_namespaces(template)
        built.template = template
    else:
        built.expression = node["expression"]
    return built.finish()


def _static_value(node: Node, text: str, type_name: str | None, built: PropertyMediator) -> Any:
    """A literal is converted once. One that does not fit its type faults every message at runtime
    (W: would already refuse to deploy it)."""
    try:
        value = converter(type_name, from_expression=False)(text)
    except ConversionError:
        log.warning(
            "%s: property '%s': value '%s' is not a valid %s; every message reaching it will fault",
            node.location,
            built.name,
            text,
            type_name,
        )
        built.literal = text
        return UNSET
    if value is None and type_name == "JSON":
        raise node.error(f"malformed JSON value '{text}'")
    if built.pattern is not None and isinstance(value, str):
        value = built.matched(value)
    return value  # None (a group that took no part) sets nothing, as Java's null does


mediator(
    Element(
        "property",
        "Set or remove a value in a message scope: a literal, an expression or an XML child; optionally "
        "typed and cut by a regular expression.",
        anchor="W: PropertyMediatorFactory",
        body=Body.ANY,
        build=_property,
        attributes=(
            Attribute(
                "name",
                Kind.TEXT,
                "The property's name; {expr} names it per message.",
                required=True,
                missing="the 'name' attribute is required for a property mediator",
            ),
            Attribute("value", Kind.TEXT, "A literal value (converted to the type once, at deploy time)."),
            Attribute("expression", Kind.EXPRESSION, "An XPath or json-eval(…) read per message."),
            Attribute("action", Kind.CHOICE, "set or remove.", choices=("set", "remove"), default="set"),
            Attribute(
                "scope",
                Kind.CHOICE,
                "Where the value lives: default (message), transport (HTTP headers), "
                "axis2, axis2-client, operation, registry (writes `key` or `key@property` in the registry/ "
                "folder, as MI); system, trace, analytics, env and file are not supported.",
                choices=(*SCOPES, *_UNSUPPORTED_SCOPES),
                default="default",
            ),
            Attribute("type", Kind.TEXT, f"One of {', '.join(TYPES)} (default STRING)."),
            Attribute("pattern", Kind.REGEX, "A java.util.regex the value must fully match; `group` picks a part."),
            Attribute("group", Kind.INTEGER, "The regex group to keep (with pattern).", default=0),
        ),
    )
)
