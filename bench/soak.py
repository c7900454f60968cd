"""``python -m bench --soak``: the seed proxy under a steady share of its measured capacity, for minutes.

1. An echo back end, the Twilio sandbox and a gateway (``--workers N``, metrics on, the management port open)
   serving the seed's ``twilioRest`` proxy and an audit path: the ``SoakAudit`` proxy stores each message in a
   SQLite message store that a forwarding processor drains to the echo back end.
2. Capacity, twice. Closed loop: the same generator, N connections back to back on the seed proxy, for a few
   seconds (quoted). Calibrated: open loop under the soak's own conditions (the generator pacing itself, one
   request in ten through the store while its processor drains it, the metrics scraped), in steps of rising
   rate from half the closed-loop figure; the highest step whose backlog stays bounded. The closed loop
   over-estimates what the soak can sustain (on this machine the calibrated figure was 60-70% of it).
3. The soak: requests at a fixed rate (``--soak-load`` × the calibrated capacity, 80% by default), every tenth
   one to ``SoakAudit``. Latency counts from the request's scheduled time, so a stall shows (no coordinated
   omission).
4. Every interval (a minute; a quarter of a short soak) the RSS of every gateway process; every 5 s a scrape of
   the metrics endpoint; every second a timeline reading (sent, answered, unsent, in flight, p99 by target, the
   generator's lateness, the CPU of the gateway, the generator, the sandbox, the echo back end and the machine,
   the audit store's depth). Every non-2xx answer and every error is kept with its cause; requests the generator
   did not send because MAX_IN_FLIGHT were outstanding are counted apart (not a gateway error, but a soak with
   any did not run at its rate).

wrk2 (a fixed-rate wrk) is not packaged for this machine, so the load is this module's Python generator: one
process, which is why the capacity is measured with it too (80% of what wrk could push it could not send).
Writes ``soak.{md,json}`` (``soak-smoke.*`` with ``--smoke``); ``python -m bench`` quotes its summary.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import yaml

from bench import artifacts, payloads, report, stores
from bench.procs import ProcessManager, StartError, free_port, tree_pids
from bench.report import MB

if TYPE_CHECKING:
    from bench.runner import Config

REPO = Path(__file__).resolve().parent.parent
SEED_PROXY = "twilioRest"
AUDIT_PROXY = "SoakAudit"
AUDIT_EVERY = 10  # one request in ten goes through the store
SCRAPE_SECONDS = 5.0
REQUEST_TIMEOUT = 10.0
MAX_IN_FLIGHT = 512  # beyond this the gateway has fallen behind: the generator counts the request as not sent
NOT_SENT = f"not sent: {MAX_IN_FLIGHT} requests in flight (the offered rate was more than the machine sustained)"
METRICS_PATH = "/metric-service/metrics"
FORWARDER = "org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor"
_SID = re.compile(rb'"sid"\s*:\s*"SM[0-9a-fA-F]{32}"')
_PROXY_COUNT = re.compile(
    r'^wso2_integration_proxy_request_count_total\{[^}]*service_name="twilioRest"[^}]*\}\s+([0-9.e+]+)$', re.M
)

AUDIT_FILES = {
    "proxies/SoakAudit.xml": """<proxy xmlns="http://ws.apache.org/ns/synapse" name="SoakAudit" transports="http">
  <target><inSequence>
    <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/>
    <property name="OUT_ONLY" value="true"/>
    <store messageStore="Audit"/>
  </inSequence></target>
</proxy>
""",
    "message-stores/Audit.xml": stores.STORES["sqlite"].replace('name="Queue"', 'name="Audit"'),
    "endpoints/AuditSink.xml": """<endpoint xmlns="http://ws.apache.org/ns/synapse" name="AuditSink">
  <address uri="@ECHO_URL@"/>
</endpoint>
""",
    # interval 1 ms: a forwarding processor sends one message per interval (as MI's), so at 10 ms the two workers
    # could not drain the ~160 audit messages a second of a 1,600 req/s soak and the store grew for the whole
    # soak. Polling the empty store this often is cheap since the SQLite store peeks with a read.
    "message-processors/AuditForwarder.xml": f"""<messageProcessor xmlns="http://ws.apache.org/ns/synapse"
    name="AuditForwarder" class="{FORWARDER}" messageStore="Audit" targetEndpoint="AuditSink">
  <parameter name="interval">1</parameter>
  <parameter name="client.retry.interval">100</parameter>
