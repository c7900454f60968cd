"""`variable` (MI 4.4, W: config/xml/VariableMediatorFactory)."""

from __future__ import annotations

from gateway.deploy.declare import Attribute, Element, Kind, Node
from gateway.deploy.registry import mediator
from gateway.mediators.variable import TYPES, ConversionError, VariableMediator, convert_value


def _variable(node: Node) -> VariableMediator:
    name = node["name"]
    if not name:
        raise node.error("The 'name' attribute is required for the configuration of a variable mediator")
    remove = node["action"] == "remove"
    type_name = node["type"]
    value = node["value"]
    if remove:
        return VariableMediator(name, remove=True, location=node.location)
    if value is None and not node.has("expression"):
        raise node.error("'value' or 'expression' attributes is required for a variable mediator when action is SET")
    if value is not None and node.has("expression"):
        raise node.error("give either 'value' or 'expression', not both")  # W: value wins silently
    if value is not None:
        try:
            constant = convert_value(value, type_name)
        except ConversionError as exc:
            raise node.error(
                f"the value cannot be converted into the type {type_name}: {exc}",
                "give a value of that type or change 'type'",
            ) from None
        return VariableMediator(name, constant=constant, type_name=type_name, location=node.location)
    return VariableMediator(name, expression=node["expression"], type_name=type_name, location=node.location)


mediator(
    Element(
        "variable",
        "Set or remove a variable (MI 4.4): a value of its own scope, read with ${vars.NAME}; variables travel "
        "with the message like default-scope properties.",
        anchor="W: VariableMediatorFactory, mediators/v2/VariableMediator",
        build=_variable,
        attributes=(
            Attribute(
                "name",
                Kind.TEXT,
                "The variable's name.",
                required=True,
                missing="The 'name' attribute is required for the configuration of a variable mediator",
            ),
            Attribute("action", Kind.CHOICE, "set or remove.", choices=("set", "remove"), default="set"),
            Attribute("type", Kind.CHOICE, "The value's type.", choices=TYPES),
            Attribute("value", Kind.TEXT, "A literal value, converted to `type` when the artifact deploys."),
            Attribute(
                "expression",
                Kind.EXPRESSION,
                "${…} Synapse Expression, XPath or json-eval(…); without a type the value keeps the type it has.",
            ),
        ),
    )
)
