"""The twilioRest runtime: one AsyncTwilioHttpClient per process and a bounded pool of SDK clients,
one per (account, credential, apiUrl, apiVersion). Nothing here is created per message."""

from __future__ import annotations

import base64
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response

from gateway.connector import DESTINATION_NOT_ALLOWED, RESPONSE_PROCESSING_FAILED, ConnectorError, OutboundPolicy

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
    # The SDK logs ~10 INFO lines per request; keep them out of the gateway log unless asked for.
    sdk = logging.getLogger("connectors.twilio_rest.sdk")
    if sdk.level == logging.NOTSET:
        sdk.setLevel(logging.WARNING)
    return sdk


class BoundedHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no type information
    """The SDK's aiohttp client, reading at most `max_bytes` of an answer (Twilio's answers are small; a
    huge one is refused instead of filling memory) and keeping no copy of the last response."""

    def __init__(self, max_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # no max_retries: the SDK would retry POSTs on 5xx and send an SMS twice
        self.max_bytes = max_bytes

    async def request(
        self,
        method: str,
        url: str,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        assert self.session is not None, "the pooled session is created with the client"
        headers = dict(headers or {})
        if auth is not None:
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {credentials}"  # what aiohttp.BasicAuth sent (now deprecated)
        kwargs = {
            "method": method.upper(),
            "url": url,
            "params": params,
            "data": data,
            "headers": headers,
            "timeout": aiohttp.ClientTimeout(total=timeout) if timeout else None,
            "allow_redirects": allow_redirects,
        }
        self.log_request(kwargs)
        async with self.session.request(**kwargs) as response:
            if (response.content_length or 0) > self.max_bytes:
                raise self._too_large(method, url)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > self.max_bytes:
                    raise self._too_large(method, url)
                chunks.append(chunk)
            self.log_response(response.status, response)
            return Response(response.status, b"".join(chunks).decode("utf-8", "replace"), response.headers)

    def _too_large(self, method: str, url: str) -> ConnectorError:
        return ConnectorError(
            f"the Twilio API's answer exceeds limits.max_response_bytes ({self.max_bytes})",
            RESPONSE_PROCESSING_FAILED,
            f"{method} {url.split('?', 1)[0]}; raise limits.max_response_bytes if such answers are expected",
            http_status=502,
        )


class TwilioRuntime:
    """Created by `start()` inside the running loop (the SDK's aiohttp session needs one)."""

    def __init__(
        self,
        pool_size: int = 1024,
        max_response_bytes: int = 10 * 1024 * 1024,
        outbound: OutboundPolicy | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.retries = 0  # GETs sent again after a 429 / 5xx
        self.http = BoundedHttpClient(max_response_bytes, logger=_sdk_logger())
        self.outbound = outbound or OutboundPolicy(["*"])
        self.pool_size = pool_size
        self._clients: OrderedDict[Connection, Any] = OrderedDict()
        self.clients_created = 0
        self.clients_evicted = 0
        self.requests = 0

    def client(self, connection: Connection) -> Any:
        """The pooled SDK client for this connection (least recently used ones are dropped)."""
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
        from twilio.rest import Client

        # A non-empty environment keeps TWILIO_EDGE/REGION & co. from rewriting apiUrl's host.
        client = Client(
            connection.username,
            connection.password,
            account_sid=connection.account_sid,
            http_client=self.http,
            environment={"_": ""},
        )
        client.api.base_url = connection.api_url
        client.api.v2010.version = connection.api_version
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
        self._clients.clear()
        await self.http.close()
