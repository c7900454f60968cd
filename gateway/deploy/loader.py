"""Scan the artifact folders, build every artifact fail-safe, and return an immutable Configuration
plus the list of problems (each `path:line: element: reason`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lxml import etree

from gateway.deploy import artifacts
from gateway.deploy.registry import FactoryContext
from gateway.deploy.xmlutil import check_synapse_namespace, did_you_mean, local_name, location, parse_config_file
from gateway.errors import DeployError, SourceLocation
from gateway.runtime.configuration import Configuration, DeployedArtifact

log = logging.getLogger("gateway.deploy")

# Folders in MI's load order (reference §7): local entries, endpoints, sequences, templates, proxies.
FOLDERS = ("local-entries", "endpoints", "sequences", "templates", "proxies", "proxy-services")
ROOTS: dict[str, tuple[str, str, Callable[..., Any]]] = {
    # root element -> (kind, configuration attribute, factory)
    "localEntry": ("localEntry", "local_entries", artifacts.build_local_entry),
    "endpoint": ("endpoint", "endpoints", artifacts.build_endpoint),
    "sequence": ("sequence", "sequences", artifacts.build_sequence),
    "template": ("template", "templates", artifacts.build_template),
    "proxy": ("proxy", "proxies", artifacts.build_proxy),
}
_UNSUPPORTED_ROOTS = {"api": "REST APIs", "inboundEndpoint": "inbound endpoints", "task": "tasks",
                      "messageStore": "message stores", "messageProcessor": "message processors"}


def artifact_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for folder in FOLDERS:
        directory = root / folder
        if directory.is_dir():
            files.extend(sorted(p for p in directory.iterdir() if p.suffix == ".xml" and p.is_file()))
    return files


def load(root: Path | str, *, settings=None, connectors=None) -> Configuration:
    root = Path(root)
    tables: dict[str, dict[str, Any]] = {attr: {} for _, attr, _ in ROOTS.values()}
    origins: dict[tuple[str, str], str] = {}
    deployed: list[DeployedArtifact] = []
    failed: list[DeployError] = []
    if not root.is_dir():
        failed.append(DeployError(SourceLocation(str(root)), "(artifacts)", "artifact directory does not exist",
                                  "pass --artifacts DIR pointing at a folder with proxies/, sequences/, …"))
    if connectors is None:
        connectors = default_connector_registry()
    for path in artifact_files(root):
        display = _display(path)
        try:
            element = parse_config_file(str(path), display)
            kind, attr, name, artifact = _build(element, display, settings, connectors)
            previous = origins.get((attr, name))
            if previous is not None:
                raise DeployError(location(element, display), kind,
                                  f"{kind} named '{name}' already exists (defined in {previous})",
                                  "rename one of them; names are unique per artifact kind")
            tables[attr][name] = artifact
            origins[(attr, name)] = display
            deployed.append(DeployedArtifact(kind, name, display))
        except DeployError as exc:
            failed.append(exc)
            log.error("Deployment of the Synapse artifact from file %s failed: %s", display, exc)
    return Configuration(
        proxies=MappingProxyType(tables["proxies"]), sequences=MappingProxyType(tables["sequences"]),
        endpoints=MappingProxyType(tables["endpoints"]), local_entries=MappingProxyType(tables["local_entries"]),
        templates=MappingProxyType(tables["templates"]), deployed=tuple(deployed), failed=tuple(failed),
    )


def _build(element: etree._Element, display: str, settings, connectors):
    check_synapse_namespace(element)
    root_name = local_name(element)
    if root_name not in ROOTS:
        if root_name in _UNSUPPORTED_ROOTS:
            raise DeployError(location(element, display), root_name,
                              f"{_UNSUPPORTED_ROOTS[root_name]} are not supported yet")
        raise DeployError(location(element, display), root_name, "unknown artifact root element",
                          did_you_mean(root_name, ROOTS) or f"use one of: {', '.join(ROOTS)}")
    kind, attr, factory = ROOTS[root_name]
    fctx = FactoryContext(display, settings, connectors)
    artifact = factory(element, fctx)
    name = getattr(artifact, "name", None) or getattr(artifact, "key", None)
    return kind, attr, name, artifact


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def default_connector_registry():
    try:
        from gateway.deploy.connectors import ConnectorRegistry
    except ImportError:  # the connector framework is optional for the engine
        return None
    return ConnectorRegistry.discover()


def validate(root: Path | str) -> list[DeployError]:
    return list(load(root).failed)


