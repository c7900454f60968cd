"""The Accounts resource: the configured accounts, their subaccounts and who may act for whom.

Configured accounts come from the accounts YAML (``accounts.yaml``); each may carry a profile:
``friendly_name``, ``type`` (``Full`` or ``Trial``), ``phone_numbers`` (Twilio numbers it owns),
``verified_numbers`` (its verified caller IDs) and ``messaging_services`` (``{MG…: [senders]}``).
Subaccounts are created through ``POST /2010-04-01/Accounts.json`` and live until a reset.

Credentials, as on api.twilio.com: an account's own SID and token (or one of its API keys) work for
its resources; the owner's credentials also work for its subaccounts'. A subaccount that is
``suspended`` or ``closed`` answers 401 / 20005 to everything but its Accounts resource, and a
closed account can never be reopened.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from .accounts import DEFAULT_CONFIG_PATH, Accounts, parse_basic_auth
from .api import ApiRequest, filters_of, json_response, page
from .errors import TwilioApiError, invalid_parameter, not_found
from .rules import E164_RE, MESSAGING_SERVICE_SID_RE
from .store import ACCOUNTS_PREFIX, rfc2822, utcnow

ACCOUNT_TYPES = ("Full", "Trial")
ACCOUNT_STATUSES = ("active", "suspended", "closed")
# Subresources of an account as Twilio lists them (relative URIs).
SUBRESOURCES = {
    "available_phone_numbers": "AvailablePhoneNumbers",
    "calls": "Calls",
    "conferences": "Conferences",
    "incoming_phone_numbers": "IncomingPhoneNumbers",
    "notifications": "Notifications",
    "outgoing_caller_ids": "OutgoingCallerIds",
    "recordings": "Recordings",
    "transcriptions": "Transcriptions",
    "addresses": "Addresses",
    "signing_keys": "SigningKeys",
    "connect_apps": "ConnectApps",
    "sip": "SIP",
    "authorized_connect_apps": "AuthorizedConnectApps",
    "usage": "Usage",
    "keys": "Keys",
    "applications": "Applications",
    "short_codes": "SMS/ShortCodes",
    "queues": "Queues",
    "messages": "Messages",
    "balance": "Balance",
}


def account_not_active() -> TwilioApiError:
    return TwilioApiError(20005, "Account not active", 401)


@dataclass(frozen=True, slots=True)
class Profile:
    """What the accounts YAML says about an account beyond its credentials."""

    friendly_name: str | None = None
    type: str = "Full"
    phone_numbers: tuple[str, ...] = ()
    verified_numbers: tuple[str, ...] = ()
    messaging_services: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(slots=True)
class AccountRecord:
    sid: str
    auth_token: str
    friendly_name: str
    owner_account_sid: str
    type: str
    status: str
    date_created: datetime
    date_updated: datetime

    @property
    def uri(self) -> str:
        return f"{ACCOUNTS_PREFIX}/{self.sid}.json"

    def to_json(self) -> dict[str, Any]:
        base = f"{ACCOUNTS_PREFIX}/{self.sid}"
        return {
            "auth_token": self.auth_token,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "friendly_name": self.friendly_name,
            "owner_account_sid": self.owner_account_sid,
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {key: f"{base}/{name}.json" for key, name in SUBRESOURCES.items()},
            "type": self.type,
            "uri": self.uri,
        }


class Directory:
    """Every account the sandbox knows: the configured ones (immutable credentials) and subaccounts."""

    def __init__(self, credentials: Accounts, profiles: Mapping[str, Profile]) -> None:
        self.credentials = credentials
        self.profiles = dict(profiles)
        self.accounts: dict[str, AccountRecord] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the configured accounts (subaccounts and renames are forgotten)."""
        now = utcnow()
        self.accounts = {
            sid: AccountRecord(
                sid=sid,
                auth_token=token,
                friendly_name=self.profile(sid).friendly_name or f"Sandbox account {sid[-6:]}",
                owner_account_sid=sid,
                type=self.profile(sid).type,
                status="active",
                date_created=now,
                date_updated=now,
            )
            for sid, token in self.credentials.tokens.items()
        }

    def profile(self, sid: str) -> Profile:
        return self.profiles.get(sid) or Profile()

    def get(self, sid: str) -> AccountRecord | None:
        return self.accounts.get(sid)

    def auth_token(self, sid: str) -> str | None:
        record = self.accounts.get(sid)
        return record.auth_token if record is not None else self.credentials.auth_token(sid)

    def is_trial(self, sid: str) -> bool:
        record = self.accounts.get(sid)
        return record is not None and record.type == "Trial"

    def owner_of(self, sid: str) -> str:
        record = self.accounts.get(sid)
        return record.owner_account_sid if record is not None else sid

    # -- authentication ----------------------------------------------------------------------
    def principal(self, authorization: str | None) -> tuple[str, str] | None:
        """(username, the account it speaks for) of valid credentials, whatever the URL names."""
        creds = parse_basic_auth(authorization)
        if creds is None:
            return None
        username = creds[0]
        key = self.credentials.api_keys.get(username)
        account = key.account_sid if key is not None else username
        if self.credentials.authenticate(authorization, account) is not None:
            return username, account
        record = self.accounts.get(username)
        if record is None or record.owner_account_sid == record.sid or record.status == "closed":
            return None
        if hmac.compare_digest(record.auth_token.encode(), creds[1].encode()):
            return username, username
        return None

    def authenticate(self, authorization: str | None, account_sid: str) -> str | None:
        """The username allowed to act for ``account_sid`` (its own credentials or its owner's)."""
        found = self.principal(authorization)
        if found is None or account_sid not in self.accounts:
            return None
        username, account = found
        if account in (account_sid, self.owner_of(account_sid)):
            return username
        return None


