"""Scan the artifact folders, build every artifact fail-safe, and return an immutable Configuration
plus the list of problems (each `path:line: element: reason`).

Nothing is skipped silently: every .xml file that is not read is reported with the reason, every problem
of a file is reported (not only the first), and once all files are loaded the static keys that name no
deployed artifact are reported too (the artifact still serves, as in MI)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from lxml import etree

from gateway.connector import ConnectorRegistry
from gateway.deploy.artifacts import ARTIFACTS
from gateway.deploy.declare import Reported, build
from gateway.deploy.endpoints import instantiate
from gateway.deploy.file_registry import DECLARATION, REGISTRY_FOLDER, LoadedRegistry, compile_keyed, load_registry
from gateway.deploy.registry import Arguments, FactoryContext, Reference, internal_error
from gateway.deploy.wsdl import resolve_keyed_wsdls
from gateway.errors import DeployError, SourceLocation
from gateway.mediators.resources import KEY_SEPARATOR, Precompile, ResourceError, compile_resource
from gateway.mediators.template import SequenceTemplate
from gateway.runtime.api import ApiIndex, RestApi
from gateway.runtime.configuration import Configuration, DeployedArtifact, LocalEntry
from gateway.runtime.defaults import DEFAULT_FAULT, DEFAULT_MAIN
from gateway.runtime.endpoints import EndpointTemplate
from gateway.runtime.registry import Registry, RegistryResource, Table, is_registry_key, registry_key, relative_path
from gateway.xmlutil import (
    DeployErrors,
    check_synapse_namespace,
    did_you_mean,
    local_name,
    location,
    parse_config_file,
    problems_of,
)

if TYPE_CHECKING:
    from gateway.settings import Settings

log = logging.getLogger("gateway.deploy")

# Folders in MI's load order (docs/synapse-semantics.md §7): local entries, endpoints, sequences, templates,
# proxies. MI deploys by folder (W: MultiXMLConfigurationBuilder), so each folder holds one kind of artifact.
FOLDERS = (
    "local-entries",
    "endpoints",
    "sequences",
    "templates",
    "proxies",
    "proxy-services",
    "api",
    "message-stores",
    "message-processors",
    "tasks",
    "inbound-endpoints",
)
FOLDER_ROOTS = {
    "local-entries": "localEntry",
    "endpoints": "endpoint",
    "sequences": "sequence",
    "templates": "template",
    "proxies": "proxy",
    "proxy-services": "proxy",
    "api": "api",
    "message-stores": "messageStore",
    "message-processors": "messageProcessor",
    "tasks": "task",
    "inbound-endpoints": "inboundEndpoint",
}
ROOTS = ARTIFACTS  # root element -> (kind, configuration attribute, declaration)
_HOME = {
    "localEntry": "local-entries/",
    "endpoint": "endpoints/",
    "sequence": "sequences/",
    "template": "templates/",
    "proxy": "proxy-services/ (or proxies/)",
    "api": "api/",
    "messageStore": "message-stores/",
    "messageProcessor": "message-processors/",
    "task": "tasks/",
    "inboundEndpoint": "inbound-endpoints/",
}
# MI's other artifacts: root element -> (what, where MI reads them)
_UNSUPPORTED_ROOTS = {
    "eventSource": ("event sources", "event-sources/"),
    "priorityExecutor": ("priority executors", "priority-executors/"),
    "import": ("connector imports", "imports/"),
    "registry": ("registries", "registry.xml"),
    "definitions": ("whole <definitions> configurations", "synapse.xml; here: one artifact per file, by folder"),
}
# MI's other folders (W: MultiXMLConfigurationBuilder): MI reads them, this gateway does not yet.
MI_FOLDERS = {
    "event-sources": "event sources are not supported yet",
    "priority-executors": "priority executors are not supported yet",
    "imports": "connector imports are not read: installed connectors are found without them",
}
_ROOT_FILES = {
    "synapse.xml": "a whole <definitions> configuration (synapse.xml) is not read",
    "task-manager.xml": "the task manager (task-manager.xml) is not supported yet",
}
_FOLDER_LIST = ", ".join(f"{folder}/" for folder in FOLDERS)

# What a dangling reference breaks, by the role of the key.
_LABELS = {
    "sequence": ("sequence", "sequences"),
    "endpoint": ("endpoint", "endpoints"),
    "localEntry": ("local entry", "local-entries"),
    "template": ("template", "templates"),
}
_TABLES = {"sequence": "sequences", "endpoint": "endpoints", "localEntry": "local_entries", "template": "templates"}
_CONSEQUENCES = {
    "call": "every message reaching it fails",
    "receive": "every reply to this send fails",
    "onError": "errors there skip it and go to the enclosing fault handler",
    "faultSequence": "errors in this proxy go to the global 'fault' sequence instead",
    "resourceFault": "errors in this resource go to the global 'fault' sequence instead",
    "wsdl": "?wsdl requests fail",
}


def artifact_files(root: Path) -> list[Path]:
    return _scan(root)[0]


def scan(root: Path) -> tuple[list[Path], list[DeployError]]:
    """The artifact files to read, in MI's load order, and a problem for every .xml file that is not read."""
    return _scan(root)


