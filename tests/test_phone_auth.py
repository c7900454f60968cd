"""Phone-confirmed registration and login (issue 16, seed 000: the Backendless Twilio plugin's REST API): the
SHIPPED api/PhoneAuthApi.xml and its sequences on a real gateway, codes sent and checked by the Twilio sandbox's
Verify (read back at /_sandbox/verifications, as a phone would get them), users, transactions and sessions in
real SQLite (the `default` datasource) and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
import re
import sqlite3
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lxml import etree

from gateway.database import parse_jdbc_url
from gateway.message.context import background_work_done
from tests.conftest import require_service
from tests.support.twilio_sandbox import ACCOUNT, TOKEN, Sandbox
from tests.support.waiting import until

REPO = Path(__file__).resolve().parent.parent
SHIPPED = (
    "api/PhoneAuthApi.xml",
    "local-entries/phoneAuthTwilio.xml",
    "local-entries/phoneAuthSettings.xml",
    "sequences/PhoneAuthConfig.xml",
    "sequences/PhoneAuthSchema.xml",
    "sequences/PhoneAuthError.xml",
    "sequences/PhoneAuthFault.xml",
    "sequences/PhoneAuthSendCode.xml",
    "sequences/PhoneAuthDeliverCode.xml",
    "sequences/PhoneAuthSendFailed.xml",
    "sequences/PhoneAuthCheckCode.xml",
    "sequences/PhoneAuthRequireUser.xml",
    "sequences/PhoneAuthLoadUser.xml",
    "sequences/PhoneAuthUserJson.xml",
    "sequences/PhoneAuthSchemaFailed.xml",
    "tasks/PhoneAuthSchema.xml",
)
TABLES_READY = "PhoneAuthSchema: phone auth tables ready"  # logged by the sequence the start-up task runs
BASE = "/phone-auth/APP-ID/REST-API-KEY"
PHONE = "+14155550123"
OTHER = "+14155550199"


class Client:
    def __init__(self, gw: Any, sandbox: Sandbox, root: Path, source: str = "verify") -> None:
        self.gw, self.sandbox, self.root, self.source = gw, sandbox, root, source
        self.read: set[str] = set()  # the sends whose code was read

    async def post(self, path: str, body: Any, **headers: str) -> tuple[int, Any]:
        response = await self.gw.post(
            BASE + path, data=json.dumps(body), headers={"Content-Type": "application/json", **headers}
        )
        raw = await response.read()
        return response.status, json.loads(raw) if raw else None

    async def get(self, path: str, **headers: str) -> tuple[int, Any]:
        response = await self.gw.get(BASE + path, headers=headers)
        raw = await response.read()
        return response.status, json.loads(raw) if raw else None

    async def code_for(self, phone: str) -> str:
        """The code of the latest send to the phone, as a user would read the SMS: Verify's pending verification
        (/_sandbox/verifications), or the last SMS the gateway sent it (/_sandbox/messages). A login's code goes
        out after the answer: this waits (10 s at most) for a send it has not read yet."""
        deadline = time.monotonic() + 10
        while True:
            latest = await self._latest_code(phone)
            if latest is not None and latest[0] not in self.read:
                self.read.add(latest[0])
                return latest[1]
            assert time.monotonic() < deadline, f"no new code was sent to {phone}: {latest}"
            await asyncio.sleep(0.02)

    async def _latest_code(self, phone: str) -> tuple[str, str] | None:
        if self.source == "gateway":
            sent = [m for m in await sandbox_get(self.sandbox, "/_sandbox/messages") if m["to"] == phone]
            if not sent:
                return None
            found = re.fullmatch(r"Your verification code is (\d{6})", sent[-1]["body"])  # 6 digits by default
            assert found, sent[-1]["body"]
            return sent[-1]["sid"], found.group(1)
        verifications = await sandbox_get(self.sandbox, "/_sandbox/verifications")
        pending = [v for v in verifications if v["to"] == phone and v["status"] == "pending"]
        if not pending:
            return None
        return f"{pending[-1]['sid']}/{len(pending[-1]['send_code_attempts'])}", str(pending[-1]["code"])

    async def sent_to(self, phone: str) -> int:
        """How many codes went to the phone, once the sends the gateway does after its answers have ended."""
        await background_work_done()
        if self.source == "gateway":
            return sum(1 for m in self.sandbox.state.store.all_messages() if m.to == phone)
        return sum(len(v.sends) for v in self.sandbox.state.verify.verifications.values() if v.to == phone)

    async def register(
        self, phone: str = PHONE, email: str | None = "ann@example.com", password: str = "s3cret pass"
    ) -> Any:
        status, started = await self.post("/users/register", {"phoneNumber": phone})
        assert status == 200 and set(started) == {"transactionId"}, started
        code = await self.code_for(phone)
        body = {
            "password": password,
            "phoneNumber": phone,
            "transactionId": started["transactionId"],
            "transactionCode": code,
        }
        if email is not None:
            body["email"] = email
        status, user = await self.post("/users/register", body)
        assert status == 200, user
        return user


async def sandbox_get(sandbox: Sandbox, path: str) -> Any:
    async with aiohttp.ClientSession() as http:
        async with http.get(sandbox.url + path) as response:
            return await response.json()


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def _start(gateway: Any, files: dict[str, str], **settings: Any) -> Any:
    """The in-process gateway with the shipped API, once its start-up task has created the tables (the flows never
    create them: tasks/PhoneAuthSchema.xml does, once, when the gateway starts)."""
    logger = logging.getLogger("gateway.mediator.log")
    lines, level = _Lines(), logger.level
    logger.addHandler(lines)
    logger.setLevel(min(level or logging.INFO, logging.INFO))
    try:
        gw = await gateway(files, **settings)
        await until(
            lambda: any(TABLES_READY in line for line in lines.lines), what="the start-up task to create the tables"
        )
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    return gw


async def _verify_service(sandbox: Sandbox) -> str:
    auth = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as http:
        async with http.post(sandbox.url + "/v2/Services", data={"FriendlyName": "Acme"}) as response:
            assert response.status == 201
            return str((await response.json())["sid"])


def _artifacts(
    sandbox_url: str, service: str, identity: str = "email", throttle: bool = False, source: str = "verify"
) -> dict[str, str]:
    files = {relative: (REPO / relative).read_text(encoding="utf-8") for relative in SHIPPED}
    entry = files["local-entries/phoneAuthTwilio.xml"]
    files["local-entries/phoneAuthTwilio.xml"] = entry.replace("http://127.0.0.1:8299", sandbox_url)
    settings = files["local-entries/phoneAuthSettings.xml"].replace("VA00000000000000000000000000000000", service)
    if not throttle:  # the flows below send several codes to one phone within seconds
        settings = settings.replace("<resendInterval>30000<", "<resendInterval>0<")
        settings = settings.replace("<resendPerHour>5<", "<resendPerHour>100<")
    settings = settings.replace("<codeSource>verify<", f"<codeSource>{source}<")
    files["local-entries/phoneAuthSettings.xml"] = settings.replace("<identity>email<", f"<identity>{identity}<")
    return files


@pytest.fixture(params=["verify", "gateway"])
async def phone(gateway: Any, sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest) -> Client:
    """The shipped API with each code source: Twilio Verify, or codes the gateway makes and sends with sendSms."""
    files = _artifacts(sandbox.url, await _verify_service(sandbox), source=request.param)
    gw = await _start(gateway, files, test_clock=True)
    assert not gw.config.failed, gw.config.failed
    return Client(gw, sandbox, tmp_path / "artifacts", request.param)


def _db(client: Client) -> sqlite3.Connection:
    return sqlite3.connect(client.root / "data" / "gateway.db")


async def test_register_with_phone_confirmation(phone: Client) -> None:
    user = await phone.register()
    assert user["userStatus"] == "ENABLED" and user["___class"] == "Users", user
    assert user["email"] == "ann@example.com" and user["phoneNumber"] == PHONE
    assert len(user["objectId"]) == 36 and user["ownerId"] == user["objectId"] and isinstance(user["created"], int)
    assert user["updated"] is None and "password" not in user and "user-token" not in user
    with _db(phone) as db:
        (stored,) = db.execute("select password_hash from phone_users").fetchone()
    assert stored.startswith("$argon2id$") and "s3cret" not in stored, "argon2id, never the password"
    status, again = await phone.post("/users/register", {"phoneNumber": PHONE})
    code = await phone.code_for(PHONE)
    body = {
        "email": "bob@example.com",
        "password": "x",
        "phoneNumber": PHONE,
        "transactionId": again["transactionId"],
        "transactionCode": code,
    }
    status, error = await phone.post("/users/register", body)
    assert (status, error["code"]) == (409, 3033), "one user per phone"


async def test_registration_needs_the_same_phone_and_the_right_code(phone: Client) -> None:
    status, started = await phone.post("/users/register", {"phoneNumber": PHONE})
    code = await phone.code_for(PHONE)
    step2 = {"email": "a@example.com", "password": "pw", "transactionId": started["transactionId"]}
    status, error = await phone.post("/users/register", {**step2, "phoneNumber": OTHER, "transactionCode": code})
    assert (status, error) == (400, {"code": 3100, "message": "Invalid or expired transaction"}), "phone mismatch"
    wrong = "000000" if code != "000000" else "111111"
    status, error = await phone.post("/users/register", {**step2, "phoneNumber": PHONE, "transactionCode": wrong})
    assert (status, error["code"]) == (401, 3101), error
    status, user = await phone.post("/users/register", {**step2, "phoneNumber": PHONE, "transactionCode": code})
    assert status == 200 and user["userStatus"] == "ENABLED", user
    status, error = await phone.post("/users/register", {**step2, "phoneNumber": PHONE, "transactionCode": code})
    assert (status, error["code"]) == (400, 3100), "a used transaction cannot be replayed"


async def advance_clock(client: Client, ms: int) -> None:
    """The gateway's clock (test_clock): every SYSTEM_TIME the sequences read and store moves with it."""
    response = await client.gw.post("/_test/clock", json={"advance": ms})
    assert response.status == 200, await response.text()


