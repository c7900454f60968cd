"""Built-in stand-ins used only when the user removed sequences/main.xml or fault.xml."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.mediators.base import Mediator
from gateway.message.context import Reply
from gateway.message.errors import error_reply

if TYPE_CHECKING:
    from gateway.message.context import MessageContext


class _DefaultMain(Mediator):
    """Like MI's shipped main.xml: 404 with no body for an unknown service."""

    async def mediate(self, ctx: MessageContext) -> bool:
        from multidict import CIMultiDict

        if ctx.exchange.reply is None:
            ctx.exchange.reply = Reply(404, CIMultiDict(), b"")
        return False


class _DefaultFault(Mediator):
    """Answer the error in the client's own format (our safe default; MI logs and drops)."""

    async def mediate(self, ctx: MessageContext) -> bool:
        if ctx.exchange.reply is None:
            ctx.exchange.reply = error_reply(ctx)
        return False


class _GlobalFaultHandler(Mediator):
    """What the fault stack holds for the global `fault` sequence."""

    async def mediate(self, ctx: MessageContext) -> bool:
        return await ctx.exchange.services.engine.global_fault(ctx)


DEFAULT_MAIN = _DefaultMain()
DEFAULT_FAULT = _DefaultFault()
global_fault_handler = _GlobalFaultHandler()
