"""The database layer: JDBC URLs mapped to async drivers with pooled connections, one pool per data source.

Used by `dblookup` / `dbreport` and meant for anything else that keeps rows (JDBC message stores, users):

    source = parse_jdbc_url("jdbc:postgresql://127.0.0.1:5432/test", user="postgres")
    sql = compile_sql("select id from company where name = ?", source.dialect)   # at deploy time
    db = databases.get(source)                                                    # the process's pool
    async with db.session() as session:                   # one pooled connection, autocommit
        row = await session.first(sql, ("IBM",))
    async with db.transaction() as session:               # one connection, one transaction
        count = await session.execute(sql, params)

Drivers: asyncpg (`jdbc:postgresql:`), asyncmy (`jdbc:mysql:`, `jdbc:mariadb:`), aiosqlite (`jdbc:sqlite:`).
Statements are always sent with bound parameters: the JDBC `?` markers are rewritten once, at deploy time, to
the driver's own markers (never a value spliced into SQL text). `Databases` owns the pools of a process; it
creates each on first use and closes them all at shutdown.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote

log = logging.getLogger("gateway.database")

Dialect = Literal["postgresql", "mysql", "sqlite"]
DIALECTS: dict[str, Dialect] = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
# JDBC subprotocols that are real but have no async driver here: named in the error, with the alternatives.
KNOWN_UNSUPPORTED = ("derby", "h2", "oracle", "sqlserver", "db2", "hsqldb", "informix", "sybase", "jtds")
SUPPORTED_HINT = "use jdbc:postgresql://HOST:PORT/DB, jdbc:mysql://HOST:PORT/DB (MySQL, MariaDB) or jdbc:sqlite:FILE"


class DatabaseError(Exception):
    """A driver error (SQL, connection, timeout), with the driver's message."""


@dataclass(frozen=True, slots=True)
class DataSource:
    """Where and how to connect; hashable, so equal data sources share one pool."""

    dialect: Dialect
    host: str = ""
    port: int = 0
    database: str = ""  # the database name, or the SQLite file (":memory:" for a private in-memory one)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    min_size: int = 0
    max_size: int = 10
    acquire_timeout: float = 30.0  # seconds to wait for a pooled connection (MI's maxwait)
    options: tuple[tuple[str, str], ...] = ()  # driver options kept from the URL (sslmode)

    @property
    def label(self) -> str:
        """How messages name it: never the password, never the URL's options."""
        if self.dialect == "sqlite":
            return f"jdbc:sqlite:{self.database}"
        return f"jdbc:{self.dialect}://{self.host}:{self.port}/{self.database}"

    def resolved(self, base: Path) -> DataSource:
        """A relative SQLite file made absolute against `base` (the artifacts folder)."""
        if self.dialect != "sqlite" or self.database == ":memory:" or Path(self.database).is_absolute():
            return self
        return replace(self, database=str((base / self.database).resolve()))


_NETWORK = re.compile(
    r"^//(?:(?P<userinfo>[^@/?;]*)@)?(?P<host>\[[^\]]+\]|[^/:?;]*)(?::(?P<port>\d+))?"
    r"(?:/(?P<db>[^?;]*))?(?P<rest>[?;].*)?$"
)


