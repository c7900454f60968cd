"""Issue 15's remaining store-and-forward pieces: cron-scheduled processors, the failover forwarding processor
(store to store) and the resequencing store, each on a real gateway over loopback; the resequencing store on
SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.deploy.loader import load
from gateway.message.stored import StoredMessage
from gateway.settings import Settings
from gateway.transport.server import STATE
from tests.conftest import require_service, write_artifacts
from tests.support.waiting import until

JDBC = "org.apache.synapse.message.store.impl.jdbc.JDBCMessageStore"
RABBIT = "org.apache.synapse.message.store.impl.rabbitmq.RabbitMQStore"
RESEQUENCE = "org.apache.synapse.message.store.impl.resequencer.ResequenceMessageStore"
FORWARDER = "org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor"
FAILOVER = "org.apache.synapse.message.processor.impl.failover.FailoverScheduledMessageForwardingProcessor"
SAMPLER = "org.apache.synapse.message.processor.impl.sampler.SamplingProcessor"


def _storing_proxy(store: str = "Pending") -> str:
    return f"""
<proxy xmlns="http://ws.apache.org/ns/synapse" name="Orders" transports="http">
  <target>
    <inSequence>
      <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/>
      <property name="OUT_ONLY" value="true"/>
      <store messageStore="{store}"/>
    </inSequence>
  </target>
