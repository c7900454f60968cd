"""The benchmark harness runs end to end (``python -m bench --smoke``) and writes its report.

It asserts that the report exists and covers every scenario, never any speed threshold.
Deselect with ``-m "not bench_smoke"``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import nginx, report
from bench.load import LoadResult, lua_script, parse_wrk_json, parse_wrk_text, run_measured
from bench.payloads import json_order, parse_size, soap_get_quote
from bench.procs import tree_cpu_seconds
from bench.report import METRICS_OFF, METRICS_ON, Probe, RunRecord
from bench.runner import RABBITMQ, SCENARIOS, reachable

REPO = Path(__file__).resolve().parent.parent

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:8290/services/PassThrough
  2 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.21ms    2.04ms  41.37ms   86.17%
    Req/Sec     6.13k   512.33     7.02k    71.00%
  Latency Distribution
     50%    7.90ms
     75%    8.80ms
     90%   10.12ms
     99%    1.02s
  122010 requests in 10.00s, 139.27MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 17
Requests/sec:  12199.38
Transfer/sec:     13.93MB
"""


def test_parse_wrk_text() -> None:
    result = parse_wrk_text(WRK_OUTPUT)
    assert result.requests == 122010
    assert result.rps == pytest.approx(12199.38)
    assert result.p50_ms == pytest.approx(7.90)
    assert result.p99_ms == pytest.approx(1020.0)
    assert result.non2xx == 17
    assert result.socket_errors == 5
    assert result.bytes_read == int(139.27 * 1024 * 1024)


def test_parse_wrk_json_summary() -> None:
    line = (
        'BENCH_JSON {"requests":1000,"duration_us":2000000,"bytes":5000,"connect":0,"read":1,"write":0,'
        '"status":4,"timeout":0,"p50_us":1500,"p99_us":9000,"mean_us":1700.5,"max_us":12000}'
    )
    result = parse_wrk_json("noise\n" + line + "\n")
    assert result is not None
    assert result.rps == pytest.approx(500.0)
    assert result.p50_ms == pytest.approx(1.5)
    assert result.p99_ms == pytest.approx(9.0)
    assert (result.non2xx, result.socket_errors) == (4, 1)
    assert result.error_rate == pytest.approx(5 / 1001)


def test_lua_script_escapes_headers(tmp_path: Path) -> None:
    script = lua_script(tmp_path / "body.bin", {"SOAPAction": '"urn:getQuote"'})
    assert 'wrk.headers["SOAPAction"] = "\\"urn:getQuote\\""' in script
    assert 'wrk.method = "POST"' in script


def test_payload_sizes_are_exact() -> None:
    for size in ("1k", "10k", "100k"):
        n = parse_size(size)
        assert len(soap_get_quote(n)) == n
        assert len(json_order(n)) == n
        json.loads(json_order(n))


# A parent and a forked worker each burn 0.3 s of CPU time (process time, not wall clock), then idle.
_BURNER = """
import os, sys, time
os.fork()
while time.process_time() < 0.3:
    pass
print("burned", flush=True)
time.sleep(60)
"""


def test_tree_cpu_seconds_counts_parent_and_workers() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _BURNER], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"burned\n"
        assert proc.stdout.readline() == b"burned\n"
        # Both processes' time counts: the parent alone would be about 0.3 s.
        assert tree_cpu_seconds(proc.pid) >= 0.55
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_the_load_generators_own_cpu_time_is_measured(tmp_path: Path) -> None:
    # A generator that burns 0.3 s of CPU, then sleeps 0.3 s: its CPU time is counted, its wall time is longer.
    code = "import time\nwhile time.process_time() < 0.3:\n    pass\ntime.sleep(0.3)\nprint('done')"
    finished = run_measured([sys.executable, "-c", code], tmp_path, timeout=60)
    assert finished is not None and finished.returncode == 0 and finished.stdout == "done\n"
    assert 0.29 <= finished.cpu_s < finished.wall_s
    load = LoadResult(generator="wrk", client_cpu_s=1.0, client_wall_s=2.0)
    assert load.client_cpu_share == pytest.approx(0.5 / (os.cpu_count() or 1))


