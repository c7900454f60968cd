"""Unit tests for gateway.expressions (reference synapse-semantics.md §3)."""

from __future__ import annotations

import base64
import os
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from lxml import etree

from gateway.errors import ExpressionError, MediationError
from gateway.expressions import (
    Expression,
    JsonValue,
    Value,
    compile_expression,
    compile_value,
    java_double,
    to_synapse_string,
)
from gateway.expressions._core import SYSTEM_PROPERTIES, java_date_formatter
from tests.support.fake_context import FakeContext, soap_envelope

M0 = "http://services.samples"
NS = {"m0": M0, "soapenv": "http://schemas.xmlsoap.org/soap/envelope/"}
QUOTE_BODY = (
    f'<m0:getQuote xmlns:m0="{M0}"><m0:request><m0:symbol>IBM</m0:symbol></m0:request>'
    f"<m0:request><m0:symbol>MSFT</m0:symbol><m0:qty>500</m0:qty></m0:request>"
    f"<m0:total>1000</m0:total></m0:getQuote>"
)
JSON_DOC: dict[str, Any] = {
    "id": 12345,
    "name": None,
    "object": {},
    "$schema_location": "unknown",
    "array": [1, 2, [[], [{"inner_id": 6789}]]],
    "items": [{"p": 1, "n": "a"}, {"p": 2, "n": "b"}],
    "flag": "TRUE",
    "price": 1.5,
}


def sv(text: str, ctx: Any, namespaces: dict[str, str] | None = None) -> str | None:
    return compile_expression(text, NS if namespaces is None else namespaces).string_value(ctx)


@pytest.fixture
def quote_ctx() -> FakeContext:
    return FakeContext(soap_envelope(QUOTE_BODY))


# --------------------------------------------------------------------------------------------
# §3.2 string conversion


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("(//m0:symbol)[1]", "IBM"),
        ("//m0:request[1]/m0:symbol", "IBM"),
        ("count(//m0:symbol)", "2.0"),
        ("sum(//m0:qty | //m0:total)", "1500.0"),
        ("1+1", "2.0"),
        ("0.1", "0.1"),
        ("1 div 0", "Infinity"),
        ("0 div 0", "NaN"),
        ("0.00001", "1.0E-5"),
        ("12345678", "1.2345678E7"),
        ("//m0:nothing", ""),
        ("string(//m0:request[2]/m0:symbol)", "MSFT"),
        ("//m0:symbol = 'IBM'", "true"),
        ("//m0:symbol/text()", "IBMMSFT"),
        ("/soapenv:Envelope/soapenv:Body/m0:getQuote/m0:total", "1000"),
        ("soapenv:Body/m0:getQuote/m0:total", "1000"),  # relative to the envelope
        ("'literal'", "literal"),
    ],
)
def test_string_conversion(quote_ctx: FakeContext, expr: str, expected: str) -> None:
    assert sv(expr, quote_ctx) == expected


def test_element_without_direct_text_gives_serialized_xml(quote_ctx: FakeContext) -> None:
    # Only the namespaces the fragment uses are declared (no soapenv), as Axiom does.
    assert sv("(//m0:request)[1]", quote_ctx) == (
        f'<m0:request xmlns:m0="{M0}"><m0:symbol>IBM</m0:symbol></m0:request>'
    )


def test_several_elements_each_serialized(quote_ctx: FakeContext) -> None:
    assert sv("//m0:symbol", quote_ctx) == (
        f'<m0:symbol xmlns:m0="{M0}">IBM</m0:symbol><m0:symbol xmlns:m0="{M0}">MSFT</m0:symbol>'
    )


def test_direct_text_is_trimmed_with_nbsp() -> None:
    ctx = FakeContext(soap_envelope("<a>\u00a0 IBM \n<b>inner</b> tail\u00a0</a>"))
    assert sv("//a", ctx) == "IBM \n tail"
    assert sv("//b", ctx) == "inner"


def test_node_selector_keeps_parent(quote_ctx: FakeContext) -> None:
    # W: a single text node from a `…node()` expression is replaced by its parent element.
    assert sv("(//m0:symbol)[1]/node()", quote_ctx) == f'<m0:symbol xmlns:m0="{M0}">IBM</m0:symbol>'
    assert sv("(//m0:symbol)[1]/text()", quote_ctx) == "IBM"


