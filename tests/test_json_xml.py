"""JSON <-> XML conversion vectors (MI semantics, reference section 4.3); all vectors are our own data."""

from __future__ import annotations

import json
from decimal import Decimal

import orjson
import pytest
from lxml import etree

from gateway.message import json_codec, json_xml
from gateway.message.json_xml import (
    JSON_ARRAY,
    JSON_ELEMENT,
    JSON_OBJECT,
    JSON_VALUE,
    JsonConversionError,
    JsonNumber,
    json_bytes_to_xml,
    json_dumps,
    json_value_to_xml,
    mangle_name,
    unmangle_name,
    xml_to_json_bytes,
    xml_to_json_value,
)


def xml(data: bytes | str, **kw: bool) -> str:
    return etree.tostring(json_bytes_to_xml(data, **kw), encoding="unicode")


def to_json(text: str) -> bytes:
    return xml_to_json_bytes(etree.fromstring(text))


def round_trip(data: bytes, **kw: bool) -> bytes:
    return xml_to_json_bytes(json_bytes_to_xml(data, **kw))


def test_wrapper_names() -> None:
    assert (JSON_OBJECT, JSON_ARRAY, JSON_ELEMENT, JSON_VALUE) == (
        "jsonObject",
        "jsonArray",
        "jsonElement",
        "jsonValue",
    )
    assert issubclass(JsonConversionError, ValueError)


# ---------------------------------------------------------------------------------------------------------
# JSON -> XML
# ---------------------------------------------------------------------------------------------------------

