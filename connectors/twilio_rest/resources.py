"""Table-driven operations for the account, phone-number and recording resources.

Each operation is one :class:`Endpoint`: the method, the path below ``{apiUrl}/{apiVersion}/``, the
parameters that fill the path (checked against the SID patterns of Twilio's spec before anything is
sent) and the parameters that become query or form fields, each with the check its type needs. The
handler that :func:`handler` builds sends the request through the same pooled SDK client, error
mapping and pass-through as sendSms (operations.py), so Twilio's JSON and status come back unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

import orjson

from gateway.connector import Handler, OperationCall

if TYPE_CHECKING:
    from types import ModuleType

# The SID patterns of twilio_api_v2010.json (a SID that cannot match is refused locally).
SID_PATTERNS = {
    prefix: re.compile(rf"^{prefix}[0-9a-fA-F]{{32}}$")
    for prefix in ("AC", "PN", "RE", "TR", "CA", "AP", "MG", "HX", "HJ", "BY", "VA", "VE", "SK")
}
SID_PATTERNS["SM|MM"] = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")  # a message: SMS or MMS
_DATE_RE = re.compile(r"^(<=|>=)?(\d{4}-\d{2}-\d{2})$")
_COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")

PAGING = {
    "pageSize": ("PageSize", "page_size"),
    "page": ("Page", "page"),
    "pageToken": ("PageToken", "text"),
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One operation: ``path`` names its path parameters as ``{parameter}``; ``fields`` maps a
    parameter to (Twilio's field, kind). Kinds: text, bool, int, method (GET/POST), url, page_size,
    page, country, date:<Field> (``YYYY-MM-DD``, ``<=…``, ``>=…``), enum:<a|b|…>, sid:<XX>, and
    list / list:<a|b|…> (a repeatable parameter: each value is sent as one repeated field)."""

    method: str
    path: str
    sids: Mapping[str, str] = field(default_factory=dict)  # path parameter -> SID prefix, or "country"
    fields: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    default_account: str | None = None  # a path parameter that defaults to init's accountSid
    one_of: tuple[str, ...] = ()  # at least one of these parameters is required
    host: str = "api"  # "verify": the path is below init's verifyUrl instead of {apiUrl}/{apiVersion}

    @property
    def parameters(self) -> set[str]:
        """Every parameter the operation reads (the descriptor must declare exactly these)."""
        return set(re.findall(r"\{(\w+)\}", self.path)) | set(self.fields)


def _base() -> ModuleType:
    # operations.py imports this package's handlers, so its helpers are looked up at call time.
    from . import operations

    return operations


def handler(endpoint: Endpoint) -> Handler:
    async def run(call: OperationCall) -> None:
        base = _base()
        connection = base._connection(call)
        path = _path(call, endpoint, connection.account_sid)
        pairs = _fields(call, endpoint)
        if endpoint.one_of and not any(call.value(name) for name in endpoint.one_of):
            first, *others = endpoint.one_of
            raise call.missing(first, f"give {first} or {' or '.join(others)}")
        client = call.runtime.client(connection)
        if endpoint.host == "verify":
            url = f"{base.verify_url(call, connection)}/{path}"
        else:
            url = f"{client.base_url.rstrip('/')}/{client.version}/{path}"
        form: list[tuple[str, str]] | None = None
        if endpoint.method == "POST":
            form = pairs
        elif pairs:
            # quote (not quote_plus): '+' in E.164 numbers becomes %2B, '<' / '>' become %3C / %3E.
            url += "?" + urlencode(pairs, quote_via=quote)
        response = await base._request(call, client, endpoint.method, url, form)
        base._pass_through(call, response)

    return run


def _path(call: OperationCall, endpoint: Endpoint, account_sid: str) -> str:
    values: dict[str, str] = {"accountSid": quote(account_sid, safe="")}
    for name in re.findall(r"\{(\w+)\}", endpoint.path):
        if name == "accountSid":
            continue
        value = (call.value(name) or "").strip()
        if not value and name == endpoint.default_account:
            value = account_sid
        if not value:
            raise call.missing(name)
        kind = endpoint.sids[name]
        if kind == "country":
            if not _COUNTRY_RE.match(value):
                raise call.invalid(name, f"'{value}' is not a two-letter ISO country code such as US")
            value = value.upper()
        elif not SID_PATTERNS[kind].match(value):
            raise call.invalid(name, sid_reason(kind, value))
        # quote(): a value from the request must never change the path (no "../Calls" tricks).
        values[name] = quote(value, safe="")
    return endpoint.path.format(**values)


def sid_reason(prefix: str, value: str) -> str:
    """Why ``value`` is refused locally (Twilio's spec pattern for the SID kind ``prefix``)."""
    names = " or ".join(prefix.split("|"))
    return f"'{value}' is not a {names} SID ({names} followed by 32 hexadecimal digits)"


