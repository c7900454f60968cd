"""The log mediator: levels, line shapes, categories, separators, secret masking, laziness and its
deploy errors (docs/synapse-semantics.md §5.2). Lines are observed with caplog on the `gateway.mediator.log` logger."""

from __future__ import annotations

import logging
import re

from gateway.cli import main as cli
from tests.conftest import write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'
LOGGER = "gateway.mediator.log"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"


def proxy(in_sequence: str, *, fault: str = "", name: str = "P") -> dict[str, str]:
    fault_sequence = f"<faultSequence>{fault}</faultSequence>" if fault else ""
    return {
        f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target><inSequence>{in_sequence}</inSequence>'
        f"{fault_sequence}</target></proxy>"
    }


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


async def post(
    client, body: bytes = b"<a/>", ctype: str = "application/xml", path: str = "/services/P", **headers: str
):
    return await client.post(path, data=body, headers={"Content-Type": ctype, **headers})


async def test_simple_is_the_default_level_and_has_the_mi_shape(gateway, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    client = await gateway(proxy('<log/><log level="simple"><property name="p" value="v"/></log><respond/>'))
    response = await post(client)
    assert response.status == 200
    first, second = lines(caplog)
    shape = r"To: /services/P, MessageID: urn:uuid:[0-9a-f-]{36}, Direction: request"
    assert re.fullmatch(shape, first), first
    assert second.startswith("To: /services/P, MessageID: urn:uuid:")
    assert second.endswith(", Direction: request, p = v")


async def test_simple_shows_the_soap_action_and_the_response_direction(gateway, backend, caplog):
    from aiohttp import web

    async def ok(request: web.Request, body: bytes):
        return web.Response(body=b"<ok/>", content_type="application/xml")

    server = await backend(ok)
    caplog.set_level(logging.INFO, logger=LOGGER)
    client = await gateway(
        {
            "proxies/P.xml": f'<proxy {S} name="P"><target><inSequence><log/>'
            f'<send><endpoint><address uri="{server.make_url("/b")}"/>'
            "</endpoint></send></inSequence><outSequence><log/><send/>"
            "</outSequence></target></proxy>"
        }
    )
    envelope = f'<e:Envelope xmlns:e="{SOAP11}"><e:Body><a/></e:Body></e:Envelope>'.encode()
    response = await post(client, envelope, "text/xml", SOAPAction='"urn:getQuote"')
    assert response.status == 200
    request_line, response_line = lines(caplog)
    assert request_line.startswith(
        "To: /services/P, WSAction: urn:getQuote, SOAPAction: urn:getQuote, MessageID: urn:uuid:"
    )
    assert request_line.endswith("Direction: request")
    assert response_line.startswith("To: , ")  # a reply has no To: the line still starts with it
    assert response_line.endswith("Direction: response")


async def test_custom_prints_only_properties_with_null_and_separator(gateway, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    client = await gateway(
        proxy(
            '<log level="custom" separator=" | "><property name="sym" expression="json-eval($.symbol)"/>'
            '<property name="missing" expression="get-property(\'nope\')"/><property name="lit" value="x"/>'
            '<property name="n" expression="count(//item)"/></log>'
            '<log level="custom" separator="\\n"><property name="a" value="1"/>'
            '<property name="b" value="2"/></log>'
            "<respond/>"
        )
    )
    await post(client, b'{"symbol":"IBM","item":[1,2]}', "application/json")
    custom, newline = lines(caplog)
    assert custom == "sym = IBM | missing = null | lit = x | n = 2.0"
    assert newline == "a = 1\nb = 2"  # W: a literal \n separator is a newline


async def test_full_logs_the_envelope_for_xml_and_the_payload_for_json(gateway, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    client = await gateway(proxy('<log level="full"/><respond/>'))
    await post(client, b"<order><id>7</id></order>")
    await post(client, b'{"id": 7, "tags": ["a"]}', "application/json")
    xml_line, json_line = lines(caplog)
    assert xml_line.startswith("To: /services/P, MessageID: ")
    assert ", Direction: request, Envelope: <?xml version='1.0' encoding='utf-8'?><soapenv:Envelope" in xml_line
    assert "<soapenv:Body><order><id>7</id></order></soapenv:Body></soapenv:Envelope>" in xml_line
    assert json_line.endswith(', Direction: request, Payload: {"id": 7, "tags": ["a"]}')


async def test_headers_level_logs_soap_header_blocks_and_http_headers(gateway, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    client = await gateway(proxy('<log level="headers"><property name="end" value="1"/></log><respond/>'))
    envelope = (
        f'<e:Envelope xmlns:e="{SOAP11}"><e:Header><h:Trace xmlns:h="urn:h">abc</h:Trace>'
        '<h:Hop xmlns:h="urn:h">2</h:Hop></e:Header><e:Body><a/></e:Body></e:Envelope>'
    ).encode()
    await post(client, envelope, "text/xml", **{"X-Corr": "c-9"})
    (line,) = lines(caplog)
    assert line.startswith("Trace : abc, Hop : 2, ")
    assert "X-Corr : c-9" in line
    assert line.endswith(", end = 1")
    assert "MessageID" not in line  # headers level does not include the simple fields


async def test_categories_map_to_python_levels(gateway, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    categories = ["INFO", " warn ", "ERROR", "fatal", "TRACE", "DEBUG"]
    mediators = "".join(
        f'<log level="custom" category="{c}"><property name="c" value="{i}"/></log>' for i, c in enumerate(categories)
    )
    client = await gateway(proxy(mediators + "<respond/>"))
    await post(client)
    levels = [r.levelno for r in caplog.records if r.name == LOGGER]
    assert levels == [logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL, logging.DEBUG, logging.DEBUG]


async def test_disabled_category_is_not_logged(gateway, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    client = await gateway(proxy('<log level="full" category="DEBUG"/><respond/>'))
    response = await post(client, b"{broken", "application/json")
    assert response.status == 200  # not formatted, so the broken body was never parsed
    assert lines(caplog) == []


async def test_secrets_are_masked_in_every_level(gateway, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    client = await gateway(
        proxy(
            '<log level="full"/><log level="headers"/>'
            '<log level="custom"><property name="password" expression="$trp:X-Password"/></log><respond/>'
        )
    )
    json_body = b'{"user": "ann", "authToken": "tok-JSON-123", "nested": {"password": "pw-nested-456"}}'
    soap_body = (
        f'<e:Envelope xmlns:e="{SOAP11}"><e:Header>'
        '<s:Password xmlns:s="urn:s">pw-header-789</s:Password></e:Header>'
        f"<e:Body><login><user>ann</user><password>pw-SOAP-000</password></login></e:Body>"
        "</e:Envelope>"
    ).encode()
    auth = {"Authorization": "Bearer bearer-AUTH-111", "X-Password": "pw-trp-222"}
    assert (await post(client, json_body, "application/json", **auth)).status == 200
    assert (await post(client, soap_body, "text/xml", **auth)).status == 200
    text = caplog.text + "\n".join(lines(caplog))
    secrets = ("tok-JSON-123", "pw-nested-456", "pw-header-789", "pw-SOAP-000", "bearer-AUTH-111", "pw-trp-222")
    for secret in secrets:
        assert secret not in text, secret
    assert "ann" in text  # only the secret values are hidden
    assert '"authToken": "****"' in text and "<password>****</password>" in text
    assert len(lines(caplog)) == 6


async def test_configured_secret_names_are_masked(gateway, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    client = await gateway(proxy('<log level="full"/><respond/>'), secret_names=("pinCode",))
    await post(client, b'{"pinCode": "4321", "password": "visible-here"}', "application/json")
    (line,) = lines(caplog)
    assert "4321" not in line
    assert "visible-here" in line  # the configured list replaces the defaults


async def test_full_log_in_a_fault_sequence_shows_a_body_that_failed_to_parse(gateway, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    fault = (
        '<log level="full"><property name="code" expression="get-property(\'ERROR_CODE\')"/></log>'
        '<property name="HTTP_SC" value="400" scope="axis2"/>'
        '<header name="X-Code" scope="transport" expression="get-property(\'ERROR_CODE\')"/><respond/>'
    )
    client = await gateway(proxy('<filter xpath="//a"><drop/></filter><respond/>', fault=fault))
    response = await post(client, b'{"a": ', "application/json")
    assert response.status == 400
    assert response.headers["X-Code"] == "601000"  # the fault sequence ran to its end
    (line,) = lines(caplog)
    assert line.endswith('Payload: {"a": , code = 601000')


async def test_simple_and_custom_levels_never_parse_the_body(gateway, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    client = await gateway(
        proxy('<log/><log level="custom"><property name="t" expression="$trp:X-T"/></log><respond/>')
    )
    broken = b'{"not": json'
    response = await post(client, broken, "application/json", **{"X-T": "1"})
    assert response.status == 200
    assert await response.read() == broken  # untouched, byte for byte
    assert lines(caplog)[1] == "t = 1"


def test_deploy_errors(tmp_path, capsys):
    files = {
        f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target><inSequence>\n\n{xml}\n<respond/>'
        "</inSequence></target></proxy>"
        for name, xml in {
            "Level": '<log level="ful"/>',
            "Category": '<log category="WARNING"/>',
            "Message": "<log>\n<message>Hello ${payload.name +}</message></log>",
            "NoName": '<log><property value="1"/></log>',
            "NoValue": '<log><property name="a"/></log>',
            "Child": '<log><proprety name="a" value="1"/></log>',
            "Expr": '<log><property name="a" expression="count(//a"/></log>',
            "Newer": '<log logFullPayload="yes"/>',
        }.items()
    }
    root = write_artifacts(tmp_path, files, with_defaults=False)
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "Level.xml:3: log: invalid log level 'ful' (did you mean 'full'?)" in out
    assert "Category.xml:3: log: invalid log category 'WARNING' (did you mean 'WARN'?)" in out
    assert "Message.xml:4: message: Invalid message template (syntax error: expected " in out
    assert "NoName.xml:3: property: the 'name' attribute is required for a log property" in out
    assert "NoValue.xml:3: property: a log property needs a 'value' or an 'expression'" in out
    assert "Child.xml:3: proprety: unexpected <proprety> inside <log> (did you mean 'property'?)" in out
    assert "Expr.xml:3: property: invalid expression for attribute 'expression'" in out
    assert "Newer.xml:3: log: 'logFullPayload' must be true or false, not 'yes'" in out
