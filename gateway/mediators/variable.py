"""`variable` (MI 4.4, W: mediators/v2/VariableMediator, mediators/v2/Utils): set or remove a variable, the scope
`${vars.x}` reads. Variables travel with the message like default-scope properties (split copies, replies)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.errors import MediationError
from gateway.expressions.synapse_expr import JLong, parse_java_int
from gateway.mediators.base import Mediator
from gateway.message import json_codec
from gateway.message.payload import parse_xml

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Expression
    from gateway.message.context import MessageContext

#: W: XMLConfigConstants.VARIABLE_DATA_TYPES
TYPES = ("STRING", "BOOLEAN", "INTEGER", "LONG", "DOUBLE", "JSON", "XML")


class ConversionError(ValueError):
    pass


def _xml(text: str) -> Any:
    try:
        return parse_xml(text.encode("utf-8"))
    except MediationError as exc:
        raise ConversionError(f"the value is not XML: {exc.message}") from None


def _json(text: str) -> Any:
    try:
        return json_codec.loads(text)
    except ValueError:
        pass
    try:  # W: buildJSONElement retries a bare word as a quoted string (google/gson#1286)
        return json_codec.loads(f'"{text}"')
    except ValueError:
        raise ConversionError(f"Malformed JSON payload : {text}") from None


def convert_value(text: str, type_name: str | None) -> Any:
    """W: Utils.convertValue: a literal `value` in its declared type (raises ConversionError)."""
    if type_name is None or type_name == "STRING":
        return text
    if type_name == "BOOLEAN":
        return text.lower() in ("true", "yes") or text == "1"  # Axis2 JavaUtils.isTrueExplicitly
    if type_name in ("INTEGER", "LONG"):
        number = parse_java_int(text, 32 if type_name == "INTEGER" else 64)
        if number is None:
            raise ConversionError(f"'{text}' is not a Java {type_name.lower()}")
        return number if type_name == "INTEGER" else JLong(number)
    if type_name == "DOUBLE":
        from gateway.expressions.synapse_expr import parse_java_double

        value = parse_java_double(text)
        if value is None:
            raise ConversionError(f"'{text}' is not a number")
        return value
    if type_name == "XML":
        return _xml(text)
    return _json(text)


def _typed(result: Any, type_name: str, source: str) -> Any:
    """W: Utils.convertExpressionResult: the evaluated value must already have the declared type."""
    ok: bool
    if type_name == "BOOLEAN":
        ok = isinstance(result, bool)
    elif type_name == "DOUBLE":
        ok = isinstance(result, float) or (type(result) is int)
        result = float(result) if ok else result
    elif type_name == "INTEGER":
        ok = type(result) is int and -(2**31) <= result < 2**31
    elif type_name == "LONG":
        ok = type(result) in (int, JLong)
        result = JLong(result) if ok else result
    else:  # JSON
        ok = isinstance(result, (dict, list))
    if not ok:
        raise MediationError(f"Expression '{source}' result does not match the expected data type '{type_name}'")
    return result


class VariableMediator(Mediator):
    __slots__ = ("name", "remove", "constant", "expression", "type_name")
    tag = "variable"

    def __init__(
        self,
        name: str,
        *,
        remove: bool = False,
        constant: Any = None,
        expression: Expression | None = None,
        type_name: str | None = None,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.name = name
        self.remove = remove
        self.constant = constant
        self.expression = expression
        self.type_name = type_name

    @property
    def reads_body(self) -> bool:
        return self.expression is not None and self.expression.needs_body

    async def mediate(self, ctx: MessageContext) -> bool:
        if self.remove:
            ctx.variables.pop(self.name, None)
            return True
        value = self.constant if self.expression is None else self._evaluate(ctx)
        if value is None:
            ctx.variables.pop(self.name, None)  # W: a null value leaves no variable behind
        else:
            ctx.variables[self.name] = value
        return True

    def _evaluate(self, ctx: MessageContext) -> Any:
        expression = self.expression
        assert expression is not None
        type_name = self.type_name
        if type_name == "XML":
            text = expression.string_value(ctx)
            if not text:
                return None
            try:
                return _xml(text)
            except ConversionError as exc:
                raise MediationError(f"variable {self.name}: {exc}") from None
        if type_name == "STRING":
            return expression.string_value(ctx)
        result = expression.evaluate(ctx)
        if isinstance(result, (dict, list)) and not any(isinstance(item, etree._Element) for item in result):
            # W: the expression parses the payload text anew, so the variable never shares the message's JSON
            result = copy.deepcopy(result)
        if type_name is None:
            return result
        return _typed(result, type_name, expression.source)
