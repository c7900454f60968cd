"""`call-template` (W: InvokeMediatorFactory; the template itself is an artifact: gateway.deploy.artifacts)."""

from __future__ import annotations

from gateway.deploy.declare import Attribute, Child, Element, Kind, Node
from gateway.deploy.registry import mediator
from gateway.expressions import Value
from gateway.mediators.base import Mediator
from gateway.mediators.template import CallTemplate

WITH_PARAM = Element(
    "with-param",
    "A value for one parameter of the template: a literal, {expression} (evaluated now), {json-eval(…)} "
    "or {{expression}} (handed over unevaluated: the template evaluates it when it reads the parameter).",
    common=False,
    attributes=(
        Attribute(
            "name",
            Kind.NAME,
            "The template parameter.",
            required=True,
            missing="Call template mediator parameters should have non empty name.",
        ),
        Attribute(
            "value",
            Kind.VALUE,
            "The value.",
            required=True,
            missing="The 'value' attribute is required for the element 'with-param'",
        ),
    ),
)


def _call_template(node: Node) -> Mediator:
    target: str = node["target"]
    arguments: dict[str, Value] = {}
    for param in node.all("with-param"):
        name = param["name"]
        if name in arguments:
            raise param.error(
                f"with-param '{name}' is given more than once", "MI keeps only the last one; give it once"
            )
        arguments[name] = param["value"]
    on_error = node["onError"]
    connectors = node.fctx.connectors
    prefix, dot, _ = target.partition(".")
    if dot and connectors is not None and prefix in connectors:
        # A connector operation called as a template (W: connector operations are templates named prefix.op).
        return connectors.build_call(target, arguments, node.element, node.fctx, on_error)
    node.fctx.refer("template", target, node.element)
    node.fctx.note_arguments(target, tuple(arguments), node.element)
    return CallTemplate(target, arguments, on_error.static_text if on_error else None, node.location)


mediator(
    Element(
        "call-template",
        'Run a sequence template with parameter values (also a connector operation: target="prefix.operation").',
        anchor="W: InvokeMediatorFactory",
        build=_call_template,
        children=(Child(WITH_PARAM, repeatable=True),),
        attributes=(
            Attribute(
                "target",
                Kind.NAME,
                "The template (looked up per message, so it may be deployed in any order; also gov:/… keys).",
                required=True,
                missing="EIP Invoke mediator should have a target template specified.",
            ),
            Attribute(
                "onError",
                Kind.KEY,
                "A sequence that handles errors raised while the template runs.",
                refers_to="sequence",
                role="onError",
            ),
        ),
    )
)
