"""The endpoint family (issue 12 item 4): fail-over, load balancing (round robin, weighted, members, session
affinity), MI's suspension states and error codes, responseAction, retryConfig, the default endpoint and
key-expression, played over HTTP against the Apache samples' back ends (tests/support/stockquote.py).

Samples 52-55, 58 and 59 are apache/synapse's repository/conf/sample/synapse_sample_5N.xml (Apache-2.0) with the
back ends' addresses (localhost:9001-9004) replaced by the stand-ins'. What each should do is the samples' guide
(userguide/samples/sample5N.xml): LoadbalanceFailoverClient's requests spread over or fail over between the
LBService1 servers, which answer with their own name."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from pathlib import Path

from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from gateway.runtime.endpoint_state import EndpointContext, Suspension
from tests.support.stockquote import stockquote_wsdl

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
# The samples' errorHandler, its SOAP 1.2 code rewritten to SOAP 1.1's Server, as MI requires (makefault defaults
# to SOAP 1.1 there; docs/synapse-semantics.md section 5.5)
ERROR_HANDLER = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="errorHandler">
        <makefault response="true">
            <code xmlns:tns="http://schemas.xmlsoap.org/soap/envelope/" value="tns:Server"/>
            <reason value="COULDN'T SEND THE MESSAGE TO THE SERVER."/>
        </makefault>
        <send/>
    </sequence>"""


def lb_main(group: str) -> str:
    """The samples' main sequence around a send to `group` (a <loadbalance> or <failover> element)."""
    return f"""<sequence xmlns="http://ws.apache.org/ns/synapse" name="main" onError="errorHandler">
        <in>
            <send>
                <endpoint>
                    {group}
                </endpoint>
            </send>
            <drop/>
        </in>
        <out>
            <send/>
        </out>
    </sequence>"""


def address(server, extra: str = "<enableAddressing/><suspendDurationOnFailure>60</suspendDurationOnFailure>") -> str:
    return f'<endpoint><address uri="{server.url}">{extra}</address></endpoint>'


def sample_request(value: str = "Sample string", client_id: str | None = None) -> bytes:
    header = (
        f'<soapenv:Header><syn:ClientID xmlns:syn="http://ws.apache.org/ns/synapse">{client_id}</syn:ClientID>'
        "</soapenv:Header>"
        if client_id
        else ""
    )
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP11}">{header}<soapenv:Body><Value>{value}</Value></soapenv:Body>'
        "</soapenv:Envelope>"
    ).encode()


async def ask(client, client_id: str | None = None, path: str = "/services/LBService1") -> str:
    """LoadbalanceFailoverClient's sampleOperation: the answer names the server."""
    response = await client.post(
        path,
        data=sample_request(client_id=client_id),
        headers={"Content-Type": "text/xml", "SOAPAction": "urn:sampleOperation"},
    )
    body = await response.read()
    assert response.status == 200, body
    value = etree.fromstring(body).find(f"{{{SOAP11}}}Body/Value")
    assert value is not None, body
    return value.text.removeprefix("Response from server: ")


async def lb_servers(stockquote, count: int = 3):
    return [await stockquote("LBService1", server_name=f"MyServer{i}") for i in range(1, count + 1)]


async def test_sample_52_round_robin_then_fail_over_and_suspend_a_stopped_server(gateway, stockquote):
    servers = await lb_servers(stockquote)
    group = "<loadbalance>" + "".join(address(s) for s in servers) + "</loadbalance>"
    client = await gateway({"sequences/main.xml": lb_main(group), "sequences/errorHandler.xml": ERROR_HANDLER})
    assert [await ask(client) for _ in range(6)] == ["MyServer1", "MyServer2", "MyServer3"] * 2

    await servers[1].stop()  # the guide: stop MyServer2, the client keeps getting answers
    answers = [await ask(client) for _ in range(6)]
    assert "MyServer2" not in answers and set(answers) == {"MyServer1", "MyServer3"}
    await servers[1].start()  # suspended for 60 s (suspendDurationOnFailure): not tried again yet
    assert "MyServer2" not in [await ask(client) for _ in range(4)]
    assert len(servers[1].requests) == 2


async def test_sample_53_failover_goes_to_the_next_server_and_stays_off_a_suspended_one(gateway, stockquote):
    servers = await lb_servers(stockquote)
    group = "<failover>" + "".join(address(s) for s in servers) + "</failover>"
    client = await gateway({"sequences/main.xml": lb_main(group), "sequences/errorHandler.xml": ERROR_HANDLER})
    assert [await ask(client) for _ in range(3)] == ["MyServer1"] * 3
    await servers[0].stop()
    assert [await ask(client) for _ in range(3)] == ["MyServer2"] * 3
    await servers[1].stop()
    assert await ask(client) == "MyServer3"
    await servers[0].start()  # back, but suspended for 60 s
    assert await ask(client) == "MyServer3"
    for server in servers[2:]:
        await server.stop()
    # every child suspended or down: the errorHandler answers the client
    response = await client.post(
        "/services/LBService1", data=sample_request(), headers={"Content-Type": "text/xml", "SOAPAction": "x"}
    )
    assert b"COULDN'T SEND THE MESSAGE TO THE SERVER." in await response.read()


