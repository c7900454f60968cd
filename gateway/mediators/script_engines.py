"""The engines behind `<script>`: JavaScript on V8 (mini-racer) and Python in a restricted worker process.

Both take the same snapshot of the message (a JSON-able dict made by gateway.mediators.script) and answer the
same thing: `{"result": false|null, "changes": [...]}` or `{"error": "...", "changes": [...]}`. A script never
holds a gateway object, so it can only change the message through the recorded changes.

- JavaScript: V8 isolates per script program (its source, its includes; up to ISOLATES_PER_SCRIPT for
  concurrent messages), made on first use; the prelude (script_prelude.js) and the script are evaluated once
  per isolate, then every message is one call. V8 has no file or
  network API; each call is bounded in time (terminated) and in heap (a script past it is stopped and the
  isolate is made anew).
- Python: worker processes (script_worker.py), up to PY_WORKERS, started as concurrent scripts need them; a
  script that overruns its time gets its worker killed (a fresh one starts for the next message)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("gateway.script")

_HERE = Path(__file__).resolve().parent
PRELUDE = (_HERE / "script_prelude.js").read_text(encoding="utf-8")
WORKER = _HERE / "script_worker.py"

DEFAULT_TIMEOUT = 10.0  # seconds a script may run for one message
DEFAULT_MEMORY = 64 * 1024 * 1024  # bytes of JavaScript heap a script may use (V8's own base is not counted)
PY_WORKER_MEMORY = 512 * 1024 * 1024  # address space of a Python worker
ISOLATES_PER_SCRIPT = 4  # V8 isolates one script may have, so concurrent messages run side by side
PY_WORKERS = 4  # Python worker processes at most (started as concurrent scripts need them)


class ScriptTimeout(Exception):
    """The script ran past its time and was stopped."""


class ScriptEngineError(Exception):
    """The engine could not run the script at all (not the script's own error)."""


_v8_lock = threading.Lock()
_v8_ready = False
_v8_keeper: threading.Thread | None = None


def _init_v8() -> None:
    from py_mini_racer import init_mini_racer

    init_mini_racer(ignore_duplicate_init=True)


def ensure_v8() -> None:
    """Load and initialise V8 (about 40 MB and 0.1-0.3 s) the first time a deployed script needs it: a gateway
    without JavaScript never loads it. Initialised on a thread that later ends, V8 crashes the next isolate, so
    it is initialised on the main thread, or else (a redeploy runs in a worker thread) on a thread of its own
    that stays parked for the life of the process."""
    global _v8_ready, _v8_keeper
    if _v8_ready:
        return
    with _v8_lock:
        if _v8_ready:
            return
        if threading.current_thread() is threading.main_thread():
            _init_v8()
        else:
            done = threading.Event()
            failure: list[BaseException] = []

            def keeper() -> None:
                try:
                    _init_v8()
                except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                    failure.append(exc)
                done.set()
                if not failure:
                    threading.Event().wait()  # never ends: V8's platform stays bound to a live thread

            _v8_keeper = threading.Thread(target=keeper, name="v8-platform", daemon=True)
            _v8_keeper.start()
            done.wait()
            if failure:
                raise failure[0]
        _v8_ready = True


def _new_racer() -> Any:
    """A V8 isolate with its own event-loop thread (mini-racer binds an isolate to the loop running where it is
    made; made in a thread without one, it never depends on the gateway's loop, which may come and go)."""
    ensure_v8()
    from py_mini_racer import MiniRacer

    made: list[Any] = []
    thread = threading.Thread(target=lambda: made.append(MiniRacer()), name="v8-isolate", daemon=True)
    thread.start()
    thread.join()
    if not made:
        raise ScriptEngineError("the JavaScript engine could not be started")
    return made[0]


_checker_lock = threading.Lock()
_checker: Any = None


def check_javascript(source: str, *, as_function_body: bool) -> str | None:
    """A syntax check at deploy time: None, or V8's message. Inline scripts are checked as a function body
    would be parsed, without running anything; a keyed script's top level is parsed the same way."""
    global _checker
    ensure_v8()
    from py_mini_racer import JSEvalException

    del as_function_body  # both forms are parsed as a program body without running it
    with _checker_lock:
        if _checker is None:
            _checker = _new_racer()
        try:
            _checker.eval(f"Function({json.dumps(source)}), 0")  # parses only: nothing runs, no time limit needed
        except JSEvalException as exc:
            return _first_line(str(exc))
    return None


def _first_line(message: str) -> str:
    lines = [line for line in message.splitlines() if line.strip()]
    for line in lines:
        if "Error:" in line and not line.startswith(" "):
            return line.split(": ", 1)[1] if line.startswith("undefined:") or line.startswith("<anonymous>") else line
    return lines[0] if lines else message


class JavaScriptProgram:
    """One script (its includes, then the source), run in a few V8 isolates of its own: concurrent messages
    through the same script run side by side, up to ISOLATES_PER_SCRIPT at a time."""

    def __init__(self, name: str, source: str, includes: tuple[str, ...], function: str | None) -> None:
        self.name = name
        self.source = source
        self.includes = includes
        self.function = function
        self._idle: list[Any] = []
        self._count = 0
        self._retired: list[tuple[float, Any]] = []
        self._ready = threading.Condition()

    def _new_isolate(self, timeout: float, memory: int) -> Any:
        racer = _new_racer()
        racer.eval(PRELUDE, timeout_sec=timeout)
        for include in self.includes:
            racer.eval(include, timeout_sec=timeout, max_memory=memory)
        if self.function is None:
            racer.eval(f"globalThis.__inline = {json.dumps(self.source)}", timeout_sec=timeout)
        else:
            racer.eval(self.source, timeout_sec=timeout, max_memory=memory)
        return racer

    def _acquire(self) -> Any | None:
        """An idle isolate, or None when the caller may make a new one (waits while all are busy)."""
        with self._ready:
            while not self._idle and self._count >= ISOLATES_PER_SCRIPT:
                self._ready.wait()
            if self._idle:
                return self._idle.pop()
            self._count += 1
            return None

    def _release(self, racer: Any | None, *, discard: bool) -> None:
        """Give an isolate back, or retire it (a stopped script's globals may hold its memory). A retired one
        is closed a little later: V8 still reports the terminated call to it for a moment."""
        with self._ready:
            if racer is not None and not discard:
                self._idle.append(racer)
            else:
                self._count -= 1
                now = time.monotonic()
                for retired_at, old in list(self._retired):
                    if now - retired_at > 5.0:
                        self._retired.remove((retired_at, old))
                        try:
                            old.close()
                        except Exception:  # noqa: BLE001 - closing a broken isolate must not hide a fault
                            log.debug("closing a V8 isolate failed", exc_info=True)
                if racer is not None:
                    self._retired.append((now, racer))
            self._ready.notify()

    def run_blocking(self, state: dict[str, Any], timeout: float, memory: int) -> dict[str, Any]:
        from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException

        racer = self._acquire()
        discard = True
        try:
            if racer is None:
                racer = self._new_isolate(timeout, memory)
            answer = racer.call("__run", state, self.function, timeout_sec=timeout, max_memory=memory)
            discard = False
        except JSTimeoutException:
            raise ScriptTimeout(f"the script ran longer than {timeout:g} s and was stopped") from None
        except JSOOMException:
            return {"error": f"RangeError: the script used more than {memory // (1024 * 1024)} MB", "changes": []}
        except JSEvalException as exc:  # the script's top level failed: try again from scratch next time
            return {"error": _first_line(str(exc)), "changes": []}
        finally:
            self._release(racer, discard=discard)
        if not isinstance(answer, str):
            raise ScriptEngineError(f"the JavaScript engine answered {type(answer).__name__}")
        result: dict[str, Any] = json.loads(answer)
        return result

    async def run(self, state: dict[str, Any], timeout: float, memory: int) -> dict[str, Any]:
        return await asyncio.to_thread(self.run_blocking, state, timeout, memory)


class PythonWorker:
    """One restricted Python process (started on first use, and again after it was killed)."""

    def __init__(self, memory: int = PY_WORKER_MEMORY) -> None:
        self.memory = memory
        self._process: asyncio.subprocess.Process | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.waiting = 0  # requests holding or waiting for this worker
        self._reaping: set[asyncio.Task[None]] = set()

    async def _ensure(self) -> asyncio.subprocess.Process:
        process = self._process
        if process is None or process.returncode is not None:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                "-S",
                str(WORKER),
                str(self.memory),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=64 * 1024 * 1024,
            )
            self._process = process
        return process

    def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.kill()
            if self._loop is not None and self._loop.is_running():
                self._reaping.add(task := self._loop.create_task(_reap(process)))  # no zombie left behind
                task.add_done_callback(self._reaping.discard)

    async def request(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a worker's pipes belong to the loop that started it
            self.kill()
            self._loop, self._lock = loop, asyncio.Lock()
        assert self._lock is not None
        self.waiting += 1
        try:
            return await self._exchange(request, timeout)
        finally:
            self.waiting -= 1

    async def _exchange(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self._lock is not None
        async with self._lock:
            process = await self._ensure()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
                await process.stdin.drain()
                line = await asyncio.wait_for(process.stdout.readline(), timeout)
            except TimeoutError:
                self.kill()
                raise ScriptTimeout(f"the script ran longer than {timeout:g} s and was stopped") from None
            except (ConnectionError, OSError) as exc:
                self.kill()
                raise ScriptEngineError(f"the Python script worker failed: {exc}") from None
            if not line:
                self.kill()
                raise ScriptEngineError("the Python script worker stopped (out of memory?)")
            answer: dict[str, Any] = json.loads(line)
            return answer

    async def close(self) -> None:
        """Stop the worker and wait for it (on the loop that started it), so nothing is left behind."""
        process, self._process = self._process, None
        same_loop = self._loop is asyncio.get_running_loop()
        if same_loop and self._reaping:
            await asyncio.gather(*self._reaping, return_exceptions=True)
        if process is None:
            return
        if process.returncode is None:
            process.kill()
        if same_loop:
            await _reap(process)


async def _reap(process: asyncio.subprocess.Process) -> None:
    """Wait for a killed worker and close its pipes on this loop (else they are closed when collected, maybe
    after their loop is gone)."""
    await process.wait()
    transport = getattr(process, "_transport", None)
    if transport is not None:
        transport.close()


class PythonWorkers:
    """Up to `size` workers, started as concurrent scripts need them; a request goes to an idle one."""

    def __init__(self, size: int = PY_WORKERS) -> None:
        self.size = size
        self.workers: list[PythonWorker] = []

    async def request(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        worker = next((w for w in self.workers if w.waiting == 0), None)
        if worker is None and len(self.workers) < self.size:
            worker = PythonWorker()
            self.workers.append(worker)
        if worker is None:
            worker = min(self.workers, key=lambda w: w.waiting)
        return await worker.request(request, timeout)

    async def close(self) -> None:
        for worker in self.workers:
            await worker.close()


_workers: PythonWorkers | None = None


async def shutdown() -> None:
    """The gateway is stopping: end the Python script workers (V8 isolates end with the process)."""
    if _workers is not None:
        await _workers.close()


def python_workers() -> PythonWorkers:
    global _workers
    if _workers is None:
        _workers = PythonWorkers()
    return _workers


class PythonProgram:
    def __init__(self, name: str, source: str, includes: tuple[str, ...], function: str | None) -> None:
        self.name = name
        self.source = "\n".join((*includes, source))
        self.function = function

    async def run(self, state: dict[str, Any], timeout: float, memory: int) -> dict[str, Any]:
        del memory  # the worker's own limit applies
        return await python_workers().request(
            {"source": self.source, "function": self.function, "name": self.name, "state": state}, timeout
        )


def check_python(source: str) -> str | None:
    """The worker's own syntax and restriction check, run here at deploy time (no process needed)."""
    import ast

    from gateway.mediators import script_worker

    try:
        script_worker.check(ast.parse(source, "<script>", "exec"))
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except script_worker.ScriptSyntaxError as exc:
        return str(exc)
    return None
