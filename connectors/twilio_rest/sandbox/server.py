"""A local fake of Twilio's 2010-04-01 REST API: Messages (create/list/fetch/update/delete, Feedback),
Calls (create/fetch/list/update), and Verify v2 under /v2 (verify.py), for developing and testing the
gateway without network.

Start it with ``gateway twilio-sandbox [--port 8299]`` and point the connector's ``apiUrl`` at
``http://127.0.0.1:8299``. Behaviour follows api.twilio.com: HTTP Basic auth (Auth Token or
API key), form bodies with repeated array fields, the legacy error JSON, RFC 2822 dates,
paging envelopes, Twilio's magic test numbers and signed status callbacks.

Developer/test extras live under ``/_sandbox`` (not part of Twilio's API):

- ``GET /_sandbox``: default account, API key and the endpoint list
- ``GET|DELETE /_sandbox/requests``: received API requests (Authorization masked)
- ``GET|DELETE /_sandbox/callbacks``: status callbacks attempted or skipped
- ``GET|POST /_sandbox/config``: runtime knobs, e.g. ``{"response_delay": 2.5}``
- ``GET /_sandbox/messages``: every stored message of every account
- ``GET /_sandbox/verifications``: Verify's verifications with their codes
- ``POST /_sandbox/reset``: forget messages, calls, requests and callbacks

In-process tests can read the same data from ``app[SANDBOX_STATE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import logging
import math
import re
import signal
import sys
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, cast

import aiohttp
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler as RequestHandler
from multidict import MultiDict

from . import applications, call_progress, numbers, recordings, rules, trial, verify
from .accounts import Accounts, accounts_from_mapping, load_accounts, merge_accounts, parse_basic_auth
from .api import ApiRequest, Handler, error_response, json_response
from .api import page as _page
from .callbacks import CallbackRecord, deliver
from .directory import TOP_ROUTES, Directory, Profile, account_not_active, load_profiles
from .errors import TwilioApiError, authenticate, invalid_parameter, method_not_allowed, not_found
from .errors import too_many_requests as too_many_requests_error
from .inventory import Inventory
from .segments import count_segments
from .store import (
    API_VERSION,
    PRICE_PER_SEGMENT,
    CallRecord,
    MessageRecord,
    Store,
    new_sid,
    rfc2822,
    utcnow,
)
from .throughput import QUEUE_LIMIT, Admission, ModelClock, SenderQueues

log = logging.getLogger(__name__)

ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8299
DELAY_HEADER = "X-Sandbox-Delay"
MAX_DELAY = 300.0
# Inspection logs are capped so a long-running sandbox (or a benchmark) cannot grow unbounded.
MAX_RECORDS = 10_000
# Statuses during which Twilio refuses DELETE (error 20009).
IN_FLIGHT = frozenset({"accepted", "scheduled", "queued", "sending"})


@dataclass(slots=True)
class SandboxConfig:
    """Runtime knobs, changeable while running through ``POST /_sandbox/config``.

    - ``response_delay``: seconds to wait before answering every API request (timeouts).
    - ``status_delays``: (queued -> sent, sent -> delivered) seconds of the status timers.
    - ``rate_limit``: answer every API request with 429 / 20429 while true.
    - ``rate_limit_next``: answer the next N API requests with 429 / 20429, then recover.
    - ``callback_timeout``: total timeout of one status callback POST.
    - ``throughput``: model per-sender throughput and queueing (throughput.py) while true.
    - ``time_scale``: model seconds per real second for queue waits (1 = real time).
    - ``queue_limit``: seconds of queued sending a sender holds before 21611 (Twilio: 10 hours).
    - ``retry_after``: seconds sent as Retry-After with every 429 (0: no header, as Twilio mostly does).
    - ``server_error_next``: answer the next N API requests with 503 / 20503, then recover.
    """

    response_delay: float = 0.0
    status_delays: tuple[float, float] = (0.2, 0.5)
    rate_limit: bool = False
    rate_limit_next: int = 0
    callback_timeout: float = 5.0
    throughput: bool = True
    time_scale: float = 1.0
    queue_limit: float = QUEUE_LIMIT
    retry_after: float = 0.0
    server_error_next: int = 0

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def update(self, data: Mapping[str, Any]) -> None:
        """Apply a partial update; validates everything before changing anything."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        staged: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("response_delay", "callback_timeout", "queue_limit", "retry_after"):
                staged[key] = _non_negative(key, value)
            elif key == "time_scale":
                if _non_negative(key, value) == 0:
                    raise ValueError("time_scale must be a positive number")
                staged[key] = float(value)
            elif key == "status_delays":
                if not isinstance(value, (list, tuple)) or len(value) != 2:
                    raise ValueError("status_delays must be a list of two numbers")
                staged[key] = (_non_negative(key, value[0]), _non_negative(key, value[1]))
            elif key in ("rate_limit", "throughput"):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
                staged[key] = value
            elif key in ("rate_limit_next", "server_error_next"):
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"{key} must be a non-negative integer")
                staged[key] = value
        for key, value in staged.items():
            setattr(self, key, value)


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a non-negative number")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number")
    return float(value)


