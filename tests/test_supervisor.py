"""`gateway serve [--workers N]` as real subprocesses on loopback: respawn, giving up, busy ports, stop signals."""

from __future__ import annotations

import os
import re
import signal
import socket

import pytest

from gateway.supervisor import Backoff, RespawnPolicy, worker_environment
from tests.support.subprocess_gateway import alive, free_port, get, healthz_pid


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
    gateway.wait_until(
        lambda: set(gateway.latest_pids().values()).isdisjoint(first.values()), "both workers to be respawned"
    )
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


def test_backoff_stays_capped_however_many_quick_deaths():
    # A worker dying every few seconds for hours (never often enough within the window to give up): the
    # back-off stays at its cap; the doubling once overflowed a float after about a thousand deaths.
    backoff = Backoff(RespawnPolicy(delay=0.5, max_delay=3.0))
    delays = [backoff.after_death(uptime=1.0) for _ in range(2000)]
    assert delays[:4] == [0.5, 1.0, 2.0, 3.0] and set(delays[3:]) == {3.0}


def _environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as fh:
        pairs = (item.decode().partition("=") for item in fh.read().split(b"\0") if item)
        return {name: value for name, _, value in pairs}


@pytest.mark.skipif(not os.path.exists("/proc/self/environ"), reason="reads a worker's environment from /proc")
@pytest.mark.parametrize(
    ("given", "expected"),
    [("", "glibc.malloc.tcache_count=1000"), ("glibc.malloc.tcache_count=64", "glibc.malloc.tcache_count=64")],
    ids=["added", "the operator's own kept"],
)
def test_workers_start_with_a_deeper_malloc_cache(serve, given, expected):
    gateway = serve(free_port(), 2, env={"GLIBC_TUNABLES": given})
    for pid in gateway.wait_started(2).values():
        gateway.wait_serving(pid)
        assert _environ(pid)["GLIBC_TUNABLES"] == expected
    assert _environ(gateway.process.pid)["GLIBC_TUNABLES"] == given  # the parent's own malloc is as it started
    assert get(gateway.port, "/services/Ping") == (200, b'{"pong":true}')


def test_the_malloc_cache_is_appended_to_other_tunables():
    """(glibc rewrites a multi-tunable value in place when it starts, so /proc cannot show this one.)"""
    environ = {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1048576"}
    worker_environment(environ)
    assert environ["GLIBC_TUNABLES"] == "glibc.malloc.trim_threshold=1048576:glibc.malloc.tcache_count=1000"
    worker_environment(environ)  # a respawn adds nothing twice
    assert environ["GLIBC_TUNABLES"] == "glibc.malloc.trim_threshold=1048576:glibc.malloc.tcache_count=1000"
