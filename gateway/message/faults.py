"""SOAP 1.1 / 1.2 and POX fault shapes (W: FaultMediator.makeSOAPFault, POXUtils.convertSOAPFaultToPOX)."""

from __future__ import annotations

from lxml import etree

from gateway.message import soap

# The code names that mean the same thing in both versions.
_11_TO_12 = {"Client": "Sender", "Server": "Receiver", "VersionMismatch": "VersionMismatch",
             "MustUnderstand": "MustUnderstand"}
_12_TO_11 = {v: k for k, v in _11_TO_12.items()} | {"DataEncodingUnknown": "Server"}


def make_fault_envelope(version: str, code_local: str, reason: str, *, role: str | None = None,
                        node: str | None = None, detail: etree._Element | str | None = None) -> etree._Element:
    ns = soap.VERSION_NS[version]
    envelope = soap.new_envelope(version)
    body = soap.body_of(envelope)
    fault = etree.SubElement(body, f"{{{ns}}}Fault")
    if version == "soap11":
        etree.SubElement(fault, "faultcode").text = f"soapenv:{code_local}"
        etree.SubElement(fault, "faultstring").text = reason
        if role:
            etree.SubElement(fault, "faultactor").text = role
        if detail is not None:
            _fill(etree.SubElement(fault, "detail"), detail)
    else:
        code = etree.SubElement(fault, f"{{{ns}}}Code")
        etree.SubElement(code, f"{{{ns}}}Value").text = f"soapenv:{code_local}"
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


def _fill(parent: etree._Element, detail: etree._Element | str) -> None:
    if isinstance(detail, str):
        parent.text = detail
    else:
        parent.append(detail)


def read_fault(fault: etree._Element) -> dict:
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
    return {"code": value.split(":")[-1].strip(), "reason": reason, "role": role, "node": node,
            "detail": detail}


def align_fault(envelope: etree._Element, version: str) -> etree._Element:
    """After convert_version the Fault element is still in the old shape; rebuild it for `version`."""
    fault = soap.first_body_element(envelope)
    if fault is None or etree.QName(fault).namespace == soap.VERSION_NS[version]:
        return envelope
    parts = read_fault(fault)
    code = parts["code"]
    code = _11_TO_12.get(code, "Receiver") if version == "soap12" else _12_TO_11.get(code, "Server")
    detail = parts["detail"]
    detail_content: etree._Element | str | None = None
    if detail is not None:
        elements = [c for c in detail if isinstance(c.tag, str)]
        detail_content = elements[0] if elements else (detail.text or None)
    fresh = make_fault_envelope(version, code, parts["reason"], role=parts["role"], node=parts["node"],
                                detail=detail_content)
    header = soap.header_of(envelope)
    if header is not None and len(header):
        new_header = soap.header_of(fresh, create=True)
        for block in list(header):
            new_header.append(block)
    return fresh


def fault_to_pox(fault: etree._Element | None) -> etree._Element | None:
    """A REST client gets `<Exception>`: the detail when non-empty, else the reason (W: POXUtils)."""
    if fault is None:
        return None
    parts = read_fault(fault)
    exception = etree.Element("Exception")
    detail = parts["detail"]
    if detail is not None:
        elements = [c for c in detail if isinstance(c.tag, str)]
        if elements:
            for child in elements:
                exception.append(child)
            return exception
        if detail.text and detail.text.strip():
            exception.text = detail.text
            return exception
    exception.text = parts["reason"]
    return exception