class SandboxState:
    """Everything the sandbox knows; ``app[SANDBOX_STATE]`` for in-process tests."""

    def __init__(
        self,
        accounts: Accounts,
        config: SandboxConfig,
        messaging_service_sender: str,
        profiles: Mapping[str, Profile] | None = None,
    ) -> None:
        self.accounts = accounts
        self.config = config
        self.messaging_service_sender = messaging_service_sender
        self.store = Store()
        self.directory = Directory(accounts, profiles or {})
        self.inventory = Inventory()
        self.clock = ModelClock(config.time_scale)
        self.queues = SenderQueues(self.clock)
        self.verify = verify.VerifyStore()
        self._seed()
        self.requests: list[dict[str, Any]] = []
        self.request_ids = itertools.count(1)
        self.callbacks: list[CallbackRecord] = []
        self.session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._message_tasks: dict[str, asyncio.Task[None]] = {}
        # Timers waiting for a SendAt (minutes away): settle() must not wait for them.
        self._scheduled: set[asyncio.Task[None]] = set()

    # -- background work -------------------------------------------------------------------
    def spawn(
        self,
        coro: Coroutine[Any, Any, None],
        *,
        message_sid: str | None = None,
        scheduled: bool = False,
    ) -> asyncio.Task[None]:
        """Run ``coro`` in the background; tracked so app cleanup can cancel it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if scheduled:
            self._scheduled.add(task)
            task.add_done_callback(self._scheduled.discard)
        if message_sid is not None:
            self._message_tasks[message_sid] = task
            task.add_done_callback(lambda _t: self._message_tasks.pop(message_sid, None))
        return task

    @property
    def pending_tasks(self) -> int:
        """Status timers and callbacks still running (for tests and diagnostics)."""
        return sum(1 for task in self._tasks if not task.done())

    def cancel_message_timer(self, message_sid: str) -> None:
        task = self._message_tasks.pop(message_sid, None)
        if task is not None:
            task.cancel()

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until pending status timers and callbacks finished (scheduled sends excluded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            pending = [t for t in self._tasks if not t.done() and t not in self._scheduled]
            if not pending:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{len(pending)} sandbox task(s) still running after {timeout}s")
            await asyncio.wait(pending, timeout=remaining)

    async def close(self) -> None:
        """Cancel every timer and callback, then close the HTTP session."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._message_tasks.clear()
        if self.session is not None:
            await self.session.close()
            self.session = None

    def reset(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.store.clear()
        self.requests.clear()
        self.callbacks.clear()
        self.directory.reset()
        self.inventory.clear()
        self.queues.clear()
        self.verify.clear()
        self._seed()

    def _seed(self) -> None:
        for sid, profile in self.directory.profiles.items():
            self.inventory.seed(sid, profile.phone_numbers, profile.verified_numbers)

    def service_senders(self, account_sid: str, service_sid: str) -> tuple[str, ...]:
        """The sender pool of a Messaging Service (accounts YAML), else the one default sender."""
        services = self.directory.profile(self.directory.owner_of(account_sid)).messaging_services
        return services.get(service_sid) or (self.messaging_service_sender,)

    def admit(self, msg: MessageRecord, senders: Sequence[str]) -> Admission:
        """The message's place in its sender's queue (throughput.py); 21611 when the queue is full."""
        self.clock.rescale(self.config.time_scale)
        if not self.config.throughput:
            return Admission(senders[0], 0.0, expires=False)
        units = 1 if msg.media_urls else max(msg.num_segments, 1)
        validity = float(msg.validity_period or rules.MAX_VALIDITY_PERIOD)
        return self.queues.admit(msg.account_sid, senders, msg.to, units, validity, self.config.queue_limit)

    async def post_callback(
        self, account_sid: str, url: str, params: list[tuple[str, str]], *, resource_sid: str, status: str
    ) -> None:
        """One signed callback (the account's token signs it), recorded in ``callbacks``."""
        token = self.directory.auth_token(account_sid)
        if token is None:  # account removed at runtime; nothing to sign with
            return
        record = await deliver(
            self.session,
            url,
            params,
            token,
            resource_sid=resource_sid,
            resource_status=status,
            timeout=self.config.callback_timeout,
        )
        _append_capped(self.callbacks, record)

    # -- callbacks ----------------------------------------------------------------------------
    async def send_message_callback(self, msg: MessageRecord) -> None:
        if msg.status_callback is None:
            return
        token = self.directory.auth_token(msg.account_sid)
        if token is None:  # account removed at runtime; nothing to sign with
            return
        params: list[tuple[str, str]] = [
            ("AccountSid", msg.account_sid),
            ("ApiVersion", API_VERSION),
            ("From", msg.from_ or ""),
            ("MessageSid", msg.sid),
            ("MessageStatus", msg.status),
            ("SmsSid", msg.sid),
            ("SmsStatus", msg.status),
            ("To", msg.to),
        ]
        if msg.messaging_service_sid:
            params.append(("MessagingServiceSid", msg.messaging_service_sid))
        if msg.status in ("failed", "undelivered") and msg.error_code is not None:
            params.append(("ErrorCode", str(msg.error_code)))
        if msg.status in ("delivered", "undelivered"):
            params.append(("RawDlrDoneDate", utcnow().strftime("%y%m%d%H%M")))
        record = await deliver(
            self.session,
            msg.status_callback,
            params,
            token,
            resource_sid=msg.sid,
            resource_status=msg.status,
            timeout=self.config.callback_timeout,
        )
        _append_capped(self.callbacks, record)


SANDBOX_STATE: web.AppKey[SandboxState] = web.AppKey("twilio_sandbox_state", SandboxState)


def _append_capped(log_list: list[Any], item: Any) -> None:
    log_list.append(item)
    if len(log_list) > MAX_RECORDS:
        del log_list[: len(log_list) - MAX_RECORDS]


# ---------------------------------------------------------------------------------------------
# API routing
# ---------------------------------------------------------------------------------------------
def _api_router() -> web.UrlDispatcher:
    """aiohttp's router resolves the API paths (404 for an unknown path, 405 for a known path with another
    method); api_dispatch answers both as Twilio does, after authentication, and calls the handler."""
    router = web.UrlDispatcher()
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/Messages.json", list_messages),
        ("POST", "/Messages.json", create_message),
        ("GET", "/Messages/{sid}.json", fetch_message),
        ("POST", "/Messages/{sid}.json", update_message),
        ("DELETE", "/Messages/{sid}.json", delete_message),
        ("POST", "/Messages/{sid}/Feedback.json", create_feedback),
        ("GET", "/Calls.json", list_calls),
        ("POST", "/Calls.json", create_call),
        ("GET", "/Calls/{sid}.json", fetch_call),
        ("POST", "/Calls/{sid}.json", update_call),
    ]
    routes += numbers.ROUTES + applications.ROUTES + recordings.ROUTES
    for method, path, handler in routes:
        # aiohttp only resolves these (api_dispatch calls the handler, with an ApiRequest)
        router.add_route(method, "/2010-04-01/Accounts/{account}" + path, cast(RequestHandler, handler))
    for method, path, handler in TOP_ROUTES:  # the Accounts resource itself
        router.add_route(method, "/2010-04-01" + path, cast(RequestHandler, handler))
    return router


