"""The Twilio sandbox over real HTTP on loopback: raw aiohttp requests and the twilio SDK.

A contract middleware checks every API request the sandbox receives and every response it
sends against Twilio's OpenAPI spec (tests/support/twilio_openapi.py); any mismatch fails
the test at teardown. Requests that are deliberately off-spec carry ``X-Expect-Off-Spec``
and must then FAIL validation.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict
from synapse_gateway_connectors.twilio_rest.sandbox import (
    SANDBOX_STATE,
    SandboxState,
    compute_signature,
    count_segments,
    create_app,
    load_accounts,
    run,
)
from synapse_gateway_connectors.twilio_rest.sandbox.server import build_parser, main
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.support.twilio_openapi import (
    CONTRACT,
    OFF_SPEC_HEADER,
    SpecContract,
    attach_contract,
    validate_request,
    validate_response,
)

DEFAULTS = load_accounts()
SID = DEFAULTS.default_sid or ""
TOKEN = DEFAULTS.default_token or ""
KEY = next(iter(DEFAULTS.api_keys.values()))
OTHER_SID = "AC" + "b" * 32
OTHER_TOKEN = "other-token"
FAST = (0.02, 0.02)
FROM = "+15005550006"
MG = "MG" + "0" * 32
OFF_SPEC = {OFF_SPEC_HEADER: "1"}
SID_RE = re.compile(r"^SM[0-9a-f]{32}$")

# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------
SandboxFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def make_sandbox(aiohttp_server: Any) -> AsyncIterator[SandboxFactory]:
    contracts: list[SpecContract] = []

    async def factory(**options: Any) -> TestServer:
        options.setdefault("status_delays", FAST)
        options.setdefault("time_scale", 1000.0)  # sender queues drain 1000x faster (dates keep model time)
        app = create_app(**options)
        contracts.append(attach_contract(app))
        server: TestServer = await aiohttp_server(app)
        return server

    yield factory
    problems = [v for c in contracts for v in c.violations]
    assert not problems, "sandbox exchanges off the Twilio spec:\n" + "\n".join(problems)


@pytest.fixture
async def sandbox(make_sandbox: SandboxFactory) -> TestServer:
    return await make_sandbox()


@pytest.fixture
async def http(aiohttp_client: Any, sandbox: TestServer) -> TestClient:
    client: TestClient = await aiohttp_client(sandbox)
    return client


def state_of(server: TestServer) -> SandboxState:
    return server.app[SANDBOX_STATE]


def sdk_client(server: TestServer, username: str = SID, password: str = TOKEN, **kw: Any) -> Client:
    http_client = AsyncTwilioHttpClient()
    client = Client(username, password, http_client=http_client, environment={"_": ""}, **kw)
    client.api.base_url = str(server.make_url("/")).rstrip("/")
    return client


@pytest.fixture
async def twilio(sandbox: TestServer) -> AsyncIterator[Client]:
    client = sdk_client(sandbox)
    yield client
    await client.http_client.close()  # type: ignore[attr-defined]


@dataclass
class Receiver:
    server: TestServer
    hits: list[dict[str, Any]]

    def url(self, path: str = "/status") -> str:
        return str(self.server.make_url(path))


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    hits: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        form = MultiDict((k, v) for k, v in (await request.post()).items() if isinstance(v, str))
        hits.append({"url": str(request.url), "form": form, "headers": dict(request.headers)})
        return web.Response(status=int(request.query.get("reply", "200")))

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    return Receiver(await aiohttp_server(app), hits)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def api(
    client: TestClient,
    method: str,
    resource: str,
    *,
    form: Iterable[tuple[str, str]] | None = None,
    query: Iterable[tuple[str, str]] | None = None,
    account: str = SID,
    auth: tuple[str, str] | None = (SID, TOKEN),
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One raw API call; the body is urlencoded with repeated keys for array fields."""
    path = f"/2010-04-01/Accounts/{account}/{resource}"
    if query is not None:
        path += "?" + urlencode(list(query))
    hdrs = dict(headers or {})
    if auth is not None:
        hdrs["Authorization"] = basic(*auth)
    data = None
    if form is not None:
        data = urlencode(list(form))
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    async with client.request(method, path, data=data, headers=hdrs) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


def sms(to: str = "+15551230001", body: str = "hello", **extra: str) -> list[tuple[str, str]]:
    return [("To", to), ("From", extra.pop("From", FROM)), ("Body", body), *extra.items()]


def assert_error(status: int, body: Any, http_status: int, code: int, message: str | None = None) -> None:
    assert status == http_status, body
    assert body["code"] == code, body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert body["status"] == http_status
    if message is not None:
        assert body["message"] == message


# ---------------------------------------------------------------------------------------------
# Segments
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension chars count two septets
        ("€" * 81, "GSM-7", 162, 2),
        ("[]{}^~\\|\f", "GSM-7", 18, 1),
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),  # the escape pair is not split
        ("Ça coute 5£ @ Øresund", "GSM-7", 21, 1),
        ("ł" * 70, "UCS-2", 70, 1),
        ("ł" * 71, "UCS-2", 71, 2),
        ("😀" * 35, "UCS-2", 70, 1),  # emoji = 2 UTF-16 code units
        ("😀" * 36, "UCS-2", 72, 2),
        ("ł" * 66 + "😀" + "ł" * 66, "UCS-2", 134, 3),  # a surrogate pair is not split
        ("a" * 134, "GSM-7", 134, 1),
    ],
    ids=lambda v: f"{v[:12]}...{len(v)}" if isinstance(v, str) and len(v) > 12 else repr(v),
)
def test_count_segments(body: str, encoding: str, units: int, segments: int) -> None:
    result = count_segments(body)
    assert (result.encoding, result.units, result.segments) == (encoding, units, segments)


