"""The listening sockets of `gateway serve` and, for `--workers N`, the parent that keeps N workers alive.

Design: the parent opens every listening socket itself and hands one to each worker.
- The first socket is bound and put in listen state *without* SO_REUSEPORT. The kernel refuses that
  while any other socket (another gateway, with or without SO_REUSEPORT, or any other program) holds the
  port, and the check is atomic, so of two instances started together exactly one wins. Only then is
  SO_REUSEPORT set on it (Linux honours it for later binds), and the other N-1 sockets join with
  SO_REUSEPORT: the kernel still load-balances connections across N listening sockets, one per worker.
- The parent keeps all N sockets open while it runs. The port is never free between a worker's death and
  its respawn, so nobody can take it, and the replacement cannot fail to bind: it inherits the same
  socket. Connections the kernel queues on a dead worker's socket wait there for the replacement.
With one worker there is no parent: the process claims the port the same way (without SO_REUSEPORT) and
serves it itself. Either way the port is claimed before the artifacts load, so a busy port is one clear
error, and connections made while loading wait instead of being refused.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field, fields
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from gateway.runtime.tasks import worker_process_name
from gateway.settings import Settings, SettingsError

log = logging.getLogger("gateway")

# As asyncio does: lets a restarted gateway bind while old connections sit in TIME_WAIT (on Windows the
# option would let another process steal the port).
_REUSE_ADDRESS = os.name == "posix" and sys.platform != "cygwin"


# glibc's per-thread cache keeps 7 freed chunks of each size by default. A request whose body is parsed frees
# its tree's nodes together (a 10 KB SOAP envelope: about 200 of a few sizes): past the 7th they go through
# the slower bins, and the next request's parse takes them back from there. A deeper cache hands them straight
# back: about 85,000 fewer instructions per content-based-routing request at 10 KB, nothing measurable on a
# pass-through (bench/results/profile.md, "cbr (2026-12-02)"). glibc reads it only when a process starts, so
# the parent puts it in the environment its workers start with; an operator's own setting of it wins.
MALLOC_TUNABLE = "glibc.malloc.tcache_count"
MALLOC_TCACHE_COUNT = 1000


def worker_environment(environ: MutableMapping[str, str]) -> None:
    """Add the malloc tunable above to `environ` (GLIBC_TUNABLES), unless it is set there already."""
    tunables = environ.get("GLIBC_TUNABLES", "")
    if MALLOC_TUNABLE in tunables:
        return
    ours = f"{MALLOC_TUNABLE}={MALLOC_TCACHE_COUNT}"
    environ["GLIBC_TUNABLES"] = f"{tunables}:{ours}" if tunables else ours


class ListenError(Exception):
    """The port cannot be listened on; the message is one line for the operator."""


def open_listeners(host: str, port: int, workers: int) -> list[list[socket.socket]]:
    """For each worker, its listening sockets (one per address `host` resolves to, as aiohttp would bind)."""
    where = f"{host}:{port}"
    if workers > 1 and not hasattr(socket, "SO_REUSEPORT"):
        raise ListenError(
            f"cannot listen on {where} with --workers {workers}: this platform has no SO_REUSEPORT (use --workers 1)"
        )
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {where}: cannot resolve the host ({exc.strerror})") from None
    addresses = list(dict.fromkeys((family, sockaddr) for family, _, _, _, sockaddr in infos))
    groups: list[list[socket.socket]] = []
    copy = 0
    try:
        for copy in range(workers):
            group: list[socket.socket] = []
            groups.append(group)
            for family, sockaddr in addresses:
                group.append(_listen(family, sockaddr, reuse_port=copy > 0))
                if workers > 1 and copy == 0:  # the port is ours now: let our own workers share it
                    group[-1].setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError as exc:
        close_all(groups)
        hint = ""
        if exc.errno == errno.EADDRINUSE and copy > 0:  # a kernel that ignores SO_REUSEPORT set after bind
            hint = " (this platform does not let the workers share the port: use --workers 1)"
        elif exc.errno == errno.EADDRINUSE:
            hint = " (another gateway or program holds this port: stop it or choose another --port)"
        elif exc.errno == errno.EACCES:
            hint = " (ports below 1024 need privileges: choose another --port)"
        raise ListenError(f"cannot listen on {where}: {exc.strerror or exc}{hint}") from None
    return groups


# What getaddrinfo gives: (host, port) for IPv4, (host, port, flowinfo, scope id) for IPv6.
_SocketAddress = tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]


def _listen(family: int, sockaddr: _SocketAddress, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if _REUSE_ADDRESS:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:  # as asyncio: "::" must not also claim the IPv4 port
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def close_all(groups: list[list[socket.socket]]) -> None:
    for group in groups:
        for sock in group:
            sock.close()


@dataclass(frozen=True, slots=True)
class RespawnPolicy:
    """How the parent replaces dead workers; each field can be set by an environment variable."""

    delay: float = 0.5  # GATEWAY_RESPAWN_DELAY: first back-off in seconds, doubled after each quick death
    max_delay: float = 10.0  # GATEWAY_RESPAWN_MAX_DELAY: back-off cap
    stable_after: float = 30.0  # GATEWAY_RESPAWN_STABLE_AFTER: a worker up this long resets its back-off
    max_deaths: int = 5  # GATEWAY_RESPAWN_MAX_DEATHS: give up when one worker dies this often ...
    window: float = 60.0  # GATEWAY_RESPAWN_WINDOW: ... within this many seconds

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RespawnPolicy:
        defaults = cls()
        values: dict[str, Any] = {}  # float or int: each converted with its own field's type
        for setting in fields(cls):
            variable = f"GATEWAY_RESPAWN_{setting.name.upper()}"
            text = environ.get(variable)
            if text is None:
                continue
            convert: type[float] = type(getattr(defaults, setting.name))
            try:
                value = convert(text)
            except ValueError:
                value = 0
            if not value > 0:  # also refuses NaN
                kind = "a whole number" if convert is int else "a number of seconds"
                raise SettingsError(f"{variable}={text!r}: expected {kind} above 0")
            values[setting.name] = value
        return cls(**values)


@dataclass(slots=True)
class Backoff:
    """Exponential, capped, reset once a worker has stayed up for `policy.stable_after` seconds."""

    policy: RespawnPolicy
    quick_deaths: int = 0

    def after_death(self, uptime: float) -> float:
        if uptime >= self.policy.stable_after:
            self.quick_deaths = 0
        delay = min(self.policy.delay * 2.0**self.quick_deaths, self.policy.max_delay)
        if delay < self.policy.max_delay:  # once capped, counting on would only overflow the float
            self.quick_deaths += 1
        return delay


@dataclass(slots=True)
class _Slot:
    number: int
    sockets: list[socket.socket]
    backoff: Backoff
    deaths: deque[float] = field(default_factory=deque)
    process: BaseProcess | None = None
    started_at: float = 0.0
    respawn_at: float | None = None


class Control(Protocol):
    """What the parent runs besides its workers (hot deployment, the management API: gateway.transport.control);
    it gets one end of a pipe to each worker it starts, the worker the other."""

    def attach(self, number: int, connection: Connection) -> None: ...


class Supervisor:
    """Starts one worker per socket group, respawns dead ones, stops them all on SIGTERM/SIGINT."""

    def __init__(
        self,
        settings: Settings,
        listeners: list[list[socket.socket]],
        policy: RespawnPolicy,
        target: Callable[[Settings, list[socket.socket], Connection | None], None],
        control: Control | None = None,
    ) -> None:
        self._settings = settings
        self._target = target
        self._control = control
        self._policy = policy
        self._context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited loop or state
        self._slots = [_Slot(n, sockets, Backoff(policy)) for n, sockets in enumerate(listeners, 1)]
        self._signals: list[int] = []

    def run(self) -> int:
        """0 after a stop signal; 1 after giving up on a worker that keeps dying."""
        self._wakeup, writer = socket.socketpair()
        self._wakeup.setblocking(False)
        writer.setblocking(False)
        signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda signum, _frame: self._signals.append(signum))
        worker_environment(os.environ)  # spawned workers exec with it (respawned ones too)
        try:
            for slot in self._slots:
                self._start(slot)
            return self._supervise()
        finally:  # also on an unexpected error: never leave workers behind
            self._stop_workers()
            signal.set_wakeup_fd(-1)
            writer.close()
            self._wakeup.close()

    def _supervise(self) -> int:
        while not self._signals:
            pending = [s.respawn_at for s in self._slots if s.respawn_at is not None]
            timeout = max(0.0, min(pending) - time.monotonic()) if pending else None
            wait([s.process.sentinel for s in self._slots if s.process] + [self._wakeup], timeout)
            self._drain_wakeup()
            if self._signals:
                log.info("received %s", signal.Signals(self._signals[0]).name)
                break
            now = time.monotonic()
            for slot in self._slots:
                if slot.process is not None and not slot.process.is_alive():
                    if not self._schedule_respawn(slot, now):
                        return 1
                elif slot.respawn_at is not None and now >= slot.respawn_at:
                    self._start(slot)
        return 0

    def _start(self, slot: _Slot) -> None:
        ours: Connection | None = None
        theirs: Connection | None = None
        if self._control is not None:
            ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=self._target, args=(self._settings, slot.sockets, theirs), name=worker_process_name(slot.number)
        )
        process.start()
        if self._control is not None and ours is not None and theirs is not None:
            theirs.close()  # the worker has its copy
            self._control.attach(slot.number, ours)
        slot.process, slot.started_at, slot.respawn_at = process, time.monotonic(), None
        log.info("worker %d started (pid %d)", slot.number, process.pid)

    def _schedule_respawn(self, slot: _Slot, now: float) -> bool:
        process = slot.process
        assert process is not None
        uptime = now - slot.started_at
        how = _describe_exit(process.exitcode)
        log.warning("worker %d (pid %d) %s after %.1f s", slot.number, process.pid, how, uptime)
        process.close()
        slot.process = None
        slot.deaths.append(now)
        while slot.deaths and now - slot.deaths[0] > self._policy.window:
            slot.deaths.popleft()
        if len(slot.deaths) >= self._policy.max_deaths:
            log.error(
                "giving up: worker %d died %d times within %g s (last: %s); stopping the gateway "
                "(the log above shows how it ended)",
                slot.number,
                len(slot.deaths),
                self._policy.window,
                how,
            )
            return False
        delay = slot.backoff.after_death(uptime)
        slot.respawn_at = now + delay
        log.info(
            "respawning worker %d in %.2f s (back-off; %d death(s) in the last %g s)",
            slot.number,
            delay,
            len(slot.deaths),
            self._policy.window,
        )
        return True

    def _stop_workers(self) -> None:
        alive = [s.process for s in self._slots if s.process is not None and s.process.is_alive()]
        log.info("stopping %d worker(s)", len(alive))
        signals_seen = len(self._signals)
        for process in alive:
            process.terminate()
        while alive:
            wait([p.sentinel for p in alive] + [self._wakeup])
            self._drain_wakeup()
            if len(self._signals) > signals_seen:  # asked again: do not wait for in-flight requests
                log.warning("stop requested again: killing %d worker(s)", len(alive))
                signals_seen = len(self._signals)
                for process in alive:
                    process.kill()
            alive = [p for p in alive if p.is_alive()]
        log.info("all workers stopped")

    def _drain_wakeup(self) -> None:
        try:
            while self._wakeup.recv(512):
                pass
        except BlockingIOError:
            pass


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"
