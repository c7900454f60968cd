"""Echo back end: returns the request body with the same Content-Type and status 200 (under `[/echo]/delay/<ms>`,
after that many milliseconds).

Small bodies are read whole (cheapest path); large or chunked bodies are streamed back chunk by chunk
so that the back end itself never buffers a 100 MB transfer.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bench._serve import serve_cli

_READ_WHOLE_LIMIT = 1 << 20


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def echo(request: web.Request) -> web.StreamResponse:
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    length = request.content_length
    if length is not None and length <= _READ_WHOLE_LIMIT:
        body = await request.read()
        return web.Response(body=body, status=200, headers={"Content-Type": content_type})
    resp = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    if length is not None:
        resp.content_length = length
    await resp.prepare(request)
    async for chunk in request.content.iter_any():
        await resp.write(chunk)
    await resp.write_eof()
    return resp


async def delayed_echo(request: web.Request) -> web.StreamResponse:
    """`/delay/<ms>…`: the echo after that many milliseconds (a back end with some latency)."""
    await asyncio.sleep(int(request.match_info["ms"]) / 1000)
    return await echo(request)


def make_app() -> web.Application:
    # client_max_size only guards read(); streaming bodies are not limited by it.
    app = web.Application(client_max_size=16 << 20)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", r"/delay/{ms:\d+}{tail:.*}", delayed_echo)
    app.router.add_route("*", r"/echo/delay/{ms:\d+}{tail:.*}", delayed_echo)  # under the runner's echo URL
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


def main(argv: list[str] | None = None) -> None:
    serve_cli("aiohttp echo back end for the benchmark", make_app, argv)


if __name__ == "__main__":
    main()
