"""MI's schema-driven JSON transform (W: commons/json/jsonprocessor: JsonProcessor and its validators), used by
`jsontransform`: the payload is walked with the schema, each value is converted to the type the schema declares
(`"3"` becomes `3` for an integer, a lone object becomes a one-item array for an array, …) and checked against
the schema's constraints; the first violation is an error with MI's message.

Values are read as Gson reads them (`getAsString`: a string, a number's text, `true`/`false`), so a number
becomes a string where the schema says string, and a string of digits a number where it says number. As in MI,
a `number` keeps its decimals and one without a decimal point gets as many zeros as it has digits
(`BigDecimal.setScale`): `34` becomes `34.00`.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.message.json_codec import JsonNumber, dumps_text

NUMERIC = ("number", "integer")
BOOLEAN = ("boolean",)
NOMINAL = ("String", "string")
OBJECT = ("object",)
ARRAY = ("array",)
NULL = ("null",)
_JAVA_DOUBLE = re.compile(r"[+-]?(NaN|Infinity|((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)[fFdD]?)")


class JsonTransformError(Exception):
    """MI's ValidatorException / ParserException: the message is MI's."""


def text(value: Any) -> str:
    return dumps_text(value)


def as_string(value: Any) -> str:
    """Gson's JsonElement.getAsString()."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list) and len(value) == 1:
        return as_string(value[0])
    raise JsonTransformError(f"Expected a primitive value but found : {text(value)}")


def _unquote(value: str) -> str:
    """JsonProcessorUtils.replaceEnclosingQuotes."""
    return value[1:-1] if len(value) >= 2 and value[0] == '"' and value[-1] == '"' else value


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    return kind if isinstance(kind, str) else text(kind)


def _double(value: Any, what: str = "value") -> float:
    try:
        return float(_unquote(as_string(value)).strip().rstrip("fFdD"))
    except ValueError:
        raise JsonTransformError(f"Cannot convert the {what} : {value} to double") from None


def _int(value: Any) -> int:
    try:
        return int(_unquote(as_string(value)).strip())
    except ValueError:
        raise JsonTransformError(f"Cannot convert the value : {value} to int") from None


def _schema_text(schema: dict[str, Any]) -> str:
    return text(schema)


def process(document: Any, schema: Any) -> Any:
    """W: JsonProcessor.parseJson: the converted document, or JsonTransformError."""
    if schema is True or (isinstance(schema, dict) and not schema):
        return document
    if schema is False:
        raise JsonTransformError("JSON schema is false, so all validations will fail")
    if not isinstance(schema, dict):
        raise JsonTransformError("JSON schema should be an object or boolean")
    if "type" not in schema:
        raise JsonTransformError("JSON schema should contain a type declaration")
    kind = _type_of(schema)
    if kind in OBJECT:
        if not isinstance(document, dict):
            raise JsonTransformError(f"Expected a JSON as input but found : {text(document)}")
        return validate_object(document, schema)
    return _by_type(kind, schema, document)


def _by_type(kind: str, schema: dict[str, Any], value: Any) -> Any:
    if kind in BOOLEAN:
        return validate_boolean(schema, as_string(value))
    if kind in NOMINAL:
        return validate_nominal(schema, as_string(value))
    if kind in NUMERIC:
        return validate_numeric(schema, as_string(value))
    if kind in ARRAY:
        return validate_array(value, schema)
    if kind in OBJECT:
        if not isinstance(value, dict):
            raise JsonTransformError(f"Expected a JSON object but found : {text(value)}")
        return validate_object(value, schema)
    if kind in NULL:
        validate_null(schema, "null" if value is None else text(value))
        return None
    return value  # W: an unknown type leaves the value as it is


def validate_boolean(schema: dict[str, Any], value: str) -> bool:
    unquoted = _unquote(value)
    if unquoted not in ("true", "false"):
        raise JsonTransformError(f"Cannot convert the sting : {unquoted} to boolean")
    parsed = unquoted == "true"
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and parsed not in [item for item in enum if isinstance(item, bool)]:
        raise JsonTransformError(f'input "{value}" not contains any element from the enum  : {text(enum)}')
    if "const" in schema and parsed != (schema["const"] is True or schema["const"] == "true"):
        raise JsonTransformError(f'String "{value}" is not equal to the const value')
    return parsed


def validate_nominal(schema: dict[str, Any], value: str) -> str:
    shown = _schema_text(schema)
    if "maxLength" in schema and len(value) > _int(schema["maxLength"]):
        raise JsonTransformError(
            f'String "{value}" violated the max length constraint. Input string : {value} violated the '
            f"maxLength constraint defined in : {shown}"
        )
    if "minLength" in schema and len(value) < _int(schema["minLength"]):
        raise JsonTransformError(
            f'String "{value}" violated the min length constraint. Input string : {value} violated the '
            f"minLength constraint defined in : {shown}"
        )
    pattern = _unquote(as_string(schema["pattern"])) if "pattern" in schema else ""
    if pattern and re.fullmatch(pattern, value) is None:
        raise JsonTransformError(
            f'String "{value}" violated the regex constraint {pattern}. Input string : {value} not matching with '
            f"any regex defined in : {shown}"
        )
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and value not in [item for item in enum if isinstance(item, str)]:
        raise JsonTransformError(
            f'String "{value}" not contains any element from the enum. Input string : {value} not contains any '
            f"value defined in the enum of : {shown}"
        )
    if "const" in schema and value != as_string(schema["const"]):
        raise JsonTransformError(
            f'String "{value}" is not equal to the const value. Input string : {value} not contains the const '
            f"value defined in : {shown}"
        )
    return value