def test_attribute_and_mixed_nodes() -> None:
    ctx = FakeContext(soap_envelope('<a id="7">x<b/>y</a>'))
    assert sv("//a/@id", ctx) == "7"
    assert sv("//a/node()", ctx) == "x<b/>y"
    assert sv("//a", ctx) == "xy"


def test_missing_property_is_null_only_as_whole_expression() -> None:
    ctx = FakeContext()
    assert sv("$ctx:missing", ctx) is None
    assert sv("($ctx:missing)", ctx) is None
    assert sv("get-property('missing')", ctx) is None
    assert sv("get-property('axis2', 'missing')", ctx) is None
    assert sv("$trp:missing", ctx) is None
    assert sv("concat('a', $ctx:missing, get-property('missing'))", ctx) == "a"
    assert sv("string($ctx:missing)", ctx) == ""
    assert sv("$url:missing", ctx) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.0, "2.0"),
        (1500.0, "1500.0"),
        (0.1, "0.1"),
        (1e21, "1.0E21"),
        (1.0e-5, "1.0E-5"),
        (-2.5e-7, "-2.5E-7"),
        (1e7, "1.0E7"),
        (9999999.0, "9999999.0"),
        (0.001, "0.001"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
    ],
)
def test_java_double(value: float, expected: str) -> None:
    assert java_double(value) == expected


def test_to_synapse_string_of_property_values() -> None:
    assert to_synapse_string(None) is None
    assert to_synapse_string("s") == "s"
    assert to_synapse_string(5) == "5"  # a Java Integer
    assert to_synapse_string(5.0) == "5.0"  # a Java Double
    assert to_synapse_string(True) == "true"
    assert to_synapse_string(JsonValue({"a": [1, None]})) == '{"a":[1,null]}'
    assert to_synapse_string(etree.fromstring("<a> t </a>")) == "t"
    assert to_synapse_string(etree.fromstring("<a><b/></a>")) == "<a><b/></a>"
    assert to_synapse_string([]) == ""


def test_property_value_types_in_xpath() -> None:
    om = etree.fromstring("<a><x>1</x><x>2</x></a>")
    ctx = FakeContext(properties={"n": 5, "f": 2.5, "b": True, "om": om, "j": JsonValue({"k": "v"})})
    assert sv("$ctx:n", ctx) == "5"
    assert sv("$ctx:f", ctx) == "2.5"
    assert sv("$ctx:b", ctx) == "true"
    assert sv("$ctx:n + 1", ctx) == "6.0"
    assert sv("concat($ctx:n, '')", ctx) == "5"
    assert sv("$ctx:om", ctx) == "<a><x>1</x><x>2</x></a>"
    assert sv("count($ctx:om/x)", ctx) == "2.0"
    assert sv("$ctx:om//x[2]", ctx) == "2"
    assert sv("$ctx:j", ctx) == '{"k":"v"}'
    assert sv("concat('>', $ctx:j)", ctx) == '>{"k":"v"}'


# --------------------------------------------------------------------------------------------
# Variables and get-property (§3.1)


