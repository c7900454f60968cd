"""`enrich` (W: mediators/elementary/{EnrichMediator,Source,Target}; docs/synapse-semantics.md §5.8).

Two modes, chosen as W: does: with a JSON payload and a configuration that involves no XPath custom
path, no envelope and no XML inline source, the mediator works on the JSON value itself ("native JSON":
JSONPath set / append / merge / delete); otherwise on the XML infoset (a JSON payload's jsonObject)."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from jsonpath import JSONPatch, JSONPatchError, JSONPointer
from lxml import etree

from gateway.errors import MediationError
from gateway.expressions import JsonPath, JsonValue, to_synapse_string, unwrap_json_eval
from gateway.mediators.base import Mediator
from gateway.mediators.transform import (
    dump_json,
    has_json_payload,
    json_document,
    looks_like_json,
    parse_fragment,
    parse_json,
    set_envelope,
    set_json_payload,
)
from gateway.message import scopes, soap
from gateway.message.json_xml import json_value_to_xml

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Expression
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.mediator.enrich")

CUSTOM, ENVELOPE, BODY, PROPERTY, INLINE = "custom", "envelope", "body", "property", "inline"
REPLACE, CHILD, SIBLING, REMOVE = "replace", "child", "sibling", "remove"
Node: TypeAlias = etree._Element | str


# -- JSONPath for writing --------------------------------------------------------------------------


class JsonPathRef:
    """A JSONPath used to change a JSON document (Jayway read / set / delete semantics). The path is compiled by
    the expression layer's JSONPath front (the one json-eval uses); changes are JSON Patch operations on the
    matches' JSON Pointers."""

    __slots__ = ("text", "root", "definite", "_path")

    def __init__(self, text: str) -> None:
        path = unwrap_json_eval(text)
        if not path.startswith("$") or path.startswith(("$ctx:", "$axis2:", "$trp:")):
            raise ValueError(f"a JSONPath on the payload starts with '$': {text}")
        self._path = JsonPath(path)  # ExpressionError (a ValueError) for a bad path
        self.text = self._path.text
        self.root = self._path.root
        self.definite = self._path.definite

    def matches(self, doc: Any) -> list[Any]:
        return self._path.matches(doc)

    def read(self, doc: Any) -> Any:
        """Jayway read: the value of a definite path (missing → error), a list for an indefinite one."""
        if self.root:
            return doc
        found = self.matches(doc)
        if self.definite:
            if not found:
                raise MediationError(f"Failed to get the source for Enriching: no results for path {self.text}")
            return found[0].obj
        return [m.obj for m in found]

    def set(self, doc: Any, value: Any) -> Any:
        """Jayway set: every match is replaced; a path that matches nothing changes nothing."""
        if self.root:
            return value
        found = self.matches(doc)
        if not found:
            log.warning("enrich: JSONPath %s matched nothing; the payload is unchanged", self.text)
        patch = JSONPatch()
        for match in found:
            patch.replace(match.pointer(), copy.deepcopy(value))
        return patch.apply(doc)

    def append(self, doc: Any, value: Any) -> bool:
        """W: getNewJSONString for action child: append to the array, or merge an object into the object, the
        definite path selects. False when the target is neither (nothing changes)."""
        if self.root:
            target, pointer = doc, JSONPointer("")
        else:
            found = self.matches(doc)
            if not found:
                raise MediationError(f"Failed to get the source for Enriching: no results for path {self.text}")
            target, pointer = found[0].obj, found[0].pointer()
        patch = JSONPatch()
        if isinstance(target, list):
            patch.add(JSONPointer.from_parts((*pointer.parts, "-")), value)
        elif isinstance(target, dict) and isinstance(value, dict):
            for key, item in value.items():
                patch.add(JSONPointer.from_parts((*pointer.parts, key)), item)
        else:
            return False
        patch.apply(doc)
        return True

    def delete(self, doc: Any) -> Any:
        if self.root:
            return None
        # Deepest and highest-index locations first, so no removal moves or detaches a later one.
        pointers = {
            str(p): p for p in sorted((m.pointer() for m in self.matches(doc)), key=lambda p: p.parts, reverse=True)
        }
        for pointer in pointers.values():
            try:
                JSONPatch().remove(pointer).apply(doc)
            except JSONPatchError:
                pass  # already gone with an enclosing match
        return doc


