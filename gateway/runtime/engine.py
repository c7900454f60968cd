"""The proxy flow: inSequence → endpoint → outSequence (or straight back), with the fault stack around every
flow; an API resource runs the same way (inSequence → its send → outSequence). The transport calls
`mediate_proxy` / `mediate_api` / `mediate_main`; mediators reach the engine through the services they are
given (`ctx.exchange.services.engine`), never by importing it."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict

from gateway.errors import MediationError, SourceLocation
from gateway.mediators.flow import InOut, Send
from gateway.message import formats
from gateway.message.context import Reply
from gateway.runtime.api import query_parameters
from gateway.runtime.defaults import DEFAULT_FAULT, DEFAULT_MAIN, global_fault_handler
from gateway.runtime.endpoints import ImplicitTo, to_address
from gateway.runtime.faults import handle_fault, run_guarded

if TYPE_CHECKING:
    from gateway.mediators.base import Mediator
    from gateway.message.context import MessageContext
    from gateway.runtime.api import ApiMatch, ApiResource
    from gateway.runtime.configuration import ProxyService

log = logging.getLogger("gateway.engine")

# W: RESTConstants: sequences a user may deploy to answer requests no resource takes
_UNMATCHED_HANDLERS = {404: "_resource_mismatch_handler_", 405: "_method_not_allowed_handler_"}


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

    async def mediate_api(self, match: ApiMatch, ctx: MessageContext) -> None:
        """An API request (W: API.process, Resource.process): the global fault handler, then the resource's
        own around its inSequence. A request no resource takes gets MI's status and no body."""
        ctx.fault_stack.append(global_fault_handler)
        _api_properties(match, ctx)
        if ctx.payload.read_error is not None:
            await handle_fault(ctx, ctx.payload.read_error)
            return
        resource = match.resource
        if resource is None:
            assert match.status is not None
            handler = ctx.config.sequences.get(_UNMATCHED_HANDLERS.get(match.status, ""))
            if handler is not None:
                await run_guarded(handler, ctx)
            else:  # W: HTTP_SC and NIO-ACK-Requested, TRANSPORT_HEADERS removed: the status alone
                ctx.exchange.reply = Reply(match.status, CIMultiDict(), b"")
            return
        if ctx.exchange.method == "OPTIONS" and await self._options(resource, ctx):
            return
        try:
            parameters = query_parameters(match.path) if "?" in match.path else None
        except ValueError:
            ctx.properties["ERROR_CODE"] = 400
            await handle_fault(
                ctx,
                MediationError(
                    f"Error processing {ctx.exchange.method} request for : {match.path} due to an error in the "
                    "request sent by the client",
                    400,
                    http_status=400,
                ),
            )
            return
        if parameters:
            for name, value in parameters.items():
                ctx.properties[f"query.param.{name}"] = value
        if resource.in_sequence is None:  # W: "No in-sequence configured. Dropping the request."
            return
        ctx.fault_stack.append(resource.fault_handler)
        await run_guarded(resource.in_sequence, ctx)

    async def _options(self, resource: ApiResource, ctx: MessageContext) -> bool:
        """W: Resource.sendOptions: a resource that does not list OPTIONS answers it with an Allow header; one
        that does mediates it, unless Max-Forwards is 0 (which it answers, and otherwise decrements)."""
        if "OPTIONS" in resource.methods:
            max_forwards = ctx.transport_headers.get("Max-Forwards")
            if max_forwards is None or not max_forwards.strip().isdigit():
                return False
            if int(max_forwards) > 0:
                ctx.transport_headers["Max-Forwards"] = str(int(max_forwards) - 1)
                return False
        ctx.is_response = True
        ctx.transport_headers["Allow"] = resource.allow_header
        await self.send_back(ctx)
        return True

    async def mediate_main(self, ctx: MessageContext) -> None:
        """A request for no known proxy goes to the `main` sequence (MI ships one answering 404)."""
        ctx.fault_stack.append(global_fault_handler)
        if ctx.payload.read_error is not None:
            await handle_fault(ctx, ctx.payload.read_error)
            return
        await run_guarded(ctx.config.sequences.get("main") or DEFAULT_MAIN, ctx)

    async def mediate_branch(self, ctx: MessageContext, sequence: Mediator) -> bool:
        """One branch of a split (iterate, clone) or an aggregate's onComplete: a fault goes to the branch's
        own fault handlers (W: MediatorWorker pops the copied fault stack). False when the flow stopped."""
        return await run_guarded(sequence, ctx)

    async def forward(self, ctx: MessageContext, endpoint: Any, receive: Mediator | None) -> None:
        """send: deliver to the endpoint, then run the response flow on the reply. FORCE_SC_ACCEPTED=true
        (axis2) answers the client 202 (W: passthru ServerWorker); with OUT_ONLY=true the message is delivered
        in the background and no reply flow runs (W: Axis2FlexibleMEPClient, fire-and-forget)."""
        if _true(ctx.axis2.get("FORCE_SC_ACCEPTED")) and ctx.exchange.reply is None:
            ctx.exchange.reply = Reply(202, CIMultiDict(), b"")
        if _true(ctx.properties.get("OUT_ONLY")):
            await ctx.payload.read()  # the client's body must be in hand before its request ends
            task = asyncio.create_task(_deliver_out_only(ctx, endpoint))
            _OUT_ONLY.add(task)
            task.add_done_callback(_OUT_ONLY.discard)
            return
        reply = await endpoint.send(ctx)
        await self.response_flow(reply, receive)

    async def response_flow(self, reply: MessageContext, receive: Mediator | None) -> None:
        proxy, resource = reply.proxy, reply.resource
        out_sequence = None
        if proxy is not None:
            reply.fault_stack = [proxy.fault_handler]
            out_sequence = proxy.out_sequence
        elif resource is not None:  # W: injectMessage pushes `fault`, Resource.process the resource's handler
            reply.fault_stack = [global_fault_handler, resource.fault_handler]
            out_sequence = resource.out_sequence
        else:
            reply.fault_stack = [global_fault_handler]
            # W: Axis2SynapseEnvironment.injectMessage: a reply to what `main` sent goes through `main` again,
            # when main can answer it: an <out> at its top level, or a <send/> without an endpoint there (the
            # samples write both). Any other main gets the reply straight back, where MI would send it to the
            # endpoint again or leave the client waiting.
            main = reply.config.sequences.get("main")
            if receive is None and main is not None and _takes_replies(main):
                await self._main_again(reply, main)
                return
        sequence = receive if receive is not None else out_sequence
        if sequence is None:
            await self.send_back(reply)  # no outSequence: the reply goes straight to the client
            return
        await run_guarded(sequence, reply)

    async def _main_again(self, reply: MessageContext, main: Mediator) -> None:
        """The reply runs `main` (its <out> branch; a <send/> there answers the client). A main whose send is
        not guarded by <in> would send each reply on again: after MAIN_PASSES passes it is a fault."""
        if _true(reply.properties.get("SKIP_MAIN_SEQUENCE")):  # W: injectMessage: the reply is not mediated
            return
        exchange = reply.exchange
        exchange.main_passes += 1
        if exchange.main_passes > MAIN_PASSES:
            await handle_fault(
                reply,
                MediationError(
                    f"the reply passed through the main sequence {MAIN_PASSES} times",
                    detail="each reply to a send from main runs main again (its <out> branch): put the send "
                    "inside <in> and answer with <out><send/></out>",
                ),
            )
            return
        await run_guarded(main, reply)

    async def implicit_endpoint(self, ctx: MessageContext) -> Any:
        """The destination of a `<send/>` without an endpoint on the request path (W: Axis2Sender sends to the
        To): the To set by the header mediator, through the default endpoint; else the proxy's target endpoint (ours: a
        proxy's To is its own address, where MI would send to itself); else an absolute WS-Addressing To."""
        target = ctx.proxy.endpoint if ctx.proxy is not None else None
        if target is not None and not ctx.to_set:
            return target  # the request's own To is not looked for (its body is not parsed for it)
        address = await to_address(ctx)
        if address is not None and _is_address(address):
            return IMPLICIT_TO
        return target

    async def send_back(self, ctx: MessageContext) -> None:
        """respond / outSequence send: write the current message as the client's reply (once)."""
        exchange = ctx.exchange
        if exchange.reply is not None:
            log.warning("a reply was already sent for %s; ignoring another one", exchange.path)
            return
        media = formats.output_media_type(ctx)
        if formats.needs_build(ctx, media):
            await ctx.payload.build()
        exchange.reply = formats.build_reply(ctx, media)

    async def global_fault(self, ctx: MessageContext) -> bool:
        """The global `fault` sequence (the built-in one when none is deployed): the one place it is looked up."""
        handler = ctx.config.sequences.get("fault") or DEFAULT_FAULT
        return await handler.mediate(ctx)


