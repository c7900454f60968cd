"""`log` (W: config/xml/LogMediatorFactory, MediatorPropertyFactory; docs/synapse-semantics.md §5.2)."""

from __future__ import annotations

from gateway.deploy.declare import Attribute, Child, Element, Kind, Node, NotYet
from gateway.deploy.registry import mediator
from gateway.mediators.log import CATEGORIES, LEVELS, LogMediator, LogProperty
from gateway.xmlutil import did_you_mean

_PROPERTY = Element(
    "property",
    "A name = value pair added to the line (a literal value or an expression).",
    common=False,
    attributes=(
        Attribute(
            "name",
            Kind.TEXT,
            "The label.",
            required=True,
            missing="the 'name' attribute is required for a log property",
        ),
        Attribute("value", Kind.TEXT, "A literal value."),
        Attribute("expression", Kind.EXPRESSION, "XPath or json-eval(…) read from the message."),
        Attribute(
            "scope",
            Kind.CHOICE,
            "Accepted and unused by log (W:).",
            choices=("default", "axis2", "transport", "axis2-client"),
        ),
        Attribute("description", Kind.TEXT, "Free text."),
    ),
)
_NEWER = NotYet(
    "log <message> templates (MI 4.4 ${…}) are not supported yet",
    'use level="custom" with <property name=… expression=…> children',
)


def _property(node: Node) -> LogProperty:
    name = node["name"]
    if not name.strip():
        raise node.error("the 'name' attribute is required for a log property")
    value = node["value"]
    if value is not None and node.has("expression"):
        raise node.error("give either 'value' or 'expression', not both")
    if value is not None:
        if not value.strip():
            raise node.error("the 'value' attribute of a log property is empty")
        return LogProperty(name, value, None)
    if not node.has("expression"):
        raise node.error("a log property needs a 'value' or an 'expression'")
    return LogProperty(name, None, node["expression"])


def _log(node: Node) -> LogMediator:
    category = node["category"].strip().upper()  # W: trims and upper-cases
    if category not in CATEGORIES:
        raise node.error(
            f"invalid log category '{node['category']}'",
            did_you_mean(category, CATEGORIES) or f"use one of: {', '.join(CATEGORIES)}",
        )
    separator = node["separator"]
    if separator == "\\n":
        separator = "\n"  # W: setSeparator turns a literal \n into a newline
    properties = tuple(_property(child) for child in node.all("property"))
    return LogMediator(node["level"], separator, CATEGORIES[category], properties, node.location)


mediator(
    Element(
        "log",
        "Write a line about the message: simple, headers, full (with the payload) or custom (only the "
        "properties). Secrets are masked.",
        anchor="W: LogMediatorFactory",
        build=_log,
        children=(
            Child(_PROPERTY, repeatable=True),
            Child(Element("message", "MI 4.4 message template.", common=False, not_supported=_NEWER)),
        ),
        attributes=(
            Attribute(
                "level", Kind.CHOICE, "What the line holds.", choices=LEVELS, default="simple", label="log level"
            ),
            Attribute("category", Kind.TEXT, f"Log level: {', '.join(CATEGORIES)} (any case).", default="INFO"),
            Attribute("separator", Kind.TEXT, "Between the parts of the line (\\n for a newline).", default=", "),
            Attribute(
                "logMessageID",
                Kind.BOOLEAN,
                "MI 4.4.",
                unsupported=NotYet(
                    "the MI 4.4 log attribute 'logMessageID' is not supported yet",
                    'use level="full" or level="custom" with <property> children',
                ),
            ),
            Attribute(
                "logFullPayload",
                Kind.BOOLEAN,
                "MI 4.4.",
                unsupported=NotYet(
                    "the MI 4.4 log attribute 'logFullPayload' is not supported yet",
                    'use level="full" or level="custom" with <property> children',
                ),
            ),
        ),
    )
)
