"""?wsdl and publishWSDL, proven with zeep, a real SOAP client (docs/synapse-semantics.md §1.2;
docs/conformance.md C-W*).

zeep is synchronous: it runs in a thread against the test server while the event loop keeps serving."""

from __future__ import annotations

import asyncio
import http.server
import threading
from pathlib import Path

import orjson
import pytest
import requests
import zeep
import zeep.exceptions
from lxml import etree

S = 'xmlns="http://ws.apache.org/ns/synapse"'
DATA = Path(__file__).resolve().parent / "data"
WSDL_FILE = DATA / "stockquote.wsdl"
TNS = "http://example.com/stockquote"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"

# getQuote(symbol) -> (symbol, price): a typed answer built by payloadFactory; symbol FAIL -> a SOAP fault.
STOCK_QUOTE_SEQUENCE = f"""
<inSequence>
  <filter xpath="//*[local-name()='symbol'] = 'FAIL'">
    <then>
      <makefault version="soap11" xmlns:soapenv="{SOAP11_ENV}">
        <code value="soapenv:Client"/>
        <reason expression="fn:concat('Unknown symbol: ', //*[local-name()='symbol'])"/>
        <detail><q:error xmlns:q="{TNS}">no such symbol</q:error></detail>
      </makefault>
      <respond/>
    </then>
  </filter>
  <payloadFactory media-type="xml">
    <format>
      <tns:getQuoteResponse xmlns:tns="{TNS}">
        <tns:symbol>$1</tns:symbol>
        <tns:price>$2</tns:price>
      </tns:getQuoteResponse>
    </format>
    <args>
      <arg expression="//*[local-name()='symbol']"/>
      <arg expression="string-length(//*[local-name()='symbol']) * 10.5"/>
    </args>
  </payloadFactory>
  <respond/>
</inSequence>"""


