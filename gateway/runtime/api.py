"""REST APIs at request time: the deployed model and MI's dispatch (W: api/API, Resource, ApiUtils,
AbstractApiHandler, the RESTDispatchers, URITemplateHelper, URLMappingHelper and the version strategies).

Everything a request is matched against is compiled at deploy time: a URI template is a chain of nodes
(W: commons/templates/uri), a URL mapping its segments or extension. APIs are indexed by context, so
finding the API of a request costs one dict lookup per segment of its path, whatever the number of APIs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, unquote_plus

from gateway.errors import SourceLocation

if TYPE_CHECKING:
    import regex

    from gateway.mediators.base import Mediator

# W: RESTConstants
METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH")
ALL_SUPPORTED_METHODS = "GET, POST, PUT, DELETE"  # the Allow header of a resource that names no methods
VERSION_TYPES = ("url", "context")


class TemplateError(ValueError):
    """A uri-template MI's parser rejects (W: URITemplateException)."""


# -- URI templates (W: commons/templates/uri/parser) ------------------------------------------------------
_RESERVED = frozenset(":/?#[]@!$&'()*+,;=")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_VARIABLE_NAME = re.compile(r"[A-Za-z0-9._-]+")
_OPERATORS = "+./;?&#"


def _java_split(text: str, separator: str) -> list[str]:
    """String.split: trailing empty strings are dropped (but "" stays [""])."""
    parts = text.split(separator)
    if len(parts) == 1:
        return parts
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _decode_path(value: str) -> str | None:
    """W: Expression.decodeValue (URLDecoder with '+' kept); a malformed escape does not match (Java throws)."""
    if "%" not in value:
        return value
    if _BAD_ESCAPE.search(value):
        return None
    return unquote(value, errors="replace")


class _Node:
    __slots__ = ("token", "next", "query")

    def __init__(self, token: str) -> None:
        self.token = token
        self.next: _Node | None = None
        self.query = False  # a literal holding '?': the template has a query part

    def match(self, fragment: str, variables: dict[str, str]) -> int:
        raise NotImplementedError

    @property
    def first_character(self) -> str:
        raise NotImplementedError

    def match_all(self, fragment: str, variables: dict[str, str]) -> int:
        """W: Node.matchAll, quirks included (a failing successor subtracts one, as in Java)."""
        length = self.match(fragment, variables)
        if length < 0:
            return -1
        if length < len(fragment):
            if self.next is not None:
                return length + self.next.match_all(fragment[length:], variables)
            return length + 1 if fragment.endswith("/") else length
        if self.next is not None:  # everything matched, nodes are left
            token = self.next.token.lower()
            if token in ("*", "/*"):
                return length
            if self.next.token.startswith("{") and "=" in fragment:
                return length + self.next.match_all(fragment[length:], variables)
            return -1
        return length


class _Literal(_Node):
    __slots__ = ()

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.query = "?" in token

    def match(self, fragment: str, variables: dict[str, str]) -> int:
        token = self.token
        if token.endswith("*"):  # a trailing '*' matches the rest
            return len(fragment) if fragment.startswith(token[:-1]) else -1
        return len(token) if fragment.startswith(token) else -1

    @property
    def first_character(self) -> str:
        return self.token[0]


class _Variable:
    __slots__ = ("name", "prefix")

    def __init__(self, text: str) -> None:
        name, colon, prefix = text.partition(":")
        if not _VARIABLE_NAME.fullmatch(name):
            bad = next((c for c in name if not _VARIABLE_NAME.fullmatch(c)), name[:1] or "?")
            raise TemplateError(f"Invalid character: '{bad}' in expression")
        self.name = name
        self.prefix = -1
        if colon:
            try:
                self.prefix = int(prefix)
            except ValueError:
                raise TemplateError(f"Invalid variable prefix: {prefix}") from None
            if self.prefix <= 0:
                raise TemplateError(f"Invalid variable prefix: {self.prefix}")

    def accepts(self, value: str) -> bool:
        return self.prefix <= 0 or len(value) == self.prefix


