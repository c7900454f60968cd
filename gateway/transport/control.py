"""Hot deployment and the management API at run time, in one process or across `--workers N`.

One process decides. It watches the artifact folders, moves failing files to `.back`, keeps the switches the
management API sets, and serves the management port: the gateway process itself with one worker, or, with
`--workers N`, the supervisor (in a thread of its own). Workers never watch the files: the supervisor tells
each one, through a pipe of its own, to reload from the files once it has fixed them (they are then the truth),
and sends it the switches. A worker that starts or is respawned loads the files, and on attaching is told to
reload and given the switches, so it converges on the same version as the others whatever it missed. A signal
could kill a worker that has not installed its handler yet and is lost when coalesced; a pipe message is neither.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.connector import ConnectorRegistry
from gateway.deploy.file_registry import DECLARATION, REGISTRY_FOLDER
from gateway.deploy.hotdeploy import HotDeployer
from gateway.deploy.loader import FOLDERS, MI_FOLDERS
from gateway.runtime.heap import freeze_deployed
from gateway.runtime.metrics import Snapshot, merge
from gateway.runtime.registry import written_by_gateway
from gateway.runtime.state import RuntimeState
from gateway.settings import Settings

log = logging.getLogger("gateway.control")

# watchfiles groups the events of one save: it yields once nothing changed for STEP ms (at most DEBOUNCE ms).
_DEBOUNCE_MS = 1000
_STEP_MS = 200
_COUNTERS_WAIT = 2.0  # seconds to wait for the workers' counters
# MI's level names and ours; OFF is above every level.
MI_LEVELS = {"OFF": 100, "FATAL": 50, "ERROR": 40, "WARN": 30, "INFO": 20, "DEBUG": 10, "TRACE": 10}
ROOT_LOGGER = "rootLogger"


def set_log_level(logger: str, level: str) -> None:
    """MI's logger name (`rootLogger` is the root) and level name, applied to Python's logging."""
    target = logging.getLogger() if logger == ROOT_LOGGER else logging.getLogger(logger)
    target.setLevel(MI_LEVELS[level.upper()])


class Hub:
    """The deciding process's view: the live state, the deployer, the log levels set at run time. This base
    serves the single-process gateway, where the state is the one that serves."""

    serves = True  # this process serves requests: it freezes each configuration it deploys (runtime.heap)

    def __init__(self, state: RuntimeState, deployer: HotDeployer, settings: Settings) -> None:
        self.state = state
        self.deployer = deployer
        self.settings = settings
        self.log_levels: dict[str, str] = {}
        self._reloading = asyncio.Lock()

    async def reload(self) -> None:
        """The files changed: redeploy what changed (moving failing files), then let every worker follow."""
        async with self._reloading:
            config = await asyncio.to_thread(self.deployer.reload, fix_files=True)
            if config is None:
                return
            if config.version != self.state.config.version:
                log.info(
                    "hot deployment: now serving version %s (%d artifact(s))", config.version, len(config.deployed)
                )
            previous = self.state.config
            self.state.swap(config)
            if self.serves and self.settings.gc_freeze and config is not previous:
                freeze_deployed()
            self.reloaded()

    def reloaded(self) -> None:
        """Hook: the supervisor tells its workers."""

    def switched(self) -> None:
        """The switches or log levels changed. Hook: the supervisor tells its workers."""

    def set_log_level(self, logger: str, level: str) -> None:
        set_log_level(logger, level)
        self.log_levels[logger] = level.upper()
        self.switched()

    async def counters(self) -> dict[str, list[int]]:
        """Requests and errors per proxy since start, over every worker."""
        return {name: list(counter) for name, counter in self.state.counters.items()}

    async def metrics(self) -> Snapshot:
        """The Prometheus metrics of every worker, summed (gateway.runtime.metrics)."""
        return self.state.metrics.snapshot() if self.state.metrics is not None else {}

    def snapshot(self) -> dict[str, Any]:
        return {"op": "switches", **self.state.switches(), "loggers": dict(self.log_levels)}


class SupervisorHub(Hub):
    """The supervisor's: its own copy of the configuration (for the management API), and one pipe per worker."""

    serves = False

    def __init__(self, state: RuntimeState, deployer: HotDeployer, settings: Settings) -> None:
        super().__init__(state, deployer, settings)
        self._workers: dict[int, Connection] = {}
        self._replies: dict[tuple[int, int], asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._last_metrics: dict[int, Snapshot] = {}  # each worker's latest snapshot
        self._retired: Snapshot = {}  # what workers that died had counted (at their last scrape)

    def attach(self, number: int, connection: Connection) -> None:
        old = self._workers.pop(number, None)
        if old is not None:
            self._detach(number, old)
        last = self._last_metrics.pop(number, None)
        if last is not None:  # a respawned worker counts from 0: keep what its predecessor had counted
            merge(self._retired, last)
        self._workers[number] = connection
        asyncio.get_running_loop().add_reader(connection.fileno(), self._readable, number, connection)
        self._send(number, {"op": "reload"})  # whatever changed while it was loading
        self._send(number, self.snapshot())

    def reloaded(self) -> None:
        for number in list(self._workers):
            self._send(number, {"op": "reload"})
            self._send(number, self.snapshot())  # switches of redeployed proxies were dropped

    def switched(self) -> None:
        for number in list(self._workers):
            self._send(number, self.snapshot())

    def processor_switched(self, name: str, active: bool) -> None:
        """The worker running a processor changed its state: the management API shows it, every worker follows."""
        self.state.processor_active[name] = active
        self.switched()  # also when it knew: the worker waits for this to confirm it

    async def _ask(self, op: str) -> dict[int, dict[str, Any]]:
        """Each live worker's answer to `op` (those that answer within _COUNTERS_WAIT)."""
        request = next(self._ids)
        loop = asyncio.get_running_loop()
        waiting: dict[asyncio.Future[dict[str, Any]], int] = {}
        for number in list(self._workers):
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            self._replies[(request, number)] = future
            waiting[future] = number
            self._send(number, {"op": op, "id": request})
        answers: dict[int, dict[str, Any]] = {}
        if waiting:
            done, _ = await asyncio.wait(waiting, timeout=_COUNTERS_WAIT)
            for future in done:
                answers[waiting[future]] = future.result()
        for key in [key for key in self._replies if key[0] == request]:
            del self._replies[key]
        return answers

    async def counters(self) -> dict[str, list[int]]:
        total: dict[str, list[int]] = {}
        for answer in (await self._ask("counters")).values():
            for name, (requests, errors) in answer.get("counters", {}).items():
                counter = total.setdefault(name, [0, 0])
                counter[0] += requests
                counter[1] += errors
        return total

    async def metrics(self) -> Snapshot:
        for number, answer in (await self._ask("metrics")).items():
            self._last_metrics[number] = answer.get("metrics", {})
        total: Snapshot = merge({}, self._retired)
        for snapshot in self._last_metrics.values():  # a worker that did not answer now: its last answer
            merge(total, snapshot)
        return total

    def _send(self, number: int, message: dict[str, Any]) -> None:
        connection = self._workers.get(number)
        if connection is None:
            return
        try:
            connection.send(message)
        except OSError:  # the worker died; the supervisor respawns it and it attaches again
            self._detach(number, connection)

    def _readable(self, number: int, connection: Connection) -> None:
        try:
            while connection.poll():
                message = connection.recv()
                if message.get("op") == "processor":  # a worker's processor deactivated itself
                    self.processor_switched(str(message["name"]), bool(message["active"]))
                    continue
                future = self._replies.get((message.get("id"), number))
                if future is not None and not future.done():
                    future.set_result(message)
        except (EOFError, OSError):
            self._detach(number, connection)

    def _detach(self, number: int, connection: Connection) -> None:
        try:
            asyncio.get_running_loop().remove_reader(connection.fileno())
        except (OSError, ValueError):
            pass
        connection.close()
        if self._workers.get(number) is connection:
            del self._workers[number]


# -- watching ---------------------------------------------------------------------------------------------
def _artifact_events(root: Path) -> Callable[[Any, str], bool]:
    """Events in the artifact folders only (the folder may be a whole repository: .git, caches, …); our own
    backups and restores are no news."""
    folders = {*FOLDERS, *MI_FOLDERS, REGISTRY_FOLDER, DECLARATION}
    prefix = str(root.resolve()) + os.sep

    def wanted(_change: Any, path: str) -> bool:
        if path.endswith((".back", ".restoring")) or not path.startswith(prefix):
            return False
        parts = path[len(prefix) :].split(os.sep)
        if parts[0] == REGISTRY_FOLDER and any(part.startswith(".") for part in parts[1:]):
            return False  # never a resource: .metadata/, the temporary files of a registry write
        if parts[0] == REGISTRY_FOLDER and written_by_gateway(Path(path)):
            return False  # the gateway's own registry write (property scope="registry"): no reload round
        return parts[0] in folders

    return wanted


async def watch_artifacts(root: Path, on_change: Callable[[], Awaitable[None]]) -> None:
    """Call `on_change` after every burst of changes under `root` (until cancelled)."""
    from watchfiles import awatch

    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # it logs every batch at INFO
    if not root.is_dir():
        log.warning("hot deployment: %s is not a folder; nothing to watch", root)
        return
    log.info("hot deployment: watching %s", root)
    async for _changes in awatch(
        root.resolve(), watch_filter=_artifact_events(root), debounce=_DEBOUNCE_MS, step=_STEP_MS, recursive=True
    ):
        try:
            await on_change()
        except Exception:  # noqa: BLE001 - a failed round must not stop hot deployment
            log.exception("hot deployment: redeploying the changed files failed; the previous version keeps serving")


# -- the single process -----------------------------------------------------------------------------------
def attach_local(app: web.Application, hub: Hub, management: list[socket.socket] | None) -> None:
    """Watch the files and serve the management port from this (only) process, with the app's lifetime."""
    tasks: list[asyncio.Task[None]] = []
    runners: list[web.AppRunner] = []

    async def start(_app: web.Application) -> None:
        if hub.settings.hot_deploy:
            tasks.append(asyncio.create_task(watch_artifacts(hub.settings.artifacts, hub.reload)))
        if management:
            runners.append(await _serve_management(hub, management))

    async def stop(_app: web.Application) -> None:
        for task in tasks:
            task.cancel()
        for runner in runners:
            await runner.cleanup()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)


