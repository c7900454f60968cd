"""The stand-in for the Synapse samples' back ends (tests/support/stockquote.py), checked against what the Java
services answer: SimpleStockQuoteService through its WSDL with zeep (SOAP 1.1 and 1.2), and with plain HTTP for
SOAP 1.2, POX and REST; LBService1 on several servers; the echo server; the controls tests rely on.

zeep is synchronous: it runs in a thread while the event loop keeps serving."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest
import requests
import zeep
import zeep.exceptions
from aiohttp import web
from lxml import etree

from tests.support.stockquote import (
    SAMPLES_NS,
    SOAP11_NS,
    SOAP12_NS,
    WSA_NS,
    WSA_SUBMISSION_NS,
    XSD_NS,
    XSI_NS,
    java_date,
    java_double,
)
from tests.support.waiting import until

# The requests samples.common.StockQuoteHandler builds for the stock quote client's modes.
GET_QUOTE = (
    '<m0:getQuote xmlns:m0="http://services.samples"><m0:request><m0:symbol>{}</m0:symbol></m0:request></m0:getQuote>'
)
PLACE_ORDER = (
    '<m0:placeOrder xmlns:m0="http://services.samples"><m0:order><m0:price>3.141593E0</m0:price>'
    "<m0:quantity>4</m0:quantity><m0:symbol>IBM</m0:symbol></m0:order></m0:placeOrder>"
)
# A getQuote answer of the sample Axis2 server, as the Synapse guide logs it (userguide/quick_start.xml).
DOCUMENTED_GET_QUOTE_RESPONSE = (
    '<ns:getQuoteResponse xmlns:ns="http://services.samples"><ns:return '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="ns:GetQuoteResponse">'
    "<ns:change>4.158253518011668</ns:change><ns:earnings>13.000214652478554</ns:earnings>"
    "<ns:high>176.07121446241788</ns:high><ns:last>171.44223855674258</ns:last>"
    "<ns:lastTradeTimestamp>Tue Sep 18 09:46:57 CEST 2012</ns:lastTradeTimestamp>"
    "<ns:low>-169.3791832231285</ns:low><ns:marketCap>3.844340450887613E7</ns:marketCap>"
    "<ns:name>IBM Company</ns:name><ns:open>-167.9098655007073</ns:open><ns:peRatio>-17.815829214870217</ns:peRatio>"
    "<ns:percentageChange>-2.4400099237243</ns:percentageChange><ns:prevClose>-170.41953303471544</ns:prevClose>"
    "<ns:symbol>IBM</ns:symbol><ns:volume>16090</ns:volume></ns:return></ns:getQuoteResponse>"
)
JAVA_DOUBLE = re.compile(r"-?\d+\.\d+(E-?\d+)?")
JAVA_DATE = re.compile(r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} \S+ \d{4}")
S11 = {"s": SOAP11_NS}
S12 = {"s": SOAP12_NS}


def soap(body: str, version: str = "1.1", header: str = "") -> bytes:
    ns = SOAP11_NS if version == "1.1" else SOAP12_NS
    head = f"<s:Header>{header}</s:Header>" if header else ""
    return f'<s:Envelope xmlns:s="{ns}">{head}<s:Body>{body}</s:Body></s:Envelope>'.encode()


async def post(
    url: str, body: bytes, content_type: str = "text/xml; charset=UTF-8", **headers: str
) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body, headers={"Content-Type": content_type, **headers}) as response:
            return response.status, response.headers.get("Content-Type", ""), await response.read()


def body_of(envelope: bytes, version: str = "1.1") -> etree._Element:
    namespaces = S11 if version == "1.1" else S12
    return etree.fromstring(envelope).find("s:Body", namespaces)[0]


def zeep_client(url: str) -> zeep.Client:
    session = requests.Session()
    session.trust_env = False  # loopback only: never through an HTTP(S)_PROXY from the environment
    return zeep.Client(url + "?wsdl", transport=zeep.Transport(session=session))


def shape(element: etree._Element) -> list[tuple[str, tuple[str | None, str] | None]]:
    """Each element's name and resolved xsi:type, in document order: what must match, values aside."""
    result = []
    for node in element.iter(etree.Element):
        declared = node.get(f"{{{XSI_NS}}}type")
        prefix, _, local = (declared or "").rpartition(":")
        result.append((node.tag, (node.nsmap.get(prefix or None), local) if declared else None))
    return result


