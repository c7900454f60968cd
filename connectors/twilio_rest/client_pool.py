"""The twilioRest runtime: the gateway's outbound HTTP client (gateway.connector.HttpClient: pooled keep-alive
connections, its TLS settings) and a bounded pool of clients, one per (account, credential, apiUrl, apiVersion),
each with its request headers encoded once. Nothing here is created per message.

The requests are the ones the twilio SDK sends (its User-Agent, X-Twilio-Client, Accept-Charset, Accept, Basic
auth, a form-encoded body), without its per-call work: header dicts, auth objects, FormData, timeout objects,
its resource objects and the decoding of Twilio's answer (the bytes are passed on untouched)."""

from __future__ import annotations

import base64
import logging
import platform
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import quote, quote_plus

from multidict import CIMultiDict
from twilio import __version__ as twilio_version

from gateway.connector import (
    DESTINATION_NOT_ALLOWED,
    RESPONSE_PROCESSING_FAILED,
    ConnectorError,
    HttpClient,
    OutboundPolicy,
    ReplyTooLarge,
)

log = logging.getLogger("connectors.twilio_rest")


@dataclass(frozen=True, slots=True)
class Connection:
    """What init stored for this message: whose resources, which credential, which endpoint."""

    account_sid: str
    username: str  # the account SID, or an API key SID
    password: str  # the auth token, or the API key secret
    api_url: str
    api_version: str

    def __repr__(self) -> str:  # never print the credential
        return f"Connection({self.account_sid}, user={self.username}, {self.api_url}, {self.api_version})"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a GET answered 429 or 5xx is retried (POSTs never are): up to ``retries`` more times, waiting
    ``backoff * 2**attempt`` seconds, or what Retry-After asks (seconds or an HTTP date) when Twilio
    sends it. A wait longer than ``max_wait`` is not made: the error is answered at once."""

    retries: int = 2
    backoff: float = 0.5
    max_wait: float = 10.0

    def delay(self, attempt: int, retry_after: str | None) -> float | None:
        wait = self.backoff * (2**attempt)
        if retry_after:
            text = retry_after.strip()
            try:
                wait = float(text)
            except ValueError:
                try:
                    wait = (parsedate_to_datetime(text) - datetime.now(UTC)).total_seconds()
                except (TypeError, ValueError):
                    pass  # unreadable: the backoff applies
            wait = max(wait, 0.0)
        return wait if wait <= self.max_wait else None


def _sdk_logger() -> logging.Logger:
    # Request/response lines (what the SDK's client logged at INFO); kept out of the gateway log unless asked for.
    sdk = logging.getLogger("connectors.twilio_rest.sdk")
    if sdk.level == logging.NOTSET:
        sdk.setLevel(logging.WARNING)
    return sdk


# What the twilio SDK's ClientBase.get_headers sends with every request, computed once per process.
USER_AGENT = (
    f"twilio-python/{twilio_version} ({platform.system()} {platform.machine()}) Python/{platform.python_version()}"
)
_BASE_HEADERS = {
    "User-Agent": USER_AGENT,
    "X-Twilio-Client": f"python-{twilio_version}",
    "Accept-Charset": "utf-8",
}
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote_plus leaves as it is


@lru_cache(maxsize=512)
def _encoded_name(name: str) -> str:
    return quote_plus(name)


def encode_form(pairs: list[tuple[str, str]]) -> str:
    """``urlencode(pairs)`` (what the SDK's aiohttp sent), byte for byte: field names are encoded once per
    process, plain values are not encoded at all."""
    return "&".join(
        f"{_encoded_name(name)}={value if _PLAIN.fullmatch(value) else quote_plus(value)}" for name, value in pairs
    )


class TwilioResponse:
    """Twilio's answer: status, the body's bytes as received (passed on untouched) and the headers."""

    __slots__ = ("status_code", "body", "headers")

    def __init__(self, status_code: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.status_code = status_code
        self.body = body
        self.headers = headers

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class TwilioClient:
    """One pooled client per connection: its base URL, API version and the request headers the SDK would send
    (Basic auth, User-Agent, Accept…), encoded once. Requests go out on the runtime's one HTTP client."""

    __slots__ = ("base_url", "version", "account_url", "_http", "_headers")

    def __init__(self, connection: Connection, http: TwilioHttp) -> None:
        self.base_url = connection.api_url
        self.version = connection.api_version
        # the account's resources, e.g. https://api.twilio.com/2010-04-01/Accounts/AC…: the SID quoted once
        account = quote(connection.account_sid, safe="")
        self.account_url = f"{connection.api_url.rstrip('/')}/{connection.api_version}/Accounts/{account}"
        self._http = http
        credentials = base64.b64encode(f"{connection.username}:{connection.password}".encode()).decode("ascii")
        auth = {**_BASE_HEADERS, "Authorization": f"Basic {credentials}"}
        # per method, as ClientBase.get_headers makes them: a form Content-Type on POST / PUT, no Accept on DELETE
        # (case-insensitive dicts, built once: the HTTP client uses them as they are)
        self._headers: dict[str, CIMultiDict[str]] = {
            "GET": CIMultiDict({**auth, "Accept": "application/json"}),
            "POST": CIMultiDict({**auth, "Content-Type": FORM_CONTENT_TYPE, "Accept": "application/json"}),
            "PUT": CIMultiDict({**auth, "Content-Type": FORM_CONTENT_TYPE, "Accept": "application/json"}),
            "DELETE": CIMultiDict(auth),
        }

    async def request_async(
        self,
        method: str,
        url: str,
        data: list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> TwilioResponse:
        """One request: ``data`` form-encoded in the body (as the SDK does), ``headers`` added to the client's."""
        method = method.upper()
        base = self._headers.get(method) or self._headers["GET"]
        if headers:
            sent = base.copy()
            sent.update(headers)
        else:
            sent = base
        body = encode_form(data).encode("ascii") if data is not None else None
        return await self._http.request(method, url, body, sent)


class TwilioHttp:
    """Sends the pooled clients' requests on the gateway's HTTP client (services.transport, shared with endpoints:
    keep-alive connections, the gateway's TLS settings). It reads at most `max_bytes` of an answer (Twilio's answers
    are small; a huge one is refused instead of filling memory). No per-call timeout: the framework's deadline for
    the operation bounds the call. The client is the gateway's: it is closed with the gateway, not here."""

    def __init__(self, max_bytes: int, client: HttpClient, logger: logging.Logger | None = None) -> None:
        self.max_bytes = max_bytes
        self.logger = logger or _sdk_logger()
        self.client = client

    async def request(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> TwilioResponse:
        logger = self.logger
        logging_on = logger.isEnabledFor(logging.INFO)
        if logging_on:
            logger.info("%s Request: %s", method, url)
            for key, value in headers.items():
                if key.lower() != "authorization":
                    logger.info("%s : %s", key, value)
        try:
            status, reply_headers, data = await self.client.request(
                method, url, headers, body, timeout=None, max_bytes=self.max_bytes
            )
        except ReplyTooLarge:
            raise self._too_large(method, url) from None
        if logging_on:
            logger.info("Response Status Code: %s", status)
            logger.info("Response Headers: %s", dict(reply_headers))
        return TwilioResponse(status, data, reply_headers)

    def _too_large(self, method: str, url: str) -> ConnectorError:
        return ConnectorError(
            f"the Twilio API's answer exceeds limits.max_response_bytes ({self.max_bytes})",
            RESPONSE_PROCESSING_FAILED,
            f"{method} {url.split('?', 1)[0]}; raise limits.max_response_bytes if such answers are expected",
            http_status=502,
        )


class TwilioRuntime:
    """Created by `start()` inside the running loop, with the gateway's HTTP client (services.transport)."""

    def __init__(
        self,
        http_client: HttpClient,
        pool_size: int = 1024,
        max_response_bytes: int = 10 * 1024 * 1024,
        outbound: OutboundPolicy | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.retries = 0  # GETs sent again after a 429 / 5xx
        self.http = TwilioHttp(max_response_bytes, http_client)
        self.outbound = outbound or OutboundPolicy(["*"])
        self.pool_size = pool_size
        self._clients: OrderedDict[Connection, TwilioClient] = OrderedDict()
        self.clients_created = 0
        self.clients_evicted = 0
        self.requests = 0

    def client(self, connection: Connection) -> TwilioClient:
        """The pooled client for this connection (least recently used ones are dropped)."""
        client = self._clients.get(connection)
        if client is not None:
            self._clients.move_to_end(connection)
            return client
        if not self.outbound.allows(connection.api_url):  # checked once per pooled client, not per call
            rules = ", ".join(rule.text for rule in self.outbound.rules) or "nothing"
            raise ConnectorError(
                f"twilioRest apiUrl {connection.api_url} is not an allowed destination",
                DESTINATION_NOT_ALLOWED,
                f"it matches no rule of outbound.allow in the gateway "
                f"config (allowed: {rules}); nothing was sent. Add a rule if this URL is "
                "intended",
                http_status=403,
            )
        client = TwilioClient(connection, self.http)
        self._clients[connection] = client
        self.clients_created += 1
        if len(self._clients) > self.pool_size:
            self._clients.popitem(last=False)
            self.clients_evicted += 1
        return client

    def stats(self) -> dict[str, int]:
        return {
            "clients": len(self._clients),
            "clients_created": self.clients_created,
            "clients_evicted": self.clients_evicted,
            "requests": self.requests,
            "retries": self.retries,
            "pool_size": self.pool_size,
        }

    async def close(self) -> None:
        self._clients.clear()  # the HTTP client is the gateway's: it closes it
