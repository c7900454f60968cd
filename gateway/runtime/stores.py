"""Message stores (W: message/store/impl/*): where the `store` mediator puts a message and a processor takes it
from. A message leaves a store only when its consumer acknowledges it (after a successful delivery); one taken
and not acknowledged (a crash, a failed delivery) is handed out again: at-least-once, as in MI.

Backends, chosen by the artifact's class and parameters (gateway/deploy/stores.py):
- memory: a queue in this process (W: InMemoryStore), lost with it, as in MI;
- sqlite: a table in a local file, WAL and synchronous=FULL for puts, so an accepted message survives kill -9
  and a power cut (the embedded default for JDBCMessageStore); leases and deletes at synchronous=NORMAL
  (SqliteStore._connect);
- postgresql: the same table on PostgreSQL (jdbc:postgresql: URLs), taken with FOR UPDATE SKIP LOCKED so that
  several gateway nodes share it;
- rabbitmq: a durable queue, persistent messages, publisher confirms, manual acknowledgement (W: RabbitMQStore).
The live backends are owned by a StoreHub (one per process) and outlive hot deployments of unchanged stores.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gateway.database import Database, Databases, DataSource, compile_sql, parse_jdbc_url
from gateway.message.stored import StoredMessage

log = logging.getLogger("gateway.stores")

# A message taken and neither acknowledged nor released within this time is handed out again (a crashed node).
LEASE_SECONDS = 60.0
RENEW_CHUNK = 64  # leases renewed per statement


@dataclass(frozen=True, slots=True)
class MessageStoreSpec:
    """A deployed <messageStore>: what MI lists (name, class) and how to reach its backend."""

    name: str
    backend: str  # memory | sqlite | postgresql | mysql | rabbitmq | resequence
    mi_class: str
    parameters: tuple[tuple[str, str], ...]
    path: str = ""  # sqlite: the database file
    table: str = "JDBC_MESSAGE_STORE"
    # resequence: the compiled store.resequence.id.path and store.resequence.timeout (seconds; < 0: wait for ever)
    sequence_path: Any = field(default=None, compare=False, hash=False)
    gap_timeout: float = -1.0
    size_gauge: list[int] = field(default_factory=lambda: [0], compare=False, hash=False)

    @property
    def type(self) -> str:
        """MI's MessageStoreResource type names."""
        return _TYPES[self.backend]

    def size(self) -> int:
        return self.size_gauge[0]

    def parameter(self, name: str, default: str = "") -> str:
        for key, value in self.parameters:
            if key == name:
                return value
        return default

    @property
    def lease_seconds(self) -> float:
        """JDBC stores: how long a taken message stays hidden before another consumer may take it
        (extension: `store.jdbc.lease.seconds`, default 60); a crashed node's message comes back after it."""
        try:
            return float(self.parameter("store.jdbc.lease.seconds") or LEASE_SECONDS)
        except ValueError:
            return LEASE_SECONDS


_TYPES = {
    "memory": "in-memory-message-store",
    "sqlite": "jdbc-message-store",
    "postgresql": "jdbc-message-store",
    "mysql": "jdbc-message-store",
    "rabbitmq": "rabbitmq-message-store",
    "resequence": "jdbc-message-store",
}


class Delivery(Protocol):
    message: StoredMessage

    async def ack(self) -> None: ...

    async def release(self) -> None: ...


class StoreBackend(Protocol):
    async def put(self, message: StoredMessage) -> None: ...

    async def take(self) -> Delivery | None: ...

    async def size(self) -> int: ...

    async def close(self) -> None: ...


async def renew_leases(deliveries: list[Delivery]) -> None:
    """The holder of these deliveries is alive: push their leases on by the store's lease time, so a message that
    waits longer than the lease (for its pacing slot, for a retry) is not handed out again. One statement per
    store and chunk. In-memory deliveries have no lease; a RabbitMQ delivery stays with its channel while the
    connection lives (the broker requeues it when the channel closes), so neither needs renewing."""
    rows: dict[int, tuple[Any, list[int]]] = {}
    for delivery in deliveries:
        store = getattr(delivery, "store", None)
        row = getattr(delivery, "row", None)
        if row is None or not hasattr(store, "renew"):
            continue
        rows.setdefault(id(store), (store, []))[1].append(row)
    for store, held in rows.values():
        for start in range(0, len(held), RENEW_CHUNK):
            await store.renew(held[start : start + RENEW_CHUNK])


def _renew_sql(table: str) -> str:
    """Renew up to RENEW_CHUNK leases (the list padded with its last row); a released row (lease 0) stays
    released, so a renewal that crosses a release does not hide the message again."""
    marks = ", ".join("?" * RENEW_CHUNK)
    return f"UPDATE {table} SET lease_until = ? WHERE lease_until > 0 AND indexId IN ({marks})"


def _renew_args(until: float, rows: list[int]) -> tuple[Any, ...]:
    return (until, *rows, *([rows[-1]] * (RENEW_CHUNK - len(rows))))


class StoreError(Exception):
    """The store could not take or give a message."""


