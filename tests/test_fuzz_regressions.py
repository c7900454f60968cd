"""Crashes the property tests (tests/test_fuzz_*.py) found: one plain test each, kept with its fix. A crash is
any exception other than MediationError (runtime) escaping the payload, the JSON <-> XML conversion (whose own
error is JsonConversionError), reply writing or expression evaluation."""

from __future__ import annotations

import pytest
from lxml import etree

from gateway.errors import MESSAGE_PARSING_ERROR, MediationError
from gateway.expressions import compile_expression
from gateway.message import soap
from gateway.message.json_xml import (
    JsonConversionError,
    JsonNumber,
    json_bytes_to_xml,
    json_dumps,
    xml_to_json_bytes,
    xml_to_json_value,
)
from gateway.message.payload import Payload
from tests.conftest import SYNAPSE
from tests.support.fake_context import FakeContext


def test_text_body_with_control_characters_keeps_them_as_replacement_characters():
    # lxml refused the text (ValueError); XML cannot hold these characters, so they become U+FFFD as in JSON.
    element = soap.first_body_element(Payload("text/plain", b"bell\x07 and nul\x00").envelope)
    assert element.text == "bell\ufffd and nul\ufffd"


def test_form_value_with_control_characters_is_kept_and_bad_names_still_fail():
    values = soap.first_body_element(Payload("application/x-www-form-urlencoded", b"a=x%01y&b=").envelope)
    assert [(child.tag, child.text) for child in values] == [("a", "x\ufffdy"), ("b", "")]
    with pytest.raises(MediationError) as info:
        _ = Payload("application/x-www-form-urlencoded", b"1a=x").envelope
    assert info.value.code == MESSAGE_PARSING_ERROR and "'1a'" in info.value.message


@pytest.mark.parametrize("charset", ["idna", "punycode"])
def test_a_charset_whose_codec_fails_with_unicode_error_is_a_601000_fault(charset):
    # Codecs such as idna raise UnicodeError, which is not a UnicodeDecodeError: it escaped as is.
    with pytest.raises(MediationError) as info:
        _ = Payload(f"text/plain; charset={charset}", b"xn--zz").envelope
    assert info.value.code == MESSAGE_PARSING_ERROR and charset in info.value.message


def test_the_name_index_of_json_nested_1000_deep_is_built_without_recursion():
    # orjson reads up to 1024 levels; the recursive walk behind `//name` hit Python's recursion limit first.
    depth = 1000
    payload = Payload("application/json", b'{"a":' * depth + b'"x"' + b"}" * depth)
    index = payload.json_descendants()
    assert len(index["a"]) == depth and index["a"][-1] == "x"


def nested_xml(depth: int) -> etree._Element:
    return etree.fromstring(b"<a>" * depth + b"1" + b"</a>" * depth, etree.XMLParser(huge_tree=True))


@pytest.mark.parametrize("depth", [255, 1200])
def test_xml_too_deep_to_write_as_json_is_a_json_conversion_error(depth):
    # orjson writes at most 254 levels (it raised TypeError) and the converter recursed (RecursionError).
    with pytest.raises(JsonConversionError, match="nested too deep"):
        xml_to_json_bytes(nested_xml(depth))
    with pytest.raises(JsonConversionError, match="nested too deep"):
        json_dumps(xml_to_json_value(nested_xml(min(depth, 300))))
    if depth > 300:
        with pytest.raises(JsonConversionError, match="nested too deep"):
            xml_to_json_value(nested_xml(depth))
    assert xml_to_json_bytes(nested_xml(254)).startswith(b'{"a":{"a":')  # the deepest orjson writes


def test_json_value_of_json_too_deep_for_any_parser_is_a_601000_fault():
    # Beyond orjson's 1024 levels the stdlib fallback raised RecursionError.
    depth = 1100
    with pytest.raises(MediationError, match="nesting too deep") as info:
        Payload("application/json", b'{"a":' * depth + b"1" + b"}" * depth).json_value()
    assert info.value.code == MESSAGE_PARSING_ERROR


def test_json_value_of_a_changed_infoset_too_deep_for_json_is_a_601000_fault():
    # A 500-deep JSON array builds (1000 XML levels) but cannot be read back as JSON: JsonConversionError escaped.
    payload = Payload("application/json", b"[" * 500 + b"1" + b"]" * 500)
    payload.replace_envelope(payload.envelope)  # as after a mediator changed it: json-eval reads the infoset
    with pytest.raises(MediationError, match="too deep") as info:
        payload.json_value()
    assert info.value.code == MESSAGE_PARSING_ERROR


