"""The `rabbitmq:` address transport of endpoints (issue 15; W: axis2 RabbitMQSender) against the real broker on
127.0.0.1:5672: a gateway on loopback publishes what its clients send, answers 202 for OUT_ONLY, and does
request-response through a reply-to queue with a correlation id."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from gateway.deploy.loader import load
from gateway.settings import Settings
from tests.conftest import require_service, write_artifacts
from tests.support.waiting import until

BROKER = (
    "rabbitmq.server.host.name=127.0.0.1&amp;rabbitmq.server.port=5672&amp;"
    "rabbitmq.server.user.name=guest&amp;rabbitmq.server.password=guest"
)
FORWARDER = "org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor"


async def _connect() -> Any:
    import aio_pika

    return await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")


async def _drain(queue_name: str, count: int, seconds: float = 10) -> list[Any]:
    connection = await _connect()
    got: list[Any] = []
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True)
        deadline = asyncio.get_running_loop().time() + seconds
        while len(got) < count and asyncio.get_running_loop().time() < deadline:
            message = await queue.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            got.append(message)
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
    return got


def _proxy(uri: str, out_only: bool) -> str:
    before = (
        '<property name="OUT_ONLY" value="true"/><property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/>'
        if out_only
        else ""
    )
    after = "" if out_only else "<respond/>"
    return f"""
<proxy xmlns="http://ws.apache.org/ns/synapse" name="Publish" transports="http">
  <target>
    <inSequence>
      {before}
      <call><endpoint><address uri="{uri}"/></endpoint></call>
      {after}
    </inSequence>
  </target>
</proxy>"""


async def test_an_out_only_send_publishes_to_the_queue_and_the_client_gets_202(gateway: Any) -> None:
    require_service("rabbitmq")
    queue = f"gw-ep-{uuid.uuid4().hex[:8]}"
    exchange = f"gw-ex-{uuid.uuid4().hex[:8]}"
    uri = f"rabbitmq:/Orders?{BROKER}&amp;rabbitmq.queue.name={queue}&amp;rabbitmq.exchange.name={exchange}"
    client = await gateway({"proxies/Publish.xml": _proxy(uri, out_only=True)})
    for i in range(3):
        response = await client.post("/services/Publish", json={"order": i})
        assert response.status == 202
    got = await _drain(queue, 3)
    assert [json.loads(m.body)["order"] for m in got] == [0, 1, 2]
    assert got[0].content_type.startswith("application/json")
    assert got[0].delivery_mode == 2, "persistent by default (rabbitmq.queue.delivery.mode)"
    assert got[0].message_id and got[0].correlation_id == got[0].message_id
    connection = await _connect()
    try:
        channel = await connection.channel()
        await channel.get_exchange(exchange, ensure=True)  # declared by the gateway, durable direct
        await channel.exchange_delete(exchange)
    finally:
        await connection.close()


async def test_request_response_through_a_reply_to_queue(gateway: Any) -> None:
    """Not OUT_ONLY: the message carries reply-to and a correlation id; the service's answer is the reply."""
    require_service("rabbitmq")
    import aio_pika

    queue = f"gw-rpc-{uuid.uuid4().hex[:8]}"
    connection = await _connect()
    channel = await connection.channel()
    service = await channel.declare_queue(queue, durable=True)

    async def answer(request: Any) -> None:
        async with request.process():
            item = json.loads(request.body)
            await channel.default_exchange.publish(
                aio_pika.Message(
                    json.dumps({"total": item["n"] * 2}).encode(),
                    content_type="application/json",
                    correlation_id=request.correlation_id,
                ),
                routing_key=request.reply_to,
            )

    await service.consume(answer)
    try:
        uri = f"rabbitmq:/{queue}?{BROKER}&amp;rabbitmq.queue.name={queue}"
        client = await gateway({"proxies/Publish.xml": _proxy(uri, out_only=False)})
        response = await client.post("/services/Publish", json={"n": 21})
        assert response.status == 200, await response.text()
        assert await response.json() == {"total": 42}
    finally:
        await service.delete(if_unused=False, if_empty=False)
        await connection.close()


async def test_no_reply_in_time_is_an_endpoint_timeout(gateway: Any) -> None:
    require_service("rabbitmq")
    queue = f"gw-silent-{uuid.uuid4().hex[:8]}"
    uri = f"rabbitmq:/{queue}?{BROKER}&amp;rabbitmq.queue.name={queue}&amp;rabbitmq.wait.reply.timeout=300"
    client = await gateway({"proxies/Publish.xml": _proxy(uri, out_only=False)})
    response = await client.post("/services/Publish", json={"n": 1})
    text = await response.text()
    assert response.status >= 500 and "Did not receive a response within 300ms" in text
    await _drain(queue, 1)


