"""The Apache Synapse REST samples, played end to end against the samples' Axis2 back end (the stockquote
stand-in): sample 800 / 10001 (StockQuoteAPI), 10002 (REST clients through proxies) and 10003 (OPTIONS).

Their configurations are apache/synapse's modules/integration/src/test/resources/extras/synapse_sample_1000N.xml
(Apache-2.0), cut into one artifact per file as MI holds them, with the back end's address (localhost:9000)
replaced by the stand-in's. What each should do comes from the samples' integration tests
(modules/integration/src/test/java/.../tests/rest/Sample1000N.java) and the guide (userguide/samples/sample800.xml).
"""

from __future__ import annotations

import uuid

from lxml import etree

from tests.support.stockquote import SAMPLES_NS
from tests.support.waiting import until

STOCKQUOTE_API = """<api xmlns="http://ws.apache.org/ns/synapse" name="StockQuoteAPI" context="/stockquote">
        <resource uri-template="/view/{symbol}" methods="GET">
            <inSequence>
                <payloadFactory>
                    <format>
                        <m0:getQuote xmlns:m0="http://services.samples">
                            <m0:request>
                                <m0:symbol>$1</m0:symbol>
                            </m0:request>
                        </m0:getQuote>
                    </format>
                    <args>
                        <arg expression="get-property('uri.var.symbol')"/>
                    </args>
                </payloadFactory>
                <header name="Action" value="urn:getQuote"/>
                <send>
                    <endpoint>
                        <address uri="http://localhost:9000/services/@SERVICE@" format="soap11"/>
                    </endpoint>
                </send>
            </inSequence>
            <outSequence>
                <send/>
            </outSequence>
        </resource>
        <resource url-pattern="/order/*" methods="POST">
            <inSequence>
                <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/>
                <property name="OUT_ONLY" value="true"/>
                <header name="Action" value="urn:placeOrder"/>
                <send>
                    <endpoint>
                        <address uri="http://localhost:9000/services/@SERVICE@" format="soap11"/>
                    </endpoint>
                </send>
            </inSequence>
        </resource>
    </api>"""

TEST_API = """<syn:api xmlns:syn="http://ws.apache.org/ns/synapse" name="TestAPI" context="/test">
        <syn:resource methods="OPTIONS">
            <syn:inSequence>
                <syn:send>
                    <syn:endpoint>
                        <syn:address uri="http://localhost:9000/services/EchoService"/>
                    </syn:endpoint>
                </syn:send>
            </syn:inSequence>
            <syn:outSequence>
                <syn:send/>
            </syn:outSequence>
        </syn:resource>
    </syn:api>"""

PROXY_10002 = """<syn:proxy xmlns:syn="http://ws.apache.org/ns/synapse" name="@NAME@Proxy">
        <syn:target>
            <syn:inSequence>
                <syn:filter source="@SOURCE@" regex="@REGEX@">
                    <syn:then>
                        <syn:send>
                            <syn:endpoint>
                                <syn:address uri="http://localhost:9000/services/EchoService"/>
                            </syn:endpoint>
                        </syn:send>
                    </syn:then>
                    <syn:else>
                        <syn:makefault version="soap11">
                            <syn:code xmlns:sf11="http://schemas.xmlsoap.org/soap/envelope/" value="sf11:Server"/>
                            <syn:reason value="First order must be for the symbol IBM"/>
                        </syn:makefault>
                        <syn:header name="To" action="remove"/>
                        <syn:property name="RESPONSE" value="true"/>
                        <syn:send/>
                    </syn:else>
                </syn:filter>
            </syn:inSequence>
        </syn:target>
    </syn:proxy>"""
DIRECT_10002 = """<syn:proxy xmlns:syn="http://ws.apache.org/ns/synapse" name="DirectMediationProxy">
        <syn:target>
            <syn:endpoint>
                <syn:address uri="http://localhost:9000/services/EchoService"/>
            </syn:endpoint>
            <syn:outSequence>
                <syn:send/>
            </syn:outSequence>
        </syn:target>
    </syn:proxy>"""
XSLT_10002 = """<syn:proxy xmlns:syn="http://ws.apache.org/ns/synapse" name="XSLTProxy">
        <syn:target>
            <syn:endpoint>
                <syn:address uri="http://localhost:9000/services/EchoService"/>
            </syn:endpoint>
            <syn:inSequence>
                <syn:xslt key="xslt_transform_reverse"/>
            </syn:inSequence>
            <syn:outSequence>
                <syn:xslt key="xslt_transform"/>
                <syn:send/>
            </syn:outSequence>
        </syn:target>
    </syn:proxy>"""
XSLT_ENTRIES_10002 = {
    f"local-entries/{key}.xml": f"""<syn:localEntry xmlns:syn="http://ws.apache.org/ns/synapse" key="{key}">
        <xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="2.0">
            <xsl:output method="xml" omit-xml-declaration="yes" indent="no"/>
            <xsl:template match="{source}">
                <{target}><xsl:for-each select="{item}"><{new}><xsl:value-of select="{item}"/></{new}></xsl:for-each>
                </{target}>
            </xsl:template>
        </xsl:stylesheet>
    </syn:localEntry>"""
    for key, source, item, target, new in (
        ("xslt_transform_reverse", "foo", "bar", "oof", "rab"),
        ("xslt_transform", "oof", "rab", "foo", "bar"),
    )
}
PLACE_ORDER = (
    '<placeOrder xmlns="http://services.samples"><order><price>50</price><quantity>10</quantity>'
    "<symbol>IBM</symbol></order></placeOrder>"
)


def at(server, text: str) -> str:
    return text.replace("http://localhost:9000", server.base_url)


