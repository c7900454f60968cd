"""The twilioRest operations (declared in connector.yaml).

Every call goes through the pooled client's `request_async` (client_pool.py), which sends what the twilio
SDK sends (auth, User-Agent, form encoding) without its per-call objects, and the answer is Twilio's JSON byte
for byte (the SDK's resource objects would turn dates into datetimes and drop fields). Twilio 4xx/5xx answers
become faults carrying Twilio's code, message, status and body; the framework turns network failures and
timeouts into 101503 / 101504.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import orjson

from gateway.connector import (
    DESTINATION_NOT_ALLOWED,
    NO_CONNECTION,
    RESPONSE_PROCESSING_FAILED,
    ConnectorError,
    OperationCall,
)

# The account, phone-number and recording operations: table-driven (resources.py), one module per family.
from .accounts import create_sub_account, get_account, get_accounts_list, update_account  # noqa: F401
from .calls import get_call, get_call_list, get_new_call, modify_live_call  # noqa: F401
from .client_pool import Connection, RetryPolicy, TwilioClient, TwilioResponse, TwilioRuntime
from .errors import BODY_REQUIRED, FROM_REQUIRED, api_error, relayed_headers
from .messages import create_sms_feedback, delete_sms, update_sms  # noqa: F401
from .numbers import (  # noqa: F401
    add_outgoing_phone_number,
    get_available_local_numbers,
    get_available_toll_free_numbers,
    get_incoming_phone_number,
    get_incoming_phone_number_list,
    get_outgoing_phone_number,
    get_outgoing_phone_number_list,
    purchase_phone_number,
    remove_incoming_phone_number,
    remove_outgoing_phone_number,
    update_incoming_phone_number,
    update_outgoing_phone_number,
)
from .pacing import sms_pace  # noqa: F401
from .recordings import (  # noqa: F401
    delete_recording,
    get_recording,
    get_recording_list,
    get_transcription,
    get_transcription_list,
)
from .resources import SID_PATTERNS, convert_fields, passthrough_fields, sid_reason
from .spec_fields import create_call_fields, create_message_fields, update_call_fields  # noqa: F401
from .verify import (  # noqa: F401
    check_verification,
    create_verify_service,
    get_verification,
    start_verification,
    update_verification,
)
from .webhooks import validate_signature  # noqa: F401

if TYPE_CHECKING:
    from gateway.connector import Services

# Default-scope properties written by init: the twilioRest prefix keeps them out of the user's way, and
# the secret ones contain "authToken" / "Secret" so the log masker hides them.
PROPERTY_PREFIX = "twilioRest."
_CONNECTION_PARAMETERS = (
    "accountSid",
    "authToken",
    "apiKeySid",
    "apiKeySecret",
    "apiUrl",
    "apiVersion",
    "verifyUrl",
    "retries",
)
_CONNECTION_PROPERTIES = tuple((name, PROPERTY_PREFIX + name) for name in _CONNECTION_PARAMETERS)
MAX_RETRIES = 10
TWILIO_API_URL = "https://api.twilio.com"
VERIFY_URL = "https://verify.twilio.com"
_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_FILTER_RE = re.compile(r"^(<=|>=)?(\d{4}-\d{2}-\d{2})$")
_DATE_KEYS = {None: "DateSent", "<=": "DateSent<", ">=": "DateSent>"}
_URL_RE = re.compile(r"^https?://[^\s/]+")
MAX_PAGE_SIZE = 1000


async def start(services: Services, options: Mapping[str, Any]) -> TwilioRuntime:
    defaults = RetryPolicy()
    retries = options.get("retries")
    backoff = options.get("retry_backoff")
    max_wait = options.get("retry_max_wait")
    if services.transport is None:  # the gateway makes its transport before it starts the connectors
        raise RuntimeError("twilioRest starts inside a gateway: services.transport (its HTTP client) is not set")
    return TwilioRuntime(
        services.transport,  # the gateway's outbound HTTP client
        pool_size=int(options.get("pool_size") or 1024),
        max_response_bytes=services.settings.max_response_bytes,
        outbound=services.outbound,
        retry=RetryPolicy(
            retries=int(retries) if retries is not None else defaults.retries,
            backoff=float(backoff) if backoff is not None else defaults.backoff,
            max_wait=float(max_wait) if max_wait is not None else defaults.max_wait,
        ),
    )


# -- init ------------------------------------------------------------------------------------------
async def init(call: OperationCall) -> None:
    """Store the connection for the operations that follow (nothing is sent)."""
    token = call.value("authToken")
    key_sid, key_secret = call.value("apiKeySid"), call.value("apiKeySecret")
    if key_sid or key_secret:
        if not key_sid:
            raise call.missing("apiKeySid", "apiKeySecret was given without its API key SID")
        if not key_secret:
            raise call.missing("apiKeySecret", "apiKeySid was given without its secret")
    elif not token:
        raise call.missing("authToken", "give authToken, or apiKeySid and apiKeySecret")
    api_url = (call.value("apiUrl") or "").strip()
    if not _is_base_url(api_url):
        raise call.invalid("apiUrl", f"'{api_url}' is not an http(s) base URL such as https://api.twilio.com")
    retries = call.value("retries")
    verify_url = (call.value("verifyUrl") or "").strip()
    if verify_url and not _is_base_url(verify_url):
        raise call.invalid("verifyUrl", f"'{verify_url}' is not an http(s) base URL such as {VERIFY_URL}")
    version = (call.value("apiVersion") or "").strip()
    if not _VERSION_RE.match(version):
        raise call.invalid("apiVersion", f"'{version}' is not an API version such as 2010-04-01")
    props = call.ctx.properties
    values = {
        "accountSid": (call.value("accountSid") or "").strip(),
        "authToken": token,
        "apiKeySid": key_sid,
        "apiKeySecret": key_secret,
        "apiUrl": api_url.rstrip("/"),
        "apiVersion": version,
        "verifyUrl": verify_url.rstrip("/"),
        "retries": str(_integer(call, "retries", retries, 0, MAX_RETRIES)) if retries else None,
    }
    for name, property_name in _CONNECTION_PROPERTIES:
        if values[name]:
            props[property_name] = values[name]
        else:
            props.pop(property_name, None)  # a second init must not inherit the first one's key


@lru_cache(maxsize=256)
def _is_base_url(url: str) -> bool:
    """An http(s) URL with a host and no query or fragment (judged once per distinct URL)."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query and not parts.fragment


