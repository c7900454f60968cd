"""makefault: SOAP 1.1 / 1.2 / POX fault shapes, code/reason/role/node/detail, response, and W:'s deploy-time
code validation (docs/synapse-semantics.md §4.4, §5.5; docs/conformance.md C-MF*)."""

from __future__ import annotations

import orjson
from lxml import etree

S = 'xmlns="http://ws.apache.org/ns/synapse"'
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS11 = f'xmlns:soapenv="{SOAP11}"'
NS12 = f'xmlns:soap12="{SOAP12}"'


def proxy(name: str, in_sequence: str) -> dict[str, str]:
    return {
        f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target><inSequence>{in_sequence}</inSequence>'
        "</target></proxy>"
    }


def envelope(ns: str, body: str = "<a/>", header: str = "") -> bytes:
    head = f"<e:Header>{header}</e:Header>" if header else ""
    return f'<e:Envelope xmlns:e="{ns}">{head}<e:Body>{body}</e:Body></e:Envelope>'.encode()


async def call(client, name: str, body: bytes, ctype: str, **headers):
    response = await client.post(f"/services/{name}", data=body, headers={"Content-Type": ctype, **headers})
    return response.status, response.headers.get("Content-Type", ""), await response.read()


def fault_of(raw: bytes, ns: str) -> etree._Element:
    fault = etree.fromstring(raw).find(f"{{{ns}}}Body/{{{ns}}}Fault")
    assert fault is not None, raw
    return fault


async def test_default_version_is_soap11_with_code_and_reason_values(gateway):
    client = await gateway(
        proxy(
            "P",
            f'<makefault {NS11}><code value="soapenv:Client"/><reason value="bad input"/></makefault><respond/>',
        )
    )
    status, ctype, body = await call(client, "P", envelope(SOAP11), "text/xml")
    assert status == 500 and ctype.startswith("text/xml")
    fault = fault_of(body, SOAP11)
    assert (fault.findtext("faultcode"), fault.findtext("faultstring")) == ("soapenv:Client", "bad input")
    assert fault.find("detail") is None