@pytest.fixture
def rich_ctx() -> FakeContext:
    return FakeContext(
        soap_envelope(
            QUOTE_BODY,
            header_xml=(
                '<wsa:From xmlns:wsa="http://www.w3.org/2005/08/addressing">'
                "<wsa:Address>http://client</wsa:Address></wsa:From>"
            ),
        ),
        properties={"p": "pv", "mymap": {"k": "mv"}},
        axis2={"HTTP_SC": 200, "messageType": "text/xml"},
        operation={"op": "ov"},
        headers={"Content-Type": "text/xml", "X-Trace": "t1"},
        func_stack=[{"outer": "o"}, {"param": "fv"}],
        local_entries={"entryText": "from-entry", "entryXml": etree.fromstring("<cfg><v>1</v></cfg>")},
        to="/services/StockQuote/get?Symbol=IBM&x=a%20b",
        query=[("Symbol", "IBM"), ("x", "a b")],
        soap_action="urn:getQuote",
        message_id="urn:uuid:1234",
        message_format="soap11",
    )


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("$ctx:p", "pv"),
        ("$axis2:HTTP_SC", "200"),
        ("$axis2:messageType", "text/xml"),
        ("$trp:content-type", "text/xml"),
        ("$trp:X-TRACE", "t1"),
        ("$url:symbol", "IBM"),
        ("$url:x", "a b"),
        ("$func:param", "fv"),
        ("$operation:op", "ov"),
        ("$mymap:k", "mv"),
        ("get-property('p')", "pv"),
        ("synapse:get-property('p')", "pv"),
        ("fn:get-property('p')", "pv"),
        ("undeclared:get-property('p')", "pv"),
        ("get-property('default', 'p')", "pv"),
        ("get-property('axis2', 'HTTP_SC')", "200"),
        ("get-property('transport', 'CONTENT-TYPE')", "text/xml"),
        ("get-property('operation', 'op')", "ov"),
        ("get-property('func', 'param')", "fv"),
        ("get-property('registry', 'gov:/x')", ""),
        ("get-property('p', 'yyyy')", "pv"),  # unknown first argument: (name, dateFormat)
        ("get-property('To')", "/services/StockQuote/get?Symbol=IBM&x=a%20b"),
        ("get-property('Action')", "urn:getQuote"),
        ("get-property('MessageID')", "urn:uuid:1234"),
        ("get-property('MESSAGE_FORMAT')", "soap11"),
        ("get-property('From')", "http://client"),
        ("get-property('ReplyTo')", ""),
        ("get-property('FAULT')", ""),
        ("get-property('OperationName')", ""),
        ("get-property('entryText')", "from-entry"),  # falls back to the local entry
        ("get-property('entryXml')", "<cfg><v>1</v></cfg>"),
        ("concat(get-property('p'), '-', $ctx:p, '-', $trp:X-Trace)", "pv-pv-t1"),
        ("get-property(concat('p', ''))", "pv"),  # computed argument goes through lxml
        ("string-length($body/m0:getQuote/m0:total)", "4.0"),
        ("$body/m0:getQuote/m0:total", "1000"),
        ("$env/soapenv:Body/m0:getQuote/m0:total", "1000"),
        ("count($header/*)", "1.0"),
    ],
)
def test_variables_and_get_property(rich_ctx: FakeContext, expr: str, expected: str) -> None:
    assert sv(expr, rich_ctx, {**NS, "synapse": "http://ws.apache.org/ns/synapse", "fn": "urn:anything"}) == expected


def test_fault_message_format_and_system(rich_ctx: FakeContext) -> None:
    rich_ctx._fault = True
    assert sv("get-property('FAULT')", rich_ctx) == "TRUE"
    rich_ctx.message_format = "something"
    assert sv("get-property('MESSAGE_FORMAT')", rich_ctx) == "soap12"
    SYSTEM_PROPERTIES["gw.test"] = "yes"
    try:
        assert sv("get-property('system', 'gw.test')", rich_ctx) == "yes"
        assert sv("$sys:gw.test", rich_ctx) == "yes"
    finally:
        del SYSTEM_PROPERTIES["gw.test"]
    assert sv("get-property('system', 'no.such')", rich_ctx) == ""
    os.environ["GW_EXPR_TEST"] = "envval"
    try:
        assert sv("get-property('env', 'GW_EXPR_TEST')", rich_ctx) == "envval"
    finally:
        del os.environ["GW_EXPR_TEST"]


def test_body_and_header_variables_are_nodes(rich_ctx: FakeContext) -> None:
    body = compile_expression("$body", NS).nodes(rich_ctx)
    assert len(body) == 1 and body[0].tag == f"{{{NS['soapenv']}}}Body"
    assert sv("$body", rich_ctx, NS).startswith("<soapenv:Body")  # no direct text → XML
    assert compile_expression("$header", NS).nodes(rich_ctx)[0].tag.endswith("}Header")


