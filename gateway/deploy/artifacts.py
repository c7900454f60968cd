"""Artifact factories: proxy, sequence, endpoint, localEntry, template (W: *Factory)."""

from __future__ import annotations

from types import MappingProxyType

from lxml import etree

from gateway.deploy.registry import FactoryContext
from gateway.deploy.xmlutil import (
    boolean_attribute,
    check_attributes,
    children,
    choice_attribute,
    config_error,
    did_you_mean,
    is_description,
    local_name,
    location,
    prefixed_namespaces,
    require_attribute,
)
from gateway.errors import ExpressionError
from gateway.expressions import compile_value
from gateway.mediators.sequence import NamedSequence, ProxyFaultHandler, SequenceRef
from gateway.runtime.configuration import LocalEntry, ProxyService, Template
from gateway.runtime.endpoints import FORMATS, AddressEndpoint, Endpoint, HttpEndpoint, IndirectEndpoint

_PROXY_ATTRS = ("name", "transports", "startOnLoad", "statistics", "trace", "serviceGroup", "pinnedServers",
                "onError")
# proxy child -> its attributes (W: ProxyServiceFactory)
_PROXY_CHILDREN = {"description": (), "target": None, "publishWSDL": None, "parameter": ("name",),
                   "policy": ("key", "type", "operationName", "operationNamespace"), "enableAddressing": (),
                   "enableSec": (), "enableRM": ()}
_TARGET_PARTS = ("inSequence", "outSequence", "faultSequence", "endpoint")  # as attributes or as children
# W: SequenceMediatorFactory.createAnonymousSequence reads onError and the statistics/trace switches
_INLINE_SEQUENCE_ATTRS = ("onError", "statistics", "trace")


def dynamic_key(element: etree._Element, text: str):
    """A `key` that may be `{expr}`; compiled now, resolved per message."""
    try:
        return compile_value(text, prefixed_namespaces(element))
    except ExpressionError as exc:
        raise config_error(element, f"invalid key expression '{text}': {exc}") from None


def build_proxy(root: etree._Element, fctx: FactoryContext) -> ProxyService:
    with fctx.collect(root):
        check_attributes(root, _PROXY_ATTRS)
    name = ""
    with fctx.collect(root):
        name = require_attribute(root, "name")
    transports = tuple(t for t in (root.get("transports") or "http https").replace(",", " ").split() if t)
    if "all" in transports:
        transports = ("http", "https")
    target = None
    description = None
    parameters: dict[str, str] = {}
    publish_wsdl = None
    for child in children(root):
        tag = local_name(child)
        with fctx.collect(child):
            if tag not in _PROXY_CHILDREN:
                raise config_error(child, f"unknown proxy child <{tag}>",
                                   did_you_mean(tag, _PROXY_CHILDREN) or f"allowed: {', '.join(_PROXY_CHILDREN)}")
            allowed = _PROXY_CHILDREN[tag]
            if allowed is not None:
                check_attributes(child, allowed)
            if tag == "target":
                if target is not None:
                    raise config_error(child, "a proxy has exactly one <target>")
                target = child
            elif tag == "description":
                description = (child.text or "").strip() or None
            elif tag == "parameter":
                parameters[require_attribute(child, "name")] = (child.text or "").strip()
            elif tag == "publishWSDL":
                from gateway.deploy.wsdl import build_publish_wsdl

                publish_wsdl = build_publish_wsdl(child, fctx)
            # policies / addressing / security: accepted, no effect on plain HTTP
    if target is None:
        raise config_error(root, "Target is required for a Proxy service definition", "add a <target> element")
    parts = _target(target, name, fctx)
    fault = parts["faultSequence"]
    fault_handler = ProxyFaultHandler(None, fault, location(target, fctx.path)) if isinstance(fault, str) \
        else ProxyFaultHandler(fault, None, location(target, fctx.path))
    return ProxyService(
        name=name, location=location(root, fctx.path), transports=transports,
        start_on_load=boolean_attribute(root, "startOnLoad", True),
        statistics=root.get("statistics") == "enable", trace=root.get("trace") == "enable",
        description=description, in_sequence=parts["inSequence"], out_sequence=parts["outSequence"],
        fault_sequence=fault if not isinstance(fault, str) else None, fault_handler=fault_handler,
        endpoint=parts["endpoint"], parameters=MappingProxyType(parameters), publish_wsdl=publish_wsdl,
    )


