"""Signed webhooks (issue 13, seed 003): twilioRest.validateSignature and the SHIPPED status-callback API
(api/TwilioCallbackApi.xml): the sandbox's own signed callbacks are accepted and recorded, a bad or missing
signature is 403 and records nothing, the public URL behind a proxy and JSON bodies (bodySHA256) work."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from tests.support.twilio_sandbox import ACCOUNT, TOKEN, Sandbox

REPO = Path(__file__).resolve().parent.parent
SHIPPED = (
    "api/TwilioCallbackApi.xml",
    "sequences/twilioCallbackFault.xml",
    "local-entries/twilioSandbox.xml",
    "sequences/faultHandlerSeq.xml",
)
PATH = "/twilio/callbacks/status"
SID = "SM" + "ab" * 16


@pytest.fixture
async def gw(gateway: Any) -> Any:
    client = await gateway({relative: (REPO / relative).read_text(encoding="utf-8") for relative in SHIPPED})
    assert not client.config.failed, client.config.failed
    return client


def _form(status: str = "delivered", **extra: str) -> dict[str, str]:
    return {"AccountSid": ACCOUNT, "MessageSid": SID, "MessageStatus": status, "To": "+14155550100", **extra}


async def _status(gw: Any, sid: str = SID) -> tuple[int, Any]:
    response = await gw.get(f"{PATH}/{sid}")
    return response.status, await response.json()


async def test_the_sandbox_s_signed_callbacks_are_recorded(gw: Any, sandbox: Sandbox) -> None:
    callback = str(gw.make_url(PATH))
    auth = {"Authorization": "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()}
    form = {"To": "+14155550100", "From": "+15005550006", "Body": "hi", "StatusCallback": callback}
    async with sandbox.state.session.post(  # type: ignore[union-attr]
        f"{sandbox.url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json", data=form, headers=auth
    ) as created:
        message = await created.json()
    await sandbox.state.settle()
    delivered = [cb for cb in sandbox.state.callbacks if cb.response_status == 204]
    assert len(delivered) == len(sandbox.state.callbacks) >= 2, [cb.to_json() for cb in sandbox.state.callbacks]
    status, recorded = await _status(gw, message["sid"])
    assert (status, recorded.get("status")) == (200, "delivered"), recorded


async def test_a_bad_or_missing_signature_is_403_and_records_nothing(gw: Any) -> None:
    url = str(gw.make_url(PATH))
    good = RequestValidator(TOKEN).compute_signature(url, _form())
    tampered = _form(status="read")  # the body changed after signing
    response = await gw.post(PATH, data=tampered, headers={"X-Twilio-Signature": good})
    assert response.status == 403
    assert (await response.json())["error"]["code"] == 500104
    response = await gw.post(PATH, data=_form())
    assert response.status == 403, "no signature at all"
    assert (await _status(gw))[0] == 404
    response = await gw.post(PATH, data=_form(), headers={"X-Twilio-Signature": good})
    assert response.status == 204
    status, recorded = await _status(gw)
    assert (status, recorded["status"], recorded["errorCode"], recorded["to"]) == (200, "delivered", "", "+14155550100")


async def test_the_public_url_behind_a_proxy(gw: Any) -> None:
    public = "https://hooks.example.com" + PATH + "?tenant=7"
    form = _form("undelivered", ErrorCode="30003")
    signature = RequestValidator(TOKEN).compute_signature(public, form)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.com"}
    response = await gw.post(PATH + "?tenant=7", data=form, headers={"X-Twilio-Signature": signature})
    assert response.status == 403, "the gateway's own URL is not the one Twilio signed"
    response = await gw.post(PATH + "?tenant=7", data=form, headers={"X-Twilio-Signature": signature, **forwarded})
    assert response.status == 204
    response = await gw.post(
        PATH + "?tenant=7",
        data=form,
        headers={"X-Twilio-Signature": signature, "Forwarded": 'for=1.2.3.4;proto=https;host="hooks.example.com"'},
    )
    assert response.status == 204, "RFC 7239 Forwarded"
    status, recorded = await _status(gw)
    assert (status, recorded["status"], recorded["errorCode"]) == (200, "undelivered", "30003")


async def test_a_json_body_is_covered_by_body_sha256(gw: Any) -> None:
    body = json.dumps({"MessageSid": SID, "MessageStatus": "read"}).encode()
    query = "?" + urlencode({"bodySHA256": hashlib.sha256(body).hexdigest()})
    url = str(gw.make_url(PATH)) + query
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/json"}
    response = await gw.post(PATH + query, data=body.replace(b"read", b"sent"), headers=headers)
    assert response.status == 403, "a changed body no longer matches its hash"
    response = await gw.post(PATH + query, data=body, headers=headers)
    assert response.status == 204
    assert (await _status(gw))[1]["status"] == "read"


async def test_validate_signature_can_only_report(gateway: Any) -> None:
    proxy = f"""
        <proxy xmlns="http://ws.apache.org/ns/synapse" name="hook">
          <target><inSequence>
            <twilioRest.validateSignature>
              <authToken>{TOKEN}</authToken><baseUrl>https://hooks.example.com/</baseUrl>
              <property>valid</property><failOnInvalid>false</failOnInvalid>
            </twilioRest.validateSignature>
            <payloadFactory media-type="json"><format>{{"valid": "$1"}}</format>
              <args><arg evaluator="xml" expression="$ctx:valid"/></args></payloadFactory>
            <respond/>
          </inSequence></target>
        </proxy>"""
    gw = await gateway({"proxies/hook.xml": proxy})
    form = {"A": "1", "B": "2"}
    signature = RequestValidator(TOKEN).compute_signature("https://hooks.example.com/services/hook", form)
    response = await gw.post("/services/hook", data=form, headers={"X-Twilio-Signature": signature})
    assert (await response.json()) == {"valid": "true"}
    response = await gw.post("/services/hook", data={"A": "1"}, headers={"X-Twilio-Signature": signature})
    assert (await response.json()) == {"valid": "false"}
