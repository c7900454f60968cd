"""throttle over real HTTP: Apache Synapse samples 370 (concurrency), 371 (rate per IP rule) and 372 (policy
from the registry, onAccept/onReject sequences), MI's window rules, the key-based extension, deploy errors,
and counters shared through a real Redis by two gateways."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

from aiohttp import web

from gateway.cli import main as cli
from gateway.runtime.throttle import LocalCounters, RedisCounters, Window, rate_step
from tests.conftest import require_service, write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'
SAMPLES = Path(__file__).parent / "data" / "synapse-samples"
STOCKQUOTE = "http://localhost:9000/services/SimpleStockQuoteService"
GET_QUOTE = (
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    b'<m0:getQuote xmlns:m0="http://services.samples"><m0:request><m0:symbol>IBM</m0:symbol></m0:request>'
    b"</m0:getQuote></soapenv:Body></soapenv:Envelope>"
)
SOAP_REPLY = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    '<ns:getQuoteResponse xmlns:ns="http://services.samples"><ns:return><ns:symbol>IBM</ns:symbol>'
    "</ns:return></ns:getQuoteResponse></soapenv:Body></soapenv:Envelope>"
)
POLICY = """<wsp:Policy xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"
    xmlns:throttle="http://www.wso2.org/products/wso2commons/throttle">
  <throttle:ThrottleAssertion>{body}</throttle:ThrottleAssertion>
</wsp:Policy>"""


def rule(rule_id: str, count: int, unit: int = 800000, kind: str = "IP", prohibit: str = "") -> str:
    extra = f"<throttle:ProhibitTimePeriod>{prohibit}</throttle:ProhibitTimePeriod>" if prohibit else ""
    return (
        f'<wsp:All><throttle:ID throttle:type="{kind}">{rule_id}</throttle:ID><wsp:ExactlyOne><wsp:All>'
        f"<throttle:MaximumCount>{count}</throttle:MaximumCount><throttle:UnitTime>{unit}</throttle:UnitTime>"
        f"{extra}</wsp:All></wsp:ExactlyOne></wsp:All>"
    )


def sample(name: str, backend_url: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8").replace(STOCKQUOTE, backend_url)


async def soap_backend(backend, gate: asyncio.Event | None = None):
    async def answer(request: web.Request, body: bytes) -> web.Response:
        if gate is not None:
            await gate.wait()
        return web.Response(text=SOAP_REPLY, content_type="text/xml")

    return await backend(answer)


async def get_quote(client, path: str = "/", **headers: str):
    response = await client.post(
        path, data=GET_QUOTE, headers={"Content-Type": "text/xml", "SOAPAction": "urn:getQuote", **headers}
    )
    return response.status, await response.text()


# -- Apache Synapse samples -------------------------------------------------------------------------


async def test_sample_370_concurrency_limit_of_ten(gateway, backend):
    """Sample 370: MaximumConcurrentAccess 10; with 10 requests held by the back end, the next ones are
    denied with the sample's fault, and once the replies went out, slots are free again."""
    gate = asyncio.Event()
    server = await soap_backend(backend, gate)
    client = await gateway({"sequences/main.xml": sample("sample_370.main.xml", str(server.make_url("/sq")))})
    held = [asyncio.ensure_future(get_quote(client)) for _ in range(10)]
    while len(server.requests) < 10:
        await asyncio.sleep(0.01)
    denied = await asyncio.gather(*(get_quote(client) for _ in range(2)))
    for status, text in denied:
        assert "**Access Denied**" in text, (status, text)
    assert len(server.requests) == 10  # the refused ones never reached the back end
    gate.set()
    for status, text in await asyncio.gather(*held):
        assert status == 200 and "getQuoteResponse" in text
    status, text = await get_quote(client)  # the slots were given back when the replies went out
    assert status == 200 and "getQuoteResponse" in text


async def test_sample_371_rate_per_ip_rule(gateway, backend):
    """Sample 371: 127.0.0.1 falls under `other` (4 per 800 s): the fifth request is denied; a client
    forwarded from 192.168.8.210 falls in the 192.168.8.200-222 range (8 per 800 s), with its own counter."""
    server = await soap_backend(backend)
    client = await gateway({"sequences/main.xml": sample("sample_371.main.xml", str(server.make_url("/sq")))})
    for _ in range(4):
        status, text = await get_quote(client)
        assert status == 200 and "getQuoteResponse" in text
    status, text = await get_quote(client)
    assert "**Access Denied**" in text and "getQuoteResponse" not in text
    ranged = [await get_quote(client, **{"X-Forwarded-For": "192.168.8.210, 10.0.0.1"}) for _ in range(9)]
    assert [("getQuoteResponse" in text) for _, text in ranged] == [True] * 8 + [False]
    assert len(server.requests) == 12


