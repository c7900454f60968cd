"""REST API declarations: api, resource, handlers (W: config/xml/rest/APIFactory, ResourceFactory,
VersionStrategyFactory). The runtime model and the dispatch are in gateway/runtime/api.py."""

from __future__ import annotations

import logging

from gateway.deploy.declare import STATISTICS, TRACE, Attribute, Body, Child, Element, Kind, Node
from gateway.errors import DeployError
from gateway.mediators.base import Mediator
from gateway.mediators.sequence import NamedSequence, ProxyFaultHandler, SequenceRef
from gateway.runtime.api import METHODS, VERSION_TYPES, ApiResource, RestApi, TemplateError, UriTemplate, UrlMapping
from gateway.xmlutil import DeployErrors

log = logging.getLogger("gateway.deploy")

_PROTOCOLS = ("http", "https")


# -- handlers -------------------------------------------------------------------------------------------
def _handlers(node: Node) -> None:
    """API handlers are Java classes (W: APIFactory.defineHandler instantiates them): none can run here, and
    skipping one silently could skip an authentication step, so each one is a problem naming its class."""
    problems = [
        handler.error(
            f"API handler '{handler['class']}' is a Java class: API handlers are not supported",
            "remove the handler and do its work in the resources' inSequence (e.g. a filter on $trp:Authorization)",
        )
        for handler in node.all("handler")
    ]
    if problems:
        raise DeployErrors(problems)


HANDLERS = Element(
    "handlers",
    "Java classes run before the resources (authentication, throttling…): not supported, each one is reported.",
    anchor="W: APIFactory.defineHandler",
    common=False,
    build=_handlers,
    children=(
        Child(
            Element(
                "handler",
                "One handler: its Java class and <property name value/> settings.",
                body=Body.ANY,
                common=False,
                attributes=(Attribute("class", Kind.NAME, "The Java class of the handler.", required=True),),
            ),
            repeatable=True,
        ),
    ),
)


# -- resource -------------------------------------------------------------------------------------------
def _sequence_part(tag: str, doc: str) -> Element:
    # W: SequenceMediatorFactory.createAnonymousSequence reads onError and the statistics/trace switches
    on_error = Attribute(
        "onError", Kind.KEY, "A sequence for errors raised while this one runs.", refers_to="sequence", role="onError"
    )
    return Element(tag, doc, body=Body.MEDIATORS, attributes=(on_error,))


def _inline(node: Node, tag: str, where: str) -> Mediator | None:
    child = node.one(tag)
    if child is None:
        return None
    body = child.mediators()
    on_error = child["onError"]
    return NamedSequence(f"{where}::{tag}", body, on_error.static_text, child.location) if on_error else body


def _methods(node: Node) -> frozenset[str]:
    """W: ResourceFactory splits `methods` on spaces; each must be one of MI's methods, in capitals."""
    given = node["methods"]
    if given is None or not given.strip():
        return frozenset()
    methods = given.split()
    wrong = [method for method in methods if method not in METHODS]
    if wrong:
        capital = [method.upper() for method in wrong if method.upper() in METHODS]
        raise node.error(
            f"Invalid or duplicate method definition for resource: '{', '.join(wrong)}'",
            f"methods are case-sensitive: {' '.join(capital)}"
            if len(capital) == len(wrong)
            else f"use some of {' '.join(METHODS)}, separated by spaces",
        )
    return frozenset(methods)


def _mapping(node: Node) -> UriTemplate | UrlMapping | None:
    mapping, template = node["url-mapping"], node["uri-template"]
    if node.has("url-pattern"):
        log.warning(
            "%s: <resource url-pattern=…> is not a Synapse attribute: Synapse and MI ignore it, so this resource "
            "takes every path of its API (use url-mapping to restrict it)",
            node.location,
        )
    if mapping:  # W: url-mapping wins over uri-template
        return UrlMapping(mapping)
    if template:
        try:
            return UriTemplate(template)
        except TemplateError as exc:
            raise node.error(
                f"Error while parsing the URI template '{template}': {exc}",
                "variables are {name}, {+name}, {#name}, {.name} or {/name}; a query part is written literally: "
                "/items?id={id}",
            ) from None
    return None


