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
_PROXY_CHILDREN = ("description", "target", "publishWSDL", "policy", "parameter", "enableAddressing",
                   "enableSec", "enableRM")
_TARGET_ATTRS = ("inSequence", "outSequence", "faultSequence", "endpoint")


def dynamic_key(element: etree._Element, text: str):
    """A `key` that may be `{expr}`; compiled now, resolved per message."""
    try:
        return compile_value(text, prefixed_namespaces(element))
    except ExpressionError as exc:
        raise config_error(element, f"invalid key expression '{text}': {exc}") from None


def build_proxy(root: etree._Element, fctx: FactoryContext) -> ProxyService:
    check_attributes(root, _PROXY_ATTRS)
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
        if tag == "target":
            if target is not None:
                raise config_error(child, "a proxy has exactly one <target>")
            target = child
        elif tag == "description":
            description = (child.text or "").strip() or None
        elif tag == "parameter":
            parameters[require_attribute(child, "name")] = (child.text or "").strip()
        elif tag == "publishWSDL":
            publish_wsdl = child
        elif tag in _PROXY_CHILDREN:
            continue  # policies / addressing / security: accepted, no effect on plain HTTP
        else:
            raise config_error(child, f"unknown proxy child <{tag}>",
                               did_you_mean(tag, _PROXY_CHILDREN) or f"allowed: {', '.join(_PROXY_CHILDREN)}")
    if target is None:
        raise config_error(root, "Target is required for a Proxy service definition", "add a <target> element")
    check_attributes(target, _TARGET_ATTRS)
    parts = {"inSequence": None, "outSequence": None, "faultSequence": None, "endpoint": None}
    for child in children(target):
        tag = local_name(child)
        if tag not in parts:
            raise config_error(child, f"unknown target child <{tag}>",
                               did_you_mean(tag, parts) or "allowed: inSequence, outSequence, faultSequence, "
                               "endpoint")
        if tag == "endpoint":
            parts[tag] = build_endpoint(child, fctx, anonymous=True)
        else:
            check_attributes(child, ("onError",) if tag != "faultSequence" else ())
            body = fctx.build_list(child)
            on_error = child.get("onError")
            parts[tag] = NamedSequence(f"{name}::{tag}", body, on_error, location(child, fctx.path)) \
                if on_error else body
    # The attribute wins over an inline child, as in MI (the child is ignored).
    for attr in ("inSequence", "outSequence", "faultSequence"):
        key = target.get(attr)
        if key:
            parts[attr] = SequenceRef(dynamic_key(target, key), location(target, fctx.path)) \
                if attr != "faultSequence" else key
    endpoint_key = target.get("endpoint")
    if endpoint_key:
        parts["endpoint"] = IndirectEndpoint(location(target, fctx.path), dynamic_key(target, endpoint_key))
    if parts["inSequence"] is None and parts["endpoint"] is None:
        raise config_error(target, "Target of the proxy service must declare either an inSequence or endpoint "
                           "or both")
    fault = parts["faultSequence"]
    fault_handler = ProxyFaultHandler(None, fault, location(target, fctx.path)) if isinstance(fault, str) \
        else ProxyFaultHandler(fault, None, location(target, fctx.path))
    if publish_wsdl is not None:
        from gateway.deploy.wsdl import build_publish_wsdl

        publish_wsdl = build_publish_wsdl(publish_wsdl, fctx)
    return ProxyService(
        name=name, location=location(root, fctx.path), transports=transports,
        start_on_load=boolean_attribute(root, "startOnLoad", True),
        statistics=(root.get("statistics") or "disable") == "enable",
        trace=(root.get("trace") or "disable") == "enable",
        description=description, in_sequence=parts["inSequence"], out_sequence=parts["outSequence"],
        fault_sequence=fault if not isinstance(fault, str) else None, fault_handler=fault_handler,
        endpoint=parts["endpoint"], parameters=MappingProxyType(parameters), publish_wsdl=publish_wsdl,
    )


def build_sequence(root: etree._Element, fctx: FactoryContext) -> NamedSequence:
    check_attributes(root, ("name", "onError", "statistics", "trace", "key"))
    name = require_attribute(root, "name")
    body = fctx.build_list(root)
    return NamedSequence(name, body, root.get("onError"), location(root, fctx.path))


_ENDPOINT_KINDS = ("address", "http", "default", "wsdl", "loadbalance", "failover", "recipientlist")


