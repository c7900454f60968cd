"""Hypothesis strategies shared by the property tests (tests/test_fuzz_*.py): request bodies of every kind,
with the content types that select them, well-formed XML trees with odd names, namespaces and text, and JSON
documents written as text (so duplicate keys, raw number spellings and escaped lone surrogates can appear)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from lxml import etree

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"

# One content type per payload kind, and the odd spellings a client may send.
CONTENT_TYPES = (
    "text/xml",
    "text/xml; charset=UTF-8",
    "application/soap+xml",
    'application/soap+xml; charset=utf-8; action="urn:x"',
    "application/xml",
    "APPLICATION/XML ; charset=iso-8859-1",
    "application/vnd.custom+xml",
    "application/json",
    "application/json; charset=utf-16",
    "application/problem+json",
    "text/plain",
    "text/plain; charset=utf-16",
    "text/plain; charset=latin-1",
    'text/plain; charset="utf-32"',
    "text/plain; charset=idna",
    "text/plain; charset=rot13",
    "text/plain; charset=nonsense",
    "text/plain; charset=",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-7",
    "application/octet-stream",
    "image/png",
    "text/html",
    ";",
    "",
)

XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def is_xml_name(name: str) -> bool:
    try:
        etree.Element(name)
    except ValueError:
        return False
    return True


# Names: ASCII and non-ASCII letters, digits, '-', '.', combining marks, astral characters.
_NAME_START = st.sampled_from("abcxyzABC_") | st.characters(categories=("Lu", "Ll", "Lo"), min_codepoint=0xC0)
_NAME_REST = st.text(st.sampled_from("abz09-._·\u0300\u203f") | st.characters(categories=("L", "Nd")), max_size=6)
xml_names = st.builds(str.__add__, _NAME_START, _NAME_REST).filter(is_xml_name)
# XML character data: anything XML 1.0 can hold, markup characters and "\r" included.
xml_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12).map(lambda s: XML_INVALID.sub("", s))
NAMESPACE_URIS = ("", "urn:a", "http://example.com/ns?a=1&b=2", "urn:%E6%97%A5", SOAP11, "urn:a%20b")


@dataclass(frozen=True)
class Node:
    """A generated element: built into lxml by `build()`; children may also be comments."""

    uri: str
    prefix: str | None
    name: str
    attributes: tuple[tuple[str, str], ...]
    text: str
    children: tuple[Any, ...]
    tail: str


def _node(children: st.SearchStrategy) -> st.SearchStrategy[Node]:
    return st.builds(
        Node,
        uri=st.sampled_from(NAMESPACE_URIS),
        prefix=st.none() | xml_names.filter(lambda n: ":" not in n and not n.lower().startswith("xml")),
        name=xml_names,
        attributes=st.lists(st.tuples(xml_names, xml_text), max_size=3, unique_by=lambda a: a[0]).map(tuple),
        text=xml_text,
        children=children,
        tail=xml_text,
    )


# A comment cannot escape "\r": the parser reads it back as "\n", so none is generated.
_comments = xml_text.filter(lambda s: "--" not in s and not s.endswith("-") and "\r" not in s).map(
    lambda s: ("comment", s)
)
xml_nodes = st.recursive(
    _node(st.just(())),
    lambda inner: _node(st.lists(inner | _comments, max_size=4).map(tuple)),
    max_leaves=12,
)


def build(node: Node) -> etree._Element:
    tag = f"{{{node.uri}}}{node.name}" if node.uri else node.name
    # One URI per prefix in a tree: lxml writes an element whose prefix an inner element rebinds with that
    # (now wrong) prefix, so the prefix carries the URI's number.
    nsmap = {f"{node.prefix or 'ns'}{NAMESPACE_URIS.index(node.uri)}": node.uri} if node.uri else None
    element = etree.Element(tag, nsmap=nsmap)
    for name, value in node.attributes:
        element.set(name, value)
    element.text = node.text or None
    for child in node.children:
        if isinstance(child, tuple):
            element.append(etree.Comment(child[1]))
        else:
            built = build(child)
            built.tail = child.tail or None
            element.append(built)
    return element


xml_trees = xml_nodes.map(build)


def to_bytes(tree: etree._Element) -> bytes:
    return etree.tostring(tree, encoding="utf-8")  # ASCII output would write non-ASCII names as (bad) references


def soap_envelope(body: bytes, version: str = "soap11", header: bytes = b"") -> bytes:
    ns = SOAP11 if version == "soap11" else SOAP12
    head = b"<e:Header>" + header + b"</e:Header>" if header else b""
    return b'<e:Envelope xmlns:e="' + ns.encode() + b'">' + head + b"<e:Body>" + body + b"</e:Body></e:Envelope>"


# ------------------------------------------------------------------------------------------------------
# JSON as text


@dataclass(frozen=True)
class Raw:
    """A JSON number written exactly as `text`."""

    text: str


@dataclass(frozen=True)
class Obj:
    """A JSON object as written: its members in order, duplicate keys allowed."""

    members: tuple[tuple[str, Any], ...]


number_texts = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.from_regex(r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.sampled_from(("-0", "-0.0", "1e400", "1E-400", "0.0000001", "123456789012345678901234567890", "4.00")),
)
json_keys = st.text(max_size=6) | st.sampled_from(
    (
        "",
        "a",
        "@a",
        "$",
        "$a",
        "1a",
        "a b",
        "a:b",
        "-x",
        "jsonArray",
        "jsonObject",
        "jsonElement",
        "jsonValue",
        "_JsonReader_PD_1",
        "xml-multiple",
        "?>",
        "\x00",
        "\ud800",
    )
)
json_scalars = st.one_of(
    st.none(), st.booleans(), number_texts.map(Raw), st.text(max_size=8),
    st.sampled_from(("", " ", "true", "null", "0001", "1.50", "\r\n", "\ud800", "]]>", "<a>&amp;")),
)  # fmt: skip
json_documents = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.lists(st.tuples(json_keys, inner), max_size=4).map(lambda m: Obj(tuple(m)))
    ),
    max_leaves=20,
)


def dump_json(value: Any, ascii_only: bool = True) -> str:
    """JSON text for a generated document (lone surrogates need ascii_only, as \\uXXXX escapes)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Obj):
        members = (f"{json.dumps(k, ensure_ascii=ascii_only)}:{dump_json(v, ascii_only)}" for k, v in value.members)
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump_json(item, ascii_only) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


