"""Scheduled tasks (W: startup/tasks/MessageInjector, startup/quartz/SimpleQuartz): inject a message into a proxy,
a sequence or `main` every `interval` seconds (`count` times, or for ever), once, or on a Quartz cron
expression. Tasks run in one process only (the single process, or the first worker of `--workers N`), as MI runs a task
on one node; a Tasks object follows hot deployment like the message processors do."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.message import kinds
from gateway.message.payload import kind_of
from gateway.message.stored import StoredMessage, restore
from gateway.runtime.defaults import global_fault_handler
from gateway.runtime.faults import run_guarded

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.runtime.services import Services
    from gateway.runtime.state import RuntimeState

log = logging.getLogger("gateway.tasks")

FORMATS = {
    "soap11": (kinds.TEXT_XML, kinds.SOAP11),
    "soap12": (kinds.APPLICATION_SOAP_XML, kinds.SOAP12),
    "pox": (kinds.APPLICATION_XML, None),
    "get": (kinds.APPLICATION_XML, None),
}


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    message: bytes | None  # the payload, already wrapped as `format` asks; None: no message (each run fails)
    content_type: str
    method: str
    to: str | None
    soap_action: str | None
    inject_to: str  # proxy | sequence | main
    target: str | None  # the proxy or sequence name
    interval: float | None  # seconds
    count: int  # -1: for ever
    cron: str | None  # a Quartz expression, already turned into croniter's order
    location: SourceLocation | None = None

    @property
    def trigger(self) -> dict[str, Any]:
        if self.cron is not None:
            return {"type": "cron", "cron": self.cron}
        return {"type": "simple", "count": self.count, "interval": self.interval}


_WORKER_PREFIX = "gateway-worker-"


def worker_process_name(number: int) -> str:
    """The name the supervisor gives worker `number` (1 … N): worker_index reads it back, so both live here."""
    return f"{_WORKER_PREFIX}{number}"


def worker_index() -> int | None:
    """This process's place among the workers of `--workers N`, from 0: the single process and the first worker
    (`worker 1` in the supervisor's log) are 0. None for a process that is neither: it runs no tasks."""
    name = multiprocessing.current_process().name
    if name == "MainProcess":
        return 0
    number = name.removeprefix(_WORKER_PREFIX)
    if number != name and number.isdigit():
        return int(number) - 1
    return None


def runs_tasks_here() -> bool:
    """Only one process runs the tasks: the single process, or the first worker (MI: one node of a cluster)."""
    return worker_index() == 0


class Tasks:
    def __init__(self, state: RuntimeState, services: Services) -> None:
        self.state = state
        self.services = services
        self._running: dict[str, tuple[TaskSpec, asyncio.Task[None]]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if runs_tasks_here():
            self._task = asyncio.create_task(self._reconcile_forever())

    async def stop(self) -> None:
        tasks = [self._task] if self._task is not None else []
        tasks += [task for _, task in self._running.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._running.clear()

    async def _reconcile_forever(self) -> None:
        while True:
            wanted: dict[str, TaskSpec] = dict(self.state.config.tasks)
            for name, (spec, task) in list(self._running.items()):
                if wanted.get(name) is not spec:
                    task.cancel()
                    del self._running[name]
            for name, spec in wanted.items():
                if name not in self._running:
                    self._running[name] = (spec, asyncio.create_task(self._run(spec), name=f"task {name}"))
            await asyncio.sleep(0.2)

    async def _run(self, spec: TaskSpec) -> None:
        done = 0
        while spec.count < 0 or done < spec.count:
            if spec.cron is not None or done:  # W: a simple trigger starts now (AbstractQuartzTaskManager)
                await asyncio.sleep(_seconds_to_next(spec))
            done += 1
            try:
                await self.inject(spec)
            except Exception:  # one failed run must not stop the schedule
                log.exception("task %s failed", spec.name)

    async def inject(self, spec: TaskSpec) -> None:
        """W: MessageInjector.execute."""
        if spec.message is None:  # W: MessageInjector.execute, handleError: every run fails, the task stays
            log.error("task %s: message or registry-key not set", spec.name)
            return
        config = self.state.config
        message = StoredMessage(
            message_id=f"urn:uuid:{uuid.uuid4()}",
            body=spec.message if spec.method != "GET" else b"",
            content_type=spec.content_type,
            method=spec.method,
            path=spec.to or "",
            client_kind=kind_of(spec.content_type),
            soap_action=spec.soap_action,
            to=spec.to,
            headers=(("Content-Type", spec.content_type),),
            properties={"TASK_NAME": spec.name},
            axis2={"messageType": spec.content_type} if spec.method != "GET" else {"HTTP_METHOD": "GET"},
        )
        ctx = restore(message, config, self.services)
        engine = self.services.engine
        if spec.inject_to == "proxy":
            proxy = config.proxies.get(spec.target or "")
            if proxy is None:
                log.error("task %s: Proxy Service: %s not found", spec.name, spec.target)
                return
            ctx.proxy = proxy
            ctx.properties["proxy.name"] = proxy.name
            await engine.mediate_proxy(proxy, ctx)
        elif spec.inject_to == "sequence":
            sequence = config.sequences.get(spec.target or "")
            if sequence is None:
                log.error("task %s: Sequence: %s not found", spec.name, spec.target)
                return
            ctx.fault_stack.append(global_fault_handler)
            await run_guarded(sequence, ctx)
        else:
            await engine.mediate_main(ctx)
        if ctx.exchange.pending:  # the copies of a split (iterate, clone) end first
            await ctx.exchange.settle()
        for close in ctx.exchange.closing_tasks:
            close()


def _seconds_to_next(spec: TaskSpec) -> float:
    if spec.cron is not None:
        return seconds_to_next(spec.cron)
    return spec.interval or 0.0


def seconds_to_next(cron: str) -> float:
    """Seconds from now to the next fire of a cron expression (as quartz_to_croniter gives it)."""
    from croniter import croniter

    now = time.time()
    following = croniter(cron, datetime.fromtimestamp(now)).get_next(float)
    return max(0.0, float(following) - now)


def quartz_to_croniter(expression: str) -> str:
    """Quartz `sec min hour day month weekday [year]` (weekday 1-7 from Sunday, `?` for "no value") in the
    order croniter reads (`min hour day month weekday sec`, weekday 0-6 from Sunday)."""
    fields = expression.split()
    if len(fields) not in (6, 7):
        raise ValueError("a Quartz cron expression has 6 or 7 fields: seconds minutes hours day month weekday [year]")
    seconds, minutes, hours, day, month, weekday = (field.replace("?", "*") for field in fields[:6])
    weekday = "".join(str(int(ch) - 1) if ch.isdigit() else ch for ch in weekday) if weekday != "*" else "*"
    converted = f"{minutes} {hours} {day} {month} {weekday} {seconds}"
    from croniter import croniter

    if not croniter.is_valid(converted):
        raise ValueError(f"'{expression}' is not a cron expression this gateway can schedule")
    return converted
