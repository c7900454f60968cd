"""JSON <-> XML conversion with WSO2 Micro Integrator's conventions (reference section 4.3).

MI builds JSON with its staxon fork (``JsonStreamBuilder``: no processing instructions) and writes it back
with ``JsonUtil.writeAsJson`` (staxon writer with autoArray + autoPrimitive). This module reproduces both.

JSON -> XML
  * top-level object -> ``<jsonObject>``; array -> ``<jsonArray>`` with one ``<jsonElement>`` per item;
    bare scalar -> ``<jsonValue>``.
  * ``{"a":[1,2]}`` -> ``<a>1</a><a>2</a>``; ``{"a":[]}`` -> nothing.
  * Anonymous (nested) arrays: MI's scanner rewrites every ``[`` that follows ``[`` or ``,`` inside an array
    (or starts the document) into ``{"jsonArray":{"jsonElement":[...]}}``. So ``{"a":[[1,2],[3]]}`` ->
    ``<a><jsonArray><jsonElement>1</jsonElement><jsonElement>2</jsonElement></jsonArray></a>``
    ``<a><jsonArray><jsonElement>3</jsonElement></jsonArray></a>``, and ``[[1]]`` ->
    ``<jsonArray><jsonElement><jsonArray><jsonElement>1</jsonElement></jsonArray></jsonElement></jsonArray>``.
  * ``{}``, ``""`` and ``null`` -> empty element. Numbers and booleans keep their lexical text.
  * Keys: a leading digit gets ``_JsonReader_PD_``; a leading ``$`` becomes ``_JsonReader_PS_``. Any other
    character that lxml refuses in an XML name becomes ``_JsonReader_<codepoint>_`` (MI's buildValidNCNames
    form, here always on because lxml cannot hold invalid names); ``""`` becomes ``_JsonReader_PE_`` (ours).
  * staxon: ``"@x"`` with a scalar value -> attribute ``x`` (``null`` -> ``""``); ``"$"`` with a scalar
    value -> text at that position. With an object/array value they are ordinary (mangled) keys, which
    round-trip.
  * ``with_pi=True`` (MI's non-stream JsonBuilder) puts ``<?xml-multiple key?>`` before every array's members.
  * Text that XML cannot carry (control characters, lone surrogates) becomes U+FFFD.
  * Deviation: duplicate JSON keys keep the last value (MI would emit both elements).

XML -> JSON
  * Root ``jsonObject``/``jsonArray``/``jsonElement``/``jsonValue`` is dropped; any other root becomes the
    only top-level key. Namespaces are dropped (local names), whitespace-only text is ignored, comments are
    skipped.
  * MI's writer makes an object transparent when its first key is ``jsonObject``, ``jsonArray`` or
    ``jsonElement``: we replace such an object by that key's value when it is the only key. Hence
    ``<jsonArray>`` with two ``<jsonElement>`` children is an array, but with one child it is that child's
    value (JsonFormatterTest), and an empty ``<jsonArray/>`` or ``<jsonObject/>`` is ``null``.
  * Same-named siblings -> array (not necessarily adjacent: MI would emit duplicate keys; we group them at the
    first occurrence). A single child is a scalar/object unless an ``<?xml-multiple name?>`` PI names it;
    a PI whose name has no element gives ``[]``; a PI without a name makes the next element an array.
  * Attributes -> ``"@name"`` strings (never converted). The text of an element with attributes -> ``"$"``.
  * Auto-primitive: ``true``/``false``/``null`` and JSON-grammar numbers (``-?(0|[1-9][0-9]*)(\\.[0-9]+)?``
    ``([eE][+-]?[0-9]+)?``) become JSON values. Numbers are printed like Java's ``BigDecimal.toString()``
    (what MI emits): scale is kept (``4.00``), exponents are normalised (``1e5`` -> ``1E+5``), and
    ``-0`` -> ``0``.
  * Empty element -> ``null``. Mixed content (MI fails on it): non-whitespace text goes to ``"$"``.
  * Names are un-mangled (``_JsonReader_PD_``/``_PS_``/``_<codepoint>_``).
  * Deviation: JSON is written at most 254 levels deep (orjson's limit); deeper documents raise
    JsonConversionError rather than being written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

from lxml import etree

from gateway.message.json_codec import JsonConversionError, JsonNumber, RawNumber, loads, too_deep
from gateway.message.json_codec import dumps as json_dumps

__all__ = [
    "JSON_ARRAY",
    "JSON_ELEMENT",
    "JSON_OBJECT",
    "JSON_VALUE",
    "JsonConversionError",
    "JsonNumber",
    "json_bytes_to_xml",
    "json_dumps",
    "json_value_to_xml",
    "mangle_name",
    "unmangle_name",
    "xml_to_json_bytes",
    "xml_to_json_value",
]

JSON_OBJECT = "jsonObject"
JSON_ARRAY = "jsonArray"
JSON_ELEMENT = "jsonElement"
JSON_VALUE = "jsonValue"

PRECEDING_DIGIT = "_JsonReader_PD_"
PRECEDING_DOLLAR = "_JsonReader_PS_"
EMPTY_KEY = "_JsonReader_PE_"
MULTIPLE_PI = "xml-multiple"

# Keys that make the enclosing object transparent on output (W: staxon JsonStreamTargetImpl.name).
_WRAPPERS = frozenset((JSON_OBJECT, JSON_ARRAY, JSON_ELEMENT))
_ROOT_WRAPPERS = frozenset((JSON_OBJECT, JSON_ARRAY, JSON_ELEMENT, JSON_VALUE))


# --------------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------------

_ASCII_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._\-]*\Z")
_CODEPOINT = re.compile(r"_JsonReader_([0-9]{1,7})_")
# XML 1.0 5th edition NameStartChar minus ':' (what libxml2/lxml accept for element and attribute names).
_START_RANGES = (
    (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x2FF), (0x370, 0x37D),
    (0x37F, 0x1FFF), (0x200C, 0x200D), (0x2070, 0x218F), (0x2C00, 0x2FEF), (0x3001, 0xD7FF),
    (0xF900, 0xFDCF), (0xFDF0, 0xFFFD), (0x10000, 0xEFFFF),
)  # fmt: skip
_EXTRA_NAME_RANGES = ((0x2D, 0x2E), (0x30, 0x39), (0xB7, 0xB7), (0x300, 0x36F), (0x203F, 0x2040))
_CACHE_LIMIT = 4096  # keys are client-controlled: bound the caches rather than grow forever
_tag_cache: dict[str, str] = {}
# The emitter's own cache: it never holds "@x"/"$" keys, whose meaning depends on the value.
_emit_cache: dict[Any, str] = {}
_key_cache: dict[str, str] = {}


def _in_ranges(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


def _is_name_start(ch: str) -> bool:
    return _in_ranges(ord(ch), _START_RANGES)


def _is_name_char(ch: str) -> bool:
    cp = ord(ch)
    return _in_ranges(cp, _START_RANGES) or _in_ranges(cp, _EXTRA_NAME_RANGES)


def _mangle(key: str) -> str:
    if _ASCII_NAME.match(key):
        return key
    if not key:
        return EMPTY_KEY
    first = key[0]
    if first.isdecimal():  # Java Character.isDigit
        parts, rest, need_start = [PRECEDING_DIGIT], key, False
    elif first == "$":
        parts, rest, need_start = [PRECEDING_DOLLAR], key[1:], False
    else:
        parts, rest, need_start = [], key, True
    for ch in rest:
        ok = _is_name_start(ch) if need_start else _is_name_char(ch)
        parts.append(ch if ok else f"_JsonReader_{ord(ch)}_")
        need_start = False
    return "".join(parts)


def mangle_name(key: str) -> str:
    """The XML element/attribute name MI uses for a JSON key (always a valid lxml name)."""
    tag = _tag_cache.get(key)
    if tag is None:
        tag = _mangle(key)
        if len(_tag_cache) >= _CACHE_LIMIT:
            _tag_cache.clear()
        _tag_cache[key] = tag
    return tag


def _codepoint(match: re.Match[str]) -> str:
    cp = int(match.group(1))
    if 0xD800 <= cp <= 0xDFFF:
        return "\ufffd"  # a lone surrogate cannot be written as UTF-8 JSON
    return chr(cp) if cp <= 0x10FFFF else match.group(0)


def unmangle_name(name: str) -> str:
    """Reverse :func:`mangle_name` (MI's XmlReaderDelegate)."""
    if "_JsonReader_" not in name:
        return name
    if name == EMPTY_KEY:
        return ""
    if name.startswith(PRECEDING_DIGIT):
        name = name[len(PRECEDING_DIGIT) :]
    elif name.startswith(PRECEDING_DOLLAR):
        name = "$" + name[len(PRECEDING_DOLLAR) :]
    return _CODEPOINT.sub(_codepoint, name)


def _key_of(tag: str) -> str:
    """JSON key for an lxml tag: local name, un-mangled (cached: the same tags recur in every message)."""
    key = _key_cache.get(tag)
    if key is None:
        local = tag[tag.rfind("}") + 1 :] if tag[:1] == "{" else tag
        key = unmangle_name(local)
        if len(_key_cache) >= _CACHE_LIMIT:
            _key_cache.clear()
        _key_cache[tag] = key
    return key


# --------------------------------------------------------------------------------------------------------
# JSON -> XML
# --------------------------------------------------------------------------------------------------------
# We emit XML text and let libxml2 parse it: measured ~40% faster than one SubElement per node, because
# lxml creates (and frees) a Python proxy for every SubElement.

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# huge_tree lifts libxml2's 256-level depth limit; the text is ours, so entities/DTDs cannot appear.
_PARSER = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True, collect_ids=False)


