"""Synapse XPath 1.0 on lxml (docs/synapse-semantics.md §3.1/§3.2).

At deploy time the expression text is tokenized (string literals are never touched) and
rewritten so that lxml can run it:

* Synapse functions, matched by local name whatever the prefix (`get-property`,
  `synapse:get-property`, `fn:get-property`), and Jaxen's unprefixed extras (`upper-case`, …)
  become calls into a private extension namespace;
* `fn:concat(` and other prefixed XPath 1.0 core functions lose the `fn:` prefix (Apache
  sample 2 uses `fn:` without declaring it);
* `$ctx:x`, `$axis2:x`, `$trp:x`, `$url:x`, `$func:x`, `$operation:x`, `$sys:x`, `$body`,
  `$header`, `$env` and `$map:key` become extension calls (lxml variables cannot be prefixed).

The result is compiled once with `etree.XPath` and probed once against a dummy message so that
unknown functions, bad arity and unbound prefixes fail the deployment, not the first request.
An expression that is only one variable or one get-property() with literal arguments skips lxml
entirely (that is also how a missing property stays null, §3.2).
"""

from __future__ import annotations

import base64
import re
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple, cast

from lxml import etree
from multidict import CIMultiDict, MultiDict, MultiMapping

from gateway.errors import ExpressionError, MediationError
from gateway.message import kinds, scopes
from gateway.message.scopes import VARIABLE_SCOPES

from ._core import (
    BODY_PROPERTIES,
    SCOPES,
    Expression,
    JsonValue,
    get_property,
    json_text,
    map_entry,
    property_getter,
    to_synapse_string,
    xpath_string,
)
from .context import ExpressionContext
from .json_fastpath import FALLBACK, descendant_pattern, descendant_string
from .xml_fastpath import EqualityOnPath, equality_on_path

EXT_NS = "urn:x-synapse-gateway:xpath-ext"
EXT_PREFIX = "_gwx"  # an NCName no configuration uses; always bound to EXT_NS
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
XPATH_FUNCTIONS_NS = "http://www.w3.org/2005/xpath-functions"

XPATH1_FUNCTIONS = frozenset(
    {
        "last", "position", "count", "id", "local-name", "namespace-uri", "name",
        "string", "concat", "starts-with", "contains", "substring-before", "substring-after",
        "substring", "string-length", "normalize-space", "translate",
        "boolean", "not", "true", "false", "lang",
        "number", "sum", "floor", "ceiling", "round",
    }
)  # fmt: skip
NODE_TYPES = frozenset({"node", "text", "comment", "processing-instruction"})
# Synapse functions, found by local name under any prefix (W: SynapseXPathFunctionContext).
SYNAPSE_FUNCTIONS = {
    "get-property": (1, 3),
    "base64Encode": (1, 2),
    "base64Decode": (1, 2),
    "url-encode": (1, 2),
}
# Jaxen registers these in no namespace (XPathFunctionContext extension functions).
JAXEN_FUNCTIONS = {"upper-case": (1, 2), "lower-case": (1, 2), "ends-with": (2, 2)}
UNSUPPORTED_FUNCTIONS = frozenset({"hmac-generate", "encrypt", "decrypt", "evaluate", "document"})
# Functions that read the context node when called without arguments, or always.
_CONTEXT_FUNCTIONS_NOARG = frozenset(
    {"string", "string-length", "normalize-space", "number", "name", "local-name", "namespace-uri"}
)
_CONTEXT_FUNCTIONS = frozenset({"lang", "id", "last", "position"})

# `$ctx:x` → var-ctx('x'), … one extension function per scope variable (gateway.message.scopes).
_SCOPE_VARIABLES = {prefix: f"var-{prefix}" for prefix in VARIABLE_SCOPES}
_ENVELOPE_VARIABLES = {"body": "var-body", "header": "var-header", "env": "var-env"}

# --------------------------------------------------------------------------------------------
# Tokenizer

_NC = r"[^\W\d][\w.\-\u00b7]*"
_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<lit>\"[^\"]*\"|'[^']*')"
    r"|(?P<num>\d+(?:\.\d*)?|\.\d+)"
    rf"|(?P<var>\$(?:{_NC}:)?{_NC})"
    rf"|(?P<name>{_NC}:\*|{_NC}(?::{_NC})?)"
    r"|(?P<op>//|::|\.\.|!=|<=|>=|[/()\[\]@,|+\-=<>*.])"
)
_OPERATOR_NAMES = frozenset({"and", "or", "mod", "div"})
_OPERATORS = frozenset({"/", "//", "|", "+", "-", "=", "!=", "<", "<=", ">", ">=", "*"})


