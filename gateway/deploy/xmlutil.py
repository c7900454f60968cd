"""Secure XML parsing and small helpers shared by every factory."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from lxml import etree

from gateway.errors import DeployError, SourceLocation

SYNAPSE_NS = "http://ws.apache.org/ns/synapse"

# Never resolve entities, never load DTDs, never touch the network (XXE / billion laughs).
_CONFIG_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
    remove_comments=True,
)


def parse_config_file(path: str, display: str | None = None) -> etree._Element:
    """Parse an artifact file; raises DeployError with the line of a syntax error. `display` is the
    path shown in every later error about this document."""
    shown = display or path
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        tree = etree.fromstring(data, _CONFIG_PARSER, base_url=shown)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise DeployError(SourceLocation(shown, line), "(file)", f"malformed XML: {exc.msg}",
                          "fix the XML syntax at that line") from None
    except OSError as exc:
        raise DeployError(SourceLocation(shown), "(file)", f"cannot read: {exc.strerror}") from None
    if tree.getroottree().docinfo.doctype:
        raise DeployError(SourceLocation(shown, 1), "(file)", "DOCTYPE declarations are not allowed",
                          "remove the <!DOCTYPE …> line")
    return tree


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def location(element: etree._Element, path: str | None = None) -> SourceLocation:
    doc = element.getroottree().docinfo.URL
    return SourceLocation(path or doc or "<inline>", element.sourceline)


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


# W: AbstractMediatorFactory.processAuditStatus / ProxyServiceFactory: only "enable" switches statistics or
# tracing on, any other value silently means off; a value other than these two is a typo here.
_ASPECT_ATTRIBUTES = ("statistics", "trace")
_ASPECT_VALUES = ("enable", "disable")


def check_attributes(element: etree._Element, allowed: Iterable[str]) -> None:
    """Unknown attributes are mistakes (a misspelt `expresion=` would otherwise be silently ignored); all of
    them are reported at once. `statistics`/`trace`, where allowed, must be enable or disable."""
    allowed = set(allowed)
    errors = []
    for name, value in element.attrib.items():
        if name.startswith("{"):
            continue  # foreign-namespace attributes are tooling annotations
        if name not in allowed:
            errors.append(config_error(element, f"unknown attribute '{name}'", did_you_mean(name, allowed)
                                       or (f"allowed: {', '.join(sorted(allowed))}" if allowed
                                           else f"<{local_name(element)}> takes no attributes")))
        elif name in _ASPECT_ATTRIBUTES and value not in _ASPECT_VALUES:
            errors.append(config_error(element, f"invalid {name} '{value}'",
                                       "use enable or disable; MI silently reads any other value as disable"))
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise DeployErrors(errors)


def require_attribute(element: etree._Element, name: str) -> str:
    value = element.get(name)
    if value is None or not value.strip():
        raise config_error(element, f"the '{name}' attribute is required")
    return value.strip()


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
        raise config_error(element, f"element is in namespace '{ns or ''}', expected '{SYNAPSE_NS}'",
                           f'add xmlns="{SYNAPSE_NS}" to the root element')


def prefixed_namespaces(element: etree._Element) -> dict[str, str]:
    """Namespace prefixes in scope on a mediator element (itself and its ancestors); the default one is
    never used for XPath, as in Synapse."""
    return {prefix: uri for prefix, uri in element.nsmap.items() if prefix}


def boolean_attribute(element: etree._Element, name: str, default: bool) -> bool:
    value = element.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "enable", "yes"):
        return True
    if lowered in ("false", "disable", "no"):
        return False
    raise config_error(element, f"'{name}' must be true or false, not '{value}'")


def choice_attribute(element: etree._Element, name: str, choices: Mapping[str, str] | Iterable[str],
                     default: str | None) -> str | None:
    value = element.get(name)
    if value is None:
        return default
    options = list(choices)
    if value not in options:
        raise config_error(element, f"invalid {name} '{value}'",
                           did_you_mean(value, options) or f"use one of: {', '.join(options)}")
    return value
