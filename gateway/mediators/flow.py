"""Flow-control mediators: respond, drop, loopback, send, call, in/out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.errors import MediationError
from gateway.mediators.base import Mediator, MediatorList
from gateway.mediators.sequence import SequenceRef
from gateway.message import kinds

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Value
    from gateway.message.context import MessageContext
    from gateway.runtime.endpoints import Endpoint


class Respond(Mediator):
    """Send the current message back to the client and stop (W: RespondMediator)."""

    __slots__ = ()
    tag = "respond"

    async def mediate(self, ctx: MessageContext) -> bool:
        ctx.is_response = True
        await ctx.exchange.services.engine.send_back(ctx)
        return False


class Drop(Mediator):
    """Stop the flow; with nothing written the client gets 202 (docs/synapse-semantics.md §2)."""

    __slots__ = ()
    tag = "drop"

    async def mediate(self, ctx: MessageContext) -> bool:
        ctx.to = None
        return False


class Loopback(Mediator):
    """On the request path: turn the message into a response and run the outSequence (or reply)."""

    __slots__ = ()
    tag = "loopback"

    async def mediate(self, ctx: MessageContext) -> bool:
        if ctx.is_response:
            return False
        ctx.is_response = True
        await ctx.exchange.services.engine.response_flow(ctx, None)
        return False


class Send(Mediator):
    """`<send [receive]>[endpoint]`: deliver and stop (W: returns false). Without an endpoint on the
    response path it replies to the client; on the request path it uses the proxy's target endpoint."""

    __slots__ = ("endpoint", "receive")
    tag = "send"

    def __init__(self, endpoint: Endpoint | None, receive: Value | None, location: SourceLocation | None = None):
        super().__init__(location)
        self.endpoint = endpoint
        self.receive = receive

    @property
    def reads_body(self) -> bool:
        return bool(self.receive is not None and self.receive.needs_body)

    async def mediate(self, ctx: MessageContext) -> bool:
        endpoint: Endpoint | None = self.endpoint
        if endpoint is None:
            if ctx.is_response:
                await ctx.exchange.services.engine.send_back(ctx)
                return False
            endpoint = await ctx.exchange.services.engine.implicit_endpoint(ctx)
            if endpoint is None:
                raise MediationError(
                    "send without an endpoint on the request path has no destination",
                    detail=f"at {self.location}: the message's To is {ctx.to!r}, not an address; add an "
                    '<endpoint>, or set the To with <header name="To" value="http://…"/>',
                )
        receive = None
        if self.receive is not None:
            receive = SequenceRef(self.receive, self.location)
        await ctx.exchange.services.engine.forward(ctx, endpoint, receive)
        return False


class Call(Mediator):
    """`<call>`: blocking call; the reply replaces the payload and the sequence continues."""

    __slots__ = ("endpoint", "target_property", "blocking")
    tag = "call"

    def __init__(
        self,
        endpoint: Endpoint | None,
        target_property: str | None = None,
        location: SourceLocation | None = None,
        blocking: bool = False,
    ):
        super().__init__(location)
        self.endpoint = endpoint
        self.target_property = target_property
        self.blocking = blocking

    async def mediate(self, ctx: MessageContext) -> bool:
        endpoint = self.endpoint or await ctx.exchange.services.engine.implicit_endpoint(ctx)
        if endpoint is None:
            raise MediationError(
                "call without an endpoint has no destination",
                detail=f"at {self.location}: add an <endpoint> to the call mediator, or set the message's To",
            )
        reply = await endpoint.send(ctx)
        if not self.blocking:
            ctx.paused = True  # W: a non-blocking call pauses the flow and resumes it with the reply
        if self.target_property:
            await reply.build()
            ctx.properties[self.target_property] = (
                reply.payload.json_value() if reply.payload.kind == kinds.JSON else reply.payload.envelope
            )
        else:
            ctx.payload = reply.payload
            ctx.transport_headers = reply.transport_headers
            ctx.headers_from_backend = True
            ctx.axis2.pop("NO_ENTITY_BODY", None)  # a bodiless request (GET) now carries the reply's body
        for key in ("HTTP_SC", "HTTP_SC_DESC", "messageType", "FAULT_MESSAGE"):
            if key in reply.axis2:
                ctx.axis2[key] = reply.axis2[key]
            else:
                ctx.axis2.pop(key, None)
        ctx.axis2.pop("ContentType", None)
        ctx.axis2["_initialMessageType"] = reply.axis2.get("_initialMessageType")
        return True


class InOut(Mediator):
    """`<in>` / `<out>`: run the children only on request (in) or response (out) messages."""

    __slots__ = ("body", "on_response")

    def __init__(self, body: MediatorList, on_response: bool, location: SourceLocation | None = None):
        super().__init__(location)
        self.body = body
        self.on_response = on_response

    @property
    def continues(self) -> bool:
        return self.body.holds_continuation

    async def mediate(self, ctx: MessageContext, rest: MediatorList | None = None) -> bool:
        if ctx.is_response != self.on_response:
            return True
        return await self.body.mediate(ctx, rest)

    mediate_rest = mediate