</proxy>
"""


def _processor(cls: str, store: str, params: dict[str, str], name: str, target: str | None = "Backend") -> str:
    endpoint = f' targetEndpoint="{target}"' if target else ""
    body = "".join(f'<parameter name="{k}">{v}</parameter>' for k, v in params.items())
    return (
        f'<messageProcessor xmlns="http://ws.apache.org/ns/synapse" name="{name}" class="{cls}" '
        f'messageStore="{store}"{endpoint}>{body}</messageProcessor>'
    )


def _store(name: str, cls: str | None = None, params: dict[str, str] | None = None, extra: str = "") -> str:
    attribute = f' class="{cls}"' if cls else ""
    body = "".join(f'<parameter name="{k}">{v}</parameter>' for k, v in (params or {}).items())
    return (
        f'<messageStore xmlns="http://ws.apache.org/ns/synapse" name="{name}"{attribute}>{body}{extra}</messageStore>'
    )


def _endpoint(url: str) -> str:
    return f'<endpoint xmlns="http://ws.apache.org/ns/synapse" name="Backend"><address uri="{url}"/></endpoint>'


def _arrivals(received: list[tuple[float, int]]) -> list[int]:
    return [order for _, order in received]


async def _recording_backend(backend: Any) -> tuple[Any, list[tuple[float, int]]]:
    received: list[tuple[float, int]] = []

    def handle(request: web.Request, body: bytes) -> web.Response:
        item = json.loads(body)
        received.append((time.time(), item.get("order", item.get("seq"))))
        return web.Response(status=200)

    return await backend(handle), received


# -- cron ----------------------------------------------------------------------------------------------------
async def test_a_cron_forwarding_processor_drains_the_store_on_each_fire(gateway: Any, backend: Any) -> None:
    """cronExpression schedules it; with cron.expression and throttle.interval each fire sends everything stored,
    throttle.interval apart (W: ForwardingService under isRunningUnderCronExpression): five messages 300 ms apart
    leave within one fire, where the default mode would send them back to back."""
    server, received = await _recording_backend(backend)
    client = await gateway(
        {
            "proxies/Orders.xml": _storing_proxy(),
            "message-stores/Pending.xml": _store("Pending"),
            "message-processors/Cron.xml": _processor(
                FORWARDER,
                "Pending",
                {
                    "cronExpression": "0/2 * * * * ?",
                    "cron.expression": "0/2 * * * * ?",
                    "throttle.interval": "300",
                    "client.retry.interval": "50",
                },
                "Cron",
            ),
            "endpoints/Backend.xml": _endpoint(str(server.make_url("/orders"))),
        }
    )
    state = client.app[STATE]
    state.processor_active["Cron"] = False  # fill the store first
    for i in range(5):
        assert (await client.post("/services/Orders", json={"order": i})).status == 202
    assert client.config.message_stores["Pending"].size() == 5
    state.processor_active["Cron"] = True
    await until(lambda: len(received) == 5, seconds=10)
    assert _arrivals(received) == [0, 1, 2, 3, 4]
    times = [t for t, _ in received]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(0.25 <= gap <= 0.7 for gap in gaps), f"one fire sent them all, throttle.interval apart: {gaps}"
    assert int(times[0]) % 2 == 0 and times[0] - int(times[0]) < 0.7, f"sent at a fire (even second): {times[0]}"


async def test_a_cron_processor_without_throttling_sends_one_message_per_fire(gateway: Any, backend: Any) -> None:
    server, received = await _recording_backend(backend)
    client = await gateway(
        {
            "proxies/Orders.xml": _storing_proxy(),
            "message-stores/Pending.xml": _store("Pending"),
            "message-processors/Cron.xml": _processor(
                FORWARDER, "Pending", {"cronExpression": "* * * * * ?", "throttle": "false", "interval": "20"}, "Cron"
            ),
            "endpoints/Backend.xml": _endpoint(str(server.make_url("/orders"))),
        }
    )
    for i in range(3):
        assert (await client.post("/services/Orders", json={"order": i})).status == 202
    await until(lambda: len(received) == 3, seconds=10)
    assert _arrivals(received) == [0, 1, 2]
    gaps = [b[0] - a[0] for a, b in zip(received, received[1:], strict=False)]
    assert all(gap > 0.7 for gap in gaps), f"one per fire, a second apart: {gaps}"


async def test_a_cron_sampling_processor_takes_concurrency_messages_per_fire(gateway: Any, backend: Any) -> None:
    server, received = await _recording_backend(backend)
    client = await gateway(
        {
            "proxies/Orders.xml": _storing_proxy(),
            "message-stores/Pending.xml": _store("Pending"),
            "message-processors/Sampler.xml": _processor(
                SAMPLER,
                "Pending",
                {"cronExpression": "* * * * * ?", "concurrency": "2", "sequence": "Deliver", "interval": "20"},
                "Sampler",
                target=None,
            ),
            "sequences/Deliver.xml": f"""
                <sequence xmlns="http://ws.apache.org/ns/synapse" name="Deliver">
                  <call><endpoint><address uri="{server.make_url("/sampled")}"/></endpoint></call>
                </sequence>""",
        }
    )
    state = client.app[STATE]
    state.processor_active["Sampler"] = False
    for i in range(4):
        assert (await client.post("/services/Orders", json={"order": i})).status == 202
    state.processor_active["Sampler"] = True
    await until(lambda: len(received) == 4, seconds=10)
    assert client.config.message_processors["Sampler"].type == "Sampling-processor"
    times = [t for t, _ in received]
    assert times[1] - times[0] < 0.5 and times[3] - times[2] < 0.5, "two at each fire"
    assert times[2] - times[1] > 0.6, f"the next two at the next fire: {times}"


# -- failover forwarding -----------------------------------------------------------------------------------
async def test_the_failover_processor_moves_messages_into_the_target_store(
    gateway: Any, backend: Any, tmp_path: Path
) -> None:
    server, received = await _recording_backend(backend)
    client = await gateway(
        {
            "proxies/Orders.xml": _storing_proxy(),
            "message-stores/Pending.xml": _store("Pending"),
            "message-stores/Durable.xml": _store(
                "Durable", JDBC, {"store.jdbc.connection.url": f"jdbc:sqlite:{tmp_path / 'target.db'}"}
            ),
            "message-processors/Mover.xml": _processor(
                FAILOVER, "Pending", {"interval": "20", "message.target.store.name": "Durable"}, "Mover", target=None
            ),
            "message-processors/Sender.xml": _processor(FORWARDER, "Durable", {"interval": "20"}, "Sender"),
            "endpoints/Backend.xml": _endpoint(str(server.make_url("/orders"))),
        }
    )
    for i in range(4):
        assert (await client.post("/services/Orders", json={"order": i})).status == 202
    await until(lambda: len(received) == 4)
    assert _arrivals(received) == [0, 1, 2, 3], "moved and forwarded in store order"
    # W: MessageProcessorResource's type names, as the management API lists them
    assert client.config.message_processors["Mover"].type == "Failover-scheduled-message-forwarding-processor"
    assert client.config.message_stores["Pending"].size() == 0
    await until(lambda: client.config.message_stores["Durable"].size() == 0)


async def test_the_failover_processor_moves_messages_into_a_rabbitmq_store(gateway: Any, tmp_path: Path) -> None:
    """SQLite to RabbitMQ: each message is in the broker's queue (confirmed) before it leaves the SQLite file."""
    require_service("rabbitmq")
    import aio_pika

    queue = f"gw-failover-{uuid.uuid4().hex[:8]}"
    client = await gateway(
        {
            "proxies/Orders.xml": _storing_proxy(),
            "message-stores/Pending.xml": _store(
                "Pending", JDBC, {"store.jdbc.connection.url": f"jdbc:sqlite:{tmp_path / 'source.db'}"}
            ),
            "message-stores/Broker.xml": _store(
                "Broker",
                RABBIT,
                {
                    "store.rabbitmq.host.name": "127.0.0.1",
                    "store.rabbitmq.host.port": "5672",
                    "store.rabbitmq.queue.name": queue,
                    "store.rabbitmq.username": "guest",
                    "store.rabbitmq.password": "guest",
                },
            ),
            "message-processors/Mover.xml": _processor(
                FAILOVER, "Pending", {"interval": "20", "message.target.store.name": "Broker"}, "Mover", target=None
            ),
        }
    )
    for i in range(3):
        assert (await client.post("/services/Orders", json={"order": i})).status == 202
    await until(lambda: client.config.message_stores["Pending"].size() == 0)
    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=True)
        bodies = []
        while (message := await declared.get(no_ack=True, fail=False)) is not None:
            bodies.append(json.loads(StoredMessage.from_bytes(message.body).body)["order"])
        await declared.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
    assert bodies == [0, 1, 2], "each moved once, in order"


