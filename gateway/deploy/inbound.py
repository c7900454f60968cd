"""`<inboundEndpoint>` artifacts from inbound-endpoints/ (W: config/xml/inbound/InboundEndpointFactory): the
HTTP listener, the file poller and the RabbitMQ consumer; MI's other protocols are named as not supported."""

from __future__ import annotations

import re
from types import MappingProxyType

from gateway.deploy.declare import Attribute, Child, Element, Kind, Node
from gateway.deploy.registry import Reference
from gateway.deploy.stores import PARAMETER
from gateway.expressions import compile_value
from gateway.mediators.sequence import ProxyFaultHandler, SequenceRef
from gateway.runtime.configuration import ProxyService
from gateway.runtime.inbound import InboundSpec

_SUPPORTED = ("http", "file", "rabbitmq")
_NOT_YET = {
    "https": "the HTTPS inbound endpoint",
    "jms": "JMS (there is no JMS client for Python; a RabbitMQ inbound endpoint consumes AMQP queues)",
    "mqtt": "the MQTT inbound endpoint",
    "kafka": "the Kafka inbound endpoint",
    "ws": "the WebSocket inbound endpoint",
    "wss": "the WebSocket inbound endpoint",
    "httpws": "the HTTP/WebSocket inbound endpoint",
    "httpswss": "the HTTPS/WebSocket inbound endpoint",
    "hl7": "the HL7 inbound endpoint",
    "cxf_ws_rm": "the WS-ReliableMessaging inbound endpoint",
}


def _inbound(node: Node) -> InboundSpec:
    name = node["name"]
    protocol = (node["protocol"] or "").strip().lower()
    if node["class"]:
        raise node.error(
            f"custom inbound endpoint classes ({node['class']}) are not supported",
            f"use protocol={' / '.join(_SUPPORTED)}",
        )
    if protocol in _NOT_YET:
        raise node.error(f"{_NOT_YET[protocol]} is not supported yet", f"supported protocols: {', '.join(_SUPPORTED)}")
    if protocol not in _SUPPORTED:
        raise node.error(f"unknown inbound protocol '{protocol}'", f"use one of: {', '.join(_SUPPORTED)}")
    holder = node.one("parameters")
    parameters = tuple((p["name"], (p["#text"] or "").strip()) for p in holder.all("parameter")) if holder else ()
    values = dict(parameters)
    sequence = node["sequence"] or None
    on_error = node["onError"] or None
    where = node.location
    for key in (sequence, on_error):
        if key is not None:
            node.fctx.references.append(Reference("sequence", key, where, "inboundEndpoint", "call"))
    flow = None
    if sequence is not None:
        flow = ProxyService(
            name=name,
            location=where,
            fault_handler=ProxyFaultHandler(None, on_error, where),
            transports=("http",),
            in_sequence=SequenceRef(compile_value(sequence), where),
            parameters=MappingProxyType({"inbound.endpoint.name": name}),  # the property its messages carry
        )
    elif protocol != "http":
        raise node.error(f"a {protocol} inbound endpoint needs a sequence", 'sequence="SequenceName"')
    port = None
    dispatch = None
    if protocol == "http":
        text = values.get("inbound.http.port", "")
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise node.error(f"inbound.http.port must be a port number, not '{text}'")
        port = int(text)
        if sequence is None:
            try:
                dispatch = re.compile(values.get("dispatch.filter.pattern", ".*"))
            except re.error as exc:
                raise node.error(f"dispatch.filter.pattern is not a regular expression: {exc}") from None
    elif protocol == "file":
        uri = values.get("transport.vfs.FileURI", "")
        if not uri.startswith("file:"):
            raise node.error(
                f"transport.vfs.FileURI '{uri}' is not a local file: URI", "file:///path/to/folder (no FTP/SFTP yet)"
            )
        for key in ("transport.vfs.ActionAfterProcess", "transport.vfs.ActionAfterFailure"):
            if values.get(key, "DELETE").upper() not in ("DELETE", "MOVE"):
                raise node.error(f"{key} must be DELETE or MOVE")
            if values.get(key, "").upper() == "MOVE" and not values.get(key.replace("ActionAfter", "MoveAfter")):
                raise node.error(f"{key}=MOVE needs {key.replace('ActionAfter', 'MoveAfter')}")
    elif protocol == "rabbitmq" and not values.get("rabbitmq.queue.name"):
        raise node.error("a RabbitMQ inbound endpoint needs rabbitmq.queue.name")
    return InboundSpec(
        name=name,
        protocol=protocol,
        parameters=parameters,
        sequence=sequence,
        on_error=on_error,
        flow=flow,
        port=port,
        dispatch=dispatch,
        suspended=node["suspend"] is True,
        location=where,
    )


INBOUND_ENDPOINT = Element(
    "inboundEndpoint",
    "A listener or poller that injects messages into a sequence: protocol http, file or rabbitmq.",
    anchor="W: InboundEndpointFactory; MI inbound endpoints",
    build=_inbound,
    common=False,
    children=(
        Child(
            Element(
                "parameters",
                "The protocol's parameters (MI's names).",
                common=False,
                children=(Child(PARAMETER, repeatable=True),),
            )
        ),
    ),
    attributes=(
        Attribute("name", Kind.NAME, "The inbound endpoint's name.", required=True),
        Attribute("protocol", Kind.TEXT, "http, file or rabbitmq."),
        Attribute("class", Kind.TEXT, "A custom inbound class (not supported)."),
        Attribute("sequence", Kind.TEXT, "The sequence each message runs."),
        Attribute("onError", Kind.TEXT, "The sequence that handles its errors."),
        Attribute("suspend", Kind.BOOLEAN, "Deployed but not started.", default=False),
        Attribute("statistics", Kind.TEXT, "Accepted (MI's statistics switch)."),
        Attribute("trace", Kind.TEXT, "Accepted (MI's tracing switch)."),
        Attribute("description", Kind.TEXT, "Free text for tools; no effect."),
    ),
)
