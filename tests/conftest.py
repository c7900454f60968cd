"""Shared fixtures: a real gateway on loopback built from artifact files, and small backend stubs."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import settings

from gateway.deploy.loader import load
from gateway.settings import Settings
from gateway.transport.server import create_app

SYNAPSE = 'xmlns="http://ws.apache.org/ns/synapse"'
REPO = Path(__file__).resolve().parent.parent

# Property tests (tests/test_fuzz_*.py). No deadline: the house rule is no wall-clock bounds in tests.
# default: a quick pass on every run; ci (.ci/run): more examples, derandomized so a CI failure reproduces
# with the same command; long: a local fuzz session (see tests/test_fuzz_payload.py).
settings.register_profile("default", max_examples=20, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True, database=None,
                          print_blob=True)
settings.register_profile("long", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def write_artifacts(root: Path, files: dict[str, str], *, with_defaults: bool = True) -> Path:
    """files: {"proxies/Echo.xml": "<proxy …>"}; the shipped main/fault sequences are copied in."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).strip() + "\n", encoding="utf-8")
    if with_defaults:
        for name in ("main.xml", "fault.xml"):
            shipped = REPO / "sequences" / name
            target = root / "sequences" / name
            if shipped.exists() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    return root


@pytest.fixture
def gateway(aiohttp_client, tmp_path):
    """`client = await gateway({"proxies/P.xml": "..."}, **settings)` → an aiohttp TestClient talking
    HTTP to a real gateway on 127.0.0.1. `client.app` exposes the app (config, services)."""

    async def start(files: dict[str, str], *, with_defaults: bool = True, **overrides):
        root = write_artifacts(tmp_path / "artifacts", files, with_defaults=with_defaults)
        settings = Settings(artifacts=root, **overrides)
        config = load(root, settings=settings)
        client = await aiohttp_client(create_app(settings, config))
        client.config = config
        return client

    return start


@pytest.fixture
def backend(aiohttp_server):
    """`server = await backend(handler)` or `await backend({"/path": handler})` → a stub HTTP backend;
    `server.make_url("/x")` builds its URLs; `server.requests` records what it received."""

    async def start(handlers):
        if callable(handlers):
            handlers = {"/{tail:.*}": handlers}
        received: list[dict] = []
        app = web.Application(client_max_size=1024**3)

        def recording(handler):
            async def wrapped(request: web.Request):
                body = await request.read()
                received.append({"method": request.method, "path": request.path_qs,
                                 "headers": dict(request.headers), "body": body})
                return await handler(request, body)

            return wrapped

        for path, handler in handlers.items():
            app.router.add_route("*", path, recording(handler))
        server = await aiohttp_server(app)
        server.requests = received
        return server

    return start
