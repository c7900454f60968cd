"""The account, phone-number and recording operations end to end: the SHIPPED proxies (twilioAccounts,
twilioNumbers, twilioRecordings) on a real gateway, talking HTTP on loopback to the in-process Twilio
sandbox. Every request the connector sent and every answer the sandbox gave is checked against
Twilio's OpenAPI spec (sandbox.assert_contract)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from synapse_gateway_connectors.twilio_rest import CONNECTOR, accounts, calls, numbers, recordings

from tests.support.twilio_sandbox import ACCOUNT, TOKEN, Sandbox

REPO = Path(__file__).resolve().parent.parent
SHIPPED = (
    "proxies/twilioAccounts.xml",
    "proxies/twilioNumbers.xml",
    "proxies/twilioRecordings.xml",
    "proxies/twilioCalls.xml",
    "sequences/faultHandlerSeq.xml",
)
FAMILIES = {
    "twilioAccounts": accounts,
    "twilioNumbers": numbers,
    "twilioRecordings": recordings,
    "twilioCalls": calls,
}


def shipped() -> dict[str, str]:
    return {relative: (REPO / relative).read_text(encoding="utf-8") for relative in SHIPPED}


class Twilio:
    """The shipped proxies, called as a user would: {"operation": …, credentials, parameters}."""

    def __init__(self, gw: Any, sandbox: Sandbox) -> None:
        self.gw, self.sandbox = gw, sandbox

    async def call(self, proxy: str, operation: str, **params: Any) -> tuple[int, Any]:
        request = {"operation": operation, "accountSid": ACCOUNT, "authToken": TOKEN, "apiUrl": self.sandbox.url}
        request.update(params)
        response = await self.gw.post(f"/services/{proxy}", json=request)
        raw = await response.read()
        return response.status, json.loads(raw) if raw else None


@pytest.fixture
async def twilio(gateway: Any, sandbox: Sandbox) -> Twilio:
    gw = await gateway(shipped())
    assert not gw.config.failed, gw.config.failed
    return Twilio(gw, sandbox)


def test_every_operation_is_declared_as_its_table_reads_it() -> None:
    for module in FAMILIES.values():
        for name, endpoint in module.ENDPOINTS.items():
            declared = {p for p, spec in CONNECTOR.operations[name].parameters.items() if not spec.passthrough}
            assert declared == endpoint.parameters - {"accountSid"}, name


def test_every_shipped_proxy_covers_its_family() -> None:
    for proxy, module in FAMILIES.items():
        text = (REPO / f"proxies/{proxy}.xml").read_text(encoding="utf-8")
        for name in module.ENDPOINTS:
            assert f'<case regex="{name}">' in text and f"<twilioRest.{name}>" in text, (proxy, name)
            for parameter in CONNECTOR.operations[name].parameters:
                assert f"<{parameter}>{{//{parameter}/text()}}</{parameter}>" in text, (proxy, name, parameter)


async def test_accounts(twilio: Twilio, sandbox: Sandbox) -> None:
    status, sub = await twilio.call("twilioAccounts", "createSubAccount", friendlyName="tenant-b")
    assert (status, sub["friendly_name"], sub["owner_account_sid"]) == (201, "tenant-b", ACCOUNT)
    status, own = await twilio.call("twilioAccounts", "getAccount")
    assert (status, own["sid"]) == (200, ACCOUNT), "getAccount defaults to init's account"
    status, fetched = await twilio.call("twilioAccounts", "getAccount", subAccountSid=sub["sid"])
    assert fetched["sid"] == sub["sid"]
    status, listed = await twilio.call("twilioAccounts", "getAccountsList", friendlyName="tenant-b", status="active")
    assert [a["sid"] for a in listed["accounts"]] == [sub["sid"]]
    status, closed = await twilio.call("twilioAccounts", "updateAccount", subAccountSid=sub["sid"], status="closed")
    assert (status, closed["status"]) == (200, "closed")
    status, error = await twilio.call("twilioAccounts", "updateAccount", subAccountSid=sub["sid"], status="active")
    assert (status, error["code"]) == (400, 20001), "Twilio's refusal passes through"
    sent = [(r["method"], r["path"], r["form"], r["query"]) for r in sandbox.requests]
    assert sent[0] == ("POST", "/2010-04-01/Accounts.json", [["FriendlyName", "tenant-b"]], [])
    assert sent[3][3] == [["FriendlyName", "tenant-b"], ["Status", "active"]]
    sandbox.assert_contract()


async def test_numbers(twilio: Twilio, sandbox: Sandbox) -> None:
    status, local = await twilio.call(
        "twilioNumbers", "getAvailableLocalNumbers", country="us", areaCode="415", contains="55", smsEnabled="true"
    )
    assert status == 200 and local["available_phone_numbers"]
    number = local["available_phone_numbers"][0]["phone_number"]
    status, toll_free = await twilio.call("twilioNumbers", "getAvailableTollFreeNumbers", pageSize="2")
    assert status == 200 and len(toll_free["available_phone_numbers"]) == 2, "country defaults to US"
    status, bought = await twilio.call(
        "twilioNumbers", "purchasePhoneNumber", phoneNumber=number, friendlyName="line 1", smsMethod="get"
    )
    assert (status, bought["phone_number"], bought["sms_method"]) == (201, number, "GET")
    status, fetched = await twilio.call("twilioNumbers", "getIncomingPhoneNumber", incomingCallerId=bought["sid"])
    assert fetched["friendly_name"] == "line 1"
    status, updated = await twilio.call(
        "twilioNumbers", "updateIncomingPhoneNumber", incomingCallerId=bought["sid"], voiceUrl="https://example.test/v"
    )
    assert updated["voice_url"] == "https://example.test/v"
    status, listed = await twilio.call("twilioNumbers", "getIncomingPhoneNumberList", phoneNumber=number)
    assert [n["sid"] for n in listed["incoming_phone_numbers"]] == [bought["sid"]]
    status, body = await twilio.call("twilioNumbers", "removeIncomingPhoneNumber", incomingCallerId=bought["sid"])
    assert (status, body) == (204, None)

    status, request = await twilio.call("twilioNumbers", "addOutgoingPhoneNumber", phoneNumber="+15551234567")
    assert status == 200 and len(request["validation_code"]) == 6
    await sandbox.state.settle()
    status, caller_ids = await twilio.call("twilioNumbers", "getOutgoingPhoneNumberList", phoneNumber="+15551234567")
    [caller] = caller_ids["outgoing_caller_ids"]
    status, renamed = await twilio.call(
        "twilioNumbers", "updateOutgoingPhoneNumber", outgoingCallerId=caller["sid"], friendlyName="desk"
    )
    assert renamed["friendly_name"] == "desk"
    status, fetched = await twilio.call("twilioNumbers", "getOutgoingPhoneNumber", outgoingCallerId=caller["sid"])
    assert fetched["friendly_name"] == "desk"
    status, _ = await twilio.call("twilioNumbers", "removeOutgoingPhoneNumber", outgoingCallerId=caller["sid"])
    assert status == 204
    queries = [r["raw_path"] for r in sandbox.requests if r["method"] == "GET"]
    assert queries[0].endswith("/AvailablePhoneNumbers/US/Local.json?AreaCode=415&Contains=55&SmsEnabled=true")
    assert f"PhoneNumber=%2B{number[1:]}" in queries[3], "'+' is sent as %2B"
    sandbox.assert_contract()


async def test_recordings_and_transcriptions(twilio: Twilio, sandbox: Sandbox) -> None:
    state = sandbox.state
    form = {"To": "+15551230001", "From": "+15005550006", "Twiml": '<Response><Record transcribe="true"/></Response>'}
    async with state.session.post(  # type: ignore[union-attr]
        f"{sandbox.url}/2010-04-01/Accounts/{ACCOUNT}/Calls.json", data=form, headers=_auth()
    ) as created:
        call = await created.json()
    await state.settle()
    sandbox.requests.clear()
    sandbox.responses.clear()
    status, listed = await twilio.call(
        "twilioRecordings", "getRecordingList", callSid=call["sid"], dateCreated=">=2020-01-01"
    )
    [recording] = listed["recordings"]
    status, fetched = await twilio.call("twilioRecordings", "getRecording", recordingSid=recording["sid"])
    assert (status, fetched["source"]) == (200, "RecordVerb")
    status, transcriptions = await twilio.call("twilioRecordings", "getTranscriptionList")
    [transcription] = transcriptions["transcriptions"]
    status, fetched = await twilio.call("twilioRecordings", "getTranscription", transcriptionSid=transcription["sid"])
    assert fetched["recording_sid"] == recording["sid"] and fetched["transcription_text"]
    status, body = await twilio.call("twilioRecordings", "deleteRecording", recordingSid=recording["sid"])
    assert (status, body) == (204, None)
    status, gone = await twilio.call("twilioRecordings", "getRecording", recordingSid=recording["sid"])
    assert (status, gone["code"]) == (404, 20404)
    status, soft = await twilio.call(
        "twilioRecordings", "getRecording", recordingSid=recording["sid"], includeSoftDeleted="true"
    )
    assert soft["status"] == "deleted"
    assert sandbox.requests[0]["query"] == [["CallSid", call["sid"]], ["DateCreated>", "2020-01-01"]]
    sandbox.assert_contract()


def _auth() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()}


@pytest.mark.parametrize(
    ("proxy", "operation", "params", "code", "fragment"),
    [
        ("twilioAccounts", "getAccount", {"subAccountSid": "AC123"}, 500102, "is not a AC SID"),
        ("twilioAccounts", "updateAccount", {"friendlyName": "x"}, 500101, "subAccountSid"),
        ("twilioAccounts", "getAccountsList", {"status": "paused"}, 500102, "active, suspended, closed"),
        ("twilioRecordings", "getRecording", {"recordingSid": "RE../../Calls"}, 500102, "is not a RE SID"),
        ("twilioRecordings", "getRecordingList", {"dateCreated": "yesterday"}, 500102, "YYYY-MM-DD"),
        ("twilioRecordings", "getRecordingList", {"callSid": "123456"}, 500102, "is not a CA SID"),
        ("twilioNumbers", "getAvailableLocalNumbers", {"country": "USA"}, 500102, "two-letter"),
        ("twilioNumbers", "purchasePhoneNumber", {"friendlyName": "x"}, 500101, "phoneNumber or areaCode"),
        ("twilioNumbers", "purchasePhoneNumber", {"areaCode": "415", "voiceMethod": "PUT"}, 500102, "GET or POST"),
        ("twilioNumbers", "purchasePhoneNumber", {"areaCode": "415", "smsUrl": "ftp://x"}, 500102, "http(s) URL"),
        ("twilioNumbers", "addOutgoingPhoneNumber", {"callDelay": "soon"}, 500101, "phoneNumber"),
        ("twilioNumbers", "getIncomingPhoneNumberList", {"pageSize": "0"}, 500102, "between 1 and 1000"),
    ],
)
async def test_local_checks_send_nothing(
    twilio: Twilio, sandbox: Sandbox, proxy: str, operation: str, params: dict[str, str], code: int, fragment: str
) -> None:
    status, body = await twilio.call(proxy, operation, **params)
    assert status == 400, body
    assert body["error"]["code"] == code and fragment in json.dumps(body), body
    assert sandbox.requests == [], "a rejected request never reaches Twilio"


async def test_unknown_operation_is_400(twilio: Twilio, sandbox: Sandbox) -> None:
    status, body = await twilio.call("twilioAccounts", "dropAccount")
    assert status == 400 and "dropAccount" in body["error"]["message"]
    assert sandbox.requests == []
