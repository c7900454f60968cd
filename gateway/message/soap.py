"""SOAP envelopes: namespaces, wrapping and unwrapping. Faults live in gateway.message.faults."""

from __future__ import annotations

import copy

from lxml import etree

from gateway.message import kinds

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
SOAP_NAMESPACES = {SOAP11_NS: kinds.SOAP11, SOAP12_NS: kinds.SOAP12}
VERSION_NS = {kinds.SOAP11: SOAP11_NS, kinds.SOAP12: SOAP12_NS}
# A root's tag is checked against these: etree.QName costs ~7k instructions a call.
ENVELOPE_TAGS = frozenset(f"{{{ns}}}Envelope" for ns in SOAP_NAMESPACES)
SOAP_CONTENT_TYPES = kinds.SOAP_MEDIA_TYPES
PAYLOAD_NS = "http://ws.apache.org/commons/ns/payload"  # Axis2 text/binary wrapper namespace


def _template(version: str) -> etree._Element:
    ns = VERSION_NS[version]
    envelope = etree.Element(f"{{{ns}}}Envelope", nsmap={"soapenv": ns})
    etree.SubElement(envelope, f"{{{ns}}}Body")
    return envelope


_TEMPLATES = {version: _template(version) for version in VERSION_NS}


def new_envelope(version: str = kinds.SOAP11) -> etree._Element:
    """An empty Envelope/Body; copying a prepared one is about twice as fast as building it."""
    return copy.deepcopy(_TEMPLATES[version])


def envelope_version(envelope: etree._Element) -> str:
    return SOAP_NAMESPACES.get(etree.QName(envelope).namespace or "", kinds.SOAP11)


def _child(envelope: etree._Element, local: str) -> etree._Element | None:
    """The envelope's child `local` in the envelope's namespace. A plain scan of its one or two children
    is several times faster than ElementPath's find()."""
    tag = envelope.tag
    wanted = tag[: tag.rindex("}") + 1] + local if tag.startswith("{") else local
    for child in envelope:
        if child.tag == wanted:
            return child
    return None


def body_of(envelope: etree._Element) -> etree._Element:
    body = _child(envelope, "Body")
    if body is None:
        ns = etree.QName(envelope).namespace
        body = etree.SubElement(envelope, f"{{{ns}}}Body")
    return body


def header_of(envelope: etree._Element, create: bool = False) -> etree._Element | None:
    header = _child(envelope, "Header")
    if header is None and create:
        ns = etree.QName(envelope).namespace
        header = etree.Element(f"{{{ns}}}Header")
        envelope.insert(0, header)
    return header


WSA_FINAL = "http://www.w3.org/2005/08/addressing"
WSA_SUBMISSION = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSA_NAMESPACES = (WSA_FINAL, WSA_SUBMISSION)  # final first: the one MI reads first


def remove_addressing(envelope: etree._Element) -> bool:
    """Detach the WS-Addressing header blocks: the submission ones if there are any, else the final ones
    (W: MessageHelper.removeAddressingHeaders). True if any was removed."""
    header = header_of(envelope)
    if header is None:
        return False
    for namespace in (WSA_SUBMISSION, WSA_FINAL):
        blocks = [block for block in header if isinstance(block.tag, str) and block.tag.startswith(f"{{{namespace}}}")]
        if blocks:
            for block in blocks:
                header.remove(block)
            return True
    return False


_WSA_TAG_PREFIXES = tuple(f"{{{ns}}}" for ns in WSA_NAMESPACES)


def holds_addressing(envelope: etree._Element) -> bool:
    """Whether the envelope's Header (its first child named Header, in any namespace, as find("{*}Header")
    reads it) holds a WS-Addressing block. Indexed: lxml's child iterator costs more than the children it visits."""
    for index in range(len(envelope)):
        child = envelope[index]
        tag = child.tag
        if isinstance(tag, str) and (tag == "Header" or tag.endswith("}Header")):
            return len(child) > 0 and any(
                isinstance(block.tag, str) and block.tag.startswith(_WSA_TAG_PREFIXES) for block in child
            )
    return False


def wsa_address(header: etree._Element | None, name: str) -> str | None:
    """The address of a WS-Addressing endpoint reference header (ReplyTo, FaultTo, From), either namespace."""
    for block in header if header is not None else ():
        if isinstance(block.tag, str) and block.tag in (f"{{{WSA_FINAL}}}{name}", f"{{{WSA_SUBMISSION}}}{name}"):
            namespace = etree.QName(block).namespace
            address = (block.findtext(f"{{{namespace}}}Address") or "").strip()
            return address or None
    return None


