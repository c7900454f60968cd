"""`callout` (W: config/xml/CalloutMediatorFactory)."""

from __future__ import annotations

from gateway.deploy.declare import Attribute, Child, Element, Kind, Node, NotYet
from gateway.deploy.endpoints import ENDPOINT
from gateway.deploy.registry import mediator
from gateway.mediators.callout import Callout
from gateway.runtime.endpoints import IndirectEndpoint


def _callout(node: Node) -> Callout:
    service_url = node["serviceURL"].strip() if node.has("serviceURL") else None
    endpoint = node.built("endpoint")
    if service_url is None and endpoint is None and node.has("endpointKey"):
        endpoint = IndirectEndpoint(node.location, node["endpointKey"])
    if service_url is not None and not service_url.startswith(("http://", "https://")):
        raise node.error(
            f"the serviceURL '{service_url}' is not an http:// or https:// address",
            "other transports are not supported",
        )
    source, target = node.one("source"), node.one("target")
    source_xpath = source_key = target_xpath = target_key = None
    if source is not None and source["type"] != "envelope":
        if source.has("xpath"):
            source_xpath = source["xpath"]
        elif source.has("key"):
            source_key = source["key"]
        else:
            raise source.error("A 'xpath' or 'key' attribute is required for the Callout 'source'")
    if target is not None:
        if target.has("xpath"):
            target_xpath = target["xpath"]
        elif target.has("key"):
            target_key = target["key"]
        else:
            raise target.error("A 'xpath' or 'key' attribute is required for the Callout 'target'")
    return Callout(
        service_url=service_url,
        endpoint=endpoint,
        action=node["action"],
        source_xpath=source_xpath,
        source_key=source_key,
        target_xpath=target_xpath,
        target_key=target_key,
        location=node.location,
    )


mediator(
    Element(
        "callout",
        "Call a service and wait for its reply, which replaces the message (or a node of it, or goes into a "
        "property); the flow then carries on. The request is the message, or the element a source selects.",
        anchor="W: CalloutMediatorFactory",
        build=_callout,
        attributes=(
            Attribute("serviceURL", Kind.TEXT, "The service's http(s) address (checked against outbound.allow)."),
            Attribute("endpointKey", Kind.KEY, "A deployed endpoint to call instead.", refers_to="endpoint"),
            Attribute("action", Kind.TEXT, "The SOAP action of the request."),
            Attribute("initAxis2ClientOptions", Kind.BOOLEAN, "Accepted; the gateway's HTTP client is used."),
            Attribute("useServerConfig", Kind.TEXT, "Accepted; the gateway's HTTP client is used."),
        ),
        children=(
            Child(ENDPOINT),
            Child(
                Element(
                    "source",
                    "What is sent: type=envelope (the message, the default), an XPath, or a property (key).",
                    common=False,
                    attributes=(
                        Attribute("xpath", Kind.EXPRESSION, "The element sent, in a SOAP envelope."),
                        Attribute("key", Kind.NAME, "A property holding the element sent."),
                        Attribute("type", Kind.CHOICE, "envelope: send the whole message.", choices=("envelope",)),
                    ),
                )
            ),
            Child(
                Element(
                    "target",
                    "Where the reply goes: the node an XPath selects, or a property (key); default: the message.",
                    common=False,
                    attributes=(
                        Attribute("xpath", Kind.EXPRESSION, "The node the reply's first body element replaces."),
                        Attribute("key", Kind.NAME, "A property that receives the reply's first body element."),
                    ),
                )
            ),
            Child(
                Element(
                    "configuration",
                    "Axis2 client settings (accepted; the gateway's HTTP client is used).",
                    common=False,
                    attributes=(
                        Attribute("axis2xml", Kind.TEXT, "Accepted, not used."),
                        Attribute("repository", Kind.TEXT, "Accepted, not used."),
                    ),
                )
            ),
            Child(
                Element(
                    "enableSec",
                    "WS-Security for the call.",
                    common=False,
                    not_supported=NotYet(
                        "WS-Security on a callout (<enableSec>) is not supported yet",
                        "call a service that needs no WS-Security, or secure the transport (https)",
                    ),
                    attributes=(
                        Attribute("policy", Kind.TEXT, "A security policy key."),
                        Attribute("outboundPolicy", Kind.TEXT, "The outbound security policy key."),
                        Attribute("inboundPolicy", Kind.TEXT, "The inbound security policy key."),
                    ),
                )
            ),
        ),
    )
)