async def test_a_reply_too_deep_to_write_as_json_is_a_fault_with_its_reason(gateway):
    # XML at libxml2's depth limit, answered as JSON for the client's Accept: orjson's TypeError reached the
    # fault sequence as "TypeError: Recursion limit reached".
    client = await gateway(
        {
            "proxies/P.xml": f'<proxy {SYNAPSE} name="P"><target><inSequence>'
            '<property name="x" expression="//a"/><respond/>'
            "</inSequence></target></proxy>"
        }
    )
    deep = b"<a>" * 255 + b"1" + b"</a>" * 255
    response = await client.post(
        "/services/P", data=deep, headers={"Content-Type": "application/xml", "Accept": "application/json"}
    )
    assert response.status == 500
    error = (await response.json())["error"]
    assert error["message"].startswith("Error while writing the message as JSON: document nested too deep")


def test_json_eval_of_a_value_too_deep_to_write_is_a_mediation_error():
    # json-eval gives JSON text for objects; beyond orjson's 254 levels its TypeError escaped.
    document: dict = {"leaf": 1}
    for _ in range(300):
        document = {"a": document}
    ctx = FakeContext(json_payload=document)
    with pytest.raises(MediationError, match="nested too deep"):
        compile_expression("json-eval($.a)").string_value(ctx)
    assert compile_expression("json-eval($" + ".a" * 100 + ".a.a.a)").string_value(ctx).startswith('{"a":')


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("concat($ctx:p, '!')", "a\ufffdb!"),  # a property, e.g. set from JSON text holding "\u0001"
        ("concat(get-property('p'), '!')", "a\ufffdb!"),
        ("concat($url:q, '!')", "\ufffd!"),  # ?q=%01
        ("base64Decode('QQFB')", "A\ufffdA"),  # decodes to "A\x01A"
    ],
)
def test_strings_xml_cannot_hold_reach_xpath_as_replacement_characters(expression, expected):
    # lxml refuses such strings from extension functions (ValueError); MI's Java strings hold them.
    ctx = FakeContext(properties={"p": "a\x01b"}, query=[("q", "\x01")])
    assert compile_expression(expression).string_value(ctx) == expected


def test_base64_encode_and_url_encode_replace_what_the_charset_cannot_encode():
    # UnicodeEncodeError escaped; Java's String.getBytes(charset) writes '?' for an unmappable character.
    ctx = FakeContext()
    assert compile_expression("base64Encode('日本x', 'ISO-8859-1')").string_value(ctx) == "Pz94"  # "??x"
    assert compile_expression("url-encode('日本 x', 'US-ASCII')").string_value(ctx) == "%3F%3F%20x"
    with pytest.raises(MediationError, match="idna"):  # a codec that fails outright (UnicodeError)
        compile_expression("base64Encode('a..b', 'idna')").string_value(ctx)


@pytest.mark.parametrize("number", [18446744073709551616, -9223372036854775809, 123456789012345678901234567890])
def test_json_value_keeps_integers_beyond_64_bits_exact(number):
    # Current orjson reads them as floats instead of failing (the fallback to the stdlib parser never ran):
    # json-eval($.n) gave 1.2345678901234568e+29.
    raw = b'{"n":' + str(number).encode() + b',"s":"x"}'
    value = Payload("application/json", raw).json_value()
    assert value == {"n": number, "s": "x"} and type(value["n"]) is int


def test_json_text_of_what_only_the_stdlib_parser_reads_is_written_exactly():
    # Integers beyond 64 bits and lone surrogates (json_value reads them with the stdlib parser): orjson's
    # TypeError escaped from json-eval, JSON properties and the JSON writer.
    assert json_dumps({"n": 2**64, "s": "\ud800é", "d": JsonNumber("1.50")}) == (
        b'{"n":18446744073709551616,"s":"\\ud800\\u00e9","d":1.50}'
    )
    ctx = FakeContext(json_payload={"n": -(2**63) - 1, "\udc00": [1]})
    assert compile_expression("json-eval($)").string_value(ctx) == '{"n":-9223372036854775809,"\\udc00":[1]}'
    with pytest.raises(TypeError):
        json_dumps({"x": object()})


@pytest.mark.parametrize("document", [b'{"0\\r0":[]}', b'{"a\\rb":[1],"c":2}'])
def test_array_keys_with_a_carriage_return_round_trip_through_xml_multiple(document):
    # The key went into <?xml-multiple?> as is, and XML parsing turns "\r" into "\n": another key came back.
    assert xml_to_json_bytes(json_bytes_to_xml(document, with_pi=True)) == document
