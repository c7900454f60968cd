"""Synapse's condition language (W: commons/evaluators): `and`, `or`, `not`, `equal` and `match` over a URL,
transport headers, URL query parameters, properties or the SOAP envelope. The `rewrite` and
`conditionalRouter` mediators use it. Conditions are parsed and their regexes and XPaths compiled at deploy
time (gateway/deploy/factories/routing.py); here they only run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from collections.abc import Mapping

    from regex import Pattern

    from gateway.expressions import Expression
    from gateway.message.context import MessageContext


class EvalContext:
    """W: EvaluatorContext: the URL being looked at, the transport headers, the default-scope properties."""

    __slots__ = ("url", "headers", "properties", "ctx", "_params")

    def __init__(self, url: str, headers: Mapping[str, str], properties: Mapping[str, Any], ctx: MessageContext):
        self.url = url
        self.headers = headers
        self.properties = properties
        self.ctx = ctx
        self._params: dict[str, str] | None = None

    def param(self, name: str) -> str | None:
        """W: getParam: name=value pairs after the first '?', values URL-decoded; a pair without '=' is skipped."""
        if self._params is None:
            self._params = {}
            cut = self.url.find("?")
            if cut > -1:
                for pair in self.url[cut + 1 :].split("&"):
                    parts = pair.split("=")
                    if len(parts) >= 2:
                        self._params[parts[0]] = unquote(parts[1])
        return self._params.get(name)


_URL_PARTS = ("protocol", "user", "host", "port", "path", "query", "ref")


@dataclass(frozen=True, slots=True)
class Source:
    """W: the SourceTextRetrievers: `type` header (the default), param, url (with an optional fragment),
    property, or soap (an XPath on the envelope)."""

    type: str
    name: str | None
    xpath: Expression | None = None

    def text(self, ec: EvalContext) -> str | None:
        if self.type == "header":
            assert self.name is not None
            return ec.headers.get(self.name)
        if self.type == "param":
            assert self.name is not None
            return ec.param(self.name)
        if self.type == "property":
            assert self.name is not None
            value = ec.properties.get(self.name)
            return None if value is None else str(value)
        if self.type == "soap":
            assert self.xpath is not None
            return self.xpath.string_value(ec.ctx)
        return url_fragment(ec.url, self.name)


def url_fragment(url: str, fragment: str | None) -> str | None:
    """W: URLTextRetriever: the whole URL, or one part as java.net.URI gives it (port -1 when absent)."""
    if fragment is None:
        return url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        from gateway.errors import MediationError

        raise MediationError(f"Error parsing URL: {url}") from None
    if fragment == "protocol":
        return parts.scheme or None
    if fragment == "user":
        return unquote(parts.username) if parts.username is not None else None
    if fragment == "host":
        return parts.hostname
    if fragment == "port":
        return str(port if port is not None else -1)
    if fragment == "path":
        return unquote(parts.path)
    if fragment == "query":
        return unquote(parts.query) if parts.query or "?" in url else None
    return unquote(parts.fragment) if parts.fragment or "#" in url else None


class Evaluator:
    __slots__ = ()

    def evaluate(self, ec: EvalContext) -> bool:
        raise NotImplementedError


class And(Evaluator):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Evaluator, ...]) -> None:
        self.children = children

    def evaluate(self, ec: EvalContext) -> bool:
        return all(child.evaluate(ec) for child in self.children)


class Or(Evaluator):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Evaluator, ...]) -> None:
        self.children = children

    def evaluate(self, ec: EvalContext) -> bool:
        return any(child.evaluate(ec) for child in self.children)


class Not(Evaluator):
    __slots__ = ("child",)

    def __init__(self, child: Evaluator) -> None:
        self.child = child

    def evaluate(self, ec: EvalContext) -> bool:
        return not self.child.evaluate(ec)


class Equal(Evaluator):
    """W: EqualEvaluator: the source text equals the value, ignoring case; a missing source is false."""

    __slots__ = ("source", "value")

    def __init__(self, source: Source, value: str) -> None:
        self.source = source
        self.value = value

    def evaluate(self, ec: EvalContext) -> bool:
        text = self.source.text(ec)
        return text is not None and text.lower() == self.value.lower()


class Match(Evaluator):
    """W: MatchEvaluator: the whole source text matches the regex (Matcher.matches)."""

    __slots__ = ("source", "regex")

    def __init__(self, source: Source, regex: Pattern[str]) -> None:
        self.source = source
        self.regex = regex

    def evaluate(self, ec: EvalContext) -> bool:
        text = self.source.text(ec)
        return text is not None and self.regex.fullmatch(text) is not None


def needs_body(evaluator: Evaluator) -> bool:
    if isinstance(evaluator, (And, Or)):
        return any(needs_body(child) for child in evaluator.children)
    if isinstance(evaluator, Not):
        return needs_body(evaluator.child)
    if isinstance(evaluator, (Equal, Match)):
        return evaluator.source.xpath is not None and evaluator.source.xpath.needs_body
    return False
