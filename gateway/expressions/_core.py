"""Shared pieces of the expression layer: the Expression base class, the JSON property wrapper,
Synapse string conversion (reference §3.2) and the property-scope lookups behind get-property()
and the `$ctx:`/`$trp:`/... variables (§3.1)."""

from __future__ import annotations

import copy
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

import orjson
from lxml import etree

from gateway.errors import MediationError
from gateway.message.json_xml import JsonConversionError, json_dumps

# --------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True)
class JsonValue:
    """A property of type JSON (W: PropertyMediator type="JSON"); `value` is a parsed JSON value."""

    value: Any

    def text(self) -> str:
        """Compact JSON text, as Gson's JsonElement.toString() gives it."""
        return json_text(self.value)


def json_text(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # numbers converted from XML keep their lexical form (JsonNumber)

        try:
            return json_dumps(value).decode()
        except JsonConversionError as exc:  # nested deeper than JSON can be written
            raise MediationError(str(exc)) from None


#: Java system properties for get-property('system', x) and $sys:x; the runtime may add to it.
SYSTEM_PROPERTIES: dict[str, str] = {
    "file.separator": os.sep,
    "line.separator": os.linesep,
    "os.name": os.uname().sysname if hasattr(os, "uname") else os.name,
    "user.dir": os.getcwd(),
    "user.home": os.path.expanduser("~"),
}

_Element = etree._Element
_ElementTree = etree._ElementTree
_ElementUnicodeResult = etree._ElementUnicodeResult

# Java String.trim() removes every char <= U+0020, and only those.
_JAVA_TRIM = "".join(chr(i) for i in range(33))


# --------------------------------------------------------------------------------------------
# Number formatting


def java_double(d: float) -> str:
    """Java Double.toString(d): "2.0", "1500.0", "0.1", "1.0E21", "1.0E-5", "NaN", "Infinity"."""
    if d != d:
        return "NaN"
    if math.isinf(d):
        return "Infinity" if d > 0 else "-Infinity"
    if d == 0.0:
        return "-0.0" if math.copysign(1.0, d) < 0 else "0.0"
    a = abs(d)
    if 1e-3 <= a < 1e7:
        return repr(d)  # Python's shortest repr never uses an exponent in this range
    # Java's "computerized scientific notation" from the shortest round-trip digits.
    sign, digits, exp = Decimal(repr(a)).normalize().as_tuple()
    assert isinstance(exp, int)
    sci = len(digits) - 1 + exp
    rest = "".join(map(str, digits[1:])) or "0"
    return f"{'-' if d < 0 else ''}{digits[0]}.{rest}E{sci}"


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


def serialize_element(el: Any) -> str:
    """Serialized XML of an element without its tail.

    A non-root element is deep-copied first: lxml then declares only the namespaces the subtree
    uses (plus the element's own declarations), as Axiom's OMElement.toString() does, instead of
    every namespace in scope (e.g. soapenv on a JSON infoset element)."""
    if el.getparent() is not None:
        el = copy.deepcopy(el)
    return etree.tostring(el, encoding=str, with_tail=False)


def _direct_text(el: Any) -> str:
    # Axiom getText(): the element's direct text children only.
    text = el.text or ""
    if len(el):
        for child in el:
            if child.tail:
                text += child.tail
    return text


def _element_string(el: Any, as_xml: bool) -> str:
    # Mirrors W: SynapseXPath.stringValueOf for an OMElement item, including its replace() quirk.
    raw = _direct_text(el)
    trimmed = raw.replace("\u00a0", " ").strip(_JAVA_TRIM)
    if not trimmed:
        return serialize_element(el)
    if not as_xml:
        return trimmed
    s = serialize_element(el)
    return s.replace(raw, trimmed) if raw else s


def _text_parent(node: Any) -> Any:
    parent = node.getparent()
    if parent is not None and node.is_tail:
        parent = parent.getparent()  # a tail's getparent() is the element it follows
    return parent


def nodeset_string(items: Sequence[Any], keep_parent: bool = False) -> str:
    """Concatenate a node-set MI-style: text → text, attribute → value, element → trimmed direct
    text (one element) or serialized XML (several, or when `keep_parent` for `…node()`)."""
    single = len(items) == 1
    as_xml = not single or keep_parent
    out: list[str] = []
    for item in items:
        if single and keep_parent and isinstance(item, _ElementUnicodeResult) and item.is_text:
            parent = _text_parent(item)
            if parent is not None:
                item = parent
        if isinstance(item, str):
            out.append(str(item))
        elif isinstance(item, _Element):
            if isinstance(item.tag, str):
                out.append(_element_string(item, as_xml))
            # comments and PIs are skipped, as Jaxen's list handling skips them
        elif isinstance(item, _ElementTree):
            out.append(serialize_element(item.getroot()))
        elif item is None:
            if single:
                return None  # type: ignore[return-value]  # a lone null stays null
        elif isinstance(item, tuple):
            continue  # namespace nodes
        else:
            s = to_synapse_string(item)
            if s is not None:
                out.append(s)
    return "".join(out)


def to_synapse_string(result: Any, *, keep_parent: bool = False) -> str | None:
    """Turn an expression result or a property value into the string MI would use (§3.2).

    None stays None (a missing property); numbers use Java's Double form, except Python ints,
    which are Java Integer/Long values; booleans give "true"/"false"."""
    if result is None:
        return None
    if type(result) is list and len(result) == 1 and not keep_parent:
        # The common case (`//symbol`): one element, its trimmed text.
        item = result[0]
        if isinstance(item, _Element) and isinstance(item.tag, str):
            return _element_string(item, False)
    if isinstance(result, str):
        return str(result)  # plain str also for lxml smart strings
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, float):
        return java_double(result)
    if isinstance(result, int):
        return str(result)
    if isinstance(result, list):
        return nodeset_string(result, keep_parent)
    if isinstance(result, _Element):
        return nodeset_string([result], keep_parent)
    if isinstance(result, _ElementTree):
        return serialize_element(result.getroot())
    if isinstance(result, JsonValue):
        return result.text()
    if isinstance(result, dict):
        return json_text(result)
    if isinstance(result, bytes):
        return result.decode("utf-8", "replace")
    return str(result)


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
            return _STRING_OF(first)
        return ""
    return "" if value is None else str(value)


