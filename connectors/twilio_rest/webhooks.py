"""twilioRest validateSignature: is this request really from Twilio? (seed 003's signed status callbacks)

Twilio signs every webhook with ``X-Twilio-Signature``: HMAC-SHA1, keyed with the account's Auth Token,
over the full URL it requested and, for a form body, each parameter name and value in sorted order; a
JSON body is covered by a ``bodySHA256`` query parameter instead. The check is the Twilio SDK's own
``RequestValidator`` (URL with and without the default port, constant-time comparison).

The URL is the one Twilio requested, which behind a reverse proxy or load balancer is not the gateway's
own: ``url`` gives it whole; ``baseUrl`` gives the public scheme, host and path prefix, to which the
request's path and query are appended; without either, ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` (or
``Forwarded``) are used, else the ``Host`` header over http. The message is left untouched; the result is
the default-scope property named by ``property`` ("true" / "false"), and with ``failOnInvalid`` (the
default) a bad or missing signature is a fault: HTTP 403, ERROR_CODE 500104.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from multidict import MultiDict
from twilio import request_validator

from gateway.connector import ConnectorError, OperationCall

from .errors import SIGNATURE_INVALID

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
FORM = "application/x-www-form-urlencoded"


def _first(value: str | None) -> str:
    return (value or "").split(",", 1)[0].strip()


def request_url(call: OperationCall) -> str:
    """The URL Twilio requested, as the module docstring says."""
    ctx = call.ctx
    path = ctx.exchange.path
    exact = (call.value("url") or "").strip()
    if exact:
        return exact
    base = (call.value("baseUrl") or "").strip().rstrip("/")
    if base:
        return base + path
    headers = ctx.transport_headers
    proto, host = _first(headers.get("X-Forwarded-Proto")), _first(headers.get("X-Forwarded-Host"))
    forwarded = _first(headers.get("Forwarded"))
    for part in forwarded.split(";"):
        name, _, value = part.partition("=")
        value = value.strip().strip('"')
        if name.strip().lower() == "proto" and not proto:
            proto = value
        elif name.strip().lower() == "host" and not host:
            host = value
    return f"{(proto or 'http').lower()}://{host or headers.get('Host', '')}{path}"


async def validate_signature(call: OperationCall) -> None:
    ctx = call.ctx
    token = call.value("authToken") or str(ctx.properties.get("twilioRest.authToken") or "")
    if not token:
        raise call.missing("authToken", "give authToken, or run <twilioRest.init> (or configKey) with one first")
    signature = call.value("signature") or ctx.transport_headers.get(SIGNATURE_HEADER) or ""
    url = request_url(call)
    raw = await ctx.payload.read()
    content_type = (ctx.transport_headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    params: MultiDict[str] | str
    if "bodySHA256" in dict(parse_qsl(urlsplit(url).query)):
        params = raw.decode("utf-8", "replace")  # a JSON (or any) body: its SHA-256 is in the URL
    elif content_type == FORM:
        params = MultiDict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    else:
        params = MultiDict()
    algorithm_of = getattr(request_validator, "get_signature_algorithm", None)
    algorithm = algorithm_of(ctx.transport_headers.get(SETTINGS_HEADER)) if algorithm_of else None
    validator = request_validator.RequestValidator(token)
    valid = bool(signature) and bool(
        validator.validate(url, params, signature, algorithm)
        if algorithm
        else validator.validate(url, params, signature)
    )
    ctx.properties[call.value("property") or "twilioSignatureValid"] = "true" if valid else "false"
    fail = (call.value("failOnInvalid") or "true").strip().lower()
    if fail not in ("true", "false"):
        raise call.invalid("failOnInvalid", f"'{fail}' is not true or false")
    if not valid and fail == "true":
        reason = "no X-Twilio-Signature header" if not signature else "X-Twilio-Signature does not match"
        raise ConnectorError(
            f"{call.name}: {reason} (the request is not from Twilio, or not for this URL)",
            SIGNATURE_INVALID,
            f"checked {url} with the account's auth token; behind a proxy give baseUrl or url (the public URL)",
            http_status=403,
        )
