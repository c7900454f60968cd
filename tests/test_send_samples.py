"""MI's send semantics (issue 12 item 5), played with the Apache Synapse samples that rest on them: 0, 2, 6, 15,
17 and 50 (apache/synapse repository/conf/sample/synapse_sample_N.xml, Apache-2.0), with the back end's address
(localhost:9000) replaced by the stock-quote stand-in's (tests/support/stockquote.py).

The samples' clients run in "smart client" mode (the WS-Addressing To names the back end, the request goes to
the ESB) or through the ESB's URL (`trpurl`). What each should do is the samples' guide
(userguide/samples/sampleN.xml)."""

from __future__ import annotations

import logging

from lxml import etree

from tests.support.stockquote import SAMPLES_NS

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"


def smart_client(to: str | None, body: str, action: str = "urn:getQuote") -> bytes:
    header = (
        f'<soapenv:Header xmlns:wsa="{WSA}"><wsa:To>{to}</wsa:To><wsa:Action>{action}</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:1</wsa:MessageID></soapenv:Header>"
        if to
        else ""
    )
    envelope = f'<soapenv:Envelope xmlns:soapenv="{SOAP11}">{header}<soapenv:Body>{body}</soapenv:Body>'
    return (envelope + "</soapenv:Envelope>").encode()


GET_QUOTE = (
    '<m0:getQuote xmlns:m0="http://services.samples"><m0:request><m0:symbol>{}</m0:symbol></m0:request></m0:getQuote>'
)
SOAP_HEADERS = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "urn:getQuote"}

SAMPLE_0 = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <!-- log all attributes of messages passing through -->
        <log level="full"/>
        <!-- Send the message to implicit destination -->
        <send/>
    </sequence>"""
SAMPLE_2 = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <switch source="//m0:getQuote/m0:request/m0:symbol" xmlns:m0="http://services.samples">
            <case regex="IBM">
                <property name="symbol" value="Great stock - IBM"/>
            </case>
            <case regex="MSFT">
                <property name="symbol" value="Are you sure? - MSFT"/>
            </case>
            <default>
                <property name="symbol" expression="fn:concat('Normal Stock - ', //m0:getQuote/m0:request/m0:symbol)"/>
            </default>
        </switch>
        <log level="custom">
            <property name="symbol" expression="get-property('symbol')"/>
            <property name="epr" expression="get-property('To')"/>
        </log>
        <send/>
    </sequence>"""
SAMPLE_6 = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <in>
            <header name="To" value="http://localhost:9000/services/SimpleStockQuoteService"/>
        </in>
        <send/>
    </sequence>"""
SAMPLE_15 = {
    "local-entries/price_req.xml": """<localEntry xmlns="http://ws.apache.org/ns/synapse" key="price_req">
        <m0:symbol xmlns:m0="http://services.samples">MSFT</m0:symbol>
    </localEntry>""",
    "local-entries/init_req.xml": """<localEntry xmlns="http://ws.apache.org/ns/synapse" key="init_req">MSFT
    </localEntry>""".replace("MSFT\n    ", "MSFT"),
    "sequences/main.xml": """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <in>
            <enrich>
                <source type="custom"
                        xpath="//m0:getQuote/m0:request/m0:symbol/text()"
                        xmlns:m0="http://services.samples"/>
                <target type="property" property="ORIGINAL_REQ"/>
            </enrich>
            <enrich>
                <source type="body"/>
                <target type="property" property="REQUEST_PAYLOAD"/>
            </enrich>
            <enrich>
                <source type="inline" key="init_req"/>
                <target xmlns:m0="http://services.samples"
                        xpath="//m0:getQuote/m0:request/m0:symbol/text()"/>
            </enrich>
            <send>
                <endpoint>
                    <address uri="http://localhost:9000/services/SimpleStockQuoteService"/>
                </endpoint>
            </send>
            <drop/>
        </in>
        <out>
            <header xmlns:urn="http://synapse.apache.org" name="urn:lastTradeTimestamp" value="foo"/>
            <enrich>
                <source type="custom"
                        xpath="//ns:getQuoteResponse/ns:return/ns:lastTradeTimestamp"
                        xmlns:ns="http://services.samples"/>
                <target xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
                        xmlns:urn="http://synapse.apache.org"
                        xpath="/soapenv:Envelope/soapenv:Header/urn:lastTradeTimestamp"/>
            </enrich>
             <log level="full"/>
            <log>
                <property name="Original Request Symbol" expression="get-property('ORIGINAL_REQ')"/>
                <property name="Request Payload" expression="get-property('REQUEST_PAYLOAD')"/>
            </log>
            <send/>
        </out>
    </sequence>""",
}
SAMPLE_17 = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <in>
            <!-- using payloadFactory mediator to transform the request message -->
            <payloadFactory>
                <format>
                    <m:getQuote xmlns:m="http://services.samples">
                        <m:request>
                            <m:symbol>$1</m:symbol>
                        </m:request>
                    </m:getQuote>
                </format>
                <args>
                    <arg xmlns:m0="http://services.samples" expression="//m0:Code"/>
                </args>
            </payloadFactory>
        </in>
        <out>
            <!-- using payloadFactory mediator to transform the response message -->
            <payloadFactory>
                <format>
                    <m:CheckPriceResponse xmlns:m="http://services.samples/xsd">
                        <m:Code>$1</m:Code>
                        <m:Price>$2</m:Price>
                    </m:CheckPriceResponse>
                </format>
                <args>
                    <arg xmlns:m0="http://services.samples" expression="//m0:symbol"/>
                    <arg xmlns:m0="http://services.samples" expression="//m0:last"/>
                </args>
            </payloadFactory>
        </out>
        <send/>
    </sequence>"""
