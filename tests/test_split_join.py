"""Split and join: iterate, clone, aggregate, foreach (gateway/mediators/eip.py), played through a real gateway
on loopback against real back ends: Apache sample 400 against the stock-quote stand-in, JSON iterate with
call and aggregate in the same flow, nested split/join with ids, clone, the aggregate timeout, foreach over
XML and JSON, and the deploy errors MI's factories raise."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web
from lxml import etree

from tests.support.stockquote import SAMPLES_NS, SOAP11_NS

SYNAPSE = 'xmlns="http://ws.apache.org/ns/synapse"'
S = f"{{{SAMPLES_NS}}}"

# Apache Synapse sample 400 (repository/conf/sample/synapse_sample_400.xml), unchanged but for the address.
SAMPLE_400 = f"""
<proxy {SYNAPSE} name="SplitAggregateProxy">
    <target>
        <inSequence>
            <iterate xmlns:m0="http://services.samples" expression="//m0:getQuote/m0:request"
                     preservePayload="true" attachPath="//m0:getQuote">
                <target>
                    <sequence>
                        <send>
                            <endpoint>
                                <address uri="@URL@"/>
                            </endpoint>
                        </send>
                    </sequence>
                </target>
            </iterate>
        </inSequence>
        <outSequence>
            <aggregate>
                <onComplete xmlns:m0="http://services.samples" expression="//m0:getQuoteResponse">
                    <send/>
                </onComplete>
            </aggregate>
        </outSequence>
    </target>