def load(
    root: Path | str, *, settings: Settings | None = None, connectors: ConnectorRegistry | None = None
) -> Configuration:
    root = Path(root)
    files, unread = _scan(root)
    for problem in unread:
        log.warning("%s", problem)
    if connectors is None:
        connectors = default_connector_registry()
    builds = []
    templates: dict[str, Any] = {}
    for path in files:
        result = build_file(path, None, settings, connectors, templates)
        for problem in result.problems:
            log.error("Deployment of the Synapse artifact from file %s failed: %s", result.display, problem)
        builds.append(result)
    assembly = assemble(builds, unread, root=root, settings=settings, connectors=connectors, templates=templates)
    for path, problems in assembly.rejected.items():
        if path not in {b.path for b in builds if b.problems}:  # a duplicate name: found only when assembling
            for problem in problems:
                log.error("Deployment of the Synapse artifact from file %s failed: %s", _display(path), problem)
    for problem in assembly.config.dangling:
        log.warning("%s", problem)
    return assembly.config


@dataclass(frozen=True, slots=True)
class FileBuild:
    """One artifact file, built on its own: no file consults another while it is built (keys are resolved
    per message, keyed WSDLs once everything is assembled), so a changed file can be rebuilt alone."""

    path: Path
    display: str
    data: bytes | None  # the bytes it was built from (None: unreadable); hot deployment compares and restores them
    built: _Built | None  # None when it failed
    problems: tuple[DeployError, ...]
    references: tuple[Reference, ...]
    arguments: tuple[Arguments, ...]  # call-template parameters, checked against the templates once assembled
    template_endpoints: tuple[Any, ...]  # <endpoint template=…>, instantiated once assembled
    claimed: tuple[str, str] | None  # (table, name) a failed file meant to define, for the dangling-key hints
    precompile: tuple[Precompile, ...] = ()  # stylesheets/schemas named by static keys (gateway.mediators.resources)


def build_file(
    path: Path,
    data: bytes | None,
    settings: Settings | None,
    connectors: ConnectorRegistry | None,
    templates: dict[str, Any] | None = None,
) -> FileBuild:
    """Build one artifact file (from `data` when given, else read from disk); never raises. `templates` caches
    the connector template operations compiled so far (shared by the files of one deployment)."""
    display = _display(path)
    fctx = FactoryContext(display, settings, connectors, connector_templates=templates if templates is not None else {})
    element: etree._Element | None = None
    built: _Built | None = None
    problems: list[DeployError] = []
    try:
        if data is None:
            data = path.read_bytes()
        element = parse_config_file(str(path), display, data)
        built = _build(element, path.parent.name, fctx)
    except Reported:
        pass  # its problems are in fctx.problems
    except (DeployError, DeployErrors) as exc:
        problems = problems_of(exc)
    except OSError as exc:
        problems = [DeployError(SourceLocation(display), "(file)", f"cannot read: {exc.strerror or exc}")]
    except Exception as exc:  # noqa: BLE001 - no input may stop the other artifacts from deploying
        where = location(element, display) if element is not None else SourceLocation(display)
        problems = [internal_error(exc, where, local_name(element) if element is not None else "(file)")]
    problems = sorted(fctx.problems + problems, key=lambda problem: problem.location.line or 0)
    claimed: tuple[str, str] | None = None
    if (built is None or problems) and element is not None and local_name(element) in ROOTS:
        name = element.get("name") or element.get("key")
        claimed = (ROOTS[local_name(element)][1], name) if name is not None else None
    if problems:
        built = None
    return FileBuild(
        path,
        display,
        data,
        built,
        tuple(problems),
        tuple(fctx.references),
        tuple(fctx.arguments),
        tuple(fctx.template_endpoints),
        claimed,
        tuple(fctx.precompile),
    )


