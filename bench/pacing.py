"""Paced SMS (issue 15): how closely each sender's pace holds, and how long a burst takes from accept to Twilio.

    python -m bench.pacing [--scenarios pacing,burst] [--backends sqlite,rabbitmq] [--duration 30]
                           [--scales 1,10] [--burst 1000] [--smoke]
    python -m bench.pacing watch [--count 100] [--senders 3]      # a running gateway + sandbox, live

Each deployment is the shipped SMS queue (api/SmsQueueApi.xml, message-stores/SmsOutbox.xml,
message-processors/SmsSender.xml, sequences/SmsSendNow.xml, ...) copied to a temporary folder, its Twilio
connection pointed at a Twilio sandbox (`gateway twilio-sandbox`) on a free port, served by `gateway serve`
(one worker, hot deployment on, as shipped). `sqlite`: the shipped SQLite outbox, one node. `rabbitmq`: the
outbox on a RabbitMQ queue and `pacing.redis` on SmsSender, two nodes serving the same artifact folder, the
burst posted to both in turn.

Every time is the sandbox's own receive time of the Messages POST (`/_sandbox/requests`), matched to the
client's accept (the 202 of POST /sms-queue) by the message body. Per sender:

- pacing: the intervals between consecutive arrivals against 1 / rate (every message is one segment);
- burst: latency = arrival - accept, split into the queue wait that pacing imposes (the ideal slot: a sender's
  k-th message can leave no earlier than its accept and than the previous slot + 1 / rate, the pacer's own
  rule) and the gateway's overhead = arrival - ideal slot.

Senders are fresh random numbers on every run, so a Redis schedule of another run never applies. Writes
bench/results/pacing.{md,json} (`--name`: another file name; smoke: smoke-pacing.{md,json}).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import string
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.procs import Proc, ProcessManager, free_port, http_get

REPO = Path(__file__).resolve().parent.parent
SHIPPED = (
    "api/SmsQueueApi.xml",
    "message-stores/SmsOutbox.xml",
    "message-stores/SmsDeadLetters.xml",
    "message-processors/SmsSender.xml",
    "sequences/SmsSendNow.xml",
    "sequences/SmsSendFailed.xml",
    "sequences/faultHandlerSeq.xml",
    "local-entries/twilioSandbox.xml",
)
SANDBOX_DEFAULT = "http://127.0.0.1:8299"
US_TO, UK_TO = "+15551230001", "+447700900123"
# twilioRest.smsPace's defaults (Twilio's rates, connectors/twilio_rest/pacing.py), segments per second.
DEFAULT_RATES = {
    "longCodeRate": 1.0,
    "longCodeInternationalRate": 10.0,
    "tollFreeRate": 3.0,
    "shortCodeRate": 100.0,
    "alphanumericRate": 10.0,
}
RABBITMQ_STORE = """<messageStore xmlns="http://ws.apache.org/ns/synapse" name="SmsOutbox"
    class="org.apache.synapse.message.store.impl.rabbitmq.RabbitMQStore">
    <parameter name="store.rabbitmq.host.name">127.0.0.1</parameter>
    <parameter name="store.rabbitmq.host.port">5672</parameter>
    <parameter name="store.rabbitmq.queue.name">{queue}</parameter>
    <parameter name="store.rabbitmq.username">guest</parameter>
    <parameter name="store.rabbitmq.password">guest</parameter>
