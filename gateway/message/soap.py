"""SOAP envelopes: namespaces, wrapping and unwrapping. Faults live in gateway.message.faults."""

from __future__ import annotations

from lxml import etree

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
SOAP_NAMESPACES = {SOAP11_NS: "soap11", SOAP12_NS: "soap12"}
VERSION_NS = {"soap11": SOAP11_NS, "soap12": SOAP12_NS}
SOAP_CONTENT_TYPES = {"soap11": "text/xml", "soap12": "application/soap+xml"}
PAYLOAD_NS = "http://ws.apache.org/commons/ns/payload"  # Axis2 text/binary wrapper namespace


def new_envelope(version: str = "soap11") -> etree._Element:
    ns = VERSION_NS[version]
    envelope = etree.Element(f"{{{ns}}}Envelope", nsmap={"soapenv": ns})
    etree.SubElement(envelope, f"{{{ns}}}Body")
    return envelope


def envelope_version(envelope: etree._Element) -> str:
    return SOAP_NAMESPACES.get(etree.QName(envelope).namespace or "", "soap11")


def body_of(envelope: etree._Element) -> etree._Element:
    ns = etree.QName(envelope).namespace
    body = envelope.find(f"{{{ns}}}Body")
    if body is None:
        body = etree.SubElement(envelope, f"{{{ns}}}Body")
    return body


def header_of(envelope: etree._Element, create: bool = False) -> etree._Element | None:
    ns = etree.QName(envelope).namespace
    header = envelope.find(f"{{{ns}}}Header")
    if header is None and create:
        header = etree.Element(f"{{{ns}}}Header")
        envelope.insert(0, header)
    return header


def first_body_element(envelope: etree._Element) -> etree._Element | None:
    for child in body_of(envelope):
        if isinstance(child.tag, str):
            return child
    return None


def set_body_element(envelope: etree._Element, element: etree._Element | None) -> None:
    body = body_of(envelope)
    for child in list(body):
        body.remove(child)
    body.text = None
    if element is not None:
        body.append(element)


def wrap(element: etree._Element | None, version: str = "soap11") -> etree._Element:
    envelope = new_envelope(version)
    if element is not None:
        body_of(envelope).append(element)
    return envelope


def convert_version(envelope: etree._Element, version: str) -> etree._Element:
    """Re-wrap the header blocks and body content in the other SOAP version (W: doSOAPFormatConversion).
    A fault is translated by gateway.message.faults; this only moves the content."""
    if envelope_version(envelope) == version:
        return envelope
    fresh = new_envelope(version)
    old_header = header_of(envelope)
    if old_header is not None and len(old_header):
        new_header = header_of(fresh, create=True)
        for block in list(old_header):
            new_header.append(block)
    new_body = body_of(fresh)
    for child in list(body_of(envelope)):
        new_body.append(child)
    return fresh


def is_fault(envelope: etree._Element) -> bool:
    first = first_body_element(envelope)
    return first is not None and etree.QName(first).localname == "Fault" and \
        etree.QName(first).namespace in SOAP_NAMESPACES
