"""The proxy flow: inSequence → endpoint → outSequence (or straight back), with the fault stack around every
flow. The transport calls `mediate_proxy` / `mediate_main`; mediators reach the engine through the services
they are given (`ctx.exchange.services.engine`), never by importing it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gateway.message import formats
from gateway.runtime.defaults import DEFAULT_FAULT, DEFAULT_MAIN, global_fault_handler
from gateway.runtime.faults import handle_fault, run_guarded

if TYPE_CHECKING:
    from gateway.mediators.base import Mediator
    from gateway.message.context import MessageContext
    from gateway.runtime.configuration import ProxyService

log = logging.getLogger("gateway.engine")


class Engine:
    __slots__ = ()

    async def mediate_proxy(self, proxy: ProxyService, ctx: MessageContext) -> None:
        ctx.fault_stack.append(proxy.fault_handler)
        if ctx.payload.read_error is not None:  # the body could not even be received: straight to the fault
            await handle_fault(ctx, ctx.payload.read_error)
            return
        proceed = True
        if proxy.in_sequence is not None:
            proceed = await run_guarded(proxy.in_sequence, ctx)
        # Only when the inSequence did not stop the flow does the message go to the target endpoint.
        if proceed and proxy.endpoint is not None:
            try:
                await self.forward(ctx, proxy.endpoint, receive=None)
            except Exception as exc:
                await handle_fault(ctx, exc)

    async def mediate_main(self, ctx: MessageContext) -> None:
        """A request for no known proxy goes to the `main` sequence (MI ships one answering 404)."""
        ctx.fault_stack.append(global_fault_handler)
        if ctx.payload.read_error is not None:
            await handle_fault(ctx, ctx.payload.read_error)
            return
        await run_guarded(ctx.config.sequences.get("main") or DEFAULT_MAIN, ctx)

    async def forward(self, ctx: MessageContext, endpoint: Any, receive: Mediator | None) -> None:
        """send: deliver to the endpoint, then run the response flow on the reply."""
        reply = await endpoint.send(ctx)
        await self.response_flow(reply, receive)

    async def response_flow(self, reply: MessageContext, receive: Mediator | None) -> None:
        proxy = reply.proxy
        reply.fault_stack = [proxy.fault_handler if proxy is not None else global_fault_handler]
        if receive is not None:
            sequence: Mediator | None = receive
        else:
            sequence = proxy.out_sequence if proxy is not None else None
        if sequence is None:
            await self.send_back(reply)  # no outSequence: the reply goes straight to the client
            return
        await run_guarded(sequence, reply)

    async def send_back(self, ctx: MessageContext) -> None:
        """respond / outSequence send: write the current message as the client's reply (once)."""
        exchange = ctx.exchange
        if exchange.reply is not None:
            log.warning("a reply was already sent for %s; ignoring another one", exchange.path)
            return
        await formats.prepare(ctx, formats.output_media_type(ctx))
        exchange.reply = formats.build_reply(ctx)

    async def global_fault(self, ctx: MessageContext) -> bool:
        """The global `fault` sequence (the built-in one when none is deployed): the one place it is looked up."""
        handler = ctx.config.sequences.get("fault") or DEFAULT_FAULT
        return await handler.mediate(ctx)
