"""MI's file registry (MI: MicroIntegratorRegistry): `registry/governance`, `registry/config` and `registry/local`
under the artifacts folder, addressed as `gov:/…`, `conf:/…` and `local:/…` keys.

Resources are read and compiled when the configuration is deployed (gateway.deploy.file_registry builds the
snapshot this module holds). At request time only two things touch the disk, as in MI: `get-property('registry',
'key[@property]')` reads the resource or its properties file (checked against the file's modification time, so a
value written since is seen), and the property mediator's `scope="registry"` writes one.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Generic, TypeVar

from lxml import etree

from gateway.errors import MediationError, SourceLocation

log = logging.getLogger("gateway.registry")

# MI: MicroIntegratorRegistryConstants: the key prefixes and the folders they name (a key without one is a
# governance key; `resources:` names governance/mi-resources, MI 4.4's resources of a CApp).
PREFIXES = (("gov:", "governance"), ("conf:", "config"), ("local:", "local"))
FOLDERS = {folder: prefix for prefix, folder in PREFIXES}
RESOURCES_PREFIX = "resources:"
PROPERTIES_SUFFIX = ".properties"
COLLECTION_PROPERTIES_SUFFIX = ".collections.properties"
METADATA_DIR = ".metadata"
TEXT_MEDIA_TYPE = "text/plain"
MAX_RESOURCE_BYTES = 16 * 1024 * 1024

T = TypeVar("T")


def registry_key(key: str) -> str | None:
    """The canonical form (`gov:/a/b.xml`) of a key as MI's file registry resolves it, or None when the key
    climbs out of its registry folder (MI refuses it as "illegal")."""
    text = key.strip()
    for prefix, _ in PREFIXES:
        if text.startswith(prefix):
            scheme, rest = prefix, text[len(prefix) :]
            break
    else:
        if text.startswith(RESOURCES_PREFIX):
            scheme, rest = "gov:", "mi-resources/" + text[len(RESOURCES_PREFIX) :]
        else:
            scheme, rest = "gov:", text
    kept: list[str] = []
    for segment in rest.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not kept:
                return None
            kept.pop()
            continue
        kept.append(segment)
    return f"{scheme}/{'/'.join(kept)}"


def is_registry_key(key: str) -> bool:
    """A key written as a registry path (a prefix or a '/'), rather than the name of a deployed artifact."""
    text = key.strip()
    return text.startswith((*(prefix for prefix, _ in PREFIXES), RESOURCES_PREFIX)) or "/" in text


def relative_path(canonical: str) -> tuple[str, str]:
    """(folder under registry/, path inside it) of a canonical key."""
    scheme, _, rest = canonical.partition(":/")
    folder = next(folder for prefix, folder in PREFIXES if prefix == scheme + ":")
    return folder, rest


# -- Java .properties files (java.util.Properties.load / store) -----------------------------------------------
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _logical_lines(text: str) -> Iterator[str]:
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].lstrip(" \t\f")
        index += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line) and index < len(lines):
            line = line[:-1] + lines[index].lstrip(" \t\f")
            index += 1
        if _continues(line):
            line = line[:-1]
        yield line


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _unescape(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "\\" or index + 1 == len(text):
            out.append(char)
            index += 1
            continue
        following = text[index + 1]
        if following == "u" and len(text) >= index + 6:
            try:
                out.append(chr(int(text[index + 2 : index + 6], 16)))
                index += 6
                continue
            except ValueError:
                pass
        out.append(_ESCAPES.get(following, following))
        index += 2
    return "".join(out)


def parse_properties(text: str) -> dict[str, str]:
    """A `.properties` file as java.util.Properties reads it: `key=value`, `key: value` or `key value`,
    `#`/`!` comments, `\\` continuations and escapes."""
    found: dict[str, str] = {}
    for line in _logical_lines(text):
        index, escaped = 0, False
        while index < len(line):
            char = line[index]
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char in "=: \t\f":
                break
            index += 1
        key, rest = line[:index], line[index:].lstrip(" \t\f")
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip(" \t\f")
        found[_unescape(key)] = _unescape(rest)
    return found


def _escape(text: str, *, key: bool) -> str:
    out: list[str] = []
    for index, char in enumerate(text):
        if char == " " and (key or index == 0):
            out.append("\\ ")
        elif char in "\\=:#!":
            out.append("\\" + char)
        elif char in "\t\n\r\f":
            out.append("\\" + {"\t": "t", "\n": "n", "\r": "r", "\f": "f"}[char])
        else:
            out.append(char)
    return "".join(out)


def format_properties(values: Mapping[str, str]) -> str:
    """What java.util.Properties.store(Writer) writes (without its date comment)."""
    return "".join(f"{_escape(name, key=True)}={_escape(value, key=False)}\n" for name, value in values.items())


# -- resources ----------------------------------------------------------------------------------------------
def decode_resource(data: bytes, path: Path) -> str:
    """A non-XML resource as MI's file registry reads it: text lines joined with '\\n' and no final line
    break; a resource whose `.metadata/NAME.meta` declares another media type is binary (base64 text)."""
    media_type = _media_type(path)
    if media_type and media_type != TEXT_MEDIA_TYPE:
        return base64.b64encode(data).decode("ascii")
    lines = _LINE_BREAK.split(data.decode("utf-8", "replace"))
    if lines[-1] == "":
        lines.pop()  # Java's readLine: a final line break ends the last line, it starts no new one
    return "\n".join(lines)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _media_type(path: Path) -> str | None:
    meta = path.parent / METADATA_DIR / (path.name + ".meta")
    try:
        return parse_properties(meta.read_text(encoding="utf-8", errors="replace")).get("mediaType") or None
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class RegistryResource:
    """One file of the registry, read at deploy time: an XML element, or text."""

    key: str  # canonical: gov:/path/in/governance
    path: Path
    value: str | etree._Element
    location: SourceLocation


class Registry:
    """The registry folder and what was read from it at deploy time; the request-time reads and writes of
    registry values and properties (get-property('registry', …), property scope="registry")."""

    __slots__ = ("root", "resources", "_cache")

    def __init__(self, root: Path | None, resources: Mapping[str, RegistryResource] | None = None) -> None:
        self.root = root  # the registry/ folder (it may not exist yet: a write creates it)
        self.resources: Mapping[str, RegistryResource] = MappingProxyType(dict(resources or {}))
        self._cache: dict[Path, tuple[tuple[int, int], object]] = {}

    def __repr__(self) -> str:
        return f"<Registry {self.root} ({len(self.resources)} resources)>"

    def file_of(self, key: str) -> Path | None:
        """Where a key's resource lives (whether or not it exists); None outside the registry, also through a
        symbolic link (MI compares canonical paths)."""
        canonical = registry_key(key)
        if canonical is None or self.root is None:
            return None
        folder, rest = relative_path(canonical)
        path = self.root / folder / rest if rest else self.root / folder
        if not path.resolve().is_relative_to(self.root.resolve()):
            return None
        return path

    # -- request time: get-property('registry', 'key[@property]') --------------------------------------------
    def lookup(self, spec: str) -> str | None:
        """get-property('registry', 'key') is the resource's text (XML serialized); 'key@name' a property of it
        from its `.properties` file; None when there is none (MI: GetPropertyFunction, registry scope)."""
        parts = spec.split("@")
        if len(parts) > 2:
            return None
        path = self.file_of(parts[0])
        if path is None:
            return None
        if len(parts) == 2:
            return self._properties(path).get(parts[1])
        value = self._read(path, self._resource_text)
        return value if isinstance(value, str) else None

    def _properties(self, path: Path) -> dict[str, str]:
        properties_file = _properties_file(path)
        found = self._read(properties_file, lambda data, _: parse_properties(_decode_properties(data)))
        return found if isinstance(found, dict) else {}

    @staticmethod
    def _resource_text(data: bytes, path: Path) -> str:
        try:
            element = etree.fromstring(data, _RESOURCE_PARSER)
        except etree.XMLSyntaxError:
            return decode_resource(data, path)
        return etree.tostring(element, encoding=str)

    def _read(self, path: Path, convert: Callable[[bytes, Path], object]) -> object:
        """A file's converted content, read again only when its size or modification time changed."""
        try:
            stat = path.stat()
        except OSError:
            return None
        if not path.is_file() or stat.st_size > MAX_RESOURCE_BYTES:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            data = path.read_bytes()
        except OSError:
            return None
        value = convert(data, path)
        if len(self._cache) > 1024:
            self._cache.clear()
        self._cache[path] = (stamp, value)
        return value

    # -- request time: <property scope="registry"> ------------------------------------------------------------
    def write(self, spec: str, value: str) -> None:
        """MI's PropertyMediator with scope="registry": 'key' stores the value as the resource's content;
        'key@name' empties the resource and makes `name` its only property (MicroIntegratorRegistry
        newNonEmptyResource). The resource's media type is recorded as text/plain, as MI does."""
        parts = spec.split("@")
        if len(parts) > 2:
            log.warning("registry property '%s' has more than one '@'; nothing was written (as in MI)", spec)
            return
        canonical = registry_key(parts[0])
        if canonical is None or self.root is None:
            raise MediationError(
                f"The registry key '{parts[0]}' is illegal which points to a location outside the registry",
                detail="registry keys stay inside registry/governance, registry/config or registry/local",
            )
        folder, rest = relative_path(canonical)
        if not rest:
            raise MediationError(f"The registry key '{parts[0]}' names a registry folder, not a resource")
        path = self.file_of(canonical)
        if path is None:
            raise MediationError(
                f"The registry key '{parts[0]}' is illegal which points to a location outside the registry",
                detail="it leads out of the registry through a symbolic link",
            )
        writes = [(path, "")] if len(parts) == 2 else [(path, value)]
        if len(parts) == 2:
            writes.append((_properties_file(path), format_properties({parts[1]: value})))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            (path.parent / METADATA_DIR).mkdir(exist_ok=True)
            # The metadata first, recording what this write puts in each file: hot deployment, which looks at
            # the files, sees its own writes as no change (written_by_gateway); a user's edit still redeploys.
            meta = path.parent / METADATA_DIR / (path.name + ".meta")
            kept = _read_properties(meta)
            kept["mediaType"] = TEXT_MEDIA_TYPE
            for target, text in writes:
                kept[WRITTEN_PREFIX + target.name] = _digest(text.encode("utf-8"))
            _atomic_write(meta, format_properties(kept))
            for target, text in writes:
                _atomic_write(target, text)
        except OSError as exc:
            raise MediationError(
                f"Couldn't write to registry resource: {parts[0]}", detail=f"{path}: {exc.strerror or exc}"
            ) from None