def _resource(node: Node, api_name: str) -> ApiResource:
    where = f"{api_name}::{node['uri-template'] or node['url-mapping'] or 'resource'}"
    parts = {tag: _inline(node, tag, where) for tag in ("inSequence", "outSequence", "faultSequence")}
    # W: ResourceFactory.configureSequences: a key attribute wins over an inline sequence (which is ignored)
    if node.has("inSequence"):
        parts["inSequence"] = SequenceRef(node["inSequence"], node.location)
    if node.has("outSequence"):
        parts["outSequence"] = SequenceRef(node["outSequence"], node.location)
    fault_key = None
    if node.has("faultSequence"):
        key = node["faultSequence"]
        parts["faultSequence"], fault_key = None, key.static_text or key.source.strip()
    return ApiResource(
        location=node.location,
        fault_handler=ProxyFaultHandler(parts["faultSequence"], fault_key, node.location),
        methods=_methods(node),
        mapping=_mapping(node),
        protocol=node["protocol"],
        content_type=node["content-type"],
        user_agent=node["user-agent"],
        in_sequence=parts["inSequence"],
        out_sequence=parts["outSequence"],
    )


RESOURCE = Element(
    "resource",
    "What an API does for the requests that match it: methods, a uri-template or url-mapping, and sequences.",
    anchor="W: ResourceFactory",
    common=False,
    children=(
        Child(_sequence_part("inSequence", "Mediators for each request."), first_wins=True),
        Child(_sequence_part("outSequence", "Mediators for each reply of an endpoint."), first_wins=True),
        Child(_sequence_part("faultSequence", "Mediators for errors (before the global `fault`)."), first_wins=True),
    ),
    attributes=(
        Attribute(
            "methods",
            Kind.TEXT,
            "HTTP methods, separated by spaces: GET POST PUT DELETE OPTIONS HEAD PATCH (default: every method).",
        ),
        Attribute(
            "uri-template",
            Kind.TEXT,
            "A path template after the context: /orders/{id}, /files/{+path}, /search?q={q} (uri.var.* properties).",
        ),
        Attribute("url-mapping", Kind.TEXT, "A path after the context: exact (/a/b), prefix (/a/*) or *.ext."),
        Attribute(
            "url-pattern",
            Kind.TEXT,
            "Not a Synapse attribute (Apache samples 800 and 10001 use it): ignored as MI ignores it, with a warning.",
        ),
        Attribute("protocol", Kind.CHOICE, "Only this transport (http or https).", choices=_PROTOCOLS),
        Attribute("content-type", Kind.TEXT, "Only requests with a body of exactly this Content-Type."),
        Attribute("user-agent", Kind.REGEX, "Only requests whose User-Agent matches this Java regex (full match)."),
        Attribute("inSequence", Kind.KEY, "A deployed sequence for requests (wins over inline).", refers_to="sequence"),
        Attribute("outSequence", Kind.KEY, "A deployed sequence for replies (wins over inline).", refers_to="sequence"),
        Attribute(
            "faultSequence",
            Kind.KEY,
            "A deployed sequence for errors (a missing one falls back to `fault`).",
            refers_to="sequence",
            role="resourceFault",
        ),
        STATISTICS,
        TRACE,
    ),
)


