"""A lean HTTP/1.1 client for plain-http back ends: the hot path of every proxy that forwards a message.

aiohttp's ClientSession does much per request that an endpoint never needs (a ClientRequest with its dozen
update_* steps, timer contexts, trace hooks, cookie and redirect handling); on a pass-through proxy it was
about a third of the gateway's instructions. Here a request is one formatted head plus the body in one write
on a pooled keep-alive connection, and the answer is parsed by the protocol as it arrives. What goes on the
wire is what aiohttp sent (Host, the message's headers, Accept and Accept-Encoding defaults, Content-Length);
what comes back is handled as aiohttp would: Content-Length, chunked or close-delimited bodies, 1xx skipped.

https, streamed request bodies and anything else stay on aiohttp (gateway/transport/client.py chooses).
Failures raise what aiohttp raises for them (OSError, TimeoutError, aiohttp.ClientError subclasses), so
gateway.errors.transport_failure maps them to the same MI codes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
from aiohttp.client_reqrep import ClientRequest
from multidict import CIMultiDict
from yarl import URL

_MAX_HEAD = 64 * 1024  # status line and headers of an answer (aiohttp: 8190 per line, 32 KiB of fields)
_STREAM_LIMIT = 2**16  # the StreamReader's buffer limit, as aiohttp's client uses
_KEEPALIVE = 30.0  # seconds an idle connection is kept (the aiohttp connector's keepalive_timeout)
_DEFAULTS = tuple(ClientRequest.DEFAULT_HEADERS.items())  # Accept, Accept-Encoding: what aiohttp adds
_NOT_CONTROL = bytes(b for b in range(256) if not (b < 32 and b != 9 or b == 127))  # kept: the control bytes
_CRLF = b"\r\n"
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})  # aiohttp's retry rule
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class BadResponse(aiohttp.ClientResponseError):
    """The back end's answer is not valid HTTP/1.1 (mapped like any broken connection: 101503)."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        self.message = message
        self.status = 0
        self.headers = None
        self.request_info = None  # type: ignore[assignment]
        self.history = ()

    def __str__(self) -> str:
        return self.message


