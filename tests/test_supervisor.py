"""`gateway serve [--workers N]` as real subprocesses on loopback: respawn, giving up, busy ports, stop signals."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from gateway.supervisor import Backoff, RespawnPolicy
from tests.conftest import REPO, SYNAPSE, write_artifacts

PING = f"""<proxy {SYNAPSE} name="Ping"><target><inSequence>
  <payloadFactory media-type="json"><format>{{"pong":true}}</format><args/></payloadFactory><respond/>
</inSequence></target></proxy>"""
FAST_RESPAWN = {"GATEWAY_RESPAWN_DELAY": "0.05"}
HANG_GUARD = 60.0  # seconds; only stops a broken test from hanging, never a performance assertion


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str) -> tuple[int, bytes]:
    """One request on a fresh connection (a new source port, so the kernel may pick another worker)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG_GUARD)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def healthz_pid(port: int) -> int:
    status, body = get(port, "/healthz")
    assert status == 200, body
    return orjson.loads(body)["pid"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Gateway:
    def __init__(self, process: subprocess.Popen, log_path: Path, port: int) -> None:
        self.process, self.log_path, self.port = process, log_path, port

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def started(self) -> list[tuple[int, int]]:
        """(worker number, pid) for every 'worker N started (pid P)' line, in order."""
        return [(int(n), int(p)) for n, p in re.findall(r"worker (\d+) started \(pid (\d+)\)", self.log())]

    def latest_pids(self) -> dict[int, int]:
        return dict(self.started())

    def wait_until(self, condition: Callable[[], object], what: str) -> None:
        deadline = time.monotonic() + HANG_GUARD
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"gateway exited ({self.process.returncode}) waiting for {what}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log()}")
            time.sleep(0.05)

    def listening_pids(self) -> set[int]:
        return {int(p) for p in re.findall(r"listening on \S+ \(pid (\d+)\)", self.log())}

    def wait_listening(self, pids: set[int]) -> None:
        self.wait_until(lambda: pids <= self.listening_pids(), f"pids {sorted(pids)} to listen")

    def wait_started(self, workers: int) -> dict[int, int]:
        self.wait_until(lambda: len(self.latest_pids()) == workers, f"{workers} worker(s) to start")
        pids = self.latest_pids()
        self.wait_listening(set(pids.values()))
        return pids

    def wait_serving(self, pid: int) -> None:
        """Until `pid` answers /healthz; every answer on the way must be a 200."""
        self.wait_until(lambda: healthz_pid(self.port) == pid, f"pid {pid} to answer /healthz")

    def exit_code(self) -> int:
        return self.process.wait(timeout=HANG_GUARD)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """`serve(port, workers, files={...}, env={...})` → a running `python3 -m gateway serve` subprocess;
    its whole process group is killed afterwards, whatever the test did."""
    processes: list[subprocess.Popen] = []

    def start(port: int, workers: int, *, files: dict[str, str] | None = None,
              env: dict[str, str] | None = None) -> Gateway:
        name = f"gateway{len(processes)}"
        artifacts = write_artifacts(tmp_path / name, {"proxies/Ping.xml": PING} if files is None else files)
        log_path = tmp_path / f"{name}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--artifacts", str(artifacts), "--host", "127.0.0.1",
                 "--port", str(port), "--workers", str(workers)],
                cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, **FAST_RESPAWN, **(env or {})})
        processes.append(process)
        return Gateway(process, log_path, port)

    try:
        yield start
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the parent and any worker it left behind
            except ProcessLookupError:
                pass
            process.wait()


def test_single_worker_serves_in_the_parent_process_and_stops_on_sigterm(serve):
    gateway = serve(free_port(), 1)
    gateway.wait_until(lambda: "listening on" in gateway.log(), "the gateway to listen")
    assert healthz_pid(gateway.port) == gateway.process.pid  # no extra process
    assert get(gateway.port, "/services/Ping") == (200, b'{"pong":true}')
    gateway.process.send_signal(signal.SIGTERM)
    assert gateway.exit_code() == 0


