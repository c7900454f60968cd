"""The floor of the stack: a minimal aiohttp reverse proxy with one shared ClientSession.

It forwards method, body and Content-Type to one back-end URL and returns the back end's body, status and
Content-Type. No parsing, no mediation: whatever the gateway costs above this is the gateway's overhead.
"""

from __future__ import annotations

import argparse

import aiohttp
from aiohttp import web

from bench._serve import serve

_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app(backend: str) -> web.Application:
    async def proxy(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {}
        if "Content-Type" in request.headers:
            headers["Content-Type"] = request.headers["Content-Type"]
        async with request.app[_SESSION].request(request.method, backend, data=body, headers=headers) as resp:
            payload = await resp.read()
            out_headers = {}
            if "Content-Type" in resp.headers:
                out_headers["Content-Type"] = resp.headers["Content-Type"]
            return web.Response(body=payload, status=resp.status, headers=out_headers)

    async def on_startup(app: web.Application) -> None:
        # limit=0: the load generator's concurrency, not the pool, should bound in-flight requests.
        app[_SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def on_cleanup(app: web.Application) -> None:
        await app[_SESSION].close()

    app = web.Application(client_max_size=16 << 20)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="bare aiohttp reverse proxy (benchmark floor)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backend", required=True, help="URL every request is forwarded to")
    args = parser.parse_args(argv)
    serve(lambda: make_app(args.backend), args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