async def test_sample_372_policy_from_registry_and_sequences(gateway, backend):
    """Sample 372: the policy is a registry resource and onAccept/onReject name sequences."""
    server = await soap_backend(backend)
    url = str(server.make_url("/sq"))
    proxy = re.sub(r"<publishWSDL[^>]*/>", "", sample("sample_372.StockQuoteProxy.xml", url))
    client = await gateway(
        {
            "proxies/StockQuoteProxy.xml": proxy,
            "sequences/onAcceptSequence.xml": sample("sample_372.onAcceptSequence.xml", url),
            "sequences/onRejectSequence.xml": sample("sample_372.onRejectSequence.xml", url),
            "registry/governance/conf/sample/resources/policy/throttle_policy.xml": POLICY.format(
                body="<throttle:MaximumConcurrentAccess>10</throttle:MaximumConcurrentAccess>" + rule("other", 4)
            ),
        }
    )
    results = [await get_quote(client, "/services/StockQuoteProxy") for _ in range(5)]
    assert [("getQuoteResponse" in text) for _, text in results] == [True] * 4 + [False]
    assert "**Access Denied**" in results[4][1]


# -- MI's rules -------------------------------------------------------------------------------------


def test_window_rules_as_mi():
    """W: CallerContext: a fixed window from the first access; refused until the window ends, or for
    ProhibitTimePeriod after the first refusal; a window that ended with spare capacity simply reopens."""
    state = Window()
    assert [rate_step(state, t, 2, 1000, 0) for t in (0, 10, 20)] == [True, True, False]
    assert rate_step(state, 999, 2, 1000, 0) is False
    assert rate_step(state, 1000, 2, 1000, 0) is True  # the window ended: a new one opens
    prohibited = Window()
    assert [rate_step(prohibited, t, 1, 1000, 5000) for t in (0, 1, 2000, 4999)] == [True, False, False, False]
    assert rate_step(prohibited, 5001, 1, 1000, 5000) is True  # 5000 ms after the refusal at t=1


async def test_local_concurrency_slots():
    counters = LocalCounters()
    assert [await counters.acquire("k", 2) for _ in range(3)] == [True, True, False]
    counters.release("k")
    assert await counters.acquire("k", 2) is True


async def test_key_based_policy_per_sender(gateway, backend):
    """Extension: key= makes each value (here a Twilio sender) its own caller; `other` covers unknown ones."""
    policy = POLICY.format(body=rule("+15005550006", 1) + rule("other", 2))
    client = await gateway(
        {
            "proxies/Sms.xml": f"""<proxy {S} name="Sms"><target><inSequence>
                <throttle id="perSender" key="json-eval($.from)"><policy>{policy}</policy>
                  <onAccept><payloadFactory media-type="json"><format>{{"ok": true}}</format><args/></payloadFactory>
                    <respond/></onAccept>
                  <onReject><property name="HTTP_SC" value="429" scope="axis2"/>
                    <payloadFactory media-type="json"><format>{{"ok": false}}</format><args/></payloadFactory>
                    <respond/></onReject>
                </throttle></inSequence></target></proxy>"""
        }
    )

    async def send(sender: str) -> int:
        response = await client.post("/services/Sms", json={"from": sender, "to": "+1"})
        return response.status

    assert [await send("+15005550006") for _ in range(2)] == [200, 429]
    assert [await send("+447700900001") for _ in range(3)] == [200, 200, 429]
    assert [await send("+447700900002") for _ in range(3)] == [200, 200, 429]  # its own counter


async def test_no_on_reject_stops_the_flow(gateway):
    policy = POLICY.format(body=rule("other", 1))
    client = await gateway(
        {
            "proxies/P.xml": f"""<proxy {S} name="P"><target><inSequence>
                <throttle id="t"><policy>{policy}</policy></throttle>
                <payloadFactory media-type="json"><format>{{"passed": true}}</format><args/></payloadFactory>
                <respond/></inSequence></target></proxy>"""
        }
    )
    first = await client.post("/services/P", json={})
    assert first.status == 200 and await first.json() == {"passed": True}
    second = await client.post("/services/P", json={})
    assert second.status == 202  # W: refused with no onReject: the flow stops, nothing is answered


def test_deploy_errors(tmp_path, capsys):
    root = write_artifacts(
        tmp_path,
        {
            "proxies/NoId.xml": f'<proxy {S} name="NoId"><target><inSequence><throttle/></inSequence></target></proxy>',
            "proxies/BadPolicy.xml": f"""<proxy {S} name="BadPolicy"><target><inSequence><throttle id="a"><policy>
                {POLICY.format(body=rule("other", 4).replace("<throttle:UnitTime>800000</throttle:UnitTime>", ""))}
                </policy></throttle></inSequence></target></proxy>""",
            "proxies/Both.xml": f"""<proxy {S} name="Both"><target><inSequence>
                <throttle id="a" onReject="r"><onReject><drop/></onReject></throttle>
                </inSequence></target></proxy>""",
            "sequences/r.xml": f'<sequence {S} name="r"><drop/></sequence>',
        },
    )
    assert cli(["validate", str(root)]) != 0
    out = capsys.readouterr().out
    assert "throttle: Idy attribute must have defined" in out
    assert "invalid throttle policy: Maximum Count and UnitTime are Mandatory" in out
    assert "use either the onReject attribute or an <onReject> element" in out


