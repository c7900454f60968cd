"""MI 4.4 Synapse Expressions (`${…}`): the engine against MI's own test cases, and the gateway end to end.

The table cases are ported from wso2-synapse modules/core/src/test/java/org/apache/synapse/util/synapse/expression/
(PrimitiveExpressionsTest, ConditionalExpressionTest, PayloadAndVariableAccessTest, PreDefinedFunctionsTest,
HeaderAndPropertyAccessTest, SyntaxErrorsTest) with their payloads and variables (TestUtils): the expected strings
are MI's. MI's harness keeps one message context between calls; the cases kept here do not depend on that."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import pytest

from gateway.errors import ExpressionError
from gateway.expressions import compile_expression, compile_synapse_expression, compile_value, template_parts
from gateway.message import json_codec
from tests.support.fake_context import FakeContext

PAYLOAD1 = (
    '{"name":"John","age":30,"cars":[ "Ford", "BMW", "Fiat", "Honda", "Lexus", "KIA" ],"index":1,'
    '"string":" Hello World ", "null" : null }'
)
PAYLOAD2 = json.dumps(
    {
        "store": {
            "book": [
                {"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century", "price": 8.95},
                {
                    "category": "fiction",
                    "author": "Herman Melville",
                    "title": "Moby Dick",
                    "isbn": "0-553-21311-3",
                    "price": 8.99,
                },
                {
                    "category": "fiction",
                    "author": "J.R.R. Tolkien",
                    "title": "The Lord of the Rings",
                    "isbn": "0-395-19395-8",
                    "price": 22.99,
                },
                {"category": "fiction", "author": "Harper Lee", "title": "To Kill a Mockingbird", "price": 10.99},
                {"category": "fiction", "author": "George Orwell", "title": "Animal Farm", "price": 7.99},
                {"category": "biography", "author": "Anne Frank", "title": "The Diary of a Young Girl", "price": 6.99},
            ],
            "bicycle": {"color": "red", "price": 19.95},
        },
        "expensive": 10,
        "selectedCategory": "biography",
    }
)
PAYLOAD3 = '["When","my","time","comes","Forget","the","wrong","that","I\'ve","done"]'
PAYLOAD4 = '{"payload" : {"vars" : {"configs" : {"payload" : {"iop" : 4}, "zxc": 3}, "pqr": 2}, "abc" : 1}}'
PAYLOADS = {0: None, 1: PAYLOAD1, 2: PAYLOAD2, 3: PAYLOAD3, 4: PAYLOAD4}
VARIABLES: dict[int, dict[str, Any]] = {
    0: {},
    1: {
        "name": "John",
        "age": 30,
        "cars": ["Ford", "BMW", "Fiat", "Honda", "Lexus", "KIA"],
        "index": "1",
        "num1": 10,
        "num2": 5,
        "num3": -2.5,
        "num4": -2.0,
        "encoded": "V1NPMk1J",
        "empty": "",
    },
    2: {"json1": PAYLOAD1, "json2": PAYLOAD2, "json3": '[1,2,3,"abc"]', "payload": PAYLOAD4, "vars": PAYLOAD4},
}
HEADERS = {"test": "Hello World", "toUpper": "HELLO WORLD", "te st": "HELLO", "numerical": "400", "price": "10"}
HEADERS["payload"] = "Hello World"
AXIS2 = {"test": "Sic Mundus", "test2": "Creatus Est", "empty": "Thus the world was created"}
AXIS2.update(category="biography", payload="Hello")
PROPERTIES = {"phrase": "Now I Am Become Death, the Destroyer of Worlds", "selected book": "Animal Farm", "empty": ""}


def evaluate(expression: str, payload: int = 0, variables: int = 0, **extra: Any) -> str:
    doc = PAYLOADS[payload]
    ctx = FakeContext(
        json_payload=json_codec.loads(doc) if doc is not None else None,
        variables=dict(VARIABLES[variables]),
        headers=HEADERS,
        axis2=dict(AXIS2),
        properties=dict(PROPERTIES),
        **extra,
    )
    result = compile_synapse_expression(expression).string_value(ctx)
    assert result is not None
    return result


# (expression, payload, variables, MI's answer)
MI_CASES: list[tuple[str, int, int, str]] = [
    # PrimitiveExpressionsTest
    ("-5.3 == -5.3", 0, 0, "true"),
    ("5 == 3", 0, 0, "false"),
    ("true == true", 0, 0, "true"),
    ('"abc" == "abc"', 0, 0, "true"),
    ('"abc" == "pqr"', 0, 0, "false"),
    ("null == null", 0, 0, "true"),
    ('"John" == payload.name', 1, 0, "true"),
    ('null == payload["null"]', 1, 0, "true"),
    ('"abc" == payload.age', 2, 0, ""),
    ("$.store.book[0] == $.store.book[0]", 2, 0, "true"),
    ("$.store.book[0] == $.store.book[1]", 2, 0, "false"),
    ("-5.3 != -5.3", 0, 0, "false"),
    ("null != null", 0, 0, "false"),
    ('"John" != $.name', 1, 0, "false"),
    ('"John" != $.name', 2, 0, ""),
    ("$.store.book[0] == null", 2, 0, "false"),
    ("5 > 3", 0, 0, "true"),
    ("5 > -3.4", 0, 0, "true"),
    ("-5 > -3.4", 0, 0, "false"),
    ('5 > "bla"', 0, 0, ""),
    ("5 > null", 0, 0, ""),
    ("$.age > vars.num1", 1, 1, "true"),
    ('$.age > $["null"]', 1, 1, ""),
    ("-5 < -3.4", 0, 0, "true"),
    ('$.age < "bla"', 1, 0, ""),
    ("5 >= -3.4", 0, 0, "true"),
    ("true >= false", 0, 0, ""),
    ("-5 <= -3.4", 0, 0, "true"),
    ("true and true", 0, 0, "true"),
    ("true and false", 0, 0, "false"),
    ("true && true && false", 0, 0, "false"),
    ('5 and "bla"', 0, 0, ""),
    ("5 and null", 0, 0, ""),
    ("true or false", 0, 0, "true"),
    ("true || true || false", 0, 0, "true"),
    ("false or false", 0, 0, "false"),
    ("8.95 + 8.99", 0, 0, "17.94"),
    ("5.5 + 3", 0, 0, "8.5"),
    ("5 + 3 + -1", 0, 0, "7"),
    ("5.5 + 3.5", 0, 0, "9.0"),
    ('"abc" + 5', 0, 0, ""),
    ('"abc" + "xyz"', 0, 0, "abcxyz"),
    ("vars.num1 + vars.num3", 2, 1, "7.5"),
    ("vars.num1 + payload.expensive", 2, 1, "20"),
    ("5 + vars.name", 2, 1, ""),
    ("vars.num99 + 5", 0, 0, ""),
    ("2147483647 + 1", 0, 0, "2147483648"),
    ("3148483647 - 3147483647", 0, 0, "1000000"),
    ("8.9567 - 8.9456", 0, 0, "0.0111"),
    ("5 - 30 + 2 - 10", 0, 0, "-33"),
    ("5.5 - 3.5", 0, 0, "2.0"),
    ('5 - "bla"', 0, 0, ""),
    ("vars.num1 - vars.num3", 2, 1, "12.5"),
    ("72.0 * 1.032145", 0, 0, "74.31444"),
    ("8.99 * 8.99", 0, 0, "80.8201"),
    ("25 * 1.05", 0, 0, "26.25"),
    ("5 * 3 * -2", 0, 0, "-30"),
    ("vars.num1 * vars.num3", 2, 1, "-25.0"),
    ("2147483647 * -2", 0, 0, "-4294967294"),
    ("2147463647 * 2", 0, 0, "4294927294"),
    ("34.45 / 3.44", 0, 0, "10.01"),
    ("10 / 2 / -2.5 * 2", 0, 0, "-4.0"),
    ("9 / 3", 0, 0, "3"),
    ("vars.num1 / 2", 2, 1, "5"),
    ("5/0", 0, 0, ""),
    ("5.2/0", 0, 0, ""),
    ("10/10000", 0, 0, "0.001"),
    ("2147483650/0", 0, 0, ""),
    ("5/10", 0, 0, "0.5"),
    ("20000000000/10", 0, 0, "2.0E9"),
    ("200000000/10", 0, 0, "20000000"),
    ("100/10.0", 0, 0, "10.0"),
    ("34.56 % 3.45", 0, 0, "0.06"),
    ("10 % 3", 0, 0, "1"),
    ("5.5 % 3", 0, 0, "2.5"),
    ("5.5 % 3.5", 0, 0, "2.0"),
    ('5 % "bla"', 0, 0, ""),
    ("vars.num1 % 2", 2, 1, "0"),
    # ConditionalExpressionTest
    ("true ? true : false", 0, 0, "true"),
    ("false ? true : false ? false : true", 0, 0, "true"),
    ("true ? false ? false : true : false", 0, 0, "true"),
    (" 5 > 4 ? (false ? false : true) : false", 0, 0, "true"),
    (" 5.2 > 5 ? 5 : 4", 0, 0, "5"),
    ('"bla"? true : 123', 0, 0, ""),
    ("45 == (  5 + 34 ? true : 456)", 0, 0, ""),
    ('45 == (  $["null"] ? true : 456)', 1, 0, ""),
    (
        'vars.num1 > vars.num2 ? $..book[?(@.author =~ /.*Tolkien/i)].price : $..book[(@."length"-1)].title',
        2,
        1,
        "[22.99]",
    ),
    ('$["null"] ? 123 : 456', 1, 0, ""),
    ('$["null"] == null ? 123 : 456', 1, 0, "123"),
    ("null ? 4 : 5", 1, 0, ""),
    # PayloadAndVariableAccessTest
    ("payload.name", 0, 0, ""),
    ("payload.name", 1, 0, "John"),
    ('payload["name"]', 1, 0, "John"),
    ("$.cars[1]", 1, 0, "BMW"),
    ("$.cars[10]", 1, 0, ""),
    ("$.cars[$.index]", 1, 0, "BMW"),
    ("$.cars[$.index,4]", 1, 0, '["BMW","Lexus"]'),
    ("$.cars[$.index:5]", 1, 0, '["BMW","Fiat","Honda","Lexus"]'),
    ("$.cars[:2]", 1, 0, '["Ford","BMW"]'),
    ("$.cars[-1:]", 1, 0, '["KIA"]'),
    ("payload.cars[payload.index + 3:]", 1, 0, '["Lexus","KIA"]'),
    ("payload.[:4]", 3, 0, '["When","my","time","comes"]'),
    ("payload[4:]", 3, 0, '["Forget","the","wrong","that","I\'ve","done"]'),
    ("payload.random", 1, 1, ""),
    ("$.store.book[3].*", 2, 0, '["fiction","Harper Lee","To Kill a Mockingbird",10.99]'),
    ("$.store..price", 2, 0, "[8.95,8.99,22.99,10.99,7.99,6.99,19.95]"),
    ("$..price", 2, 0, "[8.95,8.99,22.99,10.99,7.99,6.99,19.95]"),
    (
        "$..book[*].title",
        2,
        0,
        '["Sayings of the Century","Moby Dick","The Lord of the Rings","To Kill a Mockingbird","Animal Farm",'
        '"The Diary of a Young Girl"]',
    ),
    (
        "$..book[?(@.category=='biography')]",
        2,
        0,
        '[{"category":"biography","author":"Anne Frank","title":"The Diary of a Young Girl","price":6.99}]',
    ),
    (
        "$..book[?(@.category==payload.selectedCategory)]",
        2,
        0,
        '[{"category":"biography","author":"Anne Frank","title":"The Diary of a Young Girl","price":6.99}]',
    ),
    ("$..book[?(@.author=='George Orwell')].title", 2, 0, '["Animal Farm"]'),
    (
        "$..book[?(@.price > $.expensive)]",
        2,
        0,
        '[{"category":"fiction","author":"J.R.R. Tolkien","title":"The Lord of the Rings","isbn":"0-395-19395-8",'
        '"price":22.99},{"category":"fiction","author":"Harper Lee","title":"To Kill a Mockingbird","price":10.99}]',
    ),
    (
        "$..book[?(@.author =~ /.*Tolkien/i)]",
        2,
        0,
        '[{"category":"fiction","author":"J.R.R. Tolkien","title":"The Lord of the Rings","isbn":"0-395-19395-8",'
        '"price":22.99}]',
    ),
    (
        "$..book[?(@.category == 'biography' || @.category == 'reference')]",
        2,
        0,
        '[{"category":"reference","author":"Nigel Rees","title":"Sayings of the Century","price":8.95},'
        '{"category":"biography","author":"Anne Frank","title":"The Diary of a Young Girl","price":6.99}]',
    ),
    ("$.store.book.length()", 2, 0, "6"),
    ("$.store.book.size()", 2, 0, "6"),
    ("$..price.min()", 2, 0, "6.99"),
    ("$..price.max()", 2, 0, "22.99"),
    ("round($..price.avg())", 2, 0, "12"),
    ("round($..price.stddev())", 2, 0, "6"),
    ("object($.store.book.first()).title", 2, 0, "Sayings of the Century"),
    ("object($.store.book.last()).title", 2, 0, "The Diary of a Young Girl"),
    ("$.store.book.[0].keys()", 2, 0, '["category","author","title","price"]'),
    ("vars.name", 1, 1, "John"),
    ("vars.num1", 1, 1, "10"),
    ("(vars.num1 * vars.num3) - vars.num2 + payload.index", 1, 1, "-29.0"),
    ("vars.num1 >= vars.num2", 1, 1, "true"),
    ("vars.json3[1]", 0, 2, "2"),
    ('vars["json3"][1]', 0, 2, "2"),
    ('vars["json2"]["store"]["book"][?(@.author==\'J.R.R. Tolkien\')].title', 0, 2, '["The Lord of the Rings"]'),
    ('vars["json2"]["store"]["book"][1,3].title', 0, 2, '["Moby Dick","To Kill a Mockingbird"]'),
    ('vars["json2"]["store"]["book"][-2:].title', 0, 2, '["Animal Farm","The Diary of a Young Girl"]'),
    (
        "vars.json2.store.book[?(@.category=='fiction')].title",
        0,
        2,
        '["Moby Dick","The Lord of the Rings","To Kill a Mockingbird","Animal Farm"]',
    ),
    (
        'vars["json2"]["store"]["book"][?(@.price > payload.expensive)].title',
        2,
        2,
        '["The Lord of the Rings","To Kill a Mockingbird"]',
    ),
    (
        'vars.["json2"].store.["book"][?(@.price > payload.expensive)].title',
        2,
        2,
        '["The Lord of the Rings","To Kill a Mockingbird"]',
    ),
    ("vars.random", 0, 1, ""),
    ("vars.num1[0]", 0, 1, ""),
    ("payload.payload.vars.pqr", 4, 0, "2"),
    ("payload.payload.vars.pqr * payload.payload.vars.configs.payload.iop", 4, 0, "8"),
    ("vars.payload.payload.vars.pqr", 0, 2, "2"),
    ("vars.vars.payload.vars.pqr", 0, 2, "2"),
    ("vars.vars.payload.vars.pqr + vars.payload.payload.vars.configs.payload.iop ", 0, 2, "6"),
    # PreDefinedFunctionsTest
    ('length("Lahiru")', 0, 0, "6"),
    ('length("Lahiru") + 10', 0, 0, "16"),
    ('length(["LAHIRU",3,5])', 0, 0, "3"),
    ("length(payload.store.book)", 2, 0, "6"),
    ("length(vars.cars)", 2, 1, "6"),
    ('length(vars["empty"])', 2, 1, "0"),
    ("length(34)", 0, 0, ""),
    ("length(null)", 0, 0, ""),
    ('toUpper("lahiru")', 0, 0, "LAHIRU"),
    ("toUpper(payload.name)", 1, 1, "JOHN"),
    ('toUpper("space") + " X"', 0, 0, "SPACE X"),
    ("toUpper(payload.store.book[4].author)", 2, 0, "GEORGE ORWELL"),
    ("toUpper(null)", 0, 0, ""),
    ("toUpper(34)", 0, 0, ""),
    ('toUpper(vars["empty"])', 0, 1, ""),
    ('toLower(payload["store"]["book"][5]["title"])', 2, 1, "the diary of a young girl"),
    ('"europa " + toLower("CLIpper")', 0, 0, "europa clipper"),
    ('subString("Lahiru",2)', 0, 0, "hiru"),
    ('subString("Lahiru",2,4)', 0, 0, "hi"),
    ('length(toUpper(subString("Lahiru",2,4)))', 0, 0, "2"),
    ('subString("Hello",5)', 0, 0, ""),
    ("subString(null,5)", 0, 0, ""),
    ('subString("hello",null)', 0, 0, ""),
    ('subString("Hello","a",4)', 0, 0, ""),
    ('subString("Hello",20)', 0, 0, ""),
    ('subString("Hello",-2)', 0, 0, ""),
    ('subString("Hello",-2,4)', 0, 0, ""),
    ('startsWith("Curiosity","Curi")', 0, 0, "true"),
    ('startsWith("Curiosity","sity")', 0, 0, "false"),
    ('startsWith("red flag",$.store.bicycle.color)', 2, 0, "true"),
    ('startsWith("Curiosity",34)', 0, 0, ""),
    ('startsWith(payload.cars,"Ford")', 1, 0, ""),
    ('endsWith("Opportunity","unity")', 0, 0, "true"),
    ('endsWith("discovered",$.store.bicycle.color)', 2, 0, "true"),
    ('contains("Perseverance","sever")', 0, 0, "true"),
    ('contains("sever","Perseverance")', 0, 0, "false"),
    ('contains(payload.cars,"Ford")', 1, 0, ""),
    ('trim(" Ingenuity ")', 0, 0, "Ingenuity"),
    ('trim(" Ingenuity ") == "Ingenuity"', 0, 0, "true"),
    ('trim($["string"])', 1, 0, "Hello World"),
    ("trim(34)", 0, 0, ""),
    ('replace("Hello", "l", "p")', 0, 0, "Heppo"),
    ('replace("Hello", "p", payload.name)', 1, 0, "Hello"),
    ('replace("John has a " + payload.cars[2], "Fiat" , payload.cars[1])', 1, 0, "John has a BMW"),
    ('replace("John has a " + payload.cars[2], "Fiat" , payload.cars)', 1, 0, ""),
    (
        'split("Split a string by spaces and,comma", "[, ]")',
        0,
        0,
        '["Split","a","string","by","spaces","and","comma"]',
    ),
    ('length(split("NASA, launches; rovers to explore. Mars", "[,; .]+"))', 0, 0, "6"),
    ('split(" Moon Mars ", ",")', 0, 0, '[" Moon Mars "]'),
    ('split(payload.cars, "34")', 1, 0, ""),
    ("abs(-5)", 0, 0, "5"),
    ("abs(-5.0)", 0, 0, "5.0"),
    ("abs(vars.num4 + payload.expensive )", 2, 1, "8.0"),
    ("abs(vars.num1 / vars.num3)", 2, 1, "4.0"),
    ("abs(payload.cars)", 1, 0, ""),
    ("floor(-5.4)", 0, 0, "-6.0"),
    ("floor(vars.num3)", 0, 1, "-3.0"),
    ("floor(-1 * vars.num3)", 0, 1, "2.0"),
    ("ceil(-5.4)", 0, 0, "-5.0"),
    ("ceil(-1 * vars.num3)", 0, 1, "3.0"),
    ("sqrt(25)", 0, 0, "5.0"),
    ("sqrt(-25.0)", 0, 0, "NaN"),
    ("sqrt(vars.num3 * vars.num3)", 0, 1, "2.5"),
    ("pow(2,3)", 0, 0, "8.0"),
    ("pow(2,-2)", 0, 0, "0.25"),
    ("pow(vars.num3,-2)", 0, 1, "0.16"),
    ('base64encode("Hello World")', 0, 0, "SGVsbG8gV29ybGQ="),
    ('base64encode(payload["name"])', 1, 0, "Sm9obg=="),
    ('base64encode(vars.name,"UTF-8")', 0, 1, "Sm9obg=="),
    ("base64encode(34)", 0, 0, ""),
    ('base64encode("Hello","UTF-99")', 0, 0, ""),
    ('base64decode("YWRtaW46YWRtaW4=")', 0, 0, "admin:admin"),
    ("base64decode(vars.encoded)", 0, 1, "WSO2MI"),
    ('urlEncode("Hello World")', 0, 0, "Hello%20World"),
    ('urlEncode(payload["string"])', 1, 0, "%20Hello%20World%20"),
    ('urlEncode("Hello","UTF-99")', 0, 0, ""),
    ('urlEncode(" *~")', 0, 0, "%20%2A%7E"),
    ('urlDecode("Hello+World")', 0, 0, "Hello World"),
    ('urlDecode(payload["string"]) + " " + urlDecode("%26")', 1, 0, " Hello World  &"),
    ("isNumber(34)", 0, 0, "true"),
    ('isNumber("34")', 0, 0, "false"),
    ('isNumber(payload["age"]) && isNumber(vars.num1)', 1, 1, "true"),
    ('isNumber(vars["empty2"])', 1, 1, ""),
    ('isString(payload["name"]) && isString(vars.name)', 1, 1, "true"),
    ('isString(payload["age"]) || isString(vars.num1)', 1, 1, "false"),
    ('isArray(["Hello",34])', 0, 0, "true"),
    ('isArray(payload["cars"]) && isArray(vars.cars)', 1, 1, "true"),
    ("isArray(payload)", 3, 1, "true"),
    ('isArray("[1,2,{\\"abc\\":5}]")', 0, 0, "true"),
    ('isArray("[1,2,{\\"abc:5}]")', 0, 0, "false"),
    ("isObject(payload) && isObject(vars.name)", 3, 1, "false"),
    ("isObject(payload.store)", 2, 1, "true"),
    ('isObject("{\\"hello\\": \\"world\\"}")', 0, 0, "true"),
    ('isObject("{\\"hello: \\"world\\"}")', 0, 0, "false"),
    ('string(12) + " Angry Men"', 0, 0, "12 Angry Men"),
    ("string(true)", 0, 0, "true"),
    ("string(payload)", 3, 0, '["When","my","time","comes","Forget","the","wrong","that","I\'ve","done"]'),
    ("string(vars.age * 10)", 0, 1, "300"),
    ("string(null)", 0, 0, ""),
    ('integer(payload["expensive"]) + vars.num1', 2, 1, "20"),
    ('integer("Hello")', 0, 0, ""),
    ("integer(34.5)", 0, 0, ""),
    ("integer(payload)", 3, 0, ""),
    ("float(-34)", 0, 0, "-34.0"),
    ('float(payload["expensive"]) + vars.num2', 2, 1, "15.0"),
    ('float("Hello")', 0, 0, ""),
    ('boolean("true")', 0, 0, "true"),
    ('boolean("1")', 0, 0, "false"),
    ('boolean("0") || (5 > 2)', 0, 0, "true"),
    ("boolean(payload)", 3, 0, "false"),
    ("round(5.4)", 0, 0, "5"),
    ("round(5.6)", 0, 0, "6"),
    ("round(vars.num4)", 0, 1, "-2"),
    ("round(vars.num1 + vars.num2)", 0, 1, "15"),
    ("round(payload)", 3, 0, ""),
    ("round(8.89 + 0.12,1)", 0, 0, "9.0"),
    ("round(8.89 + 0.12,2)", 0, 0, "9.01"),
    ("round(0.115,2)", 0, 0, "0.12"),
    ("round(0.111,4)", 0, 0, "0.111"),
    ("round(0.111,0)", 0, 0, ""),
    ('round(0.111,"asdf")', 0, 0, ""),
    ("exists(vars.num1)", 0, 0, "false"),
    ("exists(null)", 0, 0, "false"),
    ("exists($.fullName) ? $.fullName : $.name", 1, 0, "John"),
    ('object("{\\"hello\\":\\"world\\"}")', 2, 0, '{"hello":"world"}'),
    ('object("{\\"hello\\":\\"world\\"}").hello', 2, 0, "world"),
    ('object("{\\"hello\\":\\"world\\"}")["hello"]', 2, 0, "world"),
    ('object("[\\"Hello\\",\\"World\\"]")', 0, 0, ""),
    ("object(34)", 0, 0, ""),
    ("object(payload)", 3, 0, ""),
    ('registry("Hello").bla', 0, 0, ""),
    ('array("[\\"Hello\\",\\"World\\"]")', 0, 0, '["Hello","World"]'),
    ('array("[\\"Hello\\",\\"World\\"]")[0]', 0, 0, "Hello"),
    ("array(payload)", 2, 0, ""),
    ("toUpper(array(payload)[2])", 3, 0, "TIME"),
    ("not(true)", 0, 0, "false"),
    ("not(5 > 6) ? true : false", 0, 0, "true"),
    ("not(123)", 0, 0, ""),
    ('indexOf("Hello World", "World")', 0, 0, "6"),
    ('indexOf("Hello World", "World2")', 0, 0, "-1"),
    ('indexOf("Hello World", "l",5)', 0, 0, "9"),
    ('indexOf("Hello World", "l",50)', 0, 0, "-1"),
    ('indexOf($.string, "World")', 1, 0, "7"),
    ('charAt("Hello World", 6)', 0, 0, "W"),
    ('charAt("Hello World", -1)', 0, 0, ""),
    ("charAt($.string, 0)", 1, 0, " "),
    ('formatDateTime("29/09/1988","dd/MM/yyyy", "yyyy-MM-dd")', 0, 0, "1988-09-29"),
    ('formatDateTime("29-09-1988","dd-MM-yyyy", "yyyy MMM dd")', 0, 0, "1988 Sep 29"),
    ('formatDateTime("11-22-33","HH-mm-ss", "HH mm ss")', 0, 0, "11 22 33"),
    ('formatDateTime("50-22-33","HH-mm-ss", "HH mm ss")', 0, 0, ""),
    ("log(10)", 0, 0, "1.0"),
    ("round(log(1001))", 0, 0, "3"),
    ('log("asdf")', 0, 0, ""),
    ("log(1024,2)", 0, 0, "10.0"),
    ("log(vars.num1,vars.num3)", 0, 1, "NaN"),
    ("round(log(vars.num1,vars.num2),2)", 0, 1, "1.43"),
    # HeaderAndPropertyAccessTest (its payload is PAYLOAD2)
    ("headers.test", 2, 0, "Hello World"),
    ('toLower(headers.["toUpper"])', 2, 0, "hello world"),
    ("$..book[?(@.price > integer(headers.price))].title", 2, 0, '["The Lord of the Rings","To Kill a Mockingbird"]'),
    ('toLower(headers.["te st"]) + " World"', 2, 0, "hello World"),
    ('headers["toUpper2"]', 2, 0, ""),
    ("integer(headers.numerical)+ 4", 2, 0, "404"),
    ("props.axis2.test", 2, 0, "Sic Mundus"),
    ('properties.axis2.test + " " + props.axis2.test2', 2, 0, "Sic Mundus Creatus Est"),
    ("$..book[?(@.category == props.axis2.category)].title", 2, 0, '["The Diary of a Young Girl"]'),
    ('props.axis2.["empty"]', 2, 0, "Thus the world was created"),
    ("props.synapse.phrase", 2, 0, "Now I Am Become Death, the Destroyer of Worlds"),
    ('length(split(properties.synapse.phrase, " "))', 2, 0, "9"),
    ('$..book[?(@.title == props.synapse.["selected book"])].price', 2, 0, "[7.99]"),
    ("props.synapse.nonExisting", 2, 0, ""),
    ('props.synapse["empty"]', 2, 0, ""),
    ("headers.payload", 2, 0, "Hello World"),
    ("props.axis2.payload", 2, 0, "Hello"),
]


@pytest.mark.parametrize(("expression", "payload", "variables", "expected"), MI_CASES)
def test_mi_expression_cases(expression: str, payload: int, variables: int, expected: str) -> None:
    assert evaluate(expression, payload, variables) == expected


def test_now_and_format_date_time_use_the_local_clock() -> None:
    before = datetime.now().strftime("%d-%m-%Y %H:%M")
    got = evaluate('formatDateTime(now(), "dd-MM-yyyy HH:mm")')
    after = datetime.now().strftime("%d-%m-%Y %H:%M")
    assert got in (before, after)
    assert evaluate('formatDateTime(now(), "yyyy-MM-dd")') == datetime.now().strftime("%Y-%m-%d")
    assert evaluate("now() > 5") == ""  # W: now() is a Long, and comparisons take Integer or Double only


# SyntaxErrorsTest and the deploy-time checks


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("5 >> 3", "at position 4"),
        ("payload.products[0].stock + abc", "at position 29"),
        ("5-3", "at position 2"),  # `-3` is one NUMBER token in MI's lexer: two numbers in a row
        ("!true", "at position 1"),  # MI has no '!' operator: not(…)
        ("var.id", "at position 1"),  # `vars`, not `var`
        ("var.id", "variables are vars.NAME: MI 4.4 pre-releases wrote var.NAME"),  # MI's ForEachPI.xml
        ("payload.name ==", "at the end"),
        ("length(1, 2)", "length() takes 1 argument(s), not 2"),
        ('wso2-vault("db")', "the secure vault (wso2-vault()) is not supported yet"),
        ("xpath('//a[')", "invalid XPath in xpath()"),
        ("", "empty Synapse expression"),
        ("5 # 3", "unexpected character '#' at position 3"),
    ],
)
def test_deploy_errors_name_the_position_or_the_reason(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_synapse_expression("${" + expression + "}")
    assert message in str(info.value)


def test_precedence_is_mis_comparison_binds_loosest() -> None:
    # W: ExpressionParser.g4: comparison > logical > arithmetic; `a > b and c > d` is `a > (b and c) > d`
    assert evaluate("5 > 3 and 2 > 1") == ""
    assert evaluate("(5 > 3) and (2 > 1)") == "true"
    assert evaluate("1 + 2 * 3") == "7"
    assert evaluate("true or false and false") == "true"  # right-associative, one level


def test_compile_expression_and_values_accept_synapse_expressions() -> None:
    ctx = FakeContext(json_payload={"orders": [{"id": 7}]}, variables={"i": 0})
    expr = compile_expression("${payload.orders[vars.i].id}")
    assert expr.kind == "synapse" and expr.needs_body
    assert expr.string_value(ctx) == "7"
    assert expr.evaluate(ctx) == 7
    assert compile_expression("${vars.i == 0}").boolean_value(ctx) is True
    assert not compile_expression("${vars.i}").needs_body
    value = compile_value("{${payload.orders[0].id + 1}}")  # W: ValueFactory `{${…}}`
    assert value.is_dynamic and value.resolve(ctx) == "8"


def test_xpath_function_uses_the_namespaces_in_scope_and_reads_xml() -> None:
    from tests.support.fake_context import soap_envelope

    envelope = soap_envelope('<a:order xmlns:a="urn:a"><a:id>42</a:id></a:order>')
    ctx = FakeContext(envelope)
    expr = compile_expression("${xpath('//a:order/a:id') + 1}", {"a": "urn:a"})
    assert expr.string_value(ctx) == ""  # xpath() gives a string: "42" + 1 is not an addition MI does
    assert compile_expression("${integer(xpath('//a:id')) + 1}", {"a": "urn:a"}).string_value(ctx) == "43"


def test_template_parts_compile_each_placeholder_once() -> None:
    parts = template_parts("Order ${payload.id} for ${vars.who}!")
    assert [p if isinstance(p, str) else p.source for p in parts] == [
        "Order ",
        "payload.id",
        " for ",
        "vars.who",
        "!",
    ]
    ctx = FakeContext(json_payload={"id": 5}, variables={"who": "Ann"})
    assert "".join(p if isinstance(p, str) else p.string_value(ctx) or "" for p in parts) == "Order 5 for Ann!"


def test_configs_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMO_BILL_COUNT", "3")
    assert evaluate("configs.PROMO_BILL_COUNT + 1") == "4"
    monkeypatch.delenv("PROMO_BILL_COUNT")
    assert evaluate("configs.PROMO_BILL_COUNT + 1") == ""


def test_function_params_read_the_template_frame() -> None:
    ctx = FakeContext(func_stack=[{"greeting": "hi"}])
    assert evaluate_ctx("params.functionParams.greeting", ctx) == "hi"
    ctx = FakeContext(properties={"uri.var.id": "12", "query.param.q": "x y"})
    assert evaluate_ctx("params.pathParams.id + 1", ctx) == "13"
    assert evaluate_ctx("params.queryParams.q", ctx) == "x y"


def evaluate_ctx(expression: str, ctx: FakeContext) -> str | None:
    return compile_synapse_expression(expression).string_value(ctx)


def test_a_failed_evaluation_gives_empty_and_logs_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="gateway.expressions.synapse"):
        assert evaluate("vars.missing + 1") == ""
    assert any("vars.missing + 1" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------------------------------------
# End to end: a real gateway over HTTP

S = 'xmlns="http://ws.apache.org/ns/synapse"'
LOG = "gateway.mediator.log"

ORDERS_API = f"""
<api {S} name="Orders" context="/orders">
  <resource methods="POST" uri-template="/{{customer}}?region={{region}}">
    <inSequence>
      <variable name="first" expression="${{payload.orders[0].id}}"/>
      <variable name="count" type="INTEGER" expression="${{length(payload.orders)}}"/>
      <variable name="limit" type="INTEGER" value="100"/>
      <variable name="big" expression="${{payload.orders[?(@.total > vars.limit)].id}}"/>
      <log category="INFO" logMessageID="true">
        <message>customer ${{params.pathParams.customer}} from ${{params.queryParams.region}}: ${{vars.count}}
 orders</message>
        <property name="first" expression="${{vars.first}}"/>
      </log>
      <property name="ctype" expression="${{headers['Content-Type']}}"/>
      <filter xpath="${{vars.count &gt; 1}}">
        <then><property name="many" value="yes"/></then>
        <else><property name="many" value="no"/></else>
      </filter>
      <switch source="${{toUpper(payload.kind)}}">
        <case regex="RETAIL"><property name="channel" value="shop"/></case>
        <default><property name="channel" value="other"/></default>
      </switch>
      <header name="X-First" scope="transport" expression="${{vars.first}}"/>
      <header name="X-Many" scope="transport" expression="${{props.synapse.many}}"/>
      <header name="X-Big" scope="transport" expression="${{vars.big}}"/>
      <header name="X-Total" scope="transport" expression="${{payload.orders[0].total + payload.orders[1].total}}"/>
      <header name="X-Channel" scope="transport" expression="${{props.synapse.channel}}"/>
      <variable name="first" action="remove"/>
      <header name="X-Removed" scope="transport" expression="${{exists(vars.first) ? 'still' : 'gone'}}"/>
      <payloadFactory media-type="json">
        <format>{{"customer":"$1","count":$2,"ctype":"$3"}}</format>
        <args>
          <arg expression="${{params.pathParams.customer}}"/>
          <arg expression="${{vars.count * 10}}"/>
          <arg expression="${{props.synapse.ctype}}"/>
        </args>
      </payloadFactory>
      <respond/>
    </inSequence>
  </resource>
