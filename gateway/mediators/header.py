"""`header` (W: mediators/transform/HeaderMediator; docs/synapse-semantics.md §5.7): HTTP headers (scope transport),
SOAP header blocks, and the WS-Addressing names To / From / Action / FaultTo / ReplyTo / RelatesTo."""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING

from lxml import etree

from gateway.mediators.base import Mediator
from gateway.message import soap

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Expression
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.mediator.header")

WSA_NS = soap.WSA_FINAL
ADDRESSING = ("To", "From", "Action", "FaultTo", "ReplyTo", "RelatesTo", "MessageID")
# kept on the context itself; the others live in the envelope, where get-property('From') finds them
_CONTEXT_FIELDS = frozenset({"To", "Action", "MessageID"})


class _Valued(Mediator):
    """Shared by the header kinds that take `value` or `expression`."""

    __slots__ = ("value", "expression", "remove")

    def __init__(
        self, value: str | None, expression: Expression | None, remove: bool, location: SourceLocation | None
    ) -> None:
        super().__init__(location)
        self.value = value
        self.expression = expression
        self.remove = remove

    def resolve(self, ctx: MessageContext, what: str) -> str:
        value = self.value if self.expression is None else self.expression.string_value(ctx)
        if value is None:  # W: a null result sets the header to "" (with a warning)
            log.warning("Setting %s to empty as evaluated value is null (header at %s)", what, self.location)
            return ""
        return value


class _Named(_Valued):
    """A header addressed by a plain name (an HTTP header or a WS-Addressing field)."""

    __slots__ = ("name",)
    tag = "header"

    def __init__(
        self,
        name: str,
        value: str | None,
        expression: Expression | None,
        remove: bool,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(value, expression, remove, location)
        self.name = name

    @property
    def reads_body(self) -> bool:
        return bool(not self.remove and self.expression is not None and self.expression.needs_body)


class TransportHeader(_Named):
    """scope="transport": an HTTP header of the current message."""

    __slots__ = ()

    async def mediate(self, ctx: MessageContext) -> bool:
        if self.remove:
            ctx.transport_headers.popall(self.name, None)
        else:
            value = self.resolve(ctx, f"HTTP header {self.name}")
            if self.name.lower() in ctx.exchange.services.secret_headers:
                ctx.exchange.secrets.add_header(self.name, value)  # e.g. an Authorization built for a backend
            ctx.transport_headers[self.name] = value
        return True


class SoapHeader(_Valued):
    """A namespace-qualified SOAP header block. Like W:, set adds a block (it does not replace one with
    the same name) and remove detaches every block with that name."""

    __slots__ = ("qname", "prefix")
    tag = "header"
    reads_body = True

    def __init__(
        self,
        qname: etree.QName,
        prefix: str,
        value: str | None,
        expression: Expression | None,
        remove: bool,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(value, expression, remove, location)
        self.qname = qname
        self.prefix = prefix

    async def mediate(self, ctx: MessageContext) -> bool:
        envelope = ctx.envelope
        if self.remove:
            header = soap.header_of(envelope)
            if header is not None and _detach(header, [self.qname.text]):
                ctx.payload.mark_modified()
            return True
        text = self.resolve(ctx, f"SOAP header {self.qname.localname}")
        header = soap.header_of(envelope, create=True)
        assert header is not None
        block = etree.SubElement(header, self.qname.text, nsmap={self.prefix: self.qname.namespace})
        block.text = text
        ctx.payload.mark_modified()
        return True


class EmbeddedHeader(Mediator):
    """`<header><ns:Block …>…</ns:Block></header>`: copy the given blocks into the SOAP header."""

    __slots__ = ("blocks",)
    tag = "header"
    reads_body = True

    def __init__(self, blocks: tuple[etree._Element, ...], location: SourceLocation | None = None) -> None:
        super().__init__(location)
        self.blocks = blocks

    async def mediate(self, ctx: MessageContext) -> bool:
        header = soap.header_of(ctx.envelope, create=True)
        assert header is not None
        for block in self.blocks:
            header.append(copy.deepcopy(block))
        ctx.payload.mark_modified()
        return True


class AddressingHeader(_Named):
    """The WS-A names: To, Action and MessageID are fields of the context; From, FaultTo, ReplyTo and
    RelatesTo become WS-Addressing header blocks (where Axis2 would serialise them)."""

    __slots__ = ()

    @property
    def reads_body(self) -> bool:
        return self.name not in _CONTEXT_FIELDS or super().reads_body

    async def mediate(self, ctx: MessageContext) -> bool:
        value = None if self.remove else self.resolve(ctx, f"SOAP header {self.name}")
        if self.name == "To":
            ctx.to = value  # the request's wsa:To no longer applies
        elif self.name == "Action":
            ctx.soap_action = value
        elif self.name == "MessageID":
            if value is None:
                del ctx.message_id
            else:
                ctx.message_id = value
        else:
            self._envelope_block(ctx, value)
        return True

    def _envelope_block(self, ctx: MessageContext, value: str | None) -> None:
        envelope = ctx.envelope
        header = soap.header_of(envelope, create=value is not None)
        changed = header is not None and _detach(header, [f"{{{ns}}}{self.name}" for ns in soap.WSA_NAMESPACES])
        if value is not None and header is not None:
            block = etree.SubElement(header, f"{{{WSA_NS}}}{self.name}", nsmap={"wsa": WSA_NS})
            if self.name == "RelatesTo":
                block.text = value
            else:  # an endpoint reference
                etree.SubElement(block, f"{{{WSA_NS}}}Address").text = value
            changed = True
        if changed:
            ctx.payload.mark_modified()


def _detach(header: etree._Element, tags: list[str]) -> bool:
    found = [block for block in header if block.tag in tags]
    for block in found:
        header.remove(block)
    return bool(found)
