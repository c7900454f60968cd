"""Sandbox accounts: Account SID -> Auth Token, plus API keys owned by an account.

Loaded from a small YAML file (the bundled ``accounts.yaml`` by default) or built from a
plain mapping in tests. Authentication mirrors api.twilio.com: HTTP Basic with either
``AccountSid:AuthToken`` or ``ApiKeySid:ApiKeySecret``; the account in the URL must be
the authenticated account (or the key's owner).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG_PATH = Path(__file__).with_name("accounts.yaml")

ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
API_KEY_SID_RE = re.compile(r"^SK[0-9a-fA-F]{32}$")


@dataclass(frozen=True, slots=True)
class ApiKey:
    sid: str
    secret: str
    account_sid: str


@dataclass(frozen=True, slots=True)
class Accounts:
    """Immutable credential table; ``default_sid`` is the account printed at start-up."""

    tokens: Mapping[str, str]
    api_keys: Mapping[str, ApiKey] = field(default_factory=dict)
    default_sid: str | None = None

    @property
    def default_token(self) -> str | None:
        return self.tokens.get(self.default_sid) if self.default_sid else None

    def auth_token(self, account_sid: str) -> str | None:
        return self.tokens.get(account_sid)

    def authenticate(self, authorization: str | None, account_sid: str) -> str | None:
        """Return the authenticated username (AC… or SK…) or None when access is denied.

        Comparisons are constant-time so the sandbox does not teach bad habits.
        """
        creds = parse_basic_auth(authorization)
        if creds is None:
            return None
        username, password = creds
        if username.startswith("SK"):
            key = self.api_keys.get(username)
            ok = (
                key is not None
                and hmac.compare_digest(key.secret.encode(), password.encode())
                and key.account_sid == account_sid
            )
            return username if ok else None
        token = self.tokens.get(username)
        if token is None or username != account_sid:
            return None
        return username if hmac.compare_digest(token.encode(), password.encode()) else None


def parse_basic_auth(authorization: str | None) -> tuple[str, str] | None:
    """Decode ``Basic base64(user:pass)``; None for anything else."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def _check_sid(sid: Any, pattern: re.Pattern[str], what: str, source: str) -> str:
    if not isinstance(sid, str) or not pattern.match(sid):
        raise ValueError(f"{source}: {what} {sid!r} does not match {pattern.pattern}")
    return sid


def accounts_from_mapping(
    accounts: Mapping[str, str],
    api_keys: Mapping[str, tuple[str, str]] | None = None,
    *,
    default_sid: str | None = None,
) -> Accounts:
    """Build :class:`Accounts` from ``{AccountSid: AuthToken}`` and ``{KeySid: (AccountSid, secret)}``."""
    tokens = {_check_sid(sid, ACCOUNT_SID_RE, "account sid", "accounts"): str(tok) for sid, tok in accounts.items()}
    keys: dict[str, ApiKey] = {}
    for key_sid, (owner, secret) in (api_keys or {}).items():
        _check_sid(key_sid, API_KEY_SID_RE, "API key sid", "api_keys")
        if owner not in tokens:
            raise ValueError(f"api_keys: key {key_sid} belongs to unknown account {owner}")
        keys[key_sid] = ApiKey(key_sid, str(secret), owner)
    default = default_sid or next(iter(tokens), None)
    return Accounts(tokens, keys, default)


def load_accounts(path: str | Path | None = None) -> Accounts:
    """Load accounts from YAML (default: the bundled ``accounts.yaml``).

    Format::

        default: AC…            # optional, else the first account
        accounts:
          - sid: AC…
            auth_token: …
            api_keys: [{sid: SK…, secret: …}]
    """
    source = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    with source.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict) or not isinstance(data.get("accounts"), list):
        raise ValueError(f"{source}: expected a mapping with an 'accounts' list")
    return _accounts_from_entries(data["accounts"], data.get("default"), str(source))


def _accounts_from_entries(entries: Iterable[Any], default: Any, source: str) -> Accounts:
    tokens: dict[str, str] = {}
    keys: dict[str, tuple[str, str]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or "auth_token" not in entry:
            raise ValueError(f"{source}: each account needs 'sid' and 'auth_token'")
        sid = _check_sid(entry.get("sid"), ACCOUNT_SID_RE, "account sid", source)
        tokens[sid] = str(entry["auth_token"])
        for key in entry.get("api_keys") or []:
            if not isinstance(key, dict) or "secret" not in key:
                raise ValueError(f"{source}: each API key needs 'sid' and 'secret'")
            key_sid = _check_sid(key.get("sid"), API_KEY_SID_RE, "API key sid", source)
            keys[key_sid] = (sid, str(key["secret"]))
    if not tokens:
        raise ValueError(f"{source}: no accounts defined")
    if default is not None and default not in tokens:
        raise ValueError(f"{source}: default account {default!r} is not listed")
    return accounts_from_mapping(tokens, keys, default_sid=default)


def merge_accounts(base: Accounts, extra: Accounts) -> Accounts:
    """Union of two tables; ``extra`` wins on conflicts, ``base`` keeps the default."""
    tokens = {**base.tokens, **extra.tokens}
    keys = {**base.api_keys, **extra.api_keys}
    return Accounts(tokens, keys, base.default_sid or extra.default_sid)