def split_json_paths(text: str) -> list[str]:
    """W: remove accepts `json-eval($.a,$.b)`: paths separated by top-level commas."""
    inner = unwrap_json_eval(text)
    paths, depth, start, quote = [], 0, 0, ""
    for i, ch in enumerate(inner):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            paths.append(inner[start:i])
            start = i + 1
    paths.append(inner[start:])
    return [p.strip() for p in paths if p.strip()]


# -- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    type: str
    clone: bool = True
    expression: Expression | None = None  # custom
    json_path: JsonPathRef | None = None  # custom JSONPath, for native JSON reads and moves
    property: str | None = None
    inline: etree._Element | str | None = None  # element or text
    inline_key: str | None = None
    remove_paths: tuple[JsonPathRef, ...] = ()  # action="remove" with JSONPath sources


@dataclass(frozen=True, slots=True)
class Target:
    type: str
    action: str = REPLACE
    expression: Expression | None = None  # custom
    json_path: JsonPathRef | None = None  # custom JSONPath (native JSON writes)
    property: str | None = None
    property_scope: str = "default"  # custom `get-property('scope','name')` targets a property (W:)


class Enrich(Mediator):
    __slots__ = ("source", "target", "native_json")
    tag = "enrich"

    def __init__(self, source: Source, target: Target, native_json: bool, location: SourceLocation) -> None:
        super().__init__(location)
        self.source = source
        self.target = target
        self.native_json = native_json

    @property
    def reads_body(self) -> bool:
        return False  # the mode depends on the payload; mediate() builds what it needs

    async def mediate(self, ctx: MessageContext) -> bool:
        if self.native_json and has_json_payload(ctx) and not self._source_property_is_xml(ctx):
            await self._mediate_json(ctx)
        else:
            if self._needs_envelope():
                await ctx.build()
            self._mediate_xml(ctx)
        if self.target.type in (BODY, ENVELOPE):
            ctx.axis2.pop("NO_ENTITY_BODY", None)  # W: product-ei#3586
        return True

    def _needs_envelope(self) -> bool:
        source, target = self.source, self.target
        if source.type in (BODY, ENVELOPE) or target.type in (BODY, ENVELOPE):
            return True
        if target.type == CUSTOM and target.expression is not None and target.property is None:
            return True
        return source.type == CUSTOM and source.expression is not None and source.expression.needs_body

    def _source_property_is_xml(self, ctx: MessageContext) -> bool:
        if self.source.type != PROPERTY or self.source.property is None:
            return False
        value = ctx.properties.get(self.source.property)
        if isinstance(value, etree._Element):
            return True
        return isinstance(value, list) and any(isinstance(v, etree._Element) for v in value)

    # -- native JSON -----------------------------------------------------------------------------

    async def _mediate_json(self, ctx: MessageContext) -> None:
        source, target = self.source, self.target
        doc = await json_document(ctx)
        if target.action == REMOVE:
            if target.type == BODY:
                for path in source.remove_paths:
                    doc = path.delete(doc)
                set_json_payload(ctx, b"" if doc is None else dump_json(doc))
            else:
                value = _json_property(ctx.properties.get(target.property or ""))
                for path in source.remove_paths:
                    value = path.delete(value)
                ctx.properties[target.property or ""] = JsonValue(value)
            return
        value, doc, changed = self._json_source(ctx, doc)
        if target.type == CUSTOM and target.json_path is not None:
            doc = self._json_insert_custom(target.json_path, doc, value)
            changed = True
        elif target.type == BODY:
            if target.action != REPLACE:
                log.error(
                    "enrich at %s: Unsupported action : %s. Only replace is supported for target body.",
                    self.location,
                    target.action,
                )
            elif isinstance(value, (dict, list)):
                doc, changed = copy.deepcopy(value), True
            else:
                log.error(
                    "enrich at %s: Unsupported JSON payload : %s. Only JSON arrays and objects can be "
                    "enriched to the body",
                    self.location,
                    to_synapse_string(JsonValue(value)),
                )
        elif target.type == PROPERTY:
            self._json_property_target(ctx, value)
        if changed:
            set_json_payload(ctx, dump_json(doc))

    def _json_source(self, ctx: MessageContext, doc: Any) -> tuple[Any, Any, bool]:
        """(source value, possibly changed document, whether the document changed)."""
        source = self.source
        if source.type == CUSTOM:
            path = source.json_path
            if path is None:
                raise MediationError("an XPath source cannot read a JSON payload natively")
            value = path.read(doc)
            if not source.clone:  # W: clone="false" moves the value out of the payload
                return value, path.delete(copy.deepcopy(doc)), True
            return copy.deepcopy(value), doc, False
        if source.type == BODY:
            return copy.deepcopy(doc), doc, False
        if source.type == INLINE:
            text = source.inline if isinstance(source.inline, str) else None
            if source.inline_key is not None:
                entry = ctx.local_entry(source.inline_key)
                text = entry if isinstance(entry, str) else None
                if not text or not text.strip():
                    raise MediationError(f"Source failed to get inline JSON inlineKey={source.inline_key}")
            try:
                return parse_json(text or ""), doc, False
            except ValueError as exc:
                raise MediationError(f"enrich: the inline source is not valid JSON: {exc}") from None
        value = ctx.properties.get(source.property or "")
        if value is None:
            raise MediationError(
                "Failed to get the source for Enriching : ",
                detail=f"enrich at {self.location}: property '{source.property}' is not set",
            )
        return copy.deepcopy(_json_property(value)), doc, False

    def _json_insert_custom(self, path: JsonPathRef, doc: Any, value: Any) -> Any:
        if self.target.action == REPLACE:
            return path.set(doc, value)
        if not path.definite:
            return doc  # an indefinite path reads a new list of matches: appending to it changes nothing
        if not path.append(doc, value):
            log.error(
                "enrich at %s: Cannot append since the target element is not a JSON array or JSONObject: %s",
                self.location,
                path.text,
            )
        return doc

    def _json_property_target(self, ctx: MessageContext, value: Any) -> None:
        name = self.target.property or ""
        if self.target.action == REPLACE:
            ctx.properties[name] = JsonValue(value)
        elif self.target.action == CHILD:
            existing = ctx.properties.get(name)
            if existing is None:
                log.error('enrich at %s: Cannot find the property with name "%s" to enrich', self.location, name)
                return
            current = _json_property(existing)
            if isinstance(current, list):
                ctx.properties[name] = JsonValue([*current, value])
            else:
                log.error(
                    "enrich at %s: Cannot add child, since the target %s is not an JSON array",
                    self.location,
                    name,
                )
        else:
            log.error(
                "enrich at %s: Action sibling is not supported when enriching properties with JSON data",
                self.location,
            )

    # -- XML -------------------------------------------------------------------------------------

    def _mediate_xml(self, ctx: MessageContext) -> None:
        target = self.target
        if target.action == REMOVE:
            self._remove_xml(ctx)
            return
        nodes = self._xml_source(ctx)
        if target.type == CUSTOM:
            if target.property is not None:
                self._property_target(ctx, nodes, target.property, target.property_scope)
                return
            if not nodes:
                log.error("enrich at %s: Cannot Enrich message from an empty source.", self.location)
                return
            self._insert_custom(ctx, nodes)
            set_envelope(ctx, ctx.envelope)
        elif target.type == BODY:
            self._insert_body(ctx, nodes)
        elif target.type == ENVELOPE:
            first = nodes[0] if nodes else None
            if not (
                isinstance(first, etree._Element)
                and etree.QName(first).localname == "Envelope"
                and etree.QName(first).namespace in soap.SOAP_NAMESPACES
            ):
                raise MediationError(
                    "A SOAPEnvelope is expected",
                    detail=f"enrich at {self.location}: the source is not a SOAP Envelope",
                )
            set_envelope(ctx, first if first.getparent() is None else copy.deepcopy(first))
        else:
            self._property_target(ctx, nodes, target.property or "", "default")

    def _xml_source(self, ctx: MessageContext) -> list[Node]:
        source = self.source
        if source.type == CUSTOM:
            assert source.expression is not None
            if source.expression.kind == "json":
                return _json_to_nodes(source.expression.evaluate(ctx))
            result = source.expression.evaluate(ctx)
            if result is None:
                return []
            if not isinstance(result, list):
                text = to_synapse_string(result)
                return [] if text is None else [text]
            nodes: list[Node] = []
            for item in result:
                if isinstance(item, etree._Element):
                    if isinstance(item.tag, str):
                        nodes.append(copy.deepcopy(item) if source.clone else item)
                elif isinstance(item, str):
                    nodes.append(str(item))  # text and attribute values
            if not nodes:
                log.error("enrich at %s: Specified node by xpath cannot be found.", self.location)
            return nodes
        if source.type == BODY:
            first = soap.first_body_element(ctx.envelope)
            if first is None:
                return []
            return [copy.deepcopy(first) if source.clone else first]
        if source.type == ENVELOPE:
            return [copy.deepcopy(ctx.envelope) if source.clone else ctx.envelope]
        if source.type == PROPERTY:
            return _property_nodes(ctx.properties.get(source.property or ""), source.clone)
        if source.inline_key is not None:
            entry = ctx.local_entry(source.inline_key)
            if isinstance(entry, etree._Element):
                return [copy.deepcopy(entry)]  # local entries are shared: never move them
            if entry is None:
                log.error("enrich at %s: Specified Resource as Source is not valid.", self.location)
                return []
            return [str(entry)]
        inline = source.inline
        if isinstance(inline, etree._Element):
            return [copy.deepcopy(inline)]
        return [] if inline is None else [inline]

    def _insert_custom(self, ctx: MessageContext, nodes: list[Node]) -> None:
        assert self.target.expression is not None
        found = self.target.expression.evaluate(ctx)
        target = found[0] if isinstance(found, list) and found else None
        if isinstance(target, etree._Element) and isinstance(target.tag, str):
            _insert(nodes, target, self.target.action)
        elif isinstance(target, etree._ElementUnicodeResult) and target.is_attribute:
            if not isinstance(nodes[0], str):
                raise MediationError(
                    "Invalid Source object to be enrich.",
                    detail=f"enrich at {self.location}: an attribute target needs a text source",
                )
            owner = target.getparent()
            assert owner is not None and target.attrname is not None
            owner.set(target.attrname, nodes[0])
        elif isinstance(target, etree._ElementUnicodeResult) and (target.is_text or target.is_tail):
            holder = target.getparent()  # the element whose text (or tail) this is
            # A tail's text belongs to the holder's parent.
            owner = holder.getparent() if target.is_tail and holder is not None else holder
            if owner is None or holder is None:
                raise MediationError("Invalid Target object to be enrich.")
            first = nodes[0]
            if isinstance(first, str):
                _set_text(owner, first)
            else:
                if target.is_tail:
                    holder.tail = None
                else:
                    owner.text = None
                owner.append(first)
        else:
            raise MediationError(
                "Invalid Target object to be enrich.",
                detail=f"enrich at {self.location}: the target XPath "
                f"{self.target.expression.source} selects no element, text or attribute",
            )

    def _insert_body(self, ctx: MessageContext, nodes: list[Node]) -> None:
        envelope = ctx.envelope
        body = soap.body_of(envelope)
        first = soap.first_body_element(envelope)
        if first is not None:
            if self.target.action == REPLACE and nodes and isinstance(nodes[0], str) and looks_like_json(nodes[0]):
                try:
                    value = parse_json(nodes[0])
                except ValueError:
                    value = None
                if isinstance(value, (dict, list)):  # W: a JSON object/array text becomes the JSON payload
                    set_json_payload(ctx, nodes[0].strip().encode("utf-8"))
                    return
            _insert(nodes, first, self.target.action)
        else:
            for node in nodes:
                if isinstance(node, etree._Element):
                    body.append(node)
                else:
                    log.error("enrich at %s: Invalid Object type to be inserted into message body", self.location)
        set_envelope(ctx, envelope)

    def _property_target(self, ctx: MessageContext, nodes: list[Node], name: str, scope: str) -> None:
        # W: Target sets the property straight in its scope, without the property mediator's special names
        existing = scopes.read(ctx, scope, name)
        write = scopes.writer(scope)
        if self.target.action == CHILD:
            holder = existing if isinstance(existing, etree._Element) else _parse_element(existing)
            if holder is not None:
                holder = copy.deepcopy(holder) if holder is existing else holder
                _insert(nodes, holder, CHILD)
                write(
                    ctx,
                    name,
                    holder
                    if isinstance(existing, etree._Element) or existing is None
                    else etree.tostring(holder, encoding=str),
                )
                return
        # W: stores the node list; one element is kept as that element (OM), one text as a string.
        write(ctx, name, nodes[0] if len(nodes) == 1 else list(nodes))

    def _remove_xml(self, ctx: MessageContext) -> None:
        """Our addition (W: a no-op for XML payloads): remove what the source XPath selects."""
        if self.target.type != BODY:
            raise MediationError(
                'enrich action="remove" on an XML property is not supported',
                detail=f"enrich at {self.location}: remove from the body, or use a JSON property",
            )
        assert self.source.expression is not None
        if self.source.expression.kind != "xpath":
            log.warning("enrich at %s: a JSONPath remove needs a JSON payload; nothing removed", self.location)
            return
        result = self.source.expression.evaluate(ctx)
        for item in result if isinstance(result, list) else []:
            if isinstance(item, etree._Element) and item.getparent() is not None:
                _detach(item)
            elif isinstance(item, etree._ElementUnicodeResult) and item.is_attribute:
                owner = item.getparent()
                if owner is not None and item.attrname is not None:
                    owner.attrib.pop(item.attrname, "")  # (the default only keeps a missing one quiet)
        set_envelope(ctx, ctx.envelope)


