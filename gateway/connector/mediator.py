"""The mediator for `<prefix.operation [configKey="entry"]>`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.connector.binding import connection_from_entry
from gateway.connector.invocation import BoundOperation, ConnectorError, mark_failure
from gateway.connector.model import NO_CONNECTION
from gateway.mediators.base import Mediator

if TYPE_CHECKING:
    from gateway.expressions import Value
    from gateway.message.context import MessageContext


class ConnectorOperation(Mediator):
    """`<prefix.operation [configKey="entry"]>` with parameter children."""

    __slots__ = ("bound", "config_key")
    tag = "connector"  # the element name varies: see `qualified_name`

    def __init__(self, bound: BoundOperation, config_key: Value | None) -> None:
        super().__init__(bound.location)
        self.bound = bound
        self.config_key = config_key

    @property
    def qualified_name(self) -> str:
        return self.bound.qualified_name

    def __repr__(self) -> str:
        return f"<ConnectorOperation {self.qualified_name} {self.location or ''}>"

    @property
    def reads_body(self) -> bool:
        return self.bound.needs_body or bool(self.config_key is not None and self.config_key.needs_body)

    async def mediate(self, ctx: MessageContext) -> bool:
        if self.config_key is not None:
            connection = self._connection(ctx)
            if connection.needs_body and not ctx.payload.is_built:
                await ctx.build()
            await connection.invoke(ctx)
        await self.bound.invoke(ctx)
        return True

    def _connection(self, ctx: MessageContext) -> BoundOperation:
        assert self.config_key is not None
        connector = self.bound.connector
        key = self.config_key.resolve(ctx)
        entry = ctx.config.local_entries.get(key) if key else None
        if key is None or entry is None:
            error = ConnectorError(
                f"{self.bound.qualified_name}: configKey '{key or ''}' names no local entry",
                NO_CONNECTION,
                f"at {self.location}: deploy a local entry holding <{connector.name}.{connector.connection}>",
                http_status=500,
            )
            mark_failure(ctx, self.bound.qualified_name, error)
            raise error
        try:
            return connection_from_entry(connector, key, entry)
        except ConnectorError as exc:
            mark_failure(ctx, self.bound.qualified_name, exc)
            raise
