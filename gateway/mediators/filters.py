"""`filter` and `switch` (W: mediators/filters/{FilterMediator,SwitchMediator}; docs/synapse-semantics.md §5.4).

Regexes are compiled at deploy time from the Java dialect (see gateway/deploy/factories/filters.py) and
always used as full matches, like Java's `Matcher.matches()`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.errors import MediationError
from gateway.mediators.base import Mediator, MediatorList

if TYPE_CHECKING:
    from regex import Pattern

    from gateway.errors import SourceLocation
    from gateway.expressions import Expression
    from gateway.message.context import MessageContext


class Branch:
    """One side of a filter: inline mediators, or a named sequence looked up per message."""

    __slots__ = ("body", "key", "side")

    def __init__(self, body: MediatorList | None, key: str | None, side: str) -> None:
        self.body = body
        self.key = key
        self.side = side

    async def run(self, ctx: MessageContext, location: SourceLocation | None, rest: MediatorList | None = None) -> bool:
        if self.body is not None:
            return await self.body.mediate(ctx, rest)
        sequence = ctx.config.sequences.get(self.key) if self.key else None
        if sequence is None:  # W: a runtime error, not a deploy one (the sequence may come later)
            raise MediationError(
                f"Couldn't find the referred {self.side} sequence with key : {self.key}",
                detail=f"filter at {location}: deploy a sequence named '{self.key}'",
            )
        return await sequence.mediate(ctx)


class Filter(Mediator):
    """`xpath=` (boolean) or `source=` + `regex=` (full match; a null source is false)."""

    __slots__ = ("xpath", "source", "regex", "then", "otherwise")
    tag = "filter"

    def __init__(
        self,
        *,
        xpath: Expression | None,
        source: Expression | None,
        regex: Pattern[str] | None,
        then: Branch,
        otherwise: Branch | None,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.xpath = xpath
        self.source = source
        self.regex = regex
        self.then = then
        self.otherwise = otherwise

    @property
    def reads_body(self) -> bool:
        condition = self.xpath if self.xpath is not None else self.source
        return bool(condition is not None and condition.needs_body)

    def test(self, ctx: MessageContext) -> bool:
        if self.xpath is not None:
            return self.xpath.boolean_value(ctx)
        assert self.source is not None and self.regex is not None
        text = self.source.string_value(ctx)
        return text is not None and self.regex.fullmatch(text) is not None

    @property
    def continues(self) -> bool:
        return any(
            b is not None and b.body is not None and b.body.holds_continuation for b in (self.then, self.otherwise)
        )

    async def mediate(self, ctx: MessageContext, rest: MediatorList | None = None) -> bool:
        """With a split inside (`mediate_rest`): what follows the filter comes after the branch for its copies."""
        branch = self.then if self.test(ctx) else self.otherwise
        if branch is None:
            return True  # no else: the flow simply continues
        if branch.body is not None:  # inline mediators: awaited here, one coroutine less on every resume
            return await branch.body.mediate(ctx, rest)
        return await branch.run(ctx, self.location, rest)

    mediate_rest = mediate


class Switch(Mediator):
    """The first `<case regex>` that fully matches the source runs, else `<default>`; a null source
    goes straight to the default."""

    __slots__ = ("source", "cases", "default")
    tag = "switch"

    def __init__(
        self,
        source: Expression,
        cases: tuple[tuple[Pattern[str], MediatorList], ...],
        default: MediatorList | None,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.source = source
        self.cases = cases
        self.default = default

    @property
    def reads_body(self) -> bool:
        return self.source.needs_body

    @property
    def continues(self) -> bool:
        bodies = [body for _, body in self.cases] + ([self.default] if self.default is not None else [])
        return any(body.holds_continuation for body in bodies)

    async def mediate(self, ctx: MessageContext, rest: MediatorList | None = None) -> bool:
        """With a split inside (`mediate_rest`): what follows the switch comes after the case for its copies."""
        text = self.source.string_value(ctx)
        if text is not None:
            for regex, body in self.cases:
                if regex.fullmatch(text) is not None:
                    return await body.mediate(ctx, rest)
        if self.default is not None:
            return await self.default.mediate(ctx, rest)
        return True

    mediate_rest = mediate
