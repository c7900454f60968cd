"""MI 4.4 Synapse Expressions: `${payload.orders[0].id}`, `${vars.x + 1}`, `${headers["Content-Type"]}`, …

The grammar and the semantics are MI's own (W: modules/core/src/main/antlr4/…/ExpressionLexer.g4 and
ExpressionParser.g4, util/synapse/expression/ast/*, visitor/ExpressionVisitor, util/xpath/SynapseExpression):

* the lexer picks the longest token and, between equals, the first rule of ExpressionLexer.g4 (so `payload`
  is a keyword, `payloads` a name, and `-1` one number: `5-1` is a syntax error in MI too);
* precedence is MI's: comparison < and/or (one level, right-associative) < + - < * / %; there is no `!`
  operator (`not(…)` is the function);
* a payload or variable path is the JSONPath text of its tokens (`payload` becomes `$`), whose index and filter
  parts may hold expressions that are evaluated and written into the path, as W: PayloadAccessNode does;
  static paths are compiled once here (gateway.expressions.jsonpath), dynamic ones once per distinct text;
* values are Java's: Integer, Long (JLong), Double (float), String, Boolean, null, JSON objects and arrays
  (dict, list) and XML nodes; the arithmetic promotes as BinaryOperationNode does (int overflow to long,
  BigDecimal for doubles, `/` of two ints gives a double unless exact);
* an evaluation error is not a fault: MI logs it and the expression gives "" (W: SynapseExpression
  evaluateExpression), which is what `string_value` gives here.

Everything is parsed at deploy time (ExpressionError with the position of a syntax error).
"""

from __future__ import annotations

import base64
import logging
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from functools import lru_cache
from typing import Any, NamedTuple

import regex
from lxml import etree

from gateway import clock
from gateway.errors import ExpressionError
from gateway.message import json_codec, kinds, scopes
from gateway.message.values import JsonValue, java_double, json_text, serialize_element, to_synapse_string

from ._core import Expression, java_date_formatter
from .context import ExpressionContext
from .jsonpath import NOT_FOUND, JsonPath, _apply_function

__all__ = ["JLong", "SynapseExpression", "compile_synapse_expression", "is_synapse_expression", "template_parts"]

log = logging.getLogger("gateway.expressions.synapse")

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


class JLong(int):
    """A Java Long (MI keeps Integer and Long apart: `now()`, an int overflow, a big literal)."""

    __slots__ = ()


class EvaluationError(Exception):
    """W: EvaluationException: the expression gives "" (logged at debug level, as MI logs it as a warning)."""


# --------------------------------------------------------------------------------------------------------
# Lexer (W: ExpressionLexer.g4, rule order kept: it decides ties)

_RULES: tuple[tuple[str, str], ...] = (
    ("JSONPATH_PARAMS", r"in|nin|subsetof|anyof|noneof|size|empty|=~"),
    (
        "JSONPATH_FUNCTIONS",
        r"length\(\)|size\(\)|min\(\)|max\(\)|avg\(\)|sum\(\)|stddev\(\)|keys\(\)|first\(\)|last\(\)",
    ),
    ("VAR", r"vars"),
    ("PAYLOAD", r"payload|\$"),
    ("HEADERS", r"headers"),
    ("CONFIG", r"configs"),
    ("PARAMS", r"params"),
    ("PROPERTY", r"props|properties"),
    ("AND", r"and|&&"),
    ("OR", r"or|\|\|"),
    ("NOT", r"!"),
    ("DOUBLE_DOT", r"\.\."),
    ("ASTERISK", r"\*"),
    ("PLUS", r"\+"),
    ("MINUS", r"-"),
    ("DIV", r"/"),
    ("MODULO", r"%"),
    ("EQ", r"=="),
    ("NEQ", r"!="),
    ("GT", r">"),
    ("LT", r"<"),
    ("GTE", r">="),
    ("LTE", r"<="),
    ("LPAREN", r"\("),
    ("RPAREN", r"\)"),
    ("LBRACKET", r"\["),
    ("RBRACKET", r"\]"),
    ("DOT", r"\."),
    ("COMMA", r","),
    ("COLON", r":"),
    ("QUOTE", r"[\"']"),
    ("BOOLEAN_LITERAL", r"true|false"),
    ("NUMBER", r"-?[0-9]+(?:\.[0-9]+)?"),
    ("PARAM_ACCESS", r"queryParams|pathParams|functionParams"),
    ("PROPERTY_ACCESS", r"axis2|synapse"),
    (
        "FUNCTIONS",
        r"length|toUpper|toLower|subString|startsWith|endsWith|contains|trim|replace|split|indexOf|now"
        r"|formatDateTime|charAt|abs|ceil|floor|sqrt|log|pow|base64encode|base64decode|urlEncode|urlDecode"
        r"|isString|isNumber|isArray|isObject|string|float|boolean|integer|round|exists|xpath|wso2-vault"
        r"|hashicorp-vault|not|registry|object|array",
    ),
    ("SECONDARY_FUNCTIONS", r"property"),
    (
        "STRING_LITERAL",
        r"\"(?:\\(?:[btnfr\"'\\/]|u[0-9a-fA-F]{4}|[0-3]?[0-7][0-7])|[^\"\\])*\""
        r"|'(?:\\(?:[btnfr\"'\\/]|u[0-9a-fA-F]{4}|[0-3]?[0-7][0-7])|[^'\\])*'",
    ),
    ("NULL_LITERAL", r"null"),
    ("ID", r"[a-zA-Z_][a-zA-Z_0-9-]*"),
    ("QUESTION", r"\?"),
    ("AT", r"@"),
)
_WS = re.compile(r"[ \t\n\r]+")


class Tok(NamedTuple):
    type: str
    text: str
    pos: int  # offset in the expression text


def _rule_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    # one regex per alternative: a regex alternation stops at its first match, ANTLR takes the longest
    out: list[tuple[str, re.Pattern[str]]] = []
    for name, pattern in _RULES:
        alternatives = pattern.split("|") if name not in ("STRING_LITERAL", "NUMBER", "ID", "OR") else [pattern]
        if name == "OR":
            alternatives = ["or", r"\|\|"]
        out.extend((name, re.compile(alt)) for alt in alternatives)
    return tuple(out)


_PATTERNS = _rule_patterns()


def tokenize(text: str) -> list[Tok]:
    tokens: list[Tok] = []
    pos, end = 0, len(text)
    while pos < end:
        ws = _WS.match(text, pos)
        if ws is not None:
            pos = ws.end()
            continue
        best: Tok | None = None
        for name, pattern in _PATTERNS:
            m = pattern.match(text, pos)
            if m is not None and m.end() > pos and (best is None or m.end() - pos > len(best.text)):
                best = Tok(name, m.group(), pos)
        if best is None:
            raise ExpressionError(f"unexpected character {text[pos]!r} at position {pos + 1} of '{text}'")
        tokens.append(best)
        pos += len(best.text)
    tokens.append(Tok("EOF", "", end))
    return tokens


# --------------------------------------------------------------------------------------------------------
# Values (W: ExpressionResult)


def _is_int(v: Any) -> bool:
    return type(v) is int and _INT_MIN <= v <= _INT_MAX


def _is_long(v: Any) -> bool:
    return type(v) is JLong


def _is_double(v: Any) -> bool:
    return type(v) is float


def _is_numeric(v: Any) -> bool:
    return _is_int(v) or _is_long(v) or _is_double(v)


def _number(n: int) -> int:
    """A Java integral result: Integer when it fits, else Long (wrapped as Java wraps a long)."""
    if _INT_MIN <= n <= _INT_MAX:
        return n
    return JLong(_wrap64(n))


def _wrap32(n: int) -> int:
    return (n + 2**31) % 2**32 - 2**31


