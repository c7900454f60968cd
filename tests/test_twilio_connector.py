"""twilioRest end to end: the SHIPPED proxies and faultHandlerSeq on a real gateway, talking HTTP on
loopback to the in-process Twilio sandbox. Every request the connector sent and every answer the sandbox
gave is checked against Twilio's OpenAPI spec."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from synapse_gateway_connectors.twilio_rest import CONNECTOR

from gateway.cli import main as cli_main
from gateway.transport.server import SERVICES
from tests.conftest import SYNAPSE
from tests.support.twilio_openapi import validate_response
from tests.support.twilio_sandbox import ACCOUNT, TOKEN, Sandbox

REPO = Path(__file__).resolve().parent.parent
SHIPPED = (
    "proxies/twilioRest.xml",
    "proxies/twilioGetSmsList.xml",
    "proxies/twilioGetSms.xml",
    "sequences/faultHandlerSeq.xml",
)
API_KEY, API_SECRET = "SKb550f130373bff6d567bb5a1faf6b2db", "8rEYkaMwXX7z2i2QDujjB5PcV1t0fqXa"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
UNKNOWN_SID = "SM" + "0" * 32


def shipped(**extra: str) -> dict[str, str]:
    files = {relative: (REPO / relative).read_text(encoding="utf-8") for relative in SHIPPED}
    files.update(extra)
    return files


def sample_send(api_url: str, **changes: Any) -> dict[str, Any]:
    """The seed's sendSms sample request; only apiUrl points at the sandbox."""
    request = {
        "accountSid": ACCOUNT,
        "authToken": TOKEN,
        "apiUrl": "https://api.twilio.com",
        "apiVersion": "2010-04-01",
        "messageBody": "Hi ,Test for sendSms",
        "to": "+447891063180",
        "from": "+442033229574",
        "statusCallbackUrl": "http://demo.twilio.com/docs/statuscallback.xml",
        "applicationSid": "AP2a0747eba6abf96b7e3c3ff0b4530f6e",
    }
    request["apiUrl"] = api_url
    request.update(changes)
    return {k: v for k, v in request.items() if v is not None}


def creds(api_url: str, **fields: Any) -> dict[str, Any]:
    return {"accountSid": ACCOUNT, "authToken": TOKEN, "apiUrl": api_url, "apiVersion": "2010-04-01", **fields}


def as_xml(root: str, fields: dict[str, Any]) -> bytes:
    element = etree.Element(root)
    for name, value in fields.items():
        etree.SubElement(element, name).text = str(value)
    return etree.tostring(element)


def as_soap11(root: str, fields: dict[str, Any]) -> bytes:
    envelope = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={"soapenv": SOAP11})
    etree.SubElement(envelope, f"{{{SOAP11}}}Header")
    body = etree.SubElement(envelope, f"{{{SOAP11}}}Body")
    body.append(etree.fromstring(as_xml(root, fields)))
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def field(tree: etree._Element, name: str) -> str | None:
    found = tree.xpath(f"//*[local-name()='{name}']/text()")
    return str(found[0]) if found else None


@pytest.fixture
def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


async def send_messages(gw, sandbox: Sandbox, *tos: str) -> list[dict[str, Any]]:
    sent = []
    for to in tos:
        response = await gw.post("/services/twilioRest", json=sample_send(sandbox.url, to=to))
        assert response.status == 201, await response.text()
        sent.append(await response.json())
    await sandbox.state.settle()  # status timers done: date_sent is set
    return sent


