"""Artifact declarations: proxy, sequence, endpoint, localEntry, template (W: ProxyServiceFactory,
SequenceMediatorFactory, EndpointFactory, EntryFactory, TemplateMediatorFactory)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from gateway.deploy.apis import API
from gateway.deploy.declare import STATISTICS, TRACE, Attribute, Body, Child, Element, Kind, Node, NotYet
from gateway.deploy.endpoints import ENDPOINT, ENDPOINT_ARTIFACT
from gateway.deploy.inbound import INBOUND_ENDPOINT
from gateway.deploy.stores import MESSAGE_PROCESSOR, MESSAGE_STORE
from gateway.deploy.tasks import TASK
from gateway.deploy.wsdl import build_publish_wsdl, candidates
from gateway.errors import DeployError
from gateway.mediators.base import Mediator
from gateway.mediators.sequence import NamedSequence, ProxyFaultHandler, SequenceRef
from gateway.mediators.template import SequenceTemplate, TemplateParameter
from gateway.runtime.configuration import LocalEntry, ProxyService
from gateway.runtime.endpoints import Endpoint, EndpointTemplate, IndirectEndpoint
from gateway.xmlutil import children, is_description, local_name, parse_config_file

_ON_ERROR = Attribute(
    "onError",
    Kind.KEY,
    "A sequence that handles errors raised while this one runs.",
    refers_to="sequence",
    role="onError",
)


# -- sequence -------------------------------------------------------------------------------------------
def _sequence(node: Node) -> NamedSequence:
    on_error = node["onError"]
    return NamedSequence(node["name"], node.mediators(), on_error.static_text if on_error else None, node.location)


SEQUENCE_ARTIFACT = Element(
    "sequence",
    "A named, reusable list of mediators (sequences/NAME.xml); `main` and `fault` are the global defaults.",
    anchor="W: SequenceMediatorFactory",
    body=Body.MEDIATORS,
    build=_sequence,
    attributes=(
        Attribute("name", Kind.NAME, "The sequence's name, used by key= references.", required=True),
        _ON_ERROR,
        Attribute("key", Kind.TEXT, "Accepted for compatibility; a named sequence is defined here, not referred."),
        Attribute(
            "transports",
            Kind.TEXT,
            "A proxy's attribute, copied onto a sequence (MI's own tests do).",
            ignored="SequenceMediatorFactory reads no transports; a sequence runs whatever brought the message",
        ),
    ),
)


# -- proxy ----------------------------------------------------------------------------------------------
def _part(tag: str, doc: str, *attributes: Attribute) -> Element:
    # W: SequenceMediatorFactory.createAnonymousSequence reads onError and the statistics/trace switches
    return Element(tag, doc, body=Body.MEDIATORS, attributes=attributes)


_TARGET_CHILDREN = (
    Child(_part("inSequence", "Mediators for each request.", _ON_ERROR), first_wins=True),
    Child(_part("outSequence", "Mediators for each reply from the target endpoint.", _ON_ERROR), first_wins=True),
    Child(_part("faultSequence", "Mediators for errors in this proxy (before the global `fault`)."), first_wins=True),
    Child(ENDPOINT, first_wins=True),
)
TARGET = Element(
    "target",
    "What the proxy does: sequences by key or inline, and the endpoint requests go to.",
    anchor="W: TargetFactory",
    children=_TARGET_CHILDREN,
    common=False,
    attributes=(
        Attribute(
            "inSequence", Kind.KEY, "A deployed sequence for requests (wins over an inline one).", refers_to="sequence"
        ),
        Attribute(
            "outSequence", Kind.KEY, "A deployed sequence for replies (wins over an inline one).", refers_to="sequence"
        ),
        Attribute(
            "faultSequence",
            Kind.KEY,
            "A deployed sequence for errors (a missing one falls back to `fault`).",
            refers_to="sequence",
            role="faultSequence",
        ),
        Attribute("endpoint", Kind.KEY, "A deployed endpoint requests are sent to.", refers_to="endpoint"),
    ),
)


PUBLISH_WSDL = Element(
    "publishWSDL",
    "The WSDL served at ?wsdl: inline, from a file (uri) or a local entry (key).",
    anchor="W: ProxyServiceFactory",
    body=Body.ANY,
    common=False,
    build=build_publish_wsdl,
    attributes=(
        Attribute("uri", Kind.TEXT, "A file path or file: URL (http(s) only from loopback, at deploy time)."),
        Attribute("key", Kind.TEXT, "A local entry holding the WSDL."),
        Attribute(
            "endpoint",
            Kind.TEXT,
            "Fetch the WSDL from an endpoint.",
            unsupported=NotYet(
                "publishWSDL endpoint= (fetching the endpoint's ?wsdl) is not supported",
                'save the WSDL and use uri="file:…" or key="…"',
            ),
        ),
        Attribute("preservePolicy", Kind.TEXT, "Keep WS-Policy in the WSDL (accepted)."),
    ),
)


def _proxy(node: Node) -> ProxyService:
    name = node["name"]
    transports = tuple(t for t in (node["transports"] or "http https").replace(",", " ").split() if t)
    if "all" in transports:
        transports = ("http", "https")
    target = node.one("target")
    assert target is not None  # required by the declaration
    parts = _target(target, name)
    fault_handler = ProxyFaultHandler(parts.fault_sequence, parts.fault_key, target.location)
    description = node.one("description")
    return ProxyService(
        name=name,
        location=node.location,
        transports=transports,
        start_on_load=node["startOnLoad"],
        statistics=node["statistics"] == "enable",
        trace=node["trace"] == "enable",
        description=(description.text.strip() or None) if description is not None else None,
        in_sequence=parts.in_sequence,
        out_sequence=parts.out_sequence,
        fault_sequence=parts.fault_sequence,
        fault_handler=fault_handler,
        endpoint=parts.endpoint,
        parameters=MappingProxyType({p["name"]: p.text.strip() for p in node.all("parameter")}),
        publish_wsdl=node.built("publishWSDL"),
    )


@dataclass(slots=True)
class _TargetParts:
    """What a proxy's <target> runs: its sequences (inline or by key) and its endpoint."""

    in_sequence: Mediator | None
    out_sequence: Mediator | None
    fault_sequence: Mediator | None  # inline
    endpoint: Endpoint | None
    fault_key: str | None = None  # faultSequence="NAME": looked up when a fault happens


