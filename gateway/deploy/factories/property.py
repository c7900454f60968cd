"""Factory for `property` (W: config/xml/PropertyMediatorFactory; reference §5.1)."""

from __future__ import annotations

import copy
import logging
from typing import Any

from lxml import etree

from gateway.deploy.factories.filters import compile_java_regex, expression_attribute
from gateway.deploy.registry import FactoryContext, mediator_factory
from gateway.deploy.xmlutil import (
    check_attributes,
    children,
    choice_attribute,
    config_error,
    did_you_mean,
    location,
    prefixed_namespaces,
)
from gateway.errors import ExpressionError
from gateway.expressions import Value, compile_value
from gateway.mediators.property import (
    SCOPES,
    TYPES,
    UNSET,
    ConversionError,
    PropertyMediator,
    converter,
)

log = logging.getLogger("gateway.deploy")
_ATTRIBUTES = ("name", "value", "expression", "action", "scope", "type", "pattern", "group", "description")
# W: accepts these scopes too; they write to places this gateway does not have
_UNSUPPORTED_SCOPES = {
    "registry": "there is no registry in this gateway; use a local entry or a default-scope property",
    "system": "Java system properties do not exist here; use a default-scope property",
    "trace": "tracing spans are not supported",
    "analytics": "analytics metadata is not supported",
    "env": "env is readable through get-property('env', …) only",
    "file": "file is readable through get-property('file', …) only",
}


def dynamic_name(element: etree._Element, name: str) -> tuple[str, Value | None]:
    """`name="{expr}"` (W: MediatorPropertyUtils.isDynamicName) → (name, compiled value); an escaped
    `{{…}}` name is the literal text with one brace pair removed."""
    if len(name) < 2 or not (name.startswith("{") and name.endswith("}")):
        return name, None
    try:
        value = compile_value(name, prefixed_namespaces(element))
    except ExpressionError as exc:
        raise config_error(element, f"invalid expression for attribute 'name' : {name}", str(exc)) from None
    if value.is_dynamic:
        return name, value
    return value.static_text or name, None


@mediator_factory("property")
def property_(element: etree._Element, fctx: FactoryContext) -> PropertyMediator:
    check_attributes(element, _ATTRIBUTES)
    name = element.get("name")
    if name is None or not name:
        raise config_error(element, "the 'name' attribute is required for a property mediator")
    remove = choice_attribute(element, "action", ("set", "remove"), "set") == "remove"

    scope = element.get("scope", "default")
    if scope in _UNSUPPORTED_SCOPES:
        raise config_error(element, f"scope '{scope}' is not supported", _UNSUPPORTED_SCOPES[scope])
    scope = choice_attribute(element, "scope", SCOPES, "default") or "default"

    type_name = element.get("type")
    if type_name is not None and type_name not in TYPES:
        hint = did_you_mean(type_name, TYPES)
        if type_name.upper() in TYPES:
            hint = f"type names are case-sensitive: did you mean '{type_name.upper()}'?"
        raise config_error(element, f"unknown type '{type_name}'", hint or f"use one of: {', '.join(TYPES)}")

    value, expression_text = element.get("value"), element.get("expression")
    xml_children = children(element)
    sources = (("value", value is not None), ("expression", expression_text is not None),
               ("a child element", bool(xml_children)))
    given = [what for what, present in sources if present]
    if not remove and not given:
        raise config_error(element, "either a child element or one of 'value', 'expression' attributes is "
                                    "required for a property mediator when action is set")
    if len(given) > 1:
        # W: silently prefers value, then the child, then expression; a config with both is a mistake
        raise config_error(element, f"give only one of {' / '.join(given)}")
    if len(xml_children) > 1:
        raise config_error(xml_children[1], "a property takes a single XML child element",
                           "wrap the elements in one parent element")

    pattern, group = None, 0
    pattern_text, group_text = element.get("pattern"), element.get("group")
    if pattern_text is not None:
        pattern = compile_java_regex(element, "pattern", pattern_text)
        if group_text is not None:
            try:
                group = int(group_text.strip())
            except ValueError:
                raise config_error(element, f"group must be a number, not '{group_text}'") from None
            if group < 0:
                raise config_error(element, "group can have a positive value only")
    elif group_text is not None:
        raise config_error(element, "group is only allowed when a pattern is specified")

    name, dynamic = dynamic_name(element, name)
    mediator = PropertyMediator(name=name, dynamic_name=dynamic, scope=scope,
                                remove=remove, type_name=type_name, pattern=pattern, group=group,
                                location=location(element, fctx.path))
    if remove:
        return mediator
    if value is not None:
        mediator.constant = _static_value(element, value, type_name, mediator)
    elif xml_children:
        template = copy.deepcopy(xml_children[0])
        etree.cleanup_namespaces(template)
        mediator.template = template
    else:
        mediator.expression = expression_attribute(element, "expression")
    return mediator


def _static_value(element: etree._Element, text: str, type_name: str | None,
                  mediator: PropertyMediator) -> Any:
    """A literal is converted once. One that does not fit its type faults every message at runtime
    (W: would already refuse to deploy it; see docs/conformance/mediators-core.md)."""
    try:
        value = converter(type_name, from_expression=False)(text)
    except ConversionError:
        log.warning("%s: property '%s': value '%s' is not a valid %s; every message reaching it will fault",
                    location(element), mediator.name, text, type_name)
        mediator.literal = text
        return UNSET
    if value is None and type_name == "JSON":
        raise config_error(element, f"malformed JSON value '{text}'")
    if mediator.pattern is not None and isinstance(value, str):
        value = mediator.matched(value)
    return value  # None (a group that took no part) sets nothing, as Java's null does
