"""Stylesheets, queries and schemas named by key (`xslt`, `xquery`, `validate`): compiled once per key and kept
in the configuration's cache (W: XSLTMediator.cachedTemplatesMap, ValidateMediator.cachedSchemaMap).

A static key is compiled when the configuration is assembled (gateway.deploy.loader runs `compile_resource`
for every key a factory noted with `Precompile`), so a broken stylesheet is a `gateway validate` problem and no
message pays for the compilation. A dynamic key (`key="{…}"`) is compiled the first time a message names it and
then kept; a compilation that fails is kept too, so a broken resource costs one compilation, not one per message.

`<resource location="…" key="…"/>` maps an import (`xsl:import`/`xsl:include`, `xs:import`/`xs:include`) to
another local entry or registry key (W: ResourceMap); nothing is ever fetched from the network or the disk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree

if TYPE_CHECKING:
    from gateway.message.context import MessageContext

ResourceMap = tuple[tuple[str, str], ...]  # (location, key) pairs of <resource> children
MAX_CACHED = 512  # compiled resources per configuration (dynamic keys are bounded by this)


class ResourceError(Exception):
    """A resource that is missing or does not compile; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Resolver:
    """What a compiler may read besides its own entry: the entries its <resource> children map."""

    entries: Mapping[str, Any]  # key -> LocalEntry (local entries, then the registry)
    resources: ResourceMap

    def lookup(self, location: str) -> bytes | None:
        """The bytes of the entry a <resource location> maps, or None when the location is not mapped."""
        for mapped, key in self.resources:
            if mapped == location:
                entry = self.entries.get(key)
                if entry is None:
                    raise ResourceError(f"the resource '{location}' maps to key '{key}', which names no entry")
                return entry_bytes(entry.value)
        return None


Compiler = Callable[[list[Any], Resolver], Any]
KEY_SEPARATOR = "\0"  # several keys compiled together (validate's <schema> list) are joined with it
_COMPILERS: dict[str, Compiler] = {}


def register(kind: str, compiler: Compiler) -> None:
    """`compiler(values, resolver)` turns the entries' values (text or lxml elements; several for a key joined
    with KEY_SEPARATOR) into a compiled object."""
    _COMPILERS[kind] = compiler


def entry_bytes(value: Any) -> bytes:
    if isinstance(value, etree._Element):
        return etree.tostring(value, encoding="utf-8")
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def compile_resource(kind: str, key: str, resources: ResourceMap, entries: Mapping[str, Any]) -> Any:
    values = []
    for one in key.split(KEY_SEPARATOR):
        entry = entries.get(one)
        if entry is None:
            raise ResourceError(f"no local entry or registry resource has the key '{one}'")
        values.append(entry.value)
    return _COMPILERS[kind](values, Resolver(entries, resources))


def compiled(ctx: MessageContext, kind: str, key: str, resources: ResourceMap) -> Any:
    """The compiled resource for this message's configuration; raises ResourceError."""
    cache = ctx.config.compiled
    cache_key = (kind, key, resources)
    found = cache.get(cache_key)
    if found is None:
        try:
            found = compile_resource(kind, key, resources, ctx.config.local_entries)
        except ResourceError as exc:
            found = exc
        if len(cache) >= MAX_CACHED:
            cache.pop(next(iter(cache)))
        cache[cache_key] = found
    if isinstance(found, ResourceError):
        raise found
    return found


@dataclass(frozen=True, slots=True)
class Precompile:
    """A static key a factory wants compiled when the configuration is assembled."""

    kind: str
    key: str
    resources: ResourceMap
    where: Any  # SourceLocation of the mediator
    element: str
