"""A lean HTTP/1.1 client (http and https): the hot path of every proxy that forwards a message, and of connectors.

aiohttp's ClientSession does much per request that an endpoint never needs (a ClientRequest with its dozen
update_* steps, timer contexts, trace hooks, cookie and redirect handling); on a pass-through proxy it was
about a third of the gateway's instructions. Here a request is one formatted head plus the body in one write
on a pooled keep-alive connection, and the answer is parsed as it arrives by llhttp (httptools, the parser
uvicorn uses; aiohttp's own is llhttp too): no hand-written parser, whose mistakes would be response splitting or
smuggling. What goes on the wire is what aiohttp sent (Host, the message's headers, Accept and Accept-Encoding
defaults, Content-Length); what comes back is handled as aiohttp would: Content-Length, chunked or
close-delimited bodies, 1xx skipped, keep-alive as llhttp decides it. Around the parser this module keeps what
llhttp does not know: an answer to HEAD has no body (llhttp is not told the method: the parser is replaced
after one), a 101 or a head over 64 KiB is refused, bytes after a complete answer close the connection.

https is the same protocol over a TLS transport (`loop.create_connection(ssl=…, server_hostname=…)` with the
gateway's client context: certificates verified, TLS ≥ 1.2, the configured CA bundle); a certificate that fails
verification raises ssl.SSLCertVerificationError (an OSError, as under aiohttp's ClientConnectorCertificateError).
A streamed request body or credentials in the URL stay on aiohttp (gateway/transport/client.py chooses).
Failures raise what aiohttp raises for them (OSError, TimeoutError, aiohttp.ClientError subclasses), so
gateway.errors.transport_failure maps them to the same MI codes.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable

import aiohttp
import httptools
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
_HEAD, _BODY, _COMPLETE, _DONE = 0, 1, 2, 3  # an exchange: waiting for the head, the body; parsed; handed over


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
    """One keep-alive connection; llhttp (httptools) parses one answer at a time, its callbacks fill the Answer."""

    __slots__ = (
        "pool",
        "key",
        "loop",
        "transport",
        "connected",
        "_reading_paused",
        "_parser",
        "_stale",
        "_state",
        "_head_size",
        "_received",
        "_reason",
        "_headers",
        "_waiter",
        "_answer",
        "_body",
        "_until_close",
        "_stream",
        "_keep",
        "_head_only",
        "_timeout",
        "_timer",
        "_last",
        "idle_since",
        "busy",
    )

    def __init__(self, pool: Http1Pool, key: tuple[str, int, bool], loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.key = key
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.connected = False
        self._reading_paused = False
        self._parser = httptools.HttpResponseParser(self)
        self._stale = False  # the parser was left mid-message (a HEAD answer's body): a new one is needed
        self._waiter: asyncio.Future[Answer] | None = None
        self._reset()
        self._timeout = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0
        self.idle_since = 0.0
        self.busy = False

    def _reset(self) -> None:
        self._state = _HEAD
        self._head_size = 0  # the answer's header lines so far
        self._received = 0  # bytes received while no head was complete
        self._reason = b""
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._answer: Answer | None = None
        self._body: list[bytes] = []
        self._until_close = False
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
        if self._state == _BODY and self._until_close and exc is None:
            self._state = _COMPLETE  # a close-delimited body ends here
            self._keep = False
            self._finish()
            return
        if self.busy and self._state < _COMPLETE:
            self._fail(aiohttp.ServerDisconnectedError() if exc is None else exc)

    def data_received(self, data: bytes) -> None:
        if not self.busy or self._state == _DONE:
            self.close()  # bytes nobody asked for: this connection is not trusted again
            return
        self._last = self.loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._broken(BadResponse("the back end switched protocols (101), which an endpoint cannot follow"))
            return
        except httptools.HttpParserCallbackError as exc:
            error = exc.__context__
            self._broken(error if isinstance(error, BadResponse) else BadResponse(f"the back end's answer: {exc}"))
            return
        except httptools.HttpParserError as exc:
            self._broken(BadResponse(f"the back end's answer is not valid HTTP/1.1: {exc}"))
            return
        if self._state == _COMPLETE:
            self._finish()
        elif self._state == _HEAD:
            self._received += len(data)
            if self._received > _MAX_HEAD:
                self._broken(BadResponse(f"the back end's headers exceed {_MAX_HEAD} bytes"))

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self, resume_parser: bool = True) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    # -- llhttp's callbacks (httptools) ------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._state != _HEAD:
            self._keep = False  # bytes beyond the answer: this connection is not trusted again

    def on_status(self, reason: bytes) -> None:
        if self._state == _HEAD:
            self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._state == _HEAD:  # after the head: the trailers of a chunked body, dropped
            self._head_size += len(name) + len(value)
            self._headers.add(name.decode("latin-1"), value.decode("latin-1").rstrip(" \t"))

    def on_headers_complete(self) -> None:
        if self._state != _HEAD:
            return
        if self._head_size > _MAX_HEAD:
            raise BadResponse(f"the back end's headers exceed {_MAX_HEAD} bytes")
        parser = self._parser
        status = parser.get_status_code()
        if parser.get_http_version()[:2] != "1.":
            raise BadResponse(f"the back end's answer is not HTTP/1.x but HTTP/{parser.get_http_version()}")
        if status < 200:
            if status == 101:
                raise BadResponse("the back end switched protocols (101), which an endpoint cannot follow")
            self._reason, self._headers = b"", CIMultiDict()  # a 1xx: the real answer follows (its size counts)
            return
        headers = self._headers
        self._state = _BODY
        if self._head_only or status in (204, 304):
            length: int | None = 0
            if self._head_only:  # llhttp cannot be told the answer is to a HEAD: it would wait for the body
                self._state = _COMPLETE
                self._stale = True
                self._keep = parser.should_keep_alive()
        elif "Transfer-Encoding" in headers:  # llhttp refuses it together with a Content-Length
            length = None
            self._until_close = headers.getall("Transfer-Encoding")[-1].rpartition(",")[2].strip().lower() != "chunked"
        elif (value := headers.get("Content-Length")) is not None:
            length = int(value)  # llhttp accepts only digits, once
        else:
            length, self._until_close = None, True
        stream = None
        if length is None or length > self.pool.buffer_up_to:
            stream = self._stream = aiohttp.StreamReader(self, _STREAM_LIMIT, loop=self.loop)  # type: ignore[arg-type]
        self._answer = Answer(status, self._reason.decode("latin-1").strip(), headers, None, stream, self._release)
        if stream is not None:
            self._resolve()

    def on_body(self, data: bytes) -> None:
        if self._state == _BODY:
            if self._stream is not None:
                self._stream.feed_data(data)
            else:
                self._body.append(data)
        else:
            self._keep = False

    def on_message_complete(self) -> None:
        if self._state == _BODY:
            self._state = _COMPLETE
            self._keep = self._keep and self._parser.should_keep_alive()
        elif self._state == _COMPLETE and self._head_only:
            self._keep = False  # a body after the head of a HEAD answer
        # _HEAD: a 1xx answer ended; the real one follows

    # -- one exchange ------------------------------------------------------------------------------
    def send(self, data: bytes, body: bytes | None, head_only: bool, timeout: float | None) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self.busy = True
        self._reset()
        if self._stale:
            self._parser = httptools.HttpResponseParser(self)
            self._stale = False
        self._head_only = head_only
        self._waiter = waiter = self.loop.create_future()
        if body:
            if len(body) <= 16384:
                self.transport.write(data + body)
            else:
                self.transport.writelines((data, body))
        else:
            self.transport.write(data)
        self._last = self.loop.time()
        if timeout is not None:  # None: the caller's own deadline bounds the exchange (no timer here)
            self._timeout = timeout
            self._timer = self.loop.call_at(self._last + timeout, self._check_timeout)
        return waiter

    def _broken(self, error: BadResponse) -> None:
        """The parser stopped on an error: the answer fails unless it was already complete."""
        self._stale = True
        if self._state == _COMPLETE:
            self._keep = False
            self._finish()
        else:
            self._fail(error)
            self.close()

    def _finish(self) -> None:
        self._state = _DONE
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
        self._state = _DONE
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
        if self._state != _DONE and self.busy:
            self._cancel_timer()
            self._state = _DONE
            self.close()

    def _check_timeout(self) -> None:
        self._timer = None
        if self._state == _DONE:
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
    """Keep-alive connections per (host, port, over TLS), for http and https."""

    __slots__ = ("_idle", "_all", "buffer_up_to", "_swept", "tls")

    def __init__(self, buffer_up_to: int, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls or ssl.create_default_context()  # https: the gateway's client context (client_tls)
        self._idle: dict[tuple[str, int, bool], list[_Connection]] = {}
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
        timeout: float | None,
    ) -> Answer:
        """One exchange; `timeout` bounds the connect and each wait for data (None: the caller's deadline does)."""
        host = url.raw_host
        port = url.port
        if not host or port is None:
            raise aiohttp.InvalidURL(url)
        head = _head(method, url, headers, body)
        key = (host, port, url.scheme == "https")
        retry = method in _IDEMPOTENT_METHODS
        while True:
            connection = await self._connection(key, url.host or host, port, timeout)
            try:
                return await connection.send(head, body, method == "HEAD", timeout)
            except asyncio.CancelledError:
                connection._release()  # the answer will not be read: the connection is not reused
                raise
            except (aiohttp.ServerDisconnectedError, OSError) as exc:
                # As aiohttp: an idempotent request whose connection broke before an answer began (a kept-alive
                # connection the back end had just closed) is sent once more, on a fresh connection.
                if not retry or isinstance(exc, TimeoutError):
                    raise
                retry = False

    async def _connection(self, key: tuple[str, int, bool], host: str, port: int, timeout: float | None) -> _Connection:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            candidate = idle.pop()
            if candidate.connected and now - candidate.idle_since < _KEEPALIVE:
                return candidate
            candidate.close()
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            if key[2]:
                server_hostname = host.rstrip(".")  # as aiohttp: the name checked against the certificate
                _, connection = await loop.create_connection(
                    lambda: _Connection(self, key, loop), host, port, ssl=self.tls, server_hostname=server_hostname
                )
            else:
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