JSON_TO_XML = [
    (b'{"a":1}', "<jsonObject><a>1</a></jsonObject>"),
    (b"{}", "<jsonObject/>"),
    (b'{"a":[1,2]}', "<jsonObject><a>1</a><a>2</a></jsonObject>"),
    (b'{"a":[]}', "<jsonObject/>"),
    (b'{"a":{},"b":"","c":null}', "<jsonObject><a/><b/><c/></jsonObject>"),
    (b'{"a":{"b":{"c":"d"}}}', "<jsonObject><a><b><c>d</c></b></a></jsonObject>"),
    (b'{"a":[{"x":1},{"y":2}]}', "<jsonObject><a><x>1</x></a><a><y>2</y></a></jsonObject>"),
    (b'{"a":[null,1]}', "<jsonObject><a/><a>1</a></jsonObject>"),
    (b'{"t":true,"f":false}', "<jsonObject><t>true</t><f>false</f></jsonObject>"),
    # numbers keep their lexical text
    (
        b'{"a":4.00,"b":1e5,"c":1E+5,"d":-0.5,"e":-0,"f":0,"g":"0001"}',
        "<jsonObject><a>4.00</a><b>1e5</b><c>1E+5</c><d>-0.5</d><e>-0</e><f>0</f><g>0001</g></jsonObject>",
    ),
    (
        b'{"big":123456789012345678901234567890}',
        "<jsonObject><big>123456789012345678901234567890</big></jsonObject>",
    ),
    (b'{"x":1.0E-7}', "<jsonObject><x>1.0E-7</x></jsonObject>"),
    (b'{"x":2E3,"y":[1e-2]}', "<jsonObject><x>2E3</x><y>1e-2</y></jsonObject>"),  # floats without a dot
    (b'{"v":"1.2","n":7}', "<jsonObject><v>1.2</v><n>7</n></jsonObject>"),
    # top-level arrays and scalars
    (b"[1,2]", "<jsonArray><jsonElement>1</jsonElement><jsonElement>2</jsonElement></jsonArray>"),
    (b"[]", "<jsonArray/>"),
    (b'[{"a":1},null]', "<jsonArray><jsonElement><a>1</a></jsonElement><jsonElement/></jsonArray>"),
    (b'"abc"', "<jsonValue>abc</jsonValue>"),
    (b"12.50", "<jsonValue>12.50</jsonValue>"),
    (b"true", "<jsonValue>true</jsonValue>"),
    (b"null", "<jsonValue/>"),
    # anonymous nested arrays: MI's scanner wraps them in jsonArray/jsonElement
    (
        b'{"a":[[1,2],[3]]}',
        "<jsonObject><a><jsonArray><jsonElement>1</jsonElement><jsonElement>2</jsonElement></jsonArray></a>"
        "<a><jsonArray><jsonElement>3</jsonElement></jsonArray></a></jsonObject>",
    ),
    (
        b"[[1,2]]",
        "<jsonArray><jsonElement><jsonArray><jsonElement>1</jsonElement><jsonElement>2</jsonElement>"
        "</jsonArray></jsonElement></jsonArray>",
    ),
    (b'{"a":[[]]}', "<jsonObject><a><jsonArray/></a></jsonObject>"),
    (
        b"[[[1]]]",
        "<jsonArray><jsonElement><jsonArray><jsonElement><jsonArray><jsonElement>1</jsonElement></jsonArray>"
        "</jsonElement></jsonArray></jsonElement></jsonArray>",
    ),
    # staxon attributes and text
    (
        b'{"alice":{"@charlie":"david","$":"bob"}}',
        '<jsonObject><alice charlie="david">bob</alice></jsonObject>',
    ),
    (b'{"a":{"b":1,"@x":2}}', '<jsonObject><a x="2"><b>1</b></a></jsonObject>'),
    (b'{"a":{"@x":null,"@y":true,"@z":1.50}}', '<jsonObject><a x="" y="true" z="1.50"/></jsonObject>'),
    (b'{"$":"top"}', "<jsonObject>top</jsonObject>"),
    (b'{"a":{"$":"t","b":1}}', "<jsonObject><a>t<b>1</b></a></jsonObject>"),
    # "@x"/"$" with structured values are ordinary (mangled) keys
    (b'{"@o":{"k":1}}', "<jsonObject><_JsonReader_64_o><k>1</k></_JsonReader_64_o></jsonObject>"),
    (b'{"$":[1]}', "<jsonObject><_JsonReader_PS_>1</_JsonReader_PS_></jsonObject>"),
    # key mangling
    (b'{"1a":1}', "<jsonObject><_JsonReader_PD_1a>1</_JsonReader_PD_1a></jsonObject>"),
    (b'{"$a":1}', "<jsonObject><_JsonReader_PS_a>1</_JsonReader_PS_a></jsonObject>"),
    (b'{"a b":1}', "<jsonObject><a_JsonReader_32_b>1</a_JsonReader_32_b></jsonObject>"),
    (b'{"a:b":1}', "<jsonObject><a_JsonReader_58_b>1</a_JsonReader_58_b></jsonObject>"),
    (b'{"-x":1}', "<jsonObject><_JsonReader_45_x>1</_JsonReader_45_x></jsonObject>"),
    (b'{"":1}', "<jsonObject><_JsonReader_PE_>1</_JsonReader_PE_></jsonObject>"),
    (
        b'{"1 a":1}',
        "<jsonObject><_JsonReader_PD_1_JsonReader_32_a>1</_JsonReader_PD_1_JsonReader_32_a></jsonObject>",
    ),
    (b'{"@1x":"v"}', '<jsonObject _JsonReader_PD_1x="v"/>'),
    # escaping
    (
        b'{"s":"a<b>&c\\"d\\r\\ne"}',
        '<jsonObject><s>a&lt;b&gt;&amp;c"d&#13;\ne</s></jsonObject>',
    ),
    (b'{"a":{"@x":"1\\n2\\t\\"3\\"<"}}', '<jsonObject><a x="1&#10;2&#9;&quot;3&quot;&lt;"/></jsonObject>'),
]


@pytest.mark.parametrize(("data", "expected"), JSON_TO_XML)
def test_json_to_xml(data: bytes, expected: str) -> None:
    assert xml(data) == expected


