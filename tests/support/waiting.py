"""Waiting in tests for something that happens in the background (a processor, a task, a poller)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(predicate: Callable[[], object], seconds: float = 10.0, what: str = "the condition") -> None:
    """Poll `predicate` until it is true; fail the test when `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"{what} was not reached in {seconds:g} s"
        await asyncio.sleep(0.02)
