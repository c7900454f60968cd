"""`makefault` (W: mediators/transform/FaultMediator; docs/synapse-semantics.md §4.4, §5.5).

Turns the current message into a SOAP 1.1 / 1.2 fault or a POX `<Exception>`; it never sends anything
itself (respond / send do). The deploy-time code validation lives in gateway/deploy/factories/transform.py."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

from gateway.expressions import to_synapse_string
from gateway.mediators.base import Mediator
from gateway.mediators.transform import envelope_keeping_headers, set_envelope, set_xml_body
from gateway.message import kinds, soap
from gateway.message.faults import make_fault_envelope, make_pox_fault
from gateway.message.formats import PROCESSING_FAULT

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Expression
    from gateway.message.context import MessageContext


@dataclass(frozen=True, slots=True)
class FaultCode:
    local: str
    namespace: str
    prefix: str


class MakeFault(Mediator):
    __slots__ = (
        "version",
        "code",
        "code_expression",
        "reason",
        "reason_expression",
        "role",
        "node",
        "detail_text",
        "detail_expression",
        "detail_elements",
        "mark_response",
    )
    tag = "makefault"

    def __init__(
        self,
        *,
        version: str,
        code: FaultCode | None,
        code_expression: Expression | None,
        reason: str | None,
        reason_expression: Expression | None,
        role: str | None,
        node: str | None,
        detail_text: str | None,
        detail_expression: Expression | None,
        detail_elements: tuple[etree._Element, ...],
        mark_response: bool,
        location: SourceLocation,
    ) -> None:
        super().__init__(location)
        self.version = version
        self.code = code
        self.code_expression = code_expression
        self.reason = reason
        self.reason_expression = reason_expression
        self.role = role
        self.node = node
        self.detail_text = detail_text
        self.detail_expression = detail_expression
        self.detail_elements = detail_elements
        self.mark_response = mark_response

    @property
    def reads_body(self) -> bool:
        return any(
            e is not None and e.needs_body
            for e in (self.code_expression, self.reason_expression, self.detail_expression)
        )

    async def mediate(self, ctx: MessageContext) -> bool:
        envelope = await envelope_keeping_headers(ctx) if self.mark_response or self.version != kinds.POX else None
        header = soap.header_of(envelope) if envelope is not None else None
        reply_to = soap.wsa_address(header, "ReplyTo")
        if self.version == kinds.POX:
            await set_xml_body(ctx, make_pox_fault(self._pox_text(ctx)))
            ctx.axis2[PROCESSING_FAULT] = True  # W: setProcessingFault: the reply is a 500
        else:
            fault_to = soap.wsa_address(header, "FaultTo")
            await self._soap_fault(ctx, header)
            ctx.to = fault_to or reply_to  # W: makeSOAPFault: To is the FaultTo, else the ReplyTo, else null
        if self.mark_response:
            ctx.is_response = True
            ctx.to = reply_to  # W: setTo(getReplyTo())
        return True

    def _reason(self, ctx: MessageContext) -> str:
        if self.reason_expression is not None:
            return self.reason_expression.string_value(ctx) or ""
        return self.reason or ""

    def _pox_text(self, ctx: MessageContext) -> str:
        """W: makePOXFault: the detail text (value or expression), else the reason."""
        if self.detail_text is not None:
            return self.detail_text
        if self.detail_expression is not None:
            return self.detail_expression.string_value(ctx) or ""
        return self._reason(ctx)

    async def _soap_fault(self, ctx: MessageContext, header: etree._Element | None) -> None:
        if self.code is not None:
            local, namespace, prefix = self.code.local, self.code.namespace, self.code.prefix
        else:
            assert self.code_expression is not None
            # W: the result is taken as a local name in the fault's namespace; a prefix given in the
            # result is dropped here instead of doubled ("soapenv:soapenv:Server").
            text = (self.code_expression.string_value(ctx) or "").strip()
            local, namespace, prefix = text.rsplit(":", 1)[-1], soap.VERSION_NS[self.version], "soapenv"
        fault = make_fault_envelope(
            self.version,
            local,
            self._reason(ctx),
            role=self.role,
            node=self.node,
            detail=self._detail(ctx),
            code_namespace=namespace,
            code_prefix=prefix,
            headers=header,
        )
        set_envelope(ctx, fault)

    def _detail(self, ctx: MessageContext) -> list[etree._Element | str] | str | None:
        if self.detail_text is not None:
            return self.detail_text
        if self.detail_expression is not None:
            if self.detail_expression.kind != "xpath":
                return self.detail_expression.string_value(ctx) or ""
            result = self.detail_expression.evaluate(ctx)
            if isinstance(result, list):  # W: nodes are added as they are (elements and text)
                items: list[etree._Element | str] = []
                for node in result:
                    if isinstance(node, etree._Element):
                        if isinstance(node.tag, str):
                            items.append(copy.deepcopy(node))
                    elif isinstance(node, str):
                        items.append(str(node))
                return items
            return to_synapse_string(result) or ""
        if self.detail_elements:
            return [copy.deepcopy(element) for element in self.detail_elements]
        return None