# -- sendSms ---------------------------------------------------------------------------------------
async def test_seed_sample_send_sms_json(gateway, sandbox):
    gw = await gateway(shipped())
    assert not gw.config.failed, gw.config.failed
    response = await gw.post("/services/twilioRest", json=sample_send(sandbox.url))
    raw = await response.read()
    assert response.status == 201, raw
    assert response.headers["Content-Type"].startswith("application/json")
    message = json.loads(raw)
    assert message["sid"].startswith("SM") and message["account_sid"] == ACCOUNT
    assert (message["to"], message["from"], message["body"]) == (
        "+447891063180",
        "+442033229574",
        "Hi ,Test for sendSms",
    )
    assert message["num_segments"] == "1"  # Twilio's strings stay strings
    assert parsedate_to_datetime(message["date_created"]).tzinfo is not None  # RFC 2822 text, as sent
    assert raw == sandbox.responses[0][3], "Twilio's JSON must reach the client byte for byte"
    assert response.headers.get("Twilio-Request-Id", "").startswith("RQ")

    [request] = sandbox.requests
    assert request["method"] == "POST"
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert request["content_type"] == "application/x-www-form-urlencoded"
    assert request["auth_user"] == ACCOUNT
    form = dict(request["form"])
    assert form == {
        "To": "+447891063180",
        "From": "+442033229574",
        "Body": "Hi ,Test for sendSms",
        "StatusCallback": "http://demo.twilio.com/docs/statuscallback.xml",
        "ApplicationSid": "AP2a0747eba6abf96b7e3c3ff0b4530f6e",
    }
    assert "StatusCallbackUrl" not in form  # the 2015 connector's wrong field name
    sandbox.assert_contract()


async def test_send_sms_as_soap11_and_as_plain_xml(gateway, sandbox):
    gw = await gateway(shipped())
    fields = sample_send(sandbox.url)

    response = await gw.post(
        "/services/twilioRest",
        data=as_soap11("sendSms", fields),
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '"urn:sendSms"'},
    )
    assert response.status == 201, await response.text()
    assert response.headers["Content-Type"].startswith("text/xml")
    envelope = etree.fromstring(await response.read())
    assert etree.QName(envelope).namespace == SOAP11 and etree.QName(envelope).localname == "Envelope"
    assert field(envelope, "sid").startswith("SM")
    assert (field(envelope, "to"), field(envelope, "body")) == ("+447891063180", "Hi ,Test for sendSms")
    assert field(envelope, "account_sid") == ACCOUNT

    soap12 = as_soap11("sendSms", fields).replace(SOAP11.encode(), SOAP12.encode())
    response = await gw.post(
        "/services/twilioRest", data=soap12, headers={"Content-Type": 'application/soap+xml; action="urn:sendSms"'}
    )
    assert response.status == 201, await response.text()
    envelope = etree.fromstring(await response.read())
    assert etree.QName(envelope).namespace == SOAP12 and field(envelope, "sid").startswith("SM")

    # Plain XML asking for XML back (Accept): the same data as XML.
    response = await gw.post(
        "/services/twilioRest",
        data=as_xml("sendSms", fields),
        headers={"Content-Type": "application/xml", "Accept": "application/xml"},
    )
    assert response.status == 201, await response.text()
    assert response.headers["Content-Type"].startswith("application/xml")
    pox = etree.fromstring(await response.read())
    assert field(pox, "sid").startswith("SM") and field(pox, "from") == "+442033229574"

    # Plain XML without Accept: the client's own format (XML) all the same.
    response = await gw.post(
        "/services/twilioRest", data=as_xml("sendSms", fields), headers={"Content-Type": "application/xml"}
    )
    assert response.status == 201
    assert response.headers["Content-Type"].startswith("application/xml")
    assert field(etree.fromstring(await response.read()), "to") == "+447891063180"

    assert [dict(f)["To"] for f in sandbox.forms()] == ["+447891063180"] * 4
    assert all(dict(f)["StatusCallback"] == fields["statusCallbackUrl"] for f in sandbox.forms())
    sandbox.assert_contract()


@pytest.mark.parametrize(
    ("missing", "code", "parameter"),
    [("to", 21604, "'to'"), ("from", 21603, "'from'"), ("messageBody", 21602, "'messageBody'")],
)
async def test_missing_values_fail_before_any_call_out(gateway, sandbox, caplog, missing, code, parameter):
    gw = await gateway(shipped())
    caplog.set_level(logging.INFO)
    response = await gw.post("/services/twilioRest", json=sample_send(sandbox.url, **{missing: ""}))
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == code and parameter in error["message"]
    assert sandbox.requests == []
    assert f"ERROR_CODE = {code}" in caplog.text and "CONNECTOR_ERROR = twilioRest.sendSms" in caplog.text
    assert TOKEN not in caplog.text


