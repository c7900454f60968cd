"""Endpoint declarations (W: EndpointFactory, AddressEndpointFactory, HTTPEndpointFactory,
EndpointDefinitionFactory): an `<endpoint>` artifact, or one inline in a send, call or proxy target."""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

from yarl import URL

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node, NotYet, Reported, build
from gateway.deploy.wsdl import wsdl_endpoint_address
from gateway.expressions import Expression
from gateway.expressions.values import Value
from gateway.message import soap
from gateway.message.scopes import writer
from gateway.runtime.endpoint_state import DEFAULT_SUSPENSION, Suspension
from gateway.runtime.endpoints import (
    ALGORITHMS,
    FORMATS,
    AddressEndpoint,
    DefaultEndpoint,
    Endpoint,
    EndpointProperty,
    EndpointTemplate,
    FailoverEndpoint,
    HttpEndpoint,
    IndirectEndpoint,
    LoadbalanceEndpoint,
    MemberEndpoint,
    RecipientListEndpoint,
    SessionAffinity,
    TemplateEndpoint,
    TransportEndpoint,
    WsdlEndpoint,
    parse_other_uri,
)
from gateway.xmlutil import children, local_name


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
        Child(
            _text("action", Kind.TEXT, "Not read: MI's own tests (esbjava3022) write it for responseAction."),
            ignored="EndpointDefinitionFactory reads <responseAction>, not <action>: write "
            "<responseAction>fault</responseAction> for that",
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


def _timeout(node: Node) -> float | Expression | None:
    """W: EndpointDefinitionFactory: milliseconds as a Java long (0 leaves the transport's timeout in place, so
    here it means the gateway default), or `{xpath}` evaluated per message."""
    timeout = node.one("timeout")
    if timeout is None:
        return None
    duration = timeout.one("duration")
    millis = duration["#text"] if duration is not None else 0
    if isinstance(millis, Expression):
        return millis
    return millis / 1000.0 if millis else None


def _codes(node: Node | None, tag: str) -> frozenset[int]:
    child = node.one(tag) if node is not None else None
    return frozenset(child["#text"] or ()) if child is not None else frozenset()


def _number(node: Node | None, tag: str) -> Any:
    child = node.one(tag) if node is not None else None
    return child["#text"] if child is not None else None


def _suspension(node: Node) -> Suspension:
    """W: EndpointDefinitionFactory: suspendOnFailure, markForSuspension, retryConfig, the Synapse 1.2
    suspendDurationOnFailure (seconds, progression 1) and timeout/responseAction."""
    suspend, mark, retry = node.one("suspendOnFailure"), node.one("markForSuspension"), node.one("retryConfig")
    timeout = node.one("timeout")
    action = _number(timeout, "responseAction")
    legacy = _number(node, "suspendDurationOnFailure")
    addressing = node.one("enableAddressing")
    if suspend is None and mark is None and retry is None and action is None and legacy is None and addressing is None:
        return DEFAULT_SUSPENSION
    initial, factor = -1, 1.0
    if legacy is not None:
        initial = legacy * 1000
    if _number(suspend, "initialDuration") is not None:
        initial = _number(suspend, "initialDuration")
    if _number(suspend, "progressionFactor") is not None:
        factor = float(_number(suspend, "progressionFactor"))
    maximum = _number(suspend, "maximumDuration")
    return Suspension(
        suspend_codes=_codes(suspend, "errorCodes"),
        initial_duration=initial,
        progression_factor=factor,
        maximum_duration=maximum if maximum is not None else DEFAULT_SUSPENSION.maximum_duration,
        timeout_codes=_codes(mark, "errorCodes"),
        retries_before_suspension=_number(mark, "retriesBeforeSuspension") or 0,
        retry_delay=_number(mark, "retryDelay") or 0,
        retry_disabled_codes=_codes(retry, "disabledErrorCodes"),
        retry_enabled_codes=_codes(retry, "enabledErrorCodes"),
        timeout_action=action.lower() if action else None,
        addressing=None
        if addressing is None
        else soap.WSA_SUBMISSION
        if addressing["version"] == "submission"
        else soap.WSA_FINAL,
    )


_CREDENTIALS = re.compile(r"//([^/:@]*):[^/@]*@")
_OTHER_NAMES = {"rabbitmq": "RabbitMQ", "vfs": "file", "local": "local", "mailto": "mail"}
_OTHER_HINTS = {
    "rabbitmq": "rabbitmq:/NAME?rabbitmq.server.host.name=HOST&amp;rabbitmq.server.port=5672&amp;"
    "rabbitmq.queue.name=QUEUE (docs/operations.md, RabbitMQ endpoints)",
    "vfs": "vfs:file:///directory or vfs:file:///directory/file.xml[?transport.vfs.Append=true] (docs/operations.md, "
    "Endpoints over file, local and mail transports)",
    "local": "local://services/PROXY or local:///CONTEXT/path of an API (docs/operations.md, Endpoints over file, "
    "local and mail transports)",
    "mailto": "mailto:someone@example.com, with the SMTP server in the mail settings (docs/operations.md, Endpoints "
    "over file, local and mail transports)",
}


def _address(node: Node) -> tuple[str, str | None]:
    return _address_of(node, node["uri"])


def _address_of(node: Node, uri: str) -> tuple[str, str | None]:
    try:
        other = parse_other_uri(uri)
    except ValueError as exc:
        scheme = uri.split(":", 1)[0].lower()
        shown = _CREDENTIALS.sub(r"//\1:****@", uri.split("?", 1)[0])  # vfs:sftp://user:password@host/…
        raise node.error(f"{_OTHER_NAMES[scheme]} address '{shown}': {exc}", _OTHER_HINTS[scheme]) from None
    if other is not None:
        return uri, node["format"]
    try:
        url = URL(uri)
    except ValueError as exc:
        raise node.error(f"invalid uri '{_shown_uri(uri)}': {exc}") from None
    if url.scheme not in ("http", "https"):
        hint = (
            "use an absolute http:// or https:// address, or rabbitmq:/NAME?…, vfs:file:///…, "
            "local://services/NAME, mailto:…"
        )
        if url.scheme.startswith("mailto"):
            hint = (
                f"'{url.scheme}' is a named mail sender of MI's axis2.xml; write mailto:… and configure the SMTP "
                "server in the mail settings"
            )
        if url.scheme == "file":
            hint = "MI sends to files through the VFS transport: write vfs:file:///path (docs/operations.md)"
        if url.scheme == "jms":
            hint = "there is no JMS client for Python: publish to RabbitMQ with rabbitmq:/NAME?… instead"
        shown = _shown_uri(uri)
        raise node.error(f"the '{url.scheme or 'relative'}' transport of uri '{shown}' is not supported", hint)
    if not url.host:
        raise node.error(f"uri '{_shown_uri(uri)}' has no host", "e.g. http://localhost:9000/service")
    return uri, node["format"]


_SECRET_PARAMETER = re.compile(r"([?&;][^=&;]*(?:password|credentials|secret|token)[^=&;]*=)[^&;]*", re.IGNORECASE)


def _shown_uri(uri: str) -> str:
    """The uri as a deploy error shows it: user info and password-like parameters masked (a JMS uri carries
    java.naming.security.credentials or transport.jms.Password)."""
    return _SECRET_PARAMETER.sub(r"\1****", _CREDENTIALS.sub(r"//\1:****@", uri))


ADDRESS = Element(
    "address",
    "A fixed back-end address; a REST client's URL suffix is appended.",
    anchor="W: AddressEndpointFactory",
    children=_QOS,
    attributes=(
        Attribute(
            "uri",
            Kind.NAME,
            "Absolute http(s) URL of the back end, or a rabbitmq:/NAME?…, vfs:file:///…, local://services/NAME or "
            "mailto: address.",
            required=True,
        ),
        FORMAT,
        Attribute(
            "optimize",
            Kind.CHOICE,
            "MTOM/SwA optimisation (accepted, no effect over plain HTTP).",
            choices=("mtom", "swa", "pox"),
        ),
        Attribute("encoding", Kind.TEXT, "Character encoding (accepted, no effect: UTF-8)."),
        Attribute(
            "method",
            Kind.TEXT,
            "An <http> endpoint's attribute, written on an address (MI's own tests do).",
            ignored="AddressEndpointFactory reads no method: the request keeps its method; use <http method=…>",
        ),
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


DEFAULT = Element(
    "default",
    "The message's To address: a WS-Addressing To header, or one set by the header mediator.",
    anchor="W: DefaultEndpointFactory",
    children=_QOS,
    attributes=(
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
WSDL = Element(
    "wsdl",
    "The address of a WSDL's service port, read when the endpoint is deployed (SOAP 1.1 or 1.2 by its binding).",
    anchor="W: WSDLEndpointFactory",
    children=_QOS,
    body=Body.ANY,
    common=False,
    attributes=(
        Attribute("uri", Kind.TEXT, "The WSDL: a file path or file: URL, or a loopback http(s) URL."),
        Attribute("service", Kind.NAME, "The wsdl:service.", required=True),
        Attribute("port", Kind.NAME, "The wsdl:port of that service.", required=True),
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
MEMBER = Element(
    "member",
    "An application member of a load-balance endpoint: the message's To path on this host.",
    common=False,
    attributes=(
        Attribute("hostName", Kind.NAME, "Host name or address.", required=True),
        Attribute("httpPort", Kind.INTEGER, "HTTP port.", required=True, minimum=1),
        Attribute("httpsPort", Kind.INTEGER, "HTTPS port (kept; members are called over HTTP).", minimum=1),
    ),
)
_BUILD_MESSAGE = Attribute("buildMessage", Kind.BOOLEAN, "Build the message before sending (always done here).")
FAILOVER = Element(
    "failover",
    "Try the child endpoints in order until one answers.",
    anchor="W: FailoverEndpointFactory",
    common=False,
    body=Body.ANY,
    attributes=(
        Attribute("dynamic", Kind.BOOLEAN, "Go back to the first child once it is ready again (default true)."),
        _BUILD_MESSAGE,
    ),
)
LOADBALANCE = Element(
    "loadbalance",
    "Spread messages over child endpoints or <member>s (roundRobin or weightedRoundRobin).",
    anchor="W: LoadbalanceEndpointFactory, SALoadbalanceEndpointFactory",
    common=False,
    body=Body.ANY,
    children=(Child(MEMBER, repeatable=True),),
    attributes=(
        Attribute(
            "algorithm",
            Kind.TEXT,
            "org.apache.synapse.endpoints.algorithms.RoundRobin (default) or …WeightedRoundRobin "
            "(weights: the children's loadbalance.weight property).",
        ),
        Attribute("failover", Kind.BOOLEAN, "Send to the next child when one fails (default true)."),
        Attribute("policy", Kind.TEXT, "Synapse 1.x's name for the algorithm (roundRobin)."),
        _BUILD_MESSAGE,
    ),
)


RECIPIENTLIST = Element(
    "recipientlist",
    'Send the message to every child endpoint, <member>, or address of <endpoints value="{expr}"/>.',
    anchor="W: RecipientListEndpointFactory",
    common=False,
    body=Body.ANY,
    children=(
        Child(MEMBER, repeatable=True),
        Child(
            Element(
                "endpoints",
                "Addresses per message: an expression giving comma-separated http(s) URLs.",
                common=False,
                attributes=(
                    Attribute("value", Kind.VALUE, "{expression} giving the addresses.", required=True),
                    Attribute("max-cache", Kind.INTEGER, "Endpoints kept for these addresses (default 20).", minimum=1),
                ),
            )
        ),
    ),
)


# MI's endpoint types, in the order W: EndpointFactory.getEndpointFactory looks for them
_TYPES = (
    ADDRESS,
    WSDL,
    DEFAULT,
    LOADBALANCE,
    _not_yet("dynamicLoadbalance", "Load balancing over a dynamic member list."),
    _not_yet("serviceDynamicLoadbalance", "Load balancing by service."),
    FAILOVER,
    RECIPIENTLIST,
    HTTP,
    _not_yet("class", "A Java endpoint class."),
)
_ORDER = [spec.tag for spec in _TYPES]
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
            anchor="W: SALoadbalanceEndpointFactory",
            common=False,
            attributes=(
                Attribute(
                    "type",
                    Kind.CHOICE,
                    "http (the back end's session cookie) or simpleClientSession (a <syn:ClientID> SOAP header).",
                    required=True,
                    choices=("http", "simpleClientSession", "soap"),
                ),
            ),
            children=(
                Child(_text("sessionTimeout", Kind.INTEGER, "Milliseconds a session is kept unused (default: ever).")),
            ),
        )
    ),
)


def build_endpoint(node: Node, *, anonymous: bool) -> Endpoint:
    endpoint = _build_endpoint(node, anonymous=anonymous)
    properties = node.all("property")
    if properties and not isinstance(endpoint, IndirectEndpoint):
        endpoint.properties = tuple(_property(p) for p in properties)
    return endpoint


def _property(node: Node) -> EndpointProperty:
    """W: EndpointFactory.processProperties / AbstractEndpoint.evaluateProperties."""
    if node["value"] is None and node["expression"] is None:
        raise node.error("an endpoint property needs a value or an expression", 'value="…" or expression="…"')
    return EndpointProperty(node["name"], node["value"], node["expression"], writer(node["scope"] or "default"))


def _build_endpoint(node: Node, *, anonymous: bool) -> Endpoint:
    where = node.location
    if node.has("key"):  # W: a key wins over everything else
        return IndirectEndpoint(where, node["key"])
    if node.has("key-expression"):  # W: EndpointFactory: an XPath naming the endpoint per message
        return IndirectEndpoint(where, Value(node.raw("key-expression") or "", expression=node["key-expression"]))
    if not anonymous and not node["name"]:
        raise node.error(  # W: EndpointDeployer: addEndpoint(null, …) fails ("Endpoint Deployment … Failed.")
            "the 'name' attribute is required for a named endpoint",
            'add name="…"; an endpoint without a name is a registry resource (as dynamic_endpt_1.xml of Apache '
            "sample 10), reached by a key: put it under registry/",
        )
    definitions = [child for tag in _ORDER for child in node.all(tag)]
    if not definitions:
        if node.has("template"):  # W: TemplateEndpointFactory
            return _template_endpoint(node)
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
    if session is not None and definition.tag != "loadbalance":
        raise session.error("a <session> only applies to a <loadbalance> endpoint", "remove it")
    name = node["name"]
    if definition.tag in ("failover", "loadbalance", "recipientlist"):
        return _group(node, definition, session)
    timeout = _timeout(definition)
    suspension = _suspension(definition)
    if definition.tag == "address":
        uri, fmt = _address(definition)
        other = parse_other_uri(uri)
        if other is not None:
            return TransportEndpoint(name, where, timeout, uri, other, fmt, suspension)
        return AddressEndpoint(name, where, timeout, uri, fmt, suspension)
    if definition.tag == "default":
        return DefaultEndpoint(name, where, timeout, definition["format"], suspension)
    if definition.tag == "wsdl":
        location, binding = wsdl_endpoint_address(definition)
        uri, _ = _address_of(definition, location)
        return WsdlEndpoint(name, where, timeout, uri, definition["format"] or binding, suspension)
    return HttpEndpoint(
        name, where, timeout, definition["uri-template"], definition["method"], definition["format"], suspension
    )


def _template_endpoint(node: Node) -> Endpoint:
    """`<endpoint template="T" name uri><parameter name value/></endpoint>`: the values are kept; the endpoint is
    built from the template once every artifact is loaded."""
    template = (node["template"] or "").strip()
    if not template:
        raise node.error("the 'template' attribute is empty", "name a deployed endpoint template")
    values: dict[str, str] = {}
    if node["name"]:
        values["name"] = node["name"]
    if node["uri"] is not None:
        values["uri"] = node["uri"]
    for parameter in node.all("parameter"):
        if parameter["value"] is None:
            raise parameter.error("parameter value should be present", "add value=…")
        values[parameter["name"]] = parameter["value"]
    endpoint = TemplateEndpoint(node["name"], node.location, template, values)
    node.fctx.template_endpoints.append(endpoint)
    node.fctx.refer("template", template, node.element)
    return endpoint


def instantiate(template: EndpointTemplate, use: TemplateEndpoint, fctx: Any) -> Endpoint:
    """W: Template.create / replaceElement: a copy of the template's endpoint where every attribute value and
    text that is exactly `$PARAM` (a declared parameter, or name / uri) becomes the use's value; then built
    like any endpoint. Problems are recorded in `fctx` (Reported is raised)."""
    element = copy.deepcopy(template.element)
    names = template.names
    for item in element.iter():
        if not isinstance(item.tag, str):
            continue
        for attribute, raw in item.attrib.items():
            value = str(raw)
            if value.startswith("$") and value[1:] in names and value[1:] in use.values:
                item.set(attribute, use.values[value[1:]])
        text = item.text
        if text and text.startswith("$") and text[1:] in names and text[1:] in use.values:
            item.text = use.values[text[1:]]
    result: Endpoint = build(element, ENDPOINT, fctx)
    return result


def _group(node: Node, definition: Node, session: Node | None) -> Endpoint:
    """<failover> / <loadbalance>: the child <endpoint>s built like any endpoint (every problem reported)."""
    members: list[Endpoint] = []
    weights: list[int] = []
    failed = False
    for element in definition.element.iterchildren():
        if not isinstance(element.tag, str):
            continue
        tag = local_name(element)
        if tag in ("member", "endpoints"):
            continue
        if tag != "endpoint":
            raise definition.error(
                f"unexpected <{tag}> inside <{definition.tag}>",
                "a load-balance or fail-over endpoint holds <endpoint> children"
                + (" or <member>s" if definition.tag == "loadbalance" else ""),
            )
        try:
            members.append(build(element, ENDPOINT, node.fctx))
        except Reported:
            failed = True
            continue
        weights.append(_weight(element, definition))
    if failed:
        raise Reported
    name, where = node["name"], node.location
    if definition.tag == "failover":
        if not members:
            raise definition.error(
                f"A FailOver must have child elements, but the FailOver '{name}' does not have any child elements",
                '<failover><endpoint><address uri="…"/></endpoint>…</failover>',
            )
        return FailoverEndpoint(name, where, tuple(members), definition["dynamic"] is not False)
    hosts = definition.all("member")
    if definition.tag == "recipientlist":
        return _recipient_list(definition, name, where, members, hosts)
    if hosts and members:
        raise definition.error(
            "loadbalanceEndpoint element cannot have both member & endpoint child elements", "keep one kind"
        )
    if hosts:
        members = [MemberEndpoint(m.location, m["hostName"], m["httpPort"], m["httpsPort"]) for m in hosts]
        weights = [1] * len(members)
    if not members:
        raise definition.error(
            f"A LoadbalanceEndpoint must have child elements, but the LoadbalanceEndpoint '{name}' does not have "
            "any child elements",
            "add <endpoint> children or <member>s",
        )
    algorithm_name = definition["algorithm"] or "org.apache.synapse.endpoints.algorithms.RoundRobin"
    if definition["policy"] and not definition["algorithm"]:
        algorithm_name = definition["policy"]
    algorithm = ALGORITHMS.get(algorithm_name)
    if algorithm is None:
        raise definition.error(
            f"the load-balance algorithm '{algorithm_name}' is not supported",
            "use org.apache.synapse.endpoints.algorithms.RoundRobin or …WeightedRoundRobin",
        )
    affinity = None
    if session is not None:
        if session["type"] == "soap":
            raise session.error(
                'session type="soap" (Axis2 ServiceGroupId sessions) is not supported yet',
                'use type="http" (cookies) or type="simpleClientSession"',
            )
        timeout = session.one("sessionTimeout")
        affinity = SessionAffinity(session["type"], timeout["#text"] if timeout is not None else None)
    return LoadbalanceEndpoint(
        name, where, tuple(members), algorithm(tuple(weights)), definition["failover"] is not False, affinity
    )


def _recipient_list(
    definition: Node, name: str | None, where: Any, members: list[Endpoint], hosts: list[Node]
) -> Endpoint:
    """W: RecipientListEndpointFactory: child endpoints, members, or one dynamic <endpoints value>."""
    dynamic = definition.one("endpoints")
    given = [
        what for what, present in (("endpoints", members), ("members", hosts), ("<endpoints>", dynamic)) if present
    ]
    if len(given) != 1:
        raise definition.error(
            "a recipient list holds child <endpoint>s, <member>s or one <endpoints value=…>"
            + (f", not {' and '.join(given)}" if given else ""),
            '<recipientlist><endpoint><address uri="…"/></endpoint>…</recipientlist>',
        )
    if dynamic is not None:
        value = dynamic["value"]
        if not value.is_dynamic:
            raise dynamic.error("<endpoints value> must be an expression in {…}", "value=\"{get-property('EP_LIST')}\"")
        return RecipientListEndpoint(name, where, (), value, dynamic["max-cache"] or 20)
    if hosts:
        members = [MemberEndpoint(m.location, m["hostName"], m["httpPort"], m["httpsPort"]) for m in hosts]
    return RecipientListEndpoint(name, where, tuple(members))


def _weight(element: Any, definition: Node) -> int:
    """W: WeightedRoundRobin.init: the child's `loadbalance.weight` property, a whole number above 0."""
    for child in children(element):
        if local_name(child) == "property" and child.get("name") == "loadbalance.weight":
            text = (child.get("value") or "").strip()
            if not text.isdigit() or int(text) <= 0:
                raise definition.error(
                    f"loadbalance.weight must be a whole number greater than zero, not '{text}'",
                    "Weight must be greater than zero",
                )
            return int(text)
    return 1


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
        Attribute("key-expression", Kind.EXPRESSION, "An XPath naming a deployed endpoint per message."),
        Attribute("template", Kind.TEXT, "An endpoint template to instantiate."),
        Attribute("uri", Kind.TEXT, "The $uri of an endpoint template."),
        Attribute("onError", Kind.TEXT, "A sequence for errors (accepted; no effect yet)."),
    ),
    build=lambda node: build_endpoint(node, anonymous=True),
)
ENDPOINT_ARTIFACT = dataclasses.replace(ENDPOINT, build=lambda node: build_endpoint(node, anonymous=False))
