"""What every sandbox resource module shares: the request a handler gets, JSON answers and Twilio's
page envelope. Resource modules (messages and calls in server.py, accounts, numbers, recordings, …)
declare ``ROUTES`` of (method, path under the account, handler); server.py routes them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

import orjson
from aiohttp import web
from multidict import MultiDict, MultiMapping

from .errors import TwilioApiError, invalid_parameter, not_found
from .store import new_sid

if TYPE_CHECKING:
    from .server import SandboxState


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers={"Twilio-Request-Id": new_sid("RQ")},
    )


def no_content() -> web.Response:
    """Twilio's answer to a DELETE: 204 without a body."""
    return web.Response(status=204, headers={"Twilio-Request-Id": new_sid("RQ")})


def error_response(error: TwilioApiError) -> web.Response:
    resp = json_response(error.to_json(), error.status)
    if error.status == 401:
        resp.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return resp


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """What a resource handler needs: the parsed request and the authenticated account."""

    request: web.Request
    state: SandboxState
    account_sid: str
    form: MultiDict[str]
    params: Mapping[str, str]

    def find(self, items: Mapping[str, Any], key: str = "sid") -> Any:
        """The record named by the path parameter ``key``, or Twilio's 404."""
        record = items.get(self.params[key])
        if record is None:
            raise not_found(self.request.path)
        return record


Handler = Callable[[ApiRequest], Awaitable[web.Response]]
Route = tuple[str, str, Handler]  # method, path after /2010-04-01/Accounts/{AccountSid}, handler


class Listed(Protocol):
    @property
    def sid(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


def int_param(query: MultiMapping[str], name: str, default: int, lo: int, hi: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_parameter(name, raw, "expected an integer") from None
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise invalid_parameter(name, raw, f"must be {bound}")
    return value


def page(api: ApiRequest, key: str, items: Sequence[Listed], filters: list[tuple[str, str]]) -> web.Response:
    """Twilio's page envelope; PageToken ``PA<sid>``/``PB<sid>`` = after/before that record."""
    query = api.request.query
    page_size = int_param(query, "PageSize", 50, 1, 1000)
    page_no = int_param(query, "Page", 0, 0, None)
    token = query.get("PageToken")
    start = page_no * page_size
    if token and len(token) > 2 and token[:2] in ("PA", "PB"):
        index = next((i for i, item in enumerate(items) if item.sid == token[2:]), None)
        if index is not None:
            start = index + 1 if token[:2] == "PA" else max(0, index - page_size)
    chunk = list(items[start : start + page_size])
    base = api.request.path

    def uri(number: int, page_token: str | None) -> str:
        params = [*filters, ("PageSize", str(page_size)), ("Page", str(number))]
        if page_token:
            params.append(("PageToken", page_token))
        return f"{base}?{urlencode(params)}"

    has_next = start + page_size < len(items) and bool(chunk)
    envelope: dict[str, Any] = {
        "end": page_no * page_size + max(len(chunk) - 1, 0),
        "first_page_uri": uri(0, None),
        "next_page_uri": uri(page_no + 1, "PA" + chunk[-1].sid) if has_next else None,
        "page": page_no,
        "page_size": page_size,
        "previous_page_uri": uri(page_no - 1, "PB" + chunk[0].sid) if page_no > 0 and chunk else None,
        "start": page_no * page_size,
        "uri": uri(page_no, token),
        key: [item.to_json() for item in chunk],
    }
    return json_response(envelope)


def filters_of(query: MultiMapping[str], names: Sequence[str]) -> list[tuple[str, str]]:
    """The filters a list request carried, in a fixed order, for the envelope's page URIs."""
    return [(name, query[name]) for name in names if name in query]
