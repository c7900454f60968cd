"""Response format: messageType, SOAP version alignment, faults for REST clients, the Accept extension and the
JSON <-> XML round trip seen end to end (docs/synapse-semantics.md §4.2-§4.4; docs/conformance.md C-F*)."""

from __future__ import annotations

import orjson
import pytest
from aiohttp import web
from lxml import etree

from gateway.message import soap
from gateway.message.formats import negotiate_accept

S = 'xmlns="http://ws.apache.org/ns/synapse"'
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def proxy(name: str, target: str) -> dict[str, str]:
    return {f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target>{target}</target></proxy>'}


def soap11(body: str) -> bytes:
    return f'<e:Envelope xmlns:e="{SOAP11}"><e:Body>{body}</e:Body></e:Envelope>'.encode()


def soap12(body: str) -> bytes:
    return f'<e:Envelope xmlns:e="{SOAP12}"><e:Body>{body}</e:Body></e:Envelope>'.encode()


def body_child(raw: bytes, ns: str) -> etree._Element:
    envelope = etree.fromstring(raw)
    assert envelope.tag == f"{{{ns}}}Envelope"
    children = list(envelope.find(f"{{{ns}}}Body"))
    assert len(children) == 1
    return children[0]


async def backend_replying(backend, body: bytes, content_type: str, status: int = 200):
    async def reply(request: web.Request, received: bytes):
        return web.Response(status=status, body=body, headers={"Content-Type": content_type})

    return await backend(reply)


# -- Accept negotiation (unit) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "current", "expected"),
    [
        (None, "application/xml", None),
        ("*/*", "application/xml", None),
        ("application/json", "application/xml", "application/json"),
        ("application/json", "application/json", None),
        ("application/xml;q=0.5, application/json", "application/xml", "application/json"),
        ("application/json;q=0.2, application/xml;q=0.9", "application/json", "application/xml"),
        ("application/json, application/xml", "application/xml", None),  # the current type is as good
        ("application/json;q=0.5, */*", "application/xml", None),  # the wildcard rates xml higher
        ("text/html, image/png", "application/xml", None),  # nothing we can write
        ("application/json;q=0", "application/xml", None),
        ("application/soap+xml", "application/json", "application/soap+xml"),
        ("text/xml;q=0.8, application/json;q=0.8", None, "text/xml"),  # ties go to the first listed
    ],
)
def test_negotiate_accept(accept, current, expected):
    assert negotiate_accept(accept, current) == expected


# -- SOAP version alignment ----------------------------------------------------------------------


