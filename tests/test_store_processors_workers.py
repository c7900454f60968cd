"""Message processors under `--workers 2` (real `gateway serve` subprocesses, a real back end on loopback): a
processor on a store the workers share runs in the first worker only, as MI runs a processor's task on one node, so the
order, the blocked head message and the interval's pace hold; `member.count` adds consumers; an in-memory store
is each worker's own and each worker drains it; the management API shows and switches the running processor's
state; a respawned first worker takes the processor over."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp import ClientSession, TCPConnector, web
from argon2 import PasswordHasher

from tests.support.subprocess_gateway import free_port
from tests.support.waiting import until
from tests.test_message_stores import FORWARDER, JDBC, SAMPLER, STORING_PROXY


def _files(
    tmp_path: Path, url: str, parameters: dict[str, str], *, memory: bool = False, sampler: bool = False
) -> dict[str, str]:
    store = (
        '<messageStore xmlns="http://ws.apache.org/ns/synapse" name="Pending"/>'
        if memory
        else f'<messageStore xmlns="http://ws.apache.org/ns/synapse" name="Pending" class="{JDBC}">'
        f'<parameter name="store.jdbc.connection.url">jdbc:sqlite:{tmp_path / "store.db"}</parameter>'
        '<parameter name="store.jdbc.lease.seconds">2</parameter></messageStore>'
    )
    body = "".join(f'<parameter name="{k}">{v}</parameter>' for k, v in parameters.items())
    files = {
        "proxies/Orders.xml": STORING_PROXY,
        "message-stores/Pending.xml": store,
        "endpoints/Backend.xml": f'<endpoint xmlns="http://ws.apache.org/ns/synapse" name="Backend">'
        f'<address uri="{url}"/></endpoint>',
    }
    if sampler:  # W: SamplingProcessor injects into a sequence, which calls the back end
        files["sequences/Deliver.xml"] = (
            '<sequence xmlns="http://ws.apache.org/ns/synapse" name="Deliver"><call><endpoint key="Backend"/></call>'
            "</sequence>"
        )
        files["message-processors/Sampler.xml"] = (
            f'<messageProcessor xmlns="http://ws.apache.org/ns/synapse" name="Sampler" class="{SAMPLER}" '
            f'messageStore="Pending">{body}<parameter name="sequence">Deliver</parameter></messageProcessor>'
        )
    else:
        files["message-processors/Forwarder.xml"] = (
            f'<messageProcessor xmlns="http://ws.apache.org/ns/synapse" name="Forwarder" class="{FORWARDER}" '
            f'messageStore="Pending" targetEndpoint="Backend">{body}</messageProcessor>'
        )
    return files


async def _started(gw: Any, workers: int = 2) -> dict[int, int]:
    """Every worker listening and answering (polled without blocking the back end's event loop)."""
    await until(lambda: len(gw.latest_pids()) == workers, 60, f"{workers} workers to start")
    pids = gw.latest_pids()
    await until(lambda: set(pids.values()) <= gw.listening_pids(), 60, "the workers to listen")
    return pids


async def _store(port: int, order: int) -> int:
    """Store one order through a fresh connection; the pid of the worker that stored it (same connection)."""
    async with ClientSession(connector=TCPConnector(limit=1)) as http:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            pid = (await response.json())["pid"]
        async with http.post(f"http://127.0.0.1:{port}/services/Orders", json={"order": order}) as response:
            assert response.status == 202, await response.text()
    return int(pid)


def _order(body: bytes) -> int:
    return int(orjson.loads(body)["order"])


async def test_two_workers_deliver_in_store_order_and_a_failing_head_blocks_the_rest(
    serve: Any, backend: Any, tmp_path: Path
) -> None:
    """W: ForwardingService: one message at a time, in store order; a message that keeps failing holds the ones
    behind it until it is delivered. A second consumer (in worker 2) would deliver order 1 meanwhile."""
    failures = {0: 3}  # order 0 fails three times, then goes through
    attempts: list[int] = []

    def answer(request: web.Request, body: bytes) -> web.Response:
        order = _order(body)
        attempts.append(order)
        if failures.get(order, 0) > 0:
            failures[order] -= 1
            return web.Response(status=500)
        return web.Response(status=200)

    server = await backend(answer)
    files = _files(
        tmp_path,
        str(server.make_url("/orders")),
        {"interval": "10", "client.retry.interval": "300", "max.delivery.attempts": "10"},
    )
    port = free_port()
    gw = serve(port, 2, files=files)
    await _started(gw)
    stored_by = {await _store(port, order) for order in range(16)}
    assert len(stored_by) == 2, "both workers stored orders (fresh connections spread over the workers)"
    await until(lambda: len(attempts) == 19, 30, "every order delivered")
    await asyncio.sleep(0.3)  # nothing more comes
    assert attempts == [0, 0, 0, *range(16)]


async def test_two_workers_keep_one_interval_between_deliveries(serve: Any, backend: Any, tmp_path: Path) -> None:
    """W: ScheduledMessageProcessor interval: one message, then the interval. Two consumers would deliver about
    twice as many in the window (13 instead of 7)."""
    seen: list[float] = []

    def answer(request: web.Request, body: bytes) -> web.Response:
        seen.append(time.monotonic())
        return web.Response(status=200)

    server = await backend(answer)
    files = _files(tmp_path, str(server.make_url("/orders")), {"interval": "500"})
    port = free_port()
    gw = serve(port, 2, files=files)
    await _started(gw)
    for order in range(30):
        await _store(port, order)
    await until(lambda: seen and time.monotonic() - seen[0] > 3.2, 30, "a 3 s window of deliveries")
    in_window = [t for t in seen if t - seen[0] <= 3.0]
    # one consumer: at 0, 0.5, ... 3.0 s at most (7); two: about 13
    assert 4 <= len(in_window) <= 8, [round(t - seen[0], 2) for t in seen]


async def test_two_workers_sample_concurrency_messages_per_interval(serve: Any, backend: Any, tmp_path: Path) -> None:
    """W: SamplingProcessor: every interval, up to `concurrency` messages go to the sequence. With two workers the
    sampler runs in one: 2 per second, so 4 to 6 in 2.2 s (a second sampler in the other worker would take about
    twice as many)."""
    seen: list[float] = []

    def answer(request: web.Request, body: bytes) -> web.Response:
        seen.append(time.monotonic())
        return web.Response(status=200)

    server = await backend(answer)
    files = _files(tmp_path, str(server.make_url("/orders")), {"interval": "1000", "concurrency": "2"}, sampler=True)
    port = free_port()
    gw = serve(port, 2, files=files)
    await _started(gw)
    stored_by = {await _store(port, order) for order in range(30)}
    assert len(stored_by) == 2, "both workers stored orders"
    await until(lambda: seen and time.monotonic() - seen[0] > 2.4, 30, "a 2.2 s window of samples")
    in_window = [t for t in seen if t - seen[0] <= 2.2]
    assert 4 <= len(in_window) <= 6, [round(t - seen[0], 2) for t in seen]


async def test_member_count_adds_a_consumer_in_the_other_worker(serve: Any, backend: Any, tmp_path: Path) -> None:
    """W: ScheduledMessageProcessor member.count: that many consumers read the store; with two workers the
    second runs in the other worker, so two deliveries are in flight at once (never more)."""
    in_flight = [0]
    most = [0]
    delivered: list[int] = []

    async def slow(request: web.Request, body: bytes) -> web.Response:
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await asyncio.sleep(0.3)
        in_flight[0] -= 1
        delivered.append(_order(body))
        return web.Response(status=200)

    server = await backend(slow)
    files = _files(tmp_path, str(server.make_url("/orders")), {"interval": "10", "member.count": "2"})
    port = free_port()
    gw = serve(port, 2, files=files)
    await _started(gw)
    for order in range(10):
        await _store(port, order)
    await until(lambda: len(delivered) == 10, 30, "every order delivered")
    assert most[0] == 2
    assert sorted(delivered) == list(range(10))


async def test_an_in_memory_store_is_drained_in_each_worker(serve: Any, backend: Any, tmp_path: Path) -> None:
    """An in-memory store is each worker's own (W: InMemoryStore lives in its node): each worker runs the
    processor on it, so what either worker stored is delivered."""
    delivered: list[int] = []

    def answer(request: web.Request, body: bytes) -> web.Response:
        delivered.append(_order(body))
        return web.Response(status=200)

    server = await backend(answer)
    files = _files(tmp_path, str(server.make_url("/orders")), {"interval": "10"}, memory=True)
    port = free_port()
    gw = serve(port, 2, files=files)
    await _started(gw)
    stored_by = {await _store(port, order) for order in range(20)}
    assert len(stored_by) == 2, "both workers stored orders"
    await until(lambda: len(delivered) == 20, 30, "what each worker stored to be delivered")
    assert sorted(delivered) == list(range(20))


async def test_the_management_api_shows_and_switches_the_running_processor(
    serve: Any, backend: Any, tmp_path: Path
) -> None:
    """The supervisor answers the management API. A processor that deactivated itself in the first worker (W:
    ForwardingService max.delivery.attempts) shows inactive there and stays off in every worker; activated
    through the API it delivers again, from the first worker only; deactivated, nothing is delivered."""
    failing = [True]
    attempts: list[int] = []

    def answer(request: web.Request, body: bytes) -> web.Response:
        attempts.append(_order(body))
        return web.Response(status=500 if failing[0] else 200)

    server = await backend(answer)
    files = _files(
        tmp_path,
        str(server.make_url("/orders")),
        {"interval": "10", "client.retry.interval": "50", "max.delivery.attempts": "2"},
    )
    hashed = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("admin-pass")
    config = tmp_path / "gateway.yaml"
    config.write_text(f"management:\n  users:\n    - name: admin\n      password: '{hashed}'\n", encoding="utf-8")
    port, management = free_port(), free_port()
    gw = serve(port, 2, files=files, args=["--config", str(config), "--management-port", str(management)])
    await _started(gw)
    base = f"http://127.0.0.1:{management}/management"
    async with ClientSession() as http:
        secret = base64.b64encode(b"admin:admin-pass").decode()
        async with http.get(f"{base}/login", headers={"Authorization": f"Basic {secret}"}) as response:
            token = (await response.json())["AccessToken"]
        auth = {"Authorization": f"Bearer {token}"}

        async def status() -> str:
            async with http.get(f"{base}/message-processors?name=Forwarder", headers=auth) as response:
                return str((await response.json())["status"])

        async def switch(to: str) -> None:
            body = {"name": "Forwarder", "status": to}
            async with http.post(f"{base}/message-processors", json=body, headers=auth) as response:
                assert response.status == 200, await response.text()

        assert await status() == "active"
        await _store(port, 0)
        await until(lambda: len(attempts) == 2, 20, "two failed attempts")
        shown: list[str] = []

        async def inactive() -> bool:
            shown.append(await status())
            return shown[-1] == "inactive"

        deadline = time.monotonic() + 20
        while not await inactive():  # the worker's deactivation reaches the supervisor
            assert time.monotonic() < deadline, shown
            await asyncio.sleep(0.05)
        # a switch sent to the workers now (a log level) must not restart it in the first worker
        async with http.patch(
            f"{base}/logging", json={"loggerName": "gateway.processors", "loggingLevel": "INFO"}, headers=auth
        ) as response:
            assert response.status == 200, await response.text()
        await asyncio.sleep(0.6)
        assert attempts == [0, 0] and await status() == "inactive"

        failing[0] = False
        await switch("active")
        await until(lambda: len(attempts) == 3, 20, "the message delivered once activated")
        assert await status() == "active"
        await switch("inactive")
        await asyncio.sleep(0.4)  # every worker has the switch
        for order in range(1, 4):
            await _store(port, order)
        await asyncio.sleep(0.6)
        assert attempts == [0, 0, 0] and await status() == "inactive"
        await switch("active")
        await until(lambda: len(attempts) == 6, 20, "the stored orders delivered once activated")
        assert attempts == [0, 0, 0, 1, 2, 3]


async def test_a_respawned_first_worker_runs_the_processor_again(serve: Any, backend: Any, tmp_path: Path) -> None:
    """The first worker (`worker 1` in the log) killed with SIGKILL: the supervisor respawns it and the new one
    delivers what was stored (worker 2, alive all along, never runs the processor)."""
    delivered: list[int] = []

    def answer(request: web.Request, body: bytes) -> web.Response:
        delivered.append(_order(body))
        return web.Response(status=200)

    server = await backend(answer)
    files = _files(tmp_path, str(server.make_url("/orders")), {"interval": "10"})
    port = free_port()
    gw = serve(port, 2, files=files)
    first = await _started(gw)
    await _store(port, 0)
    await until(lambda: delivered == [0], 20, "order 0 delivered")
    os.kill(first[1], signal.SIGKILL)
    await until(lambda: gw.latest_pids()[1] != first[1], 30, "worker 1 to be respawned")
    respawned = gw.latest_pids()[1]
    await until(lambda: respawned in gw.listening_pids(), 60, "the new worker 1 to listen")
    stored_by = {await _store(port, order) for order in range(1, 17)}
    assert first[2] in stored_by  # worker 2 took some: only worker 1 delivers them
    await until(lambda: sorted(delivered) == list(range(17)), 30, "the new worker 1 to deliver every order")