async def test_soap12_fault_with_node_role_and_inline_detail(gateway):
    seq = (
        f'<makefault version="soap12" {NS12}><code value="soap12:Sender"/><reason value="nope"/>'
        "<node>http://gw/node</node><role>http://gw/role</role>"
        '<detail><d:why xmlns:d="urn:d">because</d:why><d:more xmlns:d="urn:d"/></detail>'
        "</makefault><respond/>"
    )
    client = await gateway(proxy("P", seq))
    status, ctype, body = await call(client, "P", envelope(SOAP12), "application/soap+xml")
    assert status == 500 and ctype.startswith("application/soap+xml")
    fault = fault_of(body, SOAP12)
    assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "soapenv:Sender"
    text = fault.find(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text")
    assert text.text == "nope" and text.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert fault.findtext(f"{{{SOAP12}}}Node") == "http://gw/node"
    assert fault.findtext(f"{{{SOAP12}}}Role") == "http://gw/role"
    assert [c.tag for c in fault.find(f"{{{SOAP12}}}Detail")] == ["{urn:d}why", "{urn:d}more"]


async def test_soap11_role_is_faultactor_and_an_explicit_soap11_ignores_node(gateway):
    seq = (
        f'<makefault version="soap11" {NS11}><code value="soapenv:Server"/><reason value="r"/>'
        "<node>http://gw/node</node><role>http://gw/actor</role><detail>plain text</detail>"
        "</makefault><respond/>"
    )
    client = await gateway(proxy("P", seq))
    fault = fault_of((await call(client, "P", envelope(SOAP11), "text/xml"))[2], SOAP11)
    assert fault.findtext("faultactor") == "http://gw/actor"
    assert fault.findtext("detail") == "plain text"
    assert b"http://gw/node" not in etree.tostring(fault)


async def test_code_reason_and_detail_expressions(gateway):
    seq = (
        f'<makefault {NS11}><code expression="//code"/><reason expression="fn:concat(\'bad \', //what)"/>'
        '<detail expression="//info/*"/></makefault><respond/>'
    )
    client = await gateway(proxy("P", seq))
    body = envelope(SOAP11, "<r><code>soapenv:Client</code><what>symbol</what><info><x>1</x><y>2</y></info></r>")
    fault = fault_of((await call(client, "P", body, "text/xml"))[2], SOAP11)
    assert fault.findtext("faultcode") == "soapenv:Client"  # a prefix in the result is not doubled
    assert fault.findtext("faultstring") == "bad symbol"
    assert [(c.tag, c.text) for c in fault.find("detail")] == [("x", "1"), ("y", "2")]


async def test_detail_expression_with_a_string_result_and_an_empty_detail(gateway):
    client = await gateway(
        {
            **proxy(
                "Text",
                f'<makefault {NS11}><code value="soapenv:Server"/><reason value="r"/>'
                "<detail expression=\"get-property('ERROR_CODE')\"/></makefault><respond/>",
            ),
            **proxy(
                "Empty",
                f'<makefault {NS11}><code value="soapenv:Server"/><reason value="r"/><detail/></makefault><respond/>',
            ),
        }
    )
    fault = fault_of((await call(client, "Text", envelope(SOAP11), "text/xml"))[2], SOAP11)
    assert fault.find("detail") is not None and fault.findtext("detail") == ""
    fault = fault_of((await call(client, "Empty", envelope(SOAP11), "text/xml"))[2], SOAP11)
    assert fault.find("detail") is not None


async def test_pox_fault_uses_detail_else_reason_and_answers_500(gateway):
    client = await gateway(
        {
            **proxy("Reason", '<makefault version="pox"><reason value="just the reason"/></makefault><respond/>'),
            **proxy(
                "Detail",
                '<makefault version="pox"><reason value="r"/><detail>the detail</detail></makefault><respond/>',
            ),
            **proxy("Expr", '<makefault version="pox"><reason expression="//why"/></makefault><respond/>'),
            **proxy("Bare", '<makefault version="pox"/><respond/>'),
        }
    )
    expected = {"Reason": "just the reason", "Detail": "the detail", "Expr": "because", "Bare": None}
    for name, text in expected.items():
        status, ctype, body = await call(client, name, b"<r><why>because</why></r>", "application/xml")
        assert status == 500, name
        root = etree.fromstring(body)
        assert (root.tag, root.text) == ("Exception", text), name


async def test_rest_clients_get_the_soap_fault_as_exception(gateway):
    client = await gateway(
        proxy(
            "P",
            f'<makefault {NS11}><code value="soapenv:Server"/><reason value="down"/></makefault><respond/>',
        )
    )
    status, ctype, body = await call(client, "P", b'{"a":1}', "application/json")
    assert status == 500 and orjson.loads(body) == {"Exception": "down"}
    status, ctype, body = await call(client, "P", b"<a/>", "application/xml")
    assert status == 500 and etree.fromstring(body).text == "down"


async def test_a_soap12_client_gets_the_default_soap11_fault_as_soap12(gateway):
    """Open point of the reference (§11): we always answer a SOAP 1.2 client in SOAP 1.2."""
    client = await gateway(
        proxy("P", f'<makefault {NS11}><code value="soapenv:Server"/><reason value="x"/></makefault><respond/>')
    )
    status, ctype, body = await call(client, "P", envelope(SOAP12), "application/soap+xml")
    assert ctype.startswith("application/soap+xml")
    assert fault_of(body, SOAP12).findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "soapenv:Receiver"


async def test_message_headers_are_copied_into_the_fault(gateway):
    client = await gateway(
        proxy("P", f'<makefault {NS11}><code value="soapenv:Server"/><reason value="x"/></makefault><respond/>')
    )
    body = envelope(SOAP11, header='<h:id xmlns:h="urn:h">42</h:id>')
    root = etree.fromstring((await call(client, "P", body, "text/xml"))[2])
    assert root.findtext(f"{{{SOAP11}}}Header/{{urn:h}}id") == "42"


async def test_makefault_never_sends_by_itself(gateway):
    client = await gateway(
        proxy("P", f'<makefault {NS11}><code value="soapenv:Server"/><reason value="x"/></makefault>')
    )
    status, _, body = await call(client, "P", envelope(SOAP11), "text/xml")
    assert (status, body) == (202, b"")


async def test_response_marks_the_message_so_send_replies_to_the_client(gateway):
    fault = '<code value="soapenv:Server"/><reason value="as response"/>'
    client = await gateway(
        {
            **proxy("Default", f"<makefault {NS11}>{fault}</makefault><send/>"),
            **proxy("True", f'<makefault {NS11} response="true">{fault}</makefault><send/>'),
            **proxy("False", f'<makefault {NS11} response="false">{fault}</makefault><send/>'),
        }
    )
    for name in ("Default", "True"):
        status, _, body = await call(client, name, envelope(SOAP11), "text/xml")
        assert fault_of(body, SOAP11).findtext("faultstring") == "as response", name
    # not a response: send on the request path looks for an endpoint, and this proxy has none
    status, _, body = await call(client, "False", envelope(SOAP11), "text/xml")
    assert status == 500 and b"send without an endpoint" in body


async def test_code_validation_at_deploy_time(gateway):
    bad = {
        "Soap12CodeUnderDefault": f'<makefault {NS12}><code value="soap12:Receiver"/><reason value="r"/></makefault>',
        "BadSoap11Name": f'<makefault {NS11}><code value="soapenv:Receiver"/><reason value="r"/></makefault>',
        "BadSoap12Name": f'<makefault version="soap12" {NS12}><code value="soap12:Server"/>'
        '<reason value="r"/>'
        "</makefault>",
        "Soap11CodeIn12": f'<makefault version="soap12" {NS11}><code value="soapenv:Server"/>'
        '<reason value="r"/>'
        "</makefault>",
        "Unbound": '<makefault><code value="tns:Server"/><reason value="r"/></makefault>',
        "NoPrefix": '<makefault><code value="Server"/><reason value="r"/></makefault>',
        "NoCode": '<makefault><reason value="r"/></makefault>',
        "NoReason": f'<makefault {NS11}><code value="soapenv:Server"/></makefault>',
        "EmptyCode": f'<makefault {NS11}><code/><reason value="r"/></makefault>',
        "Version": '<makefault version="soap13"/>',
        "Response": '<makefault version="pox" response="yes"/>',
        "NodeWithDefault": f'<makefault {NS11}><code value="soapenv:Server"/><reason value="r"/>'
        "<node>n</node>"
        "</makefault>",
    }
    files = {}
    for name, mediator in bad.items():
        files.update(proxy(name, mediator))
    files.update(proxy("PoxNeedsNothing", '<makefault version="pox" xmlns:x="urn:x"><code value="x:Any"/></makefault>'))
    client = await gateway(files)
    assert set(client.config.proxies) == {"PoxNeedsNothing"}
    errors = {e.location.path.rsplit("/", 1)[-1][:-4]: e for e in client.config.failed}
    first = errors["Soap12CodeUnderDefault"]
    assert first.reason == (
        "Invalid namespace in fault code for soap11 version. Namespace should be corrected as "
        "http://schemas.xmlsoap.org/soap/envelope/."
    )
    assert 'set version="soap12" or use a soap11 code such as soapenv:Server' in first.hint
    assert "makefault defaults to SOAP 1.1" in first.hint
    assert errors["BadSoap11Name"].reason.startswith(
        "Invalid code value for soap11 version. Code value has to be "
        "one of the following : VersionMismatch, MustUnderstand, "
        "Client, Server"
    )
    assert errors["BadSoap11Name"].hint == "did you mean 'Server'?"
    assert errors["BadSoap12Name"].hint == "did you mean 'Receiver'?"
    assert "Namespace should be corrected as http://www.w3.org/2003/05/soap-envelope" in errors["Soap11CodeIn12"].reason
    assert errors["Unbound"].reason == "Invalid namespace prefix 'tns' in code attribute"
    assert errors["NoPrefix"].reason == "A QName is expected for fault code as prefix:name"
    assert "fault code is a required attribute" in errors["NoCode"].reason
    assert "fault reason is a required attribute" in errors["NoReason"].reason
    assert "must specify the fault code" in errors["EmptyCode"].reason
    assert errors["Version"].reason == "Invalid SOAP version"
    assert "Expected 'true' or 'false'" in errors["Response"].reason
    assert "does not apply to a SOAP 1.1 fault" in errors["NodeWithDefault"].reason
