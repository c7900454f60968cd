"""`validate` (W: config/xml/ValidateMediatorFactory, ResourceMapFactory).

The schema keys are noted for the dangling-reference check; static ones are compiled once every entry is loaded,
as an XML Schema set, or a JSON Schema when the entry is JSON text (gateway.mediators.validate.compile_schema)."""

from __future__ import annotations

import logging

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node
from gateway.deploy.factories.xslt import FEATURE, RESOURCE, resource_map
from gateway.deploy.registry import mediator
from gateway.mediators.resources import KEY_SEPARATOR, Precompile
from gateway.mediators.validate import Validate

log = logging.getLogger("gateway.deploy")


def _validate(node: Node) -> Validate:
    schemas = node.all("schema")
    if not schemas:
        raise node.error("No schema specified for the validate mediator", 'add <schema key="…"/>')
    on_fail = node.one("on-fail")
    if on_fail is None or not on_fail.others:
        raise node.error(
            "A non-empty <on-fail> child element is required for the <validate> mediator",
            "put the mediators to run when validation fails inside <on-fail>",
        )
    for feature in node.all("feature"):
        if feature["value"] not in ("true", "false"):
            raise feature.error("The feature must have value true or false")
        log.warning("%s: schema factory feature %s is accepted with no effect", feature.location, feature["name"])
    for ignored in node.all("property"):
        log.warning("%s: <property> inside <validate> is ignored, as MI ignores it", ignored.location)
    if node.has("key"):
        log.warning(
            "%s: validate's 'key' attribute is ignored, as MI ignores it (<schema key> names the schemas)",
            node.location,
        )
    resources = resource_map(node)
    keys = tuple(schema["key"] for schema in schemas)
    if not any(key.is_dynamic for key in keys):
        joined = KEY_SEPARATOR.join(key.static_text.strip() for key in keys)
        node.fctx.precompile.append(Precompile("schema", joined, resources, node.location, node.tag))
    return Validate(keys, node["source"], on_fail.mediators(), resources, node["json-source"], node.location)


mediator(
    Element(
        "validate",
        "Validate the message (or the node `source` selects) against XML Schemas, or a JSON message against a "
        "JSON Schema; run <on-fail> when it does not validate.",
        anchor="W: ValidateMediatorFactory",
        build=_validate,
        children=(
            Child(
                Element(
                    "schema",
                    "A schema: a local entry or registry key (static or {dynamic}).",
                    common=False,
                    attributes=(
                        Attribute(
                            "key",
                            Kind.KEY,
                            "The schema's key.",
                            required=True,
                            refers_to="localEntry",
                            missing="A 'schema' definition must contain a local property 'key'",
                        ),
                    ),
                ),
                repeatable=True,
            ),
            Child(
                Element("on-fail", "Mediators run when validation fails.", body=Body.MEDIATORS, common=False),
                first_wins=True,
            ),
            Child(FEATURE, repeatable=True),
            Child(RESOURCE, repeatable=True),
            Child(
                Element(
                    "property",
                    "Ignored, as MI's factory ignores it (some MI tests write one).",
                    common=False,
                    attributes=(
                        Attribute("name", Kind.TEXT, "Ignored."),
                        Attribute("value", Kind.TEXT, "Ignored."),
                    ),
                ),
                repeatable=True,
            ),
        ),
        attributes=(
            Attribute(
                "source",
                Kind.EXPRESSION,
                "What to validate: an XPath (default the first element of the Body), or json-eval(…) for JSON.",
            ),
            Attribute(
                "cache-schema",
                Kind.BOOLEAN,
                "Accepted: schemas are always compiled once per deployment.",
                default=True,
            ),
            Attribute("json-source", Kind.BOOLEAN, "true: validate as JSON even if the payload is not.", default=False),
            Attribute("key", Kind.TEXT, "Ignored, as MI's factory ignores it."),
        ),
    )
)