async def test_failover_children_that_are_all_suspended_give_303000(gateway, stockquote):
    servers = await lb_servers(stockquote, 2)
    group = "<failover>" + "".join(address(s) for s in servers) + "</failover>"
    fault = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="errorHandler">
        <payloadFactory media-type="xml"><format><e><c>$1</c><m>$2</m></e></format>
            <args><arg expression="get-property('ERROR_CODE')"/><arg expression="get-property('ERROR_MESSAGE')"/></args>
        </payloadFactory><respond/></sequence>"""
    client = await gateway({"sequences/main.xml": lb_main(group), "sequences/errorHandler.xml": fault})
    for server in servers:
        await server.stop()
    first = etree.fromstring(await (await client.post("/x", data=sample_request(), headers=_XML)).read())
    assert first.findtext(".//{*}c") == "101503"  # the last child's failure (W: informFailure keeps it)
    second = etree.fromstring(await (await client.post("/x", data=sample_request(), headers=_XML)).read())
    assert second.findtext(".//{*}c") == "303000"
    assert second.findtext(".//{*}m") == "Failover endpoint : AnonymousEndpoint - no ready child endpoints"


_XML = {"Content-Type": "text/xml", "SOAPAction": "urn:sampleOperation"}
GET_QUOTE_REQUEST = (
    f'<soapenv:Envelope xmlns:soapenv="{SOAP11}"><soapenv:Body><m0:getQuote xmlns:m0="http://services.samples">'
    "<m0:request><m0:symbol>IBM</m0:symbol></m0:request></m0:getQuote></soapenv:Body></soapenv:Envelope>"
)


async def test_sample_54_simple_client_sessions_stick_to_one_server(gateway, stockquote):
    servers = await lb_servers(stockquote)
    group = "<loadbalance>" + "".join(address(s, "<enableAddressing/>") for s in servers) + "</loadbalance>"
    main = lb_main(group).replace("<endpoint>\n", '<endpoint>\n<session type="simpleClientSession"/>\n', 1)
    client = await gateway({"sequences/main.xml": main, "sequences/errorHandler.xml": ERROR_HANDLER})
    first = [await ask(client, "c1") for _ in range(3)]
    second = [await ask(client, "c2") for _ in range(3)]
    assert len(set(first)) == 1 and len(set(second)) == 1 and first[0] != second[0]
    assert await ask(client, "c1") == first[0]
    assert {await ask(client) for _ in range(3)} == {"MyServer1", "MyServer2", "MyServer3"}  # no session: spread


async def test_sample_55_a_session_fails_over_inside_its_failover_group(gateway, stockquote):
    servers = await lb_servers(stockquote, 4)
    pair = "<endpoint><failover>{}</failover></endpoint>"
    groups = pair.format(address(servers[0], "")) + pair.format(address(servers[2], ""))
    groups = pair.format(address(servers[0], "") + address(servers[1], "")) + pair.format(
        address(servers[2], "") + address(servers[3], "")
    )
    main = lb_main(f"<loadbalance>{groups}</loadbalance>").replace(
        "<endpoint>\n", '<endpoint>\n<session type="simpleClientSession"/>\n', 1
    )
    client = await gateway({"sequences/main.xml": main, "sequences/errorHandler.xml": ERROR_HANDLER})
    assert await ask(client, "a") == "MyServer1"
    assert await ask(client, "b") == "MyServer3"
    await servers[0].stop()
    assert [await ask(client, "a") for _ in range(2)] == ["MyServer2"] * 2  # the same session, the backup
    assert await ask(client, "b") == "MyServer3"


async def test_sample_58_members_get_the_request_path_in_turn(gateway, stockquote):
    servers = await lb_servers(stockquote)
    members = "".join(f'<member hostName="127.0.0.1" httpPort="{s.port}" httpsPort="1"/>' for s in servers)
    client = await gateway(
        {
            "sequences/main.xml": lb_main(f'<loadbalance failover="true">{members}</loadbalance>'),
            "sequences/errorHandler.xml": ERROR_HANDLER,
        }
    )
    assert [await ask(client) for _ in range(3)] == ["MyServer1", "MyServer2", "MyServer3"]
    assert {server.requests[-1].path for server in servers} == {"/services/LBService1"}
    await servers[0].stop()
    assert "MyServer1" not in [await ask(client) for _ in range(3)]


async def test_sample_59_weighted_round_robin(gateway, stockquote):
    servers = await lb_servers(stockquote)
    children = "".join(
        f'<endpoint><address uri="{s.url}"><suspendOnFailure><initialDuration>20000</initialDuration>'
        f"<progressionFactor>1.0</progressionFactor></suspendOnFailure></address>"
        f'<property name="loadbalance.weight" value="{weight}"/></endpoint>'
        for weight, s in enumerate(servers, start=1)
    )
    group = (
        f'<loadbalance algorithm="org.apache.synapse.endpoints.algorithms.WeightedRoundRobin">{children}</loadbalance>'
    )
    client = await gateway({"sequences/main.xml": lb_main(group), "sequences/errorHandler.xml": ERROR_HANDLER})
    answers = [await ask(client) for _ in range(12)]
    expected = ["MyServer1", "MyServer2", "MyServer2", "MyServer3", "MyServer3", "MyServer3"]
    assert answers == expected * 2


ERROR_PROXY = """<proxy xmlns="http://ws.apache.org/ns/synapse" name="P">
    <target>
        <inSequence><send><endpoint name="E">{address}</endpoint></send></inSequence>
        <faultSequence>
            <payloadFactory media-type="json"><format>{{"code": "$1", "message": "$2"}}</format>
                <args><arg expression="get-property('ERROR_CODE')"/><arg expression="get-property('ERROR_MESSAGE')"/>
                </args></payloadFactory>
            <property name="HTTP_SC" value="502" scope="axis2"/>
            <respond/>
        </faultSequence>
    </target>
