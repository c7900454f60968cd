"""The lazy message payload: raw bytes (or an unread stream) plus a media type.

Nothing is parsed until the first content-aware mediator asks for the envelope. An untouched payload
is forwarded or returned byte-for-byte (or streamed, when it was never read at all).
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator
from typing import Any, cast
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import http_exceptions
from aiohttp.helpers import parse_mimetype
from lxml import etree

from gateway.errors import CONNECT_FAILED, CONNECT_TIMEOUT, MESSAGE_PARSING_ERROR, MediationError
from gateway.message import json_codec, json_xml, kinds, soap
from gateway.message.json_index import descendant_index
from gateway.message.json_xml import JsonConversionError, json_bytes_to_xml

# Every untrusted XML (payloads, arguments, fault details) goes through this parser: no entities, no DTDs,
# no network. huge_tree only lifts libxml2's fixed 10 MB text-node cap: sizes are bounded by our own
# limits.max_tree_bytes before anything is parsed.
SAFE_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=True,
    remove_blank_text=False,
    collect_ids=False,
)

KIND_BY_MEDIA_TYPE = {
    "text/xml": "soap11",
    "application/soap+xml": "soap12",
    "application/xml": "pox",
    "application/json": "json",
    "text/plain": "text",
    "application/x-www-form-urlencoded": "form",
    "": "empty",
}
STREAM_CHUNK = 64 * 1024
_SCAN_FOR_ADDRESSING_UP_TO = 4096  # bytes (Payload.may_hold_addressing)
# Characters XML 1.0 cannot hold: in text and form values they become U+FFFD, as in JSON strings (json_xml).
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# The text payload's namespace as the default one (lxml-stubs do not allow the None prefix lxml takes).
_TEXT_NSMAP = cast("dict[str, str]", {None: soap.PAYLOAD_NS})


class BodyReadError(MediationError):
    """A body that could not be read: a fault with its own status, never an empty body. Sticky: every
    later use of the payload raises it again, so nothing goes out empty."""


def too_large(limit: int, from_backend: bool) -> BodyReadError:
    if from_backend:
        return BodyReadError(
            f"the back end's answer exceeds the configured limit of {limit} bytes",
            CONNECT_FAILED,
            "raise limits.max_response_bytes in the gateway config if this size is expected",
            http_status=502,
        )
    return BodyReadError(
        f"the message body exceeds the configured limit of {limit} bytes",
        MESSAGE_PARSING_ERROR,
        "raise limits.max_body_bytes in the gateway config if this size is expected",
        http_status=413,
    )


def body_timeout(seconds: float, from_backend: bool) -> BodyReadError:
    if from_backend:
        return BodyReadError(
            "Send timeout: the back end's answer stalled",
            CONNECT_TIMEOUT,
            "no data within the endpoint timeout while reading it",
            http_status=504,
        )
    return BodyReadError(
        f"the message body did not arrive within {seconds:g} s",
        MESSAGE_PARSING_ERROR,
        "the sender stalled; raise timeouts.body_read in the gateway config for slow senders",
        http_status=408,
    )


def body_incomplete(exc: BaseException, from_backend: bool) -> BodyReadError:
    reason = f"{type(exc).__name__}: {exc}"
    if from_backend:
        return BodyReadError(
            "Error reading the back end's answer: it ended early or its framing is broken",
            CONNECT_FAILED,
            reason,
            http_status=502,
        )
    return BodyReadError(
        "the message body could not be read: it ended early or its framing is broken",
        MESSAGE_PARSING_ERROR,
        reason,
        http_status=400,
    )


class TreeTooLarge(MediationError):
    """A body too large to parse into a tree (it can still pass through untouched)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the message body ({size} bytes) is too large to be parsed (limit {limit} bytes)",
            MESSAGE_PARSING_ERROR,
            "raise limits.max_tree_bytes in the gateway config, or avoid "
            "reading the body (an untouched body streams through without this limit)",
            http_status=413,
        )


_STREAM_ERRORS = (
    aiohttp.ClientPayloadError,
    aiohttp.ClientConnectionError,
    http_exceptions.HttpProcessingError,
    ConnectionError,
    EOFError,
)