</messageProcessor>
""",
}


def log(message: str) -> None:
    print(f"[bench soak] {message}", file=sys.stderr, flush=True)


@dataclass
class Target:
    name: str
    url: str
    body: bytes
    headers: dict[str, str]
    check: Callable[[int, bytes], str | None]  # None when the answer is right, else the cause


@dataclass
class Tally:
    """What the generator saw: answers, latencies per interval, and every error by cause."""

    started: float
    ok: int = 0
    sent: int = 0
    by_target: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # since the last sample
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    interval_errors: int = 0
    done: int = 0  # requests that came back (right, wrong or failed)
    not_sent: int = 0  # scheduled but not sent: MAX_IN_FLIGHT were outstanding
    in_flight: int = 0
    lag_max: float = 0.0  # the generator's worst lateness (its loop waking up late) since the last timeline tick
    tick_latencies: dict[str, list[float]] = field(default_factory=dict)  # by target, since the last tick

    def error(self, cause: str, kind: str = "error") -> None:
        at = round(time.monotonic() - self.started, 1)
        entry = self.errors.setdefault(
            cause, {"cause": cause, "count": 0, "first_s": at, "injected": False, "kind": kind}
        )
        entry["count"] += 1
        entry["last_s"] = at
        self.interval_errors += 1


def _seed_check(status: int, body: bytes) -> str | None:
    if not 200 <= status < 300:
        return f"HTTP {status}: {body[:160].decode(errors='replace')}"
    if not _SID.search(body):
        return f"HTTP {status} without a message sid: {body[:120].decode(errors='replace')}"
    return None


def _accepted_check(status: int, body: bytes) -> str | None:
    return None if 200 <= status < 300 else f"HTTP {status}: {body[:160].decode(errors='replace')}"


async def _one(session: aiohttp.ClientSession, target: Target, scheduled: float, tally: Tally) -> None:
    tally.in_flight += 1
    try:
        async with session.post(target.url, data=target.body, headers=target.headers) as resp:
            data = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        tally.error(f"{target.name}: {type(exc).__name__}: {exc}")
        return
    finally:
        tally.in_flight -= 1
        tally.done += 1
    cause = target.check(status, data)
    if cause is not None:
        tally.error(f"{target.name}: {cause}")
        return
    tally.ok += 1
    tally.by_target[target.name] = tally.by_target.get(target.name, 0) + 1
    latency = time.monotonic() - scheduled
    tally.latencies.append(latency)
    tally.tick_latencies.setdefault(target.name, []).append(latency)


def _per_request(cores: float, rate: float) -> float | None:
    """CPU milliseconds per request from cores used at a rate."""
    return round(cores / rate * 1000, 3) if rate > 0 else None


async def closed_loop(session: aiohttp.ClientSession, target: Target, connections: int, seconds: float) -> float:
    """Capacity: ``connections`` clients back to back; the answers per second."""
    tally = Tally(started=time.monotonic())
    deadline = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < deadline:
            await _one(session, target, time.monotonic(), tally)

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(connections)))
    if tally.errors:
        raise RuntimeError(f"errors while measuring capacity: {list(tally.errors.values())[:3]}")
    return tally.ok / (time.monotonic() - started)


async def fixed_rate(
    session: aiohttp.ClientSession,
    targets: list[Target],
    rate: float,
    seconds: float,
    tally: Tally,
) -> int:
    """Send request i at start + i / rate (in 5 ms batches); every AUDIT_EVERY-th one to the second target.
    Returns how many were still in flight when the last one was due (then waits for them)."""
    start = time.monotonic()
    total = int(rate * seconds)
    in_flight: set[asyncio.Task[None]] = set()
    index = 0
    while index < total:
        now = time.monotonic()
        due = min(total, int((now - start) * rate) + 1)
        while index < due:
            target = targets[1] if len(targets) > 1 and index % AUDIT_EVERY == AUDIT_EVERY - 1 else targets[0]
            scheduled = start + index / rate
            index += 1
            tally.sent += 1
            if len(in_flight) >= MAX_IN_FLIGHT:
                tally.not_sent += 1
                tally.error(f"{target.name}: {NOT_SENT}", kind="not sent")
                continue
            task = asyncio.ensure_future(_one(session, target, scheduled, tally))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        before = time.monotonic()
        await asyncio.sleep(0.005)
        tally.lag_max = max(tally.lag_max, time.monotonic() - before - 0.005)
    left = len(in_flight)
    if in_flight:
        await asyncio.wait(in_flight, timeout=REQUEST_TIMEOUT + 5)
    return left


STEPS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2)  # shares of the closed-loop capacity tried, upwards
STEPS_DOWN = (0.4, 0.3, 0.2, 0.1)  # when even the first is not sustained


async def calibrate(
    session: aiohttp.ClientSession,
    targets: list[Target],
    closed: float,
    step_s: float,
    errors: list[dict[str, Any]],
    meter: CpuMeter,
    store: str | None = None,
) -> tuple[float, list[dict[str, Any]]]:
    """The capacity under the soak's own conditions: open loop (the generator paces itself), one request in
    AUDIT_EVERY through the store while its processor drains it, the metrics scraped. Rates step up from half
    the closed-loop capacity; a step is sustained when nothing failed or went unsent and what was still in
    flight when its last request was due is under 100 ms of its rate (a growing backlog is not) and the audit
    store holds under half a second of its traffic (its processor keeps up); a step is tried twice before it
    counts as not sustained. The highest
    sustained rate is the calibrated capacity (the soak runs at ``--soak-load`` of it). Real errors (not the
    unsent requests of an overloaded step) go to ``errors``: the soak reports them with its own."""
    steps: list[dict[str, Any]] = []
    best: float | None = None

    async def step(share: float) -> bool:
        rate = max(1.0, closed * share)
        tally = Tally(started=time.monotonic())
        depth = await asyncio.to_thread(_store_depth, store) if store else None
        meter.lap()
        left = await fixed_rate(session, targets, rate, step_s, tally)
        cores = meter.lap()
        p99 = _percentile(tally.latencies, 99)
        depth_after = await asyncio.to_thread(_store_depth, store) if store else None
        # The processor keeps up too: the audit store holds no more than half a second of its traffic.
        drained = depth_after is None or depth_after <= max(16.0, rate / AUDIT_EVERY / 2)
        ok = tally.not_sent == 0 and not tally.errors and left <= max(8, rate * 0.1) and drained
        steps.append(
            {
                "share": share,
                "rate_rps": round(rate, 1),
                "sent": tally.sent,
                "ok": tally.ok,
                "not_sent": tally.not_sent,
                "errors": sum(int(e["count"]) for e in tally.errors.values()) - tally.not_sent,
                "in_flight_at_end": left,
                "p99_ms": None if p99 is None else round(p99 * 1000, 1),
                "cpu": cores,
                "gateway_cpu_ms_per_request": _per_request(cores["gateway"], rate),
                "store_depth": [depth, depth_after],
                "sustained": ok,
            }
        )
        log(f"calibration: {rate:,.0f} req/s: {'sustained' if ok else 'not sustained'} ({steps[-1]})")
        for entry in tally.errors.values():
            if entry["kind"] != "not sent":
                errors.append({**entry, "cause": f"calibration at {rate:,.0f} req/s: {entry['cause']}"})
        await asyncio.sleep(0.5)
        return ok

    async def sustained(share: float) -> bool:
        # A step that was not sustained is tried once more: one stall (the machine is shared) does not end the
        # search below what the soak can sustain; a rate that is really too high fails twice.
        return await step(share) or await step(share)

    for share in STEPS:
        if not await sustained(share):
            break
        best = closed * share
    if best is None:
        for share in STEPS_DOWN:
            if await sustained(share):
                best = closed * share
                break
    return max(1.0, best if best is not None else closed * STEPS_DOWN[-1]), steps


def _own_cpu() -> float:
    """This process's CPU time: the generator (and the light sampling and scraping beside it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _pid_cpu(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every core since boot (/proc/stat; idle and iowait are not busy)."""
    with open("/proc/stat", "rb") as fh:
        values = [int(v) for v in fh.readline().split()[1:9]]
    return sum(values) - values[3] - values[4], sum(values)


