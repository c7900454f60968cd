"""Factory for `header` (W: config/xml/HeaderMediatorFactory; reference §5.7). Both engines' scope
spellings are accepted: W:'s `default` and A:'s `soap` mean the same thing."""

from __future__ import annotations

import copy
import re

from lxml import etree

from gateway.deploy.factories.filters import expression_attribute
from gateway.deploy.registry import FactoryContext, mediator_factory
from gateway.deploy.xmlutil import (
    check_attributes,
    children,
    choice_attribute,
    config_error,
    did_you_mean,
    location,
)
from gateway.mediators.base import Mediator
from gateway.mediators.header import ADDRESSING, AddressingHeader, EmbeddedHeader, SoapHeader, TransportHeader

_SCOPES = ("default", "soap", "transport")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field-name


@mediator_factory("header")
def header(element: etree._Element, fctx: FactoryContext) -> Mediator:
    check_attributes(element, ("name", "value", "expression", "action", "scope", "description"))
    scope = choice_attribute(element, "scope", _SCOPES, "default") or "default"
    remove = choice_attribute(element, "action", ("set", "remove"), "set") == "remove"
    name = element.get("name")
    value, expression_text = element.get("value"), element.get("expression")
    blocks = children(element)
    where = location(element, fctx.path)

    if name is None or not name.strip():
        if not blocks:
            raise config_error(element, "a valid name attribute is required for the header mediator",
                               "name=\"prefix:Name\" for a SOAP header or scope=\"transport\" for HTTP")
        if scope == "transport" or remove or value is not None or expression_text is not None:
            raise config_error(element, "an embedded header block only works to set a SOAP header",
                               "drop value/expression/action/scope, or give the header a name")
        copies = []
        for block in blocks:
            clone = copy.deepcopy(block)
            etree.cleanup_namespaces(clone)
            copies.append(clone)
        return EmbeddedHeader(tuple(copies), where)
    name = name.strip()
    if blocks:
        raise config_error(blocks[0], "a named header takes a value or an expression, not a child element",
                           "remove the name attribute to add the child as a SOAP header block")

    if value is not None and expression_text is not None:
        raise config_error(element, "give either 'value' or 'expression', not both")
    expression = None
    if not remove:
        if value is None and expression_text is None:
            raise config_error(element, "a 'value' or 'expression' attribute is required for a [set] header "
                                        "mediator")
        if expression_text is not None:
            expression = expression_attribute(element, "expression")

    if scope == "transport":
        if not _TOKEN.fullmatch(name):
            raise config_error(element, f"'{name}' is not a valid HTTP header name")
        return TransportHeader(name, value, expression, remove, where)

    prefix, colon, local = name.partition(":")
    if not colon:
        if name in ADDRESSING:
            return AddressingHeader(name, value, expression, remove, where)
        alias = next((a for a in ADDRESSING if a.lower() == name.lower()), None)
        hint = (f"did you mean '{alias}'? the WS-Addressing names are case-sensitive" if alias
                else did_you_mean(name, ADDRESSING)
                or f"declare a prefix (xmlns:ns=\"urn:…\") and use name=\"ns:{name}\", "
                   "or scope=\"transport\" for an HTTP header")
        raise config_error(element, f"Invalid SOAP header: {name} specified at the header mediator. All SOAP "
                                    "headers must be namespace qualified.", hint)
    namespace = element.nsmap.get(prefix)
    if namespace is None:
        raise config_error(element, f"invalid namespace prefix '{prefix}' in name attribute",
                           f"declare xmlns:{prefix}=\"…\" on the header or an ancestor")
    try:
        qname = etree.QName(namespace, local)
    except ValueError:
        raise config_error(element, f"'{name}' is not a valid XML name") from None
    return SoapHeader(qname, prefix, value, expression, remove, where)
