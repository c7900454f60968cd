"""`throwError` (MI 4.4, W: config/xml/ThrowErrorMediatorFactory)."""

from __future__ import annotations

from gateway.deploy.declare import Attribute, Element, Kind, Node
from gateway.deploy.registry import mediator
from gateway.expressions import compile_value
from gateway.mediators.throw_error import DEFAULT_MESSAGE, DEFAULT_TYPE, ThrowErrorMediator


def _throw_error(node: Node) -> ThrowErrorMediator:
    error_type = node["type"] or DEFAULT_TYPE
    message = node["errorMessage"]
    if message is None or (not message.is_dynamic and not message.static_text):
        message = compile_value(DEFAULT_MESSAGE)
    return ThrowErrorMediator(error_type, message, node.location)


mediator(
    Element(
        "throwError",
        "Raise an error (MI 4.4): ERROR_CODE is the type, ERROR_MESSAGE the message, and the innermost fault "
        "handler runs.",
        anchor="W: ThrowErrorMediatorFactory, mediators/v2/ThrowError",
        build=_throw_error,
        attributes=(
            Attribute("type", Kind.TEXT, f"The error type, ERROR_CODE (default {DEFAULT_TYPE})."),
            Attribute(
                "errorMessage",
                Kind.VALUE,
                f"The message: text, or a dynamic {{${{…}}}} / {{xpath}} value (default: {DEFAULT_MESSAGE}).",
            ),
        ),
    )
)
