"""`json-eval(...)`: Jayway-style JSONPath on the payload or on a property (docs/synapse-semantics.md §3.3).

Paths are compiled once with python-jsonpath. Plain member/index paths (`$.a.b[2]['c']`, by far
the common case) are also turned into a key tuple and walked directly, which is several times
faster than the generic engine and has the same answers.

Jayway rules kept here (W: SynapseJsonPath with no Option flags):
* a *definite* path gives its one value, and a path that does not match gives "";
* an *indefinite* path (wildcard, `..`, filter, slice, union) always gives a JSON array, "[]"
  when nothing matches;
* a trailing `.length()`/`.size()`/`.sum()`/`.min()`/`.max()`/`.avg()`/`.first()`/`.last()`
  applies that Jayway function to the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

import jsonpath
from lxml import etree

from gateway.errors import ExpressionError
from gateway.message import json_codec, scopes
from gateway.message.scopes import VARIABLE_SCOPES

from ._core import Expression, JsonValue, java_double, json_text, to_synapse_string
from .context import ExpressionContext

JSON_EVAL = "json-eval("
_MISSING: Any = object()
NOT_FOUND: Any = object()

_SCOPED_RE = re.compile(r"\$(ctx|axis2|trp):([^.\[\s]+)(.*)", re.S)
_FUNCTION_RE = re.compile(r"\.(length|size|min|max|avg|sum|first|last)\(\)\s*$")
_SIMPLE_SEGMENT_RE = re.compile(
    r"""\.(?P<name>[^.\[\]\s'"*()?@,:$=<>!&|]+)"""
    r"""|\[\s*'(?P<sq>[^'\\]*)'\s*\]"""
    r"""|\[\s*"(?P<dq>[^"\\]*)"\s*\]"""
    r"""|\[\s*(?P<index>-?\d+)\s*\]"""
)


def _jayway_to_rfc(path: str) -> str:
    """Accept Jayway's `$.['key']` / `a.[0]` spellings by dropping a '.' before '[' (not `..[`)."""
    out: list[str] = []
    quote: str | None = None
    for i, ch in enumerate(path):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "." and path[i + 1 : i + 2] == "[" and (i == 0 or path[i - 1] != "."):
            continue
        out.append(ch)
    return "".join(out)


def _simple_keys(path: str) -> tuple[str | int, ...] | None:
    """The key tuple of a path made only of member names and integer indexes, else None."""
    if not path.startswith("$"):
        return None
    keys: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _SIMPLE_SEGMENT_RE.match(path, pos)
        if m is None:
            return None
        if m.group("index") is not None:
            keys.append(int(m.group("index")))
        else:
            keys.append(m.group("name") or m.group("sq") or m.group("dq") or "")
        pos = m.end()
    return tuple(keys)


def json_eval_inner(text: str) -> str | None:
    """The path inside `json-eval(…)` when the whole text is one, else None; an unclosed one is an error."""
    stripped = text.strip()
    if not stripped.startswith(JSON_EVAL):
        return None
    if not stripped.endswith(")"):
        raise ExpressionError(f"json-eval( without a closing ')' in {text!r}")
    return stripped[len(JSON_EVAL) : -1]


def unwrap_json_eval(text: str) -> str:
    """A JSONPath where the `json-eval(…)` wrapper is optional (payloadFactory `evaluator="json"` args and
    enrich paths, W: PayloadFactoryMediatorFactory / EnrichMediatorFactory strip it)."""
    inner = json_eval_inner(text)
    return (text if inner is None else inner).strip()


class JsonPath:
    """A compiled JSONPath over a JSON document: the one place Jayway spellings are normalised and compiled.
    `text` starts with '$' (no `$ctx:` scope, no trailing function): json-eval and enrich both build on it."""

    __slots__ = ("text", "root", "definite", "keys", "_compiled")

    def __init__(self, text: str) -> None:
        if text.endswith(".") and not text.endswith(".."):
            text = text[:-1]  # W: "$." means the whole document
        self.text = text
        self.root = text == "$"
        rfc = _jayway_to_rfc(text)
        try:
            self._compiled = jsonpath.compile(rfc)
        except (jsonpath.JSONPathError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ExpressionError(reason) from None
        self.keys = _simple_keys(rfc)  # plain member/index paths are walked directly
        single = getattr(self._compiled, "singular_query", None)
        self.definite = self.keys is not None or bool(single and single())

    def matches(self, doc: Any) -> list[jsonpath.JSONPathMatch]:
        """Every match with its location (`.obj`, `.parts`, `.pointer()`), for changing the document."""
        if not isinstance(doc, (dict, list)):
            return []
        try:
            return list(self._compiled.finditer(doc))
        except jsonpath.JSONPathError:
            return []

    def select(self, doc: Any) -> Any:
        """Jayway read: the one value of a definite path, the list of matches of an indefinite one,
        NOT_FOUND when a definite path matches nothing."""
        if self.keys is not None:
            return _walk(doc, self.keys)
        if not isinstance(doc, (dict, list)):
            return NOT_FOUND if self.definite else []
        try:
            matches = self._compiled.findall(doc)
        except jsonpath.JSONPathError:
            return NOT_FOUND
        if self.definite:
            return matches[0] if matches else NOT_FOUND
        return matches


def _walk(doc: Any, keys: tuple[str | int, ...]) -> Any:
    for key in keys:
        if isinstance(key, int):
            if not isinstance(doc, list) or not -len(doc) <= key < len(doc):
                return NOT_FOUND
            doc = doc[key]
        else:
            if not isinstance(doc, dict) or key not in doc:
                return NOT_FOUND
            doc = doc[key]
    return doc


def json_string(value: Any) -> str:
    """A matched JSON value as W: prints it: strings bare, null → "null", others as JSON text."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json_text(value)


def _apply_function(name: str, value: Any) -> Any:
    if name in ("length", "size"):
        return len(value) if isinstance(value, (list, dict, str)) else NOT_FOUND
    if not isinstance(value, list) or not value:
        return NOT_FOUND
    if name == "first":
        return value[0]
    if name == "last":
        return value[-1]
    numbers = [float(v) for v in value if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)]
    if not numbers:
        return NOT_FOUND
    if name == "sum":
        return sum(numbers)
    if name == "min":
        return min(numbers)
    if name == "max":
        return max(numbers)
    return sum(numbers) / len(numbers)  # avg


class JsonPathExpression(Expression):
    """A compiled `json-eval(...)`."""

    __slots__ = ("path", "_path", "_whole", "_function", "_scope", "_prop", "_read", "_inline")
    kind = "json"

    def __init__(self, source: str, path: str, namespaces: Mapping[str, str] | None = None) -> None:
        self.source = source
        self._scope: str | None = None
        self._prop = ""
        text = path.strip()
        self._read: Callable[[ExpressionContext], Any] | None = None
        scoped = _SCOPED_RE.fullmatch(text)
        if scoped:
            self._scope, self._prop, rest = scoped.groups()
            self._read = scopes.getter(VARIABLE_SCOPES[self._scope], self._prop)
            text = "$" + rest.strip()
        elif not text or text.startswith("@"):
            raise ExpressionError(f"invalid JSONPath {path!r} in {source!r}: a path starts with '$'")
        elif not text.startswith("$"):
            text = "$." + text  # W: Jayway's PathCompiler reads `name` as `$.name`
        self.needs_body = self._scope is None
        self._function: str | None = None
        fn = _FUNCTION_RE.search(text)
        if fn:
            self._function = fn.group(1)
            text = text[: fn.start()]
        self._inline = _inline_values(text, namespaces or {}, source)
        if self._inline:
            self.needs_body = self.needs_body or any(
                not isinstance(part, str) and part.needs_body for part in self._inline
            )
        try:
            self._path = JsonPath(text) if not self._inline else _checked(self._inline)
        except ExpressionError as exc:
            raise ExpressionError(f"invalid JSONPath {path!r} in {source!r}: {exc}") from None
        self.path = text if self._inline else self._path.text
        self._whole = self._path.root and self._function is None and not self._inline

    # -- evaluation -------------------------------------------------------------------------

    def _document(self, ctx: ExpressionContext) -> Any:
        if self._read is None:
            return ctx.payload_json()
        value = self._read(ctx)
        if value is None:
            return _MISSING
        if isinstance(value, JsonValue):
            return value.value
        if isinstance(value, (etree._Element, bytes)):
            value = to_synapse_string(value)
        if isinstance(value, str):
            try:
                return json_codec.loads(value)
            except json_codec.JsonConversionError:
                return value  # not JSON: only `$` can match it
        return value

    def _path_for(self, ctx: ExpressionContext) -> JsonPath | None:
        if not self._inline:
            return self._path
        # W: InlineExpressionUtil.replaceDynamicValuesForJSONPath: each {…} replaced by its string value, as it is
        text = "".join(p if isinstance(p, str) else (p.string_value(ctx) or "") for p in self._inline)
        return _inline_path(text)

    def _select(self, doc: Any, path: JsonPath | None) -> Any:
        if path is None:
            return NOT_FOUND
        result = path.select(doc)
        if self._function is not None and result is not NOT_FOUND:
            result = _apply_function(self._function, result)
        return result

    def evaluate(self, ctx: ExpressionContext) -> Any:
        """The matched JSON value (None is JSON null), a list for an indefinite path, "" if none."""
        doc = self._document(ctx)
        if doc is _MISSING:
            return ""
        if self._whole:
            return doc
        result = self._select(doc, self._path_for(ctx))
        return "" if result is NOT_FOUND else result

    def string_value(self, ctx: ExpressionContext) -> str | None:
        doc = self._document(ctx)
        if doc is _MISSING:
            return ""
        if self._whole:
            if self._scope is not None:
                raw = self._raw_property(ctx)
                if raw is not None:
                    return raw
            return json_text(doc)
        result = self._select(doc, self._path_for(ctx))
        if result is NOT_FOUND:
            return ""
        if isinstance(result, float) and self._function in ("sum", "min", "max", "avg"):
            return java_double(result)  # Jayway returns a Java Double here
        return json_string(result)

    def _raw_property(self, ctx: ExpressionContext) -> str | None:
        # A string property is already JSON text: give it back untouched, as W: does for `$.`.
        value = self._read(ctx) if self._read is not None else None
        return value if isinstance(value, str) else None

    def boolean_value(self, ctx: ExpressionContext) -> bool:
        # W: Boolean.parseBoolean(stringValueOf(...))
        s = self.string_value(ctx)
        return s is not None and s.lower() == "true"


def compile_jsonpath(
    path: str, source: str | None = None, namespaces: Mapping[str, str] | None = None
) -> JsonPathExpression:
    """Compile the path inside json-eval(...) (or a payloadFactory `evaluator="json"` arg, whose
    `json-eval(…)` wrapper is optional); `namespaces` serve the XPaths of inline `{…}` values."""
    return JsonPathExpression(source if source is not None else path, unwrap_json_eval(path), namespaces)


# W: InlineExpressionUtil.EXPRESSION_PATTERN: `{xpath}` / `{json-eval(…)}` written inside a JSONPath
_INLINE_RE = re.compile(r"\{[^\s\",<>}\]]+}")


def _inline_values(text: str, namespaces: Mapping[str, str], source: str) -> tuple[str | Expression, ...]:
    """The path split into text and the compiled inline values (W: SynapseJsonPath isJSONPathNeedsProcessing);
    () when it has none."""
    if "{" not in text:
        return ()
    from .xpath import compile_xpath

    parts: list[str | Expression] = []
    position = 0
    for match in _INLINE_RE.finditer(text):
        inner = match.group()[1:-1]
        parts.append(text[position : match.start()])
        try:
            inner_path = json_eval_inner(inner)
            parts.append(
                compile_jsonpath(inner_path, inner) if inner_path is not None else compile_xpath(inner, namespaces)
            )
        except ExpressionError as exc:
            raise ExpressionError(f"invalid inline value {match.group()} in {source!r}: {exc}") from None
        position = match.end()
    if not parts:
        return ()
    parts.append(text[position:])
    return tuple(p for p in parts if p != "")


def _checked(parts: tuple[str | Expression, ...]) -> JsonPath:
    """A path with inline values, checked at deploy time with each value a number, else a name (W: Jayway
    compiles it as written, braces and all)."""
    error: ExpressionError | None = None
    for placeholder in ("0", "a"):
        try:
            return JsonPath("".join(p if isinstance(p, str) else placeholder for p in parts))
        except ExpressionError as exc:
            error = exc
    assert error is not None
    raise error


@lru_cache(maxsize=512)
def _inline_path(text: str) -> JsonPath | None:
    try:
        return JsonPath(text)
    except ExpressionError:
        return None
