"""Two other ways to answer cbr's `PATH = 'literal'` from an envelope's first bytes, kept so that this module can
measure them against the one the gateway ships (gateway.expressions.xml_fastpath). Neither is used: each costs
more instructions than the shipped scan (bench/results/profile.md, "cbr 1 KB: two more readings of the
prefix"). Each returns True only for a match it is sure of, False when it cannot tell.

* `subset_regex_scan`: one regular expression reads a strict ASCII subset of XML 1.0 (tags, text, comments, the
  standard declaration) a window at a time, each window ending after the next `>literal</...>`; Python keeps the
  element and namespace stacks.
* `walk_back_scan`: the element is found by its bytes `<N>literal</N>`; expat with no handler set checks that
  everything up to it is well-formed with namespaces; N's ancestors are read by walking the markup back from N.

```bash
python -m bench.scan_variants               # instructions per call of each, under callgrind
python -m bench.scan_variants --time        # microseconds per call of each (timeit; noisy)
```
"""

from __future__ import annotations

import argparse
import pyexpat
import re
import subprocess
import sys
import timeit
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from bench.payloads import soap_get_quote
from gateway.expressions.xml_fastpath import _ENVELOPES, PREFIX_BYTES, EqualityOnPath, equality_on_path

QUOTE = "//m0:getQuote/m0:request/m0:symbol = 'IBM'"
NAMESPACES = {"m0": "http://services.samples"}
_KEPT = 256  # each variant's cache of root start tags is emptied when it holds this many


@dataclass(frozen=True)
class Probe:
    """What both variants read from the shipped rule, and the literal as the whole text of an element."""

    steps: tuple[str, ...]
    literal: str
    anywhere: bool
    hint: bytes | None  # `>literal</`, when the literal can only be written so in ASCII
    text_hint: str | None  # the same as text
    byte_steps: tuple[bytes, ...]

    @classmethod
    def of(cls, rule: EqualityOnPath) -> Probe:
        literal = rule.literal
        plain = literal.isascii() and literal.isprintable() and "<" not in literal and "&" not in literal
        hint = f">{literal}</".encode() if literal and plain and "]]>" not in literal else None
        steps = tuple(step.encode() for step in rule.steps)
        return cls(rule.steps, literal, rule.anywhere, hint, hint.decode() if hint else None, steps)


# ---------------------------------------------------------------------------- a strict subset, by one regex

_SUBSET_S = "[ \t\r\n]"
_CTRL = "\x00-\x08\x0b\x0c\x0e-\x1f\x80-\xff"  # not XML characters, or (>= 0x80) not ASCII
_NCNAME = "[A-Za-z_][A-Za-z0-9_.-]*"
_SUBSET_QNAME = f"{_NCNAME}(?::{_NCNAME})?"
_VALUE = f"\"[^\"<&{_CTRL}]*\"|'[^'<&{_CTRL}]*'"
_SUBSET_TOKENS = re.compile(
    # a start tag: its name, the prefix, the attributes, "/"
    f"<((?:({_NCNAME}):)?{_NCNAME})((?:{_SUBSET_S}+{_SUBSET_QNAME}{_SUBSET_S}*={_SUBSET_S}*(?:{_VALUE}))*)"
    f"{_SUBSET_S}*(/?)>"
    f"|</({_SUBSET_QNAME}){_SUBSET_S}*>"  # an end tag
    f"|([^<&{_CTRL}]+)"  # text
    f"|<!--(?:[^{_CTRL}-]|-[^{_CTRL}-])*-->"  # a comment
    "|(.)",  # anything else: one character the subset does not read
    re.DOTALL,
)
_SUBSET_ATTRIBUTE = re.compile(f"{_SUBSET_S}+({_SUBSET_QNAME}){_SUBSET_S}*={_SUBSET_S}*(\"[^\"]*\"|'[^']*')")
_SUBSET_DECLARATION = re.compile(
    f"<\\?xml{_SUBSET_S}+version{_SUBSET_S}*={_SUBSET_S}*(?:\"1\\.0\"|'1\\.0')"
    f"(?:{_SUBSET_S}+encoding{_SUBSET_S}*={_SUBSET_S}*(?:\"(?i:utf-8|us-ascii|iso-8859-1)\"|'(?i:utf-8|us-ascii|iso-8859-1)'))?"
    f"(?:{_SUBSET_S}+standalone{_SUBSET_S}*={_SUBSET_S}*(?:\"(?:yes|no)\"|'(?:yes|no)'))?{_SUBSET_S}*\\?>"
)
_XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
_SUBSET_RESERVED = frozenset((_XML_NAMESPACE, "http://www.w3.org/2000/xmlns/"))
_SUBSET_INITIAL_SCOPE: Mapping[str, str] = {"xml": _XML_NAMESPACE, "": ""}  # prefix -> URI; "" is the default namespace
_SUBSET_ROOTS: dict[str, Mapping[str, str] | None] = {}  # a root start tag's attributes -> the scope inside it
_SUBSET_UNKNOWN: Mapping[str, str] = {}