async def test_media_urls_repeat_and_split_and_are_bounded(gateway, sandbox):
    """Several URLs per value split at whitespace or at ", " before the next http(s)://; a comma inside a
    URL (an image CDN's .../w_100,h_100/...) stays in it (issue 13: it used to become two MediaUrl)."""
    proxy = f"""
        <proxy xmlns="http://ws.apache.org/ns/synapse" name="mms">
          <target><inSequence onError="faultHandlerSeq">
            <twilioRest.init><accountSid>{ACCOUNT}</accountSid><authToken>{TOKEN}</authToken>
              <apiUrl>{sandbox.url}</apiUrl></twilioRest.init>
            <twilioRest.sendSms>
              <to>+447891063180</to><from>+442033229574</from>
              <mediaUrl>https://example.com/a.jpg, https://example.com/b.png https://cdn.test/w_100,h_100/s.jpg</mediaUrl>
              <mediaUrl>{{//extra/text()}}</mediaUrl>
              <provideFeedback>TRUE</provideFeedback><validityPeriod>600</validityPeriod>
            </twilioRest.sendSms>
            <respond/>
          </inSequence></target>
        </proxy>"""
    gw = await gateway(shipped(**{"proxies/mms.xml": proxy}))
    assert not gw.config.failed, gw.config.failed
    response = await gw.post("/services/mms", json={"extra": "https://example.com/c.gif"})
    assert response.status == 201, await response.text()
    assert (await response.json())["sid"].startswith("MM")
    form = sandbox.forms()[0]
    assert [v for k, v in form if k == "MediaUrl"] == [
        "https://example.com/a.jpg",
        "https://example.com/b.png",
        "https://cdn.test/w_100,h_100/s.jpg",
        "https://example.com/c.gif",
    ]
    assert ("ProvideFeedback", "true") in form and ("ValidityPeriod", "600") in form
    assert "Body" not in dict(form)  # media only is fine: no empty Body is sent
    sandbox.assert_contract()

    eleven = ",".join(f"https://example.com/{i}.jpg" for i in range(9))  # 12 with the first element's
    response = await gw.post("/services/mms", json={"extra": eleven})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == 500102
    assert len(sandbox.requests) == 1


async def test_no_client_is_created_per_message(gateway, sandbox):
    gw = await gateway(shipped())
    runtime = gw.app[SERVICES].connectors["twilioRest"]
    before = runtime.clients_created
    await asyncio.gather(*(gw.post("/services/twilioRest", json=sample_send(sandbox.url)) for _ in range(8)))
    assert len(sandbox.requests) == 8
    assert runtime.clients_created - before == 1
    assert runtime.requests == 8
    # another credential or endpoint is another pooled client, once
    await gw.post("/services/twilioRest", json=sample_send(sandbox.url, apiUrl=sandbox.url + "/"))
    assert runtime.clients_created - before == 1  # a trailing slash is the same endpoint
    await gw.post("/services/twilioRest", json=sample_send(sandbox.url, authToken="other"))
    await gw.post("/services/twilioRest", json=sample_send(sandbox.url, authToken="other"))
    assert runtime.clients_created - before == 2


async def test_send_sms_sends_what_the_twilio_sdk_sends(gateway, sandbox):
    """The pooled client writes the request itself (no SDK call per message): the same headers, form and
    answer as the twilio SDK's own messages.create_async for the same message."""
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    gw = await gateway(shipped())
    response = await gw.post("/services/twilioRest", json=sample_send(sandbox.url))
    assert response.status == 201
    ours = await response.json()
    sdk_http = AsyncTwilioHttpClient()
    try:
        client = Client(ACCOUNT, TOKEN, http_client=sdk_http, environment={"_": ""})
        client.api.base_url = sandbox.url
        message = await client.messages.create_async(
            to="+447891063180",
            from_="+442033229574",
            body="Hi ,Test for sendSms",
            status_callback="http://demo.twilio.com/docs/statuscallback.xml",
            application_sid="AP2a0747eba6abf96b7e3c3ff0b4530f6e",
        )
    finally:
        await sdk_http.close()
    gateway_sent, sdk_sent = sandbox.requests
    assert (gateway_sent["method"], gateway_sent["raw_path"]) == (sdk_sent["method"], sdk_sent["raw_path"])
    assert sorted(gateway_sent["form"]) == sorted(sdk_sent["form"])
    names = ("Authorization", "User-Agent", "X-Twilio-Client", "Accept-Charset", "Accept", "Content-Type")
    assert {n: gateway_sent["headers"].get(n) for n in names} == {n: sdk_sent["headers"].get(n) for n in names}
    assert gateway_sent["headers"]["User-Agent"].startswith("twilio-python/")
    assert ours["status"] == message.status and ours["to"] == message.to and ours["body"] == message.body
    sandbox.assert_contract()


