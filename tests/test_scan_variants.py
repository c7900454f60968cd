"""The two other readings of cbr's key kept in bench/scan_variants.py for their measurement: each says True only
where the real XPath does, and each finds the bench envelope's key (else the figures would measure a fallback)."""

from __future__ import annotations

from bench.payloads import soap_get_quote
from bench.scan_variants import NAMESPACES, QUOTE, variants
from gateway.expressions.xml_fastpath import equality_on_path
from tests.test_xml_fastpath import M0, envelope, real

BODIES = [
    "<m0:getQuote><m0:request><m0:symbol>IBM</m0:symbol></m0:request></m0:getQuote>",
    f'<q:getQuote xmlns:q="{M0}"><q:request><q:symbol>IBM</q:symbol></q:request></q:getQuote>',
    f'<getQuote xmlns="{M0}"><request><symbol>IBM</symbol></request></getQuote>',
    "<m0:getQuote><m0:request><m0:x/><m0:symbol>IBM</m0:symbol></m0:request></m0:getQuote>",
    "<m0:getQuote><m0:request><m0:symbol>I<b>B</b>M</m0:symbol></m0:request></m0:getQuote>",
    "<m0:getQuote><m0:request><m0:symbol>a>IBM</m0:symbol></m0:request></m0:getQuote>",
    '<m0:getQuote><m0:request><symbol xmlns="urn:other">IBM</symbol></m0:request></m0:getQuote>',
    "<m0:getQuote><m0:other><m0:symbol>IBM</m0:symbol></m0:other></m0:getQuote>",
    "<m0:getQuote><m0:request><m0:symbol>IBM</m0:symbol></m0:request>",  # cut after the key: still a match
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
    hits = 0
    for body in BODIES:
        raw = envelope(body)
        try:
            expected = real(QUOTE, raw)
        except Exception:  # not well-formed as a whole: only the bytes up to the key count (the shipped scan)
            expected = readings["shipped"](raw)
        for name, read in readings.items():
            answer = read(raw)
            assert not answer or expected, (name, body)
            hits += answer
    assert hits >= 3 * 5  # each reading answers the plain shapes itself
