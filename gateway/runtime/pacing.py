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


# The in-process schedule forgets keys whose slot has passed (a past slot and no slot mean the same) once it holds
# this many, then again at twice what survived: senders or clients seen once do not stay in memory for good.
_PRUNE_FROM = 1024


class Pacer:
    """Reserve slots per key. `redis_url` shares the schedule between nodes."""

    def __init__(self, redis_url: str | None = None, prefix: str = "gateway:pace:") -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self._free: dict[str, float] = {}
        self._prune_at = _PRUNE_FROM
        self._redis: Any = None
        self._script: Any = None
        self._push: Any = None
        self._fastest_answer: float | None = None  # seconds: the shortest round trip of a send seen so far

    async def reserve(self, key: str, units: float, rate: float) -> float:
        """Seconds to wait before sending `units` for `key` at `rate` units per second."""
        cost = units / rate if rate > 0 else 0.0
        if self.redis_url is None:
            now = time.monotonic()
            start = max(now, self._free.get(key, 0.0))
            self._set_free(key, start + cost, now)
            return start - now
        await self._scripts()
        waited = await self._script(keys=[self.prefix + key], args=[cost])
        return int(waited) / 1_000_000

    async def push(self, key: str, units: float, rate: float) -> None:
        """A send for `key` has just left: the key is free again no earlier than now + units / rate."""
        await self._push_for(key, units / rate if rate > 0 else 0.0)

    async def answered(self, key: str, units: float, rate: float, round_trip: float) -> None:
        """The send for `key` that left `round_trip` seconds ago has its answer; it reached the target somewhere
        in between. The key's next slot moves on by how much longer this round trip was than the fastest seen (a
        send slow to arrive, such as a connection's first, does not bring the next one closer), not by the whole
        round trip, which would slow every key down by it. Before any answer the whole round trip counts."""
        fastest = self._fastest_answer
        self._fastest_answer = round_trip if fastest is None else min(fastest, round_trip)
        normal = 0.0 if fastest is None else min(fastest, round_trip)
        seconds = (units / rate if rate > 0 else 0.0) - normal
        if seconds > 0:
            await self._push_for(key, seconds)

    @property
    def fastest_answer(self) -> float | None:
        """The shortest round trip of a send seen so far (None before the first answer)."""
        return self._fastest_answer

    async def _push_for(self, key: str, seconds: float) -> None:
        if self.redis_url is None:
            now = time.monotonic()
            self._set_free(key, max(self._free.get(key, 0.0), now + seconds), now)
            return
        await self._scripts()
        await self._push(keys=[self.prefix + key], args=[seconds])

    def _set_free(self, key: str, free: float, now: float) -> None:
        self._free[key] = free
        if len(self._free) >= self._prune_at:
            self._free = {k: t for k, t in self._free.items() if t > now}
            self._prune_at = max(_PRUNE_FROM, 2 * len(self._free))

    @property
    def keys_held(self) -> int:
        """Keys the in-process schedule remembers (for tests and /healthz-style checks)."""
        return len(self._free)

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
