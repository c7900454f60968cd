"""Phone-confirmed registration and login (issue 16, seed 000: the Backendless Twilio plugin's REST API): the
SHIPPED api/PhoneAuthApi.xml and its sequences on a real gateway, codes sent and checked by the Twilio sandbox's
Verify (read back at /_sandbox/verifications, as a phone would get them), users, transactions and sessions in
real SQLite (the `default` datasource) and PostgreSQL."""

from __future__ import annotations

import base64
import json
import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.database import parse_jdbc_url
from tests.conftest import require_service
from tests.support.twilio_sandbox import ACCOUNT, TOKEN, Sandbox

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
    "sequences/PhoneAuthCheckCode.xml",
    "sequences/PhoneAuthRequireUser.xml",
    "sequences/PhoneAuthLoadUser.xml",
    "sequences/PhoneAuthUserJson.xml",
)
BASE = "/phone-auth/APP-ID/REST-API-KEY"
PHONE = "+14155550123"
OTHER = "+14155550199"


class Client:
    def __init__(self, gw: Any, sandbox: Sandbox, root: Path, source: str = "verify") -> None:
        self.gw, self.sandbox, self.root, self.source = gw, sandbox, root, source

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
        """The code the phone received, as a user would read the SMS: Verify's pending verification
        (/_sandbox/verifications), or the last SMS the gateway sent it (/_sandbox/messages)."""
        if self.source == "gateway":
            texts = [m["body"] for m in await sandbox_get(self.sandbox, "/_sandbox/messages") if m["to"] == phone]
            assert texts, f"no SMS was sent to {phone}"
            found = re.fullmatch(r"Your verification code is (\d+)", texts[-1])
            assert found, texts[-1]
            return found.group(1)
        verifications = await sandbox_get(self.sandbox, "/_sandbox/verifications")
        pending = [v for v in verifications if v["to"] == phone and v["status"] == "pending"]
        assert pending, f"no code was sent to {phone}: {verifications}"
        return str(pending[-1]["code"])

    def sent_to(self, phone: str) -> int:
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
    gw = await gateway(files, test_clock=True)
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
    assert phone.sent_to(OTHER) == 0, "no SMS to a phone that is not registered"
    status, error = await phone.post(
        "/services/Twilio/loginWithCode", {"transactionId": started["transactionId"], "code": "123456"}
    )
    assert (status, error) == (401, {"code": 3101, "message": "Invalid code"}), "the same answer as a wrong code"


async def test_two_factor_login_with_password(phone: Client) -> None:
    registered = await phone.register(password="right horse")
    for body in ({"phoneNumber": PHONE, "password": "wrong horse"}, {"phoneNumber": OTHER, "password": "right horse"}):
        status, error = await phone.post("/services/Twilio/loginWithPhoneNumberAndPassword", body)
        assert (status, error) == (401, {"code": 3003, "message": "Invalid login or password"}), body
    assert phone.sent_to(PHONE) == 1, "only the registration's code: a wrong password sends nothing"
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
    gw = await gateway(_artifacts(sandbox.url, await _verify_service(sandbox), identity="phoneNumber"))
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


async def test_register_and_login_on_postgresql(gateway: Any, sandbox: Sandbox) -> None:
    port = require_service("postgresql")
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/test")
    try:
        for table in ("phone_users", "phone_transactions", "phone_sessions"):
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
    finally:
        await conn.close()
    source = parse_jdbc_url(f"jdbc:postgresql://127.0.0.1:{port}/test", user="postgres")
    gw = await gateway(_artifacts(sandbox.url, await _verify_service(sandbox)), datasources={"default": source})
    assert not gw.config.failed, gw.config.failed
    client = Client(gw, sandbox, Path())
    registered = await client.register()
    status, started = await client.post("/services/Twilio/loginWithPhoneNumber", PHONE)
    code = await client.code_for(PHONE)
    status, user = await client.post(
        "/services/Twilio/loginWithCode", {"transactionId": started["transactionId"], "code": code}
    )
    assert (status, user["objectId"]) == (200, registered["objectId"]), user
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/test")
    try:
        stored = await conn.fetchval("select password_hash from phone_users where phone_number = $1", PHONE)
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$")


async def test_resends_are_throttled_per_phone(gateway: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    # the gateway's codes: Verify would add its own limit (5 sends per verification) to the gateway's
    files = _artifacts(sandbox.url, await _verify_service(sandbox), throttle=True, source="gateway")
    client = Client(await gateway(files, test_clock=True), sandbox, tmp_path / "artifacts", "gateway")
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
    assert client.sent_to(PHONE) == 6