</api>
"""


async def test_json_payload_headers_params_variables_and_a_log_template(gateway, caplog) -> None:
    caplog.set_level(logging.INFO, logger=LOG)
    client = await gateway({"api/Orders.xml": ORDERS_API})
    assert not client.config.failed
    body = {"kind": "retail", "orders": [{"id": "A1", "total": 150}, {"id": "B2", "total": 20.5}]}
    response = await client.post("/orders/ann?region=eu", json=body)
    assert response.status == 200, await response.text()
    assert response.headers["X-First"] == "A1"
    assert response.headers["X-Many"] == "yes"
    assert response.headers["X-Big"] == '["A1"]'
    assert response.headers["X-Total"] == "170.5"
    assert response.headers["X-Channel"] == "shop"
    assert response.headers["X-Removed"] == "gone"
    assert await response.json() == {"customer": "ann", "count": 20, "ctype": "application/json"}
    line = next(r.getMessage() for r in caplog.records if r.name == LOG)
    assert line.startswith("MessageID: urn:uuid:")
    assert line.endswith(", customer ann from eu: 2\n orders, first = A1")


async def test_an_xml_payload_through_xpath_and_an_xml_variable(gateway) -> None:
    client = await gateway(
        {
            "proxies/Quote.xml": f"""
<proxy {S} name="Quote" xmlns:m="http://services.samples"><target><inSequence>
  <variable name="symbol" type="STRING" expression="${{xpath('//m:symbol')}}"/>
  <variable name="qty" type="STRING" expression="${{xpath('//m:qty')}}"/>
  <variable name="doc" type="XML" value="&lt;a&gt;&lt;b&gt;7&lt;/b&gt;&lt;/a&gt;"/>
  <header name="X-Symbol" scope="transport" expression="${{toLower(vars.symbol)}}"/>
  <header name="X-Qty" scope="transport" expression="${{integer(vars.qty) * 2}}"/>
  <header name="X-B" scope="transport" expression="${{xpath('//b', 'doc')}}"/>
  <header name="X-Body" scope="transport" expression="${{contains(payload, 'IBM')}}"/>
  <respond/>