async def test_a_transaction_expires_after_five_minutes(phone: Client) -> None:
    body = {"email": "a@example.com", "password": "pw", "phoneNumber": PHONE}
    status, started = await phone.post("/users/register", {"phoneNumber": PHONE})
    code = await phone.code_for(PHONE)
    await advance_clock(phone, 5 * 60_000 + 1000)
    status, error = await phone.post(
        "/users/register", {**body, "transactionId": started["transactionId"], "transactionCode": code}
    )
    assert (status, error) == (400, {"code": 3100, "message": "Invalid or expired transaction"}), error
    status, started = await phone.post("/users/register", {"phoneNumber": PHONE})
    code = await phone.code_for(PHONE)
    await advance_clock(phone, 5 * 60_000 - 2000)
    status, user = await phone.post(
        "/users/register", {**body, "transactionId": started["transactionId"], "transactionCode": code}
    )
    assert status == 200 and user["userStatus"] == "ENABLED", "still valid just before 5 minutes"


async def test_attempt_limit(phone: Client) -> None:
    status, started = await phone.post("/users/register", {"phoneNumber": PHONE})
    code = await phone.code_for(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    body = {"email": "a@example.com", "password": "pw", "phoneNumber": PHONE, "transactionId": started["transactionId"]}
    answers = [await phone.post("/users/register", {**body, "transactionCode": wrong}) for _ in range(5)]
    assert [status for status, _ in answers] == [401] * 5, answers
    status, error = await phone.post("/users/register", {**body, "transactionCode": code})
    assert status == 429 and error["code"] == 60202, "after 5 wrong codes even the right one is refused"


async def test_login_with_phone_number_and_code_then_protected_call_and_logout(
    phone: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    registered = await phone.register()
    status, started = await phone.post("/services/Twilio/loginWithPhoneNumber", PHONE)
    assert status == 200 and set(started) == {"transactionId"}, started
    code = await phone.code_for(PHONE)
    status, user = await phone.post(
        "/services/Twilio/loginWithCode", {"transactionId": started["transactionId"], "code": code}
    )
    assert status == 200, user
    assert (
        user["objectId"] == registered["objectId"]
        and user["userStatus"] == "ENABLED"
        and isinstance(user["lastLogin"], int)
    )
    token = user["user-token"]
    assert len(token) == 36 and token != user["objectId"]
    with _db(phone) as db:
        hashes = [row[0] for row in db.execute("select token_hash from phone_sessions")]
    assert hashes and token not in hashes and len(hashes[0]) == 64, "the token is stored only as its HMAC"
    status, me = await phone.get("/users/me", **{"user-token": token})
    assert (status, me["objectId"], me["email"]) == (200, registered["objectId"], "ann@example.com")
    status, error = await phone.get("/users/me", **{"user-token": "not-a-token"})
    assert (status, error["code"]) == (401, 3064)
    status, error = await phone.get("/users/me")
    assert status == 401
    assert (await phone.get("/users/logout", **{"user-token": token}))[0] == 200
    assert (await phone.get("/users/me", **{"user-token": token}))[0] == 401, "logged out"
    status, error = await phone.post(
        "/services/Twilio/loginWithCode", {"transactionId": started["transactionId"], "code": code}
    )
    assert (status, error["code"]) == (400, 3100), "no replay"


async def test_login_for_an_unknown_phone_looks_the_same_and_sends_nothing(phone: Client) -> None:
    status, started = await phone.post("/services/Twilio/loginWithPhoneNumber", OTHER)
    assert status == 200 and set(started) == {"transactionId"}, "the same answer as for a registered phone"
    assert await phone.sent_to(OTHER) == 0, "no SMS to a phone that is not registered"
    status, error = await phone.post(
        "/services/Twilio/loginWithCode", {"transactionId": started["transactionId"], "code": "123456"}
    )
    assert (status, error) == (401, {"code": 3101, "message": "Invalid code"}), "the same answer as a wrong code"


async def test_two_factor_login_with_password(phone: Client) -> None:
    registered = await phone.register(password="right horse")
    for body in ({"phoneNumber": PHONE, "password": "wrong horse"}, {"phoneNumber": OTHER, "password": "right horse"}):
        status, error = await phone.post("/services/Twilio/loginWithPhoneNumberAndPassword", body)
        assert (status, error) == (401, {"code": 3003, "message": "Invalid login or password"}), body
    assert await phone.sent_to(PHONE) == 1, "only the registration's code: a wrong password sends nothing"
    status, started = await phone.post(
        "/services/Twilio/loginWithPhoneNumberAndPassword", {"phoneNumber": PHONE, "password": "right horse"}
    )
    assert status == 200, started
    code = await phone.code_for(PHONE)
    status, user = await phone.post(
        "/services/Twilio/loginWithCode", {"transactionId": started["transactionId"], "code": code}
    )
    assert (status, user["objectId"]) == (200, registered["objectId"]) and user["user-token"], user


async def test_phone_number_as_identity(gateway: Any, sandbox: Sandbox) -> None:
    gw = await _start(gateway, _artifacts(sandbox.url, await _verify_service(sandbox), identity="phoneNumber"))
    client = Client(gw, sandbox, Path())
    user = await client.register(email=None)
    assert user["email"] is None and user["phoneNumber"] == PHONE and user["userStatus"] == "ENABLED"


async def test_send_message_needs_an_https_media_url(phone: Client, sandbox: Sandbox) -> None:
    body = {"phoneNumber": PHONE, "message": "Hello", "mediaUrl": "http://example.com/cat.png"}
    status, error = await phone.post("/services/Twilio/sendMessage", body)
    assert (status, error["code"]) == (400, 3104)
    status, sent = await phone.post("/services/Twilio/sendMessage", {**body, "mediaUrl": "https://example.com/cat.png"})
    assert status == 201 and sent["to"] == PHONE and sent["body"] == "Hello" and sent["sid"].startswith("MM"), sent
    status, sent = await phone.post("/services/Twilio/sendMessage", {"phoneNumber": PHONE, "message": "text only"})
    assert status == 201 and sent["sid"].startswith("SM"), sent


@pytest.fixture
async def postgres_db() -> AsyncIterator[str]:
    """A database of its own on the local PostgreSQL (the shipped SQL names fixed tables; other test runs may use
    the shared `test` database at the same time); its JDBC URL. Dropped afterwards."""
    import asyncpg

    port = require_service("postgresql")
    name = f"phone_auth_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/test")
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        yield f"jdbc:postgresql://127.0.0.1:{port}/{name}"
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def test_register_and_login_on_postgresql(gateway: Any, sandbox: Sandbox, postgres_db: str) -> None:
    import asyncpg

    source = parse_jdbc_url(postgres_db, user="postgres")
    gw = await _start(gateway, _artifacts(sandbox.url, await _verify_service(sandbox)), datasources={"default": source})
    assert not gw.config.failed, gw.config.failed
    client = Client(gw, sandbox, Path())
    registered = await client.register()
    status, started = await client.post("/services/Twilio/loginWithPhoneNumber", PHONE)
    code = await client.code_for(PHONE)
    status, user = await client.post(
        "/services/Twilio/loginWithCode", {"transactionId": started["transactionId"], "code": code}
    )
    assert (status, user["objectId"]) == (200, registered["objectId"]), user
    conn = await asyncpg.connect(postgres_db.replace("jdbc:postgresql://", "postgresql://postgres@"))
    try:
        stored = await conn.fetchval("select password_hash from phone_users where phone_number = $1", PHONE)
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$")


async def test_resends_are_throttled_per_phone(gateway: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    # the gateway's codes: Verify would add its own limit (5 sends per verification) to the gateway's
    files = _artifacts(sandbox.url, await _verify_service(sandbox), throttle=True, source="gateway")
    client = Client(await _start(gateway, files, test_clock=True), sandbox, tmp_path / "artifacts", "gateway")
    status, _ = await client.post("/users/register", {"phoneNumber": PHONE})
    assert status == 200
    status, error = await client.post("/users/register", {"phoneNumber": PHONE})
    assert (status, error["code"]) == (429, 3105), "one code per 30 s"
    status, error = await client.post("/services/Twilio/loginWithPhoneNumber", OTHER)
    assert status == 200, "another phone is not affected"
    for _ in range(4):  # sends 2 to 5 of the hour, 31 s apart
        await advance_clock(client, 31_000)
        status, error = await client.post("/users/register", {"phoneNumber": PHONE})
        assert status == 200, error
    await advance_clock(client, 31_000)
    status, error = await client.post("/users/register", {"phoneNumber": PHONE})
    assert (status, error["code"]) == (429, 3105), "at most 5 an hour"
    await advance_clock(client, 3_600_000 - 4 * 31_000)
    status, error = await client.post("/users/register", {"phoneNumber": PHONE})
    assert status == 200, "the first send of the hour is an hour old"
    assert await client.sent_to(PHONE) == 6


# -- the gateway's own codes (codeSource gateway) ---------------------------------------------------------------


async def test_gateway_codes_are_random_digits_stored_only_as_a_keyed_hash(
    gateway: Any, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synapse_gateway_connectors.crypto import operations

    drawn: list[int] = []

    def randbelow(limit: int) -> int:  # the real secrets.randbelow, recorded
        drawn.append(limit)
        return real(limit)

    real = operations.secrets.randbelow
    monkeypatch.setattr(operations.secrets, "randbelow", randbelow)
    files = _artifacts(sandbox.url, "VA-unused", source="gateway")
    settings = files["local-entries/phoneAuthSettings.xml"]
    settings = settings.replace("<codeLength>6<", "<codeLength>8<")
    files["local-entries/phoneAuthSettings.xml"] = settings.replace(
        "<codeText>Your verification code is {code}<", "<codeText>Acme: {code} is your code. Do not share it.<"
    )
    client = Client(await _start(gateway, files), sandbox, tmp_path / "artifacts", "gateway")
    status, started = await client.post("/users/register", {"phoneNumber": PHONE})
    assert status == 200, started
    (sms,) = [m for m in await sandbox_get(sandbox, "/_sandbox/messages") if m["to"] == PHONE]
    found = re.fullmatch(r"Acme: (\d{8}) is your code\. Do not share it\.", sms["body"])
    assert found, sms["body"]
    assert sms["from"] == "+15005550006" and await client.sent_to(PHONE) == 1
    assert drawn == [10**8], "the code is secrets.randbelow(10**length)"
    code = found.group(1)
    assert not sandbox.state.verify.verifications, "no Verify call with the gateway's codes"
    with _db(client) as db:
        rows = db.execute("select * from phone_transactions").fetchall()
        (code_hash,) = db.execute("select code_hash from phone_transactions").fetchone()
    assert all(code not in str(value) for row in rows for value in row), "the code itself is never stored"
    bound = f"{started['transactionId']}:{PHONE}:{code}".encode()
    assert code_hash == hmac.new(b"change-me-phone-auth-code-key", bound, hashlib.sha256).hexdigest()
    assert code_hash != hashlib.sha256(code.encode()).hexdigest(), "keyed, bound to the transaction and phone"
    body = {"email": "a@example.com", "password": "pw", "phoneNumber": PHONE, "transactionId": started["transactionId"]}
    status, user = await client.post("/users/register", {**body, "transactionCode": code})
    assert status == 200 and user["phoneNumber"] == PHONE, user


async def test_gateway_codes_are_compared_in_constant_time(
    gateway: Any, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synapse_gateway_connectors.crypto import operations

    compared: list[tuple[str, str]] = []

    def compare_digest(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    real = operations.hmac.compare_digest
    monkeypatch.setattr(operations.hmac, "compare_digest", compare_digest)
    files = _artifacts(sandbox.url, "VA-unused", source="gateway")
    client = Client(await _start(gateway, files), sandbox, tmp_path / "artifacts", "gateway")
    status, started = await client.post("/users/register", {"phoneNumber": PHONE})
    code = await client.code_for(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    body = {"email": "a@example.com", "password": "pw", "phoneNumber": PHONE, "transactionId": started["transactionId"]}
    assert (await client.post("/users/register", {**body, "transactionCode": wrong}))[0] == 401
    assert (await client.post("/users/register", {**body, "transactionCode": code}))[0] == 200
    with _db(client) as db:
        (stored,) = db.execute("select code_hash from phone_transactions").fetchone()
    checks = [(a, b) for a, b in compared if b == stored]  # (the sandbox compares its auth token the same way)
    assert len(checks) == 2 and checks[1] == (stored, stored) and checks[0][0] != stored, compared


async def test_a_gateway_transaction_is_dead_after_five_wrong_codes(
    gateway: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    files = _artifacts(sandbox.url, "VA-unused", source="gateway")
    client = Client(await _start(gateway, files), sandbox, tmp_path / "artifacts", "gateway")
    status, started = await client.post("/services/Twilio/loginWithPhoneNumber", PHONE)
    assert await client.sent_to(PHONE) == 0, "not registered: nothing sent"
    await client.register()
    status, started = await client.post("/services/Twilio/loginWithPhoneNumber", PHONE)
    code = await client.code_for(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    login = {"transactionId": started["transactionId"]}
    answers = [await client.post("/services/Twilio/loginWithCode", {**login, "code": wrong}) for _ in range(5)]
    assert answers == [(401, {"code": 3101, "message": "Invalid code"})] * 5, answers
    status, error = await client.post("/services/Twilio/loginWithCode", {**login, "code": code})
    assert (status, error) == (429, {"code": 60202, "message": "Max check attempts reached"}), "dead"
    with _db(client) as db:
        (attempts,) = db.execute(
            "select attempts from phone_transactions where id = ?", (login["transactionId"],)
        ).fetchone()
    assert attempts == 6, "every check is counted in the database, so every node sharing it sees the same count"


async def test_a_right_code_checked_at_once_by_several_requests_logs_in_once(
    gateway: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    files = _artifacts(sandbox.url, "VA-unused", source="gateway")
    client = Client(await _start(gateway, files), sandbox, tmp_path / "artifacts", "gateway")
    await client.register()
    status, started = await client.post("/services/Twilio/loginWithPhoneNumber", PHONE)
    login = {"transactionId": started["transactionId"], "code": await client.code_for(PHONE)}
    answers = await asyncio.gather(*(client.post("/services/Twilio/loginWithCode", login) for _ in range(10)))
    # exactly one wins (without the compare-and-set on `used` several do); the others are refused as a replay, or
    # as checks past the attempt limit (concurrent checks count too)
    assert [status for status, _ in answers].count(200) == 1, answers
    refused = {(status, body["code"]) for status, body in answers if status != 200}
    assert refused <= {(400, 3100), (429, 60202)}, answers
    with _db(client) as db:
        assert db.execute("select count(*) from phone_sessions").fetchone() == (1,), "one session"


async def test_the_code_lifetime_is_a_setting(gateway: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    files = _artifacts(sandbox.url, "VA-unused", source="gateway")
    settings = files["local-entries/phoneAuthSettings.xml"]
    files["local-entries/phoneAuthSettings.xml"] = settings.replace("<transactionTtl>300000<", "<transactionTtl>60000<")
    client = Client(await _start(gateway, files, test_clock=True), sandbox, tmp_path / "artifacts", "gateway")
    status, started = await client.post("/users/register", {"phoneNumber": PHONE})
    code = await client.code_for(PHONE)
    await advance_clock(client, 61_000)
    body = {"email": "a@example.com", "password": "pw", "phoneNumber": PHONE, "transactionId": started["transactionId"]}
    status, error = await client.post("/users/register", {**body, "transactionCode": code})
    assert (status, error["code"]) == (400, 3100), "expired after the configured minute"


async def test_codes_passwords_and_tokens_never_reach_the_log(phone: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = "correct horse battery"
    await phone.register(password=password)
    status, started = await phone.post(
        "/services/Twilio/loginWithPhoneNumberAndPassword", {"phoneNumber": PHONE, "password": password}
    )
    code = await phone.code_for(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    login = {"transactionId": started["transactionId"]}
    assert (await phone.post("/services/Twilio/loginWithCode", {**login, "code": wrong}))[0] == 401
    status, user = await phone.post("/services/Twilio/loginWithCode", {**login, "code": code})
    assert status == 200, user
    token = user["user-token"]
    assert (await phone.get("/users/me", **{"user-token": token}))[0] == 200
    assert (await phone.post("/users/register", {"phoneNumber": PHONE}))[0] == 200  # a code for a registered phone
    codes = {code, await phone.code_for(PHONE)}
    text = caplog.text
    assert len(text) > 500 and "phone-auth" in text, "the gateway's log was captured"
    for secret in (password, token, *codes):
        assert secret not in text, f"{secret!r} is in the log"


# -- errors in the client's own format ---------------------------------------------------------------------------

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


async def _post_xml(client: Client, path: str, body: str, content_type: str, **headers: str) -> tuple[int, str, Any]:
    response = await client.gw.post(BASE + path, data=body, headers={"Content-Type": content_type, **headers})
    raw = await response.read()
    return response.status, response.headers["Content-Type"], etree.fromstring(raw)


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "message"),
    [
        ("/users/register", "<register><email>a@example.com</email></register>", 400, 3011, "phoneNumber is required"),
        (
            "/services/Twilio/loginWithCode",
            "<login><code>1</code></login>",
            400,
            3100,
            "Invalid or expired transaction",
        ),
        (
            "/services/Twilio/loginWithPhoneNumberAndPassword",
            "<login><phoneNumber>+1</phoneNumber></login>",
            401,
            3003,
            "Invalid login or password",
        ),
    ],
)
async def test_soap_and_xml_clients_get_the_error_in_their_own_format(
    phone: Client, path: str, body: str, status: int, code: int, message: str
) -> None:
    got = await _post_xml(
        phone,
        path,
        f'<e:Envelope xmlns:e="{SOAP11}"><e:Body>{body}</e:Body></e:Envelope>',
        "text/xml",
        SOAPAction='"urn:x"',
    )
    assert got[:2] == (status, "text/xml; charset=UTF-8"), got[:2]
    fault = got[2].find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
    assert fault is not None, etree.tostring(got[2])
    assert fault.findtext("faultcode").endswith(":Client") and fault.findtext("faultstring") == message
    assert (fault.findtext("detail/error/code"), fault.findtext("detail/error/message")) == (str(code), message)

    got = await _post_xml(
        phone, path, f'<e:Envelope xmlns:e="{SOAP12}"><e:Body>{body}</e:Body></e:Envelope>', "application/soap+xml"
    )
    assert got[0] == status and got[1].startswith("application/soap+xml"), got[:2]
    fault = got[2].find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    assert fault is not None, etree.tostring(got[2])
    assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value").endswith(":Sender")
    assert fault.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text") == message
    assert fault.findtext(f"{{{SOAP12}}}Detail/error/code") == str(code)

    got = await _post_xml(phone, path, body, "application/xml")
    assert got[0] == status and got[1].startswith("application/xml"), got[:2]
    assert (got[2].tag, got[2].findtext("code"), got[2].findtext("message")) == ("error", str(code), message)

    answer = await phone.gw.post(BASE + path, data="{}", headers={"Content-Type": "application/json"})
    assert (answer.status, await answer.json()) == (status, {"code": code, "message": message}), "JSON stays JSON"


async def test_a_twilio_error_reaches_a_soap_client_as_a_fault(gateway: Any, sandbox: Sandbox) -> None:
    client = Client(await _start(gateway, _artifacts(sandbox.url, await _verify_service(sandbox))), sandbox, Path())
    status, started = await client.post("/users/register", {"phoneNumber": PHONE})
    code = await client.code_for(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    body = {"email": "a@example.com", "password": "pw", "phoneNumber": PHONE, "transactionId": started["transactionId"]}
    for _ in range(5):
        assert (await client.post("/users/register", {**body, "transactionCode": wrong}))[0] == 401
    fields = "".join(f"<{k}>{v}</{k}>" for k, v in {**body, "transactionCode": code}.items())
    soap = f'<e:Envelope xmlns:e="{SOAP11}"><e:Body><register>{fields}</register></e:Body></e:Envelope>'
    got = await _post_xml(client, "/users/register", soap, "text/xml", SOAPAction='"urn:x"')
    fault = got[2].find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
    assert got[0] == 429 and fault is not None, (got[0], etree.tostring(got[2]))
    assert (
        fault.findtext("detail/error/code") == "60202" and fault.findtext("faultstring") == "Max check attempts reached"
    )


async def test_a_soap_client_registers_with_the_same_api(phone: Client) -> None:
    def envelope(name: str, fields: dict[str, str]) -> str:
        inner = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
        return f'<e:Envelope xmlns:e="{SOAP12}"><e:Body><{name}>{inner}</{name}></e:Body></e:Envelope>'

    status, ctype, answer = await _post_xml(
        phone, "/users/register", envelope("register", {"phoneNumber": PHONE}), "application/soap+xml"
    )
    assert status == 200 and ctype.startswith("application/soap+xml"), etree.tostring(answer)
    transaction = answer.findtext(f"{{{SOAP12}}}Body/transactionId")
    assert transaction and len(transaction) == 36, etree.tostring(answer)
    fields = {
        "email": "ann@example.com",
        "password": "s3cret pass",
        "phoneNumber": PHONE,
        "transactionId": transaction,
        "transactionCode": await phone.code_for(PHONE),
    }
    status, ctype, answer = await _post_xml(
        phone, "/users/register", envelope("register", fields), "application/soap+xml"
    )
    body = answer.find(f"{{{SOAP12}}}Body")
    assert status == 200 and body is not None, etree.tostring(answer)
    user = body.find("jsonObject")  # the user object, as the JSON client gets it, in XML
    assert user is not None and user.findtext("userStatus") == "ENABLED", etree.tostring(answer)
    assert (user.findtext("phoneNumber"), user.findtext("email")) == (PHONE, "ann@example.com")


# -- the phone-number column (the seed's "User Phone Number Field") ------------------------------------------------


def test_rename_column_changes_only_sql_identifiers_and_result_columns() -> None:
    from gateway.deploy.sql_rename import rename_in_text

    text = """<sequence><!-- phone_number --><property name="phone_number" value="phone_number"/>
      <dblookup><statement><sql>SELECT u.phone_number, 'phone_number' AS label, phone_numbers FROM t u
        WHERE PHONE_NUMBER = ? AND x = 'it''s phone_number'</sql>
        <result name="phone_number" column="phone_number"/></statement></dblookup></sequence>"""
    assert rename_in_text(text, "phone_number", "mobile") == text.replace(
        "SELECT u.phone_number", "SELECT u.mobile"
    ).replace("WHERE PHONE_NUMBER", "WHERE mobile").replace('column="phone_number"', 'column="mobile"')


async def test_the_phone_column_can_have_another_name(gateway: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    from gateway.cli import main

    shipped = tmp_path / "shipped"
    for relative, text in _artifacts(sandbox.url, "VA-unused", source="gateway").items():
        (shipped / relative).parent.mkdir(parents=True, exist_ok=True)
        (shipped / relative).write_text(text, encoding="utf-8")
    assert main(["rename-column", "phone_number", "mobile_no", "--artifacts", str(shipped)]) == 0
    files = {relative: (shipped / relative).read_text(encoding="utf-8") for relative in SHIPPED}
    changed = [relative for relative in SHIPPED if "mobile_no" in files[relative]]
    assert "api/PhoneAuthApi.xml" in changed and "sequences/PhoneAuthSchema.xml" in changed, changed
    client = Client(await _start(gateway, files), sandbox, tmp_path / "artifacts", "gateway")
    registered = await client.register()
    status, started = await client.post("/services/Twilio/loginWithPhoneNumber", PHONE)
    status, user = await client.post(
        "/services/Twilio/loginWithCode",
        {"transactionId": started["transactionId"], "code": await client.code_for(PHONE)},
    )
    assert (status, user["objectId"], user["phoneNumber"]) == (200, registered["objectId"], PHONE), user
    with _db(client) as db:
        for table in ("phone_users", "phone_transactions"):
            columns = [row[1] for row in db.execute(f"pragma table_info({table})")]
            assert "mobile_no" in columns and "phone_number" not in columns, (table, columns)
        assert db.execute("select mobile_no from phone_users").fetchall() == [(PHONE,)]


# -- two gateway nodes sharing one PostgreSQL ----------------------------------------------------------------------


@pytest.mark.parametrize("source", ["verify", "gateway"])
async def test_a_code_issued_on_one_node_verifies_on_the_other(
    serve: Any, sandbox: Sandbox, tmp_path: Path, source: str, postgres_db: str
) -> None:
    """Two `python3 -m gateway serve` processes on one PostgreSQL: every step on the other node than the last."""
    from tests.support.subprocess_gateway import free_port

    config = tmp_path / "gateway.yaml"
    config.write_text(f"datasources:\n  default:\n    url: {postgres_db}\n    user: postgres\n", encoding="utf-8")
    files = _artifacts(sandbox.url, await _verify_service(sandbox), source=source)
    nodes = [serve(free_port(), files=files, args=["--config", str(config)]) for _ in range(2)]
    for node in nodes:
        node.wait_until(lambda node=node: "listening on" in node.log(), "the gateway to listen")
        node.wait_until(lambda node=node: TABLES_READY in node.log(), "the start-up task to create the tables")

    async with aiohttp.ClientSession() as http:

        async def post(node: Any, path: str, body: Any) -> tuple[int, Any]:
            url = f"http://127.0.0.1:{node.port}{BASE}{path}"
            async with http.post(url, json=body) as response:
                return response.status, await response.json()

        client = Client(None, sandbox, Path(), source)
        a, b = nodes
        status, started = await post(a, "/users/register", {"phoneNumber": PHONE})
        assert status == 200, started
        step2 = {
            "email": "ann@example.com",
            "password": "s3cret pass",
            "phoneNumber": PHONE,
            "transactionId": started["transactionId"],
            "transactionCode": await client.code_for(PHONE),
        }
        status, registered = await post(b, "/users/register", step2)
        assert status == 200 and registered["userStatus"] == "ENABLED", registered
        status, error = await post(a, "/users/register", step2)
        assert (status, error["code"]) == (400, 3100), "used up on node b: no replay on node a"

        status, started = await post(b, "/services/Twilio/loginWithPhoneNumber", PHONE)
        code = await client.code_for(PHONE)
        wrong = "000000" if code != "000000" else "111111"
        login = {"transactionId": started["transactionId"]}
        for node in (a, b):  # wrong codes count on whichever node checks them
            assert (await post(node, "/services/Twilio/loginWithCode", {**login, "code": wrong}))[0] == 401
        status, user = await post(a, "/services/Twilio/loginWithCode", {**login, "code": code})
        assert (status, user["objectId"]) == (200, registered["objectId"]), user
        async with http.get(
            f"http://127.0.0.1:{b.port}{BASE}/users/me", headers={"user-token": user["user-token"]}
        ) as response:
            assert response.status == 200 and (await response.json())["objectId"] == registered["objectId"]
    for node in nodes:
        assert "Traceback" not in node.log(), node.log()


# -- no user enumeration by timing --------------------------------------------------------------------------------

SLOW_TWILIO = 0.4  # seconds the sandbox waits before every answer (POST /_sandbox/config response_delay)
SLOW_TWILIO_2FA = 1.0  # the same, beside argon2's few hundred ms


async def _timed(client: Client, path: str, body: Any) -> tuple[float, int, Any]:
    started = time.perf_counter()
    status, answer = await client.post(path, body)
    return time.perf_counter() - started, status, answer


async def _slow_twilio(sandbox: Sandbox, delay: float) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(sandbox.url + "/_sandbox/config", json={"response_delay": delay}) as response:
            assert response.status == 200, await response.text()


def _same_timing(known: list[float], unknown: list[float], what: str) -> None:
    """The two latency distributions match. known[i] and unknown[i] were sent one after the other (in alternating
    order), so their difference cancels what the machine's load adds to both; the median of these paired
    differences must be within 15 ms, or, on a machine too loaded to measure 15 ms, within three standard errors
    of that median (estimated from the differences' spread), but never more than a quarter of the sandbox's delay:
    a step that waited for Twilio cannot pass, every one of its pairs would differ by at least SLOW_TWILIO. And
    three quarters of the requests of either kind answer in less than half the delay."""
    differences = [k - u for k, u in zip(known, unknown, strict=True)]
    median = statistics.median(differences)
    first, _, third = statistics.quantiles(differences, n=4)
    # the standard error of a median is about 1.25 sigma / sqrt(n), and sigma about IQR / 1.35
    noise = 1.2533 * (third - first) / 1.349 / len(differences) ** 0.5
    tolerance = min(max(0.015, 3 * noise), SLOW_TWILIO / 4)
    report = (
        f"{what}: paired differences' median {median * 1000:.1f} ms (tolerance {tolerance * 1000:.1f} ms), "
        f"known {sorted(round(t * 1000) for t in known)}, unknown {sorted(round(t * 1000) for t in unknown)}"
    )
    assert abs(median) < tolerance, report
    for latencies in (known, unknown):
        assert statistics.quantiles(latencies, n=4)[2] < SLOW_TWILIO / 2, report


def test_the_timing_comparison_fails_on_a_step_that_waits_or_does_more() -> None:
    """_same_timing passes equal distributions however noisy, and fails a path that waits for Twilio or that
    costs measurably more on a quiet machine."""
    rng = random.Random(7)
    quiet = [0.010 + rng.uniform(0, 0.002) for _ in range(60)]
    loaded = [0.010 + rng.expovariate(1 / 0.030) for _ in range(60)]  # load spikes of 30 ms on average
    _same_timing(quiet[:30], quiet[30:], "quiet")
    _same_timing(loaded[:30], loaded[30:], "loaded")
    with pytest.raises(AssertionError):
        _same_timing([t + SLOW_TWILIO for t in loaded[:30]], loaded[30:], "waits for Twilio")
    with pytest.raises(AssertionError):
        _same_timing([t + 0.020 for t in quiet[:30]], quiet[30:], "20 ms more work")


@pytest.mark.parametrize("source", ["verify", "gateway"])
async def test_step_one_takes_the_same_time_for_a_registered_and_an_unknown_phone(
    gateway: Any, sandbox: Sandbox, tmp_path: Path, source: str
) -> None:
    files = _artifacts(sandbox.url, await _verify_service(sandbox), source=source)
    client = Client(await _start(gateway, files), sandbox, tmp_path / "artifacts", source)
    await client.register(password="right horse")
    await _slow_twilio(sandbox, SLOW_TWILIO)
    login = "/services/Twilio/loginWithPhoneNumber"
    known: list[float] = []
    unknown: list[float] = []
    answers: list[tuple[int, Any]] = []
    for round_ in range(30):  # in pairs, alternating, so that the machine's load hits both alike
        for phone, latencies in ((PHONE, known), (OTHER, unknown))[:: 1 if round_ % 2 else -1]:
            elapsed, status, answer = await _timed(client, login, phone)
            latencies.append(elapsed)
            answers.append((status, answer))
    _same_timing(known, unknown, f"loginWithPhoneNumber ({source})")
    assert all(status == 200 and set(answer) == {"transactionId"} for status, answer in answers), answers

    # 2FA: argon2 takes a few hundred ms here, and varies as much, so the requests go in rounds of three, one of
    # each kind, and each round is compared with itself: what a slower or faster machine adds to a round cancels
    await _slow_twilio(sandbox, SLOW_TWILIO_2FA)
    password = "/services/Twilio/loginWithPhoneNumberAndPassword"
    rounds: list[tuple[float, float, float]] = []
    for _ in range(8):
        timed = []
        for body, expected in (
            ({"phoneNumber": PHONE, "password": "right horse"}, 200),
            ({"phoneNumber": PHONE, "password": "wrong horse"}, 401),
            ({"phoneNumber": OTHER, "password": "right horse"}, 401),
        ):
            elapsed, status, answer = await _timed(client, password, body)
            assert status == expected, answer
            timed.append(elapsed)
        rounds.append((timed[0], timed[1], timed[2]))
    report = f"2FA rounds (right, wrong, unknown), ms ({source}): " + str(
        [tuple(round(t * 1000) for t in r) for r in rounds]
    )
    # the right password's transactionId does not wait for Twilio: were it sent first, every round would show
    # the sandbox's full delay between the right and the wrong password
    assert statistics.median(right - wrong for right, wrong, _ in rounds) < SLOW_TWILIO_2FA / 4, report
    # an unknown phone costs what a wrong password does (argon2 against a dummy hash)
    assert abs(statistics.median(unknown - wrong for _, wrong, unknown in rounds)) < SLOW_TWILIO_2FA / 4, report


async def test_a_login_code_twilio_refuses_is_logged_and_its_check_fails_as_for_an_unknown_phone(
    phone: Client, caplog: pytest.LogCaptureFixture
) -> None:
    await phone.register()
    async with aiohttp.ClientSession() as http:  # Twilio is down for the next request: the login's send
        async with http.post(phone.sandbox.url + "/_sandbox/config", json={"server_error_next": 1}) as response:
            assert response.status == 200
    status, started = await phone.post("/services/Twilio/loginWithPhoneNumber", PHONE)
    assert status == 200 and set(started) == {"transactionId"}, "answered before the send: it cannot fail the answer"
    assert await phone.sent_to(PHONE) == 1, "only the registration's code went out"
    failed = [r.getMessage() for r in caplog.records if "PhoneAuthSendFailed" in r.getMessage()]
    assert len(failed) == 1 and started["transactionId"] in failed[0] and "20503" in failed[0], failed
    with _db(phone) as db:
        (sent,) = db.execute("select sent from phone_transactions where id = ?", (started["transactionId"],)).fetchone()
    assert sent == 0, "marked unsent"
    status, error = await phone.post(
        "/services/Twilio/loginWithCode", {"transactionId": started["transactionId"], "code": "123456"}
    )
    assert (status, error) == (401, {"code": 3101, "message": "Invalid code"}), "as for a phone that is not registered"
    status, started = await phone.post("/services/Twilio/loginWithPhoneNumber", PHONE)
    code = await phone.code_for(PHONE)  # Twilio is back: the next login works
    status, user = await phone.post(
        "/services/Twilio/loginWithCode", {"transactionId": started["transactionId"], "code": code}
    )
    assert status == 200 and user["user-token"], user


@pytest.mark.parametrize("path", ["/users/register", "/services/Twilio/loginWithPhoneNumber"])
async def test_a_phone_number_that_is_not_e164_is_refused_at_once(phone: Client, path: str) -> None:
    body: Any = {"phoneNumber": "4155550123"} if path == "/users/register" else "4155550123"
    status, error = await phone.post(path, body)
    assert (status, error) == (400, {"code": 60200, "message": "Invalid parameter `To`: 4155550123"}), error
    assert await phone.sent_to("4155550123") == 0
    with _db(phone) as db:
        assert db.execute("select count(*) from phone_transactions").fetchone() == (0,), "no transaction"


async def test_the_tables_are_created_once_at_start_not_per_request(
    gateway: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    files = _artifacts(sandbox.url, "VA-unused", source="gateway")
    client = Client(await _start(gateway, files), sandbox, tmp_path / "artifacts", "gateway")
    with _db(client) as db:  # created by the start-up task before any request
        tables = {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}
        assert {"phone_users", "phone_transactions", "phone_sessions"} <= tables, tables
        db.execute("drop table phone_sessions")
    status, started = await client.post("/users/register", {"phoneNumber": PHONE})
    assert status == 200, started
    with _db(client) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}
    assert "phone_sessions" not in tables, "a request runs no CREATE TABLE"