# -- api ------------------------------------------------------------------------------------------------
def _api(node: Node) -> RestApi:
    name = node["name"]
    context = node["context"]
    if not context.startswith("/"):
        raise node.error("API context must begin with '/' character", f'write context="/{context}"')
    context = context.rstrip("/")  # W: ApiUtils.trimTrailingSlashes ("/" becomes "", the root)
    version, version_type = node["version"] or "", node["version-type"] or ""
    if version and not version_type:
        raise node.error(
            "Attribute 'version-type' is required for an API definition",
            f'add version-type="context" (context="{node["context"]}/{{version}}") or version-type="url"',
        )
    if version_type == "context":  # W: ContextVersionStrategy resolves {version} in the context
        context = context.replace("{version}", version)
    resources = node.all("resource")
    if not resources:
        raise node.error("An API must contain at least one resource definition", "add a <resource>")
    built = []
    problems: list[DeployError] = []
    for resource in resources:
        try:
            built.append(_resource(resource, name))
        except DeployError as exc:
            problems.append(exc)
    if not problems:
        problems.extend(_overlaps(resources, built))
    handlers = node.one("handlers")
    if handlers is not None:
        try:
            handlers.build()
        except DeployErrors as exc:
            problems.extend(exc.errors)
    if node.has("publishSwagger"):
        log.warning(
            "%s: API '%s': publishSwagger='%s' names a registry resource, which is not read: ?swagger.json serves "
            "the document generated from the API",
            node.location,
            name,
            node["publishSwagger"],
        )
    if problems:
        raise DeployErrors(problems)
    description = node.one("description")
    return RestApi(
        api_name=name,
        context=context,
        location=node.location,
        resources=tuple(built),
        version=version,
        version_type=version_type,
        host=node["hostname"] or None,
        port=node["port"],
        protocol=node["transports"],
        description=(description.text.strip() or None) if description is not None else None,
        publish_swagger=node["publishSwagger"],
    )


def _overlaps(nodes: list[Node], resources: list[ApiResource]) -> list[DeployError]:
    """W: API.addResource: one default resource at most; no two with the same mapping and a shared method."""
    problems: list[DeployError] = []
    seen: list[tuple[Node, ApiResource]] = []
    for node, resource in zip(nodes, resources, strict=True):
        for earlier_node, earlier in seen:
            if resource.mapping is None and earlier.mapping is None:
                problems.append(
                    node.error(
                        "Only one resource can be designated as default",
                        f"the resource at line {earlier_node.location.line} has no uri-template or url-mapping either",
                    )
                )
                break
            if resource.mapping_text is not None and resource.mapping_text == earlier.mapping_text:
                if resource.methods & earlier.methods:
                    problems.append(
                        node.error(
                            "Two resources cannot have the same path mapping and methods",
                            f"line {earlier_node.location.line} maps '{resource.mapping_text}' for "
                            f"{' '.join(sorted(resource.methods & earlier.methods))} already",
                        )
                    )
                    break
        seen.append((node, resource))
    return problems


API = Element(
    "api",
    "A REST API (api/NAME.xml): requests under its context go to the first matching resource.",
    anchor="W: APIFactory",
    build=_api,
    common=False,
    children=(
        Child(RESOURCE, repeatable=True),
        Child(HANDLERS, first_wins=True),
        Child(Element("description", "Free text (the OpenAPI document's description).", body=Body.TEXT, common=False)),
    ),
    attributes=(
        Attribute(
            "name",
            Kind.NAME,
            "The API's name (with a version, MI names it NAME:vVERSION).",
            required=True,
            missing="Attribute 'name' is required for an API definition",
        ),
        Attribute(
            "context",
            Kind.NAME,
            "The path the API serves: /orders (with version-type=context it may hold {version}).",
            required=True,
            missing="Attribute 'context' is required for an API definition",
        ),
        Attribute("hostname", Kind.TEXT, "Only requests whose Host header names this host."),
        Attribute("port", Kind.INTEGER, "Only requests whose Host header names this port (default 80).", minimum=1),
        Attribute("version", Kind.TEXT, "The API's version (needs version-type)."),
        Attribute(
            "version-type",
            Kind.CHOICE,
            "context: the version replaces {version} in the context; url: the version is the first segment after "
            "the context.",
            choices=VERSION_TYPES,
        ),
        Attribute("version-param", Kind.TEXT, "Accepted for compatibility (MI keeps it, nothing reads it)."),
        Attribute(
            "transports",
            Kind.CHOICE,
            "Only this transport: http or https (default both).",
            choices=_PROTOCOLS,
            invalid_hint="MI takes one transport here, http or https; leave it out to serve both",
        ),
        Attribute(
            "publishSwagger",
            Kind.TEXT,
            "A registry resource with the API's own OpenAPI document: not read yet (the generated one is served).",
        ),
        Attribute("validateSchema", Kind.BOOLEAN, "Validate requests against publishSwagger: accepted, no effect."),
        STATISTICS,
        TRACE,
    ),
)
