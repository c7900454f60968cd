"""Attribute and text values that may be dynamic: `{xpath}`, `{json-eval(...)}`, `{{...}}`
(docs/synapse-semantics.md §3.4, W: config/xml/ValueFactory)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.errors import ExpressionError
from gateway.message.values import to_synapse_string

from ._core import Expression
from .jsonpath import compile_jsonpath, json_eval_inner, json_string
from .synapse_expr import compile_synapse_expression, is_synapse_expression
from .xpath import compile_xpath

if TYPE_CHECKING:
    from .context import ExpressionContext


class Value:
    """A compiled value: static text, or an expression evaluated per message.

    `escaped` is set for `{{expr}}`: the value itself is the literal text "{expr}" (static), and
    `escaped` holds that inner expression precompiled with the element's namespaces, for
    call-template to push into the func frame so that the template can evaluate it later."""

    __slots__ = ("source", "is_dynamic", "needs_body", "static_text", "expression", "escaped")

    def __init__(
        self,
        source: str,
        *,
        static_text: str | None = None,
        expression: Expression | None = None,
        escaped: Expression | None = None,
    ) -> None:
        self.source = source
        self.static_text = static_text
        self.expression = expression
        self.escaped = escaped
        self.is_dynamic = expression is not None
        self.needs_body = expression.needs_body if expression is not None else False

    def resolve(self, ctx: ExpressionContext) -> str | None:
        if self.expression is None:
            return self.static_text
        return self.expression.string_value(ctx)

    def resolve_items(self, ctx: ExpressionContext) -> list[str]:
        """Each node's string when the expression selects several nodes (a JSON array read with
        `//name/text()`: one item per element, not their joined text), each item of a JSON array that
        `json-eval()` selects; else the one value."""
        if self.expression is not None and self.expression.kind == "json":
            result = self.expression.evaluate(ctx)
            if isinstance(result, list):
                return [json_string(item) for item in result if item is not None]
        elif self.expression is not None:
            nodes = self.expression.nodes(ctx)
            if len(nodes) > 1:
                return [text for node in nodes if (text := to_synapse_string([node])) is not None]
        text = self.resolve(ctx)
        return [] if text is None else [text]

    def param_value(self, ctx: ExpressionContext) -> str | None:
        """The value of a template parameter held as this Value (gateway.message.scopes.func_value)."""
        return self.resolve(ctx)

    def __repr__(self) -> str:
        return f"<Value {self.source!r}>"


def _is_escaped(text: str) -> bool:
    t = text.strip()
    return len(t) > 3 and t.startswith("{{") and t.endswith("}}")


def compile_value(text: str, namespaces: Mapping[str, str] | None = None) -> Value:
    """Compile an attribute/text value once; raises ExpressionError for a bad `{...}`."""
    ns = namespaces or {}
    if _is_escaped(text):
        literal = text.strip()[1:-1]
        try:
            inner: Expression | None = _compile_braced(literal, ns)
        except ExpressionError:
            inner = None  # only text to this value; the template decides what it means
        return Value(text, static_text=literal, escaped=inner)
    if len(text) >= 2 and text[0] == "{" and text[-1] == "}":
        return Value(text, expression=_compile_braced(text, ns))
    return Value(text, static_text=text)


def _compile_braced(text: str, namespaces: Mapping[str, str]) -> Expression:
    inner = text.strip()[1:-1].strip()
    if not inner:
        raise ExpressionError(f"empty expression in dynamic value {text!r}")
    if is_synapse_expression(inner):  # W: ValueFactory `{${…}}`
        return compile_synapse_expression(inner, namespaces)
    path = json_eval_inner(inner)
    if path is not None:
        return compile_jsonpath(path, inner, namespaces)
    return compile_xpath(inner, namespaces)
