"""``python -m bench.tail_latency``: single-connection latency histograms of the gateway against the bare proxy.

One blocking keep-alive socket (no event loop, the client's own collector off) sends N passthrough 1k requests
to each server in turn, round after round (gateway, bare, gateway, bare, …), and prints p50 / p99 / p99.9 / max
of every run. With ``--gc-log`` each server runs under a wrapper that times every collection with
``gc.callbacks`` and reports, when it exits, how many collections of each generation ran and how long they took.
The gateway's service handler is timed too, in thread CPU time and wall time: a CPU spike there is the
request's own work, not the machine's preemption. ``--variant NAME=KEY:VALUE`` adds a gateway started with
one more top-level setting (e.g. ``nofreeze=gc_freeze:false``).
Servers run with one worker (one connection reaches one worker anyway).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import artifacts, payloads
from bench.procs import ProcessManager, free_port

REPO = Path(__file__).resolve().parent.parent

# Run a module under gc.callbacks timing; the report is written at exit into the file named by GC_LOG.
_GC_WRAPPER = """
import atexit, gc, json, os, runpy, sys, time
_stats = {}
_start = [0]
def _cb(phase, info):
    if phase == "start":
        _start[0] = time.perf_counter_ns()
    else:
        gen = str(info["generation"])
        s = _stats.setdefault(gen, [])
        s.append((time.time(), (time.perf_counter_ns() - _start[0]) / 1000))
gc.callbacks.append(_cb)
def _dump():
    with open(os.environ["GC_LOG"], "w") as fh:
        json.dump({"stats": _stats, "freeze_count": gc.get_freeze_count(), "threshold": gc.get_threshold()}, fh)
atexit.register(_dump)
_handler = []
if os.environ.get("HANDLER_LOG"):
    # The gateway's service handler, timed in thread CPU and wall time: with one connection the process does
    # nothing else meanwhile, so a CPU spike here is work of the request itself (not preemption by the machine).
    import gateway.transport.server as _server
    _inner = _server.handle_service
    async def _timed(request):
        c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
        try:
            return await _inner(request)
        finally:
            _handler.append((time.time(), (time.thread_time_ns() - c0) / 1000, (time.perf_counter_ns() - w0) / 1000))
    _server.handle_service = _timed
    def _dump_handler():
        with open(os.environ["HANDLER_LOG"], "w") as fh:
            json.dump(_handler, fh)
    atexit.register(_dump_handler)
