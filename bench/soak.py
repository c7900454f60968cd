"""``python -m bench --soak``: the seed proxy under a steady share of its measured capacity, for minutes.

1. An echo back end, the Twilio sandbox and a gateway (``--workers N``, metrics on, the management port open)
   serving the seed's ``twilioRest`` proxy and an audit path: the ``SoakAudit`` proxy stores each message in a
   SQLite message store that a forwarding processor drains to the echo back end.
2. Capacity: the same generator as the soak, closed loop (N connections) for a few seconds on the seed proxy.
3. The soak: requests at a fixed rate (``--soak-load`` × capacity, 80% by default), every tenth one to
   ``SoakAudit``. Latency counts from the request's scheduled time, so a stall shows (no coordinated omission).
4. Every interval (a minute; a quarter of a short soak) the RSS of every gateway process; every 5 s a scrape of
   the metrics endpoint. Every non-2xx answer and every error is kept with its cause.

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
    "message-processors/AuditForwarder.xml": f"""<messageProcessor xmlns="http://ws.apache.org/ns/synapse"
    name="AuditForwarder" class="{FORWARDER}" messageStore="Audit" targetEndpoint="AuditSink">
  <parameter name="interval">10</parameter>
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

    def error(self, cause: str) -> None:
        at = round(time.monotonic() - self.started, 1)
        entry = self.errors.setdefault(cause, {"cause": cause, "count": 0, "first_s": at, "injected": False})
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
    try:
        async with session.post(target.url, data=target.body, headers=target.headers) as resp:
            data = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        tally.error(f"{target.name}: {type(exc).__name__}: {exc}")
        return
    cause = target.check(status, data)
    if cause is not None:
        tally.error(f"{target.name}: {cause}")
        return
    tally.ok += 1
    tally.by_target[target.name] = tally.by_target.get(target.name, 0) + 1
    tally.latencies.append(time.monotonic() - scheduled)


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
) -> None:
    """Send request i at start + i / rate (in 5 ms batches); every AUDIT_EVERY-th one to the second target."""
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
                tally.error(f"{target.name}: not sent: {MAX_IN_FLIGHT} requests in flight (the gateway fell behind)")
                continue
            task = asyncio.ensure_future(_one(session, target, scheduled, tally))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.sleep(0.005)
    if in_flight:
        await asyncio.wait(in_flight, timeout=REQUEST_TIMEOUT + 5)


def _own_cpu() -> float:
    """This process's CPU time: the generator (and the light sampling and scraping beside it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
    on_sample: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        log(f"measuring capacity: {cfg.connections} connections for {cfg.soak_capacity_s}s on {targets[0].url}")
        capacity = await closed_loop(session, targets[0], cfg.connections, cfg.soak_capacity_s)
        rate = max(1.0, capacity * cfg.soak_load)
        seconds = cfg.soak_minutes * 60
        interval = 60.0 if seconds >= 240 else max(2.0, seconds / 4)
        log(f"capacity {capacity:,.0f} req/s; soaking at {rate:,.0f} req/s for {seconds:.0f}s")
        count_before = await scrape_count(metrics_url)
        tally = Tally(started=time.monotonic())
        samples: list[dict[str, Any]] = []
        stop = asyncio.Event()
        scrapes: dict[str, Any] = {"ok": 0, "total": 0, "bytes": 0, "last_count": None}

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
            asyncio.ensure_future(sampler()),
            asyncio.ensure_future(_scraper(metrics_url, stop, scrapes, tally)),
        ]
        cpu_before, wall_before = _own_cpu(), time.monotonic()
        await fixed_rate(session, targets, rate, seconds, tally)
        generator_share = (_own_cpu() - cpu_before) / (time.monotonic() - wall_before) / (os.cpu_count() or 1)
        stop.set()
        await asyncio.gather(*tasks)
        sample("end")
        await asyncio.sleep(1.0)
        count_after = await scrape_count(metrics_url)
    return {
        "capacity_rps": capacity,
        "rate_rps": rate,
        "seconds": seconds,
        "sample_interval_s": interval,
        "generator_cpu_share": generator_share,
        "sent": tally.sent,
        "ok": tally.ok,
        "ok_by_target": tally.by_target,
        "errors": sorted(tally.errors.values(), key=lambda e: -int(e["count"])),
        "samples": samples,
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
        "rate_rps": round(result.get("rate_rps", 0), 1),
        "rss_start_mb": round(first / MB, 1),
        "rss_end_mb": round(last / MB, 1),
        "rss_growth": (last / first - 1) if first else None,
        "rss_growth_by_process": per_process,
        "processes_changed": bool(samples) and set(samples[0]["rss"]) != set(samples[-1]["rss"]),
        "errors_total": sum(int(e["count"]) for e in errors),
        "errors_not_injected": sum(int(e["count"]) for e in errors if not e.get("injected")),
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
        f"| no error that was not injected | {summary['errors_not_injected']}"
        f" | {'✅ yes' if summary['errors_not_injected'] == 0 and result else '❌ no'} |",
        "",
        "## Settings",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in settings.items()]
    lines += [
        f"| measured capacity | {summary['capacity_rps']:,} req/s (closed loop) |",
        f"| soak rate | {summary['rate_rps']:,} req/s (fixed) |",
        f"| load generator's CPU share | {_share(result.get('generator_cpu_share'))} of the machine's cores"
        " (its CPU time / wall time / cores, during the soak) |",
        f"| requests sent / answered right | {result.get('sent', 0):,} / {result.get('ok', 0):,}"
        f" ({', '.join(f'{k}: {v:,}' for k, v in (result.get('ok_by_target') or {}).items())}) |",
        "",
    ]
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
        "load": f"{cfg.soak_load:.0%} of the capacity measured for {cfg.soak_capacity_s}s",
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
            data["result"] = _run(soak(gateway.pid, targets, metrics_url, cfg))
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
    (cfg.output / f"{cfg.stem}.json").write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    (cfg.output / f"{cfg.stem}.md").write_text(render(data), encoding="utf-8")
    log(f"report written: {cfg.output / f'{cfg.stem}.md'}")
    if cfg.strict:
        growth = data["summary"]["rss_growth"]
        if data["failure"] or data["summary"]["errors_not_injected"] or growth is None or growth >= 0.10:
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
