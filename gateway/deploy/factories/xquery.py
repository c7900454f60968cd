"""`xquery` (W: extensions/mediators/xquery/XQueryMediatorFactory)."""

from __future__ import annotations

import logging

from gateway.deploy.declare import Attribute, Child, Element, Kind, Node
from gateway.deploy.factories.xslt import PROPERTY, precompile
from gateway.deploy.registry import mediator
from gateway.errors import ExpressionError
from gateway.expressions import compile_expression
from gateway.mediators.xquery import TYPES, Variable, XQuery

log = logging.getLogger("gateway.deploy")


def _variable(node: Node) -> Variable | None:
    name, type_ = (node["name"] or "").strip(), (node["type"] or "").strip()
    if not name or not type_:
        log.warning("%s: a variable needs a name and a type; MI ignores this one, as here", node.location)
        return None
    if type_ not in TYPES:
        raise node.error("Unsupported Type", f"type is one of {', '.join(TYPES)}")
    value = node["value"]
    if value is not None and value.strip():
        return Variable(name, type_, value.strip(), None, None)
    key = node["key"]
    if key is not None:
        node.fctx.refer("localEntry", key.strip(), node.element)
    return Variable(name, type_, None, key.strip() if key is not None else None, node["expression"])


VARIABLE = Element(
    "variable",
    "A query variable: a literal `value`, or the first node `expression` selects (default: the first element "
    "of the Body) from the message or from the entry named by `key`.",
    common=False,
    build=_variable,
    attributes=(
        Attribute("name", Kind.TEXT, "The external variable's name."),
        Attribute("type", Kind.TEXT, f"One of {', '.join(TYPES)}."),
        Attribute("value", Kind.TEXT, "A literal value."),
        Attribute("expression", Kind.EXPRESSION, "An XPath selecting the value."),
        Attribute("key", Kind.TEXT, "A local entry or registry key whose XML is the value."),
    ),
)


def _xquery(node: Node) -> XQuery:
    if node.one("dataSource") is not None:
        log.warning("%s: <dataSource> (XQJ data source properties) is accepted with no effect", node.location)
    precompile(node, "xquery", "key", ())
    variables = tuple(built for child in node.all("variable") if (built := child.build()) is not None)
    text = node.raw("target")
    target = None
    if text and text.strip():  # W: an empty target is ignored
        try:
            target = compile_expression(text, node.namespaces)
        except ExpressionError as exc:
            raise node.error(f"Invalid XPath specified for the target attribute : {text}", str(exc)) from None
    return XQuery(node["key"], target, variables, node.location)


mediator(
    Element(
        "xquery",
        "Run an XQuery (Saxon HE, saxonche) with variables bound from the message; its first result replaces "
        "the target node or becomes its text.",
        anchor="W: XQueryMediatorFactory",
        build=_xquery,
        children=(
            Child(VARIABLE, repeatable=True),
            Child(
                Element(
                    "dataSource",
                    "XQJ data source properties: accepted, no effect.",
                    common=False,
                    children=(Child(PROPERTY, repeatable=True),),
                ),
            ),
        ),
        attributes=(
            Attribute(
                "key",
                Kind.KEY,
                "The local entry or registry key of the query (static or {dynamic}).",
                required=True,
                refers_to="localEntry",
                missing="The 'key' attribute is required for the XQuery mediator",
            ),
            Attribute("target", Kind.TEXT, "The node the result replaces (default: the first element of the Body)."),
        ),
    )
)
