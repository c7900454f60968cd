"""``python -m bench``: start every process a scenario needs on loopback, load it, write the report.

Every server runs as its own subprocess on a free 127.0.0.1 port and is stopped on any exit (normal end,
exception, Ctrl-C or SIGTERM). A server that fails to start becomes a per-scenario error in the report,
not a crash of the runner.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import orjson
import yaml

from bench import artifacts, nginx, payloads, report, stores
from bench.load import LoadResult, LoadSpec, run_load, wrk_path, wrk_version
from bench.procs import (
    Proc,
    ProcessManager,
    RssMonitor,
    StartError,
    free_port,
    http_get,
    reset_peak_rss,
    tree_cpu_seconds,
    tree_peak_rss,
    tree_rss,
)
from bench.report import (
    API_PROXY,
    CBR_TWIN,
    MB,
    METRICS_OFF,
    METRICS_ON,
    SCALING,
    SCALING_SERVERS,
    SCATTER_GATHER,
    SINGLE_CONN,
    SPLIT_LABEL,
    SPLIT_ONE_CONN,
    SPLIT_SEQUENTIAL,
    STORES,
    Probe,
    RunRecord,
    StreamResult,
)

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = ("passthrough", "cbr", "json-props", "seed-sms", "api", "split", "metrics", "scaling", "stores")
JSON_PROPS_MAX_SIZE = 10 * 1024
SINGLE_CONN_SIZE = 1024
# api, metrics and scaling measure a ratio that does not depend on the body size: they run 1k only.
ONE_SIZE = 1024
STORE_BACKENDS = ("memory", "sqlite", "rabbitmq")
STORES_CONNECTIONS = 32  # as `python -m bench.stores`: 32 clients against 32 raw writers
RABBITMQ = ("127.0.0.1", 5672)
SHARED_IN_SMOKE = ("passthrough", "cbr", "json-props", "seed-sms", "api", "split")
# The one place that names the gateway package: `python -m gateway serve|twilio-sandbox ...`.
GATEWAY_MODULE = "gateway"


# A row of bench.profile_sms's table (server | requests | failures | … | instructions_per_request), no failures
_SMS_COUNTED_ROW = r"(?m)^(gateway|handwritten) \| \d+ \| 0 \|.* \| (\d+)$"
CALLGRIND_REQUESTS = 2000  # per count; about 40 s each under valgrind on the 2-core machine


def gateway_command(*args: str) -> list[str]:
    return [sys.executable, "-m", GATEWAY_MODULE, *args]


Validator = Callable[[int, bytes], tuple[bool, str]]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass
class Config:
    smoke: bool
    duration: int
    repeat: int
    warmup: int
    connections: int
    threads: int
    workers: int
    scenarios: list[str]
    sizes: list[int]
    stream_bytes: int
    output: Path
    generator: str
    generator_label: str
    gateway_timeout: float
    strict: bool
    keep_logs: bool
    nginx: str | None  # path of the nginx binary, None when it is not available or not wanted
    nginx_label: str
    soak: bool = False
    soak_minutes: float = 10.0
    soak_capacity_s: int = 10
    soak_load: float = 0.8
    single_repeat: int = 5  # runs per server of the single-connection measurement
    # Rounds of the metrics on/off step: the cost sought (~1-3%) is well below one run's noise on this machine.
    metrics_repeat: int = 9
    # Rounds of the alternated pairs a target divides (passthrough/bare/nginx 1k, cbr 1k and 10k, api): on this
    # shared machine three rounds let one slow minute decide (api: 0.925 / 0.849 / 0.850 in one run, 1.00 in others).
    target_repeat: int = 5
    # valgrind on PATH (a full run installs it as root): the cost targets' instruction counts (bench.profile)
    callgrind: bool = False

    @property
    def stem(self) -> str:
        if self.soak:
            return "soak-smoke" if self.smoke else "soak"
        if self.smoke:
            return "smoke"
        # latest.* is the one full run; a run of some scenarios writes its own report (api.md, split.md, …).
        return "latest" if set(self.scenarios) >= set(SCENARIOS) else "-".join(self.scenarios)

    def settings(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration,
            "runs per measurement": f"{self.repeat} (the median-req/s run is reported); {self.target_repeat} rounds"
            " for those a target divides (passthrough, bare and nginx at 1k, cbr at 1k and 10k, api, seed-sms and"
            " the hand-written service, the SQLite and RabbitMQ enqueues against their raw writers)",
            "warmup_s": self.warmup,
            "connections": self.connections,
            "threads": self.threads if self.generator == "wrk" else "n/a (python load generator)",
            "workers": self.workers,
            "scenarios": ", ".join(self.scenarios),
            "sizes": [payloads.size_label(s) for s in self.sizes],
            "streaming body": f"{self.stream_bytes / MB:.0f} MB",
            "load generator": self.generator_label,
            "back end": "aiohttp echo (1 process, uvloop)",
            "nginx": self.nginx_label,
            "passthrough": "gateway, bare and nginx started together and measured alternately at each size;"
            " passthrough / bare and / nginx are the medians of the rounds' ratios",
            "single connection": f"passthrough 1k, 1 connection, 1 thread, {self.single_repeat} runs per server"
            " (gateway, bare and nginx alternately), medians of the runs' p50 and p99",
            "metrics": "passthrough 1k, two gateways (metrics on, metrics off) measured alternately,"
            f" {self.metrics_repeat} rounds; the ratio is the median of the rounds' ratios",
            "scaling": "passthrough 1k: gateway and bare with --workers 1 and 2, measured alternately",
            "stores": f"memory, sqlite, rabbitmq; gateway with 1 worker; {min(self.connections, STORES_CONNECTIONS)}"
            " connections against as many raw writers",
            "gateway command": f"python -m {GATEWAY_MODULE} serve --artifacts <rendered bench/artifacts>"
            " --host 127.0.0.1"
            f" --port <free> --workers {self.workers} --config bench/gateway.yaml",
        }


# ---------------------------------------------------------------------------- validators


def _soap_echo(request: bytes) -> Validator:
    def check(status: int, body: bytes) -> tuple[bool, str]:
        if not 200 <= status < 300:
            return False, body[:200].decode(errors="replace")
        if b"getQuote" not in body or b"IBM" not in body or len(body) < 0.8 * len(request):
            return False, f"not the echoed envelope ({len(body)} bytes): {body[:120]!r}"
        return True, f"{len(body)} bytes echoed"

    return check


def _quotes_back(status: int, body: bytes) -> tuple[bool, str]:
    """The split scenario: the 10 parts aggregated (or the last of 10 echoes): a 2xx SOAP reply with quotes."""
    if not 200 <= status < 300:
        return False, body[:200].decode(errors="replace")
    if body.count(b"getQuote>") < 2 or b"IBM" not in body:
        return False, f"no getQuote in the reply ({len(body)} bytes): {body[:120]!r}"
    return True, f"{body.count(b'<m0:request>') or body.count(b':request>')} request(s) in {len(body)} bytes"


def _json_props(expect_transform: bool) -> Validator:
    def check(status: int, body: bytes) -> tuple[bool, str]:
        if not 200 <= status < 300:
            return False, body[:200].decode(errors="replace")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return False, f"not JSON: {body[:120]!r}"
        if expect_transform:
            ok = data == {"symbol": "IBM", "qty": 42}
        else:
            ok = isinstance(data, dict) and data.get("symbol") == "IBM"
        return ok, body[:120].decode(errors="replace")

    return check


def _twilio_message(status: int, body: bytes) -> tuple[bool, str]:
    if not 200 <= status < 300:
        return False, body[:200].decode(errors="replace")
    match = re.search(rb'"sid"\s*:\s*"(SM[0-9a-fA-F]{32})"', body)
    if not match:
        return False, f"no message sid in answer: {body[:160]!r}"
    return True, f"HTTP {status}, sid {match.group(1).decode()}"


def probe(url: str, body: bytes, headers: dict[str, str], validate: Validator) -> Probe:
    """One request before the load run: a wrong answer marks the run's throughput as meaningless."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(req, timeout=15) as resp:
            status, data = int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        status, data = int(exc.code), exc.read()
    except (OSError, urllib.error.URLError) as exc:
        return Probe(status=None, ok=False, detail=f"{type(exc).__name__}: {exc}")
    ok, detail = validate(status, data)
    return Probe(status=status, ok=ok, detail=detail)