async def _serve_management(hub: Hub, sockets: list[socket.socket]) -> web.AppRunner:
    from gateway.transport.management import create_management_app

    runner = web.AppRunner(create_management_app(hub), access_log=None)
    await runner.setup()
    settings = hub.settings.management
    https = hub.settings.https
    tls = None
    if settings.tls and https.certificate is not None and https.key is not None:  # MI serves it over HTTPS
        from gateway.transport.server import server_tls

        tls = server_tls(https.certificate, https.key)
    for sock in sockets:
        await web.SockSite(runner, sock, ssl_context=tls).start()
    scheme = "https" if tls is not None else "http"
    log.info("management API on %s://%s:%d/management (dashboard: /dashboard)", scheme, settings.host, settings.port)
    if not settings.users:
        log.warning(
            "management API: no users are configured (management.users), so nobody can log in; "
            "`python3 -m gateway hash-password` prints a hash to add one"
        )
    return runner


# -- a worker of --workers N ------------------------------------------------------------------------------
def attach_worker(
    app: web.Application, connection: Connection, state: RuntimeState, deployer: HotDeployer, freeze: bool
) -> None:
    """Follow the supervisor: reload when told (then freeze the new configuration if `freeze`: runtime.heap),
    take its switches, answer its questions."""
    tasks: list[asyncio.Task[None]] = []
    state.report = connection.send

    async def start(_app: web.Application) -> None:
        tasks.append(asyncio.create_task(_follow(connection, state, deployer, freeze)))

    async def stop(_app: web.Application) -> None:
        for task in tasks:
            task.cancel()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)


