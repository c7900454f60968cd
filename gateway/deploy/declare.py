"""One declaration per element: its attributes and children are declared once, and parsing, validation, the
generated reference (docs/mediators.md) and the list of supported elements all derive from it.

    RESPOND = Element("respond", "Send the current message back to the client and stop.",
                      anchor="W: RespondMediatorFactory", build=lambda node: Respond(node.location))

`parse(element, spec, fctx)` checks an XML element against its declaration (unknown and missing attributes,
choices with did-you-mean, booleans, numbers, expressions compiled, keys noted for the dangling-reference
check, children and their counts, `description`/`statistics`/`trace` shared by every mediator) and hands the
builder a `Node` of converted values. Every independent problem is recorded in the factory context; the
builder only runs on an element whose declaration is satisfied.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.deploy.java_regex import compile_java_regex
from gateway.errors import DeployError, ExpressionError, SourceLocation
from gateway.expressions import compile_expression, compile_value
from gateway.mediators.base import MediatorList
from gateway.xmlutil import (
    DeployErrors,
    attribute_items,
    children,
    config_error,
    did_you_mean,
    is_description,
    local_name,
    location,
    prefixed_namespaces,
)

if TYPE_CHECKING:
    from gateway.deploy.registry import FactoryContext

log = logging.getLogger("gateway.deploy")


class Kind(enum.Enum):
    """What an attribute holds, and so how it is read."""

    TEXT = "text"  # any text
    NAME = "name"  # non-blank text, trimmed
    EXPRESSION = "expression"  # XPath 1.0, json-eval(…) or a ${…} Synapse Expression, compiled
    VALUE = "value"  # text that may be a {dynamic} value, compiled
    KEY = "key"  # the name of another artifact, static or {dynamic}
    CHOICE = "choice"  # one of the declared choices
    BOOLEAN = "boolean"  # true or false
    INTEGER = "integer"  # a whole number
    NUMBER = "number"  # a decimal number
    DURATION = "duration"  # whole milliseconds
    REGEX = "regex"  # a java.util.regex pattern, compiled
    CODES = "codes"  # whole numbers separated by commas


class Body(enum.Enum):
    """What an element may contain besides its declared children."""

    EMPTY = "nothing"
    MEDIATORS = "mediators"  # the other children are a mediator list
    TEXT = "text"  # text content
    ANY = "any XML"  # anything (kept as it is for the builder)


@dataclass(frozen=True, slots=True)
class NotYet:
    """A real MI attribute or element this gateway does not implement yet: the reason, and what to do."""

    reason: str
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    kind: Kind
    doc: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    refers_to: str | None = None  # KEY: the kind of artifact the key names ("sequence", "endpoint", …)
    role: str = "call"  # KEY: what a missing target breaks (see Reference)
    minimum: float | None = None
    unsupported: NotYet | None = None  # a real MI attribute this gateway does not implement yet
    label: str | None = None  # how messages name it ("log level"); default: the attribute's name
    missing: str | None = None  # the message when a required attribute is absent (MI's wording)
    invalid_hint: str | None = None  # CHOICE: the hint for a value that is not a choice (default: did you mean)
    ignore_case: bool = False  # CHOICE: compared case-insensitively (the value is given lower-cased)
    # An attribute MI's factory does not read that real configurations (MI's own tests) carry: accepted with a
    # warning, as MI ignores it. The text says where it comes from or what to use instead.
    ignored: str | None = None

    @property
    def summary(self) -> str:
        if self.kind is Kind.CHOICE:
            return " \\| ".join(self.choices)
        if self.kind is Kind.KEY and self.refers_to:
            return f"key ({self.refers_to})"
        value: str = self.kind.value  # (mypy reads .value of a narrowed enum as Any)
        return value


@dataclass(frozen=True, slots=True)
class Child:
    element: Element
    required: bool = False
    repeatable: bool = False
    missing: str | None = None  # the message when a required child is absent (MI's wording)
    first_wins: bool = False  # MI reads only the first of several (getFirstChildWithName): a warning, not an error
    ignored: str | None = None  # a child MI's factory does not read that real configurations carry: a warning


@dataclass(frozen=True, slots=True)
class Element:
    tag: str
    doc: str
    attributes: tuple[Attribute, ...] = ()
    children: tuple[Child, ...] = ()
    body: Body = Body.EMPTY
    common: bool = True  # the description / statistics / trace attributes every Synapse mediator accepts
    anchor: str = ""  # where MI defines it (docs)
    build: Callable[[Node], Any] | None = field(default=None, compare=False)
    not_supported: NotYet | None = None  # a real Synapse element that is declared but not implemented yet
    text: Attribute | None = None  # Body.TEXT: how the text content is read (kind, doc); node["#text"]

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)

    def child(self, tag: str) -> Child | None:
        return next((c for c in self.children if c.element.tag == tag), None)


# Every Synapse mediator takes these (W: AbstractMediatorFactory: description, processAuditStatus).
_ASPECT_HINT = "use enable or disable; MI silently reads any other value as disable"
STATISTICS = Attribute(
    "statistics",
    Kind.CHOICE,
    "Statistics for this element: enable or disable (MI reads any other value as disable; here it is an error).",
    choices=("enable", "disable"),
    invalid_hint=_ASPECT_HINT,
)
TRACE = Attribute(
    "trace",
    Kind.CHOICE,
    "Message tracing for this element: enable or disable.",
    choices=("enable", "disable"),
    invalid_hint=_ASPECT_HINT,
)
COMMON_ATTRIBUTES = (Attribute("description", Kind.TEXT, "Free text for tools; no effect."), STATISTICS, TRACE)
_COMMON = {attribute.name: attribute for attribute in COMMON_ATTRIBUTES}


class Reported(Exception):
    """The element's problems are already recorded in the factory context: stop building it quietly."""


