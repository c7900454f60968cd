"""`dblookup` and `dbreport` (W: mediators/db/{AbstractDBMediator,DBLookupMediator,DBReportMediator,Statement}).

Each statement is sent with bound parameters through the process's pool for its data source
(`ctx.exchange.services.databases`, see gateway/database.py). `dblookup` sets the properties of its `<result>`s
from the first row (a NULL column sets nothing, no row sets nothing); `dbreport` runs updates and sets
DBREPORT_MODIFIED_RAW_COUNT, each statement committed on its own, or all of them in one transaction with
`useTransaction="true"`. Any driver error is a fault with MI's message."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from gateway.database import Database, Session, Sql, Transaction, java_string
from gateway.errors import MediationError
from gateway.mediators.base import Mediator

if TYPE_CHECKING:
    from gateway.database import DataSource
    from gateway.errors import SourceLocation
    from gateway.expressions import Expression
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.mediator.transaction")
MODIFIED_ROW_COUNT = "DBREPORT_MODIFIED_RAW_COUNT"  # W: DBReportMediator.MODIFIED_ROW_COUNT_PROP_NAME


def _integer(bits: int) -> Callable[[str], int]:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def convert(text: str) -> int:
        number = int(text.strip())  # Java's parseInt: no decimals, no blanks around (trimmed here)
        if not low <= number <= high:
            raise ValueError(f'Value out of range. Value:"{text}"')
        return number

    return convert


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"'{text}' is not a decimal number") from None


def _timestamp(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.strip())  # Timestamp.valueOf: yyyy-mm-dd hh:mm:ss[.f…]


# W: AbstractDBMediator.getPreparedStatement: the JDBC type of a parameter → how its string is bound.
# An empty or missing value binds NULL for every type.
CONVERTERS: dict[str, Callable[[str], Any]] = {
    "CHAR": str,
    "VARCHAR": str,
    "LONGVARCHAR": str,
    "NUMERIC": _decimal,
    "DECIMAL": _decimal,
    "BIT": lambda text: text.lower() == "true",  # Boolean.parseBoolean
    "TINYINT": _integer(8),
    "SMALLINT": _integer(16),
    "INTEGER": _integer(32),
    "BIGINT": _integer(64),
    "REAL": float,
    "FLOAT": float,
    "DOUBLE": float,
    "DATE": lambda text: datetime.date.fromisoformat(text.strip()),
    "TIME": lambda text: datetime.time.fromisoformat(text.strip()),
    "TIMESTAMP": _timestamp,
}


class Parameter:
    """A `?` of the statement: a literal `value` or an `expression`, bound as its JDBC `type`."""

    __slots__ = ("value", "expression", "type", "convert")

    def __init__(self, value: str | None, expression: Expression | None, type_: str) -> None:
        self.value = value
        self.expression = expression
        self.type = type_
        self.convert = CONVERTERS[type_]

    def bind(self, ctx: MessageContext, column: int, sql: Sql) -> Any:
        text = self.value if self.value is not None else self.expression.string_value(ctx) if self.expression else None
        if not text:
            return None
        try:
            return self.convert(text)
        except ValueError as exc:
            raise BindError(f"parameter {column} '{text}' is not a valid {self.type} ({exc})") from None


class BindError(ValueError):
    """A parameter's value does not convert to its JDBC type (W: NumberFormatException and the like)."""


class Statement:
    __slots__ = ("sql", "parameters", "results")

    def __init__(self, sql: Sql, parameters: tuple[Parameter, ...], results: tuple[tuple[str, str | int], ...]):
        self.sql = sql
        self.parameters = parameters
        self.results = results  # (property name, column label or 1-based index)

    def bind(self, ctx: MessageContext) -> list[Any]:
        return [parameter.bind(ctx, n, self.sql) for n, parameter in enumerate(self.parameters, 1)]


class _DBMediator(Mediator):
    __slots__ = ("source", "statements", "timeout", "name")
    prefix = "SQL Exception occurred while executing statement"  # W: DBLookupMediator.processStatement
    bind_prefix = "Error executing statement"

    def __init__(
        self,
        source: DataSource,
        statements: tuple[Statement, ...],
        timeout: float,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.source = source
        self.statements = statements
        self.timeout = timeout
        self.name = source.label  # W: getDSName(): the dsName, else the URL (here without credentials)

    @property
    def reads_body(self) -> bool:
        return any(p.expression is not None and p.expression.needs_body for s in self.statements for p in s.parameters)

    def database(self, ctx: MessageContext) -> Database:
        return ctx.exchange.services.databases.get(self.source)

    def bind(self, statement: Statement, ctx: MessageContext) -> list[Any]:
        try:
            return statement.bind(ctx)
        except BindError as exc:  # W: processStatement's catch (Exception e): "Error executing statement : …"
            raise MediationError(
                f"{self.bind_prefix} : {statement.sql.raw} against DataSource : {self.name}", detail=str(exc)
            ) from None

    def failure(self, statement: Statement, exc: BaseException) -> MediationError:
        what = "the statement timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return MediationError(
            f"{self.prefix} : {statement.sql.raw} against DataSource : {self.name}",
            detail=what,
        )

    async def run(self, session: Session, statement: Statement, params: Sequence[Any], ctx: MessageContext) -> None:
        raise NotImplementedError

    async def in_transaction(self, ctx: MessageContext, transaction: Transaction) -> bool:
        """Inside a `transaction` mediator's transaction: its connection for this data source, no commit
        (W: TranscationManger.isThreadHasEnlistment → addConnection)."""
        database = self.database(ctx)
        for statement in self.statements:
            params = self.bind(statement, ctx)
            try:
                async with asyncio.timeout(self.timeout):
                    await self.run(await transaction.session(database), statement, params, ctx)
            except MediationError:
                raise
            except Exception as exc:  # noqa: BLE001 - W: handleException; the transaction is left to the flow
                raise self.failure(statement, exc) from exc
        return True


