"""The message lifecycle end to end (issue 13, seed 002): every CreateMessage field by name, the checked
pass-through for fields newer than the descriptor, redact / cancel / delete / feedback, and the paging
and media fixes. The SHIPPED proxy twilioMessages runs on a real gateway against the in-process sandbox;
every request sent and every answer is checked against Twilio's OpenAPI spec."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import synapse_gateway_connectors.twilio_rest as twilio_rest
from synapse_gateway_connectors.twilio_rest import spec_fields

from gateway.connector import ConnectorRegistry, load_connector
from tests.support.twilio_openapi import spec, validate_request, validate_response
from tests.support.twilio_sandbox import ACCOUNT, TOKEN, Sandbox

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("proxies/twilioMessages.xml", "sequences/faultHandlerSeq.xml")
SERVICE = "MG9752274e9e519418a7406176694466fa"  # the sandbox's Messaging Service
SENDER = "+15005550006"


def shipped(**extra: str) -> dict[str, str]:
    files = {relative: (REPO / relative).read_text(encoding="utf-8") for relative in SHIPPED}
    files.update(extra)
    return files


class Twilio:
    def __init__(self, gw: Any, sandbox: Sandbox) -> None:
        self.gw, self.sandbox = gw, sandbox

    async def call(self, operation: str, **params: Any) -> tuple[int, Any]:
        request = {"operation": operation, "accountSid": ACCOUNT, "authToken": TOKEN, "apiUrl": self.sandbox.url}
        request.update(params)
        response = await self.gw.post("/services/twilioMessages", json=request)
        raw = await response.read()
        return response.status, json.loads(raw) if raw else None


@pytest.fixture
async def twilio(gateway: Any, sandbox: Sandbox) -> Twilio:
    gw = await gateway(shipped())
    assert not gw.config.failed, gw.config.failed
    return Twilio(gw, sandbox)


def test_the_bundled_field_list_is_the_spec_s() -> None:
    assert spec_fields.derive(spec()) == json.loads(spec_fields.FIELDS_PATH.read_text(encoding="utf-8"))


def test_every_create_message_field_has_a_parameter() -> None:
    operation = twilio_rest.CONNECTOR.operations["sendSms"]
    for field in spec_fields.fields_of("CreateMessage"):
        assert field in operation.element_names, field  # <SendAt> is <sendAt>
        camel = field[0].lower() + field[1:]
        assert operation.element_names[field] == operation.element_names.get(camel, field)


async def test_send_with_every_twilio_field(twilio: Twilio, sandbox: Sandbox) -> None:
    send_at = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, message = await twilio.call(
        "sendSms",
        to="+14155550100",
        messagingServiceSid=SERVICE,
        messageBody="Your table is ready",
        statusCallbackUrl="https://example.test/status",
        maxPrice="0.05",
        provideFeedback="true",
        validityPeriod="600",
        attempt="1",
        forceDelivery="false",
        contentRetention="retain",
        addressRetention="retain",
        smartEncoded="true",
        persistentAction="mailto:ops@example.test",
        shortenUrls="false",
        sendAt=send_at,
        sendAsMms="false",
        riskCheck="enable",
        fallbackFrom=SENDER,
    )
    assert (status, message["status"]) == (201, "scheduled"), message
    [form] = sandbox.forms()
    assert ("SendAt", send_at) in form and ("ScheduleType", "fixed") in form, "ScheduleType=fixed is implied"
    names = {name for name, _ in form}
    assert {"Attempt", "SmartEncoded", "PersistentAction", "RiskCheck", "FallbackFrom", "AddressRetention"} <= names
    sandbox.assert_contract()

    # ... and cancelled before it goes out (seed 002: update)
    status, canceled = await twilio.call("updateSms", messageSid=message["sid"], status="canceled")
    assert (status, canceled["status"]) == (200, "canceled")
    sandbox.assert_contract()


async def test_twilio_s_own_field_names_are_accepted(gateway: Any, sandbox: Sandbox) -> None:
    proxy = f"""
        <proxy xmlns="http://ws.apache.org/ns/synapse" name="contentApi">
          <target><inSequence onError="faultHandlerSeq">
            <twilioRest.init><accountSid>{ACCOUNT}</accountSid><authToken>{TOKEN}</authToken>
              <apiUrl>{sandbox.url}</apiUrl></twilioRest.init>
            <twilioRest.sendSms>
              <To>+14155550100</To><From>{SENDER}</From>
              <ContentSid>HX{"a" * 32}</ContentSid>
              <ContentVariables>{{json-eval($.vars)}}</ContentVariables>
            </twilioRest.sendSms>
            <respond/>
          </inSequence></target>
        </proxy>"""
    gw = await gateway(shipped(**{"proxies/contentApi.xml": proxy}))
    assert not gw.config.failed, gw.config.failed
    response = await gw.post("/services/contentApi", json={"vars": {"1": "Ada"}})
    assert response.status == 201, await response.text()
    [form] = sandbox.forms()
    assert ("ContentSid", "HX" + "a" * 32) in form and ("ContentVariables", '{"1":"Ada"}') in form
    sandbox.assert_contract()
    response = await gw.post("/services/contentApi", json={"vars": ["Ada"]})
    assert response.status == 400 and "JSON object" in (await response.json())["error"]["message"]


async def test_a_field_newer_than_the_descriptor_passes_through(
    gateway: Any, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field that spec_fields.json knows and connector.yaml does not is sent under its own name."""
    fields = dict(spec_fields._fields())
    fields["CreateMessage"] = (*fields["CreateMessage"], "TagLine")
    monkeypatch.setattr(spec_fields, "_fields", lambda: fields)
    connector = load_connector(Path(twilio_rest.__file__).with_name("connector.yaml"), package=twilio_rest.__name__)
    assert connector.operations["sendSms"].parameters["TagLine"].passthrough
    proxy = f"""
        <proxy xmlns="http://ws.apache.org/ns/synapse" name="future">
          <target><inSequence onError="faultHandlerSeq">
            <twilioRest.init><accountSid>{ACCOUNT}</accountSid><authToken>{TOKEN}</authToken>
              <apiUrl>{sandbox.url}</apiUrl></twilioRest.init>
            <twilioRest.sendSms>
              <to>+14155550100</to><from>{SENDER}</from><body>hi</body><TagLine>{{//tag/text()}}</TagLine>
            </twilioRest.sendSms>
            <respond/>
          </inSequence></target>
        </proxy>"""
    gw = await gateway(shipped(**{"proxies/future.xml": proxy}), registry=ConnectorRegistry([connector]))
    assert not gw.config.failed, gw.config.failed
    response = await gw.post("/services/future", json={"tag": "launch"})
    assert response.status == 201, await response.text()
    [form] = sandbox.forms()
    assert form[-1] == ("TagLine", "launch")