# ---------------------------------------------------------------------------- the run


class Bench:
    def __init__(self, cfg: Config, pm: ProcessManager, workdir: Path) -> None:
        self.cfg = cfg
        self.pm = pm
        self._round_groups = 0  # numbers the alternated steps (RunRecord.round_group)
        self.workdir = workdir
        self.records: list[report.RunRecord] = []
        self.stream: StreamResult | None = None
        self.notes: list[str] = []
        self.echo: Proc | None = None
        self.shared: Proc | None = None

    # -- processes

    def _launch(self, name: str, argv: list[str], port: int | None = None) -> Proc:
        """Start a server without waiting for it (several can then come up at once: see ``_ready``)."""
        port = port or free_port()
        return self.pm.start(name, [a.replace("{port}", str(port)) for a in argv], port)

    def _ready(self, proc: Proc, ready_path: str = "/healthz", timeout: float = 20.0, any_status: bool = False) -> None:
        started = time.monotonic()
        try:
            self.pm.wait_ready(proc, ready_path, timeout=timeout, any_status=any_status)
        except StartError:
            self.pm.stop(proc)
            raise
        log(f"{proc.name} ready on {proc.url} ({time.monotonic() - started:.1f}s after the wait began)")

    def _start(
        self,
        name: str,
        argv: list[str],
        ready_path: str = "/healthz",
        timeout: float = 20.0,
        any_status: bool = False,
        port: int | None = None,
    ) -> Proc:
        proc = self._launch(name, argv, port)
        self._ready(proc, ready_path, timeout, any_status)
        return proc

    def _gateway_argv(self, artifact_dir: Path, workers: int | None = None, config: Path | None = None) -> list[str]:
        return gateway_command(
            "serve",
            "--artifacts", str(artifact_dir),
            "--host", "127.0.0.1",
            "--port", "{port}",
            "--workers", str(workers or self.cfg.workers),
            "--config", str(config or REPO / "bench" / "gateway.yaml"),
        )  # fmt: skip

    def _start_gateway(self, scenario: str, artifact_dir: Path, workers: int | None = None) -> Proc:
        if scenario in SHARED_IN_SMOKE and self.cfg.smoke and workers is None:
            return self._shared_gateway()
        started = time.monotonic()
        proc = self._start(
            f"gateway-{scenario}", self._gateway_argv(artifact_dir, workers), timeout=self.cfg.gateway_timeout
        )
        self.notes.append(f"gateway ({scenario}) became ready in {time.monotonic() - started:.1f}s")
        return proc

    def _shared_gateway(self) -> Proc:
        """Smoke mode: one gateway serves every scenario that needs only its artifacts (they have distinct names),
        so that the smoke run pays one start-up instead of six; a full run starts a fresh gateway per scenario."""
        if self.shared is None or not self.shared.alive():
            art = self.workdir / "artifacts-shared"
            for scenario in SHARED_IN_SMOKE:
                artifacts.render(scenario, art, self.echo_url)
            self.shared = self._start("gateway-shared", self._gateway_argv(art), timeout=self.cfg.gateway_timeout)
            self.notes.append(f"smoke: one gateway served {', '.join(SHARED_IN_SMOKE)}")
        return self.shared

    def _release(self, proc: Proc) -> None:
        """Stop a scenario's server, unless it is the smoke run's shared gateway (stopped at the end)."""
        if proc is not self.shared:
            self.pm.stop(proc)

    def _start_together(self, launches: list[tuple[str, list[str]]]) -> list[Proc]:
        """Start several servers at once and wait for all (a scenario that compares them starts faster); if one
        fails, every one is stopped and the StartError names it."""
        procs = [self._launch(name, argv) for name, argv in launches]
        try:
            for proc in procs:
                self._ready(proc, timeout=self.cfg.gateway_timeout + 10 * len(procs))
        except StartError:
            for proc in procs:
                self.pm.stop(proc)
            raise
        return procs

    def _start_sandbox(self) -> tuple[Proc, str, str]:
        argv = gateway_command("twilio-sandbox", "--host", "127.0.0.1", "--port", "{port}")
        proc = self._start("twilio-sandbox", argv, ready_path="/_sandbox")
        try:
            sid, token = sandbox_account(proc)
            configure_sandbox(proc)
        except (OSError, ValueError, KeyError, urllib.error.URLError) as exc:
            self.pm.stop(proc)
            raise StartError(f"twilio sandbox answered unexpectedly: {exc}\n{proc.tail()}") from None
        return proc, sid, token

    # -- one measured run

    def _measure(
        self,
        rec: RunRecord,
        proc: Proc,
        body: bytes,
        headers: dict[str, str],
        validate: Validator,
        single_connection: bool = False,
        connections: int | None = None,
    ) -> RunRecord:
        return self._measure_together([rec], proc, body, headers, validate, single_connection, connections)[0]

    def _measure_together(
        self,
        recs: list[RunRecord],
        proc: Proc | list[Proc],
        body: bytes | list[bytes],
        headers: dict[str, str],
        validate: Validator,
        single_connection: bool = False,
        connections: int | None = None,
        repeat: int | None = None,
        after_round: Callable[[int], None] | None = None,
    ) -> list[RunRecord]:
        """Measure several URLs, of one server or of one server each (``proc`` a list, one per record), with one
        body or one body each; their repeats (``repeat``, else ``--repeat``) alternate (A B C, C B A, …) so that
        a drift of this shared machine's speed weighs on each the same. ``after_round(index)`` runs after each
        round (a comparator that is not a server, measured in the same rounds)."""
        procs = proc if isinstance(proc, list) else [proc] * len(recs)
        bodies = body if isinstance(body, list) else [body] * len(recs)
        self._round_groups += 1
        specs = []
        for rec, server, body in zip(recs, procs, bodies, strict=True):
            rec.round_group = self._round_groups
            rec.probe = probe(rec.url, body, headers, validate)
            if not rec.probe.ok:
                rec.notes += logged_errors(server)
            conns = connections or self.cfg.connections
            spec = LoadSpec(rec.url, body, headers, conns, min(self.cfg.threads, conns), self.cfg.duration)
            if single_connection:
                spec = replace(spec, connections=1, threads=1)
            rec.connections = spec.connections
            loaddir = self.workdir / "load" / f"{rec.scenario}-{rec.server}-{rec.size}"
            if self.cfg.warmup > 0:
                run_load(replace(spec, duration=self.cfg.warmup), loaddir / "warmup", self.cfg.generator, REPO)
            specs.append((spec, loaddir))
        pids = list(dict.fromkeys(server.pid for server in procs))
        hwm_ok = {pid: reset_peak_rss(pid) for pid in pids}
        # This machine's throughput varies run to run (shared cores): several runs, the median one counts.
        runs: list[list[LoadResult]] = [[] for _ in recs]
        cpu_seconds: list[list[float]] = [[] for _ in recs]
        with ExitStack() as stack:
            monitors = {pid: stack.enter_context(RssMonitor(pid)) for pid in pids}
            for index in range(repeat or self.cfg.repeat):
                order = list(range(len(recs)))
                for leg in order if index % 2 == 0 else order[::-1]:
                    spec, loaddir = specs[leg]
                    before = tree_cpu_seconds(procs[leg].pid)
                    runs[leg].append(run_load(spec, loaddir / f"run{index}", self.cfg.generator, REPO))
                    cpu_seconds[leg].append(tree_cpu_seconds(procs[leg].pid) - before)
                if after_round is not None:
                    after_round(index)
        for rec, server, leg_runs, leg_cpu in zip(recs, procs, runs, cpu_seconds, strict=True):
            pid = server.pid
            rec.load = sorted(leg_runs, key=lambda r: (r.error is None, r.rps))[len(leg_runs) // 2]
            rec.runs_rps = [r.rps for r in leg_runs]
            rec.runs_p50_ms = [r.p50_ms for r in leg_runs]
            rec.runs_p99_ms = [r.p99_ms for r in leg_runs]
            rec.runs_cpu_us = [_cpu_us(run, cpu) for run, cpu in zip(leg_runs, leg_cpu, strict=True)]
            # Over all repeats: total CPU time / total requests (a failed repeat counts for neither).
            counted = [(run.requests, cpu) for run, cpu in zip(leg_runs, leg_cpu, strict=True) if _cpu_us(run, cpu)]
            served = sum(requests for requests, _ in counted)
            rec.cpu_us_per_request = sum(cpu for _, cpu in counted) * 1e6 / served if served else None
            rec.peak_rss_bytes = max(monitors[pid].peak, tree_peak_rss(pid) if hwm_ok[pid] else 0) or None
            if not server.alive():
                rec.error = f"{server.name} died during the run (exit {server.popen.returncode})\n{server.tail()}"
            self.records.append(rec)
            self._log_record(rec)
        return recs

    def _log_record(self, rec: RunRecord) -> None:
        where = f"{rec.scenario}/{rec.server}/{rec.size}"
        if rec.error:
            log(f"{where}: FAILED: {rec.error.splitlines()[0]}")
            return
        load = rec.load or LoadResult(generator=self.cfg.generator)
        if load.error:
            log(f"{where}: load generator failed: {load.error}")
            return
        if rec.probe is None or rec.probe.ok:
            probe_txt = "probe ok"
        else:
            probe_txt = f"PROBE FAILED (HTTP {rec.probe.status}: {rec.probe.detail[:100]})"
        cpu = "?" if rec.cpu_us_per_request is None else f"{rec.cpu_us_per_request:,.0f}"
        share = "" if load.client_cpu_share is None else f", load generator {load.client_cpu_share:.0%} of the CPUs"
        log(
            f"{where}: {load.rps:,.0f} req/s p50 {load.p50_ms or 0:.2f} ms p99 {load.p99_ms or 0:.2f} ms,"
            f" {cpu} CPU µs/req, {load.non2xx} non-2xx, {load.socket_errors} socket errors, {probe_txt}{share}"
        )

    def _fail(self, scenario: str, server: str, sizes: list[str], error: str, body_bytes: int = 0) -> None:
        for size in sizes:
            rec = RunRecord(scenario, server, size, body_bytes, error=error)
            self.records.append(rec)
            self._log_record(rec)

    # -- scenarios

    def run(self) -> None:
        try:
            self.echo = self._start("echo-backend", [sys.executable, "-m", "bench.echo_backend", "--port", "{port}"])
        except StartError as exc:
            for scenario in self.cfg.scenarios:
                self._fail(scenario, "gateway", self._labels(scenario), f"echo back end failed: {exc}")
            return
        wanted = set(self.cfg.scenarios)
        if wanted & {"cbr", "api"} and "passthrough" not in wanted:
            self.run_comparators()  # else the passthrough step measures them, alternated with the gateway
        for scenario in self.cfg.scenarios:
            {
                "passthrough": self.run_passthrough,
                "cbr": self.run_cbr,
                "json-props": self.run_json_props,
                "seed-sms": self.run_seed_sms,
                "api": self.run_api,
                "split": self.run_split,
                "metrics": self.run_metrics,
                "scaling": self.run_scaling,
                "stores": self.run_stores,
            }[scenario]()

    def _labels(self, scenario: str) -> list[str]:
        fixed = {"seed-sms": ["seed"], "split": [SPLIT_LABEL, SPLIT_ONE_CONN], "stores": list(STORE_BACKENDS)}
        return fixed.get(scenario) or [payloads.size_label(s) for s in self._sizes(scenario)]

    def _sizes(self, scenario: str) -> list[int]:
        if scenario == "json-props":
            return [s for s in self.cfg.sizes if s <= JSON_PROPS_MAX_SIZE]
        if scenario in ("api", "metrics", "scaling"):
            return [ONE_SIZE] if ONE_SIZE in self.cfg.sizes else self.cfg.sizes[:1]
        return list(self.cfg.sizes)

    @property
    def echo_url(self) -> str:
        assert self.echo is not None
        return f"{self.echo.url}/echo"

    @staticmethod
    def _soap_headers() -> dict[str, str]:
        return {"Content-Type": payloads.SOAP_CONTENT_TYPE, "SOAPAction": payloads.SOAP_ACTION}

    def _comparator_labels(self) -> list[str]:
        return [payloads.size_label(s) for s in self.cfg.sizes]

    def _bare_argv(self) -> list[str]:
        return [
            sys.executable, "-m", "bench.bare_proxy", "--port", "{port}",
            "--workers", str(self.cfg.workers), "--backend", self.echo_url,
        ]  # fmt: skip

    def _start_comparators(self) -> dict[str, Proc]:
        """The pass-through comparators, bare and nginx (when there is one), started at once; one that fails to
        start is recorded as failed for every size and left out."""
        launches = [("bare", self._launch("bare-proxy", self._bare_argv()))]
        if self.cfg.nginx is None:
            self.notes.append(f"nginx comparator: {self.cfg.nginx_label}.")
            log(f"nginx: {self.cfg.nginx_label}")
        else:
            assert self.echo is not None
            port = free_port()
            conf = nginx.render_config(self.workdir / "nginx", self.cfg.nginx, port, self.echo.port, self.cfg.workers)
            launches.append(("nginx", self._launch("nginx", nginx.command(self.cfg.nginx, conf), port)))
        started: dict[str, Proc] = {}
        for server, proc in launches:
            try:
                self._ready(proc)
            except StartError as exc:
                self._fail(server, server, self._comparator_labels(), f"{server} failed to start: {exc}")
                continue
            started[server] = proc
        return started

    @staticmethod
    def _comparator_records(comparators: dict[str, Proc], size: int, body: bytes) -> list[RunRecord]:
        label = payloads.size_label(size)
        return [RunRecord(server, server, label, len(body), f"{proc.url}/echo") for server, proc in comparators.items()]

    def run_comparators(self) -> None:
        """bare and nginx alone (cbr or api without passthrough): alternated with each other at every size."""
        comparators = self._start_comparators()
        try:
            for size in self.cfg.sizes:
                body = payloads.soap_get_quote(size)
                recs = self._comparator_records(comparators, size, body)
                if recs:
                    self._measure_together(
                        recs, list(comparators.values()), body, self._soap_headers(), _soap_echo(body)
                    )
        finally:
            for proc in comparators.values():
                self.pm.stop(proc)

    def _single_connection(self, gateway: Proc, url: str, comparators: dict[str, Proc]) -> None:
        """Passthrough 1k over one connection: the gateway, bare and nginx (the step's comparators), measured
        alternately (``--single-repeat`` runs each) so that a burst of other work on this shared machine falls on
        each alike; the report takes the medians of the runs' p50 and p99."""
        body = payloads.soap_get_quote(SINGLE_CONN_SIZE)
        size = payloads.size_label(SINGLE_CONN_SIZE)
        recs = [RunRecord(SINGLE_CONN, "gateway", size, len(body), url)]
        recs += [
            RunRecord(SINGLE_CONN, server, size, len(body), f"{proc.url}/echo") for server, proc in comparators.items()
        ]
        self._measure_together(
            recs, [gateway, *comparators.values()], body, self._soap_headers(), _soap_echo(body), True,
            repeat=self.cfg.single_repeat,
        )  # fmt: skip

    def _count_instructions(self, rec: RunRecord, scenario: str, *extra: str) -> None:
        """The record's flow on one gateway worker under callgrind (``python -m bench.profile``, 2,000 requests
        after 300): its instructions per request, which the cost targets divide."""
        argv = [
            "bench.profile", "--mode", "callgrind", "--requests", str(CALLGRIND_REQUESTS),
            "--warmup", "300", "--scenario", scenario, "--size", rec.size, *extra,
        ]  # fmt: skip
        found = self._callgrind([rec], argv, r"instructions/request: ([\d,]+)")
        if found:
            self._counted(rec, found[0])

    def _count_sms_instructions(self, gateway: RunRecord, handwritten: RunRecord) -> None:
        """seed-sms: the gateway and the hand-written service, one worker each against a sandbox of its own, under
        callgrind (``python -m bench.profile_sms``, 1,000 requests after 300). A server's row counts only when none
        of its requests failed (the ``failures`` column)."""
        argv = ["bench.profile_sms", "--mode", "callgrind", "--requests", str(CALLGRIND_REQUESTS // 2)]
        rows = dict(self._callgrind([gateway, handwritten], argv, _SMS_COUNTED_ROW))
        for rec, server in ((gateway, "gateway"), (handwritten, "handwritten")):
            if server in rows:
                self._counted(rec, rows[server])
            else:
                rec.notes.append(f"callgrind: bench.profile_sms gave no count without failures for {server}")

    def _callgrind(self, recs: list[RunRecord], argv: list[str], figure: str) -> list[Any]:
        """Run a callgrind counter (``python -m`` argv) and return ``re.findall(figure)`` over its output (a group's
        text, or a tuple of groups, per match); on failure nothing, and a note on each record."""
        if not self.cfg.callgrind:
            return []
        try:
            done = subprocess.run(
                [sys.executable, "-m", *argv], cwd=REPO, capture_output=True, text=True, timeout=900, check=False
            )
        except subprocess.TimeoutExpired:
            for rec in recs:
                rec.notes.append(f"callgrind: {argv[0]} did not finish in 15 minutes")
            return []
        found = re.findall(figure, done.stdout)
        if not found:
            for rec in recs:
                rec.notes.append(f"callgrind failed: {(done.stderr or done.stdout).strip()[-300:]}")
                log(f"{rec.scenario}/{rec.server}: callgrind failed")
        return found

    @staticmethod
    def _counted(rec: RunRecord, figure: str) -> None:
        rec.instructions_per_request = float(figure.replace(",", ""))
        log(f"{rec.scenario}/{rec.server}/{rec.size}: {rec.instructions_per_request:,.0f} instructions/request")

    def _rounds(self, decides_target: bool) -> int:
        return self.cfg.target_repeat if decides_target else self.cfg.repeat

    def _soap_gateway(self, scenario: str, with_stream: bool) -> None:
        proxy, _ = artifacts.SCENARIO_ARTIFACTS[scenario]
        labels = self._labels(scenario)
        art = artifacts.render(scenario, self.workdir / f"artifacts-{scenario}", self.echo_url)
        try:
            gw = self._start_gateway(scenario, art)
        except StartError as exc:
            self._fail(scenario, "gateway", labels, f"gateway failed to start: {exc}")
            if with_stream:
                self.stream = StreamResult(bytes_sent=self.cfg.stream_bytes, error="gateway failed to start")
            return
        # passthrough's targets divide by bare and nginx: measured in its rounds, alternated with the gateway
        comparators: dict[str, Proc] = {}
        counted: list[tuple[RunRecord, str]] = []  # cbr's target pairs, counted by callgrind afterwards
        try:
            if scenario == "passthrough":
                comparators = self._start_comparators()
            for size in self._sizes(scenario):
                body = payloads.soap_get_quote(size)
                rec = RunRecord(scenario, "gateway", payloads.size_label(size), len(body), f"{gw.url}/services/{proxy}")
                if scenario == "cbr":  # its target's denominator: passthrough on this gateway, alternated with it
                    twin_proxy, _ = artifacts.SCENARIO_ARTIFACTS["passthrough"]
                    twin = RunRecord(CBR_TWIN, "gateway", rec.size, len(body), f"{gw.url}/services/{twin_proxy}")
                    repeat = self._rounds(rec.size in report.CBR_VS_PASSTHROUGH)
                    self._measure_together([rec, twin], gw, body, self._soap_headers(), _soap_echo(body), repeat=repeat)
                    if rec.size in report.CBR_VS_PASSTHROUGH:
                        counted += [(rec, "cbr"), (twin, "passthrough")]
                else:
                    recs = [rec, *self._comparator_records(comparators, size, body)]
                    procs = [gw, *comparators.values()]
                    repeat = self._rounds(rec.size in report.PASSTHROUGH_VS_BARE)
                    self._measure_together(recs, procs, body, self._soap_headers(), _soap_echo(body), repeat=repeat)
            if scenario == "passthrough":
                self._single_connection(gw, f"{gw.url}/services/{proxy}", comparators)
            if with_stream:
                self.stream = asyncio.run(stream_check(f"{gw.url}/services/{proxy}", self.cfg.stream_bytes, gw))
                growth = self.stream.growth_bytes
                log(
                    f"streaming {self.cfg.stream_bytes / MB:.0f} MB: status {self.stream.status},"
                    f" echoed {self.stream.bytes_echoed:,} bytes, RSS growth"
                    f" {'?' if growth is None else f'{growth / MB:.1f} MB'}"
                    + (f", error: {self.stream.error}" if self.stream.error else "")
                )
        finally:
            self._release(gw)
            for proc in comparators.values():
                self.pm.stop(proc)
        # After the gateway stopped: the req/s ratio moves with the host, the work per request does not.
        for counted_rec, flow in counted:
            self._count_instructions(counted_rec, flow)

    def run_passthrough(self) -> None:
        self._soap_gateway("passthrough", with_stream=self.cfg.stream_bytes > 0)

    def run_cbr(self) -> None:
        self._soap_gateway("cbr", with_stream=False)

    def run_json_props(self) -> None:
        scenario = "json-props"
        proxy, _ = artifacts.SCENARIO_ARTIFACTS[scenario]
        sizes = self._sizes(scenario)
        if not sizes:
            self.notes.append("json-props: skipped, it only runs sizes up to 10k")
            return
        headers = {"Content-Type": payloads.JSON_CONTENT_TYPE}
        first = payloads.json_order(sizes[0])
        gw: Proc | None = None
        fallback = False
        error = ""
        for fallback in (False, True):
            art = artifacts.render(
                scenario,
                self.workdir / f"artifacts-{scenario}-{int(fallback)}",
                self.echo_url,
                fallback=fallback,
            )
            try:
                gw = self._start_gateway(scenario + ("-fallback" if fallback else ""), art)
            except StartError as exc:
                error = f"gateway failed to start: {exc}"
                continue
            check = probe(f"{gw.url}/services/{proxy}", first, headers, _json_props(not fallback))
            if check.ok or fallback:
                break
            error = f"probe failed (HTTP {check.status}: {check.detail}) {' | '.join(logged_errors(gw))}"
            self._release(gw)
            gw = None
        if gw is None:
            self._fail(scenario, "gateway", self._labels(scenario), error)
            return
        if fallback:
            self.notes.append(
                "json-props ran the FALLBACK proxy (properties + <respond/> echo, no payloadFactory)"
                " because the"
                f" full proxy did not work: {error}"
            )
        try:
            for size in sizes:
                body = payloads.json_order(size)
                rec = RunRecord(scenario, "gateway", payloads.size_label(size), len(body), f"{gw.url}/services/{proxy}")
                if fallback:
                    rec.notes.append("fallback: no payloadFactory")
                self._measure(rec, gw, body, headers, _json_props(not fallback))
        finally:
            self._release(gw)

    def run_api(self) -> None:
        """200 APIs deployed; one of them called, then the same flow as a proxy, on the same gateway."""
        scenario = "api"
        proxy, _ = artifacts.SCENARIO_ARTIFACTS[scenario]
        labels = self._labels(scenario)
        art = artifacts.render(scenario, self.workdir / f"artifacts-{scenario}", self.echo_url)
        try:
            gw = self._start_gateway(scenario, art)
        except StartError as exc:
            for name in (scenario, API_PROXY):
                self._fail(name, "gateway", labels, f"gateway failed to start: {exc}")
            return
        api_path = f"/shop{artifacts.API_TARGET:03d}/items/42"
        measured: list[RunRecord] = []
        try:
            for size in self._sizes(scenario):
                body = payloads.soap_get_quote(size)
                recs = [
                    RunRecord(name, "gateway", payloads.size_label(size), len(body), f"{gw.url}{path}")
                    for name, path in ((scenario, api_path), (API_PROXY, f"/services/{proxy}/items/42"))
                ]
                self._measure_together(
                    recs, gw, body, self._soap_headers(), _soap_echo(body), repeat=self._rounds(True)
                )
                measured += recs
        finally:
            self._release(gw)
        for rec in measured:  # after the gateway stopped: one worker of each flow under callgrind
            self._count_instructions(rec, rec.scenario)

    def run_split(self) -> None:
        """A 10-way iterate/aggregate and a 10-branch scatter-gather against the same 10 back-end calls made one
        after the other, on the same gateway (the back end answers each after 5 ms)."""
        scenario = "split"
        proxy, _ = artifacts.SCENARIO_ARTIFACTS[scenario]
        art = artifacts.render(scenario, self.workdir / f"artifacts-{scenario}", self.echo_url)
        try:
            gw = self._start_gateway(scenario, art)
        except StartError as exc:
            for name in (scenario, SPLIT_SEQUENTIAL, SCATTER_GATHER):
                self._fail(name, "gateway", [SPLIT_LABEL, SPLIT_ONE_CONN], f"gateway failed to start: {exc}")
            return
        body = payloads.soap_multiple_quotes()
        try:
            # With all connections the CPU decides; over one connection, whether the ten waits overlap (the smoke
            # run leaves that out: the single-connection path is the passthrough's).
            legs = [(SPLIT_LABEL, False)] + ([] if self.cfg.smoke else [(SPLIT_ONE_CONN, True)])
            for label, single in legs:
                recs = [
                    RunRecord(name, "gateway", label, len(body), f"{gw.url}/services/{target}")
                    for name, target in (
                        (scenario, proxy),
                        (SPLIT_SEQUENTIAL, artifacts.SPLIT_SEQUENTIAL_PROXY),
                        (SCATTER_GATHER, artifacts.SCATTER_GATHER_PROXY),
                    )
                ]
                self._measure_together(recs, gw, body, self._soap_headers(), _quotes_back, single_connection=single)
        finally:
            self._release(gw)

    def _gateway_config(self, name: str, **sections: Any) -> Path:
        """bench/gateway.yaml with some sections replaced, written into the run directory."""
        document = yaml.safe_load((REPO / "bench" / "gateway.yaml").read_text(encoding="utf-8")) or {}
        document.update(sections)
        path = self.workdir / f"gateway-{name}.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return path

    def run_metrics(self) -> None:
        """The cost of metrics: two gateways of the same artifacts, metrics on and off, measured alternately."""
        proxy, _ = artifacts.SCENARIO_ARTIFACTS["passthrough"]
        art = artifacts.render("passthrough", self.workdir / "artifacts-metrics", self.echo_url)
        size = self._sizes("metrics")[0]
        label = payloads.size_label(size)
        launches = [
            (f"gateway-{name}", self._gateway_argv(art, config=self._gateway_config(name, metrics={"enabled": on})))
            for name, on in ((METRICS_ON, True), (METRICS_OFF, False))
        ]
        try:
            gateways = self._start_together(launches)
        except StartError as exc:
            for name in (METRICS_ON, METRICS_OFF):
                self._fail(name, "gateway", [label], f"gateway failed to start: {exc}")
            return
        body = payloads.soap_get_quote(size)
        try:
            recs = [
                RunRecord(name, "gateway", label, len(body), f"{gw.url}/services/{proxy}")
                for name, gw in zip((METRICS_ON, METRICS_OFF), gateways, strict=True)
            ]
            self._measure_together(
                recs, gateways, body, self._soap_headers(), _soap_echo(body), repeat=self.cfg.metrics_repeat
            )
        finally:
            for gw in gateways:
                self.pm.stop(gw)
        for rec, extra in zip(recs, ((), ("--no-metrics",)), strict=True):
            self._count_instructions(rec, "passthrough", *extra)

    def run_scaling(self) -> None:
        """--workers 2 against --workers 1, for the gateway (passthrough) and the bare proxy, in one run."""
        proxy, _ = artifacts.SCENARIO_ARTIFACTS["passthrough"]
        art = artifacts.render("passthrough", self.workdir / "artifacts-scaling", self.echo_url)
        size = self._sizes("scaling")[0]
        label = payloads.size_label(size)
        launches: list[tuple[str, list[str]]] = []
        for server in SCALING_SERVERS:
            kind, workers = server.split("-w")
            if kind == "gateway":
                launches.append((f"scaling-{server}", self._gateway_argv(art, workers=int(workers))))
            else:
                argv = [
                    sys.executable, "-m", "bench.bare_proxy", "--port", "{port}",
                    "--workers", workers, "--backend", self.echo_url,
                ]  # fmt: skip
                launches.append((f"scaling-{server}", argv))
        try:
            servers = self._start_together(launches)
        except StartError as exc:
            for server in SCALING_SERVERS:
                self._fail(SCALING, server, [label], f"a server failed to start: {exc}")
            return
        body = payloads.soap_get_quote(size)
        try:
            recs = [
                RunRecord(
                    SCALING,
                    name,
                    label,
                    len(body),
                    f"{proc.url}/services/{proxy}" if name.startswith("gateway") else f"{proc.url}/echo",
                )
                for name, proc in zip(SCALING_SERVERS, servers, strict=True)
            ]
            self._measure_together(recs, servers, body, self._soap_headers(), _soap_echo(body))
        finally:
            for proc in servers:
                self.pm.stop(proc)

    def run_stores(self) -> None:
        """Durable enqueue: the store mediator's path (one worker) against the raw backend written directly with
        the same durability (bench/stores.py). The three gateways start together, then are measured in turn; each
        gateway run is followed by a run of the raw writers, and the ratio pairs them round by round."""
        connections = min(self.cfg.connections, STORES_CONNECTIONS)
        headers = {"Content-Type": "application/json"}
        launched: list[tuple[str, str, Path, Proc]] = []
        for backend in STORE_BACKENDS:
            if backend == "rabbitmq" and not reachable(*RABBITMQ):
                self._fail(STORES, "gateway", [backend], f"RabbitMQ not reachable on {RABBITMQ[0]}:{RABBITMQ[1]}")
                continue
            queue = f"bench-{os.getpid()}-{int(time.time())}"
            root = self.workdir / f"artifacts-stores-{backend}"
            (root / "proxies").mkdir(parents=True)
            (root / "message-stores").mkdir()
            (root / "proxies" / "Enqueue.xml").write_text(stores.PROXY, encoding="utf-8")
            store = stores.STORES[backend].format(db=root / "gateway.db", queue=queue)
            (root / "message-stores" / "Queue.xml").write_text(store, encoding="utf-8")
            launched.append(
                (backend, queue, root, self._launch(f"gateway-stores-{backend}", self._gateway_argv(root, 1)))
            )
        for backend, queue, root, gw in launched:
            try:
                self._ready(gw, timeout=self.cfg.gateway_timeout + 10 * len(launched))
            except StartError as exc:
                self._fail(STORES, "gateway", [backend], f"gateway failed to start: {exc}", len(stores.BODY))
                continue
            rec = RunRecord(STORES, "gateway", backend, len(stores.BODY), f"{gw.url}/services/Enqueue")
            raw = RunRecord(STORES, "raw", backend, len(stores.BODY), connections=connections)
            raw.url = "sqlite WAL synchronous=FULL" if backend == "sqlite" else "amqp://127.0.0.1:5672 confirms"
            raw_runs: list[float] = []

            try:
                self._measure_together(
                    [rec],
                    gw,
                    stores.BODY,
                    headers,
                    _accepted,
                    connections=connections,
                    repeat=self._rounds(backend != "memory"),  # SQLite's and RabbitMQ's ratios are targets
                    # the raw writers run in the gateway's rounds, right after each of its runs: the ratio pairs them
                    after_round=None
                    if backend == "memory"
                    else functools.partial(self._raw_round, raw, raw_runs, backend, root, queue, connections),
                )
            finally:
                self.pm.stop(gw)
            if backend == "memory":
                continue
            raw.round_group = rec.round_group
            self._record_raw_store(raw, raw_runs)
            if backend == "rabbitmq":
                asyncio.run(_delete_queue(queue))

    def _raw_round(
        self, raw: RunRecord, runs: list[float], backend: str, root: Path, queue: str, connections: int, index: int
    ) -> None:
        if raw.error is not None:
            return
        try:
            runs.append(self._raw_store_run(backend, root, queue, connections, index))
        except Exception as exc:  # noqa: BLE001 - any failure of the raw writers is a failed comparator row
            raw.error = f"raw {backend} writers failed: {type(exc).__name__}: {exc}"

    def _raw_store_run(self, backend: str, root: Path, queue: str, connections: int, index: int) -> float:
        if backend == "sqlite":
            return asyncio.run(stores.raw_sqlite(root / f"raw{index}.db", connections, self.cfg.duration))
        return asyncio.run(stores.raw_rabbitmq(f"{queue}-raw{index}", connections, self.cfg.duration))

    def _record_raw_store(self, rec: RunRecord, runs: list[float]) -> None:
        if runs:
            median = sorted(runs)[len(runs) // 2]
            requests = round(median * self.cfg.duration)
            rec.load = LoadResult(
                generator="in-process writers", requests=requests, duration_s=self.cfg.duration, rps=median
            )
            rec.runs_rps = runs
        self.records.append(rec)
        self._log_record(rec)

    def run_seed_sms(self) -> None:
        """The seed proxy against the hand-written service, each calling a Twilio sandbox of its own (neither
        pays for the other's stored messages); both run together and are measured in alternate rounds, as the
        other targets' pairs are, so that the ratio is the median of the rounds' ratios."""
        scenario = "seed-sms"
        proxy, _ = artifacts.SCENARIO_ARTIFACTS[scenario]
        headers = {"Content-Type": payloads.JSON_CONTENT_TYPE}
        sandboxes: list[Proc] = []
        targets: list[Proc] = []
        recs: list[RunRecord] = []
        bodies: list[bytes] = []
        try:
            for server in ("hand-written", "gateway"):
                try:
                    sandbox, sid, token = self._start_sandbox()
                except StartError as exc:
                    self._fail(scenario, server, ["seed"], f"twilio sandbox failed to start: {exc}")
                    continue
                sandboxes.append(sandbox)
                body = payloads.seed_sms_request(sid, token, sandbox.url)
                try:
                    if server == "hand-written":
                        argv = [sys.executable, "-m", "bench.handwritten_sms", "--port", "{port}"]
                        target = self._start("hand-written", [*argv, "--workers", str(self.cfg.workers)])
                        url = f"{target.url}/sendSms"
                    else:
                        art = artifacts.render(scenario, self.workdir / f"artifacts-{scenario}", self.echo_url)
                        target = self._start_gateway(scenario, art)
                        url = f"{target.url}/services/{proxy}"
                except StartError as exc:
                    self._fail(scenario, server, ["seed"], f"{server} failed to start: {exc}", len(body))
                    continue
                targets.append(target)
                recs.append(RunRecord(scenario, server, "seed", len(body), url))
                bodies.append(body)
            if recs:
                repeat = self._rounds(decides_target=True)
                self._measure_together(recs, targets, bodies, headers, _twilio_message, repeat=repeat)
        finally:
            for target in targets:
                self._release(target)
            for sandbox in sandboxes:
                self.pm.stop(sandbox)
        if len(recs) == 2:  # after both stopped: the work per request, which the host's speed does not move
            handwritten, gateway = recs
            self._count_sms_instructions(gateway, handwritten)


def _accepted(status: int, body: bytes) -> tuple[bool, str]:
    """The stores scenario: the proxy stores the message and answers 202 at once."""
    if not 200 <= status < 300:
        return False, body[:200].decode(errors="replace")
    return True, f"HTTP {status}"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


async def _delete_queue(queue: str) -> None:
    """The gateway's store queue of the stores scenario, emptied and removed after the run."""
    import aio_pika

    try:
        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)
    except Exception as exc:  # noqa: BLE001 - a queue left behind is not worth failing the report
        log(f"could not delete RabbitMQ queue {queue}: {exc}")


def _cpu_us(run: LoadResult, cpu_seconds: float) -> float | None:
    return cpu_seconds * 1e6 / run.requests if run.requests and not run.error else None


def logged_errors(proc: Proc, limit: int = 5) -> list[str]:
    """The distinct ERROR lines a server logged (e.g. why an artifact was not deployed)."""
    found: list[str] = []
    for line in proc.tail(400).splitlines():
        if " ERROR " in line or line.startswith(("Traceback", "error:")):
            text = line.split(" ERROR ", 1)[-1].strip()[:400]
            if text not in found:
                found.append(text)
    return found[-limit:]


def sandbox_account(sandbox: Proc) -> tuple[str, str]:
    """The sandbox's default test account, from its ``GET /_sandbox`` index."""
    status, body = http_get(f"{sandbox.url}/_sandbox")
    if status != 200:
        raise ValueError(f"GET /_sandbox answered HTTP {status}")
    index = orjson.loads(body)
    return str(index["default_account_sid"]), str(index["default_auth_token"])


def configure_sandbox(sandbox: Proc) -> None:
    """Zero artificial delay: answers at once, and status timers finish at once instead of lingering. The
    per-sender throughput model is off: at bench rates one long code would queue hours of sending, one timer
    per message, and the sandbox (not the server measured) would slow down as they pile up."""
    data = orjson.dumps({"response_delay": 0, "status_delays": [0, 0], "rate_limit": False, "throughput": False})
    req = urllib.request.Request(
        f"{sandbox.url}/_sandbox/config",
        data=data,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with _OPENER.open(req, timeout=5) as resp:
        if resp.status != 200:
            raise ValueError(f"POST /_sandbox/config answered HTTP {resp.status}")


# ---------------------------------------------------------------------------- streaming check


async def stream_check(url: str, total: int, gateway: Proc) -> StreamResult:
    """POST ``total`` bytes from a generator through the gateway; count the echo; record RSS growth."""
    result = StreamResult(bytes_sent=total)
    chunk = b"x" * 65536

    async def body() -> Any:
        sent = 0
        while sent < total:
            piece = chunk[: min(len(chunk), total - sent)]
            sent += len(piece)
            yield piece

    await asyncio.sleep(0.5)  # let the load run's buffers settle before the baseline
    hwm_ok = reset_peak_rss(gateway.pid)
    result.baseline_rss_bytes = tree_rss(gateway.pid)
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=300, sock_read=60)
    with RssMonitor(gateway.pid, interval=0.02) as monitor:
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                headers = {"Content-Type": "application/octet-stream"}
                async with session.post(url, data=body(), headers=headers) as resp:
                    result.status = resp.status
                    async for piece in resp.content.iter_chunked(65536):
                        result.bytes_echoed += len(piece)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - started
    result.peak_rss_bytes = max(monitor.peak, tree_peak_rss(gateway.pid) if hwm_ok else 0)
    if result.status is not None and not 200 <= result.status < 300 and not result.error:
        result.error = f"HTTP {result.status}"
    return result


# ---------------------------------------------------------------------------- CLI


def _apt_install(packages: tuple[str, ...], installed: Callable[[], str | None]) -> bool:
    """As root with apt-get: install the first of ``packages`` that works (refreshing the index once)."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 300, "check": False}
    updated = False
    for package in packages:
        log(f"trying apt-get install -y {package}")
        install = ["apt-get", "install", "-y", package]
        if subprocess.run(install, **quiet).returncode != 0 and not updated:  # type: ignore[call-overload]
            subprocess.run(["apt-get", "update"], **quiet)  # type: ignore[call-overload]
            updated = True
            subprocess.run(install, **quiet)  # type: ignore[call-overload]
        if installed():
            return True
    return False


def _install_wrk() -> bool:
    log("wrk not found")
    return _apt_install(("wrk",), wrk_path)


def _install_nginx() -> bool:
    log("nginx not found")
    return _apt_install(("nginx-light", "nginx"), nginx.nginx_path)


def choose_nginx(smoke: bool, allow_install: bool, wanted: bool) -> tuple[str | None, str]:
    """The nginx binary and its label, or None and why it is skipped. Smoke mode only uses one on PATH."""
    if not wanted:
        return None, "skipped: --no-nginx"
    path = nginx.nginx_path()
    if path is None and not smoke and allow_install and _install_nginx():
        path = nginx.nginx_path()
    if path is None:
        if smoke:
            why = "not on PATH; smoke mode never installs it"
        elif not allow_install:
            why = "not on PATH; --no-install"
        else:
            why = "not on PATH, and apt-get (as root) could not install it"
        return None, f"skipped: nginx not available ({why})"
    return path, f"{nginx.nginx_version(path)} ({path})"


def choose_valgrind(allow_install: bool) -> bool:
    """valgrind for the instruction counts of the cost targets (a full run installs it as root, as wrk)."""
    if shutil.which("valgrind"):
        return True
    log("valgrind not found")
    return allow_install and _apt_install(("valgrind",), lambda: shutil.which("valgrind"))


def choose_generator(requested: str, smoke: bool, allow_install: bool) -> tuple[str, str]:
    python_label = "python load generator (bench/pyload.py, one process; wrk not available)"
    if requested == "python":
        return "python", "python load generator (bench/pyload.py, one process; requested)"
    if wrk_path():
        return "wrk", wrk_version() or "wrk"
    # Smoke mode never installs anything: it must run wherever the tests run.
    if not smoke and allow_install and _install_wrk():
        return "wrk", wrk_version() or "wrk"
    if requested == "wrk":
        log("wrk requested but not available: using the python load generator")
    return "python", python_label


def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=int, help="seconds per measured run (default 10; smoke 1)")
    parser.add_argument("--repeat", type=int, help="runs per measurement, median reported (default 3; smoke 1)")
    parser.add_argument(
        "--single-repeat", type=int, help="single-connection runs per server, alternated (default 5; smoke 1)"
    )
    parser.add_argument("--metrics-repeat", type=int, help="metrics on/off rounds, alternated (default 9; smoke 1)")
    parser.add_argument(
        "--target-repeat",
        type=int,
        help="rounds of the alternated measurements a target divides: passthrough, bare and nginx at 1k,"
        " cbr at 1k and 10k, api (default 5; smoke 1)",
    )
    parser.add_argument("--warmup", type=int, help="seconds of warm-up before each run (default 2; smoke 0)")
    parser.add_argument("--connections", type=int, help="concurrent connections (default 100; smoke 4)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for gateway, bare, hand-written")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}")
    parser.add_argument("--sizes", help="comma list of body sizes (default 1k,10k,100k; smoke 1k)")
    parser.add_argument("--stream-mb", type=int, help="streaming passthrough body in MB (default 100; smoke 10; 0=off)")
    parser.add_argument("--smoke", action="store_true", help="a few seconds of tiny load: proves the harness works")
    parser.add_argument("--output", type=Path, help="report directory (default bench/results)")
    parser.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk or nginx")
    parser.add_argument("--no-nginx", action="store_true", help="leave out the nginx comparator")
    parser.add_argument("--gateway-timeout", type=float, default=30.0, help="seconds to wait for /healthz")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any target fails or any run errors")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary run directory with logs")
    parser.add_argument(
        "--soak", action="store_true", help="instead of the scenarios: the soak of the seed proxy (bench/soak.py)"
    )
    parser.add_argument("--soak-minutes", type=float, help="soak length in minutes (default 10; smoke 0.25)")
    parser.add_argument("--soak-capacity", type=int, help="seconds of the capacity measurement (default 10; smoke 3)")
    parser.add_argument("--soak-load", type=float, default=0.8, help="share of the measured capacity (default 0.8)")
    args = parser.parse_args(argv)

    smoke = bool(args.smoke)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    try:
        sizes = [payloads.parse_size(s) for s in (args.sizes or ("1k" if smoke else "1k,10k,100k")).split(",")]
    except ValueError as exc:
        parser.error(str(exc))
    generator, label = choose_generator(args.load_generator, smoke, not args.no_install)
    connections = args.connections or (4 if smoke else 100)
    nginx_bin, nginx_label = choose_nginx(smoke, not args.no_install, not args.no_nginx and not args.soak)
    return Config(
        smoke=smoke,
        duration=args.duration or (1 if smoke else 8),
        repeat=max(1, args.repeat or (1 if smoke else 3)),
        warmup=args.warmup if args.warmup is not None else (0 if smoke else 2),
        connections=connections,
        threads=max(1, min(args.threads, connections)),
        workers=max(1, args.workers),
        scenarios=scenarios,
        sizes=list(dict.fromkeys(sizes)),
        stream_bytes=(args.stream_mb if args.stream_mb is not None else (10 if smoke else 100)) * MB,
        output=args.output or REPO / "bench" / "results",
        generator=generator,
        generator_label=label,
        gateway_timeout=args.gateway_timeout,
        strict=args.strict,
        keep_logs=args.keep_logs,
        nginx=nginx_bin,
        nginx_label=nginx_label,
        soak=bool(args.soak),
        soak_minutes=args.soak_minutes or (0.25 if smoke else 10.0),
        soak_capacity_s=args.soak_capacity or (3 if smoke else 10),
        soak_load=args.soak_load,
        single_repeat=max(1, args.single_repeat or (1 if smoke else 5)),
        metrics_repeat=max(1, args.metrics_repeat or (1 if smoke else 9)),
        target_repeat=max(1, args.target_repeat or (1 if smoke else 5)),
        callgrind=not smoke
        and not args.soak
        and bool({"metrics", "api", "cbr", "seed-sms"} & set(scenarios))
        and choose_valgrind(not args.no_install),
    )


def standing_notes(cfg: Config) -> list[str]:
    notes = [
        "The load generator, the servers and the echo back end all share this machine's"
        f" {os.cpu_count()} cores;"
        " published WSO2 numbers use separate machines, so compare ratios, not absolute req/s.",
        "Peak RSS is the sum over the server's process tree of VmRSS sampled every 100 ms and of VmHWM (reset"
        " before each run); copy-on-write pages shared by forked workers count once per worker.",
        "Ratios only count when both runs answered correctly (probe ok) with at most 1% errors;"
        " otherwise they are marked ❌ invalid. A fast error is not a fast gateway.",
        "passthrough uses the same SOAP bodies as cbr, so cbr / passthrough isolates the cost of parsing and"
        " the XPath filter. bare is the floor: one aiohttp ClientSession forwarding bytes.",
        "nginx is the ceiling: the same N workers (reuseport), upstream keepalive, access log off, and"
        " proxy_request_buffering off + proxy_buffering off so that it streams both ways like the gateway's"
        " passthrough (bench/nginx.py writes its config into the run's temporary directory).",
        "CPU µs/req: user + system CPU time of the server's parent and all its workers (/proc/PID/stat),"
        " read before and after each measured run, summed over the runs and divided by the requests they"
        " completed. The echo back end's and the load generator's CPU are not included.",
        "seed-sms runs the seed's twilioRest proxy unchanged against the local Twilio sandbox"
        " (a sandbox of its own for each server, statusCallbackUrl emptied so no callbacks fire); the"
        " hand-written comparator does the same request with the twilio SDK's async client. Both run together"
        " and are measured alternately; the ratio is the median of the rounds' ratios.",
    ]
    notes.append(
        "load gen CPU: the load generator's own user + system CPU time (the kernel's accounting of the process,"
        " read as it is reaped) / its wall time / the cores; what it takes, the servers could not have."
    )
    if cfg.generator == "wrk":
        notes.append("wrk counts HTTP status >= 400 as 'non-2xx' (its 'Non-2xx or 3xx responses').")
    else:
        notes.append(
            "python load generator: wrk was not used. One Python process drives the load, so it saturates"
            " before the servers do: req/s are lower bounds and ratios are compressed towards 1."
        )
    if cfg.smoke:
        notes.append("smoke run: thresholds are shown but mean nothing at this load.")
    return notes


def read_soak_summary(output: Path, smoke: bool) -> dict[str, Any] | None:
    """The last soak's summary in the same directory (a full report quotes soak.json, a smoke one soak-smoke)."""
    path = output / ("soak-smoke.json" if smoke else "soak.json")
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    summary = data.get("summary") if isinstance(data, dict) else None
    return summary if isinstance(summary, dict) else None


@contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    if cfg.soak:
        from bench import soak

        return soak.main(cfg)
    log(f"{'smoke' if cfg.smoke else 'full'} run with {cfg.generator_label}; report -> {cfg.output}")
    started = time.monotonic()
    machine = report.machine_info(cfg.generator_label)  # before the run: how busy the machine is without us
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    bench: Bench | None = None
    interrupted = ""
    with _terminate_on_sigterm():
        try:
            with ProcessManager(workdir / "logs", REPO) as pm:
                bench = Bench(cfg, pm, workdir)
                try:
                    bench.run()
                except (KeyboardInterrupt, SystemExit) as exc:
                    interrupted = f"interrupted ({type(exc).__name__}); the report is partial"
                    raise
                except Exception as exc:  # noqa: BLE001 - any bug still yields a report of what ran
                    interrupted = f"runner error: {type(exc).__name__}: {exc}; the report is partial"
                    log(interrupted)
        finally:
            if bench is not None:
                notes = standing_notes(cfg) + bench.notes
                notes.append(f"This run took {(time.monotonic() - started) / 60:.1f} minutes (wall clock).")
                # every server is stopped by now: the machine's speed at the end, beside the one at the start
                machine["speed_probe_ms_after_run"] = report.speed_probe_ms()
                built = report.build(
                    mode="smoke" if cfg.smoke else "full",
                    machine=machine,
                    settings=cfg.settings(),
                    records=bench.records,
                    stream=bench.stream,
                    notes=notes,
                    partial=interrupted,
                    soak=read_soak_summary(cfg.output, cfg.smoke),
                )
                md_path, json_path = report.write(built, cfg.output, cfg.stem)
                log(f"report written: {md_path} and {json_path}")
                if cfg.keep_logs:
                    log(f"logs kept in {workdir / 'logs'}")
                else:
                    shutil.rmtree(workdir, ignore_errors=True)
    if bench is None:
        return 1
    if cfg.strict:
        bad = [c for c in built["comparisons"] + built["latency_checks"] if c["status"] in ("fail", "invalid")]
        if bad or built["problems"] or (built["stream_check"] or {}).get("status") in ("fail", "invalid"):
            return 1
    return 0
