"""Sequence templates and call-template (W: TemplateMediator, TemplateContext, InvokeMediator and their factories),
over HTTP on a real gateway: parameter values, defaults, mandatory parameters, `{{…}}` values the template
evaluates later, nested calls with their own frames, onError, and what `gateway validate` says."""

from __future__ import annotations

import logging

import orjson

from gateway.cli import main as cli
from tests.conftest import write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'


def proxy(name: str, body: str, fault: str = "") -> dict[str, str]:
    fault_part = f"<faultSequence>{fault}</faultSequence>" if fault else ""
    return {
        f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target><inSequence>{body}</inSequence>'
        f"{fault_part}</target></proxy>"
    }


def echo_headers(*names: str) -> str:
    """Template body: every parameter as an X-<name> header (get-property('func', …)), then respond."""
    headers = "".join(
        f'<header name="X-{n}" scope="transport" expression="get-property(\'func\', \'{n}\')"/>' for n in names
    )
    return headers + "<respond/>"


REPORT_ERROR = (
    '<property name="HTTP_SC" value="500" scope="axis2"/>'
    '<header name="X-Code" scope="transport" expression="get-property(\'ERROR_CODE\')"/>'
    '<header name="X-Message" scope="transport" expression="get-property(\'ERROR_MESSAGE\')"/>'
)

GREET = f"""
<template {S} name="Greet">
  <parameter name="literal"/>
  <parameter name="xpath"/>
  <parameter name="json"/>
  <parameter name="withDefault" defaultValue="fallback"/>
  <parameter name="unset"/>
  <sequence>
    <header name="X-Func" scope="transport" expression="concat($func:literal, '|', $func:xpath)"/>
    {echo_headers("literal", "xpath", "json", "withDefault", "unset")}
  </sequence>
</template>"""


async def test_with_param_values_defaults_and_both_readers(gateway):
    client = await gateway(
        {
            "templates/Greet.xml": GREET,
            **proxy(
                "P",
                '<call-template target="Greet">'
                '<with-param name="literal" value="hello"/>'
                '<with-param name="xpath" value="{//name}"/>'
                '<with-param name="json" value="{json-eval($.city)}"/>'
                "</call-template>",
            ),
        }
    )
    response = await client.post("/services/P", json={"name": "Ada", "city": "Oslo"})
    assert response.status == 200
    headers = response.headers
    assert (headers["X-literal"], headers["X-xpath"], headers["X-json"]) == ("hello", "Ada", "Oslo")
    assert headers["X-Func"] == "hello|Ada"  # $func: in XPath reads the same frame
    assert headers["X-withDefault"] == "fallback"  # no with-param: the default
    assert headers["X-unset"] == ""  # no with-param, no default: nothing


async def test_mandatory_parameter_without_a_value_is_mi_error_500101(gateway):
    template = f"""
    <template {S} name="T">
      <parameter name="to" isMandatory="true" defaultValue="ignored"/>
      <sequence><respond/></sequence>
    </template>"""
    client = await gateway(
        {"templates/T.xml": template, **proxy("P", '<call-template target="T"/>', fault=REPORT_ERROR + "<respond/>")}
    )
    response = await client.post("/services/P", json={})
    assert response.status == 500
    assert response.headers["X-Code"] == "500101"
    # W: TemplateContext.setupParams, word for word; a default does not satisfy a mandatory parameter
    assert response.headers["X-Message"] == (
        "Neither a value nor default value is provided for mandatory parameter: to in seq-template T"
    )


async def test_escaped_values_are_evaluated_by_the_template_when_it_reads_them(gateway):
    template = f"""
    <template {S} name="Late">
      <parameter name="now"/>
      <parameter name="later"/>
      <sequence>
        <property name="p" value="changed"/>
        {echo_headers("now", "later")}
      </sequence>
    </template>"""
    client = await gateway(
        {
            "templates/Late.xml": template,
            **proxy(
                "P",
                '<property name="p" value="original"/>'
                '<call-template target="Late">'
                '<with-param name="now" value="{$ctx:p}"/>'
                '<with-param name="later" value="{{$ctx:p}}"/>'
                "</call-template>",
            ),
        }
    )
    response = await client.post("/services/P", json={})
    assert (response.headers["X-now"], response.headers["X-later"]) == ("original", "changed")