async def test_a_misspelt_twilio_field_is_a_deploy_error(gateway: Any, sandbox: Sandbox) -> None:
    proxy = f"""
        <proxy xmlns="http://ws.apache.org/ns/synapse" name="typo">
          <target><inSequence>
            <twilioRest.init><accountSid>{ACCOUNT}</accountSid><authToken>{TOKEN}</authToken></twilioRest.init>
            <twilioRest.sendSms><to>+1</to><body>x</body><SendAtt>2030-01-01T00:00:00Z</SendAtt></twilioRest.sendSms>
          </inSequence></target>
        </proxy>"""
    gw = await gateway(shipped(**{"proxies/typo.xml": proxy}))
    [problem] = [str(p) for p in gw.config.failed.values()] if isinstance(gw.config.failed, dict) else gw.config.failed
    assert "unknown parameter 'SendAtt'" in str(problem) and "SendAt" in str(problem).split("SendAtt", 1)[1]


async def test_redact_delete_and_feedback(twilio: Twilio, sandbox: Sandbox) -> None:
    status, message = await twilio.call(
        "sendSms", to="+14155550100", **{"from": SENDER}, messageBody="code 123456", provideFeedback="true"
    )
    assert status == 201, message
    await sandbox.state.settle()
    status, feedback = await twilio.call("createSmsFeedback", messageSid=message["sid"])
    assert (status, feedback["outcome"], feedback["message_sid"]) == (200, "confirmed", message["sid"])
    status, redacted = await twilio.call("updateSms", messageSid=message["sid"], redact="true")
    assert (status, redacted["body"]) == (200, "")
    assert sandbox.forms()[-1] == [("Body", "")]
    status, body = await twilio.call("deleteSms", messageSid=message["sid"])
    assert (status, body) == (204, None)
    status, gone = await twilio.call("getSms", messageSid=message["sid"])
    assert (status, gone["code"]) == (404, 20404)
    sandbox.assert_contract()


async def test_delete_while_sending_is_twilio_s_20009(twilio: Twilio, sandbox: Sandbox) -> None:
    sandbox.state.config.status_delays = (30.0, 0.0)  # stays queued
    status, message = await twilio.call("sendSms", to="+14155550100", **{"from": SENDER}, messageBody="x")
    status, error = await twilio.call("deleteSms", messageSid=message["sid"])
    assert (status, error["code"]) == (400, 20009)
    sandbox.assert_contract()


async def test_media_urls_from_a_json_array_are_repeated_fields(twilio: Twilio, sandbox: Sandbox) -> None:
    urls = ["https://res.example.test/image/upload/w_100,h_100/sample.jpg", "https://example.test/b.png"]
    status, message = await twilio.call("sendSms", to="+14155550100", **{"from": SENDER}, mediaUrl=urls)
    assert status == 201, message
    assert [v for k, v in sandbox.forms()[0] if k == "MediaUrl"] == urls, "one field per array item, commas kept"
    sandbox.assert_contract()