</inSequence></target></proxy>""",
        }
    )
    assert not client.config.failed
    body = b'<m:getQuote xmlns:m="http://services.samples"><m:symbol>IBM</m:symbol><m:qty>21</m:qty></m:getQuote>'
    response = await client.post("/services/Quote", data=body, headers={"Content-Type": "application/xml"})
    assert response.status == 200
    assert response.headers["X-Symbol"] == "ibm"
    assert response.headers["X-Qty"] == "42"
    assert response.headers["X-B"] == "7"
    assert response.headers["X-Body"] == "true"  # `payload` of an XML message is its body (xpath('$body'))


async def test_variables_travel_to_the_reply_and_keep_their_type(gateway, backend) -> None:
    from aiohttp import web

    async def echo(request: web.Request, body: bytes) -> web.Response:
        return web.json_response({"got": json.loads(body)})

    server = await backend(echo)
    client = await gateway(
        {
            "proxies/P.xml": f"""
<proxy {S} name="P"><target>
  <inSequence>
    <variable name="tag" value="kept"/>
    <variable name="n" type="LONG" value="5"/>
    <variable name="m" type="INTEGER" value="-٤٢"/>
    <variable name="big" type="LONG" value="+2147483648"/>
    <variable name="flag" type="BOOLEAN" value="yes"/>
    <variable name="obj" type="JSON" value='{{"a":[1,2]}}'/>
    <send><endpoint><address uri="{server.make_url("/b")}"/></endpoint></send>
  </inSequence>
  <outSequence>
    <header name="X-Tag" scope="transport" expression="${{vars.tag}}"/>
    <header name="X-N" scope="transport" expression="${{vars.n * 2}}"/>
    <header name="X-M" scope="transport" expression="${{vars.m + vars.big}}"/>
    <header name="X-Flag" scope="transport" expression="${{vars.flag ? 'on' : 'off'}}"/>
    <header name="X-A" scope="transport" expression="${{vars.obj.a[1] + payload.got.x}}"/>
    <send/>
  </outSequence>