# -- XML helpers -----------------------------------------------------------------------------------


def _insert(nodes: list[Node], target: etree._Element, action: str) -> None:
    """W: Target.insertElement."""
    if action == REPLACE:
        inserted = False
        for node in nodes:
            if isinstance(node, etree._Element):
                if target.getparent() is None:
                    continue  # a root has no siblings (W: would fail)
                target.addprevious(node)
                inserted = True
            else:
                _set_text(target, node)
        if inserted:
            _detach(target)
    elif action == CHILD:
        for node in nodes:
            if isinstance(node, etree._Element):
                target.append(node)
    elif action == SIBLING:
        for node in nodes:
            if isinstance(node, etree._Element) and target.getparent() is not None:
                target.addnext(node)  # W: insertSiblingAfter, so several nodes end up in reverse order


def _set_text(element: etree._Element, text: str) -> None:
    """Axiom setText: the element's content becomes this text."""
    for child in list(element):
        element.remove(child)
    element.text = text


def _detach(element: etree._Element) -> None:
    """Remove an element but keep the text that followed it (lxml keeps tails with their element)."""
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    previous = element.getprevious()
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


def _parse_element(value: Any) -> etree._Element | None:
    if not isinstance(value, str) or not value.strip().startswith("<"):
        return None
    parsed = parse_fragment(value.strip())
    elements = [c for c in parsed if isinstance(c.tag, str)] if parsed is not None else []
    return elements[0] if len(elements) == 1 else None