</proxy>"""


async def error_of(client) -> dict:
    response = await client.post("/services/P", json={"a": 1})
    assert response.status == 502, await response.text()
    return await response.json()


async def test_suspension_progresses_to_its_maximum_and_ends_on_success(gateway, stockquote):
    server = await stockquote()
    qos = (
        "<suspendOnFailure><initialDuration>300</initialDuration><progressionFactor>2</progressionFactor>"
        "<maximumDuration>500</maximumDuration></suspendOnFailure>"
    )
    client = await gateway(
        {"proxies/P.xml": ERROR_PROXY.format(address=f'<address uri="{server.url}">{qos}</address>')}
    )
    endpoint = client.config.proxies["P"].in_sequence.children[0].endpoint
    await server.stop()
    assert (await error_of(client))["code"] == "101503"
    suspended = await error_of(client)
    assert suspended["code"] == "303001"
    assert re.fullmatch(r"Currently , Address endpoint : \[ Name : E \] \[ State : SUSPENDED \]", suspended["message"])
    assert endpoint.context.last_suspend == 300
    await asyncio.sleep(0.35)
    assert (await error_of(client))["code"] == "101503"  # retried once the suspension ended, failed again
    assert endpoint.context.last_suspend == 500  # 300 x 2 = 600, at most 500
    await server.start()
    await asyncio.sleep(0.55)
    response = await client.post("/services/P", json={"a": 1})
    assert response.headers["X-Sample-Server"] == server.instance  # an answer (a fault, to JSON) is a success
    assert endpoint.context.state == "ACTIVE" and endpoint.context.last_suspend == -1


async def test_only_the_listed_error_codes_suspend(gateway, stockquote):
    server = await stockquote()
    qos = "<suspendOnFailure><errorCodes>101504</errorCodes><initialDuration>60000</initialDuration></suspendOnFailure>"
    client = await gateway(
        {"proxies/P.xml": ERROR_PROXY.format(address=f'<address uri="{server.url}">{qos}</address>')}
    )
    await server.stop()
    assert [(await error_of(client))["code"] for _ in range(3)] == ["101503"] * 3  # never suspended


async def test_mark_for_suspension_tolerates_retries_then_suspends(gateway, stockquote):
    server = await stockquote(delay=0.5)
    qos = (
        "<timeout><duration>100</duration></timeout>"
        "<markForSuspension><errorCodes>101504</errorCodes><retriesBeforeSuspension>2</retriesBeforeSuspension>"
        "<retryDelay>0</retryDelay></markForSuspension>"
        "<suspendOnFailure><initialDuration>60000</initialDuration></suspendOnFailure>"
    )
    client = await gateway(
        {"proxies/P.xml": ERROR_PROXY.format(address=f'<address uri="{server.url}">{qos}</address>')}
    )
    endpoint = client.config.proxies["P"].in_sequence.children[0].endpoint
    codes = []
    for _ in range(4):
        codes.append((await error_of(client))["code"])
        codes.append(endpoint.context.state)
    assert codes == ["101504", "TIMEOUT", "101504", "TIMEOUT", "101504", "SUSPENDED", "303001", "SUSPENDED"]


async def test_response_action_discard_skips_the_fault_handlers(gateway, stockquote):
    server = await stockquote(delay=0.5)
    qos = "<timeout><duration>100</duration><responseAction>discard</responseAction></timeout>"
    client = await gateway(
        {"proxies/P.xml": ERROR_PROXY.format(address=f'<address uri="{server.url}">{qos}</address>')}
    )
    response = await client.post("/services/P", json={"a": 1})
    # no fault sequence ran (it would answer 502 JSON): the gateway's own error answer, never a hang
    assert (response.status, await response.json()) == (500, {"error": {"code": 101504, "message": "Send timeout"}})


async def test_retry_config_disables_fail_over_for_listed_codes(gateway, stockquote):
    servers = await lb_servers(stockquote, 2)
    first = f'<endpoint><address uri="{servers[0].url}"/></endpoint>'
    group = f"<failover>{first}{address(servers[1], '')}</failover>"
    retry = group.replace(
        "/></endpoint>",
        "><retryConfig><disabledErrorCodes>101503</disabledErrorCodes></retryConfig></address></endpoint>",
        1,
    )
    client = await gateway({"proxies/P.xml": ERROR_PROXY.format(address=retry).replace('name="E"', "")})
    await servers[0].stop()
    assert (await error_of(client))["code"] == "101503"  # not failed over
    assert servers[1].requests == []


async def test_http_session_affinity_follows_the_back_ends_cookie(gateway, aiohttp_server):
    def handler_of(name: str):
        async def handler(request: web.Request) -> web.Response:
            response = web.Response(text=name, content_type="text/plain")
            if "Cookie" not in request.headers:
                response.headers["Set-Cookie"] = f"JSESSIONID={name}-session; Path=/"
            return response

        return handler

    servers = []
    for name in ("one", "two"):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler_of(name))
        servers.append(await aiohttp_server(app))
    children = "".join(f'<endpoint><address uri="http://127.0.0.1:{s.port}/app"/></endpoint>' for s in servers)
    proxy = f"""<proxy xmlns="http://ws.apache.org/ns/synapse" name="P"><target><endpoint>
        <session type="http"><sessionTimeout>60000</sessionTimeout></session>
        <loadbalance>{children}</loadbalance></endpoint></target></proxy>"""
    client = await gateway({"proxies/P.xml": proxy})
    first = await client.get("/services/P")
    cookie = first.headers["Set-Cookie"].split(";")[0]
    name = await first.text()
    for _ in range(3):
        assert await (await client.get("/services/P", headers={"Cookie": cookie})).text() == name
    client.session.cookie_jar.clear()  # the test client keeps cookies: a new client has none
    other = await (await client.get("/services/P")).text()
    assert other != name


async def test_default_endpoint_sends_to_the_to_set_by_the_header_mediator(gateway, stockquote):
    server = await stockquote()
    proxy = f"""<proxy xmlns="http://ws.apache.org/ns/synapse" name="P"><target><inSequence>
        <header name="To" value="{server.url}"/>
        <send><endpoint><default format="soap11"/></endpoint></send></inSequence></target></proxy>"""
    client = await gateway({"proxies/P.xml": proxy})
    body = '<getQuote xmlns="http://services.samples"><request><symbol>IBM</symbol></request></getQuote>'
    response = await client.post(
        "/services/P", data=body, headers={"Content-Type": "application/xml", "SOAPAction": "urn:getQuote"}
    )
    assert response.status == 200, await response.text()
    assert server.requests[-1].soap_version == "1.1"
    assert b"IBM" in await response.read()


async def test_key_expression_names_the_endpoint_per_message(gateway, stockquote):
    servers = await lb_servers(stockquote, 2)
    files = {
        f"endpoints/ep{i}.xml": f'<endpoint xmlns="http://ws.apache.org/ns/synapse" name="ep{i}">'
        f'<address uri="{s.url}"/></endpoint>'
        for i, s in enumerate(servers, start=1)
    }
    files["proxies/P.xml"] = """<proxy xmlns="http://ws.apache.org/ns/synapse" name="P"><target><inSequence>
        <property name="target" expression="$trp:X-Target"/>
        <send><endpoint key-expression="get-property('target')"/></send></inSequence></target></proxy>"""
    client = await gateway(files)
    for name, expected in (("ep2", "MyServer2"), ("ep1", "MyServer1")):
        response = await client.post("/services/P", data=sample_request(), headers={**_XML, "X-Target": name})
        assert f"Response from server: {expected}".encode() in await response.read()


SAMPLE_56 = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <in>
            <send>
                <!-- get epr from the given wsdl -->
                <endpoint>
                    <wsdl uri="file:repository/conf/sample/resources/proxy/sample_proxy_1.wsdl"
                          service="SimpleStockQuoteService"
                          port="SimpleStockQuoteServiceHttp@PORT@"/>
                </endpoint>
            </send>
        </in>
        <out>
            <send/>
        </out>
    </sequence>"""


