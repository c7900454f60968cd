"""Property tests: building the payload of any request body, with any content type, only ever fails with
MediationError 601000 (what the fault sequence sees for a malformed body), and what does build keeps the
client's content.

The property tests (tests/test_fuzz_*.py) run 20 examples each by default, 200 in CI (`HYPOTHESIS_PROFILE=ci`,
as .ci/run sets it: derandomized, so a CI failure reproduces with the same command). A longer local session:

    HYPOTHESIS_PROFILE=long python3 -m pytest -q -p no:cacheprovider tests/test_fuzz_*.py

Hypothesis prints the smallest failing input; keep it as a plain test in tests/test_fuzz_regressions.py (or an
`@example` of the property) next to the fix, so it is checked on every run.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from gateway.errors import MESSAGE_PARSING_ERROR, MediationError
from gateway.message import soap
from gateway.message.payload import Payload
from tests.support.fuzz_strategies import (
    SOAP11,
    SOAP12,
    XML_INVALID,
    deep_json,
    is_xml_name,
    json_bytes,
    requests,
    soap_envelope,
    to_bytes,
    xml_trees,
)

READS = ("envelope", "json_value", "json_descendants")


def read(payload: Payload, what: str) -> Any:
    return payload.envelope if what == "envelope" else getattr(payload, what)()


def shape(element: etree._Element) -> tuple:
    """Everything XPath can see of an element, comparable across documents."""
    children = tuple(
        shape(child) if isinstance(child.tag, str) else ("comment", child.text, child.tail) for child in element
    )
    return element.tag, sorted(element.attrib.items()), element.text, children, element.tail


def assert_reads_fail_only_as_601000(content_type: str, raw: bytes) -> None:
    for what in READS:
        payload = Payload(content_type, raw)
        try:
            result = read(payload, what)
        except MediationError as exc:
            assert exc.code == MESSAGE_PARSING_ERROR, (what, exc.message)
            if what == "envelope":  # the fault flow reads it again: an empty envelope, not the same error
                assert soap.first_body_element(payload.envelope) is None
        else:
            if what == "envelope":
                assert etree.QName(result).localname == "Envelope"
                assert etree.QName(result).namespace in (SOAP11, SOAP12)


@given(requests)
def test_any_body_with_any_content_type_builds_or_fails_with_601000(request: tuple[str, bytes]) -> None:
    assert_reads_fail_only_as_601000(*request)


@given(deep_json())
def test_deeply_nested_json_builds_or_fails_with_601000(raw: bytes) -> None:
    assert_reads_fail_only_as_601000("application/json", raw)
    payload = Payload("application/json", raw)
    try:
        payload.json_value()
    except MediationError:
        return
    payload.json_descendants()  # the //name index walks whatever json-eval can read


@given(xml_trees, st.sampled_from(("application/xml", "soap11", "soap12")))
def test_xml_trees_reach_xpath_unchanged(tree: etree._Element, how: str) -> None:
    raw = to_bytes(tree)
    if how == "application/xml":
        payload = Payload("application/xml", raw)
    else:
        payload = Payload("text/xml" if how == "soap11" else "application/soap+xml", soap_envelope(raw, how))
    assert shape(soap.first_body_element(payload.envelope)) == shape(tree)


@given(st.text(), st.sampled_from(("utf-8", "utf-16", "utf-32", "latin-1")))
def test_text_bodies_keep_their_text(text: str, charset: str) -> None:
    try:
        raw = text.encode(charset)
    except UnicodeEncodeError:
        return
    envelope = Payload(f"text/plain; charset={charset}", raw).envelope
    element = soap.first_body_element(envelope)
    if not raw.strip():
        assert element is None
        return
    # What XML cannot hold (control characters) becomes U+FFFD, as in JSON text (gateway.message.json_xml).
    assert element.text == XML_INVALID.sub("\ufffd", text)


@given(st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), min_size=1, max_size=4))
def test_form_fields_become_elements_or_fail_with_601000(fields: list[tuple[str, str]]) -> None:
    try:
        raw = urlencode(fields).encode("ascii")
    except UnicodeEncodeError:
        return
    payload = Payload("application/x-www-form-urlencoded", raw)
    pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True)
    try:
        envelope = payload.envelope
    except MediationError as exc:
        assert exc.code == MESSAGE_PARSING_ERROR
        assert any(not is_xml_name(name) for name, _ in pairs)
        return
    values = soap.first_body_element(envelope)
    assert [(child.tag, child.text) for child in values] == [(n, XML_INVALID.sub("\ufffd", v)) for n, v in pairs]


@given(json_bytes())
def test_json_value_is_the_document_the_client_sent(raw: bytes) -> None:
    expected = json.loads(raw, parse_float=Decimal)  # the codec's policy: exact integers and decimals
    assert Payload("application/json", raw).json_value() == expected