def _target(target: etree._Element, name: str, fctx: FactoryContext) -> dict:
    with fctx.collect(target):
        check_attributes(target, _TARGET_PARTS)
    parts: dict = dict.fromkeys(_TARGET_PARTS)
    for child in children(target):
        tag = local_name(child)
        if is_description(child):
            continue
        with fctx.collect(child):
            if tag not in parts:
                raise config_error(child, f"unknown target child <{tag}>",
                                   did_you_mean(tag, parts) or f"allowed: {', '.join(_TARGET_PARTS)}")
            if tag == "endpoint":
                parts[tag] = build_endpoint(child, fctx, anonymous=True)
                continue
            with fctx.collect(child):
                check_attributes(child, _INLINE_SEQUENCE_ATTRS if tag != "faultSequence" else ("statistics", "trace"))
            body = fctx.build_list(child)
            on_error = child.get("onError")
            fctx.refer("sequence", on_error, child, "onError")
            parts[tag] = NamedSequence(f"{name}::{tag}", body, on_error, location(child, fctx.path)) \
                if on_error else body
    # The attribute wins over an inline child, as in MI (the child is ignored).
    for attr in _TARGET_PARTS:
        key = target.get(attr)
        if not key:
            continue
        with fctx.collect(target):
            if attr == "faultSequence":
                parts[attr] = key
                fctx.refer("sequence", key, target, "faultSequence")
            elif attr == "endpoint":
                value = dynamic_key(target, key)
                parts[attr] = IndirectEndpoint(location(target, fctx.path), value)
                fctx.refer("endpoint", value, target)
            else:
                value = dynamic_key(target, key)
                parts[attr] = SequenceRef(value, location(target, fctx.path))
                fctx.refer("sequence", value, target)
    # What MI checks is the configuration, not what built: a broken inSequence is its own problem.
    present = {local_name(child) for child in children(target)} | {a for a in _TARGET_PARTS if target.get(a)}
    if not present & {"inSequence", "endpoint"}:
        raise config_error(target, "Target of the proxy service must declare either an inSequence or endpoint "
                           "or both")
    return parts


def build_sequence(root: etree._Element, fctx: FactoryContext) -> NamedSequence:
    with fctx.collect(root):
        check_attributes(root, ("name", "onError", "statistics", "trace", "key"))
    name = require_attribute(root, "name")
    fctx.refer("sequence", root.get("onError"), root, "onError")
    body = fctx.build_list(root)
    return NamedSequence(name, body, root.get("onError"), location(root, fctx.path))


# MI's endpoint types, in the order W: EndpointFactory.getEndpointFactory looks for them
_ENDPOINT_KINDS = ("address", "wsdl", "default", "loadbalance", "dynamicLoadbalance", "serviceDynamicLoadbalance",
                   "failover", "recipientlist", "http", "class")
_SUPPORTED_KINDS = ("address", "http")
# endpoint child -> its attributes
_ENDPOINT_EXTRAS = {"property": ("name", "value", "expression", "scope", "description"),
                    "parameter": ("name", "value"), "description": (), "session": ("type",)}


