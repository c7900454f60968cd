"""Request bodies for each scenario, padded to an exact size."""

from __future__ import annotations

import re

import orjson

_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kKmM]?)[bB]?\s*$")

SOAP_CONTENT_TYPE = "text/xml; charset=UTF-8"
SOAP_ACTION = '"urn:getQuote"'
JSON_CONTENT_TYPE = "application/json"

_SOAP_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns:m0="http://services.samples"><soapenv:Header/><soapenv:Body>'
    "<m0:getQuote><m0:request><m0:symbol>IBM</m0:symbol></m0:request>"
)
_SOAP_TAIL = "</m0:getQuote></soapenv:Body></soapenv:Envelope>"
# About 100 bytes per pad element: realistic element counts matter, parse cost follows elements not bytes.
_PAD_TEXT = "x" * 80


def parse_size(text: str) -> int:
    """'1k' -> 1024, '100k' -> 102400, '2m' -> 2 MiB, '512' -> 512."""
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"bad size {text!r}: use e.g. 1k, 10k, 100k")
    number, unit = int(match.group(1)), match.group(2).lower()
    return number * {"": 1, "k": 1024, "m": 1024 * 1024}[unit]


def size_label(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)}m"
    if size % 1024 == 0:
        return f"{size // 1024}k"
    return str(size)


def _fill(parts: list[str], head_len: int, tail_len: int, size: int, open_tag: str, close_tag: str) -> None:
    """Append pad elements until the document is exactly ``size`` bytes (or minimal, if it is larger)."""
    used = head_len + tail_len
    overhead = len(open_tag) + len(close_tag)
    while size - used >= overhead + len(_PAD_TEXT) + overhead:
        parts.append(f"{open_tag}{_PAD_TEXT}{close_tag}")
        used += overhead + len(_PAD_TEXT)
    remaining = size - used - overhead
    if remaining >= 0:
        parts.append(f"{open_tag}{'x' * remaining}{close_tag}")


def soap_get_quote(size: int) -> bytes:
    """A SOAP 1.1 getQuote(IBM) request padded with ``<m0:pad>`` elements to ``size`` bytes."""
    parts: list[str] = []
    _fill(parts, len(_SOAP_HEAD), len(_SOAP_TAIL), size, "<m0:pad>", "</m0:pad>")
    return (_SOAP_HEAD + "".join(parts) + _SOAP_TAIL).encode()


def json_order(size: int) -> bytes:
    """A JSON order whose ``pad`` array grows the document to ``size`` bytes."""
    head = '{"symbol":"IBM","order":{"qty":42,"price":183.25},"customer":{"name":"ACME"},"pad":['
    tail = "]}"
    parts: list[str] = []
    _fill(parts, len(head), len(tail), size, '"', '",')
    text = head + "".join(parts)
    if text.endswith(","):
        text = text[:-1] + " "  # keep the exact size: the last comma becomes whitespace
    return (text + tail).encode()


def seed_sms_request(account_sid: str, auth_token: str, api_url: str) -> bytes:
    """The seed's sendSms sample request, pointed at the sandbox.

    statusCallbackUrl is emptied (the proxy then omits it): the benchmark measures the send path, so the
    sandbox must not spend the run firing status callbacks.
    """
    return orjson.dumps(
        {
            "accountSid": account_sid,
            "authToken": auth_token,
            "apiUrl": api_url,
            "apiVersion": "2010-04-01",
            "messageBody": "Hi ,Test for sendSms",
            "to": "+447891063180",
            "from": "+442033229574",
            "statusCallbackUrl": "",
            "applicationSid": "AP2a0747eba6abf96b7e3c3ff0b4530f6e",
        }
    )


SPLIT_PARTS = 10


def soap_multiple_quotes(parts: int = SPLIT_PARTS) -> bytes:
    """A SOAP 1.1 getQuote with `parts` requests (the Synapse sample client's -Ditr=N), for the split scenario."""
    requests = "".join(f"<m0:request><m0:symbol>IBM{n}</m0:symbol></m0:request>" for n in range(parts))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:m0="http://services.samples"><soapenv:Header/><soapenv:Body>'
        f"<m0:getQuote>{requests}</m0:getQuote></soapenv:Body></soapenv:Envelope>"
    ).encode()