class Node:
    """An element checked against its declaration: converted attribute values, parsed children, location."""

    __slots__ = ("element", "spec", "fctx", "location", "values", "given", "_children", "others", "_listed")

    def __init__(self, element: etree._Element, spec: Element, fctx: FactoryContext) -> None:
        self.element = element
        self.spec = spec
        self.fctx = fctx
        self.location: SourceLocation = location(element, fctx.path)
        self.values: dict[str, Any] = {}
        self.given: set[str] = set()  # attributes written in the XML
        self._children: dict[str, list[Node]] = {}
        self.others: list[etree._Element] = []  # children that are not declared (mediators, any XML)
        self._listed = False  # mediators() ran: its problems are recorded

    def __getitem__(self, name: str) -> Any:
        return self.values.get(name)

    def has(self, name: str) -> bool:
        return name in self.given

    def raw(self, name: str) -> str | None:
        return self.element.get(name)

    @property
    def tag(self) -> str:
        return self.spec.tag

    @property
    def text(self) -> str:
        return self.element.text or ""

    def one(self, tag: str) -> Node | None:
        found = self._children.get(tag)
        return found[0] if found else None

    def all(self, tag: str) -> list[Node]:
        return self._children.get(tag, [])

    def built(self, tag: str) -> Any:
        """The build result of the (single) declared child `tag`, or None."""
        child = self.one(tag)
        return child.build() if child is not None else None

    def build(self) -> Any:
        assert self.spec.build is not None, f"<{self.tag}> declares no builder"
        return self.spec.build(self)

    def mediators(self) -> MediatorList:
        """The undeclared children as a mediator list (Body.MEDIATORS); failing ones are recorded."""
        self._listed = True
        built = []
        for child in self.others:
            with self.fctx.collect(child):
                built.append(self.fctx.build_mediator(child))
        return MediatorList(built, self.location)

    @property
    def namespaces(self) -> dict[str, str]:
        return prefixed_namespaces(self.element)

    def error(self, reason: str, hint: str | None = None) -> DeployError:
        return config_error(self.element, reason, hint)


def parse(element: etree._Element, spec: Element, fctx: FactoryContext) -> Node:
    """Check `element` against `spec`; every problem is recorded in `fctx`. Raises Reported when the
    element (or a declared child of it) has a problem, so its builder never sees a broken declaration."""
    node = Node(element, spec, fctx)
    before = len(fctx.problems)
    errors = _attributes(node)
    if spec.not_supported:
        errors.insert(0, node.error(spec.not_supported.reason, spec.not_supported.hint))
    errors.extend(_children(node))
    if spec.text is not None:
        try:
            node.values["#text"] = _convert(node, spec.text, node.text.strip())
        except DeployError as exc:
            errors.append(exc)
    fctx.problems.extend(errors)
    if len(fctx.problems) > before:
        _check_unbuilt(node)
        raise Reported
    return node