class _Simple(_Node):
    """`{x}` or `{x,y}`: stops at a reserved character or at the next node's first character."""

    __slots__ = ("variables", "scanner")
    separator = ","

    def __init__(self, token: str) -> None:
        super().__init__("{" + token + "}")
        self.scanner: re.Pattern[str] | None = None  # set by prepare() for the one-variable fast path
        names: list[_Variable] = []
        start = 0
        for index, char in enumerate(token):
            if char == ",":
                if start == index:
                    raise TemplateError("Illegal variable reference with zero length")
                names.append(_Variable(token[start:index]))
                start = index + 1
            elif index == len(token) - 1 and start < len(token):
                names.append(_Variable(token[start:]))
        self.variables = tuple(names)

    def reserved(self, char: str) -> bool:
        return char in _RESERVED

    @property
    def first_character(self) -> str:
        return "\x01"

    def prepare(self) -> None:
        """Once the next node is known (deploy time): one variable whose separator can never be inside its
        value (it is reserved, or the whole text is the value) ends at the first reserved character or at the
        next node's first character, so one precompiled scan finds the end, as Java's loop does."""
        if len(self.variables) != 1 or not (self.separator in _RESERVED or isinstance(self, _Reserved)):
            return
        stops = {char for char in _RESERVED if self.reserved(char)}
        if self.next is not None:
            stops.add(self.next.first_character)
        self.scanner = re.compile("[" + re.escape("".join(sorted(stops))) + "]" if stops else "(?!)")

    def match(self, fragment: str, variables: dict[str, str]) -> int:
        if self.scanner is not None:
            if not fragment:
                return 0
            found = self.scanner.search(fragment)
            end = found.start() if found is not None else len(fragment)
            value = _decode_path(fragment[:end])
            return end if value is not None and self._set(self.variables[0], value, variables) else -1
        stop = self.next.first_character if self.next is not None else None
        last = len(fragment) - 1
        for index, char in enumerate(fragment):
            if self.reserved(char) or char == stop:
                if char == self.separator and len(self.variables) > 1:
                    continue
                return index if self.assign(fragment[:index], variables) else -1
            if index == last:
                return len(fragment) if self.assign(fragment, variables) else -1
        return 0

    def assign(self, text: str, variables: dict[str, str]) -> bool:
        values = _java_split(text, self.separator)
        if len(values) > len(self.variables):
            return False
        for index, variable in enumerate(self.variables):
            value = _decode_path(values[index]) if index < len(values) else ""
            if value is None or not self._set(variable, value, variables):
                return False
        return True

    @staticmethod
    def _set(variable: _Variable, value: str, variables: dict[str, str]) -> bool:
        if variables.get(variable.name, value) != value or not variable.accepts(value):
            return False
        variables[variable.name] = value
        return True


class _Reserved(_Simple):
    """`{+x}`: reserved characters are part of the value."""

    __slots__ = ()

    def reserved(self, char: str) -> bool:
        return False

    def assign(self, text: str, variables: dict[str, str]) -> bool:
        if len(self.variables) == 1:
            value = _decode_path(text)
            return value is not None and self._set(self.variables[0], value, variables)
        return super().assign(text, variables)


class _Label(_Simple):
    """`{.x}`; `{/x}` (a path segment) is the same with '/'."""

    __slots__ = ()
    separator = "."

    @property
    def first_character(self) -> str:
        return self.separator

    def match(self, fragment: str, variables: dict[str, str]) -> int:
        if fragment.startswith(self.separator):
            return super().match(fragment[1:], variables) + 1
        return 0


class _PathSegment(_Label):
    __slots__ = ()
    separator = "/"


class _Fragment(_Reserved):
    """`{#x}`."""

    __slots__ = ()

    @property
    def first_character(self) -> str:
        return "#"

    def match(self, fragment: str, variables: dict[str, str]) -> int:
        if fragment.startswith("#"):
            return super().match(fragment[1:], variables) + 1
        return 0