def build_endpoint(element: etree._Element, fctx: FactoryContext, anonymous: bool = False) -> Endpoint:
    check_attributes(element, ("name", "key", "template", "uri", "onError", "statistics", "trace"))
    where = location(element, fctx.path)
    key = element.get("key")
    name = element.get("name")
    if key:
        return IndirectEndpoint(where, dynamic_key(element, key))
    if not anonymous and not name:
        raise config_error(element, "the 'name' attribute is required for a named endpoint")
    kinds = [c for c in children(element) if local_name(c) not in ("property", "parameter", "description")]
    if len(kinds) != 1:
        raise config_error(element, "an endpoint needs exactly one of <address>, <http>",
                           "e.g. <address uri=\"http://host:port/path\"/>")
    definition = kinds[0]
    kind = local_name(definition)
    timeout = _timeout(definition)
    if kind == "address":
        check_attributes(definition, ("uri", "format", "optimize", "encoding", "statistics", "trace"))
        uri = require_attribute(definition, "uri")
        _check_address(definition, uri)
        fmt = choice_attribute(definition, "format", FORMATS, None)
        _check_endpoint_children(definition)
        return AddressEndpoint(name, where, timeout, uri, fmt)
    if kind == "http":
        check_attributes(definition, ("uri-template", "method", "format", "statistics", "trace"))
        template = require_attribute(definition, "uri-template")
        method = choice_attribute(definition, "method",
                                  ("get", "post", "put", "delete", "patch", "head", "options",
                                   "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"), None)
        fmt = choice_attribute(definition, "format", FORMATS, None)
        _check_endpoint_children(definition)
        return HttpEndpoint(name, where, timeout, template, method, fmt)
    if kind in _ENDPOINT_KINDS:
        raise config_error(definition, f"<{kind}> endpoints are not supported yet",
                           "use <address> or <http>")
    raise config_error(definition, f"unknown endpoint type <{kind}>",
                       did_you_mean(kind, _ENDPOINT_KINDS) or "use <address> or <http>")


_ENDPOINT_CHILDREN = ("timeout", "suspendOnFailure", "markForSuspension", "enableAddressing", "enableSec",
                      "enableRM", "retryConfig")


def _check_endpoint_children(definition: etree._Element) -> None:
    for child in children(definition):
        tag = local_name(child)
        if tag not in _ENDPOINT_CHILDREN:
            raise config_error(child, f"unknown endpoint child <{tag}>",
                               did_you_mean(tag, _ENDPOINT_CHILDREN) or f"allowed: {', '.join(_ENDPOINT_CHILDREN)}")


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
    """`<timeout><duration>ms</duration>…` (MI uses milliseconds)."""
    for child in children(definition):
        if local_name(child) != "timeout":
            continue
        for part in children(child):
            if local_name(part) == "duration":
                try:
                    millis = float((part.text or "").strip())
                except ValueError:
                    raise config_error(part, f"timeout duration must be milliseconds, not '{part.text}'") from None
                if millis <= 0:
                    raise config_error(part, "timeout duration must be positive")
                return millis / 1000.0
    return None


def build_local_entry(root: etree._Element, fctx: FactoryContext) -> LocalEntry:
    check_attributes(root, ("key", "src"))
    key = require_attribute(root, "key")
    elements = children(root)
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
    if len(elements) > 1:
        raise config_error(root, "a local entry holds text or exactly one XML element")
    if elements:
        import copy

        if fctx.connectors is not None:  # a connection entry (<twilioRest.init>) is checked now, not per message
            fctx.connectors.check_local_entry(elements[0], fctx.path)
        return LocalEntry(key, copy.deepcopy(elements[0]), location(root, fctx.path))
    return LocalEntry(key, (root.text or "").strip(), location(root, fctx.path))


def build_template(root: etree._Element, fctx: FactoryContext) -> Template:
    check_attributes(root, ("name", "onError", "statistics", "trace"))
    name = require_attribute(root, "name")
    params: list[tuple[str, bool, str | None]] = []
    body = None
    for child in children(root):
        tag = local_name(child)
        if tag == "parameter":
            check_attributes(child, ("name", "isMandatory", "defaultValue", "description"))
            params.append((require_attribute(child, "name"), boolean_attribute(child, "isMandatory", False),
                           child.get("defaultValue")))
        elif tag == "sequence":
            body = fctx.build_list(child)
        elif tag == "endpoint":
            raise config_error(child, "endpoint templates are not supported yet")
        else:
            raise config_error(child, f"unknown template child <{tag}>",
                               did_you_mean(tag, ("parameter", "sequence")) or "use <parameter> and <sequence>")
    if body is None:
        raise config_error(root, "a template needs a <sequence>")
    return Template(name, tuple(params), body, location(root, fctx.path))
