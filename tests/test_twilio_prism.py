"""Contract against a Prism mock of Twilio's specs (issue 13, item 8): every twilioRest operation that calls
Twilio, with every parameter given a well-formed value (tests/test_twilio_contract.py), is sent through a
real gateway to `prism mock twilio_api_v2010.json` (and twilio_verify_v2.json for Verify), which answers 422
to a request the spec does not allow. Prism is stricter than Twilio in exactly two places (docs/twilio.md):
repeated form fields (the spec gives them no array `encoding`) and `YYYY-MM-DD` date filters (typed
`date-time`). Those, and only those, are accepted as Prism's 422; without them every request passes.
Prism is installed from npm into tests/prism by .ci/prism."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.subprocess_gateway import free_port
from tests.test_twilio_contract import SENDING, fields_of, parameters_of, proxy_for

REPO = Path(__file__).resolve().parent.parent
PRISM = REPO / "tests" / "prism" / "node_modules" / ".bin" / "prism"
SPECS = REPO / "tests" / "data" / "twilio-oai"
# Where Prism is stricter than Twilio: repeated (array) form fields, and date filters sent as YYYY-MM-DD.
ARRAY_FIELDS = {"MediaUrl", "StatusCallbackEvent", "RecordingStatusCallbackEvent", "PersistentAction"}
DATE_FIELDS = {"DateSent", "DateCreated", "StartTime", "EndTime"}


def _start(spec: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}"


def _wait(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 180.0) -> None:
    port = int(url.rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prism stopped: {log.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"prism did not listen within {timeout}s: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if not PRISM.exists():
        reason = f"{PRISM} is missing: run .ci/prism (npm ci --prefix tests/prism)"
        if os.environ.get("GATEWAY_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    logs = tmp_path_factory.mktemp("prism")
    api, api_url = _start(SPECS / "twilio_api_v2010.json", logs / "api.log")
    verify, verify_url = _start(SPECS / "twilio_verify_v2.json", logs / "verify.log")
    try:
        _wait(api, api_url, logs / "api.log")
        _wait(verify, verify_url, logs / "verify.log")
        yield {"api": api_url, "verify": verify_url}
    finally:
        for process in (api, verify):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _stricter(problem: dict[str, Any]) -> bool:
    """One of Prism's two documented strictnesses."""
    location = problem.get("location") or []
    if len(location) < 2:
        return False
    where, field = location[0], location[1]
    if where == "body" and field in ARRAY_FIELDS:
        return "array" in str(problem.get("message"))
    dates = {name.lower() for name in DATE_FIELDS}  # Prism names query parameters in lower case
    return where == "query" and str(field).lower() in dates and "date-time" in str(problem.get("message"))


async def _send(gateway: Any, operation: str, url: str, params: dict[str, str]) -> tuple[int, Any]:
    proxy = proxy_for(operation, url).replace("<inSequence>", '<inSequence onError="showError">')
    # A connector error carries the service's answer (Prism's 422 document): respond it as it is.
    show = '<sequence xmlns="http://ws.apache.org/ns/synapse" name="showError"><respond/></sequence>'
    gw = await gateway({f"proxies/{operation}.xml": proxy, "sequences/showError.xml": show})
    assert not gw.config.failed, gw.config.failed
    response = await gw.post(f"/services/{operation}", json=params)
    raw = await response.read()
    try:
        return response.status, json.loads(raw) if raw else None
    except ValueError:
        return response.status, raw


@pytest.mark.parametrize("operation", SENDING)
async def test_every_operation_passes_prism(gateway: Any, prism: dict[str, str], operation: str) -> None:
    url = prism["verify"] if operation in _VERIFY else prism["api"]
    params = parameters_of(operation)
    status, body = await _send(gateway, operation, url, params)
    if status == 422:
        problems = body.get("validation") or []
        assert problems and all(_stricter(p) for p in problems), (operation, body)
        strict = {p for p, (field, _) in fields_of(operation).items() if field in ARRAY_FIELDS | DATE_FIELDS}
        params = {name: value for name, value in params.items() if name not in strict}
        status, body = await _send(gateway, operation, url, params)
    assert status < 400, (operation, status, body)


_VERIFY = {"createVerifyService", "startVerification", "checkVerification", "getVerification", "updateVerification"}


async def test_prism_is_stricter_than_twilio_in_the_two_documented_places(gateway: Any, prism: dict[str, str]) -> None:
    status, body = await _send(gateway, "sendSms", prism["api"], parameters_of("sendSms"))
    assert status == 422 and {tuple(p["location"][:2]) for p in body["validation"]} >= {("body", "MediaUrl")}
    status, body = await _send(gateway, "getSmsList", prism["api"], {"dateSent": "2024-01-31"})
    assert status == 422 and [p["location"][:2] for p in body["validation"]] == [["query", "datesent"]]
    status, body = await _send(gateway, "getSmsList", prism["api"], {"dateSentAfter": "2024-01-31"})
    assert status == 200, "DateSent> (on or after) with a date passes"
