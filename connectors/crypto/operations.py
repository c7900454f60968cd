"""The crypto operations (connector.yaml). CPU-heavy argon2 runs in a thread, off the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.connector import OperationCall

_HASHER = PasswordHasher()  # argon2id, the library's (RFC 9106 low-memory) defaults
# Checked when there is no stored hash, so an unknown user costs the same time as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


def _verify(stored: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(call: OperationCall) -> None:
    password = call.value("password") or ""
    if not password:
        raise call.missing("password")
    digest = await asyncio.to_thread(_HASHER.hash, password)
    call.ctx.properties[call.value("property") or "passwordHash"] = digest


async def verify_password(call: OperationCall) -> None:
    password = call.value("password") or ""
    stored = call.value("hash") or ""
    known = stored.startswith("$argon2")
    valid = await asyncio.to_thread(_verify, stored if known else _DUMMY_HASH, password)
    ok = valid and known and bool(password)
    call.ctx.properties[call.value("property") or "passwordValid"] = "true" if ok else "false"


def _int(call: OperationCall, name: str, low: int, high: int) -> int:
    raw = (call.value(name) or "").strip()
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise call.invalid(name, f"'{raw}' is not a whole number from {low} to {high}")
    return int(raw)


async def random_token(call: OperationCall) -> None:
    kind = (call.value("format") or "hex").strip().lower()
    if kind == "hex":
        value = secrets.token_hex(_int(call, "bytes", 16, 64))
    elif kind == "urlsafe":
        value = secrets.token_urlsafe(_int(call, "bytes", 16, 64))
    elif kind == "uuid":
        value = str(uuid.UUID(bytes=secrets.token_bytes(16))).upper()
    elif kind == "digits":
        length = _int(call, "length", 4, 12)
        value = str(secrets.randbelow(10**length)).zfill(length)
    else:
        raise call.invalid("format", f"'{kind}' is not hex, urlsafe, uuid or digits")
    call.ctx.properties[call.value("property") or "randomToken"] = value


async def hash_token(call: OperationCall) -> None:
    value = (call.value("value") or "").encode()
    key = call.value("key") or ""
    if key:
        digest = hmac.new(key.encode(), value, hashlib.sha256).hexdigest()
    else:
        digest = hashlib.sha256(value).hexdigest()
    call.ctx.properties[call.value("property") or "tokenHash"] = digest


async def verify_token(call: OperationCall) -> None:
    value = (call.value("value") or "").encode()
    key = call.value("key") or ""
    stored = (call.value("hash") or "").strip().lower()
    if key:
        digest = hmac.new(key.encode(), value, hashlib.sha256).hexdigest()
    else:
        digest = hashlib.sha256(value).hexdigest()
    # compare_digest takes the same time wherever the two differ; an empty stored hash never matches
    same = hmac.compare_digest(digest, stored if stored else "-" * len(digest))
    call.ctx.properties[call.value("property") or "tokenValid"] = "true" if same and bool(stored) else "false"
