"""Where a request's time goes: one gateway worker (or the bare proxy) serving a fixed number of requests.

    python -m bench.profile                                   # CPU µs/request, passthrough 1k, 5,000 requests
    python -m bench.profile --scenario cbr --size 10k
    python -m bench.profile --mode callgrind --requests 2000  # instructions/request (valgrind), top C functions
    python -m bench.profile --mode cprofile --top 30          # Python functions by own time (cProfile)
    python -m bench.profile --target bare                     # the same for the bare aiohttp proxy
    python -m bench.profile --scenario api --mode callgrind   # POST /shop150/items/42 among the 200 APIs
    python -m bench.profile --scenario api-proxy              # its twin: POST /services/ApiTwin/items/42
    python -m bench.profile --scenario store-rabbitmq          # bench.stores' enqueue proxy (1 KB JSON, 202)
    python -m bench.profile --tls --mode callgrind            # the echo back end over https (a test CA, trusted)

The echo back end and the load generator are separate processes; only the measured server is counted. CPU
time comes from /proc/PID/stat (10 ms ticks, so use thousands of requests). Instruction counts (callgrind,
instrumentation switched on only for the measured requests) do not depend on what else runs on the machine,
which is why they are the figure to compare on a shared 2-core box. cProfile slows Python code ~2× and
attributes nothing to C: read its ranking, not its absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import artifacts, payloads
from bench.procs import free_port, http_get

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_ROOT = Path(__file__).resolve().parent.parent


def _proc_stat(pid: int) -> tuple[float, float, int]:
    """(user CPU s, system CPU s, minor page faults) of a process so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        stat = fh.read()
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK, int(fields[7])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float, ca: Path | None = None) -> None:
    """Until `url` answers 200; an https one is checked against the test CA `ca`."""
    tls = ssl.create_default_context(cafile=str(ca)) if ca is not None else None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it was ready")
        try:
            if tls is not None:
                with urllib.request.urlopen(url, timeout=1.0, context=tls) as answer:
                    if answer.status == 200:
                        return
            elif http_get(url, timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {seconds:.0f} s")


def _test_pki(tmp: Path) -> tuple[list[str], Path]:
    """A CA made for the run (trustme) and a certificate for 127.0.0.1: the echo's arguments and a gateway
    config that trusts the CA (bench/gateway.yaml plus outbound.ca_bundle)."""
    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    issued = ca.issue_cert("127.0.0.1")
    issued.private_key_and_cert_chain_pem.write_to_path(str(tmp / "echo.pem"))
    config = tmp / "gateway.yaml"
    config.write_text(
        (_ROOT / "bench" / "gateway.yaml").read_text() + f"outbound:\n  ca_bundle: {tmp / 'ca.pem'}\n",
        encoding="utf-8",
    )
    return ["--certificate", str(tmp / "echo.pem"), "--key", str(tmp / "echo.pem")], config


async def _load(url: str, body: bytes, headers: dict[str, str], requests: int, connections: int) -> int:
    """`requests` POSTs over `connections` keep-alive connections; returns how many answered 200 with the body."""
    import aiohttp

    remaining = requests
    good = 0

    async def one_connection(session: aiohttp.ClientSession) -> None:
        nonlocal remaining, good
        while remaining > 0:
            remaining -= 1
            async with session.post(url, data=body, headers=headers) as resp:
                answer = await resp.read()
                good += resp.status == 200 and len(answer) == len(body) or resp.status == 202

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(one_connection(session) for _ in range(connections)))
    return good