def validate_numeric(schema: dict[str, Any], value: str) -> Any:
    value = _unquote(value)
    shown = _schema_text(schema)
    if not _JAVA_DOUBLE.fullmatch(value.strip()):
        raise JsonTransformError(
            f'"{value}" is not a number. A number expected in the schema {shown} but received {value}'
        )
    kind = schema.get("type", "")
    kind = "".join(str(item) for item in kind) if isinstance(kind, list) else str(kind)
    number = _double(value)
    if "multipleOf" in schema:
        multiple = _double(schema["multipleOf"], "multipleOf")
        if math.fmod(number, multiple) != 0:
            raise JsonTransformError(
                f"Number {value} is not a multiple of {multiple}. multipleOf constraint in {shown} is violated by "
                f"the input {value}"
            )
    limits: tuple[tuple[str, str], ...] = (
        ("minimum", "less than the minimum allowed value. minimumValue"),
        ("maximum", "greater than the maximum allowed value. maximumValue"),
        ("exclusiveMinimum", "less than the minimum allowed value. ExclusiveMinimum"),
        ("exclusiveMaximum", "greater than the maximum allowed value. ExclusiveMaximum"),
    )
    for key, wording in limits:
        if key not in schema:
            continue
        limit = _double(schema[key], key)
        fails = {
            "minimum": number < limit,
            "maximum": number > limit,
            "exclusiveMinimum": number <= limit,
            "exclusiveMaximum": number >= limit,
        }[key]
        if fails:
            raise JsonTransformError(
                f"Number {value} is {wording} constraint in {shown} is violated by the input : {value}"
            )
    enum = schema.get("enum")
    numbers = [
        float(item) for item in enum or () if isinstance(item, int | float | Decimal) and not isinstance(item, bool)
    ]
    if isinstance(enum, list) and enum and number not in numbers:
        raise JsonTransformError(
            f'Number "{value}" not contains any element from the enum. Input {value} not contains any value from '
            f"the enum in {shown}"
        )
    if "const" in schema and number != _double(schema["const"], "const"):
        raise JsonTransformError(
            f'Number "{value}" is not equal to the const value input {value} not contains the const defined in {shown}'
        )
    if "integer" in kind:
        try:
            return int(value.strip())
        except ValueError:
            raise JsonTransformError(f'NumberFormatException: For input string: "{value.strip()}"') from None
    scale = len(value) - (value.index(".") + 1 if "." in value else 0)  # W: BigDecimal(value).setScale(scale)
    try:
        decimal = Decimal(value.strip().rstrip("fFdD")).quantize(Decimal(1).scaleb(-scale))
    except InvalidOperation:
        raise JsonTransformError(f'"{value}" is not a number') from None
    return JsonNumber(format(decimal, "f"))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def validate_null(schema: dict[str, Any], value: str | None) -> None:
    if value is not None and value not in ("null", '"null"'):
        raise JsonTransformError(
            f"Expected a null but found a value. Received not null input{value} to be validated with : "
            f"{_schema_text(schema)}"
        )


def validate_array(value: Any, schema: dict[str, Any]) -> list[Any]:
    items = list(value) if isinstance(value, list) else [value]  # W: singleElementArrayCorrection
    unique = "uniqueItems" in schema and _unquote(as_string(schema["uniqueItems"])) == "true"
    minimum = _int(schema["minItems"]) if "minItems" in schema else -1
    maximum = _int(schema["maxItems"]) if "maxItems" in schema else -1
    if "minItems" in schema and minimum < 0:
        raise JsonTransformError("Invalid minItems constraint in the schema")
    if "maxItems" in schema and maximum < 0:
        raise JsonTransformError("Invalid maxItems constraint in the schema")
    additional = schema.get("additionalItems")
    not_allowed = additional is False
    additional_schema = {"type": "array", "items": additional} if isinstance(additional, dict) and additional else None
    message = "Error occurs while validating the structure of array : "
    if minimum != -1 and len(items) < minimum:
        raise JsonTransformError(f"{message}{text(items)}. Array violated the minItems constraint")
    if maximum != -1 and len(items) > maximum:
        raise JsonTransformError(f"{message}{text(items)}. Array violated the maxItems constraint")
    if unique and len({text(item) for item in items}) != len(items):
        raise JsonTransformError(f"{message}{text(items)}. Array violated the uniqueItems constraint")
    if "items" not in schema:
        return items
    item_schema = schema["items"]
    if isinstance(item_schema, list):
        if not_allowed and len(items) > len(item_schema):
            raise JsonTransformError(f"Array : {text(items)} has more items than allowed in the schema")
        for index, one in enumerate(item_schema[: len(items)]):
            if not isinstance(one, dict) or not one:
                continue
            if "type" not in one:
                raise JsonTransformError("Array items should contain a type declaration")
            items[index] = _by_type(_type_of(one), one, items[index])
        if additional_schema is not None and len(items) > len(item_schema):
            items[len(item_schema) :] = validate_array(items[len(item_schema) :], additional_schema)
        return items
    if isinstance(item_schema, dict):
        if "type" not in item_schema:
            raise JsonTransformError(f"Schema for array must have a type declaration{_schema_text(item_schema)}")
        kind = _type_of(item_schema)
        return [_by_type(kind, item_schema, item) for item in items]
    raise JsonTransformError("Schema for Array is invalid. Should contain either JsonArray or JsonObject")


