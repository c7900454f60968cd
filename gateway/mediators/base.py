"""The mediator contract: one small class per mediator with a single `async mediate(ctx) -> bool`.

Returning False stops the enclosing flow (drop, respond, send in MI). Mediators are built once at
deploy time by their factories and hold only compiled expressions and constants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from weakref import WeakKeyDictionary

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

    @property
    def continues(self) -> bool:
        """True for the mediators whose messages go on after them in a flow of their own (the split and join
        mediators, W: their reliant continuation states), and for the containers (filter, switch, in/out, an
        inline sequence) holding one, which hand it on to their lists: the enclosing list then calls
        mediate_rest with what follows. Asked once, when the enclosing list is built."""
        return False

    async def mediate(self, ctx: MessageContext) -> bool:
        raise NotImplementedError

    async def mediate_rest(self, ctx: MessageContext, rest: MediatorList | None) -> bool:
        """`continues` mediators: mediate, knowing the mediators after this one in the enclosing list."""
        return await self.mediate(ctx)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location or ''}>"


class MediatorList(Mediator):
    """An anonymous sequence: run the children in order until one stops the flow."""

    __slots__ = ("children", "_steps", "_rests", "_joined", "__weakref__")

    def __init__(self, children: list[Mediator] | tuple[Mediator, ...], location: SourceLocation | None = None):
        super().__init__(location)
        self.children = tuple(children)
        # Mediators are immutable once deployed: ask each one once whether it reads content, and whether it
        # takes the rest of the list (made on first use: lists of containers would otherwise nest deeply).
        self._steps = tuple(
            (child, bool(child.reads_body), index if child.continues else -1)
            for index, child in enumerate(self.children)
        )
        self._rests: dict[int, MediatorList] = {}
        # by the list joined after them: kept while it lives (a caller redeployed apart from this list lets go)
        self._joined: WeakKeyDictionary[MediatorList, dict[int, MediatorList]] = WeakKeyDictionary()

    @property
    def reads_body(self) -> bool:
        return False  # children build on demand themselves

    @property
    def holds_continuation(self) -> bool:
        """A split or join mediator is in this list (or in a container in it)."""
        return any(index >= 0 for _, _, index in self._steps)

    async def mediate(self, ctx: MessageContext, rest: MediatorList | None = None) -> bool:
        """Run the children in order. Inside a container (`mediate_rest`), `rest` is what follows the container:
        it comes after this list's own remainder for the split and join mediators in it (W: the continuation
        climbs out of the container)."""
        tracer = ctx.exchange.services.tracer
        if tracer is not None:
            return await self._traced(ctx, tracer, rest)
        for child, reads_body, index in self._steps:
            # Content-aware mediators get the bytes read here; parsing happens on first real use, so an
            # expression answered from the JSON itself never builds the XML infoset.
            if reads_body and not ctx.payload.is_read:
                await ctx.payload.read()
            if index < 0:
                if not await child.mediate(ctx):
                    return False
            elif not await child.mediate_rest(ctx, self._after(index, rest)):
                return False
        return True

    mediate_rest = mediate

    def _after(self, index: int, rest: MediatorList | None) -> MediatorList:
        """What a split or join mediator at children[index] hands its copies on to: the list's remainder, then
        `rest` when there is one."""
        return self.rest_after(index) if rest is None or not rest.children else self._join(index, rest)

    def rest_after(self, index: int) -> MediatorList:
        """The mediators after children[index], as a list of their own (made once)."""
        found = self._rests.get(index)
        if found is None:
            found = self._rests[index] = MediatorList(self.children[index + 1 :], self.location)
        return found

    def _join(self, index: int, rest: MediatorList) -> MediatorList:
        """The mediators after children[index], then `rest`; made once per pair (both are deployed lists)."""
        joined = self._joined.get(rest)
        if joined is None:
            joined = self._joined[rest] = {}
        found = joined.get(index)
        if found is None:
            found = joined[index] = MediatorList(self.children[index + 1 :] + rest.children, self.location)
        return found

    async def _traced(self, ctx: MessageContext, tracer: Tracer, rest: MediatorList | None) -> bool:
        """The same, with one OpenTelemetry span per mediator (named by its element, where it was written)."""
        for child, reads_body, index in self._steps:
            if reads_body and not ctx.payload.is_read:
                await ctx.payload.read()
            location = child.location
            attributes: dict[str, str | int] = {"synapse.mediator": child.tag or type(child).__name__}
            if location is not None:
                attributes["code.filepath"] = str(location.path)
                attributes["code.lineno"] = location.line or 0
            with tracer.start_as_current_span(f"mediator {attributes['synapse.mediator']}", attributes=attributes):
                if index < 0:
                    if not await child.mediate(ctx):
                        return False
                elif not await child.mediate_rest(ctx, self._after(index, rest)):
                    return False
        return True


def needs_body(*expressions: Expression | Value | None) -> bool:
    """True when any of the compiled expressions/values may read the payload."""
    return any(expr.needs_body for expr in expressions if expr is not None)