def subset_regex_scan(rule: Probe, text: str) -> bool:
    """True when the strict subset above reads `text` up to a match; False when it cannot tell (expat decides).

    The tokens are read a window at a time, each window ending just after an end tag that follows the literal
    (`>IBM</...>`), so the bytes past the match are never tokenised. A window is a match when it ends with
    `<N ...>literal</N>` and N's ancestors are on the path. A literal written otherwise (split by a comment, or
    empty) is left to expat."""
    hint = rule.text_hint
    if hint is None:
        return False
    declaration = _SUBSET_DECLARATION.match(text)
    position = 0 if declaration is None else declaration.end()
    names: list[str] = []  # the open elements' qualified names, as written
    scopes: list[Mapping[str, str]] = []  # the namespaces in scope outside each open element
    scope = _SUBSET_INITIAL_SCOPE
    rooted = False
    while True:
        stop = text.find(hint, position - 1 if position else 0)
        if stop < 0:
            return False
        stop = text.find(">", stop + len(hint)) + 1
        if not stop or text.find("]]>", position, stop) >= 0:
            return False  # the prefix ends within the end tag, or text may hold "]]>"
        tokens = _SUBSET_TOKENS.findall(text, position, stop)
        for name, prefix, attributes, empty, end, chars, other in tokens:
            if name:
                inner: Mapping[str, str] | None = scope
                if attributes:
                    inner = _subset_declare(attributes, scope)
                if inner is None:
                    return False
                if prefix and prefix not in inner:
                    return False  # an unbound prefix: not well-formed
                if not names:
                    if rooted or _subset_expanded(name, inner) not in _ENVELOPES:
                        return False  # a second root, or a body that is not a SOAP envelope
                    rooted = True
                if not empty:
                    names.append(name)
                    scopes.append(scope)
                    scope = inner
            elif end:
                if not names or names.pop() != end:
                    return False  # an end tag that does not close the open element
                scope = scopes.pop()
            elif chars:
                if not names and chars.strip(" \t\r\n"):
                    return False  # text outside the root element
            elif other:
                return False  # what the subset does not read
        if len(tokens) >= 3 and _subset_is_match(rule, tokens[-3:], names, scopes, scope):
            return True
        position = stop


def _subset_is_match(
    rule: Probe,
    last: list[tuple[str, ...]],
    names: list[str],
    scopes: list[Mapping[str, str]],
    scope: Mapping[str, str],
) -> bool:
    """Whether the window's last tokens `<N ...>literal</N>` are an element on the rule's path; `names` and
    `scopes` are the open elements outside N and the namespaces outside each, `scope` those outside N."""
    start, text, end = last
    name = start[0]
    if not name or start[3] or end[4] != name or text[5] != rule.literal:
        return False
    steps = rule.steps
    count = len(steps)
    depth = len(names) + 1
    if depth < count if rule.anywhere else depth != count:
        return False
    inside = _subset_declare(start[2], scope) if start[2] else scope
    if inside is None or _subset_expanded(name, inside) != steps[-1]:
        return False
    inside = scope  # the namespaces inside N's parent
    for back in range(1, count):
        index = depth - 1 - back
        if _subset_expanded(names[index], inside) != steps[count - 1 - back]:
            return False
        inside = scopes[index]
    return True


def _subset_expanded(name: str, scope: Mapping[str, str]) -> str:
    """expat's "uri local" for a qualified name whose prefix is bound in `scope`."""
    prefix, colon, local = name.rpartition(":")
    uri = scope[prefix]
    return f"{uri} {local}" if uri else local