def _property_nodes(value: Any, clone: bool) -> list[Node]:
    if value is None:
        return []
    if isinstance(value, etree._Element):
        return [copy.deepcopy(value) if clone else value]
    if isinstance(value, list):
        out: list[Node] = []
        for item in value:
            if isinstance(item, etree._Element):
                out.append(copy.deepcopy(item) if clone else item)
            elif item is not None:
                out.append(str(item) if isinstance(item, str) else to_synapse_string(item) or "")
        return out
    text = to_synapse_string(value)
    return [] if text is None else [text]


def _json_to_nodes(value: Any) -> list[Node]:
    """A JSONPath result in XML mode: objects/arrays as the elements MI builds, scalars as text."""

    if isinstance(value, (dict, list)):
        root = json_value_to_xml(value)
        return [child for child in root if isinstance(child.tag, str)] if root.tag == "jsonObject" else [root]
    if value == "":
        return []
    text = to_synapse_string(JsonValue(value)) if not isinstance(value, str) else value
    return [] if text is None else [text]


def _json_property(value: Any) -> Any:
    """A property as a JSON value (W: Gson parse, with a bare word retried as a string)."""
    if isinstance(value, JsonValue):
        return value.value
    if isinstance(value, str):
        try:
            return parse_json(value)
        except ValueError:
            return value
    return value
