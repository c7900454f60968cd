"""WS-Addressing on inbound SOAP requests (W: Axis2's AddressingInHandler, which MI runs when the message is built,
RelayUtils.processAddressing), what is forwarded (W: Axis2FlexibleMEPClient.cloneForSend), the action written as
the SOAPAction header or the SOAP 1.2 action parameter (W: TargetRequest, SOAPMessageFormatter), and Apache
Synapse samples 450, 451 and 452 played end to end from a client that sets wsa:To as the samples' client does
(`ant stockquote -Daddurl=… -Dtrpurl=http://localhost:8280/`): the request goes to the gateway, its wsa:To names
the service, the sample's main sequence rewrites that address and `<send/>` delivers to it."""

from __future__ import annotations

import asyncio
import errno
import ssl
from pathlib import Path

import pytest
import requests
import trustme
import zeep
from aiohttp import web
from lxml import etree
from zeep.wsa import WsAddressingPlugin

from tests.support.stockquote import SAMPLES_NS, SampleServer

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
FINAL = "http://www.w3.org/2005/08/addressing"
SUBMISSION = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
S = 'xmlns="http://ws.apache.org/ns/synapse"'
SAMPLES = Path(__file__).parent / "data" / "synapse-samples"
GET_QUOTE = (
    '<m0:getQuote xmlns:m0="http://services.samples"><m0:request><m0:symbol>{}</m0:symbol></m0:request></m0:getQuote>'
)