def stock_quote_proxy(publish: str, name: str = "StockQuote") -> dict[str, str]:
    return {f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target>{STOCK_QUOTE_SEQUENCE}</target>{publish}</proxy>'}


def wsdl_url(client, name: str = "StockQuote") -> str:
    return str(client.make_url(f"/services/{name}?wsdl"))


def _zeep(url: str) -> zeep.Client:
    session = requests.Session()
    session.trust_env = False  # loopback only: never route through an HTTP(S)_PROXY from the environment
    return zeep.Client(url, transport=zeep.Transport(session=session))


async def test_zeep_calls_a_published_wsdl_and_gets_typed_answers(gateway):
    client = await gateway(stock_quote_proxy(f'<publishWSDL uri="file:{WSDL_FILE}"/>'))
    url = wsdl_url(client)

    def call() -> tuple[object, object]:
        soap = _zeep(url)
        soap11 = soap.service.getQuote(symbol="IBM")
        soap12 = soap.bind("StockQuoteService", "StockQuoteSoap12Endpoint").getQuote(symbol="MSFT")
        return soap11, soap12

    soap11, soap12 = await asyncio.to_thread(call)
    assert soap11.symbol == "IBM" and soap11.price == pytest.approx(31.5)
    assert isinstance(soap11.price, float)  # typed by the schema (xs:double), not text
    assert soap12.symbol == "MSFT" and soap12.price == pytest.approx(42.0)


async def test_zeep_gets_a_soap_fault_with_code_and_reason(gateway):
    client = await gateway(stock_quote_proxy(f'<publishWSDL uri="file:{WSDL_FILE}"/>'))
    url = wsdl_url(client)

    def call(port: str) -> zeep.exceptions.Fault:
        soap = _zeep(url)
        with pytest.raises(zeep.exceptions.Fault) as caught:
            soap.bind("StockQuoteService", port).getQuote(symbol="FAIL")
        return caught.value

    fault11 = await asyncio.to_thread(call, "StockQuoteSoap11Endpoint")
    assert fault11.message == "Unknown symbol: FAIL"
    assert fault11.code == "soapenv:Client"
    assert fault11.detail.find(f"{{{TNS}}}error").text == "no such symbol"
    fault12 = await asyncio.to_thread(call, "StockQuoteSoap12Endpoint")  # a 1.1 makefault, aligned to 1.2
    assert fault12.message == "Unknown symbol: FAIL"
    assert fault12.code == "soapenv:Sender"


async def test_published_wsdl_ports_point_at_the_proxy_address(gateway):
    client = await gateway(stock_quote_proxy(f'<publishWSDL uri="file:{WSDL_FILE}"/>'))
    response = await client.get("/services/StockQuote?wsdl")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    root = etree.fromstring(await response.read())
    assert root.tag == f"{{{WSDL_NS}}}definitions"
    locations = root.xpath("//wsdl:port/*/@location", namespaces={"wsdl": WSDL_NS})
    expected = str(client.make_url("/services/StockQuote"))
    assert locations == [expected, expected]


async def test_generated_wsdl_has_mediate_with_soap11_and_soap12_bindings(gateway):
    client = await gateway(
        {"proxies/Plain.xml": f'<proxy {S} name="Plain"><target><inSequence><respond/></inSequence></target></proxy>'}
    )
    url = wsdl_url(client, "Plain")
    soap = await asyncio.to_thread(_zeep, url)
    service = soap.wsdl.services["Plain"]
    ports = service.ports
    assert set(ports) == {"PlainHttpSoap11Endpoint", "PlainHttpSoap12Endpoint", "PlainHttpEndpoint"}
    assert ports["PlainHttpSoap11Endpoint"].binding_options["address"] == str(client.make_url("/services/Plain"))
    assert type(ports["PlainHttpSoap12Endpoint"].binding).__name__ == "Soap12Binding"
    for name in ("PlainHttpSoap11Endpoint", "PlainHttpSoap12Endpoint"):
        assert list(ports[name].binding._operations) == ["mediate"]


async def test_wsdl_uppercase_query_and_address_follow_the_host_header(gateway):
    client = await gateway(
        {"proxies/Plain.xml": f'<proxy {S} name="Plain"><target><inSequence><respond/></inSequence></target></proxy>'}
    )
    response = await client.get("/services/Plain?WSDL", headers={"Host": "gw.example.com:8290"})
    root = etree.fromstring(await response.read())
    locations = set(root.xpath("//wsdl:port/*/@location", namespaces={"wsdl": WSDL_NS}))
    assert locations == {"http://gw.example.com:8290/services/Plain"}


async def test_publish_wsdl_inline(gateway):
    inline = etree.tostring(etree.parse(str(WSDL_FILE)).getroot(), encoding=str)
    client = await gateway(stock_quote_proxy(f"<publishWSDL>{inline}</publishWSDL>"))
    result = await asyncio.to_thread(lambda: _zeep(wsdl_url(client)).service.getQuote(symbol="AB"))
    assert result.price == pytest.approx(21.0)


async def test_publish_wsdl_key_names_a_local_entry_resolved_per_request(gateway):
    inline = etree.tostring(etree.parse(str(WSDL_FILE)).getroot(), encoding=str)
    client = await gateway(
        {
            "local-entries/sq.xml": f'<localEntry {S} key="sqWsdl">{inline}</localEntry>',
            **stock_quote_proxy('<publishWSDL key="sqWsdl"/>'),
            **stock_quote_proxy('<publishWSDL key="missingWsdl"/>', name="Dangling"),
        }
    )
    result = await asyncio.to_thread(lambda: _zeep(wsdl_url(client)).service.getQuote(symbol="ABC"))
    assert result.price == pytest.approx(31.5)
    assert "Dangling" in client.config.proxies  # a key is resolved when the WSDL is asked for
    response = await client.get("/services/Dangling?wsdl")
    assert response.status == 500
    assert "missingWsdl" in await response.text()


class _WsdlHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        body = WSDL_FILE.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


async def test_publish_wsdl_http_uri_on_loopback_is_fetched_at_deploy_time(gateway):
    # A thread server: deploy-time fetching is synchronous, so a server on this event loop could not answer.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WsdlHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}/sq.wsdl"
        client = await gateway(stock_quote_proxy(f'<publishWSDL uri="{uri}"/>'))
    finally:
        server.shutdown()
        server.server_close()
    result = await asyncio.to_thread(lambda: _zeep(wsdl_url(client)).service.getQuote(symbol="X"))
    assert result.price == pytest.approx(10.5)


async def test_unloadable_publish_wsdl_is_a_deploy_error_for_that_proxy(gateway, tmp_path):
    wsdl2 = '<description xmlns="http://www.w3.org/ns/wsdl"/>'
    (tmp_path / "bad.wsdl").write_text("<wsdl:definitions xmlns:wsdl='http://schemas.xmlsoap.org/wsdl/'>")
    client = await gateway(
        {
            **stock_quote_proxy('<publishWSDL uri="file:/nonexistent/none.wsdl"/>', name="Missing"),
            **stock_quote_proxy('<publishWSDL uri="http://wsdl.example.com/sq.wsdl"/>', name="Remote"),
            **stock_quote_proxy(f"<publishWSDL>{wsdl2}</publishWSDL>", name="Wsdl2"),
            **stock_quote_proxy(f'<publishWSDL uri="{tmp_path / "bad.wsdl"}"/>', name="Malformed"),
            **stock_quote_proxy("<publishWSDL/>", name="Empty"),
            **stock_quote_proxy(f'<publishWSDL uri="file:{WSDL_FILE}"/>', name="Good"),
        }
    )
    assert set(client.config.proxies) == {"Good"}
    reasons = {Path(e.location.path).stem: e.reason for e in client.config.failed}
    assert "no such file" in reasons["Missing"]
    assert "remote publishWSDL URIs are not fetched" in reasons["Remote"]
    assert "WSDL 2.0 is not supported" in reasons["Wsdl2"]
    assert "malformed XML" in reasons["Malformed"]
    assert "exactly one of key, uri" in reasons["Empty"]
    health = orjson.loads(await (await client.get("/healthz")).read())
    assert {Path(f["path"]).stem for f in health["failed"]} >= {"Missing", "Remote", "Wsdl2"}


async def test_use_original_wsdl_parameter_keeps_the_published_addresses(gateway):
    client = await gateway(
        {
            "proxies/Orig.xml": f'<proxy {S} name="Orig"><target>{STOCK_QUOTE_SEQUENCE}</target>'
            f'<publishWSDL uri="file:{WSDL_FILE}"/>'
            '<parameter name="useOriginalwsdl">true</parameter></proxy>'
        }
    )
    root = etree.fromstring(await (await client.get("/services/Orig?wsdl")).read())
    locations = set(root.xpath("//wsdl:port/*/@location", namespaces={"wsdl": WSDL_NS}))
    assert locations == {"http://placeholder.invalid/services/StockQuote"}


async def test_same_proxy_answers_soap11_soap12_pox_and_json_clients_in_their_own_format(gateway):
    """One proxy, five clients: each gets the same data in its own format (bodies parsed)."""
    client = await gateway(stock_quote_proxy(f'<publishWSDL uri="file:{WSDL_FILE}"/>'))
    request_xml = f'<q:getQuote xmlns:q="{TNS}"><q:symbol>IBM</q:symbol></q:getQuote>'

    async def post(body: str, ctype: str, accept: str | None = None):
        headers = {"Content-Type": ctype}
        if accept:
            headers["Accept"] = accept
        response = await client.post("/services/StockQuote", data=body.encode(), headers=headers)
        return response.status, response.headers["Content-Type"], await response.read()

    def quote(element) -> tuple[str, float]:
        return element.findtext(f"{{{TNS}}}symbol"), float(element.findtext(f"{{{TNS}}}price"))

    status, ctype, body = await post(
        f'<e:Envelope xmlns:e="{SOAP11_ENV}"><e:Body>{request_xml}</e:Body></e:Envelope>',
        "text/xml; charset=UTF-8",
    )
    assert (status, ctype.split(";")[0]) == (200, "text/xml")
    assert quote(etree.fromstring(body).find(f"{{{SOAP11_ENV}}}Body/{{{TNS}}}getQuoteResponse")) == (
        "IBM",
        31.5,
    )

    status, ctype, body = await post(
        f'<e:Envelope xmlns:e="{SOAP12_ENV}"><e:Body>{request_xml}</e:Body></e:Envelope>',
        "application/soap+xml",
    )
    assert (status, ctype.split(";")[0]) == (200, "application/soap+xml")
    assert quote(etree.fromstring(body).find(f"{{{SOAP12_ENV}}}Body/{{{TNS}}}getQuoteResponse")) == (
        "IBM",
        31.5,
    )

    status, ctype, body = await post(request_xml, "application/xml")
    assert (status, ctype.split(";")[0]) == (200, "application/xml")
    assert quote(etree.fromstring(body)) == ("IBM", 31.5)

    status, ctype, body = await post('{"getQuote": {"symbol": "IBM"}}', "application/json", "application/json")
    assert (status, ctype.split(";")[0]) == (200, "application/json")
    assert orjson.loads(body) == {"getQuoteResponse": {"symbol": "IBM", "price": 31.5}}

    status, ctype, body = await post('{"getQuote": {"symbol": "IBM"}}', "application/json", "application/xml")
    assert (status, ctype.split(";")[0]) == (200, "application/xml")
    assert quote(etree.fromstring(body)) == ("IBM", 31.5)


async def test_same_proxy_faults_reach_each_client_in_its_own_format(gateway):
    client = await gateway(stock_quote_proxy(f'<publishWSDL uri="file:{WSDL_FILE}"/>'))
    soap11 = (
        f'<e:Envelope xmlns:e="{SOAP11_ENV}"><e:Body><getQuote><symbol>FAIL</symbol></getQuote></e:Body></e:Envelope>'
    )
    response = await client.post("/services/StockQuote", data=soap11, headers={"Content-Type": "text/xml"})
    assert response.status == 500
    fault = etree.fromstring(await response.read()).find(f"{{{SOAP11_ENV}}}Body/{{{SOAP11_ENV}}}Fault")
    assert fault.findtext("faultcode") == "soapenv:Client"
    # A REST client that receives a SOAP fault gets <Exception> with the detail (W: POXUtils), or its JSON.
    response = await client.post(
        "/services/StockQuote",
        data=b"<getQuote><symbol>FAIL</symbol></getQuote>",
        headers={"Content-Type": "application/xml"},
    )
    assert response.status == 500
    exception = etree.fromstring(await response.read())
    assert exception.tag == "Exception" and exception.findtext(f"{{{TNS}}}error") == "no such symbol"
    response = await client.post(
        "/services/StockQuote",
        data=b'{"getQuote":{"symbol":"FAIL"}}',
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert response.status == 500
    assert orjson.loads(await response.read()) == {"Exception": {"error": "no such symbol"}}


async def test_generated_wsdl_escapes_any_proxy_name(gateway):
    # the WSDL used to be built with f-strings: a proxy named A&B gave malformed XML
    client = await gateway(
        {
            "proxies/AB.xml": '<proxy xmlns="http://ws.apache.org/ns/synapse" name="A&amp;B">'
            "<target><inSequence><respond/></inSequence></target></proxy>"
        }
    )
    response = await client.get("/services/A%26B?wsdl")
    assert response.status == 200
    definitions = etree.fromstring(await response.read())
    assert definitions.find("{http://schemas.xmlsoap.org/wsdl/}service").get("name") == "A&B"