def _runqueue_wait(pid: int | str) -> float:
    """Seconds the process's main thread (its event loop) has spent runnable but waiting for a CPU
    (/proc/PID/schedstat, second field, ns)."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


class CpuMeter:
    """CPU used between two readings, in cores (CPU seconds per wall second): the gateway's processes, the
    generator (this process), the Twilio sandbox and the echo back end (which share the cores), and the whole
    machine (other work included: it is shared). Also the time the gateway's and the generator's event loops
    were runnable but not given a CPU ("…_waiting", in the same unit): high while behind means the CPU went to
    other work; low while behind with little CPU used means the gateway waited on something (a stall)."""

    def __init__(self, gateway: int, others: dict[str, int]) -> None:
        self.gateway = tree_pids(gateway)
        self.others = {name: tree_pids(pid) for name, pid in others.items()}
        self._last = self._read()

    def _read(self) -> tuple[float, dict[str, float], tuple[int, int]]:
        values = {"gateway": sum(_pid_cpu(pid) for pid in self.gateway), "generator": _own_cpu()}
        values.update({name: sum(_pid_cpu(pid) for pid in pids) for name, pids in self.others.items()})
        values["gateway_waiting"] = sum(_runqueue_wait(pid) for pid in self.gateway)
        values["generator_waiting"] = _runqueue_wait("self")
        return time.monotonic(), values, _machine_ticks()

    def lap(self) -> dict[str, float]:
        """Cores used by each since the last lap (machine: the share of every core that was busy)."""
        (t0, before, (busy0, total0)), now = self._last, self._read()
        self._last = now
        t1, after, (busy1, total1) = now
        wall = max(t1 - t0, 1e-6)
        out = {name: round((after[name] - before[name]) / wall, 3) for name in after}
        out["machine_busy"] = round((busy1 - busy0) / max(1, total1 - total0), 3)
        return out


def _store_depth(path: str) -> int | None:
    """Messages in the audit store (read-only; None while the table does not exist or the file is busy)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.2)
        try:
            row = db.execute("SELECT COUNT(*) FROM JDBC_MESSAGE_STORE").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return int(row[0]) if row else None


async def _timeline(
    meter: CpuMeter, tally: Tally, stop: asyncio.Event, store: str | None, out: list[dict[str, Any]]
) -> None:
    """Once a second: what was offered, sent, answered and left unsent, what is in flight and each target's
    p99, how late the generator woke up, the CPU of each gateway process, the generator, the sandbox, the echo
    back end and the whole machine, and the depth of the audit store. A backlog that grows second after second
    means the rate is more than the machine sustains; seconds with few answers between normal ones, stalls."""
    pids = meter.gateway
    cpu = {pid: _pid_cpu(pid) for pid in pids}
    meter.lap()
    counts = (tally.sent, tally.done, tally.ok, tally.not_sent)
    last = time.monotonic()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass
        now = time.monotonic()
        dt = max(now - last, 1e-6)
        cpu_now = {pid: _pid_cpu(pid) for pid in pids}
        cores = meter.lap()
        counts_now = (tally.sent, tally.done, tally.ok, tally.not_sent)
        p99 = {name: _percentile(values, 99) for name, values in tally.tick_latencies.items()}
        tally.tick_latencies = {}
        depth = await asyncio.to_thread(_store_depth, store) if store else None
        out.append(
            {
                "t": round(now - tally.started, 1),
                "sent_per_s": round((counts_now[0] - counts[0]) / dt, 1),
                "done_per_s": round((counts_now[1] - counts[1]) / dt, 1),
                "ok_per_s": round((counts_now[2] - counts[2]) / dt, 1),
                "not_sent": counts_now[3] - counts[3],
                "in_flight": tally.in_flight,
                "p99_ms": {name: round(value * 1000, 1) for name, value in p99.items() if value is not None},
                "lag_ms": round(tally.lag_max * 1000, 1),
                "cpu": cores,
                "gateway_cpu": {str(pid): round((cpu_now[pid] - cpu[pid]) / dt, 3) for pid in pids},
                "store_depth": depth,
            }
        )
        tally.lag_max = 0.0
        cpu, counts, last = cpu_now, counts_now, now


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def _rss_by_pid(root: int) -> dict[int, int]:
    out = {}
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmRSS:"):
                        out[pid] = int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return out