async def test_nested_calls_each_have_their_own_frame(gateway):
    outer = f"""
    <template {S} name="Outer">
      <parameter name="x"/>
      <sequence>
        <call-template target="Inner">
          <with-param name="y" value="{{concat($func:x, '-inner')}}"/>
        </call-template>
        <header name="X-Outer-After" scope="transport" expression="$func:x"/>
        <header name="X-Outer-Y" scope="transport" expression="get-property('func', 'y')"/>
        <respond/>
      </sequence>
    </template>"""
    inner = f"""
    <template {S} name="Inner">
      <parameter name="y"/>
      <sequence>
        <header name="X-Inner-Y" scope="transport" expression="$func:y"/>
        <header name="X-Inner-X" scope="transport" expression="get-property('func', 'x')"/>
      </sequence>
    </template>"""
    client = await gateway(
        {
            "templates/Outer.xml": outer,
            "templates/Inner.xml": inner,
            **proxy("P", '<call-template target="Outer"><with-param name="x" value="outer"/></call-template>'),
        }
    )
    response = await client.post("/services/P", json={})
    headers = response.headers
    # the with-param is evaluated in the caller's frame; the callee sees only its own parameters
    assert (headers["X-Inner-Y"], headers["X-Inner-X"]) == ("outer-inner", "")
    # back in Outer: its own frame again
    assert (headers["X-Outer-After"], headers["X-Outer-Y"]) == ("outer", "")


async def test_an_xpath_value_selecting_an_element_stays_an_element(gateway):
    template = f"""
    <template {S} name="Order">
      <parameter name="order"/>
      <sequence>
        <header name="X-Id" scope="transport" expression="$func:order/id"/>
        <header name="X-Count" scope="transport" expression="count($func:order/item)"/>
        <respond/>
      </sequence>
    </template>"""
    client = await gateway(
        {
            "templates/Order.xml": template,
            **proxy("P", '<call-template target="Order"><with-param name="order" value="{//order}"/></call-template>'),
        }
    )
    body = "<order><id>42</id><item>a</item><item>b</item></order>"
    response = await client.post("/services/P", data=body, headers={"Content-Type": "application/xml"})
    assert (response.headers["X-Id"], response.headers["X-Count"]) == ("42", "2.0")  # XPath numbers: Java's


async def test_on_error_of_the_template_and_of_the_call_and_func_in_the_handler(gateway):
    failing = '<property name="n" value="x" type="INTEGER"/>'
    handler = REPORT_ERROR + '<header name="X-Handler" scope="transport" value="{h}"/>'
    handler += '<header name="X-Param" scope="transport" expression="$func:p"/><respond/>'
    client = await gateway(
        {
            "sequences/templateHandler.xml": f'<sequence {S} name="templateHandler">'
            f"{handler.replace('{h}', 'template')}</sequence>",
            "sequences/callHandler.xml": f'<sequence {S} name="callHandler">'
            f"{handler.replace('{h}', 'call')}</sequence>",
            "templates/WithHandler.xml": f'<template {S} name="WithHandler" onError="templateHandler">'
            f'<parameter name="p"/><sequence>{failing}</sequence></template>',
            "templates/Plain.xml": f'<template {S} name="Plain"><parameter name="p"/><sequence>{failing}'
            "</sequence></template>",
            **proxy(
                "A",
                '<call-template target="WithHandler" onError="callHandler"><with-param name="p" value="a"/>'
                "</call-template>",
            ),
            **proxy(
                "B",
                '<call-template target="Plain" onError="callHandler"><with-param name="p" value="b"/></call-template>',
            ),
        }
    )
    first = await client.post("/services/A", json={})
    assert (first.headers["X-Handler"], first.headers["X-Code"]) == ("template", "0")  # the innermost handler
    assert first.headers["X-Param"] == "a"  # W: the failed template's frame is still on the func stack
    second = await client.post("/services/B", json={})
    assert (second.headers["X-Handler"], second.headers["X-Param"]) == ("call", "b")


async def test_a_missing_template_fails_per_message_and_validate_reports_it(gateway, tmp_path, capsys):
    files = proxy("P", '<call-template target="Nowhere"/>', fault=REPORT_ERROR + "<respond/>")
    client = await gateway(files)
    response = await client.post("/services/P", json={})
    assert response.status == 500
    assert response.headers["X-Message"] == "Sequence template Nowhere cannot be found"  # W: InvokeMediator
    root = write_artifacts(tmp_path / "validate", files)
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert (
        "P.xml:1: call-template: key 'Nowhere' names no deployed template (every message reaching it fails; "
        "deploy templates/Nowhere.xml or fix the key)" in out
    )


def test_validate_checks_with_params_and_declarations(tmp_path, capsys):
    root = write_artifacts(
        tmp_path,
        {
            "templates/T.xml": f'<template {S} name="T"><parameter name="accountSid"/><parameter name="to"/>'
            "<sequence><log/></sequence></template>",
            "templates/Dup.xml": f'<template {S} name="Dup"><parameter name="a"/><parameter name="a"/>'
            "<sequence><log/></sequence></template>",
            # deploys and serves (MI ignores a with-param the template does not declare), but validate says so
            "sequences/Typo.xml": f'<sequence {S} name="Typo">\n<call-template target="T">'
            '<with-param name="acountSid" value="x"/><with-param name="to" value="y"/></call-template>\n</sequence>',
            "sequences/S.xml": f'<sequence {S} name="S">\n'
            '<call-template target="T"><with-param name="to" value="1"/><with-param name="to" value="2"/>'
            '</call-template>\n<call-template target="T"><with-param value="v"/></call-template>\n'
            "<call-template/>\n</sequence>",
        },
    )
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert (
        "Typo.xml:2: with-param: 'acountSid' is not a parameter of template 'T' (did you mean 'accountSid'?; MI "
        "ignores such a value)" in out
    )
    assert "S.xml:2: with-param: with-param 'to' is given more than once" in out
    assert "S.xml:3: with-param: Call template mediator parameters should have non empty name." in out
    assert "S.xml:4: call-template: EIP Invoke mediator should have a target template specified." in out
    assert "Dup.xml:1: template: parameter 'a' is declared more than once" in out


