"""A connector whose operations are Synapse templates, as MI's connectors are (a `<template>` per operation,
called as `<prefix.operation>` or `<call-template target="prefix.operation">`), next to Python operations."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from gateway.cli import main as cli
from gateway.connector import ConnectorDefinitionError, ConnectorRegistry, load_connector
from gateway.deploy.loader import load
from tests.conftest import SYNAPSE, write_artifacts

OPS = """
import orjson


async def shout(call):
    text = call.value("text") or ""
    call.set_result(200, orjson.dumps({"shout": text.upper()}), "application/json")
"""

DESCRIPTOR = """
name: mix
description: callables and templates side by side
module: mix_connector_ops
templates: templates
operations:
  shout:
    parameters:
      text: {mandatory: true}
"""

GREET = f"""<template {SYNAPSE} name="greet">
  <description>Greets someone.</description>
  <parameter name="name" isMandatory="true" description="Who to greet."/>
  <parameter name="greeting" defaultValue="Hello"/>
  <sequence>
    <payloadFactory media-type="json">
      <format>{{"message": "$1, $2"}}</format>
      <args><arg expression="$func:greeting"/><arg expression="$func:name"/></args>
    </payloadFactory>
  </sequence>
</template>"""

# A template operation that calls another operation of its connector, as MI connectors' templates do.
LOUD = f"""<template {SYNAPSE} name="greetLoudly">
  <parameter name="name"/>
  <sequence>
    <mix.shout><text>{{concat('hi ', $func:name)}}</text></mix.shout>
  </sequence>
