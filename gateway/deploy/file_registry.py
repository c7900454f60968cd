"""Reading MI's file registry at deploy time: every file under `registry/governance`, `registry/config` and
`registry/local` becomes a resource (an XML element, or text as MI reads it), and the XML ones that hold a Synapse
`<sequence>`, `<endpoint>` or `<template>` are compiled with the same declarations as the artifact folders, so
`<sequence key="gov:/…"/>` runs a compiled sequence and a mistake in one is a `validate` problem with its line.

The same rule serves local entries holding such an element (W: SynapseConfiguration.getSequence builds a
sequence from a local entry's XML)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.deploy.declare import Reported, build
from gateway.deploy.registry import FactoryContext, internal_error
from gateway.errors import DeployError, SourceLocation
from gateway.runtime.registry import (
    FOLDERS,
    MAX_RESOURCE_BYTES,
    Registry,
    RegistryResource,
    decode_resource,
    written_by_gateway,
)
from gateway.xmlutil import (
    SYNAPSE_NS,
    DeployErrors,
    check_synapse_namespace,
    doctype_of,
    local_name,
    location,
    parse_config_file,
    problems_of,
)

REGISTRY_FOLDER = "registry"
DECLARATION = "registry.xml"
MI_REGISTRY = "org.wso2.micro.integrator.registry.MicroIntegratorRegistry"
_ACCEPTED_PARAMETERS = {"cachableDuration"}  # MI's default registry.xml; resources here are always read fresh
# Kinds of compiled objects, by the root element of the XML that holds them.
COMPILED_ROOTS = {"sequence": "sequences", "endpoint": "endpoints", "template": "templates"}
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)
_WHERE = "resources live in registry/governance/ (gov:), registry/config/ (conf:) or registry/local/ (local:)"
_OTHER_NAMES = {"gov": "governance", "conf": "config", "configuration": "config"}


@dataclass
class LoadedRegistry:
    registry: Registry
    compiled: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {table: {} for table in COMPILED_ROOTS.values()}
    )
    deployed: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, key, display path)
    problems: list[DeployError] = field(default_factory=list)
    failed_keys: dict[str, str] = field(default_factory=dict)  # canonical key -> display path
    references: list[Any] = field(default_factory=list)
    contexts: list[FactoryContext] = field(default_factory=list)
    stamps: list[str] = field(default_factory=list)  # key and digest of every resource read: the version's share


def compile_keyed(element: etree._Element, fctx: FactoryContext) -> tuple[str, Any] | None:
    """(table, object) for an element MI can build on demand from a key: a Synapse `<sequence>` (through the
    mediator factories, as W: MediatorFactoryFinder does), `<endpoint>` or `<template>`; None for any other
    XML (data: a stylesheet, a schema, a WSDL, a connection). Problems are recorded in fctx."""
    from gateway.deploy.artifacts import TEMPLATE
    from gateway.deploy.endpoints import ENDPOINT

    if etree.QName(element).namespace != SYNAPSE_NS:
        return None
    table = COMPILED_ROOTS.get(local_name(element))
    if table is None:
        return None
    builders: dict[str, Callable[[], Any]] = {
        "sequences": lambda: fctx.build_mediator(element),
        "endpoints": lambda: build(element, ENDPOINT, fctx),
        "templates": lambda: build(element, TEMPLATE, fctx),
    }
    try:
        return table, builders[table]()
    except Reported:
        return None
    except (DeployError, DeployErrors) as exc:
        fctx.problems.extend(problems_of(exc))
        return None
    except Exception as exc:  # noqa: BLE001 - one broken resource must not stop the load
        fctx.problems.append(internal_error(exc, location(element, fctx.path), local_name(element)))
        return None


def load_registry(
    root: Path, make_context: Callable[[str], FactoryContext], display: Callable[[Path], str]
) -> LoadedRegistry:
    """Read `root/registry` (absent: an empty registry a property write may create)."""
    folder = root / REGISTRY_FOLDER
    loaded = LoadedRegistry(Registry(folder))
    if (root / DECLARATION).is_file():
        loaded.problems.extend(check_declaration(root / DECLARATION, display(root / DECLARATION)))
    if not folder.is_dir():
        return loaded
    resources: dict[str, RegistryResource] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and entry.name in FOLDERS:
            for path in _files(entry):
                relative = path.relative_to(entry).as_posix()
                key = f"{FOLDERS[entry.name]}/{relative}"
                resource = _resource(key, path, display(path), folder, loaded)
                if resource is not None:
                    resources[key] = resource
            continue
        if entry.is_dir():
            meant = _OTHER_NAMES.get(entry.name.lower())
            hint = f"{FOLDERS[meant]} keys are read from registry/{meant}/" if meant else _WHERE
            loaded.problems.extend(
                _not_read(path, display, f"registry/{entry.name}/ is not read", hint) for path in _files(entry)
            )
        elif entry.is_file():
            loaded.problems.append(
                _not_read(
                    entry,
                    display,
                    "a file directly in registry/ is not a registry resource",
                    _WHERE,
                )
            )
    loaded.registry = Registry(folder, resources)
    for key, resource in resources.items():
        if not isinstance(resource.value, etree._Element):
            continue
        fctx = make_context(resource.location.path)
        compiled = compile_keyed(resource.value, fctx)
        if fctx.problems:
            loaded.problems.extend(fctx.problems)
            loaded.failed_keys[key] = resource.location.path
            continue
        if compiled is not None:
            table, built = compiled
            loaded.compiled[table][key] = built
            loaded.deployed.append((table, key, resource.location.path))
            loaded.references.extend(fctx.references)
            loaded.contexts.append(fctx)
    return loaded


def check_declaration(path: Path, shown: str) -> list[DeployError]:
    """MI's `registry.xml` (synapse-configs/default) declares the registry. MI's own file registry is accepted
    (the registry/ folder is its root here); any other provider, or moving the root, is reported."""
    try:
        root = parse_config_file(str(path), shown)
    except DeployError as exc:
        return [exc]
    where = location(root, shown)
    if local_name(root) != "registry":
        return [DeployError(where, local_name(root), "registry.xml holds a <registry> declaration", "move this file")]
    try:
        check_synapse_namespace(root)
    except DeployError as exc:
        return [exc]
    provider = (root.get("provider") or "").strip()
    if provider != MI_REGISTRY:
        return [
            DeployError(
                where,
                "registry",
                f"the registry provider '{provider}' is not supported",
                f"the file registry ({MI_REGISTRY}) is the registry/ folder next to registry.xml",
            )
        ]
    problems = []
    for child in root:
        if not isinstance(child.tag, str) or local_name(child) != "parameter":
            continue
        name = (child.get("name") or "").strip()
        if name not in _ACCEPTED_PARAMETERS:
            problems.append(
                DeployError(
                    location(child, shown),
                    "parameter",
                    f"registry parameter '{name}' is not supported",
                    "the registry root is the registry/ folder of the artifacts",
                )
            )
    return problems


def registry_fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    """What hot deployment compares to see that the registry changed: every file's path, size and mtime."""
    folder = root / REGISTRY_FOLDER
    stamps: list[tuple[str, int, int]] = []
    for path in [root / DECLARATION, *(_files(folder) if folder.is_dir() else [])]:
        try:
            stat = path.stat()
        except OSError:
            continue
        stamps.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(stamps)


