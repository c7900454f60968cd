"""`property` (W: mediators/builtin/PropertyMediator; docs/synapse-semantics.md §5.1): set or remove a value in one of
the message scopes, optionally typed, optionally cut down by a full-match regex group."""

from __future__ import annotations

import copy
import logging
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.errors import MediationError
from gateway.expressions import JsonValue, to_synapse_string
from gateway.expressions.json_fastpath import FALLBACK, descendant_string
from gateway.expressions.synapse_expr import parse_java_int
from gateway.mediators.base import Mediator, needs_body
from gateway.message import json_codec, kinds, scopes
from gateway.message.payload import parse_xml

if TYPE_CHECKING:
    from lxml import etree
    from regex import Pattern

    from gateway.errors import SourceLocation
    from gateway.expressions import Expression, Value
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.mediator.property")

TYPES = ("STRING", "INTEGER", "LONG", "SHORT", "FLOAT", "DOUBLE", "BOOLEAN", "OM", "JSON")
SCOPES = ("default", "synapse", "transport", "axis2", "axis2-client", "operation", "registry")


class ConversionError(ValueError):
    """The value cannot be converted into the declared type."""


def conversion_message(type_name: str) -> str:
    # W: PropertyMediator.convertValue's message, word for word (users search for it)
    return (
        f"Unknown type : {type_name} for the property mediator or the property value cannot be converted "
        "into the specified type."
    )


# -- conversions (W: PropertyMediator.convertValue) -------------------------------------------------
# Double.parseDouble: trimmed; NaN, Infinity, decimal with exponent and an optional f/d suffix
_JAVA_DOUBLE = re.compile(r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?)")
_JAVA_TRIM = "".join(chr(i) for i in range(33))
_INT_BITS = {"SHORT": 16, "INTEGER": 32, "LONG": 64}
_FLOAT_MAX = 3.4028234663852886e38


def _integer(type_name: str, truncate: bool) -> Callable[[str | None], int]:
    bits = _INT_BITS[type_name]

    def convert(text: str | None) -> int:
        if text is None:
            raise ConversionError("null")
        if truncate and "." in text:
            text = text[: text.index(".")]  # count() gives "2.0": MI keeps the integral part
        number = parse_java_int(text, bits)
        if number is None:
            raise ConversionError(text)
        return number

    return convert


def _floating(text: str | None) -> float:
    if text is None:
        raise ConversionError("null")
    trimmed = text.strip(_JAVA_TRIM)
    if not _JAVA_DOUBLE.fullmatch(trimmed):
        raise ConversionError(text)
    return float(trimmed[:-1] if trimmed[-1] in "fFdD" else trimmed)


def _float32(text: str | None) -> float:
    value = _floating(text)
    if abs(value) > _FLOAT_MAX and not math.isinf(value):
        return math.copysign(math.inf, value)  # Float.parseFloat overflows to Infinity
    return value


def _boolean(text: str | None) -> bool:
    # Axis2 JavaUtils.isTrueExplicitly: true/yes in any case, or "1"; anything else is false
    return text is not None and (text.lower() in ("true", "yes") or text == "1")


def _om(text: str | None) -> etree._Element | None:
    if text is None:
        return None
    try:
        return parse_xml(text.encode("utf-8"))
    except MediationError as exc:
        raise ConversionError(exc.message) from None


def _json(text: str | None) -> JsonValue | None:
    if text is None:
        return None
    if not text.strip():
        return JsonValue(None)  # Gson: an empty document is JsonNull
    try:
        return JsonValue(json_codec.loads(text))
    except ValueError:
        pass
    try:  # W: a bare word is retried as a quoted string (google/gson#1286)
        return JsonValue(json_codec.loads(f'"{text}"'))
    except ValueError:
        log.error("Malformed JSON payload : %s", text)  # W: logged, and the property is left unset
        return None


def _string(text: str | None) -> str | None:
    return text


def converter(type_name: str | None, *, from_expression: bool) -> Callable[[str | None], Any]:
    """The conversion for a declared type; raises ConversionError when the text does not fit."""
    if type_name in (None, "STRING"):
        return _string
    if type_name in _INT_BITS:
        return _integer(type_name, truncate=from_expression and type_name != "LONG")
    if type_name == "FLOAT":
        return _float32
    if type_name == "DOUBLE":
        return _floating
    if type_name == "BOOLEAN":
        return _boolean
    if type_name == "OM":
        return _om
    if type_name == "JSON":
        return _json
    raise ValueError(f"unknown property type {type_name}")