JSON_TO_XML_PI = [
    (b'{"a":[1,2]}', "<jsonObject><?xml-multiple a?><a>1</a><a>2</a></jsonObject>"),
    (b'{"a":[1]}', "<jsonObject><?xml-multiple a?><a>1</a></jsonObject>"),
    (b'{"a":[]}', "<jsonObject><?xml-multiple a?></jsonObject>"),
    (b"[]", "<jsonArray><?xml-multiple jsonElement?></jsonArray>"),
    (b'[{"x":1}]', "<jsonArray><?xml-multiple jsonElement?><jsonElement><x>1</x></jsonElement></jsonArray>"),
    (
        b'{"a":[[1]]}',
        "<jsonObject><?xml-multiple a?><a><jsonArray><?xml-multiple jsonElement?><jsonElement>1</jsonElement>"
        "</jsonArray></a></jsonObject>",
    ),
    (b'{"1a":[1]}', "<jsonObject><?xml-multiple 1a?><_JsonReader_PD_1a>1</_JsonReader_PD_1a></jsonObject>"),
    (b'{"a b":[1]}', "<jsonObject><?xml-multiple a b?><a_JsonReader_32_b>1</a_JsonReader_32_b></jsonObject>"),
    (
        b'{" a?>":[1]}',
        "<jsonObject><?xml-multiple _JsonReader_32_a_JsonReader_63__JsonReader_62_?>"
        "<_JsonReader_32_a_JsonReader_63__JsonReader_62_>1</_JsonReader_32_a_JsonReader_63__JsonReader_62_></jsonObject>",
    ),
    (
        b'{"":[1]}',
        "<jsonObject><?xml-multiple _JsonReader_PE_?><_JsonReader_PE_>1</_JsonReader_PE_></jsonObject>",
    ),
]


@pytest.mark.parametrize(("data", "expected"), JSON_TO_XML_PI)
def test_json_to_xml_with_pi(data: bytes, expected: str) -> None:
    assert xml(data, with_pi=True) == expected


def test_str_input_and_bom() -> None:
    assert xml('{"a":"ü"}') == "<jsonObject><a>ü</a></jsonObject>"
    assert xml('{"a":1.50}') == "<jsonObject><a>1.50</a></jsonObject>"
    assert xml(b'\xef\xbb\xbf{"a":1}') == "<jsonObject><a>1</a></jsonObject>"
    assert xml(' \n {"a":1} \n') == "<jsonObject><a>1</a></jsonObject>"


def test_unicode_keys_and_values() -> None:
    root = json_bytes_to_xml('{"ключ":"значение","日本":"語","😀":"x","naïve":"é"}'.encode())
    assert [child.tag for child in root] == ["ключ", "日本", "😀", "naïve"]
    assert root[0].text == "значение"


def test_duplicate_keys_keep_last_value() -> None:
    assert xml(b'{"a":1,"a":2}') == "<jsonObject><a>2</a></jsonObject>"


def test_control_characters_become_replacement_char() -> None:
    root = json_bytes_to_xml(b'{"a":"x\\u0001y","b":"\\ud800","@c":"\\u0002"}')
    assert root.find("a").text == "x\ufffdy"
    assert root.find("b").text == "\ufffd"
    assert root.get("c") == "\ufffd"


def test_deep_nesting() -> None:
    depth = 400  # beyond libxml2's default 256-level limit
    data = b'{"a":' * depth + b"1" + b"}" * depth
    root = json_bytes_to_xml(data)
    assert len(list(root.iter("a"))) == depth
    with pytest.raises(JsonConversionError):
        json_bytes_to_xml(b"[" * 100_000 + b"]" * 100_000)


def test_fast_and_lexical_paths_agree() -> None:
    data = (
        b'{"id":1,"n":-2,"s":"x","b":true,"z":null,"o":{"@a":"1","$":"t"},"l":[[1,[2]],[]],"e":{},'
        b'"1k":"v","$d":"w","u":"\\u00e9<&>"}'
    )
    for pi in (False, True):
        fast = json_xml._to_tree(orjson.loads(data), pi)
        lexical = json_xml._to_tree(json_codec._loads_lexical(data), pi)
        assert etree.tostring(fast) == etree.tostring(lexical) == etree.tostring(json_bytes_to_xml(data, with_pi=pi))


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty payload at line 1 column 1 (char 0)"),
        (b"   ", "empty payload"),
        (b'{"a":1,}', "line 1 column 8 (char 7)"),
        (b'{"a":\n tru}', "line 2 column 2 (char 7)"),
        (b"[1,2", "line 1 column 5"),
        (b'{"a":1} x', "Extra data at line 1 column 9"),
        (b'{"a":NaN}', "NaN is not a valid JSON value"),
        (b"[Infinity]", "Infinity is not a valid JSON value"),
        (b"{'a':1}", "Expecting property name enclosed in double quotes"),
        (b'{"a":"\x01"}', "Invalid control character"),
        (b"\xff\xfe\xfd", "not valid"),
    ],
)
def test_malformed_json(data: bytes, fragment: str) -> None:
    with pytest.raises(JsonConversionError) as info:
        json_bytes_to_xml(data)
    assert fragment in str(info.value)
    assert str(info.value).startswith("Malformed JSON payload")