def _expression(token: str) -> _Node:
    if not token:
        raise TemplateError("Invalid template expression: {}")
    kinds: dict[str, type[_Simple]] = {"#": _Fragment, "+": _Reserved, ".": _Label, "/": _PathSegment}
    if token[0] in kinds:
        return kinds[token[0]](token[1:])
    if token[0] in _OPERATORS:
        raise TemplateError(f"Unsupported template expression: {{{token}}}")
    return _Simple(token)


class UriTemplate:
    """A resource's uri-template, parsed once (W: URITemplate and URITemplateParser): `/x/{a}`, `{+a}`,
    `{#a}`, `{.a}`, `{/a}`, a literal query part (`/x?a={a}&b={b}`) and trailing `*` literals."""

    __slots__ = ("text", "head", "optional_query", "variable_names", "pattern")

    def __init__(self, text: str) -> None:
        self.text = text
        template = text[:-1] if text != "/" and text.endswith("/") else text
        nodes: list[_Node] = []
        in_expression = False
        start = 0
        last = len(template) - 1
        for index, char in enumerate(template):
            if char == "{":
                if in_expression:
                    raise TemplateError("Already in expression")
                if index + 1 >= last:
                    raise TemplateError("Illegal open brace character")
                in_expression = True
                if index > start:
                    nodes.append(_Literal(template[start:index]))
                    start = index + 1
                elif index == 0 or template[index - 1] != "}":
                    raise TemplateError("Illegal empty literal")
                else:
                    start += 1
            elif char == "}":
                if not in_expression:
                    raise TemplateError("Illegal closing brace detected")
                in_expression = False
                if index <= start:
                    raise TemplateError("Illegal empty expression")
                nodes.append(_expression(template[start:index]))
                start = index + 1
            elif index == last:
                token = template[start:]
                nodes.append(_expression(token) if in_expression else _Literal(token))
        if not nodes:
            raise TemplateError("an empty template")
        for node, successor in zip(nodes, nodes[1:], strict=False):
            node.next = successor
        for node in nodes:
            if isinstance(node, _Simple):
                node.prepare()
        self.head = nodes[0]
        self.optional_query = not any(node.query for node in nodes)
        self.variable_names = tuple(
            variable.name for node in nodes if isinstance(node, _Simple) for variable in node.variables
        )
        self.pattern = _one_pattern(nodes)

    def match(self, uri: str) -> dict[str, str] | None:
        """The variables when `uri` (a sub-path with its query) matches, else None (W: URITemplate.matches)."""
        pattern = self.pattern
        if pattern is None or not uri:
            return self._match_nodes(uri)
        # What the node chain answers, for a template _one_pattern compiled: its nodes matched in one go, then
        # the chain's handling of what is left (the last node counts a trailing '/' of the URI as matched, and
        # a template without a query part accepts a query after what matched).
        found = pattern.match(uri)
        if found is None:
            return None
        end, size = found.end(), len(uri)
        if end != size:
            if uri[-1] == "/":
                if end + 1 != size and uri[end + 1] != "?":
                    return None
            elif end == 0 or uri[end] != "?":
                return None
        variables = found.groupdict()
        if "%" in uri:
            for name, value in variables.items():
                decoded = _decode_path(value)
                if decoded is None:
                    return None
                variables[name] = decoded
        return variables

    def _match_nodes(self, uri: str) -> dict[str, str] | None:
        """match() by walking the node chain."""
        variables: dict[str, str] = {}
        length = self.head.match_all(uri, variables)
        if length == len(uri):
            return variables
        # ESBJAVA-4260: a template without a query part accepts any query
        if self.optional_query and 0 < length < len(uri) and uri[length] == "?":
            return variables
        return None


