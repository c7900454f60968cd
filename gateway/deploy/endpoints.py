"""Endpoint declarations (W: EndpointFactory, AddressEndpointFactory, HTTPEndpointFactory,
EndpointDefinitionFactory): an `<endpoint>` artifact, or one inline in a send, call or proxy target."""

from __future__ import annotations

import dataclasses
from typing import Any

from yarl import URL

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node, NotYet
from gateway.runtime.endpoints import FORMATS, AddressEndpoint, Endpoint, HttpEndpoint, IndirectEndpoint


def _text(tag: str, kind: Kind, doc: str, **extra: Any) -> Element:  # extra: Attribute's optional fields
    return Element(tag, doc, text=Attribute("#text", kind, doc, **extra), common=False)


TIMEOUT = Element(
    "timeout",
    "How long to wait for the back end, and what to do then.",
    common=False,
    children=(
        Child(
            _text("duration", Kind.DURATION, "Milliseconds; 0 means the gateway's default endpoint timeout.", minimum=0)
        ),
        Child(
            _text(
                "responseAction",
                Kind.CHOICE,
                "discard or fault: what happens to a reply that came too late.",
                choices=("discard", "fault"),
                ignore_case=True,
                label="timeout responseAction",
                invalid_hint="use discard or fault",
            )
        ),
    ),
)
_QOS = (
    Child(TIMEOUT),
    Child(
        Element(
            "suspendOnFailure",
            "When to suspend the endpoint after errors.",
            common=False,
            children=(
                Child(_text("errorCodes", Kind.CODES, "Error codes that suspend the endpoint.")),
                Child(_text("initialDuration", Kind.INTEGER, "First suspension, in milliseconds.")),
                Child(_text("progressionFactor", Kind.NUMBER, "Multiplier for each further suspension.")),
                Child(_text("maximumDuration", Kind.INTEGER, "Longest suspension, in milliseconds.")),
            ),
        )
    ),
    Child(
        Element(
            "markForSuspension",
            "When to mark the endpoint as timed out.",
            common=False,
            children=(
                Child(_text("errorCodes", Kind.CODES, "Error codes that mark the endpoint.")),
                Child(_text("retriesBeforeSuspension", Kind.INTEGER, "Retries before a suspension.")),
                Child(_text("retryDelay", Kind.INTEGER, "Milliseconds between retries.")),
            ),
        )
    ),
    Child(
        Element(
            "retryConfig",
            "Which error codes are retried.",
            common=False,
            children=(
                Child(_text("disabledErrorCodes", Kind.CODES, "Codes never retried.")),
                Child(_text("enabledErrorCodes", Kind.CODES, "Codes retried.")),
            ),
        )
    ),
    Child(_text("suspendDurationOnFailure", Kind.INTEGER, "Synapse 1.2's suspension, in seconds (still read by MI).")),
    Child(
        Element(
            "enableAddressing",
            "WS-Addressing headers on the outgoing message.",
            common=False,
            attributes=(
                Attribute("version", Kind.CHOICE, "final or submission.", choices=("final", "submission")),
                Attribute("separateListener", Kind.BOOLEAN, "A separate listener for replies."),
            ),
        )
    ),
    Child(
        Element(
            "enableSec",
            "WS-Security policies.",
            common=False,
            attributes=(
                Attribute("policy", Kind.TEXT, "Policy key."),
                Attribute("inboundPolicy", Kind.TEXT, "Inbound policy key."),
                Attribute("outboundPolicy", Kind.TEXT, "Outbound policy key."),
            ),
        )
    ),
    Child(
        Element(
            "enableRM",
            "WS-ReliableMessaging.",
            common=False,
            attributes=(Attribute("policy", Kind.TEXT, "Policy key."),),
        )
    ),
    Child(
        Element(
            "authentication",
            "Endpoint authentication.",
            common=False,
            body=Body.ANY,
            not_supported=NotYet("endpoint authentication (basic auth, OAuth) is not supported yet"),
        )
    ),
)
FORMAT = Attribute(
    "format", Kind.CHOICE, "The message format sent to the back end (default: as received).", choices=FORMATS
)
_HTTP_METHODS = ("get", "post", "put", "delete", "patch", "head", "options")


def _timeout(node: Node) -> float | None:
    """W: EndpointDefinitionFactory: milliseconds as a Java long; 0 leaves the transport's timeout in place,
    so here it means the gateway default."""
    timeout = node.one("timeout")
    if timeout is None:
        return None
    duration = timeout.one("duration")
    millis = duration["#text"] if duration is not None else 0
    return millis / 1000.0 if millis else None


def _address(node: Node) -> tuple[str, str | None]:
    uri = node["uri"]
    try:
        url = URL(uri)
    except ValueError as exc:
        raise node.error(f"invalid uri '{uri}': {exc}") from None
    if url.scheme not in ("http", "https"):
        raise node.error(
            f"the '{url.scheme or 'relative'}' transport of uri '{uri}' is not supported",
            "use an absolute http:// or https:// address",
        )
    if not url.host:
        raise node.error(f"uri '{uri}' has no host", "e.g. http://localhost:9000/service")
    return uri, node["format"]


