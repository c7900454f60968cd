"""`python3 -m gateway serve` as a real subprocess on loopback, for tests that need processes and ports."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import orjson

PING = """<proxy xmlns="http://ws.apache.org/ns/synapse" name="Ping"><target><inSequence>
  <payloadFactory media-type="json"><format>{"pong":true}</format><args/></payloadFactory><respond/>
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
