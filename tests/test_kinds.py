"""gateway/message/kinds.py names every message kind and media type once: the payload reader agrees with it."""

from __future__ import annotations

import pytest

from gateway.message import kinds, soap
from gateway.message.payload import KIND_BY_MEDIA_TYPE, kind_of


@pytest.mark.parametrize(
    ("media", "kind"),
    [
        (kinds.TEXT_XML, kinds.SOAP11),
        (kinds.APPLICATION_SOAP_XML, kinds.SOAP12),
        (kinds.APPLICATION_XML, kinds.POX),
        (kinds.APPLICATION_JSON, kinds.JSON),
        (kinds.TEXT_PLAIN, kinds.TEXT),
        (kinds.FORM_URLENCODED, kinds.FORM),
        ("", kinds.EMPTY),
        ("application/pdf", kinds.BINARY),
    ],
)
def test_payload_kinds_are_the_named_ones(media: str, kind: str) -> None:
    assert kind_of(media) == kind


def test_every_kind_the_reader_knows_is_named() -> None:
    assert set(KIND_BY_MEDIA_TYPE.values()) | {kinds.BINARY} == set(kinds.MessageKind.__args__)
    assert soap.SOAP_CONTENT_TYPES == {kinds.SOAP11: kinds.TEXT_XML, kinds.SOAP12: kinds.APPLICATION_SOAP_XML}
    assert set(kinds.SOAP_KINDS) == set(soap.VERSION_NS)