_TokKind = Literal["ws", "lit", "num", "var", "name", "op"]


class _Tok(NamedTuple):
    kind: _TokKind
    text: str
    pos: int


def tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos, end = 0, len(text)
    while pos < end:
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            ch = text[pos]
            if ch in "'\"":
                raise ExpressionError(f"unterminated string literal at offset {pos} in {text!r}")
            raise ExpressionError(f"unexpected character {ch!r} at offset {pos} in {text!r}")
        kind = cast(_TokKind, m.lastgroup)  # the regex's group names are the token kinds
        tokens.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    return tokens


def _literal(value: str) -> str:
    # Names are NCNames, so a single-quoted XPath literal is always possible.
    return f"'{value}'"


def _unquote(lit: str) -> str:
    return lit[1:-1]


# --------------------------------------------------------------------------------------------
# Per-evaluation message context for the extension functions

_state = threading.local()


def _ctx() -> ExpressionContext:
    ctx: ExpressionContext | None = getattr(_state, "ctx", None)
    if ctx is None:
        raise MediationError("Synapse XPath function called outside an expression evaluation")
    return ctx


_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_string(text: str) -> str:
    """lxml refuses a string XML cannot hold (ValueError): such characters become U+FFFD, as in the JSON
    infoset. (MI's Java strings keep them; only what XPath computes with is affected.)"""
    return _NOT_XML_CHAR.sub("\ufffd", text) if _NOT_XML_CHAR.search(text) else text


def _to_xpath(value: Any) -> Any:
    """Hand a property value to lxml: None → empty node-set, element → node, JSON → its text."""
    if isinstance(value, str):
        return _xml_string(value)
    if value is None or isinstance(value, (bool, float, etree._Element)):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, JsonValue):
        return value.text()
    if isinstance(value, etree._ElementTree):
        return value.getroot()
    if isinstance(value, list):
        if all(isinstance(v, (etree._Element, str)) for v in value):
            return value
        return json_text(value)
    if isinstance(value, dict):
        return json_text(value)
    return to_synapse_string(value)


def _envelope_part(ctx: ExpressionContext, local: str) -> Any:
    env = ctx.envelope
    if env is None:
        return None
    for child in env:
        if child.tag == f"{{{SOAP11_NS}}}{local}" or child.tag == f"{{{SOAP12_NS}}}{local}":
            return child
    return None


def _charset(args: tuple[Any, ...]) -> str:
    return xpath_string(args[1]) if len(args) > 1 else "UTF-8"


def _base64_encode(_c: Any, value: Any, *rest: Any) -> str:
    text = xpath_string(value)
    if not text:
        return ""
    charset = _charset((value, *rest))
    try:
        # "replace": Java's String.getBytes(charset) writes '?' for what the charset cannot encode.
        return base64.b64encode(text.encode(charset, "replace")).decode("ascii")
    except (LookupError, UnicodeError) as exc:  # UnicodeError: codecs such as idna fail outright
        raise MediationError(f"base64Encode: unsupported charset {charset}: {exc}") from None


def _base64_decode(_c: Any, value: Any, *rest: Any) -> str:
    text = xpath_string(value)
    if not text:
        return ""
    charset = _charset((value, *rest))
    try:
        # commons-codec is lenient: it skips non-alphabet characters and missing padding.
        cleaned = re.sub(r"[^A-Za-z0-9+/_-]", "", text)
        raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=None, validate=False)
        return _xml_string(raw.decode(charset, "replace").strip("".join(chr(i) for i in range(33))))
    except LookupError as exc:
        raise MediationError(f"base64Decode: unsupported charset: {exc}") from None
    except ValueError:
        return ""


# commons-httpclient URIUtil.encodePathQuery: path chars stay, then query chars after '?'.
_PATH_SAFE = "/-_.!~*'():@&=+$,;"
_QUERY_SAFE = _PATH_SAFE + "?"


