"""The expression layer: Synapse XPath, `json-eval()` JSONPath and `{...}` dynamic values.

Everything is compiled once at deploy time (errors raise gateway.errors.ExpressionError) and
evaluated per message against a duck-typed message context (see gateway/message/context.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from ._core import SYSTEM_PROPERTIES, Expression, JsonValue, java_double, to_synapse_string
from .jsonpath import JsonPath, JsonPathExpression, compile_jsonpath, json_eval_inner, unwrap_json_eval
from .synapse_expr import SynapseExpression, compile_synapse_expression, is_synapse_expression, template_parts
from .values import Value, compile_value
from .xpath import XPathExpression, compile_xpath

__all__ = [
    "SYSTEM_PROPERTIES",
    "Expression",
    "JsonPath",
    "JsonPathExpression",
    "JsonValue",
    "SynapseExpression",
    "Value",
    "XPathExpression",
    "compile_expression",
    "compile_jsonpath",
    "compile_synapse_expression",
    "compile_value",
    "compile_xpath",
    "java_double",
    "is_synapse_expression",
    "json_eval_inner",
    "to_synapse_string",
    "template_parts",
    "unwrap_json_eval",
]


def compile_expression(text: str, namespaces: Mapping[str, str] | None = None) -> Expression:
    """`${…}` (the whole text) → an MI 4.4 Synapse Expression (W: SynapsePathFactory); `json-eval(<path>)` →
    JSONPath; anything else → Synapse XPath 1.0.

    `namespaces` are the prefixed declarations in scope on the mediator element (the default
    namespace is never used for XPath)."""
    if is_synapse_expression(text):
        return compile_synapse_expression(text, namespaces)
    path = json_eval_inner(text)
    if path is not None:
        return compile_jsonpath(path, text, namespaces)
    return compile_xpath(text, namespaces)