# -- in memory ------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _MemoryDelivery:
    message: StoredMessage
    store: MemoryStore
    done: bool = False

    async def ack(self) -> None:
        self.done = True
        self.store.taken.discard(id(self))
        self.store.spec.size_gauge[0] = len(self.store.queue) + len(self.store.taken)

    async def release(self) -> None:
        if not self.done:
            self.done = True
            self.store.taken.discard(id(self))
            self.store.queue.appendleft(self.message)  # first in line again: order is kept


class MemoryStore:
    def __init__(self, spec: MessageStoreSpec) -> None:
        self.spec = spec
        self.queue: collections.deque[StoredMessage] = collections.deque()
        self.taken: set[int] = set()

    async def put(self, message: StoredMessage) -> None:
        self.queue.append(message)
        self.spec.size_gauge[0] = len(self.queue) + len(self.taken)

    async def take(self) -> Delivery | None:
        if not self.queue:
            return None
        delivery = _MemoryDelivery(self.queue.popleft(), self)
        self.taken.add(id(delivery))
        return delivery

    async def size(self) -> int:
        return len(self.queue) + len(self.taken)

    async def close(self) -> None:
        return None


# -- SQLite (the embedded JDBC store) --------------------------------------------------------------------
_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {table} (indexId INTEGER PRIMARY KEY AUTOINCREMENT, store TEXT NOT NULL, "
    "msg_id TEXT NOT NULL, message BLOB NOT NULL, lease_until REAL NOT NULL DEFAULT 0)"
)


@dataclass(slots=True)
class _RowDelivery:
    message: StoredMessage
    row: int
    store: SqliteStore | ServerStore

    async def ack(self) -> None:
        await self.store.remove(self.row)

    async def ack_and_take(self) -> Delivery | None:
        """Acknowledge this message and lease the store's next one, in one commit (settle_and_take)."""
        return await self.store.settle_and_take(self.row)

    async def release(self) -> None:
        await self.store.unlease(self.row)