async def test_a_template_body_can_use_any_mediator_and_the_message(gateway, backend):
    """A template is a sequence with parameters: here it shapes the payload and calls a back end."""
    server = await backend(lambda request, body: __import__("aiohttp").web.json_response(orjson.loads(body)))
    template = f"""
    <template {S} name="Forward">
      <parameter name="greeting"/>
      <parameter name="url"/>
      <sequence>
        <payloadFactory media-type="json">
          <format>{{"greeting": "$1", "name": "$2"}}</format>
          <args><arg expression="$func:greeting"/><arg evaluator="json" expression="$.name"/></args>
        </payloadFactory>
        <call><endpoint><address uri="{server.make_url("/echo")}"/></endpoint></call>
        <respond/>
      </sequence>
    </template>"""
    client = await gateway(
        {
            "templates/Forward.xml": template,
            **proxy("P", '<call-template target="Forward"><with-param name="greeting" value="hi"/></call-template>'),
        }
    )
    response = await client.post("/services/P", json={"name": "Ada"})
    assert await response.json() == {"greeting": "hi", "name": "Ada"}


async def test_a_template_from_the_registry(gateway):
    """W: SynapseConfiguration.getSequenceTemplate looks a target up in the registry too."""
    client = await gateway(
        {
            "registry/governance/templates/greet.xml": f'<template {S} name="greet"><parameter name="who"/>'
            f"<sequence>{echo_headers('who')}</sequence></template>",
            **proxy(
                "P",
                '<call-template target="gov:/templates/greet.xml"><with-param name="who" value="reg"/></call-template>',
            ),
        }
    )
    response = await client.post("/services/P", json={})
    assert response.headers["X-who"] == "reg"


# MI's integration test CallTemplateIntegrationParamsWithValuesTestCase (wso2/micro-integrator, Apache-2.0):
# its template and proxy verbatim, the stock quote back end's address aside.
MI_TEST_FUNC = f"""
<template {S} name="test_func">
    <parameter name="test_key"/>
    <sequence>
        <log level="full">
            <property name="PARAM" expression="$func:test_key"/>
        </log>
    </sequence>
</template>"""
MI_PROXY = f"""
<proxy {S} name="CallTemplateIntegrationParamsWithValuesTestCaseProxy" transports="https http">
    <target>
        <inSequence>
            <call-template target="test_func">
                <with-param name="test_key" value="REQUEST PARAM VALUE"/>
            </call-template>
            <send>
                <endpoint>
                    <address uri="ADDRESS"/>
                </endpoint>
            </send>
        </inSequence>
        <outSequence>
            <call-template target="test_func">
                <with-param name="test_key" value="RESPONSE PARAM VALUE"/>
            </call-template>
            <send/>
        </outSequence>
    </target>
</proxy>"""


async def test_mi_integration_test_call_template_params_with_values(gateway, stockquote, caplog):
    """MI's test sends a getQuote for IBM and expects both parameter values in the log, request and reply."""
    caplog.set_level(logging.INFO, logger="gateway.mediator.log")
    service = await stockquote()
    client = await gateway(
        {
            "templates/test_func.xml": MI_TEST_FUNC,
            "proxies/CallTemplateIntegrationParamsWithValuesTestCaseProxy.xml": MI_PROXY.replace(
                "ADDRESS", service.url
            ),
        }
    )
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        '<m0:getQuote xmlns:m0="http://services.samples"><m0:request><m0:symbol>IBM</m0:symbol></m0:request>'
        "</m0:getQuote></soapenv:Body></soapenv:Envelope>"
    )
    response = await client.post(
        "/services/CallTemplateIntegrationParamsWithValuesTestCaseProxy",
        data=envelope,
        headers={"Content-Type": "text/xml", "SOAPAction": "urn:getQuote"},
    )
    assert response.status == 200
    assert b"getQuoteResponse" in await response.read()
    logged = [record.getMessage() for record in caplog.records if record.name == "gateway.mediator.log"]
    assert any("PARAM = REQUEST PARAM VALUE" in line for line in logged), logged
    assert any("PARAM = RESPONSE PARAM VALUE" in line for line in logged), logged
