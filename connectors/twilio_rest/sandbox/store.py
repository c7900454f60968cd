"""In-memory, per-account store of Message and Call resources, and their JSON shapes.

The JSON produced here follows the 2010-04-01 OpenAPI schemas
``api.v2010.account.message`` / ``api.v2010.account.call`` field for field: RFC 2822 GMT
dates, ``num_segments``/``num_media``/``price`` as strings, ``error_code`` as int|null,
relative ``uri`` and ``subresource_uris``.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

API_VERSION = "2010-04-01"
ACCOUNTS_PREFIX = f"/{API_VERSION}/Accounts"

# Twilio bills per segment; a plausible US price keeps `price` realistic once sent.
PRICE_PER_SEGMENT = 0.0079
PRICE_UNIT = "USD"

_sequence = itertools.count(1)


def new_sid(prefix: str) -> str:
    """Twilio-style SID: two-letter prefix + 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def utcnow() -> datetime:
    # Twilio dates have second precision; dropping microseconds keeps JSON and filters consistent.
    return datetime.now(UTC).replace(microsecond=0)


def rfc2822(value: datetime | None) -> str | None:
    """``Thu, 24 Aug 2023 05:01:45 +0000`` (or None)."""
    return format_datetime(value.astimezone(UTC)) if value is not None else None


@dataclass(slots=True)
class MessageRecord:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    status: str
    num_segments: int
    media_urls: list[str]
    messaging_service_sid: str | None
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None = None
    price: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    status_callback: str | None = None
    application_sid: str | None = None
    send_at: datetime | None = None
    validity_period: int | None = None
    feedback: str | None = None  # Message Feedback's outcome (confirmed / unconfirmed)
    # Every create parameter as received, for developers inspecting what was sent.
    params: list[tuple[str, str]] = field(default_factory=list)
    seq: int = field(default_factory=lambda: next(_sequence))

    @property
    def uri(self) -> str:
        return f"{ACCOUNTS_PREFIX}/{self.account_sid}/Messages/{self.sid}.json"

    def touch(self) -> None:
        self.date_updated = utcnow()

    def to_json(self) -> dict[str, Any]:
        base = f"{ACCOUNTS_PREFIX}/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(len(self.media_urls)),
            # Twilio reports 0 until a Messaging Service has picked a sender.
            "num_segments": str(self.num_segments if self.from_ is not None else 0),
            "price": self.price,
            "price_unit": PRICE_UNIT,
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
            "to": self.to,
            "uri": self.uri,
        }


@dataclass(slots=True)
class CallRecord:
    sid: str
    account_sid: str
    to: str
    from_: str
    status: str
    date_created: datetime
    date_updated: datetime
    url: str | None = None
    twiml: str | None = None
    application_sid: str | None = None
    method: str = "POST"
    status_callback: str | None = None
    params: list[tuple[str, str]] = field(default_factory=list)
    seq: int = field(default_factory=lambda: next(_sequence))
    # Set as the call progresses (sandbox/call_progress.py).
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None
    redirects: int = 0  # Url / Twiml updates of the live call (sandbox/call_progress.update_call)

    @property
    def uri(self) -> str:
        return f"{ACCOUNTS_PREFIX}/{self.account_sid}/Calls/{self.sid}.json"

    def to_json(self) -> dict[str, Any]:
        base = f"{ACCOUNTS_PREFIX}/{self.account_sid}/Calls/{self.sid}"
        subresources = (
            "notifications",
            "recordings",
            "payments",
            "events",
            "siprec",
            "streams",
            "transcriptions",
            "user_defined_message_subscriptions",
            "user_defined_messages",
        )
        camel = {
            "user_defined_message_subscriptions": "UserDefinedMessageSubscriptions",
            "user_defined_messages": "UserDefinedMessages",
        }
        return {
            "account_sid": self.account_sid,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "direction": "outbound-api",
            "duration": str(self.duration) if self.duration is not None else None,
            "end_time": rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": PRICE_UNIT,
            "queue_time": "0",
            "sid": self.sid,
            "start_time": rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": {name: f"{base}/{camel.get(name, name.capitalize())}.json" for name in subresources},
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": self.uri,
        }


@dataclass(slots=True)
class AccountStore:
    messages: dict[str, MessageRecord] = field(default_factory=dict)
    calls: dict[str, CallRecord] = field(default_factory=dict)

    def newest_first(self) -> list[MessageRecord]:
        # `seq` breaks ties between messages created within the same second.
        return sorted(self.messages.values(), key=lambda m: (m.date_created, m.seq), reverse=True)


class Store:
    """All accounts' resources; an account's store is created on first use."""

    def __init__(self) -> None:
        self._accounts: dict[str, AccountStore] = {}

    def account(self, account_sid: str) -> AccountStore:
        store = self._accounts.get(account_sid)
        if store is None:
            store = self._accounts[account_sid] = AccountStore()
        return store

    def all_messages(self) -> list[MessageRecord]:
        return sorted(
            (m for acc in self._accounts.values() for m in acc.messages.values()),
            key=lambda m: m.seq,
        )

    def clear(self) -> None:
        self._accounts.clear()