def _mask_headers(request: web.Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        if name.lower() == "authorization":
            scheme, _, rest = value.partition(" ")
            user = ""
            creds = parse_basic_auth(value)
            if creds is not None:
                user = creds[0] + ":"
            value = f"{scheme} {user}***" if rest else "***"
        headers[str(name)] = value  # CIMultiDict keys are istr; orjson wants plain str
    return headers


async def _read_form(request: web.Request) -> MultiDict[str]:
    """The urlencoded body as a MultiDict; repeated fields (MediaUrl) stay repeated."""
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return MultiDict()  # the SDK sends a form Content-Type even on GET; there is no body
    posted = await request.post()
    return MultiDict((k, v) for k, v in posted.items() if isinstance(v, str))


def _request_delay(request: web.Request, state: SandboxState) -> float:
    raw = request.headers.get(DELAY_HEADER)
    if raw is not None:
        try:
            value = float(raw)
        except ValueError:
            value = state.config.response_delay
        else:
            if not math.isfinite(value):
                value = state.config.response_delay
    else:
        value = state.config.response_delay
    return min(max(value, 0.0), MAX_DELAY)


async def api_dispatch(request: web.Request) -> web.Response:
    """Entry point for every ``/2010-04-01/...`` request: record, auth, route, delay."""
    state = request.app[SANDBOX_STATE]
    try:
        form = await _read_form(request)
    except ValueError as exc:  # undecodable body; 413 (HTTPException) passes through as aiohttp's
        return error_response(invalid_parameter("body", str(exc)[:80], "expected an urlencoded form"))
    record: dict[str, Any] = {
        "id": next(state.request_ids),
        "time": datetime.now(UTC).isoformat(),
        "method": request.method,
        "path": request.path,
        "raw_path": request.raw_path,
        "query": [[k, v] for k, v in request.query.items()],
        "form": [[k, v] for k, v in form.items()],
        "headers": _mask_headers(request),
        "content_type": request.content_type,
        "account_sid": None,
        "auth_user": None,
        "status": None,
    }
    _append_capped(state.requests, record)
    try:
        if state.config.server_error_next > 0:
            state.config.server_error_next -= 1
            raise TwilioApiError(20503, "Service Unavailable", 503)
        if request.path.startswith("/v2/"):  # Verify v2 (verify.twilio.com)
            if state.config.rate_limit or state.config.rate_limit_next > 0:
                state.config.rate_limit_next = max(0, state.config.rate_limit_next - 1)
                raise too_many_requests_error()
            response = await verify.route(request, state, form, record)
        else:
            response = await _route(request, state, form, record)
    except TwilioApiError as exc:
        response = error_response(exc)
        if exc.status == 429 and state.config.retry_after > 0:
            response.headers["Retry-After"] = f"{state.config.retry_after:g}"
    record["status"] = response.status
    delay = _request_delay(request, state)
    if delay > 0:
        await asyncio.sleep(delay)
    return response


async def _route(
    request: web.Request, state: SandboxState, form: MultiDict[str], record: dict[str, Any]
) -> web.Response:
    path = request.path
    parts = request.rel_url.parts  # ("/", "2010-04-01", "Accounts", AccountSid, ...)
    authorization = request.headers.get("Authorization")
    if parts[2:] == ("Accounts.json",):  # list or create accounts: the caller's own account
        principal = state.directory.principal(authorization)
        if principal is None:
            raise authenticate()
        user, account_sid = principal
    else:
        if len(parts) < 4 or parts[2] != "Accounts" or not parts[3]:
            raise not_found(path)
        account_resource = len(parts) == 4 and parts[3].endswith(".json")  # Accounts/{Sid}.json
        account_sid = parts[3].removesuffix(".json") if account_resource else parts[3]
        if not ACCOUNT_SID_RE.match(account_sid):
            raise not_found(path)  # no such path at Twilio (seed 001: a truncated account SID is a 404)
        found = state.directory.authenticate(authorization, account_sid)
        if found is None:
            raise authenticate()
        user = found
        account = state.directory.get(account_sid)
        if not account_resource and account is not None and account.status != "active":
            raise account_not_active()
    record["account_sid"] = account_sid
    record["auth_user"] = user
    if state.config.rate_limit:
        raise too_many_requests_error()
    if state.config.rate_limit_next > 0:
        state.config.rate_limit_next -= 1
        raise too_many_requests_error()
    match = await _API_ROUTER.resolve(request)
    if isinstance(match.http_exception, web.HTTPMethodNotAllowed):
        raise method_not_allowed(request.method)
    if match.http_exception is not None:
        raise not_found(path)
    handler = cast(Handler, match.handler)  # the router holds the API's own handlers (_api_router)
    return await handler(ApiRequest(request, state, account_sid, form, match))


# ---------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------
async def create_message(api: ApiRequest) -> web.Response:
    now = utcnow()
    spec = rules.validate_message_create(api.form, now, _service_sender(api))
    trial.check_message(api, spec.to, spec.from_)
    text = trial.message_body(api, spec.body)
    if spec.send_at is not None:
        status = "scheduled"
    elif spec.from_ is None:
        status = "accepted"  # a Messaging Service still has to pick a sender
    else:
        status = "queued"
    msg = MessageRecord(
        sid=new_sid("MM" if spec.media_urls else "SM"),
        account_sid=api.account_sid,
        to=spec.to,
        from_=spec.from_,
        body=text,
        status=status,
        num_segments=count_segments(text).segments,
        media_urls=spec.media_urls,
        messaging_service_sid=spec.messaging_service_sid,
        date_created=now,
        date_updated=now,
        # StatusCallback wins over the application's message_status_callback (Twilio's rule).
        status_callback=spec.status_callback
        or applications.callback_of(api, spec.application_sid, "message_status_callback"),
        application_sid=spec.application_sid,
        send_at=spec.send_at,
        validity_period=spec.validity_period,
        params=list(api.form.items()),
    )
    # A scheduled message joins its sender's queue at SendAt; any other one now (or 21611, nothing stored).
    admission = api.state.admit(msg, _senders(api.state, msg)) if spec.send_at is None else None
    api.state.store.account(api.account_sid).messages[msg.sid] = msg
    body = msg.to_json()  # snapshot before any timer can change it
    api.state.spawn(
        _progress_message(api.state, msg, spec.outcome, admission),
        message_sid=msg.sid,
        scheduled=spec.send_at is not None,
    )
    return json_response(body, 201)


def _service_sender(api: ApiRequest) -> str | None:
    """The first sender of the message's Messaging Service (its country applies to a national To)."""
    service = api.form.get("MessagingServiceSid") or api.form.get("From") or ""
    if not rules.MESSAGING_SERVICE_SID_RE.match(service):
        return None
    return api.state.service_senders(api.account_sid, service)[0]


def _senders(state: SandboxState, msg: MessageRecord) -> Sequence[str]:
    if msg.from_ is not None:
        return [msg.from_]
    return state.service_senders(msg.account_sid, msg.messaging_service_sid or "")


async def _transition(state: SandboxState, msg: MessageRecord, status: str) -> None:
    msg.status = status
    msg.touch()
    await state.send_message_callback(msg)


async def _progress_message(
    state: SandboxState, msg: MessageRecord, outcome: rules.Outcome, admission: Admission | None
) -> None:
    """Drive scheduled/accepted -> queued -> sent -> delivered (or a failure) on timers; the time in
    the sender's queue comes from the throughput model (throughput.py)."""
    try:
        if msg.status == "scheduled" and msg.send_at is not None:
            await asyncio.sleep(max(0.0, (msg.send_at - utcnow()).total_seconds()))
            if msg.status != "scheduled":
                return
            try:
                admission = state.admit(msg, _senders(state, msg))
            except TwilioApiError:  # the sender's queue is full at SendAt
                admission = Admission(msg.from_ or state.messaging_service_sender, 0.0, expires=True)
                msg.validity_period = 0
            await _transition(state, msg, "queued" if msg.from_ else "accepted")
        assert admission is not None, "an unscheduled message is admitted when it is created"
        if msg.status == "accepted":
            msg.from_ = admission.sender
            await _transition(state, msg, "queued")
        if admission.expires:  # it would outlive its validity period in the queue
            validity = float(msg.validity_period if msg.validity_period is not None else rules.MAX_VALIDITY_PERIOD)
            await asyncio.sleep(state.clock.real_seconds(validity))
            msg.error_code, msg.error_message = 30001, "Queue overflow"
            await _transition(state, msg, "failed")
            return
        await asyncio.sleep(max(state.config.status_delays[0], state.clock.real_seconds(admission.wait)))
        if outcome.status == "failed":
            msg.error_code, msg.error_message = outcome.error_code, outcome.error_message
            await _transition(state, msg, "failed")
            return
        # The modelled send time: creation plus the time in the queue (ahead of the clock when time_scale > 1).
        # Not max(now, modelled): the status delay would shift only the first of a backlog, and its successor
        # would then share its second.
        msg.date_sent = datetime.fromtimestamp(int(admission.sent_at), UTC)
        msg.price = f"-{PRICE_PER_SEGMENT * max(msg.num_segments, 1):.5f}"
        await _transition(state, msg, "sent")
        await asyncio.sleep(state.config.status_delays[1])
        msg.error_code, msg.error_message = outcome.error_code, outcome.error_message
        await _transition(state, msg, outcome.status)
    except asyncio.CancelledError:
        raise
    except Exception:  # a bug here must not leak into the event loop's error log forever
        log.exception("status progression of %s failed", msg.sid)


def _find_message(api: ApiRequest) -> MessageRecord:
    sid = api.params["sid"]
    msg = api.state.store.account(api.account_sid).messages.get(sid)
    if msg is None:
        raise not_found(api.request.path)
    return msg


async def fetch_message(api: ApiRequest) -> web.Response:
    return json_response(_find_message(api).to_json())


async def update_message(api: ApiRequest) -> web.Response:
    msg = _find_message(api)
    status = api.form.get("Status")
    body = api.form.get("Body")
    if status is not None:
        if status != "canceled":
            raise invalid_parameter("Status", status, "the only allowed value is canceled")
        if msg.status != "scheduled":
            raise TwilioApiError(30409, "This message cannot be canceled")
    if body is not None and body != "":
        raise invalid_parameter("Body", body, "a message body can only be redacted (set to an empty string)")
    if body == "":
        msg.body = ""
        msg.touch()
    if status == "canceled":
        api.state.cancel_message_timer(msg.sid)
        msg.status = "canceled"
        msg.touch()
        api.state.spawn(api.state.send_message_callback(msg))
    return json_response(msg.to_json())


async def delete_message(api: ApiRequest) -> web.Response:
    msg = _find_message(api)
    if msg.status in IN_FLIGHT:
        raise TwilioApiError(20009, "Cannot delete message because it is still being delivered")
    api.state.cancel_message_timer(msg.sid)
    del api.state.store.account(api.account_sid).messages[msg.sid]
    return web.Response(status=204, headers={"Twilio-Request-Id": new_sid("RQ")})


async def create_feedback(api: ApiRequest) -> web.Response:
    """Message Feedback: the recipient's outcome (confirmed / unconfirmed), kept on the message."""
    msg = _find_message(api)
    outcome = api.form.get("Outcome") or "confirmed"
    if outcome not in ("confirmed", "unconfirmed"):
        raise invalid_parameter("Outcome", outcome, "confirmed or unconfirmed")
    now = utcnow()
    msg.feedback = outcome
    return json_response(
        {
            "account_sid": msg.account_sid,
            "message_sid": msg.sid,
            "outcome": outcome,
            "date_created": rfc2822(now),
            "date_updated": rfc2822(now),
            "uri": msg.uri.removesuffix(".json") + "/Feedback.json",
        }
    )


async def list_messages(api: ApiRequest) -> web.Response:
    query = api.request.query
    bounds = rules.parse_date_sent_filters(query)
    to, from_ = query.get("To"), query.get("From")
    items = [
        m
        for m in api.state.store.account(api.account_sid).newest_first()
        if (to is None or m.to == to)
        and (from_ is None or m.from_ == from_)
        and rules.matches_date_bounds(m.date_sent, bounds)
    ]
    filters = [(n, query[n]) for n in ("To", "From", "DateSent", "DateSent<", "DateSent>") if n in query]
    return _page(api, "messages", items, filters)


# ---------------------------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------------------------
async def create_call(api: ApiRequest) -> web.Response:
    spec = rules.validate_call_create(api.form)
    trial.check_call(api, spec.to)
    now = utcnow()
    call = CallRecord(
        sid=new_sid("CA"),
        account_sid=api.account_sid,
        to=spec.to,
        from_=spec.from_,
        status="queued",
        date_created=now,
        date_updated=now,
        url=spec.url,
        twiml=spec.twiml,
        application_sid=spec.application_sid,
        method=spec.method,
        status_callback=spec.status_callback or applications.callback_of(api, spec.application_sid, "status_callback"),
        params=list(api.form.items()),
    )
    api.state.store.account(api.account_sid).calls[call.sid] = call
    body = call.to_json()  # snapshot before the progression timer changes it
    api.state.spawn(call_progress.progress_call(api.state, call), message_sid=call.sid)
    return json_response(body, 201)


async def fetch_call(api: ApiRequest) -> web.Response:
    call = api.state.store.account(api.account_sid).calls.get(api.params["sid"])
    if call is None:
        raise not_found(api.request.path)
    return json_response(call.to_json())


async def update_call(api: ApiRequest) -> web.Response:
    """Redirect a live call (Url or Twiml) or end it (Status): Twilio's rules, call_progress.update_call."""
    call = api.state.store.account(api.account_sid).calls.get(api.params["sid"])
    if call is None:
        raise not_found(api.request.path)
    await call_progress.update_call(api.state, call, rules.validate_call_update(api.form))
    return json_response(call.to_json())


async def list_calls(api: ApiRequest) -> web.Response:
    query = api.request.query
    to, from_, status = query.get("To"), query.get("From"), query.get("Status")
    parent = query.get("ParentCallSid")
    starts = rules.parse_date_filters(query, "StartTime")
    ends = rules.parse_date_filters(query, "EndTime")
    calls = sorted(api.state.store.account(api.account_sid).calls.values(), key=lambda c: c.seq, reverse=True)
    items = [
        c
        for c in calls
        if (to is None or c.to == to)
        and (from_ is None or c.from_ == from_)
        and (status is None or c.status == status)
        and (parent is None or parent == "")  # the sandbox places no child calls
        and rules.matches_date_bounds(c.start_time, starts)
        and rules.matches_date_bounds(c.end_time, ends)
    ]
    names = ("To", "From", "Status", "ParentCallSid", "StartTime", "StartTime<", "StartTime>", "EndTime")
    filters = [(n, query[n]) for n in (*names, "EndTime<", "EndTime>") if n in query]
    return _page(api, "calls", items, filters)


_API_ROUTER = _api_router()


# ---------------------------------------------------------------------------------------------
# /_sandbox inspection API
# ---------------------------------------------------------------------------------------------
def _plain_json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def sandbox_index(request: web.Request) -> web.Response:
    state = request.app[SANDBOX_STATE]
    accounts = state.accounts
    keys = [
        {"sid": key.sid, "secret": key.secret, "account_sid": key.account_sid} for key in accounts.api_keys.values()
    ]
    return _plain_json(
        {
            "default_account_sid": accounts.default_sid,
            "default_auth_token": accounts.default_token,
            "api_keys": keys,
            "api_base": "/2010-04-01/Accounts/{AccountSid}/",
            "endpoints": [
                "GET|DELETE /_sandbox/requests",
                "GET|DELETE /_sandbox/callbacks",
                "GET|POST /_sandbox/config",
                "GET /_sandbox/messages",
                "GET /_sandbox/verifications",
                "POST /_sandbox/reset",
            ],
        }
    )


async def sandbox_requests(request: web.Request) -> web.Response:
    state = request.app[SANDBOX_STATE]
    if request.method == "DELETE":
        state.requests.clear()
        return web.Response(status=204)
    return _plain_json(state.requests)


async def sandbox_callbacks(request: web.Request) -> web.Response:
    state = request.app[SANDBOX_STATE]
    if request.method == "DELETE":
        state.callbacks.clear()
        return web.Response(status=204)
    return _plain_json([cb.to_json() for cb in state.callbacks])


async def sandbox_config(request: web.Request) -> web.Response:
    state = request.app[SANDBOX_STATE]
    if request.method == "POST":
        try:
            data = orjson.loads(await request.read())
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            state.config.update(data)
        except (ValueError, orjson.JSONDecodeError) as exc:
            return _plain_json({"error": str(exc)}, 400)
    return _plain_json(state.config.to_json())


async def sandbox_verifications(request: web.Request) -> web.Response:
    """Verify's verifications with their codes (what the phone would receive)."""
    state = request.app[SANDBOX_STATE]
    return _plain_json([v.inspect() for v in state.verify.verifications.values()])


async def sandbox_messages(request: web.Request) -> web.Response:
    state = request.app[SANDBOX_STATE]
    return _plain_json([m.to_json() for m in state.store.all_messages()])


async def sandbox_reset(request: web.Request) -> web.Response:
    request.app[SANDBOX_STATE].reset()
    return web.Response(status=204)


async def not_twilio(request: web.Request) -> web.Response:
    return error_response(not_found(request.path))


# ---------------------------------------------------------------------------------------------
# App factory and CLI
# ---------------------------------------------------------------------------------------------
def create_app(
    accounts: Mapping[str, str] | None = None,
    *,
    config_path: str | None = None,
    api_keys: Mapping[str, tuple[str, str]] | None = None,
    status_delays: tuple[float, float] = (0.2, 0.5),
    response_delay: float = 0.0,
    callback_timeout: float = 5.0,
    messaging_service_sender: str = "+15005550006",
    throughput: bool = True,
    time_scale: float = 1.0,
    queue_limit: float = QUEUE_LIMIT,
) -> web.Application:
    """Build the sandbox aiohttp application.

    Args:
        accounts: ``{AccountSid: AuthToken}``. When given (and ``config_path`` is not),
            these are the only accounts; otherwise accounts come from ``config_path`` or the
            bundled ``accounts.yaml``. Both given: the file's accounts plus these.
        config_path: YAML accounts file (see :func:`accounts.load_accounts`).
        api_keys: ``{ApiKeySid: (OwnerAccountSid, secret)}`` added to the accounts.
        status_delays: seconds queued -> sent and sent -> delivered of the status timers.
        response_delay: seconds to wait before answering every API request.
        callback_timeout: total timeout of one status callback POST.
        messaging_service_sender: the ``From`` a Messaging Service "picks" for a message
            created with ``MessagingServiceSid`` and no ``From`` (unless the accounts YAML gives
            the service a pool of senders).
        throughput, time_scale, queue_limit: the per-sender throughput model (throughput.py).
    """
    profiles = load_profiles(config_path) if accounts is None or config_path is not None else {}
    if accounts is None:
        table = load_accounts(config_path)
        if api_keys:
            table = merge_accounts(table, accounts_from_mapping(table.tokens, api_keys))
    else:
        table = accounts_from_mapping(accounts, api_keys)
        if config_path is not None:
            table = merge_accounts(load_accounts(config_path), table)
    config = SandboxConfig(
        response_delay=_non_negative("response_delay", response_delay),
        status_delays=(
            _non_negative("status_delays", status_delays[0]),
            _non_negative("status_delays", status_delays[1]),
        ),
        callback_timeout=_non_negative("callback_timeout", callback_timeout),
    )
    config.update({"throughput": throughput, "time_scale": time_scale, "queue_limit": queue_limit})
    state = SandboxState(table, config, messaging_service_sender, profiles)

    app = web.Application()
    app[SANDBOX_STATE] = state
    app.cleanup_ctx.append(_lifecycle)
    router = app.router
    router.add_get("/_sandbox", sandbox_index)
    router.add_route("GET", "/_sandbox/requests", sandbox_requests)
    router.add_route("DELETE", "/_sandbox/requests", sandbox_requests)
    router.add_route("GET", "/_sandbox/callbacks", sandbox_callbacks)
    router.add_route("DELETE", "/_sandbox/callbacks", sandbox_callbacks)
    router.add_route("GET", "/_sandbox/config", sandbox_config)
    router.add_route("POST", "/_sandbox/config", sandbox_config)
    router.add_get("/_sandbox/messages", sandbox_messages)
    router.add_get("/_sandbox/verifications", sandbox_verifications)
    router.add_post("/_sandbox/reset", sandbox_reset)
    router.add_route("*", "/2010-04-01/{tail:.*}", api_dispatch)
    router.add_route("*", "/v2/{tail:.*}", api_dispatch)
    router.add_route("*", "/{tail:.*}", not_twilio)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """One shared callback session for the app's lifetime; timers die with the app."""
    state = app[SANDBOX_STATE]
    # trust_env=False: proxy variables must never route callbacks off this machine.
    state.session = aiohttp.ClientSession(trust_env=False)
    try:
        yield
    finally:
        await state.close()


def banner(url: str, accounts: Accounts) -> str:
    default = f"test account {accounts.default_sid} / token {accounts.default_token}"
    lines = [f"Twilio sandbox on {url} — {default}"]
    for key in accounts.api_keys.values():
        lines.append(f"  API key {key.sid} / secret {key.secret} (account {key.account_sid})")
    lines.append(f"  inspect: {url}/_sandbox/requests  {url}/_sandbox/callbacks  {url}/_sandbox/config")
    return "\n".join(lines)


async def run(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    config_path: str | None = None,
    *,
    started: asyncio.Event | None = None,
    handle_signals: bool = False,
    **app_options: Any,
) -> None:
    """Serve until cancelled (or SIGINT/SIGTERM with ``handle_signals``).

    ``started`` is set once the socket listens; ``app_options`` go to :func:`create_app`.
    """
    app = create_app(config_path=config_path, **app_options)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = port
        # The real port when 0 was asked for (asyncio's and uvloop's servers have `sockets`, AbstractServer not).
        sockets = getattr(site._server, "sockets", None)
        if sockets:
            bound_port = sockets[0].getsockname()[1]
        shown_host = f"[{host}]" if ":" in host else host
        print(banner(f"http://{shown_host}:{bound_port}", app[SANDBOX_STATE].accounts), flush=True)
        if started is not None:
            started.set()
        stop = asyncio.Event()
        if handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):  # e.g. Windows
                    loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def _delays(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError("expected two comma-separated numbers, e.g. 0.2,0.5")
    try:
        a, b = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError("expected two comma-separated numbers, e.g. 0.2,0.5") from None
    return a, b


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (0-65535; 0 picks a free one)")
    return port


def build_parser(prog: str = "gateway twilio-sandbox") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Local fake of Twilio's 2010-04-01 REST API.")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"bind address (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--config", dest="config_path", help="accounts YAML (default: bundled accounts.yaml)")
    parser.add_argument("--response-delay", type=float, default=0.0, help="seconds before every API answer")
    parser.add_argument(
        "--status-delays", type=_delays, default=(0.2, 0.5), help="queued->sent,sent->delivered seconds"
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="model seconds per real second of sender queues (default 1)"
    )
    parser.add_argument(
        "--no-throughput", dest="throughput", action="store_false", help="send every message without queueing"
    )
    return parser


def freeze_after_full_collections() -> None:
    """Keep the collector's pauses short in a long-running sandbox process.

    Every message the sandbox is sent stays stored (as on Twilio) until deleted or reset, so a full (generation 2)
    collection walks all of them: at 700,000 stored messages (a 10-minute soak) each one stopped the event loop
    for 0.3 s or more, and every request waiting on the sandbox stalled with it. After each full collection what
    survived is live, so it is moved to the permanent generation (`gc.freeze`) and the next full collection walks
    only what was stored since. Deleted records are still freed at once (by reference count: they hold no cycles).
    Installed by the `twilio-sandbox` command only, not when tests embed the sandbox in their own process."""

    def freeze_survivors(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    if freeze_survivors.__qualname__ not in {getattr(cb, "__qualname__", "") for cb in gc.callbacks}:
        gc.callbacks.append(freeze_survivors)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    freeze_after_full_collections()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(
            run(
                args.host,
                args.port,
                args.config_path,
                handle_signals=True,
                response_delay=args.response_delay,
                status_delays=args.status_delays,
                time_scale=args.time_scale,
                throughput=args.throughput,
            )
        )
    except KeyboardInterrupt:
        return 0
    except (OSError, ValueError) as exc:
        print(f"twilio-sandbox: {exc}", file=sys.stderr)
        return 1
    return 0
