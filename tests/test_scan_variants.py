"""The two other readings of cbr's key kept in bench/scan_variants.py for their measurement: each says True only
where the real XPath does, and each finds the bench envelope's key (else the figures would measure a fallback)."""

from __future__ import annotations

from lxml import etree

from bench.payloads import soap_get_quote
from bench.scan_variants import NAMESPACES, QUOTE, variants
from gateway.expressions.xml_fastpath import equality_on_path
from tests.test_xml_fastpath import M0, envelope, real

PLAIN = [  # the shapes each reading answers itself, not by leaving them to a fallback
    "<m0:getQuote><m0:request><m0:symbol>IBM</m0:symbol></m0:request></m0:getQuote>",
    "<m0:getQuote><m0:request><m0:x/><m0:symbol>IBM</m0:symbol></m0:request></m0:getQuote>",
    "<m0:getQuote><m0:request><m0:symbol>IBM</m0:symbol></m0:request>",  # cut after the key: still a match
]
INNER_DECLARATIONS = [  # the walk leaves a namespace declared below the root to the shipped scan
    f'<q:getQuote xmlns:q="{M0}"><q:request><q:symbol>IBM</q:symbol></q:request></q:getQuote>',
    f'<getQuote xmlns="{M0}"><request><symbol>IBM</symbol></request></getQuote>',
]
OTHERS = [
    "<m0:getQuote><m0:request><m0:symbol>I<b>B</b>M</m0:symbol></m0:request></m0:getQuote>",
    "<m0:getQuote><m0:request><m0:symbol>a>IBM</m0:symbol></m0:request></m0:getQuote>",
    '<m0:getQuote><m0:request><symbol xmlns="urn:other">IBM</symbol></m0:request></m0:getQuote>',
    "<m0:getQuote><m0:other><m0:symbol>IBM</m0:symbol></m0:other></m0:getQuote>",
    "<m0:getQuote><m0:request><m0:symbol>IBM</m0:symbol></m0:other></m0:getQuote>",  # malformed after the key
    "<m0:getQuote><m0:request><m0:symbol>IBM</m0:symbl></m0:request></m0:getQuote>",  # malformed at the key
    "<m0:getQuote><x:request><m0:symbol>IBM</m0:symbol></x:request></m0:getQuote>",  # an unbound prefix
    "<m0:getQuote><m0:request a='>'><m0:symbol>IBM</m0:symbol></m0:request></m0:getQuote>",
]


def test_each_reading_finds_the_bench_key_and_says_true_only_where_the_xpath_does() -> None:
    rule = equality_on_path(QUOTE, NAMESPACES)
    assert rule is not None
    readings = variants(rule)
    for name, read in readings.items():
        assert read(soap_get_quote(1024)), name
    for body in PLAIN:
        for name, read in readings.items():
            assert read(envelope(body)), (name, body)
    for body in INNER_DECLARATIONS:
        raw = envelope(body)
        assert readings["shipped"](raw) and readings["subset-regex"](raw), body
        assert not readings["expat-no-handlers"](raw), body
    for body in INNER_DECLARATIONS + OTHERS:
        raw = envelope(body)
        try:
            expected = real(QUOTE, raw)
        except etree.XMLSyntaxError:  # not well-formed as a whole: only the bytes up to the key count (shipped)
            expected = readings["shipped"](raw)
        for name, read in readings.items():
            assert not read(raw) or expected, (name, body)