</proxy>"""


def multiple_quotes(symbols: list[str]) -> bytes:
    """What the sample client sends with -Ditr=N (samples.util.StockQuoteHandler.createMultipleQuoteRequest)."""
    requests = "".join(f"<m0:request><m0:symbol>{symbol}</m0:symbol></m0:request>" for symbol in symbols)
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP11_NS}"><soapenv:Body>'
        f'<m0:getQuote xmlns:m0="http://services.samples">{requests}</m0:getQuote>'
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


SOAP = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "urn:getQuote"}


async def test_sample_400_splits_the_quotes_and_aggregates_the_answers(gateway, stockquote):
    """Sample 400's guide: the iterate mediator splits the getQuote of N requests into N getQuote messages (the
    payload kept around each: preservePayload + attachPath), sends them to the service in parallel, and the
    aggregate in the outSequence merges the N getQuoteResponse elements into one reply to the client."""
    server = await stockquote()
    client = await gateway({"proxies/SplitAggregateProxy.xml": SAMPLE_400.replace("@URL@", server.url)})
    symbols = ["IBM", "MSFT", "SUN", "WSO2", "GOOG"]
    response = await client.post("/services/SplitAggregateProxy", data=multiple_quotes(symbols), headers=SOAP)
    assert response.status == 200, await response.text()
    envelope = etree.fromstring(await response.read())
    body = envelope.find(f"{{{SOAP11_NS}}}Body")
    answers = body.findall(f"{S}getQuoteResponse")
    assert len(answers) == len(symbols)
    assert sorted(answer.findtext(f"{S}return/{S}symbol") for answer in answers) == sorted(symbols)
    # each message the service got is a getQuote with exactly one request (the split part, attached under it)
    assert len(server.requests) == len(symbols)
    received = sorted(etree.fromstring(request.body).findtext(f".//{S}request/{S}symbol") for request in server.requests)
    assert received == sorted(symbols)
    for request in server.requests:
        quote = etree.fromstring(request.body).find(f".//{S}getQuote")
        assert len(quote.findall(f"{S}request")) == 1


async def test_sample_400_runs_the_parts_concurrently(gateway, stockquote):
    """The parts are sent at once (MI's worker pool; here the event loop): 5 parts to a service that takes
    0.3 s each answer in far less than 5 x 0.3 s."""
    server = await stockquote(delay=0.3)
    client = await gateway({"proxies/SplitAggregateProxy.xml": SAMPLE_400.replace("@URL@", server.url)})
    started = time.monotonic()
    response = await client.post(
        "/services/SplitAggregateProxy", data=multiple_quotes(["A", "B", "C", "D", "E"]), headers=SOAP
    )
    elapsed = time.monotonic() - started
    assert response.status == 200
    assert len(etree.fromstring(await response.read()).findall(f".//{S}getQuoteResponse")) == 5
    assert elapsed < 1.2, elapsed


async def test_sequential_iterate_sends_one_part_after_the_other(gateway, stockquote):
    server = await stockquote(delay=0.15)
    proxy = SAMPLE_400.replace("@URL@", server.url).replace('preservePayload="true"', 'sequential="true" preservePayload="true"')
    client = await gateway({"proxies/SplitAggregateProxy.xml": proxy})
    started = time.monotonic()
    response = await client.post("/services/SplitAggregateProxy", data=multiple_quotes(["A", "B", "C"]), headers=SOAP)
    assert response.status == 200
    assert time.monotonic() - started >= 0.45
    assert len(etree.fromstring(await response.read()).findall(f".//{S}getQuoteResponse")) == 3


async def json_items_backend(backend, delay: float = 0.0):
    async def handler(request: web.Request, body: bytes) -> web.Response:
        item = json.loads(body)
        if delay and item.get("slow"):
            await asyncio.sleep(delay)
        return web.json_response({"id": item["id"], "price": item["id"] * 10})

    return await backend(handler)


JSON_ITERATE_CALL = f"""
<api {SYNAPSE} name="Prices" context="/prices">
  <resource methods="POST">
    <inSequence>
      <iterate expression="json-eval($.items)" id="it">
        <target>
          <sequence>
            <call><endpoint><http method="post" uri-template="@URL@/price"/></endpoint></call>
          </sequence>
        </target>
      </iterate>
      <aggregate id="it">
        <completeCondition @TIMEOUT@><messageCount min="-1" max="-1"/></completeCondition>
        <onComplete expression="json-eval($)">
          <respond/>
        </onComplete>
      </aggregate>
    </inSequence>
  </resource>
</api>"""


async def test_json_iterate_with_call_and_aggregate_in_the_same_flow(gateway, backend):
    """MI 4's usual pattern: iterate over a JSON array, each item `call`ed in the target; the copies go on
    after the iterate (W: the reliant continuation state) into the aggregate, whose onComplete responds with
    the JSON array of the answers."""
    server = await json_items_backend(backend)
    api = JSON_ITERATE_CALL.replace("@URL@", str(server.make_url(""))).replace("@TIMEOUT@", "")
    client = await gateway({"api/Prices.xml": api})
    items = [{"id": n} for n in range(1, 11)]
    response = await client.post("/prices", json={"items": items})
    assert response.status == 200, await response.text()
    result = await response.json()
    assert sorted(result, key=lambda item: item["id"]) == [{"id": n, "price": n * 10} for n in range(1, 11)]
    assert len(server.requests) == 10
    assert sorted(json.loads(r["body"])["id"] for r in server.requests) == list(range(1, 11))


async def test_aggregate_timeout_completes_with_what_has_arrived(gateway, backend):
    """completeCondition timeout (seconds): a part whose answer is late is left out; the client gets the
    others when the timeout fires, not when the slow back end answers."""
    server = await json_items_backend(backend, delay=3.0)
    api = JSON_ITERATE_CALL.replace("@URL@", str(server.make_url(""))).replace("@TIMEOUT@", 'timeout="1"')
    client = await gateway({"api/Prices.xml": api})
    started = time.monotonic()
    response = await client.post("/prices", json={"items": [{"id": 1}, {"id": 2, "slow": True}, {"id": 3}]})
    elapsed = time.monotonic() - started
    assert response.status == 200
    result = await response.json()
    assert sorted(item["id"] for item in result) == [1, 3]
    assert 0.9 <= elapsed < 2.5, elapsed


async def test_dynamic_message_count_min(gateway, backend):
    """messageCount min="{…}": evaluated on the first message; the aggregate completes at that many."""
    server = await json_items_backend(backend, delay=2.0)
    api = (
        JSON_ITERATE_CALL.replace("@URL@", str(server.make_url("")))
        .replace("@TIMEOUT@", "")
        .replace('min="-1"', "min=\"{get-property('wanted')}\"")
        .replace("<iterate", '<property name="wanted" value="2"/><iterate')
    )
    client = await gateway({"api/Prices.xml": api})
    started = time.monotonic()
    response = await client.post("/prices", json={"items": [{"id": 1}, {"id": 2}, {"id": 3, "slow": True}]})
    assert response.status == 200
    assert sorted(item["id"] for item in await response.json()) == [1, 2]
    assert time.monotonic() - started < 1.8