def _subset_declare(attributes: str, scope: Mapping[str, str]) -> Mapping[str, str] | None:
    """The namespaces in scope inside a start tag with these attributes; None when the subset does not take them
    (a duplicate, an unbound prefix, a reserved prefix or URI, an empty prefixed URI, whitespace in a URI). The
    root's answer is kept: a client writes the same declarations on its envelope every time."""
    if scope is _SUBSET_INITIAL_SCOPE:
        known = _SUBSET_ROOTS.get(attributes, _SUBSET_UNKNOWN)
        if known is not _SUBSET_UNKNOWN:
            return known
        if len(_SUBSET_ROOTS) >= _KEPT:
            _SUBSET_ROOTS.clear()
        known = _SUBSET_ROOTS[attributes] = _subset_declared(attributes, scope)
        return known
    return _subset_declared(attributes, scope)


def _subset_declared(attributes: str, scope: Mapping[str, str]) -> Mapping[str, str] | None:
    pairs = _SUBSET_ATTRIBUTE.findall(attributes)
    if len({name for name, _ in pairs}) != len(pairs):
        return None
    inner: dict[str, str] | None = None
    for name, quoted in pairs:
        if name == "xmlns" or name.startswith("xmlns:"):
            prefix, uri = name[6:], quoted[1:-1]
            if (
                prefix in ("xml", "xmlns")
                or uri in _SUBSET_RESERVED
                or not (uri or not prefix)
                or not uri.isprintable()
            ):
                return None
            if inner is None:
                inner = dict(scope)
            inner[prefix] = uri
    within = scope if inner is None else inner
    qualified = set()
    for name, _ in pairs:
        prefix, colon, local = name.partition(":")
        if colon and prefix != "xmlns":
            uri = within.get(prefix)
            if not uri or (uri, local) in qualified:
                return None
            qualified.add((uri, local))
    return within


# ---------------------------------------------------------------------------- expat without handlers, walk back

_WALK_TAG = re.compile(rb"<(/?)([^\s/>]+)")  # a tag's name, and whether it is an end tag
# the subset's name and whitespace patterns, as bytes (the walk reads the raw envelope)
_WALK_S, _WALK_QNAME = _SUBSET_S.encode(), _SUBSET_QNAME.encode()
_WALK_EQUALS = rb"%s*=%s*" % (_WALK_S, _WALK_S)
_WALK_START_TAG = re.compile(
    rb"<(%s)((?:%s+%s%s(?:\"[^\"]*\"|'[^']*'))*)%s*(/?)>" % (_WALK_QNAME, _WALK_S, _WALK_QNAME, _WALK_EQUALS, _WALK_S)
)
_WALK_ATTRIBUTE = re.compile(rb"%s+(%s)%s(?:\"([^\"]*)\"|'([^']*)')" % (_WALK_S, _WALK_QNAME, _WALK_EQUALS))
_WALK_ENVELOPES = frozenset(name.encode() for name in _ENVELOPES)
_WALK_ROOTS: dict[bytes, Mapping[bytes, bytes] | None] = {}  # a root start tag -> the namespaces declared on it
_WALK_UNKNOWN: Mapping[bytes, bytes] = {}


def walk_back_scan(rule: Probe, raw: bytes) -> bool:
    """True when the first `>literal</` in the prefix closes an element on the path, all of it well-formed;
    False when this cannot tell (the scan decides)."""
    hint = rule.hint
    if hint is None:
        return False
    begin = raw.find(b"?>", 0, PREFIX_BYTES) + 2 if raw.startswith(b"<?xml") else 0
    at = raw.find(hint, begin, PREFIX_BYTES) if begin != 1 else -1
    if at < 0:
        return False
    close = at + len(hint)  # where N's name starts in its end tag
    stop = raw.find(b">", close, PREFIX_BYTES) + 1
    if not stop:
        return False
    window = raw[:stop]
    if not window.isascii() or window.find(b"<!", begin) >= 0 or window.find(b"<?", begin) >= 0:
        return False
    start = window.rfind(b"<", begin, at)
    tag = _WALK_TAG.match(window, start)
    root = window.find(b"<", begin)
    if tag is None or tag[1] or start == root or window.find(b">", start) != at or window[at - 1] == 47:
        return False  # `>literal</` is not the whole text of an element N below the root
    name = tag[2]
    root_end = window.find(b">", root) + 1
    if window[close : stop - 1].rstrip() != name or window.find(b"xmlns", root_end, at) >= 0:
        return False  # the end tag is not N's, or a namespace is declared below the root
    scope = _WALK_ROOTS.get(window[root:root_end], _WALK_UNKNOWN)
    if scope is _WALK_UNKNOWN:
        scope = _walk_root_scope(window[root:root_end])
    if scope is None:
        return False
    try:
        pyexpat.ParserCreate(namespace_separator=" ").Parse(window, False)
    except (pyexpat.ExpatError, ValueError, LookupError):
        return False  # not well-formed up to the match, or an encoding expat does not read
    steps = rule.byte_steps
    if _walk_expanded(name, scope) != steps[-1]:
        return False
    remaining = len(steps) - 1  # the ancestors still to compare, nearest first
    unmatched_ends = 0
    position = start
    while position > root:
        position = window.rfind(b"<", root, position)
        tag = _WALK_TAG.match(window, position)
        if tag is None:
            return False
        if tag[1]:
            unmatched_ends += 1
            continue
        end = window.find(b">", position)
        if window.find(b'"', position, end) >= 0 or window.find(b"'", position, end) >= 0:
            full = _WALK_START_TAG.match(window, position)
            if full is None:
                return False
            empty = bool(full[3])
        else:
            empty = window[end - 1] == 47
        if empty:
            continue
        if unmatched_ends:
            unmatched_ends -= 1
            continue
        if not remaining or _walk_expanded(tag[2], scope) != steps[remaining - 1]:
            return False
        remaining -= 1
        if not remaining and rule.anywhere:
            return True
    return not remaining  # an absolute path: the root is its first step


