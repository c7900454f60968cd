"""The header mediator over real HTTP: transport headers, SOAP header blocks (set, remove, embedded),
the WS-Addressing names, and its deploy errors (docs/synapse-semantics.md §5.7)."""

from __future__ import annotations

from aiohttp import web
from lxml import etree

from gateway.cli import main as cli
from tests.conftest import write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"


def proxy(in_sequence: str, *, endpoint: str = "", name: str = "P") -> dict[str, str]:
    return {
        f"proxies/{name}.xml": f'<proxy {S} name="{name}" xmlns:t="urn:t"><target>'
        f"<inSequence>{in_sequence}</inSequence>{endpoint}</target></proxy>"
    }


def show(header: str, expression: str) -> str:
    return f'<header name="{header}" scope="transport" expression="{expression}"/>'


def envelope(header_blocks: str = "", body: str = "<getQuote><symbol>IBM</symbol></getQuote>") -> bytes:
    header = f"<e:Header>{header_blocks}</e:Header>" if header_blocks else ""
    return f'<e:Envelope xmlns:e="{SOAP11}">{header}<e:Body>{body}</e:Body></e:Envelope>'.encode()


async def post(client, body: bytes = b"<a/>", ctype: str = "application/xml", **headers: str):
    return await client.post("/services/P", data=body, headers={"Content-Type": ctype, **headers})


def soap_header(response_body: bytes) -> etree._Element | None:
    return etree.fromstring(response_body).find(f"{{{SOAP11}}}Header")


async def test_transport_scope_sets_from_value_and_expression_and_removes(gateway):
    client = await gateway(
        proxy(
            '<header name="X-Static" scope="transport" value="v1"/>'
            '<header name="X-Expr" scope="transport" expression="json-eval($.id)"/>'
            '<header name="X-Null" scope="transport" expression="get-property(\'unset\')"/>'
            '<header name="X-Replace" scope="transport" value="new"/>'
            '<header name="X-Gone" scope="transport" action="remove"/><respond/>'
        )
    )
    incoming = {"X-Gone": "bye", "X-Replace": "old"}
    response = await post(client, b'{"id": "A-1"}', "application/json", **incoming)
    assert response.status == 200
    assert response.headers["X-Static"] == "v1"
    assert response.headers["X-Expr"] == "A-1"
    assert response.headers["X-Null"] == ""  # W: null becomes an empty header
    assert response.headers.getall("X-Replace") == ["new"]
    assert "X-Gone" not in response.headers


async def test_transport_header_set_on_the_request_reaches_the_backend(gateway, backend):
    async def record(request: web.Request, body: bytes):
        return web.Response(body=b"<ok/>", content_type="application/xml")

    server = await backend(record)
    client = await gateway(
        proxy(
            '<header name="X-To-Backend" scope="transport" value="yes"/>'
            '<header name="X-Secret-In" scope="transport" action="remove"/>',
            endpoint=f'<endpoint><address uri="{server.make_url("/b")}"/></endpoint>',
        )
    )
    response = await post(client, **{"X-Secret-In": "do-not-forward"})
    assert response.status == 200
    sent = server.requests[0]["headers"]
    assert sent["X-To-Backend"] == "yes"
    assert "X-Secret-In" not in sent


async def test_soap_header_block_is_added_and_read_back(gateway):
    client = await gateway(
        proxy(
            '<header name="t:Trace" value="abc"/>'
            '<header name="t:Symbol" scope="soap" expression="//symbol"/>'
            + show("X-Read", "$header/t:Trace")
            + "<respond/>"
        )
    )
    response = await post(client, envelope(), "text/xml")
    assert response.status == 200
    assert response.headers["X-Read"] == "abc"
    header = soap_header(await response.read())
    assert header is not None
    assert header.findtext("{urn:t}Trace") == "abc"
    assert header.findtext("{urn:t}Symbol") == "IBM"  # scope="soap" (A:) is the same as default (W:)


async def test_soap_header_remove_detaches_every_block_with_that_name(gateway):
    client = await gateway(proxy('<header name="t:Token" action="remove"/><respond/>'))
    blocks = '<t:Token xmlns:t="urn:t">1</t:Token><t:Token xmlns:t="urn:t">2</t:Token><t:Keep xmlns:t="urn:t"/>'
    response = await post(client, envelope(blocks), "text/xml")
    header = soap_header(await response.read())
    assert header is not None
    assert header.findall("{urn:t}Token") == []
    assert header.find("{urn:t}Keep") is not None