def _url_encode(_c: Any, value: Any, *rest: Any) -> str:
    text = xpath_string(value)
    if not text:
        return ""
    charset = _charset((value, *rest))
    try:
        path, sep, query = text.partition("?")
        out = urllib.parse.quote(path, safe=_PATH_SAFE, encoding=charset, errors="replace")  # '?' as in Java
        if sep:
            out += "?" + urllib.parse.quote(query, safe=_QUERY_SAFE, encoding=charset, errors="replace")
        return out
    except (LookupError, UnicodeError) as exc:
        raise MediationError(f"url-encode: unsupported charset {charset}: {exc}") from None


def _get_property(_c: Any, *args: Any) -> Any:
    return _to_xpath(get_property(_ctx(), [xpath_string(a) for a in args]))


_EXTENSIONS: dict[str, Callable[..., Any]] = {
    "get-property": _get_property,
    "base64Encode": _base64_encode,
    "base64Decode": _base64_decode,
    "url-encode": _url_encode,
    "upper-case": lambda _c, s, *_: xpath_string(s).upper(),
    "lower-case": lambda _c, s, *_: xpath_string(s).lower(),
    "ends-with": lambda _c, s, suffix: xpath_string(s).endswith(xpath_string(suffix)),
    "var-map": lambda _c, p, n: _to_xpath(map_entry(_ctx(), p, n)),
    "var-body": lambda _c: _envelope_part(_ctx(), "Body"),
    "var-header": lambda _c: _envelope_part(_ctx(), "Header"),
    "var-env": lambda _c: _ctx().envelope,
}


def _scope_variable(scope: scopes.Scope) -> Callable[..., Any]:
    read = scopes.reader(scope)
    return lambda _c, name: _to_xpath(read(_ctx(), name))


_EXTENSIONS.update({_SCOPE_VARIABLES[prefix]: _scope_variable(scope) for prefix, scope in VARIABLE_SCOPES.items()})

# Registered per expression (extensions=), never globally: lxml installs every function of a
# global FunctionNamespace into each XPath evaluation of the process (measured ~3.5 µs each).


# Direct (lxml-free) resolvers for a whole expression that is a single variable.
def _direct_variable(prefix: str | None, name: str) -> Callable[[ExpressionContext], Any]:
    if prefix is None:
        local = "Body" if name == "body" else "Header"
        if name == "env":
            return lambda ctx: [ctx.envelope]
        return lambda ctx: _as_nodes(_envelope_part(ctx, local))
    scope = VARIABLE_SCOPES.get(prefix)
    if scope is not None:
        return scopes.getter(scope, name)
    return lambda ctx: map_entry(ctx, prefix, name)


def _as_nodes(node: Any) -> list[Any]:
    return [] if node is None else [node]


# --------------------------------------------------------------------------------------------
# Probe context used once at deploy time to surface evaluation-time lxml errors.


class _ProbeContext:
    properties: dict[str, Any] = {}
    axis2: dict[str, Any] = {}
    operation: dict[str, Any] = {}
    transport_headers: CIMultiDict[str] = CIMultiDict()
    query_params: MultiMapping[str] = MultiDict()
    func_stack: list[dict[str, Any]] = []
    to: str | None = None
    soap_action: str | None = None
    message_id = "urn:uuid:probe"
    message_format = "soap11"
    envelope = etree.fromstring(
        f'<soapenv:Envelope xmlns:soapenv="{SOAP11_NS}"><soapenv:Header/><soapenv:Body/></soapenv:Envelope>'
    )

    def local_entry(self, key: str) -> Any:
        return None

    def is_fault(self) -> bool:
        return False

    def payload_json(self) -> Any:
        return {}


_PROBE = _ProbeContext()
# Context node for expressions that provably never read the message: the envelope is not touched.
_DETACHED = etree.fromstring("<detached/>")


# --------------------------------------------------------------------------------------------
# Compilation


class _Analysis:
    __slots__ = ("needs_body", "used", "keep_parent")

    def __init__(self) -> None:
        self.needs_body = False
        self.used: set[str] = set()  # extension functions the rewritten text calls
        self.keep_parent = False


def _match_brackets(tokens: list[_Tok], source: str) -> dict[int, int]:
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for i, tok in enumerate(tokens):
        if tok.kind != "op":
            continue
        if tok.text in "([":
            stack.append(i)
        elif tok.text in ")]":
            if not stack or tokens[stack[-1]].text != ("(" if tok.text == ")" else "["):
                raise ExpressionError(f"unbalanced {tok.text!r} at offset {tok.pos} in {source!r}")
            pairs[stack.pop()] = i
    if stack:
        raise ExpressionError(f"unclosed {tokens[stack[-1]].text!r} in {source!r}")
    return pairs


