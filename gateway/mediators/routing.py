"""`rewrite` (W: mediators/transform/url/{URLRewriteMediator,RewriteRule,RewriteAction}, URIFragments) and
`conditionalRouter` (W: mediators/filters/router/ConditionalRouterMediator), both driven by Synapse's
condition language (gateway/mediators/evaluators.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from gateway.errors import MediationError
from gateway.mediators.base import Mediator
from gateway.mediators.evaluators import EvalContext, Evaluator, needs_body

if TYPE_CHECKING:
    from regex import Pattern

    from gateway.errors import SourceLocation
    from gateway.expressions import Expression
    from gateway.message.context import MessageContext

FRAGMENTS = ("protocol", "user", "host", "port", "path", "query", "ref", "full")
ACTIONS = ("set", "append", "prepend", "replace", "remove", "remove-query-param")
# What java.net.URI's multi-argument constructor leaves as it is in a component (the rest is %-escaped).
_SAFE = "/:@!$&'()*+,;=-._~?"


@dataclass(slots=True)
class UriFragments:
    """W: URIFragments: the decoded components of java.net.URI (port -1 when absent)."""

    protocol: str | None = None
    user: str | None = None
    host: str | None = None
    port: int = -1
    path: str | None = None
    query: str | None = None
    ref: str | None = None

    @classmethod
    def parse(cls, text: str) -> UriFragments:
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            raise MediationError(f"Malformed input URI: {text}") from None
        user = None
        if "@" in parts.netloc:
            user = unquote(parts.netloc.rpartition("@")[0])
        return cls(
            protocol=parts.scheme or None,
            user=user,
            host=parts.hostname,
            port=port if port is not None else -1,
            path=unquote(parts.path) or None,
            query=unquote(parts.query) if parts.query or "?" in text else None,
            ref=unquote(parts.fragment) if parts.fragment or "#" in text else None,
        )

    def get(self, name: str) -> str | None:
        value: str | None = getattr(self, name)
        return value

    def text(self) -> str:
        """W: toURIString: new URI(scheme, userInfo, host, port, path, query, fragment).toASCIIString()."""
        out = []
        if self.protocol:
            out.append(self.protocol + ":")
        if self.host:
            out.append("//")
            if self.user:
                out.append(quote(self.user, safe=_SAFE.replace("@", "").replace("/", "").replace("?", "")) + "@")
            out.append(self.host)
            if self.port != -1:
                out.append(f":{self.port}")
        if self.path:
            if self.protocol and self.host and not self.path.startswith("/"):
                raise MediationError(
                    "Error while constructing a URI from the fragments",
                    detail=f"relative path in absolute URI: {self.path}",
                )
            out.append(quote(self.path, safe=_SAFE.replace("?", "")))
        if self.query is not None:
            out.append("?" + quote(self.query, safe=_SAFE))
        if self.ref is not None:
            out.append("#" + quote(self.ref, safe=_SAFE))
        return "".join(out)


@dataclass(frozen=True, slots=True)
class RewriteAction:
    fragment: str  # one of FRAGMENTS
    type: str  # one of ACTIONS
    value: str | None
    xpath: Expression | None
    regex: Pattern[str] | None
    resolve: bool

    def execute(self, fragments: UriFragments, ctx: MessageContext) -> UriFragments:
        result = self.xpath.string_value(ctx) if self.xpath is not None else self.value
        if self.fragment == "full":  # W: the action type does not matter for the whole URI
            return UriFragments.parse(result or "")
        if self.fragment == "port":
            if result is None:
                fragments.port = -1
                return fragments
            try:
                fragments.port = int(result)
            except ValueError:
                raise MediationError(f"the rewrite port '{result}' is not a number") from None
            return fragments
        current = fragments.get(self.fragment) or ""
        text: str | None
        joint = "&" if self.fragment == "query" and current else ""  # W: query parameters are joined with &
        if self.type == "prepend":
            text = "" if result is None else result + joint + current
        elif self.type == "append":
            text = "" if result is None else current + joint + result
        elif self.type == "replace":
            assert self.regex is not None
            text = "" if result is None else self.regex.sub(_java_replacement(result), current)
        elif self.type == "remove":
            text = None
        elif self.type == "remove-query-param":
            text = _remove_query_param(current, result) if current else ""
        else:
            text = result
        if self.resolve and text:
            text = _resolve(text, ctx)
        setattr(fragments, self.fragment, text)
        return fragments


def _java_replacement(replacement: str) -> str:
    """Java's replaceAll replacement ($1, \\$) in the regex module's template syntax (\\1, $)."""
    out, i = [], 0
    while i < len(replacement):
        char = replacement[i]
        if char == "\\" and i + 1 < len(replacement):
            out.append("\\\\" if replacement[i + 1] == "\\" else replacement[i + 1])
            i += 2
            continue
        if char == "$" and i + 1 < len(replacement) and replacement[i + 1].isdigit():
            out.append("\\g<" + replacement[i + 1] + ">")
            i += 2
            continue
        out.append("\\\\" if char == "\\" else char)
        i += 1
    return "".join(out)


def _remove_query_param(query: str, name: str | None) -> str:
    """W: the first parameter that the pattern `name=.*` finds is dropped."""
    pattern = re.compile(re.escape(name or "null") + "=.*")
    params = query.split("&")
    for index, param in enumerate(params):
        if pattern.search(param):
            del params[index]
            break
    return "&".join(params)


def _resolve(text: str, ctx: MessageContext) -> str:
    """W: resolve="true": each {name} is replaced by the property `name`; one missing empties the fragment."""
    for name in re.findall(r"[^{}]*\{([^{}]*)}", text):
        value = ctx.properties.get(name)
        if value is None or value == "":
            return ""
        text = text.replace("{" + name + "}", str(value))
    return text


@dataclass(frozen=True, slots=True)
class RewriteRule:
    condition: Evaluator | None
    actions: tuple[RewriteAction, ...]


class Rewrite(Mediator):
    """`<rewrite [inProperty] [outProperty]><rewriterule><condition/><action/>…`: rewrite the To address
    (or the URL in inProperty) rule by rule; the result goes to To (or outProperty)."""

    __slots__ = ("rules", "in_property", "out_property")
    tag = "rewrite"

    def __init__(
        self,
        rules: tuple[RewriteRule, ...],
        in_property: str | None,
        out_property: str | None,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.rules = rules
        self.in_property = in_property
        self.out_property = out_property

    @property
    def reads_body(self) -> bool:
        return any(
            (rule.condition is not None and needs_body(rule.condition))
            or any(action.xpath is not None and action.xpath.needs_body for action in rule.actions)
            for rule in self.rules
        )

    async def mediate(self, ctx: MessageContext) -> bool:
        if self.in_property is not None:
            value = ctx.properties.get(self.in_property)
            source = value if isinstance(value, str) else None
        else:
            source = ctx.to
        fragments = UriFragments.parse(source) if source is not None else UriFragments()
        for rule in self.rules:
            if rule.condition is not None:
                ec = EvalContext(fragments.text(), ctx.transport_headers, ctx.properties, ctx)
                if not rule.condition.evaluate(ec):
                    continue
            for action in rule.actions:
                fragments = action.execute(fragments, ctx)
        result = fragments.text()
        if self.out_property is not None:
            ctx.properties[self.out_property] = result
        else:
            ctx.to = result
        return True


# -- conditionalRouter ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RouteTarget:
    """W: Target (synchronous): an inline sequence, a sequence key, or an endpoint the message is sent to."""

    sequence: Mediator | None
    sequence_key: str | None
    endpoint: object | None

    async def run(self, ctx: MessageContext) -> None:
        if self.sequence is not None:
            await self.sequence.mediate(ctx)
        elif self.sequence_key is not None:
            sequence = ctx.config.sequences.get(self.sequence_key)
            if sequence is None:
                raise MediationError(f"Sequence named {self.sequence_key} cannot be found")
            await sequence.mediate(ctx)
        elif self.endpoint is not None:
            await ctx.exchange.services.engine.forward(ctx, self.endpoint, None)


@dataclass(frozen=True, slots=True)
class ConditionalRoute:
    condition: Evaluator
    target: RouteTarget
    break_route: bool


class ConditionalRouter(Mediator):
    """Run the target of every route whose condition holds (of the first, with breakRoute); the flow goes
    on after the router only with continueAfter="true"."""

    __slots__ = ("routes", "continue_after")
    tag = "conditionalRouter"

    def __init__(
        self, routes: tuple[ConditionalRoute, ...], continue_after: bool, location: SourceLocation | None = None
    ) -> None:
        super().__init__(location)
        self.routes = routes
        self.continue_after = continue_after

    @property
    def reads_body(self) -> bool:
        return any(needs_body(route.condition) for route in self.routes)

    async def mediate(self, ctx: MessageContext) -> bool:
        ec = EvalContext(ctx.to or "", ctx.transport_headers, ctx.properties, ctx)
        for route in self.routes:
            if route.condition.evaluate(ec):
                await route.target.run(ctx)
                if route.break_route:
                    break
        return self.continue_after