def _walk_root_scope(tag: bytes) -> Mapping[bytes, bytes] | None:
    """The namespaces a SOAP envelope's start tag declares, prefix to URI ("" the default); None when this is
    not a whole start tag of a SOAP envelope, or declares what the walk does not take. Kept per tag."""
    scope: dict[bytes, bytes] | None = None
    full = _WALK_START_TAG.fullmatch(tag)
    if full is not None and not full[3]:
        declared = {b"": b""}
        for attribute, double, single in _WALK_ATTRIBUTE.findall(full[2]):
            if attribute == b"xmlns" or attribute.startswith(b"xmlns:"):
                declared[attribute[6:]] = double or single
        uris = declared.values()
        if not any(b"&" in uri or not uri.isascii() or not uri.decode().isprintable() for uri in uris):
            scope = declared
            if _walk_expanded(full[1], scope) not in _WALK_ENVELOPES:
                scope = None
    if len(_WALK_ROOTS) >= _KEPT:
        _WALK_ROOTS.clear()
    _WALK_ROOTS[tag] = scope
    return scope


def _walk_expanded(name: bytes, scope: Mapping[bytes, bytes]) -> bytes | None:
    """expat's "uri local" for a qualified name; None for a prefix the root does not declare."""
    prefix, _, local = name.rpartition(b":")
    uri = scope.get(prefix)
    if uri is None:
        return None
    return uri + b" " + local if uri else local


# ---------------------------------------------------------------------------- measuring them


def variants(rule: EqualityOnPath) -> dict[str, Callable[[bytes], bool]]:
    """Each reading as a function of the raw envelope."""
    probe = Probe.of(rule)
    return {
        "shipped": rule.found_early,
        "subset-regex": lambda raw: subset_regex_scan(probe, raw[:PREFIX_BYTES].decode("latin-1")),
        "expat-no-handlers": lambda raw: walk_back_scan(probe, raw),
    }


def _loop(name: str, calls: int) -> None:
    rule = equality_on_path(QUOTE, NAMESPACES)
    assert rule is not None
    read, raw = variants(rule)[name], soap_get_quote(1024)
    if not read(raw):
        raise SystemExit(f"{name} does not find the bench envelope's key")
    for _ in range(calls):
        read(raw)


def _instructions(name: str, calls: int) -> int:
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m", "bench.scan_variants"]
        + ["--loop", name, str(calls)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"callgrind gave no count for {name}: {done.stderr[-300:]}")
    return int(found[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time", action="store_true", help="microseconds per call (timeit), not instructions")
    parser.add_argument("--loop", nargs=2, metavar=("VARIANT", "CALLS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loop:
        _loop(args.loop[0], int(args.loop[1]))
        return 0
    rule = equality_on_path(QUOTE, NAMESPACES)
    assert rule is not None
    raw = soap_get_quote(1024)
    print(f"`{QUOTE}` over the bench's 1 KB envelope, per call")
    for name, read in variants(rule).items():
        if args.time:
            best = min(timeit.repeat(partial(read, raw), number=20_000, repeat=5)) / 20_000
            print(f"{name:>18}: {best * 1e6:6.2f} µs")
        else:
            _instructions(name, 1_000)  # writes the bytecode caches: both counted runs start alike
            per_call = (_instructions(name, 10_000) - _instructions(name, 5_000)) / 5_000
            print(f"{name:>18}: {per_call:9,.0f} instructions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
