"""The benchmark harness runs end to end (``python -m bench --smoke``) and writes its report.

It asserts that the report exists and covers every scenario, never any speed threshold.
Deselect with ``-m "not bench_smoke"``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.load import lua_script, parse_wrk_json, parse_wrk_text
from bench.payloads import json_order, parse_size, soap_get_quote
from bench.runner import SCENARIOS

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


@pytest.mark.bench_smoke
def test_bench_smoke_writes_report(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--no-install", "--output", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
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
        assert scenario in ran, f"{scenario} missing from the report"
    # The comparators themselves must work even while the gateway is incomplete.
    servers = {(run["scenario"], run["server"]): run for run in report["runs"]}
    assert servers[("bare", "bare")]["valid"], servers[("bare", "bare")]
    assert servers[("seed-sms", "hand-written")]["valid"], servers[("seed-sms", "hand-written")]
    assert report["stream"] is not None
