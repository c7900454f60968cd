"""The sandbox's resources beyond Messages and Calls, per account, and their JSON shapes: incoming
phone numbers, verified caller IDs, applications, recordings and transcriptions.

Every ``to_json`` carries exactly the properties of the resource's schema in Twilio's OpenAPI spec
(``api.v2010.account.incoming_phone_number``, ``…outgoing_caller_id``, ``…application``,
``…recording``, ``…transcription``), with RFC 2822 dates and relative URIs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .countries import country_of, friendly_format, sender_kind
from .store import ACCOUNTS_PREFIX, API_VERSION, PRICE_UNIT, new_sid, rfc2822, utcnow

_sequence = itertools.count(1)

# Configurable fields of a number and an application: form field -> JSON key, and the default.
NUMBER_FIELDS: dict[str, tuple[str, Any]] = {
    "FriendlyName": ("friendly_name", None),
    "VoiceUrl": ("voice_url", None),
    "VoiceMethod": ("voice_method", "POST"),
    "VoiceFallbackUrl": ("voice_fallback_url", None),
    "VoiceFallbackMethod": ("voice_fallback_method", "POST"),
    "StatusCallback": ("status_callback", None),
    "StatusCallbackMethod": ("status_callback_method", "POST"),
    "VoiceCallerIdLookup": ("voice_caller_id_lookup", False),
    "VoiceApplicationSid": ("voice_application_sid", None),
    "SmsUrl": ("sms_url", None),
    "SmsMethod": ("sms_method", "POST"),
    "SmsFallbackUrl": ("sms_fallback_url", None),
    "SmsFallbackMethod": ("sms_fallback_method", "POST"),
    "SmsApplicationSid": ("sms_application_sid", None),
    "TrunkSid": ("trunk_sid", None),
    "IdentitySid": ("identity_sid", None),
    "AddressSid": ("address_sid", None),
    "BundleSid": ("bundle_sid", None),
    "EmergencyAddressSid": ("emergency_address_sid", None),
    "EmergencyStatus": ("emergency_status", "Inactive"),
    "VoiceReceiveMode": ("voice_receive_mode", "voice"),
}
APPLICATION_FIELDS: dict[str, tuple[str, Any]] = {
    "FriendlyName": ("friendly_name", None),
    "VoiceUrl": ("voice_url", None),
    "VoiceMethod": ("voice_method", "POST"),
    "VoiceFallbackUrl": ("voice_fallback_url", None),
    "VoiceFallbackMethod": ("voice_fallback_method", "POST"),
    "StatusCallback": ("status_callback", None),
    "StatusCallbackMethod": ("status_callback_method", "POST"),
    "VoiceCallerIdLookup": ("voice_caller_id_lookup", False),
    "SmsUrl": ("sms_url", None),
    "SmsMethod": ("sms_method", "POST"),
    "SmsFallbackUrl": ("sms_fallback_url", None),
    "SmsFallbackMethod": ("sms_fallback_method", "POST"),
    "SmsStatusCallback": ("sms_status_callback", None),
    "MessageStatusCallback": ("message_status_callback", None),
    "PublicApplicationConnectEnabled": ("public_application_connect_enabled", False),
}


def defaults(fields: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    return {key: default for key, default in fields.values()}


def number_type(number: str) -> str:
    return "tollfree" if sender_kind(number) == "toll_free" else "local"


def capabilities(number: str) -> dict[str, bool]:
    country = country_of(number)
    return {"voice": True, "sms": True, "mms": bool(country and country.mms), "fax": False}


@dataclass(slots=True)
class IncomingNumber:
    sid: str
    account_sid: str
    phone_number: str
    settings: dict[str, Any]
    date_created: datetime
    date_updated: datetime
    origin: str = "twilio"
    seq: int = field(default_factory=lambda: next(_sequence))

    def to_json(self) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "address_requirements": "none",
            "api_version": API_VERSION,
            "beta": False,
            "capabilities": capabilities(self.phone_number),
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "emergency_address_status": "unregistered",
            "origin": self.origin,
            "phone_number": self.phone_number,
            "sid": self.sid,
            "status": "in-use",
            "type": number_type(self.phone_number),
            "uri": f"{ACCOUNTS_PREFIX}/{self.account_sid}/IncomingPhoneNumbers/{self.sid}.json",
            **self.settings,
        }


@dataclass(slots=True)
class CallerId:
    sid: str
    account_sid: str
    phone_number: str
    friendly_name: str
    date_created: datetime
    date_updated: datetime
    seq: int = field(default_factory=lambda: next(_sequence))

    def to_json(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "friendly_name": self.friendly_name,
            "account_sid": self.account_sid,
            "phone_number": self.phone_number,
            "uri": f"{ACCOUNTS_PREFIX}/{self.account_sid}/OutgoingCallerIds/{self.sid}.json",
        }


@dataclass(slots=True)
class Application:
    sid: str
    account_sid: str
    settings: dict[str, Any]
    date_created: datetime
    date_updated: datetime
    api_version: str = API_VERSION
    seq: int = field(default_factory=lambda: next(_sequence))

    def to_json(self) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "api_version": self.api_version,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "sid": self.sid,
            "uri": f"{ACCOUNTS_PREFIX}/{self.account_sid}/Applications/{self.sid}.json",
            **self.settings,
        }


@dataclass(slots=True)
class Recording:
    sid: str
    account_sid: str
    call_sid: str
    source: str
    status: str
    date_created: datetime
    date_updated: datetime
    start_time: datetime
    duration: int | None = None
    channels: int = 1
    deleted: bool = False
    transcribe: bool = False  # a <Record transcribe="true">: transcribed once completed
    seq: int = field(default_factory=lambda: next(_sequence))

    @property
    def uri(self) -> str:
        return f"{ACCOUNTS_PREFIX}/{self.account_sid}/Recordings/{self.sid}.json"

    def to_json(self) -> dict[str, Any]:
        base = f"{ACCOUNTS_PREFIX}/{self.account_sid}/Recordings/{self.sid}"
        done = self.status == "completed"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "call_sid": self.call_sid,
            "conference_sid": None,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "start_time": rfc2822(self.start_time),
            # Twilio reports -1 while a recording is still running.
            "duration": str(self.duration) if self.duration is not None else "-1",
            "sid": self.sid,
            "price": f"-{0.0025 * max(1, ((self.duration or 0) + 59) // 60):.5f}" if done else None,
            "price_unit": PRICE_UNIT,
            "status": "deleted" if self.deleted else self.status,
            "channels": self.channels,
            "source": self.source,
            "error_code": None,
            "uri": self.uri,
            "encryption_details": None,
            "subresource_uris": {
                "add_on_results": f"{base}/AddOnResults.json",
                "transcriptions": f"{base}/Transcriptions.json",
            },
            "media_url": f"https://api.twilio.com{base}",
        }

    def to_call_json(self) -> dict[str, Any]:
        """The shape of a call's recording (``…/Calls/{CallSid}/Recordings``): a number as price, a track."""
        shape = self.to_json()
        del shape["media_url"], shape["subresource_uris"]
        price = shape["price"]
        shape["price"] = float(price) if price is not None else None
        shape["track"] = "both"
        shape["uri"] = f"{ACCOUNTS_PREFIX}/{self.account_sid}/Calls/{self.call_sid}/Recordings/{self.sid}.json"
        return shape


