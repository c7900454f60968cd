"""Secure XML parsing and small helpers shared by every factory."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import Protocol, cast

from lxml import etree

from gateway.errors import DeployError, SourceLocation

SYNAPSE_NS = "http://ws.apache.org/ns/synapse"

# Never resolve entities, never load DTDs, never touch the network (XXE / billion laughs).
_CONFIG_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
)


class _DocInfo(Protocol):
    """What lxml's DocInfo has and lxml-stubs leave out."""

    doctype: str


def doctype_of(docinfo: etree.DocInfo) -> str:
    """The document's `<!DOCTYPE …>` declaration ("" for none)."""
    return cast(_DocInfo, docinfo).doctype


def source_line(element: etree._Element) -> int | None:
    """The line the element starts on (lxml-stubs leave `sourceline` untyped)."""
    return cast("int | None", element.sourceline)


def attribute_items(element: etree._Element) -> list[tuple[str, str]]:
    """(name, value) of each attribute: lxml gives str for both, its stubs say str | bytes."""
    return cast("list[tuple[str, str]]", element.attrib.items())


def text_content(element: etree._Element) -> str:
    """All the text inside the element, in document order (lxml gives str, its stubs say str | bytes)."""
    return "".join(cast("Iterator[str]", element.itertext()))


def parse_config_file(path: str, display: str | None = None, data: bytes | None = None) -> etree._Element:
    """Parse an artifact file (or `data`, its bytes already read); raises DeployError with the line of a
    syntax error. `display` is the path shown in every later error about this document."""
    shown = display or path
    try:
        if data is None:
            with open(path, "rb") as handle:
                data = handle.read()
        tree = etree.fromstring(data, _CONFIG_PARSER, base_url=shown)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise DeployError(
            SourceLocation(shown, line), "(file)", f"malformed XML: {exc.msg}", "fix the XML syntax at that line"
        ) from None
    except OSError as exc:
        raise DeployError(SourceLocation(shown), "(file)", f"cannot read: {exc.strerror}") from None
    if doctype_of(tree.getroottree().docinfo):
        raise DeployError(
            SourceLocation(shown, 1), "(file)", "DOCTYPE declarations are not allowed", "remove the <!DOCTYPE …> line"
        )
    return tree


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def location(element: etree._Element, path: str | None = None) -> SourceLocation:
    doc = element.getroottree().docinfo.URL
    return SourceLocation(path or doc or "<inline>", source_line(element))


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else None


def config_error(element: etree._Element, reason: str, hint: str | None = None) -> DeployError:
    return DeployError(location(element), local_name(element), reason, hint)


class DeployErrors(Exception):
    """Several independent problems of one element, found in one pass (e.g. every unknown attribute)."""

    def __init__(self, errors: list[DeployError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


def problems_of(exc: DeployError | DeployErrors) -> list[DeployError]:
    return list(exc.errors) if isinstance(exc, DeployErrors) else [exc]


def children(element: etree._Element) -> list[etree._Element]:
    """Element children only (comments and PIs skipped)."""
    return [child for child in element if isinstance(child.tag, str)]


DESCRIPTION_TAG = f"{{{SYNAPSE_NS}}}description"


def is_description(element: etree._Element) -> bool:
    """`<description>` in the Synapse namespace: documentation that MI's factories skip (W:
    AbstractListMediatorFactory.addChildren, EntryFactory, EndpointFactory)."""
    return element.tag == DESCRIPTION_TAG


def check_synapse_namespace(element: etree._Element) -> None:
    ns = etree.QName(element).namespace
    if ns != SYNAPSE_NS:
        raise config_error(
            element,
            f"element is in namespace '{ns or ''}', expected '{SYNAPSE_NS}'",
            f'add xmlns="{SYNAPSE_NS}" to the root element',
        )


def prefixed_namespaces(element: etree._Element) -> dict[str, str]:
    """Namespace prefixes in scope on a mediator element (itself and its ancestors); the default one is
    never used for XPath, as in Synapse."""
    return {prefix: uri for prefix, uri in element.nsmap.items() if prefix}


def parse_xml_text(text: str) -> etree._Element:
    """XML held as text inside a configuration (a task's message): the same safe parser as files."""
    return etree.fromstring(text.encode("utf-8"), _CONFIG_PARSER)