_RESOURCE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
# In a resource's .metadata/NAME.meta: the SHA-256 of what the gateway last wrote into NAME (or NAME.properties).
WRITTEN_PREFIX = "gateway.written."


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_properties(path: Path) -> dict[str, str]:
    try:
        return parse_properties(_decode_properties(path.read_bytes()))
    except OSError:
        return {}


def written_by_gateway(path: Path) -> bool:
    """Whether a registry file holds exactly what the gateway's own last write put there (the property mediator's
    registry scope): MI never redeploys artifacts for such runtime writes, so hot deployment skips them."""
    name = path.name
    resource = name[: -len(PROPERTIES_SUFFIX)] if name.endswith(PROPERTIES_SUFFIX) else name
    recorded = _read_properties(path.parent / METADATA_DIR / (resource + ".meta")).get(WRITTEN_PREFIX + name)
    if recorded is None:
        return False
    try:
        return _digest(path.read_bytes()) == recorded
    except OSError:
        return False


def _decode_properties(data: bytes) -> str:
    # MI reads .properties as ISO-8859-1 (Properties.load(InputStream)) but writes them in the platform's
    # charset; UTF-8 first, so what was written reads back the same.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _properties_file(path: Path) -> Path:
    """MI: a resource's properties are in NAME.properties beside it; a folder's in NAME.collections.properties."""
    suffix = COLLECTION_PROPERTIES_SUFFIX if path.is_dir() else PROPERTIES_SUFFIX
    return path.with_name(path.name + suffix)


def _atomic_write(path: Path, text: str) -> None:
    """Readers (other workers too) see the old file or the new one, never half of it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


class Table(Mapping[str, T], Generic[T]):
    """Deployed artifacts by name; a key that names none of them is looked up in the registry, as MI's
    SynapseConfiguration.getSequence / getEndpoint / getEntry / getSequenceTemplate do (local first, then
    Registry.lookup). Registry objects are keyed by their canonical key (gov:/…)."""

    __slots__ = ("_own", "_registry")

    def __init__(self, own: Mapping[str, T] | None = None, registry: Mapping[str, T] | None = None) -> None:
        self._own: Mapping[str, T] = dict(own or {})
        self._registry: Mapping[str, T] = dict(registry or {})

    def get(self, key: str, default: T | None = None) -> T | None:  # type: ignore[override]
        found = self._own.get(key)
        if found is not None:
            return found
        if self._registry:
            canonical = registry_key(key)
            if canonical is not None:
                found = self._registry.get(canonical)
                if found is not None:
                    return found
        return default

    def __getitem__(self, key: str) -> T:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        yield from self._own
        yield from self._registry

    def __len__(self) -> int:
        return len(self._own) + len(self._registry)
