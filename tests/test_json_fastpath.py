"""`//name` and `//name/text()` answered from untouched JSON give exactly what XPath over MI's
jsonObject infoset gives, and the infoset is not built for them."""

from __future__ import annotations

import random

import orjson
import pytest

from gateway.expressions import compile_expression
from gateway.expressions.json_fastpath import FALLBACK, descendant_index, descendant_pattern, descendant_string
from gateway.message import soap
from gateway.message.json_xml import json_bytes_to_xml
from gateway.message.payload import Payload

NAMES = ("a", "b", "to", "from")
SCALARS = (
    None,
    True,
    False,
    0,
    -7,
    12345678901234,
    "",
    "x",
    " padded ",
    "nb\xa0sp",
    "line\nbreak",
    "tab\tx",
    "ünïcødé",
    "<tag>&amp;",
    1.5,
    4.0,
)


def random_document(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        return rng.choice(SCALARS)
    if roll < 0.75:
        return {rng.choice(NAMES + ("c", "d")): random_document(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [random_document(rng, depth + 1) for _ in range(rng.randint(0, 3))]


class InfosetContext:
    """Evaluates against the real infoset, as the engine does when the fast path is not taken."""

    def __init__(self, raw: bytes):
        self.envelope = soap.wrap(json_bytes_to_xml(raw))
        self.payload = None


def test_descendant_pattern_recognises_only_the_simple_shapes():
    assert descendant_pattern("//to/text()") == ("to", True)
    assert descendant_pattern(" //accountSid ") == ("accountSid", False)
    for other in ("//a/b", "//m0:a", "/a", "//a[1]", "//jsonObject", "count(//a)", "//a/text()[1]"):
        assert descendant_pattern(other) is None, other


@pytest.mark.parametrize("seed", range(40))
def test_fast_path_agrees_with_xpath_over_the_infoset(seed):
    rng = random.Random(seed)
    compared = 0
    for _ in range(25):
        document = {rng.choice(NAMES): random_document(rng) for _ in range(rng.randint(1, 4))}
        raw = orjson.dumps(document)
        context = InfosetContext(raw)
        parsed = descendant_index(orjson.loads(raw))
        for name in NAMES:
            for text_only in (True, False):
                source = f"//{name}/text()" if text_only else f"//{name}"
                fast = descendant_string(parsed, name, text_only)
                if fast is FALLBACK:
                    continue
                expected = compile_expression(source, {}).string_value(context)
                assert fast == expected, (raw, source)
                compared += 1
    assert compared > 50  # the fast path really was exercised


async def test_json_properties_are_read_without_building_the_infoset(gateway, monkeypatch):
    builds = []
    original = Payload._build

    def counting(self, raw):
        builds.append(self.kind)
        return original(self, raw)

    monkeypatch.setattr(Payload, "_build", counting)
    client = await gateway(
        {
            "proxies/P.xml": '<proxy xmlns="http://ws.apache.org/ns/synapse" name="P"><target>'
            '<inSequence><property name="to" expression="//to/text()"/>'
            '<property name="qty" expression="//qty"/>'
            '<header name="X-To" scope="transport" expression="$ctx:to"/>'
            '<header name="X-Qty" scope="transport" expression="$ctx:qty"/>'
            "<respond/></inSequence></target></proxy>"
        }
    )
    body = b'{"order":{"to":"+447891063180","qty":3}}'
    response = await client.post("/services/P", data=body, headers={"Content-Type": "application/json"})
    assert response.headers["X-To"] == "+447891063180" and response.headers["X-Qty"] == "3"
    assert await response.read() == body
    assert builds == []  # answered from the JSON itself
    # A float's lexical form is only in the infoset: the real XPath runs (and keeps "4.00").
    response = await client.post(
        "/services/P", data=b'{"to":"x","qty":4.00}', headers={"Content-Type": "application/json"}
    )
    assert response.headers["X-Qty"] == "4.00"
    assert builds == ["json"]