def _call_args(tokens: list[_Tok], open_i: int, close_i: int) -> list[list[_Tok]]:
    """Top-level argument token lists of a call whose parens are at open_i/close_i."""
    args: list[list[_Tok]] = []
    current: list[_Tok] = []
    depth = 0
    for tok in tokens[open_i + 1 : close_i]:
        if tok.kind == "op" and tok.text in "([":
            depth += 1
        elif tok.kind == "op" and tok.text in ")]":
            depth -= 1
        if depth == 0 and tok.kind == "op" and tok.text == ",":
            args.append(current)
            current = []
        elif tok.kind != "ws":
            current.append(tok)
    if current or args:
        args.append(current)
    return args


def _next_significant(tokens: list[_Tok], i: int) -> int:
    j = i + 1
    while j < len(tokens) and tokens[j].kind == "ws":
        j += 1
    return j


def _undefined_prefix(prefix: str, source: str) -> ExpressionError:
    return ExpressionError(
        f"undefined namespace prefix '{prefix}' in '{source}'; declare xmlns:{prefix} on the mediator or an ancestor"
    )


def _rewrite(source: str, tokens: list[_Tok], namespaces: Mapping[str, str], info: _Analysis) -> str:
    pairs = _match_brackets(tokens, source)
    out: list[str] = []
    # XPath lexical rule: after an operand, a name or '*' is an operator (3.7 of the spec).
    operand_before = False
    for i, tok in enumerate(tokens):
        kind, text = tok.kind, tok.text
        if kind == "ws":
            out.append(text)
            continue
        if kind in ("lit", "num"):
            out.append(text)
            operand_before = True
            continue
        if kind == "var":
            out.append(_rewrite_variable(text[1:], source, info))
            operand_before = True
            continue
        if kind == "op":
            if text == "*" and not operand_before:
                info.needs_body = True  # a name test
                out.append(text)
                operand_before = True
                continue
            if text in ("/", "//", ".", "..", "@", "::"):
                info.needs_body = True
            out.append(text)
            operand_before = text in (")", "]", ".", "..")
            continue
        # kind == "name"
        if operand_before and text in _OPERATOR_NAMES:
            out.append(text)
            operand_before = False
            continue
        j = _next_significant(tokens, i)
        nxt = tokens[j].text if j < len(tokens) and tokens[j].kind == "op" else None
        prefix, _, local = text.rpartition(":")
        if nxt == "(" and local not in NODE_TYPES or (nxt == "(" and prefix):
            out.append(_rewrite_call(source, tokens, pairs, j, prefix or None, local, namespaces, info))
            operand_before = False  # the call's ')' sets it
            continue
        if nxt == "(" or nxt == "::":
            info.needs_body = True  # node type test or axis name
            out.append(text)
            operand_before = nxt == "("
            continue
        # A name test: a location step over the message.
        if prefix and prefix not in namespaces:
            raise _undefined_prefix(prefix, source)
        info.needs_body = True
        out.append(text)
        operand_before = True
    return "".join(out)


def _rewrite_variable(name: str, source: str, info: _Analysis) -> str:
    prefix, _, local = name.rpartition(":")
    if not prefix:
        ext = _ENVELOPE_VARIABLES.get(local)
        if ext is None:
            raise ExpressionError(
                f"unknown variable ${local} in {source!r}; Synapse variables are $body, $header, $env "
                "and $ctx:/$axis2:/$trp:/$url:/$func:/$operation:/$sys: followed by a name"
            )
        info.needs_body = True
        info.used.add(ext)
        return f"{EXT_PREFIX}:{ext}()"
    ext = _SCOPE_VARIABLES.get(prefix)
    if ext is None:
        info.used.add("var-map")
        return f"{EXT_PREFIX}:var-map({_literal(prefix)},{_literal(local)})"
    info.used.add(ext)
    return f"{EXT_PREFIX}:{ext}({_literal(local)})"