async def _scraper(url: str, stop: asyncio.Event, scrapes: dict[str, Any], tally: Tally) -> None:
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while not stop.is_set():
            try:
                async with session.get(url) as resp:
                    text = await resp.text()
                    if resp.status != 200:
                        tally.error(f"metrics scrape: HTTP {resp.status}: {text[:120]}")
                    else:
                        scrapes["ok"] += 1
                        scrapes["bytes"] = len(text)
                        if match := _PROXY_COUNT.search(text):
                            scrapes["last_count"] = float(match.group(1))
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                tally.error(f"metrics scrape: {type(exc).__name__}: {exc}")
            scrapes["total"] += 1
            try:
                await asyncio.wait_for(stop.wait(), SCRAPE_SECONDS)
            except TimeoutError:
                pass


async def scrape_count(url: str) -> float | None:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(url) as resp,
        ):
            text = await resp.text()
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None
    match = _PROXY_COUNT.search(text)
    return float(match.group(1)) if match else None


async def soak(
    gateway_pid: int,
    targets: list[Target],
    metrics_url: str,
    cfg: Config,
    store: str | None = None,
    others: dict[str, int] | None = None,
) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        log(f"measuring capacity: {cfg.connections} connections for {cfg.soak_capacity_s}s on {targets[0].url}")
        meter = CpuMeter(gateway_pid, others or {})
        closed = await closed_loop(session, targets[0], cfg.connections, cfg.soak_capacity_s)
        closed_cpu = meter.lap()
        closed_cpu["gateway_cpu_ms_per_request"] = _per_request(closed_cpu["gateway"], closed) or 0.0
        tally = Tally(started=time.monotonic())
        stop = asyncio.Event()
        scrapes: dict[str, Any] = {"ok": 0, "total": 0, "bytes": 0, "last_count": None}
        # The scrapes run from here on: the calibration sees them, as it sees the audit path and its processor.
        scraper = asyncio.ensure_future(_scraper(metrics_url, stop, scrapes, tally))
        step_s = max(1.0, cfg.soak_capacity_s / 2)
        log(f"closed-loop capacity {closed:,.0f} req/s; calibrating open loop in {step_s:g}s steps")
        calibration_errors: list[dict[str, Any]] = []
        capacity, steps = await calibrate(session, targets, closed, step_s, calibration_errors, meter, store)
        rate = max(1.0, capacity * cfg.soak_load)
        seconds = cfg.soak_minutes * 60
        interval = 60.0 if seconds >= 240 else max(2.0, seconds / 4)
        log(f"calibrated capacity {capacity:,.0f} req/s; soaking at {rate:,.0f} req/s for {seconds:.0f}s")
        count_before = await scrape_count(metrics_url)
        tally.started = time.monotonic()
        samples: list[dict[str, Any]] = []
        timeline: list[dict[str, Any]] = []

        def sample(label: str) -> dict[str, Any]:
            elapsed = time.monotonic() - tally.started
            since = elapsed - (samples[-1]["elapsed_s"] if samples else 0.0)
            rss = {str(pid): value for pid, value in _rss_by_pid(gateway_pid).items()}
            entry: dict[str, Any] = {
                "label": label,
                "elapsed_s": round(elapsed, 1),
                "rss": rss,
                "answers_per_s": round(len(tally.latencies) / since, 1) if samples and since > 0 else None,
                "p99_ms": None if not tally.latencies else round((_percentile(tally.latencies, 99) or 0) * 1000, 2),
                "errors": tally.interval_errors,
            }
            tally.latencies = []
            tally.interval_errors = 0
            samples.append(entry)
            total = sum(rss.values())
            log(
                f"{label} t={entry['elapsed_s']}s: RSS {total / MB:.1f} MB over {len(rss)} processes,"
                f" {entry['answers_per_s'] or 0} answers/s, p99 {entry['p99_ms']} ms, errors {entry['errors']}"
            )
            return entry

        async def sampler() -> None:
            minute = 0
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), interval)
                except TimeoutError:
                    minute += 1
                    if minute * interval < seconds - 1:  # the last one is the "end" sample
                        sample(f"after {minute * interval:g}s")

        sample("start")
        tasks = [
            scraper,
            asyncio.ensure_future(sampler()),
            asyncio.ensure_future(_timeline(meter, tally, stop, store, timeline)),
        ]
        whole = CpuMeter(gateway_pid, others or {})
        await fixed_rate(session, targets, rate, seconds, tally)
        soak_cpu = whole.lap()
        soak_cpu["gateway_cpu_ms_per_request"] = _per_request(soak_cpu["gateway"], rate) or 0.0
        generator_share = soak_cpu["generator"] / (os.cpu_count() or 1)
        stop.set()
        await asyncio.gather(*tasks)
        sample("end")
        await asyncio.sleep(1.0)
        count_after = await scrape_count(metrics_url)
    for entry in calibration_errors:  # real errors while calibrating count like the soak's own
        tally.errors.setdefault(entry["cause"], entry)
    return {
        "capacity_rps": capacity,
        "closed_loop_rps": closed,
        "calibration": {"step_s": step_s, "steps": steps},
        "closed_loop_cpu": closed_cpu,
        "soak_cpu": soak_cpu,
        "rate_rps": rate,
        "seconds": seconds,
        "sample_interval_s": interval,
        "generator_cpu_share": generator_share,
        "sent": tally.sent,
        "ok": tally.ok,
        "ok_by_target": tally.by_target,
        "errors": sorted(tally.errors.values(), key=lambda e: -int(e["count"])),
        "not_sent": tally.not_sent,
        "samples": samples,
        "timeline": timeline,
        "scrapes": scrapes,
        "metrics_count_delta": (
            count_after - count_before if count_after is not None and count_before is not None else None
        ),
    }