def _fields(call: OperationCall, endpoint: Endpoint) -> list[tuple[str, str]]:
    return [*convert_fields(call, endpoint.fields), *passthrough_fields(call)]


def passthrough_fields(call: OperationCall) -> list[tuple[str, str]]:
    """The values of the operation's pass-through parameters (Twilio's own field names, spec_fields.py)."""
    parameters = call.bound.spec.parameters
    return [
        (name, value.strip())
        for name, values in call.arguments.items()  # the given ones, in declaration order
        if parameters[name].passthrough
        for value in values
    ]


def convert_fields(call: OperationCall, fields: Mapping[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """Each given parameter of ``fields`` (parameter -> (Twilio's field, kind)) checked and converted."""
    pairs: list[tuple[str, str]] = []
    given = call.arguments
    for parameter, (twilio_name, kind) in fields.items():
        if parameter not in given:
            continue  # absent (no value, no default)
        if kind.startswith("list"):
            allowed = kind[5:].split("|") if kind.startswith("list:") else None
            for item in call.values(parameter):
                if allowed is not None and item.strip() not in allowed:
                    raise call.invalid(parameter, f"'{item}' is not one of {', '.join(allowed)}")
                pairs.append((twilio_name, item.strip()))
            continue
        value = call.value(parameter)
        if value is None or not value.strip():
            continue
        pairs.extend(_convert(call, parameter, twilio_name, kind, value.strip()))
    return pairs


def _convert(call: OperationCall, parameter: str, name: str, kind: str, value: str) -> list[tuple[str, str]]:
    base = _base()
    if kind == "bool":
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise call.invalid(parameter, f"'{value}' is not true or false")
        return [(name, lowered)]
    if kind == "int":
        return [(name, str(base._integer(call, parameter, value, 0)))]
    if kind == "validity":
        return [(name, str(base._integer(call, parameter, value, 1, 36000)))]
    if kind == "decimal":
        try:
            Decimal(value)
        except InvalidOperation:
            raise call.invalid(parameter, f"'{value}' is not a number") from None
        return [(name, value)]
    if kind == "datetime":  # ISO 8601 with a time zone, as Twilio's SendAt
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise call.invalid(parameter, f"'{value}' is not an ISO 8601 time with a zone (2026-01-31T09:00:00Z)")
        return [(name, value)]
    if kind == "json_object":
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            raise call.invalid(parameter, 'expected a JSON object such as {"1": "Ada"}')
        return [(name, value)]
    if kind == "page_size":
        return [(name, str(base._integer(call, parameter, value, 1, base.MAX_PAGE_SIZE)))]
    if kind == "page":
        return [(name, str(base._integer(call, parameter, value, 0)))]
    if kind == "method":
        if value.upper() not in ("GET", "POST"):
            raise call.invalid(parameter, f"'{value}' is not GET or POST")
        return [(name, value.upper())]
    if kind == "url":
        if not re.match(r"^https?://[^\s/]+", value):
            raise call.invalid(parameter, f"'{value}' is not an absolute http(s) URL")
        return [(name, value)]
    if kind.startswith("enum:"):
        allowed = kind[5:].split("|")
        if value not in allowed:
            raise call.invalid(parameter, f"'{value}' is not one of {', '.join(allowed)}")
        return [(name, value)]
    if kind.startswith("sid:"):
        prefix = kind[4:]
        if not SID_PATTERNS[prefix].match(value):
            raise call.invalid(parameter, sid_reason(prefix, value))
        return [(name, value)]
    if kind.startswith("date"):
        return [_date_filter(call, parameter, name, kind, value)]
    if kind.startswith("flag:"):  # true sends the field with this fixed value (maybe empty), false nothing
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise call.invalid(parameter, f"'{value}' is not true or false")
        return [(name, kind[5:])] if lowered == "true" else []
    if kind.startswith("const:"):  # a 2015 parameter whose presence now means one fixed value
        return [(name, kind[6:])]
    return [(name, value)]


def _date_filter(call: OperationCall, parameter: str, name: str, kind: str, value: str) -> tuple[str, str]:
    """``YYYY-MM-DD`` (that GMT day), ``<=YYYY-MM-DD`` / ``>=YYYY-MM-DD`` (on or before / after) -> the
    spec's ``Name``, ``Name<`` and ``Name>`` query parameters. ``date<`` / ``date>`` force one form."""
    match = _DATE_RE.match(value)
    forced = kind[4:]  # "", "<" or ">"
    if match is None or (forced and match.group(1)):
        raise call.invalid(
            parameter, f"'{value}' is not {'YYYY-MM-DD' if forced else 'YYYY-MM-DD, <=YYYY-MM-DD or >=YYYY-MM-DD'}"
        )
    try:
        date.fromisoformat(match.group(2))
    except ValueError:
        raise call.invalid(parameter, f"'{value}' is not a calendar date") from None
    suffix = forced or {"<=": "<", ">=": ">"}.get(match.group(1) or "", "")
    return name + suffix, match.group(2)