class Answer:
    """A back end's answer: status, reason, headers, and the body in hand (`body`) or arriving (`stream`)."""

    __slots__ = ("status", "reason", "headers", "body", "stream", "release")

    def __init__(
        self,
        status: int,
        reason: str,
        headers: CIMultiDict[str],
        body: bytes | None,
        stream: aiohttp.StreamReader | None,
        release: Callable[[], None],
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.stream = stream
        self.release = release


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses one answer at a time."""

    __slots__ = (
        "pool",
        "key",
        "loop",
        "transport",
        "connected",
        "_reading_paused",
        "_head",
        "_waiter",
        "_answer",
        "_body",
        "_remaining",
        "_mode",
        "_chunk_state",
        "_chunk_buffer",
        "_stream",
        "_keep",
        "_head_only",
        "_timeout",
        "_timer",
        "_last",
        "idle_since",
        "busy",
    )

    def __init__(self, pool: Http1Pool, key: tuple[str, int], loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.key = key
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.connected = False
        self._reading_paused = False
        self._waiter: asyncio.Future[Answer] | None = None
        self._reset()
        self._timeout = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0
        self.idle_since = 0.0
        self.busy = False

    def _reset(self) -> None:
        self._head = b""
        self._answer: Answer | None = None
        self._body: list[bytes] = []
        self._remaining = 0
        self._mode = ""  # "" head, "length", "chunked", "close", "done"
        self._chunk_state = 0
        self._chunk_buffer = b""
        self._stream: aiohttp.StreamReader | None = None
        self._keep = True
        self._head_only = False

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connected = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.connected = False
        self.pool.forget(self)
        self._cancel_timer()
        if self._mode == "close" and exc is None:
            self._finish()  # a close-delimited body ends here
            return
        if self.busy and self._mode != "done":
            self._fail(aiohttp.ServerDisconnectedError() if exc is None else exc)

    def data_received(self, data: bytes) -> None:
        self._last = self.loop.time()
        try:
            if not self._mode:
                self._head += data
                end = self._head.find(b"\r\n\r\n")
                if end == -1:
                    if len(self._head) > _MAX_HEAD:
                        raise BadResponse(f"the back end's headers exceed {_MAX_HEAD} bytes")
                    return
                head, data = self._head[:end], self._head[end + 4 :]
                self._head = b""
                if not self._start(head):  # a 1xx: the real answer follows
                    if data:
                        self.data_received(data)
                    return
            if data or self._mode == "length" and not self._remaining:
                self._feed(data)
        except BadResponse as exc:
            self._fail(exc)
            self.close()

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self, resume_parser: bool = True) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    # -- one exchange ------------------------------------------------------------------------------
    def send(self, data: bytes, body: bytes | None, head_only: bool, timeout: float) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self.busy = True
        self._reset()
        self._head_only = head_only
        self._waiter = waiter = self.loop.create_future()
        if body:
            if len(body) <= 16384:
                self.transport.write(data + body)
            else:
                self.transport.writelines((data, body))
        else:
            self.transport.write(data)
        self._timeout = timeout
        self._last = self.loop.time()
        self._timer = self.loop.call_at(self._last + timeout, self._check_timeout)
        return waiter

    def _start(self, head: bytes) -> bool:
        lines = head.decode("latin-1").split("\r\n")
        try:
            version, _, rest = lines[0].partition(" ")
            code, _, reason = rest.partition(" ")
            status = int(code)
        except ValueError:
            raise BadResponse("the back end's status line is not HTTP") from None
        if not version.startswith("HTTP/1.") or len(code) != 3 or not 100 <= status <= 999:
            raise BadResponse(f"the back end's status line is not HTTP/1.x: {lines[0][:100]!r}")
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip() or " " in name or "\t" in name:
                raise BadResponse(f"the back end sent a malformed header line: {line[:100]!r}")
            headers.add(name, value.strip(" \t"))
        if 100 <= status < 200:
            if status == 101:
                raise BadResponse("the back end switched protocols (101), which an endpoint cannot follow")
            return False
        connection = headers.get("Connection", "").lower()
        self._keep = version == "HTTP/1.1" and "close" not in connection or "keep-alive" in connection
        encoding = headers.get("Transfer-Encoding")
        length = headers.get("Content-Length")
        if self._head_only or status in (204, 304):
            mode, remaining = "length", 0
        elif encoding is not None:
            codings = encoding.lower().replace(" ", "").split(",")
            mode, remaining = ("chunked" if codings[-1] == "chunked" else "close"), 0
            if mode == "close" or length is not None:
                self._keep = False  # W: RFC 9112 6.3: both present means the connection is not reused
        elif length is not None:
            if not length.isdigit() or not length.isascii():
                values = {v.strip() for v in length.split(",")}  # "5, 5" is allowed, "5, 6" is not
                if len(values) != 1 or not (only := values.pop()).isdigit():
                    raise BadResponse(f"the back end sent an invalid Content-Length: {length[:40]!r}")
                length = only
            mode, remaining = "length", int(length)
        else:
            mode, remaining = "close", 0
            self._keep = False
        self._mode, self._remaining = mode, remaining
        buffered = mode == "length" and remaining <= self.pool.buffer_up_to
        stream = None
        if not buffered:
            stream = self._stream = aiohttp.StreamReader(self, _STREAM_LIMIT, loop=self.loop)  # type: ignore[arg-type]
        self._answer = Answer(status, reason.strip(), headers, None, stream, self._release)
        if stream is not None:
            self._resolve()
        return True

    def _feed(self, data: bytes) -> None:
        mode = self._mode
        if mode == "length":
            take = data[: self._remaining] if len(data) > self._remaining else data
            self._remaining -= len(take)
            if len(take) < len(data):
                self._keep = False  # bytes beyond the answer: this connection is not trusted again
            self._deliver(take)
            if not self._remaining:
                self._finish()
        elif mode == "chunked":
            self._dechunk(data)
        elif mode == "close":
            self._deliver(data)
        # "done": bytes after a complete answer are dropped; the connection is closed on release

    def _deliver(self, data: bytes) -> None:
        if not data:
            return
        if self._stream is not None:
            self._stream.feed_data(data)
        else:
            self._body.append(data)

    def _dechunk(self, data: bytes) -> None:
        buffer = self._chunk_buffer + data if self._chunk_buffer else data
        self._chunk_buffer = b""
        position = 0
        while position < len(buffer):
            state = self._chunk_state
            if state == 0:  # a size line
                end = buffer.find(b"\r\n", position)
                if end == -1:
                    if len(buffer) - position > 4096:
                        raise BadResponse("the back end sent an over-long chunk size line")
                    self._chunk_buffer = buffer[position:]
                    return
                text = buffer[position:end].split(b";", 1)[0].strip()
                try:
                    size = int(text, 16)
                except ValueError:
                    raise BadResponse(f"the back end sent an invalid chunk size: {text[:20]!r}") from None
                if size < 0 or not text.isalnum():
                    raise BadResponse(f"the back end sent an invalid chunk size: {text[:20]!r}")
                position = end + 2
                if size == 0:
                    self._chunk_state = 3
                else:
                    self._remaining, self._chunk_state = size, 1
            elif state == 1:  # chunk data
                take = min(self._remaining, len(buffer) - position)
                self._deliver(buffer[position : position + take])
                position += take
                self._remaining -= take
                if not self._remaining:
                    self._chunk_state = 2
            elif state == 2:  # the CRLF after a chunk's data
                if len(buffer) - position < 2:
                    self._chunk_buffer = buffer[position:]
                    return
                if buffer[position : position + 2] != b"\r\n":
                    raise BadResponse("the back end's chunk is not followed by CRLF")
                position += 2
                self._chunk_state = 0
            else:  # trailers, up to an empty line
                end = buffer.find(b"\r\n", position)
                if end == -1:
                    self._chunk_buffer = buffer[position:]
                    return
                line = buffer[position:end]
                position = end + 2
                if not line:
                    if position < len(buffer):
                        self._keep = False
                    self._finish()
                    return

    def _finish(self) -> None:
        self._mode = "done"
        self._cancel_timer()
        if self._stream is not None:
            self._stream.feed_eof()
        else:
            assert self._answer is not None
            self._answer.body = b"".join(self._body) if len(self._body) != 1 else self._body[0]
            self._body = []
            self._resolve()
        if self._keep and self.connected:
            self.busy = False
            self.pool.idle(self)
        else:
            self.close()

    def _resolve(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            assert self._answer is not None
            waiter.set_result(self._answer)

    def _fail(self, error: BaseException) -> None:
        self._cancel_timer()
        self._mode = "done"
        if self._answer is not None and not isinstance(error, aiohttp.ClientPayloadError | TimeoutError):
            # the head arrived, the body broke off or is malformed: what aiohttp calls a payload error
            error = aiohttp.ClientPayloadError(f"Response payload is not completed: {error!r}")
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        elif self._stream is not None:
            self._stream.set_exception(error)

    def _release(self) -> None:
        """After the answer was used: a connection whose answer is not complete cannot be reused."""
        if self._mode != "done" and self.busy:
            self._cancel_timer()
            self._mode = "done"
            self.close()

    def _check_timeout(self) -> None:
        self._timer = None
        if self._mode == "done":
            return
        due = self._last + self._timeout
        now = self.loop.time()
        if now < due:
            self._timer = self.loop.call_at(due, self._check_timeout)
            return
        self._fail(aiohttp.ServerTimeoutError(f"no data from the back end within {self._timeout:g} s"))
        self.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self.pool.forget(self)
        if self.transport is not None:
            self.transport.close()


class Http1Pool:
    """Keep-alive connections per (host, port), for plain http only."""

    __slots__ = ("_idle", "_all", "buffer_up_to", "_swept")

    def __init__(self, buffer_up_to: int) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._all: set[_Connection] = set()
        self.buffer_up_to = buffer_up_to  # answers up to this size are handed over whole; larger ones stream
        self._swept = time.monotonic()

    def idle(self, connection: _Connection) -> None:
        now = connection.idle_since = time.monotonic()
        self._idle.setdefault(connection.key, []).append(connection)
        if now - self._swept > _KEEPALIVE:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Close connections idle for longer than the keep-alive time (the newest are used first, so the
        oldest would otherwise wait for the back end to close them)."""
        self._swept = now
        for idle in list(self._idle.values()):
            for connection in [c for c in idle if now - c.idle_since >= _KEEPALIVE]:
                connection.close()

    def forget(self, connection: _Connection) -> None:
        idle = self._idle.get(connection.key)
        if idle and connection in idle:
            idle.remove(connection)
        self._all.discard(connection)

    async def request(
        self,
        method: str,
        url: URL,
        headers: CIMultiDict[str],
        body: bytes | None,
        timeout: float,
    ) -> Answer:
        host = url.raw_host
        port = url.port
        if not host or port is None:
            raise aiohttp.InvalidURL(url)
        head = _head(method, url, headers, body)
        key = (host, port)
        retry = method in _IDEMPOTENT_METHODS
        while True:
            connection = await self._connection(key, url.host or host, port, timeout)
            try:
                return await connection.send(head, body, method == "HEAD", timeout)
            except (aiohttp.ServerDisconnectedError, OSError) as exc:
                # As aiohttp: an idempotent request whose connection broke before an answer began (a kept-alive
                # connection the back end had just closed) is sent once more, on a fresh connection.
                if not retry or isinstance(exc, TimeoutError):
                    raise
                retry = False

    async def _connection(self, key: tuple[str, int], host: str, port: int, timeout: float) -> _Connection:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            candidate = idle.pop()
            if candidate.connected and now - candidate.idle_since < _KEEPALIVE:
                return candidate
            candidate.close()
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            _, connection = await loop.create_connection(lambda: _Connection(self, key, loop), host, port)
        self._all.add(connection)
        return connection

    def close(self) -> None:
        for connection in list(self._all):
            connection.close()
        self._idle.clear()
        self._all.clear()


def _head(method: str, url: URL, headers: CIMultiDict[str], body: bytes | None) -> bytes:
    """The request line and headers, as aiohttp would write them; CR or LF inside a name or value is refused."""
    parts = [f"{method} {url.raw_path_qs or '/'} HTTP/1.1\r\nHost: {url.host_port_subcomponent}\r\n"]
    lines = 2  # the request line and Host
    for name, value in headers.items():
        parts.append(f"{name}: {value}\r\n")
    lines += len(headers)
    for name, value in _DEFAULTS:
        if name not in headers:
            parts.append(f"{name}: {value}\r\n")
            lines += 1
    if body is not None:
        if "Content-Type" not in headers:
            parts.append("Content-Type: application/octet-stream\r\n")
            lines += 1
        parts.append(f"Content-Length: {len(body)}\r\n")
        lines += 1
    elif method not in _BODYLESS_METHODS:
        parts.append("Content-Length: 0\r\n")
        lines += 1
    parts.append("\r\n")
    head = "".join(parts).encode("utf-8", "surrogateescape")
    # aiohttp's rule: no control character but tab in a name or value. What is left after deleting every
    # other byte must be exactly our own line ends.
    if head.translate(None, _NOT_CONTROL) != _CRLF * (lines + 1):
        raise ValueError("Forbidden control character detected in headers. Potential header injection attack.")
    return head