def test_malformed_json_position_attributes() -> None:
    with pytest.raises(JsonConversionError) as info:
        json_bytes_to_xml(b'{\n"a":1,\n"b" 2}')
    assert (info.value.lineno, info.value.colno, info.value.pos) == (3, 5, 13)


def test_colliding_attribute_names() -> None:
    with pytest.raises(JsonConversionError, match="cannot be represented as XML"):
        json_bytes_to_xml(b'{"@a:b":"1","@a_JsonReader_58_b":"2"}')


def test_json_value_to_xml() -> None:
    value = {"a": 1.5, "b": [1, (2, 3)], "c": {"@x": None, "$": 3}, "d": True, "e": Decimal("4.00")}
    assert etree.tostring(json_value_to_xml(value), encoding="unicode") == (
        "<jsonObject><a>1.5</a><b>1</b><b><jsonArray><jsonElement>2</jsonElement><jsonElement>3</jsonElement>"
        '</jsonArray></b><c x="">3</c><d>true</d><e>4.00</e></jsonObject>'
    )
    assert etree.tostring(json_value_to_xml([JsonNumber("1E+5")])) == (
        b"<jsonArray><jsonElement>1E+5</jsonElement></jsonArray>"
    )
    assert etree.tostring(json_value_to_xml("x<y")) == b"<jsonValue>x&lt;y</jsonValue>"
    assert etree.tostring(json_value_to_xml({"a": [1]}, with_pi=True)) == (
        b"<jsonObject><?xml-multiple a?><a>1</a></jsonObject>"
    )
    assert (
        etree.tostring(json_value_to_xml({1: "x"}))
        == b"<jsonObject><_JsonReader_PD_1>x</_JsonReader_PD_1></jsonObject>"
    )
    with pytest.raises(JsonConversionError):
        json_value_to_xml({"a": object()})


# ---------------------------------------------------------------------------------------------------------
# XML -> JSON: JsonFormatterTest-style vectors (our own data, same shapes)
# ---------------------------------------------------------------------------------------------------------

TOPPINGS = [
    ("9999", "Steak", "4.00", "NONVEG"),
    ("9998", "Sun Dried Tomato", "4.00", "VEGETARIAN"),
    ("9997", "Mixed Peppers", "3.00", "VEGETARIAN"),
    ("9996", "Cajun Chicken", "3.00", "NONVEG"),
    ("9995", "Chorizo Sausage", "4.00", "NONVEG"),
]
PIZZA_5 = (
    "<pizza>\n    <name>Meat Sizzler</name>\n    <price>500.0</price>\n    <toppings>\n"
    + "".join(
        f"        <topping>\n            <id>{i}</id>\n            <name>{n}</name>\n"
        f"            <extraPrice>{p}</extraPrice>\n            <category>{c}</category>\n"
        "        </topping>\n"
        for i, n, p, c in TOPPINGS
    )
    + "    </toppings>\n</pizza>"
)
PIZZA_5_JSON = (
    b'{"pizza":{"name":"Meat Sizzler","price":500.0,"toppings":{"topping":['
    b'{"id":9999,"name":"Steak","extraPrice":4.00,"category":"NONVEG"},'
    b'{"id":9998,"name":"Sun Dried Tomato","extraPrice":4.00,"category":"VEGETARIAN"},'
    b'{"id":9997,"name":"Mixed Peppers","extraPrice":3.00,"category":"VEGETARIAN"},'
    b'{"id":9996,"name":"Cajun Chicken","extraPrice":3.00,"category":"NONVEG"},'
    b'{"id":9995,"name":"Chorizo Sausage","extraPrice":4.00,"category":"NONVEG"}]}}}'
)
TOPPING = """<topping>
            <id>9999</id>
            <name>Steak</name>
            <extraPrice>4.00</extraPrice>
            <category>NONVEG</category>
        </topping>"""