async def test_soap11_client_gets_soap11_when_the_backend_answers_json(gateway, backend):
    server = await backend_replying(backend, b'{"getQuoteResponse":{"price":12.5,"symbol":"IBM"}}', "application/json")
    client = await gateway(proxy("P", f'<endpoint><address uri="{server.make_url("/q")}"/></endpoint>'))
    response = await client.post(
        "/services/P",
        data=soap11("<getQuote><symbol>IBM</symbol></getQuote>"),
        headers={"Content-Type": "text/xml", "SOAPAction": "urn:getQuote"},
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    element = body_child(await response.read(), SOAP11)
    # the single-child jsonObject is unwrapped: the Body holds the real element
    assert element.tag == "getQuoteResponse"
    assert (element.findtext("price"), element.findtext("symbol")) == ("12.5", "IBM")


async def test_soap12_client_gets_soap12_when_the_backend_answers_pox(gateway, backend):
    server = await backend_replying(backend, b"<r><v>1</v></r>", "application/xml")
    client = await gateway(proxy("P", f'<endpoint><address uri="{server.make_url("/q")}"/></endpoint>'))
    response = await client.post("/services/P", data=soap12("<q/>"), headers={"Content-Type": "application/soap+xml"})
    assert response.headers["Content-Type"].startswith("application/soap+xml")
    assert body_child(await response.read(), SOAP12).findtext("v") == "1"


async def test_soap11_client_gets_soap11_when_the_backend_answers_soap12(gateway, backend):
    server = await backend_replying(backend, soap12('<r xmlns="urn:r"><v>2</v></r>'), "application/soap+xml")
    client = await gateway(proxy("P", f'<endpoint><address uri="{server.make_url("/q")}"/></endpoint>'))
    response = await client.post("/services/P", data=soap11("<q/>"), headers={"Content-Type": "text/xml"})
    assert response.headers["Content-Type"].startswith("text/xml")
    assert body_child(await response.read(), SOAP11).findtext("{urn:r}v") == "2"


async def test_soap12_client_gets_a_soap12_fault_from_a_soap11_fault(gateway, backend):
    fault = soap11(
        "<e:Fault><faultcode>e:Client</faultcode><faultstring>bad symbol</faultstring>"
        "<detail><why>unknown</why></detail></e:Fault>"
    )
    server = await backend_replying(backend, fault, "text/xml", status=500)
    client = await gateway(proxy("P", f'<endpoint><address uri="{server.make_url("/q")}"/></endpoint>'))
    response = await client.post("/services/P", data=soap12("<q/>"), headers={"Content-Type": "application/soap+xml"})
    assert response.status == 500
    fault12 = body_child(await response.read(), SOAP12)
    assert fault12.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "soapenv:Sender"
    assert fault12.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text") == "bad symbol"
    assert fault12.findtext(f"{{{SOAP12}}}Detail/why") == "unknown"


async def test_json_with_several_top_level_keys_keeps_the_json_object_in_the_soap_body(gateway, backend):
    server = await backend_replying(backend, b'{"a":1,"b":2}', "application/json")
    client = await gateway(proxy("P", f'<endpoint><address uri="{server.make_url("/q")}"/></endpoint>'))
    response = await client.post("/services/P", data=soap11("<q/>"), headers={"Content-Type": "text/xml"})
    element = body_child(await response.read(), SOAP11)
    assert element.tag == "jsonObject" and [c.tag for c in element] == ["a", "b"]


def test_soap_output_leaves_the_message_untouched():
    envelope = soap.wrap(etree.fromstring("<jsonObject><x>1</x></jsonObject>"))
    header = soap.header_of(envelope, create=True)
    etree.SubElement(header, "{urn:h}h")
    from gateway.message.formats import soap_output

    out = soap_output(envelope, "soap12", False)
    assert out.tag == f"{{{SOAP12}}}Envelope" and soap.first_body_element(out).tag == "x"
    assert soap.first_body_element(envelope).tag == "jsonObject" and len(soap.header_of(envelope)) == 1


# -- REST clients ---------------------------------------------------------------------------------


async def test_rest_clients_get_exception_for_a_soap_fault(gateway, backend):
    fault = soap11("<e:Fault><faultcode>e:Server</faultcode><faultstring>backend broke</faultstring></e:Fault>")
    server = await backend_replying(backend, fault, "text/xml", status=500)
    client = await gateway(
        proxy(
            "P",
            f'<inSequence><call><endpoint><address uri="{server.make_url("/q")}"/>'
            '</endpoint></call><property name="HTTP_SC" action="remove" scope="axis2"/>'
            '<property name="messageType" expression="$ctx:CLIENT_MESSAGE_TYPE" '
            'scope="axis2"/><respond/></inSequence>',
        )
    )
    response = await client.post("/services/P", data=b"<q/>", headers={"Content-Type": "application/xml"})
    assert response.status == 500
    exception = etree.fromstring(await response.read())
    assert exception.tag == "Exception" and exception.text == "backend broke"
    response = await client.post("/services/P", data=b"{}", headers={"Content-Type": "application/json"})
    assert response.status == 500
    assert orjson.loads(await response.read()) == {"Exception": "backend broke"}


async def test_rest_client_keeps_the_backend_format_without_accept(gateway, backend):
    """MI never converts for REST clients: a JSON client gets the backend's XML as is."""
    server = await backend_replying(backend, b"<r><v>1</v></r>", "application/xml")
    client = await gateway(proxy("P", f'<endpoint><address uri="{server.make_url("/q")}"/></endpoint>'))
    response = await client.post("/services/P", data=b"{}", headers={"Content-Type": "application/json"})
    assert response.headers["Content-Type"].startswith("application/xml")
    assert await response.read() == b"<r><v>1</v></r>"


async def test_message_type_switch_writes_the_json_infoset_as_xml(gateway):
    client = await gateway(
        proxy(
            "P",
            '<inSequence><property name="messageType" value="application/xml" scope="axis2"/><respond/></inSequence>',
        )
    )
    response = await client.post("/services/P", data=b'{"a":{"b":1}}', headers={"Content-Type": "application/json"})
    assert response.headers["Content-Type"].startswith("application/xml")
    root = etree.fromstring(await response.read())
    assert root.tag == "jsonObject" and root.findtext("a/b") == "1"  # MI keeps the jsonObject root for POX


# -- the Accept extension ------------------------------------------------------------------------


async def test_accept_picks_the_format_when_the_flow_did_not(gateway, backend):
    server = await backend_replying(backend, b"<r><v>1</v></r>", "application/xml")
    client = await gateway(
        {
            **proxy("Echo", "<inSequence><respond/></inSequence>"),
            **proxy("Back", f'<endpoint><address uri="{server.make_url("/q")}"/></endpoint>'),
        }
    )
    response = await client.post(
        "/services/Echo",
        data=b"<a><b>x</b></a>",
        headers={"Content-Type": "application/xml", "Accept": "application/json"},
    )
    assert response.headers["Content-Type"].startswith("application/json")
    assert orjson.loads(await response.read()) == {"a": {"b": "x"}}
    response = await client.post(
        "/services/Back",
        data=b"{}",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json;q=0.9, application/xml;q=0.1",
        },
    )
    assert orjson.loads(await response.read()) == {"r": {"v": 1}}
    response = await client.post(
        "/services/Echo",
        data=b'{"a":1}',
        headers={"Content-Type": "application/json", "Accept": "application/soap+xml"},
    )
    assert response.headers["Content-Type"].startswith("application/soap+xml")
    assert body_child(await response.read(), SOAP12).tag == "a"


