"""Shared pieces of the expression layer: the Expression base class, XPath string conversion, get-property()
over the message scopes (gateway.message.scopes, docs/synapse-semantics.md §3.1) and Java date formats. The
JSON property wrapper and Synapse's string of a value (§3.2) live in gateway.message.values and are
re-exported here."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, cast

from lxml import etree

from gateway import clock
from gateway.errors import MediationError
from gateway.message import kinds, scopes, soap
from gateway.message.scopes import SYSTEM_PROPERTIES, func_value, url_value
from gateway.message.values import (
    JsonValue,
    java_double,
    json_text,
    nodeset_string,
    serialize_element,
    to_synapse_string,
)

if TYPE_CHECKING:
    from .context import ExpressionContext

__all__ = [
    "SYSTEM_PROPERTIES",
    "Expression",
    "JsonValue",
    "func_param",
    "get_property",
    "java_double",
    "json_text",
    "map_entry",
    "nodeset_string",
    "property_getter",
    "serialize_element",
    "to_synapse_string",
    "url_param",
    "xpath_string",
]

_Element = etree._Element

# --------------------------------------------------------------------------------------------
# Number formatting


def xpath_number_string(d: float) -> str:
    """XPath 1.0 string(number): integers without ".0", never an exponent."""
    if d != d:
        return "NaN"
    if math.isinf(d):
        return "Infinity" if d > 0 else "-Infinity"
    if d == int(d):
        return str(int(d))
    return format(Decimal(repr(d)), "f")


# --------------------------------------------------------------------------------------------
# String conversion (§3.2)


def xpath_string(value: Any) -> str:
    """XPath 1.0 string() of an argument as lxml hands it to an extension function."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return xpath_number_string(value)
    if isinstance(value, list):
        if not value:
            return ""
        first = value[0]
        if isinstance(first, str):
            return str(first)
        if isinstance(first, _Element):
            return cast(str, _STRING_OF(first))  # string() always yields a string (smart strings off)
        return ""
    return "" if value is None else str(value)


_STRING_OF = etree.XPath("string(.)", smart_strings=False)


# --------------------------------------------------------------------------------------------
# Expression base


class Expression(ABC):
    """A compiled expression: built once at deploy time, evaluated per message."""

    __slots__ = ("source", "needs_body")

    kind: Literal["xpath", "json", "synapse"]
    source: str
    needs_body: bool

    @abstractmethod
    def evaluate(self, ctx: ExpressionContext) -> Any:
        """The raw result: node list / str / float / bool / None (XPath); a JSON value (JSON)."""

    @abstractmethod
    def string_value(self, ctx: ExpressionContext) -> str | None:
        """The string MI would produce (§3.2 / §3.3); None only for a missing property."""

    @abstractmethod
    def boolean_value(self, ctx: ExpressionContext) -> bool:
        """Filter `xpath=` truth."""

    def nodes(self, ctx: ExpressionContext) -> list[Any]:
        """The node-set result (elements and text/attribute strings); [] when not a node-set."""
        return []

    def param_value(self, ctx: ExpressionContext) -> Any:
        """The value of this expression held unevaluated as a template parameter (a `{{…}}` with-param)."""
        return self.string_value(ctx) if self.kind == "json" else self.evaluate(ctx)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.source!r}>"


# --------------------------------------------------------------------------------------------
# Property scopes


# The scope registry's readers under the names the XPath layer has always used.
func_param = func_value
url_param = url_value


def map_entry(ctx: ExpressionContext, prefix: str, name: str) -> Any:
    # `$prefix:key` where the default-scope property `prefix` holds a map.
    holder = ctx.properties.get(prefix)
    if isinstance(holder, dict):
        value = holder.get(name)
        return None if value is None else to_synapse_string(value)
    return None


def _wsa_header(ctx: ExpressionContext, local: str, address: bool) -> str:
    env = ctx.envelope
    if env is None:
        return ""
    for part in env:
        if isinstance(part.tag, str) and part.tag.endswith("}Header"):
            for block in part:
                for ns in soap.WSA_NAMESPACES:
                    if block.tag == f"{{{ns}}}{local}":
                        if address:
                            found = block.find(f"{{{ns}}}Address")
                            return (found.text or "").strip() if found is not None else ""
                        return (block.text or "").strip()
            break
    return ""