class SqliteStore:
    def __init__(self, spec: MessageStoreSpec) -> None:
        self.spec = spec
        self._db: Any = None  # puts: synchronous=FULL
        self._ops: sqlite3.Connection | None = None  # leases, acknowledgements: synchronous=NORMAL (_connect)
        self._thread: ThreadPoolExecutor | None = None  # the one thread that uses _ops
        self._lock = asyncio.Lock()  # one writer of this process at a time, whichever connection
        self._opening = asyncio.Lock()
        self._connecting: asyncio.Future[Any] | None = None
        self._pending: list[tuple[StoredMessage, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.table = _identifier(spec.table)
        self._peek: sqlite3.Connection | None = None
        self._peek_sql = f"SELECT 1 FROM {self.table} WHERE store = ? AND lease_until < ? LIMIT 1"
        self._take_sql = (
            f"UPDATE {self.table} SET lease_until = ? WHERE indexId IN (SELECT indexId FROM {self.table} "
            "WHERE store = ? AND lease_until < ? ORDER BY indexId LIMIT ?) RETURNING indexId, message"
        )

    async def _open(self) -> sqlite3.Connection:
        """The connection of the leases and acknowledgements (both connections open)."""
        if self._ops is not None:
            return self._ops
        async with self._opening:
            if self._ops is None:
                # Shielded: a consumer cancelled mid-connect (shutdown) must not orphan the connections'
                # threads; close() waits for them and closes them.
                self._connecting = asyncio.ensure_future(self._connect())
                self._db, self._ops = await asyncio.shield(self._connecting)
                self.spec.size_gauge[0] = await self.size()
            return self._ops

    async def _connect(self) -> tuple[Any, sqlite3.Connection]:
        """Two connections to the file (WAL). Puts commit on one with synchronous=FULL: the WAL is fsynced at
        each commit, so a message is on disk before its client's 202. Leases, their renewals and releases, and
        acknowledgements (deletes) commit on the other with synchronous=NORMAL: written to the WAL at once (so
        the other processes on the file see them, and they survive the process's kill -9) and fsynced with the
        next put's commit or checkpoint. A power cut may undo the last of them: a lease undone belonged to a
        process that died with it, and a delete undone makes a delivered message come again, which at-least-once
        allows (as a kill between the delivery and its delete does). Nothing accepted is lost.
        The second connection is a plain sqlite3 one whose work runs in a worker thread, a whole transaction in
        one hop (_run): a forwarded message's settle is one hop, not the five or six of aiosqlite's calls."""
        import aiosqlite

        Path(self.spec.path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.spec.path, timeout=30, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")  # acknowledged means on disk
            await db.execute(_SQLITE_SCHEMA.format(table=self.table))
            await db.execute(f"CREATE INDEX IF NOT EXISTS {self.table}_store ON {self.table} (store, indexId)")
            ops = await asyncio.get_running_loop().run_in_executor(None, self._connect_ops)
        except BaseException:
            await db.close()
            raise
        return db, ops

    def _connect_ops(self) -> sqlite3.Connection:
        ops = sqlite3.connect(self.spec.path, timeout=30, isolation_level=None, check_same_thread=False)
        ops.execute("PRAGMA synchronous=NORMAL")  # see _connect
        return ops

    async def _run(self, work: Any, *args: Any, undo: Any = None) -> Any:
        """`work(ops, *args)` in the store's thread, under the write lock: one hop, a plain future (no task). A
        caller cancelled meanwhile leaves the lock only once the thread is done with the connection, and what a
        completed `work` did is undone by `undo(ops, result)` (a lease nobody will use: released at once)."""
        ops = await self._open()
        async with self._lock:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"store {self.spec.name}")
            job = self._thread.submit(work, ops, *args)
            try:
                return await asyncio.wrap_future(job)
            except asyncio.CancelledError:
                with contextlib.suppress(BaseException):  # not started: cancelled with the caller
                    result = await asyncio.wrap_future(job)
                    if undo is not None:
                        await asyncio.wrap_future(self._thread.submit(undo, ops, result))
                raise

    async def put(self, message: StoredMessage) -> None:
        """Group commit: puts that arrive while a commit is under way go into the next transaction together,
        so each waits for one fsync, not one per message; every put returns only after its commit."""
        await self._open()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((message, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        db = self._db
        while self._pending:
            batch, self._pending = self._pending, []
            rows = [(self.spec.name, message.message_id, message.to_bytes()) for message, _ in batch]
            try:
                async with self._lock:
                    await db.execute("BEGIN IMMEDIATE")
                    try:
                        await db.executemany(
                            f"INSERT INTO {self.table} (store, msg_id, message) VALUES (?, ?, ?)", rows
                        )
                        await db.execute("COMMIT")
                    except BaseException:
                        await db.execute("ROLLBACK")
                        raise
            except Exception as exc:  # every put of the batch fails with it: none was stored
                for _, done in batch:
                    if not done.done():
                        done.set_exception(StoreError(f"{type(exc).__name__}: {exc}"))
                continue
            self.spec.size_gauge[0] += len(batch)
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def take(self) -> Delivery | None:
        taken = await self.take_many(1)
        return taken[0] if taken else None

    def _may_take(self, now: float) -> bool:
        """Whether a message may be there to take. A processor polls an empty store every interval, in every
        worker; as the lease below, each poll was a write transaction (the file's write lock, which the other
        workers' puts then wait for) and a round trip to aiosqlite's thread (~0.1 ms of CPU: 0.27 of a core
        for two workers polling every millisecond). This read runs on a connection of its own, in this thread:
        a few µs on the (store, indexId) index, and it never waits (a WAL reader does not wait for writers;
        timeout 0: a busy file answers "maybe", and the lease decides)."""
        try:
            if self._peek is None:
                self._peek = sqlite3.connect(self.spec.path, timeout=0, isolation_level=None)
                self._peek.execute("PRAGMA query_only = 1")
            # fetchall, not fetchone: the statement runs to its end, so no read transaction stays open (one
            # would keep the WAL from being checkpointed).
            return bool(self._peek.execute(self._peek_sql, (self.spec.name, now)).fetchall())
        except sqlite3.Error:
            return True

    async def take_many(self, count: int) -> list[Delivery]:
        """Up to `count` messages in store order, leased together (one transaction)."""
        await self._open()
        now = time.time()
        if not self._may_take(now):
            return []
        rows = await self._run(self._lease_rows, now, count, undo=self._unlease_rows)
        return [_RowDelivery(StoredMessage.from_bytes(row[1]), row[0], self) for row in sorted(rows)]

    def _lease_rows(self, ops: sqlite3.Connection, now: float, count: int) -> list[Any]:
        # One statement: safe against other processes on the same file (SQLite serialises writers).
        lease = now + self.spec.lease_seconds
        return ops.execute(self._take_sql, (lease, self.spec.name, now, max(1, count))).fetchall()

    async def settle_and_take(self, row: int) -> Delivery | None:
        """Delete the delivered message `row` and lease the next one in store order, in one transaction: one
        commit (one fsync) a forwarded message instead of two, and one wait for the file's write lock, which the
        puts of the other workers wait for too. Safe: `row` was delivered, so deleting it is right whatever
        follows, and a lease whose holder dies ends by itself (lease expiry), as for a take."""
        rows = await self._run(self._settle_rows, row, time.time(), undo=self._unlease_rows)
        self.spec.size_gauge[0] = max(0, self.spec.size_gauge[0] - 1)
        return _RowDelivery(StoredMessage.from_bytes(rows[0][1]), rows[0][0], self) if rows else None

    def _unlease_rows(self, ops: sqlite3.Connection, rows: list[Any]) -> None:
        for row in rows:
            ops.execute(f"UPDATE {self.table} SET lease_until = 0 WHERE indexId = ?", (row[0],)).close()

    def _settle_rows(self, ops: sqlite3.Connection, row: int, now: float) -> list[Any]:
        ops.execute("BEGIN IMMEDIATE")
        try:
            ops.execute(f"DELETE FROM {self.table} WHERE indexId = ?", (row,))
            rows = self._lease_rows(ops, now, 1)
            ops.execute("COMMIT")
        except BaseException:
            ops.execute("ROLLBACK")
            raise
        return rows

    async def renew(self, rows: list[int]) -> None:
        args = _renew_args(time.time() + self.spec.lease_seconds, rows)
        await self._run(lambda ops: ops.execute(_renew_sql(self.table), args).close())

    async def remove(self, row: int) -> None:
        await self._run(lambda ops: ops.execute(f"DELETE FROM {self.table} WHERE indexId = ?", (row,)).close())
        self.spec.size_gauge[0] = max(0, self.spec.size_gauge[0] - 1)

    async def unlease(self, row: int) -> None:
        sql = f"UPDATE {self.table} SET lease_until = 0 WHERE indexId = ?"
        await self._run(lambda ops: ops.execute(sql, (row,)).close())

    async def size(self) -> int:
        sql = f"SELECT COUNT(*) FROM {self.table} WHERE store = ?"
        found = await self._run(lambda ops: ops.execute(sql, (self.spec.name,)).fetchone())
        return int(found[0]) if found else 0

    async def close(self) -> None:
        connections = (self._db, self._ops)
        if self._ops is None and self._connecting is not None:
            try:
                connections = await self._connecting
            except Exception:  # noqa: BLE001 - it never opened: nothing to close
                connections = (None, None)
        self._db = self._ops = self._connecting = None
        if self._peek is not None:
            self._peek.close()
            self._peek = None
        db, ops = connections
        if ops is not None:
            async with self._lock:  # no job of _run is on it
                ops.close()
        if self._thread is not None:
            self._thread.shutdown(wait=False)
            self._thread = None
        if db is not None:
            await db.close()


# -- PostgreSQL, MySQL / MariaDB (through the database layer) -----------------------------------------------
_SCHEMAS = {
    "postgresql": (
        # Two nodes may create the table at once: serialise on an advisory lock (same transaction).
        "SELECT pg_advisory_xact_lock(hashtext(?))",
        "CREATE TABLE IF NOT EXISTS {table} (indexId BIGSERIAL PRIMARY KEY, store TEXT NOT NULL, "
        "msg_id TEXT NOT NULL, message BYTEA NOT NULL, lease_until DOUBLE PRECISION NOT NULL DEFAULT 0)",
    ),
    "mysql": (
        "CREATE TABLE IF NOT EXISTS {table} (indexId BIGINT AUTO_INCREMENT PRIMARY KEY, store VARCHAR(255) "
        "NOT NULL, msg_id VARCHAR(255) NOT NULL, message LONGBLOB NOT NULL, lease_until DOUBLE NOT NULL "
        "DEFAULT 0, INDEX {table}_store (store, indexId))",
    ),
}


class _TableStore:
    """What the JDBC table stores share: the data source from store.jdbc.* (or an SQLite file), the table made
    on first use, lease renewal, the count and the pool."""

    def __init__(self, spec: MessageStoreSpec, schema: Sequence[str]) -> None:
        self.spec = spec
        self.table = _identifier(spec.table)
        if spec.path:
            self.source = DataSource("sqlite", database=spec.path)
        else:
            self.source = parse_jdbc_url(
                spec.parameter("store.jdbc.connection.url"),
                user=spec.parameter("store.jdbc.username") or None,
                password=spec.parameter("store.jdbc.password") or None,
            )
        self._databases = Databases()
        self._ready = False
        self._opening = asyncio.Lock()
        t, dialect = self.table, self.source.dialect
        self._schema = [compile_sql(text.format(table=t), dialect) for text in schema]
        self._lease = compile_sql(f"UPDATE {t} SET lease_until = ? WHERE indexId = ?", dialect)
        self._renew = compile_sql(_renew_sql(t), dialect)
        self._delete = compile_sql(f"DELETE FROM {t} WHERE indexId = ?", dialect)
        self._count = compile_sql(f"SELECT COUNT(*) FROM {t} WHERE store = ?", dialect)

    async def _db(self) -> Database:
        database = self._databases.get(self.source)
        if not self._ready:
            async with self._opening:
                if not self._ready:
                    async with database.transaction() as session:
                        for sql in self._schema:
                            await session.execute(sql, (self.table,) if sql.count else ())
                    self._ready = True
                    self.spec.size_gauge[0] = await self.size()
        return database

    async def renew(self, rows: list[int]) -> None:
        database = await self._db()
        async with database.session() as session:
            await session.execute(self._renew, _renew_args(time.time() + self.spec.lease_seconds, rows))

    async def size(self) -> int:
        database = self._databases.get(self.source) if self._ready else await self._db()
        async with database.session() as session:
            row = await session.first(self._count, (self.spec.name,))
        return int(row.get(1)) if row is not None else 0

    async def close(self) -> None:
        await self._databases.close()


class ServerStore(_TableStore):
    """jdbc:postgresql:, jdbc:mysql: and jdbc:mariadb: URLs, on gateway.database's pooled connections. A message
    is taken with SELECT … FOR UPDATE SKIP LOCKED (PostgreSQL, MySQL 8+, MariaDB 10.6+), so nodes share the
    table."""

    def __init__(self, spec: MessageStoreSpec) -> None:
        super().__init__(spec, _SCHEMAS[parse_jdbc_url(spec.parameter("store.jdbc.connection.url")).dialect])
        t, dialect = self.table, self.source.dialect
        self._insert = compile_sql(f"INSERT INTO {t} (store, msg_id, message) VALUES (?, ?, ?)", dialect)
        self._select = compile_sql(
            f"SELECT indexId, message FROM {t} WHERE store = ? AND lease_until < ? ORDER BY indexId LIMIT 1 "
            "FOR UPDATE SKIP LOCKED",
            dialect,
        )

    async def put(self, message: StoredMessage) -> None:
        database = await self._db()
        async with database.transaction() as session:
            await session.execute(self._insert, (self.spec.name, message.message_id, message.to_bytes()))
        self.spec.size_gauge[0] += 1

    async def take(self) -> Delivery | None:
        database = await self._db()
        now = time.time()
        async with database.transaction() as session:
            row = await session.first(self._select, (self.spec.name, now))
            if row is None:
                return None
            index = int(row.get(1))
            await session.execute(self._lease, (now + self.spec.lease_seconds, index))
        return _RowDelivery(StoredMessage.from_bytes(bytes(row.get(2))), index, self)

    async def remove(self, row: int) -> None:
        database = await self._db()
        async with database.session() as session:
            await session.execute(self._delete, (row,))
        self.spec.size_gauge[0] = max(0, self.spec.size_gauge[0] - 1)

    async def settle_and_take(self, row: int) -> Delivery | None:
        """Delete the delivered message `row` and lease the next one (SKIP LOCKED), in one transaction: one
        commit a forwarded message instead of two (see SqliteStore.settle_and_take)."""
        # Shielded: a processor stopped meanwhile gets no message, so one leased by a completed call is released.
        call = asyncio.ensure_future(self._settle_and_take(row))
        try:
            found = await asyncio.shield(call)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                leased = await call
                if leased is not None:
                    await self.unlease(int(leased.get(1)))
            raise
        self.spec.size_gauge[0] = max(0, self.spec.size_gauge[0] - 1)
        if found is None:
            return None
        return _RowDelivery(StoredMessage.from_bytes(bytes(found.get(2))), int(found.get(1)), self)

    async def _settle_and_take(self, row: int) -> Any:
        database = await self._db()
        now = time.time()
        async with database.transaction() as session:
            await session.execute(self._delete, (row,))
            found = await session.first(self._select, (self.spec.name, now))
            if found is not None:
                await session.execute(self._lease, (now + self.spec.lease_seconds, int(found.get(1))))
        return found

    async def unlease(self, row: int) -> None:
        database = await self._db()
        async with database.session() as session:
            await session.execute(self._lease, (0, row))


# -- RabbitMQ ---------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _AmqpDelivery:
    message: StoredMessage
    incoming: Any
    spec: MessageStoreSpec

    async def ack(self) -> None:
        await self.incoming.ack()
        self.spec.size_gauge[0] = max(0, self.spec.size_gauge[0] - 1)

    async def release(self) -> None:
        await self.incoming.nack(requeue=True)


def _json_properties(message_id: str) -> bytes:
    """The marshalled Basic.Properties of a stored message (JSON, persistent, the message id), without pamqp's
    generic per-field encoder: the same bytes (flags content-type|delivery-mode|message-id, then the values)."""
    encoded = message_id.encode()
    if len(encoded) > 255:  # not a short string: let pamqp encode (and refuse) it
        from pamqp.commands import Basic

        properties = Basic.Properties(content_type="application/json", delivery_mode=2, message_id=message_id)
        return bytes(properties.marshal())
    return b"\x90\x80\x10application/json\x02" + bytes((len(encoded),)) + encoded


_FRAME_END = b"\xce"


class _Batch:
    """The frames of consecutive publishes, put in the connection's write queue at the first of them. aiormq's
    writer reads `payload` when it takes the batch (on the next loop turn), so every publish made until then
    leaves in the same write: the first publish is not held back for a later flush, and the rest cost no send
    of their own. Duck-typed as aiormq's ChannelFrame (its writer reads payload, should_close, should_drain)."""

    __slots__ = ("parts", "taken", "channel")
    should_close = False
    should_drain = False

    def __init__(self, channel: Any, first: bytes) -> None:
        self.channel = channel
        self.parts = [first]
        self.taken = False

    @property
    def payload(self) -> bytes:
        self.taken = True
        if self.channel.is_closed:  # the broker closed the channel meanwhile: frames on it would end the connection
            return b""
        return b"".join(self.parts)

    def drain(self) -> None:
        """Nothing waits for a batch to reach the socket: each publish waits for its own confirm."""


class _Publisher:
    """Publishes stored messages on one aiormq channel with publisher confirms, many in flight, their frames
    written together (`_Batch`: one send for the publishes of a loop turn, the first not delayed), each
    marshalled directly (the Basic.Publish frame is the same for every message of the store; the content header
    and body frames are the bytes pamqp makes, checked by a test).

    Each publish takes the channel's next delivery tag and registers its confirmation the way aiormq's
    basic_publish does (so aiormq's reader settles it: an ack, a nack, a mandatory return, the channel closing),
    and the frames leave in tag order. This is the only publisher on the store's channel."""

    def __init__(self, channel: Any, exchange: str, routing_key: str) -> None:
        import pamqp.frame
        from pamqp.commands import Basic

        self.channel = channel
        number = channel.number
        self._method = pamqp.frame.marshal(
            Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=True), number
        )
        self._number = number.to_bytes(2, "big")
        self._max_content = channel.max_content_size
        self._batch: _Batch | None = None
        self._blocked: asyncio.Task[None] | None = None  # a full write queue: the batch waits to enter it

    def publish(self, body: bytes, message_id: str) -> asyncio.Future[Any]:
        """Queue one persistent JSON message; the future is the broker's answer (Basic.Ack, or a returned
        message), or fails (a nack, the channel closed)."""
        channel = self.channel
        properties = _json_properties(message_id)
        header = (
            b"\x00\x3c\x00\x00" + len(body).to_bytes(8, "big") + properties  # class 60 (basic), weight 0, size
        )
        parts = [self._method, b"\x02", self._number, len(header).to_bytes(4, "big"), header, _FRAME_END]
        step = self._max_content
        if not body:
            pass  # no body frame, as aiormq
        elif len(body) < step:
            parts += (b"\x03", self._number, len(body).to_bytes(4, "big"), body, _FRAME_END)
        else:
            for start in range(0, len(body), step):
                chunk = body[start : start + step]
                parts += (b"\x03", self._number, len(chunk).to_bytes(4, "big"), chunk, _FRAME_END)
        # As aiormq's basic_publish: the next delivery tag, its confirmation future, the message id a mandatory
        # return is matched by. No await from here until the frames are queued: the tags stay in write order.
        channel.delivery_tag += 1
        tag = channel.delivery_tag
        confirmation: asyncio.Future[Any] = channel.create_future()
        channel.confirmations[tag] = confirmation
        returns = channel.message_id_delivery_tag
        returns[message_id] = tag

        def forget(_: asyncio.Future[Any]) -> None:
            if returns.get(message_id) == tag:
                del returns[message_id]

        confirmation.add_done_callback(forget)
        self._queue(b"".join(parts))
        return confirmation

    def _queue(self, frames: bytes) -> None:
        batch = self._batch
        if batch is not None and not batch.taken:
            batch.parts.append(frames)  # not written yet (in the write queue, or waiting to enter it)
            return
        batch = self._batch = _Batch(self.channel, frames)
        try:
            self.channel.write_queue.put_nowait(batch)
        except asyncio.QueueFull:
            self._blocked = asyncio.get_running_loop().create_task(self._put_later(batch))

    async def _put_later(self, batch: _Batch) -> None:
        try:
            await self.channel.write_queue.put(batch)  # later publishes join this batch meanwhile
        finally:
            self._blocked = None


class RabbitMQStore:
    """W: RabbitMQStore's parameters: store.rabbitmq.host.name, .host.port, .queue.name, .exchange.name,
    .route.key, .username, .password, .virtual.host."""

    def __init__(self, spec: MessageStoreSpec) -> None:
        self.spec = spec
        self._connection: Any = None
        self._channel: Any = None
        self._queue: Any = None
        self._exchange: Any = None
        self._publisher: _Publisher | None = None
        self._opening = asyncio.Lock()
        self.queue_name = spec.parameter("store.rabbitmq.queue.name") or spec.name
        self.route_key = spec.parameter("store.rabbitmq.route.key") or self.queue_name

    async def _open(self) -> None:
        async with self._opening:
            if self._channel is not None:
                return
            import aio_pika

            p = self.spec.parameter
            self._connection = await aio_pika.connect_robust(
                host=p("store.rabbitmq.host.name", "localhost"),
                port=int(p("store.rabbitmq.host.port", "5672") or 5672),
                login=p("store.rabbitmq.username", "guest"),
                password=p("store.rabbitmq.password", "guest"),
                virtualhost=p("store.rabbitmq.virtual.host", "/") or "/",
            )
            channel = await self._connection.channel(publisher_confirms=True)
            self._queue = await channel.declare_queue(self.queue_name, durable=True)
            exchange_name = p("store.rabbitmq.exchange.name")
            if exchange_name:
                self._exchange = await channel.declare_exchange(
                    exchange_name, aio_pika.ExchangeType.DIRECT, durable=True
                )
                await self._queue.bind(self._exchange, self.route_key)
            else:
                self._exchange = channel.default_exchange
            self._channel = channel
            self.spec.size_gauge[0] = await self.size()

    async def put(self, message: StoredMessage) -> None:
        if self._channel is None:
            await self._open()
        from pamqp.commands import Basic

        # Not aio-pika's publish (its Message object, and `wait=True`: the channel lock held until the frame is
        # on the socket, so one publish at a time): the store's _Publisher writes the publishes of one loop turn
        # together, the first at once, each waiting for its own publisher confirm, many in flight. `mandatory`:
        # a message no queue takes comes back instead of being acked.
        publisher = self._publisher
        if publisher is None or publisher.channel.is_closed:  # first use, or the channel went (a reconnect)
            if self._channel.is_closed:  # the broker is away (a robust connection reconnects): fail now
                raise StoreError(f"the channel to the broker for queue {self.queue_name!r} is closed")
            channel = await self._channel.get_underlay_channel()
            if publisher is None or publisher.channel is not channel:
                publisher = self._publisher = _Publisher(channel, self._exchange.name, self.route_key)
        confirm = await publisher.publish(message.to_bytes(), message.message_id or uuid.uuid4().hex)
        if not isinstance(confirm, Basic.Ack):  # a returned message; a Nack raises DeliveryError
            raise StoreError(f"the broker did not route the message to queue {self.queue_name!r}")
        self.spec.size_gauge[0] += 1

    async def take(self) -> Delivery | None:
        await self._open()
        incoming = await self._queue.get(no_ack=False, fail=False)
        if incoming is None:
            return None
        return _AmqpDelivery(StoredMessage.from_bytes(incoming.body), incoming, self.spec)

    async def size(self) -> int:
        await self._open() if self._channel is None else None
        declared = await self._channel.declare_queue(self.queue_name, durable=True, passive=True)
        return int(declared.declaration_result.message_count or 0)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = self._channel = self._publisher = None


# -- resequencing (W: ResequenceMessageStore) ------------------------------------------------------------
_LAST_TABLE = "tbl_lastprocessid"  # MI's table of the last sequence number each store handed out and saw acked
_LAST_SCHEMA = f"CREATE TABLE IF NOT EXISTS {_LAST_TABLE} (statement VARCHAR(255) PRIMARY KEY, seq_id BIGINT NOT NULL)"
_RESEQUENCE_SCHEMAS = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS {table} (indexId INTEGER PRIMARY KEY AUTOINCREMENT, store TEXT NOT NULL, "
        "msg_id TEXT NOT NULL, seq_id INTEGER NOT NULL, message BLOB NOT NULL, lease_until REAL NOT NULL DEFAULT 0)",
        "CREATE INDEX IF NOT EXISTS {table}_seq ON {table} (store, seq_id)",
        _LAST_SCHEMA,
    ),
    "postgresql": (
        "SELECT pg_advisory_xact_lock(hashtext(?))",
        "CREATE TABLE IF NOT EXISTS {table} (indexId BIGSERIAL PRIMARY KEY, store TEXT NOT NULL, msg_id TEXT NOT "
        "NULL, seq_id BIGINT NOT NULL, message BYTEA NOT NULL, lease_until DOUBLE PRECISION NOT NULL DEFAULT 0)",
        "CREATE INDEX IF NOT EXISTS {table}_seq ON {table} (store, seq_id)",
        _LAST_SCHEMA,
    ),
    "mysql": (
        "CREATE TABLE IF NOT EXISTS {table} (indexId BIGINT AUTO_INCREMENT PRIMARY KEY, store VARCHAR(255) NOT "
        "NULL, msg_id VARCHAR(255) NOT NULL, seq_id BIGINT NOT NULL, message LONGBLOB NOT NULL, lease_until DOUBLE "
        "NOT NULL DEFAULT 0, INDEX {table}_seq (store, seq_id))",
        _LAST_SCHEMA,
    ),
}
_INSERT_LAST = f"INSERT INTO {_LAST_TABLE} (statement, seq_id) VALUES (?, ?) "
_UPSERT_LAST_STANDARD = _INSERT_LAST + "ON CONFLICT (statement) DO UPDATE SET seq_id = excluded.seq_id"
_UPSERT_LAST = {
    "sqlite": _UPSERT_LAST_STANDARD,
    "postgresql": _UPSERT_LAST_STANDARD,
    "mysql": _INSERT_LAST + "ON DUPLICATE KEY UPDATE seq_id = VALUES(seq_id)",
}


@dataclass(slots=True)
class _SequencedDelivery:
    message: StoredMessage
    row: int
    sequence: int
    store: ResequenceStore

    async def ack(self) -> None:
        await self.store.remove(self.row, self.sequence)

    async def release(self) -> None:
        await self.store.unlease(self.row, self.sequence)


class ResequenceStore(_TableStore):
    """W: ResequenceMessageStore, a JDBC store that hands its messages out in the order of a number each one
    carries (store.resequence.id.path). It gives the message numbered one more than the last one acknowledged
    (kept in tbl_lastprocessid, so the order survives a restart); when that one is missing it waits, and once
    store.resequence.timeout seconds have passed since the last message it skips the gap and goes on from the
    lowest number stored. As in MI the expected number lives in the consumer: one processor reads the store."""

    def __init__(self, spec: MessageStoreSpec) -> None:
        dialect = "sqlite" if spec.path else parse_jdbc_url(spec.parameter("store.jdbc.connection.url")).dialect
        super().__init__(spec, _RESEQUENCE_SCHEMAS[dialect])
        self._taking = asyncio.Lock()
        self._next: int | None = None
        self._deadline = time.monotonic() + spec.gap_timeout if spec.gap_timeout >= 0 else -1.0
        t, dialect = self.table, self.source.dialect
        lock = " FOR UPDATE SKIP LOCKED" if dialect != "sqlite" else ""
        self._insert = compile_sql(f"INSERT INTO {t} (store, msg_id, seq_id, message) VALUES (?, ?, ?, ?)", dialect)
        columns = f"SELECT indexId, seq_id, message FROM {t} WHERE store = ? AND lease_until < ?"
        self._select_next = compile_sql(f"{columns} AND seq_id = ? ORDER BY indexId LIMIT 1{lock}", dialect)
        self._select_lowest = compile_sql(f"{columns} ORDER BY seq_id, indexId LIMIT 1{lock}", dialect)
        self._last = compile_sql(f"SELECT seq_id FROM {_LAST_TABLE} WHERE statement = ?", dialect)
        self._set_last = compile_sql(_UPSERT_LAST[dialect], dialect)

    async def put(self, message: StoredMessage) -> None:
        raise StoreError("a resequencing store needs each message's sequence number (store.resequence.id.path)")

    async def put_numbered(self, message: StoredMessage, sequence: int) -> None:
        database = await self._db()
        async with database.transaction() as session:
            await session.execute(self._insert, (self.spec.name, message.message_id, sequence, message.to_bytes()))
        self.spec.size_gauge[0] += 1

    async def take(self) -> Delivery | None:
        async with self._taking:
            database = await self._db()
            if self._next is None:  # W: readStartId: one after the last acknowledged
                async with database.session() as session:
                    last = await session.first(self._last, (self.spec.name,))
                self._next = (int(last.get(1)) if last is not None else 0) + 1
            now = time.time()
            async with database.transaction() as session:
                row = await session.first(self._select_next, (self.spec.name, now, self._next))
                if row is None and self._deadline >= 0 and time.monotonic() > self._deadline:
                    # W: getMessageWithMinimumSequence: the gap waited long enough; go on from the lowest.
                    row = await session.first(self._select_lowest, (self.spec.name, now))
                if row is None:
                    return None
                index, sequence = int(row.get(1)), int(row.get(2))
                await session.execute(self._lease, (now + self.spec.lease_seconds, index))
            self._next = sequence + 1
            if self.spec.gap_timeout >= 0:
                self._deadline = time.monotonic() + self.spec.gap_timeout
            return _SequencedDelivery(StoredMessage.from_bytes(bytes(row.get(3))), index, sequence, self)

    async def remove(self, row: int, sequence: int) -> None:
        database = await self._db()
        async with database.transaction() as session:  # W: removeMessageStatement: delete and record, together
            await session.execute(self._delete, (row,))
            await session.execute(self._set_last, (self.spec.name, sequence))
        self.spec.size_gauge[0] = max(0, self.spec.size_gauge[0] - 1)

    async def unlease(self, row: int, sequence: int) -> None:
        database = await self._db()
        async with database.session() as session:
            await session.execute(self._lease, (0, row))
        async with self._taking:  # handed out again first
            if self._next is not None and sequence < self._next:
                self._next = sequence


async def sequence_number(spec: MessageStoreSpec, ctx: Any) -> int:
    """W: ResequenceMessageStore.getMessageSequenceId: store.resequence.id.path on the message, a whole number."""
    if ctx is None or spec.sequence_path is None:
        raise StoreError(f"message store {spec.name} needs the message to read its sequence number")
    await ctx.payload.read()
    text = spec.sequence_path.string_value(ctx)
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        raise StoreError(
            f"store.resequence.id.path gave {text!r}, not a whole number: message store {spec.name} cannot place "
            "the message in its sequence"
        ) from None


_BACKENDS: dict[str, type[MemoryStore | SqliteStore | ServerStore | RabbitMQStore | ResequenceStore]] = {
    "memory": MemoryStore,
    "sqlite": SqliteStore,
    "postgresql": ServerStore,
    "mysql": ServerStore,
    "rabbitmq": RabbitMQStore,
    "resequence": ResequenceStore,
}


def _identifier(name: str) -> str:
    """A table name from the configuration goes into SQL text, so it must be a plain identifier."""
    if not name.replace("_", "").isalnum():
        raise StoreError(f"table name {name!r} is not a plain SQL identifier")
    return name


class StoreHub:
    """The live store backends of this process, one per store definition; a hot deployment that leaves a store
    unchanged keeps its backend (and an in-memory store its messages)."""

    def __init__(self) -> None:
        self._live: dict[tuple[str, str, tuple[tuple[str, str], ...]], StoreBackend] = {}
        self._counter = itertools.count()

    def backend(self, spec: MessageStoreSpec) -> StoreBackend:
        key = (spec.name, spec.backend, spec.parameters)
        live = self._live.get(key)
        if live is None:
            live = self._live[key] = _BACKENDS[spec.backend](spec)
        else:
            gauge = getattr(live, "spec", spec).size_gauge
            spec.size_gauge[0] = gauge[0]
            live.spec = spec  # type: ignore[attr-defined]  # the newly deployed spec reports the size
        return live

    async def put(self, spec: MessageStoreSpec, message: StoredMessage, ctx: Any = None) -> None:
        """Store a message; `ctx` (the message as a context) gives a resequencing store its sequence number."""
        try:
            backend = self.backend(spec)
            if isinstance(backend, ResequenceStore):
                await backend.put_numbered(message, await sequence_number(spec, ctx))
            else:
                await backend.put(message)
        except StoreError:
            raise
        except Exception as exc:  # a broker or database error: the message was not stored
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        for backend in self._live.values():
            try:
                await backend.close()
            except Exception as exc:  # noqa: BLE001 - closing the others matters more
                log.warning("closing a message store failed: %s", exc)
        self._live.clear()


def default_sqlite_path(root: str | None, name: str) -> str:
    """Where an embedded JDBC store keeps its file when its URL names none: beside the artifacts."""
    base = Path(root) if root else Path(os.getcwd())
    return str(base / ".gateway" / "message-stores.sqlite3")