PIZZA_1 = (
    "<pizza>\n    <name>Meat Sizzler</name>\n    <price>500.0</price>\n"
    f"    <toppings>\n        {TOPPING}\n    </toppings>\n</pizza>"
)
PIZZA_1_JSON = (
    b'{"pizza":{"name":"Meat Sizzler","price":500.0,"toppings":{"topping":'
    b'{"id":9999,"name":"Steak","extraPrice":4.00,"category":"NONVEG"}}}}'
)
PIZZA_1_BODY = PIZZA_1_JSON[len(b'{"pizza":') : -1]
PIZZA_NULL_JSON = (
    b'{"pizza":{"name":"Meat Sizzler","price":500.0,"toppings":{"topping":['
    b'{"id":9999,"name":"Steak","extraPrice":4.00,"category":"NONVEG"},null]}}}'
)


def test_pizza_five_toppings_is_an_array() -> None:
    assert to_json(PIZZA_5) == PIZZA_5_JSON


def test_pizza_one_topping_is_an_object() -> None:
    assert to_json(PIZZA_1) == PIZZA_1_JSON


@pytest.mark.parametrize("empty", ["<topping/>", "<topping></topping>", "<topping>  \n </topping>"])
def test_empty_topping_is_null_in_the_array(empty: str) -> None:
    assert to_json(PIZZA_1.replace("</toppings>", empty + "</toppings>")) == PIZZA_NULL_JSON


def test_root_wrappers_are_dropped() -> None:
    assert to_json(f"<jsonObject>{PIZZA_1}</jsonObject>") == PIZZA_1_JSON
    # MI (JsonFormatterTest): a jsonArray with one jsonElement prints that element, not an array
    assert to_json(f"<jsonArray><jsonElement>{PIZZA_1}</jsonElement></jsonArray>") == PIZZA_1_JSON
    assert to_json(f"<jsonArray>\n <jsonElement>{PIZZA_1}</jsonElement>\n <jsonElement/>\n</jsonArray>") == (
        b"[" + PIZZA_1_JSON + b",null]"
    )


def test_attribute_and_text_vectors() -> None:
    assert to_json('<pizza name="Meat Sizzler"><price>500.0</price></pizza>') == (
        b'{"pizza":{"@name":"Meat Sizzler","price":500.0}}'
    )
    assert to_json('<pizza-topping category="NONVEG">Steak</pizza-topping>') == (
        b'{"pizza-topping":{"@category":"NONVEG","$":"Steak"}}'
    )
    assert to_json("<pizza/>") == b'{"pizza":null}'
    assert to_json("<r><a></a><b/></r>") == b'{"r":{"a":null,"b":null}}'