def summarize(result: dict[str, Any], mode: str) -> dict[str, Any]:
    samples = result.get("samples") or []
    first = sum(samples[0]["rss"].values()) if samples else 0
    last = sum(samples[-1]["rss"].values()) if samples else 0
    per_process = {}
    if samples:
        for pid, rss in samples[0]["rss"].items():
            end = samples[-1]["rss"].get(pid)
            per_process[pid] = None if end is None or not rss else end / rss - 1
    errors = result.get("errors") or []
    return {
        "mode": mode,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "minutes": round(result.get("seconds", 0) / 60, 2),
        "capacity_rps": round(result.get("capacity_rps", 0), 1),
        "closed_loop_rps": round(result.get("closed_loop_rps", 0), 1),
        "rate_rps": round(result.get("rate_rps", 0), 1),
        "rss_start_mb": round(first / MB, 1),
        "rss_end_mb": round(last / MB, 1),
        "rss_growth": (last / first - 1) if first else None,
        "rss_growth_by_process": per_process,
        "processes_changed": bool(samples) and set(samples[0]["rss"]) != set(samples[-1]["rss"]),
        "errors_total": sum(int(e["count"]) for e in errors),
        # Requests the generator did not send (the offered rate was more than the machine sustained) are not
        # errors of the gateway: counted apart, and a soak with any is not a valid soak either.
        "errors_not_injected": sum(
            int(e["count"]) for e in errors if not e.get("injected") and e.get("kind") != "not sent"
        ),
        "not_sent": sum(int(e["count"]) for e in errors if e.get("kind") == "not sent"),
    }