</target></proxy>""",
        }
    )
    assert not client.config.failed
    response = await client.post("/services/P", json={"x": 40})
    assert response.status == 200, await response.text()
    assert response.headers["X-Tag"] == "kept"
    assert response.headers["X-N"] == "10"
    assert response.headers["X-M"] == "2147483606"  # Integer.parseInt reads any Unicode decimal digit (here -42)
    assert response.headers["X-Flag"] == "on"
    assert response.headers["X-A"] == "42"


async def test_a_typed_variable_that_does_not_fit_is_a_fault(gateway) -> None:
    client = await gateway(
        {
            "proxies/P.xml": f"""
<proxy {S} name="P"><target>
  <inSequence><variable name="n" type="INTEGER" expression="${{payload.name}}"/><respond/></inSequence>
  <faultSequence>
    <header name="X-Error" scope="transport" expression="${{props.synapse.ERROR_MESSAGE}}"/><respond/>
  </faultSequence>
</target></proxy>""",
        }
    )
    response = await client.post("/services/P", json={"name": "Ann"})
    assert "does not match the expected data type 'INTEGER'" in response.headers["X-Error"]


def test_variable_deploy_errors(tmp_path, capsys) -> None:
    from gateway.cli import main as cli
    from tests.conftest import write_artifacts

    files = {
        f"sequences/{name}.xml": f'<sequence {S} name="{name}">\n{xml}\n</sequence>'
        for name, xml in {
            "NoValue": '<variable name="v"/>',
            "BadType": '<variable name="v" type="OM" value="&lt;a/&gt;"/>',
            "BadInt": '<variable name="v" type="INTEGER" value="1.5"/>',
            "BigInt": '<variable name="v" type="INTEGER" value="2147483648"/>',
            "Spaced": '<variable name="v" type="LONG" value=" 5"/>',
            "BadExpr": '<variable name="v" expression="${vars.}"/>',
        }.items()
    }
    root = write_artifacts(tmp_path, files, with_defaults=False)
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "NoValue.xml:2: variable: 'value' or 'expression' attributes is required for a variable mediator" in out
    assert "BadType.xml:2: variable: invalid type 'OM'" in out
    assert "BadInt.xml:2: variable: the value cannot be converted into the type INTEGER" in out
    assert "BigInt.xml:2: variable: the value cannot be converted into the type INTEGER" in out
    assert "Spaced.xml:2: variable: the value cannot be converted into the type LONG" in out
    assert "BadExpr.xml:2: variable: invalid expression for attribute 'expression'" in out


async def test_throw_error_sets_the_error_properties_and_runs_the_fault_handler(gateway) -> None:
    client = await gateway(
        {
            "proxies/P.xml": f"""