</template>"""


@pytest.fixture
def mix(tmp_path, monkeypatch):
    package = tmp_path / "mixpkg"
    (package / "templates").mkdir(parents=True)
    (package / "mix_connector_ops.py").write_text(textwrap.dedent(OPS), encoding="utf-8")
    (package / "connector.yaml").write_text(textwrap.dedent(DESCRIPTOR), encoding="utf-8")
    (package / "templates" / "greet.xml").write_text(GREET, encoding="utf-8")
    (package / "templates" / "greetLoudly.xml").write_text(LOUD, encoding="utf-8")
    monkeypatch.syspath_prepend(str(package))
    return package


def proxy(name: str, body: str) -> dict[str, str]:
    fault = (
        '<faultSequence><property name="HTTP_SC" value="500" scope="axis2"/>'
        '<header name="X-Code" scope="transport" expression="get-property(\'ERROR_CODE\')"/>'
        '<header name="X-Message" scope="transport" expression="get-property(\'ERROR_MESSAGE\')"/>'
        "<respond/></faultSequence>"
    )
    return {
        f"proxies/{name}.xml": f'<proxy {SYNAPSE} name="{name}"><target><inSequence>{body}<respond/></inSequence>'
        f"{fault}</target></proxy>"
    }


def test_template_operations_are_described_like_callable_ones(mix):
    connector = load_connector(mix / "connector.yaml")
    greet = connector.operations["greet"]
    assert greet.handler is None and greet.template is not None
    assert greet.description == "Greets someone."
    assert (greet.parameters["name"].mandatory, greet.parameters["name"].description) == (True, "Who to greet.")
    assert greet.parameters["greeting"].default == "Hello"
    assert connector.operations["shout"].handler is not None  # the callable next to them


async def test_template_operations_run_as_elements_and_through_call_template(gateway, mix):
    registry = ConnectorRegistry([load_connector(mix / "connector.yaml")])
    client = await gateway(
        {
            **proxy("Element", "<mix.greet><name>{json-eval($.name)}</name></mix.greet>"),
            **proxy("Greeting", "<mix.greet><name>Ada</name><greeting>Howdy</greeting></mix.greet>"),
            **proxy("Call", '<call-template target="mix.greet"><with-param name="name" value="Bob"/></call-template>'),
            **proxy("Nested", "<mix.greetLoudly><name>{json-eval($.name)}</name></mix.greetLoudly>"),
            # a callable operation through call-template: the with-params are its parameters
            **proxy(
                "Callable",
                '<call-template target="mix.shout"><with-param name="text" value="{//text}"/></call-template>',
            ),
            **proxy("Missing", "<mix.greet/>"),
        },
        registry=registry,
    )
    assert await (await client.post("/services/Element", json={"name": "Ada"})).json() == {"message": "Hello, Ada"}
    assert await (await client.post("/services/Greeting", json={})).json() == {"message": "Howdy, Ada"}
    assert await (await client.post("/services/Call", json={})).json() == {"message": "Hello, Bob"}
    assert await (await client.post("/services/Nested", json={"name": "cy"})).json() == {"shout": "HI CY"}
    assert await (await client.post("/services/Callable", json={"text": "abc"})).json() == {"shout": "ABC"}
    missing = await client.post("/services/Missing", json={})
    assert (missing.status, missing.headers["X-Code"]) == (500, "500101")
    assert missing.headers["X-Message"] == (
        "Neither a value nor default value is provided for mandatory parameter: name in seq-template mix.greet"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<mix.greet><nam>x</nam></mix.greet>", "p.xml:1: mix.greet: unknown parameter 'nam' (did you mean 'name'?)"),
        ("<mix.greet bogus='1'/>", "p.xml:1: mix.greet: unknown attribute 'bogus'"),
        (
            '<call-template target="mix.greet"><with-param name="nme" value="x"/></call-template>',
            "p.xml:1: call-template: 'nme' is not a parameter of mix.greet (did you mean 'name'?)",
        ),
        ('<call-template target="mix.gret"/>', "unknown operation 'gret' of connector 'mix' (did you mean 'greet'?)"),
        ('<mix.greet configKey="conn"/>', "configKey is not supported for an operation written as a template yet"),
    ],
)
def test_deploy_errors_of_template_operations(tmp_path, mix, body, expected):
    registry = ConnectorRegistry([load_connector(mix / "connector.yaml")])
    root = write_artifacts(
        tmp_path / "a",
        {"proxies/p.xml": f'<proxy {SYNAPSE} name="p"><target><inSequence>{body}</inSequence></target></proxy>'},
        with_defaults=False,
    )
    errors = [str(error) for error in load(root, connectors=registry).failed]
    assert len(errors) == 1 and expected in errors[0], errors


def test_a_broken_template_is_reported_where_it_is_used_with_its_own_line(tmp_path, mix):
    (mix / "templates" / "greet.xml").write_text(GREET.replace("<payloadFactory", "<lgo/><payloadFactory"))
    registry = ConnectorRegistry([load_connector(mix / "connector.yaml")])
    root = write_artifacts(tmp_path / "a", proxy("p", "<mix.greet><name>x</name></mix.greet>"), with_defaults=False)
    errors = [str(error) for error in load(root, connectors=registry).failed]
    assert len(errors) == 2, errors
    assert re.search(
        r"p\.xml:1: mix\.greet: the template of mix\.greet does not compile \(.*templates/greet\.xml\)", errors[0]
    )
    assert re.search(r"templates/greet\.xml:6: lgo: unknown mediator 'lgo'", errors[1]), errors


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("templates: templates", "templates: nowhere"), "templates: no folder"),
        (("  shout:", "  greet:"), "operation 'greet' is both a callable and a template"),
        (("module: mix_connector_ops\n", ""), "operations.shout.handler needs 'module'"),
        (("templates: templates", "templates: templates\nconnection: greet"), "'greet' must be a callable"),
    ],
)
def test_descriptor_problems_with_templates(mix, change, expected):
    descriptor = mix / "connector.yaml"
    descriptor.write_text(descriptor.read_text().replace(*change, 1))
    with pytest.raises(ConnectorDefinitionError, match=re.escape(expected)):
        load_connector(descriptor)


def test_a_template_file_must_hold_a_named_synapse_template(mix):
    (mix / "templates" / "bad.xml").write_text(f'<sequence {SYNAPSE} name="x"/>')
    with pytest.raises(ConnectorDefinitionError, match="must hold one <template name=…>"):
        load_connector(mix / "connector.yaml")


def test_a_templates_only_connector_needs_no_module(tmp_path: Path, capsys):
    package = tmp_path / "only"
    (package / "templates").mkdir(parents=True)
    (package / "connector.yaml").write_text("name: only\ntemplates: templates\n")
    (package / "templates" / "greet.xml").write_text(GREET)
    connector = load_connector(package / "connector.yaml")
    assert list(connector.operations) == ["greet"]
    root = write_artifacts(tmp_path / "a", proxy("p", "<only.greet><name>x</name></only.greet>"), with_defaults=False)
    config = load(root, connectors=ConnectorRegistry([connector]))
    assert config.failed == () and "p" in config.proxies
    assert cli(["validate", str(root)]) in (0, 1)  # the default registry does not know `only`: the CLI still runs
