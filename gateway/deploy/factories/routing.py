"""`rewrite` (W: URLRewriteMediatorFactory) and `conditionalRouter` (W: ConditionalRouterMediatorFactory), with
Synapse's condition language (W: commons/evaluators/config: AndFactory, OrFactory, NotFactory, EqualFactory,
MatchFactory, TextProcessingEvaluatorFactory) parsed and compiled here, once."""

from __future__ import annotations

from lxml import etree

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node, NotYet
from gateway.deploy.endpoints import ENDPOINT
from gateway.deploy.java_regex import compile_java_regex
from gateway.deploy.registry import mediator
from gateway.errors import ExpressionError
from gateway.expressions import compile_expression
from gateway.mediators.evaluators import And, Equal, Evaluator, Match, Not, Or, Source
from gateway.mediators.routing import (
    ACTIONS,
    FRAGMENTS,
    ConditionalRoute,
    ConditionalRouter,
    Rewrite,
    RewriteAction,
    RewriteRule,
    RouteTarget,
)
from gateway.runtime.endpoints import IndirectEndpoint
from gateway.xmlutil import children, config_error, local_name, prefixed_namespaces

_URL_FRAGMENTS = ("protocol", "user", "host", "port", "path", "query", "ref")


# -- conditions ---------------------------------------------------------------------------------------
def parse_condition(element: etree._Element) -> Evaluator:
    """One evaluator element (in any namespace, as MI finds them by local name)."""
    name = local_name(element)
    if name in ("and", "or"):
        parts = tuple(parse_condition(child) for child in children(element))
        if len(parts) < 2:
            raise config_error(element, f"Two or more expressions should be provided under {name.capitalize()}")
        return And(parts) if name == "and" else Or(parts)
    if name == "not":
        inner = children(element)
        if len(inner) != 1:
            raise config_error(element, "<not> takes exactly one condition")
        return Not(parse_condition(inner[0]))
    if name in ("equal", "match"):
        source = _source(element)
        if name == "equal":
            value = element.get("value")
            if value is None:
                raise config_error(element, "value attribute is required")
            return Equal(source, value)
        regex = element.get("regex")
        if regex is None:
            raise config_error(element, "regex attribute is required")
        return Match(source, compile_java_regex(element, "regex", regex))
    raise config_error(
        element, f"Invalid configuration element: {name}", "use and, or, not, equal or match (type= url, header, …)"
    )


def _source(element: etree._Element) -> Source:
    """W: TextProcessingEvaluatorFactory.getSourceTextRetriever."""
    kind, source = element.get("type"), element.get("source")
    if kind is None or kind == "header":
        if source is None:
            raise config_error(element, "source attribute is required", "name the transport header")
        return Source("header", source)
    if kind in ("param", "property"):
        if source is None:
            raise config_error(element, "source attribute is required")
        return Source(kind, source)
    if kind == "url":
        if source is not None and source not in _URL_FRAGMENTS:
            raise config_error(element, f"unknown URL fragment '{source}'", f"use one of: {', '.join(_URL_FRAGMENTS)}")
        return Source("url", source)
    if kind == "soap":
        if source is None:
            raise config_error(element, "source attribute is required", "an XPath on the SOAP envelope")
        try:
            return Source("soap", source, compile_expression(source, prefixed_namespaces(element)))
        except ExpressionError as exc:
            raise config_error(element, f"invalid XPath '{source}'", str(exc)) from None
    raise config_error(element, f"Unknown equal evaluator type: {kind}", "use url, header, param, property or soap")


def _condition(node: Node | None) -> Evaluator | None:
    if node is None:
        return None
    inner = [child for child in node.others]
    if not inner:
        return None  # W: an empty <condition> is no condition
    return parse_condition(inner[0])


# -- rewrite --------------------------------------------------------------------------------------------
def _action(node: Node) -> RewriteAction:
    kind, fragment = node["type"], node["fragment"]
    if node["value"] is None and node["xpath"] is None and kind != "remove":
        raise node.error("value or xpath attribute is required on the action element")
    if kind == "replace" and node["regex"] is None:
        raise node.error("regex attribute is required for replace action")
    if kind == "remove-query-param" and fragment != "query":
        raise node.error("Action remove-query-param is only allowed for query fragment")
    resolve = (node.raw("resolve") or "").strip().lower() == "true"  # W: Boolean.parseBoolean
    return RewriteAction(fragment, kind, node["value"], node["xpath"], node["regex"], resolve)


def _rule(node: Node) -> RewriteRule:
    actions = tuple(action.build() for action in node.all("action"))
    return RewriteRule(_condition(node.one("condition")), actions)


def _rewrite(node: Node) -> Rewrite:
    rules = tuple(rule.build() for rule in node.all("rewriterule"))
    return Rewrite(rules, node["inProperty"], node["outProperty"], node.location)


