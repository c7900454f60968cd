"""Engine conformance: proxy flow, status rules, pass-through, endpoints (docs/synapse-semantics.md §1–§2)."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web
from lxml import etree

S = 'xmlns="http://ws.apache.org/ns/synapse"'


def proxy(name: str, target: str, extra: str = "") -> dict[str, str]:
    return {f"proxies/{name}.xml": f'<proxy {S} name="{name}" {extra}><target>{target}</target></proxy>'}


async def echo_backend(backend, status: int = 200):
    async def echo(request: web.Request, body: bytes):
        return web.Response(
            status=status,
            body=body,
            headers={"X-Backend": "yes"},
            content_type=request.content_type or "application/octet-stream",
        )

    return await backend(echo)


async def test_drop_on_request_path_gives_202_and_empty_body(gateway):
    client = await gateway(proxy("P", "<inSequence><drop/></inSequence>"))
    response = await client.post("/services/P", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 202
    assert await response.read() == b""


async def test_sequence_that_simply_ends_gives_202(gateway):
    client = await gateway(proxy("P", '<inSequence><filter source="\'x\'" regex="y"><respond/></filter></inSequence>'))
    response = await client.post("/services/P", data=b"{}", headers={"Content-Type": "application/json"})
    assert response.status == 202
    assert await response.read() == b""


async def test_unknown_proxy_gives_404_with_empty_body(gateway):
    client = await gateway(proxy("P", "<inSequence><respond/></inSequence>"))
    for path in ("/services/Nope", "/services/Nope/sub?x=1", "/anything/else"):
        response = await client.get(path)
        assert response.status == 404, path
        assert await response.read() == b"", path


async def test_pox_and_json_are_echoed_byte_identical_through_respond(gateway):
    client = await gateway(proxy("Echo", "<inSequence><respond/></inSequence>"))
    pox = b'<?xml version="1.0"?>\n<order  id="1" ><item  qty="2">  a&amp;b </item></order>'
    json = b'{ "a" : 1.50, "b":[ 1,2 ] ,"c":"\\u00e9"}'
    for body, ctype in ((pox, "application/xml"), (json, "application/json")):
        response = await client.post("/services/Echo", data=body, headers={"Content-Type": ctype})
        assert response.status == 200
        assert await response.read() == body
        assert response.headers["Content-Type"].startswith(ctype)


async def test_untouched_body_is_never_parsed(gateway, backend):
    """Malformed bodies pass through a proxy whose mediators never read content: had anything parsed
    them, the flow would have faulted with 601000."""
    server = await echo_backend(backend)
    client = await gateway(
        {
            **proxy("Respond", '<inSequence><property name="a" expression="$trp:X-Id"/><respond/></inSequence>'),
            **proxy(
                "Forward",
                f'<inSequence><property name="a" value="1"/></inSequence>'
                f'<endpoint><address uri="{server.make_url("/echo")}"/></endpoint>',
            ),
        }
    )
    broken_json, broken_xml = b'{"unterminated": ', b"<a><b></a>"
    for path in ("/services/Respond", "/services/Forward"):
        for body, ctype in ((broken_json, "application/json"), (broken_xml, "application/xml")):
            response = await client.post(path, data=body, headers={"Content-Type": ctype, "X-Id": "7"})
            assert response.status == 200, (path, await response.text())
            assert await response.read() == body
    assert [r["body"] for r in server.requests] == [broken_json, broken_xml]


async def test_reading_mediator_parses_and_malformed_json_faults_601000(gateway):
    fault = (
        '<faultSequence><property name="HTTP_SC" value="400" scope="axis2"/>'
        '<header name="X-Code" scope="transport" expression="get-property(\'ERROR_CODE\')"/>'
        "<respond/></faultSequence>"
    )
    client = await gateway(
        proxy("P", f'<inSequence><property name="s" expression="//symbol"/><respond/></inSequence>{fault}')
    )
    response = await client.post("/services/P", data=b'{"symbol": ', headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert response.headers["X-Code"] == "601000"
    response = await client.post("/services/P", data=b"<a><b></a>", headers={"Content-Type": "application/xml"})
    assert response.headers["X-Code"] == "601000"


async def test_http_sc_overrides_status(gateway):
    client = await gateway(
        proxy("P", '<inSequence><property name="HTTP_SC" value="418" scope="axis2"/><respond/></inSequence>')
    )
    response = await client.post("/services/P", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 418
    assert await response.read() == b"<a/>"


async def test_no_entity_body_sends_no_body(gateway):
    client = await gateway(
        proxy(
            "P",
            '<inSequence><property name="NO_ENTITY_BODY" value="true" scope="axis2" '
            'type="BOOLEAN"/><respond/></inSequence>',
        )
    )
    response = await client.post("/services/P", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 200
    assert await response.read() == b""


async def test_backend_status_and_body_pass_through(gateway, backend):
    server = await echo_backend(backend, status=404)
    client = await gateway(proxy("P", f'<endpoint><address uri="{server.make_url("/x")}"/></endpoint>'))
    response = await client.post("/services/P", data=b'{"k":1}', headers={"Content-Type": "application/json"})
    assert response.status == 404
    assert await response.read() == b'{"k":1}'
    assert response.headers["X-Backend"] == "yes"


async def test_soap_fault_body_gives_500_unless_faults_as_http_200(gateway):
    envelope = (
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        b"<soapenv:Fault><faultcode>soapenv:Server</faultcode><faultstring>boom</faultstring>"
        b"</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    client = await gateway(
        {
            **proxy("F", '<inSequence><property name="x" expression="//faultstring"/><respond/></inSequence>'),
            **proxy(
                "F200",
                '<inSequence><property name="x" expression="//faultstring"/>'
                '<property name="FAULTS_AS_HTTP_200" value="true" scope="axis2"/><respond/></inSequence>',
            ),
        }
    )
    headers = {"Content-Type": "text/xml", "SOAPAction": '"urn:x"'}
    response = await client.post("/services/F", data=envelope, headers=headers)
    assert response.status == 500
    assert b"boom" in await response.read()
    response = await client.post("/services/F200", data=envelope, headers=headers)
    assert response.status == 200


async def test_rest_url_postfix_and_suffix_routing(gateway):
    client = await gateway(
        proxy(
            "P",
            '<inSequence><header name="X-Postfix" scope="transport" '
            'expression="$axis2:REST_URL_POSTFIX"/><respond/></inSequence>',
        )
    )
    response = await client.get("/services/P/orders/42?x=1")
    assert response.status == 200
    assert response.headers["X-Postfix"] == "/orders/42?x=1"


async def test_send_to_inline_endpoint_then_out_sequence(gateway, backend):
    server = await echo_backend(backend)
    client = await gateway(
        proxy(
            "P",
            f'<inSequence><send><endpoint><address uri="{server.make_url("/svc")}"/></endpoint></send>'
            '<property name="never" value="x"/></inSequence>'
            '<outSequence><header name="X-Out" scope="transport" value="ran"/><send/></outSequence>',
        )
    )
    response = await client.post("/services/P", data=b"<q>1</q>", headers={"Content-Type": "application/xml"})
    assert response.status == 200
    assert response.headers["X-Out"] == "ran"
    assert await response.read() == b"<q>1</q>"


async def test_named_endpoint_local_entry_and_sequence_key(gateway, backend):
    server = await echo_backend(backend)
    client = await gateway(
        {
            "endpoints/Echo.xml": f'<endpoint {S} name="Echo"><address uri="{server.make_url("/e")}"/></endpoint>',
            "local-entries/version.xml": f'<localEntry {S} key="version">0.1</localEntry>',
            "sequences/tag.xml": f'<sequence {S} name="tag"><header name="X-Version" scope="transport" '
            "expression=\"get-property('version')\"/></sequence>",
            **proxy(
                "P",
                '<inSequence><sequence key="tag"/><send><endpoint key="Echo"/></send></inSequence>'
                '<outSequence><header name="X-Version" scope="transport" '
                "expression=\"get-property('version')\"/><send/></outSequence>",
            ),
        }
    )
    response = await client.post("/services/P", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 200
    assert response.headers["X-Version"] == "0.1"
    assert server.requests[0]["headers"]["X-Version"] == "0.1"


async def test_target_attributes_win_over_inline_children(gateway):
    client = await gateway(
        {
            "sequences/named.xml": f'<sequence {S} name="named"><header name="X-Which" scope="transport" '
            'value="named"/><respond/></sequence>',
            "proxies/P.xml": f'<proxy {S} name="P"><target inSequence="named"><inSequence><header name="X-Which" '
            'scope="transport" value="inline"/><respond/></inSequence></target></proxy>',
        }
    )
    response = await client.post("/services/P", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 200
    assert response.headers["X-Which"] == "named"


async def test_send_receive_sequence_handles_the_reply(gateway, backend):
    server = await echo_backend(backend)
    client = await gateway(
        {
            "sequences/onReply.xml": f'<sequence {S} name="onReply"><header name="X-Receive" scope="transport" '
            'value="yes"/><send/></sequence>',
            **proxy(
                "P",
                f'<inSequence><send receive="onReply"><endpoint><address uri="{server.make_url("/r")}"/>'
                '</endpoint></send></inSequence><outSequence><header name="X-Out" scope="transport" '
                'value="yes"/><send/></outSequence>',
            ),
        }
    )
    response = await client.post("/services/P", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.headers["X-Receive"] == "yes"
    assert "X-Out" not in response.headers


async def test_call_is_blocking_and_continues_with_the_reply(gateway, backend):
    async def quote(request: web.Request, body: bytes):
        return web.json_response({"price": 12.5, "echo": body.decode()})

    server = await backend(quote)
    client = await gateway(
        proxy(
            "P",
            f'<inSequence><call><endpoint><address uri="{server.make_url("/q")}"/></endpoint></call>'
            '<header name="X-Price" scope="transport" expression="json-eval($.price)"/>'
            '<header name="X-Status" scope="transport" expression="$axis2:HTTP_SC"/><respond/></inSequence>',
        )
    )
    response = await client.post("/services/P", data=b'{"s":"IBM"}', headers={"Content-Type": "application/json"})
    assert response.status == 200
    assert response.headers["X-Price"] == "12.5"
    assert response.headers["X-Status"] == "200"
    assert orjson.loads(await response.read()) == {"price": 12.5, "echo": '{"s":"IBM"}'}


async def test_http_endpoint_uri_template_and_method(gateway, backend):
    async def record(request: web.Request, body: bytes):
        return web.json_response({"path": request.path_qs, "method": request.method})

    server = await backend(record)
    base = str(server.make_url("")).rstrip("/")
    client = await gateway(
        proxy(
            "P",
            '<inSequence><property name="uri.var.id" expression="json-eval($.id)"/>'
            f'<call><endpoint><http method="get" uri-template="{base}/items/{{uri.var.id}}?q=a b"/></endpoint>'
            "</call><respond/></inSequence>",
        )
    )
    response = await client.post("/services/P", data=b'{"id":"a/1"}', headers={"Content-Type": "application/json"})
    body = orjson.loads(await response.read())
    assert body["method"] == "GET"
    assert body["path"].startswith("/items/a%2F1")


async def test_http_endpoint_uri_template_is_rfc_6570(gateway, backend):
    # RFC 6570: {+x} keeps reserved characters but encodes the rest, {/x} and {?x,y} expand to a path segment
    # and a query (an unset variable is left out); query.param.* also come from the request's query
    async def record(request: web.Request, body: bytes):
        return web.json_response({"path": request.raw_path})

    server = await backend(record)
    base = str(server.make_url("")).rstrip("/")
    template = f"{base}/api/{{+uri.var.path}}{{/uri.var.seg}}/find{{?query.param.q,query.param.none}}"
    client = await gateway(
        proxy(
            "P",
            '<inSequence><property name="uri.var.path" value="a b/c"/><property name="uri.var.seg" value="x/y"/>'
            f'<call><endpoint><http method="get" uri-template="{template}"/></endpoint></call><respond/>'
            "</inSequence>",
        )
    )
    response = await client.post("/services/P?q=1%202", data=b"{}", headers={"Content-Type": "application/json"})
    assert (await response.json())["path"] == "/api/a%20b/c/x%2Fy/find?query.param.q=1%202"


async def test_loopback_runs_out_sequence(gateway):
    client = await gateway(
        proxy(
            "P",
            '<inSequence><loopback/></inSequence><outSequence><header name="X-Out" '
            'scope="transport" value="1"/><send/></outSequence>',
        )
    )
    response = await client.post("/services/P", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 200
    assert response.headers["X-Out"] == "1"
    assert await response.read() == b"<a/>"


async def test_start_on_load_false_deploys_stopped_and_answers_503(gateway):
    client = await gateway(proxy("P", "<inSequence><respond/></inSequence>", 'startOnLoad="false"'))
    response = await client.post("/services/P", data=b'{"a":1}', headers={"Content-Type": "application/json"})
    assert response.status == 503
    body = orjson.loads(await response.read())
    assert "stopped" in body["error"]["message"]
    names = [a["name"] for a in orjson.loads(await (await client.get("/healthz")).read())["deployed"]]
    assert "P" in names


async def test_proxy_without_http_transport_is_not_reachable_over_http(gateway):
    client = await gateway(proxy("P", "<inSequence><respond/></inSequence>", 'transports="https"'))
    response = await client.post("/services/P", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 404


async def test_request_headers_echoed_on_request_path_reply_but_not_credentials(gateway):
    client = await gateway(proxy("P", "<inSequence><respond/></inSequence>"))
    response = await client.post(
        "/services/P",
        data=b"<a/>",
        headers={"Content-Type": "application/xml", "X-Custom": "c1", "Authorization": "Basic c2VjcmV0"},
    )
    assert response.headers["X-Custom"] == "c1"
    assert "Authorization" not in response.headers


async def test_large_body_streams_through_without_buffering(gateway, backend):
    """A 5 MB body (larger than the eager-read threshold) passes through a proxy that never reads it."""

    async def size(request: web.Request, body: bytes):
        return web.Response(body=str(len(body)).encode(), content_type="text/plain")

    server = await backend(size)
    client = await gateway(
        proxy("P", f'<endpoint><address uri="{server.make_url("/s")}"/></endpoint>'), max_body_bytes=1024 * 1024
    )

    async def chunks():
        for _ in range(80):
            yield b"x" * 65536
            await asyncio.sleep(0)

    response = await client.post("/services/P", data=chunks(), headers={"Content-Type": "application/octet-stream"})
    assert response.status == 200
    assert await response.read() == str(80 * 65536).encode()


def _xml(response_body: bytes):
    return etree.fromstring(response_body)


async def test_read_but_unmodified_xml_goes_out_byte_identical(gateway, backend):
    """Parsing for a read (a filter, a property) does not re-serialise the message: the backend and the
    client see the original bytes."""
    server = await echo_backend(backend)
    envelope = (
        b"<?xml version='1.0'?>\n<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\""
        b"  xmlns:m0='http://services.samples'><soapenv:Body><m0:getQuote ><m0:symbol>IBM</m0:symbol>"
        b"<!-- kept --></m0:getQuote></soapenv:Body></soapenv:Envelope>"
    )
    client = await gateway(
        proxy(
            "P",
            '<inSequence><filter xpath="//m0:symbol = \'IBM\'" xmlns:m0="http://services.samples"><then><send>'
            f'<endpoint><address uri="{server.make_url("/e")}"/></endpoint></send></then></filter></inSequence>'
            '<outSequence><property name="s" expression="//m0:symbol" xmlns:m0="http://services.samples"/>'
            "<send/></outSequence>",
        )
    )
    response = await client.post("/services/P", data=envelope, headers={"Content-Type": "text/xml"})
    assert response.status == 200
    assert server.requests[0]["body"] == envelope
    assert await response.read() == envelope


async def test_rest_url_postfix_stays_percent_encoded_and_reaches_the_backend(gateway, backend):
    async def record(request: web.Request, body: bytes):
        return web.Response(text=request.raw_path)

    server = await backend(record)
    client = await gateway(
        proxy(
            "P",
            '<inSequence><header name="X-Postfix" scope="transport" '
            'expression="$axis2:REST_URL_POSTFIX"/><send><endpoint><address '
            f'uri="{server.make_url("/base")}"/></endpoint></send></inSequence>'
            "<outSequence><send/></outSequence>",
        )
    )
    response = await client.get("/services/P/a%20b/c%2Fd?q=x%26y")
    assert await response.text() == "/base/a%20b/c%2Fd?q=x%26y"
    response = await client.get("/services/P?only=query")
    assert await response.text() == "/base?only=query"


async def test_a_get_that_calls_a_back_end_responds_with_the_reply_body(gateway, backend):
    # NO_ENTITY_BODY, set for the bodiless GET, used to survive the call and empty the reply
    server = await backend(lambda request, body: web.json_response({"id": 42}))
    client = await gateway(
        {
            "proxies/P.xml": f'<proxy {S} name="P"><target><inSequence><call><endpoint>'
            f'<address uri="{server.make_url("/item")}"/></endpoint></call>'
            "<respond/></inSequence></target></proxy>"
        }
    )
    response = await client.get("/services/P")
    assert response.status == 200
    assert await response.json() == {"id": 42}