async def test_sample_56_wsdl_endpoint_takes_the_ports_address_and_soap_version(gateway, stockquote, tmp_path):
    """Sample 56: the endpoint's address is the SOAP 1.1 port of the WSDL, read at deploy time; the SOAP 1.2
    port makes the call SOAP 1.2 (W: WSDL11EndpointBuilder)."""
    server = await stockquote()
    wsdl = stockquote_wsdl("SimpleStockQuoteService", server.url)
    folder = tmp_path / "artifacts/repository/conf/sample/resources/proxy"  # the gateway fixture's artifacts
    folder.mkdir(parents=True)
    (folder / "sample_proxy_1.wsdl").write_bytes(wsdl)
    for port, version in (("Soap11Endpoint", "1.1"), ("Soap12Endpoint", "1.2")):
        client = await gateway({"sequences/main.xml": SAMPLE_56.replace("@PORT@", port)})
        response = await client.post("/", data=GET_QUOTE_REQUEST, headers={**_XML, "SOAPAction": "urn:getQuote"})
        assert response.status == 200, await response.text()
        assert b"getQuoteResponse" in await response.read()
        assert server.requests[-1].soap_version == version
        await client.close()


DEPLOY_PROBLEMS = [
    ("<failover/>", "A FailOver must have child elements"),
    ("<loadbalance/>", "A LoadbalanceEndpoint must have child elements"),
    (
        '<loadbalance algorithm="com.example.Mine"><endpoint><address uri="http://h/"/></endpoint></loadbalance>',
        "the load-balance algorithm 'com.example.Mine' is not supported",
    ),
    (
        '<loadbalance><endpoint><address uri="http://h/"/><property name="loadbalance.weight" value="0"/>'
        "</endpoint></loadbalance>",
        "loadbalance.weight must be a whole number greater than zero",
    ),
    (
        '<loadbalance><member hostName="h" httpPort="1"/><endpoint><address uri="http://h/"/></endpoint></loadbalance>',
        "cannot have both member & endpoint",
    ),
    ('<session type="http"/><address uri="http://h/"/>', "a <session> only applies to a <loadbalance> endpoint"),
    ('<failover><endpoint><address uri="jms:/q"/></endpoint></failover>', "the 'jms' transport"),
    ('<wsdl uri="file:missing.wsdl" service="S" port="P"/>', "Unable to load the WSDL from file:missing.wsdl"),
    ('<wsdl uri="http://example.com/s?wsdl" service="S" port="P"/>', "remote wsdl endpoint URIs are not fetched"),
]


async def test_deploy_problems_of_the_endpoint_family(gateway):
    files = {
        f"endpoints/E{i}.xml": f'<endpoint xmlns="http://ws.apache.org/ns/synapse" name="E{i}">{body}</endpoint>'
        for i, (body, _) in enumerate(DEPLOY_PROBLEMS)
    }
    client = await gateway(files)
    failed: dict[str, str] = {}
    for problem in client.config.failed:
        name = problem.location.path.rsplit("/", 1)[-1]
        failed[name] = failed.get(name, "") + str(problem)
    for i, (_, reason) in enumerate(DEPLOY_PROBLEMS):
        assert reason in failed.get(f"E{i}.xml", ""), (i, failed.get(f"E{i}.xml"))