mod = sys.argv[1]
sys.argv = [mod, *sys.argv[2:]]
runpy.run_module(mod, run_name="__main__", alter_sys=True)
"""


def _request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {payloads.SOAP_CONTENT_TYPE}\r\n"
        f"SOAPAction: {payloads.SOAP_ACTION}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _read_response(sock: socket.socket, buf: bytearray) -> None:
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buf[:end]).lower()
            i = head.find(b"content-length:")
            if i < 0:
                raise RuntimeError(f"no Content-Length: {bytes(buf[:200])!r}")
            length = int(head[i + 15 : head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None])
            total = end + 4 + length
            while len(buf) < total:
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("connection closed")
                buf += chunk
            if not head.startswith(b"http/1.1 200"):
                raise RuntimeError(f"status: {bytes(buf[:100])!r}")
            del buf[:total]
            return
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk


def run_one(port: int, path: str, body: bytes, requests: int, warmup: int) -> list[float]:
    """Latencies in µs of ``requests`` sequential requests over one keep-alive connection."""
    data = _request("127.0.0.1", port, path, body)
    latencies: list[float] = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        for _ in range(warmup):
            sock.sendall(data)
            _read_response(sock, buf)
        clock = time.perf_counter_ns
        for _ in range(requests):
            start = clock()
            sock.sendall(data)
            _read_response(sock, buf)
            latencies.append((clock() - start) / 1000)
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    n = len(ordered)

    def pct(p: float) -> float:
        return ordered[min(n - 1, max(0, round(p / 100 * n) - 1))]

    return {"p50": pct(50), "p99": pct(99), "p99.9": pct(99.9), "max": ordered[-1], "mean": statistics.fmean(ordered)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gc-log", action="store_true", help="time the servers' collections (gc.callbacks)")
    parser.add_argument("--variant", action="append", default=[], help="NAME=KEY:VALUE, a gateway with a setting")
    parser.add_argument("--no-bare", action="store_true")
    parser.add_argument("--no-gateway", action="store_true", help="leave out the default gateway")
    parser.add_argument("--pin", action="store_true", help="client on CPU 0, servers and back end on the others")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    args = parser.parse_args(argv)
    gc.disable()  # the client's own collections must not show up as server latency
    work = Path(tempfile.mkdtemp(prefix="tail-"))
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus = cpus[1:] or cpus
    if args.pin:
        os.sched_setaffinity(0, {cpus[0]})

    def command(module: str, *rest: str, name: str) -> tuple[list[str], dict[str, str]]:
        if not args.gc_log:
            return [sys.executable, "-m", module, *rest], {}
        env = {"GC_LOG": str(work / f"gc-{name}.json")}
        if module == "gateway":
            env["HANDLER_LOG"] = str(work / f"handler-{name}.json")
        return [sys.executable, "-c", _GC_WRAPPER, module, *rest], env

    with ProcessManager(work / "logs", REPO) as pm:
        echo = pm.start("echo", [sys.executable, "-m", "bench.echo_backend", "--port", str(port := free_port())], port)
        pm.wait_ready(echo)
        echo_url = f"http://127.0.0.1:{echo.port}/echo"
        art = artifacts.render("passthrough", work / "art", echo_url)
        servers: list[tuple[str, object, str]] = []
        if not args.no_bare:
            port = free_port()
            argv_, env = command("bench.bare_proxy", "--port", str(port), "--backend", echo_url, name="bare")
            servers.append(("bare", pm.start("bare", argv_, port, env), "/echo"))
        gateways = [] if args.no_gateway else [("gateway", "")]
        gateways += [tuple(v.split("=", 1)) for v in args.variant]  # type: ignore[misc]
        for name, setting in gateways:
            config = REPO / "bench" / "gateway.yaml"
            if setting:
                key, value = setting.split(":", 1)
                config = work / f"{name}.yaml"
                text = (REPO / "bench" / "gateway.yaml").read_text()
                config.write_text(text + f"\n{key}: {value}\n")
            port = free_port()
            rest = ["serve", "--artifacts", str(art), "--host", "127.0.0.1", "--port", str(port)]
            argv_, env = command("gateway", *rest, "--workers", "1", "--config", str(config), name=name)
            servers.append((name, pm.start(name, argv_, port, env), "/services/PassThrough"))
        for _, proc, _ in servers:
            pm.wait_ready(proc, timeout=60)  # type: ignore[arg-type]
            if args.pin:
                os.sched_setaffinity(proc.pid, set(server_cpus))  # type: ignore[attr-defined]
        if args.pin:
            os.sched_setaffinity(echo.pid, set(server_cpus))
        body = payloads.soap_get_quote(1024)
        results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in servers}
        windows: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in servers}
        for rnd in range(args.rounds):
            order = servers if rnd % 2 == 0 else servers[::-1]
            for name, proc, path in order:
                began = time.time()
                lat = run_one(proc.port, path, body, args.requests, args.warmup)  # type: ignore[attr-defined]
                windows[name].append((began, time.time()))
                s = summary(lat)
                results[name].append(s)
                print(
                    f"round {rnd} {name:10s} p50 {s['p50']:7.0f} µs  p99 {s['p99']:7.0f}  p99.9 {s['p99.9']:7.0f}"
                    f"  max {s['max']:8.0f}  mean {s['mean']:6.0f}",
                    flush=True,
                )
        for name, runs in results.items():
            print(
                f"{name:10s} median p50 {statistics.median(r['p50'] for r in runs):6.0f}"
                f"  median p99 {statistics.median(r['p99'] for r in runs):6.0f}"
                f"  median p99.9 {statistics.median(r['p99.9'] for r in runs):6.0f}"
            )
        pm.stop_all()
    if args.gc_log:
        for name, _, _ in servers:
            path = work / f"gc-{name}.json"
            if not path.exists():
                print(f"{name}: no gc log")
                continue
            data = json.loads(path.read_text())
            parts = []
            for gen, timed in sorted(data["stats"].items()):
                pauses = sorted(d for t, d in timed if any(a <= t <= b for a, b in windows[name]))
                if not pauses:
                    continue
                parts.append(
                    f"gen{gen}: {len(pauses)} collections, median {statistics.median(pauses):.0f} µs,"
                    f" max {pauses[-1]:.0f} µs, total {sum(pauses) / 1000:.1f} ms"
                )
            print(f"{name}: frozen {data['freeze_count']}, threshold {data['threshold']}; " + "; ".join(parts))
            handler = work / f"handler-{name}.json"
            if handler.exists():
                timed = [
                    (c, w) for t, c, w in json.loads(handler.read_text()) if any(a <= t <= b for a, b in windows[name])
                ]
                if timed:
                    cpu, wall = summary([c for c, _ in timed]), summary([w for _, w in timed])
                    print(
                        f"{name} handle_service over {len(timed)} requests: thread CPU µs p50 {cpu['p50']:.0f} p99"
                        f" {cpu['p99']:.0f} p99.9 {cpu['p99.9']:.0f} max {cpu['max']:.0f};"
                        f" wall µs p50 {wall['p50']:.0f} p99 {wall['p99']:.0f} p99.9 {wall['p99.9']:.0f}"
                        f" max {wall['max']:.0f}"
                    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