async def test_a_failover_processor_keeps_the_message_until_the_target_store_has_it(gateway: Any) -> None:
    """The target store is down: the move is retried, then the processor deactivates (max.delivery.attempts)
    and the message is still first in the source store."""
    client = await gateway(
        {
            "proxies/Orders.xml": _storing_proxy(),
            "message-stores/Pending.xml": _store("Pending"),
            "message-stores/Down.xml": _store(
                "Down", JDBC, {"store.jdbc.connection.url": "jdbc:postgresql://127.0.0.1:1/test"}
            ),
            "message-processors/Mover.xml": _processor(
                FAILOVER,
                "Pending",
                {
                    "interval": "20",
                    "client.retry.interval": "20",
                    "max.delivery.attempts": "2",
                    "message.target.store.name": "Down",
                },
                "Mover",
                target=None,
            ),
        }
    )
    for i in range(2):
        assert (await client.post("/services/Orders", json={"order": i})).status == 202
    state = client.app[STATE]
    await until(lambda: state.processor_active.get("Mover") is False, seconds=15)
    assert client.config.message_stores["Pending"].size() == 2, "nothing left the source store"


# -- resequencing -------------------------------------------------------------------------------------------
def _resequencing_files(server: Any, store_params: dict[str, str], timeout: int, name: str) -> dict[str, str]:
    return {
        "proxies/Orders.xml": _storing_proxy(name),
        f"message-stores/{name}.xml": _store(
            name,
            RESEQUENCE,
            {**store_params, "store.resequence.timeout": str(timeout)},
            extra='<parameter name="store.resequence.id.path" expression="json-eval($.seq)"/>',
        ),
        "message-processors/Sender.xml": _processor(
            FORWARDER, name, {"interval": "20", "client.retry.interval": "20"}, "Sender"
        ),
        "endpoints/Backend.xml": _endpoint(str(server.make_url("/orders"))),
    }