def build_endpoint(element: etree._Element, fctx: FactoryContext, anonymous: bool = False) -> Endpoint:
    with fctx.collect(element):
        check_attributes(element, ("name", "key", "key-expression", "template", "uri", "onError", "statistics",
                                   "trace"))
    where = location(element, fctx.path)
    key = element.get("key")
    name = element.get("name")
    if key:  # W: a key wins over everything else
        value = dynamic_key(element, key)
        fctx.refer("endpoint", value, element)
        return IndirectEndpoint(where, value)
    if element.get("key-expression") is not None:
        raise config_error(element, "key-expression endpoints (resolved per message) are not supported yet",
                           'key="{expression}" is resolved per message too')
    if element.get("template") is not None:
        raise config_error(element, "endpoint templates are not supported yet",
                           "inline the endpoint definition, or name a deployed endpoint with key=")
    if not anonymous and not name:
        raise config_error(element, "the 'name' attribute is required for a named endpoint")
    definitions = []
    for child in children(element):
        tag = local_name(child)
        with fctx.collect(child):
            if tag in _ENDPOINT_KINDS:
                definitions.append(child)
            elif tag in _ENDPOINT_EXTRAS:
                check_attributes(child, _ENDPOINT_EXTRAS[tag])
            else:
                raise config_error(child, f"unknown endpoint child <{tag}>",
                                   did_you_mean(tag, [*_ENDPOINT_KINDS, *_ENDPOINT_EXTRAS])
                                   or f"an endpoint holds one of: {', '.join(_ENDPOINT_KINDS)}")
    if not definitions:
        raise config_error(element, "an endpoint needs one of <address>, <http> (or another MI endpoint type)",
                           "e.g. <address uri=\"http://host:port/path\"/>")
    definition = min(definitions, key=lambda d: _ENDPOINT_KINDS.index(local_name(d)))
    kind = local_name(definition)
    if len(definitions) > 1:
        others = ", ".join(f"<{local_name(d)}>" for d in definitions if d is not definition)
        raise config_error(element, f"an endpoint has one type, not <{kind}> and {others}",
                           f"MI silently uses <{kind}>; remove the others")
    if kind not in _SUPPORTED_KINDS:
        raise config_error(definition, f"<{kind}> endpoints are not supported yet", "use <address> or <http>")
    for session in (c for c in children(element) if local_name(c) == "session"):
        raise config_error(session, "a <session> only applies to a <loadbalance> endpoint", "remove it")
    timeout = None
    with fctx.collect(definition):
        timeout = _timeout(definition)
    _check_endpoint_children(definition, fctx)
    if kind == "address":
        check_attributes(definition, ("uri", "format", "optimize", "encoding", "statistics", "trace"))
        uri = require_attribute(definition, "uri")
        _check_address(definition, uri)
        fmt = choice_attribute(definition, "format", FORMATS, None)
        return AddressEndpoint(name, where, timeout, uri, fmt)
    check_attributes(definition, ("uri-template", "method", "format", "statistics", "trace"))
    template = require_attribute(definition, "uri-template")
    method = choice_attribute(definition, "method",
                              ("get", "post", "put", "delete", "patch", "head", "options",
                               "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"), None)
    fmt = choice_attribute(definition, "format", FORMATS, None)
    return HttpEndpoint(name, where, timeout, template, method, fmt)


# W: EndpointDefinitionFactory: child -> (attributes, {grandchild: how its text is read}); MI refuses a value
# that does not parse, so do we. `suspendDurationOnFailure` is Synapse 1.2's form, still read by MI.
_CODES, _INT, _FLOAT = "codes", "int", "float"
_ENDPOINT_CHILDREN: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "timeout": ((), {"duration": "", "responseAction": ""}),
    "suspendOnFailure": ((), {"errorCodes": _CODES, "initialDuration": _INT, "progressionFactor": _FLOAT,
                              "maximumDuration": _INT}),
    "markForSuspension": ((), {"errorCodes": _CODES, "retriesBeforeSuspension": _INT, "retryDelay": _INT}),
    "retryConfig": ((), {"disabledErrorCodes": _CODES, "enabledErrorCodes": _CODES}),
    "enableAddressing": (("version", "separateListener"), {}),
    "enableSec": (("policy", "inboundPolicy", "outboundPolicy"), {}),
    "enableRM": (("policy",), {}),
    "suspendDurationOnFailure": ((), {}),
}
_NOT_YET_CHILDREN = {"authentication": "endpoint authentication (basic auth, OAuth) is not supported yet"}


def _check_endpoint_children(definition: etree._Element, fctx: FactoryContext) -> None:
    for child in children(definition):
        tag = local_name(child)
        with fctx.collect(child):
            if tag in _NOT_YET_CHILDREN:
                raise config_error(child, _NOT_YET_CHILDREN[tag])
            if tag not in _ENDPOINT_CHILDREN:
                raise config_error(child, f"unknown endpoint child <{tag}>",
                                   did_you_mean(tag, _ENDPOINT_CHILDREN) or f"allowed: {', '.join(_ENDPOINT_CHILDREN)}")
            attributes, parts = _ENDPOINT_CHILDREN[tag]
            check_attributes(child, attributes)
            if tag == "suspendDurationOnFailure":
                _number(child, _INT)
            if tag == "enableAddressing" and child.get("version") is not None:
                choice_attribute(child, "version", ("final", "submission"), None)
            for part in children(child):
                with fctx.collect(part):
                    part_tag = local_name(part)
                    if part_tag not in parts:
                        raise config_error(part, f"unexpected <{part_tag}> inside <{tag}>",
                                           did_you_mean(part_tag, parts) or f"allowed: {', '.join(parts) or 'none'}")
                    check_attributes(part, ())
                    if parts[part_tag]:
                        _number(part, parts[part_tag])


def _number(element: etree._Element, kind: str) -> None:
    text = (element.text or "").strip()
    values = text.replace(",", " ").split() if kind == _CODES else [text]
    try:
        for value in values:
            float(value) if kind == _FLOAT else int(value)
    except ValueError:
        what = "numbers separated by commas" if kind == _CODES else "a decimal number" if kind == _FLOAT \
            else "a whole number"
        raise config_error(element, f"<{local_name(element)}> must be {what}, not '{text}'") from None