@st.composite
def json_bytes(draw: st.DrawFn) -> bytes:
    document = draw(json_documents)
    text = dump_json(document, ascii_only=True)
    if draw(st.booleans()):
        try:
            text = dump_json(document, ascii_only=False)
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate cannot be written raw
            text = dump_json(document, ascii_only=True)
    return text.encode("utf-8")


@st.composite
def deep_json(draw: st.DrawFn, min_depth: int = 200, max_depth: int = 3000) -> bytes:
    """Nesting far beyond what real documents use: object chains, array chains or both alternating."""
    depth = draw(st.integers(min_depth, max_depth))
    shape = draw(st.sampled_from(("object", "array", "mixed")))
    key = draw(st.sampled_from(('"a"', '"1 x"', '""', '"@a"')))
    leaf = draw(st.sampled_from(("1", '"x"', "null", "1.5", "[]", "{}")))
    opens, closes = [], []
    for level in range(depth):
        if shape == "object" or (shape == "mixed" and level % 2 == 0):
            opens.append("{" + key + ":")
            closes.append("}")
        else:
            opens.append("[")
            closes.append("]")
    return ("".join(opens) + leaf + "".join(reversed(closes))).encode()


def deep_xml(depth: int) -> bytes:
    return b"<a>" * depth + b"1" + b"</a>" * depth


# ------------------------------------------------------------------------------------------------------
# Request bodies of every kind


form_bodies = st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=4).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")
)
# Raw texts lxml would not build itself but libxml2 parses (or must refuse cleanly).
odd_xml = st.sampled_from((
    '<p:a xmlns:p="urn:日本 x">1</p:a>', '<a xmlns="">x</a>', "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>&undefined;</a>",
    '<?xml version="1.0" encoding="latin-1"?><a>\xe9</a>', '<?xml version="1.1"?><a>&#1;</a>',
    '<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', "<a><![CDATA[]]>]]></a>", "<a/><b/>", "<a>",
    '<?xml version="1.0" encoding="utf-16"?><a/>', "<a:b>1</a:b>", '<a b="1" b="2"/>', "\ufeff<a/>",
))  # fmt: skip
bodies = st.one_of(
    odd_xml.map(lambda s: s.encode("utf-8")),
    st.binary(max_size=64),
    st.text(max_size=32).map(lambda s: s.encode("utf-8", "surrogatepass")),
    xml_trees.map(to_bytes),
    xml_trees.map(lambda t: soap_envelope(to_bytes(t), "soap11")),
    xml_trees.map(lambda t: soap_envelope(to_bytes(t), "soap12", b"<h/>")),
    json_bytes(),
    form_bodies,
    deep_json(200, 400),
    st.integers(250, 300).map(deep_xml),
)


def _encoded(content_type: str, text: str) -> tuple[str, bytes]:
    try:
        return content_type, text.encode(content_type.partition("charset=")[2] or "utf-8")
    except UnicodeError:  # not encodable in that charset: send it as UTF-8 under the same header
        return content_type, text.encode("utf-8", "surrogatepass")


text_bodies = st.builds(
    _encoded,
    st.sampled_from(
        ("text/plain", "text/plain; charset=utf-16", "text/plain; charset=latin-1", "text/plain; charset=idna")
    ),
    st.text(max_size=16),
)
# (content type, body): mostly a body of the kind its content type announces, sometimes anything at all.
requests = st.one_of(
    st.tuples(st.sampled_from(CONTENT_TYPES), bodies),
    st.tuples(st.sampled_from(("application/json", "application/vnd.x+json")), json_bytes() | deep_json(200, 400)),
    st.tuples(st.just("application/xml"), xml_trees.map(to_bytes) | odd_xml.map(str.encode)),
    st.tuples(st.just("application/xml"), st.integers(250, 260).map(deep_xml)),
    st.tuples(st.just("text/xml"), xml_trees.map(lambda t: soap_envelope(to_bytes(t), "soap11"))),
    st.tuples(st.just("application/soap+xml"), xml_trees.map(lambda t: soap_envelope(to_bytes(t), "soap12"))),
    text_bodies,
    st.tuples(st.just("application/x-www-form-urlencoded"), form_bodies),
)
# Nesting at the limits: libxml2's 256 levels for XML, far beyond orjson's 254 for JSON.
deep_requests = st.tuples(st.just("application/json"), deep_json(200, 600)) | st.tuples(
    st.just("application/xml"), st.integers(250, 260).map(deep_xml)
)