def _connection(call: OperationCall) -> Connection:
    props = call.ctx.properties
    account = props.get(PROPERTY_PREFIX + "accountSid")
    if not account:
        raise ConnectorError(
            f"{call.name} has no Twilio connection",
            NO_CONNECTION,
            f"at {call.bound.location}: run <twilioRest.init> earlier in the flow, or add "
            'configKey="ENTRY" naming a local entry that holds <twilioRest.init>',
            http_status=500,
        )
    key_sid = props.get(PROPERTY_PREFIX + "apiKeySid")
    if key_sid:
        username, password = str(key_sid), str(props.get(PROPERTY_PREFIX + "apiKeySecret") or "")
    else:
        username, password = str(account), str(props.get(PROPERTY_PREFIX + "authToken") or "")
    return Connection(
        str(account),
        username,
        password,
        str(props.get(PROPERTY_PREFIX + "apiUrl") or "https://api.twilio.com"),
        str(props.get(PROPERTY_PREFIX + "apiVersion") or "2010-04-01"),
    )


def verify_url(call: OperationCall, connection: Connection) -> str:
    """Verify's base URL: init's verifyUrl; else verify.twilio.com for the real API, or apiUrl itself (the
    sandbox serves Verify too). Checked against outbound.allow like apiUrl."""
    url = str(call.ctx.properties.get(PROPERTY_PREFIX + "verifyUrl") or "")
    if not url:
        url = VERIFY_URL if connection.api_url.rstrip("/") == TWILIO_API_URL else connection.api_url.rstrip("/")
    runtime: TwilioRuntime = call.runtime
    if url != connection.api_url.rstrip("/") and not runtime.outbound.allows(url):
        raise ConnectorError(
            f"twilioRest verifyUrl {url} is not an allowed destination",
            DESTINATION_NOT_ALLOWED,
            "it matches no rule of outbound.allow in the gateway config; nothing was sent",
            http_status=403,
        )
    return url


