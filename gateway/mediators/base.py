"""The mediator contract: one small class per mediator with a single `async mediate(ctx) -> bool`.

Returning False stops the enclosing flow (drop, respond, send in MI). Mediators are built once at
deploy time by their factories and hold only compiled expressions and constants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from gateway.errors import SourceLocation

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from gateway.expressions import Expression, Value
    from gateway.message.context import MessageContext


class Mediator:
    """Base class. `reads_body` marks content-aware mediators: the list mediator reads the payload before
    the first of them runs (W: AbstractListMediator builds it there); the parse itself happens on first
    use of the envelope, so nothing else ever parses a body."""

    __slots__ = ("location",)
    tag: ClassVar[str] = ""

    def __init__(self, location: SourceLocation | None = None) -> None:
        self.location = location

    @property
    def reads_body(self) -> bool:
        """Asked once, when the enclosing list is built; a subclass answers with a constant or a property."""
        return False

    async def mediate(self, ctx: MessageContext) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location or ''}>"


class MediatorList(Mediator):
    """An anonymous sequence: run the children in order until one stops the flow."""

    __slots__ = ("children", "_steps")

    def __init__(self, children: list[Mediator] | tuple[Mediator, ...], location: SourceLocation | None = None):
        super().__init__(location)
        self.children = tuple(children)
        # Mediators are immutable once deployed: ask each one once whether it reads content.
        self._steps = tuple((child, bool(child.reads_body)) for child in self.children)

    @property
    def reads_body(self) -> bool:
        return False  # children build on demand themselves

    async def mediate(self, ctx: MessageContext) -> bool:
        tracer = ctx.exchange.services.tracer
        if tracer is not None:
            return await self._traced(ctx, tracer)
        for child, reads_body in self._steps:
            # Content-aware mediators get the bytes read here; parsing happens on first real use, so an
            # expression answered from the JSON itself never builds the XML infoset.
            if reads_body and not ctx.payload.is_read:
                await ctx.payload.read()
            if not await child.mediate(ctx):
                return False
        return True

    async def _traced(self, ctx: MessageContext, tracer: Tracer) -> bool:
        """The same, with one OpenTelemetry span per mediator (named by its element, where it was written)."""
        for child, reads_body in self._steps:
            if reads_body and not ctx.payload.is_read:
                await ctx.payload.read()
            location = child.location
            attributes: dict[str, str | int] = {"synapse.mediator": child.tag or type(child).__name__}
            if location is not None:
                attributes["code.filepath"] = str(location.path)
                attributes["code.lineno"] = location.line or 0
            with tracer.start_as_current_span(f"mediator {attributes['synapse.mediator']}", attributes=attributes):
                if not await child.mediate(ctx):
                    return False
        return True


def needs_body(*expressions: Expression | Value | None) -> bool:
    """True when any of the compiled expressions/values may read the payload."""
    return any(expr.needs_body for expr in expressions if expr is not None)