def parse_jdbc_url(
    url: str,
    *,
    user: str | None = None,
    password: str | None = None,
    max_size: int | None = None,
    min_size: int | None = None,
    acquire_timeout: float | None = None,
) -> DataSource:
    """A JDBC URL (`jdbc:postgresql://h:5432/db`, `jdbc:mysql://h/db`, `jdbc:sqlite:path`) as a DataSource.
    ValueError says what is wrong, naming the supported forms."""
    text = url.strip()
    if not text.lower().startswith("jdbc:"):
        raise ValueError(f"'{url}' is not a JDBC URL ({SUPPORTED_HINT})")
    subprotocol, _, rest = text[5:].partition(":")
    dialect = DIALECTS.get(subprotocol.lower())
    if dialect is None:
        known = subprotocol.lower() in KNOWN_UNSUPPORTED
        raise ValueError(
            f"the JDBC driver '{subprotocol}' is not supported"
            + (" (no async Python driver is bundled for it)" if known else "")
            + f": {SUPPORTED_HINT}"
        )
    sizes: dict[str, Any] = {}
    if max_size is not None:
        sizes["max_size"] = max_size
    if min_size is not None:
        sizes["min_size"] = min_size
    if acquire_timeout is not None:
        sizes["acquire_timeout"] = acquire_timeout
    if dialect == "sqlite":
        path, _, _query = rest.partition("?")
        path = path.removeprefix("file:") if path.startswith("file:") else path
        if not path:
            raise ValueError(f"'{url}' names no SQLite file (jdbc:sqlite:FILE or jdbc:sqlite::memory:)")
        if path == ":memory:":
            sizes["max_size"] = 1  # every connection to :memory: is a database of its own
        return DataSource("sqlite", database=path, **sizes)
    match = _NETWORK.match(rest)
    if match is None:  # jdbc:postgresql:dbname (localhost, default port)
        if rest and "/" not in rest:
            database, _, query = rest.partition("?")
            host, port, options = "localhost", DEFAULT_PORTS[dialect], query
        else:
            raise ValueError(f"'{url}' is not a valid {subprotocol} JDBC URL ({SUPPORTED_HINT})")
    else:
        if match["userinfo"]:  # jdbc:mysql://user:password@host/db
            name, _, secret = match["userinfo"].partition(":")
            user = user or unquote(name) or None
            password = password or (unquote(secret) if secret else None)
        host = (match["host"] or "localhost").strip("[]")
        port = int(match["port"]) if match["port"] else DEFAULT_PORTS[dialect]
        database = unquote(match["db"] or "")
        options = (match["rest"] or "")[1:]
    kept: list[tuple[str, str]] = []
    for key, value in parse_qsl(options.replace(";", "&"), keep_blank_values=True):
        lowered = key.lower()
        if lowered == "user" and user is None:
            user = value
        elif lowered == "password" and password is None:
            password = value
        elif lowered in ("sslmode", "ssl"):
            kept.append((lowered, value))
        # other driver tuning options (useSSL, serverTimezone, …) have no equivalent here: ignored
    if not 0 < port < 65536:
        raise ValueError(f"'{url}': port {port} is out of range")
    return DataSource(dialect, host, port, database, user, password, options=tuple(kept), **sizes)


_SYSTEM = re.compile(r"^\$SYSTEM:([_a-zA-Z0-9]+)$")


def resolve_variable(text: str | None) -> str | None:
    """MI's `$SYSTEM:NAME` (W: commons/resolvers/SystemResolver): the environment variable NAME, so that a
    password need not be written in the configuration. Other text is returned as it is."""
    if text is None:
        return None
    match = _SYSTEM.match(text.strip())
    if match is None:
        return text
    import os

    value = os.environ.get(match[1])
    if value is None:
        raise ValueError(f"Environment variable could not be found: {match[1]} (from '{text.strip()}')")
    return value


# -- statements -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Sql:
    """A statement with its `?` markers rewritten for one dialect; `count` is the number of markers. Several
    statements separated by `;` are `parts`, run one after the other on the same connection, each with its own
    share of the parameters (the last one's rows are the result)."""

    text: str
    count: int
    raw: str
    parts: tuple[tuple[str, int], ...] = ()


_TOKENS = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|--[^\n]*|/\*.*?\*/|\$([A-Za-z_]*)\$.*?\$\1\$|\?|%|;", re.S
)


def compile_sql(raw: str, dialect: Dialect) -> Sql:
    """Rewrite the JDBC `?` markers outside quotes and comments: `$n` for PostgreSQL, `%s` for MySQL (whose
    driver formats with %, so a literal % is doubled), `?` kept for SQLite; split at `;` between statements."""
    text = raw.strip()
    parts: list[tuple[str, int]] = []
    pieces: list[str] = []
    count = 0

    def close() -> None:
        nonlocal pieces, count
        statement = "".join(pieces).strip()
        if statement:
            parts.append((statement, count))
        pieces, count = [], 0

    position = 0
    for match in _TOKENS.finditer(text):
        pieces.append(text[position : match.start()])
        position = match.end()
        token = match.group()
        if token == "?":
            count += 1
            pieces.append(f"${count}" if dialect == "postgresql" else "%s" if dialect == "mysql" else "?")
        elif token == ";":
            close()
        else:
            pieces.append(token.replace("%", "%%") if dialect == "mysql" else token)
    pieces.append(text[position:])
    close()
    return Sql(";\n".join(part for part, _ in parts), sum(n for _, n in parts), text, tuple(parts))


