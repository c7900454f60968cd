"""`store` (W: mediators/store/MessageStoreMediator): put a copy of the message in a message store and go on.
The mediator returns only once the store holds the message (durably, for the SQLite, PostgreSQL and RabbitMQ
stores), so a client answered after it can count on the message not being lost."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.errors import MediationError
from gateway.mediators.base import Mediator
from gateway.message.stored import capture

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Value
    from gateway.message.context import MessageContext


class StoreMediator(Mediator):
    __slots__ = ("store", "on_store")
    tag = "store"

    def __init__(self, store: Value, on_store: str | None, location: SourceLocation | None = None) -> None:
        super().__init__(location)
        self.store = store
        self.on_store = on_store

    @property
    def reads_body(self) -> bool:
        return True

    async def mediate(self, ctx: MessageContext) -> bool:
        name = self.store.resolve(ctx) or ""
        spec = ctx.config.message_stores.get(name)
        if spec is None:
            # W: handleException("Message Store does not exist.")
            raise MediationError(f"Message Store {name!r} does not exist.")
        if self.on_store is not None:
            sequence = ctx.config.sequences.get(self.on_store)
            if sequence is not None:
                await sequence.mediate(ctx)
        message = await capture(ctx)
        try:
            await ctx.exchange.services.stores.put(spec, message, ctx)
        except Exception as exc:
            ctx.axis2["HTTP_SC"] = 500
            raise MediationError(
                f"Failed to store message [{message.message_id}] in store [{name}]. ({exc})",
                detail="Failed to store message.",
                http_status=500,
            ) from exc
        return True