class Assembly(NamedTuple):
    config: Configuration
    rejected: dict[Path, list[DeployError]]  # every file that did not deploy, with its problems


def assemble(
    builds: Sequence[FileBuild],
    unread: Sequence[DeployError] = (),
    *,
    root: Path | None = None,
    settings: Settings | None = None,
    connectors: ConnectorRegistry | None = None,
    templates: dict[str, Any] | None = None,
) -> Assembly:
    """The Configuration of built files, in MI's load order: the first file defining a name wins. Local entries
    holding Synapse XML and the file registry under `root` are compiled here, as they are needed whole."""
    compiled_templates = templates if templates is not None else {}
    tables: dict[str, dict[str, Any]] = {attr: {} for _, attr, _ in ROOTS.values()}
    origins: dict[tuple[str, str], str] = {}
    failed_names: dict[tuple[str, str], str] = {}
    deployed: list[DeployedArtifact] = []
    references: list[Reference] = []
    arguments: list[Arguments] = []
    template_uses: list[tuple[Any, str]] = []  # (TemplateEndpoint, the file it is in)
    precompile: list[Precompile] = []
    failed = list(unread)
    rejected: dict[Path, list[DeployError]] = {}
    digest = hashlib.sha256()
    for result in builds:
        built = result.built
        problems = list(result.problems)
        if built is not None:
            previous = origins.get((built.attr, built.name))
            if previous is not None:
                problems = [
                    DeployError(
                        built.where,
                        built.kind,
                        f"{built.kind} named '{built.name}' already exists (defined in {previous})",
                        "rename one of them; names are unique per artifact kind",
                    )
                ]
        if built is not None and not problems and built.kind == "api":
            problems = _context_taken(built, tables["apis"].values())
        if built is None or problems:
            failed.extend(problems)
            rejected[result.path] = problems
            claimed = result.claimed or ((built.attr, built.name) if built is not None else None)
            if claimed is not None:
                failed_names.setdefault(claimed, result.display)
            continue
        tables[built.attr][built.name] = built.artifact
        origins[(built.attr, built.name)] = result.display
        deployed.append(DeployedArtifact(built.kind, built.name, result.display))
        references.extend(result.references)
        arguments.extend(result.arguments)
        template_uses.extend((use, result.display) for use in result.template_endpoints)
        precompile.extend(result.precompile)
        digest.update(f"{result.display}\0{len(result.data or b'')}\0".encode())
        digest.update(result.data or b"")

    def context(display: str) -> FactoryContext:
        return FactoryContext(display, settings, connectors, connector_templates=compiled_templates)

    # Local entries holding a <sequence>, <endpoint> or <template> serve keys of that kind too (W:
    # SynapseConfiguration.getSequence / getEndpoint build them from the entry); a deployed artifact of the
    # same name wins.
    for key, entry in list(tables["local_entries"].items()):
        if not isinstance(entry.value, etree._Element):
            continue
        fctx = context(entry.location.path)
        compiled = compile_keyed(entry.value, fctx)
        failed.extend(fctx.problems)
        if compiled is not None and not fctx.problems:
            tables[compiled[0]].setdefault(key, compiled[1])
            references.extend(fctx.references)
            arguments.extend(fctx.arguments)
            template_uses.extend((use, fctx.path) for use in fctx.template_endpoints)
            precompile.extend(fctx.precompile)
    loaded = load_registry(root, context, _display) if root is not None else LoadedRegistry(Registry(None))
    for stamp in loaded.stamps:
        digest.update(stamp.encode())
    failed.extend(loaded.problems)
    for kind, key, shown in loaded.deployed:
        deployed.append(DeployedArtifact(_KINDS[kind], key, shown))
    for fctx in loaded.contexts:
        references.extend(fctx.references)
        arguments.extend(fctx.arguments)
        template_uses.extend((use, fctx.path) for use in fctx.template_endpoints)
        precompile.extend(fctx.precompile)
    _add_builtin_sequences(tables["sequences"])
    registry_entries = {key: _entry(resource) for key, resource in loaded.registry.resources.items()}
    finished: dict[str, Table[Any]] = {
        "sequences": Table(tables["sequences"], loaded.compiled["sequences"]),
        "endpoints": Table(tables["endpoints"], loaded.compiled["endpoints"]),
        "local_entries": Table(tables["local_entries"], registry_entries),
        "templates": Table(tables["templates"], loaded.compiled["templates"]),
    }
    resolve_keyed_wsdls(tables["proxies"], finished["local_entries"])
    dangling = [
        _dangling(ref, finished, failed_names, loaded)
        for ref in references
        if ref.key not in finished[_TABLES[ref.kind]]
    ]
    dangling.extend(_unknown_arguments(arguments, finished["templates"]))
    dangling.extend(_unknown_stores(tables["message_processors"], tables["message_stores"], failed_names))
    compiled_resources: dict[Any, Any] = {}
    dangling.extend(_precompile(precompile, finished["local_entries"], compiled_resources))
    template_endpoints = _instantiate_templates(template_uses, finished["templates"], context, dangling)
    config = Configuration(
        proxies=MappingProxyType(tables["proxies"]),
        sequences=finished["sequences"],
        endpoints=finished["endpoints"],
        local_entries=finished["local_entries"],
        templates=finished["templates"],
        apis=MappingProxyType(tables["apis"]),
        api_index=ApiIndex(tables["apis"].values()) if tables["apis"] else None,
        deployed=tuple(deployed),
        failed=tuple(failed),
        dangling=tuple(dangling),
        registry=loaded.registry,
        template_endpoints=MappingProxyType(template_endpoints),
        message_stores=MappingProxyType(tables["message_stores"]),
        message_processors=MappingProxyType(tables["message_processors"]),
        tasks=MappingProxyType(tables["tasks"]),
        inbound_endpoints=MappingProxyType(tables["inbound_endpoints"]),
        version=digest.hexdigest()[:16],
        compiled=compiled_resources,
    )
    return Assembly(config, rejected)