def _rewrite_call(
    source: str,
    tokens: list[_Tok],
    pairs: dict[int, int],
    open_i: int,
    prefix: str | None,
    local: str,
    namespaces: Mapping[str, str],
    info: _Analysis,
) -> str:
    args = _call_args(tokens, open_i, pairs[open_i])
    qname = f"{prefix}:{local}" if prefix else local
    fn_prefix = prefix is None or prefix == "fn" or namespaces.get(prefix) == XPATH_FUNCTIONS_NS
    if local in SYNAPSE_FUNCTIONS or (fn_prefix and local in JAXEN_FUNCTIONS):
        low, high = SYNAPSE_FUNCTIONS.get(local) or JAXEN_FUNCTIONS[local]
        if not low <= len(args) <= high:
            raise ExpressionError(f"{local}() takes {low} to {high} arguments, got {len(args)}, in {source!r}")
        info.used.add(local)
        if local == "get-property":
            _analyse_get_property(source, args, info)
        return f"{EXT_PREFIX}:{local}"
    if local in UNSUPPORTED_FUNCTIONS:
        raise ExpressionError(f"function {qname}() is not supported by this gateway, in {source!r}")
    if local == "vault-lookup":  # MI's secure vault (wso2:vault-lookup('alias')), whatever the prefix
        raise ExpressionError(
            f"the secure vault ({qname}()) is not supported yet, in {source!r}; read the secret "
            "from the environment instead: get-property('env', 'NAME')"
        )
    if fn_prefix:
        if local not in XPATH1_FUNCTIONS:
            raise ExpressionError(f"unknown function {qname}() in {source!r}")
        if local in _CONTEXT_FUNCTIONS or (local in _CONTEXT_FUNCTIONS_NOARG and not args):
            info.needs_body = True
        return local
    assert prefix is not None
    if prefix not in namespaces:
        raise _undefined_prefix(prefix, source)
    info.needs_body = True  # some other extension (EXSLT in lxml): assume it may read the body
    return qname


def _analyse_get_property(source: str, args: list[list[_Tok]], info: _Analysis) -> None:
    literal = [a[0].text[1:-1] for a in args if len(a) == 1 and a[0].kind == "lit"]
    if len(literal) != len(args):
        info.needs_body = True  # a computed name could be FAULT or From: be conservative
        return
    try:
        property_getter(tuple(literal))
    except ValueError as exc:
        raise ExpressionError(f"{exc} in {source!r}") from None
    key = literal[1] if len(literal) >= 2 and literal[0] in SCOPES else literal[0]
    if key in BODY_PROPERTIES and (len(literal) == 1 or literal[0] not in SCOPES or literal[0] == "default"):
        info.needs_body = True


def _direct(tokens: list[_Tok]) -> Callable[[ExpressionContext], Any] | None:
    """A resolver for an expression that is one variable or one get-property('lit', ...)."""
    sig = [t for t in tokens if t.kind != "ws"]
    while len(sig) >= 2 and sig[0].text == "(" and sig[-1].text == ")" and sig[0].kind == "op":
        # Strip redundant outer parentheses, but only when they enclose everything.
        depth = 0
        for k, t in enumerate(sig):
            if t.kind == "op" and t.text == "(":
                depth += 1
            elif t.kind == "op" and t.text == ")":
                depth -= 1
                if depth == 0 and k != len(sig) - 1:
                    return None
        sig = sig[1:-1]
    if len(sig) == 1 and sig[0].kind == "var":
        prefix, _, local = sig[0].text[1:].rpartition(":")
        return _direct_variable(prefix or None, local)
    if len(sig) >= 3 and sig[0].kind == "name" and sig[0].text.rpartition(":")[2] == "get-property":
        if sig[1].text != "(" or sig[-1].text != ")":
            return None
        inner = sig[2:-1]
        if not inner:
            return None
        lits = inner[0::2]
        commas = inner[1::2]
        if any(t.kind != "lit" for t in lits) or any(t.text != "," for t in commas):
            return None
        if len(lits) != len(commas) + 1:
            return None
        return property_getter(tuple(_unquote(t.text) for t in lits))
    return None


_EXSLT_REGEXP = "http://exslt.org/regular-expressions"


