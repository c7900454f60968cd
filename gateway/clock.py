"""The gateway's clock: the time get-property('SYSTEM_TIME') and ('SYSTEM_DATE') read, and with them every expiry a
flow computes or stores (transactions, sessions, codes in docs/phone-verification.md).

It is the system clock. With the setting `test_clock: true` (and only then) it can be moved forward, so that a test
can see a 5-minute expiry without waiting: `advance(ms)` in the process, or `POST /_test/clock {"advance": ms}` on
the gateway's port (the route exists only with the setting; transport/server.py). Each process has its own clock:
with `--workers N` a request moves only the worker that answers it."""

from __future__ import annotations

import time
from datetime import datetime

_state = {"offset_ms": 0, "adjustable": False}


class ClockNotAdjustable(RuntimeError):
    pass


def configure(adjustable: bool) -> None:
    """Called when a gateway app is created: the setting decides; the clock starts at the system's time."""
    _state["adjustable"] = bool(adjustable)
    _state["offset_ms"] = 0


def adjustable() -> bool:
    return bool(_state["adjustable"])


def now_ms() -> int:
    """Milliseconds since the epoch (Java's System.currentTimeMillis)."""
    return time.time_ns() // 1_000_000 + _state["offset_ms"]


def now() -> datetime:
    """The local time, aware of its offset."""
    if not _state["offset_ms"]:
        return datetime.now().astimezone()
    return datetime.fromtimestamp(now_ms() / 1000).astimezone()


def advance(ms: int) -> int:
    """Move the clock forward by `ms` milliseconds (test_clock only); answers the new now_ms()."""
    if not _state["adjustable"]:
        raise ClockNotAdjustable("the clock can be moved only with the setting test_clock: true")
    if ms < 0:
        raise ValueError("the clock only moves forward")
    _state["offset_ms"] += int(ms)
    return now_ms()
