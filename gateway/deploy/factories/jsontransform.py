"""`jsontransform` (W: config/xml/JSONTransformMediatorFactory)."""

from __future__ import annotations

import logging

from gateway.deploy.declare import Attribute, Child, Element, Kind, Node
from gateway.deploy.factories.xslt import PROPERTY, precompile
from gateway.deploy.registry import mediator
from gateway.mediators.jsontransform import AUTO_PRIMITIVE, JsonTransform

log = logging.getLogger("gateway.deploy")


def _jsontransform(node: Node) -> JsonTransform:
    properties: dict[str, str] = {}
    for child in node.all("property"):
        parameter = child.build()
        if parameter.value is None:
            raise child.error("a jsontransform property takes a literal value", "MI reads its value attribute")
        properties[parameter.name] = parameter.value
        if parameter.name != AUTO_PRIMITIVE:
            log.warning("%s: %s is accepted with no effect", child.location, parameter.name)
    if node["schema"] is None and not properties:
        raise node.error("jsontransform mediator should contain either a schema or custom properties")
    precompile(node, "jsontransform", "schema", ())
    return JsonTransform(node["schema"], properties, node.location)


mediator(
    Element(
        "jsontransform",
        "Convert the payload to JSON with XML-to-JSON settings (<property>), and/or convert and check it with "
        "MI's schema-driven JSON processor (schema).",
        anchor="W: JSONTransformMediatorFactory",
        build=_jsontransform,
        children=(Child(PROPERTY, repeatable=True),),
        attributes=(
            Attribute(
                "schema",
                Kind.KEY,
                "The local entry or registry key of the JSON Schema (static or {dynamic}).",
                refers_to="localEntry",
            ),
        ),
    )
)
