"""Answering `PATH = 'literal'` from the first bytes of an untouched SOAP envelope, without building its tree.

Content-based routing on a SOAP body is mostly one test of this shape: `//m0:getQuote/m0:request/m0:symbol =
'IBM'` (WSO2's CBR benchmark proxy), whose key sits near the start of the body. Building the libxml2 tree of the
whole envelope costs about 50 instructions a byte (bench/results/profile.md, "cbr, second pass"). Here expat reads
the envelope's first `PREFIX_BYTES` and stops at the first element on the path whose string-value equals the
literal: XPath's `=` between a node-set and a string is true as soon as one node matches, so that answer is final.

Anything else hands the expression back to the real XPath over the tree: no match in the prefix (a false answer
needs the whole document), a DOCTYPE, an encoding expat does not read, bytes within the prefix that expat refuses
(its XML 1.0 name rules are older than libxml2's), a root that is not a SOAP envelope. Only the bytes up to the
match are checked for well-formedness; the rest is relayed as a pass-through relays it (docs/conformance.md, row
E04d)."""

from __future__ import annotations

import pyexpat
import re
from collections.abc import Mapping

__all__ = ["PREFIX_BYTES", "EqualityOnPath", "equality_on_path"]

PREFIX_BYTES = 4096  # how far into the envelope a match is looked for before the tree is built instead
_NAME = r"[A-Za-z_][\w.-]*"
_STEP = rf"{_NAME}(?::{_NAME})?"
_PATH = rf"(//?)({_STEP}(?:/{_STEP})*)"
_LITERAL = r"'([^']*)'|\"([^\"]*)\""
_PATH_FIRST = re.compile(rf"\s*{_PATH}\s*=\s*(?:{_LITERAL})\s*")
_LITERAL_FIRST = re.compile(rf"\s*(?:{_LITERAL})\s*=\s*{_PATH}\s*")
_ENVELOPES = frozenset(
    (
        "http://schemas.xmlsoap.org/soap/envelope/ Envelope",
        "http://www.w3.org/2003/05/soap-envelope Envelope",
    )
)


class _Found(Exception):
    """Raised from an expat handler: the answer is known, stop reading."""


class _NotAnswerable(Exception):
    """Raised from an expat handler: leave this message to the real XPath."""


class EqualityOnPath:
    """`//a/b/c = 'lit'` (any depth: `anywhere`) or `/a/b/c = 'lit'` over expat's "uri local" names."""

    __slots__ = ("steps", "literal", "anywhere")

    def __init__(self, steps: tuple[str, ...], literal: str, anywhere: bool) -> None:
        self.steps = steps
        self.literal = literal
        self.anywhere = anywhere

    def found_early(self, raw: bytes) -> bool:
        """True when an element on the path within the first PREFIX_BYTES has the literal as its string-value;
        False means "not known from the prefix", never "the XPath is false"."""
        return _Scan(self).run(raw[:PREFIX_BYTES], len(raw) <= PREFIX_BYTES)


class _Scan:
    """One message's scan: the open elements' names, and the text collected under each open match."""

    __slots__ = ("rule", "open", "matches", "texts")

    def __init__(self, rule: EqualityOnPath) -> None:
        self.rule = rule
        self.open: list[str] = []
        self.matches: list[tuple[int, int]] = []  # (depth, where its text starts in `texts`) per open match
        self.texts: list[str] = []

    def run(self, data: bytes, final: bool) -> bool:
        parser = pyexpat.ParserCreate(namespace_separator=" ")
        parser.buffer_text = True
        parser.ordered_attributes = True  # a list, not a dict, for attributes nobody reads
        parser.StartDoctypeDeclHandler = _refuse  # the tree path refuses a DOCTYPE: it must see this message
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.text
        try:
            parser.Parse(data, final)
        except _Found:
            return True
        except (_NotAnswerable, pyexpat.ExpatError, ValueError, LookupError):
            return False
        return False

    def start(self, name: str, _attributes: object) -> None:
        path = self.open
        if not path and name not in _ENVELOPES:
            raise _NotAnswerable  # the tree path reports a body that is not a SOAP envelope
        path.append(name)
        steps = self.rule.steps
        depth = len(path)
        if name == steps[-1] and (
            (depth >= len(steps) if self.rule.anywhere else depth == len(steps))
            and tuple(path[depth - len(steps) :]) == steps
        ):
            self.matches.append((depth, len(self.texts)))

    def end(self, _name: str) -> None:
        matches = self.matches
        if matches and matches[-1][0] == len(self.open):
            _, first = matches.pop()
            if "".join(self.texts[first:]) == self.rule.literal:
                raise _Found
            if not matches:
                self.texts.clear()
        self.open.pop()

    def text(self, data: str) -> None:
        if self.matches:
            self.texts.append(data)


def _refuse(*_: object) -> None:
    raise _NotAnswerable


def equality_on_path(source: str, namespaces: Mapping[str, str]) -> EqualityOnPath | None:
    """The rule for `source` when it is a child-step path compared with a string literal (either side), its
    prefixes bound in `namespaces`; else None. An unprefixed step names an element in no namespace (XPath 1.0)."""
    match = _PATH_FIRST.fullmatch(source)
    if match is not None:
        axis, path, literal = match.group(1), match.group(2), match.group(3) or match.group(4) or ""
    else:
        match = _LITERAL_FIRST.fullmatch(source)
        if match is None:
            return None
        literal, axis, path = match.group(1) or match.group(2) or "", match.group(3), match.group(4)
    steps: list[str] = []
    for step in path.split("/"):
        prefix, _, local = step.rpartition(":")
        if not prefix:
            steps.append(local)
            continue
        uri = namespaces.get(prefix)
        if not uri:
            return None  # an unbound prefix: the real XPath reports it
        steps.append(f"{uri} {local}")
    return EqualityOnPath(tuple(steps), literal, anywhere=axis == "//")
