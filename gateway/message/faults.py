"""SOAP 1.1 / 1.2 and POX fault shapes (W: FaultMediator.makeSOAPFault / makePOXFault,
POXUtils.convertSOAPFaultToPOX; docs/synapse-semantics.md §4.4)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import TypeAlias, TypedDict

from lxml import etree

from gateway.message import kinds, soap
from gateway.message.payload import SAFE_PARSER

# The code names that mean the same thing in both versions.
_11_TO_12 = {
    "Client": "Sender",
    "Server": "Receiver",
    "VersionMismatch": "VersionMismatch",
    "MustUnderstand": "MustUnderstand",
}
_12_TO_11 = {v: k for k, v in _11_TO_12.items()} | {"DataEncodingUnknown": "Server"}

# Valid codes per version (W: FaultMediatorFactory validates `code value` against these at deploy time).
SOAP11_CODES = ("VersionMismatch", "MustUnderstand", "Client", "Server")
SOAP12_CODES = ("VersionMismatch", "MustUnderstand", "DataEncodingUnknown", "Sender", "Receiver")

DetailContent: TypeAlias = etree._Element | str | Sequence[etree._Element | str] | None


def make_fault_envelope(
    version: str,
    code_local: str,
    reason: str,
    *,
    role: str | None = None,
    node: str | None = None,
    detail: DetailContent = None,
    code_namespace: str | None = None,
    code_prefix: str | None = None,
    headers: Iterable[etree._Element] | None = None,
) -> etree._Element:
    """A fresh SOAP `version` envelope whose Body holds one Fault.

    The code is `code_local` in the envelope namespace unless `code_namespace` says otherwise (then the
    prefix is declared where the QName text needs it). `headers` are copied into the fault's Header, as
    W: copies the original message's header blocks."""
    ns = soap.VERSION_NS[version]
    envelope = soap.new_envelope(version)
    if headers is not None:
        blocks = [copy.deepcopy(block) for block in headers if isinstance(block.tag, str)]
        if blocks:
            header = soap.header_of(envelope, create=True)
            assert header is not None
            header.extend(blocks)
    body = soap.body_of(envelope)
    fault = etree.SubElement(body, f"{{{ns}}}Fault")
    if version == kinds.SOAP11:
        _code_text(etree.SubElement(fault, "faultcode"), code_local, code_namespace, code_prefix, ns)
        etree.SubElement(fault, "faultstring").text = reason
        if role:
            etree.SubElement(fault, "faultactor").text = role
        if detail is not None:
            _fill(etree.SubElement(fault, "detail"), detail)
    else:
        code = etree.SubElement(fault, f"{{{ns}}}Code")
        _code_text(etree.SubElement(code, f"{{{ns}}}Value"), code_local, code_namespace, code_prefix, ns)
        text = etree.SubElement(etree.SubElement(fault, f"{{{ns}}}Reason"), f"{{{ns}}}Text")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        text.text = reason
        if node:
            etree.SubElement(fault, f"{{{ns}}}Node").text = node
        if role:
            etree.SubElement(fault, f"{{{ns}}}Role").text = role
        if detail is not None:
            _fill(etree.SubElement(fault, f"{{{ns}}}Detail"), detail)
    return envelope


def _code_text(holder: etree._Element, local: str, namespace: str | None, prefix: str | None, envelope_ns: str) -> None:
    if not namespace or namespace == envelope_ns:
        holder.text = f"soapenv:{local}"
        return
    # A QName in text content needs its prefix declared in scope: declare it on the holder itself.
    chosen = prefix or "ns1"
    fresh = etree.Element(holder.tag, nsmap={chosen: namespace})
    parent = holder.getparent()
    assert parent is not None
    parent.replace(holder, fresh)
    fresh.text = f"{chosen}:{local}"


def _fill(parent: etree._Element, detail: DetailContent) -> None:
    if detail is None:
        return
    if isinstance(detail, (str, etree._Element)):
        items: Sequence[etree._Element | str] = [detail]
    else:
        items = detail
    for item in items:
        if isinstance(item, str):
            if len(parent):
                last = parent[-1]
                last.tail = (last.tail or "") + item
            else:
                parent.text = (parent.text or "") + item
        else:
            parent.append(item)


def make_pox_fault(text: str | None) -> etree._Element:
    """W: makePOXFault: `<Exception>` holding the detail text, else the reason."""
    exception = etree.Element("Exception")
    exception.text = text or ""
    return exception


class FaultParts(TypedDict):
    code: str  # local name
    reason: str
    role: str | None
    node: str | None
    detail: etree._Element | None


def read_fault(fault: etree._Element) -> FaultParts:
    """code (local name), reason, role, node and detail element/text of a 1.1 or 1.2 fault."""
    ns = etree.QName(fault).namespace
    if ns == soap.SOAP12_NS:
        value = fault.findtext(f"{{{ns}}}Code/{{{ns}}}Value") or ""
        reason = fault.findtext(f"{{{ns}}}Reason/{{{ns}}}Text") or ""
        detail = fault.find(f"{{{ns}}}Detail")
        role = fault.findtext(f"{{{ns}}}Role")
        node = fault.findtext(f"{{{ns}}}Node")
    else:
        value = fault.findtext("faultcode") or ""
        reason = fault.findtext("faultstring") or ""
        detail = fault.find("detail")
        role = fault.findtext("faultactor")
        node = None
    return {
        "code": value.split(":")[-1].strip(),
        "reason": reason,
        "role": role,
        "node": node,
        "detail": detail,
    }


def align_fault(envelope: etree._Element, version: str) -> etree._Element:
    """After convert_version the Fault element is still in the old shape; rebuild it for `version`
    (Client↔Sender, Server↔Receiver; any other code becomes Server/Receiver). The input is not changed."""
    fault = soap.first_body_element(envelope)
    if fault is None or etree.QName(fault).namespace == soap.VERSION_NS[version]:
        return envelope
    parts = read_fault(fault)
    code = parts["code"]
    code = _11_TO_12.get(code, "Receiver") if version == kinds.SOAP12 else _12_TO_11.get(code, "Server")
    detail = parts["detail"]
    detail_content: list[etree._Element | str] | None = None
    if detail is not None:
        detail_content = [copy.deepcopy(c) for c in detail if isinstance(c.tag, str)]
        if not detail_content and detail.text:
            detail_content = [detail.text]
    header = soap.header_of(envelope)
    return make_fault_envelope(
        version,
        code,
        parts["reason"],
        role=parts["role"],
        node=parts["node"],
        detail=detail_content,
        headers=header if header is not None else None,
    )


def fault_to_pox(fault: etree._Element | None) -> etree._Element | None:
    """A REST client gets `<Exception>`: the detail when non-empty, else the reason (W: POXUtils).
    The fault itself is left intact."""
    if fault is None:
        return None
    parts = read_fault(fault)
    exception = etree.Element("Exception")
    detail = parts["detail"]
    if detail is not None:
        elements = [c for c in detail if isinstance(c.tag, str)]
        if elements:
            for child in elements:
                exception.append(copy.deepcopy(child))
            return exception
        text = (detail.text or "").strip()
        if text:
            parsed = _as_xml(text)  # W: detail text that is XML goes in as XML
            if parsed is not None:
                exception.append(parsed)
            else:
                exception.text = detail.text
            return exception
    exception.text = parts["reason"]
    return exception


def _as_xml(text: str) -> etree._Element | None:
    if not (text.startswith("<") and text.endswith(">")):
        return None
    try:
        return etree.fromstring(text, SAFE_PARSER)
    except etree.XMLSyntaxError:
        return None