<proxy {S} name="P"><target>
  <inSequence>
    <filter xpath="${{payload.id &lt; 0}}">
      <then><throwError type="VALIDATION" errorMessage="{{${{'bad id ' + string(payload.id)}}}}"/></then>
      <else><throwError/></else>
    </filter>
    <header name="X-Not-Reached" scope="transport" value="1"/>
    <respond/>
  </inSequence>
  <faultSequence>
    <header name="X-Code" scope="transport" expression="${{props.synapse.ERROR_CODE}}"/>
    <header name="X-Message" scope="transport" expression="${{props.synapse.ERROR_MESSAGE}}"/>
    <respond/>
  </faultSequence>
</target></proxy>""",
        }
    )
    assert not client.config.failed
    response = await client.post("/services/P", json={"id": -4})
    assert response.headers["X-Code"] == "VALIDATION"
    assert response.headers["X-Message"] == "bad id -4"
    assert "X-Not-Reached" not in response.headers
    response = await client.post("/services/P", json={"id": 4})
    assert response.headers["X-Code"] == "ANY"  # W: SynapseConstants.DEFAULT_ERROR_TYPE
    assert response.headers["X-Message"] == "Error occurred in the mediation flow"


async def test_payload_factory_formats_with_inline_expressions(gateway) -> None:
    # W: RegexTemplateProcessor: "${…}" is a JSON string, ${…} the value as it is (objects as JSON, XML converted)
    client = await gateway(
        {
            "api/Inline.xml": f"""