async def test_stored_messages_are_forwarded_to_a_rabbitmq_endpoint(gateway: Any) -> None:
    require_service("rabbitmq")
    queue = f"gw-fwd-{uuid.uuid4().hex[:8]}"
    client = await gateway(
        {
            "proxies/Orders.xml": """
<proxy xmlns="http://ws.apache.org/ns/synapse" name="Orders" transports="http">
  <target><inSequence>
    <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/>
    <property name="OUT_ONLY" value="true"/>
    <store messageStore="Pending"/>
  </inSequence></target>
</proxy>""",
            "message-stores/Pending.xml": '<messageStore xmlns="http://ws.apache.org/ns/synapse" name="Pending"/>',
            "message-processors/Forwarder.xml": f"""
<messageProcessor xmlns="http://ws.apache.org/ns/synapse" name="Forwarder" class="{FORWARDER}"
                  messageStore="Pending" targetEndpoint="Broker">
  <parameter name="interval">20</parameter>
</messageProcessor>""",
            "endpoints/Broker.xml": f"""<endpoint xmlns="http://ws.apache.org/ns/synapse" name="Broker">
  <address uri="rabbitmq:/{queue}?{BROKER}&amp;rabbitmq.queue.name={queue}"/></endpoint>""",
        }
    )
    for i in range(3):
        assert (await client.post("/services/Orders", json={"order": i})).status == 202
    await until(lambda: client.config.message_stores["Pending"].size() == 0)
    got = await _drain(queue, 3)
    assert [json.loads(m.body)["order"] for m in got] == [0, 1, 2], "published once each, in store order"


async def test_a_to_from_the_message_is_checked_against_the_outbound_allow_list(gateway: Any) -> None:
    require_service("rabbitmq")
    queue = f"gw-to-{uuid.uuid4().hex[:8]}"
    proxy = """
<proxy xmlns="http://ws.apache.org/ns/synapse" name="Dynamic" transports="http">
  <target><inSequence>
    <property name="OUT_ONLY" value="true"/>
    <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/>
    <header name="To" expression="$trp:X-Destination"/>
    <call><endpoint><default/></endpoint></call>
  </inSequence></target>
</proxy>"""
    client = await gateway({"proxies/Dynamic.xml": proxy}, outbound_allow=("loopback",))
    allowed = f"rabbitmq:/{queue}?{BROKER.replace('&amp;', '&')}&rabbitmq.queue.name={queue}"
    response = await client.post("/services/Dynamic", json={"to": "loopback"}, headers={"X-Destination": allowed})
    assert response.status == 202
    got = await _drain(queue, 1)
    assert [json.loads(m.body) for m in got] == [{"to": "loopback"}]
    # A broker elsewhere is refused before any connection (logged: the out-only send has no client to answer).
    client2 = await gateway(
        {"proxies/Dynamic.xml": proxy.replace("OUT_ONLY", "NOT_OUT_ONLY")}, outbound_allow=("loopback",)
    )
    elsewhere = allowed.replace("127.0.0.1", "broker.example.com")
    response = await client2.post("/services/Dynamic", json={}, headers={"X-Destination": elsewhere})
    assert response.status == 403
    assert "Outbound destination not allowed" in await response.text()


def test_address_uris_are_checked_at_deploy_time(tmp_path: Path) -> None:
    def endpoint(name: str, uri: str) -> str:
        return f'<endpoint xmlns="http://ws.apache.org/ns/synapse" name="{name}"><address uri="{uri}"/></endpoint>'

    root = write_artifacts(
        tmp_path,
        {
            "endpoints/Good.xml": endpoint("Good", f"rabbitmq:/Q?{BROKER}&amp;rabbitmq.queue.name=Q"),
            "endpoints/Factory.xml": endpoint(
                "Factory", "rabbitmq:/Q?rabbitmq.connection.factory=AMQPConnectionFactory&amp;rabbitmq.queue.name=Q"
            ),
            "endpoints/Typo.xml": endpoint("Typo", f"rabbitmq:/Q?{BROKER}&amp;rabbitmq.queue.nmae=Q"),
            "endpoints/Jms.xml": endpoint("Jms", "jms:/StockQuote?transport.jms.DestinationType=queue"),
            "endpoints/Fix.xml": endpoint("Fix", "fix://localhost:19876?BeginString=FIX.4.0"),
        },
        with_defaults=False,
    )
    config = load(root, settings=Settings(artifacts=root))
    by_file = {Path(p.location.path).name: str(p) for p in config.failed}
    assert "Good" in config.endpoints and "Good.xml" not in by_file
    assert "AMQPConnectionFactory" in by_file["Factory.xml"] and "rabbitmq.server.host.name" in by_file["Factory.xml"]
    assert "unknown parameter 'rabbitmq.queue.nmae'" in by_file["Typo.xml"]
    assert "'jms' transport" in by_file["Jms.xml"] and "rabbitmq:/" in by_file["Jms.xml"]
    assert "'fix' transport" in by_file["Fix.xml"]


