"""``python -m bench``: start every process a scenario needs on loopback, load it, write the report.

Every server runs as its own subprocess on a free 127.0.0.1 port and is stopped on any exit (normal end,
exception, Ctrl-C or SIGTERM). A server that fails to start becomes a per-scenario error in the report,
not a crash of the runner.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import orjson

from bench import artifacts, nginx, payloads, report
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
    MB,
    SCATTER_GATHER,
    SINGLE_CONN,
    SPLIT_LABEL,
    SPLIT_SEQUENTIAL,
    Probe,
    RunRecord,
    StreamResult,
)

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = ("passthrough", "cbr", "json-props", "seed-sms", "api", "split")
JSON_PROPS_MAX_SIZE = 10 * 1024
SINGLE_CONN_SIZE = 1024
# The one place that names the gateway package: `python -m gateway serve|twilio-sandbox ...`.
GATEWAY_MODULE = "gateway"


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

    @property
    def stem(self) -> str:
        return "smoke" if self.smoke else "latest"

    def settings(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration,
            "runs per measurement": f"{self.repeat} (the median-req/s run is reported)",
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
            "single connection": "passthrough 1k, 1 connection, 1 thread, same duration and runs",
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
        self.workdir = workdir
        self.records: list[report.RunRecord] = []
        self.stream: StreamResult | None = None
        self.notes: list[str] = []
        self.echo: Proc | None = None

    # -- processes

    def _start(
        self,
        name: str,
        argv: list[str],
        ready_path: str = "/healthz",
        timeout: float = 20.0,
        any_status: bool = False,
        port: int | None = None,
    ) -> Proc:
        port = port or free_port()
        argv = [a.replace("{port}", str(port)) for a in argv]
        started = time.monotonic()
        proc = self.pm.start(name, argv, port)
        try:
            self.pm.wait_ready(proc, ready_path, timeout=timeout, any_status=any_status)
        except StartError:
            self.pm.stop(proc)
            raise
        log(f"{name} ready on {proc.url} in {time.monotonic() - started:.1f}s")
        return proc

    def _start_gateway(self, scenario: str, artifact_dir: Path) -> Proc:
        argv = gateway_command(
            "serve",
            "--artifacts", str(artifact_dir),
            "--host", "127.0.0.1",
            "--port", "{port}",
            "--workers", str(self.cfg.workers),
            "--config", str(REPO / "bench" / "gateway.yaml"),
        )  # fmt: skip
        started = time.monotonic()
        proc = self._start(f"gateway-{scenario}", argv, timeout=self.cfg.gateway_timeout)
        self.notes.append(f"gateway ({scenario}) became ready in {time.monotonic() - started:.1f}s")
        return proc

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
    ) -> RunRecord:
        return self._measure_together([rec], proc, body, headers, validate, single_connection)[0]

    def _measure_together(
        self,
        recs: list[RunRecord],
        proc: Proc,
        body: bytes,
        headers: dict[str, str],
        validate: Validator,
        single_connection: bool = False,
    ) -> list[RunRecord]:
        """Measure one or more URLs of the same server; with several, their repeats alternate (A B, B A, …) so
        that a drift of this shared machine's speed weighs on each the same."""
        specs = []
        for rec in recs:
            rec.probe = probe(rec.url, body, headers, validate)
            if not rec.probe.ok:
                rec.notes += logged_errors(proc)
            spec = LoadSpec(rec.url, body, headers, self.cfg.connections, self.cfg.threads, self.cfg.duration)
            if single_connection:
                spec = replace(spec, connections=1, threads=1)
            rec.connections = spec.connections
            loaddir = self.workdir / "load" / f"{rec.scenario}-{rec.server}-{rec.size}"
            if self.cfg.warmup > 0:
                run_load(replace(spec, duration=self.cfg.warmup), loaddir / "warmup", self.cfg.generator, REPO)
            specs.append((spec, loaddir))
        hwm_ok = reset_peak_rss(proc.pid)
        # This machine's throughput varies run to run (shared cores): several runs, the median one counts.
        runs: list[list[LoadResult]] = [[] for _ in recs]
        cpu_seconds: list[list[float]] = [[] for _ in recs]
        with RssMonitor(proc.pid) as monitor:
            for index in range(self.cfg.repeat):
                order = list(range(len(recs)))
                for leg in order if index % 2 == 0 else order[::-1]:
                    spec, loaddir = specs[leg]
                    before = tree_cpu_seconds(proc.pid)
                    runs[leg].append(run_load(spec, loaddir / f"run{index}", self.cfg.generator, REPO))
                    cpu_seconds[leg].append(tree_cpu_seconds(proc.pid) - before)
        for rec, leg_runs, leg_cpu in zip(recs, runs, cpu_seconds, strict=True):
            rec.load = sorted(leg_runs, key=lambda r: (r.error is None, r.rps))[len(leg_runs) // 2]
            rec.runs_rps = [r.rps for r in leg_runs]
            rec.runs_cpu_us = [_cpu_us(run, cpu) for run, cpu in zip(leg_runs, leg_cpu, strict=True)]
            # Over all repeats: total CPU time / total requests (a failed repeat counts for neither).
            counted = [(run.requests, cpu) for run, cpu in zip(leg_runs, leg_cpu, strict=True) if _cpu_us(run, cpu)]
            served = sum(requests for requests, _ in counted)
            rec.cpu_us_per_request = sum(cpu for _, cpu in counted) * 1e6 / served if served else None
            rec.peak_rss_bytes = max(monitor.peak, tree_peak_rss(proc.pid) if hwm_ok else 0) or None
            if not proc.alive():
                rec.error = f"{proc.name} died during the run (exit {proc.popen.returncode})\n{proc.tail()}"
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
        log(
            f"{where}: {load.rps:,.0f} req/s p50 {load.p50_ms or 0:.2f} ms p99 {load.p99_ms or 0:.2f} ms,"
            f" {cpu} CPU µs/req, {load.non2xx} non-2xx, {load.socket_errors} socket errors, {probe_txt}"
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
        if wanted & {"passthrough", "cbr", "api"}:
            self.run_bare()
            self.run_nginx()
        for scenario in self.cfg.scenarios:
            {
                "passthrough": self.run_passthrough,
                "cbr": self.run_cbr,
                "json-props": self.run_json_props,
                "seed-sms": self.run_seed_sms,
                "api": self.run_api,
                "split": self.run_split,
            }[scenario]()

    def _labels(self, scenario: str) -> list[str]:
        fixed = {"seed-sms": ["seed"], "split": [SPLIT_LABEL]}
        return fixed.get(scenario) or [payloads.size_label(s) for s in self._sizes(scenario)]

    def _sizes(self, scenario: str) -> list[int]:
        if scenario == "json-props":
            return [s for s in self.cfg.sizes if s <= JSON_PROPS_MAX_SIZE]
        return list(self.cfg.sizes)

    @property
    def echo_url(self) -> str:
        assert self.echo is not None
        return f"{self.echo.url}/echo"

    @staticmethod
    def _soap_headers() -> dict[str, str]:
        return {"Content-Type": payloads.SOAP_CONTENT_TYPE, "SOAPAction": payloads.SOAP_ACTION}

    @property
    def _single_conn_wanted(self) -> bool:
        return "passthrough" in self.cfg.scenarios

    def _comparator_labels(self) -> list[str]:
        return [payloads.size_label(s) for s in self.cfg.sizes]

    def _run_comparator(self, server: str, proc: Proc) -> None:
        """Pass-through comparator (bare, nginx): every size, then the single-connection run."""
        try:
            for size in self.cfg.sizes:
                body = payloads.soap_get_quote(size)
                rec = RunRecord(server, server, payloads.size_label(size), len(body), f"{proc.url}/echo")
                self._measure(rec, proc, body, self._soap_headers(), _soap_echo(body))
            if self._single_conn_wanted:
                self._measure_single_connection(server, proc, f"{proc.url}/echo")
        finally:
            self.pm.stop(proc)

    def _measure_single_connection(self, server: str, proc: Proc, url: str) -> None:
        body = payloads.soap_get_quote(SINGLE_CONN_SIZE)
        rec = RunRecord(SINGLE_CONN, server, payloads.size_label(SINGLE_CONN_SIZE), len(body), url)
        self._measure(rec, proc, body, self._soap_headers(), _soap_echo(body), single_connection=True)

    def run_bare(self) -> None:
        argv = [
            sys.executable, "-m", "bench.bare_proxy", "--port", "{port}",
            "--workers", str(self.cfg.workers), "--backend", self.echo_url,
        ]  # fmt: skip
        try:
            bare = self._start("bare-proxy", argv)
        except StartError as exc:
            self._fail("bare", "bare", self._comparator_labels(), str(exc))
            return
        self._run_comparator("bare", bare)

    def run_nginx(self) -> None:
        if self.cfg.nginx is None:
            self.notes.append(f"nginx comparator: {self.cfg.nginx_label}.")
            log(f"nginx: {self.cfg.nginx_label}")
            return
        assert self.echo is not None
        port = free_port()
        conf = nginx.render_config(self.workdir / "nginx", self.cfg.nginx, port, self.echo.port, self.cfg.workers)
        try:
            proc = self._start("nginx", nginx.command(self.cfg.nginx, conf), port=port)
        except StartError as exc:
            self._fail("nginx", "nginx", self._comparator_labels(), f"nginx failed to start: {exc}")
            return
        self._run_comparator("nginx", proc)

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
        try:
            for size in self._sizes(scenario):
                body = payloads.soap_get_quote(size)
                rec = RunRecord(scenario, "gateway", payloads.size_label(size), len(body), f"{gw.url}/services/{proxy}")
                self._measure(rec, gw, body, self._soap_headers(), _soap_echo(body))
            if scenario == "passthrough":
                self._measure_single_connection("gateway", gw, f"{gw.url}/services/{proxy}")
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
            self.pm.stop(gw)

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
            self.pm.stop(gw)
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
            self.pm.stop(gw)

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
        try:
            for size in self._sizes(scenario):
                body = payloads.soap_get_quote(size)
                recs = [
                    RunRecord(name, "gateway", payloads.size_label(size), len(body), f"{gw.url}{path}")
                    for name, path in ((scenario, api_path), (API_PROXY, f"/services/{proxy}/items/42"))
                ]
                self._measure_together(recs, gw, body, self._soap_headers(), _soap_echo(body))
        finally:
            self.pm.stop(gw)

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
                self._fail(name, "gateway", [SPLIT_LABEL], f"gateway failed to start: {exc}")
            return
        body = payloads.soap_multiple_quotes()
        try:
            recs = [
                RunRecord(name, "gateway", SPLIT_LABEL, len(body), f"{gw.url}/services/{target}")
                for name, target in (
                    (scenario, proxy),
                    (SPLIT_SEQUENTIAL, artifacts.SPLIT_SEQUENTIAL_PROXY),
                    (SCATTER_GATHER, artifacts.SCATTER_GATHER_PROXY),
                )
            ]
            self._measure_together(recs, gw, body, self._soap_headers(), _quotes_back)
        finally:
            self.pm.stop(gw)

    def run_seed_sms(self) -> None:
        scenario = "seed-sms"
        proxy, _ = artifacts.SCENARIO_ARTIFACTS[scenario]
        headers = {"Content-Type": payloads.JSON_CONTENT_TYPE}
        # A fresh sandbox per server so that neither pays for the other's stored messages.
        for server in ("hand-written", "gateway"):
            try:
                sandbox, sid, token = self._start_sandbox()
            except StartError as exc:
                self._fail(scenario, server, ["seed"], f"twilio sandbox failed to start: {exc}")
                continue
            try:
                body = payloads.seed_sms_request(sid, token, sandbox.url)
                if server == "hand-written":
                    argv = [
                        sys.executable,
                        "-m",
                        "bench.handwritten_sms",
                        "--port",
                        "{port}",
                        "--workers",
                        str(self.cfg.workers),
                    ]
                    try:
                        target = self._start("hand-written", argv)
                    except StartError as exc:
                        self._fail(scenario, server, ["seed"], str(exc), len(body))
                        continue
                    url = f"{target.url}/sendSms"
                else:
                    art = artifacts.render(scenario, self.workdir / f"artifacts-{scenario}", self.echo_url)
                    try:
                        target = self._start_gateway(scenario, art)
                    except StartError as exc:
                        self._fail(scenario, server, ["seed"], f"gateway failed to start: {exc}", len(body))
                        continue
                    url = f"{target.url}/services/{proxy}"
                try:
                    rec = RunRecord(scenario, server, "seed", len(body), url)
                    self._measure(rec, target, body, headers, _twilio_message)
                finally:
                    self.pm.stop(target)
            finally:
                self.pm.stop(sandbox)


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
    """Zero artificial delay: answers at once, and status timers finish at once instead of lingering."""
    data = orjson.dumps({"response_delay": 0, "status_delays": [0, 0], "rate_limit": False})
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
    nginx_bin, nginx_label = choose_nginx(smoke, not args.no_install, not args.no_nginx)
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
        " (fresh sandbox per server, statusCallbackUrl emptied so no callbacks fire); the hand-written"
        " comparator does the same request with the twilio SDK's async client.",
    ]
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
    log(f"{'smoke' if cfg.smoke else 'full'} run with {cfg.generator_label}; report -> {cfg.output}")
    machine = report.machine_info(cfg.generator_label)  # before the run: the load average is the machine's own
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
                built = report.build(
                    mode="smoke" if cfg.smoke else "full",
                    machine=machine,
                    settings=cfg.settings(),
                    records=bench.records,
                    stream=bench.stream,
                    notes=notes,
                    partial=interrupted,
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
