"""Fallback load generator (used when wrk is missing): N keep-alive connections POSTing for D seconds.

Prints one JSON line with the same fields the wrk driver reports. It is a single Python process, so it
saturates long before wrk does: its numbers are a lower bound on what the server can do.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import aiohttp
import orjson

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]


async def _worker(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    deadline: float,
    latencies: list[float],
    counts: dict[str, int],
) -> None:
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                data = await resp.read()
            counts["bytes"] += len(data)
            if not 200 <= resp.status < 300:
                counts["non2xx"] += 1
        except (aiohttp.ClientError, TimeoutError, OSError):
            counts["errors"] += 1
            continue
        latencies.append(time.perf_counter() - start)


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100.0 * len(sorted_values)) - 1))
    return sorted_values[index]


async def run(url: str, body: bytes, headers: dict[str, str], connections: int, duration: float) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=10)
    latencies: list[float] = []
    counts = {"non2xx": 0, "errors": 0, "bytes": 0}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        deadline = start + duration
        await asyncio.gather(
            *(_worker(session, url, body, headers, deadline, latencies, counts) for _ in range(connections))
        )
        elapsed = time.perf_counter() - start
    latencies.sort()
    done = len(latencies)
    return {
        "requests": done + counts["errors"],
        "completed": done,
        "duration_s": elapsed,
        "rps": done / elapsed if elapsed else 0.0,
        "p50_ms": _percentile(latencies, 50) * 1000,
        "p99_ms": _percentile(latencies, 99) * 1000,
        "mean_ms": (sum(latencies) / done * 1000) if done else 0.0,
        "non2xx": counts["non2xx"],
        "errors": counts["errors"],
        "bytes": counts["bytes"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="python load generator (wrk fallback)")
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--header", action="append", default=[], help="Name: value")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args(argv)
    with open(args.body_file, "rb") as fh:
        body = fh.read()
    headers = dict(h.split(": ", 1) for h in args.header)
    loop = uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()
    result = loop.run_until_complete(run(args.url, body, headers, args.connections, args.duration))
    loop.close()
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
