"""Factory for `log` (W: config/xml/LogMediatorFactory, MediatorPropertyFactory; reference §5.2)."""

from __future__ import annotations

from lxml import etree

from gateway.deploy.factories.filters import expression_attribute
from gateway.deploy.registry import FactoryContext, mediator_factory
from gateway.deploy.xmlutil import (
    check_attributes,
    children,
    choice_attribute,
    config_error,
    did_you_mean,
    is_description,
    local_name,
    location,
)
from gateway.mediators.log import CATEGORIES, LEVELS, LogMediator, LogProperty

_PROPERTY_SCOPES = ("default", "axis2", "transport", "axis2-client")  # W: accepted, and unused by log


def _property(element: etree._Element) -> LogProperty:
    check_attributes(element, ("name", "value", "expression", "scope", "description"))
    name = element.get("name")
    if name is None or not name.strip():
        raise config_error(element, "the 'name' attribute is required for a log property")
    choice_attribute(element, "scope", _PROPERTY_SCOPES, "default")
    value, expression = element.get("value"), element.get("expression")
    if value is not None and expression is not None:
        raise config_error(element, "give either 'value' or 'expression', not both")
    if value is not None:
        if not value.strip():
            raise config_error(element, "the 'value' attribute of a log property is empty")
        return LogProperty(name, value, None)
    if expression is None:
        raise config_error(element, "a log property needs a 'value' or an 'expression'")
    return LogProperty(name, None, expression_attribute(element, "expression"))


@mediator_factory("log")
def log(element: etree._Element, fctx: FactoryContext) -> LogMediator:
    for newer in ("logMessageID", "logFullPayload"):
        if element.get(newer) is not None:
            raise config_error(element, f"the MI 4.4 log attribute '{newer}' is not supported yet",
                               "use level=\"full\" or level=\"custom\" with <property> children")
    check_attributes(element, ("level", "separator", "category", "description"))
    level = element.get("level", "simple")
    if level not in LEVELS:
        raise config_error(element, f"invalid log level '{level}'",
                           did_you_mean(level, LEVELS) or f"use one of: {', '.join(LEVELS)}")
    category_text = element.get("category", "INFO")
    category = category_text.strip().upper()  # W: trims and upper-cases
    if category not in CATEGORIES:
        raise config_error(element, f"invalid log category '{category_text}'",
                           did_you_mean(category, CATEGORIES) or f"use one of: {', '.join(CATEGORIES)}")
    separator = element.get("separator", ", ")
    if separator == "\\n":
        separator = "\n"  # W: setSeparator turns a literal \n into a newline
    properties = []
    for child in children(element):
        tag = local_name(child)
        if is_description(child):
            continue
        with fctx.collect(child):
            if tag == "property":
                properties.append(_property(child))
            elif tag == "message":
                raise config_error(child, "log <message> templates (MI 4.4 ${…}) are not supported yet",
                                   "use level=\"custom\" with <property name=… expression=…> children")
            else:
                raise config_error(child, f"unexpected <{tag}> inside <log>",
                                   did_you_mean(tag, ("property",)) or "only <property> children are allowed")
    return LogMediator(level, separator, CATEGORIES[category], tuple(properties),
                       location(element, fctx.path))
