"""cache (MI 4) over real HTTP: finder and collector, hits served without the back end, onCacheHit, timeout,
methods, headersToExcludeInHash, responseCodes, maxMessageSize, Cache-Control, the LRU bound, deploy errors."""

from __future__ import annotations

import asyncio
import itertools

from aiohttp import web

from gateway.cli import main as cli
from tests.conftest import write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'


def cached_api(finder: str, backend_url: str, protocol: str = "", extra: str = "") -> dict[str, str]:
    return {
        "api/Cached.xml": f"""<api {S} name="Cached" context="/c">
          <resource methods="GET POST" uri-template="/*">
            <inSequence>
              <cache {finder}>{protocol}{extra}</cache>
              <call><endpoint><address uri="{backend_url}"/></endpoint></call>
              <cache collector="true"/>
              <respond/>
            </inSequence>
          </resource></api>"""
    }


async def counting_backend(backend, status: int = 200, headers: dict[str, str] | None = None, size: int = 0):
    counter = itertools.count(1)

    async def answer(request: web.Request, body: bytes) -> web.Response:
        n = next(counter)
        return web.json_response({"n": n, "pad": "x" * size}, status=status, headers=headers or {})

    return await backend(answer)


async def n_of(client, path: str = "/c/a", method: str = "GET", **headers: str) -> tuple[int, int]:
    response = await client.request(method, path, headers=headers, json={"q": 1} if method == "POST" else None)
    return response.status, (await response.json())["n"]


async def test_second_request_is_served_from_the_cache(gateway, backend):
    server = await counting_backend(backend)
    client = await gateway(cached_api('collector="false" timeout="60"', str(server.make_url("/b"))))
    assert await n_of(client) == (200, 1)
    assert await n_of(client) == (200, 1)  # a hit: the back end is not called again
    assert await n_of(client, "/c/other") == (200, 2)  # another URL, another hash
    assert len(server.requests) == 2


async def test_reply_headers_and_age(gateway, backend):
    server = await counting_backend(backend, headers={"X-Backend": "yes"})
    protocol = '<protocol type="HTTP"><includeAgeHeader>true</includeAgeHeader></protocol>'
    client = await gateway(cached_api('collector="false"', str(server.make_url("/b")), protocol))
    first = await client.get("/c/a")
    assert "Age" not in first.headers
    second = await client.get("/c/a")
    assert second.headers["X-Backend"] == "yes" and second.headers["Age"] == "0"
    assert second.headers["Content-Type"].startswith("application/json")
    assert await second.json() == await first.json()


async def test_timeout_expires_entries(gateway, backend):
    server = await counting_backend(backend)
    client = await gateway(cached_api('collector="false" timeout="1"', str(server.make_url("/b"))))
    assert await n_of(client) == (200, 1)
    await asyncio.sleep(1.1)
    assert await n_of(client) == (200, 2)


async def test_methods_headers_and_codes(gateway, backend):
    server = await counting_backend(backend)
    protocol = """<protocol type="HTTP"><methods>GET</methods>
        <headersToExcludeInHash>X-Request-Id</headersToExcludeInHash><responseCodes>2[0-9][0-9]</responseCodes>
        </protocol>"""
    client = await gateway(cached_api('collector="false"', str(server.make_url("/b")), protocol))
    assert await n_of(client, method="POST") == (200, 1)
    assert await n_of(client, method="POST") == (200, 2)  # POST is not cached
    assert await n_of(client, **{"X-Request-Id": "1"}) == (200, 3)
    assert await n_of(client, **{"X-Request-Id": "2"}) == (200, 3)  # the excluded header does not count
    assert await n_of(client, **{"X-Other": "1"}) == (200, 4)  # any other header does


async def test_error_replies_are_not_cached(gateway, backend):
    server = await counting_backend(backend, status=503)
    protocol = '<protocol type="HTTP"><responseCodes>2[0-9][0-9]</responseCodes></protocol>'
    client = await gateway(cached_api('collector="false"', str(server.make_url("/b")), protocol))
    assert (await n_of(client))[1] == 1
    assert (await n_of(client))[1] == 2


async def test_max_message_size(gateway, backend):
    server = await counting_backend(backend, size=2000)
    client = await gateway(cached_api('collector="false" maxMessageSize="1000"', str(server.make_url("/b"))))
    assert (await n_of(client))[1] == 1
    assert (await n_of(client))[1] == 2  # too big to be kept


async def test_cache_control(gateway, backend):
    server = await counting_backend(backend, headers={"Cache-Control": "no-store"})
    protocol = '<protocol type="HTTP"><enableCacheControl>true</enableCacheControl></protocol>'
    client = await gateway(cached_api('collector="false"', str(server.make_url("/b")), protocol))
    assert (await n_of(client))[1] == 1
    assert (await n_of(client))[1] == 2


async def test_lru_bound_and_on_cache_hit(gateway, backend):
    server = await counting_backend(backend)
    extra = """<onCacheHit><header name="X-Cache" value="HIT" scope="transport"/><respond/></onCacheHit>
        <implementation maxSize="2"/>"""
    client = await gateway(cached_api('collector="false"', str(server.make_url("/b")), extra=extra))
    for path in ("/c/1", "/c/2", "/c/3"):
        await n_of(client, path)
    hit = await client.get("/c/3")
    assert hit.headers["X-Cache"] == "HIT" and (await hit.json())["n"] == 3
    assert (await n_of(client, "/c/1"))[1] == 4  # the least recently used one was dropped


def test_deploy_errors(tmp_path, capsys):
    def api(name: str, cache: str) -> dict[str, str]:
        return {
            f"api/{name}.xml": f'<api {S} name="{name}" context="/{name}"><resource methods="GET">'
            f"<inSequence>{cache}<respond/></inSequence></resource></api>"
        }

    root = write_artifacts(
        tmp_path,
        {
            **api("NoCollector", "<cache/>"),
            **api(
                "BadMethod",
                '<cache collector="false"><protocol type="HTTP"><methods>FETCH</methods></protocol></cache>',
            ),
            **api(
                "JavaHash",
                '<cache collector="false"><protocol type="HTTP"><hashGenerator>com.acme.MyHash</hashGenerator>'
                "</protocol></cache>",
            ),
        },
    )
    assert cli(["validate", str(root)]) != 0
    out = capsys.readouterr().out
    assert "The collector attribute must be specified" in out
    assert "Unexpected method type: FETCH" in out
    assert "the hash generator com.acme.MyHash is a Java class" in out


async def test_proxy_with_collector_in_the_out_sequence(gateway, backend):
    """The Synapse layout: the finder in the inSequence, the collector in the outSequence."""
    server = await counting_backend(backend)
    client = await gateway(
        {
            "proxies/P.xml": f"""<proxy {S} name="P"><target>
              <inSequence><cache collector="false" timeout="60"/>
                <send><endpoint><address uri="{server.make_url("/b")}"/></endpoint></send></inSequence>
              <outSequence><cache collector="true"/><send/></outSequence></target></proxy>"""
        }
    )
    body = b"<getQuote><symbol>IBM</symbol></getQuote>"
    replies = []
    for payload in (body, body, b"<getQuote><symbol>MSFT</symbol></getQuote>"):
        response = await client.post("/services/P", data=payload, headers={"Content-Type": "application/xml"})
        replies.append((await response.json())["n"])
    assert replies == [1, 1, 2]  # the same body is a hit; another body is not
