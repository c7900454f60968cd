"""Draining a SQLite (JDBC) message store that is behind (issue 18 soak).

    python -m bench.drain [--messages 2000] [--put-rate 50] [--mode time|strace|callgrind]

A gateway (one worker) with the processor deactivated (is.active=false) fills the store with `messages` messages
(1 KB JSON, the bench/stores.py body) and stops; a second gateway on the same file, the processor active
(interval 1 ms, as the soak's audit processor) and forwarding to the echo back end, drains it while a client
keeps putting `put-rate` messages a second. Reported: the drain time and rate (forwarded messages a second,
noisy on a shared machine), and with --mode strace the fsync/fdatasync calls of the draining gateway per
forwarded message (strace -f), with --mode callgrind its instructions per forwarded message (measured from the
moment the gateway is ready to the moment the store is empty; no puts then, so every row gone was forwarded).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import stores
from bench.procs import free_port
from bench.profile import _load, _wait_ready

_ROOT = Path(__file__).resolve().parent.parent
PROCESSOR = """<messageProcessor xmlns="http://ws.apache.org/ns/synapse" name="Forwarder"
  class="org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor"
  messageStore="Queue" targetEndpoint="Backend">
  <parameter name="interval">1</parameter>
  <parameter name="client.retry.interval">100</parameter>
  <parameter name="is.active">{active}</parameter>
</messageProcessor>"""
ENDPOINT = '<endpoint xmlns="http://ws.apache.org/ns/synapse" name="Backend"><address uri="{url}"/></endpoint>'


def _depth(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
        try:
            return int(con.execute("SELECT COUNT(*) FROM JDBC_MESSAGE_STORE").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return -1


def _artifacts(root: Path, db: Path, echo_url: str, active: bool) -> None:
    for rel, text in {
        "proxies/Enqueue.xml": stores.PROXY,
        "message-stores/Queue.xml": stores.STORES["sqlite"].format(db=db),
        "endpoints/Backend.xml": ENDPOINT.format(url=echo_url + "/"),
        "message-processors/Forwarder.xml": PROCESSOR.format(active=str(active).lower()),
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


def _gateway(root: Path, port: int, env: dict[str, str], log: Path, wrap: list[str]) -> subprocess.Popen[bytes]:
    argv = [*wrap, sys.executable, "-m", "gateway", "serve", "--artifacts", str(root), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", "1", "--config", str(_ROOT / "bench" / "gateway.yaml")]
    argv += ["--no-hot-deploy"]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))  # noqa: SIM115


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _put_at(url: str, rate: float, stop: asyncio.Event) -> int:
    """Puts at `rate` a second (one connection, a put every 1/rate s) until `stop`; returns the 202s."""
    import aiohttp

    done = 0
    if rate <= 0:
        return 0
    async with aiohttp.ClientSession() as session:
        start = time.monotonic()
        while not stop.is_set():
            async with session.post(url, data=stores.BODY, headers={"Content-Type": "application/json"}) as r:
                await r.read()
                done += r.status == 202
            await asyncio.sleep(max(0.0, start + (done + 1) / rate - time.monotonic()))
    return done


async def _drain(url: str, db: Path, rate: float, timeout: float) -> tuple[float, int, bool]:
    stop = asyncio.Event()
    started = time.monotonic()
    putter = asyncio.create_task(_put_at(url, rate, stop))
    emptied = False
    while time.monotonic() - started < timeout:
        await asyncio.sleep(0.05)
        if _depth(db) == 0:
            emptied = True
            break
    stop.set()
    puts = await putter
    return time.monotonic() - started, puts, emptied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--put-rate", type=float, default=50.0, help="puts a second while draining (0: none)")
    parser.add_argument("--mode", choices=("time", "strace", "callgrind"), default="time")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])))
    db, root = tmp / "store.db", tmp / "artifacts"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        echo_port = free_port()
        echo = subprocess.Popen(
            [sys.executable, "-m", "bench.echo_backend", "--port", str(echo_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(echo)
        echo_url = f"http://127.0.0.1:{echo_port}"
        _wait_ready(echo_url + "/healthz", echo, 30)

        _artifacts(root, db, echo_url, active=False)
        port = free_port()
        filler = _gateway(root, port, env, tmp / "fill.log", [])
        procs.append(filler)
        _wait_ready(f"http://127.0.0.1:{port}/healthz", filler, 60)
        url = f"http://127.0.0.1:{port}/services/Enqueue"
        filled = asyncio.run(_load(url, stores.BODY, {"Content-Type": "application/json"}, args.messages, 8))
        if filled != args.messages:
            raise SystemExit(f"filling failed; see {tmp / 'fill.log'}")
        _stop(filler)
        print(f"filled: {_depth(db)} messages")

        _artifacts(root, db, echo_url, active=True)
        wrap: list[str] = []
        trace = tmp / "strace.out"
        if args.mode == "strace":
            wrap = ["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync", "-o", str(trace)]
        elif args.mode == "callgrind":
            wrap = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp / 'cg.out'}"]
        port = free_port()
        drainer = _gateway(root, port, env, tmp / "drain.log", wrap)
        procs.append(drainer)
        _wait_ready(f"http://127.0.0.1:{port}/healthz", drainer, 600 if args.mode == "callgrind" else 60)
        if args.mode == "callgrind":
            subprocess.run(["callgrind_control", "-z", str(drainer.pid)], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-i", "on", str(drainer.pid)], check=True, capture_output=True)
        at_start = _depth(db)
        rate = args.put_rate if args.mode == "time" else 0.0
        wall, puts, emptied = asyncio.run(_drain(f"http://127.0.0.1:{port}/services/Enqueue", db, rate, args.timeout))
        forwarded = at_start + puts - max(0, _depth(db))
        print(
            f"drain: {at_start} in the store at start, {puts} put meanwhile ({rate:g}/s), {forwarded} forwarded in "
            f"{wall:.1f} s: {forwarded / wall:,.0f} messages/s (noisy){'' if emptied else ' (NOT emptied)'}"
        )
        if args.mode == "callgrind":
            subprocess.run(["callgrind_control", "-d", str(drainer.pid)], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-i", "off", str(drainer.pid)], check=True, capture_output=True)
            dumps = sorted(tmp.glob("cg.out*"), key=lambda p: p.stat().st_mtime)
            text = subprocess.run(["callgrind_annotate", str(dumps[-1])], capture_output=True, text=True).stdout
            found = re.search(r"([\d,]+)\s+(?:\(100\.0%\)\s+)?PROGRAM TOTALS", text)
            total = int(found.group(1).replace(",", "")) if found else 0
            print(f"callgrind: {total:,} instructions, {total / max(1, forwarded):,.0f} per forwarded message")
        _stop(drainer)
        if args.mode == "strace":
            calls = sum(1 for line in trace.read_text().splitlines() if "fsync(" in line or "fdatasync(" in line)
            per = calls / max(1, forwarded)
            print(f"strace: {calls} fsync/fdatasync calls (start-up included), {per:.2f} per forwarded message")
    finally:
        for proc in reversed(procs):
            _stop(proc)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