<api {S} name="Inline" context="/inline">
  <resource methods="POST" uri-template="/json">
    <inSequence>
      <variable name="tags" type="JSON" value='["a","b"]'/>
      <payloadFactory media-type="json">
        <format>{{"name": "${{toUpper(payload.name)}}", "age": ${{payload.age + 1}}, "tags": ${{vars.tags}},
          "quote": "${{payload.quote}}", "addr": ${{payload.address}}, "n": $1}}</format>
        <args><arg value="7"/></args>
      </payloadFactory>
      <respond/>
    </inSequence>
  </resource>
  <resource methods="POST" uri-template="/xml">
    <inSequence>
      <payloadFactory media-type="xml">
        <format>
          <tem:AddInteger xmlns:tem="http://tempuri.org">
            <tem:Arg1>${{payload.Arg1}}</tem:Arg1>
            <tem:Text>${{payload.text}}</tem:Text>
            <tem:Addr>${{payload.address}}</tem:Addr>
          </tem:AddInteger>
        </format>
      </payloadFactory>
      <respond/>
    </inSequence>
  </resource>
</api>""",
        }
    )
    assert not client.config.failed
    body = {"name": "ann", "age": 41, "quote": 'say "hi"', "address": {"city": "Oslo"}, "Arg1": 3, "text": "a<b"}
    response = await client.post("/inline/json", json=body)
    assert response.status == 200, await response.text()
    assert await response.json() == {
        "name": "ANN",
        "age": 42,
        "tags": ["a", "b"],
        "quote": 'say "hi"',
        "addr": {"city": "Oslo"},
        "n": 7,
    }
    response = await client.post("/inline/xml", json=body)
    assert response.status == 200
    text = await response.text()
    assert "<tem:Arg1>3</tem:Arg1>" in text
    assert "<tem:Text>a&lt;b</tem:Text>" in text
    assert "<tem:Addr><city>Oslo</city></tem:Addr>" in text


def test_payload_factory_inline_syntax_errors_fail_the_deployment(tmp_path, capsys) -> None:
    from gateway.cli import main as cli
    from tests.conftest import write_artifacts

    files = {
        "sequences/S.xml": f'<sequence {S} name="S">\n<payloadFactory media-type="json">\n'
        + '<format>{"a": ${payload.a +}}</format></payloadFactory>\n</sequence>'
    }
    root = write_artifacts(tmp_path, files, with_defaults=False)
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "S.xml:3: format: Invalid Payload format (syntax error" in out


async def test_call_template_params_hold_synapse_expression_strings(gateway) -> None:
    client = await gateway(
        {
            "templates/Greet.xml": f"""