SAMPLE_50 = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <!-- filtering of messages with XPath and regex matches -->
        <header name="Action" value="urn:getQuote"/>
        <filter source="get-property('To')" regex=".*/StockQuote.*">
            <then>
                <send>
                    <endpoint>
                        <address uri="http://localhost:9000/services/SimpleStockQuoteService" format="soap11"/>
                    </endpoint>
                </send>
                <drop/>
            </then>
        </filter>
        <send/>
    </sequence>"""


def at(server, text: str) -> str:
    return text.replace("http://localhost:9000", server.base_url)


def quote_of(reply: bytes) -> etree._Element:
    envelope = etree.fromstring(reply)
    quote = envelope.find(f"{{{SOAP11}}}Body/{{{SAMPLES_NS}}}getQuoteResponse/{{{SAMPLES_NS}}}return")
    assert quote is not None, reply
    return quote


async def test_sample_0_smart_client_send_goes_to_the_wsa_to_and_the_reply_runs_main_again(gateway, stockquote, caplog):
    server = await stockquote()
    client = await gateway({"sequences/main.xml": SAMPLE_0})
    with caplog.at_level(logging.INFO):
        response = await client.post("/", data=smart_client(server.url, GET_QUOTE.format("IBM")), headers=SOAP_HEADERS)
        reply = await response.read()
    assert response.status == 200
    assert quote_of(reply).findtext(f"{{{SAMPLES_NS}}}symbol") == "IBM"
    assert server.requests[-1].path == "/services/SimpleStockQuoteService"
    # log level="full" ran twice: for the request, then for the reply passing main again
    full = [r.getMessage() for r in caplog.records if "Envelope" in r.getMessage()]
    assert len(full) == 2 and f"To: {server.url}" in full[0] and "getQuoteResponse" in full[1]


async def test_sample_2_get_property_to_is_the_wsa_address(gateway, stockquote, caplog):
    server = await stockquote()
    client = await gateway({"sequences/main.xml": SAMPLE_2})
    with caplog.at_level(logging.INFO):
        for symbol in ("IBM", "MSFT", "SUN"):
            response = await client.post(
                "/", data=smart_client(server.url, GET_QUOTE.format(symbol)), headers=SOAP_HEADERS
            )
            assert quote_of(await response.read()).findtext(f"{{{SAMPLES_NS}}}symbol") == symbol
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"symbol = Great stock - IBM, epr = {server.url}" in text
    assert "symbol = Are you sure? - MSFT" in text and "symbol = Normal Stock - SUN" in text


async def test_sample_6_header_to_rewrites_the_destination(gateway, stockquote):
    server = await stockquote()
    client = await gateway({"sequences/main.xml": at(server, SAMPLE_6)})
    response = await client.post(
        "/services/StockQuote", data=smart_client(None, GET_QUOTE.format("IBM")), headers=SOAP_HEADERS
    )
    assert response.status == 200
    assert quote_of(await response.read()).findtext(f"{{{SAMPLES_NS}}}symbol") == "IBM"
    assert server.requests[-1].path == "/services/SimpleStockQuoteService"


async def test_sample_15_reply_header_last_trade_timestamp(gateway, stockquote):
    server = await stockquote()
    files = {name: at(server, text) for name, text in SAMPLE_15.items()}
    client = await gateway(files)
    response = await client.post("/", data=smart_client(None, GET_QUOTE.format("IBM")), headers=SOAP_HEADERS)
    reply = await response.read()
    assert response.status == 200, reply
    envelope = etree.fromstring(reply)
    # the header mediator added urn:lastTradeTimestamp ("foo"); enrich's default action, replace, put the
    # response's lastTradeTimestamp element in its place (W: Target.insertElement: insertSiblingBefore, detach)
    (stamp,) = envelope.find(f"{{{SOAP11}}}Header")
    assert stamp.tag == f"{{{SAMPLES_NS}}}lastTradeTimestamp"
    assert stamp.text and stamp.text == quote_of(reply).findtext(f"{{{SAMPLES_NS}}}lastTradeTimestamp")
    assert quote_of(reply).findtext(f"{{{SAMPLES_NS}}}symbol") == "MSFT"  # the local entry replaced IBM


async def test_sample_17_payload_factory_both_ways(gateway, stockquote):
    server = await stockquote()
    client = await gateway({"sequences/main.xml": SAMPLE_17})
    request = '<m:CheckPriceRequest xmlns:m="http://services.samples"><m:Code>IBM</m:Code></m:CheckPriceRequest>'
    response = await client.post("/", data=smart_client(server.url, request), headers=SOAP_HEADERS)
    envelope = etree.fromstring(await response.read())
    answer = envelope.find(f"{{{SOAP11}}}Body/{{http://services.samples/xsd}}CheckPriceResponse")
    assert answer is not None
    assert answer.findtext("{http://services.samples/xsd}Code") == "IBM"
    assert float(answer.findtext("{http://services.samples/xsd}Price")) > 0


async def test_sample_50_a_pox_client_gets_pox_back_from_a_soap_back_end(gateway, stockquote):
    server = await stockquote()
    client = await gateway({"sequences/main.xml": at(server, SAMPLE_50)})
    response = await client.post(
        "/services/StockQuote", data=GET_QUOTE.format("IBM"), headers={"Content-Type": "application/xml"}
    )
    body = await response.read()
    assert response.status == 200, body
    assert response.headers["Content-Type"].startswith("application/xml")
    root = etree.fromstring(body)
    assert root.tag == f"{{{SAMPLES_NS}}}getQuoteResponse"
    assert server.requests[-1].soap_version == "1.1"  # format="soap11"


async def test_send_without_an_endpoint_and_no_address_is_a_fault(gateway):
    main = '<sequence xmlns="http://ws.apache.org/ns/synapse" name="main"><in><send/></in></sequence>'
    client = await gateway({"sequences/main.xml": main})
    response = await client.post("/somewhere", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 500
    assert "has no destination" in await response.text()


async def test_a_main_that_sends_every_reply_on_again_is_stopped(gateway, stockquote):
    server = await stockquote()
    main = f"""<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <send><endpoint><address uri="{server.url}"/></endpoint></send><out><send/></out></sequence>"""
    client = await gateway({"sequences/main.xml": main})
    response = await client.post("/", data=smart_client(None, GET_QUOTE.format("IBM")), headers=SOAP_HEADERS)
    assert response.status == 500
    assert "passed through the main sequence 8 times" in await response.text()


async def test_sample_9_a_dynamic_sequence_from_the_registry_sends_to_the_to(gateway, stockquote, caplog):
    """Sample 9 with MI's file registry in place of the SimpleURLRegistry (its <registry> is a server setting
    here): the key sequence/dynamic_seq_1.xml is registry/governance/…; Apache's resource (its tabs as spaces)
    logs on the way in and sends both ways."""
    server = await stockquote()
    files = {
        "sequences/main.xml": """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
            <sequence key="sequence/dynamic_seq_1.xml"/>
        </sequence>""",
        "registry/governance/sequence/dynamic_seq_1.xml": """<sequence name="dynamic_sequence"
            xmlns="http://ws.apache.org/ns/synapse">
    <in>
        <log level="custom">
        <property name="message" value="*** Test Message 1 ***"/>
        </log>
    </in>
    <send/>