# -- rows -------------------------------------------------------------------------------------------------
class Row:
    """One result row: values by 1-based position or by column label (case-insensitive, as JDBC)."""

    __slots__ = ("names", "values", "_index")

    def __init__(self, names: Sequence[str], values: Sequence[Any]) -> None:
        self.names = tuple(names)
        self.values = tuple(values)
        self._index: dict[str, int] = {}
        for position, name in enumerate(self.names):
            self._index.setdefault(name.lower(), position)

    def get(self, column: str | int) -> Any:
        """KeyError when there is no such column."""
        if isinstance(column, int):
            if not 1 <= column <= len(self.values):
                raise KeyError(f"column index {column} is out of range (1..{len(self.values)})")
            return self.values[column - 1]
        position = self._index.get(column.lower())
        if position is None:
            raise KeyError(f"no column '{column}' (the row has {', '.join(self.names) or 'no columns'})")
        return self.values[position]

    def __repr__(self) -> str:
        return f"Row({dict(zip(self.names, self.values, strict=True))!r})"


def java_string(value: Any) -> str:
    """A value as Java's toString of the JDBC object would write it (booleans, timestamps, decimals)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        fraction = f"{value.microsecond:06d}".rstrip("0") or "0"
        return f"{value:%Y-%m-%d %H:%M:%S}.{fraction}"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def java_double(value: float) -> str:
    """Double.toString: plain from 10^-3 to 10^7, else d.dddE±n; always a decimal point."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    point = exponent + len(digits)  # where the decimal point goes in the digits
    if 1e-3 <= abs(value) < 1e7:
        if point <= 0:
            body = "0." + "0" * -point + text
        elif point >= len(text):
            body = text + "0" * (point - len(text)) + ".0"
        else:
            body = text[:point] + "." + text[point:]
    else:
        body = f"{text[0]}.{text[1:] or '0'}E{point - 1}"
    return ("-" if sign else "") + body


# -- sessions and pools -----------------------------------------------------------------------------------
class Session:
    """One connection taken from the pool: run statements on it. A driver implements `_execute` and `_fetch`
    for one statement; the parts of a `Sql` run in order, each with its share of the parameters."""

    async def _execute(self, text: str, params: Sequence[Any]) -> int:
        raise NotImplementedError

    async def _fetch(self, text: str, params: Sequence[Any], one: bool) -> list[Row]:
        raise NotImplementedError

    async def _rows(self, sql: Sql, params: Sequence[Any], one: bool) -> list[Row]:
        values, offset, rows = list(params), 0, []
        for index, (text, count) in enumerate(sql.parts):
            chunk, offset = values[offset : offset + count], offset + count
            if index < len(sql.parts) - 1:
                await self._execute(text, chunk)
            else:
                rows = await self._fetch(text, chunk, one)
        return rows

    async def first(self, sql: Sql, params: Sequence[Any]) -> Row | None:
        """The first row of a query, or None."""
        rows = await self._rows(sql, params, True)
        return rows[0] if rows else None

    async def all(self, sql: Sql, params: Sequence[Any]) -> list[Row]:
        return await self._rows(sql, params, False)

    async def execute(self, sql: Sql, params: Sequence[Any]) -> int:
        """Run an update; the number of rows it changed (of all its parts)."""
        values, offset, changed = list(params), 0, 0
        for text, count in sql.parts:
            changed += await self._execute(text, values[offset : offset + count])
            offset += count
        return changed


class Database:
    """The pool of one data source."""

    def __init__(self, source: DataSource) -> None:
        self.source = source

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """A pooled connection in autocommit mode."""
        raise NotImplementedError
        yield  # pragma: no cover

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """A pooled connection inside one transaction: committed when the block ends, rolled back on error."""
        raise NotImplementedError
        yield  # pragma: no cover

    async def close(self) -> None:
        raise NotImplementedError


