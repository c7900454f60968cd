"""Hot deployment of a real `gateway serve` subprocess: every worker of `--workers N` converges on the same
version, a respawned worker too, and no request fails while files change under load."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time

import orjson

from tests.conftest import SYNAPSE
from tests.support.subprocess_gateway import HANG_GUARD, free_port, get


def answer(value: str) -> str:
    return (
        f'<proxy {SYNAPSE} name="Echo"><target><inSequence>'
        f'<payloadFactory media-type="json"><format>{{"v":"{value}"}}</format><args/></payloadFactory>'
        "<respond/></inSequence></target></proxy>"
    )


BROKEN = f'<proxy {SYNAPSE} name="Echo"><target><inSequence><nosuchmediator/></inSequence></target></proxy>'


def health(port: int) -> tuple[int, str]:
    status, body = get(port, "/healthz")
    assert status == 200, body
    data = orjson.loads(body)
    return data["pid"], data["version"]


def wait_converged(gateway, pids: set[int], old_version: str) -> str:
    """Until every worker in `pids` answers /healthz with one version that is not `old_version`."""
    seen: dict[int, str] = {}

    def converged() -> bool:
        pid, version = health(gateway.port)
        seen[pid] = version
        versions = {seen.get(p) for p in pids}
        return len(versions) == 1 and None not in versions and old_version not in versions

    gateway.wait_until(converged, f"workers {sorted(pids)} to leave version {old_version} for one new version")
    return seen[next(iter(pids))]


def test_every_worker_converges_on_the_new_version_and_a_respawned_one_too(serve, tmp_path):
    gw = serve(free_port(), 2, files={"proxies/Echo.xml": answer("one")})
    pids = set(gw.wait_started(2).values())
    for pid in pids:
        gw.wait_serving(pid)
    _, first = health(gw.port)

    path = tmp_path / "gateway0" / "proxies" / "Echo.xml"
    path.write_text(answer("two"), encoding="utf-8")
    second = wait_converged(gw, pids, first)
    assert gw.log().count("proxy 'Echo' updated from") == 3  # the supervisor and each worker

    # a broken update: one error line (the supervisor's), a .back file, and the workers keep version two
    path.write_text(BROKEN, encoding="utf-8")
    gw.wait_until(lambda: path.with_name("Echo.xml.back").exists(), "the broken file to be backed up")
    assert gw.log().count("Update of the Synapse artifact from file") == 1
    assert {health(gw.port)[1] for _ in range(6)} == {second}

    # a worker killed now is respawned and loads the files, which serve version two again
    victim = gw.latest_pids()[1]
    os.kill(victim, signal.SIGKILL)
    gw.wait_until(lambda: gw.latest_pids()[1] != victim, "worker 1 to be respawned")
    fresh = gw.latest_pids()[1]
    gw.wait_serving(fresh)
    assert health(gw.port)[1] == second
    status, body = get(gw.port, "/services/Echo")
    assert (status, orjson.loads(body)) == (200, {"v": "two"})


def wait_for_more(gateway, results: list, count: int) -> None:
    seen = len(results)
    gateway.wait_until(lambda: len(results) > seen + count, f"{count} more answers")


def test_no_request_fails_while_files_change_under_load(serve, tmp_path):
    gw = serve(free_port(), 2, files={"proxies/Echo.xml": answer("v0")})
    pids = set(gw.wait_started(2).values())
    for pid in pids:
        gw.wait_serving(pid)
    stop = threading.Event()
    results: list[tuple[int, str]] = []
    failures: list[str] = []

    # The clients run until the test has seen what it waits for (each wait has its own HANG_GUARD, each request
    # its socket timeout), not for a fixed time: with one deadline for the whole test, a loaded machine that took
    # longer than HANG_GUARD over the four changes left the clients stopped and the next wait for answers timing out.
    def client() -> None:  # keep-alive connections, as a load generator uses them
        connection = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=HANG_GUARD)
        while not stop.is_set():
            try:
                connection.request(
                    "POST", "/services/Echo", body=b'{"x":1}', headers={"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    failures.append(f"{response.status} {body[:200]!r}")
                else:
                    results.append((response.status, orjson.loads(body)["v"]))
            except (OSError, http.client.HTTPException) as exc:
                failures.append(repr(exc))
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=HANG_GUARD)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    path = tmp_path / "gateway0" / "proxies" / "Echo.xml"
    version = health(gw.port)[1]
    try:
        for step in ("v1", "broken", "v2", "v3"):
            path.write_text(BROKEN if step == "broken" else answer(step), encoding="utf-8")
            if step == "broken":
                gw.wait_until(lambda: path.with_name("Echo.xml.back").exists(), "the broken file to be backed up")
            else:
                version = wait_converged(gw, pids, version)
                wait_for_more(gw, results, 50)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    answered = [value for _, value in results]
    assert {"v0", "v1", "v2", "v3"} <= set(answered)
    assert answered[-1] == "v3"


def test_no_hot_deploy_leaves_the_served_version_alone(serve, tmp_path):
    gw = serve(free_port(), 1, files={"proxies/Echo.xml": answer("one")}, args=["--no-hot-deploy"])
    gw.wait_until(lambda: gw.listening_pids(), "the gateway to listen")
    version = health(gw.port)[1]
    (tmp_path / "gateway0" / "proxies" / "Echo.xml").write_text(answer("two"), encoding="utf-8")
    time.sleep(3)  # a watcher would have redeployed by now; there is none
    assert health(gw.port)[1] == version
    assert "hot deployment: watching" not in gw.log()
    status, body = get(gw.port, "/services/Echo")
    assert (status, orjson.loads(body)) == (200, {"v": "one"})
