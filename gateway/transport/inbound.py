"""Runs the inbound endpoints of the served configuration (gateway/runtime/inbound.py), following hot deployment:

- http: a listener on `inbound.http.port` (SO_REUSEPORT, so every worker of `--workers N` serves it); with a
  sequence each request runs it as a proxy would (reply, faults, onError), else requests whose path matches
  `dispatch.filter.pattern` go to the proxies and APIs as on the main port (W: InboundHttpListener);
- file: polls `transport.vfs.FileURI` every `interval` ms for names matching `transport.vfs.FileNamePattern`,
  injects each file and deletes or moves it after (MI's VFS inbound parameters); one process only;
- rabbitmq: consumes `rabbitmq.queue.name` (declared durable, bound to `rabbitmq.exchange.name` when given) and
  acknowledges a message once its sequence ends; a fault sequence that sets SET_ROLLBACK_ONLY requeues it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from aiohttp import web

from gateway.message.stored import StoredMessage, restore
from gateway.runtime.tasks import runs_tasks_here

if TYPE_CHECKING:
    from gateway.runtime.inbound import InboundSpec
    from gateway.runtime.services import Services
    from gateway.runtime.state import RuntimeState

log = logging.getLogger("gateway.inbound")

# The main app's request handlers, handed over by the server (no import cycle).
Handler = Callable[..., Awaitable[web.StreamResponse]]


class InboundEndpoints:
    def __init__(
        self, state: RuntimeState, services: Services, main_app: web.Application, handlers: dict[str, Any]
    ) -> None:
        self.state = state
        self.services = services
        self.main_app = main_app
        self.handlers = handlers
        self._running: dict[str, tuple[InboundSpec, Any]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._reconcile_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _spec, runner in list(self._running.values()):
            await _stop(runner)
        self._running.clear()

    async def _reconcile_forever(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception:  # one bad listener must not stop the others
                log.exception("inbound endpoints: reconciling failed")
            await asyncio.sleep(0.2)

    async def reconcile(self) -> None:
        wanted = {name: spec for name, spec in self.state.config.inbound_endpoints.items() if not spec.suspended}
        for name, (spec, old) in list(self._running.items()):
            if wanted.get(name) is not spec:
                del self._running[name]
                await _stop(old)
        for name, spec in wanted.items():
            if name in self._running:
                continue
            if spec.protocol == "http":
                runner: Any = await self._listen(spec)
            elif spec.protocol == "file":
                if not runs_tasks_here():
                    continue
                runner = asyncio.create_task(self._poll_files(spec), name=f"inbound {name}")
            else:
                runner = asyncio.create_task(self._consume_rabbitmq(spec), name=f"inbound {name}")
            self._running[name] = (spec, runner)

    # -- HTTP --------------------------------------------------------------------------------------
    async def _listen(self, spec: InboundSpec) -> web.AppRunner:
        app = web.Application(client_max_size=self.services.settings.max_body_bytes)
        for key in self.handlers["keys"]:
            app[key] = self.main_app[key]
        serve: Handler = self.handlers["mediate"]
        service: Handler = self.handlers["service"]
        unknown: Handler = self.handlers["unknown"]
        name = spec.name

        async def inbound(request: web.Request) -> web.StreamResponse:
            current = self.state.config.inbound_endpoints.get(name) or spec
            if current.flow is not None:
                return await serve(request, self.state.config, current.flow)
            if current.dispatch is not None and not current.dispatch.fullmatch(request.path):
                return web.Response(status=404)
            if request.path.startswith("/services/"):
                rest = request.path[len("/services/") :]
                request.match_info["name"] = rest.split("/", 1)[0]
                return await service(request)
            return await unknown(request)

        app.router.add_route("*", "/{tail:.*}", inbound)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.services.settings.host, spec.port, reuse_port=True)
        await site.start()
        log.info("inbound endpoint %s listening on port %s", name, spec.port)
        return runner

    # -- file --------------------------------------------------------------------------------------
    async def _poll_files(self, spec: InboundSpec) -> None:
        folder = _path(spec.parameter("transport.vfs.FileURI"))
        pattern = re.compile(spec.parameter("transport.vfs.FileNamePattern", ".*") or ".*")
        content_type = spec.parameter("transport.vfs.ContentType", "text/plain") or "text/plain"
        interval = int(spec.parameter("interval", "1000") or 1000) / 1000
        while True:
            try:
                names = sorted(entry.name for entry in os.scandir(folder) if entry.is_file())
            except OSError as exc:
                log.warning("inbound endpoint %s: cannot list %s: %s", spec.name, folder, exc)
                names = []
            for file_name in names:
                if not pattern.fullmatch(file_name):
                    continue
                path = folder / file_name
                try:
                    data = await asyncio.to_thread(path.read_bytes)
                except OSError:
                    continue  # taken by another poller, or still being written
                headers = (("Content-Type", content_type), ("FILE_NAME", file_name), ("FILE_PATH", str(path)))
                ok = await self._inject(spec, data, content_type, headers, {"FILE_NAME": file_name})
                after = "Process" if ok else "Failure"
                await asyncio.to_thread(_after_file, spec, path, after)
            await asyncio.sleep(interval)

    # -- RabbitMQ ----------------------------------------------------------------------------------
    async def _consume_rabbitmq(self, spec: InboundSpec) -> None:
        import aio_pika

        p = spec.parameter
        while True:
            try:
                connection = await aio_pika.connect_robust(
                    host=p("rabbitmq.server.host.name", "localhost"),
                    port=int(p("rabbitmq.server.port", "5672") or 5672),
                    login=p("rabbitmq.server.user.name", "guest"),
                    password=p("rabbitmq.server.password", "guest"),
                    virtualhost=p("rabbitmq.server.virtual.host", "/") or "/",
                )
                break
            except Exception as exc:  # noqa: BLE001 - the broker is down: try again
                log.warning("inbound endpoint %s: cannot reach RabbitMQ: %s", spec.name, exc)
                await asyncio.sleep(2)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=1)  # one message at a time, in order (MI's sequential)
            queue = await channel.declare_queue(p("rabbitmq.queue.name"), durable=True)
            exchange_name = p("rabbitmq.exchange.name")
            if exchange_name:
                exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.DIRECT, durable=True)
                await queue.bind(exchange, p("rabbitmq.queue.routing.key") or queue.name)
            default_type = p("rabbitmq.message.content.type", "text/plain") or "text/plain"
            async with queue.iterator() as messages:
                async for message in messages:
                    content_type = message.content_type or default_type
                    headers = [("Content-Type", content_type)]
                    headers += [(str(k), str(v)) for k, v in (message.headers or {}).items()]
                    ctx_props = {"RABBITMQ_MESSAGE_ID": message.message_id or ""}
                    outcome: dict[str, Any] = {}
                    ok = await self._inject(spec, message.body, content_type, tuple(headers), ctx_props, outcome)
                    if ok or not outcome.get("rollback"):
                        await message.ack()
                    else:
                        await message.nack(requeue=True)
        finally:
            await connection.close()

    # -- injection ---------------------------------------------------------------------------------
    async def _inject(
        self,
        spec: InboundSpec,
        body: bytes,
        content_type: str,
        headers: tuple[tuple[str, str], ...],
        properties: dict[str, Any],
        outcome: dict[str, Any] | None = None,
    ) -> bool:
        """Run one message through the endpoint's sequence; True when it ended without a fault."""
        assert spec.flow is not None
        message = StoredMessage(
            message_id=f"urn:uuid:{uuid.uuid4()}",
            body=body,
            content_type=content_type,
            method="POST",
            path=f"/{spec.name}",
            client_kind="empty",
            soap_action=None,
            to=None,
            headers=headers,
            properties={"inbound.endpoint.name": spec.name, **properties},
            axis2={"messageType": content_type.split(";")[0].strip()},
        )
        ctx = restore(message, self.state.config, self.services)
        ctx.proxy = spec.flow
        try:
            await self.services.engine.mediate_proxy(spec.flow, ctx)
            if ctx.exchange.pending:  # the copies of a split (iterate, clone) end first
                await ctx.exchange.settle()
        except Exception:
            log.exception("inbound endpoint %s: mediation failed", spec.name)
            return False
        finally:
            for close in ctx.exchange.closing_tasks:
                close()
        if outcome is not None:
            outcome["rollback"] = str(ctx.properties.get("SET_ROLLBACK_ONLY", "")).lower() == "true"
        return not ctx.exchange.faulted


def _path(uri: str) -> Path:
    return Path(unquote(urlsplit(uri).path))


def _after_file(spec: InboundSpec, path: Path, after: str) -> None:
    action = spec.parameter(f"transport.vfs.ActionAfter{after}", "DELETE").upper() or "DELETE"
    try:
        if action == "MOVE":
            target = _path(spec.parameter(f"transport.vfs.MoveAfter{after}"))
            target.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(target / path.name))
        elif action == "DELETE":
            path.unlink(missing_ok=True)
    except OSError as exc:
        log.error("inbound endpoint %s: %s after %s of %s failed: %s", spec.name, action, after.lower(), path, exc)


async def _stop(runner: Any) -> None:
    if isinstance(runner, web.AppRunner):
        await runner.cleanup()
        return
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await runner