def assert_java_quote(quote: etree._Element, symbol: str) -> None:
    fields = {etree.QName(child).localname: child.text for child in quote}
    for name in (
        "change",
        "earnings",
        "high",
        "last",
        "low",
        "marketCap",
        "open",
        "peRatio",
        "percentageChange",
        "prevClose",
    ):
        assert JAVA_DOUBLE.fullmatch(fields[name]), (name, fields[name])
    assert re.fullmatch(r"\d+", fields["volume"]) and JAVA_DATE.fullmatch(fields["lastTradeTimestamp"])
    assert (fields["symbol"], fields["name"]) == (symbol, f"{symbol} Company")
    change, prev_close = float(fields["change"]), float(fields["prevClose"])
    assert float(fields["percentageChange"]) == pytest.approx(change / prev_close * 100)
    assert 10 <= float(fields["last"]) <= 190  # getRandom(100, 0.9, true)


async def test_zeep_calls_getquote_through_the_wsdl_and_gets_the_java_types(stockquote):
    svc = await stockquote()

    def call():
        return zeep_client(svc.url).service.getQuote(request={"symbol": "IBM"})

    quote = await asyncio.to_thread(call)
    assert (quote.symbol, quote.name) == ("IBM", "IBM Company")
    assert isinstance(quote.volume, int) and isinstance(quote.last, float) and isinstance(quote.marketCap, float)
    assert quote.percentageChange == pytest.approx(quote.change / quote.prevClose * 100)
    assert JAVA_DATE.fullmatch(quote.lastTradeTimestamp)
    call_record = svc.requests[-1]
    assert (call_record.operation, call_record.soap_version, call_record.service) == (
        "getQuote",
        "1.1",
        "SimpleStockQuoteService",
    )
    assert call_record.headers["SOAPAction"].strip('"') == "urn:getQuote"  # zeep used the WSDL's soapAction


async def test_getquote_answer_has_the_shape_of_the_documented_one(stockquote):
    svc = await stockquote()
    status, content_type, reply = await post(svc.url, soap(GET_QUOTE.format("IBM")))  # no SOAPAction: by body
    assert status == 200 and content_type == "text/xml; charset=UTF-8"
    assert reply.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    answer = body_of(reply)
    assert shape(answer) == shape(etree.fromstring(DOCUMENTED_GET_QUOTE_RESPONSE))
    assert etree.fromstring(reply).find("s:Header", S11) is None  # no WS-Addressing in, no header out
    assert_java_quote(answer[0], "IBM")


async def test_types_in_the_xsd_namespace_as_wso2s_build_writes_them(stockquote):
    svc = await stockquote(types_ns=XSD_NS)
    _, _, reply = await post(svc.url, soap(GET_QUOTE.format("WSO2")), SOAPAction="urn:getQuote")
    result = body_of(reply)[0]
    assert result.tag == f"{{{SAMPLES_NS}}}return"
    assert result.get(f"{{{XSI_NS}}}type") == "ax21:GetQuoteResponse" and result.nsmap["ax21"] == XSD_NS
    assert {etree.QName(child).namespace for child in result} == {XSD_NS}
    assert_java_quote(result, "WSO2")

    def call():  # its WSDL describes that namespace, so a typed client still reads the answer
        return zeep_client(svc.url).service.getQuote(request={"symbol": "WSO2"}).name

    assert await asyncio.to_thread(call) == "WSO2 Company"


