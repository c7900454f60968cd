"""What an expression reads from a message: the one interface between the expression layer and a message
context. gateway.message.context.MessageContext satisfies it, and so does tests/support/fake_context.py
(tests/test_expression_context.py checks both)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from multidict import CIMultiDict, MultiMapping


@runtime_checkable
class ExpressionContext(Protocol):
    """The scopes (gateway.message.scopes.ScopedContext) plus the message itself.

    Optional extras read with getattr when present: `payload` (the JSON fast path of `//name`), `wsa_action`,
    `operation_name`, `operation_namespace` (get-property('Action'/'OperationName'/...)), `variables` (MI 4.4
    `${vars.x}`: a dict of the message's variables)."""

    properties: dict[str, Any]
    axis2: dict[str, Any]
    operation: dict[str, Any]
    transport_headers: CIMultiDict[str]
    func_stack: list[dict[str, Any]]
    query_params: MultiMapping[str]
    to: str | None
    soap_action: str | None

    @property
    def message_id(self) -> str: ...

    @property
    def message_format(self) -> str:
        """soap11 | soap12 | pox | get (get-property('MESSAGE_FORMAT'))."""
        ...

    @property
    def envelope(self) -> Any:
        """The SOAP envelope XPath runs on (built on first use)."""
        ...

    def payload_json(self) -> Any:
        """The payload as a JSON value (json-eval); an XML payload is converted as MI does."""
        ...

    def local_entry(self, key: str) -> Any | None: ...

    def is_fault(self) -> bool: ...
