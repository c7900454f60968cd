"""callout over real HTTP: Apache Synapse sample 430 against the stock quote stand-in, source/target by XPath
and by property, the whole envelope, endpointKey, action, the outbound allow-list and deploy errors."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from gateway.cli import main as cli
from tests.conftest import write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'
SAMPLES = Path(__file__).parent / "data" / "synapse-samples"
STOCKQUOTE = "http://localhost:9000/services/SimpleStockQuoteService"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
GET_QUOTE = (
    f'<soapenv:Envelope xmlns:soapenv="{SOAP11}"><soapenv:Body>'
    '<m0:getQuote xmlns:m0="http://services.samples"><m0:request><m0:symbol>{symbol}</m0:symbol></m0:request>'
    "</m0:getQuote></soapenv:Body></soapenv:Envelope>"
)
FAULT = (
    '<faultSequence><property name="HTTP_SC" value="500" scope="axis2"/>'
    '<payloadFactory media-type="json"><format>{"error": "$1"}</format>'
    "<args><arg expression=\"get-property('ERROR_MESSAGE')\"/></args></payloadFactory><respond/></faultSequence>"
)


async def quote(client, path: str = "/", symbol: str = "IBM") -> etree._Element:
    response = await client.post(
        path, data=GET_QUOTE.format(symbol=symbol), headers={"Content-Type": "text/xml", "SOAPAction": "urn:getQuote"}
    )
    assert response.status == 200, await response.text()
    return etree.fromstring(await response.read())


def local(element: etree._Element) -> str:
    return etree.QName(element).localname


async def test_sample_430(gateway, stockquote):
    """Sample 430: the callout sends the request's body element to the service and the answer replaces it;
    respond sends it back."""
    service = await stockquote()
    main = (SAMPLES / "sample_430.main.xml").read_text(encoding="utf-8").replace(STOCKQUOTE, service.url)
    client = await gateway({"sequences/main.xml": main})
    envelope = await quote(client)
    body = envelope.find(f"{{{SOAP11}}}Body")
    assert [local(e) for e in body] == ["getQuoteResponse"]
    assert body.findtext(".//{*}symbol") == "IBM"
    assert service.requests[0].operation == "getQuote" and service.requests[0].soap_version == "1.1"


async def test_target_property_and_endpoint_key(gateway, stockquote):
    service = await stockquote()
    client = await gateway(
        {
            "endpoints/SQ.xml": f'<endpoint {S} name="SQ"><address uri="{service.url}"/></endpoint>',
            "proxies/P.xml": f"""<proxy {S} name="P"><target><inSequence>
                <callout endpointKey="SQ" action="urn:getQuote">
                  <source xmlns:m0="http://services.samples" xpath="//m0:getQuote"/>
                  <target key="quoteReply"/>
                </callout>
                <payloadFactory media-type="json"><format>{{"symbol": "$1", "kept": "$2"}}</format>
                  <args><arg expression="$ctx:quoteReply//*[local-name()='symbol']"/>
                        <arg expression="local-name($body/*[1])"/></args></payloadFactory>
                <respond/></inSequence>{FAULT}</target></proxy>""",
        }
    )
    pox = '<m0:getQuote xmlns:m0="http://services.samples"><m0:request><m0:symbol>MSFT</m0:symbol></m0:request></m0:getQuote>'
    response = await client.post("/services/P", data=pox, headers={"Content-Type": "application/xml"})
    assert response.status == 200, await response.text()
    assert await response.json() == {"symbol": "MSFT", "kept": "getQuote"}  # the message itself is untouched


async def test_whole_envelope_is_the_default(gateway, stockquote):
    service = await stockquote()
    client = await gateway(
        {
            "proxies/P.xml": f"""<proxy {S} name="P"><target><inSequence>
                <callout serviceURL="{service.url}" action="urn:getQuote"/>
                <respond/></inSequence>{FAULT}</target></proxy>"""
        }
    )
    envelope = await quote(client, "/services/P", "SUN")
    assert local(envelope.find(f"{{{SOAP11}}}Body")[0]) == "getQuoteResponse"


async def test_service_url_must_pass_the_allow_list(gateway):
    client = await gateway(
        {
            "proxies/P.xml": f"""<proxy {S} name="P"><target><inSequence>
                <callout serviceURL="http://198.51.100.9/services/X"/><respond/></inSequence>{FAULT}</target></proxy>"""
        },
        outbound_allow=("loopback",),
    )
    response = await client.post("/services/P", json={"a": 1})
    assert response.status == 500
    assert "Outbound destination not allowed" in (await response.json())["error"]


async def test_without_service_url_the_to_address_is_called(gateway, stockquote):
    """W: with no serviceURL and no endpoint, the blocking sender goes to the To address."""
    service = await stockquote()
    client = await gateway(
        {
            "proxies/P.xml": f"""<proxy {S} name="P"><target><inSequence>
                <header name="To" value="{service.url}"/>
                <callout action="urn:getQuote"/>
                <respond/></inSequence>{FAULT}</target></proxy>"""
        }
    )
    envelope = await quote(client, "/services/P", "ORCL")
    assert local(envelope.find(f"{{{SOAP11}}}Body")[0]) == "getQuoteResponse"


def test_deploy_errors(tmp_path, capsys):
    def proxy(name: str, body: str) -> dict[str, str]:
        return {
            f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target><inSequence>{body}</inSequence></target></proxy>'
        }

    root = write_artifacts(
        tmp_path,
        {
            **proxy("NoSourceAttr", '<callout serviceURL="http://127.0.0.1:9/x"><source/></callout>'),
            **proxy("Sec", '<callout serviceURL="http://127.0.0.1:9/x"><enableSec policy="p"/></callout>'),
            **proxy("Jms", '<callout serviceURL="jms:/queue"/>'),
        },
    )
    assert cli(["validate", str(root)]) != 0
    out = capsys.readouterr().out
    assert "A 'xpath' or 'key' attribute is required for the Callout 'source'" in out
    assert "WS-Security on a callout (<enableSec>) is not supported yet" in out
    assert "is not an http:// or https:// address" in out
