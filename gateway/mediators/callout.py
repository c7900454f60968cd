"""`callout` (W: mediators/builtin/CalloutMediator, config/xml/CalloutMediatorFactory): a blocking call whose
reply is put back into the current message, which then carries on.

The request is a copy of the current message (source envelope, the default), or a SOAP envelope around the
element a source XPath selects or a property holds (source key). The reply replaces the whole message, or the
node a target XPath selects, or goes into a property (target key). The call goes through the gateway's HTTP
transport (`services.transport`); a serviceURL (or, without one, the To address) is checked against the
outbound allow-list."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.errors import MediationError
from gateway.mediators.base import Mediator
from gateway.message import kinds, soap
from gateway.message.context import MessageContext
from gateway.message.payload import Payload

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Expression


class Callout(Mediator):
    __slots__ = (
        "service_url",
        "endpoint",
        "action",
        "source_xpath",
        "source_key",
        "target_xpath",
        "target_key",
    )
    tag = "callout"

    def __init__(
        self,
        *,
        service_url: str | None,
        endpoint: Any | None,
        action: str | None,
        source_xpath: Expression | None,
        source_key: str | None,
        target_xpath: Expression | None,
        target_key: str | None,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.service_url = service_url
        self.endpoint = endpoint  # an inline endpoint, or an indirect one for endpointKey
        self.action = action
        self.source_xpath = source_xpath
        self.source_key = source_key
        self.target_xpath = target_xpath
        self.target_key = target_key

    @property
    def reads_body(self) -> bool:
        return True

    def _request(self, ctx: MessageContext) -> MessageContext:
        """W: MessageHelper.cloneMessageContext, then the body replaced by the source when it is not the envelope."""
        payload = ctx.payload
        if self.source_xpath is not None or self.source_key is not None:
            element = self._source_element(ctx)
            version = soap.envelope_version(ctx.envelope) if ctx.payload.kind in kinds.SOAP_KINDS else kinds.SOAP11
            envelope = soap.wrap(copy.deepcopy(element), version)
            payload = Payload(kinds.SOAP_MEDIA_TYPES[version])
            payload.replace_envelope(envelope)
        out = MessageContext(
            exchange=ctx.exchange,
            config=ctx.config,
            payload=payload,
            transport_headers=ctx.transport_headers.copy(),
            proxy=ctx.proxy,
            resource=ctx.resource,
            to=ctx.to,
            query_params=ctx.query_params,
            soap_action=self.action if self.action is not None else ctx.soap_action,
        )
        out.properties = dict(ctx.properties)
        out.axis2 = {k: v for k, v in ctx.axis2.items() if k not in ("REST_URL_POSTFIX",)}
        if payload is not ctx.payload:
            out.axis2["messageType"] = payload.media_type
            out.axis2.pop("ContentType", None)
        if self.action is not None:
            out.transport_headers.pop("SOAPAction", None)
        return out

    def _source_element(self, ctx: MessageContext) -> etree._Element:
        if self.source_key is not None:
            value = ctx.properties.get(self.source_key)
            if isinstance(value, etree._Element):
                return value
            if isinstance(value, str) and value.strip().startswith("<"):
                try:
                    return etree.fromstring(value.encode(), _PARSER)
                except etree.XMLSyntaxError:
                    pass
            raise MediationError(f"The property {self.source_key} does not hold an XML element for the callout source")
        assert self.source_xpath is not None
        found = self.source_xpath.nodes(ctx)
        element = next((node for node in found if isinstance(node, etree._Element)), None)
        if element is None:
            raise MediationError(f"Evaluation of the source XPath {self.source_xpath} did not yield an element")
        return element

    async def mediate(self, ctx: MessageContext) -> bool:
        await ctx.payload.read()
        out = self._request(ctx)
        services = ctx.exchange.services
        if self.endpoint is not None:
            reply = await self.endpoint.send(out)
        else:
            url = self.service_url or ctx.to or ""  # W: no serviceURL and no endpoint: the To address
            if not url.startswith(("http://", "https://")):
                raise MediationError(
                    f"the callout has no serviceURL and the To address '{url}' is not an http(s) URL",
                    detail=f"at {self.location}: set serviceURL, an endpoint, or an absolute To address",
                )
            what = "serviceURL" if self.service_url else "To address"
            services.outbound.check(url, f"the callout {what} at {self.location}")
            if services.transport is None:
                raise MediationError("no HTTP transport is available")
            media = out.axis2.get("messageType") or out.payload.media_type or kinds.TEXT_XML
            reply = await services.transport.exchange(
                out, url=url, method="POST", media=str(media), timeout=services.settings.endpoint_timeout
            )
        await reply.payload.read()
        ctx.axis2["HTTP_SC"] = reply.axis2.get("HTTP_SC")
        if reply.payload.kind == kinds.JSON or (self.target_xpath is None and self.target_key is None):
            ctx.payload = reply.payload  # W: the reply becomes the message (a JSON reply always does)
            ctx.axis2["messageType"] = reply.axis2.get("messageType") or reply.payload.media_type
            ctx.axis2.pop("ContentType", None)
            ctx.axis2.pop("NO_ENTITY_BODY", None)
            return True
        result = soap.first_body_element(reply.envelope)
        if result is None:
            raise MediationError("the callout reply has an empty body")
        if self.target_key is not None:
            ctx.properties[self.target_key] = soap.detached_copy(result)
            return True
        assert self.target_xpath is not None
        target = next((n for n in self.target_xpath.nodes(ctx) if isinstance(n, etree._Element)), None)
        parent = target.getparent() if target is not None else None
        if target is None or parent is None:
            raise MediationError(f"Evaluation of target XPath expression : {self.target_xpath} did not yeild an OMNode")
        replacement = copy.deepcopy(result)
        replacement.tail = target.tail
        parent.replace(target, replacement)
        ctx.payload.mark_modified()
        return True


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