def test_a_killed_worker_is_replaced_and_stop_reaches_the_replacement(serve):
    gateway = serve(free_port(), 2)
    first = gateway.wait_started(2)
    os.kill(first[1], signal.SIGKILL)
    gateway.wait_until(lambda: gateway.latest_pids()[1] != first[1], "worker 1 to be respawned")
    replacement = gateway.latest_pids()[1]
    gateway.wait_serving(replacement)
    log = gateway.log()
    assert f"worker 1 (pid {first[1]}) was killed by SIGKILL" in log
    assert "respawning worker 1 in 0.05 s" in log
    assert gateway.latest_pids()[2] == first[2]  # the sibling kept serving

    gateway.process.send_signal(signal.SIGTERM)
    assert gateway.exit_code() == 0
    assert "received SIGTERM" in gateway.log() and "stopping 2 worker(s)" in gateway.log()
    assert not alive(replacement) and not alive(first[2])


def test_when_every_worker_dies_all_are_replaced_and_sigint_stops_cleanly(serve):
    gateway = serve(free_port(), 2)
    first = gateway.wait_started(2)
    for pid in first.values():
        os.kill(pid, signal.SIGKILL)
    gateway.wait_until(lambda: set(gateway.latest_pids().values()).isdisjoint(first.values()),
                       "both workers to be respawned")
    replacements = gateway.wait_started(2)
    for pid in replacements.values():
        gateway.wait_serving(pid)
    assert gateway.log().count("was killed by SIGKILL") == 2

    gateway.process.send_signal(signal.SIGINT)
    assert gateway.exit_code() == 0
    assert not any(alive(pid) for pid in replacements.values())


def test_parent_gives_up_with_one_line_when_a_worker_keeps_dying(serve):
    gateway = serve(free_port(), 2, env={"GATEWAY_RESPAWN_MAX_DEATHS": "3"})
    pids = gateway.wait_started(2)
    killed: list[int] = []
    for _ in range(3):
        gateway.wait_until(lambda: gateway.latest_pids()[1] not in killed, "worker 1 to be respawned")
        killed.append(gateway.latest_pids()[1])
        os.kill(killed[-1], signal.SIGKILL)

    assert gateway.exit_code() != 0
    log = gateway.log()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, log
    assert "giving up: worker 1 died 3 times within 60 s (last: was killed by SIGKILL)" in errors[0]
    delays = [float(d) for d in re.findall(r"respawning worker 1 in ([\d.]+) s", log)]
    assert len(delays) == 2 and delays[1] > delays[0]  # exponential back-off
    assert "Traceback" not in log
    assert not alive(pids[2])  # the healthy sibling was stopped too


@pytest.mark.parametrize("workers", [1, 2])
def test_busy_port_exits_non_zero_with_one_clear_line(serve, workers):
    with socket.socket() as blocker:  # a plain socket: no SO_REUSEADDR, no SO_REUSEPORT
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        gateway = serve(port, workers)
        assert gateway.exit_code() != 0
    lines = gateway.log().strip().splitlines()
    assert len(lines) == 1, lines
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in lines[0]
    assert "another gateway or program holds this port" in lines[0]


def test_a_second_instance_on_the_same_port_is_refused_and_the_first_keeps_serving(serve):
    port = free_port()
    first = serve(port, 2)
    pids = set(first.wait_started(2).values())

    second = serve(port, 2, files={})  # no Ping proxy: any request it served would be a 404
    assert second.exit_code() != 0
    lines = second.log().strip().splitlines()
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}: Address already in use" in lines[0], lines

    for _ in range(30):
        assert get(port, "/services/Ping") == (200, b'{"pong":true}')
    assert {healthz_pid(port) for _ in range(10)} <= pids


def test_invalid_respawn_setting_is_reported_before_serving(serve):
    gateway = serve(free_port(), 2, env={"GATEWAY_RESPAWN_DELAY": "soon"})
    assert gateway.exit_code() == 2
    assert gateway.log().strip() == "error: GATEWAY_RESPAWN_DELAY='soon': expected a number of seconds above 0"


def test_backoff_doubles_is_capped_and_resets_after_a_stable_run():
    backoff = Backoff(RespawnPolicy(delay=0.5, max_delay=3.0, stable_after=30.0))
    assert [backoff.after_death(uptime=1.0) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.after_death(uptime=30.0) == 0.5
    assert backoff.after_death(uptime=1.0) == 1.0
