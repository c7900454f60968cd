"""Give memory back to the system after large messages.

A parsed tree costs about 35 times its bytes, allocated by libxml2 through malloc. When it is freed, glibc
keeps the pages for reuse, so one burst of large bodies would leave the worker hundreds of MB larger for
good. `malloc_trim(0)` returns the free pages; it is called once, shortly after the last large message of a
burst, never on the hot path of small ones.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger("gateway.memory")

_DELAY = 0.2  # seconds: let the burst's contexts be freed first, and trim once for many messages


def _load_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # AttributeError: not glibc
        return None
    return trim


_malloc_trim = _load_trim()
_pending: asyncio.TimerHandle | None = None


def release_soon() -> None:
    """Schedule one malloc_trim for the end of the current burst (no-op without glibc)."""
    global _pending
    if _malloc_trim is None:
        return
    if _pending is not None:
        _pending.cancel()
    _pending = asyncio.get_running_loop().call_later(_DELAY, _release, _malloc_trim)


def _release(trim: Callable[[int], int]) -> None:
    global _pending
    _pending = None
    trim(0)
