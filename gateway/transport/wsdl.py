"""`GET /services/NAME?wsdl`: the proxy's WSDL 1.1 (docs/synapse-semantics.md §1.2).

Without publishWSDL a WSDL is generated with one in-out operation `mediate` and SOAP 1.1, SOAP 1.2 and
HTTP bindings (W: ProxyService, "Assuming a POX or Legacy service"). A published WSDL is served with its
soap:address / soap12:address / http:address locations set to the proxy's real address (taken from the
request's scheme and Host), unless the proxy parameter `useOriginalwsdl` or `modifyUserWSDLPortAddress`
says otherwise (W: parameters of the same names)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from lxml import etree
from lxml.builder import ElementMaker

from gateway.message import kinds
from gateway.runtime.configuration import WSDL11_NS

if TYPE_CHECKING:
    from gateway.runtime.configuration import ProxyService

log = logging.getLogger("gateway.wsdl")

SOAP11_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP12_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/soap12/"
HTTP_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/http/"
_ADDRESSES = tuple(f"{{{ns}}}address" for ns in (SOAP11_BINDING_NS, SOAP12_BINDING_NS, HTTP_BINDING_NS))
_GENERATED_NS = "http://ws.apache.org/axis2"  # Axis2's namespace for generated proxy WSDLs
_XS = "http://www.w3.org/2001/XMLSchema"
_MIME_NS = "http://schemas.xmlsoap.org/wsdl/mime/"
_NSMAP = {
    "wsdl": WSDL11_NS,
    "soap": SOAP11_BINDING_NS,
    "soap12": SOAP12_BINDING_NS,
    "http": HTTP_BINDING_NS,
    "mime": _MIME_NS,
    "xs": _XS,
    "ns": _GENERATED_NS,
}
_CACHE_LIMIT = 256
_generated: dict[tuple[str, str], bytes] = {}


def proxy_address(request: web.Request, proxy: ProxyService) -> str:
    return f"{request.scheme}://{request.host}/services/{proxy.name}"


async def wsdl_response(request: web.Request, proxy: ProxyService) -> web.Response:
    address = proxy_address(request, proxy)
    published = proxy.publish_wsdl
    if published is None:
        return _xml(generated_wsdl(proxy.name, address))
    definitions = published.definitions
    if definitions is None:
        reason = published.unavailable or f"publishWSDL key '{published.key}' was not resolved"
        log.error("proxy '%s': cannot serve its published WSDL: %s", proxy.name, reason)
        return web.Response(status=500, text=f"The WSDL of proxy service {proxy.name} is unavailable: {reason}\n")
    parameters = proxy.parameters
    if (
        _true(parameters.get("useOriginalwsdl"))
        or parameters.get("modifyUserWSDLPortAddress", "").strip().lower() == "false"
    ):
        return _xml(etree.tostring(definitions, xml_declaration=True, encoding="UTF-8"))
    return _xml(etree.tostring(with_address(definitions, address), xml_declaration=True, encoding="UTF-8"))


def with_address(definitions: etree._Element, address: str) -> etree._Element:
    """A copy whose service ports point at `address`."""
    document = copy.deepcopy(definitions)
    for service in document.iterfind(f"{{{WSDL11_NS}}}service"):
        for port in service.iterfind(f"{{{WSDL11_NS}}}port"):
            for child in port:
                if child.tag in _ADDRESSES:
                    child.set("location", address)
    return document


def generated_wsdl(name: str, address: str) -> bytes:
    cached = _generated.get((name, address))
    if cached is not None:
        return cached
    body = etree.tostring(_generated_definitions(name, address), xml_declaration=True, encoding="UTF-8")
    if len(_generated) >= _CACHE_LIMIT:
        _generated.clear()  # Host headers are client-controlled: bound the cache
    _generated[(name, address)] = body
    return body


class _ElementMaker(Protocol):
    """lxml.builder.ElementMaker (lxml-stubs have no lxml.builder): `E.tag(*children, **attributes)`."""

    def __getattr__(self, tag: str) -> Callable[..., etree._Element]: ...


def _generated_definitions(name: str, address: str) -> etree._Element:
    """One in-out operation `mediate`, with SOAP 1.1, SOAP 1.2 and HTTP bindings, built as a tree so that any
    proxy name or address is escaped correctly."""
    wsdl: _ElementMaker = ElementMaker(namespace=WSDL11_NS)
    xs: _ElementMaker = ElementMaker(namespace=_XS)
    soap: _ElementMaker = ElementMaker(namespace=SOAP11_BINDING_NS)
    soap12: _ElementMaker = ElementMaker(namespace=SOAP12_BINDING_NS)
    http: _ElementMaker = ElementMaker(namespace=HTTP_BINDING_NS)
    mime: _ElementMaker = ElementMaker(namespace=_MIME_NS)

    def wrapper(element_name: str) -> etree._Element:
        return xs.element(
            xs.complexType(xs.sequence(xs.any(minOccurs="0", maxOccurs="unbounded", processContents="lax"))),
            name=element_name,
        )

    def soap_binding(maker: _ElementMaker, suffix: str) -> etree._Element:
        return wsdl.binding(
            maker.binding(transport="http://schemas.xmlsoap.org/soap/http", style="document"),
            wsdl.operation(
                maker.operation(soapAction="urn:mediate", style="document"),
                wsdl.input(maker.body(use="literal")),
                wsdl.output(maker.body(use="literal")),
                name="mediate",
            ),
            name=f"{name}{suffix}Binding",
            type=f"ns:{name}PortType",
        )

    root = etree.Element(f"{{{WSDL11_NS}}}definitions", nsmap=_NSMAP, targetNamespace=_GENERATED_NS)
    root.extend(
        [
            wsdl.documentation(name),
            wsdl.types(
                xs.schema(
                    wrapper("mediate"),
                    wrapper("mediateResponse"),
                    attributeFormDefault="qualified",
                    elementFormDefault="qualified",
                    targetNamespace=_GENERATED_NS,
                )
            ),
            wsdl.message(wsdl.part(name="parameters", element="ns:mediate"), name="mediateRequest"),
            wsdl.message(wsdl.part(name="parameters", element="ns:mediateResponse"), name="mediateResponse"),
            wsdl.portType(
                wsdl.operation(
                    wsdl.input(message="ns:mediateRequest"), wsdl.output(message="ns:mediateResponse"), name="mediate"
                ),
                name=f"{name}PortType",
            ),
            soap_binding(soap, "Soap11"),
            soap_binding(soap12, "Soap12"),
            wsdl.binding(
                http.binding(verb="POST"),
                wsdl.operation(
                    http.operation(location="mediate"),
                    wsdl.input(mime.content(type=kinds.APPLICATION_XML, part="parameters")),
                    wsdl.output(mime.content(type=kinds.APPLICATION_XML, part="parameters")),
                    name="mediate",
                ),
                name=f"{name}HttpBinding",
                type=f"ns:{name}PortType",
            ),
            wsdl.service(
                wsdl.port(
                    soap.address(location=address), name=f"{name}HttpSoap11Endpoint", binding=f"ns:{name}Soap11Binding"
                ),
                wsdl.port(
                    soap12.address(location=address),
                    name=f"{name}HttpSoap12Endpoint",
                    binding=f"ns:{name}Soap12Binding",
                ),
                wsdl.port(http.address(location=address), name=f"{name}HttpEndpoint", binding=f"ns:{name}HttpBinding"),
                name=name,
            ),
        ]
    )
    return root


def _xml(body: bytes) -> web.Response:
    return web.Response(body=body, content_type=kinds.TEXT_XML, charset="UTF-8")


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"