_STRING_OF = etree.XPath("string(.)", smart_strings=False)


# --------------------------------------------------------------------------------------------
# Expression base


class Expression(ABC):
    """A compiled expression: built once at deploy time, evaluated per message."""

    __slots__ = ("source", "needs_body")

    kind: Literal["xpath", "json"]
    source: str
    needs_body: bool

    @abstractmethod
    def evaluate(self, ctx: Any) -> Any:
        """The raw result: node list / str / float / bool / None (XPath); a JSON value (JSON)."""

    @abstractmethod
    def string_value(self, ctx: Any) -> str | None:
        """The string MI would produce (§3.2 / §3.3); None only for a missing property."""

    @abstractmethod
    def boolean_value(self, ctx: Any) -> bool:
        """Filter `xpath=` truth."""

    def nodes(self, ctx: Any) -> list[Any]:
        """The node-set result (elements and text/attribute strings); [] when not a node-set."""
        return []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.source!r}>"


# --------------------------------------------------------------------------------------------
# Property scopes


def value_of_func_param(ctx: Any, value: Any) -> Any:
    """A template parameter may hold an unevaluated expression ({{...}} with-param); evaluate it.

    Contract: whoever pushes such an expression into a func frame builds the body first when
    `expression.needs_body`, so `$func:` itself never needs the body."""
    if isinstance(value, Expression):
        return value.string_value(ctx) if value.kind == "json" else value.evaluate(ctx)
    resolve = getattr(value, "resolve", None)
    if resolve is not None and hasattr(value, "is_dynamic"):
        return resolve(ctx)
    return value


def func_param(ctx: Any, name: str) -> Any:
    stack = ctx.func_stack
    if not stack:
        return None
    return value_of_func_param(ctx, stack[-1].get(name))


def url_param(ctx: Any, name: str) -> str:
    # W: matches the query parameter name ignoring case; a missing one is "".
    params = ctx.query_params
    value = params.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in params.items():
        if key.lower() == lowered:
            return val
    return ""


def map_entry(ctx: Any, prefix: str, name: str) -> Any:
    # `$prefix:key` where the default-scope property `prefix` holds a map.
    holder = ctx.properties.get(prefix)
    if isinstance(holder, dict):
        value = holder.get(name)
        return None if value is None else to_synapse_string(value)
    return None


_WSA_NAMESPACES = ("http://www.w3.org/2005/08/addressing", "http://schemas.xmlsoap.org/ws/2004/08/addressing")


def _wsa_header(ctx: Any, local: str, address: bool) -> str:
    env = ctx.envelope
    if env is None:
        return ""
    for part in env:
        if isinstance(part.tag, str) and part.tag.endswith("}Header"):
            for block in part:
                for ns in _WSA_NAMESPACES:
                    if block.tag == f"{{{ns}}}{local}":
                        if address:
                            found = block.find(f"{{{ns}}}Address")
                            return (found.text or "").strip() if found is not None else ""
                        return (block.text or "").strip()
            break
    return ""


def _fault(ctx: Any) -> str:
    return "TRUE" if ctx.is_fault() else ""


def _message_format(ctx: Any) -> str:
    fmt = ctx.message_format
    return fmt if fmt in ("pox", "get", "soap11") else "soap12"


def _default_scope(key: str) -> Callable[[Any], Any]:
    def lookup(ctx: Any) -> Any:
        value = ctx.properties.get(key)
        return value if value is not None else ctx.local_entry(key)

    return lookup


# Special names of one-argument get-property (W: GetPropertyFunction); missing ones give "".
_SPECIAL: dict[str, Callable[[Any], Any]] = {
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

SCOPES = frozenset(
    {"default", "axis2", "transport", "operation", "registry", "func", "system", "env", "file"}
)


def _scoped(scope: str, key: str) -> Callable[[Any], Any]:
    if scope == "default":
        special = _SPECIAL.get(key)
        return special if special is not None else _default_scope(key)
    if scope == "axis2":
        return lambda ctx: ctx.axis2.get(key)
    if scope == "transport":
        return lambda ctx: ctx.transport_headers.get(key)
    if scope == "operation":
        return lambda ctx: ctx.operation.get(key)
    if scope == "func":
        return lambda ctx: func_param(ctx, key)
    if scope == "system":
        return lambda ctx: SYSTEM_PROPERTIES.get(key, "")
    if scope == "env":
        return lambda ctx: os.environ.get(key, "")
    # registry/file: no registry in this gateway; W: answers "" when nothing is found.
    return lambda ctx: ""


@lru_cache(maxsize=1024)
def property_getter(args: tuple[str, ...]) -> Callable[[Any], Any]:
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
        return lambda ctx: formatter(datetime.now().astimezone())
    if key == "SYSTEM_TIME":
        return lambda ctx: str(time.time_ns() // 1_000_000)
    return _scoped(scope, key)


def get_property(ctx: Any, args: Sequence[str]) -> Any:
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
        year = (lambda dt: dt.year) if letter == "y" else (lambda dt: dt.isocalendar()[0])
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