# -- Redis: one limit for every gateway node ---------------------------------------------------------


async def test_redis_counters_hold_across_nodes(gateway):
    port = require_service("redis")
    url = f"redis://127.0.0.1:{port}/0"
    policy = POLICY.format(
        body="<throttle:MaximumConcurrentAccess>50</throttle:MaximumConcurrentAccess>" + rule("other", 3)
    )
    throttle_id = f"t{uuid.uuid4().hex}"  # a fresh counter in the shared Redis
    files = {
        "proxies/P.xml": f"""<proxy {S} name="P"><target><inSequence>
            <throttle id="{throttle_id}"><policy>{policy}</policy>
              <onAccept><payloadFactory media-type="json"><format>{{"ok": true}}</format><args/></payloadFactory>
                <respond/></onAccept>
              <onReject><property name="HTTP_SC" value="429" scope="axis2"/><respond/></onReject>
            </throttle></inSequence></target></proxy>"""
    }
    node_a = await gateway(files, throttle_redis=url)
    node_b = await gateway(files, throttle_redis=url)
    statuses = []
    for client in (node_a, node_b, node_a, node_b, node_a):
        response = await client.post("/services/P", json={})
        statuses.append(response.status)
    assert statuses == [200, 200, 200, 429, 429]  # 3 for the cluster, not 3 per node


async def test_redis_concurrency_slots_are_shared():
    port = require_service("redis")
    key = f"test-{uuid.uuid4().hex}"
    one, two = RedisCounters(f"redis://127.0.0.1:{port}/0"), RedisCounters(f"redis://127.0.0.1:{port}/0")
    try:
        assert [await one.acquire(key, 2), await two.acquire(key, 2), await one.acquire(key, 2)] == [
            True,
            True,
            False,
        ]
        two.release(key)
        await asyncio.sleep(0)
        await two.close()  # waits for the release
        assert await one.acquire(key, 2) is True
    finally:
        await one.close()


async def test_the_older_mediator_throttle_assertion_form(gateway):
    """W: ThrottleFactory.buildThrottle reads MediatorThrottleAssertion (MI's own integration tests use it)."""
    policy = """<wsp:Policy xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"
        xmlns:throttle="http://www.wso2.org/products/wso2commons/throttle">
      <throttle:MediatorThrottleAssertion>
        <throttle:MaximumConcurrentAccess>100</throttle:MaximumConcurrentAccess>
        <wsp:Policy><throttle:ID throttle:type="IP">other</throttle:ID>
          <wsp:Policy><throttle:Control><wsp:Policy>
            <throttle:MaximumCount>2</throttle:MaximumCount><throttle:UnitTime>800000</throttle:UnitTime>
          </wsp:Policy></throttle:Control></wsp:Policy></wsp:Policy>
        <wsp:Policy><throttle:ID throttle:type="IP">10.1.1.1</throttle:ID>
          <wsp:Policy><throttle:Deny/></wsp:Policy></wsp:Policy>
      </throttle:MediatorThrottleAssertion></wsp:Policy>"""
    client = await gateway(
        {
            "proxies/P.xml": f"""<proxy {S} name="P"><target><inSequence>
                <throttle id="legacy"><policy>{policy}</policy>
                  <onAccept><payloadFactory media-type="json"><format>{{"ok": true}}</format><args/></payloadFactory>
                    <respond/></onAccept>
                  <onReject><property name="HTTP_SC" value="429" scope="axis2"/><respond/></onReject>
                </throttle></inSequence></target></proxy>"""
        }
    )
    statuses = [(await client.post("/services/P", json={})).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    denied = await client.post("/services/P", json={}, headers={"X-Forwarded-For": "10.1.1.1"})
    assert denied.status == 429


async def test_rejections_are_counted_in_the_prometheus_metrics(gateway, backend):
    """Issue 17: throttle rejections are scraped as wso2_integration_throttle_rejection_count (by throttle id)."""
    from gateway.runtime.metrics import ServerCollector, exposition
    from gateway.transport.server import SERVICES

    server = await soap_backend(backend)
    client = await gateway({"sequences/main.xml": sample("sample_371.main.xml", str(server.make_url("/sq")))})
    for _ in range(6):
        await get_quote(client)
    services = client.app[SERVICES]
    text = exposition(services.metrics.snapshot(), services.metrics.bounds, ServerCollector(services.settings))
    assert 'wso2_integration_throttle_rejection_count_total{throttle_id="A"} 2.0' in text.decode()
