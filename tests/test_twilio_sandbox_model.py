"""The sandbox's accounts, numbers, recordings, call progression, throughput/queueing, trial rules and
national numbers, over real HTTP on loopback with the twilio SDK and raw requests. A contract middleware
checks every exchange against Twilio's OpenAPI spec (tests/support/twilio_openapi.py)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict
from synapse_gateway_connectors.twilio_rest.sandbox import SANDBOX_STATE, SandboxState, create_app, load_accounts
from synapse_gateway_connectors.twilio_rest.sandbox.countries import to_e164
from synapse_gateway_connectors.twilio_rest.sandbox.throughput import rate
from synapse_gateway_connectors.twilio_rest.sandbox.trial import TRIAL_PREFIX
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.support.twilio_openapi import SpecContract, attach_contract

DEFAULTS = load_accounts()
SID = DEFAULTS.default_sid or ""
TOKEN = DEFAULTS.default_token or ""
TRIAL_SID, TRIAL_TOKEN = "AC7a1e5c0d2b9f4e6a8c1d3e5f7a9b0c2d", "5e3b1c9d7f2a4e6b8c0d2f4a6b8c0e1f"
TRIAL_NUMBER, TRIAL_VERIFIED = "+18005550100", "+15551230001"
POOL = "MG9752274e9e519418a7406176694466fa"  # two senders in the bundled accounts.yaml
FROM = "+15005550006"
FAST = (0.01, 0.01)

SandboxFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def make_sandbox(aiohttp_server: Any) -> AsyncIterator[SandboxFactory]:
    contracts: list[SpecContract] = []

    async def factory(**options: Any) -> TestServer:
        options.setdefault("status_delays", FAST)
        options.setdefault("time_scale", 1000.0)
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


@pytest.fixture
async def clients(sandbox: TestServer) -> AsyncIterator[Callable[[str, str], Client]]:
    made: list[Client] = []

    def make(username: str = SID, password: str = TOKEN) -> Client:
        client = Client(username, password, http_client=AsyncTwilioHttpClient(), environment={"_": ""})
        client.api.base_url = str(sandbox.make_url("/")).rstrip("/")
        made.append(client)
        return client

    yield make
    for client in made:
        await client.http_client.close()  # type: ignore[attr-defined]


@pytest.fixture
async def twilio(clients: Callable[..., Client]) -> Client:
    return clients()


class Receiver:
    def __init__(self, server: TestServer, hits: list[dict[str, Any]]) -> None:
        self.server, self.hits = server, hits

    def url(self, path: str = "/status") -> str:
        return str(self.server.make_url(path))


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    hits: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        form = MultiDict((k, v) for k, v in (await request.post()).items() if isinstance(v, str))
        hits.append({"url": str(request.url), "form": form, "signature": request.headers.get("X-Twilio-Signature")})
        return web.Response()

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    return Receiver(await aiohttp_server(app), hits)


async def api(
    client: TestClient,
    method: str,
    path: str,
    form: Iterable[tuple[str, str]] | None = None,
    auth: tuple[str, str] = (SID, TOKEN),
) -> tuple[int, Any]:
    """A raw call; `path` is relative to /2010-04-01/ (an account path names its account)."""
    headers = {"Authorization": "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()}
    data = None
    if form is not None:
        data = urlencode(list(form))
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    async with client.request(method, f"/2010-04-01/{path}", data=data, headers=headers) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


def sent_at(message: Any) -> float:
    return parsedate_to_datetime(message["date_sent"]).timestamp()


# -- Accounts ----------------------------------------------------------------------------------
async def test_subaccounts_lifecycle(twilio: Client, clients: Callable[..., Client], http: TestClient) -> None:
    sub = await twilio.api.v2010.accounts.create_async(friendly_name="tenant-a")
    assert sub.sid.startswith("AC") and sub.owner_account_sid == SID and sub.status == "active"
    assert sub.type == "Full" and sub.auth_token
    fetched = await twilio.api.v2010.accounts(sub.sid).fetch_async()
    assert fetched.friendly_name == "tenant-a"
    listed = await twilio.api.v2010.accounts.list_async(friendly_name="tenant-a")
    assert [a.sid for a in listed] == [sub.sid]
    assert {a.sid for a in await twilio.api.v2010.accounts.list_async()} == {SID, sub.sid}

    # The subaccount's own credentials and its owner's both work for its resources; not another's.
    own = clients(sub.sid, sub.auth_token)
    sent = await own.messages.create_async(to="+15551230001", from_=FROM, body="from the sub")
    assert sent.account_sid == sub.sid
    by_owner = await twilio.api.v2010.accounts(sub.sid).messages(sent.sid).fetch_async()
    assert by_owner.body == "from the sub"
    status, body = await api(http, "GET", f"Accounts/{SID}/Messages.json", auth=(sub.sid, sub.auth_token))
    assert (status, body["code"]) == (401, 20003)
    assert [a.sid for a in await own.api.v2010.accounts.list_async()] == [sub.sid]

    suspended = await twilio.api.v2010.accounts(sub.sid).update_async(status="suspended", friendly_name="t-a")
    assert (suspended.status, suspended.friendly_name) == ("suspended", "t-a")
    status, body = await api(http, "GET", f"Accounts/{sub.sid}/Messages.json")
    assert (status, body["code"]) == (401, 20005)
    closed = await twilio.api.v2010.accounts(sub.sid).update_async(status="closed")
    assert closed.status == "closed"
    status, body = await api(http, "POST", f"Accounts/{sub.sid}.json", [("Status", "active")])
    assert (status, body["code"]) == (400, 20001)
    status, body = await api(http, "POST", f"Accounts/{SID}.json", [("Status", "suspended")])
    assert (status, body["code"]) == (400, 20001), "the main account cannot suspend itself"
    status, _ = await api(http, "GET", "Accounts.json", auth=(sub.sid, sub.auth_token))
    assert status == 401, "a closed account's credentials stop working"


# -- Phone numbers -----------------------------------------------------------------------------
async def test_available_numbers_and_purchase(twilio: Client, http: TestClient) -> None:
    local = await twilio.available_phone_numbers("US").local.list_async(area_code="415", contains="55", limit=5)
    assert len(local) == 5
    assert all(n.phone_number.startswith("+1415") and "55" in n.phone_number[2:] for n in local)
    assert local[0].locality == "San Francisco" and local[0].iso_country == "US"
    assert (
        local[0].friendly_name
        == f"({local[0].phone_number[2:5]}) {local[0].phone_number[5:8]}-{local[0].phone_number[8:]}"
    )
    toll_free = await twilio.available_phone_numbers("US").toll_free.list_async(limit=3)
    assert all(n.phone_number[2:5] in ("800", "833", "844", "855", "866", "877", "888") for n in toll_free)
    gb = await twilio.available_phone_numbers("GB").local.list_async(mms_enabled=True, limit=3)
    assert gb == [], "Twilio offers MMS on US/CA numbers only"
    assert await twilio.available_phone_numbers("US").local.list_async(area_code="533") == []
    status, body = await api(http, "GET", f"Accounts/{SID}/AvailablePhoneNumbers/XX/Local.json")
    assert (status, body["code"]) == (404, 20404)

    bought = await twilio.incoming_phone_numbers.create_async(
        phone_number=local[0].phone_number, friendly_name="support line", sms_url="https://example.test/sms"
    )
    assert bought.sid.startswith("PN") and bought.phone_number == local[0].phone_number
    assert (bought.friendly_name, bought.sms_url, bought.sms_method) == (
        "support line",
        "https://example.test/sms",
        "POST",
    )
    again = await twilio.available_phone_numbers("US").local.list_async(area_code="415", contains="55", limit=30)
    assert local[0].phone_number not in {n.phone_number for n in again}, "an owned number is not offered"
    with pytest.raises(TwilioRestException) as taken:
        await twilio.incoming_phone_numbers.create_async(phone_number=local[0].phone_number)
    assert taken.value.code == 21422
    for number, code in (("+15005550000", 21422), ("+15005550001", 21421)):
        with pytest.raises(TwilioRestException) as magic:
            await twilio.incoming_phone_numbers.create_async(phone_number=number)
        assert magic.value.code == code
    with pytest.raises(TwilioRestException) as none_found:
        await twilio.incoming_phone_numbers.create_async(area_code="533")
    assert none_found.value.code == 21452
    by_area = await twilio.incoming_phone_numbers.create_async(area_code="512")
    assert by_area.phone_number.startswith("+1512")

    updated = await twilio.incoming_phone_numbers(bought.sid).update_async(voice_url="https://example.test/voice")
    assert updated.voice_url == "https://example.test/voice" and updated.friendly_name == "support line"
    listed = await twilio.incoming_phone_numbers.list_async(phone_number=bought.phone_number[:6] + "*")
    assert bought.sid in [n.sid for n in listed] and by_area.sid not in [n.sid for n in listed]
    assert await twilio.incoming_phone_numbers(bought.sid).delete_async()
    with pytest.raises(TwilioRestException) as gone:
        await twilio.incoming_phone_numbers(bought.sid).fetch_async()
    assert gone.value.status == 404


async def test_verified_caller_ids(twilio: Client, sandbox: TestServer, receiver: Receiver) -> None:
    request = await twilio.validation_requests.create_async(
        phone_number="+15551239999", friendly_name="Ana", status_callback=receiver.url("/verified")
    )
    assert request.phone_number == "+15551239999" and len(request.validation_code) == 6
    await state_of(sandbox).settle()
    [hit] = receiver.hits
    assert hit["form"]["VerificationStatus"] == "success"
    assert RequestValidator(TOKEN).validate(hit["url"], hit["form"], hit["signature"])
    caller_ids = await twilio.outgoing_caller_ids.list_async(phone_number="+15551239999")
    assert [(c.sid, c.friendly_name) for c in caller_ids] == [(hit["form"]["OutgoingCallerIdSid"], "Ana")]
    renamed = await twilio.outgoing_caller_ids(caller_ids[0].sid).update_async(friendly_name="Ana M.")
    assert renamed.friendly_name == "Ana M."
    with pytest.raises(TwilioRestException) as twice:
        await twilio.validation_requests.create_async(phone_number="+15551239999")
    assert twice.value.code == 21450
    assert await twilio.outgoing_caller_ids(caller_ids[0].sid).delete_async()
    assert await twilio.outgoing_caller_ids.list_async() == []
    await twilio.validation_requests.create_async(phone_number="+15005550011", status_callback=receiver.url())
    await state_of(sandbox).settle()
    assert receiver.hits[-1]["form"]["VerificationStatus"] == "failed"


# -- Applications ------------------------------------------------------------------------------
async def test_application_message_status_callback(twilio: Client, sandbox: TestServer, receiver: Receiver) -> None:
    app = await twilio.applications.create_async(friendly_name="app", message_status_callback=receiver.url("/app"))
    await twilio.messages.create_async(to="+15551230001", from_=FROM, body="x", application_sid=app.sid)
    await twilio.messages.create_async(
        to="+15551230002", from_=FROM, body="y", application_sid=app.sid, status_callback=receiver.url("/own")
    )
    await state_of(sandbox).settle()
    paths = sorted({hit["url"].rsplit("/", 1)[1] for hit in receiver.hits})
    assert paths == ["app", "own"], "the application's callback, unless StatusCallback is given"
    assert [h["form"]["MessageStatus"] for h in receiver.hits if h["url"].endswith("/app")] == ["sent", "delivered"]
    assert [a.sid for a in await twilio.applications.list_async(friendly_name="app")] == [app.sid]
    assert await twilio.applications(app.sid).delete_async()


# -- Calls, recordings, transcriptions ---------------------------------------------------------
async def test_call_status_progression_and_recording(twilio: Client, sandbox: TestServer, receiver: Receiver) -> None:
    call = await twilio.calls.create_async(
        to="+15551230001",
        from_=FROM,
        url="https://example.test/twiml",
        record=True,
        status_callback=receiver.url("/call"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        recording_status_callback=receiver.url("/recording"),
    )
    assert call.status == "queued"
    await state_of(sandbox).settle()
    statuses = [h["form"]["CallStatus"] for h in receiver.hits if h["url"].endswith("/call")]
    assert statuses == ["queued", "ringing", "in-progress", "completed"]
    assert all(RequestValidator(TOKEN).validate(h["url"], h["form"], h["signature"]) for h in receiver.hits)
    done = await twilio.calls(call.sid).fetch_async()
    assert done.status == "completed" and done.start_time and done.end_time and int(done.duration) >= 1
    [recording] = await twilio.recordings.list_async(call_sid=call.sid)
    assert (recording.status, recording.source, recording.duration) == ("completed", "OutboundAPI", done.duration)
    [recorded] = [h["form"] for h in receiver.hits if h["url"].endswith("/recording")]
    assert recorded["RecordingSid"] == recording.sid and recorded["RecordingStatus"] == "completed"
    assert await twilio.recordings(recording.sid).delete_async()
    assert await twilio.recordings.list_async() == []
    with pytest.raises(TwilioRestException):
        await twilio.recordings(recording.sid).fetch_async()
    soft = await twilio.recordings(recording.sid).fetch_async(include_soft_deleted=True)
    assert soft.status == "deleted"


async def test_record_verb_transcription_and_unanswered_calls(twilio: Client, sandbox: TestServer) -> None:
    call = await twilio.calls.create_async(
        to="+15551230001", from_=FROM, twiml='<Response><Record transcribe="true"/></Response>'
    )
    for to in ("+15005550011", "+15005550012", "+15005550013"):
        await twilio.calls.create_async(to=to, from_=FROM, url="https://example.test/twiml")
    await state_of(sandbox).settle()
    [recording] = await twilio.recordings.list_async(call_sid=call.sid)
    assert recording.source == "RecordVerb"
    [transcription] = await twilio.transcriptions.list_async()
    assert (transcription.recording_sid, transcription.status) == (recording.sid, "completed")
    assert (await twilio.transcriptions(transcription.sid).fetch_async()).transcription_text
    outcomes = {c.to: c.status for c in await twilio.calls.list_async()}
    assert [outcomes[n] for n in ("+15005550011", "+15005550012", "+15005550013")] == ["no-answer", "failed", "busy"]


async def test_start_recording_on_a_live_call(make_sandbox: SandboxFactory, clients: Any, aiohttp_client: Any) -> None:
    server = await make_sandbox(status_delays=(0.01, 0.5))
    http = await aiohttp_client(server)
    form = [("To", "+15551230001"), ("From", FROM), ("Url", "https://example.test/twiml")]
    _, call = await api(http, "POST", f"Accounts/{SID}/Calls.json", form)
    status, body = await api(http, "POST", f"Accounts/{SID}/Calls/{call['sid']}/Recordings.json", [])
    assert (status, body["code"]) == (400, 21220), "not answered yet"
    for _ in range(100):
        _, fetched = await api(http, "GET", f"Accounts/{SID}/Calls/{call['sid']}.json")
        if fetched["status"] == "in-progress":
            break
        await asyncio.sleep(0.01)
    status, recording = await api(http, "POST", f"Accounts/{SID}/Calls/{call['sid']}/Recordings.json", [])
    assert (status, recording["status"], recording["source"]) == (201, "in-progress", "StartCallRecordingAPI")
    await state_of(server).settle()
    _, listed = await api(http, "GET", f"Accounts/{SID}/Calls/{call['sid']}/Recordings.json")
    assert [(r["sid"], r["status"]) for r in listed["recordings"]] == [(recording["sid"], "completed")]


# -- Throughput and queueing -------------------------------------------------------------------
async def test_thirty_sends_from_one_long_code_are_queued_and_sent_at_one_segment_per_second(
    make_sandbox: SandboxFactory, aiohttp_client: Any
) -> None:
    server = await make_sandbox(time_scale=20.0)  # 29 model seconds of queue drain in ~1.5 s
    http = await aiohttp_client(server)
    url = f"Accounts/{SID}/Messages.json"
    created = await asyncio.gather(
        *(api(http, "POST", url, [("To", "+15551230001"), ("From", FROM), ("Body", f"m{i}")]) for i in range(30))
    )
    assert {(status, m["status"]) for status, m in created} == {(201, "queued")}
    await state_of(server).settle()
    fetched = [await api(http, "GET", f"Accounts/{SID}/Messages/{m['sid']}.json") for _, m in created]
    assert {m["status"] for _, m in fetched} == {"delivered"}
    sent = sorted(sent_at(m) for _, m in fetched)
    gaps = [round(b - a) for a, b in zip(sent, sent[1:], strict=False)]
    assert gaps == [1] * 29, sent


@pytest.mark.parametrize(
    ("sender", "to", "per_second"),
    [
        ("+18005550199", "+15551230001", 3),  # toll-free
        ("24680", "+15551230001", 100),  # short code
        ("+15005550006", "+447891063180", 10),  # long code to another country
        ("MyBrand", "+447891063180", 10),  # alphanumeric sender ID
    ],
)
async def test_sender_rates(make_sandbox: SandboxFactory, sender: str, to: str, per_second: int) -> None:
    sandbox = await make_sandbox(time_scale=0.001)  # the queue barely drains while the test sends
    state = state_of(sandbox)
    assert rate(sender, to) == per_second
    http_client = AsyncTwilioHttpClient()
    client = Client(SID, TOKEN, http_client=http_client, environment={"_": ""})
    client.api.base_url = str(sandbox.make_url("/")).rstrip("/")
    try:
        for _ in range(per_second * 2):
            await client.messages.create_async(to=to, from_=sender, body="x")
    finally:
        await http_client.close()
    # Two seconds' worth of segments queued: the sender is busy for about two model seconds.
    assert 1.5 < state.queues.backlog(SID, sender) <= 2.0


async def test_messaging_service_pool_and_sid_in_from(make_sandbox: SandboxFactory) -> None:
    sandbox = await make_sandbox(time_scale=10.0)
    http_client = AsyncTwilioHttpClient()
    twilio = Client(SID, TOKEN, http_client=http_client, environment={"_": ""})
    twilio.api.base_url = str(sandbox.make_url("/")).rstrip("/")
    messages = [await twilio.messages.create_async(to="+15551230001", from_=POOL, body=str(i)) for i in range(4)]
    assert {(m.status, m.from_, m.messaging_service_sid) for m in messages} == {("accepted", None, POOL)}
    await state_of(sandbox).settle()
    fetched = [await twilio.messages(m.sid).fetch_async() for m in messages]
    assert sorted({m.from_ for m in fetched}) == ["+15005550006", "+15005550016"]
    sent = sorted(m.date_sent.timestamp() for m in fetched)
    assert round(sent[-1] - sent[0]) == 1, "two senders: four messages in two seconds"
    await http_client.close()


async def test_full_queue_is_21611_and_an_expired_message_fails_with_30001(
    make_sandbox: SandboxFactory, clients: Any, aiohttp_client: Any
) -> None:
    server = await make_sandbox(queue_limit=5, time_scale=1.0)
    http = await aiohttp_client(server)
    url = f"Accounts/{SID}/Messages.json"
    for i in range(6):  # 0 .. 5 seconds of waiting: all accepted
        status, _ = await api(http, "POST", url, [("To", "+15551230001"), ("From", FROM), ("Body", str(i))])
        assert status == 201
    status, body = await api(http, "POST", url, [("To", "+15551230001"), ("From", FROM), ("Body", "one more")])
    assert (status, body["code"]) == (400, 21611)
    _, other = await api(http, "POST", url, [("To", "+15551230001"), ("From", "+15005550016"), ("Body", "x")])
    assert other["status"] == "queued", "queues are per sender"

    server2 = await make_sandbox(time_scale=10.0)
    http2 = await aiohttp_client(server2)
    for i in range(3):
        await api(http2, "POST", url, [("To", "+15551230001"), ("From", FROM), ("Body", str(i))])
    form = [("To", "+15551230001"), ("From", FROM), ("Body", "late"), ("ValidityPeriod", "1")]
    _, late = await api(http2, "POST", url, form)
    assert late["status"] == "queued"
    await state_of(server2).settle()
    _, fetched = await api(http2, "GET", f"Accounts/{SID}/Messages/{late['sid']}.json")
    assert (fetched["status"], fetched["error_code"], fetched["date_sent"]) == ("failed", 30001, None)


async def test_throughput_can_be_switched_off(make_sandbox: SandboxFactory, aiohttp_client: Any) -> None:
    server = await make_sandbox(throughput=False, time_scale=1.0)
    http = await aiohttp_client(server)
    for i in range(5):
        await api(
            http, "POST", f"Accounts/{SID}/Messages.json", [("To", "+15551230001"), ("From", FROM), ("Body", str(i))]
        )
    await state_of(server).settle(timeout=2)
    assert {m.status for m in state_of(server).store.all_messages()} == {"delivered"}


# -- Trial accounts ----------------------------------------------------------------------------
async def test_trial_account_rules(clients: Callable[..., Client], http: TestClient, sandbox: TestServer) -> None:
    trial = clients(TRIAL_SID, TRIAL_TOKEN)
    account = await trial.api.v2010.accounts(TRIAL_SID).fetch_async()
    assert account.type == "Trial"
    message = await trial.messages.create_async(to=TRIAL_VERIFIED, from_=TRIAL_NUMBER, body="hi")
    assert message.body == TRIAL_PREFIX + "hi"
    for kwargs, code in (
        ({"to": "+15551230002", "from_": TRIAL_NUMBER}, 21608),
        ({"to": TRIAL_VERIFIED, "from_": FROM}, 21607),
    ):
        with pytest.raises(TwilioRestException) as refused:
            await trial.messages.create_async(body="hi", **kwargs)
        assert refused.value.code == code
    with pytest.raises(TwilioRestException) as call_refused:
        await trial.calls.create_async(to="+15551230002", from_=TRIAL_NUMBER, url="https://example.test/t")
    assert call_refused.value.code == 21219
    with pytest.raises(TwilioRestException) as second_number:
        await trial.incoming_phone_numbers.create_async(area_code="415")
    assert (second_number.value.status, second_number.value.code) == (403, 10002)

    await trial.validation_requests.create_async(phone_number="+15551230002")
    await state_of(sandbox).settle()  # the validation call verifies the number
    await trial.messages.create_async(to="+15551230002", from_=TRIAL_NUMBER, body="now verified")
    await trial.calls.create_async(to="+15551230002", from_=TRIAL_NUMBER, url="https://example.test/t")
    for i in range(3, 6):
        await trial.validation_requests.create_async(phone_number=f"+1555123000{i}")
    await state_of(sandbox).settle()
    with pytest.raises(TwilioRestException) as sixth:
        await trial.validation_requests.create_async(phone_number="+15551230009")
    assert sixth.value.code == 10002, "up to five verified numbers"


# -- National numbers --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("to", "sender", "expected"),
    [
        ("07891 063180", "+442033229574", "+447891063180"),
        ("(415) 555-0123", "+15005550006", "+14155550123"),
        ("1-415-555-0123", "+15005550006", "+14155550123"),
        ("06 12 34 56 78", "+33123456789", "+33612345678"),
        ("0044 7891 063180", "+15005550006", "+447891063180"),
        ("whatsapp:07891063180", "whatsapp:+442033229574", "whatsapp:+447891063180"),
        ("07891063180", "MyBrand", "07891063180"),  # no country: unchanged (and refused as 21211)
    ],
)
def test_national_numbers_take_the_senders_country(to: str, sender: str, expected: str) -> None:
    assert to_e164(to, sender) == expected


async def test_national_to_over_http(twilio: Client, http: TestClient) -> None:
    message = await twilio.messages.create_async(to="07891 063180", from_="+442033229574", body="hi")
    assert message.to == "+447891063180"
    via_service = await twilio.messages.create_async(to="(415) 555-0123", messaging_service_sid=POOL, body="hi")
    assert via_service.to == "+14155550123"
    status, body = await api(
        http, "POST", f"Accounts/{SID}/Messages.json", [("To", "07891063180"), ("From", "MyBrand"), ("Body", "x")]
    )
    assert (status, body["code"]) == (400, 21211)


async def test_reset_forgets_subaccounts_and_reseeds(twilio: Client, sandbox: TestServer, http: TestClient) -> None:
    await twilio.api.v2010.accounts.create_async(friendly_name="gone")
    state = state_of(sandbox)
    state.reset()
    assert set(state.directory.accounts) == {SID, TRIAL_SID}
    assert state.inventory.account(TRIAL_SID).number(TRIAL_NUMBER) is not None
    assert timedelta(0) <= timedelta(seconds=state.queues.backlog(SID, FROM))
