"""The mediator contract: one small class per mediator with a single `async mediate(ctx) -> bool`.

Returning False stops the enclosing flow (drop, respond, send in MI). Mediators are built once at
deploy time by their factories and hold only compiled expressions and constants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from gateway.errors import SourceLocation

if TYPE_CHECKING:
    from gateway.expressions import Expression, Value
    from gateway.message.context import MessageContext


class Mediator:
    """Base class. `reads_body` marks content-aware mediators: the list mediator reads the payload before
    the first of them runs (W: AbstractListMediator builds it there); the parse itself happens on first
    use of the envelope, so nothing else ever parses a body."""

    __slots__ = ("location",)
    tag: ClassVar[str] = ""
    # True for the mediators whose messages go on after them in a flow of their own (the split and join
    # mediators, W: their reliant continuation states): the list calls mediate_rest with what follows them.
    continues: ClassVar[bool] = False

    def __init__(self, location: SourceLocation | None = None) -> None:
        self.location = location

    @property
    def reads_body(self) -> bool:
        """Asked once, when the enclosing list is built; a subclass answers with a constant or a property."""
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

    __slots__ = ("children", "_steps")

    def __init__(self, children: list[Mediator] | tuple[Mediator, ...], location: SourceLocation | None = None):
        super().__init__(location)
        self.children = tuple(children)
        # Mediators are immutable once deployed: ask each one once whether it reads content, and give the
        # split and join mediators the rest of the list once.
        self._steps = tuple(
            (
                child,
                bool(child.reads_body),
                MediatorList(self.children[index + 1 :], location) if child.continues else None,
            )
            for index, child in enumerate(self.children)
        )

    @property
    def reads_body(self) -> bool:
        return False  # children build on demand themselves

    async def mediate(self, ctx: MessageContext) -> bool:
        for child, reads_body, rest in self._steps:
            # Content-aware mediators get the bytes read here; parsing happens on first real use, so an
            # expression answered from the JSON itself never builds the XML infoset.
            if reads_body and not ctx.payload.is_read:
                await ctx.payload.read()
            if rest is None:
                if not await child.mediate(ctx):
                    return False
            elif not await child.mediate_rest(ctx, rest):
                return False
        return True


def needs_body(*expressions: Expression | Value | None) -> bool:
    """True when any of the compiled expressions/values may read the payload."""
    return any(expr.needs_body for expr in expressions if expr is not None)