def addressed(
    to: str,
    body: str,
    *,
    action: str | None = "urn:getQuote",
    namespace: str = FINAL,
    soap: str = SOAP11,
    reply_to: str | None = None,
    fault_to: str | None = None,
) -> bytes:
    """A SOAP request with WS-Addressing headers, as the samples' Axis2 client writes them."""
    blocks = [f"<wsa:To>{to}</wsa:To>", "<wsa:MessageID>urn:uuid:client-1</wsa:MessageID>"]
    if action is not None:
        blocks.append(f"<wsa:Action>{action}</wsa:Action>")
    if reply_to:
        blocks.append(f"<wsa:ReplyTo><wsa:Address>{reply_to}</wsa:Address></wsa:ReplyTo>")
    if fault_to:
        blocks.append(f"<wsa:FaultTo><wsa:Address>{fault_to}</wsa:Address></wsa:FaultTo>")
    return (
        f'<s:Envelope xmlns:s="{soap}"><s:Header xmlns:wsa="{namespace}">{"".join(blocks)}</s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def soap11(action: str = "urn:getQuote") -> dict[str, str]:
    return {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": f'"{action}"'}


def proxy(body: str, name: str = "P") -> dict[str, str]:
    return {f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target><inSequence>{body}</inSequence></target></proxy>'}


ECHO_ADDRESSING = """<payloadFactory media-type="xml">
    <format><a xmlns=""><to>$1</to><action>$2</action><id>$3</id><replyTo>$4</replyTo><faultTo>$5</faultTo></a></format>
    <args><arg expression="get-property('To')"/><arg expression="get-property('Action')"/>
      <arg expression="get-property('MessageID')"/><arg expression="get-property('ReplyTo')"/>
      <arg expression="get-property('FaultTo')"/></args></payloadFactory><respond/>"""


async def echoed(response) -> dict[str, str]:
    """The addressing properties the proxy saw (ECHO_ADDRESSING's answer, in the client's SOAP)."""
    assert response.status == 200, await response.text()
    answer = etree.fromstring(await response.read()).find(".//a")
    assert answer is not None
    return {child.tag: child.text or "" for child in answer}


# -- inbound -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", [FINAL, SUBMISSION], ids=["final", "submission"])
async def test_inbound_addressing_headers_are_the_message_s_to_action_and_message_id(gateway, namespace):
    client = await gateway(proxy(ECHO_ADDRESSING))
    body = addressed(
        "http://backend.example/services/Quote",
        GET_QUOTE.format("IBM"),
        namespace=namespace,
        reply_to="http://client.example/replies",
        fault_to="http://client.example/faults",
    )
    # the sample client sends an empty SOAPAction with its wsa:Action
    response = await client.post("/services/P", data=body, headers=soap11(""))
    assert await echoed(response) == {
        "to": "http://backend.example/services/Quote",
        "action": "urn:getQuote",
        "id": "urn:uuid:client-1",
        "replyTo": "http://client.example/replies",
        "faultTo": "http://client.example/faults",
    }


async def test_without_addressing_to_is_the_path_and_the_action_the_soap_action(gateway):
    client = await gateway(proxy(ECHO_ADDRESSING))
    envelope = f'<s:Envelope xmlns:s="{SOAP11}"><s:Body>{GET_QUOTE.format("IBM")}</s:Body></s:Envelope>'
    response = await client.post("/services/P?x=1", data=envelope, headers=soap11("urn:plain"))
    body = await echoed(response)
    assert (body["to"], body["action"], body["replyTo"]) == ("/services/P?x=1", "urn:plain", "")
    assert body["id"].startswith("urn:uuid:") and body["id"] != "urn:uuid:client-1"


async def test_a_soap_1_2_request_s_addressing_is_read_too(gateway):
    client = await gateway(proxy(ECHO_ADDRESSING))
    body = addressed("http://backend.example/q", GET_QUOTE.format("IBM"), action="urn:twelve", soap=SOAP12)
    response = await client.post("/services/P", data=body, headers={"Content-Type": "application/soap+xml"})
    answer = await echoed(response)
    assert (answer["to"], answer["action"], answer["id"]) == (
        "http://backend.example/q",
        "urn:twelve",
        "urn:uuid:client-1",
    )


async def test_the_flow_s_header_mediator_wins_over_the_request_s_addressing(gateway):
    client = await gateway(
        proxy(
            '<header name="To" value="http://other.example/x"/><header name="Action" value="urn:flow"/>'
            '<header name="MessageID" value="urn:uuid:flow"/>' + ECHO_ADDRESSING
        )
    )
    response = await client.post("/services/P", data=addressed("http://b/q", GET_QUOTE.format("A")), headers=soap11(""))
    answer = await echoed(response)
    assert (answer["to"], answer["action"], answer["id"]) == ("http://other.example/x", "urn:flow", "urn:uuid:flow")


# -- what is forwarded ---------------------------------------------------------------------------------


async def received_header(gateway, backend, flow: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    async def answer(_request: web.Request, _body: bytes) -> web.Response:
        return web.Response(body=b"<ok/>", content_type="application/xml")

    server = await backend(answer)
    url = server.make_url("/services/Quote")
    client = await gateway(proxy(f'{flow}<call><endpoint><address uri="{url}"/></endpoint></call><respond/>'))
    response = await client.post("/services/P", data=body, headers=soap11(""))
    assert response.status == 200, await response.text()
    return server.requests[0]["body"], server.requests[0]["headers"]


@pytest.mark.parametrize("namespace", [FINAL, SUBMISSION], ids=["final", "submission"])
async def test_a_built_request_s_addressing_headers_are_not_forwarded(gateway, backend, namespace):
    request = addressed("http://b/q", GET_QUOTE.format("IBM"), namespace=namespace, reply_to="http://c/r")
    # reading To processes the addressing headers (MI does it when the message is built)
    sent, headers = await received_header(
        gateway, backend, '<property name="to" expression="get-property(\'To\')"/>', request
    )
    envelope = etree.fromstring(sent)
    assert envelope.xpath("//*[namespace-uri()=$ns]", ns=namespace) == []
    assert envelope.findtext(f".//{{{SAMPLES_NS}}}symbol") == "IBM"  # the rest of the message is intact
    assert headers["SOAPAction"] == '"urn:getQuote"'  # the client's SOAPAction was empty: its wsa:Action is sent


async def test_preserve_ws_addressing_keeps_them(gateway, backend):
    request = addressed("http://b/q", GET_QUOTE.format("IBM"))
    flow = (
        '<property name="PRESERVE_WS_ADDRESSING" value="true"/><property name="to" expression="get-property(\'To\')"/>'
    )
    sent, _ = await received_header(gateway, backend, flow, request)
    assert etree.fromstring(sent).findtext(f".//{{{FINAL}}}To") == "http://b/q"


async def test_an_untouched_request_passes_through_byte_for_byte(gateway, backend):
    """MI streams an unbuilt message as it came (its addressing is read only when the message is built)."""
    request = addressed("http://b/q", GET_QUOTE.format("IBM"))
    sent, _ = await received_header(gateway, backend, "", request)
    assert sent == request


@pytest.mark.parametrize("padding", [0, 8000], ids=["bytes-scanned", "header-looked-at"])
async def test_a_read_request_without_addressing_goes_as_its_own_bytes(gateway, backend, padding):
    """Content-based routing: a filter read the body, nothing changed it and it has no WS-Addressing header, so
    the client's bytes go on (the tree is not searched for headers to drop, nor written out again). Up to 4 KB
    the bytes are scanned for "addressing", above it the built envelope's Header is looked at."""
    pad = f"<pad>{'x' * padding}</pad>" if padding else ""
    request = (
        f"<?xml version='1.0' encoding='utf-8'?>\n<s:Envelope xmlns:s='{SOAP11}' >\n  <s:Header/>\n"
        f"  <s:Body>{GET_QUOTE.format('IBM')}{pad}</s:Body>\n</s:Envelope>"
    ).encode()
    flow = (
        '<filter xpath="//m0:symbol = \'IBM\'" xmlns:m0="http://services.samples"><then/><else><drop/></else></filter>'
    )
    sent, _ = await received_header(gateway, backend, flow, request)
    assert sent == request


@pytest.mark.parametrize("padding", [0, 8000], ids=["bytes-scanned", "header-looked-at"])
async def test_a_request_built_before_its_addressing_is_read(gateway, backend, padding):
    """A filter builds the request before its To is first read: its wsa:To is still the message's To and its
    WS-Addressing headers are not forwarded, whether the bytes are scanned for them or (above 4 KB) the built
    Header is looked at."""
    pad = f"<pad>{'x' * padding}</pad>" if padding else ""
    request = addressed("http://b/q", GET_QUOTE.format("IBM") + pad, reply_to="http://c/r")
    flow = (
        '<filter xpath="//m0:symbol = \'IBM\'" xmlns:m0="http://services.samples"><then/><else><drop/></else></filter>'
        '<header name="X-To" scope="transport" expression="get-property(\'To\')"/>'
    )
    sent, headers = await received_header(gateway, backend, flow, request)
    assert headers["X-To"] == "http://b/q"
    envelope = etree.fromstring(sent)
    assert envelope.xpath("//*[namespace-uri()=$ns]", ns=FINAL) == []
    assert envelope.findtext(f".//{{{SAMPLES_NS}}}symbol") == "IBM"
    assert headers["SOAPAction"] == '"urn:getQuote"'


async def test_addressing_headers_a_mediator_added_to_a_body_without_any_are_not_forwarded(gateway, backend):
    """The client's body mentions no WS-Addressing; a header block the flow put in the envelope is still dropped
    on the way out (W: cloneForSend removes them from any message it sends)."""
    request = f'<s:Envelope xmlns:s="{SOAP11}"><s:Header/><s:Body>{GET_QUOTE.format("IBM")}</s:Body></s:Envelope>'
    flow = (
        f'<enrich><source type="inline"><wsa:RelatesTo xmlns:wsa="{FINAL}">urn:uuid:x</wsa:RelatesTo></source>'
        '<target action="child" xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xpath="//s:Header"/></enrich>'
        '<property name="marker" expression="//s:Header/*" xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>'
    )
    sent, _ = await received_header(gateway, backend, flow, request.encode())
    envelope = etree.fromstring(sent)
    assert envelope.xpath("//*[namespace-uri()=$ns]", ns=FINAL) == [], sent
    assert envelope.findtext(f".//{{{SAMPLES_NS}}}symbol") == "IBM"


@pytest.mark.parametrize("version", ["final", "submission"])
async def test_enable_addressing_writes_fresh_headers_once(gateway, backend, version):
    """The endpoint engages addressing: To is the endpoint's address, a new MessageID, the action; the client's
    own headers are replaced, not sent twice (W: AddressingOutHandler; submission adds an anonymous ReplyTo)."""

    async def answer(_request: web.Request, _body: bytes) -> web.Response:
        return web.Response(body=b"<ok/>", content_type="application/xml")

    server = await backend(answer)
    url = str(server.make_url("/services/Quote"))
    endpoint = f'<endpoint><address uri="{url}"><enableAddressing version="{version}"/></address></endpoint>'
    client = await gateway(proxy(f"<call>{endpoint}</call><respond/>"))
    request = addressed("http://client.example/q", GET_QUOTE.format("IBM"), action="urn:getQuote")
    response = await client.post("/services/P", data=request, headers=soap11(""))
    assert response.status == 200, await response.text()
    namespace = FINAL if version == "final" else SUBMISSION
    header = etree.fromstring(server.requests[0]["body"]).find(f"{{{SOAP11}}}Header")
    blocks = [(etree.QName(block).namespace, etree.QName(block).localname) for block in header]
    expected = ["To", "MessageID", "Action"] if version == "final" else ["To", "ReplyTo", "MessageID", "Action"]
    assert blocks == [(namespace, name) for name in expected]  # the client's final-namespace ones are gone
    assert header.findtext(f"{{{namespace}}}To") == url
    assert header.findtext(f"{{{namespace}}}Action") == "urn:getQuote"
    message_id = header.findtext(f"{{{namespace}}}MessageID")
    assert message_id.startswith("urn:uuid:") and message_id != "urn:uuid:client-1"
    if version == "submission":
        assert header.findtext(f"{{{namespace}}}ReplyTo/{{{namespace}}}Address") == f"{SUBMISSION}/role/anonymous"


async def test_without_enable_addressing_a_later_send_writes_none(gateway, backend):
    """The mark an addressing endpoint leaves is taken by its own exchange: the next call's endpoint decides."""

    async def answer(_request: web.Request, _body: bytes) -> web.Response:
        return web.Response(body=b"<ok/>", content_type="application/xml")

    server = await backend(answer)
    url = str(server.make_url("/q"))
    flow = (
        f'<call><endpoint><address uri="{url}"><enableAddressing/></address></endpoint></call>'
        f'<payloadFactory media-type="xml"><format><again xmlns=""/></format><args/></payloadFactory>'
        f'<call><endpoint><address uri="{url}" format="soap11"/></endpoint></call><respond/>'
    )
    client = await gateway(proxy(flow))
    envelope = f'<s:Envelope xmlns:s="{SOAP11}"><s:Body>{GET_QUOTE.format("IBM")}</s:Body></s:Envelope>'
    response = await client.post("/services/P", data=envelope, headers=soap11("urn:getQuote"))
    assert response.status == 200, await response.text()
    first, second = (etree.fromstring(r["body"]) for r in server.requests)
    assert first.findtext(f".//{{{FINAL}}}To") == url
    assert second.xpath("//*[namespace-uri()=$ns]", ns=FINAL) == []


# -- the action sent on --------------------------------------------------------------------------------


async def test_the_flow_s_action_replaces_the_client_s_soap_action(gateway, backend):
    envelope = f'<s:Envelope xmlns:s="{SOAP11}"><s:Body>{GET_QUOTE.format("IBM")}</s:Body></s:Envelope>'

    async def answer(_request: web.Request, _body: bytes) -> web.Response:
        return web.Response(body=b"<ok/>", content_type="application/xml")

    server = await backend(answer)
    url = server.make_url("/q")
    call = f'<call><endpoint><address uri="{url}"/></endpoint></call><respond/>'
    client = await gateway(
        {
            **proxy(f'<header name="Action" value="urn:fromFlow"/>{call}', name="Set"),
            **proxy(call, name="Kept"),
        }
    )
    await client.post("/services/Set", data=envelope, headers=soap11("urn:fromClient"))
    await client.post("/services/Kept", data=envelope, headers=soap11("urn:fromClient"))
    assert [r["headers"]["SOAPAction"] for r in server.requests] == ['"urn:fromFlow"', '"urn:fromClient"']


async def test_a_soap_1_2_action_parameter_is_the_flow_s_action(gateway, backend):
    envelope = f'<s:Envelope xmlns:s="{SOAP12}"><s:Body>{GET_QUOTE.format("IBM")}</s:Body></s:Envelope>'

    async def answer(_request: web.Request, _body: bytes) -> web.Response:
        return web.Response(body=b"<ok/>", content_type="application/xml")

    server = await backend(answer)
    url = server.make_url("/q")
    client = await gateway(
        proxy(f'<header name="Action" value="urn:fromFlow"/><call><endpoint><address uri="{url}"/></endpoint></call>')
    )
    headers = {"Content-Type": 'application/soap+xml; charset=UTF-8; action="urn:fromClient"'}
    await client.post("/services/P", data=envelope, headers=headers)
    content_type = server.requests[0]["headers"]["Content-Type"]
    assert 'action="urn:fromFlow"' in content_type and "urn:fromClient" not in content_type
    assert content_type.startswith("application/soap+xml")


# -- samples 450, 451, 452 -----------------------------------------------------------------------------


def sample(number: int) -> dict[str, str]:
    return {"sequences/main.xml": (SAMPLES / f"sample_{number}.main.xml").read_text(encoding="utf-8")}


@pytest.fixture
def pki(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A CA made for the test and a certificate for localhost; the gateway trusts the CA (outbound.ca_bundle)."""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return context, bundle


@pytest.fixture
async def sample_servers():
    """Stock-quote stand-ins on the fixed ports the samples' rules name (9000, 9002): the test is skipped when
    one is taken, since the rule cannot be pointed elsewhere without changing the sample."""
    started: list[SampleServer] = []

    async def start(port: int, context: ssl.SSLContext | None = None) -> SampleServer:
        server = SampleServer(host="localhost", port=port, ssl_context=context)
        try:
            await server.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            pytest.skip(f"port {port} is in use: the sample's rewrite rule names it")
        started.append(server)
        return server

    yield start
    for server in started:
        await server.close()


def symbol_of(reply: bytes) -> str | None:
    return etree.fromstring(reply).findtext(
        f".//{{{SAMPLES_NS}}}getQuoteResponse/{{{SAMPLES_NS}}}return/{{{SAMPLES_NS}}}symbol"
    )


async def test_sample_450_played_from_a_smart_client(gateway, stockquote):
    """addurl http://localhost:9000/soap/SimpleStockQuoteService: the path's soap becomes services."""
    server = await stockquote()
    client = await gateway(sample(450))
    to = f"{server.base_url}/soap/SimpleStockQuoteService"
    response = await client.post("/", data=addressed(to, GET_QUOTE.format("IBM")), headers=soap11())
    assert response.status == 200, await response.text()
    assert symbol_of(await response.read()) == "IBM"
    assert server.requests[-1].path == "/services/SimpleStockQuoteService"
    assert server.requests[-1].headers["SOAPAction"] == '"urn:getQuote"'
    forwarded = etree.fromstring(server.requests[-1].body)
    assert forwarded.xpath("//*[namespace-uri()=$ns]", ns=FINAL) == []  # the client's headers are not sent on


async def test_sample_450_from_zeep_with_its_ws_addressing_plugin(gateway, stockquote):
    """A real SOAP client: zeep reads the service's WSDL, its WsAddressingPlugin writes wsa:To (the client's
    addurl) and it posts to the gateway (trpurl), as the samples' Axis2 client does; it gets a typed answer."""
    server = await stockquote()
    client = await gateway(sample(450))
    addurl = f"{server.base_url}/soap/SimpleStockQuoteService"
    trpurl = str(client.make_url("/"))

    def call() -> object:
        session = requests.Session()
        session.trust_env = False  # loopback only
        soap = zeep.Client(
            f"{server.url}?wsdl", transport=zeep.Transport(session=session), plugins=[WsAddressingPlugin(addurl)]
        )
        service = soap.create_service(f"{{{SAMPLES_NS}}}SimpleStockQuoteServiceSoap11Binding", trpurl)
        return service.getQuote(request={"symbol": "IBM"})

    quote = await asyncio.to_thread(call)
    assert quote.symbol == "IBM"
    received = server.requests[-1]
    assert received.path == "/services/SimpleStockQuoteService" and received.operation == "getQuote"


async def test_sample_451_moves_plain_http_to_https_on_9002(gateway, sample_servers, pki):
    """addurl http://localhost:9000/…: the rule sends it to https://localhost:9002/…, over TLS checked against
    the CA the gateway is given (outbound.ca_bundle)."""
    context, bundle = pki
    secure = await sample_servers(9002, context)
    client = await gateway(sample(451), outbound_ca_bundle=bundle)
    to = "http://localhost:9000/services/SimpleStockQuoteService"
    response = await client.post("/", data=addressed(to, GET_QUOTE.format("MSFT")), headers=soap11())
    assert response.status == 200, await response.text()
    assert symbol_of(await response.read()) == "MSFT"
    assert [r.path for r in secure.requests] == ["/services/SimpleStockQuoteService"]


async def test_sample_451_needs_the_back_end_s_certificate_trusted(gateway, sample_servers, pki):
    context, _ = pki
    await sample_servers(9002, context)
    client = await gateway(sample(451))  # the system's CAs only: the test CA is unknown
    to = "http://localhost:9000/services/SimpleStockQuoteService"
    response = await client.post("/", data=addressed(to, GET_QUOTE.format("MSFT")), headers=soap11())
    assert response.status >= 500
    assert b"getQuoteResponse" not in await response.read()


async def test_sample_452_takes_the_port_from_the_properties(gateway, sample_servers, pki):
    """addurl http://test.com/SimpleStockQuoteService → http://localhost:9000/services/…; with https, 9002."""
    context, bundle = pki
    plain = await sample_servers(9000)
    secure = await sample_servers(9002, context)
    client = await gateway(sample(452), outbound_ca_bundle=bundle)
    for to, symbol in (
        ("http://test.com/SimpleStockQuoteService", "IBM"),
        ("https://test.com/SimpleStockQuoteService", "SUN"),
    ):
        response = await client.post("/", data=addressed(to, GET_QUOTE.format(symbol)), headers=soap11())
        assert response.status == 200, await response.text()
        assert symbol_of(await response.read()) == symbol
    assert [r.path for r in plain.requests] == ["/services/SimpleStockQuoteService"]
    assert [r.path for r in secure.requests] == ["/services/SimpleStockQuoteService"]
    assert b"<m0:symbol>SUN</m0:symbol>" in secure.requests[0].body


async def test_a_rewritten_wsa_to_still_passes_the_outbound_allow_list(gateway):
    client = await gateway(sample(450), outbound_allow=("loopback",))
    to = "http://198.51.100.7/soap/SimpleStockQuoteService"
    response = await client.post("/", data=addressed(to, GET_QUOTE.format("IBM")), headers=soap11())
    assert response.status == 403
    assert b"Outbound destination not allowed" in await response.read()


# -- makefault -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault_to", "response", "expected"),
    [
        ("http://c/faults", "false", "http://c/faults"),  # W: makeSOAPFault: FaultTo first
        (None, "false", "http://c/replies"),  # else ReplyTo
        ("http://c/faults", "true", "http://c/replies"),  # response="true": setTo(getReplyTo())
    ],
)
async def test_makefault_sends_the_fault_to_the_fault_to_or_the_reply_to(gateway, fault_to, response, expected):
    fault = (
        f'<makefault version="soap11" response="{response}"><code value="soap11Env:Server" '
        'xmlns:soap11Env="http://schemas.xmlsoap.org/soap/envelope/"/><reason value="no"/></makefault>'
        '<header name="X-To" scope="transport" expression="get-property(\'To\')"/><respond/>'
    )
    client = await gateway(proxy(fault))
    request = addressed("http://b/q", GET_QUOTE.format("IBM"), reply_to="http://c/replies", fault_to=fault_to)
    response_ = await client.post("/services/P", data=request, headers=soap11(""))
    assert b"Fault" in await response_.read()
    assert response_.headers["X-To"] == expected


# -- the reply to the client ---------------------------------------------------------------------------


async def test_a_built_reply_loses_its_addressing_headers_an_untouched_one_passes(gateway, stockquote):
    """W: Axis2Sender.sendBack removes the WS-Addressing headers of a built reply (the back end's RelatesTo
    here); an unbuilt reply is streamed as it came."""
    server = await stockquote()
    target = (
        f'<target><endpoint><address uri="{server.url}"/></endpoint><outSequence>{{}}<send/></outSequence></target>'
    )
    read = '<property name="rel" expression="get-property(\'RelatesTo\')"/>'
    client = await gateway(
        {
            "proxies/Read.xml": f'<proxy {S} name="Read">{target.format(read)}</proxy>',
            "proxies/Untouched.xml": f'<proxy {S} name="Untouched">{target.format("")}</proxy>',
        }
    )
    request = addressed("http://b/q", GET_QUOTE.format("IBM"))
    replies = {}
    for name in ("Read", "Untouched"):
        response = await client.post(f"/services/{name}", data=request, headers=soap11())
        assert response.status == 200, await response.text()
        replies[name] = etree.fromstring(await response.read())
    assert replies["Untouched"].findtext(f".//{{{FINAL}}}RelatesTo") == "urn:uuid:client-1"  # the back end's
    assert replies["Read"].xpath("//*[namespace-uri()=$ns]", ns=FINAL) == []
    assert symbol_of(etree.tostring(replies["Read"])) == "IBM"


# -- scripts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["js", "py"])
async def test_a_script_reads_the_request_s_reply_to(gateway, language):
    script = (
        'mc.setProperty("r", mc.getReplyTo() or "none")'
        if language == "py"
        else 'mc.setProperty("r", mc.getReplyTo() || "none")'
    )
    flow = (
        f'<script language="{language}"><![CDATA[{script}]]></script>'
        '<header name="X-R" scope="transport" expression="get-property(\'r\')"/><respond/>'
    )
    client = await gateway(proxy(flow))
    with_reply_to = addressed("http://b/q", GET_QUOTE.format("IBM"), reply_to="http://c/replies")
    response = await client.post("/services/P", data=with_reply_to, headers=soap11(""))
    assert response.headers["X-R"] == "http://c/replies"
    plain = f'<s:Envelope xmlns:s="{SOAP11}"><s:Body>{GET_QUOTE.format("IBM")}</s:Body></s:Envelope>'
    response = await client.post("/services/P", data=plain, headers=soap11("urn:getQuote"))
    assert response.headers["X-R"] == "none"


async def test_a_wsa_action_that_is_not_the_soap_action_is_a_fault(gateway):
    """W: AddressingInHandler.extractActionInformation: a non-empty SOAPAction must equal the wsa:Action
    (ActionMismatch); the fault sequence runs with the message's other addressing values read."""
    flow = '<property name="to" expression="get-property(\'To\')"/><respond/>'
    fault = (
        '<faultSequence><header name="X-Error" scope="transport" expression="get-property(\'ERROR_MESSAGE\')"/>'
        '<header name="X-Code" scope="transport" expression="get-property(\'ERROR_CODE\')"/>'
        '<header name="X-To" scope="transport" expression="get-property(\'To\')"/><respond/></faultSequence>'
    )
    client = await gateway(
        {"proxies/P.xml": f'<proxy {S} name="P"><target><inSequence>{flow}</inSequence>{fault}</target></proxy>'}
    )
    request = addressed("http://b/q", GET_QUOTE.format("IBM"), action="urn:getQuote")
    response = await client.post("/services/P", data=request, headers=soap11("urn:somethingElse"))
    assert "Message Addressing Property is not valid" in response.headers["X-Error"]
    assert response.headers["X-Code"] == "601000"
    assert response.headers["X-To"] == "http://b/q"
    agreeing = await client.post("/services/P", data=request, headers=soap11("urn:getQuote"))
    assert agreeing.status == 200 and "X-Error" not in agreeing.headers


async def test_an_unparsed_request_keeps_its_own_soap_action(gateway, backend):
    """MI reads the WS-Addressing headers only when it builds the message: sent on untouched, a request keeps
    its (empty) SOAPAction header and its body is not parsed for the wsa:Action."""
    request = addressed("http://b/q", GET_QUOTE.format("IBM"), action="urn:getQuote")
    sent, headers = await received_header(gateway, backend, "", request)
    assert sent == request
    assert headers["SOAPAction"] == '""'


async def test_enable_addressing_carries_the_message_s_reply_to_from_and_fault_to(gateway, backend):
    """W: the outgoing message's Options have the request's as parent: its ReplyTo and FaultTo (read from the
    client) and a From set by the header mediator are written, in the endpoint's namespace and Axis2's order."""

    async def answer(_request: web.Request, _body: bytes) -> web.Response:
        return web.Response(body=b"<ok/>", content_type="application/xml")

    server = await backend(answer)
    url = str(server.make_url("/q"))
    flow = (
        '<header name="From" value="http://gateway.example/me"/>'
        f'<call><endpoint><address uri="{url}"><enableAddressing version="submission"/></address></endpoint></call>'
        "<respond/>"
    )
    client = await gateway(proxy(flow))
    request = addressed("http://b/q", GET_QUOTE.format("IBM"), reply_to="http://c/replies", fault_to="http://c/faults")
    response = await client.post("/services/P", data=request, headers=soap11(""))
    assert response.status == 200, await response.text()
    header = etree.fromstring(server.requests[0]["body"]).find(f"{{{SOAP11}}}Header")
    names = [etree.QName(block).localname for block in header if etree.QName(block).namespace == SUBMISSION]
    assert names == ["To", "ReplyTo", "From", "FaultTo", "MessageID", "Action"]
    assert [etree.QName(block).namespace for block in header] == [SUBMISSION] * 6  # the final ones are gone
    address = f"{{{SUBMISSION}}}Address"
    assert header.findtext(f"{{{SUBMISSION}}}ReplyTo/{address}") == "http://c/replies"
    assert header.findtext(f"{{{SUBMISSION}}}From/{address}") == "http://gateway.example/me"
    assert header.findtext(f"{{{SUBMISSION}}}FaultTo/{address}") == "http://c/faults"