def _one_pattern(nodes: list[_Node]) -> re.Pattern[str] | None:
    """The whole template as one regular expression, for the common shape: literals and `{x}` variables, one
    after the other. The node chain is deterministic there (a variable ends at the first reserved character
    or the next literal's first character, which a literal then has to start with), so the expression
    matches what the chain matches. None for anything else (a `*` literal, a query part, a literal with '='
    whose variable may then stay unset, `{+x}` `{#x}` `{.x}` `{/x}`, several or prefixed or repeated
    variables, two variables in a row, a name that is no identifier): those keep the chain."""
    parts: list[str] = []
    names: set[str] = set()
    for node in nodes:
        if type(node) is _Literal:
            token = node.token
            if token.endswith("*") or "?" in token or "=" in token:
                return None
            parts.append(re.escape(token))
        elif type(node) is _Simple:
            if len(node.variables) != 1 or node.variables[0].prefix > 0:
                return None
            if node.next is not None and type(node.next) is not _Literal:
                return None
            name = node.variables[0].name
            if name in names or not name.isidentifier():  # a group of the expression, by name
                return None
            names.add(name)
            stops = set(_RESERVED)
            if node.next is not None:
                stops.add(node.next.first_character)
            # never at the end: the chain reaches a variable with something left to match only
            parts.append(f"(?!\\Z)(?P<{name}>[^" + "".join(re.escape(char) for char in sorted(stops)) + "]*)")
        else:
            return None
    return re.compile("".join(parts), re.DOTALL)


# -- URL mappings (W: URLMappingHelper) -------------------------------------------------------------------
class UrlMapping:
    """`url-mapping`: exact (`/a/b`), prefix (`/a/*`, `/*`) or extension (`*.jsp`)."""

    __slots__ = ("text", "segments", "extension", "exact")

    def __init__(self, text: str) -> None:
        self.text = text
        self.segments: tuple[str, ...] | None = None
        self.extension: str | None = None
        self.exact: str | None = None
        if text.startswith("/") and text.endswith("/*"):
            self.segments = tuple(text[1:-2].split("/")) if len(text) > 2 else ()
        elif text.startswith("*."):
            self.extension = text[1:]
        elif len(text) > 1 and text.endswith("/"):
            self.exact = text[:-1]
        else:
            self.exact = text

    def exact_match(self, url: str) -> bool:
        if self.exact is None:
            return False
        index = url.find("?")
        if index > 0:
            url = url[:index]
        elif index == 0:
            url = "/"
        if url != "/":
            url = url.rstrip("/")
        return self.exact == url

    def prefix_length(self, url: str) -> int:
        if self.segments is None:
            return 0
        if not self.segments:
            return 1
        url = _trim_slashes(url).split("?", 1)[0]
        segments = _java_split(url, "/")
        if len(segments) < len(self.segments) or any(a != b for a, b in zip(self.segments, segments, strict=False)):
            return 0
        return len(self.segments)

    def extension_match(self, url: str) -> bool:
        return self.extension is not None and url.split("?", 1)[0].endswith(self.extension)


def _trim_slashes(url: str) -> str:
    """W: ApiUtils.trimSlashes, as written (its second test removes the last character)."""
    if url.startswith("/"):
        url = url[1:]
    if url.startswith("/"):
        url = url[:-1]
    return url


# -- the deployed model ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class ApiResource:
    """One `<resource>`: what it accepts and the sequences it runs."""

    location: SourceLocation
    fault_handler: Mediator  # pushed on the fault stack when a sequence of the resource runs
    methods: frozenset[str] = frozenset()  # empty: every method
    mapping: UriTemplate | UrlMapping | None = None  # None: the API's default resource
    protocol: str | None = None  # "http" or "https" only
    content_type: str | None = None
    user_agent: regex.Pattern[str] | None = None
    in_sequence: Mediator | None = None
    out_sequence: Mediator | None = None
    mapping_text: str | None = field(init=False, repr=False)  # the uri-template or url-mapping as written

    def __post_init__(self) -> None:
        object.__setattr__(self, "mapping_text", self.mapping.text if self.mapping is not None else None)

    @property
    def options_only(self) -> bool:
        return self.methods == {"OPTIONS"}

    def allows(self, method: str) -> bool:
        """W: Resource.hasMatchingMethod: OPTIONS is always welcome."""
        return method == "OPTIONS" or not self.methods or method in self.methods

    @property
    def allow_header(self) -> str:
        """W: Resource.getSupportedMethods (OPTIONS left out), in MI's method order."""
        if not self.methods:
            return ALL_SUPPORTED_METHODS
        return ", ".join(method for method in METHODS if method in self.methods and method != "OPTIONS")


