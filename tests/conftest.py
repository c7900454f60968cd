"""Shared fixtures: a real gateway on loopback built from artifact files, and small backend stubs."""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from hypothesis import settings
from synapse_gateway_connectors.twilio_rest.sandbox import create_app as create_sandbox_app

from gateway.connector import ConnectorRegistry
from gateway.deploy.loader import load
from gateway.settings import Settings
from gateway.transport.server import create_app
from tests.support.stockquote import SampleServer
from tests.support.subprocess_gateway import FAST_RESPAWN, PING, Gateway
from tests.support.twilio_sandbox import Sandbox

SYNAPSE = 'xmlns="http://ws.apache.org/ns/synapse"'
REPO = Path(__file__).resolve().parent.parent

# Property tests (tests/test_fuzz_*.py). No deadline: the house rule is no wall-clock bounds in tests.
# default: a quick pass on every run; ci (.ci/run): more examples, derandomized so a CI failure reproduces
# with the same command; long: a local fuzz session (see tests/test_fuzz_payload.py).
settings.register_profile("default", max_examples=20, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True, database=None, print_blob=True)
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
def ca(tmp_path: Path) -> tuple[trustme.CA, Path]:
    """A certificate authority made for the test (trustme) and its certificate as a PEM bundle, for
    outbound.ca_bundle: TLS back ends on loopback whose certificates the gateway can be told to trust."""
    authority = trustme.CA()
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    return authority, bundle


@pytest.fixture
def gateway(aiohttp_client, tmp_path):
    """`client = await gateway({"proxies/P.xml": "..."}, registry=registry, **settings)` → an aiohttp
    TestClient talking HTTP to a real gateway on 127.0.0.1 (the bundled connectors unless a registry is given).
    `client.app` exposes the app (config, services)."""

    async def start(files: dict[str, str], *, with_defaults: bool = True, registry=None, **overrides):
        root = write_artifacts(tmp_path / "artifacts", files, with_defaults=with_defaults)
        settings = Settings(artifacts=root, **overrides)
        registry = registry if registry is not None else ConnectorRegistry.discover()
        config = load(root, settings=settings, connectors=registry)
        client = await aiohttp_client(create_app(settings, config, registry))
        client.config = config
        return client

    return start


@pytest.fixture
def backend(aiohttp_server):
    """`server = await backend(handler)` or `await backend({"/path": handler})` → a stub HTTP backend
    (a handler is `(request, body) -> response`, plain or async);
    `server.make_url("/x")` builds its URLs; `server.requests` records what it received."""

    async def start(handlers):
        if callable(handlers):
            handlers = {"/{tail:.*}": handlers}
        received: list[dict] = []
        app = web.Application(client_max_size=1024**3)

        def recording(handler):
            async def wrapped(request: web.Request):
                body = await request.read()
                received.append(
                    {"method": request.method, "path": request.path_qs, "headers": dict(request.headers), "body": body}
                )
                result = handler(request, body)
                return await result if inspect.isawaitable(result) else result

            return wrapped

        for path, handler in handlers.items():
            app.router.add_route("*", path, recording(handler))
        server = await aiohttp_server(app)
        server.requests = received
        return server

    return start


@pytest.fixture
async def sandbox(aiohttp_server) -> Sandbox:
    """The Twilio sandbox on loopback; `sandbox.url` is its base URL, `sandbox.requests` what it received."""
    responses: list[tuple[str, str, int, bytes]] = []

    @web.middleware
    async def record(request: web.Request, handler):
        response = await handler(request)
        if request.path.startswith(("/2010-04-01/", "/v2/")):  # the API and Verify v2
            responses.append((request.method, request.path, response.status, bytes(response.body or b"")))
        return response

    app = create_sandbox_app(status_delays=(0.0, 0.0), time_scale=1000.0)  # queues drain 1000x faster
    app.middlewares.append(record)
    return Sandbox(await aiohttp_server(app), responses)


@pytest.fixture
async def stockquote() -> AsyncIterator[Callable[..., Awaitable[SampleServer]]]:
    """`svc = await stockquote(name="SimpleStockQuoteService", server_name="MyServer1", delay=0, ...)` → the
    Synapse samples' Axis2 back end on a free loopback port (tests/support/stockquote.py): `svc.url` is the named
    service's address, `svc.requests` what it received; `svc.delay`, `svc.answer_status`, `await svc.stop()`."""
    servers: list[SampleServer] = []

    async def start(name: str = "SimpleStockQuoteService", **options) -> SampleServer:
        server = SampleServer(name, **options)
        servers.append(server)
        return await server.start()

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """`serve(port, workers, files={...}, env={...}, args=[...])` → a running `python3 -m gateway serve`
    subprocess; its whole process group is killed afterwards, whatever the test did."""
    processes: list[subprocess.Popen] = []

    def start(
        port: int,
        workers: int = 1,
        *,
        files: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> Gateway:
        name = f"gateway{len(processes)}"
        artifacts = write_artifacts(tmp_path / name, {"proxies/Ping.xml": PING} if files is None else files)
        log_path = tmp_path / f"{name}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gateway",
                    "serve",
                    "--artifacts",
                    str(artifacts),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                    # Many gateways run at once here: the management port (9164) only when a test asks for it.
                    *([] if any(a.startswith("--management") for a in args or []) else ["--no-management"]),
                    *(args or []),
                ],
                cwd=REPO,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **FAST_RESPAWN, **(env or {})},
            )
        processes.append(process)
        return Gateway(process, log_path, port)

    try:
        yield start
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the parent and any worker it left behind
            except ProcessLookupError:
                pass
            process.wait()


# -- real services (PostgreSQL, MariaDB, Redis, RabbitMQ, Mosquitto, NATS) on 127.0.0.1 -------------------------
SERVICES = {"postgresql": 5432, "mariadb": 3306, "redis": 6379, "rabbitmq": 5672, "mosquitto": 1883, "nats": 4222}


def require_service(name: str) -> int:
    """The port of a local service a test needs. Missing, the test skips with the reason; in CI
    (GATEWAY_REQUIRE_SERVICES=1, set by .ci/run, which starts the services) it fails instead."""
    import socket

    port = SERVICES[name]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError as exc:
        reason = f"{name} is not running on 127.0.0.1:{port} ({exc.strerror or exc}); see .ci/run to start it"
        if os.environ.get("GATEWAY_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return port
