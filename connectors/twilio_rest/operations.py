"""The twilioRest operations (declared in connector.yaml).

Every call goes through the pooled SDK client's `request_async`, so auth, User-Agent and form encoding
are the SDK's, while the answer is Twilio's JSON byte for byte (the SDK's resource objects would turn
dates into datetimes and drop fields). Twilio 4xx/5xx answers become faults carrying Twilio's code,
message, status and body; the framework turns network failures and timeouts into 101503 / 101504.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import orjson

from gateway.connector import NO_CONNECTION, RESPONSE_PROCESSING_FAILED, ConnectorError, OperationCall

# The account, phone-number and recording operations: table-driven (resources.py), one module per family.
from .accounts import create_sub_account, get_account, get_accounts_list, update_account  # noqa: F401
from .client_pool import Connection, TwilioRuntime
from .errors import BODY_REQUIRED, FROM_REQUIRED, api_error, relayed_headers
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
from .recordings import (  # noqa: F401
    delete_recording,
    get_recording,
    get_recording_list,
    get_transcription,
    get_transcription_list,
)

if TYPE_CHECKING:
    from gateway.connector import Services

# Default-scope properties written by init: the twilioRest prefix keeps them out of the user's way, and
# the secret ones contain "authToken" / "Secret" so the log masker hides them.
PROPERTY_PREFIX = "twilioRest."
_CONNECTION_PARAMETERS = ("accountSid", "authToken", "apiKeySid", "apiKeySecret", "apiUrl", "apiVersion")
_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_FILTER_RE = re.compile(r"^(<=|>=)?(\d{4}-\d{2}-\d{2})$")
_DATE_KEYS = {None: "DateSent", "<=": "DateSent<", ">=": "DateSent>"}
MAX_PAGE_SIZE = 1000


async def start(services: Services, options: Mapping[str, Any]) -> TwilioRuntime:
    return TwilioRuntime(
        pool_size=int(options.get("pool_size") or 1024),
        max_response_bytes=services.settings.max_response_bytes,
        outbound=services.outbound,
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
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise call.invalid("apiUrl", f"'{api_url}' is not an http(s) base URL such as https://api.twilio.com")
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
    }
    for name in _CONNECTION_PARAMETERS:
        if values[name]:
            props[PROPERTY_PREFIX + name] = values[name]
        else:
            props.pop(PROPERTY_PREFIX + name, None)  # a second init must not inherit the first one's key


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


# -- calling Twilio --------------------------------------------------------------------------------
def _messages_url(client: Any, connection: Connection, suffix: str = "") -> str:
    # client.api.base_url / v2010.version were set from apiUrl / apiVersion when the client was pooled.
    base = str(client.api.base_url).rstrip("/")
    account = quote(connection.account_sid, safe="")
    return f"{base}/{client.api.v2010.version}/Accounts/{account}/Messages{suffix}.json"


async def _request(
    call: OperationCall, client: Any, method: str, url: str, form: list[tuple[str, str]] | None = None
) -> Any:
    runtime: TwilioRuntime = call.runtime
    call.target = f"{method} {url.split('?', 1)[0]}"
    runtime.requests += 1
    # The SDK ignores its own timeout; the framework's asyncio.timeout is the real bound (this one helps).
    response = await client.request_async(
        method, url, data=form, headers=call.correlation_headers(), timeout=call.timeout
    )
    if response.status_code >= 400:
        raise api_error(response.status_code, response.text, response.headers, method, url)
    return response


def _pass_through(call: OperationCall, response: Any, body: bytes | None = None) -> None:
    content_type = (response.headers or {}).get("Content-Type") or "application/json"
    raw = body if body is not None else response.text.encode("utf-8")
    call.set_result(response.status_code, raw, content_type, relayed_headers(response.headers, content_type))


# -- sendSms ---------------------------------------------------------------------------------------
async def send_sms(call: OperationCall) -> None:
    """POST Messages.json. Checked locally first: to, from or messagingServiceSid, body or media."""
    to = call.value("to") or ""
    sender, service = call.value("from"), call.value("messagingServiceSid")
    if not sender and not service:
        raise call.missing("from", "A 'From' phone number is required (or give messagingServiceSid).", FROM_REQUIRED)
    body, media = call.value("messageBody"), call.values("mediaUrl")
    if not body and not media:
        raise call.missing("messageBody", "Message body is required (or give mediaUrl).", BODY_REQUIRED)
    form: list[tuple[str, str]] = [("To", to)]
    if sender:
        form.append(("From", sender))
    if service:
        form.append(("MessagingServiceSid", service))
    if body:
        form.append(("Body", body))
    form.extend(("MediaUrl", url) for url in media)  # repeated field, as Twilio expects
    for parameter, field in (("statusCallbackUrl", "StatusCallback"), ("applicationSid", "ApplicationSid")):
        value = call.value(parameter)
        if value:
            form.append((field, value))
    max_price = call.value("maxPrice")
    if max_price:
        try:
            Decimal(max_price.strip())
        except InvalidOperation:
            raise call.invalid("maxPrice", f"'{max_price}' is not a number") from None
        form.append(("MaxPrice", max_price.strip()))
    feedback = call.value("provideFeedback")
    if feedback:
        lowered = feedback.strip().lower()
        if lowered not in ("true", "false"):
            raise call.invalid("provideFeedback", f"'{feedback}' is not true or false")
        form.append(("ProvideFeedback", lowered))
    validity = call.value("validityPeriod")
    if validity:
        form.append(("ValidityPeriod", str(_integer(call, "validityPeriod", validity, 1))))
    connection = _connection(call)
    client = call.runtime.client(connection)
    response = await _request(call, client, "POST", _messages_url(client, connection), form)
    _pass_through(call, response)


# -- getSms ----------------------------------------------------------------------------------------
async def get_sms(call: OperationCall) -> None:
    """GET Messages/{sid}.json (the current resource; /SMS/Messages no longer exists)."""
    sid = (call.value("messageSid") or "").strip()
    connection = _connection(call)
    client = call.runtime.client(connection)
    # quote(): a SID from the request must never change the path (no "../Calls" tricks).
    url = _messages_url(client, connection, "/" + quote(sid, safe=""))
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
    url = _messages_url(client, connection)
    if query:
        # quote (not quote_plus): '+' in E.164 numbers becomes %2B, '<' / '>' become %3C / %3E.
        url += "?" + urlencode(query, quote_via=quote)
    response = await _request(call, client, "GET", url)
    if limit is None:
        _pass_through(call, response)
        return
    await _collect(call, client, response, limit)


async def _collect(call: OperationCall, client: Any, first: Any, limit: int) -> None:
    """Follow next_page_uri until `limit` messages; one envelope: the first page's fields, the messages,
    `end` recomputed and next_page_uri of the last page read."""
    envelope = _page(call, first)
    messages = list(envelope.get("messages") or [])
    last = envelope
    base = str(client.api.base_url).rstrip("/")
    while len(messages) < limit:
        next_uri = last.get("next_page_uri")
        if not isinstance(next_uri, str) or not next_uri.startswith("/"):
            break  # last page (or something that is not a path on this API: never followed)
        response = await _request(call, client, "GET", base + next_uri)
        last = _page(call, response)
        messages.extend(last.get("messages") or [])
    if len(messages) <= limit and last is envelope:
        _pass_through(call, first)  # a single page within the limit: Twilio's bytes untouched
        return
    merged = dict(envelope)
    merged["messages"] = messages[:limit]
    first_start = merged.get("start")
    start = first_start if isinstance(first_start, int) else 0
    merged["end"] = start + max(len(merged["messages"]) - 1, 0)
    merged["next_page_uri"] = last.get("next_page_uri")
    _pass_through(call, first, orjson.dumps(merged))


def _page(call: OperationCall, response: Any) -> dict[str, Any]:
    try:
        page = orjson.loads(response.text)
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