async def test_full_quote_and_market_activity_through_zeep(stockquote):
    svc = await stockquote()

    def call():
        client = zeep_client(svc.url)
        return (
            client.service.getFullQuote(request={"symbol": "IBM"}),
            client.service.getMarketActivity(request={"symbols": ["IBM", "MSFT", "SUN"]}),
        )

    history, activity = await asyncio.to_thread(call)
    assert [day.day for day in history] == list(range(365))  # GetFullQuoteResponse.COUNT trading days
    assert {day.quote.symbol for day in history} == {"IBM"}
    assert [quote.symbol for quote in activity] == ["IBM", "MSFT", "SUN"]
    _, _, reply = await post(
        svc.url,
        soap(
            '<m:getMarketActivity xmlns:m="http://services.samples"><m:request>'
            "<m:symbols>ABC</m:symbols><m:symbols>XYZ</m:symbols></m:request>"
            "</m:getMarketActivity>"
        ),
    )
    result = body_of(reply)[0]
    assert [quote.get(f"{{{XSI_NS}}}type") for quote in result] == ["ns:GetQuoteResponse"] * 2
    assert_java_quote(result[1], "XYZ")


async def test_place_order_is_one_way_and_recorded(stockquote):
    svc = await stockquote()
    status, _, reply = await post(svc.url, soap(PLACE_ORDER), SOAPAction="urn:placeOrder")
    assert (status, reply) == (202, b"")

    def call():
        return zeep_client(svc.url).service.placeOrder(order={"price": 12.5, "quantity": 100, "symbol": "MSFT"})

    assert await asyncio.to_thread(call) is None
    assert [(order.symbol, order.quantity, order.price) for order in svc.orders] == [
        ("IBM", 4, 3.141593),
        ("MSFT", 100, 12.5),
    ]


async def test_err_symbol_faults_as_the_rpc_receiver_reports_the_exception(stockquote):
    svc = await stockquote()

    def call():
        with pytest.raises(zeep.exceptions.Fault) as raised:
            zeep_client(svc.url).service.getQuote(request={"symbol": "ERR"})
        return raised.value

    fault = await asyncio.to_thread(call)
    assert (fault.code, fault.message) == ("soapenv:Server", "Invalid stock symbol : ERR")
    message = fault.detail.find(
        f"{{*}}SimpleStockQuoteServiceException/{{*}}SimpleStockQuoteServiceException/{{{SAMPLES_NS}}}Message"
    )
    assert message.text == "Invalid stock symbol : ERR"

    status, _, reply = await post(svc.url, soap(GET_QUOTE.format("ERR"), "1.2"), "application/soap+xml")
    fault12 = body_of(reply, "1.2")
    assert status == 500 and fault12.findtext("s:Code/s:Value", namespaces=S12) == "soapenv:Receiver"
    text = fault12.find("s:Reason/s:Text", S12)
    assert (text.text, text.get("{http://www.w3.org/XML/1998/namespace}lang")) == (
        "Invalid stock symbol : ERR",
        "en-US",
    )
    status, content_type, reply = await post(svc.url, GET_QUOTE.format("ERR").encode(), "application/xml")
    assert (status, content_type) == (500, "application/xml; charset=UTF-8")  # POX: the detail entry alone
    assert etree.fromstring(reply).tag == f"{{{SAMPLES_NS}}}SimpleStockQuoteServiceException"
    status, _, reply = await post(svc.url, soap('<m:getQuoteError xmlns:m="http://services.samples"/>'))
    assert status == 500 and body_of(reply).findtext("faultstring") == "Invalid stock symbol : ERR"


async def test_unknown_operation_or_service_faults_with_axis2s_words(stockquote):
    svc = await stockquote()
    status, _, reply = await post(svc.url, soap("<m:nothing xmlns:m='urn:x'/>"), SOAPAction="urn:nothing")
    fault = body_of(reply)
    assert status == 500 and fault.findtext("faultcode") == "soapenv:Client" and fault.find("detail") is not None
    assert fault.findtext("faultstring") == (
        "The endpoint reference (EPR) for the Operation not found is /services/SimpleStockQuoteService and the WSA "
        "Action = urn:nothing. If this EPR was previously reachable, please contact the server administrator."
    )
    status, _, reply = await post(
        svc.base_url + "/services/BogusService", soap(GET_QUOTE.format("IBM")), SOAPAction="urn:getQuote"
    )  # sample 10001's endpoint
    assert status == 500 and body_of(reply).findtext("faultstring") == (
        "The service cannot be found for the endpoint reference (EPR) /services/BogusService"
    )
    status, _, reply = await post(svc.url, b"<not-xml", "application/xml")
    assert status == 500 and etree.fromstring(reply).tag == "faultstring"
    assert [record.operation for record in svc.requests] == [None, None, None]