async def test_accept_does_not_override_a_message_type_the_flow_chose(gateway):
    client = await gateway(
        proxy(
            "P",
            '<inSequence><property name="messageType" value="application/json" scope="axis2"/><respond/></inSequence>',
        )
    )
    response = await client.post(
        "/services/P",
        data=b"<a>1</a>",
        headers={"Content-Type": "application/xml", "Accept": "application/xml"},
    )
    assert response.headers["Content-Type"].startswith("application/json")
    assert orjson.loads(await response.read()) == {"a": 1}


async def test_wildcard_accept_keeps_byte_identical_pass_through(gateway):
    client = await gateway(proxy("P", "<inSequence><respond/></inSequence>"))
    body = b'<?xml version="1.0"?>\n<a  x="1" />'
    response = await client.post(
        "/services/P",
        data=body,
        headers={"Content-Type": "application/xml", "Accept": "text/html, */*;q=0.8"},
    )
    assert await response.read() == body


async def test_soap_clients_ignore_accept(gateway):
    client = await gateway(proxy("P", "<inSequence><respond/></inSequence>"))
    response = await client.post(
        "/services/P", data=soap11("<a/>"), headers={"Content-Type": "text/xml", "Accept": "application/json"}
    )
    assert response.headers["Content-Type"].startswith("text/xml")


# -- JSON <-> XML losses, end to end ---------------------------------------------------------------


async def test_json_xml_round_trip_losses_through_a_message_type_switch(gateway, backend):
    """A JSON request sent to an XML backend as XML and switched back to JSON loses what MI loses:
    "123" -> 123, {} / "" / null -> null, a one-item array -> its item."""

    async def echo(request: web.Request, body: bytes):
        assert request.content_type == "application/xml"
        return web.Response(body=body, content_type="application/xml")

    server = await backend(echo)
    client = await gateway(
        proxy(
            "P",
            '<inSequence><property name="messageType" value="application/xml" '
            f'scope="axis2"/><call><endpoint><address uri="{server.make_url("/e")}"/>'
            '</endpoint></call><property name="messageType" value="application/json" '
            'scope="axis2"/><respond/></inSequence>',
        )
    )
    sent = b'{"id":"123","price":"4.00","obj":{},"empty":"","nothing":null,"one":[7],"two":[1,2],"flag":"true"}'
    response = await client.post("/services/P", data=sent, headers={"Content-Type": "application/json"})
    assert response.headers["Content-Type"].startswith("application/json")
    raw = await response.read()
    assert orjson.loads(raw) == {
        "id": 123,
        "price": 4.0,
        "obj": None,
        "empty": None,
        "nothing": None,
        "one": 7,
        "two": [1, 2],
        "flag": True,
    }
    assert b'"price":4.00' in raw  # the number keeps its scale


async def test_built_but_unmodified_json_goes_back_byte_identical(gateway):
    """Reading a JSON payload (json-eval, XPath) does not change it: MI re-emits the original stream."""
    client = await gateway(
        proxy(
            "P",
            '<inSequence><property name="id" expression="json-eval($.id)"/>'
            '<property name="x" expression="//id"/><respond/></inSequence>',
        )
    )
    body = b'{ "id" : "123", "list": [1], "n": 1.50 }'
    response = await client.post("/services/P", data=body, headers={"Content-Type": "application/json"})
    assert await response.read() == body


async def test_modified_json_is_rewritten_from_the_infoset(gateway):
    client = await gateway(
        proxy(
            "P",
            '<inSequence><enrich><source type="inline" clone="true"><extra>1</extra>'
            '</source><target xpath="//jsonObject" action="child"/></enrich>'
            "<respond/></inSequence>",
        )
    )
    response = await client.post("/services/P", data=b'{"id":"123"}', headers={"Content-Type": "application/json"})
    assert orjson.loads(await response.read()) == {"id": 123, "extra": 1}


