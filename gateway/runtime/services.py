"""Process-wide runtime services shared by every message: settings, the pooled HTTP client,
connector runtimes and the masking logger. Created once at start-up, never per message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp

    from gateway.settings import Settings


@dataclass(slots=True)
class Services:
    settings: Settings
    http: aiohttp.ClientSession | None = None
    connectors: dict[str, Any] = field(default_factory=dict)  # connector name -> its runtime object