async def test_management_api_shows_endpoint_states_and_switches_them(aiohttp_client, tmp_path, stockquote):
    """MI's EndpointResource: isActive follows the state (a suspended endpoint is not active); ours adds the
    state, its retry time and the children's states; status inactive / active switches an endpoint off / on."""
    from gateway.connector import ConnectorRegistry
    from gateway.deploy.hotdeploy import HotDeployer
    from gateway.runtime.state import RuntimeState
    from gateway.settings import ManagementSettings, Settings
    from gateway.transport.control import Hub
    from gateway.transport.management import create_management_app
    from gateway.transport.server import create_app
    from tests.conftest import write_artifacts
    from tests.test_management_api import USERS

    servers = await lb_servers(stockquote, 2)
    files = {
        "endpoints/Pair.xml": '<endpoint xmlns="http://ws.apache.org/ns/synapse" name="Pair"><failover>'
        + "".join(address(s) for s in servers)
        + "</failover></endpoint>",
        "endpoints/One.xml": f'<endpoint xmlns="http://ws.apache.org/ns/synapse" name="One">'
        f'<address uri="{servers[0].url}"/></endpoint>',
        "proxies/P.xml": """<proxy xmlns="http://ws.apache.org/ns/synapse" name="P"><target>
            <endpoint key="Pair"/></target></proxy>""",
        "proxies/Q.xml": """<proxy xmlns="http://ws.apache.org/ns/synapse" name="Q"><target>
            <endpoint key="One"/></target></proxy>""",
    }
    root = write_artifacts(tmp_path / "artifacts", files)
    settings = Settings(artifacts=root, port=8290, management=ManagementSettings(users=USERS))
    registry = ConnectorRegistry.discover()
    deployer = HotDeployer(root, settings, registry)
    state = RuntimeState(deployer.load())
    gateway = await aiohttp_client(create_app(settings, state.config, registry, state))
    api = await aiohttp_client(create_management_app(Hub(state, deployer, settings)))
    basic = base64.b64encode(b"admin:admin-pass").decode()
    login = await api.get("/management/login", headers={"Authorization": f"Basic {basic}"})
    auth = {"Authorization": f"Bearer {(await login.json())['AccessToken']}"}

    await servers[0].stop()
    assert await ask(gateway, path="/services/P") == "MyServer2"  # failed over; MyServer1 suspended for 60 s
    pair = await (await api.get("/management/endpoints?endpointName=Pair", headers=auth)).json()
    assert pair["type"] == "failover" and pair["isActive"] is True
    first, second = pair["children"]
    assert (first["state"], second["state"]) == ("SUSPENDED", "ACTIVE")
    assert 0 < first["retryInMillis"] <= 60_000 and first["suspendedForMillis"] == 60_000

    switched = await api.post("/management/endpoints", json={"name": "One", "status": "inactive"}, headers=auth)
    assert await switched.json() == {"Message": "One is switched Off"}
    listed = await (await api.get("/management/endpoints", headers=auth)).json()
    assert {item["name"]: item["isActive"] for item in listed["list"]} == {"One": False, "Pair": True}
    await servers[0].start()
    response = await gateway.post("/services/Q", data=sample_request(), headers=_XML)
    assert "Currently , Address endpoint : [ Name : One ] [ State : MAINTNENCE ]" in await response.text()
    await api.post("/management/endpoints", json={"name": "One", "status": "active"}, headers=auth)
    assert await ask(gateway, path="/services/Q") == "MyServer1"


MAIN_TEMPLATE = """<template xmlns="http://ws.apache.org/ns/synapse" name="MainTemplate">
        <parameter name="name"/>
        <parameter name="uri"/>
        <parameter name="delay"/>
        <endpoint name="$name">
            <address uri="$uri">
                <suspendOnFailure>
                    <errorCodes>101503</errorCodes>
                    <initialDuration>$delay</initialDuration>
                </suspendOnFailure>
                <timeout><duration>2000</duration><responseAction>fault</responseAction></timeout>
            </address>
        </endpoint>
    </template>"""


async def test_endpoint_templates_fill_in_name_uri_and_parameters(gateway, stockquote):
    """MI's failOverWithDisabledErrors configuration: two failover children from one endpoint template (W:
    TemplateEndpointFactory, Template.create: an attribute value or text that is exactly $PARAM is replaced)."""
    servers = await lb_servers(stockquote, 2)
    failover = "".join(
        f'<endpoint name="{name}" template="MainTemplate" uri="{s.url}"><parameter name="delay" value="60000"/>'
        "</endpoint>"
        for name, s in zip(("primary", "secondary"), servers, strict=True)
    )
    client = await gateway(
        {
            "templates/MainTemplate.xml": MAIN_TEMPLATE,
            "endpoints/Test_Failover.xml": '<endpoint xmlns="http://ws.apache.org/ns/synapse" name="Test_Failover">'
            f"<failover>{failover}</failover></endpoint>",
            "proxies/P.xml": """<proxy xmlns="http://ws.apache.org/ns/synapse" name="P"><target>
                <endpoint key="Test_Failover"/></target></proxy>""",
        }
    )
    assert not client.config.failed and not client.config.dangling
    assert await ask(client, path="/services/P") == "MyServer1"
    await servers[0].stop()
    assert await ask(client, path="/services/P") == "MyServer2"
    (primary, _) = client.config.endpoints["Test_Failover"].children
    real = client.config.template_endpoints[primary]
    assert (real.name, real.uri, real.context.state, real.context.last_suspend) == (
        "primary",
        servers[0].url,
        "SUSPENDED",
        60_000,
    )