def test_count_segments_switches_whole_body_to_ucs2() -> None:
    assert count_segments("a" * 100 + "ü").encoding == "GSM-7"  # ü is in the GSM alphabet
    result = count_segments("a" * 100 + "ł")
    assert (result.encoding, result.segments) == ("UCS-2", 2)


# ---------------------------------------------------------------------------------------------
# Create
# ---------------------------------------------------------------------------------------------
async def test_create_message_returns_spec_resource(http: TestClient, sandbox: TestServer) -> None:
    status, body = await api(http, "POST", "Messages.json", form=sms(body="hi there"))
    assert status == 201
    assert SID_RE.match(body["sid"])
    assert body["status"] == "queued"
    assert (body["to"], body["from"], body["body"]) == ("+15551230001", FROM, "hi there")
    assert (body["num_segments"], body["num_media"], body["price"]) == ("1", "0", None)
    assert body["direction"] == "outbound-api" and body["api_version"] == "2010-04-01"
    assert body["uri"] == f"/2010-04-01/Accounts/{SID}/Messages/{body['sid']}.json"
    assert body["subresource_uris"]["media"].endswith(f"/Messages/{body['sid']}/Media.json")
    assert re.match(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$", body["date_created"])
    assert sandbox.app[CONTRACT].checked == 1  # the contract middleware is really in the loop


async def test_create_counts_segments(http: TestClient) -> None:
    _, body = await api(http, "POST", "Messages.json", form=sms(body="😀" * 36))
    assert body["num_segments"] == "2"


async def test_repeated_media_url_gives_mms(http: TestClient, sandbox: TestServer) -> None:
    form = sms(body="pics") + [
        ("MediaUrl", "https://example.com/a.png"),
        ("MediaUrl", "https://example.com/b.gif"),
    ]
    status, body = await api(http, "POST", "Messages.json", form=form)
    assert status == 201
    assert re.match(r"^MM[0-9a-f]{32}$", body["sid"])
    assert body["num_media"] == "2"
    stored = state_of(sandbox).store.account(SID).messages[body["sid"]]
    assert stored.media_urls == ["https://example.com/a.png", "https://example.com/b.gif"]


@pytest.mark.parametrize(
    ("form", "http_status", "code", "message", "off_spec"),
    [
        ([("From", FROM), ("Body", "x")], 400, 21604, "A 'To' phone number is required.", True),
        ([("To", "+15551230001"), ("Body", "x")], 400, 21603, "A 'From' phone number is required.", True),
        ([("To", "+15551230001"), ("From", FROM)], 400, 21602, "Message body is required.", True),
        (sms(to="12345"), 400, 21211, "Invalid 'To' Phone Number: 12345", False),
        (sms(to="+0123"), 400, 21211, None, False),
        (sms(From="+0123"), 400, 21212, "Invalid 'From' Phone Number: +0123", False),
        (sms(From="TooLongSender1"), 400, 21212, None, False),
        (sms(From="+15005550001"), 400, 21212, None, False),
        (sms(From="+15005550007"), 400, 21606, None, False),
        (sms(From="+15005550008"), 400, 21611, None, False),
        (sms(to="+15005550001"), 400, 21211, None, False),
        (sms(to="+15005550002"), 400, 21612, None, False),
        (sms(to="+15005550003"), 400, 21408, None, False),
        (sms(to="+15005550004"), 400, 21610, None, False),
        (sms(to="+15005550009"), 400, 21614, None, False),
        (sms(to=FROM), 400, 21266, None, False),
        (sms(to="whatsapp:+15551230001"), 400, 21910, None, False),
        (sms(body="x" * 1601), 400, 21617, None, False),
        (sms() + [("MediaUrl", f"https://example.com/{i}.png") for i in range(11)], 400, 21623, None, False),
        (sms() + [("MediaUrl", "ftp://example.com/a.png")], 400, 21620, None, False),
        (sms(StatusCallback="not a url"), 400, 21609, None, True),
        (sms(StatusCallback="http://bad_host.example/cb"), 400, 21609, None, False),
        (sms(ValidityPeriod="0"), 400, 21624, None, False),
        (sms(ValidityPeriod="36001"), 400, 21624, None, False),
        (sms(ValidityPeriod="soon"), 400, 21624, None, True),
        (sms(Attempt="x"), 400, 20001, None, True),
        (sms(ProvideFeedback="yes"), 400, 20001, None, True),
        (sms(ScheduleType="fixed", MessagingServiceSid=MG), 400, 35111, None, False),
        (sms(ScheduleType="fixed", SendAt="2099-01-01T00:00:00Z"), 400, 35118, None, False),
        (
            sms(ScheduleType="fixed", SendAt="2020-01-01T00:00:00Z", MessagingServiceSid=MG),
            400,
            35114,
            None,
            False,
        ),
        (sms(to="+15005550010"), 429, 20429, "Too Many Requests", False),
    ],
)
async def test_create_errors(
    http: TestClient,
    form: list[tuple[str, str]],
    http_status: int,
    code: int,
    message: str | None,
    off_spec: bool,
) -> None:
    status, body = await api(http, "POST", "Messages.json", form=form, headers=OFF_SPEC if off_spec else None)
    assert_error(status, body, http_status, code, message)


@pytest.mark.parametrize(
    "extra",
    [
        {"From": "+442033229574"},  # any E.164 sender, e.g. the WSO2 sample's
        {"From": "MyCompany"},  # alphanumeric sender ID
        {"From": "My Co 2"},
        {"From": "12345"},  # short code
        {"ValidityPeriod": "36000", "ProvideFeedback": "true", "MaxPrice": "0.5", "Attempt": "2"},
        {"ApplicationSid": "AP2a0747eba6abf96b7e3c3ff0b4530f6e"},
    ],
)
async def test_create_accepts_real_world_senders(http: TestClient, extra: dict[str, str]) -> None:
    status, body = await api(http, "POST", "Messages.json", form=sms(to="+447891063180", **extra))
    assert status == 201, body
    assert body["from"] == extra.get("From", FROM)


async def test_create_whatsapp_pair(http: TestClient) -> None:
    form = [("To", "whatsapp:+15551230001"), ("From", "whatsapp:+15005550006"), ("Body", "hi")]
    status, body = await api(http, "POST", "Messages.json", form=form)
    assert (status, body["to"]) == (201, "whatsapp:+15551230001")


async def test_create_with_messaging_service_only(http: TestClient, sandbox: TestServer) -> None:
    form = [("To", "+15551230001"), ("MessagingServiceSid", MG), ("Body", "hi")]
    status, body = await api(http, "POST", "Messages.json", form=form)
    assert status == 201
    assert (body["status"], body["from"], body["num_segments"]) == ("accepted", None, "0")
    assert body["messaging_service_sid"] == MG
    await state_of(sandbox).settle()
    _, fetched = await api(http, "GET", f"Messages/{body['sid']}.json")
    assert (fetched["status"], fetched["from"], fetched["num_segments"]) == ("delivered", FROM, "1")


async def test_create_scheduled_then_cancel(http: TestClient, sandbox: TestServer, receiver: Receiver) -> None:
    send_at = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    form = [
        ("To", "+15551230001"),
        ("MessagingServiceSid", MG),
        ("Body", "later"),
        ("ScheduleType", "fixed"),
        ("SendAt", send_at),
        ("StatusCallback", receiver.url()),
    ]
    status, body = await api(http, "POST", "Messages.json", form=form)
    assert (status, body["status"], body["date_sent"]) == (201, "scheduled", None)
    await state_of(sandbox).settle()  # the scheduled timer is excluded and keeps waiting
    assert state_of(sandbox).pending_tasks == 1
    status, body = await api(http, "POST", f"Messages/{body['sid']}.json", form=[("Status", "canceled")])
    assert (status, body["status"]) == (200, "canceled")
    await state_of(sandbox).settle()
    assert state_of(sandbox).pending_tasks == 0
    assert [hit["form"]["MessageStatus"] for hit in receiver.hits] == ["canceled"]


# ---------------------------------------------------------------------------------------------
# Auth
# ---------------------------------------------------------------------------------------------
async def test_bad_token_is_20003(http: TestClient) -> None:
    async with http.get(
        f"/2010-04-01/Accounts/{SID}/Messages.json", headers={"Authorization": basic(SID, "wrong")}
    ) as resp:
        body = await resp.json()
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'
    assert_error(resp.status, body, 401, 20003, "Authenticate")


async def test_missing_auth_is_20003(http: TestClient) -> None:
    status, body = await api(http, "POST", "Messages.json", form=sms(), auth=None, headers=OFF_SPEC)
    assert_error(status, body, 401, 20003)


async def test_credentials_of_another_account_are_rejected(make_sandbox: SandboxFactory, aiohttp_client: Any) -> None:
    server = await make_sandbox(accounts={SID: TOKEN, OTHER_SID: OTHER_TOKEN})
    client = await aiohttp_client(server)
    status, body = await api(client, "GET", "Messages.json", account=OTHER_SID, auth=(SID, TOKEN))
    assert_error(status, body, 401, 20003)
    status, _ = await api(client, "GET", "Messages.json", account=OTHER_SID, auth=(OTHER_SID, OTHER_TOKEN))
    assert status == 200


async def test_sdk_bad_auth(sandbox: TestServer) -> None:
    client = sdk_client(sandbox, SID, "wrong")
    try:
        with pytest.raises(TwilioRestException) as info:
            await client.messages.create_async(to="+15551230001", from_=FROM, body="x")
        assert (info.value.status, info.value.code) == (401, 20003)
        with pytest.raises(TwilioException, match="Unable to fetch page"):
            await client.messages.list_async(limit=1)
    finally:
        await client.http_client.close()  # type: ignore[attr-defined]


async def test_api_key_auth(make_sandbox: SandboxFactory, aiohttp_client: Any) -> None:
    key_sid = "SK" + "c" * 32
    server = await make_sandbox(accounts={SID: TOKEN, OTHER_SID: OTHER_TOKEN}, api_keys={key_sid: (SID, "key-secret")})
    client = sdk_client(server, key_sid, "key-secret", account_sid=SID)
    try:
        message = await client.messages.create_async(to="+15551230001", from_=FROM, body="via key")
        assert message.account_sid == SID
        assert state_of(server).requests[-1]["auth_user"] == key_sid
    finally:
        await client.http_client.close()  # type: ignore[attr-defined]
    raw = await aiohttp_client(server)
    status, body = await api(raw, "GET", "Messages.json", account=OTHER_SID, auth=(key_sid, "key-secret"))
    assert_error(status, body, 401, 20003)
    status, body = await api(raw, "GET", "Messages.json", auth=(key_sid, "wrong"))
    assert_error(status, body, 401, 20003)


async def test_bundled_api_key_works(http: TestClient) -> None:
    status, _ = await api(http, "POST", "Messages.json", form=sms(), auth=(KEY.sid, KEY.secret))
    assert status == 201


# ---------------------------------------------------------------------------------------------
# List and paging
# ---------------------------------------------------------------------------------------------
async def _seed_dated(http: TestClient, sandbox: TestServer) -> list[str]:
    """Three delivered messages sent on 2024-01-01/02/03 (newest last) + one not yet sent."""
    sids = []
    for i in range(4):
        _, body = await api(http, "POST", "Messages.json", form=sms(to=f"+1555123000{i}", From=f"+1555999000{i % 2}"))
        sids.append(body["sid"])
    state = state_of(sandbox)
    await state.settle()
    messages = state.store.account(SID).messages
    for day, sid in enumerate(sids[:3], start=1):
        messages[sid].date_sent = datetime(2024, 1, day, 10, 30, tzinfo=UTC)
    messages[sids[3]].date_sent = None
    return sids


async def test_list_filters(http: TestClient, sandbox: TestServer) -> None:
    m1, m2, m3, m4 = await _seed_dated(http, sandbox)

    async def sids(query: list[tuple[str, str]]) -> list[str]:
        status, body = await api(http, "GET", "Messages.json", query=query)
        assert status == 200, body
        return [m["sid"] for m in body["messages"]]

    assert await sids([]) == [m4, m3, m2, m1]  # newest first
    assert await sids([("To", "+15551230002")]) == [m3]
    assert await sids([("From", "+15559990001")]) == [m4, m2]
    assert await sids([("DateSent", "2024-01-02")]) == [m2]
    assert await sids([("DateSent<", "2024-01-02")]) == [m2, m1]  # on or before
    assert await sids([("DateSent>", "2024-01-02")]) == [m3, m2]  # on or after
    assert await sids([("DateSent>", "2024-01-02"), ("DateSent<", "2024-01-02")]) == [m2]
    assert await sids([("DateSent", "<=2024-01-01")]) == [m1]
    assert await sids([("DateSent>", "2024-01-04")]) == []
    assert await sids([("From", "+15559990000"), ("DateSent<", "2024-01-03")]) == [m3, m1]
    raw_paths = [r["raw_path"] for r in state_of(sandbox).requests if r["method"] == "GET"]
    assert any("DateSent%3C=2024-01-02" in p for p in raw_paths)
    assert any("To=%2B15551230002" in p for p in raw_paths)


async def test_list_filters_via_sdk(twilio: Client, http: TestClient, sandbox: TestServer) -> None:
    m1, m2, m3, _ = await _seed_dated(http, sandbox)
    found = await twilio.messages.list_async(to="+15551230001", limit=20)
    assert [m.sid for m in found] == [m2]
    found = await twilio.messages.list_async(date_sent_before=datetime(2024, 1, 2, tzinfo=UTC), limit=20)
    assert [m.sid for m in found] == [m2, m1]
    found = await twilio.messages.list_async(date_sent_after=date(2024, 1, 2), from_="+15559990000")
    assert [m.sid for m in found] == [m3]
    found = await twilio.messages.list_async(date_sent=datetime(2024, 1, 3, 8, 0, tzinfo=UTC))
    assert [m.sid for m in found] == [m3]
    requests = [r for r in state_of(sandbox).requests if r["method"] == "GET"]
    assert "To=%2B15551230001" in requests[0]["raw_path"]
    assert ["DateSent<", "2024-01-02T00:00:00Z"] in requests[1]["query"]
    # The SDK sends a form Content-Type on GET with no body; that must just work.
    assert requests[0]["content_type"] == "application/x-www-form-urlencoded"
    assert requests[0]["form"] == []


async def test_list_invalid_filters(http: TestClient) -> None:
    status, body = await api(http, "GET", "Messages.json", query=[("DateSent", "yesterday")], headers=OFF_SPEC)
    assert_error(status, body, 400, 20001)
    status, body = await api(http, "GET", "Messages.json", query=[("PageSize", "0")], headers=OFF_SPEC)
    assert_error(status, body, 400, 20001)
    status, body = await api(http, "GET", "Messages.json", query=[("PageSize", "1001")], headers=OFF_SPEC)
    assert_error(status, body, 400, 20001)


async def test_paging_envelope(http: TestClient) -> None:
    created = [(await api(http, "POST", "Messages.json", form=sms(body=str(i))))[1]["sid"] for i in range(7)]
    newest_first = created[::-1]
    status, page0 = await api(http, "GET", "Messages.json", query=[("To", "+15551230001"), ("PageSize", "3")])
    assert status == 200
    assert [m["sid"] for m in page0["messages"]] == newest_first[:3]
    assert (page0["page"], page0["page_size"], page0["start"], page0["end"]) == (0, 3, 0, 2)
    assert page0["previous_page_uri"] is None
    assert page0["uri"] == f"/2010-04-01/Accounts/{SID}/Messages.json?To=%2B15551230001&PageSize=3&Page=0"
    assert page0["first_page_uri"] == page0["uri"]
    assert page0["next_page_uri"].endswith(f"&Page=1&PageToken=PA{newest_first[2]}")

    seen = [m["sid"] for m in page0["messages"]]
    next_uri = page0["next_page_uri"]
    pages = [page0]
    while next_uri:
        assert len(pages) < 5, "paging does not terminate"
        async with http.get(next_uri, headers={"Authorization": basic(SID, TOKEN)}) as resp:
            assert resp.status == 200
            page = await resp.json()
        pages.append(page)
        seen += [m["sid"] for m in page["messages"]]
        next_uri = page["next_page_uri"]
    assert seen == newest_first
    last = pages[-1]
    assert (last["page"], last["start"], last["end"], len(last["messages"])) == (2, 6, 6, 1)
    assert last["previous_page_uri"] is not None
    # Page without a token falls back to offsets.
    _, offset_page = await api(http, "GET", "Messages.json", query=[("PageSize", "3"), ("Page", "1")])
    assert [m["sid"] for m in offset_page["messages"]] == newest_first[3:6]


async def test_sdk_pages_through_results(twilio: Client, sandbox: TestServer) -> None:
    created = [(await twilio.messages.create_async(to="+15551230001", from_=FROM, body=f"n{i}")).sid for i in range(7)]
    state_of(sandbox).requests.clear()
    limited = await twilio.messages.list_async(limit=5, page_size=3)
    assert [m.sid for m in limited] == created[::-1][:5]
    async with asyncio.timeout(5):  # without a limit, a never-null next_page_uri would loop forever
        everything = await twilio.messages.list_async(page_size=3)
        streamed = [m.sid async for m in await twilio.messages.stream_async(page_size=2)]
    assert [m.sid for m in everything] == created[::-1]
    assert streamed == created[::-1]
    gets = [r for r in state_of(sandbox).requests if r["method"] == "GET"]
    assert len(gets) == 2 + 3 + 4
    assert ["PageSize", "3"] in gets[1]["query"] and any(k == "PageToken" for k, _ in gets[1]["query"])


# ---------------------------------------------------------------------------------------------
# Fetch, update, delete
# ---------------------------------------------------------------------------------------------
async def test_fetch_known_and_unknown(http: TestClient, twilio: Client) -> None:
    _, created = await api(http, "POST", "Messages.json", form=sms())
    status, fetched = await api(http, "GET", f"Messages/{created['sid']}.json")
    assert (status, fetched["sid"], fetched["body"]) == (200, created["sid"], "hello")
    via_sdk = await twilio.messages(created["sid"]).fetch_async()
    assert (via_sdk.sid, via_sdk.num_segments, via_sdk.to) == (created["sid"], "1", "+15551230001")
    assert via_sdk.date_created.tzinfo is not None

    unknown = "SM" + "0" * 32
    status, body = await api(http, "GET", f"Messages/{unknown}.json")
    path = f"/2010-04-01/Accounts/{SID}/Messages/{unknown}.json"
    assert_error(status, body, 404, 20404, f"The requested resource {path} was not found")
    with pytest.raises(TwilioRestException) as info:
        await twilio.messages(unknown).fetch_async()
    assert (info.value.status, info.value.code) == (404, 20404)
    status, body = await api(http, "GET", "Messages/not-a-sid.json", headers=OFF_SPEC)
    assert_error(status, body, 404, 20404)


async def test_update_redacts_body(twilio: Client, sandbox: TestServer) -> None:
    message = await twilio.messages.create_async(to="+15551230001", from_=FROM, body="secret code 1234")
    redacted = await twilio.messages(message.sid).update_async(body="")
    assert redacted.body == ""
    assert (await twilio.messages(message.sid).fetch_async()).body == ""
    assert ["Body", ""] in state_of(sandbox).requests[-2]["form"]


async def test_update_rejections(http: TestClient, twilio: Client) -> None:
    message = await twilio.messages.create_async(to="+15551230001", from_=FROM, body="x")
    with pytest.raises(TwilioRestException) as info:
        await twilio.messages(message.sid).update_async(status="canceled")
    assert (info.value.status, info.value.code) == (400, 30409)
    status, body = await api(http, "POST", f"Messages/{message.sid}.json", form=[("Body", "new text")])
    assert_error(status, body, 400, 20001)


async def test_delete(twilio: Client, sandbox: TestServer) -> None:
    message = await twilio.messages.create_async(to="+15551230001", from_=FROM, body="x")
    await state_of(sandbox).settle()
    assert await twilio.messages(message.sid).delete_async() is True
    assert state_of(sandbox).requests[-1]["status"] == 204
    with pytest.raises(TwilioRestException) as info:
        await twilio.messages(message.sid).fetch_async()
    assert info.value.status == 404
    with pytest.raises(TwilioRestException) as info:
        await twilio.messages(message.sid).delete_async()
    assert info.value.code == 20404


async def test_delete_in_flight_is_refused(make_sandbox: SandboxFactory, aiohttp_client: Any) -> None:
    server = await make_sandbox(status_delays=(30, 30))
    client = await aiohttp_client(server)
    _, created = await api(client, "POST", "Messages.json", form=sms())
    status, body = await api(client, "DELETE", f"Messages/{created['sid']}.json")
    assert_error(status, body, 400, 20009)


# ---------------------------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------------------------
async def test_calls_create_and_fetch(twilio: Client, http: TestClient) -> None:
    call = await twilio.calls.create_async(
        to="+15551230001",
        from_=FROM,
        url="http://demo.twilio.com/docs/voice.xml",
        status_callback_event=["initiated", "answered"],
    )
    assert re.match(r"^CA[0-9a-f]{32}$", call.sid)
    assert (call.status, call.to, call.direction) == ("queued", "+15551230001", "outbound-api")
    fetched = await twilio.calls(call.sid).fetch_async()
    assert fetched.sid == call.sid
    twiml_call = await twilio.calls.create_async(
        to="client:alice", from_=FROM, twiml="<Response><Say>Hi</Say></Response>"
    )
    assert twiml_call.to == "client:alice"
    listed = await twilio.calls.list_async(limit=10)
    assert [c.sid for c in listed] == [twiml_call.sid, call.sid]


async def test_calls_errors(http: TestClient) -> None:
    base = [("To", "+15551230001"), ("From", FROM)]
    status, body = await api(http, "POST", "Calls.json", form=base, headers=OFF_SPEC)
    assert_error(status, body, 400, 21205, "Url parameter is required.")
    status, body = await api(
        http, "POST", "Calls.json", form=[("From", FROM), ("Url", "http://x.test/a")], headers=OFF_SPEC
    )
    assert_error(status, body, 400, 21201)
    status, body = await api(
        http, "POST", "Calls.json", form=[("To", "12"), ("From", FROM), ("Url", "http://x.test/a")]
    )
    assert_error(status, body, 400, 21211)
    form = [*base, ("Url", "http://x.test/a"), ("StatusCallbackEvent", "exploded")]
    status, body = await api(http, "POST", "Calls.json", form=form)
    assert_error(status, body, 400, 21626)


# ---------------------------------------------------------------------------------------------
# Status progression and signed callbacks
# ---------------------------------------------------------------------------------------------
async def test_status_progression_with_signed_callbacks(
    twilio: Client, sandbox: TestServer, receiver: Receiver
) -> None:
    url = receiver.url("/status?tenant=a%20b")
    message = await twilio.messages.create_async(to="+15551230001", from_=FROM, body="hi", status_callback=url)
    assert message.status == "queued" and message.date_sent is None
    await state_of(sandbox).settle()

    assert [hit["form"]["MessageStatus"] for hit in receiver.hits] == ["sent", "delivered"]
    validator = RequestValidator(TOKEN)
    for hit in receiver.hits:
        form, signature = hit["form"], hit["headers"]["X-Twilio-Signature"]
        assert hit["url"] == url
        assert validator.validate(url, form, signature)
        assert not RequestValidator("not-the-token").validate(url, form, signature)
        assert signature == compute_signature(TOKEN, url, list(form.items()))
        assert form["MessageSid"] == form["SmsSid"] == message.sid
        assert (form["AccountSid"], form["From"], form["To"], form["ApiVersion"]) == (
            SID,
            FROM,
            "+15551230001",
            "2010-04-01",
        )
        assert form["SmsStatus"] == form["MessageStatus"]
        assert "ErrorCode" not in form
    tampered = MultiDict(receiver.hits[0]["form"])
    tampered["MessageStatus"] = "failed"
    assert not validator.validate(url, tampered, receiver.hits[0]["headers"]["X-Twilio-Signature"])

    done = await twilio.messages(message.sid).fetch_async()
    assert done.status == "delivered"
    assert done.date_sent is not None and done.price == "-0.00790" and done.price_unit == "USD"
    recorded = state_of(sandbox).callbacks
    assert [(c.resource_status, c.attempted, c.response_status) for c in recorded] == [
        ("sent", True, 200),
        ("delivered", True, 200),
    ]


async def test_failed_delivery_reports_error_code(twilio: Client, sandbox: TestServer, receiver: Receiver) -> None:
    message = await twilio.messages.create_async(
        to="+15005550011", from_=FROM, body="hi", status_callback=receiver.url()
    )
    await state_of(sandbox).settle()
    forms = [hit["form"] for hit in receiver.hits]
    assert [f["MessageStatus"] for f in forms] == ["sent", "undelivered"]
    assert forms[1]["ErrorCode"] == "30003" and "ErrorCode" not in forms[0]
    fetched = await twilio.messages(message.sid).fetch_async()
    assert (fetched.status, fetched.error_code, fetched.error_message) == (
        "undelivered",
        30003,
        "Unreachable destination handset",
    )
    failed = await twilio.messages.create_async(to="+15005550012", from_=FROM, body="x", status_callback=receiver.url())
    await state_of(sandbox).settle()
    assert receiver.hits[-1]["form"]["MessageStatus"] == "failed"
    assert (await twilio.messages(failed.sid).fetch_async()).error_code == 30008


async def test_callbacks_never_leave_the_machine_and_failures_are_recorded(
    http: TestClient, sandbox: TestServer, receiver: Receiver, unused_tcp_port: int
) -> None:
    targets = [
        "http://demo.twilio.com/docs/statuscallback.xml",  # the WSO2 sample's URL: must be skipped
        f"http://127.0.0.1:{unused_tcp_port}/closed",  # connection refused
        receiver.url("/cb?reply=500"),  # receiver error
    ]
    for target in targets:
        status, _ = await api(http, "POST", "Messages.json", form=sms(StatusCallback=target))
        assert status == 201
    await state_of(sandbox).settle()
    by_url = {t: [c for c in state_of(sandbox).callbacks if c.url == t] for t in targets}
    remote = by_url[targets[0]]
    assert len(remote) == 2 and all(not c.attempted and c.skipped for c in remote)
    refused = by_url[targets[1]]
    assert all(c.attempted and c.error and c.response_status is None for c in refused)
    assert [c.response_status for c in by_url[targets[2]]] == [500, 500]
    async with http.get("/_sandbox/callbacks") as resp:
        listed = await resp.json()
    assert {c["url"] for c in listed} == set(targets)
    assert all("signature" in c and c["form"] for c in listed)
    # The sandbox is still healthy.
    status, _ = await api(http, "GET", "Messages.json")
    assert status == 200


# ---------------------------------------------------------------------------------------------
# Delays, rate limiting, inspection API, routing
# ---------------------------------------------------------------------------------------------
async def test_runtime_response_delay(http: TestClient, twilio: Client) -> None:
    async with http.post("/_sandbox/config", json={"response_delay": 0.3}) as resp:
        assert (await resp.json())["response_delay"] == 0.3
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await twilio.messages.list_async(limit=1)
    async with http.post("/_sandbox/config", json={"response_delay": 0}) as resp:
        assert resp.status == 200
    started = time.perf_counter()
    await api(http, "GET", "Messages.json", headers={"X-Sandbox-Delay": "0.2"})
    assert time.perf_counter() - started >= 0.2
    async with http.post("/_sandbox/config", json={"response_delay": -1}) as resp:
        assert resp.status == 400
    async with http.post("/_sandbox/config", json={"bogus": 1}) as resp:
        assert resp.status == 400 and "bogus" in (await resp.json())["error"]


async def test_rate_limit_toggle(http: TestClient, twilio: Client) -> None:
    async with http.post("/_sandbox/config", json={"rate_limit_next": 1}) as resp:
        assert resp.status == 200
    with pytest.raises(TwilioRestException) as info:
        await twilio.messages.create_async(to="+15551230001", from_=FROM, body="x")
    assert (info.value.status, info.value.code) == (429, 20429)
    assert (await twilio.messages.create_async(to="+15551230001", from_=FROM, body="x")).status == "queued"
    async with http.post("/_sandbox/config", json={"rate_limit": True}) as resp:
        assert (await resp.json())["rate_limit"] is True
    status, body = await api(http, "GET", "Messages.json")
    assert_error(status, body, 429, 20429)


async def test_inspection_api(http: TestClient, sandbox: TestServer) -> None:
    form = sms() + [("MediaUrl", "https://example.com/a.png"), ("MediaUrl", "https://example.com/b.png")]
    await api(http, "POST", "Messages.json", form=form)
    await api(http, "GET", "Messages.json", query=[("To", "+15551230001")])
    async with http.get("/_sandbox/requests") as resp:
        recorded = await resp.json()
    assert [r["method"] for r in recorded] == ["POST", "GET"]
    post = recorded[0]
    assert post["headers"]["Authorization"] == f"Basic {SID}:***"
    assert TOKEN not in json.dumps(recorded)
    assert [pair for pair in post["form"] if pair[0] == "MediaUrl"] == [
        ["MediaUrl", "https://example.com/a.png"],
        ["MediaUrl", "https://example.com/b.png"],
    ]
    assert recorded[1]["query"] == [["To", "+15551230001"]]
    assert (post["status"], post["account_sid"], post["auth_user"]) == (201, SID, SID)
    assert state_of(sandbox).requests == recorded
    async with http.delete("/_sandbox/requests") as resp:
        assert resp.status == 204
    async with http.get("/_sandbox/requests") as resp:
        assert await resp.json() == []
    async with http.get("/_sandbox") as resp:
        index = await resp.json()
    assert (index["default_account_sid"], index["default_auth_token"]) == (SID, TOKEN)
    async with http.get("/_sandbox/messages") as resp:
        assert len(await resp.json()) == 1
    async with http.post("/_sandbox/reset") as resp:
        assert resp.status == 204
    assert state_of(sandbox).store.all_messages() == []


async def test_unknown_paths_and_methods(http: TestClient) -> None:
    status, body = await api(http, "GET", "Messages", headers=OFF_SPEC)  # .json is required
    assert_error(status, body, 404, 20404, f"The requested resource /2010-04-01/Accounts/{SID}/Messages was not found")
    status, body = await api(http, "GET", "Nope.json", headers=OFF_SPEC)
    assert_error(status, body, 404, 20404)
    status, body = await api(http, "PUT", "Messages.json", form=sms(), headers=OFF_SPEC)
    assert_error(status, body, 405, 20004)
    async with http.get("/somewhere/else") as resp:
        assert_error(resp.status, await resp.json(), 404, 20404)


# ---------------------------------------------------------------------------------------------
# Lifecycle, configuration, CLI
# ---------------------------------------------------------------------------------------------
async def test_cleanup_cancels_timers(make_sandbox: SandboxFactory, aiohttp_client: Any) -> None:
    server = await make_sandbox(status_delays=(30, 30))
    client = await aiohttp_client(server)
    await api(client, "POST", "Messages.json", form=sms())
    state = state_of(server)
    assert state.pending_tasks == 1 and state.session is not None
    await client.close()
    await server.close()
    assert state.pending_tasks == 0 and state.session is None


def test_accounts_from_yaml(tmp_path: Path) -> None:
    config = tmp_path / "accounts.yaml"
    config.write_text(
        f"accounts:\n  - sid: {OTHER_SID}\n    auth_token: t0k\n    api_keys:\n"
        f"      - sid: SK{'d' * 32}\n        secret: s3cret\n"
    )
    accounts = load_accounts(config)
    assert (accounts.default_sid, accounts.default_token) == (OTHER_SID, "t0k")
    assert accounts.authenticate(basic(f"SK{'d' * 32}", "s3cret"), OTHER_SID) == f"SK{'d' * 32}"
    assert accounts.authenticate(basic(OTHER_SID, "t0k"), SID) is None
    app = create_app(config_path=str(config))
    assert set(app[SANDBOX_STATE].accounts.tokens) == {OTHER_SID}
    (tmp_path / "bad.yaml").write_text("accounts:\n  - sid: ACnothex\n    auth_token: x\n")
    with pytest.raises(ValueError, match="does not match"):
        load_accounts(tmp_path / "bad.yaml")


def test_cli_parser() -> None:
    args = build_parser().parse_args(["--port", "9000", "--status-delays", "0.1,0.2"])
    assert (args.host, args.port, args.status_delays) == ("127.0.0.1", 9000, (0.1, 0.2))
    assert build_parser().parse_args([]).port == 8299
    assert main(["--config", "/nonexistent/accounts.yaml", "--port", "0"]) == 1


async def test_run_prints_default_account(capsys: pytest.CaptureFixture[str]) -> None:
    started = asyncio.Event()
    task = asyncio.create_task(run("127.0.0.1", 0, started=started, status_delays=FAST))
    await asyncio.wait_for(started.wait(), 5)
    banner = capsys.readouterr().out
    match = re.search(r"Twilio sandbox on (http://127\.0\.0\.1:\d+) — test account (AC\w+) / token (\w+)", banner)
    assert match and match.group(2, 3) == (SID, TOKEN)
    client = Client(SID, TOKEN, http_client=AsyncTwilioHttpClient(), environment={"_": ""})
    client.api.base_url = match.group(1)
    path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    try:
        # The SDK's raw escape hatch: authenticated like any SDK call, and the body stays raw.
        form = {"To": "+15551230001", "From": FROM, "Body": "hello"}
        response = await client.request_async("POST", match.group(1) + path, data=form)
        validate_response("POST", path, response.status_code, response.text)
        assert json.loads(response.text)["status"] == "queued"
        recorded = await client.request_async("GET", match.group(1) + "/_sandbox/requests")
        (received,) = json.loads(recorded.text)
        validate_request(received["method"], received["path"], received["query"], received["form"])
        assert received["headers"]["Authorization"] == f"Basic {SID}:***"
    finally:
        await client.http_client.close()  # type: ignore[attr-defined]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# ---------------------------------------------------------------------------------------------
# The contract helpers themselves
# ---------------------------------------------------------------------------------------------
async def test_openapi_helpers_catch_violations(http: TestClient) -> None:
    _, good = await api(http, "POST", "Messages.json", form=sms())
    path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    validate_response("POST", path, 201, good)
    for mutate, expected in [
        (lambda m: m.update(num_segments=1), "num_segments"),
        (lambda m: m.pop("price"), "missing keys ['price']"),
        (lambda m: m.update(extra=True), "undocumented keys ['extra']"),
        (lambda m: m.update(date_created="2024-01-01T00:00:00Z"), "date-time-rfc-2822"),
        (lambda m: m.update(sid="XX" + "0" * 32), "sid"),
        (lambda m: m.update(status="teleported"), "status"),
    ]:
        bad = dict(good)
        mutate(bad)
        with pytest.raises(AssertionError, match=re.escape(expected)):
            validate_response("POST", path, 201, bad)
    with pytest.raises(AssertionError, match="status field"):
        validate_response(
            "POST",
            path,
            400,
            {"code": 1, "message": "m", "more_info": "https://www.twilio.com/docs/errors/1", "status": 401},
        )
    with pytest.raises(AssertionError, match="missing keys"):
        validate_response("POST", path, 404, {"code": 20404, "message": "gone"})
    validate_request(
        "POST",
        path,
        None,
        MultiDict(sms() + [("MediaUrl", "https://a.test/1"), ("MediaUrl", "https://a.test/2")]),
    )
    validate_request("POST", path, None, sms() + [("MediaUrl", "https://a.test/1")])
    with pytest.raises(AssertionError, match="'StatusCallbackUrl' is not defined"):
        validate_request("POST", path, None, sms(StatusCallbackUrl="http://x.test/cb"))
    with pytest.raises(AssertionError, match="phone-number"):
        validate_request("POST", path, None, sms(to=" 15551230001"))  # an unencoded '+'
    with pytest.raises(AssertionError, match="ValidityPeriod|integer"):
        validate_request("POST", path, None, sms(ValidityPeriod="ten"))
    with pytest.raises(AssertionError, match="Basic Authorization"):
        validate_request("GET", path, headers={})
    with pytest.raises(AssertionError, match="sent 2 times but is not an array"):
        validate_request("POST", path, None, sms() + [("Body", "again")])
    with pytest.raises(AssertionError, match="true/false"):
        validate_request("POST", path, None, sms(ProvideFeedback="yes"))
    with pytest.raises(AssertionError, match="'dateSent' is not defined"):
        validate_request("GET", path + "?dateSent=2024-01-01")
    with pytest.raises(AssertionError, match="must be application/x-www-form-urlencoded"):
        validate_request("POST", path, None, sms(), content_type="application/json")
    decoded = validate_request("GET", path + "?PageSize=20&To=%2B15551230001")
    assert decoded["query"] == {"PageSize": 20, "To": "+15551230001"}
    assert decoded["path"] == {"AccountSid": SID}
    validate_request("GET", path + "?DateSent%3C=2024-01-02&To=%2B15551230001&PageSize=20")
    with pytest.raises(AssertionError, match="DateSent"):
        validate_request("GET", path + "?DateSent=02/01/2024")