def _fault(ctx: ExpressionContext) -> str:
    return "TRUE" if ctx.is_fault() else ""


def _message_format(ctx: ExpressionContext) -> str:
    fmt = ctx.message_format
    return fmt if fmt in (kinds.POX, kinds.GET, kinds.SOAP11) else kinds.SOAP12


def _default_scope(key: str) -> Callable[[ExpressionContext], Any]:
    read = scopes.getter(scopes.Scope.DEFAULT, key)

    def lookup(ctx: ExpressionContext) -> Any:
        value = read(ctx)
        return value if value is not None else ctx.local_entry(key)  # W: GetPropertyFunction falls back to entries

    return lookup


# Special names of one-argument get-property (W: GetPropertyFunction); missing ones give "".
_SPECIAL: dict[str, Callable[[ExpressionContext], Any]] = {
    "To": lambda ctx: ctx.to or "",
    "From": lambda ctx: _wsa_header(ctx, "From", True),
    "FaultTo": lambda ctx: _wsa_header(ctx, "FaultTo", True),
    "ReplyTo": lambda ctx: _wsa_header(ctx, "ReplyTo", True),
    "RelatesTo": lambda ctx: _wsa_header(ctx, "RelatesTo", False),
    # Axis2 keeps the SOAPAction and the WS-A action in the same Options field.
    "Action": lambda ctx: getattr(ctx, "wsa_action", None) or ctx.soap_action or "",
    "MessageID": lambda ctx: ctx.message_id or "",
    "FAULT": _fault,
    "MESSAGE_FORMAT": _message_format,
    "OperationName": lambda ctx: getattr(ctx, "operation_name", None) or "",
    "OperationNamespace": lambda ctx: getattr(ctx, "operation_namespace", None) or "",
}

#: get-property names whose value comes from the message content (they need a built body).
BODY_PROPERTIES = frozenset({"FAULT", "From", "FaultTo", "ReplyTo", "RelatesTo"})

#: The scopes get-property('scope', name) reads.
SCOPES = frozenset({"default", "axis2", "transport", "operation", "registry", "func", "system", "env", "file"})


def _scoped(scope: str, key: str) -> Callable[[ExpressionContext], Any]:
    if scope == "default":
        special = _SPECIAL.get(key)
        return special if special is not None else _default_scope(key)
    return scopes.getter(scope, key)


@lru_cache(maxsize=1024)
def property_getter(args: tuple[str, ...]) -> Callable[[ExpressionContext], Any]:
    """Resolve get-property's argument reading once: (name) | (scope, name) | (name, dateFormat)
    | (scope, name, dateFormat). Raises ValueError for a bad arity or date format."""
    if not args or len(args) > 3:
        raise ValueError(f"get-property takes 1 to 3 arguments, got {len(args)}")
    if len(args) == 1:
        scope, key, fmt = "default", args[0], None
    elif len(args) == 2:
        if args[0] in SCOPES:
            scope, key, fmt = args[0], args[1], None
        else:  # W: an unknown first argument means (name, dateFormat)
            scope, key, fmt = "default", args[0], args[1]
    else:
        scope, key, fmt = args
    if not key:
        return lambda ctx: ""
    # SYSTEM_DATE / SYSTEM_TIME win whatever the scope.
    if key == "SYSTEM_DATE":
        formatter = java_date_formatter(fmt if fmt is not None else _JAVA_DEFAULT_DATE)
        return lambda ctx: formatter(clock.now())
    if key == "SYSTEM_TIME":
        return lambda ctx: str(clock.now_ms())
    return _scoped(scope, key)


def get_property(ctx: ExpressionContext, args: Sequence[str]) -> Any:
    try:
        getter = property_getter(tuple(args))
    except ValueError as exc:
        raise MediationError(f"get-property: {exc}") from None
    return getter(ctx)


# --------------------------------------------------------------------------------------------
# Java SimpleDateFormat → Python

# new SimpleDateFormat() on a CLDR JDK (MI 4.x runs on 11+) for the en_US locale.
_JAVA_DEFAULT_DATE = "M/d/yy, h:mm a"

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _num(get: Callable[[datetime], int], width: int) -> Callable[[datetime], str]:
    return lambda dt: str(get(dt)).zfill(width)


