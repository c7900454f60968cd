"""The one JSON codec (gateway/message/json_codec.py): exact integers of any size, other numbers kept as their
source text, as MI's Gson does (LazilyParsedNumber); and the places that parse JSON all following it."""

from __future__ import annotations

import pytest

from gateway.message import json_codec
from gateway.message.json_codec import JsonConversionError, JsonNumber

S = 'xmlns="http://ws.apache.org/ns/synapse"'


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":1.50,"b":1e5,"c":-0,"d":123456789012345678901234567890,"e":2.0E-3,"f":[0.1,-7]}',
        '{"price":183.25,"qty":42}',
        b"[12345678901234567890]",
        b"-0.0",
    ],
)
def test_numbers_round_trip_with_their_source_text(text: bytes | str) -> None:
    raw = text.encode() if isinstance(text, str) else text
    assert json_codec.dumps(json_codec.loads(text)) == raw


def test_integers_are_int_and_other_numbers_keep_their_text() -> None:
    value = json_codec.loads(b'{"i":99999999999999999999,"f":1.10,"x":1E5,"z":-0}')
    assert value["i"] == 99999999999999999999 and type(value["i"]) is int
    assert [str(value[k]) for k in ("f", "x", "z")] == ["1.10", "1E5", "-0"]
    assert all(isinstance(value[k], JsonNumber) for k in ("f", "x", "z"))
    assert value["f"] == JsonNumber("1.1")  # still a number: compares by value


@pytest.mark.parametrize("text", [b"", b"{", b'{"a":NaN}', b"[Infinity]", b'{"a":1,}'])
def test_malformed_json_is_a_conversion_error(text: bytes) -> None:
    with pytest.raises(JsonConversionError, match="Malformed JSON payload"):
        json_codec.loads(text)


def proxy(name: str, body: str) -> dict[str, str]:
    return {f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target><inSequence>{body}</inSequence></target></proxy>'}


async def test_json_eval_and_json_properties_keep_numbers_as_sent(gateway):
    """json-eval on the payload and on a JSON-typed property give the number's text as the client wrote it
    (it used to be a Python float: 1.50 came back as 1.5, 1e5 as 100000.0, and a property lost big integers)."""
    client = await gateway(
        proxy(
            "N",
            (
                '<property name="price" expression="json-eval($.price)"/>'
                '<property name="big" expression="json-eval($.big)"/>'
                '<property name="doc" type="JSON" value=\'{"n":123456789012345678901234,"d":2.50}\'/>'
                '<property name="n" expression="json-eval($ctx:doc.n)"/>'
                '<property name="d" expression="json-eval($ctx:doc.d)"/>'
                '<payloadFactory media-type="xml"><format><r><p>$1</p><b>$2</b><n>$3</n><d>$4</d></r></format><args>'
                '<arg evaluator="xml" expression="$ctx:price"/><arg evaluator="xml" expression="$ctx:big"/>'
                '<arg evaluator="xml" expression="$ctx:n"/><arg evaluator="xml" expression="$ctx:d"/></args>'
                "</payloadFactory><respond/>"
            ),
        )
    )
    response = await client.post(
        "/services/N", data=b'{"price":1.50,"big":1e5}', headers={"Content-Type": "application/json"}
    )
    assert response.status == 200
    body = await response.text()
    assert "<p>1.50</p><b>1e5</b><n>123456789012345678901234</n><d>2.50</d>" in body, body