async def test_endpoint_template_problems_are_reported_where_it_is_used(gateway):
    uses = {
        "Missing": '<endpoint name="a" template="Nope" uri="http://h/"/>',
        "Sequence": '<endpoint name="b" template="Seq" uri="http://h/"/>',
        "BadUri": '<endpoint name="c" template="MainTemplate" uri="ftp://h/"><parameter name="delay" value="1"/>'
        "</endpoint>",
    }
    files = {
        "templates/MainTemplate.xml": MAIN_TEMPLATE,
        "templates/Seq.xml": '<template xmlns="http://ws.apache.org/ns/synapse" name="Seq"><sequence><log/></sequence>'
        "</template>",
    }
    for name, use in uses.items():
        files[f"proxies/{name}.xml"] = (
            f'<proxy xmlns="http://ws.apache.org/ns/synapse" name="{name}"><target>{use}</target></proxy>'
        )
    client = await gateway(files)
    text = "\n".join(str(problem) for problem in client.config.dangling)
    assert "Missing.xml:1: endpoint: key 'Nope' names no deployed template" in text
    assert "template 'Seq' is a sequence template, not an endpoint template" in text
    assert "template 'MainTemplate' does not build with these values: the 'ftp' transport of uri 'ftp://h/'" in text
    response = await client.post("/services/Missing", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 500
    assert "the endpoint template Nope is not ready" in await response.text()


async def test_a_dynamic_timeout_is_evaluated_per_message(gateway, stockquote):
    """W: EndpointDefinitionFactory `{xpath}` durations, evaluateDynamicEndpointTimeout: milliseconds from the
    message; a value that is not a number gives the default timeout."""
    server = await stockquote(delay=0.4)
    proxy = ERROR_PROXY.format(
        address=f'<address uri="{server.url}"><timeout><duration>{{$trp:X-Timeout}}</duration></timeout>'
        "<suspendOnFailure><initialDuration>1</initialDuration></suspendOnFailure></address>"
    )
    client = await gateway({"proxies/P.xml": proxy})
    response = await client.post("/services/P", json={"a": 1}, headers={"X-Timeout": "100"})
    assert (response.status, (await response.json())["code"]) == (502, "101504")
    await asyncio.sleep(0.01)  # suspended for 1 ms
    response = await client.post("/services/P", json={"a": 1}, headers={"X-Timeout": "soon"})
    assert response.headers.get("X-Sample-Server") == server.instance  # the default timeout: answered


PLACE_ORDER = (
    f'<soapenv:Envelope xmlns:soapenv="{SOAP11}"><soapenv:Body><m0:placeOrder xmlns:m0="http://services.samples">'
    "<m0:order><m0:price>10</m0:price><m0:quantity>5</m0:quantity><m0:symbol>IBM</m0:symbol></m0:order>"
    "</m0:placeOrder></soapenv:Body></soapenv:Envelope>"
)


def recipient_main(recipients: str) -> str:
    """Samples 61 and 62: placeOrder to every recipient, fire-and-forget (OUT_ONLY, FORCE_SC_ACCEPTED)."""
    return f"""<sequence xmlns="http://ws.apache.org/ns/synapse" name="main" onError="errorHandler">
        <in>
            <property name="OUT_ONLY" value="true" />
            <property name="FORCE_SC_ACCEPTED" scope="axis2" value="true" />
            <send>
                <endpoint>
                    <recipientlist>
                        {recipients}
                    </recipientlist>
                </endpoint>
            </send>
            <drop/>
        </in>
    </sequence>"""


async def orders_of(servers, count: int = 1) -> list[int]:
    for _ in range(200):
        if all(len(server.orders) >= count for server in servers):
            break
        await asyncio.sleep(0.02)
    return [len(server.orders) for server in servers]


async def test_sample_61_a_static_recipient_list_gets_every_order(gateway, stockquote):
    servers = [await stockquote(server_name=f"MyServer{i}") for i in (1, 2, 3)]
    children = "".join(f'<endpoint><address uri="{s.url}"/></endpoint>' for s in servers)
    client = await gateway(
        {"sequences/main.xml": recipient_main(children), "sequences/errorHandler.xml": ERROR_HANDLER}
    )
    response = await client.post("/", data=PLACE_ORDER, headers={**_XML, "SOAPAction": "urn:placeOrder"})
    assert (response.status, await response.read()) == (202, b"")
    assert await orders_of(servers) == [1, 1, 1]


async def test_sample_62_a_dynamic_recipient_list_from_the_registry(gateway, stockquote):
    servers = [await stockquote(server_name=f"MyServer{i}") for i in (1, 2, 3)]
    files = {
        "sequences/main.xml": recipient_main(
            """<endpoints value="{get-property('registry','recipients/EP_LIST')}"/>"""
        ),
        "sequences/errorHandler.xml": ERROR_HANDLER,
        "registry/governance/recipients/EP_LIST": ",".join(s.url for s in servers[:2]),
    }
    client = await gateway(files)
    response = await client.post("/", data=PLACE_ORDER, headers={**_XML, "SOAPAction": "urn:placeOrder"})
    assert response.status == 202
    assert await orders_of(servers[:2]) == [1, 1]
    assert servers[2].orders == []


async def test_a_recipient_list_answers_with_the_first_reply_and_survives_a_dead_recipient(gateway, stockquote):
    servers = await lb_servers(stockquote, 3)
    await servers[0].stop()
    children = "".join(address(s, "") for s in servers)
    proxy = f"""<proxy xmlns="http://ws.apache.org/ns/synapse" name="P"><target><endpoint>
        <recipientlist>{children}</recipientlist></endpoint></target></proxy>"""
    client = await gateway({"proxies/P.xml": proxy})
    assert await ask(client, path="/services/P") == "MyServer2"
    assert [len(s.requests) for s in servers[1:]] == [1, 1]


async def test_endpoint_properties_are_set_on_each_message_sent_through_it(gateway, stockquote):
    """W: AbstractEndpoint.evaluateProperties: an endpoint's <property> children, by value or expression, in
    their scope, on every message it sends (here a transport header the back end sees, and a default-scope
    property the outSequence reads)."""
    server = await stockquote()
    proxy = f"""<proxy xmlns="http://ws.apache.org/ns/synapse" name="P"><target>
        <endpoint name="E"><address uri="{server.url}"/>
            <property name="X-Routed-By" value="E" scope="transport"/>
            <property name="picked" expression="fn:concat('endpoint ', 'E')"/>
        </endpoint>
        <outSequence><property name="X-Picked" expression="get-property('picked')" scope="transport"/><send/>
        </outSequence></target></proxy>"""
    client = await gateway({"proxies/P.xml": proxy})
    response = await client.post("/services/P", data=sample_request(), headers=_XML)
    assert response.headers["X-Picked"] == "endpoint E"
    assert server.requests[-1].headers["X-Routed-By"] == "E"


async def test_a_session_whose_endpoint_is_suspended_fails_with_309001(gateway, stockquote):
    """W: SALoadbalanceEndpoint.sendMessageOnCurrentSession: the session's endpoint is not ready: 309001; the
    failure that suspended it ended the session, so the client's next message starts a new one."""
    servers = await lb_servers(stockquote, 2)
    children = "".join(address(s, "") for s in servers)
    proxy = f"""<proxy xmlns="http://ws.apache.org/ns/synapse" name="P"><target><endpoint>
        <session type="simpleClientSession"/><loadbalance failover="false">{children}</loadbalance></endpoint>
        <faultSequence><payloadFactory media-type="xml"><format><e><c>$1</c></e></format>
            <args><arg expression="get-property('ERROR_CODE')"/></args></payloadFactory><respond/></faultSequence>
        </target></proxy>"""
    client = await gateway({"proxies/P.xml": proxy})
    assert await ask(client, "c1", path="/services/P") == "MyServer1"
    await servers[0].stop()
    reply = await client.post("/services/P", data=sample_request(client_id="c1"), headers=_XML)
    assert etree.fromstring(await reply.read()).findtext(".//{*}c") == "101503"  # failed: the session ends
    assert await ask(client, "c1", path="/services/P") == "MyServer2"  # a new session, on a ready server
    endpoint = client.config.proxies["P"].endpoint
    endpoint.session.bind("c2", 0)  # a session bound to the suspended server
    reply = await client.post("/services/P", data=sample_request(client_id="c2"), headers=_XML)
    assert etree.fromstring(await reply.read()).findtext(".//{*}c") == "309001"


async def test_a_static_failover_stays_on_the_backup_once_the_primary_is_back(gateway, stockquote):
    """W: FailoverEndpoint with dynamic="false": the endpoint that answered stays current until it fails."""
    servers = await lb_servers(stockquote, 2)
    quick = "<suspendOnFailure><initialDuration>1</initialDuration></suspendOnFailure>"
    group = '<failover dynamic="false">' + "".join(address(s, quick) for s in servers) + "</failover>"
    client = await gateway({"sequences/main.xml": lb_main(group), "sequences/errorHandler.xml": ERROR_HANDLER})
    assert await ask(client) == "MyServer1"
    await servers[0].stop()
    assert await ask(client) == "MyServer2"
    await servers[0].start()
    await asyncio.sleep(0.01)  # MyServer1 is ready again
    assert [await ask(client) for _ in range(2)] == ["MyServer2"] * 2
    await servers[1].stop()
    assert await ask(client) == "MyServer1"


@given(
    initial=st.integers(min_value=-1, max_value=10_000),
    factor=st.floats(min_value=0.5, max_value=5, allow_nan=False),
    maximum=st.integers(min_value=1, max_value=50_000),
    outcomes=st.lists(st.sampled_from(["fail", "timeout", "ok"]), max_size=30),
)
def test_suspension_durations_follow_mi_rules(initial, factor, maximum, outcomes):
    """W: EndpointContext.computeNextRetryTimeForSuspended, for any sequence of outcomes: the first suspension
    lasts initialDuration (unset: 30 s), each further one the last times progressionFactor, never more than
    maximumDuration; a success makes the endpoint ACTIVE and starts over."""
    definition = Suspension(initial_duration=initial, progression_factor=factor, maximum_duration=maximum)
    context = EndpointContext("E", "address", definition)
    last = -1
    for outcome in outcomes:
        if outcome == "ok":
            context.on_success()
            assert (context.state, context.last_suspend) == ("ACTIVE", -1)
            last = -1
            continue
        context.on_fault(101503 if outcome == "fail" else 101504)  # no retries before suspension: both suspend
        expected = initial if last <= 0 else int(last * factor)
        expected = maximum if expected > maximum else (30_000 if expected < 0 else expected)
        assert (context.state, context.last_suspend) == ("SUSPENDED", expected)
        assert context.last_suspend <= max(maximum, 0) or expected == 30_000
        last = expected


def quote_request(symbol: str) -> bytes:
    return GET_QUOTE_REQUEST.replace(">IBM<", f">{symbol}<").encode()


async def test_force_error_on_soap_fault_fails_over_and_reaches_the_fault_sequence(gateway, stockquote):
    """W: SynapseCallbackReceiver, FORCE_ERROR_ON_SOAP_FAULT=true: a SOAP fault reply fails the endpoint
    (ERROR_CODE 500000): a fail-over goes to the next child; a single endpoint's fault sequence runs on the
    fault (its payload); without the property the fault is an ordinary reply."""
    servers = await lb_servers(stockquote, 2)
    failover = "<failover>" + "".join(address(s, "") for s in servers) + "</failover>"
    proxy = """<proxy xmlns="http://ws.apache.org/ns/synapse" name="@NAME@"><target><inSequence>
        <filter source="$trp:X-Force" regex="yes"><property name="FORCE_ERROR_ON_SOAP_FAULT" value="true"/></filter>
        <send><endpoint>@ENDPOINT@</endpoint></send></inSequence><outSequence><send/></outSequence>
        <faultSequence><property name="X-Code" expression="get-property('ERROR_CODE')" scope="transport"/>
            <property name="HTTP_SC" value="502" scope="axis2"/><respond/></faultSequence></target></proxy>"""
    client = await gateway(
        {
            "proxies/F.xml": proxy.replace("@NAME@", "F").replace("@ENDPOINT@", failover),
            "proxies/S.xml": proxy.replace("@NAME@", "S").replace("@ENDPOINT@", f'<address uri="{servers[1].url}"/>'),
        }
    )
    headers = {**_XML, "SOAPAction": "urn:getQuote"}
    plain = await client.post("/services/S", data=quote_request("ERR"), headers=headers)
    assert plain.status == 500 and "X-Code" not in plain.headers  # an ordinary reply
    forced = await client.post("/services/S", data=quote_request("ERR"), headers={**headers, "X-Force": "yes"})
    assert (forced.status, forced.headers["X-Code"]) == (502, "500000")
    assert b"please contact the server administrator" in await forced.read()  # the fault sequence saw the fault
    response = await client.post("/services/F", data=quote_request("ERR"), headers={**headers, "X-Force": "yes"})
    assert response.headers["X-Code"] == "500000"  # both children answered a fault: the last one's error
    assert [len(s.requests) for s in servers] == [1, 3]


async def test_the_readmes_failover_example_works_as_it_says(gateway, stockquote):
    """README, "Load balancing, fail-over and suspended endpoints": its endpoint, unchanged but for the hosts."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Load balancing, fail-over and suspended endpoints", 1)[1]
    example = section.split("```xml\n", 1)[1].split("```", 1)[0]
    primary, backup = await stockquote(server_name="primary"), await stockquote(server_name="backup")
    example = example.replace("http://primary:9000/quotes", primary.url).replace(
        "http://backup:9000/quotes", backup.url
    )
    proxy = """<proxy xmlns="http://ws.apache.org/ns/synapse" name="P"><target>
        <endpoint key="Quotes"/><outSequence><send/></outSequence></target></proxy>"""
    client = await gateway({"endpoints/Quotes.xml": example, "proxies/P.xml": proxy})
    headers = {**_XML, "SOAPAction": "urn:getQuote"}
    assert (await client.post("/services/P", data=quote_request("IBM"), headers=headers)).status == 200
    await primary.stop()
    assert (await client.post("/services/P", data=quote_request("IBM"), headers=headers)).status == 200
    quotes = client.config.endpoints["Quotes"]
    assert quotes.children[0].context.last_suspend == 2000  # "here for 2 s"
    assert [len(primary.requests), len(backup.requests)] == [1, 1]


def test_the_session_table_is_bounded_and_sessions_expire(monkeypatch):
    """Clients name simpleClientSession ids: the table keeps at most MAX_SESSIONS (the least recently used go),
    and a sessionTimeout ends an unused session."""
    from gateway.runtime import endpoints

    monkeypatch.setattr(endpoints, "MAX_SESSIONS", 3)
    affinity = endpoints.SessionAffinity("simpleClientSession", None)
    for number in range(5):
        affinity.bind(f"c{number}", number % 2)
    assert list(affinity.sessions) == ["c2", "c3", "c4"]
    assert affinity.lookup("c0") is None and affinity.lookup("c3") == 1
    timed = endpoints.SessionAffinity("http", 1)  # 1 ms
    timed.bind("JSESSIONID=a", 0)
    time.sleep(0.005)
    assert timed.lookup("JSESSIONID=a") is None and not timed.sessions


async def test_a_changed_endpoint_template_is_used_after_hot_deployment(aiohttp_client, tmp_path, stockquote):
    """The template's uses are instantiated at every assembly: a hot-deployed template change reaches the
    endpoints that use it, whose own files did not change."""
    from gateway.connector import ConnectorRegistry
    from gateway.deploy.hotdeploy import HotDeployer
    from gateway.runtime.state import RuntimeState
    from gateway.settings import Settings
    from gateway.transport.control import Hub
    from gateway.transport.server import create_app
    from tests.conftest import write_artifacts

    template = """<template xmlns="http://ws.apache.org/ns/synapse" name="T"><parameter name="path"/>
        <endpoint name="$name"><address uri="@BASE@/services/LBService1"/></endpoint></template>"""
    proxy = """<proxy xmlns="http://ws.apache.org/ns/synapse" name="P"><target>
        <endpoint name="used" template="T"/><outSequence><send/></outSequence></target></proxy>"""
    one = await stockquote("LBService1", server_name="s1")
    two = await stockquote("LBService1", server_name="s2")
    root = write_artifacts(tmp_path / "artifacts", {"templates/T.xml": template.replace("@BASE@", one.base_url)})
    (root / "proxies").mkdir()
    (root / "proxies/P.xml").write_text(proxy, encoding="utf-8")
    settings = Settings(artifacts=root)
    registry = ConnectorRegistry.discover()
    deployer = HotDeployer(root, settings, registry)
    state = RuntimeState(deployer.load())
    hub = Hub(state, deployer, settings)
    client = await aiohttp_client(create_app(settings, state.config, registry, state))
    assert await ask(client, path="/services/P") == "s1"
    (root / "templates/T.xml").write_text(template.replace("@BASE@", two.base_url), encoding="utf-8")
    await hub.reload()
    assert await ask(client, path="/services/P") == "s2"