def compile_xpath(source: str, namespaces: Mapping[str, str] | None = None) -> XPathExpression:
    """Compile a Synapse XPath; raises ExpressionError with the reason at deploy time."""
    text = source.strip()
    if not text:
        raise ExpressionError("empty XPath expression")
    if text.startswith("${"):
        raise ExpressionError(f"a Synapse Expression (${{…}}) where an XPath is expected: {text}")
    ns = {p: u for p, u in (namespaces or {}).items() if p and u}
    tokens = tokenize(text)
    info = _Analysis()
    rewritten = _rewrite(text, tokens, ns, info)
    info.keep_parent = "node()" in text  # W: `…node()` results keep their parent element
    ns[EXT_PREFIX] = EXT_NS
    extensions = {(EXT_NS, name): _EXTENSIONS[name] for name in info.used} or None
    try:
        # lxml registers the EXSLT regular-expression functions on every evaluation unless told not to; they
        # can only be called through a prefix bound to their namespace, so only such an expression gets them.
        regexp = _EXSLT_REGEXP in ns.values()
        compiled = etree.XPath(rewritten, namespaces=ns, extensions=extensions, regexp=regexp)
    except etree.XPathSyntaxError as exc:
        raise ExpressionError(f"invalid XPath {source!r}: {exc}") from None
    expr = XPathExpression(source, compiled, _direct(tokens), info, equality_on_path(text, ns))
    expr._probe()
    return expr


class XPathExpression(Expression):
    """A compiled Synapse XPath."""

    __slots__ = ("_xpath", "_direct", "_uses_ext", "_keep_parent", "_json_path", "_xml_equality")
    kind = "xpath"

    def __init__(
        self,
        source: str,
        compiled: etree.XPath,
        direct: Callable[[ExpressionContext], Any] | None,
        info: _Analysis,
        xml_equality: EqualityOnPath | None = None,
    ) -> None:
        self.source = source
        self.needs_body = info.needs_body
        self._xpath = compiled
        self._direct = direct
        self._uses_ext = bool(info.used)
        self._keep_parent = info.keep_parent
        self._json_path = descendant_pattern(source)  # answered from untouched JSON without an infoset
        self._xml_equality = xml_equality  # `path = 'lit'`: a match answered from an untouched envelope's bytes

    @property
    def json_path(self) -> tuple[str, bool] | None:
        """(name, text_only) when this is `//name` or `//name/text()`: answerable from an untouched JSON payload's
        descendant index (json_fastpath.descendant_string) without building the infoset."""
        return self._json_path

    def _probe(self) -> None:
        # libxml2 reports unknown functions, arity and some syntax errors only when evaluating.
        try:
            self._run(_PROBE, _PROBE.envelope)
        except etree.XPathError as exc:
            raise ExpressionError(f"invalid XPath {self.source!r}: {exc}") from None
        except Exception:
            pass  # data-dependent failures against the empty probe message are not deploy errors

    def _run(self, ctx: ExpressionContext, node: Any) -> Any:
        """The compiled XPath with `ctx` where its extension functions find it."""
        previous = getattr(_state, "ctx", None)
        _state.ctx = ctx
        try:
            return self._xpath(node)
        finally:
            _state.ctx = previous

    def evaluate(self, ctx: ExpressionContext) -> Any:
        if self._direct is not None:
            value = self._direct(ctx)
            if isinstance(value, (etree._Element, etree._ElementTree)):
                return [value.getroot() if isinstance(value, etree._ElementTree) else value]
            return value
        node = ctx.envelope if self.needs_body else _DETACHED
        try:
            return self._run(ctx, node) if self._uses_ext else self._xpath(node)
        except etree.XPathError as exc:
            raise MediationError(
                f"Evaluation of the XPath expression {self.source} resulted in an error: {exc}"
            ) from None

    def string_value(self, ctx: ExpressionContext) -> str | None:
        if self._json_path is not None:
            payload = getattr(ctx, "payload", None)
            if payload is not None and payload.kind == kinds.JSON and not payload.modified and not payload.is_built:
                result = descendant_string(payload.json_descendants(), *self._json_path)
                if result is not FALLBACK:
                    return result
        return to_synapse_string(self.evaluate(ctx), keep_parent=self._keep_parent)

    def boolean_value(self, ctx: ExpressionContext) -> bool:
        if self._xml_equality is not None:
            payload = getattr(ctx, "payload", None)
            raw = payload.untouched_envelope_bytes() if payload is not None else None
            if raw is not None and self._xml_equality.found_early(raw):
                return True  # the tree, when built later, gives the same answer (xml_fastpath)
        result = self.evaluate(ctx)
        if isinstance(result, bool):
            return result
        if isinstance(result, float):
            return result == result and result != 0.0
        if isinstance(result, int):
            return result != 0
        if isinstance(result, (str, list)):
            return len(result) > 0
        return result is not None

    def nodes(self, ctx: ExpressionContext) -> list[Any]:
        result = self.evaluate(ctx)
        return result if isinstance(result, list) else []