def changed_by_others(old: tuple[tuple[str, int, int], ...], new: tuple[tuple[str, int, int], ...]) -> bool:
    """Whether the registry changed between two fingerprints in a way that needs a redeploy: a file added,
    changed or removed by someone other than the gateway's own registry writes (property scope="registry",
    recorded by Registry.write). As in MI, such runtime writes never redeploy artifacts; they are read at
    request time (get-property('registry', …)) from the file."""
    if old == new:
        return False
    before = {path: (size, mtime) for path, size, mtime in old}
    after = {path: (size, mtime) for path, size, mtime in new}
    if before.keys() - after.keys():
        return True
    return any(before.get(path) != stamp and not written_by_gateway(Path(path)) for path, stamp in after.items())


def _files(directory: Path) -> list[Path]:
    """Every file below `directory`, in a stable order; hidden files and MI's .metadata folders are skipped."""
    found: list[Path] = []
    for current, folders, files in os.walk(directory, followlinks=False):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found.extend(Path(current) / name for name in sorted(files) if not name.startswith("."))
    return found


def _resource(key: str, path: Path, shown: str, folder: Path, loaded: LoadedRegistry) -> RegistryResource | None:
    where = SourceLocation(shown)
    try:
        if not path.resolve().is_relative_to(folder.resolve()):
            raise DeployError(where, "(file)", "a link that leads out of the registry is not read", "copy the file in")
        size = path.stat().st_size
        if size > MAX_RESOURCE_BYTES:
            raise DeployError(
                where, "(file)", f"a registry resource larger than {MAX_RESOURCE_BYTES} bytes is not read"
            )
        data = path.read_bytes()
        loaded.stamps.append(f"{key}\0{hashlib.sha256(data).hexdigest()}")
    except DeployError as exc:
        loaded.problems.append(exc)
        return None
    except OSError as exc:
        loaded.problems.append(DeployError(where, "(file)", f"cannot read: {exc.strerror or exc}"))
        return None
    value: str | etree._Element
    try:
        element = etree.fromstring(data, _PARSER, base_url=shown)
    except etree.XMLSyntaxError:
        value = decode_resource(data, path)  # MI: not well-formed XML is text
    else:
        if doctype_of(element.getroottree().docinfo):
            loaded.problems.append(
                DeployError(
                    SourceLocation(shown, 1),
                    "(file)",
                    "DOCTYPE declarations are not allowed",
                    "remove the <!DOCTYPE …> line",
                )
            )
            return None
        value = element
    return RegistryResource(key, path, value, where)


def _not_read(path: Path, display: Callable[[Path], str], reason: str, hint: str) -> DeployError:
    return DeployError(SourceLocation(display(path)), "(file)", f"not read: {reason}", hint)