<template {S} name="Greet"><parameter name="who"/><parameter name="items"/><sequence>
  <header name="X-Who" scope="transport" expression="${{params.functionParams.who}}"/>
  <header name="X-Items" scope="transport" expression="$func:items"/>
</sequence></template>""",
            "proxies/P.xml": f"""
<proxy {S} name="P"><target><inSequence>
  <call-template target="Greet">
    <with-param name="who" value="{{${{toUpper(payload.name)}}}}"/>
    <with-param name="items" value="{{${{payload.items}}}}"/>
  </call-template>
  <respond/>
</inSequence></target></proxy>""",
        }
    )
    assert not client.config.failed
    response = await client.post("/services/P", json={"name": "ann", "items": [1, 2]})
    assert response.headers["X-Who"] == "ANN"
    assert response.headers["X-Items"] == "[1,2]"  # W: TemplateContext: a Synapse Expression's string value


def test_a_property_holding_xml_is_read_as_its_xml() -> None:
    from lxml import etree

    ctx = FakeContext(properties={"doc": etree.fromstring("<a><b>1</b></a>")})
    assert evaluate_ctx("props.synapse.doc", ctx) == "<a><b>1</b></a>"  # W: value.toString()


def test_xml_values_print_as_mi_prints_them() -> None:
    from lxml import etree

    from tests.support.fake_context import soap_envelope

    element = etree.fromstring("<a><b>1</b></a>")
    ctx = FakeContext(soap_envelope("<r><a>1</a><a>2</a></r>"), variables={"doc": element})
    assert evaluate_ctx("vars.doc", ctx) == "<a><b>1</b></a>"
    nodes = compile_synapse_expression("xpath('//a')").evaluate(ctx)  # the object value: the node list
    ctx.variables["nodes"] = nodes
    assert evaluate_ctx("vars.nodes", ctx) == "[<a>1</a>, <a>2</a>]"  # W: a Java List of OMElements
    assert evaluate_ctx("xpath('//a')", ctx) == "<a>1</a><a>2</a>"  # the string value, as SynapseXPath gives it


async def test_a_path_on_an_xml_message_reads_its_json_conversion(gateway) -> None:
    client = await gateway(
        {
            "proxies/P.xml": f"""
<proxy {S} name="P"><target><inSequence>
  <header name="X-A" scope="transport" expression="${{payload.order.item[1].qty + 1}}"/>
  <respond/>
</inSequence></target></proxy>""",
        }
    )
    body = b"<order><item><qty>1</qty></item><item><qty>5</qty></item></order>"
    response = await client.post("/services/P", data=body, headers={"Content-Type": "application/xml"})
    assert response.headers["X-A"] == "6"


async def test_registry_resources_and_their_properties(gateway) -> None:
    client = await gateway(
        {
            "registry/governance/app/limits.json": '{"max": 40, "tiers": ["a", "b"]}',
            "registry/governance/app/limits.json.properties": "owner=ops\n",
            "proxies/P.xml": f"""
<proxy {S} name="P"><target><inSequence>
  <header name="X-Max" scope="transport" expression="${{registry('gov:/app/limits.json').max + 2}}"/>
  <header name="X-Tier" scope="transport" expression="${{registry('gov:/app/limits.json').tiers[1]}}"/>
  <header name="X-Owner" scope="transport" expression="${{registry('gov:/app/limits.json').property('owner')}}"/>
  <header name="X-None" scope="transport" expression="${{exists(registry('gov:/app/none.json'))}}"/>
  <respond/>
</inSequence></target></proxy>""",
        }
    )
    assert not client.config.failed
    response = await client.post("/services/P", json={})
    assert response.headers["X-Max"] == "42"
    assert response.headers["X-Tier"] == "b"
    assert response.headers["X-Owner"] == "ops"
    assert response.headers["X-None"] == "false"


async def test_an_empty_log_message_is_a_blank_template(gateway, caplog) -> None:
    caplog.set_level(logging.INFO, logger=LOG)
    client = await gateway(
        {
            "proxies/P.xml": f"""