XML_TO_JSON = [
    ("<coordinates><lat>1.5</lat><lon>-0.25</lon></coordinates>", b'{"coordinates":{"lat":1.5,"lon":-0.25}}'),
    ("<jsonValue>abc</jsonValue>", b'"abc"'),
    ("<jsonValue>123</jsonValue>", b"123"),
    ("<jsonValue/>", b"null"),
    ("<jsonElement><a>1</a></jsonElement>", b'{"a":1}'),
    ("<jsonObject/>", b"null"),
    ("<jsonArray/>", b"null"),
    ("<jsonArray><jsonElement>1</jsonElement><jsonElement>2</jsonElement></jsonArray>", b"[1,2]"),
    # a jsonElement holding a jsonArray is a nested array
    (
        "<jsonArray><jsonElement><jsonArray><jsonElement>1</jsonElement><jsonElement>2</jsonElement></jsonArray>"
        "</jsonElement><jsonElement>3</jsonElement></jsonArray>",
        b"[[1,2],3]",
    ),
    (
        "<r><a><jsonArray><jsonElement>1</jsonElement><jsonElement>2</jsonElement></jsonArray></a></r>",
        b'{"r":{"a":[1,2]}}',
    ),
    ("<r><a><jsonObject><b>1</b></jsonObject></a></r>", b'{"r":{"a":{"b":1}}}'),
    # wrappers are transparent only as the single key
    ("<r><jsonElement>1</jsonElement><b>2</b></r>", b'{"r":{"jsonElement":1,"b":2}}'),
    ('<r x="1"><jsonElement>1</jsonElement></r>', b'{"r":{"@x":"1","jsonElement":1}}'),
    # namespaces and prefixes are removed; declarations are not attributes
    (
        '<m:q xmlns:m="urn:m" xmlns:x="urn:x" x:at="1"><m:s>IBM</m:s></m:q>',
        b'{"q":{"@at":"1","s":"IBM"}}',
    ),
    (
        '<q xmlns="urn:d"><s xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/></q>',
        b'{"q":{"s":{"@nil":"true"}}}',
    ),
    # attributes are never auto-primitive
    ('<a n="123" b="true" z=""/>', b'{"a":{"@n":"123","@b":"true","@z":""}}'),
    ('<a n="1">true</a>', b'{"a":{"@n":"1","$":true}}'),
    # repeated names become arrays, also when not adjacent (grouped at the first occurrence)
    ("<r><a>1</a><b>x</b><a>2</a></r>", b'{"r":{"a":[1,2],"b":"x"}}'),
    ("<r><a><x>1</x></a><a/><a>t</a></r>", b'{"r":{"a":[{"x":1},null,"t"]}}'),
    # xml-multiple processing instructions
    ("<r><?xml-multiple a?><a>1</a></r>", b'{"r":{"a":[1]}}'),
    ("<r><?xml-multiple a?></r>", b'{"r":{"a":[]}}'),
    ("<r><?xml-multiple  a ?><a>1</a><a>2</a><b/></r>", b'{"r":{"a":[1,2],"b":null}}'),
    ("<r><?xml-multiple?><c>x</c><d>y</d></r>", b'{"r":{"c":["x"],"d":"y"}}'),
    ("<r><?xml-multiple 1a?><_JsonReader_PD_1a>1</_JsonReader_PD_1a></r>", b'{"r":{"1a":[1]}}'),
    ("<r><?other a?><a>1</a></r>", b'{"r":{"a":1}}'),
    ("<jsonArray><?xml-multiple jsonElement?><jsonElement>1</jsonElement></jsonArray>", b"[1]"),
    ("<jsonArray><?xml-multiple jsonElement?></jsonArray>", b"[]"),
    # comments are skipped; whitespace-only text is dropped, other text is kept verbatim
    ("<r><!-- c --><a>1</a></r>", b'{"r":{"a":1}}'),
    ("<r>a<!-- c -->b</r>", b'{"r":"ab"}'),
    ("<r> x </r>", b'{"r":" x "}'),
    ("<r>\u00a0</r>", b'{"r":"\xc2\xa0"}'),
    ("<r><![CDATA[<x>]]></r>", b'{"r":"<x>"}'),
    # mixed content: best effort, the text goes to "$"
    ("<r>t<a>1</a>u</r>", b'{"r":{"a":1,"$":"tu"}}'),
    # un-mangling
    (
        "<r><_JsonReader_PD_1a>1</_JsonReader_PD_1a><_JsonReader_PS_b>2</_JsonReader_PS_b>"
        "<a_JsonReader_32_b>3</a_JsonReader_32_b><_JsonReader_PE_>4</_JsonReader_PE_></r>",
        b'{"r":{"1a":1,"$b":2,"a b":3,"":4}}',
    ),
    ('<r _JsonReader_PD_1x="v"/>', b'{"r":{"@1x":"v"}}'),
    # unicode is not escaped; JSON escapes where needed
    ('<r><a>ü "q" \\ é</a><b>a\tb\nc</b></r>', '{"r":{"a":"ü \\"q\\" \\\\ é","b":"a\\tb\\nc"}}'.encode()),
]


@pytest.mark.parametrize(("text", "expected"), XML_TO_JSON)
def test_xml_to_json(text: str, expected: bytes) -> None:
    assert to_json(text) == expected