async def test_a_broker_that_cannot_be_reached_is_an_endpoint_failure(gateway: Any) -> None:
    """No broker: the send fails with MI's connection-failure code (101503), so suspension and fault sequences
    work as for an HTTP back end."""
    uri = "rabbitmq:/Q?rabbitmq.server.host.name=127.0.0.1&amp;rabbitmq.server.port=1&amp;rabbitmq.queue.name=Q"
    proxy = f"""
<proxy xmlns="http://ws.apache.org/ns/synapse" name="Publish" transports="http">
  <target>
    <inSequence><call><endpoint><address uri="{uri}"/></endpoint></call><respond/></inSequence>
    <faultSequence>
      <payloadFactory media-type="json"><format>{{"code": "$1"}}</format>
        <args><arg evaluator="xml" expression="get-property('ERROR_CODE')"/></args></payloadFactory>
      <respond/>
    </faultSequence>
  </target>
</proxy>"""
    client = await gateway({"proxies/Publish.xml": proxy})
    response = await client.post("/services/Publish", json={"n": 1})
    assert (await response.json()) == {"code": "101503"}


def test_an_outbound_rule_may_name_a_rabbitmq_broker() -> None:
    from gateway.outbound import OutboundPolicy

    policy = OutboundPolicy(("rabbitmq://broker.example.com",))
    assert policy.allows("rabbitmq://broker.example.com/")
    assert not policy.allows("rabbitmq://broker.example.com:5673/")
    assert not policy.allows("rabbitmq://other.example.com/")
    assert not policy.allows("https://broker.example.com/"), "a rabbitmq rule allows no HTTP"


async def test_a_queue_that_exists_with_other_settings_is_used_as_it_is(gateway: Any) -> None:
    """W: checkAndIgnoreInEquivalentParamException: a queue declared elsewhere as not durable still gets the
    message (the endpoint's default is durable)."""
    require_service("rabbitmq")
    queue = f"gw-transient-{uuid.uuid4().hex[:8]}"
    connection = await _connect()
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=False)
        uri = f"rabbitmq:/{queue}?{BROKER}&amp;rabbitmq.queue.name={queue}"
        client = await gateway({"proxies/Publish.xml": _proxy(uri, out_only=True)})
        assert (await client.post("/services/Publish", json={"n": 1})).status == 202
        got = None
        for _ in range(100):
            got = await declared.get(no_ack=True, fail=False)
            if got is not None:
                break
            await asyncio.sleep(0.05)
        assert got is not None and json.loads(got.body) == {"n": 1}
        await declared.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()


async def test_connections_are_shared_and_closed_once_unused(gateway: Any, monkeypatch: Any) -> None:
    """Two endpoints on one broker share one connection; once no endpoint has used it for IDLE_SECONDS (an
    undeployed endpoint, say) it is closed."""
    require_service("rabbitmq")
    from gateway.runtime import amqp
    from gateway.transport.server import SERVICES

    monkeypatch.setattr(amqp, "IDLE_SECONDS", 1.5)
    first, second = f"gw-a-{uuid.uuid4().hex[:8]}", f"gw-b-{uuid.uuid4().hex[:8]}"

    def uri(queue: str) -> str:
        return f"rabbitmq:/{queue}?{BROKER}&amp;rabbitmq.queue.name={queue}"

    proxy = f"""
<proxy xmlns="http://ws.apache.org/ns/synapse" name="Publish" transports="http">
  <target><inSequence>
    <property name="OUT_ONLY" value="true"/>
    <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/>
    <clone>
      <target><endpoint><address uri="{uri(first)}"/></endpoint></target>
      <target><endpoint><address uri="{uri(second)}"/></endpoint></target>
    </clone>
  </inSequence></target>
</proxy>"""
    client = await gateway({"proxies/Publish.xml": proxy})
    assert (await client.post("/services/Publish", json={"n": 1})).status == 202
    assert len(await _drain(first, 1)) == 1 and len(await _drain(second, 1)) == 1
    senders = client.app[SERVICES].amqp
    assert senders.open_connections() == 1, "one connection for the broker"
    await until(lambda: senders.open_connections() == 0, seconds=10)