def _full_report(records: list[RunRecord], soak: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report a full run at 1k with 100 connections would build from these records."""
    return report.build(
        mode="full",
        machine={"busy_before_run": False},
        settings={"sizes": ["1k"], "connections": 100},
        records=records,
        stream=None,
        notes=[],
        soak=soak,
    )


def _record(scenario: str, server: str, size: str, rps: float, p99: float = 1.0) -> RunRecord:
    load = LoadResult(generator="wrk", requests=int(rps * 10), duration_s=10.0, rps=rps, p50_ms=p99 / 2, p99_ms=p99)
    return RunRecord(scenario, server, size, 1024, load=load, probe=Probe(200, True))


def test_the_single_connection_ratios_divide_the_medians_of_the_runs_percentiles() -> None:
    # The reported (median-req/s) gateway run had one burst of other work: p99 5 ms. The median of its runs' p99
    # is 1.05 ms, 1.05× bare's median: the target holds. One run's p99 alone would have said 5×.
    gateway = _record("single-conn", "gateway", "1k", 500.0, p99=5.0)
    gateway.runs_p99_ms, gateway.runs_p50_ms = [1.05, 5.0, 0.9, 1.1, 1.0], [0.3, 0.4, 0.3, 0.3, 0.3]
    bare = _record("single-conn", "bare", "1k", 600.0, p99=1.0)
    bare.runs_p99_ms, bare.runs_p50_ms = [1.0, 0.8, 1.2, 1.0, 3.0], [0.4, 0.4, 0.4, 0.4, 0.4]
    built = _full_report([gateway, bare])
    ratios = {r["name"]: r["value"] for r in built["single_connection"]["ratios"]}
    assert ratios["gateway / bare p99"] == pytest.approx(1.05)
    assert ratios["gateway / bare p50"] == pytest.approx(0.75)
    rows = {row["target"]: row for row in built["targets"]}
    assert rows["single-connection p99 ≤ 1.1× bare (passthrough 1k)"]["status"] == "pass"
    text = report.render_markdown(built)
    assert "| 1.05 / 5.00 / 0.90 / 1.10 / 1.00 |" in text  # every run's p99 is listed


def test_alternated_records_are_compared_round_by_round() -> None:
    # The machine slowed down from round to round (8,000 -> 6,000 req/s); within each round metrics-on ran 1-2%
    # below metrics-off. Median over median would mix rounds (7,000 / 7,900 = 0.89); the rounds' ratios do not.
    on = _record(METRICS_ON, "gateway", "1k", 7000.0)
    off = _record(METRICS_OFF, "gateway", "1k", 7900.0)
    on.runs_rps, off.runs_rps = [7920.0, 7000.0, 5900.0], [8000.0, 7100.0, 6000.0]
    on.round_group = off.round_group = 1
    assert report.paired_rounds(on, off) == pytest.approx([0.99, 7000 / 7100, 5900 / 6000])
    entry = report._ratio("metrics on / metrics off", on, off, "1k", report.METRICS_ON_VS_OFF)
    assert entry["value"] == pytest.approx(7000 / 7100) and entry["status"] == "pass", entry
    assert "median of 3 rounds' ratios: 0.990 / 0.986 / 0.983" in entry["reason"]
    # Measured in different steps, the runs do not pair: median over median.
    off.round_group = 2
    assert report.paired_rounds(on, off) == []
    assert report._ratio("x", on, off, "1k", 0.97)["value"] == pytest.approx(7000 / 7900)


def test_the_cbr_target_divides_by_the_passthrough_alternated_on_the_same_gateway() -> None:
    cbr = _record("cbr", "gateway", "1k", 800.0)
    twin = _record(report.CBR_TWIN, "gateway", "1k", 900.0)
    cbr.runs_rps, twin.runs_rps = [800.0, 700.0, 850.0], [900.0, 820.0, 1000.0]
    cbr.round_group = twin.round_group = 3
    elsewhere = _record("passthrough", "gateway", "1k", 1200.0)  # its own step, on a faster moment of the machine
    built = _full_report([cbr, twin, elsewhere])
    ratios = {(r["name"], r["size"]): r for r in built["comparisons"]}
    assert ratios[("cbr / passthrough", "1k")]["value"] == pytest.approx(700 / 820)  # the median round
    assert ratios[("cbr / passthrough (separate steps)", "1k")]["value"] == pytest.approx(800 / 1200)
    rows = {row["target"]: row for row in built["targets"]}
    assert rows["cbr / pass-through ≥ 0.85 at 1 KB"]["status"] == "pass"  # 0.854, not 0.667
    assert rows["cbr / pass-through ≥ 0.85 at 1 KB"]["shown"] == "0.85", "no counts: nothing beside the req/s ratio"
    assert ("cbr: instructions/request, passthrough / cbr", "1k") not in ratios


def _counted_beside(
    num: RunRecord, den: RunRecord, target: str, cost_name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A full report of one req/s target's pair, both counted by callgrind: its targets row and its cost entry."""
    built = _full_report([num, den])
    row = {row["target"]: row for row in built["targets"]}[target]
    return row, {r["name"]: r for r in built["comparisons"]}[cost_name]


def test_the_cbr_target_shows_the_instruction_ratio_beside_its_req_s_ratio() -> None:
    # The req/s ratio decides the target; callgrind's counts, which the host's speed does not move, stand beside it.
    cbr, twin = _record("cbr", "gateway", "1k", 700.0), _record(report.CBR_TWIN, "gateway", "1k", 1000.0)
    cbr.instructions_per_request, twin.instructions_per_request = 609_529.0, 516_683.0
    row, cost = _counted_beside(cbr, twin, "cbr / pass-through ≥ 0.85 at 1 KB", report.CBR_COST)
    assert row["status"] == "fail" and row["value"] == pytest.approx(0.7), row
    assert row["shown"] == "0.70 (instructions 0.85)"
    assert cost["status"] == "info" and cost["value"] == pytest.approx(516_683 / 609_529), cost
    assert "609,529 against 516,683 instructions/request" in cost["reason"]


def test_the_seed_sms_target_shows_the_instruction_ratio_beside_its_req_s_ratio() -> None:
    # Rounds at 0.91 in req/s while the gateway does a fifth less work per request than the hand-written service.
    gateway, handwritten = (
        _record("seed-sms", "gateway", "seed", 910.0),
        _record("seed-sms", "hand-written", "seed", 1000.0),
    )
    gateway.instructions_per_request, handwritten.instructions_per_request = 1_005_033.0, 1_262_437.0
    row, cost = _counted_beside(gateway, handwritten, "seed-sms ≥ 1.1× the hand-written service", report.SMS_COST)
    assert row["status"] == "fail" and row["shown"] == "0.91 (instructions 1.26)", row
    assert cost["status"] == "info" and cost["value"] == pytest.approx(1_262_437 / 1_005_033), cost


def test_the_targets_table_holds_each_target_against_its_figures() -> None:
    records = [
        _record("passthrough", "gateway", "1k", 1100.0, p99=2.0),
        _record("bare", "bare", "1k", 1000.0),
        _record("nginx", "nginx", "1k", 4000.0),
        _record("single-conn", "gateway", "1k", 500.0, p99=1.2),  # 1.2× bare's p99: over the 1.1 maximum
        _record("single-conn", "bare", "1k", 600.0, p99=1.0),
        _record(METRICS_ON, "gateway", "1k", 990.0),
        _record(METRICS_OFF, "gateway", "1k", 1000.0),
        _record("stores", "gateway", "sqlite", 700.0),
        _record("stores", "raw", "sqlite", 1000.0),
    ]
    records.append(RunRecord("stores", "gateway", "rabbitmq", 1024, error="RabbitMQ not reachable"))
    soak = {"mode": "full", "generated_at": "now", "minutes": 10, "rss_growth": 0.04, "errors_not_injected": 2}
    built = _full_report(records, soak=soak)
    rows = {row["target"]: row for row in built["targets"]}
    assert rows["pass-through ≥ 1.0× the bare aiohttp proxy (1k)"]["status"] == "pass"
    assert rows["pass-through ≥ 0.35× nginx (1k)"]["status"] == "fail"  # 1100 / 4000
    assert rows["single-connection p99 ≤ 1.1× bare (passthrough 1k)"]["status"] == "fail"
    metrics = rows["metrics cost ≤ 3% (instructions/request off / on ≥ 0.97)"]
    assert metrics["status"] == "pass" and metrics["value"] == pytest.approx(0.99), metrics  # no counts: req/s
    assert metrics["shown"] == "0.99", "a req/s fallback shows no second req/s figure beside it"
    assert rows["durable enqueue ≥ 0.8× the raw backend: SQLite WAL"]["status"] == "fail"
    assert rows["durable enqueue ≥ 0.8× the raw backend: RabbitMQ confirms"]["status"] == "invalid"
    assert rows["seed-sms ≥ 1.1× the hand-written service"]["status"] == "missing"
    soak_rows = [row for row in built["targets"] if row["target"].startswith("soak")]
    assert [row["status"] for row in soak_rows] == ["pass", "fail"]
    # Requests left unsent (the rate was more than the machine sustained) are no gateway error, but a soak with
    # them and no error does not pass either; with errors it fails.
    unsent = report.soak_targets({**soak, "errors_not_injected": 0, "not_sent": 7})
    assert unsent[1]["status"] == "invalid" and "7 not sent" in unsent[1]["shown"], unsent[1]
    assert report.soak_targets({**soak, "not_sent": 7})[1]["status"] == "fail"
    assert report.soak_targets({**soak, "errors_not_injected": 0})[1]["status"] == "pass"
    text = report.render_markdown(built)
    assert "| pass-through ≥ 0.35× nginx (1k) | 0.28 | ❌ no |" in text
    assert "+4.0%" in text


def test_the_cost_targets_divide_instruction_counts_and_show_req_s_beside() -> None:
    # One slow minute made api 0.85 of its proxy twin in req/s; callgrind counts 2.7% more work per request.
    api, twin = _record("api", "gateway", "1k", 850.0), _record(report.API_PROXY, "gateway", "1k", 1000.0)
    api.instructions_per_request, twin.instructions_per_request = 549_042.0, 534_749.0
    on, off = _record(METRICS_ON, "gateway", "1k", 1000.0), _record(METRICS_OFF, "gateway", "1k", 1000.0)
    on.instructions_per_request, off.instructions_per_request = 540_000.0, 505_000.0  # 6.5% more: over 3%
    built = _full_report([api, twin, on, off])
    rows = {row["target"]: row for row in built["targets"]}
    dispatch = rows["API dispatch among 200 APIs ≤ 5% over a proxy (instructions/request api-proxy / api ≥ 0.95)"]
    assert dispatch["status"] == "pass" and dispatch["value"] == pytest.approx(534_749 / 549_042), dispatch
    assert dispatch["shown"] == "0.97 (req/s 0.85)"
    metrics = rows["metrics cost ≤ 3% (instructions/request off / on ≥ 0.97)"]
    assert metrics["status"] == "fail" and metrics["value"] == pytest.approx(505 / 540), metrics
    ratios = {r["name"]: r for r in built["comparisons"]}
    assert "549,042 against 534,749 instructions/request" in ratios[report.API_COST]["reason"]
    assert ratios["api (200 APIs) / same flow as a proxy"]["status"] == "info"


def test_nginx_config_stays_in_its_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "nginx"
    conf = nginx.render_config(run_dir, nginx.nginx_path() or "nginx", 18080, 18081, 3)
    text = conf.read_text()
    # Every directive that names a file or directory points into the run directory (or at stderr).
    file_directives = re.findall(r"^\s*(pid|error_log|access_log|\w+_temp_path|include)\s+(\S+)", text, re.M)
    named = {directive for directive, _ in file_directives}
    assert {"pid", "error_log", "client_body_temp_path", "proxy_temp_path"} <= named, text
    for directive, value in file_directives:
        assert value.startswith(str(run_dir)) or value in ("stderr", "off;"), (directive, value)
    for system_dir in ("/etc/", "/var/", "/run/"):
        assert system_dir not in text
    for directive in (
        "worker_processes 3;",
        "access_log off;",
        "proxy_request_buffering off;",
        "proxy_buffering off;",
        "keepalive 256;",
        "server 127.0.0.1:18081;",
    ):
        assert directive in text
    command = nginx.command(nginx.nginx_path() or "nginx", conf)
    assert command[1:5] == ["-p", str(run_dir), "-c", str(conf)]


@pytest.mark.skipif(nginx.nginx_path() is None, reason="nginx is not installed")
def test_nginx_accepts_the_generated_config(tmp_path: Path) -> None:
    binary = nginx.nginx_path()
    assert binary is not None
    conf = nginx.render_config(tmp_path, binary, 18080, 18081, 2)
    proc = subprocess.run([*nginx.command(binary, conf), "-t"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.bench_smoke
def test_bench_smoke_writes_report(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--no-install", "--output", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,  # six gateways start one after the other (about 15 s each on a loaded 2-core machine)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = tmp_path / "smoke.md"
    js = tmp_path / "smoke.json"
    assert md.is_file() and js.is_file(), proc.stderr[-3000:]
    text = md.read_text()
    report = json.loads(js.read_text())
    assert report["mode"] == "smoke"
    ran = {run["scenario"] for run in report["runs"]}
    for scenario in SCENARIOS:
        assert scenario in text
        names = (METRICS_ON, METRICS_OFF) if scenario == "metrics" else (scenario,)
        for name in names:
            assert name in ran, f"{name} missing from the report"
    # The comparators themselves must work even while the gateway is incomplete.
    servers = {(run["scenario"], run["server"]): run for run in report["runs"]}
    assert servers[("bare", "bare")]["valid"], servers[("bare", "bare")]
    # The pass-through targets' comparators are measured in the gateway's own rounds (one alternated step).
    assert servers[("bare", "bare")]["round_group"] == servers[("passthrough", "gateway")]["round_group"] is not None
    assert servers[("seed-sms", "hand-written")]["valid"], servers[("seed-sms", "hand-written")]
    assert report["stream"] is not None
    # CPU time per request is measured for every server, comparators included.
    for key in (("bare", "bare"), ("seed-sms", "hand-written")):
        assert servers[key]["cpu_us_per_request"] > 0, servers[key]
    # The single-connection run: one connection, and its ratios against the comparators.
    single = servers[("single-conn", "bare")]
    assert single["valid"] and single["connections"] == 1, single
    assert ("single-conn", "gateway") in servers
    assert "gateway / bare p99" in [r["name"] for r in report["single_connection"]["ratios"]]
    assert {(row["scenario"], row["size"]) for row in report["summary"]} >= {("passthrough", "1k"), ("cbr", "1k")}
    # Every target of issue 18 has a row; the figures behind the ones this run measures are there.
    targets = {row["target"]: row for row in report["targets"]}
    assert len(targets) == 16 and "## Targets (issue 18), this run" in text
    for key in ((METRICS_ON, "gateway"), (METRICS_OFF, "gateway")):
        assert servers[key]["valid"], servers[key]
    stores = {(run["server"], run["size"]): run for run in report["runs"] if run["scenario"] == "stores"}
    rabbitmq_up = reachable(*RABBITMQ) or os.environ.get("GATEWAY_REQUIRE_SERVICES") == "1"
    for key in (("gateway", "memory"), ("gateway", "sqlite"), ("raw", "sqlite")):
        assert stores[key]["valid"], stores[key]
    if rabbitmq_up:
        assert stores[("gateway", "rabbitmq")]["valid"] and stores[("raw", "rabbitmq")]["valid"], stores
    else:
        assert "RabbitMQ not reachable" in stores[("gateway", "rabbitmq")]["error"], stores
    # Scaling: each server with 1 and 2 workers, and the load generator's own CPU share beside it.
    for server in ("gateway-w1", "gateway-w2", "bare-w1", "bare-w2"):
        run = servers[("scaling", server)]
        assert run["valid"] and run["load"]["client_cpu_s"] > 0 and run["load"]["client_cpu_share"] > 0, run
    assert "gateway --workers 2 / --workers 1" in {c["name"] for c in report["comparisons"]}
    # nginx is used only when it is already installed; otherwise the report says it was skipped.
    if nginx.nginx_path():
        assert servers[("nginx", "nginx")]["valid"], servers[("nginx", "nginx")]
        assert servers[("nginx", "nginx")]["round_group"] == servers[("passthrough", "gateway")]["round_group"]
        assert servers[("single-conn", "nginx")]["valid"], servers[("single-conn", "nginx")]
    else:
        assert ("nginx", "nginx") not in servers
        assert report["settings"]["nginx"].startswith("skipped: nginx not available")
        assert "skipped: nginx not available" in text


@pytest.mark.bench_smoke
def test_pacing_bench_smoke_writes_report(tmp_path: Path) -> None:
    """`python -m bench.pacing --smoke`: the shipped SMS queue on SQLite, every message of both scenarios reaches
    the sandbox once, and the report has a pacing row per sender and the burst's latency split."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.pacing", "--smoke", "--output", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "smoke-pacing.json").read_text())
    text = (tmp_path / "smoke-pacing.md").read_text()
    assert report["mode"] == "smoke"
    by_scenario = {result["scenario"]: result for result in report["results"]}
    assert set(by_scenario) == {"pacing", "burst"}
    for result in by_scenario.values():
        assert (result["refused"], result["twilio_errors"]) == (0, 0), result
        assert result["received"] == result["messages"] > 0, result
        for row in result["senders"]:
            assert row["received"] == row["messages"] and row["duplicates"] == 0, row
    pacing = by_scenario["pacing"]["senders"]
    assert [row["sender"] for row in pacing] == ["long code (US)", "toll-free"]
    assert all(row["mean_interval_ms"] is not None for row in pacing)
    assert [row["sender"] for row in by_scenario["burst"]["senders"]] == [
        "short code",
        "alphanumeric ID",
        "long code (UK, to UK)",
    ]
    assert "## Pacing accuracy" in text and "## A burst from 3 senders" in text and "**all**" in text


@pytest.mark.bench_smoke
def test_soak_smoke_reports_rss_of_every_gateway_process_and_every_error(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "bench", "--soak", "--smoke", "--no-install", "--output", str(tmp_path)]
    # Half the capacity, not the default 80%: a capacity read in one second on a shared 2-core host can be a third
    # above what the next seconds sustain, and then requests pile up to MAX_IN_FLIGHT and go unsent.
    argv += ["--soak-minutes", "0.1", "--soak-capacity", "1", "--soak-load", "0.5"]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((tmp_path / "soak-smoke.json").read_text())
    assert data["failure"] is None, data["failure"]
    result, summary = data["result"], data["summary"]
    assert result["capacity_rps"] > 0 and result["rate_rps"] == pytest.approx(0.5 * result["capacity_rps"])
    # The soak's rate comes from an open-loop calibration under its own conditions; the closed loop is quoted.
    steps = result["calibration"]["steps"]
    assert result["closed_loop_rps"] > 0 and steps and steps[0]["share"] == 0.5
    sustained = [step["rate_rps"] for step in steps if step["sustained"]]
    expected = max(sustained) if sustained else 0.1 * result["closed_loop_rps"]
    assert result["capacity_rps"] == pytest.approx(expected, rel=1e-3)
    # A reading a second: backlog, answers and the CPU of the generator and of the gateway.
    timeline = result["timeline"]
    assert len(timeline) >= 4 and all(row["in_flight"] >= 0 for row in timeline)
    assert sum(row["done_per_s"] for row in timeline) > 0 and timeline[-1]["store_depth"] is not None
    assert result["soak_cpu"]["generator"] > 0 and result["soak_cpu"]["gateway"] > 0
    assert summary["not_sent"] == 0 and result["not_sent"] == 0
    # Start, at least one sample in between, end; each names every gateway process (supervisor and workers).
    samples = result["samples"]
    assert [samples[0]["label"], samples[-1]["label"]] == ["start", "end"] and len(samples) >= 3
    assert all(len(sample["rss"]) >= 3 for sample in samples), samples
    assert summary["rss_growth"] is not None
    # Both paths answered (the seed proxy with a message sid, the store path 202) and nothing failed.
    assert set(result["ok_by_target"]) == {"twilioRest", "SoakAudit"}
    assert result["errors"] == [] and summary["errors_not_injected"] == 0, result["errors"]
    assert result["scrapes"]["ok"] >= 1 and result["metrics_count_delta"] >= result["ok_by_target"]["twilioRest"]
    text = (tmp_path / "soak-smoke.md").read_text()
    assert "## RSS of every gateway process" in text and "| growth |" in text
    assert "## Calibration" in text and "## Timeline" in text and "load generator's CPU" in text


def test_only_a_run_of_every_scenario_writes_latest() -> None:
    from bench.runner import parse_args

    def stem(*argv: str) -> str:
        return parse_args([*argv, "--no-install", "--no-nginx", "--load-generator", "python"]).stem

    assert stem() == "latest"
    assert stem("--scenarios", "api") == "api"
    assert stem("--scenarios", "passthrough,cbr") == "passthrough-cbr"
    assert stem("--smoke", "--scenarios", "api") == "smoke"
    assert (stem("--soak"), stem("--soak", "--smoke")) == ("soak", "soak-smoke")


def test_a_seed_sms_count_with_failed_requests_is_not_taken() -> None:
    from bench.runner import _SMS_COUNTED_ROW

    table = (
        "server | requests | failures | startup_s | startup_rss_mb | cpu_us_per_request | req_per_s | "
        "instructions_per_request\n"
        "gateway | 1000 | 0 | 11.437 | 144.1 | 10890.0 | 91.0 | 1005033\n"
        "handwritten | 1000 | 12 | 3.259 | 102.2 | 12340.0 | 80.8 | 1262437\n"
    )
    assert dict(re.findall(_SMS_COUNTED_ROW, table)) == {"gateway": "1005033"}
    assert dict(re.findall(_SMS_COUNTED_ROW, table.replace("| 12 |", "| 0 |"))) == {
        "gateway": "1005033",
        "handwritten": "1262437",
    }