#: axis2-scope key an endpoint with `<enableAddressing>` sets for the transport: the namespace to write
ADDRESSING_OUT = "_wsaOut"
_ANONYMOUS = {WSA_FINAL: None, WSA_SUBMISSION: f"{WSA_SUBMISSION}/role/anonymous"}


def wsa_relates_to(header: etree._Element | None) -> str | None:
    """The text of a wsa:RelatesTo header, either namespace."""
    for block in header if header is not None else ():
        if isinstance(block.tag, str) and block.tag in (f"{{{WSA_FINAL}}}RelatesTo", f"{{{WSA_SUBMISSION}}}RelatesTo"):
            return (block.text or "").strip() or None
    return None


#: The endpoint references the message carries besides To (W: Options.replyTo, from, faultTo).
REFERENCES = ("ReplyTo", "From", "FaultTo")


def add_addressing(
    envelope: etree._Element,
    namespace: str,
    to: str,
    message_id: str,
    action: str | None,
    references: dict[str, str | None],
    relates_to: str | None,
) -> None:
    """W: Axis2's AddressingOutHandler (WSAHeaderWriter) for a request: To, ReplyTo (omitted in the final
    namespace when unset, anonymous in the submission one), From, FaultTo, MessageID, Action, RelatesTo, in that
    order; a header the message already carries (PRESERVE_WS_ADDRESSING) is not written twice."""
    header = header_of(envelope, create=True)
    assert header is not None
    present = {block.tag for block in header if isinstance(block.tag, str)}

    def block(name: str) -> etree._Element | None:
        tag = f"{{{namespace}}}{name}"
        return None if tag in present else etree.SubElement(header, tag, nsmap={"wsa": namespace})

    if (element := block("To")) is not None:
        element.text = to
    for name in REFERENCES:
        address = references.get(name) or (_ANONYMOUS[namespace] if name == "ReplyTo" else None)
        if address and (element := block(name)) is not None:
            etree.SubElement(element, f"{{{namespace}}}Address").text = address
    if (element := block("MessageID")) is not None:
        element.text = message_id
    if action and (element := block("Action")) is not None:
        element.text = action
    if relates_to and (element := block("RelatesTo")) is not None:
        element.text = relates_to


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


def wrap(element: etree._Element | None, version: str = kinds.SOAP11) -> etree._Element:
    envelope = new_envelope(version)
    if element is not None:
        body_of(envelope).append(element)
    return envelope


def convert_version(envelope: etree._Element, version: str) -> etree._Element:
    """Re-wrap the header blocks and body content in the other SOAP version (W: doSOAPFormatConversion).
    A fault is translated by gateway.message.faults; this only copies the content. The original is left
    intact: a request serialised for a backend stays usable by the mediators after a `call`."""
    if envelope_version(envelope) == version:
        return envelope
    fresh = new_envelope(version)
    old_header = header_of(envelope)
    if old_header is not None and len(old_header):
        new_header = header_of(fresh, create=True)
        assert new_header is not None
        for block in old_header:
            new_header.append(copy.deepcopy(block))
    new_body = body_of(fresh)
    for child in body_of(envelope):
        new_body.append(copy.deepcopy(child))
    return fresh


def unwrap_json_object(element: etree._Element | None) -> etree._Element | None:
    """A JSON payload's `<jsonObject>` with exactly one child element: that child (so a SOAP Body holds the
    real element, e.g. `getQuoteResponse`); anything else unchanged (MI keeps the jsonObject wrapper)."""
    if element is None or element.tag != "jsonObject" or element.attrib or (element.text or "").strip():
        return element
    children = [child for child in element if isinstance(child.tag, str)]
    if len(children) != 1 or (children[0].tail or "").strip():
        return element
    return children[0]


def detached_copy(element: etree._Element) -> etree._Element:
    """A copy that declares only the namespaces it uses (not every one in scope, e.g. soapenv)."""
    return copy.deepcopy(element)


_FAULT_TAGS = frozenset(f"{{{ns}}}Fault" for ns in SOAP_NAMESPACES)


def is_fault(envelope: etree._Element) -> bool:
    first = first_body_element(envelope)
    return first is not None and first.tag in _FAULT_TAGS
