"""xslt (W: XSLTMediator, XSLTMediatorFactory): stylesheets from local entries and the registry, compiled once,
XSLT 1.0 on libxslt and 2.0/3.0 on Saxon, parameters, source/target, resources; Apache sample 8."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from gateway.mediators.resources import ResourceError

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"


def entry(key: str, body: str) -> str:
    return f'<localEntry xmlns="http://ws.apache.org/ns/synapse" key="{key}">{body}</localEntry>'


def proxy(name: str, in_sequence: str) -> str:
    return (
        f'<proxy xmlns="http://ws.apache.org/ns/synapse" name="{name}"><target><inSequence>{in_sequence}'
        "<respond/></inSequence></target></proxy>"
    )


def stylesheet(version: str, template: str, extra: str = "") -> str:
    """xmlns="": inside a local entry, literal result elements would be in the Synapse namespace (as in MI)."""
    return (
        f'<xsl:stylesheet version="{version}" xmlns="" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">{extra}'
        f'<xsl:template match="/">{template}</xsl:template></xsl:stylesheet>'
    )


def envelope(body: str) -> str:
    return f'<soapenv:Envelope xmlns:soapenv="{SOAP11}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'


async def post_soap(client, path: str, body: str):
    response = await client.post(path, data=envelope(body), headers={"Content-Type": "text/xml", "SOAPAction": "urn:x"})
    return response.status, etree.fromstring(await response.read())


def body_child(reply: etree._Element) -> etree._Element:
    return reply.find(f"{{{SOAP11}}}Body")[0]


async def test_xslt_1_0_with_parameters_runs_on_libxslt(gateway):
    client = await gateway(
        {
            "local-entries/ss.xml": entry(
                "ss",
                stylesheet(
                    "1.0",
                    '<out p="{$p}" q="{$q}"><xsl:value-of select="/order/name"/></out>',
                    '<xsl:param name="p"/><xsl:param name="q"/>',
                ),
            ),
            "proxies/P.xml": proxy(
                "P", '<xslt key="ss"><property name="p" expression="//qty"/><property name="q" value="lit"/></xslt>'
            ),
        }
    )
    status, reply = await post_soap(client, "/services/P", "<order><name>pen</name><qty>3</qty></order>")
    assert status == 200
    out = body_child(reply)
    assert (out.tag, out.text, out.get("p"), out.get("q")) == ("out", "pen", "3", "lit")
    compiled = [value for (kind, _key, _res), value in client.config.compiled.items() if kind == "xslt"]
    assert [type(value).__name__ for value in compiled] == ["LxmlStylesheet"]


async def test_xslt_2_0_runs_on_saxon(gateway):
    client = await gateway(
        {
            "local-entries/ss.xml": entry(
                "ss2", stylesheet("2.0", '<out><xsl:value-of select="upper-case(/order/name)"/></out>')
            ),
            "proxies/P.xml": proxy("P", '<xslt key="ss2"/>'),
        }
    )
    status, reply = await post_soap(client, "/services/P", "<order><name>pen</name></order>")
    assert status == 200
    assert body_child(reply).text == "PEN"  # upper-case() is XPath 2.0: libxslt would fail
    assert type(client.config.compiled[("xslt", "ss2", ())]).__name__ == "SaxonStylesheet"


# -- Apache sample 8: a custom request transformed for the stock quote service and its answer back ---------------
CUSTOM_NS = "http://www.apache-synapse.org/test"
SAMPLE_8_REQUEST_XSLT = """<?xml version="1.0" encoding="ISO-8859-1"?>
<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:fn="http://www.w3.org/2005/02/xpath-functions" xmlns:m0="http://www.apache-synapse.org/test"
    exclude-result-prefixes="m0 fn">
<xsl:output method="xml" omit-xml-declaration="yes" indent="yes"/>
<xsl:template match="/"><xsl:apply-templates select="//m0:CheckPriceRequest"/></xsl:template>
<xsl:template match="m0:CheckPriceRequest">
<m:getQuote xmlns:m="http://services.samples/xsd"><m:request><m:symbol><xsl:value-of select="m0:Code"/></m:symbol>
</m:request></m:getQuote>
</xsl:template>
</xsl:stylesheet>
"""
SAMPLE_8_RESPONSE_XSLT = """<?xml version="1.0" encoding="ISO-8859-1"?>
<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:fn="http://www.w3.org/2005/02/xpath-functions" xmlns:m0="http://services.samples/xsd"
    exclude-result-prefixes="m0 fn">
<xsl:output method="xml" omit-xml-declaration="yes" indent="yes"/>
<xsl:template match="/"><xsl:apply-templates select="//*[local-name()='return']"/></xsl:template>
<xsl:template match="*[local-name()='return']">
<m:CheckPriceResponse xmlns:m="http://www.apache-synapse.org/test">
<m:Code><xsl:value-of select="m0:symbol"/></m:Code><m:Price><xsl:value-of select="m0:last"/></m:Price>
</m:CheckPriceResponse>
</xsl:template>
</xsl:stylesheet>
"""


async def test_apache_sample_8_transforms_the_request_and_the_reply(gateway, stockquote, tmp_path):
    """Sample 8: `xslt-key-req` is a local entry read from a file (src), the reply's stylesheet is the registry
    resource `transform/transform_back.xslt`; the client sends CheckPriceRequest and gets CheckPriceResponse.
    The sample's stylesheets, except that `m0:return` is matched by local name: the stand-in answers as Axis2 1.7
    does (the `return` element in the service's namespace, its fields in the /xsd one), the sample predates it."""
    from tests.support.stockquote import XSD_NS

    service = await stockquote(types_ns=XSD_NS)
    request_xslt = tmp_path / "transform.xslt"
    request_xslt.write_text(SAMPLE_8_REQUEST_XSLT, encoding="utf-8")
    client = await gateway(
        {
            "local-entries/xslt-key-req.xml": '<localEntry xmlns="http://ws.apache.org/ns/synapse" '
            f'key="xslt-key-req" src="file:{request_xslt}"/>',
            "registry/governance/transform/transform_back.xslt": SAMPLE_8_RESPONSE_XSLT,
            "proxies/Sample8.xml": f"""
                <proxy xmlns="http://ws.apache.org/ns/synapse" name="Sample8"><target>
                  <inSequence><xslt key="xslt-key-req"/>
                    <send><endpoint><address uri="{service.url}"/></endpoint></send></inSequence>
                  <outSequence><xslt key="transform/transform_back.xslt"/><send/></outSequence>
                </target></proxy>""",
        }
    )
    assert client.config.dangling == ()
    status, reply = await post_soap(
        client, "/services/Sample8", f'<m0:CheckPriceRequest xmlns:m0="{CUSTOM_NS}"><m0:Code>IBM</m0:Code></m0:CheckPriceRequest>'
    )
    assert status == 200
    answer = body_child(reply)
    assert answer.tag == f"{{{CUSTOM_NS}}}CheckPriceResponse"
    assert answer.findtext(f"{{{CUSTOM_NS}}}Code") == "IBM"
    assert re.fullmatch(r"-?[0-9]+\.[0-9]+(E-?[0-9]+)?", answer.findtext(f"{{{CUSTOM_NS}}}Price"))  # the last price
    sent = etree.fromstring(service.requests[-1].body)
    assert sent.find(f".//{{{XSD_NS}}}symbol").text == "IBM"  # the service got a standard getQuote
    kinds = {key: type(value).__name__ for (_kind, key, _res), value in client.config.compiled.items()}
    assert kinds == {"xslt-key-req": "SaxonStylesheet", "transform/transform_back.xslt": "SaxonStylesheet"}
