"""https endpoints on the gateway's lean HTTP/1.1 client (gateway/transport/http1.py): certificates verified
against the system's CAs or outbound.ca_bundle, the host name checked, outbound.verify_tls: false, TLS >= 1.2,
the TLS connection kept alive and reused, the endpoint timeout and limits.max_response_bytes. A real gateway calls
a real TLS back end on loopback whose certificate a test CA (trustme) issued."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from gateway.transport.server import SERVICES
from tests.support.subprocess_gateway import free_port

SYNAPSE = 'xmlns="http://ws.apache.org/ns/synapse"'
Serve = Callable[..., Awaitable[str]]


class Backend:
    """What the TLS back end saw: the client's port per request (one port: one connection) and the TLS version."""

    def __init__(self) -> None:
        self.peers: list[int] = []
        self.versions: list[str] = []
        self.sizes: list[int] = []  # the request bodies' lengths
        self.delay = 0.0
        self.size = 0


@pytest.fixture
async def tls_backend(ca) -> AsyncIterator[Callable[..., Awaitable[tuple[str, Backend]]]]:
    """`url, seen = await tls_backend("localhost")`: a JSON back end over TLS, its certificate for those names."""
    authority, _ = ca
    runners: list[web.AppRunner] = []

    async def start(*names: str) -> tuple[str, Backend]:
        seen = Backend()

        async def answer(request: web.Request) -> web.Response:
            seen.peers.append(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
            seen.versions.append(request.transport.get_extra_info("ssl_object").version())  # type: ignore[union-attr]
            seen.sizes.append(len(await request.read()))
            if seen.delay:
                await asyncio.sleep(seen.delay)
            if seen.size:
                return web.Response(body=b'{"big":"' + b"x" * seen.size + b'"}', content_type="application/json")
            return web.json_response({"from": "tls backend", "path": request.path})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        authority.issue_cert(*names).configure_cert(context)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
        return f"https://localhost:{port}/orders", seen

    yield start
    for runner in runners:
        await runner.cleanup()


def calling(url: str, timeout_ms: int | None = None) -> dict[str, str]:
    timeout = f"<timeout><duration>{timeout_ms}</duration></timeout>" if timeout_ms else ""
    return {
        "proxies/Out.xml": f"""<proxy {SYNAPSE} name="Out"><target><inSequence>
            <call><endpoint><address uri="{url}">{timeout}</address></endpoint></call><respond/>
            </inSequence><faultSequence>
            <payloadFactory media-type="json"><format>{{"code": "$1", "detail": "$2"}}</format>
              <args><arg evaluator="xml" expression="get-property('ERROR_CODE')"/>
                <arg evaluator="xml" expression="get-property('ERROR_DETAIL')"/></args></payloadFactory>
            <respond/></faultSequence></target></proxy>"""
    }


async def test_an_https_endpoint_is_verified_and_its_connection_reused(gateway, tls_backend, ca):
    _, bundle = ca
    url, seen = await tls_backend("localhost")
    gw = await gateway(calling(url), outbound_ca_bundle=bundle)
    for _ in range(3):
        response = await gw.post("/services/Out", json={"n": 1})
        assert response.status == 200, await response.text()
        assert await response.json() == {"from": "tls backend", "path": "/orders"}
    assert len(set(seen.peers)) == 1  # one TLS connection for the three calls
    assert seen.versions[0] in ("TLSv1.2", "TLSv1.3")
    transport = gw.app[SERVICES].transport
    port = int(url.split(":")[2].split("/")[0])
    assert [c.key for c in transport.pool._all] == [("localhost", port, True)]  # the lean client's, kept alive
    assert transport.pool.tls.minimum_version == ssl.TLSVersion.TLSv1_2


async def test_a_certificate_from_an_unknown_ca_is_101503_with_how_to_trust_it(gateway, tls_backend):
    url, seen = await tls_backend("localhost")
    gw = await gateway(calling(url))  # the system's CAs do not know the test CA
    response = await gw.post("/services/Out", json={})
    error = await response.json()
    assert error["code"] == "101503", error
    assert f"POST {url}" in error["detail"] and "certificate verify failed" in error["detail"], error
    assert "outbound.ca_bundle" in error["detail"], error
    assert seen.peers == []  # nothing was sent


async def test_a_certificate_for_another_host_is_101503(gateway, tls_backend, ca):
    _, bundle = ca
    url, seen = await tls_backend("api.example.com")
    gw = await gateway(calling(url), outbound_ca_bundle=bundle)  # the CA is trusted, the name is not localhost
    response = await gw.post("/services/Out", json={})
    error = await response.json()
    assert error["code"] == "101503", error
    assert "Hostname mismatch" in error["detail"] and "'localhost'" in error["detail"], error
    assert seen.peers == []


async def test_verify_tls_false_accepts_any_certificate(gateway, tls_backend):
    url, seen = await tls_backend("api.example.com")  # an unknown CA and another host: both unchecked
    gw = await gateway(calling(url), outbound_verify_tls=False)
    for _ in range(2):
        response = await gw.post("/services/Out", json={})
        assert await response.json() == {"from": "tls backend", "path": "/orders"}
    assert len(set(seen.peers)) == 1


async def test_an_https_back_end_slower_than_the_endpoint_timeout_is_101504(gateway, tls_backend, ca):
    _, bundle = ca
    url, seen = await tls_backend("localhost")
    seen.delay = 2.0
    gw = await gateway(calling(url, timeout_ms=300), outbound_ca_bundle=bundle)
    response = await gw.post("/services/Out", json={})
    error = await response.json()
    assert error["code"] == "101504", error
    assert "no answer within 0.3 s" in error["detail"], error
    assert not gw.app[SERVICES].transport.pool._all  # the timed-out connection is closed, never reused


async def test_an_https_answer_over_max_response_bytes_is_refused(gateway, tls_backend, ca):
    _, bundle = ca
    url, seen = await tls_backend("localhost")
    seen.size = 400_000  # streamed: over the 256 KiB an answer is read at once
    proxy = f"""<proxy {SYNAPSE} name="Big"><target><inSequence>
        <call><endpoint><address uri="{url}"/></endpoint></call><property name="b" expression="json-eval($.big)"/>
        <respond/></inSequence></target></proxy>"""
    gw = await gateway({"proxies/Big.xml": proxy}, outbound_ca_bundle=bundle, max_response_bytes=100_000)
    response = await gw.post("/services/Big", json={})
    assert response.status == 502
    assert "back end's answer exceeds" in await response.text()


async def test_a_streamed_request_body_goes_to_an_https_back_end_with_the_same_tls_checks(gateway, tls_backend, ca):
    """A body too large to be read at once streams through (aiohttp sends it): the same TLS context applies."""
    _, bundle = ca
    url, seen = await tls_backend("localhost")
    body = b"<big>" + b"x" * 600_000 + b"</big>"
    untrusting = await gateway(calling(url))
    response = await untrusting.post("/services/Out", data=body, headers={"Content-Type": "application/xml"})
    error = await response.json()
    assert error["code"] == "101503" and "outbound.ca_bundle" in error["detail"], error
    assert seen.sizes == []

    gw = await gateway(calling(url), outbound_ca_bundle=bundle)
    response = await gw.post("/services/Out", data=body, headers={"Content-Type": "application/xml"})
    assert await response.json() == {"from": "tls backend", "path": "/orders"}
    assert seen.sizes == [len(body)] and seen.versions[0] in ("TLSv1.2", "TLSv1.3")