def _rowcount(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _PgSession(Session):
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def _fetch(self, text: str, params: Sequence[Any], one: bool) -> list[Row]:
        if one:
            record = await self.conn.fetchrow(text, *params)
            records = [] if record is None else [record]
        else:
            records = await self.conn.fetch(text, *params)
        return [Row(tuple(r.keys()), tuple(r.values())) for r in records]

    async def _execute(self, text: str, params: Sequence[Any]) -> int:
        return _rowcount(await self.conn.execute(text, *params))


class _Postgres(Database):
    def __init__(self, source: DataSource) -> None:
        super().__init__(source)
        self._pool: Any = None
        self._lock = asyncio.Lock()

    async def _get_pool(self) -> Any:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    import asyncpg

                    source = self.source
                    ssl = dict(source.options).get("sslmode") or dict(source.options).get("ssl")
                    self._pool = await asyncpg.create_pool(
                        host=source.host,
                        port=source.port,
                        user=source.user,
                        password=source.password,
                        database=source.database or None,
                        min_size=source.min_size,
                        max_size=source.max_size,
                        ssl=None if ssl in (None, "", "false", "disable") else ("require" if ssl == "true" else ssl),
                        timeout=source.acquire_timeout,
                    )
        return self._pool

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        pool = await self._get_pool()
        async with pool.acquire(timeout=self.source.acquire_timeout) as conn:
            yield _PgSession(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        pool = await self._get_pool()
        async with pool.acquire(timeout=self.source.acquire_timeout) as conn, conn.transaction():
            yield _PgSession(conn)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


_MYSQL_TINY, _MYSQL_BIT = 1, 16  # FIELD_TYPE codes


def _mysql_bool(value: Any) -> bool | None:
    if value is None:
        return None
    return bool(int.from_bytes(value, "big") if isinstance(value, bytes | bytearray) else value)


class _MySession(Session):
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def _fetch(self, text: str, params: Sequence[Any], one: bool) -> list[Row]:
        cursor = self.conn.cursor()
        try:
            await cursor.execute(text, tuple(params))  # always a tuple: `%%` is unescaped by the formatting
            description = cursor.description or ()
            names = [d[0] for d in description]
            found = ([] if (row := await cursor.fetchone()) is None else [row]) if one else await cursor.fetchall()
            # Connector/J reads TINYINT(1) and BIT(1) as Boolean (tinyInt1isBit): so do we.
            flags = [d[1] in (_MYSQL_TINY, _MYSQL_BIT) and d[3] == 1 for d in description]
            if any(flags):
                found = [[_mysql_bool(v) if flag else v for v, flag in zip(row, flags, strict=True)] for row in found]
            return [Row(names, values) for values in found]
        finally:
            await cursor.close()

    async def _execute(self, text: str, params: Sequence[Any]) -> int:
        cursor = self.conn.cursor()
        try:
            await cursor.execute(text, tuple(params))
            return max(int(cursor.rowcount), 0)
        finally:
            await cursor.close()


class _MySQL(Database):
    def __init__(self, source: DataSource) -> None:
        super().__init__(source)
        self._pool: Any = None
        self._lock = asyncio.Lock()

    async def _get_pool(self) -> Any:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    import asyncmy

                    source = self.source
                    self._pool = await asyncmy.create_pool(
                        minsize=source.min_size,
                        maxsize=source.max_size,
                        host=source.host,
                        port=source.port,
                        user=source.user or "",
                        password=source.password or "",
                        db=source.database or None,
                        autocommit=True,
                        connect_timeout=source.acquire_timeout,
                        charset="utf8mb4",
                    )
        return self._pool

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        pool = await self._get_pool()
        async with asyncio.timeout(self.source.acquire_timeout):
            conn = await pool.acquire()
        try:
            yield _MySession(conn)
        except asyncio.CancelledError:
            conn.close()  # stopped mid-statement (a timeout): the protocol state is unknown, never reuse it
            raise
        finally:
            await pool.release(conn)  # a connection still in a transaction is closed, not reused

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        async with self.session() as session:
            conn = session.conn  # type: ignore[attr-defined]
            await conn.begin()
            try:
                yield session
            except asyncio.CancelledError:
                # Stopped mid-statement: no ROLLBACK on a connection whose protocol state is unknown (asyncmy
                # would raise InterfaceError in place of the cancellation); the session closes it, and the server
                # rolls the transaction back with it.
                raise
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()
            await pool.wait_closed()


def _sqlite_value(value: Any) -> Any:
    """sqlite3 binds str, int, float, bytes and None: the other JDBC types go as their canonical text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return value


class _SqliteSession(Session):
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def _fetch(self, text: str, params: Sequence[Any], one: bool) -> list[Row]:
        async with self.conn.execute(text, [_sqlite_value(p) for p in params]) as cursor:
            found = [await cursor.fetchone()] if one else await cursor.fetchall()
            names = [d[0] for d in cursor.description or ()]
        return [Row(names, tuple(values)) for values in found if values is not None]

    async def _execute(self, text: str, params: Sequence[Any]) -> int:
        async with self.conn.execute(text, [_sqlite_value(p) for p in params]) as cursor:
            return max(int(cursor.rowcount), 0)


class _Sqlite(Database):
    """aiosqlite has no pool: up to max_size connections (each on its own thread), WAL for files."""

    def __init__(self, source: DataSource) -> None:
        super().__init__(source)
        self._idle: list[Any] = []
        self._open = 0
        self._slots = asyncio.Semaphore(max(source.max_size, 1))
        self._closed = False

    async def _connect(self) -> Any:
        import aiosqlite

        path = self.source.database
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None, timeout=self.source.acquire_timeout)
        if path != ":memory:":
            await conn.execute("PRAGMA journal_mode=WAL")
        return conn

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        if self._closed:
            raise DatabaseError(f"the pool of {self.source.label} is closed")
        async with asyncio.timeout(self.source.acquire_timeout):
            await self._slots.acquire()
        conn = None
        try:
            conn = self._idle.pop() if self._idle else await self._connect()
            yield _SqliteSession(conn)
        except BaseException:
            if conn is not None and conn.in_transaction:
                await conn.rollback()
            raise
        finally:
            if conn is not None:
                if self._closed:
                    await conn.close()
                else:
                    self._idle.append(conn)
            self._slots.release()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        async with self.session() as session:
            conn = session.conn  # type: ignore[attr-defined]
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield session
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


class _RolledBack(Exception):
    """Thrown into a transaction block to end it with a rollback."""


async def _abort(stack: AsyncExitStack) -> None:
    await stack.__aexit__(_RolledBack, _RolledBack(), None)


class Transaction:
    """A transaction that spans statements of several mediators of one message (MI's `transaction` mediator):
    each data source joins on first use with a pooled connection of its own, held until commit or rollback,
    which end them all. With several data sources they commit one after the other (not a two-phase commit):
    a failure rolls back those not yet committed."""

    def __init__(self) -> None:
        self._held: dict[DataSource, tuple[AsyncExitStack, Session]] = {}
        self.active = True

    def __len__(self) -> int:
        return len(self._held)

    async def session(self, database: Database) -> Session:
        held = self._held.get(database.source)
        if held is None:
            stack = AsyncExitStack()
            session = await stack.enter_async_context(database.transaction())
            held = self._held[database.source] = (stack, session)
        return held[1]

    async def commit(self) -> None:
        self.active = False
        held, self._held = list(self._held.values()), {}
        failure: Exception | None = None
        for stack, _ in held:
            if failure is not None:
                await _abort(stack)
                continue
            try:
                await stack.aclose()
            except Exception as exc:  # noqa: BLE001 - the rest are rolled back, then the failure is raised
                failure = exc
        if failure is not None:
            raise failure

    async def rollback(self) -> None:
        self.active = False
        held, self._held = list(self._held.values()), {}
        for stack, _ in held:
            try:
                await _abort(stack)
            except Exception as exc:  # noqa: BLE001 - a broken connection is dropped by its pool
                log.warning("rolling back a transaction failed: %s", exc)


# The driver module of each dialect, and the extra that installs it.
DRIVER_MODULES: dict[Dialect, tuple[str, str]] = {
    "postgresql": ("asyncpg", "synapse-gateway[postgres]"),
    "mysql": ("asyncmy", "synapse-gateway[mysql]"),
    "sqlite": ("aiosqlite", "synapse-gateway"),
}


def missing_driver(dialect: Dialect) -> str | None:
    """None when the dialect's driver is installed, else what to install."""
    import importlib.util

    module, extra = DRIVER_MODULES[dialect]
    return None if importlib.util.find_spec(module) is not None else f"pip install '{extra}' ({module})"


_DRIVERS: dict[Dialect, type[Database]] = {"postgresql": _Postgres, "mysql": _MySQL, "sqlite": _Sqlite}


class Databases:
    """The pools of one process, by data source: created on first use, closed together at shutdown."""

    def __init__(self) -> None:
        self._pools: dict[DataSource, Database] = {}

    def get(self, source: DataSource) -> Database:
        database = self._pools.get(source)
        if database is None:
            database = self._pools[source] = _DRIVERS[source.dialect](source)
        return database

    def __len__(self) -> int:
        return len(self._pools)

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for database in pools:
            await database.close()
