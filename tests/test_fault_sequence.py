"""The shipped global sequences/fault.xml: every client gets the error in its own format, consistently with
the Python safety net gateway.message.errors.error_reply (docs/conformance.md C-FS*)."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import orjson
import pytest
from lxml import etree

from gateway.deploy.loader import load
from gateway.runtime.defaults import DEFAULT_FAULT

S = 'xmlns="http://ws.apache.org/ns/synapse"'
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
REPO = Path(__file__).resolve().parent.parent
FAILING = '<property name="x" value="abc" type="INTEGER"/><respond/>'  # a mediation error (ERROR_CODE 0)

CLIENTS = {
    "soap11": ("text/xml", f'<e:Envelope xmlns:e="{SOAP11}"><e:Body><q/></e:Body></e:Envelope>'.encode()),
    "soap12": (
        "application/soap+xml",
        f'<e:Envelope xmlns:e="{SOAP12}"><e:Body><q/></e:Body></e:Envelope>'.encode(),
    ),
    "json": ("application/json", b'{"q":1}'),
    "pox": ("application/xml", b"<q/>"),
}


def proxy(name: str, target: str) -> dict[str, str]:
    return {f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target>{target}</target></proxy>'}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse_error(kind: str, content_type: str, raw: bytes) -> tuple:
    """(code, message) of an error body, checking that its shape matches the client's format."""
    if kind == "soap11":
        assert content_type.startswith("text/xml")
        fault = etree.fromstring(raw).find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
        assert fault.findtext("faultcode") == "soapenv:Server"
        return fault.findtext("detail"), fault.findtext("faultstring")
    if kind == "soap12":
        assert content_type.startswith("application/soap+xml")
        fault = etree.fromstring(raw).find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
        assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "soapenv:Receiver"
        return fault.findtext(f"{{{SOAP12}}}Detail"), fault.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text")
    if kind == "json":
        assert content_type.startswith("application/json")
        error = orjson.loads(raw)["error"]
        assert isinstance(error["code"], int)  # error codes are JSON numbers
        return error["code"], error["message"]
    assert content_type.startswith("application/xml")
    root = etree.fromstring(raw)
    assert root.tag == "Exception"
    return None, root.text


async def ask(client, path: str, kind: str, **headers):
    content_type, body = CLIENTS[kind]
    response = await client.post(path, data=body, headers={"Content-Type": content_type, **headers})
    return response.status, response.headers.get("Content-Type", ""), await response.read()


def test_the_shipped_fault_sequence_deploys_cleanly(tmp_path):
    (tmp_path / "sequences").mkdir()
    (tmp_path / "sequences" / "fault.xml").write_bytes((REPO / "sequences" / "fault.xml").read_bytes())
    config = load(tmp_path)
    assert not config.failed and "fault" in config.sequences


@pytest.mark.parametrize("kind", list(CLIENTS))
async def test_a_mediation_error_answers_each_client_in_its_format(gateway, kind):
    client = await gateway(proxy("P", f"<inSequence>{FAILING}</inSequence>"))
    status, content_type, raw = await ask(client, "/services/P", kind)
    assert status == 500
    code, message = parse_error(kind, content_type, raw)
    assert "INTEGER" in message
    assert code in (None, 0, "0")


@pytest.mark.parametrize("kind", list(CLIENTS))
async def test_a_refused_backend_yields_101503(gateway, kind):
    client = await gateway(proxy("P", f'<endpoint><address uri="http://127.0.0.1:{closed_port()}/x"/></endpoint>'))
    status, content_type, raw = await ask(client, "/services/P", kind)
    assert status == 500
    code, message = parse_error(kind, content_type, raw)
    assert message == "Error connecting to the back end"
    if kind != "pox":
        assert str(code) == "101503"


async def test_http_sc_of_400_or_more_is_kept(gateway):
    client = await gateway(
        proxy("P", f'<inSequence><property name="HTTP_SC" value="422" scope="axis2"/>{FAILING}</inSequence>')
    )
    status, content_type, raw = await ask(client, "/services/P", "json")
    assert status == 422 and parse_error("json", content_type, raw)[0] == 0
    client = await gateway(
        proxy("Q", f'<inSequence><property name="HTTP_SC" value="201" scope="axis2"/>{FAILING}</inSequence>')
    )
    assert (await ask(client, "/services/Q", "json"))[0] == 500


async def test_the_accept_extension_picks_the_error_format(gateway):
    client = await gateway(proxy("P", f"<inSequence>{FAILING}</inSequence>"))
    status, content_type, raw = await ask(client, "/services/P", "pox", Accept="application/json")
    assert parse_error("json", content_type, raw)[0] == 0


async def test_a_bodiless_request_still_gets_an_error_body(gateway):
    client = await gateway(proxy("P", f"<inSequence>{FAILING}</inSequence>"))
    response = await client.get("/services/P", headers={"Accept": "application/json"})
    assert response.status == 500
    assert parse_error("json", response.headers["Content-Type"], await response.read())[0] == 0


async def test_a_malformed_soap_request_gets_a_soap_fault_with_601000(gateway):
    client = await gateway(proxy("P", '<inSequence><property name="s" expression="//q"/><respond/></inSequence>'))
    response = await client.post("/services/P", data=b"<e:Envelope", headers={"Content-Type": "text/xml"})
    assert response.status == 500
    code, message = parse_error("soap11", response.headers["Content-Type"], await response.read())
    assert code == "601000" and "malformed XML" in message


async def test_an_error_on_the_response_path_is_answered_too(gateway, backend):
    from aiohttp import web

    async def reply(request, body):
        return web.json_response({"ok": True})

    server = await backend(reply)
    client = await gateway(
        proxy(
            "P",
            f'<endpoint><address uri="{server.make_url("/x")}"/></endpoint><outSequence>{FAILING}</outSequence>',
        )
    )
    status, content_type, raw = await ask(client, "/services/P", "pox")
    assert status == 500  # the backend's 200 is not an error status: 500 wins
    assert "INTEGER" in parse_error("pox", content_type, raw)[1]


async def test_the_error_is_logged_with_code_and_message(gateway, caplog):
    client = await gateway(proxy("P", f"<inSequence>{FAILING}</inSequence>"))
    with caplog.at_level(logging.INFO):
        await ask(client, "/services/P", "json")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("gateway.mediator.log")]
    assert any("ERROR_CODE = 0" in line and "ERROR_MESSAGE = Unknown type" in line for line in lines), lines


@pytest.mark.parametrize("kind", list(CLIENTS))
async def test_fault_xml_and_the_python_safety_net_answer_the_same(gateway, tmp_path, kind):
    """Without sequences/fault.xml the built-in fallback (errors.error_reply) must look the same."""
    target = f'<endpoint><address uri="http://127.0.0.1:{closed_port()}/x"/></endpoint>'
    shipped = await gateway(proxy("P", target))
    assert shipped.config.sequences["fault"] is not DEFAULT_FAULT
    (tmp_path / "artifacts" / "sequences" / "fault.xml").unlink()  # both gateways share the artifact folder
    fallback = await gateway(proxy("P", target), with_defaults=False)
    assert fallback.config.sequences["fault"] is DEFAULT_FAULT  # MI, too, always has a `fault`
    answers = []
    for client in (shipped, fallback):
        status, content_type, raw = await ask(client, "/services/P", kind)
        parse_error(kind, content_type, raw)
        answers.append((status, content_type, raw))
    assert answers[0] == answers[1]  # byte for byte
