"""Attributes MI's factories do not read that MI's own test configurations carry (docs/conformance.md, D12a):
accepted with a warning, as MI ignores them, while any other unknown attribute stays an error (D12)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from gateway.cli import main as cli
from tests.conftest import write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'


def test_attributes_mi_ignores_deploy_with_a_warning_naming_them(tmp_path: Any, capsys: Any, caplog: Any) -> None:
    root = write_artifacts(
        tmp_path,
        {
            # MI's payload_factory_jsonFormat_JsonExpressiosns.xml, clone_unknown_endpoints.xml,
            # REST_URL_POSTFIX_TestProxy.xml, LiteralArgumentAPI.xml, HttpCustomProxyTest.xml
            "sequences/s.xml": f"""<sequence {S} name="s" transports="https http">
  <log name="fault" level="full"><property name="p" value="v" type="STRING"/></log>
  <payloadFactory media-type="xml"><format><a xmlns="">$1</a></format>
    <args><arg deepCheck="false" literal="true" evaluator="xml" expression="$ctx:EXTRACT"/></args>
  </payloadFactory>
  <call><endpoint><address method="get" uri="http://127.0.0.1:9/v2"/></endpoint></call>
</sequence>""",
        },
    )
    with caplog.at_level(logging.WARNING, logger="gateway.deploy"):
        assert cli(["validate", str(root)]) == 0, capsys.readouterr().out
    warnings = [r.getMessage() for r in caplog.records if "as MI ignores it" in r.getMessage()]
    for tag, attribute in (
        ("sequence", "transports"),
        ("log", "name"),
        ("property", "type"),
        ("arg", "deepCheck"),
        ("address", "method"),
    ):
        [warning] = [w for w in warnings if f"<{tag} {attribute}=…> is ignored" in w]
        assert "s.xml:" in warning, warning


def test_a_misspelt_or_unknown_attribute_is_still_an_error(tmp_path: Any, capsys: Any) -> None:
    """MI's call/loadBalanceCallBlockingTestProxy writes alogorithm=…: a typo MI ignores silently (D12)."""
    root = write_artifacts(
        tmp_path,
        {
            "sequences/s.xml": f"""<sequence {S} name="s">
  <log bogus="1"/>
  <call><endpoint><loadbalance alogorithm="x">
    <endpoint><address uri="http://127.0.0.1:9/a"/></endpoint></loadbalance></endpoint></call>
</sequence>""",
        },
    )
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "s.xml:2: log: unknown attribute 'bogus'" in out, out
    assert "loadbalance: unknown attribute 'alogorithm' (did you mean 'algorithm'?)" in out, out


async def test_an_address_method_is_ignored_so_the_request_keeps_its_method(gateway: Any, backend: Any) -> None:
    """ESBJAVA4423's <address method="get" …>: AddressEndpointFactory reads no method, so a POST stays a POST."""
    server = await backend(lambda request, body: web.json_response({"ok": True}))
    client = await gateway(
        {
            "api/A.xml": f"""<api {S} name="A" context="/a">
  <resource methods="POST"><inSequence>
    <call><endpoint><address method="get" uri="{server.make_url("/v2")}"/></endpoint></call>
    <respond/>
  </inSequence></resource>
</api>"""
        }
    )
    response = await client.post("/a", data=b'{"q":1}', headers={"Content-Type": "application/json"})
    assert response.status == 200, await response.text()
    assert server.requests[0]["method"] == "POST"
    assert server.requests[0]["body"] == b'{"q":1}'


def test_a_timeout_action_child_is_ignored_with_a_warning(tmp_path: Any, capsys: Any, caplog: Any) -> None:
    """MI's esbjava3022 endpoint templates write <timeout><action>fault</action>: EndpointDefinitionFactory
    reads only <duration> and <responseAction>, so MI deploys them and ignores the <action>."""
    root = write_artifacts(
        tmp_path,
        {
            "endpoints/E.xml": f"""<endpoint {S} name="E">
  <address uri="http://127.0.0.1:9/x">
    <timeout><duration>1000</duration><action>fault</action></timeout>
  </address>
</endpoint>""",
        },
    )
    with caplog.at_level(logging.WARNING, logger="gateway.deploy"):
        assert cli(["validate", str(root)]) == 0, capsys.readouterr().out
    [warning] = [r.getMessage() for r in caplog.records if "<action> inside <timeout>" in r.getMessage()]
    assert "E.xml:3" in warning and "as MI ignores it" in warning and "<responseAction>fault" in warning
