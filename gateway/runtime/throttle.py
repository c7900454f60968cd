"""Throttle counters (W: commons/throttle/core ConcurrentAccessController, CallerContext), shared by every
`<throttle>` mediator of the process through `services.throttle`.

Two stores with one algorithm:
- `LocalCounters` (the default) keeps them in this process, as MI does on a single node;
- `RedisCounters` (settings `throttle.redis`) keeps them in Redis, updated atomically by Lua scripts, so a
  limit holds across gateway nodes and workers (MI's distributed counters, without Hazelcast).

The rate window is MI's CallerContext: a fixed window of `unit` ms opened by the first access; once
`max_count` is spent, access is refused until the window ends (or `prohibit` ms after the refusal when the
policy sets ProhibitTimePeriod); the first access after that opens a new window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gateway.errors import MediationError

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("gateway.throttle")


@dataclass(slots=True)
class Window:
    """One caller's rate state (W: CallerContext: localCount, firstAccessTime, nextTimeWindow, nextAccessTime)."""

    count: int = 0
    first: int = 0
    window: int = 0
    next_access: int = 0


def rate_step(state: Window, now: int, max_count: int, unit: int, prohibit: int) -> bool:
    """MI's canAccessBasedOnUnitTime for one access at `now` (ms); updates `state`, returns the decision."""
    if state.window == 0:  # W: initAccess (the first access)
        state.first, state.window, state.count = now, now + unit, 0
    if now < state.window:  # W: canAccessIfUnitTimeNotOver
        if state.count + 1 <= max_count:
            state.count += 1
            return True
        if state.next_access == 0:
            state.next_access = state.first + unit if prohibit == 0 else now + prohibit
            return False
        if state.next_access <= now:
            _reopen(state, now, unit)
            return True
        return False
    # W: canAccessIfUnitTimeOver
    if state.count < max_count or state.next_access == 0 or state.next_access <= now:
        _reopen(state, now, unit)
        return True
    return False


def _reopen(state: Window, now: int, unit: int) -> None:
    state.next_access, state.count, state.first, state.window = 0, 1, now, now + unit


class ThrottleCounters(Protocol):
    async def acquire(self, key: str, limit: int) -> bool:
        """Take one of `limit` concurrent slots for `key`; False when all are taken."""
        ...

    def release(self, key: str) -> None:
        """Give a slot back (called when the exchange ends; never raises)."""
        ...

    async def hit(self, key: str, max_count: int, unit: int, prohibit: int) -> bool:
        """Count one access in `key`'s rate window; False when the policy refuses it."""
        ...

    async def close(self) -> None: ...


class LocalCounters:
    """In-process counters (one event loop: no locks needed)."""

    __slots__ = ("slots", "windows", "clock")

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        self.slots: dict[str, int] = {}
        self.windows: dict[str, Window] = {}
        self.clock = clock or (lambda: int(time.time() * 1000))

    async def acquire(self, key: str, limit: int) -> bool:
        used = self.slots.get(key, 0)
        if used >= limit:
            return False
        self.slots[key] = used + 1
        return True

    def release(self, key: str) -> None:
        used = self.slots.get(key, 0)
        if used > 1:
            self.slots[key] = used - 1
        else:
            self.slots.pop(key, None)

    async def hit(self, key: str, max_count: int, unit: int, prohibit: int) -> bool:
        now = self.clock()
        state = self.windows.get(key)
        if state is None:
            if len(self.windows) >= 100_000:  # bounded: forget windows that have ended
                self._sweep(now)
            state = self.windows[key] = Window()
        return rate_step(state, now, max_count, unit, prohibit)

    def _sweep(self, now: int) -> None:
        for key in [k for k, s in self.windows.items() if max(s.window, s.next_access) <= now]:
            del self.windows[key]

    async def close(self) -> None:
        return None


# The same algorithm as rate_step, run atomically in Redis (one round trip per access).
_HIT = """
local now = tonumber(ARGV[1]); local max = tonumber(ARGV[2])
local unit = tonumber(ARGV[3]); local prohibit = tonumber(ARGV[4])
local s = redis.call('HMGET', KEYS[1], 'count', 'first', 'window', 'next')
local count = tonumber(s[1]) or 0; local first = tonumber(s[2]) or 0
local window = tonumber(s[3]) or 0; local nxt = tonumber(s[4]) or 0
local allowed = 0
if window == 0 then first = now; window = now + unit; count = 0 end
if now < window then
  if count + 1 <= max then count = count + 1; allowed = 1
  elseif nxt == 0 then
    if prohibit == 0 then nxt = first + unit else nxt = now + prohibit end
  elseif nxt <= now then nxt = 0; count = 1; first = now; window = now + unit; allowed = 1 end
else
  if count < max or nxt == 0 or nxt <= now then nxt = 0; count = 1; first = now; window = now + unit; allowed = 1 end
end
redis.call('HSET', KEYS[1], 'count', count, 'first', first, 'window', window, 'next', nxt)
redis.call('PEXPIRE', KEYS[1], math.max(window, nxt) - now + unit)
return allowed
"""
_ACQUIRE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
_RELEASE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used > 0 then redis.call('DECR', KEYS[1]) end
return used
"""
# A node that dies holding slots must not block the cluster for ever: slots expire after this long
# without any new acquisition (longer than any sane request).
_SLOT_TTL_MS = 10 * 60 * 1000


class RedisCounters:
    """Counters in Redis (redis-py asyncio; one pooled client per process, made in the running loop)."""

    __slots__ = ("url", "prefix", "_client", "_scripts", "_pending")

    def __init__(self, url: str, prefix: str = "synapse-gateway:throttle:") -> None:
        self.url = url
        self.prefix = prefix
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def _script(self, name: str, text: str) -> Any:
        if self._client is None:
            import redis.asyncio as redis_asyncio

            self._client = redis_asyncio.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._client.register_script(text)
        return script

    async def _run(self, name: str, text: str, key: str, *args: int) -> int:
        try:
            return int(await self._script(name, text)(keys=[self.prefix + key], args=list(args)))
        except Exception as exc:  # noqa: BLE001 - any store failure is the same fault for the flow
            from redis.exceptions import RedisError

            if not isinstance(exc, (RedisError, OSError)):
                raise
            raise MediationError(
                "Error occurred during throttling",
                detail=f"the throttle counters in Redis ({_shown(self.url)}) cannot be reached: {exc}",
            ) from None

    async def acquire(self, key: str, limit: int) -> bool:
        return await self._run("acquire", _ACQUIRE, "c:" + key, limit, _SLOT_TTL_MS) == 1

    def release(self, key: str) -> None:
        task = asyncio.get_running_loop().create_task(self._release(key))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _release(self, key: str) -> None:
        try:
            await self._run("release", _RELEASE, "c:" + key)
        except Exception as exc:  # noqa: BLE001 - the slot expires on its own (_SLOT_TTL_MS)
            log.warning("throttle: could not give back a concurrency slot of %s: %s", key, exc)

    async def hit(self, key: str, max_count: int, unit: int, prohibit: int) -> bool:
        now = int(time.time() * 1000)
        return await self._run("hit", _HIT, "r:" + key, now, max_count, unit, prohibit) == 1

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._scripts.clear()


def _shown(url: str) -> str:
    """The URL without a password."""
    head, sep, tail = url.partition("@")
    return (head.split("://", 1)[0] + "://…@" + tail) if sep else url


def counters_for(redis_url: str | None) -> ThrottleCounters:
    return RedisCounters(redis_url) if redis_url else LocalCounters()
