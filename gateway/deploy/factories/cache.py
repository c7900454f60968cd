"""`cache` (W: carbon-mediation org.wso2.carbon.mediator.cache.CacheMediatorFactory, MI 4)."""

from __future__ import annotations

from typing import Any

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node
from gateway.deploy.java_regex import compile_java_regex
from gateway.deploy.registry import mediator
from gateway.mediators.base import Mediator
from gateway.mediators.cache import HASH_GENERATORS, CacheCollector, CacheFinder

_METHODS = ("POST", "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH", "*")
DEFAULT_TIMEOUT = 5000  # seconds (W: CachingConstants.DEFAULT_TIMEOUT)
DEFAULT_SIZE = 1000  # entries (W: CachingConstants.DEFAULT_SIZE)


def _text(tag: str, doc: str) -> Element:
    return Element(tag, doc, text=Attribute("#text", Kind.TEXT, doc), common=False)


def _hash_kind(node: Node, class_name: str | None) -> str:
    if not class_name:
        return "http"
    kind = HASH_GENERATORS.get(class_name.strip())
    if kind is None:
        raise node.error(
            f"the hash generator {class_name.strip()} is a Java class, which this gateway cannot load",
            f"use one of: {', '.join(sorted(HASH_GENERATORS))}",
        )
    return kind


def _cache(node: Node) -> Mediator:
    if node["collector"] == "true":
        return CacheCollector(node.location)
    protocol = node.one("protocol")
    methods: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()
    codes = ".*"
    cache_control = age_header = False
    hash_class = node.raw("hashGenerator")
    codes_at = node.element
    if protocol is not None:
        if protocol.has("type") and protocol["type"].strip().upper() != "HTTP":
            raise protocol.error(f"unknown protocol type '{protocol['type']}'", "MI 4 caches HTTP only")
        generator = protocol.one("hashGenerator")
        hash_class = generator["#text"] if generator is not None else hash_class
        listed = protocol.one("methods")
        if listed is not None:
            names = [m.strip().upper() for m in listed["#text"].split(",")]
            if names != [""]:
                for name in names:
                    if name not in _METHODS:
                        raise listed.error(f"Unexpected method type: {name}", f"use {', '.join(_METHODS)}")
                methods = None if "*" in names else frozenset(names)
        excluded = protocol.one("headersToExcludeInHash")
        if excluded is not None:
            exclude = frozenset(h.strip().lower() for h in excluded["#text"].split(",") if h.strip())
        responses = protocol.one("responseCodes")
        if responses is not None and responses["#text"].strip():
            codes, codes_at = responses["#text"].strip(), responses.element
        control = protocol.one("enableCacheControl")
        if control is not None and control["#text"].strip():
            cache_control = control["#text"].strip().lower() == "true"  # W: Boolean.parseBoolean
        age = protocol.one("includeAgeHeader")
        if age is not None and age["#text"].strip():
            age_header = age["#text"].strip().lower() == "true"
    response_codes = compile_java_regex(codes_at, "responseCodes", codes)
    on_hit = node.one("onCacheHit")
    on_hit_body = on_hit_key = None
    if on_hit is not None:
        if on_hit.has("sequence"):
            on_hit_key = on_hit["sequence"].static_text
        elif on_hit.others:
            on_hit_body = on_hit.mediators()
    implementation = node.one("implementation")
    max_size = DEFAULT_SIZE
    if implementation is not None and implementation["maxSize"] is not None:
        max_size = implementation["maxSize"]
    cache_id = node["id"] or f"{node.location}"
    return CacheFinder(
        cache_id=cache_id,
        timeout=float(node["timeout"] if node["timeout"] is not None else DEFAULT_TIMEOUT),
        max_message_size=node["maxMessageSize"] or 0,
        hash_kind=_hash_kind(node, hash_class),
        methods=methods,
        exclude_headers=exclude,
        response_codes=response_codes,
        cache_control=cache_control,
        age_header=age_header,
        max_size=max_size,
        on_hit=on_hit_body,
        on_hit_key=on_hit_key,
        location=node.location,
    )


_PROTOCOL_CHILDREN: tuple[Any, ...] = (
    Child(_text("methods", "HTTP methods whose replies are cached, separated by commas (* for all).")),
    Child(_text("headersToExcludeInHash", "Transport headers left out of the request hash, separated by commas.")),
    Child(_text("responseCodes", "A regex the reply's status must match to be cached (default: any).")),
    Child(_text("hashGenerator", "How the request is hashed: one of MI's generator class names.")),
    Child(_text("enableCacheControl", "true: the reply's Cache-Control (no-store, no-cache, max-age) decides.")),
    Child(_text("includeAgeHeader", "true: a reply served from the cache carries an Age header.")),
)

mediator(
    Element(
        "cache",
        "Serve repeated requests from a cache of replies (MI 4): a finder (collector=false) on the request path "
        "answers a request whose hash it has seen within `timeout` seconds; a collector (collector=true) on "
        "the response path stores the replies. In memory, least recently used out beyond <implementation maxSize>.",
        anchor="W: CacheMediatorFactory (carbon-mediation)",
        build=_cache,
        attributes=(
            Attribute(
                "collector",
                Kind.CHOICE,
                "false: the finder (request path); true: the collector (response path).",
                choices=("true", "false"),
                required=True,
                missing="The collector attribute must be specified",
                invalid_hint="The value for collector has to be either true or false",
            ),
            Attribute("timeout", Kind.INTEGER, "Seconds a reply stays fresh (default 5000).", minimum=0),
            Attribute("maxMessageSize", Kind.INTEGER, "Replies bigger than this many bytes are not cached."),
            Attribute("id", Kind.TEXT, "A name for the finder's cache."),
            Attribute(
                "scope",
                Kind.CHOICE,
                "per-host or per-mediator (each finder has its own cache here either way).",
                choices=("per-host", "per-mediator"),
            ),
            Attribute("hashGenerator", Kind.TEXT, "The hash generator class (MI 4 reads <protocol><hashGenerator>)."),
        ),
        children=(
            Child(
                Element(
                    "protocol",
                    "HTTP caching settings.",
                    common=False,
                    attributes=(Attribute("type", Kind.TEXT, "HTTP."),),
                    children=_PROTOCOL_CHILDREN,
                )
            ),
            Child(
                Element(
                    "onCacheHit",
                    "What to do with a cached reply (default: send it back): inline mediators or a sequence.",
                    body=Body.MEDIATORS,
                    common=False,
                    attributes=(Attribute("sequence", Kind.KEY, "A sequence to run.", refers_to="sequence"),),
                )
            ),
            Child(
                Element(
                    "implementation",
                    "The store: in memory, at most maxSize replies.",
                    common=False,
                    attributes=(
                        Attribute("maxSize", Kind.INTEGER, "Most replies kept (default 1000).", minimum=1),
                        Attribute("type", Kind.CHOICE, "memory (the only store).", choices=("memory",)),
                    ),
                )
            ),
        ),
    )
)