<proxy {S} name="P"><target><inSequence>
  <log><message></message><property name="p" value="v"/></log>
  <log level="simple" separator=" | "><message>at ${{vars.none}}!</message></log>
  <respond/>
</inSequence></target></proxy>""",
        }
    )
    await client.post("/services/P", json={})
    first, second = [r.getMessage() for r in caplog.records if r.name == LOG]
    assert first == "p = v"  # W: getText() of an empty element is "": the template level, no simple parts
    assert second.startswith("at ! | To: /services/P | MessageID: ")  # a failed placeholder is ""


def test_json_numbers_unwrap_as_jayways_gson_provider() -> None:
    doc = json_codec.loads('{"a": 1.50, "b": 1e2, "c": 0.10000000000000000001, "d": 3000000000, "e": 1e30}')
    ctx = FakeContext(json_payload=doc)
    assert evaluate_ctx("payload.a", ctx) == "1.5"  # a Double: 1.5 holds 1.50 exactly
    assert evaluate_ctx("payload.b + 1", ctx) == "101"  # scale <= 0: an Integer
    assert evaluate_ctx("payload.c", ctx) == "0.10000000000000000001"  # kept as a BigDecimal …
    assert evaluate_ctx("payload.c + 1", ctx) == ""  # … which no arithmetic takes
    assert evaluate_ctx("payload.d + 1", ctx) == "3000000001"  # a Long
    assert evaluate_ctx("isNumber(payload.d)", ctx) == "false"  # W: isNumber is Integer or Double
    assert evaluate_ctx("payload.e", ctx) == "1E+30"


async def test_a_variable_never_shares_the_messages_json() -> None:
    from gateway.mediators.variable import VariableMediator

    doc = {"order": {"id": 1}}
    ctx = FakeContext(json_payload=doc)
    mediator = VariableMediator("o", expression=compile_expression("${payload.order}"))
    assert await mediator.mediate(ctx)  # type: ignore[arg-type]
    doc["order"]["id"] = 2  # a later change of the payload in place
    assert ctx.variables["o"] == {"id": 1}


def test_values_written_into_a_path_stay_values() -> None:
    doc = {"a": {"x": 1, 'we"ird': 2}, "list": [10, 20, 30], "items": [{"k": 'q"]..*'}, {"k": "n"}]}
    ctx = FakeContext(json_payload=doc, variables={"key": 'we"ird', "bad": '"]..*["', "k": 'q"]..*', "one": 1})
    assert evaluate_ctx("payload.a[vars.key]", ctx) == "2"
    assert evaluate_ctx("payload.a[vars.bad]", ctx) == ""  # no such name, not a deep scan
    assert evaluate_ctx("payload.items[?(@.k == vars.k)]", ctx) == '[{"k":"q\\"]..*"}]'
    assert evaluate_ctx("payload.list[vars.one:]", ctx) == "[20,30]"
    assert evaluate_ctx("payload.list[vars.key:]", ctx) == ""  # a slice takes numbers only


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('split("a1b22c", "([0-9])+")', '["a","b","c"]'),  # groups are not part of the result
        ('split(",a,,b,,", ",")', '["","a","","b"]'),  # a leading empty string stays, trailing ones go
        ('split(",", ",")', "[]"),
        ('split("abc", "")', '["a","b","c"]'),  # no empty first string for a zero-width match at the start
        ('split("abc", "x")', '["abc"]'),
        ('split("abc", "(")', ""),  # an invalid pattern
    ],
)
def test_split_is_javas_string_split(expression: str, expected: str) -> None:
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("round(1.5, 400)", "1.5"),  # BigDecimal.setScale(400): nothing to round
        ("round(2.675, 2)", "2.68"),  # HALF_UP on Double.toString's decimal, not on the binary double
        ("pow(10, 400)", "Infinity"),
        ("log(0)", "-Infinity"),
        ("abs(-2147483648)", "-2147483648"),  # Math.abs(Integer.MIN_VALUE)
        ("9223372036854775807 * 9223372036854775807", "1"),  # long arithmetic wraps
        ("2147483647 - -1", "-2147483648"),  # int subtraction wraps (only + and * widen)
    ],
)
def test_java_number_edges(expression: str, expected: str) -> None:
    assert evaluate(expression) == expected


def test_json_eval_paths_with_inline_values() -> None:
    # W: SynapseJsonPath + InlineExpressionUtil.replaceDynamicValuesForJSONPath: {xpath} / {json-eval(…)} inside
    # a JSONPath are replaced by their string values (as they are) for each message
    doc = {"orders": [{"customerID": "C1", "total": 50}, {"customerID": "C1", "total": 5}], "store": {"k": 7}}
    ctx = FakeContext(json_payload=doc, properties={"customerId": "C1", "billAmount": "10", "prop1": "k"})
    expr = compile_expression(
        "json-eval($.orders[?(@.customerID=='{$ctx:customerId}' && @.total > {$ctx:billAmount})].total)"
    )
    assert expr.needs_body and expr.string_value(ctx) == "[50]"
    assert compile_expression("json-eval($.store.{$ctx:prop1})").string_value(ctx) == "7"
    assert compile_expression("json-eval($.orders[{json-eval($.store.k)}])").string_value(ctx) == ""  # no [7]
    with pytest.raises(ExpressionError, match="invalid inline value"):
        compile_expression("json-eval($.a[{count(//a}])")


@pytest.mark.parametrize(
    ("expression", "reads_the_message"),
    [  # W: ContentAwarenessTest
        ("payload", True),
        ("$", True),
        ("payload.name", True),
        ("$.name", True),
        ("length(payload)", True),
        ('5 + length(payload["payload"])', True),
        ("$..book[?(@.category==payload.category)]", True),
        ('$..book[?(@.category=="payload.category")]', True),
        ("vars.books[?(@.category==payload.category)]", True),
        ("vars.books[?(@.category==$.category)]", True),
        ('xpath("$ctx:name")', False),
        ('xpath("//student")', True),
        ('xpath("//*") + vars.abc', True),
        ('xpath("$ctx:bla") + $.age', True),
        ('vars.num1 + vars.["payload"] + xpath("//num3")', True),
        ('vars.num1 + vars.["payload"] + xpath("$ctx:num3")', False),
        ("length(vars.abc)", False),
        ('vars["payload"]', False),
        ('5 + vars["payload"].age', False),
        ("vars.a.bc", False),
        ('vars.books[?(@.category=="payload.category")]', False),
        ("xpath('//a', 'doc')", False),
    ],
)
def test_content_awareness_is_mis(expression: str, reads_the_message: bool) -> None:
    assert compile_synapse_expression(expression).needs_body is reads_the_message


def test_payload_inside_a_variable_filter_reads_the_payload() -> None:
    # W: FilterExpressionNode: `$.x` in a filter is a payload access, evaluated into the filter's text
    ctx = FakeContext(json_payload={"category": "b"}, variables={"books": [{"category": "a"}, {"category": "b"}]})
    assert evaluate_ctx("vars.books[?(@.category==$.category)]", ctx) == '[{"category":"b"}]'