# -- calling Twilio --------------------------------------------------------------------------------
def _messages_url(client: TwilioClient, suffix: str = "") -> str:
    # The client is pooled per connection: its account URL is apiUrl, apiVersion and the quoted account SID.
    return f"{client.account_url}/Messages{suffix}.json"


async def _request(
    call: OperationCall, client: TwilioClient, method: str, url: str, form: list[tuple[str, str]] | None = None
) -> TwilioResponse:
    """One request; a GET answered 429 or 5xx is sent again (RetryPolicy: backoff, Retry-After). Nothing
    else is ever retried: a POST could send an SMS or place a call twice."""
    runtime: TwilioRuntime = call.runtime
    call.target = f"{method} {url.split('?', 1)[0]}"
    policy = runtime.retry
    override = call.ctx.properties.get(PROPERTY_PREFIX + "retries")
    retries = int(override) if override is not None else policy.retries
    attempt = 0
    while True:
        runtime.requests += 1
        # The framework's deadline for the operation (asyncio.timeout around it) bounds the call.
        response = await client.request_async(method, url, data=form, headers=call.correlation_headers())
        status = response.status_code
        if status < 400:
            return response
        if method != "GET" or attempt >= retries or not (status == 429 or status >= 500):
            raise api_error(status, response.body, response.headers, method, url)
        delay = policy.delay(attempt, (response.headers or {}).get("Retry-After"))
        if delay is None:  # Twilio asks for a longer wait than retry_max_wait: answer its error now
            raise api_error(status, response.body, response.headers, method, url)
        attempt += 1
        runtime.retries += 1
        call.retried()  # wso2_integration_connector_retry_count_total
        await asyncio.sleep(delay)


def _pass_through(call: OperationCall, response: TwilioResponse, body: bytes | None = None) -> None:
    content_type = response.headers.get("Content-Type") or "application/json"
    raw = body if body is not None else response.body  # Twilio's bytes, never parsed here
    call.set_result(response.status_code, raw, content_type, relayed_headers(response.headers, content_type))


# -- sendSms ---------------------------------------------------------------------------------------
# Every field of the spec's CreateMessage by name (after To, From, MessagingServiceSid, Body, MediaUrl),
# with the check its type needs (resources._convert kinds). Fields the spec gains later are accepted by
# their own name (connector.yaml passthrough: spec_fields.json) and sent unchanged.
SEND_FIELDS: dict[str, tuple[str, str]] = {
    "statusCallbackUrl": ("StatusCallback", "url"),
    "applicationSid": ("ApplicationSid", "sid:AP"),
    "maxPrice": ("MaxPrice", "decimal"),
    "provideFeedback": ("ProvideFeedback", "bool"),
    "validityPeriod": ("ValidityPeriod", "validity"),
    "attempt": ("Attempt", "int"),
    "forceDelivery": ("ForceDelivery", "bool"),
    "contentSid": ("ContentSid", "sid:HX"),
    "contentVariables": ("ContentVariables", "json_object"),
    "contentRetention": ("ContentRetention", "enum:retain|discard"),
    "addressRetention": ("AddressRetention", "enum:retain|obfuscate"),
    "smartEncoded": ("SmartEncoded", "bool"),
    "persistentAction": ("PersistentAction", "list"),
    "trafficType": ("TrafficType", "enum:free"),
    "shortenUrls": ("ShortenUrls", "bool"),
    "scheduleType": ("ScheduleType", "enum:fixed"),
    "sendAt": ("SendAt", "datetime"),
    "sendAsMms": ("SendAsMms", "bool"),
    "riskCheck": ("RiskCheck", "enum:enable|disable"),
    "fallbackFrom": ("FallbackFrom", "text"),
}
# Several URLs in one value are separated by whitespace, or by a comma before the next http(s):// (a
# comma inside a URL, as in .../w_100,h_100/a.jpg, is part of it).
_MEDIA_SPLIT_RE = re.compile(r"\s*,\s*(?=https?://)|\s+")
MAX_MEDIA = 10