CONDITION = Element(
    "condition",
    "One condition: and, or, not (holding conditions), equal (value, ignoring case) or match (a regex on the "
    "whole text), with type= url (source: a URL fragment, or the whole URL), header, param, property or soap "
    "(an XPath).",
    body=Body.ANY,
    common=False,
)

mediator(
    Element(
        "rewrite",
        "Rewrite a URL (the To address, or inProperty) fragment by fragment; rules run in order, each only "
        "when its condition holds; the result becomes To (or outProperty).",
        anchor="W: URLRewriteMediatorFactory",
        build=_rewrite,
        attributes=(
            Attribute("inProperty", Kind.NAME, "A property holding the URL to rewrite (default: To)."),
            Attribute("outProperty", Kind.NAME, "A property that receives the result (default: To)."),
        ),
        children=(
            Child(
                Element(
                    "rewriterule",
                    "A rule: an optional <condition> and its actions.",
                    common=False,
                    build=_rule,
                    children=(
                        Child(CONDITION, first_wins=True),
                        Child(
                            Element(
                                "action",
                                "Change one fragment: set, append, prepend, replace (regex), remove, or "
                                "remove-query-param (fragment query).",
                                common=False,
                                build=_action,
                                attributes=(
                                    Attribute("type", Kind.CHOICE, "What to do.", choices=ACTIONS, default="set"),
                                    Attribute(
                                        "fragment",
                                        Kind.CHOICE,
                                        "Which part of the URL (full: the whole URL).",
                                        choices=FRAGMENTS,
                                        default="full",
                                        label="URL fragment name",
                                    ),
                                    Attribute("value", Kind.TEXT, "The new text."),
                                    Attribute("xpath", Kind.EXPRESSION, "An expression giving the new text."),
                                    Attribute("regex", Kind.REGEX, "replace: what to replace (every match)."),
                                    Attribute(
                                        "resolve", Kind.TEXT, 'true: {name} in the result is the property "name".'
                                    ),
                                ),
                            ),
                            repeatable=True,
                        ),
                    ),
                ),
                repeatable=True,
            ),
        ),
    )
)


# -- conditionalRouter --------------------------------------------------------------------------------------
def _target(node: Node | None) -> RouteTarget:
    if node is None:
        return RouteTarget(None, None, None)
    inline = node.one("sequence")
    endpoint = node.one("endpoint")
    sequence_key = node["sequence"].static_text if node.has("sequence") else None
    endpoint_key = node["endpoint"] if node.has("endpoint") else None
    return RouteTarget(
        inline.mediators() if inline is not None else None,
        sequence_key,
        endpoint.build()
        if endpoint is not None
        else IndirectEndpoint(node.location, endpoint_key)
        if endpoint_key is not None
        else None,
    )


def _route(node: Node) -> ConditionalRoute:
    condition = _condition(node.one("condition"))
    if condition is None:
        raise node.error("Couldn't find the condition of the conditional router")
    return ConditionalRoute(condition, _target(node.one("target")), node["breakRoute"])


def _conditional_router(node: Node) -> ConditionalRouter:
    routes = tuple(route.build() for route in node.all("conditionalRoute"))
    return ConditionalRouter(routes, node["continueAfter"], node.location)


mediator(
    Element(
        "conditionalRouter",
        "Route by conditions on the URL, headers, parameters or properties: each route whose condition holds "
        "runs its target (stopping after it with breakRoute, the default); the flow continues after the router "
        "only with continueAfter.",
        anchor="W: ConditionalRouterMediatorFactory",
        build=_conditional_router,
        attributes=(
            Attribute("continueAfter", Kind.BOOLEAN, "Carry on with the next mediator afterwards.", default=False),
        ),
        children=(
            Child(
                Element(
                    "conditionalRoute",
                    "A condition and the target it leads to.",
                    common=False,
                    build=_route,
                    attributes=(
                        Attribute("breakRoute", Kind.BOOLEAN, "Stop at this route when it matches.", default=True),
                        Attribute(
                            "asynchronous",
                            Kind.BOOLEAN,
                            "Run the target on a copy, in the background.",
                            unsupported=NotYet(
                                "asynchronous conditional routes are not supported yet",
                                "remove asynchronous (the target then runs in line)",
                            ),
                        ),
                    ),
                    children=(
                        Child(
                            CONDITION, required=True, missing="Couldn't find the condition of the conditional router"
                        ),
                        Child(
                            Element(
                                "target",
                                "A sequence (key or inline) or an endpoint (key or inline).",
                                common=False,
                                attributes=(
                                    Attribute("sequence", Kind.KEY, "A sequence to run.", refers_to="sequence"),
                                    Attribute("endpoint", Kind.KEY, "An endpoint to send to.", refers_to="endpoint"),
                                ),
                                children=(
                                    Child(Element("sequence", "Inline mediators.", body=Body.MEDIATORS, common=False)),
                                    Child(ENDPOINT),
                                ),
                            )
                        ),
                    ),
                ),
                repeatable=True,
            ),
        ),
    )
)
