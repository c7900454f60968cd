"""xslt (W: XSLTMediator, XSLTMediatorFactory): stylesheets from local entries and the registry, compiled once,
XSLT 1.0 on libxslt and 2.0/3.0 on Saxon, parameters, source/target, resources; Apache sample 8."""

from __future__ import annotations

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