def _target(target: Node, proxy_name: str) -> _TargetParts:
    inline: dict[str, Mediator | None] = {}
    for tag in ("inSequence", "outSequence", "faultSequence"):
        child = target.one(tag)
        if child is None:
            inline[tag] = None
            continue
        body = child.mediators()
        on_error = child["onError"]
        inline[tag] = (
            NamedSequence(f"{proxy_name}::{tag}", body, on_error.static_text, child.location)
            if on_error is not None
            else body
        )
    parts = _TargetParts(inline["inSequence"], inline["outSequence"], inline["faultSequence"], target.built("endpoint"))
    # The attribute wins over an inline child, as in MI (the child is ignored).
    if target.has("inSequence"):
        parts.in_sequence = SequenceRef(target["inSequence"], target.location)
    if target.has("outSequence"):
        parts.out_sequence = SequenceRef(target["outSequence"], target.location)
    if target.has("faultSequence"):
        key = target["faultSequence"]
        parts.fault_sequence, parts.fault_key = None, key.static_text or key.source.strip()
    if target.has("endpoint"):
        parts.endpoint = IndirectEndpoint(target.location, target["endpoint"])
    present = {local_name(child) for child in children(target.element)} | target.given
    if not present & {"inSequence", "endpoint"}:
        raise target.error("Target of the proxy service must declare either an inSequence or endpoint or both")
    return parts


