"""Twilio error answers and the codes of the connector's own checks.

Local checks use the code Twilio itself answers for the same mistake, so a fault sequence handles a
missing `to` the same way whether the gateway or Twilio noticed it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from gateway.connector import ConnectorError

TO_REQUIRED = 21604  # "A 'To' phone number is required."
FROM_REQUIRED = 21603  # "A 'From' phone number is required."
BODY_REQUIRED = 21602  # "Message body is required."
SIGNATURE_INVALID = 500104  # ours: an X-Twilio-Signature that does not match (validateSignature)

# Response headers passed on with Twilio's answer (the rest is Twilio's infrastructure, not the message).
RELAYED_HEADERS = ("Twilio-Request-Id",)


def relayed_headers(headers: Mapping[str, str] | None, content_type: str) -> dict[str, str]:
    kept = {"Content-Type": content_type}
    for name in RELAYED_HEADERS:
        value = headers.get(name) if headers is not None else None
        if value:
            kept[name] = value
    return kept


def api_error(status: int, body: bytes, headers: Mapping[str, str] | None, method: str, url: str) -> ConnectorError:
    """A Twilio 4xx/5xx as a fault: Twilio's code and message, status and body passed through."""
    content_type = (headers or {}).get("Content-Type") or "application/json"
    parsed: Any = None
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    path = urlsplit(url).path
    if isinstance(parsed, dict) and ("code" in parsed or "message" in parsed or "title" in parsed):
        # legacy {code, message, more_info, status}, or RFC 9457 {type, title, detail, code, status}
        raw_code = parsed.get("code")
        code = raw_code if isinstance(raw_code, int) else status
        message = str(parsed.get("message") or parsed.get("detail") or parsed.get("title") or f"HTTP {status}")
        more = parsed.get("more_info") or parsed.get("type")
        detail = f"Twilio answered HTTP {status} to {method} {path}" + (f"; see {more}" if more else "")
        return ConnectorError(
            message,
            code,
            detail,
            http_status=status,
            body=body,
            content_type=content_type,
            headers=relayed_headers(headers, content_type),
        )
    # Not Twilio's JSON (an HTML 502 from a proxy, say): keep the status, give a readable JSON body.
    message = f"Twilio answered HTTP {status} without an error document"
    snippet = body[:200].decode("utf-8", "replace").replace("\n", " ")
    return ConnectorError(
        message,
        status,
        f"{method} {path}: {snippet}",
        http_status=status,
        headers=relayed_headers(headers, "application/json"),
    )
