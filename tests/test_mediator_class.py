"""`class`: Python class mediators (gateway.mediators.plugin), over HTTP through a real gateway."""

from __future__ import annotations

import json

import pytest

from gateway.deploy.factories import plugin as plugin_factory
from gateway.deploy.loader import build_file
from tests.conftest import SYNAPSE


def api(in_sequence: str) -> dict[str, str]:
    return {
        "api/C.xml": f"""
            <api {SYNAPSE} name="C" context="/c">
              <resource methods="POST" url-mapping="/*">
                <inSequence>{in_sequence}</inSequence>
                <faultSequence>
                  <payloadFactory media-type="json">
                    <format>{{"message": "$1", "detail": "$2"}}</format>
                    <args><arg expression="$ctx:ERROR_MESSAGE"/><arg expression="$ctx:ERROR_DETAIL"/></args>
                  </payloadFactory>
                  <property name="HTTP_SC" value="500" scope="axis2"/>
                  <respond/>
                </faultSequence>
              </resource>
            </api>"""
    }


async def test_properties_are_converted_and_the_mediator_runs(gateway):
    client = await gateway(
        api(
            """<class name="tests.support.plugins.Greeter">
                 <property name="greeting" value="Hi"/><property name="times" value="2"/>
                 <property name="shout" value="true"/><property name="suffix" expression="$trp:X-Suffix"/>
               </class><respond/>"""
        )
    )
    response = await client.post(
        "/c",
        data=json.dumps({"name": "ada"}),
        headers={"Content-Type": "application/json", "X-Agent": "t", "X-Suffix": "!"},
    )
    assert response.status == 200, await response.text()
    assert await response.json() == {"greeting": "HI ADA! HI ADA!", "agent": "t"}


async def test_an_mi_style_setter_and_false_stops_the_flow(gateway):
    client = await gateway(
        api('<class name="tests.support.plugins.Stopper"><property name="code" value="204"/></class><respond/>')
    )
    response = await client.post("/c", data="{}", headers={"Content-Type": "application/json"})
    assert response.status == 202  # stopped before respond


async def test_an_exception_is_a_fault_with_mi_message(gateway):
    client = await gateway(api('<class name="tests.support.plugins.Broken"/><respond/>'))
    response = await client.post("/c", data="{}", headers={"Content-Type": "application/json"})
    assert response.status == 500
    body = await response.json()
    assert body["message"] == "Error occured in the mediation of the class mediator"
    assert "RuntimeError: the backend of the plugin is down" in body["detail"]


async def test_an_inline_xml_property_and_the_xml_payload(gateway):
    client = await gateway(
        api(
            """<class name="tests.support.plugins.XmlEditor">
                 <property name="template"><added xmlns="">yes</added></property>
               </class><respond/>"""
        )
    )
    response = await client.post("/c", data="<order><id>1</id></order>", headers={"Content-Type": "application/xml"})
    assert response.status == 200
    text = await response.text()
    assert text.startswith("<order><id>1</id><added") and text.endswith(">yes</added></order>"), text


def problems(tmp_path, mediator: str) -> list[str]:
    path = tmp_path / "sequences" / "s.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<sequence {SYNAPSE} name="s">{mediator}</sequence>', encoding="utf-8")
    return [str(problem) for problem in build_file(path, None, None, None, {}).problems]


@pytest.mark.parametrize(
    ("mediator", "reason", "hint"),
    [
        (
            '<class name="org.wso2.sample.SimpleClassMediator"/>',
            "Error loading class : org.wso2.sample.SimpleClassMediator - a Java class cannot run here",
            "subclass gateway.mediators.plugin.ClassMediator",
        ),
        (
            '<class name="tests.support.plugins.Greeter"><property name="greting" value="x"/></class>',
            "tests.support.plugins.Greeter has no property 'greting'",
            "greeting",
        ),
        (
            '<class name="tests.support.plugins.Greeter"><property name="times" value="many"/></class>',
            "property 'times' must be a int, not 'many'",
            "",
        ),
        (
            '<class name="tests.support.plugins.Greeter"><property name="times" value="0"/></class>',
            "init() failed: ValueError: times must be at least 1",
            "",
        ),
        ('<class name="tests.support.plugins.Absent"/>', "Class not found in tests.support.plugins", ""),
        ('<class name="tests.support.plugins.NotAMediator"/>', "is not a class mediator", "subclass"),
        ("<class/>", "The name of the actual mediator class is a required attribute", ""),
    ],
)
def test_deploy_errors(tmp_path, mediator, reason, hint):
    found = problems(tmp_path, mediator)
    assert any(reason in problem and hint in problem for problem in found), found


def test_an_entry_point_maps_a_java_class_name_to_a_python_class(tmp_path, monkeypatch):
    site = tmp_path / "site"
    dist = site / "gateway_test_plugins-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gateway-test-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[synapse_gateway.mediators]\norg.wso2.sample.Greeter = tests.support.plugins:Greeter\n"
        "greeter = tests.support.plugins:Greeter\n"
    )
    monkeypatch.syspath_prepend(str(site))
    plugin_factory._entry_points.cache_clear()
    try:
        assert problems(tmp_path / "a", '<class name="org.wso2.sample.Greeter"/>') == []
        assert problems(tmp_path / "b", '<class name="greeter"><property name="times" value="3"/></class>') == []
        unknown = problems(tmp_path / "c", '<class name="greter"/>')
        assert any("no 'synapse_gateway.mediators' entry point" in p and "greeter" in p for p in unknown), unknown
    finally:
        monkeypatch.undo()
        plugin_factory._entry_points.cache_clear()