def test_form_encoding_is_urlencode_byte_for_byte():
    from urllib.parse import urlencode

    from synapse_gateway_connectors.twilio_rest.client_pool import encode_form

    pairs = [
        ("To", "+447891063180"),
        ("From", "whatsapp:+1 555"),
        ("Body", "Hi ,Test ü & = % ~ 😀\n"),
        ("MediaUrl", "https://x.y/a?b=c&d"),
        ("Empty", ""),
        ("Plain-value_1.2~", "AP2a0747eba6abf96b7e3c3ff0b4530f6e"),
        ("Ünï code", "a/b"),
    ]
    assert encode_form(pairs) == urlencode(pairs)


async def test_the_shared_client_keeps_no_cookies_between_accounts(aiohttp_server):
    """One HTTP client (the gateway's) serves every account: a cookie set in one account's answer never rides
    along with the next request (Twilio's API needs none)."""
    from aiohttp import web
    from synapse_gateway_connectors.twilio_rest.client_pool import Connection, TwilioRuntime

    from gateway.transport.client import HttpTransport

    seen: list[str | None] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("session", "account-a-secret")
        return response

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    server = await aiohttp_server(app)
    base = f"http://localhost:{server.port}"  # a host name: aiohttp's default jar ignores cookies of IPs
    transport = HttpTransport()  # as the gateway makes it (outbound.verify_tls on, the system's CAs)
    runtime = TwilioRuntime(transport)
    try:
        for token in ("token-a", "token-b"):
            client = runtime.client(Connection(ACCOUNT, ACCOUNT, token, base, "2010-04-01"))
            response = await client.request_async("GET", f"{base}/2010-04-01/Accounts.json")
            assert response.status_code == 200 and response.body == b'{"ok": true}'
    finally:
        await runtime.close()
        await transport.close()
    assert seen == [None, None]


async def test_twilio_errors_are_not_retried(gateway, sandbox):
    gw = await gateway(shipped())
    sandbox.state.config.update({"rate_limit_next": 1})
    response = await gw.post("/services/twilioRest", json=sample_send(sandbox.url))
    assert response.status == 429
    assert (await response.json())["code"] == 20429
    assert len(sandbox.requests) == 1  # one POST: a retried create would send the SMS twice


# -- errors from Twilio and from the network -----------------------------------------------------------
async def test_bad_token_gives_401_and_20003(gateway, sandbox, caplog):
    gw = await gateway(shipped())
    caplog.set_level(logging.INFO)
    response = await gw.post("/services/twilioRest", json=sample_send(sandbox.url, authToken="wrong"))
    assert response.status == 401
    body = await response.json()
    assert body == json.loads(sandbox.responses[0][3])  # Twilio's error document, unchanged
    assert body["code"] == 20003 and body["message"] == "Authenticate"
    assert "ERROR_CODE = 20003" in caplog.text and "ERROR_MESSAGE = Authenticate" in caplog.text
    sandbox.assert_contract()


async def test_twilio_unreachable_gives_101503(gateway, closed_port, caplog):
    gw = await gateway(shipped())
    caplog.set_level(logging.INFO)
    response = await gw.post("/services/twilioRest", json=sample_send(f"http://127.0.0.1:{closed_port}"))
    assert response.status == 502
    error = (await response.json())["error"]
    assert error["code"] == 101503
    assert f"127.0.0.1:{closed_port}" in error["message"] and "twilioRest.sendSms" in error["message"]
    assert "ERROR_CODE = 101503" in caplog.text


