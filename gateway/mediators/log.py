"""`log` (W: mediators/builtin/LogMediator; docs/synapse-semantics.md §5.2). The line format is part of conformance
(users grep for it), and every line passes the secret masker before it reaches a handler."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lxml import etree

from gateway.errors import MediationError
from gateway.expressions import JsonValue
from gateway.masking import MASK
from gateway.mediators.base import Mediator
from gateway.message import json_codec, kinds, soap

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Expression
    from gateway.message.context import MessageContext

LEVELS = ("simple", "headers", "full", "custom")
#: A `<message>` template: text and compiled ${…} expressions (MI 4.4)
Template = tuple["str | Expression", ...]
CATEGORIES = {
    "INFO": logging.INFO,
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
}
logger = logging.getLogger("gateway.mediator.log")

_ENVELOPE_PREFIX = "Envelope: <?xml version='1.0' encoding='utf-8'?>"  # as Axiom's toString() starts


class LogProperty:
    """A `<property name value|expression>` child: a literal or a compiled expression."""

    __slots__ = ("name", "value", "expression")

    def __init__(self, name: str, value: str | None, expression: Expression | None) -> None:
        self.name = name
        self.value = value
        self.expression = expression

    def render(self, ctx: MessageContext) -> str:
        if self.value is not None:
            return self.value
        assert self.expression is not None
        text = self.expression.string_value(ctx)
        return "null" if text is None else text  # Java's StringBuffer.append(null)


class LogMediator(Mediator):
    __slots__ = ("level", "separator", "log_level", "properties", "template", "message_id")
    tag = "log"

    def __init__(
        self,
        level: str,
        separator: str,
        log_level: int,
        properties: tuple[LogProperty, ...],
        location: SourceLocation | None = None,
        *,
        template: Template | None = None,
        message_id: bool = False,
    ) -> None:
        super().__init__(location)
        self.level = level  # simple | headers | full | custom | message (a template without a level)
        self.separator = separator
        self.log_level = log_level
        self.properties = properties
        self.template = template
        self.message_id = message_id

    @property
    def reads_body(self) -> bool:
        # Only the properties and the template make the list build first: headers/full build in mediate() so
        # that a log in a fault sequence can still show a body that failed to parse. simple stays lazy.
        return any(p.expression is not None and p.expression.needs_body for p in self.properties) or any(
            not isinstance(part, str) and part.needs_body for part in self.template or ()
        )

    async def mediate(self, ctx: MessageContext) -> bool:
        if not logger.isEnabledFor(self.log_level):
            return True  # never pay for formatting (or masking) a line nobody will see
        payload = ctx.payload
        if self.level in ("full", "headers") and not payload.is_built and payload.read_error is None:
            await payload.read()  # a body that cannot be received is a fault here, as anywhere else
            try:
                _ = payload.envelope
            except MediationError:
                pass  # logged raw below; a malformed body faults where it is used, not in a log
        text = self.message(ctx)
        # masked here, with this message's secrets; the handlers' filter then leaves the record alone
        logger.log(self.log_level, "%s", ctx.exchange.services.masker.mask(text), extra={"masked": True})
        return True

    # -- formatting (W: getSimpleLogMessage / getHeadersLogMessage / getFullLogMessage) ------------
    def message(self, ctx: MessageContext) -> str:
        parts: list[str] = []
        if self.message_id and self.level in ("custom", "message") and ctx.message_id:
            parts.append(f"MessageID: {ctx.message_id}")  # W: getCustomLogMessage
        if self.template is not None:
            text = "".join(p if isinstance(p, str) else (p.string_value(ctx) or "") for p in self.template)
            if text:
                parts.append(text)  # W: processMessageTemplate, before the level's own parts
        if self.level in ("simple", "full"):
            parts.extend(self._simple(ctx))
        elif self.level == "headers":
            parts.extend(self._headers(ctx))
        if self.level == "full":
            parts.append(self._payload(ctx))
        parts.extend(f"{p.name} = {p.render(ctx)}" for p in self.properties)
        return self.separator.join(parts)

    def _simple(self, ctx: MessageContext) -> list[str]:
        parts = [f"To: {ctx.to or ''}"]
        envelope = ctx.payload.envelope if ctx.payload.is_built else None
        sender = _wsa_address(envelope, "From")
        if sender is not None:
            parts.append(f"From: {sender}")
        if ctx.soap_action:  # Axis2 keeps the WS-A action and SOAPAction in one field
            parts.append(f"WSAction: {ctx.soap_action}")
            parts.append(f"SOAPAction: {ctx.soap_action}")
        reply_to = _wsa_address(envelope, "ReplyTo")
        if reply_to is not None:
            parts.append(f"ReplyTo: {reply_to}")
        if ctx.message_id:
            parts.append(f"MessageID: {ctx.message_id}")
        parts.append(f"Direction: {'response' if ctx.is_response else 'request'}")
        return parts

    def _headers(self, ctx: MessageContext) -> list[str]:
        parts = []
        header = soap.header_of(ctx.payload.envelope) if ctx.payload.is_built else None
        if header is not None:
            for block in header:
                if isinstance(block.tag, str):
                    parts.append(f"{etree.QName(block).localname} : {_direct_text(block)}")
        # our extension: HTTP headers too; credential headers never show their value
        secret = ctx.exchange.services.secret_headers
        parts.extend(
            f"{name} : {MASK if name.lower() in secret else value}" for name, value in ctx.transport_headers.items()
        )
        return parts

    def _payload(self, ctx: MessageContext) -> str:
        payload = ctx.payload
        if payload.read_error is not None:
            return f"Payload: <not received: {payload.read_error.message}>"
        raw = payload.raw
        if not payload.is_built or (payload.kind == kinds.JSON and not payload.modified and raw is not None):
            text = (raw or b"").decode("utf-8", "replace")
            if payload.kind == kinds.JSON and "\\" in text:
                # escapes (\u0054) could hide a secret's value or key from the masker: log the JSON in
                # its plain form (a deliberate divergence: MI logs the bytes as they came)
                text = _plain_json(text)
            return "Payload: " + text
        if payload.kind == kinds.JSON:  # W: a JSON message is logged as JSON, not as its XML infoset
            return "Payload: " + JsonValue(ctx.payload_json()).text()
        return _ENVELOPE_PREFIX + etree.tostring(payload.envelope, encoding=str)


def _plain_json(text: str) -> str:
    try:
        return json_codec.dumps_text(json_codec.loads(text))
    except (ValueError, TypeError):
        return text  # not JSON after all: logged as it came


def _direct_text(element: etree._Element) -> str:
    # Axiom getText(): the element's own text nodes, untrimmed
    return (element.text or "") + "".join(child.tail or "" for child in element)


def _wsa_address(envelope: etree._Element | None, local: str) -> str | None:
    if envelope is None:
        return None
    header = soap.header_of(envelope)
    if header is None:
        return None
    for ns in soap.WSA_NAMESPACES:
        block = header.find(f"{{{ns}}}{local}")
        if block is not None:
            address = block.find(f"{{{ns}}}Address")
            return ((address.text if address is not None else block.text) or "").strip()
    return None