def build(element: etree._Element, spec: Element, fctx: FactoryContext) -> Any:
    """parse, then run the declaration's builder; a builder's problem is recorded like any other."""
    node = parse(element, spec, fctx)
    try:
        return node.build()
    except (DeployError, DeployErrors) as exc:
        fctx.problems.extend(exc.errors if isinstance(exc, DeployErrors) else [exc])
        _check_unbuilt(node)
        raise Reported from None


def _check_unbuilt(node: Node) -> None:
    """The element failed, so the mediator lists below it will never be built: build them now anyway, so
    that their problems are reported too (every problem of a file, not only the first)."""
    if node.spec.body is Body.MEDIATORS and not node._listed:
        node.mediators()
    for nodes in node._children.values():
        for child in nodes:
            _check_unbuilt(child)


# -- attributes -----------------------------------------------------------------------------------------
def _attributes(node: Node) -> list[DeployError]:
    spec, element = node.spec, node.element
    errors: list[DeployError] = []
    declared = {attribute.name: attribute for attribute in spec.attributes}
    for name, text in attribute_items(element):
        if name.startswith("{"):
            continue  # foreign-namespace attributes are tooling annotations
        attribute = declared.get(name) or (_COMMON.get(name) if spec.common else None)
        if attribute is None:
            known = [*declared, *(_COMMON if spec.common else ())]
            errors.append(
                node.error(
                    f"unknown attribute '{name}'",
                    did_you_mean(name, known)
                    or (f"allowed: {', '.join(sorted(known))}" if known else f"<{spec.tag}> takes no attributes"),
                )
            )
            continue
        if attribute.ignored:
            log.warning(
                "%s: <%s %s=…> is ignored, as MI ignores it (%s)", node.location, spec.tag, name, attribute.ignored
            )
            continue
        if attribute.unsupported:
            errors.append(node.error(attribute.unsupported.reason, attribute.unsupported.hint))
            continue
        try:
            node.values[name] = _convert(node, attribute, text)
            node.given.add(name)
        except DeployError as exc:
            errors.append(exc)
    for attribute in spec.attributes:
        if attribute.name in node.given:
            continue
        if attribute.required and attribute.name not in element.attrib:
            errors.append(
                node.error(
                    attribute.missing or f"the '{attribute.name}' attribute is required",
                    f"{attribute.name}: {attribute.doc}",
                )
            )
        node.values.setdefault(attribute.name, attribute.default)
    return errors