@pytest.mark.parametrize(
    ("path", "headers", "payload", "version", "answered"),
    [
        ("", {"SOAPAction": '"urn:getSimpleQuote"'}, GET_QUOTE, "1.1", "getSimpleQuoteResponse"),  # SOAPAction first
        ("", {"SOAPAction": "getFullQuote"}, GET_QUOTE, "1.1", "getFullQuoteResponse"),  # the operation's plain name
        (
            "",
            {"Content-Type": 'application/soap+xml; action="urn:getSimpleQuote"'},
            GET_QUOTE,
            "1.2",
            "getSimpleQuoteResponse",
        ),  # SOAP 1.2 carries the action in the Content-Type
        ("", {"SOAPAction": "urn:mediate"}, GET_QUOTE, "1.1", "getQuoteResponse"),  # unknown action: the body decides
        ("/getSimpleQuote", {}, GET_QUOTE, "1.1", "getSimpleQuoteResponse"),  # the URI's operation before the body
    ],
    ids=["soapaction", "plain-name", "soap12-action", "body", "uri"],
)
async def test_dispatch_follows_axis2s_order(stockquote, path, headers, payload, version, answered):
    svc = await stockquote()
    content_type = headers.pop("Content-Type", "text/xml" if version == "1.1" else "application/soap+xml")
    _, _, reply = await post(svc.url + path, soap(payload.format("IBM"), version), content_type, **headers)
    assert etree.QName(body_of(reply, version)).localname == answered
    assert svc.requests[-1].operation == answered.removesuffix("Response")


async def test_ws_addressing_action_dispatches_and_the_reply_relates_to_the_request(stockquote):
    svc = await stockquote()
    header = (
        f'<wsa:To xmlns:wsa="{WSA_NS}">http://localhost:9000/services/SimpleStockQuoteService</wsa:To>'
        f'<wsa:MessageID xmlns:wsa="{WSA_NS}">urn:uuid:1234</wsa:MessageID>'
        f'<wsa:Action xmlns:wsa="{WSA_NS}">urn:getSimpleQuote</wsa:Action>'
    )
    status, content_type, reply = await post(
        svc.url, soap(GET_QUOTE.format("IBM"), "1.2", header), "application/soap+xml"
    )
    assert (status, content_type) == (200, 'application/soap+xml; charset=UTF-8; action="urn:getSimpleQuoteResponse"')
    headers = etree.fromstring(reply).find("s:Header", S12)
    assert [(etree.QName(h).localname, h.text) for h in headers] == [
        ("Action", "urn:getSimpleQuoteResponse"),
        ("RelatesTo", "urn:uuid:1234"),
    ]
    header = (
        f'<wsa:MessageID xmlns:wsa="{WSA_SUBMISSION_NS}">urn:uuid:5678</wsa:MessageID>'
        f'<wsa:Action xmlns:wsa="{WSA_SUBMISSION_NS}">urn:getQuote</wsa:Action>'
    )
    _, _, reply = await post(svc.url, soap(GET_QUOTE.format("ERR"), "1.1", header))
    headers = etree.fromstring(reply).find("s:Header", S11)  # the 2004/08 spec keeps an anonymous To
    names = [(etree.QName(h).namespace, etree.QName(h).localname) for h in headers]
    assert names == [(WSA_SUBMISSION_NS, name) for name in ("To", "MessageID", "Action", "RelatesTo")]
    assert headers[2].text == f"{WSA_SUBMISSION_NS}/fault" and headers[3].text == "urn:uuid:5678"