_KINDS = {"sequences": "sequence", "endpoints": "endpoint", "templates": "template"}


def _entry(resource: RegistryResource) -> LocalEntry:
    """A registry resource seen as a local entry (format keys, publishWSDL keys, enrich, get-property)."""
    return LocalEntry(resource.key, resource.value, resource.location, str(resource.path))


def _instantiate_templates(
    uses: list[tuple[Any, str]],
    templates: Table[Any],
    context: Callable[[str], FactoryContext],
    problems: list[DeployError],
) -> dict[Any, Any]:
    """Each <endpoint template=…> built from its template (W: TemplateEndpoint.init, Template.create). A missing
    template is reported as a dangling key; a template that is not an endpoint template, or whose endpoint does
    not build with the values given, is reported here; such an endpoint fails each message."""
    built: dict[Any, Any] = {}
    for use, display in uses:
        template = templates.get(use.template)
        if template is None:
            continue  # reported as a dangling template key
        if not isinstance(template, EndpointTemplate):
            problems.append(
                DeployError(
                    use.location,
                    "endpoint",
                    f"template '{use.template}' is a sequence template, not an endpoint template",
                    "an <endpoint template=…> names a <template> holding an <endpoint>",
                )
            )
            continue
        fctx = context(display)
        try:
            built[use] = instantiate(template, use, fctx)
        except Reported:
            pass
        for problem in fctx.problems:
            problems.append(
                DeployError(
                    use.location,
                    "endpoint",
                    f"template '{use.template}' does not build with these values: {problem.reason}",
                    problem.hint,
                )
            )
    return built


def _precompile(items: list[Precompile], entries: Table[Any], cache: dict[Any, Any]) -> list[DeployError]:
    """Compile every stylesheet, query and schema named by a static key, once per (kind, key, resource map),
    into the configuration's cache. A key that names nothing is reported as a dangling reference already; one
    that does not compile is reported here (the artifact serves, and every message reaching it fails, as in MI)."""
    problems = []
    for item in items:
        cache_key = (item.kind, item.key, item.resources)
        if any(key not in entries for key in item.key.split(KEY_SEPARATOR)):
            continue
        if cache_key not in cache:
            try:
                cache[cache_key] = compile_resource(item.kind, item.key, item.resources, entries)
            except ResourceError as exc:
                cache[cache_key] = exc
        found = cache[cache_key]
        if isinstance(found, ResourceError):  # every use is reported, the compilation is done once
            problems.append(
                DeployError(
                    item.where,
                    item.element,
                    f"{item.kind} '{item.key.replace(KEY_SEPARATOR, ', ')}' does not compile: {found}",
                    "every message reaching it fails; fix the resource",
                )
            )
    return problems


