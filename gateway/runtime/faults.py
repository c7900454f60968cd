"""The fault-handler stack (W: FaultHandler): innermost onError, then the proxy faultSequence, then
the global `fault` sequence. Errors become ERROR_* properties before a handler runs."""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING

from gateway.errors import DEFAULT_ERROR, MediationError
from gateway.message import kinds
from gateway.message.payload import Payload, media_type_of
from gateway.runtime.endpoint_state import Discarded

if TYPE_CHECKING:
    from gateway.mediators.base import Mediator
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.fault")


def record_error(ctx: MessageContext, exc: BaseException) -> None:
    props = ctx.properties
    if isinstance(exc, MediationError):
        if exc.code != DEFAULT_ERROR or "ERROR_CODE" not in props:
            props["ERROR_CODE"] = exc.code
        message = exc.message
        detail = exc.detail
        if exc.http_status is not None:
            ctx.axis2["HTTP_SC"] = exc.http_status
        if exc.body is not None:
            # e.g. a connector's upstream error JSON becomes the message the fault sequence sees
            ctx.payload = Payload(exc.content_type or kinds.APPLICATION_JSON, exc.body)
            if exc.content_type and not ctx.axis2.get("messageType"):
                ctx.axis2["messageType"] = ctx.axis2["_initialMessageType"] = media_type_of(exc.content_type)
    else:
        # Not a mediation fault but a failure of the gateway itself: its text and traceback go to the log
        # under the message's activity id; ERROR_MESSAGE (which fault sequences often answer with) carries
        # only that id, so no internals reach a client (a deliberate divergence from MI).
        props.setdefault("ERROR_CODE", DEFAULT_ERROR)  # a stale code is not overwritten (W:)
        activity = ctx.exchange.activity_id
        log.error(
            "internal error while mediating (activity id %s): %s: %s", activity, type(exc).__name__, exc, exc_info=exc
        )
        message = f"Internal error (activity id {activity})"
        detail = "".join(traceback.format_exception(exc))
    props["ERROR_MESSAGE"] = (message or "").splitlines()[0] if message else ""
    props["ERROR_DETAIL"] = detail if detail is not None else message
    props["ERROR_EXCEPTION"] = f"{type(exc).__name__}: {message}"


async def handle_fault(ctx: MessageContext, exc: BaseException) -> None:
    """Pop handlers until one runs to completion; with none left the message is dropped (logged)."""
    ctx.exchange.faulted = True
    if isinstance(exc, Discarded):  # W: AbstractEndpoint.onFault with responseAction discard
        record_error(ctx, exc)
        log.warning(
            "Ignoring fault handlers since the timeout action is set to DISCARD: ERROR_CODE=%s ERROR_MESSAGE=%s",
            exc.code,
            exc.message,
        )
        return
    while True:
        record_error(ctx, exc)
        if not ctx.fault_stack:
            log.error(
                "No error handlers found - [Message Dropped] ERROR_CODE=%s ERROR_MESSAGE=%s",
                ctx.properties.get("ERROR_CODE"),
                ctx.properties.get("ERROR_MESSAGE"),
            )
            return
        handler = ctx.fault_stack.pop()
        try:
            await handler.mediate(ctx)
            return
        except Exception as next_exc:  # a failing handler hands over to the next one
            log.debug("fault handler %r failed: %s", handler, next_exc)
            exc = next_exc


async def run_guarded(sequence: Mediator, ctx: MessageContext) -> bool:
    """Run a flow; any exception unwinds to the fault stack. Returns False when the flow stopped."""
    try:
        return await sequence.mediate(ctx)
    except Exception as exc:
        await handle_fault(ctx, exc)
        return False