def _convert(node: Node, attribute: Attribute, text: str) -> Any:
    kind, name = attribute.kind, attribute.name
    if kind is Kind.TEXT:
        return text
    if kind is Kind.NAME:
        if not text.strip():
            raise node.error(f"the '{name}' attribute is empty")
        return text.strip()
    if kind is Kind.CHOICE:
        given = text.strip().lower() if attribute.ignore_case else text
        if given in attribute.choices:
            return given
        same_but_case = next((c for c in attribute.choices if c.lower() == text.lower()), None)
        hint = attribute.invalid_hint or (
            f"values are case-sensitive: did you mean '{same_but_case}'?"
            if same_but_case
            else did_you_mean(text, attribute.choices) or f"use one of: {', '.join(attribute.choices)}"
        )
        raise node.error(f"invalid {attribute.label or name} '{text.strip() if name == '#text' else text}'", hint)
    if kind is Kind.BOOLEAN:
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise node.error(f"'{name}' must be true or false, not '{text}'")
    if kind in (Kind.INTEGER, Kind.DURATION, Kind.NUMBER):
        what = f"<{node.tag}>" if name == "#text" else f"'{name}'"
        stripped = text.strip()
        if kind is Kind.DURATION and stripped.startswith("{") and stripped.endswith("}"):
            try:  # W: EndpointDefinitionFactory: {xpath} is a dynamic timeout, evaluated per message
                return compile_expression(stripped[1:-1], node.namespaces)
            except ExpressionError as exc:
                raise node.error(f"invalid dynamic timeout '{stripped}'", str(exc)) from None
        try:
            number: float = float(text.strip()) if kind is Kind.NUMBER else int(text.strip())
        except ValueError:
            form = (
                "a number"
                if kind is Kind.NUMBER
                else "whole milliseconds"
                if kind is Kind.DURATION
                else "a whole number"
            )
            raise node.error(f"{what} must be {form}, not '{text}'") from None
        if attribute.minimum is not None and number < attribute.minimum:
            raise node.error(f"{what} must be at least {attribute.minimum:g}, not {text.strip()}")
        return number
    if kind is Kind.CODES:
        try:
            return tuple(int(code) for code in text.replace(",", " ").split())
        except ValueError:
            raise node.error(f"<{node.tag}> must be numbers separated by commas, not '{text}'") from None
    if kind is Kind.EXPRESSION:
        if not text.strip():
            raise node.error(f"the '{name}' attribute is empty", f"{name}: {attribute.doc}")
        try:
            return compile_expression(text, node.namespaces)
        except ExpressionError as exc:
            raise node.error(f"invalid expression for attribute '{name}': '{text}'", str(exc)) from None
    if kind in (Kind.VALUE, Kind.KEY):
        if kind is Kind.KEY and not text.strip():
            raise node.error(f"the '{name}' attribute is empty", f"name a {attribute.refers_to or 'key'}")
        try:
            value = compile_value(text.strip() if kind is Kind.KEY else text, node.namespaces)
        except ExpressionError as exc:
            raise node.error(f"invalid expression for attribute '{name}': '{text}'", str(exc)) from None
        if kind is Kind.KEY and attribute.refers_to:
            node.fctx.refer(attribute.refers_to, value, node.element, attribute.role)
        return value
    if kind is Kind.REGEX:
        return compile_java_regex(node.element, name, text)
    raise AssertionError(kind)


# -- children -------------------------------------------------------------------------------------------
def _children(node: Node) -> list[DeployError]:
    spec, fctx = node.spec, node.fctx
    errors: list[DeployError] = []
    declared = {child.element.tag: child for child in spec.children}
    for element in children(node.element):
        tag = local_name(element)
        child = declared.get(tag)
        if child is None and is_description(element):
            continue  # W: AbstractListMediatorFactory.addChildren, EntryFactory, EndpointFactory skip it
        if child is None:
            if spec.body in (Body.MEDIATORS, Body.ANY):
                node.others.append(element)
                continue
            allowed = list(declared)
            errors.append(
                config_error(
                    element,
                    f"unexpected <{tag}> inside <{spec.tag}>",
                    did_you_mean(tag, allowed)
                    or (f"allowed: {', '.join(allowed)}" if allowed else f"<{spec.tag}> takes no child elements"),
                )
            )
            continue
        if child.ignored:
            log.warning(
                "%s: <%s> inside <%s> is ignored, as MI ignores it (%s)",
                location(element, fctx.path),
                tag,
                spec.tag,
                child.ignored,
            )
            continue
        found = node._children.setdefault(tag, [])
        if found and not child.repeatable:
            if child.first_wins:
                log.warning(
                    "%s: <%s> takes one <%s>; this one is ignored, as MI ignores it",
                    location(element, fctx.path),
                    spec.tag,
                    tag,
                )
            else:
                errors.append(config_error(element, f"a {spec.tag} takes only one <{tag}>"))
            continue
        try:
            found.append(parse(element, child.element, fctx))
        except Reported:
            found.append(_FAILED)  # recorded; keeps counts right without building it
    for tag, child in declared.items():
        if child.required and not node._children.get(tag):
            errors.append(
                node.error(
                    child.missing or f"a <{tag}> element is required inside <{spec.tag}>",
                    f"add a <{tag}>: {child.element.doc}",
                )
            )
    for tag in [tag for tag, nodes in node._children.items() if _FAILED in nodes]:
        node._children[tag] = [n for n in node._children[tag] if n is not _FAILED]
    if spec.body is Body.EMPTY and spec.text is None and (node.element.text or "").strip():
        log.warning("%s: the text inside <%s> is ignored, as MI ignores it", node.location, spec.tag)
    return errors


_FAILED: Any = object()
