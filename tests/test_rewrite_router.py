"""rewrite and conditionalRouter over real HTTP: Apache Synapse samples 450-452 (their rules verbatim), MI's
fragment and action rules, the condition language (and/or/not, equal/match on url, header, param, property),
conditional routes with breakRoute and continueAfter, deploy errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aiohttp import web

from gateway.cli import main as cli
from tests.conftest import write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'
SAMPLES = Path(__file__).parent / "data" / "synapse-samples"
ECHO_TO = (
    '<payloadFactory media-type="json"><format>{"to": "$1"}</format>'
    "<args><arg expression=\"get-property('To')\"/></args></payloadFactory><respond/>"
)
FAULT = (
    '<faultSequence><property name="HTTP_SC" value="500" scope="axis2"/>'
    '<payloadFactory media-type="json"><format>{"error": "$1"}</format>'
    "<args><arg expression=\"get-property('ERROR_MESSAGE')\"/></args></payloadFactory><respond/></faultSequence>"
)


def sample_rewrite(number: int) -> str:
    """The <rewrite> of sample N, verbatim (with the properties it reads)."""
    text = (SAMPLES / f"sample_{number}.main.xml").read_text(encoding="utf-8")
    properties = "".join(re.findall(r"<property [^>]*/>", text))
    return properties + re.search(r"<rewrite>.*?</rewrite>", text, re.S).group(0)


def proxy(body: str, name: str = "P") -> dict[str, str]:
    text = f'<proxy {S} name="{name}"><target><inSequence>{body}</inSequence>{FAULT}</target></proxy>'
    return {f"proxies/{name}.xml": text}


async def rewritten(gateway, rules: str, to: str, path: str = "/services/P") -> str:
    client = await gateway(proxy(f'<header name="To" value="{to}"/>{rules}{ECHO_TO}'))
    response = await client.post(path, json={})
    body = await response.json()
    assert response.status == 200, body
    return body["to"]


# -- the samples ---------------------------------------------------------------------------------------


async def test_sample_450_rules(gateway):
    """Sample 450: the path's 'soap' becomes 'services'."""
    assert (
        await rewritten(gateway, sample_rewrite(450), "http://localhost:9000/soap/SimpleStockQuoteService")
        == "http://localhost:9000/services/SimpleStockQuoteService"
    )


async def test_sample_451_rules(gateway):
    """Sample 451: a plain-http URL to localhost is moved to https on 9002; others are left alone."""
    rules = sample_rewrite(451)
    assert (
        await rewritten(gateway, rules, "http://localhost:8280/services/SimpleStockQuoteService")
        == "https://localhost:9002/services/SimpleStockQuoteService"
    )


async def test_sample_451_other_hosts_untouched(gateway):
    rules = sample_rewrite(451)
    assert await rewritten(gateway, rules, "http://example.com:8280/services/X") == "http://example.com:8280/services/X"
    assert await rewritten(gateway, rules, "https://localhost/services/X") == "https://localhost/services/X"


async def test_sample_452_rules(gateway):
    """Sample 452: host localhost, '/services' prepended, the port from http.port or https.port."""
    rules = sample_rewrite(452)
    assert (
        await rewritten(gateway, rules, "http://test.com/SimpleStockQuoteService")
        == "http://localhost:9000/services/SimpleStockQuoteService"
    )
    assert (
        await rewritten(gateway, rules, "https://test.com/SimpleStockQuoteService")
        == "https://localhost:9002/services/SimpleStockQuoteService"
    )


