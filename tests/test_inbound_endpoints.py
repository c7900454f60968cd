"""Inbound endpoints (issue 15, item 6): an HTTP listener on its own port, a file poller and a RabbitMQ consumer,
each injecting into a sequence; a real gateway on loopback, a real folder and the real broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

from gateway.deploy.loader import load
from gateway.settings import Settings
from tests.conftest import require_service, write_artifacts
from tests.support.subprocess_gateway import free_port
from tests.support.waiting import until


def _inbound(name: str, protocol: str, params: dict[str, str], sequence: str | None = "Handle") -> str:
    body = "".join(f'<parameter name="{k}">{v}</parameter>' for k, v in params.items())
    seq = f' sequence="{sequence}" onError="Oops"' if sequence else ""
    return (
        f'<inboundEndpoint xmlns="http://ws.apache.org/ns/synapse" name="{name}" protocol="{protocol}"'
        f' suspend="false"{seq}><parameters>{body}</parameters></inboundEndpoint>'
    )


ECHO_SEQUENCE = """
<sequence xmlns="http://ws.apache.org/ns/synapse" name="Handle">
  <property name="inbound" expression="get-property('inbound.endpoint.name')"/>
  <payloadFactory media-type="json"><format>{"via":"$1"}</format>
    <args><arg expression="get-property('inbound')"/></args></payloadFactory>
  <respond/>
</sequence>"""
OOPS = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="Oops"><log level="simple"/></sequence>"""


async def _get(url: str, **kwargs: Any) -> tuple[int, str]:
    deadline = time.monotonic() + 10
    async with ClientSession() as http:
        while True:
            try:
                async with http.post(url, **kwargs) as response:
                    return response.status, await response.text()
            except OSError:
                assert time.monotonic() < deadline, f"nothing listens at {url}"
                await asyncio.sleep(0.05)


async def test_an_http_inbound_endpoint_runs_its_sequence_on_its_own_port(gateway: Any) -> None:
    port = free_port()
    await gateway(
        {
            "sequences/Handle.xml": ECHO_SEQUENCE,
            "sequences/Oops.xml": OOPS,
            "inbound-endpoints/Http.xml": _inbound("HttpIn", "http", {"inbound.http.port": str(port)}),
        },
        host="127.0.0.1",
    )
    status, text = await _get(f"http://127.0.0.1:{port}/anything", json={"x": 1})
    assert (status, text) == (200, '{"via":"HttpIn"}')


async def test_an_http_inbound_endpoint_without_a_sequence_dispatches_to_proxies(gateway: Any) -> None:
    port = free_port()
    proxy = """<proxy xmlns="http://ws.apache.org/ns/synapse" name="Hello"><target><inSequence>
        <payloadFactory media-type="json"><format>{"hello":true}</format><args/></payloadFactory><respond/>
        </inSequence></target></proxy>"""
    await gateway(
        {
            "proxies/Hello.xml": proxy,
            "inbound-endpoints/Http.xml": _inbound(
                "Dispatch", "http", {"inbound.http.port": str(port), "dispatch.filter.pattern": "/services/Hel.*"}, None
            ),
        },
        host="127.0.0.1",
    )
    assert await _get(f"http://127.0.0.1:{port}/services/Hello", json={}) == (200, '{"hello":true}')
    status, _ = await _get(f"http://127.0.0.1:{port}/services/Other", json={})
    assert status == 404


async def test_the_file_poller_injects_each_matching_file_and_moves_it(
    gateway: Any, backend: Any, tmp_path: Path
) -> None:
    server = await backend(lambda request, body: web.Response(status=200))
    inbox, done = tmp_path / "in", tmp_path / "done"
    inbox.mkdir()
    (inbox / "a.xml").write_text("<order>1</order>")
    (inbox / "b.xml").write_text("<order>2</order>")
    (inbox / "skip.txt").write_text("not for us")
    deliver = f"""<sequence xmlns="http://ws.apache.org/ns/synapse" name="Handle">
        <property name="OUT_ONLY" value="true"/>
        <header name="X-File" scope="transport" expression="$trp:FILE_NAME"/>
        <call><endpoint><address uri="{server.make_url("/files")}"/></endpoint></call></sequence>"""
    await gateway(
        {
            "sequences/Handle.xml": deliver,
            "sequences/Oops.xml": OOPS,
            "inbound-endpoints/Files.xml": _inbound(
                "Files",
                "file",
                {
                    "interval": "50",
                    "transport.vfs.FileURI": f"file://{inbox}",
                    "transport.vfs.FileNamePattern": r".*\.xml",
                    "transport.vfs.ContentType": "application/xml",
                    "transport.vfs.ActionAfterProcess": "MOVE",
                    "transport.vfs.MoveAfterProcess": f"file://{done}",
                },
            ),
        }
    )
    await until(lambda: len(server.requests) == 2)
    assert [(r["headers"]["X-File"], r["body"]) for r in server.requests] == [
        ("a.xml", b"<order>1</order>"),
        ("b.xml", b"<order>2</order>"),
    ]
    await until(lambda: sorted(p.name for p in done.iterdir()) == ["a.xml", "b.xml"])
    assert [p.name for p in inbox.iterdir()] == ["skip.txt"]


async def test_the_rabbitmq_consumer_injects_and_acknowledges(gateway: Any, backend: Any) -> None:
    require_service("rabbitmq")
    import aio_pika

    server = await backend(lambda request, body: web.Response(status=200))
    queue = f"gateway-inbound-{uuid.uuid4().hex[:8]}"
    deliver = f"""<sequence xmlns="http://ws.apache.org/ns/synapse" name="Handle">
        <property name="OUT_ONLY" value="true"/>
        <call><endpoint><address uri="{server.make_url("/amqp")}"/></endpoint></call></sequence>"""
    await gateway(
        {
            "sequences/Handle.xml": deliver,
            "sequences/Oops.xml": OOPS,
            "inbound-endpoints/Amqp.xml": _inbound(
                "Amqp",
                "rabbitmq",
                {
                    "rabbitmq.server.host.name": "127.0.0.1",
                    "rabbitmq.server.port": "5672",
                    "rabbitmq.server.user.name": "guest",
                    "rabbitmq.server.password": "guest",
                    "rabbitmq.queue.name": queue,
                },
            ),
        }
    )
    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=True)
        for i in range(3):
            body = f'{{"n":{i}}}'.encode()
            await channel.default_exchange.publish(
                aio_pika.Message(body, content_type="application/json"), routing_key=queue
            )
        await until(lambda: len(server.requests) == 3)
        assert [r["body"] for r in server.requests] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
        await asyncio.sleep(0.2)
        declared = await channel.declare_queue(queue, durable=True, passive=True)
        assert declared.declaration_result.message_count == 0, "every message was acknowledged"
        await channel.queue_delete(queue)


def test_unsupported_inbound_protocols_say_so(tmp_path: Path) -> None:
    root = write_artifacts(
        tmp_path,
        {
            "inbound-endpoints/Jms.xml": _inbound("Jms", "jms", {}),
            "inbound-endpoints/Port.xml": _inbound("Port", "http", {"inbound.http.port": "abc"}),
        },
    )
    problems = " | ".join(str(p) for p in load(root, settings=Settings(artifacts=root)).failed)
    assert "JMS (there is no JMS client for Python" in problems and "not supported yet" in problems
    assert "inbound.http.port must be a port number, not 'abc'" in problems