def _server_store(kind: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    if kind == "postgresql":
        require_service("postgresql")
        url, user = "jdbc:postgresql://127.0.0.1:5432/test", "postgres"
    else:
        require_service("mariadb")
        url, user = "jdbc:mysql://127.0.0.1:3306/test", "root"
    return {"store.jdbc.connection.url": url, "store.jdbc.username": user, "store.jdbc.table": f"RS_{tag}"}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mariadb"])
async def test_the_resequencing_store_hands_messages_out_in_sequence_order(
    gateway: Any, backend: Any, tmp_path: Path, kind: str
) -> None:
    server, received = await _recording_backend(backend)
    params = (
        {"store.jdbc.connection.url": f"jdbc:sqlite:{tmp_path / 'reseq.db'}"}
        if kind == "sqlite"
        else _server_store(kind)
    )
    name = f"Seq{uuid.uuid4().hex[:8]}"  # the last number handed out is kept per store name
    client = await gateway(_resequencing_files(server, params, 30, name))
    for seq in (3, 2):
        assert (await client.post("/services/Orders", json={"seq": seq})).status == 202
    await until(lambda: client.config.message_stores[name].size() == 2)
    assert received == [], "1 is missing: 2 and 3 wait for it"
    assert (await client.post("/services/Orders", json={"seq": 1})).status == 202
    await until(lambda: len(received) == 3)
    assert _arrivals(received) == [1, 2, 3]
    await until(lambda: client.config.message_stores[name].size() == 0)
    await client.close()
    # A restart goes on after the last number acknowledged (W: readStartId, tbl_lastprocessid).
    second = await gateway(_resequencing_files(server, params, 30, name))
    for seq in (5, 4):
        assert (await second.post("/services/Orders", json={"seq": seq})).status == 202
    await until(lambda: len(received) == 5)
    assert _arrivals(received) == [1, 2, 3, 4, 5]


async def test_the_resequencing_store_skips_a_gap_after_its_timeout(gateway: Any, backend: Any, tmp_path: Path) -> None:
    server, received = await _recording_backend(backend)
    params = {"store.jdbc.connection.url": f"jdbc:sqlite:{tmp_path / 'gap.db'}"}
    client = await gateway(_resequencing_files(server, params, 1, "Gappy"))
    assert (await client.post("/services/Orders", json={"seq": 1})).status == 202
    await until(lambda: len(received) == 1)
    posted = time.time()
    for seq in (4, 3):  # 2 never comes
        assert (await client.post("/services/Orders", json={"seq": seq})).status == 202
    await until(lambda: len(received) == 3, seconds=10)
    assert _arrivals(received) == [1, 3, 4], "after the wait, on from the lowest number stored"
    assert received[1][0] - posted > 0.7, "it waited store.resequence.timeout (1 s) for 2 first"


async def test_the_sequence_number_may_come_from_an_xpath_with_namespaces(
    gateway: Any, backend: Any, tmp_path: Path
) -> None:
    seen: list[str] = []

    def handle(request: web.Request, body: bytes) -> web.Response:
        seen.append(body.decode())
        return web.Response(status=200)

    server = await backend(handle)
    files = _resequencing_files(server, {"store.jdbc.connection.url": f"jdbc:sqlite:{tmp_path / 'x.db'}"}, 30, "Xml")
    files["message-stores/Xml.xml"] = files["message-stores/Xml.xml"].replace(
        '<parameter name="store.resequence.id.path" expression="json-eval($.seq)"/>',
        '<parameter xmlns:m="urn:orders" name="store.resequence.id.path" expression="//m:order/m:seq"/>',
    )
    client = await gateway(files)
    for seq in (2, 1):
        body = f'<m:order xmlns:m="urn:orders"><m:seq>{seq}</m:seq></m:order>'
        response = await client.post("/services/Orders", data=body, headers={"Content-Type": "application/xml"})
        assert response.status == 202
    await until(lambda: len(seen) == 2)
    assert ["<m:seq>1</m:seq>" in seen[0], "<m:seq>2</m:seq>" in seen[1]] == [True, True]


async def test_a_message_without_a_sequence_number_is_refused_by_the_store(gateway: Any, tmp_path: Path) -> None:
    client = await gateway(
        {
            "proxies/Orders.xml": _storing_proxy("Seq"),
            "message-stores/Seq.xml": _store(
                "Seq",
                RESEQUENCE,
                {"store.jdbc.connection.url": f"jdbc:sqlite:{tmp_path / 's.db'}", "store.resequence.timeout": "1"},
                extra='<parameter name="store.resequence.id.path" expression="json-eval($.seq)"/>',
            ),
        }
    )
    response = await client.post("/services/Orders", json={"seq": "first"})
    assert response.status == 500
    assert "not a whole number" in await response.text()


def test_deploy_errors_for_cron_failover_and_resequencing(tmp_path: Path) -> None:
    root = write_artifacts(
        tmp_path,
        {
            "message-stores/Pending.xml": _store("Pending"),
            "message-stores/NoPath.xml": _store("NoPath", RESEQUENCE, {"store.resequence.timeout": "1"}),
            "message-stores/BadWait.xml": _store(
                "BadWait",
                RESEQUENCE,
                {"store.resequence.timeout": "soon"},
                extra='<parameter name="store.resequence.id.path" expression="//seq"/>',
            ),
            "message-processors/BadCron.xml": _processor(
                FORWARDER, "Pending", {"cronExpression": "every minute"}, "BadCron"
            ),
            "message-processors/NoTarget.xml": _processor(FAILOVER, "Pending", {}, "NoTarget", target=None),
            "message-processors/Nowhere.xml": _processor(
                FAILOVER, "Pending", {"message.target.store.name": "Missing"}, "Nowhere", target=None
            ),
            "message-stores/Jms.xml": _store("Jms", "org.apache.synapse.message.store.impl.jms.JmsStore"),
            "message-stores/MemoryPath.xml": _store(
                "MemoryPath", extra='<parameter name="store.resequence.id.path" expression="//seq"/>'
            ),
            "message-processors/FromJms.xml": _processor(FORWARDER, "Jms", {}, "FromJms"),
            "message-processors/NoMembers.xml": _processor(FORWARDER, "Pending", {"member.count": "0"}, "NoMembers"),
            "message-processors/ManyMembers.xml": _processor(
                FORWARDER, "Pending", {"member.count": "two"}, "ManyMembers"
            ),
            "endpoints/Backend.xml": _endpoint("http://127.0.0.1:9/x"),
        },
    )
    config = load(root, settings=Settings(artifacts=root))
    by_file = {Path(p.location.path).name: str(p) for p in config.failed}
    [from_jms] = [str(p) for p in config.dangling if "FromJms.xml" in str(p)]
    assert "message store 'Jms' is not deployed" in from_jms
    assert "Jms.xml defines it but failed to deploy (see its problems)" in from_jms, "not 'deploy it in …'"
    assert "deploy it in message-stores/" in next(str(p) for p in config.dangling if "Nowhere.xml" in str(p))
    assert "store.resequence.id.path" in by_file["NoPath.xml"] and 'expression="//seq"' in by_file["NoPath.xml"]
    assert "store.resequence.timeout must be whole seconds" in by_file["BadWait.xml"]
    assert "only a resequencing store reads an expression" in by_file["MemoryPath.xml"], "never taken as text"
    assert "cronExpression" in by_file["BadCron.xml"] and "6 or 7 fields" in by_file["BadCron.xml"]
    assert "message.target.store.name" in by_file["NoTarget.xml"]
    assert "member.count must be 1 or more, not 0" in by_file["NoMembers.xml"]
    assert "parameter member.count must be a whole number, not 'two'" in by_file["ManyMembers.xml"]
    [nowhere] = [str(p) for p in config.dangling if "Nowhere.xml" in str(p)]
    assert "message store 'Missing' (message.target.store.name) is not deployed" in nowhere


async def test_stopping_survives_a_driver_that_turns_cancellation_into_its_own_error() -> None:
    """asyncmy raises InterfaceError('Cancelled during execution') when a processor is cancelled mid-query at
    shutdown: stopping the processors must still end cleanly (and stop the others)."""
    import asyncio

    from gateway.runtime.processors import MessageProcessorSpec, Processors

    async def mid_query() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise RuntimeError("Cancelled during execution") from None

    async def idle() -> None:
        await asyncio.sleep(60)

    processors = Processors(state=None, services=None)  # type: ignore[arg-type]
    spec = MessageProcessorSpec("P", "forwarding", FORWARDER, "S", ())
    first, second = asyncio.create_task(mid_query()), asyncio.create_task(idle())
    await asyncio.sleep(0)
    processors._running = {"P": (spec, first), "Q": (spec, second)}
    await processors.stop()
    assert first.done() and second.cancelled() and processors._running == {}
