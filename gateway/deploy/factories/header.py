"""`header` (W: config/xml/HeaderMediatorFactory; docs/synapse-semantics.md §5.7). Both engines' scope
spellings are accepted: W:'s `default` and A:'s `soap` mean the same thing."""

from __future__ import annotations

import copy
import re

from lxml import etree

from gateway.deploy.declare import Attribute, Body, Element, Kind, Node
from gateway.deploy.registry import mediator
from gateway.mediators.base import Mediator
from gateway.mediators.header import ADDRESSING, AddressingHeader, EmbeddedHeader, SoapHeader, TransportHeader
from gateway.xmlutil import did_you_mean

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field-name


def _header(node: Node) -> Mediator:
    scope = node["scope"]
    remove = node["action"] == "remove"
    name = node["name"]
    value = node["value"]
    blocks = node.others
    where = node.location

    if name is None or not name.strip():
        if not blocks:
            raise node.error(
                "a valid name attribute is required for the header mediator",
                'name="prefix:Name" for a SOAP header or scope="transport" for HTTP',
            )
        if scope == "transport" or remove or value is not None or node.has("expression"):
            raise node.error(
                "an embedded header block only works to set a SOAP header",
                "drop value/expression/action/scope, or give the header a name",
            )
        copies = []
        for block in blocks:
            clone = copy.deepcopy(block)
            etree.cleanup_namespaces(clone)
            copies.append(clone)
        return EmbeddedHeader(tuple(copies), where)
    name = name.strip()
    if blocks:
        raise node.error(
            "a named header takes a value or an expression, not a child element",
            "remove the name attribute to add the child as a SOAP header block",
        )

    if value is not None and node.has("expression"):
        raise node.error("give either 'value' or 'expression', not both")
    expression = None
    if not remove:
        if value is None and not node.has("expression"):
            raise node.error("a 'value' or 'expression' attribute is required for a [set] header mediator")
        expression = node["expression"]

    if scope == "transport":
        if not _TOKEN.fullmatch(name):
            raise node.error(f"'{name}' is not a valid HTTP header name")
        return TransportHeader(name, value, expression, remove, where)

    element = node.element
    prefix, colon, local = name.partition(":")
    if not colon:
        if name in ADDRESSING:
            return AddressingHeader(name, value, expression, remove, where)
        alias = next((a for a in ADDRESSING if a.lower() == name.lower()), None)
        hint = (
            f"did you mean '{alias}'? the WS-Addressing names are case-sensitive"
            if alias
            else did_you_mean(name, ADDRESSING)
            or f'declare a prefix (xmlns:ns="urn:…") and use name="ns:{name}", or scope="transport" for an HTTP header'
        )
        raise node.error(
            f"Invalid SOAP header: {name} specified at the header mediator. All SOAP "
            "headers must be namespace qualified.",
            hint,
        )
    namespace = element.nsmap.get(prefix)
    if namespace is None:
        raise node.error(
            f"invalid namespace prefix '{prefix}' in name attribute",
            f'declare xmlns:{prefix}="…" on the header or an ancestor',
        )
    try:
        qname = etree.QName(namespace, local)
    except ValueError:
        raise node.error(f"'{name}' is not a valid XML name") from None
    return SoapHeader(qname, prefix, value, expression, remove, where)


mediator(
    Element(
        "header",
        "Set or remove a SOAP header (name=prefix:Local, or a WS-Addressing name such as To) or, with "
        "scope=transport, an HTTP header; without a name, the child elements are added as SOAP header blocks.",
        anchor="W: HeaderMediatorFactory",
        body=Body.ANY,
        build=_header,
        attributes=(
            Attribute("name", Kind.TEXT, "prefix:Local (SOAP), a WS-Addressing name, or an HTTP header name."),
            Attribute("value", Kind.TEXT, "A literal value."),
            Attribute("expression", Kind.EXPRESSION, "The value, read from the message."),
            Attribute("action", Kind.CHOICE, "set or remove.", choices=("set", "remove"), default="set"),
            Attribute(
                "scope",
                Kind.CHOICE,
                "default or soap (a SOAP header), transport (an HTTP header).",
                choices=("default", "soap", "transport"),
                default="default",
            ),
        ),
    )
)
