"""Process-wide runtime services shared by every message: settings, the pooled HTTP client, connector
runtimes, the secret masker and the outbound allow-list. Created once at start-up, never per message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.masking import SecretMasker, masker_for
from gateway.outbound import OutboundPolicy

if TYPE_CHECKING:
    import aiohttp

    from gateway.settings import Settings


@dataclass(slots=True)
class Services:
    settings: Settings
    http: aiohttp.ClientSession | None = None
    connectors: dict[str, Any] = field(default_factory=dict)  # connector name -> its runtime object
    masker: SecretMasker = field(init=False)
    outbound: OutboundPolicy = field(init=False)
    secret_headers: tuple[str, ...] = field(init=False)  # lower-case names of credential headers

    def __post_init__(self) -> None:
        self.masker = masker_for(tuple(self.settings.secret_names))
        self.outbound = OutboundPolicy(self.settings.outbound_allow)
        self.secret_headers = tuple(name.lower() for name in self.settings.secret_headers)
