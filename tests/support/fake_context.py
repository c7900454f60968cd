"""A minimal stand-in for gateway.message.context.MessageContext, for expression unit tests only.

It satisfies gateway.expressions.context.ExpressionContext, and counts envelope reads so that tests can
prove an expression with needs_body=False never touches the message."""

from __future__ import annotations

from typing import Any

from lxml import etree
from multidict import CIMultiDict, MultiDict

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"


def soap_envelope(body_xml: str = "", header_xml: str = "") -> Any:
    """A SOAP 1.1 envelope whose Body holds `body_xml` (a fragment, may declare namespaces)."""
    header = f"<soapenv:Header>{header_xml}</soapenv:Header>" if header_xml else "<soapenv:Header/>"
    return etree.fromstring(
        f'<soapenv:Envelope xmlns:soapenv="{SOAP11_NS}">{header}'
        f"<soapenv:Body>{body_xml}</soapenv:Body></soapenv:Envelope>"
    )


class FakeContext:
    def __init__(
        self,
        envelope: Any = None,
        *,
        properties: dict[str, Any] | None = None,
        axis2: dict[str, Any] | None = None,
        operation: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        func_stack: list[dict[str, Any]] | None = None,
        local_entries: dict[str, Any] | None = None,
        to: str | None = None,
        query: list[tuple[str, str]] | None = None,
        soap_action: str | None = None,
        message_id: str = "urn:uuid:0f6c7a2e-1111-2222-3333-444455556666",
        message_format: str = "soap11",
        json_payload: Any = None,
        fault: bool = False,
        variables: dict[str, Any] | None = None,
    ) -> None:
        self._envelope = envelope if envelope is not None else soap_envelope()
        self.envelope_reads = 0
        self.properties: dict[str, Any] = properties or {}
        self.variables: dict[str, Any] = variables or {}
        self.axis2: dict[str, Any] = axis2 or {}
        self.operation: dict[str, Any] = operation or {}
        self.transport_headers: CIMultiDict[str] = CIMultiDict(headers or {})
        self.func_stack: list[dict[str, Any]] = func_stack or []
        self._local_entries = local_entries or {}
        self.to = to
        self.query_params: MultiDict[str] = MultiDict(query or [])
        self.soap_action = soap_action
        self.message_id = message_id
        self.message_format = message_format
        self._json_payload = json_payload
        self._fault = fault

    @property
    def envelope(self) -> Any:
        self.envelope_reads += 1
        return self._envelope

    def local_entry(self, key: str) -> Any | None:
        return self._local_entries.get(key)

    def payload_json(self) -> Any:
        self.envelope_reads += 1  # the real context reads the payload for this
        return self._json_payload

    def is_fault(self) -> bool:
        return self._fault