async def test_soap_header_set_adds_a_block_like_mi(gateway):
    client = await gateway(proxy('<header name="t:Hop" value="2"/><respond/>'))
    response = await post(client, envelope('<t:Hop xmlns:t="urn:t">1</t:Hop>'), "text/xml")
    header = soap_header(await response.read())
    assert header is not None
    assert [h.text for h in header.findall("{urn:t}Hop")] == ["1", "2"]  # W: addHeaderBlock, no replace


async def test_embedded_xml_header_block(gateway):
    client = await gateway(
        proxy(
            '<header><auth:Credentials xmlns:auth="urn:auth"><auth:User>u1</auth:User>'
            "</auth:Credentials></header><respond/>"
        )
    )
    response = await post(client, envelope(), "text/xml")
    header = soap_header(await response.read())
    assert header is not None
    assert header.findtext("{urn:auth}Credentials/{urn:auth}User") == "u1"


async def test_addressing_names_update_the_context(gateway):
    client = await gateway(
        proxy(
            '<header name="Action" value="urn:newAction"/><header name="To" value="http://example.org/x"/>'
            '<header name="From" expression="$trp:X-From"/><header name="RelatesTo" value="urn:uuid:r1"/>'
            + show("X-Action", "get-property('Action')")
            + show("X-To", "get-property('To')")
            + show("X-From", "get-property('From')")
            + show("X-Rel", "get-property('RelatesTo')")
            + '<header name="To" action="remove"/>'
            + show("X-To-After", "get-property('To')")
            + "<respond/>"
        )
    )
    response = await post(client, envelope(), "text/xml", SOAPAction='"urn:old"', **{"X-From": "http://client"})
    assert response.status == 200
    assert response.headers["X-Action"] == "urn:newAction"
    assert response.headers["X-To"] == "http://example.org/x"
    assert response.headers["X-From"] == "http://client"
    assert response.headers["X-Rel"] == "urn:uuid:r1"
    assert response.headers["X-To-After"] == ""
    # W: From is an Axis2 field, written only when addressing is engaged; the reply drops the block (sendBack)
    header = soap_header(await response.read())
    assert header is None or header.find(f"{{{WSA}}}From") is None


async def test_transport_header_mediator_never_parses_the_body(gateway):
    client = await gateway(proxy('<header name="X-A" scope="transport" expression="$trp:X-In"/><respond/>'))
    broken = b"<not-closed>"
    response = await post(client, broken, **{"X-In": "1"})
    assert response.status == 200
    assert response.headers["X-A"] == "1"
    assert await response.read() == broken


def test_deploy_errors(tmp_path, capsys):
    cases = {
        "Unqualified": '<header name="Trace" value="x"/>',
        "NearAlias": '<header name="to" value="x"/>',
        "Unbound": '<header name="q:Trace" value="x"/>',
        "Scope": '<header name="X-A" scope="transprot" value="x"/>',
        "NoValue": '<header name="t:Trace"/>',
        "NoName": '<header value="x"/>',
        "BadHttpName": '<header name="X A" scope="transport" value="x"/>',
        "Action": '<header name="t:Trace" action="delete"/>',
        "BadXPath": '<header name="t:Trace" expression="//a["/>',
        "EmbeddedTransport": '<header scope="transport"><t:A/></header>',
    }
    files = {
        f"proxies/{name}.xml": f'<proxy {S} name="{name}" xmlns:t="urn:t"><target><inSequence>\n\n'
        f"{xml}\n<respond/></inSequence></target></proxy>"
        for name, xml in cases.items()
    }
    root = write_artifacts(tmp_path, files, with_defaults=False)
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    expected = [
        "Unqualified.xml:3: header: Invalid SOAP header: Trace specified at the header mediator. All SOAP "
        "headers must be namespace qualified. (declare a prefix",
        "NearAlias.xml:3: header: Invalid SOAP header: to specified at the header mediator. All SOAP headers "
        "must be namespace qualified. (did you mean 'To'? the WS-Addressing names are case-sensitive)",
        "Unbound.xml:3: header: invalid namespace prefix 'q' in name attribute",
        "Scope.xml:3: header: invalid scope 'transprot' (did you mean 'transport'?)",
        "NoValue.xml:3: header: a 'value' or 'expression' attribute is required for a [set] header mediator",
        "NoName.xml:3: header: a valid name attribute is required for the header mediator",
        "BadHttpName.xml:3: header: 'X A' is not a valid HTTP header name",
        "Action.xml:3: header: invalid action 'delete'",
        "BadXPath.xml:3: header: invalid expression for attribute 'expression': '//a['",
        "EmbeddedTransport.xml:3: header: an embedded header block only works to set a SOAP header",
    ]
    for line in expected:
        assert line in out, (line, out)