def test_system_date_and_time() -> None:
    ctx = FakeContext()
    year = str(datetime.now().astimezone().year)
    assert sv("get-property('SYSTEM_DATE', 'yyyy')", ctx) == year
    assert sv("get-property('default', 'SYSTEM_DATE', 'yyyy')", ctx) == year
    stamp = sv("get-property('SYSTEM_DATE', \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\")", ctx)
    assert stamp is not None and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}", stamp)
    assert re.fullmatch(r"\d{1,2}/\d{1,2}/\d\d, \d{1,2}:\d\d [AP]M", sv("get-property('SYSTEM_DATE')", ctx) or "")
    millis = int(sv("get-property('SYSTEM_TIME')", ctx) or "0")
    assert abs(millis - datetime.now().timestamp() * 1000) < 60_000


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2024-03-05T07:08:09.012+0100"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T07:08:09.012+01:00"),
        ("dd/MMM/yyyy hh:mm a", "05/Mar/2024 07:08 AM"),
        ("EEE, d MMM yyyy", "Tue, 5 Mar 2024"),
        ("EEEE MMMM yy", "Tuesday March 24"),
        ("yyyyMMddHHmmssSSS", "20240305070809012"),
        ("''yy'' 'o''clock'", "'24' o'clock"),
        ("D k K h", "65 7 7 7"),
    ],
)
def test_java_date_format(pattern: str, expected: str) -> None:
    dt = datetime(2024, 3, 5, 7, 8, 9, 12_000, tzinfo=timezone(timedelta(hours=1)))
    assert java_date_formatter(pattern)(dt) == expected


def test_func_frame_holding_an_expression_is_evaluated_lazily(quote_ctx: FakeContext) -> None:
    escaped = compile_value("{{//m0:total}}", NS)
    assert escaped.escaped is not None
    quote_ctx.func_stack.append({"xp": escaped.escaped, "js": compile_expression("json-eval($.id)")})
    quote_ctx._json_payload = JSON_DOC
    assert sv("$func:xp", quote_ctx) == "1000"
    assert sv("get-property('func', 'xp')", quote_ctx) == "1000"
    assert sv("$func:js", quote_ctx) == "12345"


def test_base64_and_url_encode() -> None:
    ctx = FakeContext(properties={"s": "héllo wörld"})
    assert sv("base64Encode('hello')", ctx) == "aGVsbG8="
    assert sv("base64Encode($ctx:s)", ctx) == base64.b64encode("héllo wörld".encode()).decode()
    assert sv("base64Encode($ctx:s, 'ISO-8859-1')", ctx) == base64.b64encode("héllo wörld".encode("latin-1")).decode()
    assert sv("base64Decode(base64Encode($ctx:s))", ctx) == "héllo wörld"
    assert sv("base64Decode('aGVsbG8')", ctx) == "hello"  # lenient about padding
    assert sv("base64Encode('')", ctx) == ""
    assert sv("url-encode('a b/c?x=1 2&y=é')", ctx) == "a%20b/c?x=1%202&y=%C3%A9"
    assert sv("url-encode('é', 'ISO-8859-1')", ctx) == "%E9"
    assert sv("synapse:url-encode('a b')", ctx, {"synapse": "http://ws.apache.org/ns/synapse"}) == "a%20b"


def test_fn_prefix_without_declaration_and_jaxen_extras() -> None:
    ctx = FakeContext(properties={"a": "x"})
    # Apache sample 2: fn:concat without xmlns:fn.
    assert sv("fn:concat('a', fn:substring('xyz', 2), $ctx:a)", ctx, {}) == "ayzx"
    fn_ns = {"fn": "http://www.w3.org/2005/xpath-functions"}
    assert sv("fn:upper-case('abc')", ctx, fn_ns) == "ABC"
    assert sv("lower-case('ABC')", ctx, {}) == "abc"
    assert sv("ends-with('abc', 'bc')", ctx, {}) == "true"


def test_string_literals_are_never_rewritten() -> None:
    ctx = FakeContext(properties={"x": "X"})
    assert sv("concat('get-property(', \"$ctx:x\", 'fn:concat(', $ctx:x)", ctx) == ("get-property($ctx:xfn:concat(X")


def test_xpath_over_json_infoset() -> None:
    ctx = FakeContext(
        soap_envelope("<jsonObject><symbol>IBM</symbol><items><p>1</p></items><items><p>2</p></items></jsonObject>")
    )
    assert sv("//symbol", ctx) == "IBM"
    assert sv("$body/jsonObject/symbol", ctx) == "IBM"
    assert sv("sum(//items/p)", ctx) == "3.0"
    assert sv("(//items)[1]", ctx) == "<items><p>1</p></items>"  # no soapenv declaration leaks in