async def test_a_json_eval_array_is_repeated_fields_too(gateway: Any, sandbox: Sandbox) -> None:
    proxy = f"""
        <proxy xmlns="http://ws.apache.org/ns/synapse" name="mms">
          <target><inSequence onError="faultHandlerSeq">
            <twilioRest.init><accountSid>{ACCOUNT}</accountSid><authToken>{TOKEN}</authToken>
              <apiUrl>{sandbox.url}</apiUrl></twilioRest.init>
            <twilioRest.sendSms>
              <to>+14155550100</to><from>{SENDER}</from><mediaUrl>{{json-eval($.media)}}</mediaUrl>
            </twilioRest.sendSms>
            <respond/>
          </inSequence></target>
        </proxy>"""
    gw = await gateway(shipped(**{"proxies/mms.xml": proxy}))
    urls = ["https://example.test/a,b.png", "https://example.test/c.png"]
    response = await gw.post("/services/mms", json={"media": urls})
    assert response.status == 201, await response.text()
    assert [v for k, v in sandbox.forms()[0] if k == "MediaUrl"] == urls
    sandbox.assert_contract()


async def test_limit_envelope_counts_and_continues_exactly(twilio: Twilio, sandbox: Sandbox) -> None:
    sids = []
    for n in range(4):
        status, message = await twilio.call("sendSms", to=f"+1415555010{n}", **{"from": SENDER}, messageBody="x")
        sids.append(message["sid"])
    newest_first = sids[::-1]
    status, page = await twilio.call("getSmsList", pageSize="2", limit="3")
    assert [m["sid"] for m in page["messages"]] == newest_first[:3]
    assert (page["page_size"], page["start"], page["end"]) == (3, 0, 2)
    next_uri = page["next_page_uri"]
    validate_response("GET", f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json", 200, page)
    headers = {"Authorization": "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()}
    async with sandbox.state.session.get(sandbox.url + next_uri, headers=headers) as response:  # type: ignore[union-attr]
        rest = await response.json()
    assert [m["sid"] for m in rest["messages"]] == newest_first[3:], "the next page starts right after"
    status, page = await twilio.call("getSmsList", page="1", pageSize="2", pageToken="PA" + newest_first[1])
    assert [m["sid"] for m in page["messages"]] == newest_first[2:], "page and pageToken reach Twilio"
    sandbox.assert_contract()


@pytest.mark.parametrize(
    ("operation", "params", "fragment"),
    [
        ("sendSms", {"to": "+1", "from": SENDER, "messageBody": "x", "contentVariables": "[1]"}, "JSON object"),
        ("sendSms", {"to": "+1", "from": SENDER, "messageBody": "x", "sendAt": "tomorrow"}, "ISO 8601"),
        ("sendSms", {"to": "+1", "from": SENDER, "messageBody": "x", "riskCheck": "maybe"}, "enable, disable"),
        ("sendSms", {"to": "+1", "from": SENDER, "messageBody": "x", "validityPeriod": "99999"}, "between 1 and 36000"),
        ("sendSms", {"to": "+1", "messagingServiceSid": "MG1", "messageBody": "x"}, "is not a MG SID"),
        ("sendSms", {"to": "+1", "from": SENDER, "messageBody": "x", "applicationSid": "123456"}, "is not a AP SID"),
        ("sendSms", {"to": "+1", "from": SENDER, "mediaUrl": "ftp://x/y.png"}, "http(s) URL"),
        ("updateSms", {"messageSid": "SM" + "0" * 32}, "redact or status"),
        ("updateSms", {"messageSid": "SM" + "0" * 32, "status": "sent"}, "canceled"),
        ("deleteSms", {"messageSid": "123456"}, "is not a SM or MM SID"),
        ("createSmsFeedback", {"messageSid": "SM" + "0" * 32, "outcome": "clicked"}, "confirmed, unconfirmed"),
    ],
)
async def test_local_checks_send_nothing(
    twilio: Twilio, sandbox: Sandbox, operation: str, params: dict[str, str], fragment: str
) -> None:
    status, body = await twilio.call(operation, **params)
    assert status == 400, body
    assert fragment in body["error"]["message"], body
    assert sandbox.requests == []


def test_update_requests_validate_against_the_spec() -> None:
    base = f"/2010-04-01/Accounts/{ACCOUNT}/Messages/SM{'0' * 32}"
    validate_request("POST", base + ".json", form=[("Body", "")])
    validate_request("POST", base + ".json", form=[("Status", "canceled")])
    validate_request("POST", base + "/Feedback.json", form=[("Outcome", "unconfirmed")])
