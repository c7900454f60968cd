"""Hot deployment, as MI's AbstractSynapseArtifactDeployer does it (docs/synapse-semantics.md §7):

- a changed file is rebuilt alone (unchanged files keep their built artifacts) and the configuration is
  assembled again; the caller swaps the reference, so a request in flight finishes on the version it began on;
- a new file that fails is moved to `FILE.back` (`FILE.1.back`, … when taken) and logged with file:line;
- an update that fails keeps the previous version serving: the new file is moved to `FILE.back` and the bytes
  that serve are written back to `FILE` (MI restores the artifact into the file too);
- a deleted file undeploys its artifact.

Only one process moves files (`fix_files=True`: the single process, or the supervisor of `--workers N`); the
workers reload with `fix_files=False` after it did, from files that are then the truth. Errors at start-up
are reported but never moved (MI's fail-safe start-up does not move them either).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.deploy.file_registry import changed_by_others, registry_fingerprint
from gateway.deploy.loader import FOLDERS, FileBuild, assemble, build_file, default_connector_registry, scan
from gateway.errors import DeployError
from gateway.runtime.configuration import Configuration

if TYPE_CHECKING:
    from gateway.connector import ConnectorRegistry
    from gateway.settings import Settings

log = logging.getLogger("gateway.deploy")

KEPT_EVENTS = 200  # what the management API and the dashboard show of the recent history


@dataclass(frozen=True, slots=True)
class DeployEvent:
    """One thing hot deployment did, for the log, the management API and the dashboard."""

    at: float  # time.time()
    action: str  # deployed | updated | undeployed | failed | update failed
    path: str
    kind: str | None = None
    name: str | None = None
    problems: tuple[DeployError, ...] = ()
    backup: str | None = None  # where the failing file was moved

    def as_json(self) -> dict[str, object]:
        return {
            "time": self.at,
            "action": self.action,
            "path": self.path,
            "kind": self.kind,
            "name": self.name,
            "backup": self.backup,
            "problems": [
                {"path": p.location.path, "line": p.location.line, "element": p.element, "reason": p.reason}
                for p in self.problems
            ],
        }


class HotDeployer:
    """The artifacts of one folder, as built files; `reload()` brings them up to date with the disk."""

    def __init__(
        self, root: Path, settings: Settings | None = None, connectors: ConnectorRegistry | None = None
    ) -> None:
        self.root = root
        self.settings = settings
        self.connectors = connectors if connectors is not None else default_connector_registry()
        self.events: deque[DeployEvent] = deque(maxlen=KEPT_EVENTS)
        self._builds: dict[Path, FileBuild] = {}
        self._dangling: set[str] = set()
        self._templates: dict[str, Any] = {}  # connector template operations, compiled once
        self._registry: tuple[tuple[str, int, int], ...] = ()
        self.config = Configuration.empty()

    def load(self, *, log_problems: bool = True) -> Configuration:
        """The start-up load: every file built, problems logged (unless another process logs them), nothing
        moved."""
        files, unread = scan(self.root)
        self._registry = registry_fingerprint(self.root)
        for path in files:
            self._builds[path] = build_file(path, None, self.settings, self.connectors, self._templates)
        if log_problems:
            for problem in unread:
                log.warning("%s", problem)
            for result in self._builds.values():
                for problem in result.problems:
                    log.error("Deployment of the Synapse artifact from file %s failed: %s", result.display, problem)
        self.config = self._assemble(unread, log_duplicates=log_problems, log_dangling=log_problems)
        return self.config

    def reload(self, *, fix_files: bool) -> Configuration | None:
        """Rebuild what changed on disk since the last look; the new configuration, or None if nothing changed."""
        files, unread = scan(self.root)
        previous = self._builds
        current: dict[Path, FileBuild] = {}
        changed: list[Path] = []
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:  # gone between the scan and the read: it is looked at again next time
                continue
            old = previous.get(path)
            if old is not None and old.data == data:
                current[path] = old
                continue
            changed.append(path)
            result = build_file(path, data, self.settings, self.connectors, self._templates)
            if result.problems:
                self._failed(result, old, current, fix_files)
            else:
                current[path] = result
        removed = [path for path in previous if path not in current and path not in changed]
        registry = registry_fingerprint(self.root)
        registry_changed = changed_by_others(self._registry, registry)
        self._registry = registry
        if not changed and not removed and not registry_changed:
            return None
        self._builds = current
        fresh = [path for path in changed if path in current and current[path] is not previous.get(path)]
        self._reject_duplicates(fresh, previous, fix_files)
        for path in removed:
            gone = previous[path]
            if gone.built is not None:
                self._record("undeployed", gone, None)
                log.info("%s '%s' undeployed: %s was deleted", gone.built.kind, gone.built.name, gone.display)
        for path in changed:
            now = current.get(path)
            if now is not None and now.built is not None and now is not previous.get(path):
                was = previous.get(path)
                action = "updated" if was is not None and was.built is not None else "deployed"
                self._record(action, now, None)
                log.info("%s '%s' %s from %s", now.built.kind, now.built.name, action, now.display)
        self.config = self._assemble(unread, log_duplicates=False, log_dangling=True)
        return self.config

    def source(self, path: str) -> bytes | None:
        """The bytes an artifact file (its shown path) was built from, as the management API shows them."""
        for result in self._builds.values():
            if result.display == path:
                return result.data
        return None

    # -- failures -----------------------------------------------------------------------------------------
    def _failed(
        self, result: FileBuild, old: FileBuild | None, current: dict[Path, FileBuild], fix_files: bool
    ) -> None:
        serving = old if old is not None and old.built is not None else None
        if serving is not None:  # an update that fails: the previous version keeps serving
            for problem in result.problems:
                log.error("Update of the Synapse artifact from file %s failed: %s", result.display, problem)
            backup = None
            if fix_files:
                backup = _backup(result.path)
                _write_back(result.path, serving.data or b"")
                log.info(
                    "The updated file has been backed up into %s; the previous version of %s keeps serving and is "
                    "restored into the file",
                    backup,
                    result.display,
                )
            current[result.path] = serving
            self._record("update failed", result, backup, serving)
            return
        for problem in result.problems:
            log.error("Deployment of the Synapse artifact from file %s failed: %s", result.display, problem)
        backup = None
        if fix_files:
            backup = _backup(result.path)
            log.info("The file has been backed up into %s (fix it and rename it back to deploy it)", backup)
        else:
            current[result.path] = result  # listed as failed until the process that moves files moved it
        self._record("failed", result, backup)

    def _reject_duplicates(self, fresh: list[Path], previous: dict[Path, FileBuild], fix_files: bool) -> None:
        """A changed file that takes a name another deployed file already has fails, as a new file would: the
        artifact that was there first keeps it (in load order only among the files that changed together)."""
        fresh_set = set(fresh)
        owners: dict[tuple[str, str], FileBuild] = {}
        for path, result in self._builds.items():
            if result.built is not None and path not in fresh_set:
                owners.setdefault((result.built.attr, result.built.name), result)
        for path in sorted(fresh, key=lambda path: _order(path)):
            result = self._builds[path]
            built = result.built
            assert built is not None
            owner = owners.get((built.attr, built.name))
            if owner is None:
                owners[(built.attr, built.name)] = result
                continue
            problem = DeployError(
                built.where,
                built.kind,
                f"{built.kind} named '{built.name}' already exists (defined in {owner.display})",
                "rename one of them; names are unique per artifact kind",
            )
            del self._builds[path]
            failed = replace(result, built=None, problems=(problem,), claimed=(built.attr, built.name))
            self._failed(failed, previous.get(path), self._builds, fix_files)

    # -- helpers ------------------------------------------------------------------------------------------
    def _assemble(self, unread: list[DeployError], *, log_duplicates: bool, log_dangling: bool) -> Configuration:
        ordered = sorted(self._builds.values(), key=lambda b: _order(b.path))
        self._builds = {b.path: b for b in ordered}
        assembly = assemble(
            ordered,
            unread,
            root=self.root,
            settings=self.settings,
            connectors=self.connectors,
            templates=self._templates,
        )
        if log_duplicates:
            for path, problems in assembly.rejected.items():
                if not self._builds[path].problems:
                    for problem in problems:
                        log.error("Deployment of the Synapse artifact from file %s failed: %s", path, problem)
        dangling = {str(problem) for problem in assembly.config.dangling}
        for problem in assembly.config.dangling:
            if log_dangling and str(problem) not in self._dangling:
                log.warning("%s", problem)
        self._dangling = dangling
        return assembly.config

    def _record(self, action: str, result: FileBuild, backup: str | None, serving: FileBuild | None = None) -> None:
        built = result.built or (serving.built if serving is not None else None)
        kind, name = (
            (built.kind, built.name) if built is not None else (None, result.claimed[1] if result.claimed else None)
        )
        self.events.append(DeployEvent(time.time(), action, result.display, kind, name, result.problems, backup))


def _order(path: Path) -> tuple[int, str]:
    """MI's load order: by folder (scan's order), then by name."""
    folder = path.parent.name
    return (FOLDERS.index(folder) if folder in FOLDERS else len(FOLDERS), path.name)


def _backup(path: Path) -> str:
    """Move `path` to `path.back` (or `path.N.back`), as MI's backupFile does; the new name, or why not."""
    target = Path(f"{path}.back")
    index = 0
    while target.exists():
        index += 1
        target = Path(f"{path}.{index}.back")
    try:
        os.replace(path, target)
    except OSError as exc:
        log.warning("could not back up %s: %s", path, exc)
        return f"(not backed up: {exc.strerror or exc})"
    return str(target)


def _write_back(path: Path, data: bytes) -> None:
    """Write the serving version back into `path` atomically (a temporary file the scan does not read)."""
    temporary = path.with_name(f".{path.name}.restoring")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("could not restore %s: %s", path, exc)
