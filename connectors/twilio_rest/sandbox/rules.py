"""Request validation rules of the Messages and Calls resources, with Twilio's error codes.

Includes the magic test numbers of Twilio's test credentials (twilio.md §6.1) plus a few
sandbox-only numbers in the reserved +1 500 555 range to drive delivery failures and 429s.
Any well-formed E.164 ``From`` is accepted (the sandbox does not model number ownership).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from urllib.parse import urlsplit

from multidict import MultiMapping

from .countries import to_e164
from .errors import TwilioApiError, invalid_parameter, too_many_requests

E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")
# Alphanumeric sender ID: 1-11 letters/digits/spaces with at least one letter.
ALPHANUMERIC_SENDER_RE = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
SHORT_CODE_RE = re.compile(r"^\d{3,8}$")
MESSAGING_SERVICE_SID_RE = re.compile(r"^MG[0-9a-fA-F]{32}$")
APPLICATION_SID_RE = re.compile(r"^AP[0-9a-fA-F]{32}$")
CONTENT_SID_RE = re.compile(r"^HX[0-9a-fA-F]{32}$")
MESSAGE_SID_RE = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
CALL_SID_RE = re.compile(r"^CA[0-9a-fA-F]{32}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

CHANNEL_PREFIX = "whatsapp:"
MAX_BODY_CHARS = 1600
MAX_MEDIA = 10
MAX_VALIDITY_PERIOD = 36000
SCHEDULE_MIN = timedelta(seconds=900)
SCHEDULE_MAX = timedelta(days=35)


class Outcome(NamedTuple):
    """Final delivery outcome of a message: status plus error code/message for failures."""

    status: str
    error_code: int | None = None
    error_message: str | None = None


DELIVERED = Outcome("delivered")

# Twilio test-credential magic numbers: synchronous create errors.
MAGIC_FROM: Mapping[str, tuple[int, str]] = {
    "+15005550001": (
        21212,
        "The 'From' number {v} is not a valid phone number, shortcode, or alphanumeric sender ID.",
    ),
    "+15005550007": (
        21606,
        "The 'From' phone number provided ({v}) is not a valid message-capable Twilio phone number "
        "for this destination/account.",
    ),
    "+15005550008": (21611, "This 'From' number has exceeded the maximum number of queued messages."),
}
MAGIC_TO: Mapping[str, tuple[int, str]] = {
    "+15005550001": (21211, "Invalid 'To' Phone Number: {v}"),
    "+15005550002": (
        21612,
        "The 'To' phone number: {v}, is not currently reachable using the 'From' phone number.",
    ),
    "+15005550003": (
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {v}.",
    ),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number {v} is not a valid mobile number"),
}
# Sandbox-only magic To numbers (not Twilio's): HTTP 429, or a failed delivery later on.
RATE_LIMITED_TO = "+15005550010"
DELIVERY_OUTCOMES: Mapping[str, Outcome] = {
    "+15005550011": Outcome("undelivered", 30003, "Unreachable destination handset"),
    "+15005550012": Outcome("failed", 30008, "Unknown error"),
    "+15005550013": Outcome("undelivered", 30007, "Message filtered"),
}

# Query strings and form bodies as aiohttp parses them (MultiDict / MultiDictProxy).
FormData = MultiMapping[str]


def _get(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _getall(form: FormData, name: str) -> list[str]:
    # Array fields (MediaUrl, StatusCallbackEvent) arrive repeated: MediaUrl=a&MediaUrl=b.
    return [v for v in form.getall(name, []) if isinstance(v, str)]


def split_channel(address: str) -> tuple[str, str]:
    """``whatsapp:+1555…`` -> (``whatsapp:``, ``+1555…``); plain numbers have an empty prefix."""
    if address.lower().startswith(CHANNEL_PREFIX):
        return CHANNEL_PREFIX, address[len(CHANNEL_PREFIX) :]
    return "", address


def is_valid_to(address: str) -> bool:
    return bool(E164_RE.match(split_channel(address)[1]))


def is_valid_from(address: str) -> bool:
    prefix, bare = split_channel(address)
    if prefix:
        return bool(E164_RE.match(bare))
    return bool(E164_RE.match(bare) or ALPHANUMERIC_SENDER_RE.match(bare) or SHORT_CODE_RE.match(bare))


def is_valid_callback_url(url: str) -> bool:
    """Absolute http(s) URL with a hostname without underscores (Twilio's 21609 rules)."""
    if len(url) > 4000 or any(ch.isspace() for ch in url):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "_" not in (parts.hostname or "")


def parse_bool(form: FormData, name: str) -> bool | None:
    value = _get(form, name)
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise invalid_parameter(name, value, "expected true or false")


def parse_int(form: FormData, name: str, *, error: TwilioApiError | None = None) -> int | None:
    value = _get(form, name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise error or invalid_parameter(name, value, "expected an integer") from None


def parse_iso_datetime(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class MessageCreate:
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    media_urls: list[str]
    status_callback: str | None
    application_sid: str | None
    validity_period: int | None
    send_at: datetime | None
    outcome: Outcome


def validate_message_create(form: FormData, now: datetime, default_sender: str | None = None) -> MessageCreate:
    """Validate a ``POST Messages.json`` form; raise :class:`TwilioApiError` like Twilio would.
    A national-format To gets the country of From (or of ``default_sender``, a Messaging Service's
    first sender); a Messaging Service SID in From is taken as MessagingServiceSid."""
    to = _get(form, "To")
    from_ = _get(form, "From") or None
    service = _get(form, "MessagingServiceSid") or None
    if from_ is not None and MESSAGING_SERVICE_SID_RE.match(from_):
        service, from_ = service or from_, None
    if to:
        to = to_e164(to, from_ or default_sender)
    body = _get(form, "Body")
    media = _getall(form, "MediaUrl")
    content_sid = _get(form, "ContentSid") or None

    if not to:
        raise TwilioApiError(21604, "A 'To' phone number is required.")
    if split_channel(to)[1] == RATE_LIMITED_TO:
        raise too_many_requests()
    if from_ is None and service is None:
        raise TwilioApiError(21603, "A 'From' phone number is required.")
    if not body and not media and content_sid is None:
        raise TwilioApiError(21602, "Message body is required.")

    if service is not None and not MESSAGING_SERVICE_SID_RE.match(service):
        raise TwilioApiError(21701, f"The Messaging Service Sid {service} is invalid.")
    application_sid = _get(form, "ApplicationSid") or None
    if application_sid is not None and not APPLICATION_SID_RE.match(application_sid):
        raise invalid_parameter("ApplicationSid", application_sid, "expected AP followed by 32 hex digits")
    if content_sid is not None and not CONTENT_SID_RE.match(content_sid):
        raise TwilioApiError(21655, "The ContentSid is Invalid.")

    if not is_valid_to(to):
        raise TwilioApiError(21211, f"Invalid 'To' Phone Number: {to}")
    if from_ is not None:
        if not is_valid_from(from_):
            raise TwilioApiError(21212, f"Invalid 'From' Phone Number: {from_}")
        if split_channel(from_)[0] != split_channel(to)[0]:
            raise TwilioApiError(21910, "Invalid From and To pair. From and To should be of the same channel")
        if from_ == to:
            raise TwilioApiError(21266, "'To' and 'From' number cannot be the same")
        magic = MAGIC_FROM.get(split_channel(from_)[1])
        if magic is not None:
            raise TwilioApiError(magic[0], magic[1].format(v=from_))
    magic = MAGIC_TO.get(split_channel(to)[1])
    if magic is not None:
        raise TwilioApiError(magic[0], magic[1].format(v=to))

    if body is not None and len(body) > MAX_BODY_CHARS:
        raise TwilioApiError(21617, "The concatenated message body exceeds the 1600 character limit.")
    if len(media) > MAX_MEDIA:
        raise TwilioApiError(21623, f"Too many media urls. The maximum is {MAX_MEDIA}.")
    if any(not is_valid_callback_url(url) for url in media):
        raise TwilioApiError(21620, "Invalid media URL(s)")

    status_callback = _get(form, "StatusCallback") or None
    if status_callback is not None and not is_valid_callback_url(status_callback):
        raise TwilioApiError(21609, f"Invalid 'StatusCallback' URL: {status_callback}")

    bad_validity = TwilioApiError(21624, "Invalid validity period value")
    validity = parse_int(form, "ValidityPeriod", error=bad_validity)
    if validity is not None and not 1 <= validity <= MAX_VALIDITY_PERIOD:
        raise bad_validity
    parse_int(form, "Attempt")
    max_price = _get(form, "MaxPrice")
    if max_price is not None:
        try:
            float(max_price)
        except ValueError:
            raise invalid_parameter("MaxPrice", max_price, "expected a number") from None
    for flag in ("ProvideFeedback", "ForceDelivery", "SmartEncoded", "ShortenUrls", "SendAsMms"):
        parse_bool(form, flag)

    send_at = _validate_schedule(form, service, now)
    return MessageCreate(
        to=to,
        from_=from_,
        messaging_service_sid=service,
        body=body or "",
        media_urls=media,
        status_callback=status_callback,
        application_sid=application_sid,
        validity_period=validity,
        send_at=send_at,
        outcome=DELIVERY_OUTCOMES.get(split_channel(to)[1], DELIVERED),
    )


def _validate_schedule(form: FormData, service: str | None, now: datetime) -> datetime | None:
    schedule_type = _get(form, "ScheduleType") or None
    send_at_raw = _get(form, "SendAt") or None
    if schedule_type is None:
        return None  # Twilio ignores SendAt without ScheduleType=fixed.
    if schedule_type != "fixed":
        raise invalid_parameter("ScheduleType", schedule_type, "expected fixed")
    if send_at_raw is None:
        raise TwilioApiError(35111, "SendAt timestamp is missing")
    if service is None:
        raise TwilioApiError(35118, "MessagingServiceSid is required to schedule a message")
    send_at = parse_iso_datetime(send_at_raw)
    if send_at is None or not SCHEDULE_MIN <= send_at - now <= SCHEDULE_MAX:
        raise TwilioApiError(
            35114,
            "SendAt time must be between 900 seconds and 35 days (3024000 seconds) in the future, inclusive.",
        )
    return send_at


@dataclass(frozen=True, slots=True)
class CallCreate:
    to: str
    from_: str
    url: str | None
    twiml: str | None
    application_sid: str | None
    method: str
    status_callback: str | None


CALL_STATUS_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})


def _is_call_address(address: str) -> bool:
    lowered = address.lower()
    if lowered.startswith(("client:", "sip:")):
        return len(address.split(":", 1)[1]) > 0
    return bool(E164_RE.match(address))


def validate_call_create(form: FormData) -> CallCreate:
    """Validate a ``POST Calls.json`` form (To, From and one of Url/Twiml/ApplicationSid)."""
    to = _get(form, "To")
    from_ = _get(form, "From")
    url = _get(form, "Url") or None
    twiml = _get(form, "Twiml") or None
    application_sid = _get(form, "ApplicationSid") or None
    if not to:
        raise TwilioApiError(21201, "No 'To' number is specified")
    if not from_:
        raise TwilioApiError(21213, "No 'From' number is specified")
    if url is None and twiml is None and application_sid is None:
        raise TwilioApiError(21205, "Url parameter is required.")
    if url is not None and not is_valid_callback_url(url):
        raise TwilioApiError(21205, f"Url is not a valid URL: {url}")
    if twiml is not None and len(twiml) > 4000:
        raise invalid_parameter("Twiml", twiml[:40] + "…", "at most 4000 characters")
    if application_sid is not None and not APPLICATION_SID_RE.match(application_sid):
        raise invalid_parameter("ApplicationSid", application_sid, "expected AP followed by 32 hex digits")
    if not to.lower().startswith(("client:", "sip:")):
        to = to_e164(to, from_)  # a national-format To gets the caller ID's country, as for messages
    if not _is_call_address(to):
        raise TwilioApiError(21211, f"Invalid 'To' Phone Number: {to}")
    if not _is_call_address(from_):
        raise TwilioApiError(21212, f"Invalid 'From' Phone Number: {from_}")
    method = (_get(form, "Method") or "POST").upper()
    if method not in ("GET", "POST"):
        raise TwilioApiError(21209, "Invalid Method")
    events = _getall(form, "StatusCallbackEvent")
    if any(event not in CALL_STATUS_EVENTS for event in events):
        raise TwilioApiError(21626, "Invalid 'StatusCallbackEvent'")
    status_callback = _get(form, "StatusCallback") or None
    if status_callback is not None and not is_valid_callback_url(status_callback):
        raise invalid_parameter("StatusCallback", status_callback, "expected an absolute http(s) URL")
    parse_int(form, "Timeout")
    parse_bool(form, "Record")
    return CallCreate(to, from_, url, twiml, application_sid, method, status_callback)


@dataclass(frozen=True, slots=True)
class CallUpdate:
    url: str | None
    twiml: str | None
    method: str | None
    status: str | None
    status_callback: str | None


def validate_call_update(form: FormData) -> CallUpdate:
    """Validate a ``POST Calls/{Sid}.json`` form: Url or Twiml (a redirect), Status canceled / completed."""
    url = _get(form, "Url") or None
    twiml = _get(form, "Twiml") or None
    status = _get(form, "Status") or None
    if url is not None and not is_valid_callback_url(url):
        raise TwilioApiError(21205, f"Url is not a valid URL: {url}")
    if twiml is not None and len(twiml) > 4000:
        raise invalid_parameter("Twiml", twiml[:40] + "…", "at most 4000 characters")
    if status is not None and status not in ("canceled", "completed"):
        raise TwilioApiError(21218, f"Invalid Status value: {status}")
    method = _get(form, "Method")
    if method is not None and method.upper() not in ("GET", "POST"):
        raise TwilioApiError(21209, "Invalid Method")
    for name in ("FallbackMethod", "StatusCallbackMethod"):
        value = _get(form, name)
        if value is not None and value.upper() not in ("GET", "POST"):
            raise invalid_parameter(name, value, "GET or POST")
    status_callback = _get(form, "StatusCallback") or None
    if status_callback is not None and not is_valid_callback_url(status_callback):
        raise invalid_parameter("StatusCallback", status_callback, "expected an absolute http(s) URL")
    parse_int(form, "TimeLimit")
    return CallUpdate(url, twiml, method.upper() if method else None, status, status_callback)


class DateBound(NamedTuple):
    """One ``DateSent`` filter: ``op`` is '=', '<=' or '>=' (compared by GMT calendar day)."""

    op: str
    value: date | datetime


def parse_date_sent_filters(query: FormData) -> list[DateBound]:
    """``DateSent``, ``DateSent<`` (on or before) and ``DateSent>`` (on or after).

    Values are ``YYYY-MM-DD`` (GMT) as documented, or an ISO 8601 timestamp as the SDK
    sends for ``datetime`` arguments. ``DateSent=<=2024-01-02`` is accepted too.
    """
    return parse_date_filters(query, "DateSent")


def parse_date_filters(query: FormData, field: str) -> list[DateBound]:
    """``field``, ``field<`` and ``field>`` (DateSent of Messages, DateCreated of Recordings)."""
    bounds: list[DateBound] = []
    for name, op in ((field, "="), (field + "<", "<="), (field + ">", ">=")):
        raw = _get(query, name)
        if raw is None:
            continue
        value = raw.strip()
        if op == "=" and value[:2] in ("<=", ">="):  # DateSent=<=2024-01-02
            op, value = value[:2], value[2:]
        parsed: date | datetime | None
        if DATE_RE.match(value):
            try:
                parsed = date.fromisoformat(value)
            except ValueError:
                parsed = None
        else:
            parsed = parse_iso_datetime(value) if "T" in value else None
        if parsed is None:
            raise invalid_parameter(name, raw, "expected YYYY-MM-DD")
        bounds.append(DateBound(op, parsed))
    return bounds


def matches_date_bounds(sent: datetime | None, bounds: list[DateBound]) -> bool:
    if not bounds:
        return True
    if sent is None:
        return False  # not sent yet: no DateSent filter can match
    for op, value in bounds:
        # Twilio filters by GMT calendar day; the SDK turns date/datetime args into
        # YYYY-MM-DDTHH:MM:SSZ, so a timestamp is reduced to its GMT date as well.
        day = value.astimezone(UTC).date() if isinstance(value, datetime) else value
        sent_day = sent.date()
        if op == "=" and sent_day != day:
            return False
        if (op == "<=" and sent_day > day) or (op == ">=" and sent_day < day):
            return False
    return True
