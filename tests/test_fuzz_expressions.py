"""Property tests: representative XPath, json-eval and `{…}` expressions, compiled once as at deploy time, and
evaluated on any request body with any content type, only ever fail with MediationError (the runtime fault).
How to run a longer session: see tests/test_fuzz_payload.py."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, MultiDict

from gateway.errors import MediationError
from gateway.expressions import Expression, Value, compile_expression, compile_value
from gateway.message.context import Exchange, MessageContext
from gateway.message.payload import Payload
from gateway.runtime.configuration import Configuration
from tests.support.fuzz_strategies import deep_json, json_bytes, requests, to_bytes, xml_trees

NAMESPACES = {"m": "urn:a", "soapenv": "http://schemas.xmlsoap.org/soap/envelope/"}
XPATHS = (
    "//a", "//a/text()", "//*", "count(//*)", "string(//a)", "$body/*", "$body/*[1]", "$header", "$env",
    "local-name($body/*[1])", "name(//*[last()])", "//@*", "//a/@b", "sum(//n)", "number(//a)", "//a > 1",
    "concat(//a, 'x')", "boolean(//a)", "//a[1]/node()", "//text()", "//comment()", "//m:a",
    "/soapenv:Envelope/soapenv:Body/*", "translate(//a, 'abc', 'ABC')", "substring(//a, 2, 3)",
    "string-length(//a)", "normalize-space(//a)", "//jsonObject", "//jsonElement", "//text", "//binary",
    "//xformValues/*", "get-property('FAULT')", "get-property('From')", "get-property('p')", "$ctx:p", "$ctx:p/a",
    "base64Encode(//a)", "base64Decode(//a)", "base64Decode(//a, 'utf-16')", "base64Encode(//a, 'idna')",
    "base64Encode(//a, 'latin-1')", "url-encode(//a)", "url-encode(//a, 'ascii')", "url-encode(//a, 'idna')",
    "upper-case(//a)", "concat($ctx:p, //a)", "concat($url:q, 'x')",
    "ends-with(//a, 'x')", "//_JsonReader_PD_1",
)  # fmt: skip
JSON_PATHS = (
    "$", "$.a", "$.a[0]", "$..a", "$.*", "$[0]", "$[*].a", "$.a[-1]", "$.a[1:3]", "$['a b']", "$.a.length()",
    "$.a.size()", "$.a.sum()", "$.a.min()", "$.a.max()", "$.a.avg()", "$.a.first()", "$.a.last()", "$..*",
    "$.a[?(@.b > 1)]", "$.a[?(@ == 'x')]", "$ctx:p", "$ctx:p.a", "$ctx:p..a",
)  # fmt: skip
SYNAPSE_EXPRESSIONS = (
    "payload", "$", "payload.a", "payload.a[0].b", "$..a", "payload.a[?(@.b > 1)]", "payload.a[vars.i]",
    "length(payload.a)", "payload.a + 1", "payload.a == 'x' ? 1 : 2", "xpath('//a')", "xpath('//m:a')",
    "toUpper(payload.a)", "headers['Content-Type']", "props.synapse.p", "integer(payload.n) * 2",
    "object(payload).a", "array(payload)[0]", "exists(payload.a)", "string(payload)", "payload.a.length()",
    "split(payload.a, ',')", "base64decode(payload.a)", "urlDecode(payload.a)",
    "formatDateTime(payload.a, 'yyyy', 'MM')",
)  # fmt: skip
EXPRESSIONS: tuple[Expression | Value, ...] = (
    *(compile_expression(text, NAMESPACES) for text in XPATHS),
    *(compile_expression(f"json-eval({path})") for path in JSON_PATHS),
    compile_value("{//a}"),
    compile_value("{json-eval($.a)}"),
    compile_value("{$ctx:p}"),
    *(compile_expression("${" + text + "}", NAMESPACES) for text in SYNAPSE_EXPRESSIONS),
    compile_value("{${payload.a}}"),
)


def context(content_type: str, raw: bytes, prop: Any) -> MessageContext:
    exchange = Exchange("POST", "/services/P", "json", None, None)  # type: ignore[arg-type]
    ctx = MessageContext(
        exchange=exchange,
        config=Configuration.empty(),
        payload=Payload(content_type, raw),
        transport_headers=CIMultiDict(),
        to="/services/P",
        query_params=MultiDict(q=prop if isinstance(prop, str) else ""),
    )
    if prop is not None:
        ctx.properties["p"] = prop
    return ctx


def evaluate(expressions: list[Expression | Value], content_type: str, raw: bytes, prop: Any) -> None:
    """Each expression every way a mediator reads it, on a fresh message (string_value first: it alone has a
    path that reads untouched JSON without building the infoset)."""
    for expression in expressions:
        ctx = context(content_type, raw, prop)
        readers = (
            ("resolve",) if isinstance(expression, Value) else ("string_value", "boolean_value", "evaluate", "nodes")
        )
        for reader in readers:
            try:
                getattr(expression, reader)(ctx)
            except MediationError:
                pass


# A handful per example: across examples every expression meets every kind of body.
some_expressions = st.lists(st.sampled_from(EXPRESSIONS), min_size=1, max_size=8, unique=True)
properties = st.none() | json_bytes().map(lambda b: b.decode("utf-8")) | st.text(max_size=10)


@given(some_expressions, requests, properties)
def test_expressions_on_any_body_fail_only_with_mediation_error(
    expressions: list, request: tuple[str, bytes], prop: Any
) -> None:
    evaluate(expressions, *request, prop)


@given(some_expressions, json_bytes() | deep_json(200, 1200), properties)
def test_expressions_on_json_bodies_fail_only_with_mediation_error(expressions: list, raw: bytes, prop: Any) -> None:
    evaluate(expressions, "application/json", raw, prop)


@given(some_expressions, xml_trees.map(to_bytes), st.sampled_from(("application/xml", "text/plain")))
def test_expressions_on_xml_bodies_fail_only_with_mediation_error(
    expressions: list, raw: bytes, content_type: str
) -> None:
    evaluate(expressions, content_type, raw, raw.decode("utf-8"))


# Synapse Expression texts made of MI's tokens: compiling gives a tree or an ExpressionError naming the problem,
# never another exception; evaluating never raises (MI's evaluation errors give "").
SYNAPSE_TOKENS = st.sampled_from(
    [*"abc$.[]()?:,'\"@*+-/%<>=!&|0129 ", "payload", "vars", "headers", "props", "params", "length", "xpath",
     "queryParams", "axis2", "synapse", "true", "null", "..", " and ", "object", "registry", "property"]
)  # fmt: skip


@given(st.lists(SYNAPSE_TOKENS, max_size=14).map("".join), json_bytes())
def test_any_synapse_expression_text_compiles_or_names_its_error(text: str, raw: bytes) -> None:
    from gateway.errors import ExpressionError
    from gateway.expressions import compile_synapse_expression

    try:
        expression = compile_synapse_expression(text)
    except ExpressionError as exc:
        assert str(exc)
        return
    ctx = context("application/json", raw, None)
    ctx.variables.update(a=1, b=[1, 2], c="x")
    for reader in ("string_value", "evaluate", "boolean_value", "nodes"):
        try:
            getattr(expression, reader)(ctx)
        except MediationError:
            pass  # a body the gateway cannot read (too deep for the infoset) faults, as any read of it does