def load_profiles(path: str | Path | None) -> dict[str, Profile]:
    """The profile keys of each account in the accounts YAML (credentials are read by load_accounts)."""
    source = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    with source.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    profiles: dict[str, Profile] = {}
    for entry in data.get("accounts") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("sid"), str):
            continue  # load_accounts reports malformed entries
        profiles[entry["sid"]] = _profile(entry, f"{source}: account {entry['sid']}")
    return profiles


def _profile(entry: Mapping[str, Any], where: str) -> Profile:
    kind = entry.get("type", "Full")
    if kind not in ACCOUNT_TYPES:
        raise ValueError(f"{where}: type must be Full or Trial, not {kind!r}")
    numbers = _numbers(entry.get("phone_numbers"), f"{where}: phone_numbers")
    verified = _numbers(entry.get("verified_numbers"), f"{where}: verified_numbers")
    services: dict[str, tuple[str, ...]] = {}
    for sid, senders in (entry.get("messaging_services") or {}).items():
        if not isinstance(sid, str) or not MESSAGING_SERVICE_SID_RE.match(sid):
            raise ValueError(f"{where}: messaging service {sid!r} is not MG followed by 32 hex digits")
        services[sid] = _numbers(senders, f"{where}: messaging_services.{sid}")
        if not services[sid]:
            raise ValueError(f"{where}: messaging service {sid} needs at least one sender")
    name = entry.get("friendly_name")
    return Profile(str(name) if name else None, kind, numbers, verified, services)


def _numbers(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and E164_RE.match(v) for v in value):
        raise ValueError(f"{where}: expected a list of E.164 numbers such as +15005550006")
    return tuple(value)


# ---------------------------------------------------------------------------------------------
# Handlers: /2010-04-01/Accounts.json and /2010-04-01/Accounts/{Sid}.json
# ---------------------------------------------------------------------------------------------
def _account(api: ApiRequest) -> AccountRecord:
    record = api.state.directory.get(api.account_sid)
    if record is None:
        raise not_found(api.request.path)
    return record


async def list_accounts(api: ApiRequest) -> web.Response:
    """The authenticated account and its subaccounts (newest first), filtered by FriendlyName / Status."""
    directory = api.state.directory
    query = api.request.query
    owner = directory.owner_of(api.account_sid)
    name, status = query.get("FriendlyName"), query.get("Status")
    if status is not None and status not in ACCOUNT_STATUSES:
        raise invalid_parameter("Status", status, "expected active, suspended or closed")
    visible = [a for a in directory.accounts.values() if a.sid == api.account_sid or a.owner_account_sid == owner]
    if owner != api.account_sid:  # a subaccount sees only itself
        visible = [a for a in visible if a.sid == api.account_sid]
    items = [
        a
        for a in sorted(visible, key=lambda a: a.date_created, reverse=True)
        if (name is None or a.friendly_name == name) and (status is None or a.status == status)
    ]
    return page(api, "accounts", items, filters_of(query, ("FriendlyName", "Status")))


async def create_account(api: ApiRequest) -> web.Response:
    directory = api.state.directory
    owner = directory.get(api.account_sid)
    if owner is None or owner.owner_account_sid != owner.sid:
        raise TwilioApiError(20008, "Subaccounts cannot create subaccounts", 403)
    now = utcnow()
    name = api.form.get("FriendlyName") or f"SubAccount Created at {now:%Y-%m-%d %I:%M %p}"
    record = AccountRecord(
        sid="AC" + secrets.token_hex(16),
        auth_token=secrets.token_hex(16),
        friendly_name=name[:64],
        owner_account_sid=owner.sid,
        type=owner.type,
        status="active",
        date_created=now,
        date_updated=now,
    )
    directory.accounts[record.sid] = record
    return json_response(record.to_json(), 201)


async def fetch_account(api: ApiRequest) -> web.Response:
    return json_response(_account(api).to_json())


async def update_account(api: ApiRequest) -> web.Response:
    record = _account(api)
    name, status = api.form.get("FriendlyName"), api.form.get("Status")
    if status is not None:
        if status not in ACCOUNT_STATUSES:
            raise invalid_parameter("Status", status, "expected active, suspended or closed")
        if record.owner_account_sid == record.sid and status != record.status:
            raise invalid_parameter("Status", status, "only a subaccount can be suspended or closed")
        if record.status == "closed" and status != "closed":
            raise invalid_parameter("Status", status, "a closed account cannot be reopened")
    if name is not None:
        record.friendly_name = name[:64]
    if status is not None and status != record.status:
        record.status = status
        if status == "closed":
            api.state.inventory.release_account(record.sid)  # Twilio releases a closed account's numbers
    record.date_updated = utcnow()
    return json_response(record.to_json())


# Paths under /2010-04-01 (not under an account): the account is the one in the path, or the caller's.
TOP_ROUTES = [
    ("GET", "/Accounts.json", list_accounts),
    ("POST", "/Accounts.json", create_account),
    ("GET", "/Accounts/{sid}.json", fetch_account),
    ("POST", "/Accounts/{sid}.json", update_account),
]