class DBLookup(_DBMediator):
    """Each statement's first row sets the properties named by its `<result>`s (as strings)."""

    __slots__ = ()
    tag = "dblookup"

    async def run(self, session: Session, statement: Statement, params: Sequence[Any], ctx: MessageContext) -> None:
        row = await session.first(statement.sql, params)
        if row is None:
            return  # W: "returned 0 rows": nothing is set
        for name, column in statement.results:
            value = row.get(column)
            if value is not None:  # W: a NULL column leaves the property as it was
                ctx.properties[name] = java_string(value)

    async def mediate(self, ctx: MessageContext) -> bool:
        transaction = ctx.exchange.transaction
        if transaction is not None and transaction.active:
            return await self.in_transaction(ctx, transaction)
        database = self.database(ctx)
        for statement in self.statements:
            params = self.bind(statement, ctx)
            try:
                async with asyncio.timeout(self.timeout), database.session() as session:
                    await self.run(session, statement, params, ctx)
            except MediationError:
                raise
            except Exception as exc:  # noqa: BLE001 - W: any error executing it is a fault (handleException)
                raise self.failure(statement, exc) from exc
        return True


class DBReport(_DBMediator):
    """Updates; each statement commits on its own, or with useTransaction all of them commit together
    (a failure rolls every one back)."""

    __slots__ = ("use_transaction",)
    tag = "dbreport"
    prefix = "SQL Error while executing insert statement"  # W: DBReportMediator.processStatement
    bind_prefix = "Error while executing insert statement"

    def __init__(
        self,
        source: DataSource,
        statements: tuple[Statement, ...],
        timeout: float,
        use_transaction: bool,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(source, statements, timeout, location)
        self.use_transaction = use_transaction

    async def run(self, session: Session, statement: Statement, params: Sequence[Any], ctx: MessageContext) -> None:
        ctx.properties[MODIFIED_ROW_COUNT] = await session.execute(statement.sql, params)

    async def mediate(self, ctx: MessageContext) -> bool:
        transaction = ctx.exchange.transaction
        if transaction is not None and transaction.active:
            return await self.in_transaction(ctx, transaction)
        database = self.database(ctx)
        if not self.use_transaction:
            for statement in self.statements:
                params = self.bind(statement, ctx)
                try:
                    async with asyncio.timeout(self.timeout), database.session() as session:
                        await self.run(session, statement, params, ctx)
                except MediationError:
                    raise
                except Exception as exc:  # noqa: BLE001 - W: handleException
                    raise self.failure(statement, exc) from exc
            return True
        bound = [(statement, self.bind(statement, ctx)) for statement in self.statements]
        current = bound[0][0] if bound else None
        try:
            async with asyncio.timeout(self.timeout), database.transaction() as session:
                for statement, params in bound:
                    current = statement
                    await self.run(session, statement, params, ctx)
        except MediationError:
            raise
        except Exception as exc:  # noqa: BLE001 - the transaction is rolled back; the fault names the statement
            assert current is not None
            raise self.failure(current, exc) from exc
        return True


_ABANDONED: set[asyncio.Task[None]] = set()


def _roll_back_if_open(transaction: Transaction) -> None:
    """At the end of the message: a transaction nobody committed or rolled back is rolled back."""
    if transaction.active:
        log.warning("a transaction was neither committed nor rolled back: rolled back")
        task = asyncio.ensure_future(transaction.rollback())
        _ABANDONED.add(task)
        task.add_done_callback(_ABANDONED.discard)


class TransactionMediator(Mediator):
    """`<transaction action>` (W: mediators/transaction/TransactionMediator): a database transaction for the
    rest of the message. dblookup and dbreport run in it on one connection per data source until `commit` or
    `rollback`; one left open when the message ends is rolled back."""

    __slots__ = ("action",)
    tag = "transaction"

    def __init__(self, action: str, location: SourceLocation | None = None) -> None:
        super().__init__(location)
        self.action = action

    def _begin(self, ctx: MessageContext) -> None:
        transaction = Transaction()
        ctx.exchange.transaction = transaction
        ctx.exchange.closing_tasks.append(lambda: _roll_back_if_open(transaction))

    async def mediate(self, ctx: MessageContext) -> bool:
        transaction = ctx.exchange.transaction
        active = transaction is not None and transaction.active
        action = self.action
        if action == "new":
            if active:
                raise MediationError("Require to begin a new transaction, but a transaction already exist")
            self._begin(ctx)
        elif action == "use-existing-or-new":
            if not active:
                self._begin(ctx)
        elif action == "fault-if-no-tx":
            if not active:
                raise MediationError("No active transaction. Require an active transaction")
        elif not active or transaction is None:
            log.warning("%s: no active transaction", action.upper())  # W: TranscationManger: a warning, no fault
        elif action == "commit":
            try:
                await transaction.commit()
            except Exception as exc:  # noqa: BLE001 - W: handleException("Unable to commit transaction")
                raise MediationError("Unable to commit transaction", detail=f"{type(exc).__name__}: {exc}") from exc
        else:  # rollback
            await transaction.rollback()
        return True