def _offset(dt: datetime) -> int:
    off = dt.utcoffset()
    return int(off.total_seconds()) // 60 if off is not None else 0


def _rfc822_zone(dt: datetime) -> str:
    minutes = _offset(dt)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


def _iso_zone(count: int) -> Callable[[datetime], str]:
    def fmt(dt: datetime) -> str:
        minutes = _offset(dt)
        if minutes == 0:
            return "Z"
        sign = "-" if minutes < 0 else "+"
        minutes = abs(minutes)
        hh, mm = minutes // 60, minutes % 60
        if count == 1:
            return f"{sign}{hh:02d}"
        return f"{sign}{hh:02d}{':' if count >= 3 else ''}{mm:02d}"

    return fmt


def _field(letter: str, count: int) -> Callable[[datetime], str]:
    if letter == "G":
        return lambda dt: "AD"
    if letter in "yY":
        year: Callable[[datetime], int] = (lambda dt: dt.year) if letter == "y" else (lambda dt: dt.isocalendar()[0])
        if count == 2:
            return lambda dt: f"{year(dt) % 100:02d}"
        return _num(year, count)
    if letter in "ML":
        if count >= 4:
            return lambda dt: _MONTHS[dt.month - 1]
        if count == 3:
            return lambda dt: _MONTHS[dt.month - 1][:3]
        return _num(lambda dt: dt.month, count)
    if letter == "d":
        return _num(lambda dt: dt.day, count)
    if letter == "D":
        return _num(lambda dt: dt.timetuple().tm_yday, count)
    if letter == "w":
        return _num(lambda dt: dt.isocalendar()[1], count)
    if letter == "W":
        return _num(lambda dt: (dt.day + dt.replace(day=1).isoweekday() % 7 - 1) // 7 + 1, count)
    if letter == "F":
        return _num(lambda dt: (dt.day - 1) // 7 + 1, count)
    if letter == "E":
        return (lambda dt: _DAYS[dt.weekday()]) if count >= 4 else (lambda dt: _DAYS[dt.weekday()][:3])
    if letter == "u":
        return _num(lambda dt: dt.isoweekday(), count)
    if letter == "a":
        return lambda dt: "AM" if dt.hour < 12 else "PM"
    if letter == "H":
        return _num(lambda dt: dt.hour, count)
    if letter == "k":
        return _num(lambda dt: dt.hour or 24, count)
    if letter == "K":
        return _num(lambda dt: dt.hour % 12, count)
    if letter == "h":
        return _num(lambda dt: dt.hour % 12 or 12, count)
    if letter == "m":
        return _num(lambda dt: dt.minute, count)
    if letter == "s":
        return _num(lambda dt: dt.second, count)
    if letter == "S":  # Java: the millisecond count, zero-padded (not a fraction)
        return _num(lambda dt: dt.microsecond // 1000, count)
    if letter == "z":
        return lambda dt: dt.tzname() or _rfc822_zone(dt)
    if letter == "Z":
        return _rfc822_zone
    if letter == "X":
        if count > 3:
            raise ValueError("invalid ISO 8601 zone pattern 'XXXX'")
        return _iso_zone(count)
    raise ValueError(f"illegal pattern character '{letter}'")


@lru_cache(maxsize=256)
def java_date_formatter(pattern: str) -> Callable[[datetime], str]:
    """Compile a Java SimpleDateFormat pattern (e.g. yyyy-MM-dd'T'HH:mm:ss.SSSZ) once.

    Names are English, whatever the host locale, as on a default MI install."""
    parts: list[Callable[[datetime], str] | str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            if i + 1 < n and pattern[i + 1] == "'":
                parts.append("'")
                i += 2
                continue
            j, buf = i + 1, []
            while j < n:
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(pattern[j])
                j += 1
            else:
                raise ValueError(f"unterminated quote in date format {pattern!r}")
            parts.append("".join(buf))
            i = j + 1
        elif ("a" <= c <= "z") or ("A" <= c <= "Z"):
            j = i
            while j < n and pattern[j] == c:
                j += 1
            parts.append(_field(c, j - i))
            i = j
        else:
            parts.append(c)
            i += 1
    frozen = tuple(parts)

    def format_date(dt: datetime) -> str:
        return "".join(p if isinstance(p, str) else p(dt) for p in frozen)

    return format_date
