"""Named sequences, `<sequence key>` references and fault-handler references."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gateway.errors import MediationError, SourceLocation
from gateway.mediators.base import Mediator, MediatorList

if TYPE_CHECKING:
    from gateway.expressions import Value
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.sequence")


class NamedSequence(Mediator):
    """`<sequence name=… onError=…>`: pushes its onError handler while it runs (W: SequenceMediator)."""

    __slots__ = ("name", "body", "on_error")
    tag = "sequence"

    def __init__(self, name: str, body: MediatorList, on_error: str | None, location: SourceLocation):
        super().__init__(location)
        self.name = name
        self.body = body
        self.on_error = on_error

    @property
    def continues(self) -> bool:
        return self.body.holds_continuation

    async def mediate(self, ctx: MessageContext) -> bool:
        return await self.mediate_rest(ctx, None)

    async def mediate_rest(self, ctx: MessageContext, rest: MediatorList | None) -> bool:
        handler = None
        if self.on_error:
            handler = ctx.config.sequences.get(self.on_error)
            if handler is None:  # only logged in MI; no handler is pushed
                log.warning("onError sequence '%s' of sequence '%s' cannot be found", self.on_error, self.name)
            else:
                ctx.fault_stack.append(handler)
        result = await self.body.mediate_rest(ctx, rest)
        if handler is not None and ctx.fault_stack and ctx.fault_stack[-1] is handler:
            ctx.fault_stack.pop()  # a normal finish pops it; after a fault it was already popped
        return result


class SequenceRef(Mediator):
    """`<sequence key="name|{expr}"/>` and target@inSequence: resolved per message, as in MI."""

    __slots__ = ("key",)
    tag = "sequence"

    def __init__(self, key: Value, location: SourceLocation | None = None):
        super().__init__(location)
        self.key = key

    @property
    def reads_body(self) -> bool:
        return self.key.needs_body

    @property
    def continues(self) -> bool:
        """The sequence is known per message (hot deployment, dynamic keys): the enclosing list hands this the
        mediators after it, which it passes on only to a sequence holding a split or join mediator."""
        return True

    async def mediate(self, ctx: MessageContext) -> bool:
        return await self.mediate_rest(ctx, None)

    async def mediate_rest(self, ctx: MessageContext, rest: MediatorList | None) -> bool:
        name = self.key.resolve(ctx)
        sequence = ctx.config.sequences.get(name) if name else None
        if sequence is None:
            raise MediationError(
                f"Sequence named {name} cannot be found",
                detail=f"referenced at {self.location}; deploy a sequence named '{name}'",
            )
        if rest is not None and rest.children and sequence.continues:
            # W: a copy of a split in that sequence climbs out of it through the continuation stack
            return await sequence.mediate_rest(ctx, rest)
        return await sequence.mediate(ctx)


class ProxyFaultHandler(Mediator):
    """The proxy's fault sequence: inline, or named (a missing one silently falls back to `fault`)."""

    __slots__ = ("inline", "key")

    def __init__(self, inline: Mediator | None, key: str | None, location: SourceLocation | None = None):
        super().__init__(location)
        self.inline = inline
        self.key = key

    async def mediate(self, ctx: MessageContext) -> bool:
        if self.inline is not None:
            return await self.inline.mediate(ctx)
        handler = ctx.config.sequences.get(self.key) if self.key else None
        if handler is None:
            return await ctx.exchange.services.engine.global_fault(ctx)
        return await handler.mediate(ctx)