def _check_address(definition: etree._Element, uri: str) -> None:
    from yarl import URL

    try:
        url = URL(uri)
    except ValueError as exc:
        raise config_error(definition, f"invalid uri '{uri}': {exc}") from None
    if url.scheme not in ("http", "https"):
        raise config_error(definition, f"the '{url.scheme or 'relative'}' transport of uri '{uri}' is not supported",
                           "use an absolute http:// or https:// address")
    if not url.host:
        raise config_error(definition, f"uri '{uri}' has no host", "e.g. http://localhost:9000/service")


def _timeout(definition: etree._Element) -> float | None:
    """`<timeout><duration>ms</duration><responseAction>…` (W: EndpointDefinitionFactory: milliseconds as a
    Java long; 0 leaves the transport's timeout in place, so here it means the gateway default)."""
    for child in children(definition):
        if local_name(child) != "timeout":
            continue
        for part in children(child):
            if local_name(part) == "responseAction":
                action = (part.text or "").strip()
                if action.lower() not in ("discard", "fault"):
                    raise config_error(part, f"invalid timeout responseAction '{action}'", "use discard or fault")
        for part in children(child):
            if local_name(part) != "duration":
                continue
            text = (part.text or "").strip()
            if text.startswith("{") and text.endswith("}"):
                raise config_error(part, "dynamic timeouts ({…} durations) are not supported yet",
                                   "give the duration in milliseconds")
            try:
                millis = int(text)
            except ValueError:
                raise config_error(part, f"timeout duration must be whole milliseconds, not '{text}'") from None
            if millis < 0:
                raise config_error(part, "timeout duration must not be negative",
                                   "MI reads a negative duration as no endpoint timeout; write 0 for that")
            return millis / 1000.0 if millis else None
    return None


def build_local_entry(root: etree._Element, fctx: FactoryContext) -> LocalEntry:
    with fctx.collect(root):
        check_attributes(root, ("key", "src"))
    key = require_attribute(root, "key")
    # W: EntryFactory detaches a <description> before reading the value
    elements = [child for child in children(root) if not is_description(child)]
    if root.get("src"):
        src = root.get("src")
        path = src[len("file:"):] if src.startswith("file:") else src
        if "://" in path:
            raise config_error(root, "remote local-entry sources are not fetched", "inline the content")
        try:
            with open(path, encoding="utf-8") as handle:
                return LocalEntry(key, handle.read(), location(root, fctx.path), src)
        except OSError as exc:
            raise config_error(root, f"cannot read src '{src}': {exc.strerror}") from None
        except ValueError:
            raise config_error(root, f"src '{src}' is not UTF-8 text") from None
    if len(elements) > 1:
        raise config_error(root, "a local entry holds text or exactly one XML element")
    if elements:
        import copy

        if fctx.connectors is not None:  # a connection entry (<twilioRest.init>) is checked now, not per message
            fctx.connectors.check_local_entry(elements[0], fctx.path)
        return LocalEntry(key, copy.deepcopy(elements[0]), location(root, fctx.path))
    text = (root.text or "") + "".join(child.tail or "" for child in root)  # W: getText(), around a description
    return LocalEntry(key, text.strip(), location(root, fctx.path))


def build_template(root: etree._Element, fctx: FactoryContext) -> Template:
    with fctx.collect(root):
        check_attributes(root, ("name", "onError", "statistics", "trace"))
    name = require_attribute(root, "name")
    params: list[tuple[str, bool, str | None]] = []
    body = None
    for child in children(root):
        tag = local_name(child)
        with fctx.collect(child):
            if tag == "parameter":
                check_attributes(child, ("name", "isMandatory", "defaultValue", "description"))
                params.append((require_attribute(child, "name"), boolean_attribute(child, "isMandatory", False),
                               child.get("defaultValue")))
            elif tag == "sequence":
                with fctx.collect(child):
                    check_attributes(child, ())
                body = fctx.build_list(child)
            elif tag == "endpoint":
                raise config_error(child, "endpoint templates are not supported yet")
            elif not is_description(child):
                raise config_error(child, f"unknown template child <{tag}>",
                                   did_you_mean(tag, ("parameter", "sequence")) or "use <parameter> and <sequence>")
    if body is None and not any(local_name(child) in ("sequence", "endpoint") for child in children(root)):
        raise config_error(root, "a template needs a <sequence>")
    return Template(name, tuple(params), body, location(root, fctx.path))
