"""Voice calls end to end (issue 13, seed 001): the SHIPPED proxy twilioCalls on a real gateway, talking
HTTP on loopback to the in-process Twilio sandbox. Every request the connector sent and every answer the
sandbox gave is checked against Twilio's OpenAPI spec (sandbox.assert_contract)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.twilio_sandbox import ACCOUNT, TOKEN, Sandbox
from tests.support.waiting import until

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("proxies/twilioCalls.xml", "sequences/faultHandlerSeq.xml")
CALLER = "+15005550006"


class Twilio:
    """A shipped proxy, called as a user would: {"operation": …, credentials, parameters}."""

    def __init__(self, gw: Any, sandbox: Sandbox) -> None:
        self.gw, self.sandbox = gw, sandbox

    async def call(self, operation: str, **params: Any) -> tuple[int, Any]:
        request = {"operation": operation, "accountSid": ACCOUNT, "authToken": TOKEN, "apiUrl": self.sandbox.url}
        request.update(params)
        response = await self.gw.post("/services/twilioCalls", json=request)
        raw = await response.read()
        return response.status, json.loads(raw) if raw else None


@pytest.fixture
async def twilio(gateway: Any, sandbox: Sandbox) -> Twilio:
    gw = await gateway({relative: (REPO / relative).read_text(encoding="utf-8") for relative in SHIPPED})
    assert not gw.config.failed, gw.config.failed
    return Twilio(gw, sandbox)


async def test_place_a_call_with_every_seed_001_parameter(twilio: Twilio, sandbox: Sandbox) -> None:
    status, call = await twilio.call(
        "getNewCall",
        to="+14155550100",
        **{"from": CALLER},
        url="https://example.test/voice.xml",
        method="get",
        fallbackUrl="https://example.test/fallback.xml",
        fallbackMethod="POST",
        statusCallback="https://example.test/status",
        statusCallbackMethod="POST",
        statusCallbackEvent="initiated,answered,completed",
        sendDigits="1234#",
        timeout="30",
        record="true",
        recordingChannels="dual",
        recordingStatusCallback="https://example.test/recording",
        machineDetection="Enable",
        machineDetectionTimeout="15",
        sipAuthPassword="s3cret",
    )
    assert status == 201, call
    assert (call["to"], call["from"], call["direction"]) == ("+14155550100", CALLER, "outbound-api")
    [sent] = sandbox.forms()
    assert ("Method", "GET") in sent and ("SendDigits", "1234#") in sent and ("Record", "true") in sent
    assert [v for k, v in sent if k == "StatusCallbackEvent"] == ["initiated", "answered", "completed"]
    await sandbox.state.settle()
    status, fetched = await twilio.call("getCall", callSid=call["sid"])
    assert (status, fetched["status"]) == (200, "completed")
    status, listed = await twilio.call("getCallList", to="+14155550100", status="completed", startTime=">=2020-01-01")
    assert [c["sid"] for c in listed["calls"]] == [call["sid"]]
    assert sandbox.requests[-1]["query"] == [
        ["To", "+14155550100"],
        ["Status", "completed"],
        ["StartTime>", "2020-01-01"],
    ]
    sandbox.assert_contract()


async def test_redirect_then_complete_a_live_call(twilio: Twilio, sandbox: Sandbox) -> None:
    sandbox.state.config.status_delays = (0.0, 30.0)  # answered at once, then talks for 30 s
    status, call = await twilio.call(
        "getNewCall", to="+14155550101", **{"from": CALLER}, twiml="<Response><Pause/></Response>"
    )
    assert status == 201, call
    record = sandbox.state.store.account(ACCOUNT).calls[call["sid"]]
    await until(lambda: record.status == "in-progress")
    status, redirected = await twilio.call(
        "modifyLiveCall", callSid=call["sid"], url="https://example.test/next.xml", method="POST"
    )
    assert (status, redirected["status"]) == (200, "in-progress"), redirected
    assert (record.url, record.redirects) == ("https://example.test/next.xml", 1)
    status, redirected = await twilio.call(
        "modifyLiveCall", callSid=call["sid"], twiml="<Response><Say>bye</Say></Response>"
    )
    assert (status, record.twiml, record.redirects) == (200, "<Response><Say>bye</Say></Response>", 2)
    status, canceled = await twilio.call("modifyLiveCall", callSid=call["sid"], status="canceled")
    assert canceled["status"] == "in-progress", "canceled leaves an answered call alone (Twilio's rule)"
    status, ended = await twilio.call("modifyLiveCall", callSid=call["sid"], status="completed")
    assert (status, ended["status"]) == (200, "completed")
    assert ended["end_time"] is not None and ended["duration"] is not None
    status, error = await twilio.call("modifyLiveCall", callSid=call["sid"], url="https://example.test/late.xml")
    assert (status, error["code"]) == (400, 21220), "an ended call cannot be redirected"
    sandbox.assert_contract()


async def test_cancel_a_ringing_call(twilio: Twilio, sandbox: Sandbox) -> None:
    sandbox.state.config.status_delays = (60.0, 0.0)  # rings for a minute
    status, call = await twilio.call("getNewCall", to="+14155550102", **{"from": CALLER}, url="https://example.test/v")
    status, ended = await twilio.call("modifyLiveCall", callSid=call["sid"], status="completed")
    assert (status, ended["status"]) == (200, "canceled"), "an unanswered call hung up is canceled"
    status, listed = await twilio.call("getCallList", status="canceled")
    assert [c["sid"] for c in listed["calls"]] == [call["sid"]]
    sandbox.assert_contract()


@pytest.mark.parametrize(
    ("operation", "params", "code", "fragment"),
    [
        ("getNewCall", {"from": CALLER, "url": "https://example.test/v"}, 21201, "'To'"),
        ("getNewCall", {"to": "+14155550100", "url": "https://example.test/v"}, 21213, "'From'"),
        ("getNewCall", {"to": "+14155550100", "from": CALLER}, 500101, "url or twiml or applicationSid"),
        ("getNewCall", {"to": "+1", "from": CALLER, "url": "x"}, 500102, "http(s) URL"),
        (
            "getNewCall",
            {"to": "+1", "from": CALLER, "twiml": "<R/>", "statusCallbackEvent": "done"},
            500102,
            "initiated",
        ),
        ("getNewCall", {"to": "+1", "from": CALLER, "twiml": "<R/>", "timeout": "soon"}, 500102, "integer"),
        ("getCall", {"callSid": "123456"}, 500102, "is not a CA SID"),
        ("getCallList", {"status": "hung-up"}, 500102, "no-answer"),
        ("getCallList", {"startTime": "May 1st"}, 500102, "YYYY-MM-DD"),
        ("modifyLiveCall", {"callSid": "CA../Messages", "status": "completed"}, 500102, "is not a CA SID"),
        ("modifyLiveCall", {"callSid": "CA" + "0" * 32, "status": "hangup"}, 500102, "canceled, completed"),
    ],
)
async def test_local_checks_send_nothing(
    twilio: Twilio, sandbox: Sandbox, operation: str, params: dict[str, str], code: int, fragment: str
) -> None:
    status, body = await twilio.call(operation, **params)
    assert status == 400, body
    assert body["error"]["code"] == code and fragment in json.dumps(body), body
    assert sandbox.requests == [], "a rejected request never reaches Twilio"


async def test_a_national_to_gets_the_caller_s_country(twilio: Twilio, sandbox: Sandbox) -> None:
    status, call = await twilio.call(
        "getNewCall", to="07891 063180", **{"from": "+442033229574"}, url="https://x.test/v"
    )
    assert (status, call["to"]) == (201, "+447891063180"), call
    status, error = await twilio.call("getNewCall", to="12", **{"from": CALLER}, url="https://x.test/v")
    assert (status, error["code"]) == (400, 21211)
    sandbox.assert_contract()