def _unknown_stores(
    processors: dict[str, Any], stores: dict[str, Any], failed_names: dict[tuple[str, str], str]
) -> list[DeployError]:
    def missing(store: str, option: str) -> str:
        failed_in = failed_names.get(("message_stores", store))
        if failed_in is not None:
            return f"{failed_in} defines it but failed to deploy (see its problems)"
        return f"deploy it in message-stores/ or correct {option}"

    return [
        DeployError(
            processor.location or SourceLocation(processor.name),
            "messageProcessor",
            f"message store '{processor.store}' is not deployed: message processor '{processor.name}' has no messages",
            missing(processor.store, "messageStore"),
        )
        for processor in processors.values()
        if processor.store not in stores
    ] + [
        DeployError(
            processor.location or SourceLocation(processor.name),
            "messageProcessor",
            f"message store '{processor.target_store}' (message.target.store.name) is not deployed: "
            f"failover message processor '{processor.name}' has nowhere to move its messages",
            missing(processor.target_store, "message.target.store.name"),
        )
        for processor in processors.values()
        if processor.target_store is not None and processor.target_store not in stores
    ]


def _unknown_arguments(arguments: list[Arguments], templates: Table[Any]) -> list[DeployError]:
    problems = []
    for call in arguments:
        template = templates.get(call.target)
        if not isinstance(template, SequenceTemplate):
            continue  # a dangling target is reported as such
        declared = [parameter.name for parameter in template.parameters]
        for name in call.names:
            if name not in declared:
                problems.append(
                    DeployError(
                        call.location,
                        "with-param",
                        f"'{name}' is not a parameter of template '{call.target}'",
                        (
                            did_you_mean(name, declared)
                            or (f"its parameters: {', '.join(declared)}" if declared else "it declares no parameters")
                        )
                        + "; MI ignores such a value",
                    )
                )
    return problems


def _scan(root: Path) -> tuple[list[Path], list[DeployError]]:
    """The files to read, in MI's order, and one problem for every other .xml file under the artifact folders."""
    if not root.is_dir():
        return [], [
            DeployError(
                SourceLocation(str(root)),
                "(artifacts)",
                "artifact directory does not exist",
                f"pass --artifacts DIR pointing at a folder with {_FOLDER_LIST}",
            )
        ]
    try:
        entries = sorted(root.iterdir())
        if not any(
            entry.name in FOLDERS or entry.name in MI_FOLDERS or entry.name == REGISTRY_FOLDER
            for entry in entries
            if entry.is_dir()
        ):
            hint = (
                f"this is a {root.name}/ folder: pass the folder that contains it"
                if root.name in FOLDERS
                else "pass the folder that holds them (MI's synapse-config/default)"
            )
            return [], [
                DeployError(
                    SourceLocation(str(root)),
                    "(artifacts)",
                    f"no artifact folders here (expected some of {_FOLDER_LIST})",
                    hint,
                )
            ]
        files: list[Path] = []
        unread: list[DeployError] = []
        for folder in FOLDERS:
            directory = root / folder
            if directory.is_dir():
                files.extend(path for path in sorted(directory.iterdir()) if path.suffix == ".xml" and path.is_file())
                unread.extend(
                    _not_read(
                        path, f"sub-folders of {folder}/ are not read", f"MI reads only the files directly in {folder}/"
                    )
                    for path in sorted(directory.glob("*/**/*.xml"))
                    if path.is_file()
                )
        for entry in entries:
            if entry.name.startswith(".") or entry.name in FOLDERS or entry.name == REGISTRY_FOLDER:
                continue  # registry/ is read by gateway.deploy.file_registry
            if entry.is_dir() and entry.name in MI_FOLDERS:
                unread.extend(
                    _not_read(path, MI_FOLDERS[entry.name]) for path in sorted(entry.glob("**/*.xml")) if path.is_file()
                )
            elif entry.is_dir():
                hint = did_you_mean(entry.name, FOLDERS) or f"artifact folders are: {_FOLDER_LIST}"
                unread.extend(
                    _not_read(path, "this folder is not read", hint)
                    for path in sorted(entry.glob("*.xml"))
                    if path.is_file()
                )
            elif entry.suffix == ".xml" and entry.is_file() and entry.name != DECLARATION:
                reason = _ROOT_FILES.get(entry.name, "files directly in the artifacts folder are not read")
                unread.append(_not_read(entry, reason, f"put each artifact in its folder: {_FOLDER_LIST}"))
    except OSError as exc:
        return [], [DeployError(SourceLocation(str(root)), "(artifacts)", f"cannot scan: {exc}")]
    return files, unread


