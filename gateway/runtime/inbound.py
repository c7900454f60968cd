"""Inbound endpoints (W: inbound/InboundEndpoint; MI's inbound-endpoints/ artifacts): listeners and pollers that
inject messages into a sequence. The transport layer runs them (gateway/transport/inbound.py); this is the
deployed model."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.runtime.configuration import ProxyService


@dataclass(frozen=True, slots=True)
class InboundSpec:
    name: str
    protocol: str  # http | file | rabbitmq
    parameters: tuple[tuple[str, str], ...]
    sequence: str | None
    on_error: str | None
    # What a message runs: the sequence with onError as its fault handler (a proxy in all but name), so an
    # HTTP inbound replies exactly as a proxy would.
    flow: ProxyService | None = None
    port: int | None = None  # http
    dispatch: re.Pattern[str] | None = None  # http without a sequence: which proxy/API paths it serves
    suspended: bool = False
    location: SourceLocation | None = None

    def parameter(self, name: str, default: str = "") -> str:
        for key, value in self.parameters:
            if key == name:
                return value
        return default
