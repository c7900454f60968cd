"""Property values and the string MI makes of them (docs/synapse-semantics.md §3.2): the JSON property wrapper, Java's
Double form, and Synapse's string of a node-set, an element or any other stored value. The message layer
needs these too: a transport-scope value is a string, and messageType is set from one."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lxml import etree

from gateway.errors import MediationError
from gateway.message import json_codec
from gateway.message.json_codec import JsonConversionError


@dataclass(frozen=True, slots=True)
class JsonValue:
    """A property of type JSON (W: PropertyMediator type="JSON"); `value` is a parsed JSON value."""

    value: Any

    def text(self) -> str:
        """Compact JSON text, as Gson's JsonElement.toString() gives it."""
        return json_text(self.value)


def json_text(value: Any) -> str:
    """Compact JSON text of a value (gateway.message.json_codec)."""
    try:
        return json_codec.dumps_text(value)
    except JsonConversionError as exc:  # nested deeper than JSON can be written
        raise MediationError(str(exc)) from None


_Element = etree._Element
_ElementTree = etree._ElementTree
_ElementUnicodeResult = etree._ElementUnicodeResult

# Java String.trim() removes every char <= U+0020, and only those.
_JAVA_TRIM = "".join(chr(i) for i in range(33))


def java_double(d: float) -> str:
    """Java Double.toString(d): "2.0", "1500.0", "0.1", "1.0E21", "1.0E-5", "NaN", "Infinity"."""
    if d != d:
        return "NaN"
    if math.isinf(d):
        return "Infinity" if d > 0 else "-Infinity"
    if d == 0.0:
        return "-0.0" if math.copysign(1.0, d) < 0 else "0.0"
    a = abs(d)
    if 1e-3 <= a < 1e7:
        return repr(d)  # Python's shortest repr never uses an exponent in this range
    # Java's "computerized scientific notation" from the shortest round-trip digits.
    sign, digits, exp = Decimal(repr(a)).normalize().as_tuple()
    assert isinstance(exp, int)
    sci = len(digits) - 1 + exp
    rest = "".join(map(str, digits[1:])) or "0"
    return f"{'-' if d < 0 else ''}{digits[0]}.{rest}E{sci}"


def serialize_element(el: Any) -> str:
    """Serialized XML of an element without its tail.

    A non-root element is deep-copied first: lxml then declares only the namespaces the subtree
    uses (plus the element's own declarations), as Axiom's OMElement.toString() does, instead of
    every namespace in scope (e.g. soapenv on a JSON infoset element)."""
    if el.getparent() is not None:
        el = copy.deepcopy(el)
    return etree.tostring(el, encoding=str, with_tail=False)


def _direct_text(el: Any) -> str:
    # Axiom getText(): the element's direct text children only.
    text = el.text or ""
    if len(el):
        for child in el:
            if child.tail:
                text += child.tail
    return text


def _element_string(el: Any, as_xml: bool) -> str:
    # Mirrors W: SynapseXPath.stringValueOf for an OMElement item, including its replace() quirk.
    raw = _direct_text(el)
    trimmed = raw.replace("\u00a0", " ").strip(_JAVA_TRIM)
    if not trimmed:
        return serialize_element(el)
    if not as_xml:
        return trimmed
    s = serialize_element(el)
    return s.replace(raw, trimmed) if raw else s


def _text_parent(node: Any) -> Any:
    parent = node.getparent()
    if parent is not None and node.is_tail:
        parent = parent.getparent()  # a tail's getparent() is the element it follows
    return parent


def nodeset_string(items: Sequence[Any], keep_parent: bool = False) -> str | None:
    """Concatenate a node-set MI-style: text → text, attribute → value, element → trimmed direct
    text (one element) or serialized XML (several, or when `keep_parent` for `…node()`); a lone null
    stays None."""
    single = len(items) == 1
    as_xml = not single or keep_parent
    out: list[str] = []
    for item in items:
        if single and keep_parent and isinstance(item, _ElementUnicodeResult) and item.is_text:
            parent = _text_parent(item)
            if parent is not None:
                item = parent
        if isinstance(item, str):
            out.append(str(item))
        elif isinstance(item, _Element):
            if isinstance(item.tag, str):
                out.append(_element_string(item, as_xml))
            # comments and PIs are skipped, as Jaxen's list handling skips them
        elif isinstance(item, _ElementTree):
            out.append(serialize_element(item.getroot()))
        elif item is None:
            if single:
                return None
        elif isinstance(item, tuple):
            continue  # namespace nodes
        else:
            s = to_synapse_string(item)
            if s is not None:
                out.append(s)
    return "".join(out)


def to_synapse_string(result: Any, *, keep_parent: bool = False) -> str | None:
    """Turn an expression result or a property value into the string MI would use (§3.2).

    None stays None (a missing property); numbers use Java's Double form, except Python ints,
    which are Java Integer/Long values; booleans give "true"/"false"."""
    if result is None:
        return None
    if type(result) is list and len(result) == 1 and not keep_parent:
        # The common case (`//symbol`): one element, its trimmed text.
        item = result[0]
        if isinstance(item, _Element) and isinstance(item.tag, str):
            return _element_string(item, False)
    if isinstance(result, str):
        return str(result)  # plain str also for lxml smart strings
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, float):
        return java_double(result)
    if isinstance(result, int):
        return str(result)
    if isinstance(result, list):
        return nodeset_string(result, keep_parent)
    if isinstance(result, _Element):
        return nodeset_string([result], keep_parent)
    if isinstance(result, _ElementTree):
        return serialize_element(result.getroot())
    if isinstance(result, JsonValue):
        return result.text()
    if isinstance(result, dict):
        return json_text(result)
    if isinstance(result, bytes):
        return result.decode("utf-8", "replace")
    return str(result)