@dataclass(frozen=True, slots=True, eq=False)
class RestApi:
    """An `<api>`: a context (with an optional version) and its resources."""

    api_name: str  # the name attribute
    context: str  # trailing slashes trimmed; a context version already substituted; "" for "/"
    location: SourceLocation
    resources: tuple[ApiResource, ...]
    version: str = ""
    version_type: str = ""  # "", "url" or "context"
    host: str | None = None
    port: int | None = None
    protocol: str | None = None  # transports="http" or "https"
    description: str | None = None
    publish_swagger: str | None = None  # a registry path MI would read the OpenAPI document from
    # Precomputed at deploy time: every resource by kind of mapping, and, when no resource looks at the
    # Content-Type or User-Agent, the acceptable resources by (method, scheme).
    every: _Groups = field(init=False, repr=False)
    plans: Mapping[tuple[str, str], _Groups] = field(init=False, repr=False)
    # W: API.getName: the name, with `:vVERSION` when the API has a version
    name: str = field(init=False, repr=False)
    # where the resources start: the context, and the version for url versioning
    base_path: str = field(init=False, repr=False)
    # no url version, host, port nor protocol to check: the API takes every request under its context
    accepts_all: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", f"{self.api_name}:v{self.version}" if self.version else self.api_name)
        url_version = self.version_type == "url"
        object.__setattr__(self, "base_path", f"{self.context}/{self.version}" if url_version else self.context or "/")
        object.__setattr__(
            self,
            "accepts_all",
            not url_version and self.host is None and self.port is None and self.protocol is None,
        )
        object.__setattr__(self, "every", _groups(self.resources))
        plans: dict[tuple[str, str], _Groups] = {}
        if not any(r.content_type is not None or r.user_agent is not None for r in self.resources):
            for scheme in ("http", "https"):
                for method in METHODS:
                    plans[(method, scheme)] = _groups(_acceptable(self.resources, Request(method, "", None, scheme)))
        object.__setattr__(self, "plans", plans)

    def summary(self) -> str:
        """One line for `gateway validate`: `api NAME at /base: GET POST /items/{id}, * (default)`."""
        resources = ", ".join(
            f"{' '.join(m for m in METHODS if m in r.methods) or '*'} {r.mapping_text or '(default)'}"
            for r in self.resources
        )
        return f"api {self.name} at {self.base_path}: {resources}"


# -- dispatch -------------------------------------------------------------------------------------------
@dataclass(slots=True)
class ApiMatch:
    """The API a request belongs to, and the resource it elected or the status MI answers instead."""

    api: RestApi
    path: str  # the full request path with its query, as received (REST_FULL_REQUEST_PATH)
    sub_path: str  # after the context (and url version), with the query (REST_SUB_REQUEST_PATH)
    postfix: str  # REST_URL_POSTFIX
    resource: ApiResource | None = None
    variables: dict[str, str] = field(default_factory=dict)  # uri.var.*
    status: int | None = None  # 404 no resource matches, 405 method not allowed, 400 nothing acceptable


@dataclass(slots=True)
class Request:
    """What dispatch reads of a request (built for every request that may be an API's: not frozen, which
    would make its construction slower)."""

    method: str
    path: str  # raw path and query
    host: str | None  # the Host header
    scheme: str = "http"
    content_type: str | None = None
    has_body: bool = False
    user_agent: str | None = None


