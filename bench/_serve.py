"""Run an aiohttp app in N SO_REUSEPORT processes, the way the gateway runs its workers."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Callable

from aiohttp import web

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a hard dependency on Linux
    uvloop = None  # type: ignore[assignment]


def serve(
    make_app: Callable[[], web.Application], host: str, port: int, workers: int = 1, tls: ssl.SSLContext | None = None
) -> None:
    """Fork ``workers - 1`` children (before any loop exists) and serve in every process (over TLS with `tls`)."""
    for _ in range(max(workers, 1) - 1):
        if os.fork() == 0:
            _run(make_app, host, port, tls)
            os._exit(0)
    _run(make_app, host, port, tls)


def _run(make_app: Callable[[], web.Application], host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
    loop = uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # access_log=None: logging every request would dominate a benchmark.
    web.run_app(
        make_app(),
        host=host,
        port=port,
        ssl_context=tls,
        reuse_port=True,
        access_log=None,
        print=None,
        backlog=1024,
        loop=loop,
        shutdown_timeout=1.0,
    )


def serve_cli(description: str, make_app: Callable[[], web.Application], argv: list[str] | None = None) -> None:
    """`--host --port --workers [--certificate PEM --key PEM]` for a bench server that needs nothing else."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--certificate", help="serve https with this certificate chain (PEM); needs --key")
    parser.add_argument("--key", help="the certificate's private key (PEM)")
    args = parser.parse_args(argv)
    tls = None
    if args.certificate:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.certificate, args.key)
    serve(make_app, args.host, args.port, args.workers, tls)
