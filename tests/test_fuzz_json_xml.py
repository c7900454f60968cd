"""Property tests for JSON <-> XML (gateway.message.json_xml) and for writing replies (gateway.message.formats).
How to run a longer session: see tests/test_fuzz_payload.py.

The round trips asserted are only those MI's conventions make lossless (json_xml's docstring lists the losses):
with `<?xml-multiple?>` PIs (MI's non-stream JsonBuilder) arrays survive; without them only arrays of two or
more items do. Everywhere: strings that read as numbers/booleans/null, empty or whitespace-only strings, `{}`,
`"@x"`/`"$"` members and the wrapper names (jsonObject, jsonArray, jsonElement) are MI's documented losses, so
the documents generated for the round trips leave them out."""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from multidict import CIMultiDict

from gateway.errors import MediationError
from gateway.message import formats, soap
from gateway.message.context import Exchange, MessageContext
from gateway.message.json_xml import (
    JsonConversionError,
    json_bytes_to_xml,
    json_dumps,
    json_value_to_xml,
    mangle_name,
    unmangle_name,
    xml_to_json_bytes,
    xml_to_json_value,
)
from gateway.message.payload import Payload
from gateway.runtime.configuration import Configuration
from tests.support.fuzz_strategies import (
    SOAP11,
    SOAP12,
    XML_INVALID,
    bodies,
    deep_json,
    deep_requests,
    json_bytes,
    number_texts,
    requests,
    xml_trees,
)

# --------------------------------------------------------------------------------------------------------
# Documents MI round-trips


def _lossless_string(text: str) -> bool:
    if not text.strip(" \t\n\r") or XML_INVALID.search(text):
        return False  # empty/whitespace-only text is null; what XML cannot hold becomes U+FFFD
    return text not in ("true", "false", "null") and not re.fullmatch(
        r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", text
    )


def _lossless_key(key: str) -> bool:
    return (
        not key.startswith("@")
        and key != "$"
        and "_JsonReader_" not in key
        and key not in ("jsonObject", "jsonArray", "jsonElement")
        and not re.search("[\ud800-\udfff]", key)
    )


keys = st.text(max_size=6).filter(_lossless_key)
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8).filter(_lossless_string)


def documents(min_array: int) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, min_size=min_array, max_size=4) | st.dictionaries(keys, inner, min_size=1, max_size=4)
        ),
        max_leaves=16,
    )


def _no_nested_arrays(value: Any, in_array: bool = False) -> bool:
    if isinstance(value, list):
        return not in_array and all(_no_nested_arrays(item, True) for item in value)
    if isinstance(value, dict):
        return all(_no_nested_arrays(item) for item in value.values())
    return True


@given(st.dictionaries(keys, documents(min_array=0), min_size=1, max_size=4))
def test_json_round_trips_through_xml_with_xml_multiple_pis(document: dict) -> None:
    data = json.dumps(document).encode()
    assert json.loads(xml_to_json_bytes(json_bytes_to_xml(data, with_pi=True))) == document


@given(st.dictionaries(keys, documents(min_array=2), min_size=1, max_size=4).filter(_no_nested_arrays))
def test_json_without_short_or_nested_arrays_round_trips_through_the_stream_builder(document: dict) -> None:
    data = json.dumps(document).encode()
    assert json.loads(xml_to_json_bytes(json_bytes_to_xml(data))) == document


@given(number_texts)
def test_numbers_keep_their_value_through_xml(text: str) -> None:
    out = xml_to_json_bytes(json_bytes_to_xml(b'{"n":' + text.encode() + b"}"))
    assert out.startswith(b'{"n":') and out.endswith(b"}")
    assert Decimal(out[5:-1].decode()) == Decimal(text)


@given(json_bytes())
def test_orjson_fast_path_builds_the_same_infoset_as_the_lexical_parser(data: bytes) -> None:
    # Numbers taken as their source text: what MI's builder keeps, whichever parser read them.
    lexical = json.loads(data, parse_float=str, parse_int=str)
    for with_pi in (False, True):
        try:
            fast = json_bytes_to_xml(data, with_pi=with_pi)
        except JsonConversionError:
            continue
        assert etree.tostring(fast) == etree.tostring(json_value_to_xml(lexical, with_pi=with_pi))