AUTO_PRIMITIVE = [
    ("true", b"true"),
    ("false", b"false"),
    ("null", b"null"),
    ("TRUE", b'"TRUE"'),
    ("123", b"123"),
    ("-7", b"-7"),
    ("0", b"0"),
    ("-0", b"0"),
    ("0001", b'"0001"'),
    ("4.00", b"4.00"),
    ("500.0", b"500.0"),
    ("-0.5", b"-0.5"),
    ("-0.0", b"0.0"),
    ("0.05", b"0.05"),
    ("0.000001", b"0.000001"),
    ("0.0000001", b"1E-7"),
    ("1e5", b"1E+5"),
    ("1E+5", b"1E+5"),
    ("1.5e2", b"1.5E+2"),
    ("2.50E-3", b"0.00250"),
    ("1e-10", b"1E-10"),
    ("123456789012345678901234567890", b"123456789012345678901234567890"),
    ("123456789.123456789123", b"123456789.123456789123"),
    ("1.", b'"1."'),
    (".5", b'".5"'),
    ("+1", b'"+1"'),
    ("1e", b'"1e"'),
    ("0x10", b'"0x10"'),
    (" 1", b'" 1"'),
    ("1 ", b'"1 "'),
    ("\u0661", b'"\xd9\xa1"'),  # Arabic-Indic digit: not JSON grammar
    ("NaN", b'"NaN"'),
]


@pytest.mark.parametrize(("text", "expected"), AUTO_PRIMITIVE)
def test_auto_primitive(text: str, expected: bytes) -> None:
    element = etree.Element("a")
    element.text = text
    assert xml_to_json_bytes(element) == b'{"a":' + expected + b"}"


def test_xml_to_json_value_types() -> None:
    value = xml_to_json_value(etree.fromstring("<r><i>42</i><d>4.00</d><e>1e5</e><b>true</b><s>x</s><n/></r>"))
    assert value == {"r": {"i": 42, "d": Decimal("4"), "e": Decimal("100000"), "b": True, "s": "x", "n": None}}
    number = value["r"]["d"]
    assert type(value["r"]["i"]) is int
    assert isinstance(number, JsonNumber) and str(number) == "4.00" and repr(number) == "JsonNumber('4.00')"
    assert number > 3 and number < 4.5 and number + 1 == 5
    assert str(value["r"]["e"]) == "1E+5"
    assert json_dumps(value) == b'{"r":{"i":42,"d":4.00,"e":1E+5,"b":true,"s":"x","n":null}}'
    big = xml_to_json_value(etree.fromstring("<n>123456789012345678901234567890</n>"))
    assert json_dumps(big) == b'{"n":123456789012345678901234567890}'


def test_json_dumps() -> None:
    assert json_dumps({"a": Decimal("1.10"), "b": [JsonNumber("2E+3")], "c": "é"}) == (
        '{"a":1.10,"b":[2E+3],"c":"é"}'.encode()
    )
    # strings that look like the internal placeholder are never rewritten
    assert json_dumps({"s": "\x001.5", "t": "\x00" + json_codec._NONCE[:4] + "1"}) == orjson.dumps(
        {"s": "\x001.5", "t": "\x00" + json_codec._NONCE[:4] + "1"}
    )
    with pytest.raises(TypeError):
        json_dumps({"x": Decimal("NaN")})
    with pytest.raises(TypeError):
        json_dumps({"x": object()})


def test_non_element_input_rejected() -> None:
    with pytest.raises(TypeError):
        xml_to_json_value(etree.Comment("x"))


# ---------------------------------------------------------------------------------------------------------
# Round trips: every lossy case pinned
# ---------------------------------------------------------------------------------------------------------

