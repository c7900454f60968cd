"""`cache` with MI 4's semantics (W: carbon-mediation org.wso2.carbon.mediator.cache CacheMediator,
CacheMediatorFactory, digest/HttpRequestHashGenerator):

- a finder (`collector="false"`) on the request path hashes the request (the To address, the transport headers
  but those in headersToExcludeInHash, and the body); on a fresh hit the cached reply becomes the message,
  which onCacheHit handles or which goes straight back to the client, and the flow stops; on a miss the
  request goes on, and the finder's settings ride along in the operation scope;
- a collector (`collector="true"`) on the response path stores the reply (status, headers, body) under that
  hash when its status matches responseCodes and its body is not bigger than maxMessageSize, for `timeout`
  seconds (Cache-Control no-store / no-cache / max-age decide instead with enableCacheControl);
- the cache is in memory, least recently used first out beyond `<implementation maxSize>` entries.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict

from gateway.errors import MediationError
from gateway.mediators.base import Mediator
from gateway.message import formats, kinds
from gateway.message.payload import Payload

if TYPE_CHECKING:
    from regex import Pattern

    from gateway.errors import SourceLocation
    from gateway.message.context import MessageContext

_PENDING = "_cache.pending"  # operation scope: the finder's settings for the collector of the same exchange
HASH_GENERATORS = {
    "org.wso2.carbon.mediator.cache.digest.HttpRequestHashGenerator": "http",
    "org.wso2.carbon.mediator.cache.digest.REQUESTHASHGenerator": "request",
    "org.wso2.carbon.mediator.cache.digest.DOMHASHGenerator": "body",
    "org.wso2.caching.digest.DOMHASHGenerator": "body",
    "org.wso2.caching.digest.REQUESTHASHGenerator": "request",
}


@dataclass(slots=True)
class CachedReply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    content_type: str
    media: str
    stored: float
    expires: float  # time.monotonic() after which it is stale


class ResponseCache:
    """An LRU of cached replies (one per finder)."""

    __slots__ = ("entries", "max_size")

    def __init__(self, max_size: int) -> None:
        self.entries: OrderedDict[str, CachedReply] = OrderedDict()
        self.max_size = max_size

    def get(self, key: str) -> CachedReply | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.expires <= time.monotonic():
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: CachedReply) -> None:
        self.entries[key] = entry
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_size:
            self.entries.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Pending:
    key: str
    cache: ResponseCache
    timeout: float  # seconds
    max_message_size: int  # bytes; <= 0: any
    response_codes: Pattern[str]
    cache_control: bool


async def _body(ctx: MessageContext) -> tuple[bytes, str, str]:
    """(bytes, content type, media type) of the current message as it would go out."""
    payload = ctx.payload
    await payload.read()
    media = str(ctx.axis2.get("messageType") or payload.media_type or kinds.APPLICATION_XML)
    if not payload.modified and payload.raw is not None:
        return payload.raw, payload.content_type, payload.media_type or media
    await formats.prepare(ctx, media)
    body, _, ctype, _ = formats.serialise(ctx, media)
    return body or b"", ctype or media, media


class CacheFinder(Mediator):
    __slots__ = (
        "cache_id",
        "timeout",
        "max_message_size",
        "hash_kind",
        "methods",
        "exclude_headers",
        "response_codes",
        "cache_control",
        "age_header",
        "max_size",
        "on_hit",
        "on_hit_key",
    )
    tag = "cache"

    def __init__(
        self,
        *,
        cache_id: str,
        timeout: float,
        max_message_size: int,
        hash_kind: str,
        methods: frozenset[str] | None,
        exclude_headers: frozenset[str],
        response_codes: Pattern[str],
        cache_control: bool,
        age_header: bool,
        max_size: int,
        on_hit: Mediator | None,
        on_hit_key: str | None,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.cache_id = cache_id
        self.timeout = timeout
        self.max_message_size = max_message_size
        self.hash_kind = hash_kind
        self.methods = methods  # None: every method
        self.exclude_headers = exclude_headers  # lower-case names
        self.response_codes = response_codes
        self.cache_control = cache_control
        self.age_header = age_header
        self.max_size = max_size
        self.on_hit = on_hit
        self.on_hit_key = on_hit_key

    @property
    def reads_body(self) -> bool:
        return True

    def _cache(self, ctx: MessageContext) -> ResponseCache:
        caches: dict[str, Any] = ctx.exchange.services.caches
        cache = caches.get(self.cache_id)
        if cache is None or cache.max_size != self.max_size:
            cache = caches[self.cache_id] = ResponseCache(self.max_size)
        assert isinstance(cache, ResponseCache)
        return cache

    async def _digest(self, ctx: MessageContext) -> str:
        body, _, _ = await _body(ctx)
        digest = hashlib.sha256()
        if self.hash_kind in ("http", "request"):
            digest.update((ctx.to or "").encode())
            digest.update(b"\0")
        if self.hash_kind == "http":
            for name, value in sorted((k.lower(), v) for k, v in ctx.transport_headers.items()):
                if name not in self.exclude_headers:
                    digest.update(f"{name}:{value}\0".encode())
        digest.update(body)
        return digest.hexdigest()

    async def mediate(self, ctx: MessageContext) -> bool:
        if ctx.is_response:
            raise MediationError("Response messages cannot be handled in a non collector cache")
        method = str(ctx.axis2.get("HTTP_METHOD") or "POST").upper()
        if self.methods is not None and method not in self.methods:
            return True  # W: a method that is not cached passes untouched
        key = await self._digest(ctx)
        ctx.properties["requestHash"] = key
        cache = self._cache(ctx)
        entry = cache.get(key)
        if entry is None:
            ctx.operation[_PENDING] = Pending(
                key, cache, self.timeout, self.max_message_size, self.response_codes, self.cache_control
            )
            return True
        settings = ctx.exchange.services.settings
        ctx.payload = Payload(
            entry.content_type, entry.body, limit=settings.max_response_bytes, tree_limit=settings.max_tree_bytes
        )
        headers: CIMultiDict[str] = CIMultiDict(entry.headers)
        if self.age_header:
            headers["Age"] = str(int(time.monotonic() - entry.stored))
        ctx.transport_headers = headers
        ctx.headers_from_backend = True
        ctx.axis2.pop("NO_ENTITY_BODY", None)
        ctx.axis2.pop("ContentType", None)
        ctx.axis2["HTTP_SC"] = entry.status
        ctx.axis2["messageType"] = entry.media
        ctx.axis2["_initialMessageType"] = entry.media
        ctx.is_response = True
        if self.on_hit is not None:
            await self.on_hit.mediate(ctx)
        elif self.on_hit_key is not None:
            sequence = ctx.config.sequences.get(self.on_hit_key)
            if sequence is None:
                raise MediationError(f"Sequence named {self.on_hit_key} cannot be found")
            await sequence.mediate(ctx)
        else:
            ctx.to = None
            await ctx.exchange.services.engine.send_back(ctx)
        return False  # W: nothing after a hit runs


class CacheCollector(Mediator):
    __slots__ = ()
    tag = "cache"

    @property
    def reads_body(self) -> bool:
        return True

    async def mediate(self, ctx: MessageContext) -> bool:
        if not ctx.is_response and not ctx.headers_from_backend:  # after a <call>, the reply is the message
            raise MediationError("Request messages cannot be handled in a collector cache")
        pending = ctx.operation.pop(_PENDING, None)
        if not isinstance(pending, Pending):
            return True  # no finder saw the request (or its method is not cached): nothing to store
        status = int(ctx.axis2.get("HTTP_SC") or 200)
        if pending.response_codes.fullmatch(str(status)) is None:
            return True
        timeout = pending.timeout
        if pending.cache_control:
            control = {
                part.strip().lower().partition("=")[0]: part.strip().partition("=")[2]
                for part in ctx.transport_headers.get("Cache-Control", "").split(",")
                if part.strip()
            }
            if "no-store" in control or "no-cache" in control:
                return True
            if control.get("max-age", "").isdigit():
                timeout = float(control["max-age"])
        body, content_type, media = await _body(ctx)
        if pending.max_message_size > 0 and len(body) > pending.max_message_size:
            return True
        now = time.monotonic()
        headers = [
            (k, v)
            for k, v in ctx.transport_headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "age", "content-type")
        ]
        pending.cache.put(pending.key, CachedReply(status, headers, body, content_type, media, now, now + timeout))
        return True