_SCHEMES_WITHOUT_SLASHES = ("mailto:", "local:", "rabbitmq:", "vfs:")  # addresses that need no "//"


def _is_address(address: str) -> bool:
    return "://" in address or address[:9].lower().startswith(_SCHEMES_WITHOUT_SLASHES)


MAIN_PASSES = 8
IMPLICIT_TO = ImplicitTo(None, SourceLocation("<send/>", 0), None, None)
_OUT_ONLY: set[asyncio.Task[None]] = set()  # out-only sends in flight (a task needs a reference)


def _takes_replies(sequence: Any) -> bool:
    """Whether a sequence answers replies: an `<out>`, or a `<send/>` without an endpoint, at its top level."""
    body = getattr(sequence, "body", None)
    return any(
        isinstance(m, InOut) and m.on_response or isinstance(m, Send) and m.endpoint is None
        for m in getattr(body, "children", ())
    )


def _true(value: object) -> bool:
    return value is True or str(value).lower() == "true"


async def _deliver_out_only(ctx: MessageContext, endpoint: Any) -> None:
    try:
        reply = await endpoint.send(ctx)
        await reply.payload.read()  # read and dropped: nobody waits for it
    except Exception as exc:  # noqa: BLE001 - nobody is left to answer: the failure is logged
        log.warning("out-only send (OUT_ONLY=true) to %s failed: %s", endpoint.location, exc)
    finally:
        for close in ctx.exchange.closing_tasks:
            close()


def _api_properties(match: ApiMatch, ctx: MessageContext) -> None:
    """What W: API.process, Resource.process and the dispatchers set, plus API_ELECTED_RESOURCE (the
    resource's template or mapping, as the API Manager gateway's handlers set it)."""
    api, props = match.api, ctx.properties
    props["REST_FULL_REQUEST_PATH"] = match.path
    props["SYNAPSE_REST_API"] = api.name
    props["SYNAPSE_REST_API_VERSION"] = api.version
    props["SYNAPSE_REST_API_VERSION_STRATEGY"] = api.version_type
    props["REST_API_CONTEXT"] = api.context
    props["REST_SUB_REQUEST_PATH"] = match.sub_path
    props["REST_METHOD"] = ctx.exchange.method
    host = ctx.transport_headers.get("Host")
    if host:
        props["REST_URL_PREFIX"] = f"http://{host}"
    ctx.axis2["REST_URL_POSTFIX"] = match.postfix
    resource = match.resource
    if resource is not None:
        ctx.resource = resource
        pattern = resource.mapping_text
        if pattern is not None:
            props["API_ELECTED_RESOURCE"] = props["rest.url.pattern"] = pattern
        if match.variables:
            for name, value in match.variables.items():
                props["uri.var." + name] = value
