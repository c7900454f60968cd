"""Start, watch and always stop the benchmark's subprocesses; sample their memory.

Every child runs in its own session (process group), so stopping it also stops any worker processes it
forked, and Ctrl-C in the terminal reaches only the runner, which then shuts everything down in order.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# No proxy handler: loopback probes must never be routed through an HTTP(S)_PROXY from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StartError(RuntimeError):
    """A process did not become ready; the message carries the reason and its log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int
    argv: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class ProcessManager:
    """Owns every child process; ``stop_all`` (also run by ``__exit__``) kills them all."""

    def __init__(self, log_dir: Path, cwd: Path) -> None:
        self.log_dir = log_dir
        self.cwd = cwd
        self.procs: list[Proc] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> ProcessManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start(self, name: str, argv: Sequence[str], port: int, env: dict[str, str] | None = None) -> Proc:
        log_path = self.log_dir / f"{name}.log"
        child_env = dict(os.environ)
        child_env.update({"PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"})
        child_env.update(env or {})
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                list(argv),
                cwd=self.cwd,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name=name, popen=popen, log_path=log_path, port=port, argv=list(argv))
        self.procs.append(proc)
        return proc

    def wait_ready(self, proc: Proc, path: str = "/healthz", timeout: float = 30.0, any_status: bool = False) -> None:
        """Poll ``GET path`` until it answers 200 (or any HTTP status with ``any_status``)."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if not proc.alive():
                raise StartError(
                    f"{proc.name} exited with code {proc.popen.returncode} before it was ready\n"
                    f"command: {' '.join(proc.argv)}\n{proc.tail()}"
                )
            try:
                status, _ = http_get(proc.url + path, timeout=1.0)
                if status == 200 or any_status:
                    return
                last = f"HTTP {status}"
            except (OSError, urllib.error.URLError) as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        raise StartError(
            f"{proc.name} not ready after {timeout:.0f}s (GET {path}: {last})\n"
            f"command: {' '.join(proc.argv)}\n{proc.tail()}"
        )

    def stop(self, proc: Proc, grace: float = 5.0) -> None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        # SIGKILL the whole group regardless: forked workers may outlive a leader that exited cleanly.
        _signal_group(proc.pid, signal.SIGKILL)
        try:
            proc.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            self.stop(proc)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _scan_proc() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, pgrp) for every visible process."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        table[int(entry)] = (int(fields[1]), int(fields[2]))
    return table


def tree_pids(root: int) -> list[int]:
    """The root, its process group and all its descendants (workers that left the group too)."""
    table = _scan_proc()
    members = {pid for pid, (_, pgrp) in table.items() if pgrp == root}
    if root in table:
        members.add(root)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in members:
                members.add(child)
                stack.append(child)
    return sorted(members)


def _vm_rss(pid: int) -> int:
    return _status_field(pid, b"VmRSS:")


def tree_rss(root: int) -> int:
    """Sum of VmRSS over the process tree, in bytes (shared copy-on-write pages count once per process)."""
    return sum(_vm_rss(pid) for pid in tree_pids(root))


class RssMonitor:
    """Samples the summed RSS of a process tree every ``interval`` seconds in a background thread."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        self.root = root
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{root}", daemon=True)

    def __enter__(self) -> RssMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        pids: list[int] = []
        tick = 0
        while not self._stop.is_set():
            # Rescanning /proc costs a few ms; refresh the member list once a second only.
            if tick % 10 == 0:
                pids = tree_pids(self.root)
            tick += 1
            total = sum(_vm_rss(pid) for pid in pids)
            self.peak = max(self.peak, total)
            self.samples += 1
            self._stop.wait(self.interval)


def _status_field(pid: int, key: bytes) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def reset_peak_rss(root: int) -> bool:
    """Reset VmHWM of every process in the tree (``clear_refs`` 5), so it measures this run only."""
    ok = True
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            ok = False
    return ok


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process plus cutime + cstime of its reaped children, in seconds."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return 0.0
    # Fields 14-17 of proc(5); field 3 (state) is the first one after the command name's last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return sum(int(v) for v in fields[11:15]) / _CLK_TCK


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by the parent and every worker of a server."""
    return sum(_cpu_seconds(pid) for pid in tree_pids(root))


def tree_peak_rss(root: int) -> int:
    """Sum of VmHWM (peak resident set) over the process tree, in bytes."""
    return sum(_status_field(pid, b"VmHWM:") for pid in tree_pids(root))