PROXY = Element(
    "proxy",
    "A service at /services/NAME: its target sequences and endpoint, and optionally a WSDL.",
    anchor="W: ProxyServiceFactory",
    build=_proxy,
    common=False,
    children=(
        Child(TARGET, required=True, missing="Target is required for a Proxy service definition"),
        Child(Element("description", "Free text.", body=Body.TEXT, common=False), first_wins=True),
        Child(PUBLISH_WSDL, first_wins=True),
        Child(
            Element(
                "parameter",
                "A service parameter: a name, and text or XML.",
                body=Body.ANY,
                common=False,
                attributes=(Attribute("name", Kind.NAME, "Parameter name.", required=True),),
            ),
            repeatable=True,
        ),
        Child(
            Element(
                "policy",
                "A WS-Policy (accepted, no effect over plain HTTP).",
                common=False,
                attributes=(
                    Attribute("key", Kind.TEXT, "Policy key."),
                    Attribute("type", Kind.TEXT, "in, out or all."),
                    Attribute("operationName", Kind.TEXT, "Operation."),
                    Attribute("operationNamespace", Kind.TEXT, "Operation namespace."),
                ),
            ),
            repeatable=True,
        ),
        Child(Element("enableAddressing", "WS-Addressing (accepted, no effect).", common=False)),
        Child(Element("enableSec", "WS-Security (accepted, no effect).", common=False)),
        Child(Element("enableRM", "WS-ReliableMessaging (accepted, no effect).", common=False)),
    ),
    attributes=(
        Attribute("name", Kind.NAME, "The service name: /services/NAME.", required=True),
        Attribute("transports", Kind.TEXT, "http, https or both, separated by spaces or commas (default both)."),
        Attribute("startOnLoad", Kind.BOOLEAN, "false deploys the proxy stopped (it answers 503).", default=True),
        Attribute("serviceGroup", Kind.TEXT, "Axis2 service group (accepted, no effect)."),
        Attribute("pinnedServers", Kind.TEXT, "Servers that run this proxy (accepted, no effect)."),
        Attribute("onError", Kind.TEXT, "Accepted for compatibility; use the target's faultSequence."),
        STATISTICS,
        TRACE,
    ),
)


