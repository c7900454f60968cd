"""twilioRest on the gateway's own HTTP client (gateway.connector.HttpClient, the lean HTTP/1.1 client of
gateway/transport/http1.py): https with the gateway's TLS settings against a real local TLS server, gzip answers
decoded, answers over limits.max_response_bytes refused, a cancelled call's connection not reused. Real gateway,
real servers on loopback."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
import trustme
from aiohttp import web
from synapse_gateway_connectors.twilio_rest.sandbox import create_app as create_sandbox_app

from gateway.transport.server import SERVICES
from tests.support.subprocess_gateway import free_port
from tests.test_twilio_connector import UNKNOWN_SID, creds, sample_send, shipped

Serve = Callable[..., Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """`url = await serve(app, tls=context_or_None)` → the app on a free loopback port (http or https)."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application, tls: ssl.SSLContext | None = None) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls).start()
        return f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}"  # https: the certificate's name

    yield start
    for runner in runners:
        await runner.cleanup()


def server_tls(authority: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert(*names).configure_cert(context)
    return context


async def test_send_sms_over_https_with_the_gateways_tls_settings(gateway, serve, ca):
    authority, bundle = ca
    url = await serve(create_sandbox_app(status_delays=(0.0, 0.0)), server_tls(authority, "localhost", "127.0.0.1"))
    assert url.startswith("https://localhost:")

    trusting = await gateway(shipped(), outbound_ca_bundle=bundle)
    for to in ("+447891063180", "+447891063181"):  # the second on the kept-alive TLS connection
        response = await trusting.post("/services/twilioRest", json=sample_send(url, to=to))
        assert response.status == 201, await response.text()
        assert (await response.json())["to"] == to
    services = trusting.app[SERVICES]
    assert services.connectors["twilioRest"].http.client is services.transport  # the gateway's one client
    port = int(url.rsplit(":", 1)[1])
    assert [c.key for c in services.transport.pool._all] == [("localhost", port, True)]  # one TLS connection, reused

    # the system's CAs do not know the test CA: the certificate fails verification, MI's 101503
    default = await gateway(shipped())
    response = await default.post("/services/twilioRest", json=sample_send(url))
    error = (await response.json())["error"]
    assert error["code"] == 101503 and "twilioRest.sendSms" in error["message"], error

    unchecked = await gateway(shipped(), outbound_verify_tls=False)
    response = await unchecked.post("/services/twilioRest", json=sample_send(url))
    assert response.status == 201


async def test_a_certificate_for_another_host_fails_verification(gateway, serve, ca):
    authority, bundle = ca
    url = await serve(create_sandbox_app(status_delays=(0.0, 0.0)), server_tls(authority, "api.example.com"))
    gw = await gateway(shipped(), outbound_ca_bundle=bundle)  # the CA is trusted, the name is not localhost
    response = await gw.post("/services/twilioRest", json=sample_send(url))
    error = (await response.json())["error"]
    assert error["code"] == 101503 and "twilioRest.sendSms" in error["message"], error


def message(sid: str) -> dict[str, Any]:
    return {"sid": sid, "status": "delivered", "body": "x" * 2000}


async def test_a_gzip_answer_is_decoded_as_aiohttp_did(gateway, serve):
    seen: list[str | None] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Accept-Encoding"))
        body = gzip.compress(orjson.dumps(message(request.match_info["sid"])))
        return web.Response(body=body, content_type="application/json", headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/2010-04-01/Accounts/{account}/Messages/{sid}.json", answer)
    url = await serve(app)
    gw = await gateway(shipped())
    response = await gw.post("/services/twilioGetSms", json=creds(url, messageSid=UNKNOWN_SID))
    assert response.status == 200, await response.text()
    assert await response.json() == message(UNKNOWN_SID)
    assert seen == ["gzip, deflate"]  # what the SDK's aiohttp session asked for


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_answer_over_max_response_bytes_is_refused(gateway, serve, chunked):
    big = orjson.dumps(message(UNKNOWN_SID) | {"body": "y" * 400_000})

    async def answer(request: web.Request) -> web.StreamResponse:
        if not chunked:
            return web.Response(body=big, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(big), 50_000):
            await response.write(big[start : start + 50_000])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/2010-04-01/Accounts/{account}/Messages/{sid}.json", answer)
    url = await serve(app)
    gw = await gateway(shipped(), max_response_bytes=300_000)
    response = await gw.post("/services/twilioGetSms", json=creds(url, messageSid=UNKNOWN_SID))
    assert response.status == 502, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == 101510 and "max_response_bytes" in error["message"], error
    # the connection was not left half-read: the next call is answered
    small = await gateway(shipped())
    response = await small.post("/services/twilioGetSms", json=creds(url, messageSid=UNKNOWN_SID))
    assert response.status == 200


async def test_a_timed_out_call_does_not_leave_its_connection_in_the_pool(gateway, serve):
    calls = 0

    async def answer(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(1.0)  # the first answer comes after the connector's deadline
        return web.json_response(message(request.match_info["sid"]))

    app = web.Application()
    app.router.add_get("/2010-04-01/Accounts/{account}/Messages/{sid}.json", answer)
    url = await serve(app)
    gw = await gateway(shipped(), connectors={"twilioRest": {"timeout": 0.3}})
    response = await gw.post("/services/twilioGetSms", json=creds(url, messageSid=UNKNOWN_SID))
    assert response.status == 504
    await asyncio.sleep(1.2)  # the late answer arrives: nobody may take it for the next request's
    response = await gw.post("/services/twilioGetSms", json=creds(url, messageSid="SM" + "1" * 32))
    assert response.status == 200
    assert (await response.json())["sid"] == "SM" + "1" * 32
