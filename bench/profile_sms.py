"""Profile the seed-sms path on one worker: the gateway's twilioRest proxy against the hand-written SDK service.

```bash
python -m bench.profile_sms                          # CPU µs/request, both servers, metrics on
python -m bench.profile_sms --mode callgrind         # instructions/request (valgrind), stable on a busy machine
python -m bench.profile_sms --mode cprofile --server gateway --top 30
python -m bench.profile_sms --server gateway --metrics off
```

Each server runs as one process (``--workers 1``) against its own fresh Twilio sandbox. After ``--warmup``
requests, ``--requests`` more are sent by ``--concurrency`` keep-alive connections from this process (the load
generator's CPU is not counted). What is measured covers exactly those requests:

* ``cpu``: the server's user + system CPU (``/proc/PID/stat``) divided by the requests;
* ``cprofile``: cProfile is switched on in the server by SIGUSR1 and off (and dumped) by SIGUSR2;
* ``callgrind``: the server runs under ``valgrind --tool=callgrind --instr-atstart=no``; instrumentation is
  switched on and off with ``callgrind_control``; the dump's total Ir divided by the requests.

Startup is reported too: seconds from spawn until ``/healthz`` answers, and the process's RSS then.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench import artifacts, payloads
from bench.procs import Proc, ProcessManager, _cpu_seconds, _vm_rss, free_port
from bench.runner import configure_sandbox, gateway_command, sandbox_account

REPO = Path(__file__).resolve().parent.parent
SERVERS = ("gateway", "handwritten")


# ---------------------------------------------------------------------------- the cProfile wrapper


def _wrapped(out: str, module: str, argv: list[str]) -> None:
    """Run ``module`` as __main__ with cProfile toggled by SIGUSR1 (on) and SIGUSR2 (off + dump to ``out``)."""
    profile = cProfile.Profile()

    def on(signum: int, frame: object) -> None:
        profile.enable()

    def off(signum: int, frame: object) -> None:
        profile.disable()
        profile.dump_stats(out)

    signal.signal(signal.SIGUSR1, on)
    signal.signal(signal.SIGUSR2, off)
    sys.argv = [module, *argv]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


# ---------------------------------------------------------------------------- servers


def _server_argv(server: str, port: int, config: Path | None, art: Path | None) -> list[str]:
    if server == "handwritten":
        return [sys.executable, "-m", "bench.handwritten_sms", "--port", str(port), "--workers", "1"]
    assert art is not None and config is not None
    return gateway_command(
        "serve", "--artifacts", str(art), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"
    ) + ["--config", str(config)]


def _wrap(argv: list[str], mode: str, out: Path) -> list[str]:
    if mode == "cprofile":
        module_at = argv.index("-m")
        return [
            sys.executable,
            "-m",
            "bench.profile_sms",
            "_wrap",
            str(out),
            argv[module_at + 1],
            *argv[module_at + 2 :],
        ]
    if mode == "callgrind":
        return [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            *argv,
        ]
    return argv


def _gateway_config(workdir: Path, metrics: bool) -> Path:
    text = (REPO / "bench" / "gateway.yaml").read_text(encoding="utf-8")
    if not metrics:
        text += "\nmetrics:\n  enabled: false\n"
    path = workdir / f"gateway-metrics-{'on' if metrics else 'off'}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- load


async def _send(url: str, body: bytes, count: int, concurrency: int) -> int:
    """``count`` POSTs over ``concurrency`` keep-alive connections; the number of failed answers."""
    failures = 0
    remaining = count
    headers = {"Content-Type": payloads.JSON_CONTENT_TYPE}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal failures, remaining
            while remaining > 0:
                remaining -= 1
                async with session.post(url, data=body, headers=headers) as response:
                    answer = await response.read()
                    if response.status != 201 or b'"sid"' not in answer:
                        failures += 1
                        if failures == 1:
                            print(f"  first failure: HTTP {response.status} {answer[:200]!r}", file=sys.stderr)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


def _wait_ready(pm: ProcessManager, proc: Proc, path: str, timeout: float) -> float:
    started = time.monotonic()
    pm.wait_ready(proc, path, timeout=timeout)
    return time.monotonic() - started


def _callgrind_control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _callgrind_total(out: Path) -> int:
    total = 0
    for dump in out.parent.glob(out.name + "*"):
        match = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(errors="replace"), re.MULTILINE)
        if match:
            total += int(match.group(1))
    return total


def _callgrind_top(out: Path, top: int) -> str:
    dumps = sorted(p for p in out.parent.glob(out.name + "*") if p.stat().st_size)
    if not dumps or shutil.which("callgrind_annotate") is None:
        return ""
    result = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=99", str(dumps[-1])],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if re.match(r"^\s*[\d,]+ \(", line)]
    return "\n".join(lines[:top])


def profile_one(server: str, args: argparse.Namespace, pm: ProcessManager, workdir: Path) -> dict[str, object]:
    workdir.mkdir(parents=True, exist_ok=True)
    sandbox_port = free_port()
    sandbox = pm.start(
        "sandbox", gateway_command("twilio-sandbox", "--host", "127.0.0.1", "--port", str(sandbox_port)), sandbox_port
    )
    try:
        pm.wait_ready(sandbox, "/_sandbox")
        sid, token = sandbox_account(sandbox)
        configure_sandbox(sandbox)
        body = payloads.seed_sms_request(sid, token, sandbox.url)
        art = None
        if server == "gateway":
            art = args.artifacts or artifacts.render("seed-sms", workdir / "artifacts", "http://127.0.0.1:9")
        config = _gateway_config(workdir, args.metrics == "on")
        port = free_port()
        out = workdir / f"{server}.{args.mode}.out"
        argv = _wrap(_server_argv(server, port, config, art), args.mode, out)
        proc = pm.start(server, argv, port)
        startup = _wait_ready(pm, proc, "/healthz", 600.0 if args.mode == "callgrind" else 60.0)
        rss_mb = _vm_rss(proc.pid) / 2**20
        path = "/services/twilioRest" if server == "gateway" else "/sendSms"
        url = proc.url + path
        failures = asyncio.run(_send(url, body, args.warmup, args.concurrency))
        if args.mode == "cprofile":
            os.kill(proc.pid, signal.SIGUSR1)
        elif args.mode == "callgrind":
            _callgrind_control("-i", "on", str(proc.pid))
        cpu_before = _cpu_seconds(proc.pid)
        wall = time.monotonic()
        failures += asyncio.run(_send(url, body, args.requests, args.concurrency))
        wall = time.monotonic() - wall
        cpu = _cpu_seconds(proc.pid) - cpu_before
        result: dict[str, object] = {
            "server": server,
            "requests": args.requests,
            "failures": failures,
            "startup_s": round(startup, 3),
            "startup_rss_mb": round(rss_mb, 1),
            "cpu_us_per_request": round(cpu * 1e6 / args.requests, 1),
            "req_per_s": round(args.requests / wall, 1),
        }
        if args.mode == "cprofile":
            os.kill(proc.pid, signal.SIGUSR2)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not out.exists():
                time.sleep(0.1)
            time.sleep(0.5)
            stats = pstats.Stats(str(out))
            print(f"\n== {server}: cProfile over {args.requests} requests (tottime) ==")
            stats.sort_stats("tottime").print_stats(args.top)
            print(f"\n== {server}: cProfile (cumulative) ==")
            stats.sort_stats("cumulative").print_stats(args.top)
        elif args.mode == "callgrind":
            _callgrind_control("-d", str(proc.pid))
            _callgrind_control("-i", "off", str(proc.pid))
            time.sleep(1.0)
            instructions = _callgrind_total(out)
            result["instructions_per_request"] = round(instructions / args.requests)
            top = _callgrind_top(out, args.top)
            if top:
                print(f"\n== {server}: callgrind self cost (Ir), {args.requests} requests ==\n{top}")
        pm.stop(proc)
        return result
    finally:
        pm.stop(sandbox)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_wrap"]:
        _wrapped(argv[1], argv[2], argv[3:])
        return 0
    parser = argparse.ArgumentParser(description="profile the seed-sms path on one worker")
    parser.add_argument("--server", choices=(*SERVERS, "both"), default="both")
    parser.add_argument("--mode", choices=("cpu", "cprofile", "callgrind"), default="cpu")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--metrics", choices=("on", "off"), default="on")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--artifacts", type=Path, help="serve this artifact directory instead of the seed's (a variant of the flow)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, profiles)")
    args = parser.parse_args(argv)
    if args.mode == "callgrind" and shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    workdir = Path(tempfile.mkdtemp(prefix="profile-sms-"))
    results = []
    try:
        with ProcessManager(workdir / "logs", REPO) as pm:
            for server in SERVERS if args.server == "both" else (args.server,):
                results.append(profile_one(server, args, pm, workdir / server))
    finally:
        if args.keep:
            print(f"work directory: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    keys = list(results[0]) if results else []
    print(" | ".join(keys))
    for result in results:
        print(" | ".join(str(result[k]) for k in keys))
    return 1 if any(result["failures"] for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