@functools.lru_cache(maxsize=512)  # a handful of distinct Content-Type values, asked many times a request
def media_type_of(content_type: str | None) -> str:
    """`type/subtype+suffix`, lower-case, without parameters ("" for no Content-Type)."""
    if not content_type:
        return ""
    return _media_type_of(content_type)


@functools.lru_cache(maxsize=512)  # a handful of distinct values, looked at several times per message
def _media_type_of(content_type: str) -> str:
    mime = parse_mimetype(content_type)
    subtype = f"{mime.subtype}+{mime.suffix}" if mime.suffix else mime.subtype
    return f"{mime.type}/{subtype}" if subtype else mime.type


def content_type_parameter(content_type: str | None, name: str) -> str | None:
    """A Content-Type parameter such as `charset` or SOAP 1.2's `action` (name case-insensitive, unquoted)."""
    return parse_mimetype(content_type).parameters.get(name) if content_type else None


@functools.lru_cache(maxsize=512)
def kind_of(media_type: str) -> str:
    kind = KIND_BY_MEDIA_TYPE.get(media_type)
    if kind is not None:
        return kind
    if media_type.endswith("+json"):
        return "json"
    if media_type.endswith("+xml"):
        return "pox"
    return "binary"


class Payload:
    """Raw content plus, once built, the SOAP envelope that XPath sees."""

    __slots__ = (
        "content_type",
        "media_type",
        "kind",
        "_raw",
        "_stream",
        "_length",
        "_limit",
        "_tree_limit",
        "_timeout",
        "_from_backend",
        "_envelope",
        "_json",
        "_json_index",
        "_mentions_addressing",
        "modified",
        "builds",
        "read_error",
    )

    def __init__(
        self,
        content_type: str | None,
        raw: bytes | None = None,
        *,
        stream: aiohttp.StreamReader | None = None,
        length: int | None = None,
        limit: int = 10 * 1024 * 1024,
        tree_limit: int = 4 * 1024 * 1024,
        timeout: float | None = None,
        from_backend: bool = False,
    ) -> None:
        self.content_type = content_type or ""
        self.media_type = media_type_of(content_type)
        self.kind = kind_of(self.media_type) if (raw or stream is not None or self.media_type) else "empty"
        self._raw = raw
        self._stream = stream
        self._length = length
        self._limit = limit  # most bytes read into memory
        self._tree_limit = tree_limit  # most bytes parsed into a tree
        self._timeout = timeout  # seconds to receive a streamed body (None: no limit)
        self._from_backend = from_backend  # a back end's answer: its failures are 502 / 504, not 400 / 408
        self._envelope: etree._Element | None = None
        self._json: tuple[Any] | None = None  # (value,): a JSON null is a value too
        self._json_index: dict[str, list[Any]] | None = None
        self._mentions_addressing: bool | None = None
        self.modified = False
        self.builds = 0  # how many times the body was parsed: tests prove laziness with it
        self.read_error: BodyReadError | None = None

    # -- raw access -------------------------------------------------------------------------------
    @property
    def is_read(self) -> bool:
        return self._stream is None

    @property
    def is_built(self) -> bool:
        return self._envelope is not None

    @property
    def declared_length(self) -> int | None:
        return len(self._raw) if self._raw is not None else self._length

    async def read(self) -> bytes:
        """The whole body, buffered (bounded by the size limit and the body timeout)."""
        if self.read_error is not None:
            raise self.read_error
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                if self._length is not None and self._length > self._limit:
                    raise too_large(self._limit, self._from_backend)
                if self._timeout is None or stream.is_eof():
                    self._raw = await self._read_all(stream)  # all of it has arrived: no timer needed
                else:
                    async with asyncio.timeout(self._timeout):
                        self._raw = await self._read_all(stream)
            except TimeoutError:  # ours, or the HTTP client's read timeout on a back end's answer
                self.read_error = body_timeout(self._timeout or 0, self._from_backend)
                raise self.read_error from None
            except _STREAM_ERRORS as exc:
                self.read_error = body_incomplete(exc, self._from_backend)
                raise self.read_error from None
            except BodyReadError as exc:
                self.read_error = exc
                raise
        else:
            self._check_read_size()
        return self._raw or b""

    async def _read_all(self, stream: aiohttp.StreamReader) -> bytes:
        if self._length is not None:
            return await stream.readexactly(self._length) if self._length else b""
        chunks: list[bytes] = []
        size = 0
        async for chunk in stream.iter_chunked(STREAM_CHUNK):
            size += len(chunk)
            if size > self._limit:
                raise too_large(self._limit, self._from_backend)
            chunks.append(chunk)
        return b"".join(chunks)

    def iter_stream(self) -> AsyncIterator[bytes] | None:
        """An unread body as chunks, for pass-through streaming (consumes it). A stall longer than the body
        timeout between two chunks ends the stream with a sticky timeout fault."""
        if self.read_error is not None:
            raise self.read_error
        if self._stream is None:
            return None
        stream, self._stream = self._stream, None
        return self._relay(stream)

    async def _relay(self, stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
        chunks = stream.iter_chunked(STREAM_CHUNK)
        while True:
            try:
                if self._timeout is None:
                    chunk = await anext(chunks)
                else:
                    async with asyncio.timeout(self._timeout):
                        chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError:
                self.read_error = body_timeout(self._timeout or 0, self._from_backend)
                raise self.read_error from None
            except _STREAM_ERRORS as exc:
                self.read_error = body_incomplete(exc, self._from_backend)
                raise self.read_error from None
            yield chunk

    @property
    def raw(self) -> bytes | None:
        if self.read_error is not None:
            raise self.read_error
        return self._raw

    def untouched_envelope_bytes(self) -> bytes | None:
        """The bytes of a SOAP envelope as received, read, not yet built nor changed, and small enough to build:
        what an answer read from the bytes must agree with (gateway.expressions.xml_fastpath)."""
        raw = self._raw
        if (
            raw is None
            or self._envelope is not None
            or self.modified
            or self.read_error is not None
            or self.kind not in kinds.SOAP_KINDS
            or len(raw) > self._tree_limit
        ):
            return None
        return raw

    def may_hold_addressing(self) -> bool:
        """Whether the message may hold WS-Addressing headers, answered once. The original bytes are scanned
        for "addressing" (a WS-Addressing namespace): without it an unmodified envelope holds none. The scan
        costs ~1.3 instructions a byte, looking at a built envelope's Header ~5k: above 4 KB an unmodified built
        envelope is looked at instead."""
        if self._mentions_addressing is None:
            raw = self.raw or b""
            if len(raw) > _SCAN_FOR_ADDRESSING_UP_TO and self._envelope is not None and not self.modified:
                self._mentions_addressing = soap.holds_addressing(self._envelope)
            else:
                self._mentions_addressing = b"addressing" in raw
        return self._mentions_addressing

    # -- building ---------------------------------------------------------------------------------
    async def build(self) -> etree._Element:
        await self.read()
        return self.envelope

    @property
    def envelope(self) -> etree._Element:
        """The SOAP envelope XPath sees, built on first use from the (already read) bytes."""
        if self._envelope is None:
            if self.read_error is not None:
                raise self.read_error
            if self._stream is not None:
                raise RuntimeError("payload not read: call `await ctx.build()` before reading the body")
            self.builds += 1
            try:
                self._check_tree_size()
                self._envelope = self._build(self._raw or b"")
            except MediationError:
                # The fault flow must not trip over the same bytes again: it sees an empty envelope
                # (the raw bytes stay available to full-level logs).
                self._envelope = soap.new_envelope("soap12" if self.kind == "soap12" else "soap11")
                raise
        return self._envelope

    def _build(self, raw: bytes) -> etree._Element:
        kind = self.kind
        if kind == "empty" or not raw or raw.isspace():  # isspace: strip() would copy the body
            return soap.new_envelope("soap12" if kind == "soap12" else "soap11")
        if kind in ("soap11", "soap12"):
            root = parse_xml(raw)
            if root.tag not in soap.ENVELOPE_TAGS:
                raise MediationError(
                    "Error while building the message: the body is not a SOAP envelope",
                    MESSAGE_PARSING_ERROR,
                    f"Content-Type {self.media_type} requires a SOAP Envelope; send application/xml for plain XML",
                )
            return root
        if kind == "pox":
            return soap.wrap(parse_xml(raw))
        if kind == "json":
            try:
                return soap.wrap(json_bytes_to_xml(raw))
            except JsonConversionError as exc:
                raise MediationError(
                    f"Error while building the message: malformed JSON: {exc}",
                    MESSAGE_PARSING_ERROR,
                    "send a valid JSON document",
                ) from None
        if kind == "text":
            text = etree.Element(f"{{{soap.PAYLOAD_NS}}}text", nsmap=_TEXT_NSMAP)
            text.text = _NOT_XML_CHAR.sub("\ufffd", decode_text(raw, self.content_type))
            return soap.wrap(text)
        if kind == "form":
            values = etree.Element("xformValues")
            for name, value in parse_qsl(decode_text(raw, self.content_type), keep_blank_values=True):
                try:
                    field = etree.SubElement(values, name)
                except ValueError:
                    raise MediationError(
                        f"form field name '{name}' is not a valid XML name", MESSAGE_PARSING_ERROR
                    ) from None
                field.text = _NOT_XML_CHAR.sub("\ufffd", value)
            return soap.wrap(values)
        import base64

        binary = etree.Element(f"{{{soap.PAYLOAD_NS}}}binary", nsmap={"ns": soap.PAYLOAD_NS})
        binary.text = base64.b64encode(raw).decode("ascii")
        return soap.wrap(binary)

    # -- mutation ---------------------------------------------------------------------------------
    def replace_envelope(self, envelope: etree._Element) -> None:
        """A mediator changed the message: the original bytes no longer describe it."""
        self._envelope = envelope
        self._json = self._json_index = None
        self.modified = True

    def mark_modified(self) -> None:
        self._json = self._json_index = None
        self.modified = True

    def json_descendants(self) -> dict[str, list[Any]]:
        """key -> values in document order, for `//name` lookups on an untouched JSON payload."""
        if self._json_index is None:
            self._json_index = descendant_index(self.json_value())
        return self._json_index

    def _check_read_size(self) -> None:
        """Small answers arrive whole, not streamed: the read limit holds for them too, once they are read."""
        if self._raw is not None and len(self._raw) > self._limit:
            self.read_error = too_large(self._limit, self._from_backend)
            raise self.read_error

    def _check_tree_size(self) -> None:
        size = len(self._raw) if self._raw is not None else 0
        if size > self._limit:
            self._check_read_size()
        if size > self._tree_limit:
            raise TreeTooLarge(size, self._tree_limit)

    def json_value(self) -> Any:
        """The payload as a JSON value (json-eval); XML payloads are converted as MI does."""
        if self._json is None:
            if self.read_error is not None:
                raise self.read_error
            if self.kind == "json" and not self.modified and self._raw is not None:
                self._check_tree_size()
                try:  # the original JSON is the truth: no round trip through XML
                    self._json = (json_codec.loads(self._raw),)
                except json_codec.JsonConversionError as exc:
                    raise MediationError(
                        f"Error while building the message: malformed JSON: {exc}",
                        MESSAGE_PARSING_ERROR,
                        "send a valid JSON document",
                    ) from None
                return self._json[0]

            first = soap.first_body_element(self.envelope)
            try:
                self._json = (json_xml.xml_to_json_value(first) if first is not None else None,)
            except json_xml.JsonConversionError as exc:  # e.g. an infoset too deep for JSON
                raise MediationError(f"Error while building the message: {exc}", MESSAGE_PARSING_ERROR) from None
        return self._json[0]


def parse_xml(raw: bytes) -> etree._Element:
    try:
        root = etree.fromstring(raw, SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        raise MediationError(
            f"Error while building the message: malformed XML: {exc.msg}",
            MESSAGE_PARSING_ERROR,
            "send a well-formed XML document",
        ) from None
    # libxml2 makes an internal subset for every <!DOCTYPE …>, even one naming only an external DTD
    if root.getroottree().docinfo.internalDTD is not None:
        raise MediationError(
            "Error while building the message: DOCTYPE declarations are not allowed",
            MESSAGE_PARSING_ERROR,
            "remove the <!DOCTYPE …>; entities and DTDs are never resolved by this gateway",
        )
    return root


def decode_text(raw: bytes, content_type: str) -> str:
    charset = content_type_parameter(content_type, "charset") or "utf-8"
    try:
        return raw.decode(charset)
    except (LookupError, UnicodeError):  # UnicodeError: codecs such as idna fail without a UnicodeDecodeError
        raise MediationError(
            f"Error while building the message: body is not valid {charset}", MESSAGE_PARSING_ERROR
        ) from None