</sequence>""",
    }
    client = await gateway(files)
    with caplog.at_level(logging.INFO):
        response = await client.post("/", data=smart_client(server.url, GET_QUOTE.format("WSO2")), headers=SOAP_HEADERS)
        reply = await response.read()
    assert quote_of(reply).findtext(f"{{{SAMPLES_NS}}}symbol") == "WSO2"
    assert [r.getMessage() for r in caplog.records].count("message = *** Test Message 1 ***") == 1


async def test_sample_12_local_entries_hold_the_sequence_and_the_endpoint(gateway, stockquote, tmp_path, caplog):
    """Sample 12: a local entry's src file holds the endpoint, another local entry the sequence."""
    server = await stockquote()
    folder = tmp_path / "artifacts/repository/conf/sample/resources/endpoint"
    folder.mkdir(parents=True)
    (folder / "dynamic_endpt_1.xml").write_text(
        f'<endpoint xmlns="http://ws.apache.org/ns/synapse" name="simple"><address uri="{server.url}"/></endpoint>\n'
    )
    files = {
        "local-entries/local-enrty-ep-key.xml": """<localEntry xmlns="http://ws.apache.org/ns/synapse"
            key="local-enrty-ep-key" src="file:repository/conf/sample/resources/endpoint/dynamic_endpt_1.xml"/>""",
        "local-entries/local-enrty-sequence-key.xml": """<localEntry xmlns="http://ws.apache.org/ns/synapse"
            key="local-enrty-sequence-key">
        <sequence name="dynamic_sequence">
            <log level="custom">
                <property name="message" value="*** Test Message 1 ***"/>
            </log>
        </sequence>
    </localEntry>""",
        "sequences/main.xml": """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <in>
            <sequence key="local-enrty-sequence-key"/>
            <send>
                <endpoint key="local-enrty-ep-key"/>
            </send>
        </in>
        <out>
            <send/>
        </out>
    </sequence>""",
    }
    client = await gateway(files)
    with caplog.at_level(logging.INFO):
        response = await client.post("/", data=smart_client(None, GET_QUOTE.format("IBM")), headers=SOAP_HEADERS)
        reply = await response.read()
    assert response.status == 200, reply
    assert quote_of(reply).findtext(f"{{{SAMPLES_NS}}}symbol") == "IBM"
    assert "message = *** Test Message 1 ***" in [r.getMessage() for r in caplog.records]