def validate_object(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    result = dict(document)
    for name in schema.get("required") or ():
        if name not in result:
            raise JsonTransformError(
                f"Input object : {text(document)} does not contains all the elements required in the schema : "
                f"{_schema_text(schema)}"
            )
    count = len(result)
    if "minProperties" in schema and count < _int(schema["minProperties"]):
        raise JsonTransformError(
            "Object violates the minimum number of properties constraint. Input object has less number of "
            f"properties than allowed minimum {_int(schema['minProperties'])}"
        )
    if "maxProperties" in schema and count > _int(schema["maxProperties"]):
        raise JsonTransformError(
            "Object violates the maximum number of properties constraint. Input object has higher number of "
            f"properties than allowed maximum {_int(schema['maxProperties'])}"
        )
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else None
    schema_properties = [name for name in (properties or {}) if name in result]
    input_properties: list[str] = []
    if properties is not None:
        for name in list(result):
            input_properties.append(name)
            property_schema = properties.get(name)
            if not isinstance(property_schema, dict) or "type" not in property_schema:
                continue
            kind = property_schema["type"]
            if isinstance(kind, list):
                result[name] = _multi_type(result[name], [str(item) for item in kind], property_schema)
            else:
                result[name] = _by_type(str(kind), property_schema, result[name])
    pattern_properties: list[str] = []
    patterns = schema.get("patternProperties")
    if isinstance(patterns, dict):
        for pattern, pattern_schema in patterns.items():
            if not isinstance(pattern_schema, dict) or "type" not in pattern_schema:
                raise JsonTransformError(f"Schema for object must have a type declaration : {text(pattern_schema)}")
            for name in [name for name in result if re.search(pattern, name)]:
                if name not in pattern_properties:
                    pattern_properties.append(name)
                result[name] = _by_type(_type_of(pattern_schema), pattern_schema, result.pop(name))  # moved last
    if "additionalProperties" in schema:
        extra = [name for name in input_properties if name not in schema_properties and name not in pattern_properties]
        allowed = schema["additionalProperties"]
        if isinstance(allowed, bool | str) and not isinstance(allowed, dict):
            if _unquote(as_string(allowed)) == "false" and extra:
                raise JsonTransformError(
                    f"Input object {text(document)} has additional properties than schema {_schema_text(schema)} "
                    "and additional properties are not allowed"
                )
        elif isinstance(allowed, dict) and allowed and extra:
            if "type" not in allowed:
                raise JsonTransformError(f"Schema for array must have a type declaration : {text(allowed)}")
            for name in extra:
                result[name] = _by_type(_type_of(allowed), allowed, result[name])
    return result


def _multi_type(value: Any, types: list[str], schema: dict[str, Any]) -> Any:
    """W: ObjectValidator.multiTypeCheck*: the first declared type that fits the value's kind."""
    shown = _schema_text(schema)
    if isinstance(value, dict):
        if any(kind in OBJECT for kind in types):
            return validate_object(value, schema)
        if any(kind in ARRAY for kind in types):
            return validate_array([value], schema)
        raise JsonTransformError(f"JSON object found {text(value)} without matching schema {shown}")
    if isinstance(value, list):
        if any(kind in ARRAY for kind in types):
            return validate_array(value, schema)
        raise JsonTransformError(f"JSON array found {text(value)} without matching schema {shown}")
    if value is None:
        if any(kind in NULL for kind in types):
            return None
        raise JsonTransformError(f"JSON null found null without matching schema {shown}")
    string = as_string(value)
    order: tuple[tuple[str, ...], ...]
    if string in ("true", "false"):
        order, label = (BOOLEAN, NOMINAL), "Boolean"
    elif _JAVA_DOUBLE.fullmatch(string.strip()):
        order, label = (NUMERIC, NOMINAL), "Number"
    else:
        order, label = (NOMINAL, BOOLEAN, NUMERIC), ""
    for group in order:
        if any(kind in group for kind in types):
            return _by_type(group[0], schema, value)
    if label:
        raise JsonTransformError(f"{label} found {text(value)} without matching schema {shown}")
    raise JsonTransformError(f"{text(value)} not matching with the schema {shown}")
