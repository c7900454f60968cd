"""The happy path creates no reference cycles: a message's context, payload and trees are freed as soon
as the reply is written, not at the next full garbage collection (which let RSS double under load)."""

from __future__ import annotations

import gc

from aiohttp import web

S = 'xmlns="http://ws.apache.org/ns/synapse"'


def garbage_summary() -> dict[str, int]:
    counts: dict[str, int] = {}
    for obj in gc.garbage:
        name = type(obj).__name__
        counts[name] = counts.get(name, 0) + 1
    return counts


async def test_requests_leave_no_cyclic_garbage(gateway, backend):
    async def echo(request: web.Request, body: bytes):
        return web.Response(body=body, content_type=request.content_type)

    server = await backend(echo)
    client = await gateway(
        {
            "proxies/Json.xml": f'<proxy {S} name="Json"><target><inSequence>'
            '<property name="a" expression="//a/text()"/>'
            '<property name="b" expression="json-eval($.b)"/><filter source="$ctx:a" regex="x">'
            "<then><respond/></then></filter></inSequence></target></proxy>",
            "proxies/Cbr.xml": f'<proxy {S} name="Cbr"><target><inSequence><filter xpath="//a = \'x\'"><then><send>'
            f'<endpoint><address uri="{server.make_url("/e")}"/></endpoint></send></then></filter>'
            "</inSequence><outSequence><send/></outSequence></target></proxy>",
        }
    )
    requests = [
        ("/services/Json", b'{"a":"x","b":{"c":[1,2]}}', "application/json"),
        ("/services/Cbr", b"<r><a>x</a></r>", "application/xml"),
    ]
    for path, body, ctype in requests:  # warm up connections and caches
        assert (await client.post(path, data=body, headers={"Content-Type": ctype})).status == 200
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(10):
            for path, body, ctype in requests:
                response = await client.post(path, data=body, headers={"Content-Type": ctype})
                assert response.status == 200
                await response.read()
        gc.collect()
        assert garbage_summary() == {}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
