"""Verify v2 end to end (issue 13, seed 003's one-time codes): the SHIPPED proxy twilioVerify on a real
gateway against the sandbox's Verify resource (served under /v2, as verify.twilio.com). Every request
and answer is checked against Twilio's twilio_verify_v2.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import Settings
from tests.support.twilio_sandbox import ACCOUNT, TOKEN, Sandbox

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("proxies/twilioVerify.xml", "sequences/faultHandlerSeq.xml")
PHONE = "+14155550123"


class Twilio:
    def __init__(self, gw: Any, sandbox: Sandbox) -> None:
        self.gw, self.sandbox = gw, sandbox

    async def call(self, operation: str, **params: Any) -> tuple[int, Any]:
        request = {"operation": operation, "accountSid": ACCOUNT, "authToken": TOKEN, "apiUrl": self.sandbox.url}
        request.update(params)
        response = await self.gw.post("/services/twilioVerify", json=request)
        raw = await response.read()
        return response.status, json.loads(raw) if raw else None

    def code_of(self, verification_sid: str) -> str:
        return str(self.sandbox.state.verify.verifications[verification_sid].code)


@pytest.fixture
async def twilio(gateway: Any, sandbox: Sandbox) -> Twilio:
    gw = await gateway({relative: (REPO / relative).read_text(encoding="utf-8") for relative in SHIPPED})
    assert not gw.config.failed, gw.config.failed
    return Twilio(gw, sandbox)


async def _service(twilio: Twilio, **params: str) -> str:
    status, service = await twilio.call("createVerifyService", friendlyName="Acme", **params)
    assert status == 201, service
    return str(service["sid"])


@pytest.mark.parametrize("channel", ["sms", "call", "whatsapp"])
async def test_verify_a_phone(twilio: Twilio, sandbox: Sandbox, channel: str) -> None:
    service = await _service(twilio, codeLength="8")
    status, started = await twilio.call(
        "startVerification", serviceSid=service, to=PHONE, channel=channel, locale="pt-BR"
    )
    assert (status, started["status"], started["channel"]) == (201, "pending", channel), started
    code = twilio.code_of(started["sid"])
    assert len(code) == 8 and code.isdigit(), "the Service's code length"
    status, wrong = await twilio.call("checkVerification", serviceSid=service, to=PHONE, code="0" * 7)
    assert (status, wrong["status"], wrong["valid"]) == (200, "pending", False)
    status, right = await twilio.call("checkVerification", serviceSid=service, to=PHONE, code=code)
    assert (status, right["status"], right["valid"]) == (200, "approved", True)
    status, gone = await twilio.call("checkVerification", serviceSid=service, verificationSid=started["sid"], code=code)
    assert (status, gone["code"]) == (404, 20404), "an approved verification cannot be checked again"
    form = dict(sandbox.forms()[1])
    assert form == {"To": PHONE, "Channel": channel, "Locale": "pt-BR"}
    assert sandbox.requests[1]["path"] == f"/v2/Services/{service}/Verifications"
    sandbox.assert_contract()


async def test_resend_fetch_cancel_and_limits(twilio: Twilio, sandbox: Sandbox) -> None:
    service = await _service(twilio, customCodeEnabled="true")
    status, started = await twilio.call("startVerification", serviceSid=service, to=PHONE, customCode="424242")
    assert twilio.code_of(started["sid"]) == "424242" and started["channel"] == "sms", "channel defaults to sms"
    for attempt in range(2, 6):
        status, again = await twilio.call("startVerification", serviceSid=service, to=PHONE)
        assert (again["sid"], len(again["send_code_attempts"])) == (started["sid"], attempt), "a resend"
    status, error = await twilio.call("startVerification", serviceSid=service, to=PHONE)
    assert (status, error["code"]) == (429, 60203)
    status, fetched = await twilio.call("getVerification", serviceSid=service, verificationSid=started["sid"])
    assert (status, fetched["status"]) == (200, "pending")
    for _ in range(5):
        await twilio.call("checkVerification", serviceSid=service, to=PHONE, code="111111")
    status, error = await twilio.call("checkVerification", serviceSid=service, to=PHONE, code="424242")
    assert (status, error["code"]) == (429, 60202), "five wrong codes, then no more checks"
    status, canceled = await twilio.call(
        "updateVerification", serviceSid=service, verificationSid=started["sid"], status="canceled"
    )
    assert (status, canceled["status"]) == (200, "canceled")
    sandbox.assert_contract()


@pytest.mark.parametrize(
    ("operation", "params", "fragment"),
    [
        ("startVerification", {"serviceSid": "VA1", "to": PHONE}, "is not a VA SID"),
        ("startVerification", {"serviceSid": "VA" + "0" * 32, "to": PHONE, "channel": "pigeon"}, "sms, call"),
        ("startVerification", {"serviceSid": "VA" + "0" * 32, "to": PHONE, "rateLimits": "42"}, "JSON object"),
        ("checkVerification", {"serviceSid": "VA" + "0" * 32, "code": "1234"}, "to or verificationSid"),
        ("updateVerification", {"serviceSid": "VA" + "0" * 32, "verificationSid": "VE1", "status": "x"}, "VE SID"),
    ],
)
async def test_local_checks_send_nothing(
    twilio: Twilio, sandbox: Sandbox, operation: str, params: dict[str, str], fragment: str
) -> None:
    status, body = await twilio.call(operation, **params)
    assert status == 400 and fragment in body["error"]["message"], body
    assert sandbox.requests == []


async def test_sandbox_verify_errors(twilio: Twilio, sandbox: Sandbox) -> None:
    service = await _service(twilio)
    status, error = await twilio.call("startVerification", serviceSid=service, to="4155550123")
    assert (status, error["code"]) == (400, 60200), "Verify wants E.164"
    status, error = await twilio.call("startVerification", serviceSid=service, to=PHONE, locale="english")
    assert (status, error["code"]) == (400, 60200)
    status, error = await twilio.call("startVerification", serviceSid="VA" + "0" * 32, to=PHONE)
    assert (status, error["code"]) == (404, 20404)
    status, error = await twilio.call("startVerification", serviceSid=service, to=PHONE, customCode="1234")
    assert status == 400, "custom codes need customCodeEnabled"
    sandbox.assert_contract()


async def test_verify_url_must_be_an_allowed_destination(gateway: Any, sandbox: Sandbox) -> None:
    assert "https://verify.twilio.com" in Settings().outbound_allow, "the real Verify host is allowed by default"
    files = {relative: (REPO / relative).read_text(encoding="utf-8") for relative in SHIPPED}
    gw = await gateway(files, outbound_allow=("loopback",))
    request = {
        "operation": "createVerifyService",
        "accountSid": ACCOUNT,
        "authToken": TOKEN,
        "apiUrl": sandbox.url,
        "verifyUrl": "https://verify.example.test",
        "friendlyName": "Acme",
    }
    response = await gw.post("/services/twilioVerify", json=request)
    assert response.status == 403, await response.text()
    assert "not an allowed destination" in (await response.json())["error"]["message"]
    assert sandbox.requests == []