async def _follow(connection: Connection, state: RuntimeState, deployer: HotDeployer, freeze: bool) -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def readable() -> None:
        try:
            while connection.poll():
                inbox.put_nowait(connection.recv())
        except (EOFError, OSError):  # the supervisor is gone: it stops us too
            loop.remove_reader(connection.fileno())
            inbox.put_nowait(None)

    loop.add_reader(connection.fileno(), readable)
    try:
        while (message := await inbox.get()) is not None:
            try:
                await _obey(message, connection, state, deployer, freeze)
            except Exception:  # noqa: BLE001 - one failed order must not stop this worker from following
                log.exception("could not carry out the supervisor's %r", message.get("op"))
    finally:
        try:
            loop.remove_reader(connection.fileno())
        except (OSError, ValueError):
            pass


async def _obey(
    message: dict[str, Any], connection: Connection, state: RuntimeState, deployer: HotDeployer, freeze: bool
) -> None:
    op = message.get("op")
    if op == "reload":
        config = await asyncio.to_thread(deployer.reload, fix_files=False)
        if config is not None:
            if config.version != state.config.version:
                log.info("hot deployment: now serving version %s", config.version)
            previous = state.config
            state.swap(config)
            if freeze and config is not previous:
                freeze_deployed()
    elif op == "switches":
        state.apply_switches(message)
        for logger, level in message.get("loggers", {}).items():
            set_log_level(logger, level)
    elif op == "counters":
        connection.send({"id": message.get("id"), "counters": state.counters})
    elif op == "metrics":
        snapshot = state.metrics.snapshot() if state.metrics is not None else {}
        connection.send({"id": message.get("id"), "metrics": snapshot})


# -- the supervisor's thread ------------------------------------------------------------------------------
class SupervisorControl:
    """Runs the SupervisorHub, the watcher and the management port in a thread of the supervisor (whose main
    thread waits on its workers and signals)."""

    def __init__(self, settings: Settings, management: list[socket.socket] | None) -> None:
        self._settings = settings
        self._management = management
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._hub: SupervisorHub | None = None
        self._thread = threading.Thread(target=self._run, name="gateway-control", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def attach(self, number: int, connection: Connection) -> None:
        """Called from the supervisor's thread for each worker it starts."""
        if self._loop is None or self._hub is None:
            connection.close()
            return
        self._loop.call_soon_threadsafe(self._hub.attach, number, connection)

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # noqa: BLE001 - the workers keep serving without hot deployment and management
            log.exception("the supervisor's hot deployment and management API stopped")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        settings = self._settings
        deployer = HotDeployer(settings.artifacts, settings, ConnectorRegistry.discover())
        config = deployer.load(log_problems=False)  # every worker logs them
        self._hub = hub = SupervisorHub(RuntimeState(config), deployer, settings)
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        runner = await _serve_management(hub, self._management) if self._management else None
        watcher = asyncio.create_task(watch_artifacts(settings.artifacts, hub.reload)) if settings.hot_deploy else None
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            if watcher is not None:
                watcher.cancel()
            if runner is not None:
                await runner.cleanup()
