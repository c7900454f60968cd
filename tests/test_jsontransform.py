"""jsontransform (W: JSONTransformMediator, JSONTransformMediatorFactory, commons/json/jsonprocessor)."""

from __future__ import annotations

import json

import pytest

from gateway.deploy.loader import load
from gateway.mediators.json_schema_transform import JsonTransformError, process
from gateway.message.json_codec import dumps_text, loads
from tests.conftest import REPO

SYNAPSE = "http://ws.apache.org/ns/synapse"
DATA = REPO / "tests" / "data" / "jsontransform"


def test_mi_json_processor_test_vector():
    """W: TestJsonProcessor.testStringMethod: its schema, its input, its expected output, byte for byte."""
    schema = loads((DATA / "mi-schema.json").read_text())
    document = loads((DATA / "mi-validating-input.json").read_text())
    expected = (
        '{"fruit":"12345","price":7.5,"simpleObject":{"age":234},'
        '"simpleArray":[true,false,"true"],"objWithArray":{"marks":[34,45,56,67]},'
        '"arrayOfObjects":[{"maths":90},{"physics":95},{"chemistry":65}],"singleObjArray":[1.618],'
        '"nestedObject":{"Lahiru":{"age":27},"Nimal":{"married":true},"Kamal":{"scores":[24,45,'
        '67]}},"nestedArray":[[12,23,34],[true,false],["Linking Park","Coldplay"]],'
        '"allNumericArray":[3,1,4],"Hello":890,"nullArray":[null,null,null],"league_goals":10}'
    )
    assert dumps_text(process(document, schema)) == expected


def test_type_and_structure_correction():
    """W: TestJsonProcessor.testTypeAndStructureCorrection: a lone object becomes a one-item array."""
    schema = {
        "type": "object",
        "properties": {
            "singleObjArray": {
                "type": "array",
                "items": [{"type": "object", "properties": {"bla": {"type": "integer"}}}],
            }
        },
    }
    assert dumps_text(process(loads('{"singleObjArray":{"bla":"3"}}'), schema)) == '{"singleObjArray":[{"bla":3}]}'
    assert process(123, {}) == 123 and process(123, True) == 123


@pytest.mark.parametrize(
    ("schema", "value", "message"),
    [
        ({"type": "integer"}, "3.14", 'NumberFormatException: For input string: "3.14"'),
        ({"type": "number"}, "Linking Park", '"Linking Park" is not a number'),
        ({"type": "number", "multipleOf": 2.5}, "7.4", "Number 7.4 is not a multiple of 2.5"),
        ({"type": "number", "exclusiveMinimum": 1.618}, "1.618", "Number 1.618 is less than the minimum"),
        ({"type": "string", "maxLength": 3}, "abcd", 'String "abcd" violated the max length constraint'),
        ({"type": "boolean"}, "yes", "Cannot convert the sting : yes to boolean"),
        ({"type": "object", "required": ["a"]}, {}, "does not contains all the elements required"),
        (False, 1, "JSON schema is false, so all validations will fail"),
    ],
)
def test_mi_validator_messages(schema, value, message):
    with pytest.raises(JsonTransformError) as raised:
        process(value, schema)
    assert message in str(raised.value)


async def test_jsontransform_converts_a_message_with_a_registry_schema(gateway):
    schema = {"type": "object", "properties": {"qty": {"type": "integer"}, "tags": {"type": "array"}}}
    client = await gateway(
        {
            "registry/config/schemas/order.json": json.dumps(schema),
            "local-entries/strict.xml": f'<localEntry xmlns="{SYNAPSE}" key="strict"><![CDATA['
            + json.dumps({"type": "object", "required": ["id"]})
            + "]]></localEntry>",
            "proxies/P.xml": f"""<proxy xmlns="{SYNAPSE}" name="P"><target><inSequence>
                <jsontransform schema="conf:/schemas/order.json"/><respond/></inSequence></target></proxy>""",
            "proxies/Strict.xml": f"""<proxy xmlns="{SYNAPSE}" name="Strict"><target><inSequence>
                <jsontransform schema="strict"/><respond/></inSequence></target></proxy>""",
            "proxies/Xml.xml": f"""<proxy xmlns="{SYNAPSE}" name="Xml"><target><inSequence>
                <jsontransform><property name="synapse.commons.json.output.autoPrimitive" value="false"/>
                </jsontransform>
                <property name="messageType" value="application/json" scope="axis2"/><respond/>
                </inSequence></target></proxy>""",
        }
    )
    assert client.config.dangling == ()
    assert ("jsontransform", "conf:/schemas/order.json", ()) in client.config.compiled
    response = await client.post("/services/P", json={"qty": "12", "tags": "one"})
    assert response.status == 200 and await response.json() == {"qty": 12, "tags": ["one"]}
    response = await client.post("/services/Strict", json={"other": 1})
    assert response.status == 500
    assert b"does not contains all the elements required in the schema" in await response.read()
    response = await client.post(
        "/services/Xml", data="<order><qty>12</qty></order>", headers={"Content-Type": "application/xml"}
    )
    assert response.status == 200 and await response.json() == {"order": {"qty": "12"}}


def test_factory_needs_a_schema_or_properties(tmp_path):
    root = tmp_path / "a"
    (root / "proxies").mkdir(parents=True)
    (root / "proxies" / "P.xml").write_text(
        f'<proxy xmlns="{SYNAPSE}" name="P"><target><inSequence><jsontransform/></inSequence></target></proxy>'
    )
    reasons = [problem.reason for problem in load(root).failed]
    assert reasons == ["jsontransform mediator should contain either a schema or custom properties"]
