"""The twilioRest runtime: one AsyncTwilioHttpClient per process and a bounded pool of SDK clients,
one per (account, credential, apiUrl, apiVersion). Nothing here is created per message."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

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


def _sdk_logger() -> logging.Logger:
    # The SDK logs ~10 INFO lines per request; keep them out of the gateway log unless asked for.
    sdk = logging.getLogger("connectors.twilio_rest.sdk")
    if sdk.level == logging.NOTSET:
        sdk.setLevel(logging.WARNING)
    return sdk


class TwilioRuntime:
    """Created by `start()` inside the running loop (the SDK's aiohttp session needs one)."""

    def __init__(self, pool_size: int = 1024) -> None:
        from twilio.http.async_http_client import AsyncTwilioHttpClient

        # No max_retries: the SDK would retry POSTs on any 5xx or error and send the SMS twice.
        self.http = AsyncTwilioHttpClient(logger=_sdk_logger())
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
        from twilio.rest import Client

        # A non-empty environment keeps TWILIO_EDGE/REGION & co. from rewriting apiUrl's host.
        client = Client(connection.username, connection.password, account_sid=connection.account_sid,
                        http_client=self.http, environment={"_": ""})
        client.api.base_url = connection.api_url
        client.api.v2010.version = connection.api_version
        self._clients[connection] = client
        self.clients_created += 1
        if len(self._clients) > self.pool_size:
            self._clients.popitem(last=False)
            self.clients_evicted += 1
        return client

    def stats(self) -> dict[str, int]:
        return {"clients": len(self._clients), "clients_created": self.clients_created,
                "clients_evicted": self.clients_evicted, "requests": self.requests,
                "pool_size": self.pool_size}

    async def close(self) -> None:
        self._clients.clear()
        await self.http.close()