# -- local entry ----------------------------------------------------------------------------------------
def _local_entry(node: Node) -> LocalEntry:
    key = node["key"]
    elements = [child for child in node.others if not is_description(child)]
    if node.has("src"):
        src = node["src"]
        path = src[len("file:") :] if src.startswith("file:") else src
        if "://" in path:
            raise node.error("remote local-entry sources are not fetched", "inline the content")
        found = next((c for c in candidates(path, node.fctx) if c.is_file()), Path(path))
        try:
            with found.open(encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise node.error(
                f"cannot read src '{src}': {exc.strerror}",
                "a relative path is looked up next to the file, in the artifacts folder, then in the working directory",
            ) from None
        except ValueError:
            raise node.error(f"src '{src}' is not UTF-8 text") from None
        if text.lstrip().startswith("<"):  # W: SynapseConfigUtils.getObject: XML becomes an element (sample 12)
            try:
                return LocalEntry(key, parse_config_file(str(found), src, text.encode()), node.location, src)
            except DeployError:
                pass  # not XML after all: its text
        return LocalEntry(key, text, node.location, src)
    if len(elements) > 1:
        raise node.error("a local entry holds text or exactly one XML element")
    if elements:
        connectors = node.fctx.connectors
        if connectors is not None:  # a connection entry (<twilioRest.init>) is checked now, not per message
            connectors.check_local_entry(elements[0], node.fctx.path)
        return LocalEntry(key, copy.deepcopy(elements[0]), node.location)
    root = node.element
    text = (root.text or "") + "".join(child.tail or "" for child in root)  # W: getText(), around a description
    return LocalEntry(key, text.strip(), node.location)


LOCAL_ENTRY = Element(
    "localEntry",
    "A named value: text, one XML element (a WSDL, a connection, a format), or a file (src).",
    anchor="W: EntryFactory",
    body=Body.ANY,
    build=_local_entry,
    common=False,
    attributes=(
        Attribute("key", Kind.NAME, "The entry's key.", required=True),
        Attribute("src", Kind.TEXT, "A local file whose text is the value."),
    ),
)


# -- template -------------------------------------------------------------------------------------------
def _template(node: Node) -> SequenceTemplate | EndpointTemplate:
    parameters = tuple(TemplateParameter(p["name"], p["isMandatory"], p["defaultValue"]) for p in node.all("parameter"))
    names = [parameter.name for parameter in parameters]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise node.error(f"parameter '{duplicates[0]}' is declared more than once", "declare each parameter once")
    sequence, endpoint = node.one("sequence"), node.one("endpoint")
    if sequence is not None and endpoint is not None:
        raise node.error("a template holds a <sequence> or an <endpoint>, not both", "make two templates")
    if endpoint is not None:  # W: TemplateFactory.createEndpointTemplate: kept to be instantiated per use
        return EndpointTemplate(node["name"], parameters, copy.deepcopy(endpoint.element), node.location)
    if sequence is None:
        raise node.error("a template needs a <sequence> (or an <endpoint>)")
    on_error = node["onError"]
    return SequenceTemplate(
        node["name"], parameters, sequence.mediators(), on_error.static_text if on_error else None, node.location
    )


TEMPLATE = Element(
    "template",
    "A sequence template (parameters and a sequence, run by call-template), or an endpoint template.",
    anchor="W: TemplateMediatorFactory",
    build=_template,
    children=(
        Child(
            Element(
                "parameter",
                "A parameter the template reads as $func:NAME (or get-property('func', 'NAME')).",
                attributes=(
                    Attribute("name", Kind.NAME, "Parameter name.", required=True),
                    Attribute(
                        "isMandatory",
                        Kind.BOOLEAN,
                        "A caller must give it (even when it has a default, as in MI): else error 500101.",
                        default=False,
                    ),
                    Attribute("defaultValue", Kind.TEXT, "The value when the caller gives no with-param."),
                ),
            ),
            repeatable=True,
        ),
        Child(Element("sequence", "The template's mediators.", body=Body.MEDIATORS, common=False)),
        Child(
            Element(
                "endpoint",
                "An endpoint template: an endpoint whose attribute values and texts may be `$PARAM` ($name, $uri "
                "and the declared parameters), filled in by each <endpoint template=…>.",
                anchor="W: TemplateFactory, Template",
                body=Body.ANY,
                attributes=(Attribute("name", Kind.TEXT, "The endpoint's name, usually $name."),),
            )
        ),
    ),
    attributes=(
        Attribute("name", Kind.NAME, "The template's name, the target of call-template.", required=True),
        Attribute(
            "onError",
            Kind.KEY,
            "A sequence that handles errors raised while the template runs.",
            refers_to="sequence",
            role="onError",
        ),
    ),
)


# root element -> (kind, configuration attribute, declaration)
ARTIFACTS: dict[str, tuple[str, str, Element]] = {
    "localEntry": ("localEntry", "local_entries", LOCAL_ENTRY),
    "endpoint": ("endpoint", "endpoints", ENDPOINT_ARTIFACT),
    "sequence": ("sequence", "sequences", SEQUENCE_ARTIFACT),
    "template": ("template", "templates", TEMPLATE),
    "proxy": ("proxy", "proxies", PROXY),
    "api": ("api", "apis", API),
    "messageStore": ("messageStore", "message_stores", MESSAGE_STORE),
    "messageProcessor": ("messageProcessor", "message_processors", MESSAGE_PROCESSOR),
    "task": ("task", "tasks", TASK),
    "inboundEndpoint": ("inboundEndpoint", "inbound_endpoints", INBOUND_ENDPOINT),
}