def render(data: dict[str, Any]) -> str:
    summary, result, settings = data["summary"], data.get("result") or {}, data["settings"]
    growth = summary.get("rss_growth")
    lines = [f"# Soak of the seed proxy ({summary['mode']} run, {summary['generated_at']})", ""]
    if data.get("failure"):
        lines += ["## ❌ The soak did not run to the end", "", "```", data["failure"], "```", ""]
    ok_growth = growth is not None and growth < report.SOAK_RSS_GROWTH
    lines += [
        "| target | measured | met? |",
        "|---|---:|---|",
        f"| RSS growth of the gateway's processes < 10% | {'—' if growth is None else f'{growth:+.1%}'}"
        f" | {'✅ yes' if ok_growth else '❌ no'} |",
        f"| no error that was not injected (non-2xx, wrong answers, socket errors, failed scrapes) |"
        f" {summary['errors_not_injected']} | {_met(summary['errors_not_injected'] == 0 and bool(result))} |",
        f"| every scheduled request sent (the rate was sustained; else the soak is not valid) |"
        f" {summary.get('not_sent', 0):,} not sent | {_met(not summary.get('not_sent') and bool(result))} |",
        "",
        "## Settings",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in settings.items()]
    closed_cpu, soak_cpu = result.get("closed_loop_cpu") or {}, result.get("soak_cpu") or {}
    cores = os.cpu_count() or 1
    lines += [
        f"| closed-loop capacity | {summary.get('closed_loop_rps', 0):,} req/s ({SEED_PROXY} only,"
        f" {settings.get('connections (capacity)')} connections back to back; gateway"
        f" {_ms(closed_cpu.get('gateway_cpu_ms_per_request'))} CPU ms/request) |",
        f"| calibrated capacity | {summary['capacity_rps']:,} req/s (open loop at a fixed rate, the soak's mix, the"
        " audit processor and the scrapes running: the highest sustained step of the calibration below) |",
        f"| soak rate | {summary['rate_rps']:,} req/s (fixed: the load × the calibrated capacity) |",
        f"| load generator's CPU | {_cores(soak_cpu.get('generator'))} during the soak ="
        f" {_share(result.get('generator_cpu_share'))} of the machine's {cores} cores (one Python process:"
        " it shares them with the gateway) |",
        f"| CPU of the rest during the soak | gateway {_cores(soak_cpu.get('gateway'))}"
        f" ({_ms(soak_cpu.get('gateway_cpu_ms_per_request'))} ms/request), Twilio sandbox"
        f" {_cores(soak_cpu.get('sandbox'))}, echo back end {_cores(soak_cpu.get('echo back end'))};"
        f" the machine {_share(soak_cpu.get('machine_busy'))} busy (other work on it included) |",
        f"| requests scheduled / not sent / answered right | {result.get('sent', 0):,} /"
        f" {result.get('not_sent', 0):,} / {result.get('ok', 0):,}"
        f" ({', '.join(f'{k}: {v:,}' for k, v in (result.get('ok_by_target') or {}).items())}) |",
        "",
    ]
    lines += _calibration_lines(result)
    lines += _timeline_lines(result)
    samples = result.get("samples") or []
    if samples:
        pids = list(samples[0]["rss"])
        for later in samples[1:]:
            pids += [pid for pid in later["rss"] if pid not in pids]
        roles = data.get("roles") or {}
        head = " | ".join(f"{roles.get(pid, 'pid')} {pid} MB" for pid in pids)
        lines += [
            "## RSS of every gateway process",
            "",
            f"| sample | t (s) | answers/s | p99 ms (from the scheduled time) | errors | {head} | total MB |",
            "|---|---:|---:|---:|---:|" + "---:|" * (len(pids) + 1),
        ]
        for entry in samples:
            cells = [_mb(entry["rss"].get(pid)) for pid in pids]
            total = sum(entry["rss"].values())
            lines.append(
                f"| {entry['label']} | {entry['elapsed_s']} | {entry['answers_per_s'] or '—'} |"
                f" {entry['p99_ms'] if entry['p99_ms'] is not None else '—'} | {entry['errors']} | "
                + " | ".join(cells)
                + f" | {total / MB:.1f} |"
            )
        by_process = summary.get("rss_growth_by_process") or {}
        cells = [f"{by_process[pid]:+.1%}" if by_process.get(pid) is not None else "—" for pid in pids]
        lines.append(f"| growth | | | | | {' | '.join(cells)} | {'—' if growth is None else f'{growth:+.1%}'} |")
        lines.append("")
        if summary.get("processes_changed"):
            lines += ["**The set of gateway processes changed during the soak (a worker died or was respawned).**", ""]
    lines += ["## Errors and non-2xx answers, by cause", ""]
    errors = result.get("errors") or []
    if errors:
        lines += ["| cause | count | first at (s) | last at (s) | injected |", "|---|---:|---:|---:|---|"]
        for entry in errors:
            cause = str(entry["cause"]).replace("|", "\\|").replace("\n", " ")
            lines.append(
                f"| {cause} | {entry['count']} | {entry['first_s']} | {entry.get('last_s', '—')}"
                f" | {'yes' if entry.get('injected') else 'no'} |"
            )
    else:
        lines.append("None.")
    scrapes = result.get("scrapes") or {}
    lines += [
        "",
        "## Metrics",
        "",
        f"- the metrics endpoint ({METRICS_PATH} on the management port) was scraped every {SCRAPE_SECONDS:g} s:"
        f" {scrapes.get('ok', 0)} of {scrapes.get('total', 0)} scrapes answered 200 (last one {scrapes.get('bytes', 0)}"
        " bytes).",
        f"- twilioRest requests counted by the metrics during the soak: {_count(result.get('metrics_count_delta'))};"
        f" seed requests answered right by the client: {(result.get('ok_by_target') or {}).get(SEED_PROXY, 0):,}"
        " (the metrics also count answers that came back wrong).",
        "",
        "## Notes",
        "",
    ]
    lines += [f"- {note}" for note in data.get("notes", [])]
    return "\n".join(lines) + "\n"