def test_default_namespace_key_is_ignored() -> None:
    ctx = FakeContext(soap_envelope("<a>plain</a>"))
    expr = compile_expression("//a", {None: "http://ws.apache.org/ns/synapse", "": "urn:x"})  # type: ignore[dict-item]
    assert expr.string_value(ctx) == "plain"


# --------------------------------------------------------------------------------------------
# Boolean and node-set views


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("//m0:symbol", True),
        ("//m0:nothing", False),
        ("count(//m0:symbol) > 1", True),
        ("$ctx:x = 'a'", True),
        ("$ctx:x = 'b'", False),
        ("'false'", True),  # a non-empty string is true in XPath
        ("''", False),
        ("0", False),
        ("get-property('missing')", False),
        ("$ctx:x", True),
        ("not(get-property('missing'))", True),
    ],
)
def test_boolean_value(quote_ctx: FakeContext, expr: str, expected: bool) -> None:
    quote_ctx.properties["x"] = "a"
    assert compile_expression(expr, NS).boolean_value(quote_ctx) is expected


def test_nodes(quote_ctx: FakeContext) -> None:
    nodes = compile_expression("//m0:symbol", NS).nodes(quote_ctx)
    assert [n.text for n in nodes] == ["IBM", "MSFT"]
    assert compile_expression("count(//m0:symbol)", NS).nodes(quote_ctx) == []
    om = etree.fromstring("<om/>")
    quote_ctx.properties["om"] = om
    assert compile_expression("$ctx:om", NS).nodes(quote_ctx) == [om]
    assert compile_expression("json-eval($.a)").nodes(quote_ctx) == []


# --------------------------------------------------------------------------------------------
# JSONPath (§3.3)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.id", "12345"),
        ("$.name", "null"),
        ("$.object", "{}"),
        ("$.['$schema_location']", "unknown"),
        ("$['$schema_location']", "unknown"),
        ("$.array[2][1][0].inner_id", "6789"),
        ("$.array", '[1,2,[[],[{"inner_id":6789}]]]'),
        ("$.array[-1][1]", '[{"inner_id":6789}]'),
        ("$.missing", ""),
        ("$.id.deeper", ""),
        ("$.items[0]", '{"p":1,"n":"a"}'),
        ("$.items[*].n", '["a","b"]'),
        ("$..p", "[1,2]"),
        ("$..zzz", "[]"),  # Jayway: an indefinite path always gives an array
        ("$.items[?(@.p > 1)].n", '["b"]'),
        ("$.items.length()", "2"),
        ("$.items[*].p.sum()", "3.0"),
        ("$.price", "1.5"),
        ("$.flag", "TRUE"),
    ],
)
def test_json_eval(path: str, expected: str) -> None:
    ctx = FakeContext(json_payload=JSON_DOC)
    assert compile_expression(f"json-eval({path})").string_value(ctx) == expected


def test_json_eval_whole_payload() -> None:
    ctx = FakeContext(json_payload={"a": [1, {"b": None}], "c": "é"})
    for path in ("$", "$."):
        assert compile_expression(f"json-eval({path})").string_value(ctx) == '{"a":[1,{"b":null}],"c":"é"}'
    assert compile_expression("json-eval($.a)").evaluate(ctx) == [1, {"b": None}]
    assert compile_expression("json-eval($.nope)").evaluate(ctx) == ""


def test_json_eval_boolean() -> None:
    ctx = FakeContext(json_payload={"t": "TRUE", "f": False, "y": "yes", "b": True})
    assert compile_expression("json-eval($.t)").boolean_value(ctx) is True
    assert compile_expression("json-eval($.b)").boolean_value(ctx) is True
    assert compile_expression("json-eval($.f)").boolean_value(ctx) is False
    assert compile_expression("json-eval($.y)").boolean_value(ctx) is False
    assert compile_expression("json-eval($.none)").boolean_value(ctx) is False


