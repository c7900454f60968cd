"""`log` (W: config/xml/LogMediatorFactory, MediatorPropertyFactory; docs/synapse-semantics.md §5.2)."""

from __future__ import annotations

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node
from gateway.deploy.registry import mediator
from gateway.errors import ExpressionError
from gateway.expressions import template_parts
from gateway.mediators.log import CATEGORIES, LEVELS, LogMediator, LogProperty, Template
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
        Attribute(
            "type",
            Kind.TEXT,
            "The property mediator's type, copied onto a log property (MI's own tests do).",
            ignored="MediatorPropertyFactory reads name, value, expression and scope; the value is logged as text",
        ),
    ),
)


def _template(node: Node) -> Template:
    # W: LogMediatorFactory: the element's text; LogMediator.setMessageTemplate turns \n and \t into the characters
    element = node.element
    text = (element.text or "") + "".join(child.tail or "" for child in element)
    text = text.replace("\\n", "\n").replace("\\t", "\t")
    try:
        return tuple(template_parts(text, node.namespaces))
    except ExpressionError as exc:
        raise node.error("Invalid message template", str(exc)) from None


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
    separator = node["separator"].replace("\\n", "\n").replace("\\t", "\t")  # W: setSeparator
    properties = tuple(_property(child) for child in node.all("property"))
    message = node.one("message")
    # W: getText() of an empty <message/> is "", not null: it still makes a (blank) template
    template = _template(message) if message is not None else None
    # W: logFullPayload="true" wins over level; a template without a level logs only the template (and properties)
    if node["logFullPayload"]:
        level = "full"
    elif node.has("level"):
        level = node["level"]
    else:
        level = "message" if template is not None else "simple"
    return LogMediator(
        level,
        separator,
        CATEGORIES[category],
        properties,
        node.location,
        template=template,
        message_id=bool(node["logMessageID"]),
    )


mediator(
    Element(
        "log",
        "Write a line about the message: simple, headers, full (with the payload) or custom (only the "
        "properties). Secrets are masked.",
        anchor="W: LogMediatorFactory",
        build=_log,
        children=(
            Child(_PROPERTY, repeatable=True),
            Child(
                Element(
                    "message",
                    "MI 4.4 message template: text with ${…} Synapse Expressions, logged first (a template without "
                    "a level logs only itself and the properties).",
                    body=Body.TEXT,
                    common=False,
                )
            ),
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
                "MI 4.4: a template or custom line starts with MessageID: ….",
                default=False,
            ),
            Attribute("logFullPayload", Kind.BOOLEAN, "MI 4.4: true logs as level full.", default=False),
            Attribute(
                "name",
                Kind.TEXT,
                "Not a log attribute: MI's own tests write one (payload_factory jsonFormat).",
                ignored="LogMediatorFactory reads no name; the line is not named",
            ),
        ),
    )
)