def _role(pid: int, root: int) -> str:
    """What a gateway process is, from its command line (the supervisor, a worker, a helper of Python's)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "process"
    text = b" ".join(argv).decode(errors="replace")
    if pid == root:
        return "supervisor" if "--workers 1 " not in text + " " else "gateway"
    for needle, role in (("resource_tracker", "resource tracker"), ("forkserver", "forkserver")):
        if needle in text:
            return role
    return "worker"


def _calibration_lines(result: dict[str, Any]) -> list[str]:
    calibration = result.get("calibration") or {}
    steps = calibration.get("steps") or []
    if not steps:
        return []
    lines = [
        "## Calibration (open loop, the soak's conditions)",
        "",
        f"Steps of {calibration.get('step_s', 0):g} s at a fixed rate, up from half the closed-loop capacity. A step"
        " is sustained when no request failed or went unsent and what was still in flight when its last request"
        " was due is under 100 ms of its rate and the audit store holds under half a second of its traffic; one that"
        " is not is tried once more (a row each). CPU in cores (CPU seconds per second).",
        "",
        "| share of closed loop | rate req/s | answered | not sent | errors | in flight at the end | p99 ms"
        " | generator | gateway (ms/request) | sandbox | machine busy | audit store depth | sustained |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for step in steps:
        cpu = step.get("cpu") or {}
        depth = step.get("store_depth") or [None, None]
        lines.append(
            f"| {step['share']:.0%} | {step['rate_rps']:,} | {step['ok']:,} | {step['not_sent']:,} | {step['errors']}"
            f" | {step['in_flight_at_end']} | {step['p99_ms'] if step['p99_ms'] is not None else '—'}"
            f" | {_cores(cpu.get('generator'))} | {_cores(cpu.get('gateway'))}"
            f" ({_ms(step.get('gateway_cpu_ms_per_request'))}) | {_cores(cpu.get('sandbox'))}"
            f" | {_share(cpu.get('machine_busy'))} | {depth[0]} → {depth[1]} | {'yes' if step['sustained'] else 'no'} |"
        )
    return [*lines, ""]


TIMELINE_ROWS = 20


def _timeline_lines(result: dict[str, Any]) -> list[str]:
    """The per-second timeline (soak.json) summarised in at most TIMELINE_ROWS rows, and what it says."""
    timeline = result.get("timeline") or []
    if not timeline:
        return []
    rate = float(result.get("rate_rps") or 0) or 1.0
    width = max(1, -(-len(timeline) // TIMELINE_ROWS))
    lines = [
        "## Timeline (from one reading a second; the full series is in the JSON)",
        "",
        f"Each row sums or takes the worst of {width} s. In flight: the requests outstanding at the row's last"
        " second (the generator sends none beyond"
        f" {MAX_IN_FLIGHT}). Lag: how late the generator's loop woke up. CPU in cores.",
        "",
        "| t (s) | sent/s | answered/s | not sent | in flight (max / last) | p99 ms by target (worst) | lag ms (worst)"
        " | generator | gateway | gateway waiting for a CPU | sandbox | machine busy | audit store depth |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for start in range(0, len(timeline), width):
        rows = timeline[start : start + width]
        n = len(rows)
        worst: dict[str, float] = {}
        for row in rows:
            for name, value in (row.get("p99_ms") or {}).items():
                worst[name] = max(worst.get(name, 0.0), value)
        depth = rows[-1].get("store_depth")
        lines.append(
            f"| {rows[0]['t'] - 1:g}–{rows[-1]['t']:g} | {sum(r['sent_per_s'] for r in rows) / n:,.0f}"
            f" | {sum(r['done_per_s'] for r in rows) / n:,.0f} | {sum(r['not_sent'] for r in rows):,}"
            f" | {max(r['in_flight'] for r in rows)} / {rows[-1]['in_flight']}"
            f" | {', '.join(f'{k} {v:,.0f}' for k, v in sorted(worst.items())) or '—'}"
            f" | {max(r['lag_ms'] for r in rows):,.0f}"
            + "".join(
                f" | {_cores(sum((r.get('cpu') or {}).get(key, 0.0) for r in rows) / n)}"
                for key in ("generator", "gateway", "gateway_waiting", "sandbox")
            )
            + f" | {_share(sum((r.get('cpu') or {}).get('machine_busy', 0.0) for r in rows) / n)}"
            f" | {'—' if depth is None else depth} |"
        )
    return [*lines, "", *[f"- {line}" for line in diagnosis(timeline, rate)], ""]


def diagnosis(timeline: list[dict[str, Any]], rate: float) -> list[str]:
    """What the timeline says about falling behind: a backlog that climbs (the rate is more than sustained)
    or one that comes and goes (stalls), and what else had the CPU meanwhile."""
    if not timeline:
        return []
    behind = [row for row in timeline if row["in_flight"] > max(8.0, rate * 0.1)]
    stalls = [row for row in timeline if row["done_per_s"] < rate * 0.5 and row["sent_per_s"] > rate * 0.5]
    third = max(1, len(timeline) // 3)
    first = sum(row["in_flight"] for row in timeline[:third]) / third
    last = sum(row["in_flight"] for row in timeline[-third:]) / third

    def mean_cpu(rows: list[dict[str, Any]], key: str) -> float:
        return sum((row.get("cpu") or {}).get(key, 0.0) for row in rows) / len(rows) if rows else 0.0

    calm = [row for row in timeline if row not in behind]
    out = [
        f"{len(behind)} of {len(timeline)} seconds ended with more than 100 ms of the rate in flight;"
        f" {len(stalls)} answered fewer than half the rate (a stall); in flight averaged {first:,.0f} over the"
        f" first third and {last:,.0f} over the last third.",
    ]
    if not behind:
        return [*out, "The rate was sustained throughout: no backlog."]
    if last > max(2 * first, rate * 0.1):
        out.append("The backlog climbs: the rate is more than the machine sustains (a steady deficit, not stalls).")
    else:
        out.append("The backlog comes and goes: stalls (seconds behind between normal ones), not a steady deficit.")
    gateway_behind, gateway_calm = mean_cpu(behind, "gateway"), mean_cpu(calm, "gateway")
    out.append(
        f"In the seconds behind, the gateway had {_cores(gateway_behind)} cores and the generator"
        f" {_cores(mean_cpu(behind, 'generator'))}; in the others {_cores(gateway_calm)} and"
        f" {_cores(mean_cpu(calm, 'generator'))}; the machine was {_share(mean_cpu(timeline, 'machine_busy'))} busy."
        f" The gateway's event loops waited for a CPU (runnable, not running)"
        f" {_cores(mean_cpu(behind, 'gateway_waiting'))} cores' worth while behind,"
        f" {_cores(mean_cpu(calm, 'gateway_waiting'))} otherwise."
        + (
            " The gateway had less CPU while behind: it was not given the CPU (other work on the machine: the"
            " wait for a CPU says how much) or it waited on something (the store's commits, the sandbox), rather"
            " than having too much to do."
            if calm and gateway_behind < 0.9 * gateway_calm
            else ""
        )
    )
    return out


def to_json(data: dict[str, Any]) -> str:
    """soak.json: indented, but one line for each timeline reading (a 10-minute soak has 600 of them)."""
    result = data.get("result") or {}
    timeline = result.get("timeline")
    if not timeline:
        return json.dumps(data, indent=2, default=str) + "\n"
    marker = "@@timeline@@"
    text = json.dumps({**data, "result": {**result, "timeline": marker}}, indent=2, default=str)
    rows = ",\n".join("      " + json.dumps(row, default=str) for row in timeline)
    return text.replace(json.dumps(marker), "[\n" + rows + "\n    ]", 1) + "\n"


def _met(ok: bool) -> str:
    return "✅ yes" if ok else "❌ no"


def _cores(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _mb(value: int | None) -> str:
    return "—" if value is None else f"{value / MB:.1f}"


def _count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def main(cfg: Config) -> int:
    from bench.runner import Bench

    log(f"{'smoke ' if cfg.smoke else ''}soak: {cfg.soak_minutes:g} min at {cfg.soak_load:.0%} of capacity")
    workdir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    mport = free_port()
    settings: dict[str, Any] = {
        "minutes": cfg.soak_minutes,
        "load": f"{cfg.soak_load:.0%} of the calibrated capacity (closed loop for {cfg.soak_capacity_s}s, then"
        f" open-loop steps of {max(1.0, cfg.soak_capacity_s / 2):g}s)",
        "connections (capacity)": cfg.connections,
        "workers": cfg.workers,
        "load generator": "bench/soak.py: one Python process, fixed rate (wrk2 is not packaged here)",
        "flow": f"{SEED_PROXY} (the seed, against the Twilio sandbox); one request in {AUDIT_EVERY} to"
        f" {AUDIT_PROXY}: a SQLite store drained by a forwarding processor to the echo back end",
        "metrics": f"on; scraped every {SCRAPE_SECONDS:g} s",
    }
    data: dict[str, Any] = {"settings": settings, "notes": [], "result": None, "failure": None}
    notes: list[str] = data["notes"]
    notes.append(
        "Nothing is injected in this soak: every error listed is one that should not have happened."
        " The load generator, the gateway, the sandbox and the echo back end share the machine's cores."
    )
    try:
        with ProcessManager(workdir / "logs", REPO) as pm:
            bench = Bench(cfg, pm, workdir)
            bench.echo = bench._start("echo-backend", [sys.executable, "-m", "bench.echo_backend", "--port", "{port}"])
            sandbox, sid, token = bench._start_sandbox()
            art = artifacts.render("seed-sms", workdir / "artifacts", bench.echo_url)
            for rel, text in AUDIT_FILES.items():
                (art / rel).parent.mkdir(parents=True, exist_ok=True)
                text = text.replace(artifacts.ECHO_URL_TOKEN, bench.echo_url).replace("{db}", str(art / "audit.db"))
                (art / rel).write_text(text, encoding="utf-8")
            config = workdir / "gateway-soak.yaml"
            document = yaml.safe_load((REPO / "bench" / "gateway.yaml").read_text(encoding="utf-8")) or {}
            document["management"] = {"enabled": True, "host": "127.0.0.1", "port": mport}
            document["metrics"] = {"enabled": True}
            config.write_text(yaml.safe_dump(document), encoding="utf-8")
            gateway = bench._start("gateway-soak", bench._gateway_argv(art, config=config), timeout=60)
            data["roles"] = {str(pid): _role(pid, gateway.pid) for pid in tree_pids(gateway.pid)}
            json_headers = {"Content-Type": payloads.JSON_CONTENT_TYPE}
            targets = [
                Target(
                    SEED_PROXY,
                    f"{gateway.url}/services/{SEED_PROXY}",
                    payloads.seed_sms_request(sid, token, sandbox.url),
                    json_headers,
                    _seed_check,
                ),
                Target(
                    AUDIT_PROXY, f"{gateway.url}/services/{AUDIT_PROXY}", stores.BODY, json_headers, _accepted_check
                ),
            ]
            metrics_url = f"http://127.0.0.1:{mport}{METRICS_PATH}"
            others = {"sandbox": sandbox.pid, "echo back end": bench.echo.pid}
            data["result"] = _run(soak(gateway.pid, targets, metrics_url, cfg, str(art / "audit.db"), others))
            if not gateway.alive():
                data["failure"] = f"the gateway exited during the soak\n{gateway.tail()}"
            logged = [line for line in gateway.tail(400).splitlines() if " ERROR " in line or "Traceback" in line]
            if logged:
                notes.append(f"the gateway logged {len(logged)} ERROR line(s); the last: {logged[-1][:300]}")
    except (StartError, RuntimeError, OSError) as exc:
        data["failure"] = f"{type(exc).__name__}: {exc}"
        log(data["failure"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    data["summary"] = summarize(data["result"] or {}, "smoke" if cfg.smoke else "full")
    if data["failure"]:
        data["summary"]["errors_not_injected"] = max(1, data["summary"]["errors_not_injected"])
    cfg.output.mkdir(parents=True, exist_ok=True)
    (cfg.output / f"{cfg.stem}.json").write_text(to_json(data), encoding="utf-8")
    (cfg.output / f"{cfg.stem}.md").write_text(render(data), encoding="utf-8")
    log(f"report written: {cfg.output / f'{cfg.stem}.md'}")
    if cfg.strict:
        growth = data["summary"]["rss_growth"]
        summary = data["summary"]
        if data["failure"] or summary["errors_not_injected"] or summary["not_sent"] or growth is None or growth >= 0.10:
            return 1
    return 0


def _run(coro: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    async def wrapped() -> dict[str, Any]:
        return await coro

    try:
        import uvloop

        return uvloop.run(wrapped())
    except ImportError:  # pragma: no cover
        return asyncio.run(wrapped())