async def test_sample_10001_a_rest_get_whose_back_end_faults_gets_500_and_an_exception(gateway, stockquote):
    """Sample10001.testGetQuote: GET /stockquote/view/IBM, the back end (BogusService) answers a SOAP fault:
    500 and a body whose root is Exception."""
    server = await stockquote()
    client = await gateway({"api/StockQuoteAPI.xml": at(server, STOCKQUOTE_API.replace("@SERVICE@", "BogusService"))})
    response = await client.get("/stockquote/view/IBM")
    assert response.status == 500
    body = etree.fromstring(await response.read())
    assert "The service cannot be found for the endpoint reference" in "".join(body.itertext())
    # format="soap11": POSTed as SOAP 1.1 (the client's GET notwithstanding), REST_URL_POSTFIX not appended
    assert (server.requests[-1].method, server.requests[-1].path) == ("POST", "/services/BogusService")


async def test_sample_800_get_quote_through_the_api_and_a_place_order_accepted_at_once(gateway, stockquote):
    """Sample 800's guide: the GET calls are converted to SOAP calls and the reply comes back as POX; the POST
    of a placeOrder is answered 202 by the ESB (FORCE_SC_ACCEPTED, OUT_ONLY) and reaches the service."""
    server = await stockquote()
    api = at(server, STOCKQUOTE_API.replace("@SERVICE@", "SimpleStockQuoteService"))
    client = await gateway({"api/StockQuoteAPI.xml": api})
    for symbol in ("IBM", "MSFT"):
        response = await client.get(f"/stockquote/view/{symbol}")
        assert response.status == 200
        body = etree.fromstring(await response.read())
        assert body.findtext(f".//{{{SAMPLES_NS}}}return/{{{SAMPLES_NS}}}symbol") == symbol
    assert server.requests[-1].soap_version == "1.1"  # format="soap11"

    server.delay = 0.5  # the answer does not wait for the service
    response = await client.post("/stockquote/order/", data=PLACE_ORDER, headers={"Content-Type": "application/xml"})
    assert (response.status, await response.read()) == (202, b"")
    await until(lambda: server.orders)
    assert [(order.symbol, order.quantity) for order in server.orders] == [("IBM", 10)]


async def test_samples_800_and_10001_rest_clients_get_pox(gateway, stockquote):
    """A REST client gets a SOAP reply as POX: the body's element, <Exception> for a fault (Apache's
    Sample10001 and sample 800; MI's send semantics, issue 12 item 5)."""
    server = await stockquote()
    for service, root in (("BogusService", "Exception"), ("SimpleStockQuoteService", "getQuoteResponse")):
        api = at(server, STOCKQUOTE_API.replace("@SERVICE@", service))
        client = await gateway({"api/StockQuoteAPI.xml": api})
        body = etree.fromstring(await (await client.get("/stockquote/view/IBM")).read())
        assert etree.QName(body).localname == root
        await client.close()


async def test_sample_10003_options_reaches_the_echo_service_which_answers_204(gateway, stockquote):
    """Sample10003.testOptionsMethod: a resource that lists OPTIONS mediates it; the echo server answers an
    OPTIONS request with 204, which reaches the client."""
    server = await stockquote(echo=True)
    client = await gateway({"api/TestAPI.xml": at(server, TEST_API)})
    response = await client.options("/test")
    assert response.status == 204
    assert server.requests[-1].method == "OPTIONS"


async def test_sample_10002_rest_clients_through_proxies(gateway, stockquote):
    """Sample10002: POX bodies of growing size through direct, content-based and header-based routing
    come back whole (200, root foo, every bar). The XSLT proxy turns foo/bar into oof/rab and back with the
    sample's two XSLT 2.0 local entries (Saxon); their `value-of select="bar"` inside the for-each selects
    nothing, so its bars come back empty, as in Synapse."""
    server = await stockquote(echo=True)
    files = {
        "proxies/DirectMediationProxy.xml": DIRECT_10002,
        "proxies/ContentBasedRoutingProxy.xml": PROXY_10002.replace("@NAME@", "ContentBasedRouting")
        .replace("@SOURCE@", "//bar[1]")
        .replace("@REGEX@", "^uuid.*"),
        "proxies/HeaderBasedRoutingProxy.xml": PROXY_10002.replace("@NAME@", "HeaderBasedRouting")
        .replace("@SOURCE@", "$trp:CustomHeader")
        .replace("@REGEX@", "TestValue"),
        "proxies/XSLTProxy.xml": XSLT_10002,
        **XSLT_ENTRIES_10002,
    }
    client = await gateway({name: at(server, text) for name, text in files.items()})
    assert client.config.failed == () and client.config.dangling == ()
    scenarios = {"DirectMediation": ({}, "<foo>"), "ContentBasedRouting": ({}, "<foo><bar>uuid:1234567890</bar>")}
    scenarios["XSLT"] = ({}, "<foo>")
    scenarios["HeaderBasedRouting"] = ({"CustomHeader": "TestValue"}, "<foo>")
    for scenario, (headers, start) in scenarios.items():
        xml = start
        for size in (500, 1024, 10240, 102400, 1024 * 1024):
            while len(xml) < size:
                xml += f"<bar>{uuid.uuid4()}</bar>"
            response = await client.post(
                f"/services/{scenario}Proxy",
                data=(xml + "</foo>").encode(),
                headers={"Content-Type": "application/xml", **headers},
            )
            assert response.status == 200, (scenario, size)
            body = etree.fromstring(await response.read())
            assert body.tag == "foo"
            assert len(body.findall("bar")) == xml.count("<bar>"), (scenario, size)
            if scenario == "XSLT":  # the sample's value-of selects nothing inside its for-each
                assert {bar.text for bar in body.findall("bar")} == {None}