def test_json_eval_on_properties() -> None:
    ctx = FakeContext(
        properties={"student": '{"student":{"name":"Ann","marks":[90,80]}}', "jv": JsonValue({"a": [1, 2]})},
        axis2={"ax": JsonValue({"k": "v"})},
        headers={"X-Json": '{"h": {"x": 1}}'},
    )
    assert compile_expression("json-eval($ctx:student.student.name)").string_value(ctx) == "Ann"
    assert compile_expression("json-eval($ctx:student.student.marks[1])").string_value(ctx) == "80"
    assert compile_expression("json-eval($ctx:student)").string_value(ctx) == (
        '{"student":{"name":"Ann","marks":[90,80]}}'
    )
    assert compile_expression("json-eval($ctx:jv.a[1])").string_value(ctx) == "2"
    assert compile_expression("json-eval($axis2:ax.k)").string_value(ctx) == "v"
    assert compile_expression("json-eval($trp:X-Json.h.x)").string_value(ctx) == "1"
    assert compile_expression("json-eval($ctx:absent.a)").string_value(ctx) == ""
    assert ctx.envelope_reads == 0  # property paths never touch the payload


# --------------------------------------------------------------------------------------------
# Dynamic values (§3.4)


def test_dynamic_values() -> None:
    ctx = FakeContext(soap_envelope(QUOTE_BODY), properties={"seq": "mySeq"}, json_payload=JSON_DOC)
    xp = compile_value("{//m0:total}", NS)
    assert xp.is_dynamic and xp.needs_body and xp.static_text is None
    assert xp.resolve(ctx) == "1000"

    prop = compile_value("{get-property('seq')}", NS)
    assert prop.is_dynamic and not prop.needs_body and prop.resolve(ctx) == "mySeq"
    assert compile_value("{$ctx:missing}", NS).resolve(ctx) is None
    assert compile_value("{ $ctx:seq }", NS).resolve(ctx) == "mySeq"

    js = compile_value("{json-eval($.id)}", NS)
    assert js.is_dynamic and js.needs_body and js.resolve(ctx) == "12345"

    escaped = compile_value("{{//m0:total}}", NS)
    assert not escaped.is_dynamic and not escaped.needs_body
    assert escaped.static_text == "{//m0:total}" and escaped.resolve(ctx) == "{//m0:total}"
    assert isinstance(escaped.escaped, Expression) and escaped.escaped.string_value(ctx) == "1000"

    static = compile_value("StockQuoteSeq", NS)
    assert isinstance(static, Value) and not static.is_dynamic and not static.needs_body
    assert static.resolve(ctx) == static.static_text == "StockQuoteSeq"
    assert compile_value("{not closed", NS).resolve(ctx) == "{not closed"


def test_dynamic_value_errors() -> None:
    with pytest.raises(ExpressionError, match="undefined namespace prefix 'm9'"):
        compile_value("{//m9:x}", NS)
    with pytest.raises(ExpressionError, match="empty expression"):
        compile_value("{}", NS)
    with pytest.raises(ExpressionError, match="syntax error"):
        compile_value("{${payload.a +}}", NS)


# --------------------------------------------------------------------------------------------
# needs_body analysis


@pytest.mark.parametrize(
    "expr",
    [
        "//a",
        "$body",
        "$body/a",
        "$header",
        "$env",
        "json-eval($.a)",
        "json-eval($.)",
        "count(//x)",
        "a",
        "*",
        "@id",
        ".",
        "name()",
        "string()",
        "get-property('FAULT')",
        "get-property('From')",
        "get-property(concat('a', 'b'))",
        "concat($ctx:a, /x)",
        "$ctx:a and b",
        "text()",
    ],
)
def test_needs_body_true(expr: str) -> None:
    assert compile_expression(expr, NS).needs_body is True