@dataclass(slots=True)
class Transcription:
    sid: str
    account_sid: str
    recording_sid: str
    status: str
    text: str | None
    duration: int
    date_created: datetime
    date_updated: datetime
    seq: int = field(default_factory=lambda: next(_sequence))

    def to_json(self) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "duration": str(self.duration),
            # The spec types price as a number (Twilio's own answers carry a string).
            "price": -0.05 if self.status == "completed" else None,
            "price_unit": PRICE_UNIT,
            "recording_sid": self.recording_sid,
            "sid": self.sid,
            "status": self.status,
            "transcription_text": self.text,
            "type": "fast",
            "uri": f"{ACCOUNTS_PREFIX}/{self.account_sid}/Transcriptions/{self.sid}.json",
        }


@dataclass(slots=True)
class AccountInventory:
    numbers: dict[str, IncomingNumber] = field(default_factory=dict)
    caller_ids: dict[str, CallerId] = field(default_factory=dict)
    applications: dict[str, Application] = field(default_factory=dict)
    recordings: dict[str, Recording] = field(default_factory=dict)
    transcriptions: dict[str, Transcription] = field(default_factory=dict)

    def number(self, phone_number: str) -> IncomingNumber | None:
        return next((n for n in self.numbers.values() if n.phone_number == phone_number), None)

    def is_verified(self, phone_number: str) -> bool:
        return any(c.phone_number == phone_number for c in self.caller_ids.values())


class Inventory:
    """All accounts' resources of this module; an account's part is created on first use."""

    def __init__(self) -> None:
        self._accounts: dict[str, AccountInventory] = {}

    def account(self, account_sid: str) -> AccountInventory:
        found = self._accounts.get(account_sid)
        if found is None:
            found = self._accounts[account_sid] = AccountInventory()
        return found

    def owner_of_number(self, phone_number: str) -> str | None:
        """The account that owns this Twilio number, if any (a number has one owner)."""
        for account_sid, inventory in self._accounts.items():
            if inventory.number(phone_number) is not None:
                return account_sid
        return None

    def release_account(self, account_sid: str) -> None:
        self.account(account_sid).numbers.clear()

    def clear(self) -> None:
        self._accounts.clear()

    def seed(self, account_sid: str, numbers: tuple[str, ...], verified: tuple[str, ...]) -> None:
        """The numbers an account owns and has verified from the start (accounts YAML)."""
        now = utcnow()
        inventory = self.account(account_sid)
        for phone in numbers:
            settings = defaults(NUMBER_FIELDS)
            settings["friendly_name"] = friendly_format(phone)
            record = IncomingNumber(new_sid("PN"), account_sid, phone, settings, now, now)
            inventory.numbers[record.sid] = record
        for phone in verified:
            caller = CallerId(new_sid("PN"), account_sid, phone, friendly_format(phone), now, now)
            inventory.caller_ids[caller.sid] = caller