def _wrap64(n: int) -> int:
    return (n + 2**63) % 2**64 - 2**63


def _strip_quotes(s: str) -> str:
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1]
    return s


def as_string(v: Any) -> str | None:
    """W: ExpressionResult.asString."""
    if v is None:
        return None
    if isinstance(v, str):
        return _strip_quotes(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return java_double(v)
    if isinstance(v, (int, Decimal)):
        return str(v)
    if isinstance(v, (dict, JsonValue)):
        return json_text(v.value if isinstance(v, JsonValue) else v)
    if isinstance(v, list):
        if any(isinstance(item, (etree._Element, etree._ElementTree)) for item in v):
            return "[" + ", ".join(_node_text(item) for item in v) + "]"  # Java's List.toString of OM nodes
        return json_text(v)
    if isinstance(v, (etree._Element, etree._ElementTree)):
        return _node_text(v)
    return to_synapse_string(v)


def _node_text(node: Any) -> str:
    """OMNode.toString(): an element's XML, a text node's text."""
    if isinstance(node, etree._ElementTree):
        node = node.getroot()
    if isinstance(node, etree._Element):
        return serialize_element(node)
    return str(node)


def _text(v: Any) -> str:
    s = as_string(v)
    if s is None:
        raise EvaluationError("null value")
    return s


def _unwrap(value: Any) -> Any:
    """A JSON leaf as Jayway's GsonJsonProvider.unwrap gives it: Integer or Long for a whole number (scale <= 0), a
    Double when it holds the decimal exactly, else the BigDecimal itself (which no arithmetic accepts)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            return value
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        big = Decimal(value)  # a plain BigDecimal: prints as Java does (1E+30), not as the source text
        if exponent >= 0:
            n = int(value)
            return _java_integral(n) if _LONG_MIN <= n <= _LONG_MAX else big
        as_double = float(value)
        return as_double if Decimal(repr(as_double)) == value else big
    if type(value) is int:
        return _java_integral(value)
    return value


def _java_integral(n: int) -> Any:
    if _INT_MIN <= n <= _INT_MAX:
        return n
    if _LONG_MIN <= n <= _LONG_MAX:
        return JLong(n)
    return Decimal(n)  # a BigDecimal (Jayway keeps what fits no Long)


_JAVA_INT = re.compile(r"[+-]?\d+")  # Character.digit takes any Unicode decimal digit, as int() does
_JAVA_DOUBLE = re.compile(
    r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?|0[xX][0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?[pP][+-]?[0-9]+[fFdD]?)"
)
_JAVA_SPACE = "".join(chr(i) for i in range(33))


def parse_java_int(text: str, bits: int | None = None) -> int | None:
    """W: Short.parseShort / Integer.parseInt / Long.parseLong (bits 16, 32, 64): a sign and decimal digits, nothing
    around them; None when the text is no such number or, with `bits`, out of that range (without: any size)."""
    if not _JAVA_INT.fullmatch(text):
        return None
    n = int(text)
    if bits is not None and not -(1 << (bits - 1)) <= n < 1 << (bits - 1):
        return None
    return n


def parse_java_double(text: str) -> float | None:
    t = text.strip(_JAVA_SPACE)
    if not _JAVA_DOUBLE.fullmatch(t) or "x" in t.lower():
        return None
    t = t.rstrip("fFdD") if not t.endswith("Infinity") else t
    try:
        return float(t.replace("Infinity", "inf"))
    except ValueError:
        return None


def _try_parse_number(text: str) -> Any:
    """W: HeadersAndPropertiesAccessNode.tryParseNumber: Integer, else Long, else Double, else the string."""
    n = parse_java_int(text)
    if n is not None:
        if _INT_MIN <= n <= _INT_MAX:
            return n
        if _LONG_MIN <= n <= _LONG_MAX:
            return JLong(n)
    d = parse_java_double(text)
    return d if d is not None else text


def _is_array(v: Any) -> bool:
    if isinstance(v, list):
        return not any(isinstance(i, etree._Element) for i in v)
    if isinstance(v, JsonValue):
        return isinstance(v.value, list)
    if isinstance(v, str):
        return isinstance(_parse_json_text(v), list)
    return False


def _is_object(v: Any) -> bool:
    if isinstance(v, dict):
        return True
    if isinstance(v, JsonValue):
        return isinstance(v.value, dict)
    if isinstance(v, str):
        return isinstance(_parse_json_text(v), dict)
    return False


_NOT_JSON: Any = object()


def _parse_json_text(s: str) -> Any:
    # W: parseStringToJsonObject: surrounding quotes dropped, then every backslash, then Gson's parser
    if len(s) >= 2 and s.startswith('"') and s.endswith('"'):
        s = s[1:-1]
    try:
        return json_codec.loads(s.replace("\\", ""))
    except (ValueError, json_codec.JsonConversionError):
        return _NOT_JSON


def _json_of(v: Any) -> Any:
    if isinstance(v, JsonValue):
        return v.value
    return v


# --------------------------------------------------------------------------------------------------------
# Nodes


class Node:
    __slots__ = ()
    needs_body = False

    def ev(self, ctx: Any, obj: bool) -> Any:
        raise NotImplementedError


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def ev(self, ctx: Any, obj: bool) -> Any:
        return self.value


class ArrayLiteral(Node):
    __slots__ = ("items", "needs_body")

    def __init__(self, items: list[Node]) -> None:
        self.items = items
        self.needs_body = any(i.needs_body for i in items)

    def ev(self, ctx: Any, obj: bool) -> Any:
        out: list[Any] = []
        for item in self.items:
            v = item.ev(ctx, obj)
            if isinstance(v, (dict, list)) or _is_int(v) or _is_double(v):
                out.append(v)
            else:
                out.append(_text(v))  # W: result.asString() (a null item fails)
        return out


def _java_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _java_mod(a: int, b: int) -> int:
    return a - b * _java_div(a, b)


def _big(v: Any) -> Decimal:
    return Decimal(as_string(v) or "0")


_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class Binary(Node):
    """W: BinaryOperationNode."""

    __slots__ = ("left", "op", "right", "needs_body")

    def __init__(self, left: Node, op: str, right: Node) -> None:
        self.left, self.op, self.right = left, op.lower(), right
        self.needs_body = left.needs_body or right.needs_body

    def ev(self, ctx: Any, obj: bool) -> Any:
        lv = self.left.ev(ctx, obj)
        rv = self.right.ev(ctx, obj)
        op = self.op
        if op in ("==", "!="):
            if lv is not None and rv is not None:
                same = as_string(lv) == as_string(rv)
            else:
                same = lv is None and rv is None
            return same if op == "==" else not same
        if lv is None or rv is None:
            raise EvaluationError(f"Null inputs for {op} operation")
        if op in _COMPARISONS:
            if (_is_int(lv) or _is_double(lv)) and (_is_int(rv) or _is_double(rv)):
                return _COMPARISONS[op](float(lv), float(rv))
            raise EvaluationError(f"Comparison between non-numeric values: {as_string(lv)} and {as_string(rv)}")
        if op in ("and", "&&", "or", "||"):
            if isinstance(lv, bool) and isinstance(rv, bool):
                return (lv and rv) if op in ("and", "&&") else (lv or rv)
            raise EvaluationError("Logical operation between non-boolean values")
        if op == "+":
            return _add(lv, rv)
        return _arithmetic(lv, rv, op)


def _add(lv: Any, rv: Any) -> Any:
    if _is_numeric(lv) and _is_numeric(rv):
        if _is_double(lv) or _is_double(rv):
            return float(_big(lv) + _big(rv))
        if _is_long(lv) or _is_long(rv):
            return JLong(_wrap64(lv + rv))
        return _number(lv + rv)
    if isinstance(lv, str) and isinstance(rv, str):
        return _text(lv) + _text(rv)
    raise EvaluationError(f"Addition between non-numeric values: {as_string(lv)} and {as_string(rv)}")


def _arithmetic(lv: Any, rv: Any, op: str) -> Any:
    if not _is_numeric(lv) or not _is_numeric(rv):
        raise EvaluationError(f"Arithmetic operation {op} between non-numeric values")
    if _is_double(lv) or _is_double(rv):
        a, b = Decimal(java_double(float(lv))), Decimal(java_double(float(rv)))
        with localcontext() as dc:
            dc.prec = 60
            if op == "-":
                return float(a - b)
            if op == "*":
                return float(a * b)
            if b == 0:
                raise EvaluationError("Division by zero" if op == "/" else "Modulo by zero")
            if op == "/":  # BigDecimal.divide(divisor, ROUND_HALF_UP): the dividend's scale
                scale = -int(a.as_tuple().exponent)
                return float((a / b).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP))
            return float(a % b)  # BigDecimal.remainder: the sign of the dividend, as Decimal's %
    if _is_long(lv) or _is_long(rv):
        a_l, b_l = int(lv), int(rv)
        if op == "-":
            return JLong(_wrap64(a_l - b_l))
        if op == "*":
            return JLong(_wrap64(a_l * b_l))
        if b_l == 0:
            raise EvaluationError("Division by zero" if op == "/" else "Modulo by zero")
        if op == "/":
            return a_l / b_l
        return JLong(_java_mod(a_l, b_l))
    a_i, b_i = int(lv), int(rv)
    if op == "-":
        return _wrap32(a_i - b_i)
    if op == "*":
        return _number(a_i * b_i)
    if b_i == 0:
        raise EvaluationError("Division by zero" if op == "/" else "Modulo by zero")
    if op == "/":
        return _wrap32(_java_div(a_i, b_i)) if _java_mod(a_i, b_i) == 0 else a_i / b_i
    return _java_mod(a_i, b_i)


class Conditional(Node):
    __slots__ = ("cond", "then", "other", "needs_body")

    def __init__(self, cond: Node, then: Node, other: Node) -> None:
        self.cond, self.then, self.other = cond, then, other
        self.needs_body = cond.needs_body or then.needs_body or other.needs_body

    def ev(self, ctx: Any, obj: bool) -> Any:
        c = self.cond.ev(ctx, obj)
        if c is None:
            raise EvaluationError("Condition is null in conditional expression")
        if not isinstance(c, bool):
            raise EvaluationError("Condition is not a boolean in conditional expression")
        return (self.then if c else self.other).ev(ctx, obj)


class Signed(Node):
    __slots__ = ("inner", "needs_body")

    def __init__(self, inner: Node) -> None:
        self.inner = inner
        self.needs_body = inner.needs_body

    def ev(self, ctx: Any, obj: bool) -> Any:
        v = self.inner.ev(ctx, obj)
        if _is_int(v):
            return _wrap32(-v)
        if _is_double(v):
            return -v
        raise EvaluationError("Cannot negate a non-numeric value")


# ---- property-like access (W: HeadersAndPropertiesAccessNode)


class Access(Node):
    __slots__ = ("kind", "name", "_read")

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name
        read: Callable[[Any], Any]
        if kind == "header":
            read = lambda ctx: ctx.transport_headers.get(name)  # noqa: E731
        elif kind == "synapse":
            read = scopes.getter(scopes.Scope.DEFAULT, name)
        elif kind == "axis2":
            read = scopes.getter(scopes.Scope.AXIS2, name)
        elif kind == "pathParams":
            read = scopes.getter(scopes.Scope.DEFAULT, "uri.var." + name)
        elif kind == "queryParams":
            read = scopes.getter(scopes.Scope.DEFAULT, "query.param." + name)
        elif kind == "config":
            # W: PropertyHolder holds MI's configurable values (a CApp's config.properties, given by environment
            # variables of the same name); here the environment is where they come from
            read = lambda ctx: os.environ.get(name)  # noqa: E731
        elif kind == "functionParams":
            read = lambda ctx: scopes.func_value(ctx, name)  # noqa: E731
        else:  # pragma: no cover - the parser makes no other kind
            raise ExpressionError(f"unknown access {kind}")
        self._read = read

    def ev(self, ctx: Any, obj: bool) -> Any:
        value = self._read(ctx)
        if value is None:
            raise EvaluationError(f"Could not fetch the value of the key: {self.name}")
        if isinstance(value, str):
            text: str | None = value
        elif isinstance(value, etree._Element):
            text = serialize_element(value)  # W: value.toString(): an OMElement's XML
        else:
            text = to_synapse_string(value)
        return _try_parse_number(text or "")


# ---- payload and variable paths (W: PayloadAccessNode)


@lru_cache(maxsize=512)
def _dynamic_path(text: str) -> JsonPath | None:
    try:
        return JsonPath(text)
    except ExpressionError:
        return None


_TRAILING_FUNCTION = re.compile(r"\.(length|size|min|max|avg|sum|stddev|keys|first|last)\(\)$")


class _PathText:
    """The JSONPath text of a payload/variable path: static pieces and index/filter nodes evaluated per message."""

    __slots__ = ("pieces", "static", "function", "path", "needs_body")

    def __init__(self, pieces: list[str | Node]) -> None:
        self.pieces = pieces
        self.needs_body = any(isinstance(p, Node) and p.needs_body for p in pieces)
        self.static = all(isinstance(p, str) for p in pieces)
        self.function: str | None = None
        self.path: JsonPath | None = None
        if self.static:
            text, self.function = self._split("".join(p for p in pieces if isinstance(p, str)))
            self.path = _dynamic_path(text)

    @staticmethod
    def _split(text: str) -> tuple[str, str | None]:
        m = _TRAILING_FUNCTION.search(text)
        if m is None:
            return text, None
        return text[: m.start()] or "$", m.group(1)

    def read(self, ctx: Any, obj: bool, doc: Any) -> Any:
        if self.static:
            path, function = self.path, self.function
        else:
            out: list[str] = []
            for piece in self.pieces:
                if isinstance(piece, str):
                    out.append(piece)
                else:
                    out.append(_index_text(piece, piece.ev(ctx, obj)))
            text, function = self._split("".join(out))
            path = _dynamic_path(text)
        if path is None:
            raise EvaluationError("invalid JSONPath")
        if path.root and function is None:
            return doc
        result = path.select(doc)
        if result is NOT_FOUND:
            raise EvaluationError(f"No results for path: {path.text}")
        if function is not None:
            if function in ("stddev", "keys"):
                result = _extra_function(function, result)
            else:
                result = _apply_function(function, result)
            if result is NOT_FOUND:
                raise EvaluationError(f"Could not apply {function}()")
        return result


def _extra_function(name: str, value: Any) -> Any:
    if name == "keys":
        return list(value) if isinstance(value, dict) else NOT_FOUND
    numbers = [float(v) for v in value if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)]
    if not numbers:
        return NOT_FOUND
    mean = sum(numbers) / len(numbers)
    return math.sqrt(sum((n - mean) ** 2 for n in numbers) / len(numbers))


def _quote(text: str) -> str:
    """A JSONPath string literal. W: writes the value between quotes as it is, so a value holding a quote changes
    the path; escaped here, a value from the message stays one name (the same answer for every other value)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _index_text(node: Node, value: Any) -> str:
    # W: PayloadAccessNode: a string result is quoted (a filter's text is not), a union or slice is its numbers
    if value is None:
        raise EvaluationError("null index")
    if isinstance(node, (Filter, IndexList)):
        return _text(value)
    if isinstance(value, str):
        return _quote(_text(value))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EvaluationError(f"an index must be a number or a string, not {as_string(value)}")
    return _text(value)


class IndexList(Node):
    """`[a, b]` or a slice `[a:b:c]` (W: ArrayIndexNode)."""

    __slots__ = ("items", "separator", "needs_body")

    def __init__(self, items: list[Node | None], separator: str) -> None:
        self.items, self.separator = items, separator
        self.needs_body = any(i is not None and i.needs_body for i in items)

    def ev(self, ctx: Any, obj: bool) -> Any:
        out = []
        for item in self.items:
            if item is None:
                out.append("")
                continue
            v = item.ev(ctx, obj)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int):  # W: ArrayIndexNode: numbers joined by ',' or ':'
                raise EvaluationError(f"an index must be a whole number, not {as_string(v)}")
            out.append(str(int(v)))
        return self.separator.join(out)