async def test_a_non_anonymous_reply_to_gets_the_reply_posted_there(stockquote, backend):
    replies = await backend(lambda request, body: web.Response(status=202))
    svc = await stockquote()
    reply_to = str(replies.make_url("/callback"))
    header = (
        f'<wsa:MessageID xmlns:wsa="{WSA_NS}">urn:uuid:42</wsa:MessageID>'
        f'<wsa:ReplyTo xmlns:wsa="{WSA_NS}"><wsa:Address>{reply_to}</wsa:Address></wsa:ReplyTo>'
        f'<wsa:Action xmlns:wsa="{WSA_NS}">urn:getQuote</wsa:Action>'
    )
    status, _, body = await post(svc.url, soap(GET_QUOTE.format("IBM"), "1.1", header))
    assert (status, body) == (202, b"")
    await until(lambda: replies.requests)
    (received,) = replies.requests
    envelope = etree.fromstring(received["body"])
    headers = {etree.QName(h).localname: h for h in envelope.find("s:Header", S11)}
    assert headers["To"].text == reply_to and headers["RelatesTo"].text == "urn:uuid:42"
    assert headers["ReplyTo"].findtext(f"{{{WSA_NS}}}Address") == f"{WSA_NS}/none"
    assert headers["MessageID"].text.startswith("urn:uuid:") and received["path"] == "/callback"
    assert_java_quote(body_of(received["body"])[0], "IBM")


async def test_pox_in_pox_out_and_rest_get(stockquote):
    svc = await stockquote()
    status, content_type, reply = await post(
        svc.url, GET_QUOTE.format("IBM").encode(), "application/xml", SOAPAction="urn:getQuote"
    )  # sample 50's client with -Drest=true
    answer = etree.fromstring(reply)
    assert (status, content_type, answer.tag) == (
        200,
        "application/xml; charset=UTF-8",
        f"{{{SAMPLES_NS}}}getQuoteResponse",
    )
    assert_java_quote(answer[0], "IBM")
    async with aiohttp.ClientSession() as session:
        for operation, symbol in (("getQuote", "IBM"), ("getSimpleQuote", "MSFT")):
            async with session.get(f"{svc.url}/{operation}", params={"symbol": symbol}) as response:
                answer = etree.fromstring(await response.read())
                assert response.status == 200 and answer.tag == f"{{{SAMPLES_NS}}}{operation}Response"
                assert_java_quote(answer[0], symbol)
    assert [(r.method, r.operation, r.soap_version) for r in svc.requests] == [
        ("POST", "getQuote", None),
        ("GET", "getQuote", None),
        ("GET", "getSimpleQuote", None),
    ]


async def test_wsdl_names_this_servers_ports(stockquote):
    svc = await stockquote("SimpleStockQuoteService1")  # a copy under another name
    async with aiohttp.ClientSession() as session, session.get(svc.url + "?wsdl") as response:
        wsdl = etree.fromstring(await response.read())
    locations = [element.get("location") for element in wsdl.iter("{*}address")]
    assert locations == [
        f"{svc.url}.SimpleStockQuoteService1{port}Endpoint" for port in ("HttpSoap11", "HttpSoap12", "Http")
    ]
    _, _, reply = await post(locations[0], soap(GET_QUOTE.format("ERR")))
    assert body_of(reply).find("detail/{*}SimpleStockQuoteService1Exception") is not None
    assert svc.url_for("LBService1") in {svc.base_url + "/services/" + name for name in svc.services}