async def send_sms(call: OperationCall) -> None:
    """POST Messages.json. Checked locally first: to, from or messagingServiceSid, a body, media or
    content template, every value's type; nothing is sent when a check fails."""
    to = call.value("to") or ""
    sender, service = call.value("from"), call.value("messagingServiceSid")
    if not sender and not service:
        raise call.missing("from", "A 'From' phone number is required (or give messagingServiceSid).", FROM_REQUIRED)
    body = call.value("messageBody")
    media = [url for value in call.values("mediaUrl") for url in _MEDIA_SPLIT_RE.split(value.strip()) if url]
    if not body and not media and not call.value("contentSid"):
        raise call.missing("messageBody", "Message body is required (or give mediaUrl or contentSid).", BODY_REQUIRED)
    if len(media) > MAX_MEDIA:
        raise call.invalid("mediaUrl", f"at most {MAX_MEDIA} media URLs are allowed, got {len(media)}")
    form: list[tuple[str, str]] = [("To", to)]
    if sender:
        form.append(("From", sender))
    if service:
        if not SID_PATTERNS["MG"].match(service.strip()):
            raise call.invalid("messagingServiceSid", sid_reason("MG", service))
        form.append(("MessagingServiceSid", service.strip()))
    if body:
        form.append(("Body", body))
    for url in media:
        if not _URL_RE.match(url):
            raise call.invalid("mediaUrl", f"'{url}' is not an absolute http(s) URL")
        form.append(("MediaUrl", url))  # repeated field, as Twilio expects
    form.extend(convert_fields(call, SEND_FIELDS))
    if call.value("sendAt") and not call.value("scheduleType"):
        form.append(("ScheduleType", "fixed"))  # Twilio schedules only with ScheduleType=fixed
    form.extend(passthrough_fields(call))
    connection = _connection(call)
    client = call.runtime.client(connection)
    response = await _request(call, client, "POST", _messages_url(client), form)
    _pass_through(call, response)


# -- getSms ----------------------------------------------------------------------------------------
async def get_sms(call: OperationCall) -> None:
    """GET Messages/{sid}.json (the current resource; /SMS/Messages no longer exists)."""
    sid = (call.value("messageSid") or "").strip()
    connection = _connection(call)
    if not SID_PATTERNS["SM|MM"].match(sid):
        raise call.invalid("messageSid", sid_reason("SM|MM", sid))  # the spec's pattern: nothing is sent
    client = call.runtime.client(connection)
    # quote(): a SID from the request must never change the path (no "../Calls" tricks).
    url = _messages_url(client, "/" + quote(sid, safe=""))
    response = await _request(call, client, "GET", url)
    _pass_through(call, response)


