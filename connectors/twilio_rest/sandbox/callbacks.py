"""Signed status callbacks, as Twilio sends them, restricted to loopback targets.

The ``X-Twilio-Signature`` is computed by the Twilio SDK's own
``twilio.request_validator.RequestValidator.compute_signature`` (the full URL, then each
parameter name and its values in sorted order, HMAC-SHA1 keyed with the account's Auth Token),
so a receiver that validates with the SDK accepts it. The sandbox never sends traffic off-box:
callbacks to any host that is not loopback are recorded as skipped instead of attempted.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from multidict import MultiDict
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
USER_AGENT = "TwilioProxy/1.1 (twilio-sandbox)"


def compute_signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """Twilio's webhook signature over ``url`` and the POST ``params`` (repeated names keep every value)."""
    signature: str = RequestValidator(auth_token).compute_signature(url, MultiDict(params))
    return signature


def is_loopback_url(url: str) -> bool:
    """True only for literal loopback targets; hostnames other than localhost are never resolved."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(slots=True)
class CallbackRecord:
    """One status callback the sandbox attempted (or skipped)."""

    url: str
    form: list[tuple[str, str]]
    signature: str
    resource_sid: str
    resource_status: str
    time: str
    attempted: bool = False
    skipped: str | None = None
    response_status: int | None = None
    error: str | None = None
    duration_ms: float | None = None
    method: str = "POST"

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "form": [list(pair) for pair in self.form],
            "signature": self.signature,
            "resource_sid": self.resource_sid,
            "status": self.resource_status,
            "time": self.time,
            "attempted": self.attempted,
            "skipped": self.skipped,
            "response_status": self.response_status,
            "error": self.error,
            "duration_ms": self.duration_ms,
        }


async def deliver(
    session: aiohttp.ClientSession | None,
    url: str,
    params: Sequence[tuple[str, str]],
    auth_token: str,
    *,
    resource_sid: str,
    resource_status: str,
    timeout: float,
) -> CallbackRecord:
    """POST one signed form callback; never raises (failures are recorded on the result)."""
    signature = compute_signature(auth_token, url, params)
    record = CallbackRecord(
        url=url,
        form=list(params),
        signature=signature,
        resource_sid=resource_sid,
        resource_status=resource_status,
        time=datetime.now(UTC).isoformat(),
    )
    if not is_loopback_url(url):
        record.skipped = "non-loopback host: the sandbox never sends traffic off this machine"
        return record
    if session is None or session.closed:
        record.skipped = "sandbox is not running (no HTTP session)"
        return record
    headers = {
        SIGNATURE_HEADER: signature,
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": USER_AGENT,
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
    }
    record.attempted = True
    started = time.perf_counter()
    try:
        # No redirects: a loopback URL must not bounce the sandbox to another host.
        async with session.post(
            url,
            data=urlencode(list(params)).encode("ascii"),
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            await resp.read()
            record.response_status = resp.status
    except Exception as exc:  # a receiver's failure must never take the sandbox down
        record.error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        log.info("status callback to %s failed: %s", url, record.error)
    record.duration_ms = round((time.perf_counter() - started) * 1000, 3)
    return record