# -- status rules ---------------------------------------------------------------------------------


async def test_fault_status_500_unless_faults_as_http_200_or_http_sc(gateway):
    fault = (
        '<makefault version="soap11" xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        '<code value="s:Server"/><reason value="no"/></makefault>'
    )
    client = await gateway(
        {
            **proxy("Plain", f"<inSequence>{fault}<respond/></inSequence>"),
            **proxy(
                "As200",
                f'<inSequence>{fault}<property name="FAULTS_AS_HTTP_200" value="true" scope="axis2"/>'
                "<respond/></inSequence>",
            ),
            **proxy(
                "Sc",
                f'<inSequence>{fault}<property name="HTTP_SC" value="418" scope="axis2"/><respond/></inSequence>',
            ),
            **proxy(
                "Pox",
                '<inSequence><makefault version="pox"><reason value="no"/></makefault><respond/></inSequence>',
            ),
        }
    )
    statuses = {}
    for name in ("Plain", "As200", "Sc", "Pox"):
        response = await client.post(f"/services/{name}", data=soap11("<a/>"), headers={"Content-Type": "text/xml"})
        statuses[name] = response.status
    assert statuses == {"Plain": 500, "As200": 200, "Sc": 418, "Pox": 500}


@pytest.mark.parametrize(
    ("kind", "media", "accept", "expected"),
    [
        ("soap11", "text/xml", "application/json", "text/xml"),
        ("soap12", "application/soap+xml", None, "application/soap+xml"),
        ("json", "application/json", "*/*", "application/json"),
        ("json", "application/json", "application/xml;q=0.5, */*", "application/json"),
        ("json", "application/json", "application/xml", "application/xml"),
        ("pox", "application/xml", None, "application/xml"),
        ("pox", "application/xml", "application/json", "application/json"),
        ("empty", "", None, "application/xml"),
        ("text", "text/plain", None, "application/xml"),
        ("form", "application/x-www-form-urlencoded", None, "application/json"),
    ],
)
def test_client_message_type(kind, media, accept, expected):
    from gateway.message.context import Exchange
    from gateway.message.errors import client_media_type

    exchange = Exchange("POST", "/services/P", kind, accept, None)  # type: ignore[arg-type]
    assert client_media_type(exchange, media) == expected


async def test_accept_never_converts_binary_bodies(gateway, backend):
    server = await backend_replying(backend, b"%PDF-1.4 binary", "application/pdf")
    client = await gateway(proxy("P", f'<endpoint><address uri="{server.make_url("/f")}"/></endpoint>'))
    response = await client.get("/services/P", headers={"Accept": "application/json"})
    assert response.headers["Content-Type"].startswith("application/pdf")
    assert await response.read() == b"%PDF-1.4 binary"


async def test_explicit_message_type_equal_to_the_request_type_still_beats_accept(gateway):
    """A flow that sets messageType itself has chosen, even when it picks the request's own type."""
    client = await gateway(
        {
            "proxies/P.xml": '<proxy xmlns="http://ws.apache.org/ns/synapse" name="P"><target>'
            '<inSequence><property name="messageType" value="application/json" scope="axis2"/>'
            "<respond/></inSequence></target></proxy>"
        }
    )
    response = await client.post(
        "/services/P", data=b'{"a":1}', headers={"Content-Type": "application/json", "Accept": "application/xml"}
    )
    assert response.headers["Content-Type"].startswith("application/json")
    assert await response.read() == b'{"a":1}'


async def test_content_type_parameters_are_read_as_aiohttp_reads_them(gateway):
    # Axis2's BuilderUtil.getCharSetEncoding finds charset whatever its case, spacing or quotes; so does
    # aiohttp's parse_mimetype, which reads the charset of a text body and SOAP 1.2's action parameter
    target = (
        '<inSequence><property name="n" expression="string-length(//*[local-name()=\'text\'])"/>'
        '<header name="X-N" scope="transport" expression="$ctx:n"/><respond/></inSequence>'
    )
    client = await gateway(proxy("P", target))
    for content_type in ('text/plain; Charset = "ISO-8859-1"', "text/plain;charset=iso-8859-1;format=flowed"):
        response = await client.post(
            "/services/P", data="café".encode("latin-1"), headers={"Content-Type": content_type}
        )
        assert (response.status, response.headers.get("X-N")) == (200, "4.0"), content_type