ADDRESS = Element(
    "address",
    "A fixed back-end address; a REST client's URL suffix is appended.",
    anchor="W: AddressEndpointFactory",
    children=_QOS,
    attributes=(
        Attribute("uri", Kind.NAME, "Absolute http(s) URL of the back end.", required=True),
        FORMAT,
        Attribute(
            "optimize",
            Kind.CHOICE,
            "MTOM/SwA optimisation (accepted, no effect over plain HTTP).",
            choices=("mtom", "swa", "pox"),
        ),
        Attribute("encoding", Kind.TEXT, "Character encoding (accepted, no effect: UTF-8)."),
    ),
)
HTTP = Element(
    "http",
    "A back-end address built per message from a uri-template.",
    anchor="W: HTTPEndpointFactory",
    children=_QOS,
    attributes=(
        Attribute("uri-template", Kind.NAME, "RFC 6570 template, e.g. http://host/orders/{uri.var.id}.", required=True),
        Attribute(
            "method",
            Kind.CHOICE,
            "HTTP method (default: the request's).",
            choices=(*_HTTP_METHODS, *(m.upper() for m in _HTTP_METHODS)),
        ),
        FORMAT,
    ),
)


def _not_yet(tag: str, doc: str) -> Element:
    return Element(
        tag,
        doc,
        body=Body.ANY,
        attributes=(),
        common=False,
        not_supported=NotYet(f"<{tag}> endpoints are not supported yet", "use <address> or <http>"),
    )


# MI's endpoint types, in the order W: EndpointFactory.getEndpointFactory looks for them
_TYPES = (
    ADDRESS,
    _not_yet("wsdl", "An endpoint resolved from a WSDL service and port."),
    _not_yet("default", "The message's To address."),
    _not_yet("loadbalance", "Spread messages over several endpoints."),
    _not_yet("dynamicLoadbalance", "Load balancing over a dynamic member list."),
    _not_yet("serviceDynamicLoadbalance", "Load balancing by service."),
    _not_yet("failover", "Try endpoints in order until one answers."),
    _not_yet("recipientlist", "Send to several endpoints."),
    HTTP,
    _not_yet("class", "A Java endpoint class."),
)
_ORDER = [spec.tag for spec in _TYPES]
_SUPPORTED = {"address", "http"}
_EXTRAS = (
    Child(
        Element(
            "property",
            "A property set on messages sent through this endpoint.",
            attributes=(
                Attribute("name", Kind.NAME, "Property name.", required=True),
                Attribute("value", Kind.TEXT, "Value."),
                Attribute("expression", Kind.EXPRESSION, "Value from the message."),
                Attribute("scope", Kind.CHOICE, "Scope.", choices=("default", "transport", "axis2", "axis2-client")),
            ),
        ),
        repeatable=True,
    ),
    Child(
        Element(
            "parameter",
            "A template parameter value.",
            common=False,
            attributes=(
                Attribute("name", Kind.NAME, "Parameter name.", required=True),
                Attribute("value", Kind.TEXT, "Value."),
            ),
        ),
        repeatable=True,
    ),
    Child(
        Element(
            "session",
            "Session affinity of a load-balance endpoint.",
            common=False,
            attributes=(Attribute("type", Kind.TEXT, "http or simpleClientSession."),),
            body=Body.ANY,
        )
    ),
)


def build_endpoint(node: Node, *, anonymous: bool) -> Endpoint:
    where = node.location
    if node.has("key"):  # W: a key wins over everything else
        return IndirectEndpoint(where, node["key"])
    if not anonymous and not node["name"]:
        raise node.error("the 'name' attribute is required for a named endpoint")
    definitions = [child for tag in _ORDER for child in node.all(tag)]
    if not definitions:
        if node.has("template"):
            raise node.error(
                "endpoint templates are not supported yet",
                "inline the endpoint definition, or name a deployed endpoint with key=",
            )
        raise node.error(
            "an endpoint needs one of <address>, <http> (or another MI endpoint type)",
            'e.g. <address uri="http://host:port/path"/>',
        )
    definition = definitions[0]
    if len(definitions) > 1:
        others = ", ".join(f"<{d.tag}>" for d in definitions[1:])
        raise node.error(
            f"an endpoint has one type, not <{definition.tag}> and {others}",
            f"MI silently uses <{definition.tag}>; remove the others",
        )
    session = node.one("session")
    if session is not None:
        raise session.error("a <session> only applies to a <loadbalance> endpoint", "remove it")
    timeout = _timeout(definition)
    if definition.tag == "address":
        uri, fmt = _address(definition)
        return AddressEndpoint(node["name"], where, timeout, uri, fmt)
    return HttpEndpoint(
        node["name"], where, timeout, definition["uri-template"], definition["method"], definition["format"]
    )


ENDPOINT = Element(
    "endpoint",
    "Where send and call deliver the message: a definition, or key= naming a deployed endpoint.",
    anchor="W: EndpointFactory",
    children=(*(Child(spec, repeatable=True) for spec in _TYPES), *_EXTRAS),
    attributes=(
        Attribute("name", Kind.NAME, "Name (required for an endpoint artifact)."),
        Attribute(
            "key", Kind.KEY, "A deployed endpoint to use instead ({expr} resolves per message).", refers_to="endpoint"
        ),
        Attribute(
            "key-expression",
            Kind.TEXT,
            "An XPath naming the endpoint per message.",
            unsupported=NotYet(
                "key-expression endpoints (resolved per message) are not supported yet",
                'key="{expression}" is resolved per message too',
            ),
        ),
        Attribute("template", Kind.TEXT, "An endpoint template to instantiate."),
        Attribute("uri", Kind.TEXT, "The $uri of an endpoint template."),
        Attribute("onError", Kind.TEXT, "A sequence for errors (accepted; no effect yet)."),
    ),
    build=lambda node: build_endpoint(node, anonymous=True),
)
ENDPOINT_ARTIFACT = dataclasses.replace(ENDPOINT, build=lambda node: build_endpoint(node, anonymous=False))