async def test_lbservice_answers_with_each_servers_name(stockquote):
    servers = [await stockquote("LBService1", server_name=f"MyServer{i}") for i in (1, 2, 3)]
    value = b"<Value>Sample string</Value>"  # LoadbalanceFailoverClient's request
    for server in servers:
        _, _, reply = await post(server.url, soap(value.decode()), SOAPAction="urn:sampleOperation")
        answer = body_of(reply)
        assert (answer.tag, answer.text) == ("Value", f"Response from server: {server.server_name}")
    _, _, reply = await post(
        servers[0].url, soap("<Value>c1</Value>", "1.2"), 'application/soap+xml; action="urn:setClientName"'
    )
    assert body_of(reply, "1.2").text == "Sessions are not supported in this service."
    started = time.monotonic()
    _, _, reply = await post(servers[1].url, soap("<p><load>200</load></p>"), SOAPAction="urn:sleepOperation")
    assert time.monotonic() - started >= 0.2
    assert body_of(reply).findtext("load") == "Response from server: MyServer2"
    status, _, reply = await post(servers[2].url, soap(value.decode()))  # <Value> names no operation
    assert status == 500 and "Operation not found" in body_of(reply).findtext("faultstring")
    anonymous = await stockquote("LBService1")
    _, _, reply = await post(anonymous.url, soap(value.decode()), SOAPAction="urn:sampleOperation")
    assert body_of(reply).text == "Response from anonymous server"


async def test_record_and_identity_of_every_request(stockquote):
    first, second = await stockquote(server_name="MyServer1"), await stockquote()
    await post(first.url, soap(GET_QUOTE.format("IBM")), SOAPAction="urn:getQuote", **{"X-Test": "1"})
    async with aiohttp.ClientSession() as session, session.get(second.url + "/getQuote?symbol=A") as response:
        assert response.headers["X-Sample-Server"] == second.instance == f"127.0.0.1:{second.port}"
    (record,) = first.requests
    assert (record.server, record.method, record.path, record.service, record.operation) == (
        "MyServer1",
        "POST",
        "/services/SimpleStockQuoteService",
        "SimpleStockQuoteService",
        "getQuote",
    )
    assert record.headers["X-Test"] == "1" and record.body == soap(GET_QUOTE.format("IBM"))
    assert second.requests[0].server == second.instance and second.requests[0].path.endswith("?symbol=A")


async def test_delay_and_forced_status(stockquote):
    svc = await stockquote(delay=0.3)
    started = time.monotonic()
    status, _, _ = await post(svc.url, soap(GET_QUOTE.format("IBM")))
    assert status == 200 and time.monotonic() - started >= 0.3
    svc.delay, svc.answer_status = 0, 500
    status, _, body = await post(svc.url, soap(GET_QUOTE.format("IBM")))
    assert (status, body) == (500, f"{svc.instance} forced failure".encode())
    assert len(svc.requests) == 2  # recorded even when the answer is forced


async def test_stop_refuses_connections_and_start_serves_the_same_port_again(stockquote):
    svc = await stockquote()
    url, port = svc.url, svc.port
    await svc.stop()
    with pytest.raises(aiohttp.ClientConnectorError):
        await post(url, soap(GET_QUOTE.format("IBM")))
    await svc.start()
    status, _, _ = await post(url, soap(GET_QUOTE.format("IBM")))
    assert (status, svc.port) == (200, port)
    svc.drop_connections = True
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(url, soap(GET_QUOTE.format("IBM")))
    assert len(svc.requests) == 2


async def test_echo_server_of_the_rest_samples(stockquote):
    echo = await stockquote("EchoService", echo=True)
    status, content_type, body = await post(echo.url, b"<foo><bar>1</bar></foo>", "application/xml")
    assert (status, content_type, body) == (200, "application/xml", b"<foo><bar>1</bar></foo>")
    async with aiohttp.ClientSession() as session, session.options(echo.base_url + "/test") as response:
        assert response.status == 204  # sample 10003: no entity, no content


def test_doubles_and_dates_are_written_as_java_writes_them():
    # Double.toString: plain between 10^-3 and 10^7, computerized scientific notation outside
    assert [
        java_double(value)
        for value in (171.44223855674258, 3.844340450887613e7, 100.0, -0.0, 1e7, 1e-4, 0.001, -1234.5, float("inf"))
    ] == ["171.44223855674258", "3.844340450887613E7", "100.0", "-0.0", "1.0E7", "1.0E-4", "0.001", "-1234.5", "INF"]
    assert JAVA_DATE.fullmatch(java_date(0)) and java_date(0).endswith("1970")