# -- getSmsList ------------------------------------------------------------------------------------
async def get_sms_list(call: OperationCall) -> None:
    """GET Messages.json with To / From / DateSent[<>] filters; `limit` merges several pages."""
    query: list[tuple[str, str]] = []
    for parameter, field in (("to", "To"), ("from", "From")):
        value = call.value(parameter)
        if value:
            query.append((field, value))
    seen: dict[str, str] = {}
    filters = [
        ("dateSent", call.value("dateSent"), None),
        ("dateSentBefore", call.value("dateSentBefore"), "<="),
        ("dateSentAfter", call.value("dateSentAfter"), ">="),
    ]
    for parameter, value, forced in filters:
        if not value:
            continue
        match = _DATE_FILTER_RE.match(value.strip())
        if match is None or (forced is not None and match.group(1) is not None):
            expected = "YYYY-MM-DD" if forced else "YYYY-MM-DD, <=YYYY-MM-DD or >=YYYY-MM-DD"
            raise call.invalid(parameter, f"'{value}' is not {expected}")
        try:
            date.fromisoformat(match.group(2))
        except ValueError:
            raise call.invalid(parameter, f"'{value}' is not a calendar date") from None
        key = _DATE_KEYS[forced or match.group(1)]
        if key in seen:
            raise call.invalid(parameter, f"{key} is already set by {seen[key]}")
        seen[key] = parameter
        query.append((key, match.group(2)))
    page_size = call.value("pageSize")
    limit_text = call.value("limit")
    limit = _integer(call, "limit", limit_text, 1) if limit_text else None
    if page_size:
        query.append(("PageSize", str(_integer(call, "pageSize", page_size, 1, MAX_PAGE_SIZE))))
    elif limit is not None:
        query.append(("PageSize", str(min(limit, MAX_PAGE_SIZE))))  # one page when the limit allows it
    page = call.value("page")
    if page:
        query.append(("Page", str(_integer(call, "page", page, 0))))
    token = call.value("pageToken")
    if token:
        query.append(("PageToken", token.strip()))
    connection = _connection(call)
    client = call.runtime.client(connection)
    url = _messages_url(client)
    if query:
        # quote (not quote_plus): '+' in E.164 numbers becomes %2B, '<' / '>' become %3C / %3E.
        url += "?" + urlencode(query, quote_via=quote)
    response = await _request(call, client, "GET", url)
    if limit is None:
        _pass_through(call, response)
        return
    await _collect(call, client, response, limit)


async def _collect(call: OperationCall, client: TwilioClient, first: TwilioResponse, limit: int) -> None:
    """Follow next_page_uri until `limit` messages. Each next page asks only for what is still missing
    (its PageSize is lowered), so no message is read and dropped: the envelope's next_page_uri (the last
    page's) continues right after the last message returned. One envelope: the first page's fields, the
    messages, page_size = their number, `end` recomputed and next_page_uri of the last page read."""
    envelope = _page(call, first)
    messages = list(envelope.get("messages") or [])
    last = envelope
    base = client.base_url.rstrip("/")
    while len(messages) < limit:
        next_uri = last.get("next_page_uri")
        if not isinstance(next_uri, str) or not next_uri.startswith("/"):
            break  # last page (or something that is not a path on this API: never followed)
        response = await _request(call, client, "GET", base + _with_page_size(next_uri, limit - len(messages)))
        last = _page(call, response)
        messages.extend(last.get("messages") or [])
    if len(messages) <= limit and last is envelope:
        _pass_through(call, first)  # a single page within the limit: Twilio's bytes untouched
        return
    merged = dict(envelope)
    merged["messages"] = messages[:limit]
    merged["page_size"] = len(merged["messages"])
    first_start = merged.get("start")
    start = first_start if isinstance(first_start, int) else 0
    merged["end"] = start + max(len(merged["messages"]) - 1, 0)
    merged["next_page_uri"] = last.get("next_page_uri")
    _pass_through(call, first, orjson.dumps(merged))


def _with_page_size(uri: str, wanted: int) -> str:
    """``uri`` asking for at most ``wanted`` items (its PageSize lowered, never raised)."""
    path, _, query = uri.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    sizes = [int(v) for k, v in pairs if k == "PageSize" and v.isdigit()]
    size = min([wanted, *sizes])
    pairs = [(k, v) for k, v in pairs if k != "PageSize"] + [("PageSize", str(size))]
    return path + "?" + urlencode(pairs, quote_via=quote)


def _page(call: OperationCall, response: TwilioResponse) -> dict[str, Any]:
    try:
        page = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        page = None
    if not isinstance(page, dict):
        raise ConnectorError(
            f"{call.name}: Twilio answered a page that is not a JSON object",
            RESPONSE_PROCESSING_FAILED,
            f"{call.target}: {response.text[:200]!r}",
            http_status=502,
        )
    return page


def _integer(call: OperationCall, parameter: str, text: str, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise call.invalid(parameter, f"'{text}' is not an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise call.invalid(parameter, f"{value} must be {bounds}")
    return value