async def test_slow_twilio_times_out_with_101504_within_the_configured_timeout(gateway, sandbox):
    gw = await gateway(shipped(), connectors={"twilioRest": {"timeout": 0.5}})
    async with gw.session.post(sandbox.server.make_url("/_sandbox/config"), json={"response_delay": 3}) as r:
        assert r.status == 200
    started = time.monotonic()
    response = await gw.post("/services/twilioRest", json=sample_send(sandbox.url))
    elapsed = time.monotonic() - started
    assert response.status == 504
    error = (await response.json())["error"]
    assert error["code"] == 101504 and "0.5 s" in error["message"]  # the sandbox would have answered 201 at 3 s
    assert elapsed >= 0.4, elapsed  # it waited for the timeout, not less


async def test_global_connector_timeout_applies_too(gateway, sandbox):
    gw = await gateway(shipped(), connector_timeout=0.3)
    sandbox.state.config.update({"response_delay": 2})
    response = await gw.post("/services/twilioGetSms", json=creds(sandbox.url, messageSid=UNKNOWN_SID))
    assert response.status == 504  # the sandbox would have answered its 404 after 2 s
    assert "0.3 s" in (await response.json())["error"]["message"]


# -- getSms ---------------------------------------------------------------------------------------
async def test_get_sms_known_and_unknown(gateway, sandbox, caplog):
    gw = await gateway(shipped())
    [sent] = await send_messages(gw, sandbox, "+447891063180")
    response = await gw.post("/services/twilioGetSms", json=creds(sandbox.url, messageSid=sent["sid"]))
    assert response.status == 200
    fetched = await response.json()
    assert fetched["sid"] == sent["sid"] and fetched["status"] == "delivered"
    assert sandbox.requests[-1]["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sent['sid']}.json"
    assert "/SMS/" not in sandbox.requests[-1]["path"]

    caplog.set_level(logging.INFO)
    response = await gw.post("/services/twilioGetSms", json=creds(sandbox.url, messageSid=UNKNOWN_SID))
    assert response.status == 404
    body = await response.json()
    assert body["code"] == 20404 and body["status"] == 404 and body["more_info"].endswith("20404")
    fault_lines = [r.getMessage() for r in caplog.records if "STATUS = faultHandlerSeq" in r.getMessage()]
    assert len(fault_lines) == 1, caplog.text  # faultHandlerSeq ran, once
    assert "ERROR_CODE = 20404" in fault_lines[0] and "CONNECTOR_ERROR = twilioRest.getSms" in fault_lines[0]
    sandbox.assert_contract()


async def test_get_sms_sid_cannot_change_the_path(gateway, sandbox):
    gw = await gateway(shipped())
    for bad in ("../Calls", "123456", "SM1"):  # not the spec's (SM|MM) + 32 hex digits: refused locally
        response = await gw.post("/services/twilioGetSms", json=creds(sandbox.url, messageSid=bad))
        assert response.status == 400
        error = (await response.json())["error"]
        assert error["code"] == 500102 and "is not a SM or MM SID" in error["message"]
    assert sandbox.requests == []


async def test_get_sms_soap_client_gets_twilio_error_as_soap(gateway, sandbox):
    gw = await gateway(shipped())
    response = await gw.post(
        "/services/twilioGetSms",
        data=as_soap11("getSms", creds(sandbox.url, messageSid=UNKNOWN_SID)),
        headers={"Content-Type": "text/xml", "SOAPAction": "urn:getSms"},
    )
    assert response.status == 404
    envelope = etree.fromstring(await response.read())
    assert etree.QName(envelope).namespace == SOAP11
    assert field(envelope, "code") == "20404"


# -- getSmsList -----------------------------------------------------------------------------------
async def test_get_sms_list_filters(gateway, sandbox):
    gw = await gateway(shipped())
    await send_messages(gw, sandbox, "+447891063180", "+447891063181", "+447891063180")
    today = datetime.now(UTC).date()
    base = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"

    async def listing(**fields: Any) -> tuple[dict[str, Any], str]:
        sandbox.requests.clear()
        sandbox.responses.clear()
        response = await gw.post("/services/twilioGetSmsList", json=creds(sandbox.url, **fields))
        assert response.status == 200, await response.text()
        [request] = sandbox.requests
        sandbox.assert_contract()
        return await response.json(), request["raw_path"]

    page, raw = await listing(to="+447891063180")
    assert raw == f"{base}?To=%2B447891063180"
    assert [m["to"] for m in page["messages"]] == ["+447891063180"] * 2
    assert set(page) >= {"messages", "first_page_uri", "next_page_uri", "page", "page_size", "uri"}

    page, raw = await listing(**{"from": "+442033229574", "to": "+447891063181"})
    assert raw == f"{base}?To=%2B447891063181&From=%2B442033229574"
    assert len(page["messages"]) == 1

    page, raw = await listing(dateSent=today.isoformat())
    assert raw == f"{base}?DateSent={today}" and len(page["messages"]) == 3

    page, raw = await listing(dateSent=f"<={today}")
    assert raw == f"{base}?DateSent%3C={today}" and len(page["messages"]) == 3
    page, raw = await listing(dateSent=f"<={today - timedelta(days=1)}")
    assert raw.endswith(f"?DateSent%3C={today - timedelta(days=1)}") and page["messages"] == []

    page, raw = await listing(dateSent=f">={today}")
    assert raw == f"{base}?DateSent%3E={today}" and len(page["messages"]) == 3
    page, raw = await listing(dateSent=f">={today + timedelta(days=1)}")
    assert page["messages"] == []

    page, raw = await listing()
    assert raw == base and len(page["messages"]) == 3  # no filters, no stray '?' or '&'

    page, raw = await listing(pageSize="2")
    assert raw == f"{base}?PageSize=2" and len(page["messages"]) == 2 and page["next_page_uri"]

    page, raw = await listing(to="+447891063180", dateSent=f">={today}")
    assert raw == f"{base}?To=%2B447891063180&DateSent%3E={today}" and len(page["messages"]) == 2


async def test_get_sms_list_limit_follows_pages(gateway, sandbox):
    gw = await gateway(shipped())
    sent = await send_messages(gw, sandbox, "+447891063180", "+447891063181", "+447891063182")
    sandbox.requests.clear()
    sandbox.responses.clear()
    response = await gw.post("/services/twilioGetSmsList", json=creds(sandbox.url, pageSize="1", limit="2"))
    assert response.status == 200
    page = await response.json()
    assert [m["sid"] for m in page["messages"]] == [m["sid"] for m in reversed(sent)][:2]  # newest first
    assert (page["start"], page["end"], page["page"]) == (0, 1, 0)
    assert page["next_page_uri"] is not None  # the third message is still reachable
    assert len(sandbox.requests) == 2
    validate_response("GET", f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json", 200, page)
    sandbox.assert_contract()

    # limit alone: one page of that size, Twilio's bytes untouched
    sandbox.requests.clear()
    response = await gw.post("/services/twilioGetSmsList", json=creds(sandbox.url, limit="5"))
    assert len((await response.json())["messages"]) == 3
    assert sandbox.requests[0]["raw_path"].endswith("?PageSize=5")


@pytest.mark.parametrize("bad", ["2015/08/25", "<2015-08-25", "=>2015-08-25", "2015-02-30"])
async def test_get_sms_list_rejects_bad_dates_locally(gateway, sandbox, bad):
    gw = await gateway(shipped())
    response = await gw.post("/services/twilioGetSmsList", json=creds(sandbox.url, dateSent=bad))
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == 500102 and "dateSent" in error["message"]
    assert sandbox.requests == []


# -- connections -----------------------------------------------------------------------------------
async def test_api_key_credentials(gateway, sandbox):
    proxy = f"""
        <proxy xmlns="http://ws.apache.org/ns/synapse" name="keyed">
          <target><inSequence onError="faultHandlerSeq">
            <twilioRest.init><accountSid>{ACCOUNT}</accountSid><apiKeySid>{API_KEY}</apiKeySid>
              <apiKeySecret>{{//secret/text()}}</apiKeySecret><apiUrl>{sandbox.url}</apiUrl></twilioRest.init>
            <twilioRest.getSms><messageSid>{UNKNOWN_SID}</messageSid></twilioRest.getSms>
            <respond/>
          </inSequence></target>
        </proxy>"""
    gw = await gateway(shipped(**{"proxies/keyed.xml": proxy}))
    response = await gw.post("/services/keyed", json={"secret": API_SECRET})
    assert response.status == 404  # authenticated (a bad key would be 401), the SID is unknown
    assert sandbox.requests[0]["auth_user"] == API_KEY
    assert sandbox.requests[0]["path"].startswith(f"/2010-04-01/Accounts/{ACCOUNT}/")


async def test_config_key_connection(gateway, sandbox):
    entry = f"""
        <localEntry xmlns="http://ws.apache.org/ns/synapse" key="twilioSandbox">
          <twilioRest.init>
            <name>twilioSandbox</name><connectionType>twilioRest</connectionType>
            <accountSid>{ACCOUNT}</accountSid><authToken>{TOKEN}</authToken><apiUrl>{sandbox.url}</apiUrl>
          </twilioRest.init>
        </localEntry>"""
    broken = """
        <localEntry xmlns="http://ws.apache.org/ns/synapse" key="broken">
          <twilioRest.init><acountSid>AC1</acountSid></twilioRest.init>
        </localEntry>"""
    proxy = """
        <proxy xmlns="http://ws.apache.org/ns/synapse" name="viaConfigKey">
          <target><inSequence onError="faultHandlerSeq">
            <twilioRest.sendSms configKey="{//connection/text()}">
              <messageBody>{//text/text()}</messageBody><to>{//to/text()}</to><from>+442033229574</from>
            </twilioRest.sendSms>
            <respond/>
          </inSequence></target>
        </proxy>"""
    gw = await gateway(
        shipped(
            **{
                "local-entries/twilioSandbox.xml": entry,
                "local-entries/broken.xml": broken,
                "proxies/viaConfigKey.xml": proxy,
            }
        )
    )
    # The misspelt entry is a deploy error now (checked at deploy time), the rest deploys.
    assert [(e.location.path.rsplit("/", 1)[-1], e.element) for e in gw.config.failed] == [
        ("broken.xml", "twilioRest.init")
    ]
    assert "did you mean 'accountSid'?" in str(gw.config.failed[0])
    for text in ("one", "two"):
        response = await gw.post(
            "/services/viaConfigKey", json={"connection": "twilioSandbox", "text": text, "to": "+447891063180"}
        )
        assert response.status == 201, await response.text()
        assert (await response.json())["body"] == text
    assert [dict(f)["Body"] for f in sandbox.forms()] == ["one", "two"]
    entry_obj = gw.config.local_entries["twilioSandbox"]
    cached_entry, compiled = CONNECTOR.connections["twilioSandbox"]
    assert cached_entry is entry_obj  # compiled once for this deployed entry, reused per message

    response = await gw.post("/services/viaConfigKey", json={"connection": "broken", "text": "x", "to": "+1"})
    assert response.status == 500
    assert (await response.json())["error"]["code"] == 500103  # the broken entry was never deployed
    response = await gw.post("/services/viaConfigKey", json={"connection": "nowhere", "text": "x", "to": "+1"})
    assert (await response.json())["error"]["code"] == 500103
    assert len(sandbox.requests) == 2


async def test_operation_without_init_is_a_clear_error(gateway, sandbox):
    proxy = """
        <proxy xmlns="http://ws.apache.org/ns/synapse" name="noInit">
          <target><inSequence onError="faultHandlerSeq">
            <twilioRest.getSms><messageSid>SM1</messageSid></twilioRest.getSms><respond/>
          </inSequence></target>
        </proxy>"""
    gw = await gateway(shipped(**{"proxies/noInit.xml": proxy}))
    response = await gw.post("/services/noInit", json={})
    assert response.status == 500
    error = (await response.json())["error"]
    assert error["code"] == 500103 and "twilioRest.getSms" in error["message"]


async def test_init_stores_masked_properties(gateway, sandbox, caplog):
    proxy = f"""
        <proxy xmlns="http://ws.apache.org/ns/synapse" name="props">
          <target><inSequence>
            <twilioRest.init><accountSid>{ACCOUNT}</accountSid><authToken>{TOKEN}</authToken></twilioRest.init>
            <log level="custom"><property name="twilioRest.authToken" expression="$ctx:twilioRest.authToken"/>
              <property name="url" expression="$ctx:twilioRest.apiUrl"/></log>
            <respond/>
          </inSequence></target>
        </proxy>"""
    gw = await gateway(shipped(**{"proxies/props.xml": proxy}))
    caplog.set_level(logging.INFO)
    response = await gw.post("/services/props", json={})
    assert response.status == 200
    assert "url = https://api.twilio.com" in caplog.text  # the default apiUrl
    assert "twilioRest.authToken = ****" in caplog.text and TOKEN not in caplog.text


# -- deploy-time errors ----------------------------------------------------------------------------
def test_validate_reports_unknown_operation_and_parameter(tmp_path, capsys):
    (tmp_path / "proxies").mkdir()
    (tmp_path / "proxies" / "bad.xml").write_text(
        f"""<proxy {SYNAPSE} name="bad">
  <target><inSequence>
    <twilioRest.sendSMS><to>+1</to></twilioRest.sendSMS>
  </inSequence></target>
</proxy>
""",
        encoding="utf-8",
    )
    (tmp_path / "proxies" / "bad2.xml").write_text(
        f"""<proxy {SYNAPSE} name="bad2">
  <target><inSequence>
    <twilioRest.sendSms>
      <to>+1</to>
      <messageBdy>hi</messageBdy>
    </twilioRest.sendSms>
  </inSequence></target>
</proxy>
""",
        encoding="utf-8",
    )
    assert cli_main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert (
        "bad.xml:3: twilioRest.sendSMS: unknown operation 'sendSMS' of connector 'twilioRest' "
        "(did you mean 'sendSms'?)" in out
    )
    assert "bad2.xml:5: twilioRest.sendSms: unknown parameter 'messageBdy' (did you mean 'messageBody'?)" in out


def test_shipped_artifacts_validate_cleanly(tmp_path, capsys):
    for relative, text in shipped().items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    assert cli_main(["validate", str(tmp_path)]) == 0, capsys.readouterr().out
    assert "4 artifact(s) OK, 0 problem(s)" in capsys.readouterr().err


async def test_client_pool_is_bounded_lru():
    from synapse_gateway_connectors.twilio_rest.client_pool import Connection, TwilioRuntime

    from gateway.transport.client import HttpTransport

    transport = HttpTransport()  # as the gateway makes it; nothing is sent in this test
    runtime = TwilioRuntime(transport, pool_size=2)
    try:
        a, b, c = (
            Connection(ACCOUNT, ACCOUNT, token, "http://127.0.0.1:1", "2010-04-01") for token in ("t1", "t2", "t3")
        )
        first = runtime.client(a)
        assert runtime.client(a) is first
        assert first.base_url == "http://127.0.0.1:1" and first.version == "2010-04-01"
        runtime.client(b)
        runtime.client(a)  # a is now the most recently used
        runtime.client(c)  # evicts b
        assert runtime.client(a) is first
        assert runtime.stats() == {
            "clients": 2,
            "clients_created": 3,
            "clients_evicted": 1,
            "requests": 0,
            "retries": 0,
            "pool_size": 2,
        }
        assert "t1" not in repr(a)  # a connection never prints its credential
    finally:
        await runtime.close()
        await transport.close()


async def test_malformed_request_reaches_fault_handler_seq_then_the_global_fault(gateway, sandbox, caplog):
    gw = await gateway(shipped())
    caplog.set_level(logging.INFO)
    response = await gw.post(
        "/services/twilioRest", data=b'{"accountSid": ', headers={"Content-Type": "application/json"}
    )
    assert response.status == 500
    assert (await response.json())["error"]["code"] == 601000
    assert "STATUS = faultHandlerSeq" in caplog.text  # the proxy's onError ran first
    response = await gw.post(
        "/services/twilioRest",
        data=b"<soapenv:Envelope",
        headers={"Content-Type": "text/xml", "SOAPAction": '"urn:sendSms"'},
    )
    assert response.status == 500
    fault = etree.fromstring(await response.read())
    assert fault.find(".//faultcode").text.endswith(":Server")
    assert sandbox.requests == []
