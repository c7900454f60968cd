"""`xslt` (W: config/xml/XSLTMediatorFactory, ResourceMapFactory, MediatorPropertyFactory).

The stylesheet's key is noted for the dangling-reference check and, when static, compiled once every entry is
loaded (gateway.mediators.resources.Precompile); `<property>` values and expressions, `<feature>`s and
`<resource>` maps are read and checked here."""

from __future__ import annotations

import logging

from gateway.deploy.declare import Attribute, Child, Element, Kind, Node
from gateway.deploy.registry import mediator
from gateway.mediators.resources import Precompile, ResourceMap
from gateway.mediators.xslt import FastXslt, Parameter, Xslt

log = logging.getLogger("gateway.deploy")

DOM_FEATURE = "http://ws.apache.org/ns/synapse/transform/feature/dom"
SECURE_PROCESSING = "http://javax.xml.XMLConstants/feature/secure-processing"
_SILENT_FEATURES = (DOM_FEATURE, SECURE_PROCESSING)


def _parameter(node: Node) -> Parameter:
    value, expression = node["value"], node["expression"]
    if (value is None) == (expression is None):
        raise node.error(
            "A property must have either a 'value' or an 'expression' attribute, not both"
            if value is not None
            else "A property must have either a 'value' or an 'expression' attribute"
        )
    return Parameter(node["name"], value, expression)


PROPERTY = Element(
    "property",
    "A stylesheet parameter (a string): a literal or an expression.",
    common=False,
    build=_parameter,
    attributes=(
        Attribute("name", Kind.NAME, "The parameter's name.", required=True),
        Attribute("value", Kind.TEXT, "A literal value."),
        Attribute("expression", Kind.EXPRESSION, "XPath or json-eval(…), evaluated per message."),
        Attribute("scope", Kind.TEXT, "Accepted (MI's property factory reads it); no effect."),
        Attribute("type", Kind.TEXT, "Accepted; parameters are strings, as MI sets them."),
    ),
)
FEATURE = Element(
    "feature",
    "A transformer factory feature: the DOM feature and secure processing are accepted (always secure here).",
    common=False,
    attributes=(
        Attribute("name", Kind.NAME, "The feature URI.", required=True),
        Attribute("value", Kind.TEXT, "true or false.", required=True),
    ),
)
ATTRIBUTE = Element(
    "attribute",
    "A transformer factory attribute: accepted, no effect.",
    common=False,
    attributes=(
        Attribute("name", Kind.NAME, "The attribute URI.", required=True),
        Attribute("value", Kind.TEXT, "Its value.", required=True),
    ),
)
RESOURCE = Element(
    "resource",
    "Maps an import's location (xsl:import, xs:import, …) to a local entry or registry key; nothing is fetched.",
    common=False,
    attributes=(
        Attribute(
            "location",
            Kind.TEXT,
            "The href / schemaLocation as the stylesheet or schema writes it.",
            required=True,
            missing="The 'location' attribute is required for a resource definition",
        ),
        Attribute(
            "key",
            Kind.KEY,
            "The local entry or registry key holding it.",
            required=True,
            refers_to="localEntry",
            missing="The 'key' attribute is required for a resource definition",
        ),
    ),
)


def resource_map(node: Node) -> ResourceMap:
    pairs = []
    for resource in node.all("resource"):
        key = resource["key"]
        if key.is_dynamic:
            raise resource.error("a resource key must be static", "name the local entry or registry key")
        pairs.append((resource["location"], key.static_text.strip()))
    return tuple(pairs)


def check_features(node: Node) -> None:
    for feature in node.all("feature"):
        value = feature["value"]
        if value not in ("true", "false"):
            raise feature.error("The feature must have value true or false")
        if feature["name"] not in _SILENT_FEATURES:
            log.warning("%s: feature %s is accepted with no effect", feature.location, feature["name"])
    for attribute in node.all("attribute"):
        log.warning("%s: attribute %s is accepted with no effect", attribute.location, attribute["name"])


def precompile(node: Node, kind: str, key_attribute: str, resources: ResourceMap) -> None:
    key = node[key_attribute]
    if key is not None and not key.is_dynamic and key.static_text and "{" not in key.static_text:
        node.fctx.precompile.append(Precompile(kind, key.static_text.strip(), resources, node.location, node.tag))


def _xslt(node: Node) -> Xslt:
    check_features(node)
    resources = resource_map(node)
    precompile(node, "xslt", "key", resources)
    parameters = tuple(child.build() for child in node.all("property"))
    return Xslt(node["key"], node["source"], node["target"], parameters, resources, node.location)


mediator(
    Element(
        "xslt",
        "Transform the message (or the node `source` selects) with an XSLT stylesheet: XSLT 1.0 runs on "
        "libxslt (lxml), 2.0 and 3.0 on Saxon HE (saxonche).",
        anchor="W: XSLTMediatorFactory",
        build=_xslt,
        children=(
            Child(PROPERTY, repeatable=True),
            Child(FEATURE, repeatable=True),
            Child(ATTRIBUTE, repeatable=True),
            Child(RESOURCE, repeatable=True),
        ),
        attributes=(
            Attribute(
                "key",
                Kind.KEY,
                "The local entry or registry key of the stylesheet (static or {dynamic}).",
                required=True,
                refers_to="localEntry",
                missing="The 'key' attribute is required for the XSLT mediator",
            ),
            Attribute("source", Kind.EXPRESSION, "The node to transform (default: the first element of the Body)."),
            Attribute("target", Kind.NAME, "Store the result in this property instead of replacing the source."),
            Attribute(
                "useCache",
                Kind.BOOLEAN,
                "Accepted: a stylesheet is always compiled once per deployment.",
                default=True,
            ),
        ),
    )
)


def _fast_xslt(node: Node) -> FastXslt:
    precompile(node, "fastxslt", "key", ())
    return FastXslt(node["key"], None, None, (), (), node.location)


mediator(
    Element(
        "fastXSLT",
        "carbon-mediation's streaming XSLT: the first element of the Body through a stylesheet run on Saxon "
        "(whatever its version), with no source, target or parameters.",
        anchor="carbon-mediation: FastXSLTMediatorFactory",
        build=_fast_xslt,
        attributes=(
            Attribute(
                "key",
                Kind.KEY,
                "The local entry or registry key of the stylesheet (static or {dynamic}).",
                required=True,
                refers_to="localEntry",
                missing="The 'key' attribute is required for the FastXSLT mediator",
            ),
        ),
    )
)