@pytest.mark.parametrize(
    "expr",
    [
        "$ctx:a",
        "get-property('x')",
        "concat($ctx:a,'b')",
        "get-property('transport','Host')",
        "get-property('axis2', 'HTTP_SC') = 200",
        "$trp:Host",
        "$url:q",
        "$axis2:messageType",
        "$func:p",
        "$operation:x",
        "1 + 1",
        "2 * 3",
        "$ctx:a * 2",
        "$ctx:a div 2 mod 3",
        "'//a'",
        "get-property('To')",
        "get-property('SYSTEM_DATE', 'yyyy')",
        "base64Encode($ctx:a)",
        "string-length($ctx:a) > 0 and $ctx:b = 'x' or not($trp:y)",
        "json-eval($ctx:p.a.b)",
        "json-eval($trp:h.a)",
    ],
)
def test_needs_body_false_and_envelope_untouched(expr: str) -> None:
    compiled = compile_expression(expr, NS)
    assert compiled.needs_body is False
    ctx = FakeContext(properties={"a": "3", "p": '{"a":{"b":1}}'}, headers={"Host": "h", "h": "{}"})
    compiled.string_value(ctx)
    compiled.boolean_value(ctx)
    assert ctx.envelope_reads == 0


# --------------------------------------------------------------------------------------------
# Deploy-time and runtime errors


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("//m0:symbol", "undefined namespace prefix 'm0' in '//m0:symbol'; declare xmlns:m0 on the mediator"),
        ("foo()", "unknown function foo()"),
        ("x:foo()", "undefined namespace prefix 'x'"),
        ("hmac-generate('a', 'b')", "not supported"),
        ("//", "invalid XPath"),
        ("concat('a')", "invalid XPath"),
        ("count('a')", "invalid XPath"),
        ("concat('a',", "unclosed"),
        ("a)", "unbalanced"),
        ("'open", "unterminated string literal"),
        ("$foo", "unknown variable $foo"),
        ("get-property('a','b','c','d')", "takes 1 to 3 arguments"),
        ("base64Encode()", "takes 1 to 2 arguments"),
        ("get-property('SYSTEM_DATE', 'yyyy-qq')", "illegal pattern character 'q'"),
        ("   ", "empty"),
        ("json-eval($.a[)", "invalid JSONPath"),
        ("json-eval(@.a)", "invalid JSONPath"),  # W: Jayway reads `a.b` as `$.a.b`, but `@` needs a filter
        ("json-eval($.a", "closing"),
    ],
)
def test_deploy_errors(expr: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        compile_expression(expr, {})


def test_declared_prefix_compiles() -> None:
    assert compile_expression("//m0:symbol", {"m0": M0}).source == "//m0:symbol"


def test_runtime_error_is_a_mediation_error() -> None:
    expr = compile_expression("count($ctx:x)", {})
    with pytest.raises(MediationError, match="Evaluation of the XPath expression"):
        expr.string_value(FakeContext(properties={"x": "not a node-set"}))
    with pytest.raises(MediationError, match="illegal pattern"):
        compile_expression("get-property('SYSTEM_DATE', $ctx:f)", {}).string_value(FakeContext(properties={"f": "qq"}))


def test_no_compilation_per_evaluation(monkeypatch: pytest.MonkeyPatch, quote_ctx: FakeContext) -> None:
    exprs = [
        compile_expression(text, NS)
        for text in ("//m0:symbol", "concat($ctx:a, //m0:total)", "get-property('a')", "json-eval($..p)")
    ]

    def forbidden(*_a: Any, **_k: Any) -> None:
        raise AssertionError("compiled during evaluation")

    monkeypatch.setattr(etree, "XPath", forbidden)
    monkeypatch.setattr("jsonpath.compile", forbidden)
    quote_ctx.properties["a"] = "A"
    quote_ctx._json_payload = JSON_DOC
    assert [e.string_value(quote_ctx) for e in exprs][1:] == ["A1000", "A", "[1,2]"]


def test_exslt_regular_expressions_only_where_their_namespace_is_bound():
    """lxml's EXSLT regexp functions are registered only for an expression that binds their namespace (the
    others skip that work on every evaluation); with the binding they still work."""
    ctx = FakeContext(soap_envelope("<a>IBM</a>"))
    bound = compile_expression("re:test(//a, '^I.M$')", {"re": "http://exslt.org/regular-expressions"})
    assert bound.evaluate(ctx) is True
    assert compile_expression("//a = 'IBM'", {}).evaluate(ctx) is True
    with pytest.raises(ExpressionError):  # without the binding re: is not a known prefix
        compile_expression("re:test(//a, 'I')", {})