def _not_read(path: Path, reason: str, hint: str | None = None) -> DeployError:
    return DeployError(SourceLocation(_display(path)), "(file)", f"not read: {reason}", hint)


class _Built(NamedTuple):
    kind: str
    attr: str  # the Configuration table it goes in
    name: str
    artifact: object
    where: SourceLocation


def _build(element: etree._Element, folder: str, fctx: FactoryContext) -> _Built:
    check_synapse_namespace(element)
    root_name = local_name(element)
    where = location(element, fctx.path)
    if root_name not in ROOTS:
        if root_name in _UNSUPPORTED_ROOTS:
            what, home = _UNSUPPORTED_ROOTS[root_name]
            raise DeployError(where, root_name, f"{what} are not supported yet", f"MI reads them from {home}")
        raise DeployError(
            where,
            root_name,
            "unknown artifact root element",
            did_you_mean(root_name, [*ROOTS, *_UNSUPPORTED_ROOTS]) or f"use one of: {', '.join(ROOTS)}",
        )
    expected = FOLDER_ROOTS.get(folder)
    if expected is not None and root_name != expected:
        raise DeployError(
            where,
            root_name,
            f"a <{root_name}> does not belong in {folder}/, which holds <{expected}> artifacts (MI deploys by folder)",
            f"move it to {_HOME[root_name]}",
        )
    kind, attr, spec = ROOTS[root_name]
    artifact = build(element, spec, fctx)
    name = cast(str, getattr(artifact, "name", None) or getattr(artifact, "key", None))  # every artifact has one
    return _Built(kind, attr, name, artifact, where)


def _context_taken(built: _Built, deployed: Iterable[RestApi]) -> list[DeployError]:
    """W: SynapseConfiguration.addAPI: two APIs cannot share a context and a version."""
    api = cast(RestApi, built.artifact)
    for other in deployed:
        if other.context == api.context and other.version == api.version:
            where = f"{other.location.path}:{other.location.line}"
            return [
                DeployError(
                    built.where,
                    "api",
                    f"URL context: {api.context or '/'} is already registered with the API: {other.name} ({where})",
                    "give one of them another context or a version",
                )
            ]
    return []


def _add_builtin_sequences(sequences: dict[str, Any]) -> None:
    """MI always has `main` and `fault` (W: SynapseConfigurationBuilder adds defaults when none is deployed),
    so a key naming them always resolves."""
    sequences.setdefault("main", DEFAULT_MAIN)
    sequences.setdefault("fault", DEFAULT_FAULT)


def _dangling(
    ref: Reference,
    tables: dict[str, Table[Any]],
    failed_names: dict[tuple[str, str], str],
    loaded: LoadedRegistry,
) -> DeployError:
    label, folder = _LABELS[ref.kind]
    table = _TABLES[ref.kind]
    hints = [_CONSEQUENCES[ref.role]]
    if "://" in ref.key:
        hints.append(
            f'a key names a deployed artifact, not an address: use <endpoint><address uri="{ref.key}"/></endpoint>'
            if ref.kind == "endpoint"
            else "a key names a deployed artifact, not a URL"
        )
    elif is_registry_key(ref.key):
        canonical = registry_key(ref.key)
        if canonical is None:
            hints.append("the key climbs out of the registry folder, which MI refuses")
        elif canonical in loaded.failed_keys:
            hints.append(f"{loaded.failed_keys[canonical]} defines it but failed to deploy (see its problems)")
        elif canonical in loaded.registry.resources:
            resource = loaded.registry.resources[canonical]
            what = f"a <{local_name(resource.value)}> element" if isinstance(resource.value, etree._Element) else "text"
            hints.append(f"{resource.location.path} holds {what}, not a {label}")
        else:
            where, rest = relative_path(canonical)
            hints.append(f"add {REGISTRY_FOLDER}/{where}/{rest} to the registry, or fix the key")
    elif (table, ref.key) in failed_names:
        hints.append(f"{failed_names[(table, ref.key)]} defines it but failed to deploy (see its problems)")
    else:
        hints.append(did_you_mean(ref.key, tables[table]) or f"deploy {folder}/{ref.key}.xml or fix the key")
    return DeployError(ref.location, ref.element, f"key '{ref.key}' names no deployed {label}", "; ".join(hints))


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def default_connector_registry() -> ConnectorRegistry:
    return ConnectorRegistry.discover()