async def test_a_wsa_to_naming_the_gateway_itself_is_refused_not_looped(gateway):
    """A smart client whose WS-Addressing To is the gateway's own URL: MI would send the message to itself
    again and again; here the default endpoint refuses it."""
    client = await gateway({"sequences/main.xml": SAMPLE_0})
    own = str(client.make_url("/services/Loop"))
    response = await client.post(
        "/services/Loop", data=smart_client(own, GET_QUOTE.format("IBM")), headers=SOAP_HEADERS
    )
    assert response.status == 500
    assert "sending there would loop" in await response.text()


async def test_in_a_proxy_the_target_endpoint_wins_over_a_wsa_to_but_not_over_a_header_to(gateway, stockquote):
    first, second = await stockquote(server_name="one"), await stockquote(server_name="two")
    proxy = f"""<proxy xmlns="http://ws.apache.org/ns/synapse" name="P"><target>
        <inSequence><filter source="$trp:X-Rewrite" regex="yes"><header name="To" value="{second.url}"/></filter>
            <send/></inSequence>
        <endpoint><address uri="{first.url}"/></endpoint><outSequence><send/></outSequence></target></proxy>"""
    client = await gateway({"proxies/P.xml": proxy})
    body = smart_client(second.url, GET_QUOTE.format("IBM"))
    await client.post("/services/P", data=body, headers=SOAP_HEADERS)
    assert (len(first.requests), len(second.requests)) == (1, 0)
    await client.post("/services/P", data=body, headers={**SOAP_HEADERS, "X-Rewrite": "yes"})
    assert (len(first.requests), len(second.requests)) == (1, 1)


async def test_a_failing_to_does_not_stop_sends_to_other_addresses(gateway, stockquote):
    """A send without an endpoint has no endpoint state to suspend (W: Axis2Sender.sendOn)."""
    dead, alive = await stockquote(), await stockquote()
    await dead.stop()
    client = await gateway({"sequences/main.xml": SAMPLE_0})
    failed = await client.post("/", data=smart_client(dead.url, GET_QUOTE.format("IBM")), headers=SOAP_HEADERS)
    assert failed.status == 500
    for server in (alive, dead):
        if server is dead:
            await dead.start()
        response = await client.post("/", data=smart_client(server.url, GET_QUOTE.format("IBM")), headers=SOAP_HEADERS)
        assert response.status == 200


async def test_skip_main_sequence_leaves_the_reply_unmediated(gateway, stockquote):
    """W: Axis2SynapseEnvironment.injectMessage: with SKIP_MAIN_SEQUENCE=true a reply to a send from main is
    not mediated (nothing answers the client: 202 here)."""
    server = await stockquote()
    main = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <in><property name="SKIP_MAIN_SEQUENCE" value="true"/><send/></in><out><send/></out></sequence>"""
    client = await gateway({"sequences/main.xml": main})
    response = await client.post("/", data=smart_client(server.url, GET_QUOTE.format("IBM")), headers=SOAP_HEADERS)
    assert (response.status, await response.read()) == (202, b"")
    assert len(server.requests) == 1