def _server_argv(args: argparse.Namespace, tmp: Path, echo_url: str, port: int, config: Path) -> tuple[list[str], str]:
    if args.target == "bare":
        return [
            sys.executable,
            "-m",
            "bench.bare_proxy",
            "--port",
            str(port),
            "--backend",
            echo_url + "/",
        ], "/"
    if args.scenario.startswith("store-"):
        from bench import stores

        root = tmp / "artifacts"
        (root / "proxies").mkdir(parents=True)
        (root / "message-stores").mkdir()
        (root / "proxies" / "Enqueue.xml").write_text(stores.PROXY)
        queue = f"bench-profile-{os.getpid()}"
        store = stores.STORES[args.scenario.removeprefix("store-")].format(db=tmp / "gateway.db", queue=queue)
        (root / "message-stores" / "Queue.xml").write_text(store)
        proxy = "Enqueue"
    else:
        scenario = "api" if args.scenario == "api-proxy" else args.scenario
        proxy, _ = artifacts.SCENARIO_ARTIFACTS[scenario]
        # the api scenarios' back-end address is the runner's (…/echo, REST_URL_POSTFIX appended to it)
        artifacts.render(scenario, tmp / "artifacts", echo_url + ("/echo" if scenario == "api" else "/"))
    argv = [
        sys.executable,
        "-m",
        "bench.profile",
        "--gc-worker" if args.mode == "cpu" else "--worker",
        str(tmp / "profile.out"),
        "serve",
        "--artifacts",
        str(tmp / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--config",
        str(config),
        "--no-hot-deploy",
    ]
    if args.scenario == "api":  # the runner's api scenario: one of the 200 rendered APIs
        return argv, f"/shop{artifacts.API_TARGET:03d}/items/42"
    if args.scenario == "api-proxy":  # the same flow as a proxy, the same back-end path
        return argv, f"/services/{proxy}/items/42"
    return argv, f"/services/{proxy}"


def _worker(out: str, argv: list[str]) -> None:
    """The gateway in this process; SIGUSR1 starts cProfile, SIGUSR2 stops it and writes `out`."""
    import cProfile

    profiler = cProfile.Profile()

    def start(*_: object) -> None:
        profiler.enable()

    def stop(*_: object) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    from gateway.cli import main

    raise SystemExit(main(argv))


def _gc_worker(out: str, argv: list[str]) -> None:
    """The gateway in this process, its garbage collections counted: SIGUSR1 starts counting, SIGUSR2 writes
    `out` (JSON: per generation the collections, their seconds and the objects they freed; the tracked objects
    and the resident set at the end). Only measures: the collector's settings are left as they are."""
    import gc
    import json

    counting = False
    started = 0.0
    totals: dict[int, list[float]] = {0: [0, 0.0, 0], 1: [0, 0.0, 0], 2: [0, 0.0, 0]}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if not counting:
            return
        if phase == "start":
            started = time.perf_counter()
            return
        row = totals[info["generation"]]
        row[0] += 1
        row[1] += time.perf_counter() - started
        row[2] += info["collected"]

    def start(*_: object) -> None:
        nonlocal counting
        for row in totals.values():
            row[:] = [0, 0.0, 0]
        counting = True

    def stop(*_: object) -> None:
        nonlocal counting
        counting = False
        with open("/proc/self/statm") as fh:
            rss_pages = int(fh.read().split()[1])
        report = {
            "generations": {str(g): {"collections": r[0], "seconds": r[1], "freed": r[2]} for g, r in totals.items()},
            "tracked_objects": len(gc.get_objects()),
            "rss_bytes": rss_pages * os.sysconf("SC_PAGE_SIZE"),
            "threshold": gc.get_threshold(),
        }
        with open(out + ".tmp", "w") as fh:
            json.dump(report, fh)
        os.replace(out + ".tmp", out)

    gc.callbacks.append(on_gc)
    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    from gateway.cli import main

    raise SystemExit(main(argv))


def _gc_report(server: subprocess.Popen[bytes], out: Path, requests: int) -> str:
    """The gc worker's counts for the measured requests, per 1,000 requests."""
    import json

    server.send_signal(signal.SIGUSR2)
    for _ in range(100):
        if out.exists():
            break
        time.sleep(0.1)
    else:
        return "gc: no report from the worker"
    report = json.loads(out.read_text())
    lines = [
        f"gc: threshold {tuple(report['threshold'])}, {report['tracked_objects']:,} tracked objects, "
        f"RSS {report['rss_bytes'] / 2**20:.1f} MiB at the end"
    ]
    for generation, row in report["generations"].items():
        per = 1000 / requests
        lines.append(
            f"  generation {generation}: {row['collections'] * per:.1f} collections / 1,000 requests, "
            f"{1e6 * row['seconds'] / requests:.1f} µs/request, {row['freed'] * per:.0f} objects freed / 1,000"
        )
    return "\n".join(lines)


def _callgrind_top(out: Path, requests: int, top: int) -> str:
    """Instructions per request: in total, by shared object, and the top functions by own count."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", str(out)], capture_output=True, text=True, check=True
    ).stdout
    total = 0
    functions: list[tuple[int, str]] = []
    objects: dict[str, int] = {}
    row = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?)(?:\s+\[(.*)\])?$")
    for line in text.splitlines():
        match = row.match(line)
        if match is None:
            continue
        count, where, obj = int(match[1].replace(",", "")), match[2], match[3]
        if where.endswith("PROGRAM TOTALS"):
            total = count
            continue
        file, _, function = where.rpartition(":")
        functions.append((count, f"{function} ({Path(file).name})"))
        key = Path(obj).name if obj else "?"
        objects[key] = objects.get(key, 0) + count
    lines = [
        f"instructions/request: {total / requests:,.0f} (total {total:,} for {requests} requests)",
        "",
        "by object:",
    ]
    for name, count in sorted(objects.items(), key=lambda kv: -kv[1])[:8]:
        lines.append(f"{count / requests:10,.0f}  {100 * count / total:5.1f}%  {name}")
    lines += ["", "top functions (own instructions/request):"]
    for count, name in sorted(functions, reverse=True)[:top]:
        lines.append(f"{count / requests:10,.0f}  {100 * count / total:5.1f}%  {name}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _worker(argv[1], argv[2:])
        return 0
    if argv[:1] == ["--gc-worker"]:
        _gc_worker(argv[1], argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("gateway", "bare"), default="gateway")
    scenarios = ("passthrough", "cbr", "api", "api-proxy", "store-memory", "store-sqlite", "store-rabbitmq")
    parser.add_argument("--scenario", choices=scenarios, default="passthrough")
    parser.add_argument("--size", default="1k")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--mode", choices=("cpu", "callgrind", "cprofile"), default="cpu")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (profile outputs, logs)")
    parser.add_argument("--tls", action="store_true", help="the echo back end over https (a test CA, trusted)")
    parser.add_argument(
        "--no-metrics", action="store_true", help="the gateway with metrics: {enabled: false} (their cost: run both)"
    )
    args = parser.parse_args(argv)
    if args.mode == "callgrind" and shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install -y valgrind)")
    if args.tls and args.target == "bare":
        raise SystemExit("--tls measures the gateway only (the bare proxy has no CA bundle setting)")
    if args.mode == "cprofile" and args.target == "bare":
        raise SystemExit("--mode cprofile profiles the gateway only")

    body = payloads.soap_get_quote(payloads.parse_size(args.size))
    headers = {"Content-Type": payloads.SOAP_CONTENT_TYPE, "SOAPAction": payloads.SOAP_ACTION}
    if args.scenario.startswith("store-"):
        from bench.stores import BODY

        body, headers = BODY, {"Content-Type": "application/json"}
    tmp = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])))
    if args.target == "gateway":
        # One worker, measured as `serve --workers N` runs each of its workers (the parent's malloc tunable);
        # --workers 1 has no parent to set it. GLIBC_TUNABLES set by the caller wins (to measure without it).
        from gateway.supervisor import worker_environment

        worker_environment(env)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        echo_port, port = free_port(), free_port()
        echo_tls, config = _test_pki(tmp) if args.tls else ([], _ROOT / "bench" / "gateway.yaml")
        if args.no_metrics:
            off = tmp / "gateway-no-metrics.yaml"
            off.write_text(config.read_text(encoding="utf-8") + "metrics:\n  enabled: false\n", encoding="utf-8")
            config = off
        echo = subprocess.Popen(
            [sys.executable, "-m", "bench.echo_backend", "--port", str(echo_port), *echo_tls],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / "echo.log", "wb"),  # noqa: SIM115 - closed with the process
        )
        procs.append(echo)
        echo_url = f"{'https' if args.tls else 'http'}://127.0.0.1:{echo_port}"
        _wait_ready(echo_url + "/healthz", echo, 30, tmp / "ca.pem" if args.tls else None)
        server_argv, path = _server_argv(args, tmp, echo_url, port, config)
        callgrind_out = tmp / "callgrind.out"
        if args.mode == "callgrind":
            server_argv = [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={callgrind_out}",
                *server_argv,
            ]
        server = subprocess.Popen(
            server_argv,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / "server.log", "wb"),  # noqa: SIM115 - closed with the process
        )
        procs.append(server)
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url + "/healthz", server, 600 if args.mode == "callgrind" else 60)
        if asyncio.run(_load(url + path, body, headers, args.warmup, args.connections)) != args.warmup:
            raise SystemExit(f"warm-up requests failed; see {tmp / 'server.log'}")

        if args.mode == "callgrind":
            subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-i", "on", str(server.pid)], check=True, capture_output=True)
        elif args.target == "gateway":  # cProfile starts, or (cpu mode) the garbage collections are counted
            server.send_signal(signal.SIGUSR1)
            time.sleep(0.2)
        (user0, sys0, faults0), started = _proc_stat(server.pid), time.perf_counter()
        good = asyncio.run(_load(url + path, body, headers, args.requests, args.connections))
        (user1, sys1, faults1), wall = _proc_stat(server.pid), time.perf_counter() - started
        cpu = user1 - user0 + sys1 - sys0
        what = f"{args.target} {args.scenario if args.target == 'gateway' else 'proxy'} {args.size}"
        what += " (back end over https)" if args.tls else ""
        print(f"{what}: {good}/{args.requests} ok, {args.connections} connections, {wall:.1f} s")
        if args.mode == "cpu":
            n = args.requests
            print(
                f"CPU: {1e6 * cpu / n:.0f} µs/request (user {1e6 * (user1 - user0) / n:.0f}, system "
                f"{1e6 * (sys1 - sys0) / n:.0f}; {args.requests / wall:,.0f} req/s, noisy); "
                f"minor page faults {(faults1 - faults0) / n:.2f}/request"
            )
            if args.target == "gateway":
                print(_gc_report(server, tmp / "profile.out", n))
        elif args.mode == "callgrind":
            subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-i", "off", str(server.pid)], check=True, capture_output=True)
            dumps = sorted(tmp.glob("callgrind.out*"), key=lambda p: p.stat().st_mtime)
            print(_callgrind_top(dumps[-1], args.requests, args.top))
        else:
            server.send_signal(signal.SIGUSR2)
            out = tmp / "profile.out"
            for _ in range(50):
                if out.exists() and out.stat().st_size:
                    break
                time.sleep(0.1)
            time.sleep(0.3)
            import pstats

            stats = pstats.Stats(str(out))
            stats.sort_stats("tottime").print_stats(args.top)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if args.scenario == "store-rabbitmq":
            from bench.stores import delete_queue

            asyncio.run(delete_queue(f"bench-profile-{os.getpid()}"))
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