class ApiIndex:
    """Every deployed API by context, in MI's order of preference (W: SynapseConfiguration.reconstructAPITable
    and AbstractApiHandler.dispatchToAPI): versioned APIs first, then the longest context, then load order."""

    __slots__ = ("by_context", "versioned_contexts", "reads_host", "reads_details")

    def __init__(self, apis: Iterable[RestApi]) -> None:
        by_context: dict[str, list[RestApi]] = {}
        for api in apis:
            by_context.setdefault(api.context, []).append(api)
        self.by_context: Mapping[str, tuple[RestApi, ...]] = {key: tuple(found) for key, found in by_context.items()}
        self.versioned_contexts = frozenset(
            key for key, found in by_context.items() if any(a.version_type for a in found)
        )
        every = [api for found in by_context.values() for api in found]
        # what of a request dispatch reads (the rest of a Request may be left out): its Host header when an
        # API names a host or port; its Content-Type, body and User-Agent when a resource looks at them
        self.reads_host = any(api.host is not None or api.port is not None for api in every)
        self.reads_details = any(not api.plans for api in every)

    def __bool__(self) -> bool:
        return bool(self.by_context)

    def find(self, request: Request) -> RestApi | None:
        """The API that takes the request, or None (then the `main` sequence does)."""
        path = request.path
        cut = path.find("?")
        if cut != -1:
            path = path[:cut]
        by_context = self.by_context
        if self.versioned_contexts:
            for context in self._contexts(path):
                if context in self.versioned_contexts:
                    for versioned in by_context[context]:
                        if versioned.version_type and _accepts(versioned, request):
                            return versioned
        # the longest context first: the path itself, each of its '/' prefixes, then "" (the root context "/")
        apis = by_context.get(path)
        if apis is not None and (api := _first_accepting(apis, request)) is not None:
            return api
        index = path.rfind("/")
        while index > 0:
            apis = by_context.get(path[:index])
            if apis is not None and (api := _first_accepting(apis, request)) is not None:
                return api
            index = path.rfind("/", 0, index)
        apis = by_context.get("")
        return _first_accepting(apis, request) if apis is not None else None

    def _contexts(self, path: str) -> list[str]:
        """The contexts a path can belong to, longest first: the path itself, each of its '/' prefixes,
        and "" (the root context "/")."""
        found = [path] if path in self.by_context else []
        index = path.rfind("/")
        while index > 0:
            prefix = path[:index]
            if prefix in self.by_context:
                found.append(prefix)
            index = path.rfind("/", 0, index)
        if "" in self.by_context:
            found.append("")
        return found


def _first_accepting(apis: tuple[RestApi, ...], request: Request) -> RestApi | None:
    """The first API of a context (in MI's order) that takes the request."""
    for api in apis:
        if api.accepts_all or _accepts(api, request):
            return api
    return None


def _accepts(api: RestApi, request: Request) -> bool:
    """W: API.canProcess for a request whose path is under the API's context."""
    if api.version_type == "url" and not _url_version_matches(api, request.path):
        return False
    if api.host is not None or api.port is not None:
        if not request.host:
            return False
        host, colon, port = request.host.partition(":")  # W: extractHostName / extractPortNumber
        if api.host is not None and api.host != host:
            return False
        if api.port is not None:
            given = (int(port) if port.isdigit() else -1) if colon else (80 if request.scheme == "http" else 443)
            if api.port != given:
                return False
    return api.protocol is None or api.protocol == request.scheme


def _url_version_matches(api: RestApi, path: str) -> bool:
    """W: URLBasedVersionStrategy.isMatchingVersion: the segment after the context is the version."""
    after = path[len(api.context) :]
    if not after.startswith("/"):
        return False
    rest = after[1:]
    slash, query = rest.find("/"), rest.find("?")
    if slash != -1 and (query == -1 or slash < query):
        return rest[:slash] == api.version
    return (rest[:query] if query != -1 else rest) == api.version


def elect(api: RestApi, request: Request) -> ApiMatch:
    """W: API.process for a request: the sub-path, then the resource (or the status MI answers)."""
    path = request.path
    if api.version_type == "url":
        sub_path = path[len(api.context) + len(api.version) + 1 :]
        postfix = _postfix(api, path)
    else:
        sub_path = path[len(api.context) :]
        # what _postfix computes when the path starts with '/' and the context (as a path found by context does)
        postfix = sub_path if path.startswith("/") and path.startswith(api.context) else _postfix(api, path)
    sub_path = sub_path or "/"
    acceptable = api.plans.get((request.method, request.scheme))
    if acceptable is None:
        acceptable = _groups(_acceptable(api.resources, request))
    if any(acceptable):
        found = _dispatch(acceptable, sub_path)
        if found is None:
            return ApiMatch(api, path, sub_path, postfix, status=404)
        return ApiMatch(api, path, sub_path, postfix, found[0], found[1])
    found = _dispatch(api.every, sub_path)
    status = 404 if found is None else 400 if found[0].allows(request.method) else 405
    return ApiMatch(api, path, sub_path, postfix, status=status)


