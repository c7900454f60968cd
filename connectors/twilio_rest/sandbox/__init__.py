"""Local fake of Twilio's 2010-04-01 REST API (Messages + Calls) for offline development.

See :mod:`.server` (``gateway twilio-sandbox``) for the endpoints and options.
"""

from .accounts import Accounts, load_accounts
from .callbacks import compute_signature
from .segments import SegmentCount, count_segments
from .server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    SANDBOX_STATE,
    SandboxConfig,
    SandboxState,
    create_app,
    main,
    run,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "SANDBOX_STATE",
    "Accounts",
    "SandboxConfig",
    "SandboxState",
    "SegmentCount",
    "compute_signature",
    "count_segments",
    "create_app",
    "load_accounts",
    "main",
    "run",
]