@given(st.text(max_size=8))
def test_every_key_becomes_a_valid_xml_name_and_comes_back(key: str) -> None:
    name = mangle_name(key)
    etree.Element(name).set(name, "v")  # raises ValueError if lxml refuses the name
    if "_JsonReader_" not in key:
        assert unmangle_name(name) == re.sub("[\ud800-\udfff]", "\ufffd", key)


# --------------------------------------------------------------------------------------------------------
# Only the documented error


@given(bodies | json_bytes() | deep_json())
def test_json_to_xml_fails_only_with_json_conversion_error(data: bytes) -> None:
    for with_pi in (False, True):
        try:
            json_bytes_to_xml(data, with_pi=with_pi)
        except JsonConversionError:
            pass


def _infosets() -> st.SearchStrategy[etree._Element]:
    def built(data: bytes) -> etree._Element | None:
        try:
            return json_bytes_to_xml(data, with_pi=True)
        except JsonConversionError:
            return None

    return (json_bytes() | deep_json(200, 900)).map(built).filter(lambda tree: tree is not None)


@given(xml_trees | _infosets())
def test_xml_to_json_fails_only_with_json_conversion_error_and_both_writers_agree(tree: etree._Element) -> None:
    try:
        written = xml_to_json_bytes(tree)
    except JsonConversionError:
        written = None
    try:
        value = xml_to_json_value(tree)
        from_value = json_dumps(value)
    except JsonConversionError:
        from_value = None
    assert written == from_value
    if written is not None:
        json.loads(written)


# --------------------------------------------------------------------------------------------------------
# Replies in every format, from any payload

OUTPUT_TYPES = (
    "application/json",
    "application/xml",
    "text/xml",
    "application/soap+xml",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "text/html",
    "application/vnd.x+json",
    "application/atom+xml",
)
CLIENT_KINDS = ("soap11", "soap12", "pox", "json", "text", "form", "binary", "empty")
_DEEP = etree.XMLParser(huge_tree=True)  # replies may be as deep as the JSON they were converted from


def _check_body(body: bytes, content_type: str, no_element: bool) -> None:
    """A reply body parses as what its Content-Type says; only a message without content is empty."""
    media = content_type.split(";")[0].strip()
    if media in ("text/xml", "application/soap+xml"):
        envelope = etree.fromstring(body, _DEEP)
        assert envelope.tag == f"{{{SOAP11 if media == 'text/xml' else SOAP12}}}Envelope"
    elif media == "application/json" or media.endswith("+json"):
        assert body or no_element
        if body:
            json.loads(body)
    elif media == "application/xml" or media.endswith("+xml"):
        assert body or no_element
        if body:
            etree.fromstring(body, _DEEP)


@given(
    request=requests | deep_requests,
    message_type=st.sampled_from(OUTPUT_TYPES),
    client_kind=st.sampled_from(CLIENT_KINDS),
    accept=st.sampled_from((None, "*/*", "application/json", "application/xml", "text/xml;q=0.5, application/json")),
    modified=st.booleans(),
)
def test_a_reply_in_any_format_is_written_or_fails_with_a_mediation_error(
    request: tuple[str, bytes], message_type: str, client_kind: str, accept: str | None, modified: bool
) -> None:
    content_type, raw = request
    exchange = Exchange("POST", "/services/P", client_kind, accept, None)  # type: ignore[arg-type]
    ctx = MessageContext(
        exchange=exchange,
        config=Configuration.empty(),
        payload=Payload(content_type, raw),
        transport_headers=CIMultiDict(),
    )
    ctx.axis2["messageType"] = message_type
    try:
        if modified:  # as after a mediator changed the message: written from the tree, not the bytes
            ctx.payload.replace_envelope(ctx.payload.envelope)
        asyncio.run(formats.prepare(ctx, formats.output_media_type(ctx)))
        reply = formats.build_reply(ctx)
    except MediationError:
        return
    assert reply.body is not None  # a body that was read is never streamed
    if not ctx.payload.modified and reply.body == raw:
        return  # passed through byte for byte: the client's own bytes
    payload = ctx.payload  # a body without a media type is no body (kind "empty")
    no_element = payload.kind == "empty" or soap.first_body_element(payload.envelope) is None
    _check_body(reply.body, reply.headers.get("Content-Type", ""), no_element)