ROUND_TRIPS = [
    (b'{"id":"123"}', b'{"id":123}'),  # string type lost
    (b'{"flag":"true"}', b'{"flag":true}'),
    (b'{"x":"null"}', b'{"x":null}'),
    (b'{"a":{}}', b'{"a":null}'),
    (b'{"a":""}', b'{"a":null}'),
    (b'{"a":null}', b'{"a":null}'),
    (b'{"a":[1]}', b'{"a":1}'),  # one-item array becomes a scalar
    (b'{"a":[{"b":1}]}', b'{"a":{"b":1}}'),
    (b'{"a":[]}', b"null"),  # the only key vanished: <jsonObject/>
    (b'{"a":[],"b":1}', b'{"b":1}'),
    (b"[]", b"null"),
    (b'[{"x":1}]', b'{"x":1}'),
    (b'{"a":[[1,2],[3]]}', b'{"a":[[1,2],3]}'),
    (b'"123"', b"123"),
    (b'"abc"', b'"abc"'),
    (b"null", b"null"),
    (b'{"code":"0001"}', b'{"code":"0001"}'),  # leading zeros stay strings
    (b'{"n":1e5,"m":4.00,"k":-0.5,"z":-0}', b'{"n":1E+5,"m":4.00,"k":-0.5,"z":0}'),
    (b'{"a":{"@x":"1","$":"t"}}', b'{"a":{"@x":"1","$":"t"}}'),
    (b'{"a":{"@x":5}}', b'{"a":{"@x":"5"}}'),  # attributes come back as strings
    (
        b'{"1a":1,"$b":2,"a b":3,"":4,"x:y":5,"-z":6,"$":"t"}',
        b'{"1a":1,"$b":2,"a b":3,"":4,"x:y":5,"-z":6,"$":"t"}',
    ),
    (b'{"@o":{"k":1},"$":[1,2]}', b'{"@o":{"k":1},"$":[1,2]}'),
    ('{"ключ":"значение","日本":["語","😀"]}'.encode(), '{"ключ":"значение","日本":["語","😀"]}'.encode()),
    (b'{"s":"a<b>&c\\"d\\re\\n"}', b'{"s":"a<b>&c\\"d\\re\\n"}'),
    (b'{"s":"  "}', b'{"s":null}'),  # whitespace-only text is dropped
    (
        b'{"b":true,"f":false,"big":123456789012345678901234567890}',
        b'{"b":true,"f":false,"big":123456789012345678901234567890}',
    ),
]


@pytest.mark.parametrize(("data", "expected"), ROUND_TRIPS)
def test_round_trip(data: bytes, expected: bytes) -> None:
    assert round_trip(data) == expected


ROUND_TRIPS_PI = [
    (b'{"a":[1]}', b'{"a":[1]}'),
    (b'{"a":[]}', b'{"a":[]}'),
    (b"[]", b"[]"),
    (b'[{"x":1}]', b'[{"x":1}]'),
    (b"[[1]]", b"[[1]]"),
    (b'{"a":[[1,2],[3]]}', b'{"a":[[1,2],[3]]}'),
    (b'{"a":[[]]}', b'{"a":[[]]}'),
    (b'{"1a":[1],"a b":[2]," a?>":[3],"":[4]}', b'{"1a":[1],"a b":[2]," a?>":[3],"":[4]}'),
    (b'{"o":{"l":[{"x":[true]}]}}', b'{"o":{"l":[{"x":[true]}]}}'),
]


@pytest.mark.parametrize(("data", "expected"), ROUND_TRIPS_PI)
def test_round_trip_with_pi(data: bytes, expected: bytes) -> None:
    assert round_trip(data, with_pi=True) == expected


def test_round_trip_preserves_document_order() -> None:
    data = json.dumps({f"k{i}": i for i in range(50)}, separators=(",", ":")).encode()
    assert round_trip(data) == data


# ---------------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("abc", "abc"),
        ("a-b.c_d", "a-b.c_d"),
        ("1a", "_JsonReader_PD_1a"),
        ("$a", "_JsonReader_PS_a"),
        ("$$", "_JsonReader_PS__JsonReader_36_"),
        ("a b", "a_JsonReader_32_b"),
        ("a:b", "a_JsonReader_58_b"),
        (".a", "_JsonReader_46_a"),
        ("", "_JsonReader_PE_"),
        ("ключ", "ключ"),
        ("\u0661x", "_JsonReader_PD_\u0661x"),  # Java Character.isDigit
    ],
)
def test_mangle_names(key: str, name: str) -> None:
    assert mangle_name(key) == name
    assert unmangle_name(name) == key


def test_mangled_names_are_always_valid_for_lxml() -> None:
    samples = [chr(cp) for cp in range(0x20, 0x3000)] + ["\U0001f600", "\ufffe", "\ud800", "\u0300", "\u00b7"]
    for ch in samples:
        for key in (ch, "a" + ch, ch + "a"):
            name = mangle_name(key)
            etree.Element(name).set(name, "v")  # raises ValueError if invalid
            assert unmangle_name(name) == key.replace("\ud800", "\ufffd")