def _esc(text: str) -> str:
    # '\r' must be a reference or the parser normalises it away.
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _esc_attr(text: str) -> str:
    # Attribute-value normalisation would turn raw tab/newline into spaces.
    text = _esc(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\n" in text:
        text = text.replace("\n", "&#10;")
    if "\t" in text:
        text = text.replace("\t", "&#9;")
    return text


def _sanitize(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def _pi_data(key: str, tag: str) -> str:
    # PI data is the raw JSON key (as MI emits it) unless the PI could not carry it; readers un-mangle both.
    # A parser reads "\r" in a PI back as "\n" (line-end normalisation), so such keys go mangled too.
    if _ASCII_NAME.match(key) or (
        key.strip() == key and "?>" not in key and "\r" not in key and not _XML_INVALID.search(key)
    ):
        return key or tag
    return tag


Emitter = Callable[[list[str], str, Any], None]


def _make_emitter(with_pi: bool, sanitize: bool) -> tuple[Emitter, Emitter]:
    """Build (element, members) emitters; flags are closure constants to keep the recursion lean."""
    if sanitize:

        def esc(text: str) -> str:
            return _esc(_sanitize(text))

        def esc_attr(text: str) -> str:
            return _esc_attr(_sanitize(text))
    else:
        esc, esc_attr = _esc, _esc_attr
    tag_of = mangle_name
    emit_cache = _emit_cache
    tag_get = emit_cache.get

    def scalar(value: Any) -> str | None:
        """Text of a non-str scalar; None for null."""
        if value is None:
            return None
        if value is True:
            return "true"
        if value is False:
            return "false"
        cls = value.__class__
        if cls is int:
            return int.__repr__(value)
        if cls is float:
            return repr(value)
        if isinstance(value, str):
            return str(value)
        if isinstance(value, int | float | Decimal):
            return str(value)
        raise JsonConversionError(f"cannot convert a {cls.__name__} to XML")

    def is_scalar(value: Any) -> bool:
        return not isinstance(value, dict | list | tuple)

    def element(out: list[str], tag: str, value: Any) -> None:
        cls = value.__class__
        if cls is str:
            out.append(f"<{tag}>{esc(value)}</{tag}>" if value else f"<{tag}/>")
        elif cls is dict:
            members(out, tag, value)
        elif cls is list or cls is tuple:
            # Anonymous array inside an array: MI's scanner turns it into jsonArray/jsonElement.
            if not value and not with_pi:
                out.append(f"<{tag}><{JSON_ARRAY}/></{tag}>")
                return
            out.append(f"<{tag}><{JSON_ARRAY}>")
            if with_pi:
                out.append(f"<?{MULTIPLE_PI} {JSON_ELEMENT}?>")
            for item in value:
                element(out, JSON_ELEMENT, item)
            out.append(f"</{JSON_ARRAY}></{tag}>")
        elif isinstance(value, dict):
            members(out, tag, dict(value))
        elif isinstance(value, list | tuple):
            element(out, tag, list(value))
        elif isinstance(value, str):
            element(out, tag, str(value))
        else:
            text = scalar(value)
            out.append(f"<{tag}>{text}</{tag}>" if text else f"<{tag}/>")

    def members(out: list[str], tag: str, obj: dict[Any, Any]) -> None:
        """Emit ``<tag attrs>children</tag>`` for a JSON object."""
        if not obj:
            out.append(f"<{tag}/>")
            return
        append = out.append
        start = len(out)
        append(f"<{tag}>")  # attributes are spliced into this slot when we meet them
        for key, value in obj.items():
            child = tag_get(key)
            if child is None:
                if key.__class__ is not str:
                    key = str(key)
                first = key[:1]
                if first == "@" and len(key) > 1 and is_scalar(value):
                    text = value if value.__class__ is str else scalar(value)
                    out[start] = f'{out[start][:-1]} {tag_of(key[1:])}="{esc_attr(text) if text else ""}">'
                    continue
                if key == "$" and is_scalar(value):
                    text = value if value.__class__ is str else scalar(value)
                    if text:
                        append(esc(text))
                    continue
                child = tag_of(key)
                if first != "@" and key != "$":  # their meaning depends on the value: never cache them
                    if len(emit_cache) >= _CACHE_LIMIT:
                        emit_cache.clear()
                    emit_cache[key] = child
            cls = value.__class__
            # The common scalar cases are inlined: a call per leaf is a third of the cost.
            if cls is str:
                append(f"<{child}>{esc(value)}</{child}>" if value else f"<{child}/>")
            elif cls is dict:
                members(out, child, value)
            elif cls is int:
                append(f"<{child}>{value}</{child}>")
            elif value is None:
                append(f"<{child}/>")
            elif value is True:
                append(f"<{child}>true</{child}>")
            elif value is False:
                append(f"<{child}>false</{child}>")
            elif cls is list or cls is tuple:
                if with_pi:
                    append(f"<?{MULTIPLE_PI} {_pi_data(str(key), child)}?>")
                for item in value:
                    element(out, child, item)
            else:
                element(out, child, value)
        if len(out) == start + 1:  # attributes only
            out[start] = out[start][:-1] + "/>"
        else:
            append(f"</{tag}>")

    return element, members


_emitters: dict[tuple[bool, bool], tuple[Emitter, Emitter]] = {
    (pi, san): _make_emitter(pi, san) for pi in (False, True) for san in (False, True)
}


def _emit_root(value: Any, with_pi: bool, sanitize: bool) -> list[str]:
    element, members = _emitters[(with_pi, sanitize)]
    out: list[str] = []
    if value.__class__ is dict or isinstance(value, dict):
        members(out, JSON_OBJECT, value)
    elif isinstance(value, list | tuple):
        if not value and not with_pi:
            return [f"<{JSON_ARRAY}/>"]
        out.append(f"<{JSON_ARRAY}>")
        if with_pi:
            out.append(f"<?{MULTIPLE_PI} {JSON_ELEMENT}?>")
        for item in value:
            element(out, JSON_ELEMENT, item)
        out.append(f"</{JSON_ARRAY}>")
    else:
        element(out, JSON_VALUE, value)
    return out


def _to_tree(value: Any, with_pi: bool) -> etree._Element:
    """Emit and parse; on failure (characters XML cannot hold) retry with sanitised text."""
    try:
        return etree.fromstring("".join(_emit_root(value, with_pi, False)), _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        if isinstance(exc, JsonConversionError):
            raise
    try:
        return etree.fromstring("".join(_emit_root(value, with_pi, True)), _PARSER)
    except JsonConversionError:
        raise
    except (etree.XMLSyntaxError, ValueError) as exc:  # e.g. two keys that mangle to one attribute name
        raise JsonConversionError(f"JSON payload cannot be represented as XML: {exc}") from None


def json_bytes_to_xml(data: bytes | str, *, with_pi: bool = False) -> etree._Element:
    """Parse JSON text (the codec keeps every number's lexical text) and build MI's infoset (root jsonObject /
    jsonArray / jsonValue)."""
    value = loads(data)
    try:
        return _to_tree(value, with_pi)
    except RecursionError:
        raise JsonConversionError("Malformed JSON payload: nesting too deep") from None


def json_value_to_xml(value: Any, *, with_pi: bool = False) -> etree._Element:
    """Build MI's infoset from an already-parsed value (dict/list/str/int/float/bool/None/Decimal)."""
    try:
        return _to_tree(value, with_pi)
    except RecursionError:
        raise JsonConversionError("JSON value nested too deep") from None


# --------------------------------------------------------------------------------------------------------
# XML -> JSON
# --------------------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_PRIMITIVE_START = frozenset("-0123456789tfn")
_WS = " \t\n\r"  # Java String.trim() on XML text (MI removeIndentations)
# A processing instruction's tag is this factory itself (lxml-stubs type every tag as str): identity only.
_PI: object = etree.PI


def _canonical_number(text: str) -> str:
    """Java BigDecimal.toString() of a JSON-grammar number (Decimal's to-sci-string is the same algorithm)."""
    if "e" not in text and "E" not in text and not text.startswith(("-0", "0.000000")):
        return text  # plain notation with adjusted exponent >= -6: BigDecimal prints it unchanged
    number = Decimal(text)
    if number.is_zero():
        number = number.copy_abs()  # BigInteger has no negative zero
    return str(number)


def _number_for_bytes(text: str) -> Any:
    if "." not in text and "E" not in text:
        return int(text) if len(text) <= 18 else RawNumber(text)  # orjson handles 64-bit integers
    if "E" not in text:
        number = float(text)
        if repr(number) == text:  # orjson prints non-exponent floats exactly like repr
            return number
    return RawNumber(text)


def _number_for_value(text: str) -> Any:
    if "." not in text and "E" not in text:
        return int(text) if len(text) <= 18 else JsonNumber(text)
    return JsonNumber(text)


Primitive = Callable[[str], Any]


def _make_primitive(number: Callable[[str], Any]) -> Primitive:
    def primitive(text: str) -> Any:
        """staxon AutoPrimitiveTarget: booleans, null and numbers; everything else stays a string."""
        if text.isascii() and text.isdigit():  # the common unsigned integer, without the regex
            if text[0] != "0" or len(text) == 1:
                return number(text)
            return text  # leading zeros: not JSON grammar
        first = text[0]
        if first == "t":
            return True if text == "true" else text
        if first == "f":
            return False if text == "false" else text
        if first == "n":
            return None if text == "null" else text
        if _NUMBER.match(text):
            return number(_canonical_number(text))
        return text

    return primitive


_primitive_bytes = _make_primitive(_number_for_bytes)
_primitive_value = _make_primitive(_number_for_value)


def _text_value(text: str | None, primitive: Primitive) -> Any:
    """Value of character content: whitespace-only is absent (null), the rest auto-primitive."""
    if not text or (text[0] in _WS and not text.strip(_WS)):
        return None
    return primitive(text) if text[0] in _PRIMITIVE_START else text


def _attributes(attrib: Any) -> dict[str, Any]:
    return {"@" + _key_of(name): value for name, value in attrib.items()}


def _convert(el: etree._Element, primitive: Primitive) -> Any:
    """The JSON value of an element with children (its name is the caller's business)."""
    attrib = el.attrib
    obj = _attributes(attrib) if attrib else {}
    arrays: set[str] | None = None
    text = el.text
    texts = [text] if text and text.strip(_WS) else None
    pending_array = False
    key_get = _key_cache.get
    for child in el:
        tag = child.tag
        if tag.__class__ is str:
            key = key_get(tag) or _key_of(tag)
            if len(child):
                value = _convert(child, primitive)
            elif child.attrib:
                value = _attributes(child.attrib)
                ctext = child.text
                if ctext and ctext.strip(_WS):
                    value["$"] = primitive(ctext)
            else:  # plain leaf inlined: most elements are
                value = child.text
                if not value or (value[0] in _WS and not value.strip(_WS)):
                    value = None
                elif value[0] in _PRIMITIVE_START:
                    value = primitive(value)
            if key not in obj:
                if pending_array:
                    obj[key] = [value]
                    arrays = {key} if arrays is None else arrays | {key}
                    pending_array = False
                else:
                    obj[key] = value
            elif arrays is not None and key in arrays:
                obj[key].append(value)
            else:
                obj[key] = [obj[key], value]
                arrays = {key} if arrays is None else arrays | {key}
            pending_array = False
        elif tag is _PI and cast("etree._ProcessingInstruction", child).target == MULTIPLE_PI:
            name = (child.text or "").strip()
            if not name:
                pending_array = True
            else:
                key = unmangle_name(name)
                if arrays is None or key not in arrays:
                    obj[key] = [obj[key]] if key in obj else []
                    arrays = {key} if arrays is None else arrays | {key}
        tail = child.tail
        if tail and tail.strip(_WS):
            if texts is None:
                texts = [tail]
            else:
                texts.append(tail)

    if not obj:  # only comments/PIs besides the text
        return primitive("".join(texts)) if texts else None
    if texts:
        obj["$"] = primitive("".join(texts))
    elif len(obj) == 1:
        first = next(iter(obj))
        if first in _WRAPPERS:
            return obj[first]
    return obj


def _root_value(element: etree._Element, primitive: Primitive) -> Any:
    tag = element.tag
    if tag.__class__ is not str:
        raise TypeError("expected an element, not a comment or processing instruction")
    key = _key_cache.get(tag) or _key_of(tag)
    if len(element):
        value = _convert(element, primitive)
    elif element.attrib:
        value = _attributes(element.attrib)
        text = element.text
        if text and text.strip(_WS):
            value["$"] = primitive(text)
    else:
        value = _text_value(element.text, primitive)
    return value if key in _ROOT_WRAPPERS else {key: value}


def _keep_text(text: str) -> Any:
    return text


def xml_to_json_value(element: etree._Element, *, auto_primitive: bool = True) -> Any:
    """XML -> Python value per MI's rules. Integers are ``int``; other numbers are :class:`JsonNumber`.
    ``auto_primitive=False`` (MI's ``synapse.commons.json.output.autoPrimitive=false``) keeps every text a string."""
    try:
        return _root_value(element, _primitive_value if auto_primitive else _keep_text)
    except RecursionError:  # deeper than any client XML can be (libxml2 stops at 256): a JSON infoset
        raise too_deep() from None


def xml_to_json_bytes(element: etree._Element) -> bytes:
    """XML -> compact JSON bytes, as MI's JSON formatter writes them."""
    try:
        value = _root_value(element, _primitive_bytes)
    except RecursionError:
        raise too_deep() from None
    return json_dumps(value)
