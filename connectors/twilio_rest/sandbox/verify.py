"""Verify v2 (``https://verify.twilio.com/v2/…``, served by the sandbox under ``/v2/``): Services,
Verifications (start, fetch, cancel / approve) and VerificationCheck, with Verify's rules and codes.

- A Service has a ``CodeLength`` (4-10, default 6); ``CustomCodeEnabled`` allows ``CustomCode``.
- ``POST …/Verifications`` (``To``, ``Channel`` sms | call | whatsapp | email | sna) sends a code: the
  sandbox keeps it, and ``GET /_sandbox/verifications`` shows it (a real code would reach the phone).
  Starting again for the same ``To`` while one is pending re-sends the same code (a new send attempt);
  the sixth attempt within the pending one is 60203 (429). ``Locale`` is checked (``en``, ``pt-BR``, …).
- ``POST …/VerificationCheck`` (``Code`` with ``To`` or ``VerificationSid``): the right code approves it
  (``valid`` true); a wrong one leaves it pending; the sixth wrong check is 60202 (429). No pending
  verification is 20404. A verification expires 10 minutes after it started.
- Errors use Verify's codes: 60200 (invalid parameter), 60202, 60203, 20404.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from aiohttp.typedefs import Handler as RequestHandler

from .api import json_response
from .errors import TwilioApiError, authenticate, method_not_allowed, not_found
from .rules import E164_RE
from .store import new_sid, utcnow

if TYPE_CHECKING:
    from multidict import MultiDict

    from .server import SandboxState

BASE_URL = "https://verify.twilio.com/v2"
CHANNELS = ("sms", "call", "email", "whatsapp", "sna")
LOCALE_RE = re.compile(r"^[a-z]{2}(-[A-Za-z]{2,4})?$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_SENDS = 5
MAX_CHECKS = 5
LIFETIME = timedelta(minutes=10)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def invalid(name: str, value: str) -> TwilioApiError:
    return TwilioApiError(60200, f"Invalid parameter `{name}`: {value}")


@dataclass(slots=True)
class Service:
    sid: str
    account_sid: str
    friendly_name: str
    code_length: int
    custom_code_enabled: bool
    date_created: datetime
    date_updated: datetime

    def to_json(self) -> dict[str, Any]:
        url = f"{BASE_URL}/Services/{self.sid}"
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "friendly_name": self.friendly_name,
            "code_length": self.code_length,
            "lookup_enabled": False,
            "psd2_enabled": False,
            "skip_sms_to_landlines": False,
            "dtmf_input_required": True,
            "tts_name": None,
            "do_not_share_warning_enabled": False,
            "custom_code_enabled": self.custom_code_enabled,
            "push": {"include_date": False, "apn_credential_sid": None, "fcm_credential_sid": None},
            "totp": {"issuer": self.friendly_name, "time_step": 30, "code_length": 6, "skew": 1},
            "default_template_sid": None,
            "whatsapp": {"msg_service_sid": None, "from": None},
            "passkeys": None,
            "verify_event_subscription_enabled": False,
            "date_created": _iso(self.date_created),
            "date_updated": _iso(self.date_updated),
            "url": url,
            "links": {
                name: f"{url}/{path}"
                for name, path in (
                    ("verification_checks", "VerificationCheck"),
                    ("verifications", "Verifications"),
                    ("rate_limits", "RateLimits"),
                    ("messaging_configurations", "MessagingConfigurations"),
                    ("entities", "Entities"),
                    ("webhooks", "Webhooks"),
                    ("access_tokens", "AccessTokens"),
                )
            },
        }


@dataclass(slots=True)
class Verification:
    sid: str
    service: Service
    to: str
    channel: str
    code: str
    locale: str
    date_created: datetime
    date_updated: datetime
    status: str = "pending"
    sends: list[dict[str, Any]] = field(default_factory=list)
    checks: int = 0

    def expire(self, now: datetime) -> None:
        if self.status == "pending" and now - self.date_created > LIFETIME:
            self.status = "expired"

    def _common(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "service_sid": self.service.sid,
            "account_sid": self.service.account_sid,
            "to": self.to,
            "channel": self.channel,
            "status": self.status,
            "valid": self.status == "approved",
            "amount": None,
            "payee": None,
            "date_created": _iso(self.date_created),
            "date_updated": _iso(self.date_updated),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self._common(),
            "lookup": {"carrier": None},
            "send_code_attempts": list(self.sends),
            "sna": None,
            "url": f"{BASE_URL}/Services/{self.service.sid}/Verifications/{self.sid}",
        }

    def check_json(self) -> dict[str, Any]:
        return {**self._common(), "sna_attempts_error_codes": []}

    def inspect(self) -> dict[str, Any]:
        """What /_sandbox/verifications shows: the code too (a real one reaches the phone)."""
        return {**self.to_json(), "code": self.code, "locale": self.locale, "checks": self.checks}


@dataclass(slots=True)
class VerifyStore:
    services: dict[str, Service] = field(default_factory=dict)
    verifications: dict[str, Verification] = field(default_factory=dict)

    def clear(self) -> None:
        self.services.clear()
        self.verifications.clear()


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    state: SandboxState
    account_sid: str
    form: MultiDict[str]
    params: dict[str, str]
    path: str

    def service(self) -> Service:
        found = self.state.verify.services.get(self.params.get("service", ""))
        if found is None or found.account_sid != self.account_sid:
            raise not_found(self.path)
        return found


VerifyHandler = Callable[[VerifyRequest], Awaitable[web.Response]]


def _flag(form: MultiDict[str], name: str) -> bool:
    value = (form.get(name) or "false").lower()
    if value not in ("true", "false"):
        raise invalid(name, value)
    return value == "true"


async def create_service(api: VerifyRequest) -> web.Response:
    name = api.form.get("FriendlyName") or ""
    if not name.strip() or len(name) > 30:
        raise invalid("FriendlyName", name)
    raw = api.form.get("CodeLength") or "6"
    if not raw.isdigit() or not 4 <= int(raw) <= 10:
        raise invalid("CodeLength", raw)
    now = utcnow()
    service = Service(new_sid("VA"), api.account_sid, name, int(raw), _flag(api.form, "CustomCodeEnabled"), now, now)
    api.state.verify.services[service.sid] = service
    return json_response(service.to_json(), 201)


async def fetch_service(api: VerifyRequest) -> web.Response:
    return json_response(api.service().to_json())


def _valid_to(channel: str, to: str) -> bool:
    if channel == "email":
        return bool(EMAIL_RE.match(to))
    return bool(E164_RE.match(to.removeprefix("whatsapp:")))


async def create_verification(api: VerifyRequest) -> web.Response:
    service = api.service()
    to, channel = api.form.get("To") or "", api.form.get("Channel") or ""
    if channel not in CHANNELS:
        raise invalid("Channel", channel)
    if not to or not _valid_to(channel, to):
        raise invalid("To", to)
    locale = api.form.get("Locale") or "en"
    if not LOCALE_RE.match(locale):
        raise invalid("Locale", locale)
    custom = api.form.get("CustomCode")
    if custom is not None:
        if not service.custom_code_enabled:
            raise TwilioApiError(60205, "Custom code is not enabled for this Service")  # sandbox wording
        if not custom.isdigit() or not 4 <= len(custom) <= 10:
            raise invalid("CustomCode", custom)
    now = utcnow()
    pending = _pending(api.state, service, to, now)
    if pending is not None:
        if len(pending.sends) >= MAX_SENDS:
            raise TwilioApiError(60203, "Max send attempts reached", 429)
        pending.channel = channel
        pending.locale = locale
        verification = pending
    else:
        code = custom or "".join(secrets.choice("0123456789") for _ in range(service.code_length))
        verification = Verification(new_sid("VE"), service, to, channel, code, locale, now, now)
        api.state.verify.verifications[verification.sid] = verification
    verification.sends.append({"attempt_sid": new_sid("VL"), "channel": channel, "time": _iso(now)})
    verification.date_updated = now
    return json_response(verification.to_json(), 201)


def _pending(state: SandboxState, service: Service, to: str, now: datetime) -> Verification | None:
    for verification in state.verify.verifications.values():
        verification.expire(now)
        if verification.service is service and verification.to == to and verification.status == "pending":
            return verification
    return None


def _find(api: VerifyRequest, service: Service) -> Verification:
    verification = api.state.verify.verifications.get(api.params.get("sid", ""))
    if verification is None or verification.service is not service:
        raise not_found(api.path)
    verification.expire(utcnow())
    return verification


async def fetch_verification(api: VerifyRequest) -> web.Response:
    verification = _find(api, api.service())
    if verification.status != "pending":
        raise not_found(api.path)  # Verify forgets a verification once it is approved, canceled or expired
    return json_response(verification.to_json())


async def update_verification(api: VerifyRequest) -> web.Response:
    verification = _find(api, api.service())
    status = api.form.get("Status") or ""
    if status not in ("canceled", "approved"):
        raise invalid("Status", status)
    if verification.status != "pending":
        raise not_found(api.path)
    verification.status = status
    verification.date_updated = utcnow()
    return json_response(verification.to_json())


async def check_verification(api: VerifyRequest) -> web.Response:
    service = api.service()
    code = api.form.get("Code") or ""
    to, sid = api.form.get("To"), api.form.get("VerificationSid")
    if not code:
        raise invalid("Code", code)
    if not to and not sid:
        raise TwilioApiError(60200, "Invalid parameter: either `To` or `VerificationSid` is required")
    now = utcnow()
    verification: Verification | None
    if sid:
        verification = api.state.verify.verifications.get(sid)
        if verification is not None:
            verification.expire(now)
            if verification.service is not service or verification.status != "pending":
                verification = None
    else:
        verification = _pending(api.state, service, to or "", now)
    if verification is None:
        raise not_found(api.path)
    if verification.checks >= MAX_CHECKS:
        raise TwilioApiError(60202, "Max check attempts reached", 429)
    verification.checks += 1
    if secrets.compare_digest(code, verification.code):
        verification.status = "approved"
    verification.date_updated = now
    return json_response(verification.check_json())


ROUTES: list[tuple[str, str, VerifyHandler]] = [
    ("POST", "/v2/Services", create_service),
    ("GET", "/v2/Services/{service}", fetch_service),
    ("POST", "/v2/Services/{service}/Verifications", create_verification),
    ("GET", "/v2/Services/{service}/Verifications/{sid}", fetch_verification),
    ("POST", "/v2/Services/{service}/Verifications/{sid}", update_verification),
    ("POST", "/v2/Services/{service}/VerificationCheck", check_verification),
]


def _router() -> web.UrlDispatcher:
    router = web.UrlDispatcher()
    for method, path, handler in ROUTES:
        router.add_route(method, path, cast(RequestHandler, handler))
    return router


_ROUTER = _router()


async def route(
    request: web.Request, state: SandboxState, form: MultiDict[str], record: dict[str, Any]
) -> web.Response:
    """Authenticate (the caller's own account, as verify.twilio.com does) and run the Verify handler."""
    principal = state.directory.principal(request.headers.get("Authorization"))
    if principal is None:
        raise authenticate()
    record["auth_user"], record["account_sid"] = principal
    match = await _ROUTER.resolve(request)
    if isinstance(match.http_exception, web.HTTPMethodNotAllowed):
        raise method_not_allowed(request.method)
    if match.http_exception is not None:
        raise not_found(request.path)
    handler = cast("VerifyHandler", match.handler)
    return await handler(VerifyRequest(state, principal[1], form, dict(match), request.path))
