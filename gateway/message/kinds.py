"""Names of message kinds and media types, used instead of string literals.

A payload's *kind* (`Payload.kind`, `Exchange.client_kind`) says how its bytes are read into the envelope XPath
sees (docs/synapse-semantics.md §4): SOAP 1.1 / 1.2, plain XML, JSON, text, a form, anything else (binary), or
nothing at all.
Plain `str` constants (not an Enum): they are compared on every message, and stay interchangeable with the
values already stored in configurations and properties."""

from __future__ import annotations

from typing import Final, Literal

SOAP11: Final = "soap11"
SOAP12: Final = "soap12"
POX: Final = "pox"
JSON: Final = "json"
TEXT: Final = "text"
FORM: Final = "form"
BINARY: Final = "binary"
EMPTY: Final = "empty"
#: get-property('MESSAGE_FORMAT') of a GET without a body (never a payload kind).
GET: Final = "get"

MessageKind = Literal["soap11", "soap12", "pox", "json", "text", "form", "binary", "empty"]
SOAP_KINDS: Final = (SOAP11, SOAP12)
XML_KINDS: Final = (SOAP11, SOAP12, POX)

TEXT_XML: Final = "text/xml"  # SOAP 1.1
APPLICATION_SOAP_XML: Final = "application/soap+xml"  # SOAP 1.2
APPLICATION_XML: Final = "application/xml"
APPLICATION_JSON: Final = "application/json"
TEXT_PLAIN: Final = "text/plain"
FORM_URLENCODED: Final = "application/x-www-form-urlencoded"

#: The Content-Type a SOAP version is sent with.
SOAP_MEDIA_TYPES: Final = {SOAP11: TEXT_XML, SOAP12: APPLICATION_SOAP_XML}