UNSET = object()


class PropertyMediator(Mediator):
    """Exactly one of `constant` (already converted), `literal` (a value that failed conversion at
    deploy time: it faults per message), `template` (an XML child, copied per message) or `expression`
    (converted per message) provides the value of a set."""

    __slots__ = (
        "name",
        "dynamic_name",
        "scope",
        "remove",
        "constant",
        "literal",
        "template",
        "expression",
        "convert",
        "type_name",
        "pattern",
        "group",
        "_write",
        "_remove",
        "_json_fast",
    )
    tag = "property"

    def __init__(
        self,
        *,
        name: str,
        dynamic_name: Value | None,
        scope: str,
        remove: bool,
        constant: Any = UNSET,
        template: etree._Element | None = None,
        expression: Expression | None = None,
        type_name: str | None = None,
        pattern: Pattern[str] | None = None,
        group: int = 0,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.name = name
        self.dynamic_name = dynamic_name
        self.scope = str(scopes.scope_of(scope))  # "synapse" is "default"
        # the scope's rules, with the property mediator's special names (messageType, TRANSPORT_HEADERS)
        self._write = scopes.writer(self.scope, special_names=True)
        self._remove = scopes.remover(self.scope, special_names=True)
        self.remove = remove
        self.constant = constant
        self.literal: str | None = None
        self.template = template
        self.expression = expression
        self.type_name = type_name
        self.convert = converter(type_name, from_expression=True)
        self.pattern = pattern
        self.group = group
        self._json_fast: tuple[str, bool] | None = None
        self.finish()

    def finish(self) -> PropertyMediator:
        """Once the value source is set (the factory sets it after construction): a text property from
        `//name/text()` or `//name` is answered straight from an untouched JSON payload's descendant index (the
        answer XPathExpression.string_value gives, with fewer steps per message)."""
        plain = (
            not self.remove
            and self.dynamic_name is None
            and self.constant is UNSET
            and self.template is None
            and self.literal is None
            and self.pattern is None
            and self.type_name in (None, "STRING")
        )
        self._json_fast = getattr(self.expression, "json_path", None) if plain and self.name else None
        return self

    @property
    def reads_body(self) -> bool:
        return needs_body(None if self.remove else self.expression, self.dynamic_name)

    def matched(self, text: str) -> str | None:
        """W: getMatchedValue — a full match picks the group; no match or no such group gives ""."""
        assert self.pattern is not None
        found = self.pattern.fullmatch(text)
        if found is None or self.group > (self.pattern.groups or 0):
            return ""
        value: str | None = found.group(self.group)  # None for a group that did not take part (Java: null)
        return value

    def _value(self, ctx: MessageContext) -> Any:
        if self.constant is not UNSET:
            value = self.constant
            return copy.deepcopy(value) if isinstance(value, JsonValue) else value
        if self.template is not None:
            return copy.deepcopy(self.template)  # W: cloned so messages never share one element
        if self.literal is not None:
            text: str | None = self.literal
            convert = converter(self.type_name, from_expression=False)
        else:
            assert self.expression is not None
            text = self.expression.string_value(ctx)
            convert = self.convert
        try:
            value = convert(text)
        except ConversionError as exc:
            raise MediationError(
                conversion_message(self.type_name or "STRING"),
                detail=f"property '{self.name}' at {self.location}: {exc} is not a valid {self.type_name}",
            ) from None
        if self.pattern is not None and isinstance(value, str):
            value = self.matched(value)
        return value

    async def mediate(self, ctx: MessageContext) -> bool:
        fast = self._json_fast
        if fast is not None:
            payload = ctx.payload
            if payload.kind == kinds.JSON and not payload.modified and not payload.is_built:
                text = descendant_string(payload.json_descendants(), *fast)
                if text is not FALLBACK:
                    self._set(ctx, self.name, text)
                    return True
        name = self.name if self.dynamic_name is None else self.dynamic_name.resolve(ctx)
        if not name:
            log.warning("Evaluated value for %s is empty (property at %s)", self.name, self.location)
            return True
        if self.remove:
            self._remove(ctx, name)
        else:
            self._set(ctx, name, self._value(ctx))
        return True

    def _set(self, ctx: MessageContext, name: str, value: Any) -> None:
        services = ctx.exchange.services
        if value is not None and (
            services.masker.is_secret_name(name)
            or (self.scope == "transport" and name.lower() in services.secret_headers)
        ):
            ctx.exchange.secrets.add(to_synapse_string(value))  # masked by value in every later log line
        self._write(ctx, name, value)