async def test_sample_450_end_to_end(gateway, backend):
    """Sample 450 played: the sample's main sequence rewrites the client's To address and <send/> delivers
    to it (the implicit endpoint). The client's WS-Addressing To is set by a proxy, as the sample client's
    addurl does."""

    async def answer(request: web.Request, body: bytes) -> web.Response:
        return web.json_response({"path": request.path})

    server = await backend(answer)
    main = (SAMPLES / "sample_450.main.xml").read_text(encoding="utf-8")
    to = str(server.make_url("/soap/SimpleStockQuoteService"))
    client = await gateway(
        {
            "sequences/main.xml": main,
            **proxy(f'<header name="To" value="{to}"/><sequence key="main"/>', name="Client"),
        }
    )
    response = await client.post("/services/Client", json={"getQuote": "IBM"})
    assert response.status == 200, await response.text()
    assert await response.json() == {"path": "/services/SimpleStockQuoteService"}
    assert server.requests[0]["body"] == b'{"getQuote": "IBM"}'


async def test_implicit_send_respects_the_outbound_allow_list(gateway):
    client = await gateway(
        proxy('<header name="To" value="http://198.51.100.7/x"/><send/>'), outbound_allow=("loopback",)
    )
    response = await client.post("/services/P", json={})
    assert response.status == 500
    assert "Outbound destination not allowed" in (await response.json())["error"]


# -- MI's rules ----------------------------------------------------------------------------------------


async def test_actions(gateway):
    rules = """<rewrite><rewriterule>
        <action fragment="query" type="append" value="b=2"/>
        <action fragment="query" type="prepend" value="z=0"/>
        <action fragment="query" type="remove-query-param" value="a"/>
        <action fragment="ref" type="remove"/>
        <action fragment="path" type="replace" regex="/(v\\d)/" value="/api/$1/"/>
        <action fragment="protocol" value="https"/>
        <action fragment="port" value="8443"/>
      </rewriterule></rewrite>"""
    assert await rewritten(gateway, rules, "http://h/x/v2/items?a=1#top") == "https://h:8443/x/api/v2/items?z=0&b=2"


async def test_full_fragment_in_out_properties_and_resolve(gateway):
    client = await gateway(
        proxy(
            """<property name="url" value="http://old/a"/><property name="id" value="42"/>
            <rewrite inProperty="url" outProperty="out"><rewriterule>
              <action fragment="full" value="http://new.example/base"/>
              <action fragment="path" type="append" value="/items/{id}" resolve="true"/>
            </rewriterule></rewrite>
            <payloadFactory media-type="json"><format>{"out": "$1", "to": "$2"}</format>
              <args><arg expression="get-property('out')"/><arg expression="get-property('To')"/></args>
            </payloadFactory><respond/>"""
        )
    )
    body = await (await client.post("/services/P", json={})).json()
    assert body == {"out": "http://new.example/base/items/42", "to": "/services/P"}  # To untouched


async def test_conditions_on_header_param_property(gateway):
    rules = """<rewrite>
      <rewriterule><condition><match type="header" source="X-Env" regex="stag.*"/></condition>
        <action fragment="host" value="staging"/></rewriterule>
      <rewriterule><condition><or><equal type="param" source="v" value="TWO"/>
          <equal type="property" source="force" value="yes"/></or></condition>
        <action fragment="path" type="prepend" value="/v2"/></rewriterule>
      <rewriterule><condition><equal type="url" source="port" value="-1"/></condition>
        <action fragment="port" value="81"/></rewriterule>
    </rewrite>"""
    client = await gateway(proxy(f'<header name="To" value="http://prod/x?v=two"/>{rules}{ECHO_TO}'))
    body = await (await client.post("/services/P", json={}, headers={"X-Env": "staging"})).json()
    assert body == {"to": "http://staging:81/v2/x?v=two"}
    body = await (await client.post("/services/P", json={}, headers={"X-Env": "prod"})).json()
    assert body == {"to": "http://prod:81/v2/x?v=two"}


# -- conditionalRouter ------------------------------------------------------------------------------------


