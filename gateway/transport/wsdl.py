"""`GET /services/NAME?wsdl`: the proxy's WSDL 1.1 (reference §1.2).

Without publishWSDL a WSDL is generated with one in-out operation `mediate` and SOAP 1.1, SOAP 1.2 and
HTTP bindings (W: ProxyService, "Assuming a POX or Legacy service"). A published WSDL is served with its
soap:address / soap12:address / http:address locations set to the proxy's real address (taken from the
request's scheme and Host), unless the proxy parameter `useOriginalwsdl` or `modifyUserWSDLPortAddress`
says otherwise (W: parameters of the same names)."""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from aiohttp import web
from lxml import etree

from gateway.deploy.wsdl import WSDL11_NS, WsdlUnavailable

if TYPE_CHECKING:
    from gateway.runtime.configuration import ProxyService

log = logging.getLogger("gateway.wsdl")

SOAP11_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP12_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/soap12/"
HTTP_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/http/"
_ADDRESSES = tuple(f"{{{ns}}}address" for ns in (SOAP11_BINDING_NS, SOAP12_BINDING_NS, HTTP_BINDING_NS))
_GENERATED_NS = "http://ws.apache.org/axis2"  # Axis2's namespace for generated proxy WSDLs
_CACHE_LIMIT = 256
_generated: dict[tuple[str, str], bytes] = {}


def proxy_address(request: web.Request, proxy: ProxyService) -> str:
    return f"{request.scheme}://{request.host}/services/{proxy.name}"


async def wsdl_response(request: web.Request, proxy: ProxyService) -> web.Response:
    address = proxy_address(request, proxy)
    if proxy.publish_wsdl is None:
        return _xml(generated_wsdl(proxy.name, address))
    from gateway.transport.server import CONFIG

    try:
        definitions = proxy.publish_wsdl.document(request.app[CONFIG])
    except WsdlUnavailable as exc:
        log.error("proxy '%s': cannot serve its published WSDL: %s", proxy.name, exc)
        return web.Response(
            status=500, text=f"The WSDL of proxy service {proxy.name} is unavailable: {exc}\n"
        )
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
    location = quoteattr(address)
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="{WSDL11_NS}" xmlns:soap="{SOAP11_BINDING_NS}" xmlns:soap12="{SOAP12_BINDING_NS}"
    xmlns:http="{HTTP_BINDING_NS}" xmlns:mime="http://schemas.xmlsoap.org/wsdl/mime/"
    xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:ns="{_GENERATED_NS}" targetNamespace="{_GENERATED_NS}">
  <wsdl:documentation>{name}</wsdl:documentation>
  <wsdl:types>
    <xs:schema attributeFormDefault="qualified" elementFormDefault="qualified"
        targetNamespace="{_GENERATED_NS}">
      <xs:element name="mediate">
        <xs:complexType><xs:sequence><xs:any minOccurs="0" maxOccurs="unbounded" processContents="lax"/>
        </xs:sequence></xs:complexType>
      </xs:element>
      <xs:element name="mediateResponse">
        <xs:complexType><xs:sequence><xs:any minOccurs="0" maxOccurs="unbounded" processContents="lax"/>
        </xs:sequence></xs:complexType>
      </xs:element>
    </xs:schema>
  </wsdl:types>
  <wsdl:message name="mediateRequest"><wsdl:part name="parameters" element="ns:mediate"/></wsdl:message>
  <wsdl:message name="mediateResponse">
    <wsdl:part name="parameters" element="ns:mediateResponse"/>
  </wsdl:message>
  <wsdl:portType name="{name}PortType">
    <wsdl:operation name="mediate">
      <wsdl:input message="ns:mediateRequest"/>
      <wsdl:output message="ns:mediateResponse"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="{name}Soap11Binding" type="ns:{name}PortType">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http" style="document"/>
    <wsdl:operation name="mediate">
      <soap:operation soapAction="urn:mediate" style="document"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input>
      <wsdl:output><soap:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:binding name="{name}Soap12Binding" type="ns:{name}PortType">
    <soap12:binding transport="http://schemas.xmlsoap.org/soap/http" style="document"/>
    <wsdl:operation name="mediate">
      <soap12:operation soapAction="urn:mediate" style="document"/>
      <wsdl:input><soap12:body use="literal"/></wsdl:input>
      <wsdl:output><soap12:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:binding name="{name}HttpBinding" type="ns:{name}PortType">
    <http:binding verb="POST"/>
    <wsdl:operation name="mediate">
      <http:operation location="mediate"/>
      <wsdl:input><mime:content type="application/xml" part="parameters"/></wsdl:input>
      <wsdl:output><mime:content type="application/xml" part="parameters"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="{name}">
    <wsdl:port name="{name}HttpSoap11Endpoint" binding="ns:{name}Soap11Binding">
      <soap:address location={location}/>
    </wsdl:port>
    <wsdl:port name="{name}HttpSoap12Endpoint" binding="ns:{name}Soap12Binding">
      <soap12:address location={location}/>
    </wsdl:port>
    <wsdl:port name="{name}HttpEndpoint" binding="ns:{name}HttpBinding">
      <http:address location={location}/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
""".encode()
    if len(_generated) >= _CACHE_LIMIT:
        _generated.clear()  # Host headers are client-controlled: bound the cache
    _generated[(name, address)] = body
    return body


def _xml(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="text/xml", charset="UTF-8")


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"