def _postfix(api: RestApi, path: str) -> str:
    """W: API.process: REST_URL_POSTFIX is the request path after the context (and the url version)."""
    postfix = path if path.startswith("/") else "/" + path
    if postfix.startswith(api.context):
        postfix = postfix[len(api.context) :]
    if api.version_type == "url":
        if postfix.startswith(api.version):
            postfix = postfix[len(api.version) :]
        elif postfix.startswith("/" + api.version):
            postfix = postfix[len(api.version) + 1 :]
    return postfix


def _acceptable(resources: tuple[ApiResource, ...], request: Request) -> list[ApiResource]:
    """W: ApiUtils.getAcceptableResources: OPTIONS-only resources first, then the others, in order."""
    accepted = [resource for resource in resources if _resource_accepts(resource, request)]
    return [r for r in accepted if r.options_only] + [r for r in accepted if not r.options_only]


def _resource_accepts(resource: ApiResource, request: Request) -> bool:
    """W: Resource.canProcess."""
    if resource.protocol is not None and resource.protocol != request.scheme:
        return False
    if request.method != "OPTIONS" and resource.methods and request.method not in resource.methods:
        return False
    if resource.content_type is not None and request.has_body and resource.content_type != request.content_type:
        return False
    if resource.user_agent is not None:
        if request.user_agent is None or resource.user_agent.fullmatch(request.user_agent) is None:
            return False
    return True


_Groups = tuple[
    tuple[tuple[ApiResource, UrlMapping], ...], tuple[tuple[ApiResource, UriTemplate], ...], tuple[ApiResource, ...]
]


def _groups(resources: Iterable[ApiResource]) -> _Groups:
    """(URL mappings, URI templates, default resources), each in order, with their mappings."""
    resources = tuple(resources)
    return (
        tuple((r, r.mapping) for r in resources if isinstance(r.mapping, UrlMapping)),
        tuple((r, r.mapping) for r in resources if isinstance(r.mapping, UriTemplate)),
        tuple(r for r in resources if r.mapping is None),
    )


def _dispatch(groups: _Groups, sub_path: str) -> tuple[ApiResource, dict[str, str]] | None:
    """W: ApiUtils.getDispatchers: URL mappings (exact, then the longest prefix, then the extension), then
    URI templates in order, then the default resource."""
    mappings, templates, defaults = groups
    if mappings:
        for resource, mapping in mappings:
            if mapping.exact_match(sub_path):
                return resource, {}
        best, longest = None, 0
        for resource, mapping in mappings:
            length = mapping.prefix_length(sub_path)
            if length > longest:
                best, longest = resource, length
        if best is not None:
            return best, {}
        for resource, mapping in mappings:
            if mapping.extension_match(sub_path):
                return resource, {}
    for resource, template in templates:
        variables = template.match(sub_path)
        if variables is not None:
            return resource, variables
    return (defaults[0], {}) if defaults else None


def query_parameters(path: str) -> dict[str, str]:
    """W: ApiUtils.populateQueryParamsToMessageContext: `query.param.NAME` values, '+' and %XX decoded; an
    entry without '=' continues the previous value (`a=1&2` gives a = "1&2"). Raises ValueError on a
    malformed escape (MI answers 400)."""
    found: dict[str, str] = {}
    index = path.find("?")
    if index == -1:
        return found
    name: str | None = None
    for entry in _java_split(path[index + 1 :], "&"):
        equals = entry.find("=")
        if equals != -1:
            name = entry[:equals]
            value = entry[equals + 1 :]
            if _BAD_ESCAPE.search(value):
                raise ValueError(value)
            found[name] = unquote_plus(value, errors="replace")
        else:
            key = name if name is not None else "null"
            found[key] = f"{found.get(key, 'null')}&{entry}"
    return found