class Filter(Node):
    """A JSONPath filter whose embedded expressions are evaluated into its text (W: FilterExpressionNode)."""

    __slots__ = ("pieces", "needs_body")

    def __init__(self, pieces: list[str | Node]) -> None:
        self.pieces = pieces
        self.needs_body = any(isinstance(p, Node) and p.needs_body for p in pieces)

    def ev(self, ctx: Any, obj: bool) -> Any:
        out: list[str] = []
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            v = piece.ev(ctx, obj)
            text = _text(v)
            out.append(_quote(text) if isinstance(v, str) else text)
        return "?(" + "".join(out) + ")"


def _result(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return value
    return _unwrap(value)


class PayloadAccess(Node):
    __slots__ = ("path", "bare", "_body")
    needs_body = True

    def __init__(self, path: _PathText, bare: bool) -> None:
        self.path = path
        self.bare = bare
        self._body: Any = None
        if bare:
            from .xpath import compile_xpath

            self._body = compile_xpath("$body")

    def ev(self, ctx: Any, obj: bool) -> Any:
        payload = getattr(ctx, "payload", None)
        kind = getattr(payload, "kind", None)
        if self.bare and kind in kinds.XML_KINDS:  # W: `payload` of an XML message is xpath('$body')
            return self._body.evaluate(ctx) if obj else self._body.string_value(ctx)
        if kind == kinds.EMPTY:
            raise EvaluationError("Payload is empty")
        doc = ctx.payload_json()
        return _result(self.path.read(ctx, obj, doc))


class VariableAccess(Node):
    __slots__ = ("name", "path", "needs_body")

    def __init__(self, name: str, path: _PathText | None) -> None:
        self.name = name
        self.path = path
        self.needs_body = path is not None and path.needs_body

    def ev(self, ctx: Any, obj: bool) -> Any:
        variables = getattr(ctx, "variables", None)
        value = variables.get(self.name) if variables is not None else None
        if value is None:
            raise EvaluationError(f"Variable {self.name} is not defined")
        if self.path is None:
            return value
        if isinstance(value, (etree._Element, etree._ElementTree)):
            raise EvaluationError("Could not evaluate JSONPath expression on non-JSON variable value")
        if isinstance(value, JsonValue):
            doc = value.value
        elif isinstance(value, (dict, list)):
            doc = value
        else:
            doc = _parse_json_text(_text(value)) if isinstance(value, str) else value
            if doc is _NOT_JSON:
                raise EvaluationError(f"Variable {self.name} is not JSON")
        return _result(self.path.read(ctx, obj, doc))


class SuffixAccess(Node):
    """`object(…).path`, `array(…)[0]`, `registry(…).path` (W: PayloadAccessNode types OBJECT/ARRAY/REGISTRY)."""

    __slots__ = ("source", "path", "needs_body")

    def __init__(self, source: Node, path: _PathText) -> None:
        self.source, self.path = source, path
        self.needs_body = source.needs_body or path.needs_body

    def ev(self, ctx: Any, obj: bool) -> Any:
        value = self.source.ev(ctx, obj)
        if value is None:
            raise EvaluationError("no JSON to read the path from")
        doc = _json_of(value)
        if isinstance(doc, str):
            doc = _parse_json_text(doc)
            if doc is _NOT_JSON:
                raise EvaluationError("not JSON")
        return _result(self.path.read(ctx, obj, doc))


# ---- functions (W: PredefinedFunctionNode)

_ARITIES: dict[str, tuple[int, ...]] = {
    "length": (1,), "toUpper": (1,), "toLower": (1,), "subString": (2, 3), "startsWith": (2,), "endsWith": (2,),
    "contains": (2,), "trim": (1,), "replace": (3,), "split": (2,), "indexOf": (2, 3), "now": (0,),
    "formatDateTime": (2, 3), "charAt": (2,), "abs": (1,), "ceil": (1,), "floor": (1,), "sqrt": (1,),
    "log": (1, 2), "pow": (2,), "base64encode": (1, 2), "base64decode": (1,), "urlEncode": (1, 2),
    "urlDecode": (1,), "isString": (1,), "isNumber": (1,), "isArray": (1,), "isObject": (1,), "string": (1,),
    "float": (1,), "boolean": (1,), "integer": (1,), "round": (1, 2), "exists": (1,), "xpath": (1, 2),
    "not": (1,), "registry": (1, 2), "object": (1,), "array": (1,),
}  # fmt: skip


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _java_trim(s: str) -> str:
    return s.strip(_JAVA_SPACE)


def _url_encode(s: str, charset: str = "UTF-8", mi_utf8: bool = True) -> str:
    try:
        # java.net.URLEncoder keeps only A-Z a-z 0-9 . - * _ (Python also keeps '~')
        out = urllib.parse.quote_plus(s, safe="-_.*", encoding=charset, errors="replace").replace("~", "%7E")
    except LookupError:
        raise EvaluationError(f"Invalid charset provided for urlEncode function. Charset: {charset}") from None
    return out.replace("+", "%20").replace("*", "%2A") if mi_utf8 else out


def _log(x: float, base: float | None = None) -> float:
    def ln(v: float) -> float:
        if v > 0:
            return math.log(v)
        return -math.inf if v == 0 else math.nan

    if base is None:
        return ln(x) / math.log(10) if x > 0 else ln(x)
    return ln(x) / ln(base)


def _pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def _round_places(value: float, places: int) -> float:
    # W: ExpressionUtils.round: BigDecimal(Double.toString(value)).setScale(places, HALF_UP).doubleValue()
    if not math.isfinite(value) or places > 400:  # Double.toString never has 400 decimals: nothing to round
        return value
    with localcontext() as dc:
        dc.prec = places + 400
        return float(Decimal(java_double(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _java_round(value: float) -> int:
    if value != value:
        return 0
    return max(_INT_MIN, min(_INT_MAX, math.floor(value + 0.5)))


def _java_split(s: str, pattern: str) -> list[str]:
    """java.util.regex.Pattern.split(input, 0) (String.split): groups are not part of the result, a zero-width
    match at the start gives no empty first string, trailing empty strings are dropped. The `regex` module (Java's
    syntax is closer: possessive quantifiers, atomic groups) runs it with a time limit: the pattern may come from
    the message."""
    parts: list[str] = []
    index = 0
    try:
        for m in regex.compile(pattern).finditer(s, timeout=_REGEX_TIMEOUT):
            if index == 0 and m.start() == 0 and m.end() == 0:
                continue
            parts.append(s[index : m.start()])
            index = m.end()
    except regex.error:
        raise EvaluationError(f"invalid split pattern {pattern!r}") from None
    except TimeoutError:
        raise EvaluationError(f"the split pattern {pattern!r} took too long") from None
    if index == 0:
        return [s]
    parts.append(s[index:])
    while parts and parts[-1] == "":
        parts.pop()
    return parts


# java.time DateTimeFormatter letters that strptime knows (formatDateTime's parsing side)
_STRPTIME = {"yyyy": "%Y", "uuuu": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "hh": "%I", "mm": "%M",
             "ss": "%S", "a": "%p", "MMM": "%b", "MMMM": "%B", "EEE": "%a", "EEEE": "%A", "SSS": "%f"}  # fmt: skip


_REGEX_TIMEOUT = 1.0  # seconds

_STRPTIME_SHORT = {"M": "%m", "d": "%d", "H": "%H", "h": "%I", "m": "%M", "s": "%S"}


def _strptime_format(pattern: str) -> str:
    """A java.time pattern for parsing, as a strptime format (the letters MI's samples use)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "'":
            j = pattern.index("'", i + 1) if "'" in pattern[i + 1 :] else len(pattern)
            out.append(pattern[i + 1 : j].replace("%", "%%") or "'")
            i = j + 1
            continue
        if c.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == c:
                j += 1
            run = pattern[i:j]
            directive = _STRPTIME.get(run) or (
                {"M": "%m", "d": "%d", "H": "%H", "h": "%I", "m": "%M", "s": "%S"}.get(run)
            )
            if directive is None:
                raise EvaluationError(f"unsupported date pattern letters {run!r}")
            out.append(directive)
            i = j
            continue
        out.append("%%" if c == "%" else c)
        i += 1
    return "".join(out)


def _format_date_time(args: list[Any]) -> str:
    if len(args) == 2:
        source, fmt = args
        if not (isinstance(fmt, str) and _is_numeric(source)):
            raise EvaluationError("Invalid argument provided for formatDateTime function")
        try:
            formatter = java_date_formatter(_text(fmt))
        except ValueError as exc:
            raise EvaluationError(str(exc)) from None
        try:
            moment = datetime.fromtimestamp(int(source) / 1000).astimezone()
        except (OverflowError, OSError, ValueError):
            raise EvaluationError(f"{source} is not a time formatDateTime can show") from None
        return formatter(moment)
    if not all(isinstance(a, str) for a in args):
        raise EvaluationError("Invalid argument provided for formatDateTime function")
    source, old, new = (_text(a) for a in args)
    try:
        target = java_date_formatter(new)
    except ValueError as exc:
        raise EvaluationError(str(exc)) from None
    directive = _strptime_format(old)
    try:
        parsed = datetime.strptime(source, directive)
    except ValueError:
        raise EvaluationError(f"Invalid date/time or source format: {source} / {old}") from None
    return target(parsed)


class Call(Node):
    __slots__ = ("name", "args", "needs_body", "_xpath", "_registry_property")

    def __init__(self, name: str, args: list[Node], xpath: Any = None, registry_property: Node | None = None) -> None:
        self.name, self.args = name, args
        self._xpath = xpath  # a literal xpath() argument compiled at deploy time
        self._registry_property = registry_property
        # W: SynapseExpressionUtils: xpath() reads the message when its XPath does (not on a variable)
        reads_xpath = name == "xpath" and len(args) == 1 and (xpath is None or xpath.needs_body)
        self.needs_body = any(a.needs_body for a in args) or reads_xpath

    def ev(self, ctx: Any, obj: bool) -> Any:
        name, args = self.name, self.args
        if name == "now":
            return JLong(clock.now_ms())  # the gateway clock, as SYSTEM_TIME (test_clock moves both)
        if name == "exists":
            try:
                return args[0].ev(ctx, obj) is not None
            except EvaluationError:
                return False
        values = [a.ev(ctx, obj) for a in args]
        for v in values:
            if v is None:
                raise EvaluationError(f"Null value provided for the function: {name}")
        if self._registry_property is not None:
            prop = self._registry_property.ev(ctx, obj)
            if prop is None:
                raise EvaluationError("Null value provided for the function: registry")
            values.append(prop)
        return _FUNCTIONS[name](self, ctx, obj, values)

    def xpath(self, ctx: Any, obj: bool, values: list[Any]) -> Any:
        expr = self._xpath
        if expr is None or len(values) > 1:
            source = _text(values[0])
            if len(values) > 1:
                return _xpath_on_variable(ctx, obj, source, _text(values[1]))
            try:
                expr = _dynamic_xpath(source)
            except ExpressionError as exc:
                raise EvaluationError(f"Invalid XPATH expression : {source}: {exc}") from None
        if obj:
            result = expr.evaluate(ctx)
            return result if isinstance(result, list) else [result]
        return expr.string_value(ctx) or ""


@lru_cache(maxsize=256)
def _dynamic_xpath(source: str) -> Any:
    from .xpath import compile_xpath

    return compile_xpath(source)


@lru_cache(maxsize=256)
def _variable_xpath(source: str) -> etree.XPath:
    """Compiled once per text (the texts are the configuration's, or dynamic ones, bounded by the cache)."""
    return etree.XPath(source if not source.startswith("/") else "." + source, smart_strings=False)


def _xpath_on_variable(ctx: Any, obj: bool, source: str, variable: str) -> Any:
    # W: xpath(expr, 'var'): the XPath runs on the XML the variable holds
    variables = getattr(ctx, "variables", None) or {}
    value = variables.get(variable)
    if isinstance(value, etree._ElementTree):
        value = value.getroot()
    if not isinstance(value, etree._Element):
        raise EvaluationError(f"Variable '{variable}' does not hold XML")
    try:
        found = _variable_xpath(source)(value)
    except etree.XPathError as exc:
        raise EvaluationError(f"Invalid XPATH expression : {source}: {exc}") from None
    if obj:
        return found if isinstance(found, list) else [found]
    return to_synapse_string(found) or ""


def _need_str(v: Any, fn: str) -> str:
    if not isinstance(v, str):
        raise EvaluationError(f"Invalid argument provided for {fn} function")
    return _text(v)


def _fn_length(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    x = v[0]
    if isinstance(x, str):
        return _utf16_len(_text(x))
    if _is_array(x):
        doc = _json_of(x)
        return len(doc if isinstance(doc, list) else _parse_json_text(doc))
    raise EvaluationError("Invalid argument provided for length function")


def _fn_case(upper: bool) -> Callable[[Call, Any, bool, list[Any]], Any]:
    def fn(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
        s = _need_str(v[0], c.name)
        return s.upper() if upper else s.lower()

    return fn


def _fn_substring(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    s = v[0]
    if not isinstance(s, str) or not all(_is_int(i) for i in v[1:]):
        raise EvaluationError("Invalid argument provided for subString function")
    text = _text(s)
    start = v[1]
    end = v[2] if len(v) > 2 else len(text)
    if start < 0 or end < 0 or start > end or end > len(text):
        raise EvaluationError(f"Invalid subString indices: start={start}, end={end}, length={len(text)}")
    return text[start:end]


def _two_strings(c: Call, v: list[Any]) -> tuple[str, str]:
    if not (isinstance(v[0], str) and isinstance(v[1], str)):
        raise EvaluationError(f"Invalid argument provided for {c.name} function")
    return _text(v[0]), _text(v[1])


def _string_test(c: Call, v: list[Any], test: Callable[[str, str], bool]) -> bool:
    a, b = _two_strings(c, v)
    return test(a, b)


def _fn_index_of(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    s, sub = _two_strings(c, v)
    if len(v) == 3:
        if not _is_int(v[2]):
            raise EvaluationError("Invalid argument provided for indexOf function")
        return s.find(sub, max(0, v[2]))
    return s.find(sub)


def _fn_char_at(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    if not (isinstance(v[0], str) and _is_int(v[1])):
        raise EvaluationError("Invalid argument provided for charAt function")
    s = _text(v[0])
    if not 0 <= v[1] < len(s):
        raise EvaluationError(f"Invalid index provided for charAt function: {v[1]}")
    return s[v[1]]


def _fn_math(fn: Callable[[float], Any], keep_int: bool) -> Callable[[Call, Any, bool, list[Any]], Any]:
    def run(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
        x = v[0]
        if _is_int(x):
            return x if keep_int else fn(float(x))
        if _is_double(x):
            return fn(x)
        raise EvaluationError(f"Invalid argument provided for {c.name} function")

    return run


def _fn_abs(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    x = v[0]
    if _is_int(x):
        return _wrap32(abs(x))
    if _is_double(x):
        return abs(x)
    raise EvaluationError("Invalid argument provided for abs function")


def _fn_round(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    x = v[0]
    if len(v) == 1:
        if _is_double(x):
            return _java_round(x)
        if _is_int(x):
            return x
    else:
        places = v[1]
        if _is_double(x) and _is_int(places) and places > 0:
            return _round_places(x, places)
        if _is_int(x) or _is_long(x):
            return x
    raise EvaluationError("Invalid argument provided for round function")


def _fn_log(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    if not all(_is_int(x) or _is_double(x) for x in v):
        raise EvaluationError("Invalid argument provided for log function")
    return _log(float(v[0])) if len(v) == 1 else _log(float(v[0]), float(v[1]))


def _fn_pow(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    if not all(_is_int(x) or _is_double(x) for x in v):
        raise EvaluationError("Invalid argument provided for pow function")
    return _pow(float(v[0]), float(v[1]))


def _fn_b64encode(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    s = _need_str(v[0], c.name)
    charset = _need_str(v[1], c.name) if len(v) > 1 else "UTF-8"
    try:
        return base64.b64encode(s.encode(charset, "replace")).decode("ascii")
    except LookupError:
        raise EvaluationError(f"Invalid charset provided for base64Encode function. Charset: {charset}") from None


def _fn_b64decode(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    s = _need_str(v[0], c.name)
    try:
        return base64.b64decode(s, validate=True).decode("utf-8", "replace")
    except ValueError:
        raise EvaluationError("Illegal base64 character") from None


def _fn_url_encode(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    s = _need_str(v[0], c.name)
    if len(v) == 1:
        return _url_encode(s)
    charset = _need_str(v[1], c.name)
    return _url_encode(s, charset, charset == "UTF-8")


def _fn_url_decode(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    s = _need_str(v[0], c.name)
    if re.search(r"%(?![0-9a-fA-F]{2})", s):
        raise EvaluationError("URLDecoder: Illegal hex characters in escape (%) pattern")
    return urllib.parse.unquote_plus(s)


def _fn_integer(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    x = v[0]
    if _is_int(x):
        return x
    n = parse_java_int(_text(x), 32)
    if n is None:
        raise EvaluationError("Invalid argument provided for integer conversion")
    return n


def _fn_float(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    x = v[0]
    if _is_double(x):
        return x
    d = parse_java_double(_text(x))
    if d is None:
        raise EvaluationError("Invalid argument provided for float conversion")
    return d


def _fn_boolean(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    x = v[0]
    if isinstance(x, bool):
        return x
    return _text(x).lower() == "true"


def _fn_not(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    if not isinstance(v[0], bool):
        raise EvaluationError(f"Value : {as_string(v[0])} cannot be converted to boolean")
    return not v[0]


def _fn_object(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    x = v[0]
    if not _is_object(x):
        raise EvaluationError("Argument cannot be converted to a JSON object")
    doc = _json_of(x)
    return doc if isinstance(doc, dict) else _parse_json_text(doc)


def _fn_array(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    x = v[0]
    if not _is_array(x):
        raise EvaluationError("Argument cannot be converted to a JSON array")
    doc = _json_of(x)
    return doc if isinstance(doc, list) else _parse_json_text(doc)


def _fn_registry(c: Call, ctx: Any, obj: bool, v: list[Any]) -> Any:
    key = _need_str(v[0], "registry")
    if len(v) > 1:
        prop = scopes.registry_value(ctx, f"{key}@{_text(v[1])}")
        if not prop:
            raise EvaluationError(f"Could not find the property: {_text(v[1])} in the registry resource: {key}")
        return prop
    value = scopes.registry_value(ctx, key)  # W: EvaluationContext.getRegistryResource: the text, XML serialized
    if not value:
        raise EvaluationError(f"Could not find the registry resource: {key}")
    return value


_FUNCTIONS: dict[str, Callable[[Call, Any, bool, list[Any]], Any]] = {
    "length": _fn_length,
    "toUpper": _fn_case(True),
    "toLower": _fn_case(False),
    "subString": _fn_substring,
    "startsWith": lambda c, ctx, o, v: _string_test(c, v, str.startswith),
    "endsWith": lambda c, ctx, o, v: _string_test(c, v, str.endswith),
    "contains": lambda c, ctx, o, v: _string_test(c, v, str.__contains__),
    "trim": lambda c, ctx, o, v: _java_trim(_need_str(v[0], "trim")),
    "replace": lambda c, ctx, o, v: _need_str(v[0], "replace").replace(
        _need_str(v[1], "replace"), _need_str(v[2], "replace")
    ),
    "split": lambda c, ctx, o, v: _java_split(*_two_strings(c, v)),
    "indexOf": _fn_index_of,
    "formatDateTime": lambda c, ctx, o, v: _format_date_time(v),
    "charAt": _fn_char_at,
    "abs": _fn_abs,
    "ceil": _fn_math(lambda x: float(math.ceil(x)) if math.isfinite(x) else x, True),
    "floor": _fn_math(lambda x: float(math.floor(x)) if math.isfinite(x) else x, True),
    "sqrt": _fn_math(lambda x: math.sqrt(x) if x >= 0 else math.nan, False),
    "log": _fn_log,
    "pow": _fn_pow,
    "base64encode": _fn_b64encode,
    "base64decode": _fn_b64decode,
    "urlEncode": _fn_url_encode,
    "urlDecode": _fn_url_decode,
    "isString": lambda c, ctx, o, v: isinstance(v[0], str),
    "isNumber": lambda c, ctx, o, v: _is_int(v[0]) or _is_double(v[0]),
    "isArray": lambda c, ctx, o, v: _is_array(v[0]),
    "isObject": lambda c, ctx, o, v: _is_object(v[0]),
    "string": lambda c, ctx, o, v: _text(v[0]),
    "integer": _fn_integer,
    "float": _fn_float,
    "boolean": _fn_boolean,
    "round": _fn_round,
    "xpath": lambda c, ctx, o, v: c.xpath(ctx, o, v),
    "not": _fn_not,
    "registry": _fn_registry,
    "object": _fn_object,
    "array": _fn_array,
}


# --------------------------------------------------------------------------------------------------------
# Parser (W: ExpressionParser.g4 + ExpressionVisitor)

_KEYWORD_TYPES = frozenset(
    {"VAR", "PAYLOAD", "HEADERS", "CONFIG", "PARAMS", "PROPERTY", "PARAM_ACCESS", "PROPERTY_ACCESS", "FUNCTIONS",
     "SECONDARY_FUNCTIONS"}
)  # fmt: skip
_COMPARE = frozenset({"GT", "LT", "GTE", "LTE", "EQ", "NEQ"})
_ACCESS_START = frozenset({"VAR", "PAYLOAD", "HEADERS", "CONFIG", "PARAMS", "PROPERTY", "FUNCTIONS"})


class _Syntax(Exception):
    def __init__(self, tok: Tok, expected: str) -> None:
        self.tok, self.expected = tok, expected


class Parser:
    def __init__(self, source: str, namespaces: Mapping[str, str]) -> None:
        self.source = source
        self.namespaces = namespaces
        self.toks = tokenize(source)
        self.i = 0

    # -- helpers
    def peek(self, k: int = 0) -> Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def at(self, *types: str) -> bool:
        return self.peek().type in types

    def take(self, *types: str) -> Tok:
        tok = self.peek()
        if tok.type not in types:
            raise _Syntax(tok, " or ".join(t.lower() for t in types))
        self.i += 1
        return tok

    def error(self, tok: Tok, message: str) -> ExpressionError:
        where = f"at position {tok.pos + 1}" if tok.type != "EOF" else "at the end"
        return ExpressionError(f"{message} {where} of '{self.source}'")

    # -- entry
    def parse(self) -> Node:
        if self.at("EOF"):
            raise ExpressionError(f"empty Synapse expression '${{{self.source}}}'")
        try:
            node = self.expression()
            if not self.at("EOF"):
                tok = self.peek()
                raise self.error(tok, f"unexpected {tok.text!r}")
        except _Syntax as exc:
            found = "the end" if exc.tok.type == "EOF" else repr(exc.tok.text)
            raise self.error(exc.tok, f"syntax error: expected {exc.expected}, found {found}") from None
        return node

    # -- grammar
    def expression(self) -> Node:
        cond = self.comparison()
        if self.at("QUESTION"):
            self.i += 1
            then = self.expression()
            self.take("COLON")
            other = self.expression()
            return Conditional(cond, then, other)
        return cond

    def comparison(self) -> Node:
        left = self.logical()
        while self.at(*_COMPARE):
            op = self.take(*_COMPARE).text
            left = Binary(left, op, self.logical())
        return left

    def logical(self) -> Node:
        left = self.arithmetic()
        if self.at("AND", "OR"):
            op = self.take("AND", "OR").text
            return Binary(left, op, self.logical())
        return left

    def arithmetic(self) -> Node:
        left = self.term()
        while self.at("PLUS", "MINUS"):
            op = self.take("PLUS", "MINUS").text
            left = Binary(left, op, self.term())
        return left

    def term(self) -> Node:
        left = self.factor()
        while self.at("ASTERISK", "DIV", "MODULO"):
            op = self.take("ASTERISK", "DIV", "MODULO").text
            left = Binary(left, op, self.factor())
        return left

    def factor(self) -> Node:
        tok = self.peek()
        t = tok.type
        if t == "LBRACKET":
            self.i += 1
            items: list[Node] = []
            if not self.at("RBRACKET"):
                items.append(self.expression())
                while self.at("COMMA"):
                    self.i += 1
                    items.append(self.expression())
            self.take("RBRACKET")
            return ArrayLiteral(items)
        if t == "BOOLEAN_LITERAL":
            self.i += 1
            return Literal(tok.text == "true")
        if t == "NUMBER":
            self.i += 1
            return Literal(_parse_number_literal(tok.text))
        if t == "STRING_LITERAL":
            self.i += 1
            return Literal(tok.text[1:-1])  # W: LiteralNode keeps the text; asString drops the quotes
        if t == "NULL_LITERAL":
            self.i += 1
            return Literal(None)
        if t == "LPAREN":
            self.i += 1
            inner = self.expression()
            self.take("RPAREN")
            return inner
        if t == "FUNCTIONS":
            return self.function_call()
        if t == "VAR":
            return self.variable_access()
        if t == "PAYLOAD":
            self.i += 1
            pieces = self.json_path()
            return PayloadAccess(_PathText(["$", *pieces]), bare=not pieces)
        if t in ("HEADERS", "CONFIG"):
            self.i += 1
            name = self.property_name()
            return Access("config" if t == "CONFIG" else "header", name)
        if t == "PARAMS":
            self.i += 1
            self.take("DOT")
            scope = self.take("PARAM_ACCESS").text
            return Access(scope, self.property_name())
        if t == "PROPERTY":
            self.i += 1
            self.take("DOT")
            scope = self.take("PROPERTY_ACCESS").text
            return Access(scope, self.property_name())
        if t == "ID" and tok.text == "var" and self.peek(1).type == "DOT":
            raise _Syntax(  # MI's own 2024 tests (ForEachPI, ScatterGatherPI) predate the grammar's rename
                tok,
                "a value, a function or payload/vars/headers/props/params (variables are vars.NAME: MI 4.4 "
                "pre-releases wrote var.NAME, which its grammar no longer reads)",
            )
        raise _Syntax(tok, "a value, a function or payload/vars/headers/props/params")

    def property_name(self) -> str:
        if self.at("DOT") and self.peek(1).type == "ID":
            self.i += 2
            return self.toks[self.i - 1].text
        if self.at("DOT") and self.peek(1).type in _KEYWORD_TYPES:
            self.i += 2
            return self.toks[self.i - 1].text
        if self.at("DOT") and self.peek(1).type == "LBRACKET":
            self.i += 1
        self.take("LBRACKET")
        name = self.take("STRING_LITERAL").text[1:-1]
        self.take("RBRACKET")
        return name

    def variable_access(self) -> Node:
        self.take("VAR")
        if self.at("DOT") and self.peek(1).type in ("ID", "STRING_LITERAL", *_KEYWORD_TYPES):
            self.i += 2
            text = self.toks[self.i - 1].text
            name = text[1:-1] if self.toks[self.i - 1].type == "STRING_LITERAL" else text
        else:
            if self.at("DOT"):
                self.i += 1
            self.take("LBRACKET")
            name = self.take("STRING_LITERAL").text[1:-1]
            self.take("RBRACKET")
        pieces = self.json_path()
        return VariableAccess(name, _PathText(["$", *pieces]) if pieces else None)

    def function_call(self) -> Node:
        tok = self.take("FUNCTIONS")
        name = tok.text
        self.take("LPAREN")
        args: list[Node] = []
        if not self.at("RPAREN"):
            args.append(self.expression())
            while self.at("COMMA"):
                self.i += 1
                args.append(self.expression())
        self.take("RPAREN")
        registry_property: Node | None = None
        suffix: list[str | Node] = []
        if self.at("DOT") and self.peek(1).type == "SECONDARY_FUNCTIONS":
            self.i += 2
            self.take("LPAREN")
            suffix_args: list[Node] = []
            if not self.at("RPAREN"):
                suffix_args.append(self.expression())
                while self.at("COMMA"):
                    self.i += 1
                    suffix_args.append(self.expression())
            self.take("RPAREN")
            if name == "registry" and suffix_args:
                registry_property = suffix_args[0]
        else:
            suffix = self.json_path()
        if name in ("wso2-vault", "hashicorp-vault"):
            raise self.error(
                tok,
                f"the secure vault ({name}()) is not supported yet; read the secret from the environment "
                "instead: xpath(\"get-property('env', 'NAME')\")",
            )
        arity = len(args) + (1 if registry_property is not None else 0)
        if arity not in _ARITIES[name]:
            allowed = " or ".join(str(n) for n in _ARITIES[name])
            raise self.error(tok, f"{name}() takes {allowed} argument(s), not {arity}")
        xpath = None
        if name == "xpath" and len(args) == 1 and isinstance(args[0], Literal) and isinstance(args[0].value, str):
            from .xpath import compile_xpath

            try:
                xpath = compile_xpath(_strip_quotes(args[0].value), self.namespaces)
            except ExpressionError as exc:
                raise self.error(tok, f"invalid XPath in xpath(): {exc}") from None
        call = Call(name, args, xpath, registry_property)
        if suffix and name in ("registry", "object", "array"):
            return SuffixAccess(call, _PathText(["$", *suffix]))
        return call

    def json_path(self) -> list[str | Node]:
        """W: jsonPathExpression: the text of its tokens, with the index/filter parts as nodes."""
        pieces: list[str | Node] = []
        while True:
            tok = self.peek()
            nxt = self.peek(1)
            if tok.type == "DOT" and nxt.type == "JSONPATH_FUNCTIONS":
                self.i += 2
                pieces.append("." + nxt.text)
            elif tok.type == "DOUBLE_DOT" and nxt.type in ("ASTERISK", "ID"):
                self.i += 2
                pieces.append(".." + nxt.text)
            elif tok.type == "DOT" and (nxt.type in ("ID", "ASTERISK") or nxt.type in _KEYWORD_TYPES):
                self.i += 2
                pieces.append("." + nxt.text)
            elif tok.type == "LBRACKET" or (tok.type == "DOT" and nxt.type == "LBRACKET"):
                if tok.type == "DOT":
                    self.i += 1
                pieces.extend(self.array_index())
            else:
                return pieces

    def _closing_bracket(self) -> int:
        depth = 0
        for j in range(self.i, len(self.toks)):
            t = self.toks[j].type
            if t in ("LBRACKET", "LPAREN"):
                depth += 1
            elif t in ("RBRACKET", "RPAREN"):
                depth -= 1
                if depth == 0:
                    return j
            elif t == "EOF":
                break
        raise _Syntax(self.toks[-1], "']'")

    def array_index(self) -> list[str | Node]:
        """W: arrayIndex, tried in the grammar's order (NUMBER, STRING, expression, union, slice, *, filter)."""
        open_i = self.i
        close = self._closing_bracket()
        self.take("LBRACKET")
        inner = self.toks[self.i : close]
        if len(inner) == 1 and inner[0].type in ("NUMBER", "STRING_LITERAL", "ASTERISK"):
            self.i = close + 1
            return ["[" + inner[0].text + "]"]
        # an expression that fills the brackets
        try:
            node = self.expression()
            if self.i == close:
                self.i = close + 1
                return ["[", node, "]"]
        except (_Syntax, ExpressionError):
            pass
        self.i = open_i + 1
        depth = 0
        has_comma = has_colon = False
        for tok in inner:
            if tok.type in ("LBRACKET", "LPAREN"):
                depth += 1
            elif tok.type in ("RBRACKET", "RPAREN"):
                depth -= 1
            elif depth == 0 and tok.type == "COMMA":
                has_comma = True
            elif depth == 0 and tok.type == "COLON":
                has_colon = True
        starts_filter = bool(inner) and (
            inner[0].type == "LPAREN" or (inner[0].type == "QUESTION" and len(inner) > 1 and inner[1].type == "LPAREN")
        )
        if has_comma and not starts_filter:
            items: list[Node | None] = [self.expression()]
            while self.at("COMMA"):
                self.i += 1
                items.append(self.expression())
            self.take("RBRACKET")
            return ["[", IndexList(items, ","), "]"]
        if has_colon and not starts_filter:
            slots: list[Node | None] = []
            current: Node | None = None
            while not self.at("RBRACKET"):
                if self.at("COLON"):
                    slots.append(current)
                    current = None
                    self.i += 1
                    continue
                negative = False
                if self.at("MINUS"):
                    self.i += 1
                    negative = True
                expr = self.expression()
                current = Signed(expr) if negative else expr
            slots.append(current)
            self.take("RBRACKET")
            if len(slots) > 3:
                raise _Syntax(self.peek(), "at most two ':' in a slice")
            return ["[", IndexList(slots, ":"), "]"]
        if starts_filter and inner[-1].type == "RPAREN":
            start = 2 if inner[0].type == "QUESTION" else 1
            self.i = open_i + 1 + start
            end = close - 1  # the filter's closing ')'
            pieces: list[str | Node] = []
            while self.i < end:
                tok = self.peek()
                if tok.type in _ACCESS_START:  # W: filterComponent: `$.x` / `payload.x` read the payload here too
                    saved = self.i
                    try:
                        node = self.factor()
                        if self.i <= end:
                            pieces.append(node)
                            continue
                    except (_Syntax, ExpressionError):
                        pass
                    self.i = saved
                pieces.append(_filter_token_text(tok))
                self.i += 1
            self.i = close + 1
            if all(isinstance(piece, str) for piece in pieces):  # nothing to evaluate: part of a static path
                return ["[?(" + "".join(p for p in pieces if isinstance(p, str)) + ")]"]
            return ["[", Filter(pieces), "]"]
        raise _Syntax(self.toks[open_i], "an index, a slice, '*' or a filter inside '[…]'")


def _filter_token_text(tok: Tok) -> str:
    # the tokens of a filter are written back with the spaces JSONPath needs between words
    if tok.type in ("AND", "OR"):
        return " && " if tok.type == "AND" else " || "
    if tok.type in ("JSONPATH_PARAMS", "EQ", "NEQ", "GT", "LT", "GTE", "LTE"):
        return f" {tok.text} "
    return tok.text


def _parse_number_literal(text: str) -> Any:
    n = parse_java_int(text)
    if n is not None:
        if _INT_MIN <= n <= _INT_MAX:
            return n
        if _LONG_MIN <= n <= _LONG_MAX:
            return JLong(n)
    return float(text)


# --------------------------------------------------------------------------------------------------------
# The Expression


class SynapseExpression(Expression):
    """A compiled `${…}` (W: util/xpath/SynapseExpression)."""

    __slots__ = ("_root",)
    kind = "synapse"

    def __init__(self, source: str, root: Node) -> None:
        self.source = source
        self._root = root
        self.needs_body = root.needs_body

    def _run(self, ctx: ExpressionContext, obj: bool) -> Any:
        try:
            return self._root.ev(ctx, obj)
        except EvaluationError as exc:
            log.debug("Error evaluating expression: %s cause : %s", self.source, exc)
            return None
        except (ArithmeticError, InvalidOperation, ValueError, TypeError, RecursionError) as exc:
            log.debug("Error evaluating expression: %s cause : %s", self.source, exc)
            return None

    def evaluate(self, ctx: ExpressionContext) -> Any:
        """W: objectValueOf: the value itself ("" when null or failed)."""
        result = self._run(ctx, True)
        return "" if result is None else result

    def value(self, ctx: ExpressionContext) -> Any:
        """The value, None when null or failed (the variable mediator keeps the type)."""
        return self._run(ctx, True)

    def string_value(self, ctx: ExpressionContext) -> str | None:
        result = self._run(ctx, False)
        if result is None:
            return ""
        return as_string(result) or ""

    def boolean_value(self, ctx: ExpressionContext) -> bool:
        # W: FilterMediator: Boolean.parseBoolean(stringValueOf(synCtx))
        return (self.string_value(ctx) or "").lower() == "true"

    def nodes(self, ctx: ExpressionContext) -> list[Any]:
        result = self._run(ctx, True)
        if isinstance(result, list) and all(isinstance(n, (etree._Element, str)) for n in result):
            return result
        return []

    def param_value(self, ctx: ExpressionContext) -> Any:
        return self.string_value(ctx)


def is_synapse_expression(text: str) -> bool:
    t = text.strip()
    return t.startswith("${") and t.endswith("}")


def compile_synapse_expression(text: str, namespaces: Mapping[str, str] | None = None) -> SynapseExpression:
    """Compile `${…}` (or its inside); raises ExpressionError naming the position of a syntax error."""
    t = text.strip()
    inner = t[2:-1] if is_synapse_expression(t) else t
    root = Parser(inner, namespaces or {}).parse()
    return SynapseExpression(t, root)


def template_parts(text: str, namespaces: Mapping[str, str] | None = None) -> list[str | SynapseExpression]:
    """A text with `${…}` placeholders (W: InlineExpressionUtil: `\\$\\{(.+?)}`), each compiled once."""
    parts: list[str | SynapseExpression] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        parts.append(compile_synapse_expression(m.group(1), namespaces))
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return parts


_PLACEHOLDER = re.compile(r"\$\{(.+?)}", re.S)