</messageStore>
"""
REDIS_URL = "redis://127.0.0.1:6379/0"


def log(message: str) -> None:
    print(f"[pacing] {message}", file=sys.stderr, flush=True)


# -- senders ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sender:
    kind: str  # what the report calls it
    number: str  # From
    to: str
    rate_param: str  # the smsPace parameter that sets its rate

    def rate(self, rates: dict[str, float]) -> float:
        return rates[self.rate_param]


def _digits(n: int) -> str:
    return "".join(random.choices(string.digits, k=n))


def long_code() -> Sender:
    return Sender("long code (US)", f"+1501712{_digits(4)}", US_TO, "longCodeRate")


def toll_free() -> Sender:
    return Sender("toll-free", f"+1800555{_digits(4)}", US_TO, "tollFreeRate")


def short_code() -> Sender:
    return Sender("short code", str(random.randint(20000, 99999)), US_TO, "shortCodeRate")


def alphanumeric() -> Sender:
    return Sender(
        "alphanumeric ID", "Bench" + "".join(random.choices(string.ascii_uppercase, k=5)), UK_TO, "alphanumericRate"
    )


def international() -> Sender:
    return Sender("long code (UK, to UK)", f"+44203{_digits(7)}", UK_TO, "longCodeInternationalRate")


# -- the deployment ---------------------------------------------------------------------------------------------
def artifacts(root: Path, sandbox_url: str, rates: dict[str, float], backend: str, queue: str) -> None:
    """The shipped SMS queue in `root`, pointed at the sandbox, with these smsPace rates and store backend."""
    for name in SHIPPED:
        text = (REPO / name).read_text(encoding="utf-8")
        if name == "local-entries/twilioSandbox.xml":
            text = text.replace(SANDBOX_DEFAULT, sandbox_url)
        elif name == "api/SmsQueueApi.xml":
            given = "".join(
                f"<{param}>{rate:g}</{param}>" for param, rate in rates.items() if rate != DEFAULT_RATES[param]
            )
            text = text.replace("</twilioRest.smsPace>", given + "</twilioRest.smsPace>", 1)
        elif name == "message-stores/SmsOutbox.xml" and backend == "rabbitmq":
            text = RABBITMQ_STORE.format(queue=queue)
        elif name == "message-processors/SmsSender.xml" and backend == "rabbitmq":
            redis = f'<parameter name="pacing.redis">{REDIS_URL}</parameter>\n'
            text = text.replace("</messageProcessor>", redis + "</messageProcessor>", 1)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@dataclass
class Deployment:
    backend: str
    rates: dict[str, float]
    sandbox: str
    nodes: list[Proc] = field(default_factory=list)

    @property
    def label(self) -> str:
        nodes = f"{len(self.nodes)} node" + ("s" if len(self.nodes) > 1 else "")
        store = "SQLite" if self.backend == "sqlite" else "RabbitMQ + Redis pace"
        return f"{store}, {nodes}"


def deploy(
    pm: ProcessManager, tmp: Path, backend: str, rates: dict[str, float], sandbox: str, hot_deploy: bool = True
) -> Deployment:
    name = f"{backend}-{uuid.uuid4().hex[:6]}"
    root = tmp / name
    artifacts(root, sandbox, rates, backend, f"bench-sms-{name}")
    deployment = Deployment(backend, rates, sandbox)
    for node in range(2 if backend == "rabbitmq" else 1):
        port = free_port()
        argv = [sys.executable, "-m", "gateway", "serve", "--artifacts", str(root), "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--workers", "1", "--no-management"]
        argv += [] if hot_deploy else ["--no-hot-deploy"]
        proc = pm.start(f"gateway-{name}-{node}", argv, port)
        pm.wait_ready(proc, timeout=90)
        health = json.loads(http_get(proc.url + "/healthz")[1])
        if health.get("failed"):
            raise RuntimeError(f"{proc.name}: artifacts failed to deploy: {health['failed']}\n{proc.tail()}")
        deployment.nodes.append(proc)
    return deployment


# -- one phase: post a burst, collect the arrivals --------------------------------------------------------------
@dataclass
class Sent:
    sender: Sender
    index: int
    body: str
    accepted: float = 0.0  # time.time() when the 202 was read
    status: int = 0


async def post_burst(
    deployment: Deployment, plan: list[tuple[Sender, int]], connections: int, tag: str
) -> tuple[list[Sent], float]:
    """POST every message (senders interleaved, each sender's in order) from `connections` clients, spread over
    the nodes; returns the messages and the accept throughput (messages / second)."""
    messages = [
        Sent(sender, i, f"{tag} {s} {i:05d}")
        for i in range(max(count for _, count in plan))
        for s, (sender, count) in enumerate(plan)
        if i < count
    ]
    urls = [node.url + "/sms-queue" for node in deployment.nodes]
    queue: asyncio.Queue[Sent] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)
    turn = iter(range(len(messages)))

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            message = queue.get_nowait()
            url = urls[next(turn) % len(urls)]
            body = {"to": message.sender.to, "from": message.sender.number, "body": message.body}
            async with session.post(url, json=body) as response:
                await response.read()
                message.status = response.status
            message.accepted = time.time()

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        started = time.time()
        await asyncio.gather(*(client(session) for _ in range(connections)))
        elapsed = max(m.accepted for m in messages) - started
    return messages, len(messages) / elapsed if elapsed > 0 else 0.0


async def collect(sandbox: str, tag: str, expected: int, deadline: float) -> list[tuple[float, str, int]]:
    """(receive time, body, status) of every Messages POST whose body carries `tag`, once all `expected` came
    (or at the deadline)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        while True:
            async with session.get(sandbox + "/_sandbox/requests") as response:
                records = await response.json()
            found = []
            for record in records:
                if record["method"] != "POST" or not record["path"].endswith("/Messages.json"):
                    continue
                body = dict(record["form"]).get("Body", "")
                if body.startswith(tag + " "):
                    at = datetime.fromisoformat(record["time"]).timestamp()
                    found.append((at, body, int(record["status"] or 0)))
            if len({body for _, body, _ in found}) >= expected or time.monotonic() > deadline:
                return found
            await asyncio.sleep(1.0)


# -- statistics -------------------------------------------------------------------------------------------------
def percentile(values: list[float], pct: float) -> float:
    """Nearest rank."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def sender_stats(messages: list[Sent], arrivals: dict[str, float], duplicates: int, rate: float) -> dict[str, Any]:
    gap = 1.0 / rate
    received = [m for m in messages if m.body in arrivals]
    times = sorted(arrivals[m.body] for m in received)
    intervals = [b - a for a, b in zip(times, times[1:], strict=False)]
    deviations = [abs(x - gap) for x in intervals]
    in_arrival_order = [m.index for m in sorted(received, key=lambda m: arrivals[m.body])]
    out_of_order = sum(1 for a, b in zip(in_arrival_order, in_arrival_order[1:], strict=False) if b < a)
    # The ideal schedule, in accept order: no earlier than the accept, nor than the previous slot + 1 / rate.
    latency, wait, overhead = [], [], []
    slot = float("-inf")
    for message in sorted(messages, key=lambda m: m.accepted):
        slot = max(message.accepted, slot + gap)
        if message.body in arrivals:
            latency.append(arrivals[message.body] - message.accepted)
            wait.append(slot - message.accepted)
            overhead.append(arrivals[message.body] - slot)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return {
        "messages": len(messages),
        "received": len(received),
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "rate": rate,
        "expected_interval_ms": gap * 1000,
        "mean_interval_ms": sum(intervals) / len(intervals) * 1000 if intervals else None,
        "min_interval_ms": min(intervals) * 1000 if intervals else None,
        "p50_deviation_ms": percentile(deviations, 50) * 1000,
        "p99_deviation_ms": percentile(deviations, 99) * 1000,
        "max_deviation_ms": max(deviations, default=0.0) * 1000,
        "effective_rate": (len(times) - 1) / span if span > 0 else None,
        "latency_s": _quantiles(latency),
        "queue_wait_s": _quantiles(wait),
        "overhead_ms": {k: v * 1000 for k, v in _quantiles(overhead).items()},
        "_latency": latency,
        "_wait": wait,
        "_overhead": overhead,
    }


def _quantiles(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values, default=0.0),
    }


async def phase(
    deployment: Deployment, scenario: str, plan: list[tuple[Sender, int]], connections: int
) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.post(deployment.sandbox + "/_sandbox/reset") as response:
        await response.read()
    tag = f"b{uuid.uuid4().hex[:8]}"
    total = sum(count for _, count in plan)
    longest = max(count / sender.rate(deployment.rates) for sender, count in plan)
    log(f"{scenario} on {deployment.label}: {total} messages, about {longest:.0f} s of pacing")
    messages, accept_rate = await post_burst(deployment, plan, connections, tag)
    refused = [m for m in messages if m.status != 202]
    found = await collect(deployment.sandbox, tag, total, time.monotonic() + longest * 1.5 + 60)
    arrivals: dict[str, float] = {}
    seen: dict[str, int] = {}
    for at, body, _ in sorted(found):
        seen[body] = seen.get(body, 0) + 1
        arrivals.setdefault(body, at)  # the first send counts; a second one is a duplicate
    rows = []
    for sender, _ in plan:
        mine = [m for m in messages if m.sender == sender and m.status == 202]
        duplicates = sum(seen.get(m.body, 0) - 1 for m in mine if m.body in seen)
        stats = sender_stats(mine, arrivals, duplicates, sender.rate(deployment.rates))
        rows.append({"sender": sender.kind, "from": sender.number, **stats})
    latency = [x for row in rows for x in row.pop("_latency")]
    waits = [x for row in rows for x in row.pop("_wait")]
    overhead = [x for row in rows for x in row.pop("_overhead")]
    accepts = sorted(m.accepted for m in messages)
    result = {
        "scenario": scenario,
        "deployment": deployment.label,
        "backend": deployment.backend,
        "nodes": len(deployment.nodes),
        "messages": total,
        "refused": len(refused),
        "received": len(arrivals),
        "twilio_errors": sum(1 for _, _, status in found if status >= 400),
        "accept_per_s": accept_rate,
        "accept_span_s": accepts[-1] - accepts[0] if accepts else 0.0,
        "connections": connections,
        "senders": rows,
        "overall": {
            "latency_s": _quantiles(latency),
            "queue_wait_s": _quantiles(waits),
            "overhead_ms": {k: v * 1000 for k, v in _quantiles(overhead).items()},
        },
    }
    log(
        f"  received {result['received']}/{total}, accept {accept_rate:.0f}/s, latency p50 "
        f"{result['overall']['latency_s']['p50']:.2f} s, overhead p99 {result['overall']['overhead_ms']['p99']:.0f} ms"
    )
    return result


# -- the run ------------------------------------------------------------------------------------------------------
def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def rabbitmq_missing() -> str | None:
    for module in ("aio_pika", "redis"):
        try:
            __import__(module)
        except ImportError:
            return f"the Python package {module} is not installed"
    for service, port in (("RabbitMQ", 5672), ("Redis", 6379)):
        if not reachable(port):
            return f"{service} is not listening on 127.0.0.1:{port}"
    return None


def scaled(rates: dict[str, float], scale: float) -> dict[str, float]:
    return {name: rate * scale for name, rate in rates.items()}


async def run(args: argparse.Namespace, pm: ProcessManager, tmp: Path) -> dict[str, Any]:
    sandbox_port = free_port()
    argv = [sys.executable, "-m", "gateway", "twilio-sandbox", "--port", str(sandbox_port)]
    argv += ["--response-delay", str(args.twilio_latency)]
    sandbox = pm.start("sandbox", argv, sandbox_port)
    pm.wait_ready(sandbox, "/_sandbox", timeout=60)
    scenarios = args.scenarios.split(",")
    results: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for backend in args.backends.split(","):
        if backend == "rabbitmq" and (why := rabbitmq_missing()):
            skipped[backend] = why
            log(f"rabbitmq skipped: {why}")
            continue
        for scale in args.scales:
            rates = scaled(DEFAULT_RATES, scale)
            want_burst = "burst" in scenarios and scale == args.scales[0]
            if "pacing" not in scenarios and not want_burst:
                continue
            deployment = deploy(pm, tmp, backend, rates, sandbox.url, args.hot_deploy)
            if "pacing" in scenarios:
                duration = args.duration if scale == 1 else args.scaled_duration
                plan = [(s, max(2, round(s.rate(rates) * duration))) for s in (long_code(), toll_free())]
                results.append({**await phase(deployment, "pacing", plan, args.connections), "scale": scale})
            if want_burst:
                # The burst's senders send at Twilio's own rates: the slowest (10/s) takes about burst / 30 s.
                senders = (short_code(), alphanumeric(), international())
                plan = [(s, args.burst // 3 + (1 if i < args.burst % 3 else 0)) for i, s in enumerate(senders)]
                results.append({**await phase(deployment, "burst", plan, args.connections), "scale": scale})
            for node in deployment.nodes:
                pm.stop(node)
    return {"results": results, "skipped": skipped}


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def markdown(report: dict[str, Any]) -> str:
    settings = report["settings"]
    lines = [
        "# Paced SMS: pacing accuracy and burst latency (one run)",
        "",
        "The shipped SMS queue (`api/SmsQueueApi.xml` → `SmsOutbox` → `SmsSender` → `twilioRest.sendSms`) against the",
        "Twilio sandbox, every process on one 2-core machine. Times are the sandbox's own receive times; accept is the",
        "client's reading of the 202. Every message is one GSM-7 segment. The sandbox answers after "
        f"{settings['twilio_latency']:g} s. `" + " ".join(["python -m bench.pacing", *settings["argv"]]) + "`",
        "",
        "Load average (1, 5, 15 min) before the run {} and after {}: other work on the machine shares the 2 cores, "
        "so the overheads are upper bounds.".format(
            *[
                ", ".join(f"{x:g}" for x in part)
                for part in (settings["load_average"][:3], settings["load_average"][3:])
            ]
        ),
        "",
    ]
    for backend, why in report["skipped"].items():
        lines += [f"**{backend} skipped**: {why}.", ""]
    pacing = [r for r in report["results"] if r["scenario"] == "pacing"]
    if pacing:
        scale = settings["scales"][-1]
        lines += [
            "## Pacing accuracy",
            "",
            "Each sender's messages are posted at once, then leave at its rate. Interval: between two consecutive",
            "arrivals from the sender; deviation: |interval − 1 / rate|. The scaled rows configure every smsPace",
            f"rate ×{scale:g} (`longCodeRate`, `tollFreeRate`, … in the API) to check the same mechanism faster.",
            "",
            "| deployment | scale | sender | rate /s | received | mean interval ms | expected ms | p50 dev ms "
            "| p99 dev ms | max dev ms | min interval ms | effective rate /s | out of order | duplicates |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for result in pacing:
            for row in result["senders"]:
                effective = "—" if row["effective_rate"] is None else f"{row['effective_rate']:.2f}"
                lines.append(
                    f"| {result['deployment']} | ×{result['scale']:g} | {row['sender']} | {row['rate']:g} "
                    f"| {row['received']}/{row['messages']} | {_ms(row['mean_interval_ms'])} "
                    f"| {_ms(row['expected_interval_ms'])} | {_ms(row['p50_deviation_ms'])} "
                    f"| {_ms(row['p99_deviation_ms'])} | {_ms(row['max_deviation_ms'])} "
                    f"| {_ms(row['min_interval_ms'])} | {effective} | {row['out_of_order']} | {row['duplicates']} |"
                )
        lines.append("")
    bursts = [r for r in report["results"] if r["scenario"] == "burst"]
    if bursts:
        lines += [
            "## A burst from 3 senders: accept to Twilio",
            "",
            f"{bursts[0]['messages']} messages from 3 senders at Twilio's own rates (a short code 100/s, an",
            "alphanumeric sender ID 10/s, a UK long code to UK numbers 10/s), posted by "
            f"{bursts[0]['connections']} concurrent clients. Latency = arrival − accept. It is made of the wait that",
            "pacing imposes (up to the ideal slot: a sender's k-th message leaves no earlier than its accept and",
            "than the previous slot + 1 / rate) and the gateway's overhead = arrival − ideal slot (store, processor,",
            "pacer, the Twilio call; it grows when the gateway falls behind the pace).",
            "",
            "| deployment | accepted /s | sender | rate /s | effective rate /s | received | latency p50 s | p90 s "
            "| p99 s | max s "
            "| pacing wait p50 s | max s | overhead p50 ms | p90 ms | p99 ms | max ms |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for result in bursts:
            rows = [*result["senders"], {"sender": "**all**", "rate": None, **result["overall"]}]
            for row in rows:
                lat, wait, over = row["latency_s"], row["queue_wait_s"], row["overhead_ms"]
                got = row if "received" in row else result
                rate = "—" if row["rate"] is None else f"{row['rate']:g}"
                effective = "—" if row.get("effective_rate") is None else f"{row['effective_rate']:.1f}"
                lines.append(
                    f"| {result['deployment']} | {result['accept_per_s']:.0f} | {row['sender']} | {rate} | {effective} "
                    f"| {got['received']}/{got['messages']} "
                    f"| {lat['p50']:.2f} | {lat['p90']:.2f} | {lat['p99']:.2f} | {lat['max']:.2f} "
                    f"| {wait['p50']:.2f} | {wait['max']:.2f} "
                    f"| {over['p50']:.0f} | {over['p90']:.0f} | {over['p99']:.0f} | {over['max']:.0f} |"
                )
        lines.append("")
    if bursts or pacing:
        lines += [
            "Reading it: the processor holds up to `pacing.concurrency` (1,000 in SmsSender) messages, taken in",
            "store order, each waiting in its sender's lane, and renews their store leases while they wait: a",
            "sender's pace does not depend on the others' backlog while the queue ahead holds fewer than that (it",
            "was 64: the short code slowed to the others' pace). With two nodes the rate holds through Redis but",
            "not the order, and one node's late send can come close to the other's. docs/operations.md (pacing,",
            "the limits) has the details.",
            "",
        ]
    problems = [r for r in report["results"] if r["refused"] or r["received"] < r["messages"] or r["twilio_errors"]]
    for result in problems:
        lines.append(
            f"- {result['scenario']} on {result['deployment']}: {result['refused']} refused at accept, "
            f"{result['messages'] - result['received']} never reached the sandbox, "
            f"{result['twilio_errors']} Twilio errors."
        )
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["watch"]:
        return watch_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="pacing,burst", help="pacing, burst or both (default)")
    parser.add_argument("--backends", default="sqlite,rabbitmq", help="sqlite (one node), rabbitmq (two nodes)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending per pacing sender at ×1")
    parser.add_argument("--scaled-duration", type=float, default=10.0, help="the same for the scaled rows")
    parser.add_argument("--scales", default="1,10", help="rate multipliers for the pacing rows (the first: burst)")
    parser.add_argument("--burst", type=int, default=1000, help="messages in the burst (3 senders)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent clients posting the messages")
    parser.add_argument(
        "--twilio-latency", type=float, default=0.0, help="seconds the sandbox waits before each answer (Twilio's RTT)"
    )
    parser.add_argument(
        "--no-hot-deploy", dest="hot_deploy", action="store_false", help="serve with --no-hot-deploy (default: on)"
    )
    parser.add_argument("--smoke", action="store_true", help="seconds, not minutes: SQLite, ×20 rates, 30 messages")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--name", default="pacing", help="the report's file name (default pacing: pacing.md)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.backends, args.scales, args.duration, args.burst = "sqlite", "20", 0.5, 30
        args.scaled_duration = 0.5
    args.scales = [float(s) for s in str(args.scales).split(",")]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-pacing-") as tmp, ProcessManager(Path(tmp) / "logs", REPO) as pm:
        try:
            outcome = asyncio.run(run(args, pm, Path(tmp)))
        except Exception:
            for proc in pm.procs:
                log(f"--- {proc.name}\n{proc.tail()}")
            raise
    report = {
        "mode": "smoke" if args.smoke else "full",
        "settings": {
            "argv": argv,
            "scenarios": args.scenarios,
            "backends": args.backends,
            "duration": args.duration,
            "scaled_duration": args.scaled_duration,
            "scales": args.scales,
            "burst": args.burst,
            "connections": args.connections,
            "twilio_latency": args.twilio_latency,
            "hot_deploy": args.hot_deploy,
            "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg())],
        },
        **outcome,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    stem = f"smoke-{args.name}" if args.smoke else args.name
    (args.output / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.output / f"{stem}.md").write_text(markdown(report))
    log(f"wrote {args.output / stem}.md")
    return 0


# -- watch: a burst on a running gateway, arrivals printed as the sandbox receives them -------------------------
def watch_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pacing watch",
        description="POST a burst of SMS to a running gateway's /sms-queue and print each one as the Twilio "
        "sandbox receives it, with the gap since the sender's previous one.",
    )
    parser.add_argument("--gateway", default="http://localhost:8290")
    parser.add_argument("--sandbox", default="http://localhost:8299")
    parser.add_argument("--count", type=int, default=100, help="messages in the burst (default 100)")
    parser.add_argument("--senders", type=int, default=3, help="US long codes sending them (1 segment/s each)")
    args = parser.parse_args(argv)
    return asyncio.run(watch(args.gateway.rstrip("/"), args.sandbox.rstrip("/"), args.count, args.senders))


async def watch(gateway: str, sandbox: str, count: int, senders: int) -> int:
    numbers = [f"+1501712{2661 + n:04d}" for n in range(senders)]
    tag = f"w{uuid.uuid4().hex[:6]}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        started = time.time()
        for i in range(count):
            sender = numbers[i % senders]
            body = {"to": US_TO, "from": sender, "body": f"{tag} message {i + 1} of {count}"}
            async with session.post(gateway + "/sms-queue", json=body) as response:
                if response.status != 202:
                    print(f"POST /sms-queue answered {response.status}: {await response.text()}", file=sys.stderr)
                    return 1
                await response.read()
        print(f"{count} SMS accepted (202) in {time.time() - started:.2f} s; the sandbox receives them:", flush=True)
        shown: set[int] = set()
        last: dict[str, float] = {}
        deadline = time.monotonic() + count / senders * 1.5 + 30
        while len(shown) < count and time.monotonic() < deadline:
            async with session.get(sandbox + "/_sandbox/requests") as response:
                records = await response.json()
            for record in records:
                form = dict(record["form"])
                if record["id"] in shown or not str(form.get("Body", "")).startswith(tag):
                    continue
                shown.add(record["id"])
                at = datetime.fromisoformat(record["time"]).timestamp()
                sender = str(form.get("From"))
                gap = f"+{at - last[sender]:.3f} s" if sender in last else "first"
                last[sender] = at
                clock = re.sub(r"\+00:00$", "Z", record["time"])
                print(f"{clock}  {sender}  {form.get('Body', '')[len(tag) + 1 :]:<20}  {gap}", flush=True)
            await asyncio.sleep(0.5)
    if len(shown) < count:
        print(f"only {len(shown)} of {count} arrived in time", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
