"""Pacing: at most `rate` units per second for each key (a Twilio sender, a client, a partner), across every
gateway node that shares the same Redis (extension: MI has no per-key pacing for processors).

Virtual scheduling (GCRA without burst): each key has the time it is next free; a request of `units` starts
at max(now, free) and moves `free` on by units / rate. In Redis that is one Lua script on the server's own
clock, so the nodes agree on both the schedule and the time; without Redis it is a dict in this process.
"""

from __future__ import annotations

import time
from typing import Any

# KEYS[1]: the key; ARGV[1]: seconds the request occupies. Returns the wait in microseconds.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(now, free)
local cost = math.floor(tonumber(ARGV[1]) * 1000000 + 0.5)
redis.call('SET', KEYS[1], start + cost, 'PX', math.floor((start + cost - now) / 1000) + 60000)
return start - now
"""


# KEYS[1]: the key; ARGV[1]: seconds. The key is next free no earlier than now + ARGV[1].
_PUSH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = now + math.floor(tonumber(ARGV[1]) * 1000000 + 0.5)
if want > free then
  redis.call('SET', KEYS[1], want, 'PX', math.floor((want - now) / 1000) + 60000)
end
return 0
"""


class Pacer:
    """Reserve slots per key. `redis_url` shares the schedule between nodes."""

    def __init__(self, redis_url: str | None = None, prefix: str = "gateway:pace:") -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self._free: dict[str, float] = {}
        self._redis: Any = None
        self._script: Any = None
        self._push: Any = None

    async def reserve(self, key: str, units: float, rate: float) -> float:
        """Seconds to wait before sending `units` for `key` at `rate` units per second."""
        cost = units / rate if rate > 0 else 0.0
        if self.redis_url is None:
            now = time.monotonic()
            start = max(now, self._free.get(key, 0.0))
            self._free[key] = start + cost
            return start - now
        await self._scripts()
        waited = await self._script(keys=[self.prefix + key], args=[cost])
        return int(waited) / 1_000_000

    async def push(self, key: str, units: float, rate: float) -> None:
        """A send for `key` has just left: the key is free again no earlier than now + units / rate."""
        cost = units / rate if rate > 0 else 0.0
        if self.redis_url is None:
            self._free[key] = max(self._free.get(key, 0.0), time.monotonic() + cost)
            return
        await self._scripts()
        await self._push(keys=[self.prefix + key], args=[cost])

    async def _scripts(self) -> None:
        if self._script is None and self.redis_url is not None:
            import redis.asyncio as redis

            self._redis = redis.Redis.from_url(self.redis_url)
            self._script = self._redis.register_script(_RESERVE)
            self._push = self._redis.register_script(_PUSH)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = self._script = None