def router(continue_after: str, break_first: str) -> str:
    mark = "<property name=\"hits\" expression=\"concat(get-property('hits'), '{}')\"/>"
    return f"""<property name="hits" value=""/>
      <conditionalRouter continueAfter="{continue_after}">
        <conditionalRoute breakRoute="{break_first}">
          <condition><match type="url" regex=".*Quote.*"/></condition>
          <target><sequence>{mark.format("a")}</sequence></target>
        </conditionalRoute>
        <conditionalRoute>
          <condition><and><equal type="header" source="X-Tier" value="gold"/>
            <not><equal type="param" source="skip" value="true"/></not></and></condition>
          <target sequence="gold"/>
        </conditionalRoute>
        <conditionalRoute breakRoute="false">
          <condition><equal type="header" source="X-Tier" value="gold"/></condition>
          <target><sequence>{mark.format("c")}</sequence></target>
        </conditionalRoute>
      </conditionalRouter>
      <property name="hits" expression="concat(get-property('hits'), '-after')"/>
      <payloadFactory media-type="json"><format>{{"hits": "$1"}}</format>
        <args><arg expression="get-property('hits')"/></args></payloadFactory><respond/>"""


async def test_conditional_router(gateway):
    mark = "<property name=\"hits\" expression=\"concat(get-property('hits'), 'b')\"/>"
    gold = f'<sequence {S} name="gold">{mark}</sequence>'
    client = await gateway(
        {
            **proxy(router("true", "false"), name="Quote"),
            **proxy(router("false", "true"), name="Stop"),
            "sequences/gold.xml": gold,
        }
    )

    async def hits(path: str, **headers: str) -> tuple[int, str | None]:
        response = await client.post(path, json={}, headers=headers)
        text = await response.text()
        return response.status, (json.loads(text)["hits"] if text else None)

    # /services/Quote matches route 1 (breakRoute false), then route 2 (breaks), route 3 is not reached
    assert await hits("/services/Quote", **{"X-Tier": "GOLD"}) == (200, "ab-after")
    assert await hits("/services/Quote?skip=true", **{"X-Tier": "gold"}) == (200, "ac-after")
    assert await hits("/services/Quote") == (200, "a-after")
    # continueAfter=false: nothing after the router runs, so nothing answers (202)
    assert await hits("/services/Stop", **{"X-Tier": "gold"}) == (202, None)


def test_deploy_errors(tmp_path, capsys):
    root = write_artifacts(
        tmp_path,
        {
            **proxy('<rewrite><rewriterule><action fragment="path" type="replace" value="x"/></rewriterule></rewrite>'),
            **proxy('<rewrite><rewriterule><action fragment="pth" value="x"/></rewriterule></rewrite>', name="Frag"),
            **proxy(
                '<rewrite><rewriterule><condition><and><equal type="url" source="host" value="h"/></and>'
                '</condition><action value="http://x"/></rewriterule></rewrite>',
                name="And",
            ),
            **proxy(
                '<conditionalRouter><conditionalRoute><target sequence="s"/></conditionalRoute></conditionalRouter>',
                name="NoCondition",
            ),
        },
    )
    assert cli(["validate", str(root)]) != 0
    out = capsys.readouterr().out
    assert "regex attribute is required for replace action" in out
    assert "invalid URL fragment name 'pth'" in out
    assert "Two or more expressions should be provided under And" in out
    assert "Couldn't find the condition of the conditional router" in out


async def test_call_without_an_endpoint_goes_to_the_rewritten_to(gateway, backend):
    async def answer(request: web.Request, body: bytes) -> web.Response:
        return web.json_response({"path": request.path_qs})

    server = await backend(answer)
    client = await gateway(
        proxy(
            f'<header name="To" value="{server.make_url("/v1/items?x=1")}"/>'
            '<rewrite><rewriterule><action fragment="path" type="replace" regex="v1" value="v2"/></rewriterule>'
            "</rewrite><call/><respond/>"
        )
    )
    response = await client.post("/services/P", json={})
    assert response.status == 200 and await response.json() == {"path": "/v2/items?x=1"}
