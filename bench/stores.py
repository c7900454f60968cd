"""Durable enqueue: the gateway's `store` path against the raw backend, measured in one run.

    python -m bench.stores [--duration 5] [--connections 32] [--backends sqlite,rabbitmq,memory] [--generator auto]

For each store, a gateway (one worker) serves a proxy whose inSequence stores the message and answers 202; the
load generator (wrk when installed, as in `python -m bench`, else the Python one in a process of its own) posts
a 1 KB JSON body for `duration` seconds. The raw comparator writes the same bytes
with the same durability straight to the backend from `connections` concurrent writers: SQLite in WAL mode with
synchronous=FULL and a commit per message, RabbitMQ with publisher confirms. Nothing is consumed meanwhile.
Besides req/s (noisy on a shared machine) it reports CPU time per message: the gateway process's per request,
the load generator's per request, and the raw writer's (this process) per write; the backend's own CPU (the
broker) is in none of them. The load generator shares the machine with the gateway and the broker while the raw
writers have no such guest: a Python generator (~100+ µs a request) takes CPU the gateway would otherwise have,
which is why wrk (a few µs) is used when there is one.
Writes bench/results/stores.{md,json}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.load import LoadSpec, run_load, wrk_path
from bench.procs import ProcessManager, free_port, http_get

REPO = Path(__file__).resolve().parent.parent
BODY = json.dumps({"to": "+15551230001", "from": "+15005550006", "body": "x" * 900}).encode()
PROXY = """<proxy xmlns="http://ws.apache.org/ns/synapse" name="Enqueue"><target><inSequence>
  <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/><property name="OUT_ONLY" value="true"/>
  <store messageStore="Queue"/></inSequence></target></proxy>"""
STORES = {
    "memory": '<messageStore xmlns="http://ws.apache.org/ns/synapse" name="Queue"/>',
    "sqlite": """<messageStore xmlns="http://ws.apache.org/ns/synapse" name="Queue"
      class="org.apache.synapse.message.store.impl.jdbc.JDBCMessageStore">
      <parameter name="store.jdbc.connection.url">jdbc:sqlite:{db}</parameter></messageStore>""",
    "rabbitmq": """<messageStore xmlns="http://ws.apache.org/ns/synapse" name="Queue"
      class="org.apache.synapse.message.store.impl.rabbitmq.RabbitMQStore">
      <parameter name="store.rabbitmq.host.name">127.0.0.1</parameter>
      <parameter name="store.rabbitmq.queue.name">{queue}</parameter></messageStore>""",
}


async def _writers_rate(write: Callable[[], Awaitable[None]], connections: int, duration: float) -> float:
    """`connections` concurrent writers calling `write` back to back for `duration` seconds: writes per second."""
    done = 0
    deadline = time.perf_counter() + duration

    async def writer() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await write()
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(connections)))
    return done / (time.perf_counter() - start)


async def raw_sqlite(path: Path, connections: int, duration: float) -> float:
    import aiosqlite

    db = await aiosqlite.connect(str(path), isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=FULL")
    await db.execute("CREATE TABLE q (id INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT, message BLOB)")

    async def insert() -> None:
        await db.execute("INSERT INTO q (msg_id, message) VALUES (?, ?)", (uuid.uuid4().hex, BODY))

    rate = await _writers_rate(insert, connections, duration)
    await db.close()
    return rate


async def raw_rabbitmq(queue: str, connections: int, duration: float) -> float:
    import aio_pika

    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue, durable=True)

        async def publish() -> None:
            message = aio_pika.Message(BODY, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await channel.default_exchange.publish(message, routing_key=queue)

        rate = await _writers_rate(publish, connections, duration)
        await channel.queue_delete(queue)
    return rate


async def raw_rabbitmq_lean(queue: str, connections: int, duration: float) -> float:
    """The same publishes through aiormq itself (no aio-pika Message, `wait=False`: no channel lock held until
    the frame is on the socket): what the broker does for a light client, where raw_rabbitmq's aio-pika writers
    spend ~150 µs of CPU each on the same two cores as the broker."""
    import aio_pika
    from pamqp.commands import Basic

    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue, durable=True)
        underlay = await channel.get_underlay_channel()

        async def publish() -> None:
            properties = Basic.Properties(delivery_mode=2, message_id=uuid.uuid4().hex)
            await underlay.basic_publish(BODY, routing_key=queue, properties=properties, mandatory=True, wait=False)

        rate = await _writers_rate(publish, connections, duration)
        await channel.queue_delete(queue)
    return rate


async def delete_queue(queue: str) -> None:
    """The gateway's queue goes after its run: each run would otherwise leave its messages in the broker."""
    import aio_pika

    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--backends", default="memory,sqlite,rabbitmq")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results")
    parser.add_argument(
        "--generator", choices=("auto", "wrk", "python"), default="auto", help="load generator (auto: wrk if installed)"
    )
    args = parser.parse_args(argv)
    generator = args.generator if args.generator != "auto" else ("wrk" if wrk_path() else "python")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-stores-") as tmp, ProcessManager(Path(tmp) / "logs", REPO) as pm:
        for backend in args.backends.split(","):
            queue = f"bench-{uuid.uuid4().hex[:8]}"
            root = Path(tmp) / backend
            (root / "proxies").mkdir(parents=True)
            (root / "message-stores").mkdir()
            (root / "proxies" / "Enqueue.xml").write_text(PROXY)
            store = STORES[backend].format(db=root / "gateway.db", queue=queue)
            (root / "message-stores" / "Queue.xml").write_text(store)
            port = free_port()
            argv = [sys.executable, "-m", "gateway", "serve", "--artifacts", str(root), "--host", "127.0.0.1"]
            argv += ["--port", str(port), "--workers", "1", "--no-management"]
            proc = pm.start(f"gateway-{backend}", argv, port)
            for _ in range(200):
                try:
                    if http_get(f"{proc.url}/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            url = f"{proc.url}/services/Enqueue"
            headers = {"Content-Type": "application/json"}
            threads = min(2, args.connections)
            warm = LoadSpec(url, BODY, headers, args.connections, threads, 1)
            run_load(warm, Path(tmp) / f"load-{backend}-warm", generator, REPO)
            before = cpu_seconds(proc.pid)
            spec = LoadSpec(url, BODY, headers, args.connections, threads, round(args.duration))
            result = run_load(spec, Path(tmp) / f"load-{backend}", generator, REPO)
            gateway_cpu = cpu_seconds(proc.pid) - before
            if result.error:
                raise SystemExit(f"{backend}: {result.error}")
            pm.stop_all()
            if backend == "rabbitmq":
                asyncio.run(delete_queue(queue))
            before = own_cpu_seconds()
            if backend == "sqlite":
                raw = asyncio.run(raw_sqlite(root / "raw.db", args.connections, args.duration))
            elif backend == "rabbitmq":
                raw = asyncio.run(raw_rabbitmq(queue + "-raw", args.connections, args.duration))
            else:
                raw = 0.0
            raw_cpu = own_cpu_seconds() - before
            lean = (
                asyncio.run(raw_rabbitmq_lean(queue + "-lean", args.connections, args.duration))
                if backend == "rabbitmq"
                else 0.0
            )
            requests = result.requests
            load_cpu = result.client_cpu_s
            rows.append(
                {
                    "store": backend,
                    "generator": generator,
                    "gateway_rps": round(result.rps),
                    "gateway_p99_ms": round(result.p99_ms or 0.0, 2),
                    "non2xx": result.non2xx + result.socket_errors,
                    "raw_ops": round(raw),
                    "ratio": round(result.rps / raw, 2) if raw else None,
                    "gateway_cpu_us": round(gateway_cpu / requests * 1e6) if requests else None,
                    "load_cpu_us": round(load_cpu / requests * 1e6) if requests and load_cpu is not None else None,
                    "raw_cpu_us": round(raw_cpu / (raw * args.duration) * 1e6) if raw else None,
                    "raw_lean_ops": round(lean) if lean else None,
                    "lean_ratio": round(result.rps / lean, 2) if lean else None,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "stores.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        "# Durable enqueue: the store mediator against the raw backend (one run)",
        "",
        f"{args.connections} connections, {args.duration:g} s, 1 KB JSON, gateway with one worker, load generator "
        f"{generator}. Raw: the same bytes written with the same durability by as many concurrent writers (SQLite "
        "WAL synchronous=FULL, a commit each; RabbitMQ persistent messages to a durable classic queue, publisher "
        "confirms, mandatory). CPU µs: the gateway process's CPU time per request, the load generator's per "
        "request, the raw writer's per write (the backend's own CPU is in none of them). RabbitMQ's raw writers "
        "use aio-pika's publish; 'light client' is the same publishes through aiormq (no Message object, no "
        "channel lock per frame), closer to what the broker alone can do on this machine.",
        "",
        "| store | gateway enqueue req/s | gateway p99 ms | non-2xx | raw backend ops/s | gateway / raw "
        "| gateway CPU µs/req | load generator CPU µs/req | raw writer CPU µs/op | raw, light client ops/s "
        "| gateway / light raw |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "—"
        raw_ops = str(row["raw_ops"] or "—")
        raw_cpu = str(row["raw_cpu_us"] or "—")
        cells = (row["store"], row["gateway_rps"], row["gateway_p99_ms"], row["non2xx"], raw_ops, ratio)
        cells += (row["gateway_cpu_us"], row["load_cpu_us"], raw_cpu, row["raw_lean_ops"] or "—")
        cells += (f"{row['lean_ratio']:.2f}" if row["lean_ratio"] is not None else "—",)
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines += [
        "",
        "The analysis of these figures is in [stores-analysis.md](stores-analysis.md) (not written here).",
    ]
    (args.output / "stores.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
