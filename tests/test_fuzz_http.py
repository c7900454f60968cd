"""End-to-end property over HTTP: a real gateway whose proxy reads the body by XPath and json-eval, logs it at
level full and responds. Whatever body and content type a client posts, it gets a well-formed answer in its
own format, and no Python exception other than MediationError reaches a fault handler or the transport's
"unexpected failure" net. How to run a longer session: see tests/test_fuzz_payload.py.

Hypothesis drives a plain function in a worker thread (`@given` does not take async tests); each example posts
through the test client on the test's own event loop, which keeps serving while the thread waits."""

from __future__ import annotations

import asyncio
import json
import logging

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.errors import MediationError
from tests.support.fuzz_strategies import SOAP11, SOAP12, requests

S = 'xmlns="http://ws.apache.org/ns/synapse"'
PROXY = f"""<proxy {S} name="Fuzz"><target>
  <inSequence>
    <property name="x" expression="//a"/>
    <property name="j" expression="json-eval($.a)"/>
    <log level="full"><property name="x" expression="$ctx:x"/><property name="j" expression="get-property('j')"/></log>
    <respond/>
  </inSequence>
  <faultSequence>
    <log level="custom"><property name="EXCEPTION" expression="get-property('ERROR_EXCEPTION')"/></log>
    <sequence key="fault"/>
  </faultSequence>
</target></proxy>"""
ACCEPTS = (None, "application/json", "application/xml", "text/xml")


def _subclass_names(cls: type) -> set[str]:
    return {cls.__name__}.union(*(_subclass_names(sub) for sub in cls.__subclasses__()))


def media_of(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def client_format(content_type: str, accept: str | None) -> str:
    """The format a client gets its errors in (docs/conformance.md, CLIENT_MESSAGE_TYPE): its SOAP version,
    else the type Accept names, else JSON for JSON requests, XML for XML, text and bodiless ones, JSON
    for anything else."""
    media = media_of(content_type)
    if media == "text/xml":
        return "text/xml"
    if media == "application/soap+xml":
        return "application/soap+xml"
    if accept is not None:
        return accept
    if media == "application/json" or media.endswith("+json"):
        return "application/json"
    if media in ("", "text/plain") or "xml" in media:
        return "application/xml"
    return "application/json"


def check_error(body: bytes, media: str) -> None:
    if media == "application/json":
        error = json.loads(body)["error"]
        assert isinstance(error["code"], int) and isinstance(error["message"], str)
    elif media in ("text/xml", "application/soap+xml"):
        ns = SOAP11 if media == "text/xml" else SOAP12
        envelope = etree.fromstring(body)
        assert envelope.find(f"{{{ns}}}Body/{{{ns}}}Fault") is not None
    else:
        assert etree.fromstring(body).tag == "Exception"


def check_success(body: bytes, content_type: str, sent: bytes, sent_type: str, accept: str | None) -> None:
    media = media_of(content_type)
    if media_of(sent_type) == "":
        assert body == b""  # no media type, no body
    elif media == media_of(sent_type):
        assert body == sent  # untouched: byte for byte
    else:
        assert media == accept  # converted for the client's Accept
        if media == "application/json":
            json.loads(body)
        else:
            etree.fromstring(body, etree.XMLParser(huge_tree=True))


async def test_any_request_gets_a_well_formed_reply_in_the_clients_format(gateway, caplog):
    caplog.set_level(logging.INFO)  # a log mediator formats its line only when someone listens
    client = await gateway({"proxies/Fuzz.xml": PROXY})
    loop = asyncio.get_running_loop()
    allowed = _subclass_names(MediationError)

    async def post(body: bytes, content_type: str, accept: str | None) -> tuple[int, str, bytes]:
        headers = {"Content-Type": content_type} if content_type else {}
        if accept is not None:
            headers["Accept"] = accept
        skip = () if content_type else ("Content-Type",)
        async with client.post("/services/Fuzz", data=body, headers=headers, skip_auto_headers=skip) as response:
            return response.status, response.headers.get("Content-Type", ""), await response.read()

    @settings(max_examples=max(10, settings.default.max_examples))
    @given(request=requests, accept=st.sampled_from(ACCEPTS))
    def exchange(request: tuple[str, bytes], accept: str | None) -> None:
        content_type, body = request
        first = len(caplog.records)
        status, reply_type, reply = asyncio.run_coroutine_threadsafe(post(body, content_type, accept), loop).result()
        for record in caplog.records[first:]:
            text = record.getMessage()
            assert "unexpected failure" not in text, text
            if text.startswith("EXCEPTION = "):
                assert text[len("EXCEPTION = ") :].split(":", 1)[0] in allowed, text
        assert not reply.startswith(b"500 Internal Server Error")
        if status == 200:
            check_success(reply, reply_type, body, content_type, accept)
        else:
            assert status >= 400, status
            expected = client_format(content_type, accept)
            assert media_of(reply_type) == expected
            check_error(reply, expected)

    await loop.run_in_executor(None, exchange)
