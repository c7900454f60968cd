"""Errors and retries (issue 13): seed 001's error table reproduced against the sandbox, and the GET
retry policy (429 / 5xx, backoff, Retry-After; a POST is never retried)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from synapse_gateway_connectors.twilio_rest.client_pool import RetryPolicy

from gateway.transport.server import SERVICES
from tests.support.twilio_sandbox import ACCOUNT, TOKEN, Sandbox

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("proxies/twilioMessages.xml", "proxies/twilioCalls.xml", "sequences/faultHandlerSeq.xml")
FAST = {"twilioRest": {"retry_backoff": 0.01}}


async def _gateway(gateway: Any, **settings: Any) -> Any:
    gw = await gateway({relative: (REPO / relative).read_text(encoding="utf-8") for relative in SHIPPED}, **settings)
    assert not gw.config.failed, gw.config.failed
    return gw


async def _call(gw: Any, sandbox: Sandbox, proxy: str, operation: str, **params: Any) -> tuple[int, Any]:
    request = {"operation": operation, "accountSid": ACCOUNT, "authToken": TOKEN, "apiUrl": sandbox.url, **params}
    response = await gw.post(f"/services/{proxy}", json=request)
    raw = await response.read()
    return response.status, json.loads(raw) if raw else None


# -- seed 001's error table ------------------------------------------------------------------------
CALL = {"to": "+15005260006", "from": "+15005550006", "url": "http://demo.twilio.com/docs/voice.xml"}


@pytest.mark.parametrize(
    ("row", "params", "status", "code", "message"),
    [
        # "Credentials are required to create a Client": no token (nor API key) is refused before sending
        ("credentials", {"authToken": ""}, 400, 500101, "give authToken, or apiKeySid and apiKeySecret"),
        # "[HTTP 404] … The requested resource /2010-04-01/Accounts/AC5f37acb25ffaeb498a78/… was not found"
        (
            "accountSid",
            {"accountSid": "AC5f37acb25ffaeb498a78"},
            404,
            20404,
            "The requested resource /2010-04-01/Accounts/AC5f37acb25ffaeb498a78/Calls.json was not found",
        ),
        # "[HTTP 401] Unable to create record: Authenticate"
        ("accountToken", {"authToken": "f" * 32}, 401, 20003, "Authenticate"),
        # "[HTTP 400] Unable to create record: A "From" phone number is required."
        ("mandatory", {"from": ""}, 400, 21213, "No 'From' number is specified"),
        # "[HTTP 400] Unable to create record: Method is not valid: TEST"
        ("additional", {"method": "test"}, 400, 500102, "'test' is not GET or POST"),
    ],
)
async def test_seed_001_error_table(
    gateway: Any, sandbox: Sandbox, row: str, params: dict[str, str], status: int, code: int, message: str
) -> None:
    gw = await _gateway(gateway)
    answer_status, body = await _call(gw, sandbox, "twilioCalls", "getNewCall", **{**CALL, **params})
    assert answer_status == status, (row, body)
    error = body.get("error", body)  # a local check's {"error": …}, or Twilio's own error document
    assert error["code"] == code and message in error["message"], (row, body)
    if code >= 500000:
        assert sandbox.requests == [], "a local check sends nothing"


async def test_seed_001_sms_without_from(gateway: Any, sandbox: Sandbox) -> None:
    status, body = await _call(
        await _gateway(gateway), sandbox, "twilioMessages", "sendSms", to="+15005550006", messageBody="x"
    )
    assert (status, body["error"]["code"]) == (400, 21603)
    assert "A 'From' phone number is required" in body["error"]["message"]


# -- retries ---------------------------------------------------------------------------------------
async def test_a_get_is_retried_after_429_honouring_retry_after(gateway: Any, sandbox: Sandbox) -> None:
    gw = await _gateway(gateway, connectors=FAST)
    sandbox.state.config.update({"rate_limit_next": 2, "retry_after": 0.2})
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, page = await _call(gw, sandbox, "twilioMessages", "getSmsList")
    assert status == 200 and page["messages"] == []
    assert loop.time() - started >= 0.4, "Retry-After (0.2 s) was waited twice, not the 0.01 s backoff"
    assert [r["status"] for r in sandbox.requests] == [429, 429, 200]
    assert gw.app[SERVICES].connectors["twilioRest"].retries == 2


async def test_a_get_is_retried_after_5xx_then_gives_up(gateway: Any, sandbox: Sandbox) -> None:
    gw = await _gateway(gateway, connectors=FAST)
    sandbox.state.config.update({"server_error_next": 1})
    status, _ = await _call(gw, sandbox, "twilioCalls", "getCallList")
    assert status == 200 and [r["status"] for r in sandbox.requests] == [503, 200]
    sandbox.requests.clear()
    sandbox.state.config.update({"server_error_next": 5})
    status, body = await _call(gw, sandbox, "twilioCalls", "getCallList")
    assert (status, body["code"]) == (503, 20503), "after 2 retries Twilio's error is answered"
    assert len(sandbox.requests) == 3


async def test_a_post_is_never_retried(gateway: Any, sandbox: Sandbox) -> None:
    gw = await _gateway(gateway, connectors=FAST)
    sandbox.state.config.update({"server_error_next": 1})
    status, body = await _call(gw, sandbox, "twilioCalls", "getNewCall", **CALL)
    assert (status, body["code"]) == (503, 20503)
    assert len(sandbox.requests) == 1, "a retried create could place the call twice"


async def test_retries_are_configurable(gateway: Any, sandbox: Sandbox) -> None:
    gw = await _gateway(gateway, connectors=FAST)
    sandbox.state.config.update({"rate_limit_next": 1})
    status, body = await _call(gw, sandbox, "twilioMessages", "getSmsList", retries="0")
    assert (status, body["code"]) == (429, 20429) and len(sandbox.requests) == 1, "init's retries=0"
    gw = await _gateway(gateway, connectors={"twilioRest": {"retries": 0}})
    sandbox.requests.clear()
    sandbox.state.config.update({"rate_limit_next": 1})
    status, _ = await _call(gw, sandbox, "twilioMessages", "getSmsList")
    assert status == 429 and len(sandbox.requests) == 1, "the connector option"


async def test_a_retry_after_beyond_max_wait_is_not_waited(gateway: Any, sandbox: Sandbox) -> None:
    gw = await _gateway(gateway, connectors=FAST)
    sandbox.state.config.update({"rate_limit_next": 1, "retry_after": 3600})
    status, body = await _call(gw, sandbox, "twilioMessages", "getSmsList")
    assert (status, body["code"]) == (429, 20429) and len(sandbox.requests) == 1


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(retries=3, backoff=0.5, max_wait=10)
    assert [policy.delay(n, None) for n in range(3)] == [0.5, 1.0, 2.0]
    assert policy.delay(0, "3") == 3.0 and policy.delay(0, "11") is None
    assert policy.delay(0, "Thu, 01 Jan 1970 00:00:00 GMT") == 0.0, "a date in the past: at once"
    assert policy.delay(1, "soon") == 1.0, "an unreadable Retry-After: the backoff"
