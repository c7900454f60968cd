"""Fault handling: the handler stack, ERROR_* codes and the client never left waiting (docs/synapse-semantics.md §6)."""

from __future__ import annotations

import asyncio
import socket

import orjson
from aiohttp import web

S = 'xmlns="http://ws.apache.org/ns/synapse"'
REPORT = (
    '<property name="HTTP_SC" value="599" scope="axis2"/>'
    '<header name="X-Code" scope="transport" expression="get-property(\'ERROR_CODE\')"/>'
    '<header name="X-Message" scope="transport" expression="get-property(\'ERROR_MESSAGE\')"/>'
    '<header name="X-Handler" scope="transport" value="{handler}"/><respond/>'
)


def report(handler: str) -> str:
    return REPORT.replace("{handler}", handler)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def post(client, path, body=b"<a/>", ctype="application/xml"):
    return await client.post(path, data=body, headers={"Content-Type": ctype})


async def test_on_error_beats_fault_sequence_which_beats_global_fault(gateway):
    failing = '<property name="x" value="abc" type="INTEGER"/>'  # a runtime conversion error
    client = await gateway(
        {
            "sequences/fault.xml": f'<sequence {S} name="fault">{report("global")}</sequence>',
            "sequences/onErr.xml": f'<sequence {S} name="onErr">{report("onError")}</sequence>',
            "sequences/withOnError.xml": f'<sequence {S} name="withOnError" onError="onErr">{failing}</sequence>',
            "sequences/plain.xml": f'<sequence {S} name="plain">{failing}</sequence>',
            "proxies/A.xml": f'<proxy {S} name="A"><target><inSequence><sequence key="withOnError"/></inSequence>'
            f"<faultSequence>{report('proxy')}</faultSequence></target></proxy>",
            "proxies/B.xml": f'<proxy {S} name="B"><target><inSequence><sequence key="plain"/></inSequence>'
            f"<faultSequence>{report('proxy')}</faultSequence></target></proxy>",
            "proxies/C.xml": f'<proxy {S} name="C"><target><inSequence><sequence key="plain"/></inSequence>'
            "</target></proxy>",
            "proxies/D.xml": f'<proxy {S} name="D"><target faultSequence="missingSeq"><inSequence>{failing}'
            "</inSequence></target></proxy>",
        },
        with_defaults=False,
    )
    expected = {"A": "onError", "B": "proxy", "C": "global", "D": "global"}
    for name, handler in expected.items():
        response = await post(client, f"/services/{name}")
        assert response.status == 599, name
        assert response.headers["X-Handler"] == handler, name
        assert response.headers["X-Code"] == "0", name


async def test_refused_backend_gives_101503(gateway):
    client = await gateway(
        {
            "proxies/P.xml": f'<proxy {S} name="P"><target><endpoint><address '
            f'uri="http://127.0.0.1:{closed_port()}/x"/></endpoint>'
            f"<faultSequence>{report('proxy')}</faultSequence></target></proxy>"
        }
    )
    response = await post(client, "/services/P")
    assert response.headers["X-Code"] == "101503"
    assert response.headers["X-Message"] == "Error connecting to the back end"


async def test_slow_backend_gives_101504_within_the_endpoint_timeout(gateway, backend):
    async def slow(request: web.Request, body: bytes):
        await asyncio.sleep(3)
        return web.Response(text="late")

    server = await backend(slow)
    client = await gateway(
        {
            "proxies/P.xml": f'<proxy {S} name="P"><target><endpoint><address '
            f'uri="{server.make_url("/slow")}"><timeout><duration>300</duration>'
            "</timeout></address></endpoint>"
            f"<faultSequence>{report('proxy')}</faultSequence></target></proxy>"
        }
    )
    response = await post(client, "/services/P")
    assert response.headers["X-Code"] == "101504"  # the back end would have answered "late" after 3 s


async def test_missing_endpoint_key_gives_305100_per_request(gateway):
    client = await gateway(
        {
            "proxies/P.xml": f'<proxy {S} name="P"><target><inSequence><send><endpoint '
            'key="bogus"/></send></inSequence>'
            f"<faultSequence>{report('proxy')}</faultSequence></target></proxy>"
        }
    )
    assert "P" in client.config.proxies  # dangling references are not deploy errors
    response = await post(client, "/services/P")
    assert response.headers["X-Code"] == "305100"
    assert response.headers["X-Message"] == "Couldn't find the endpoint with the key : bogus"


async def test_missing_sequence_key_fails_per_request(gateway):
    client = await gateway(
        {
            "proxies/P.xml": f'<proxy {S} name="P"><target inSequence="nope">'
            f"<faultSequence>{report('proxy')}</faultSequence></target></proxy>"
        }
    )
    response = await post(client, "/services/P")
    assert response.status == 599
    assert response.headers["X-Message"] == "Sequence named nope cannot be found"


async def test_unhandled_error_never_leaves_the_client_waiting(gateway):
    """A fault sequence that drops (MI: 202 or a hang) still yields an error answer here."""
    client = await gateway(
        {
            "sequences/fault.xml": f'<sequence {S} name="fault"><drop/></sequence>',
            "proxies/P.xml": f'<proxy {S} name="P"><target><inSequence><property name="x" value="a" type="INTEGER"/>'
            "</inSequence></target></proxy>",
        },
        with_defaults=False,
    )
    response = await post(client, "/services/P", b'{"a":1}', "application/json")
    assert response.status == 500
    body = orjson.loads(await response.read())
    assert body["error"]["code"] == 0
    assert "INTEGER" in body["error"]["message"] or "convert" in body["error"]["message"]


async def test_oversized_body_is_rejected_with_413(gateway):
    client = await gateway(
        {
            "proxies/P.xml": f'<proxy {S} name="P"><target><inSequence>'
            '<property name="s" expression="//a"/><respond/></inSequence>'
            "</target></proxy>"
        },
        max_body_bytes=1000,
    )
    response = await post(client, "/services/P", b"<a>" + b"x" * 5000 + b"</a>")
    assert response.status == 413
