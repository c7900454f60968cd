# ruff: noqa: E501 (MI's configurations below are kept as they are)
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
from tests.support.waiting import until

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
    received = sorted(
        etree.fromstring(request.body).findtext(f".//{S}request/{S}symbol") for request in server.requests
    )
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
    proxy = SAMPLE_400.replace("@URL@", server.url).replace(
        'preservePayload="true"', 'sequential="true" preservePayload="true"'
    )
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


# -- clone ----------------------------------------------------------------------------------------------
CLONE = f"""
<api {SYNAPSE} name="Fan" context="/fan">
  <resource methods="POST">
    <inSequence>
      <clone id="c" @ATTRS@>
        <target>
          <sequence>
            <call><endpoint><http method="post" uri-template="@URL@/a"/></endpoint></call>
          </sequence>
        </target>
        <target>
          <sequence>
            <call><endpoint><http method="post" uri-template="@URL@/b"/></endpoint></call>
          </sequence>
        </target>
        <target endpoint="CEndpoint"/>
      </clone>
      <log level="custom"><property name="after" value="clone"/></log>
      <aggregate id="c">
        <completeCondition><messageCount min="2" max="-1"/></completeCondition>
        <onComplete expression="json-eval($.from)">
          <respond/>
        </onComplete>
      </aggregate>
    </inSequence>
  </resource>
</api>"""


async def echo_path_backend(backend):
    async def handler(request: web.Request, body: bytes) -> web.Response:
        return web.json_response({"from": request.path, "got": json.loads(body)})

    return await backend(handler)


async def test_clone_sends_a_whole_copy_through_each_target(gateway, backend):
    """clone: every target gets the whole message; the two inline sequences call and go on after the clone
    (W: the reliant continuation state) to the aggregate, which completes at min=2; the endpoint-only target
    sends through the deployed endpoint (its reply goes to the outSequence: none here)."""
    server = await echo_path_backend(backend)
    url = str(server.make_url(""))
    files = {
        "api/Fan.xml": CLONE.replace("@URL@", url).replace("@ATTRS@", ""),
        "endpoints/CEndpoint.xml": (
            f'<endpoint {SYNAPSE} name="CEndpoint"><http method="post" uri-template="{url}/c"/></endpoint>'
        ),
    }
    client = await gateway(files)
    response = await client.post("/fan", json={"order": 7})
    assert response.status == 200, await response.text()
    assert sorted(await response.json()) == ["/a", "/b"]
    await until(lambda: len(server.requests) == 3)
    assert sorted(r["path"] for r in server.requests) == ["/a", "/b", "/c"]
    assert all(json.loads(r["body"]) == {"order": 7} for r in server.requests)


async def test_clone_continue_parent_runs_the_original_on(gateway, backend):
    """continueParent="true": the original message goes on after the clone too (here to a respond that
    answers first, with the original payload)."""
    server = await echo_path_backend(backend)
    api = f"""
    <api {SYNAPSE} name="Fan" context="/fan">
      <resource methods="POST">
        <inSequence>
          <clone continueParent="true">
            <target>
              <sequence>
                <call><endpoint><http method="post" uri-template="{server.make_url("")}/a"/></endpoint></call>
              </sequence>
            </target>
          </clone>
          <respond/>
        </inSequence>
      </resource>
    </api>"""
    client = await gateway({"api/Fan.xml": api})
    response = await client.post("/fan", json={"original": True})
    assert response.status == 200
    assert await response.json() == {"original": True}
    await until(lambda: server.requests)
    assert [r["path"] for r in server.requests] == ["/a"]


# -- nested split / join --------------------------------------------------------------------------------
NESTED = f"""
<api {SYNAPSE} name="Nested" context="/nested">
  <resource methods="POST">
    <inSequence>
      <iterate id="outer" expression="//orders/order" xmlns:x="urn:x">
        <target>
          <sequence>
            <iterate id="inner" expression="//order/line">
              <target>
                <sequence>
                  <call><endpoint><http method="post" uri-template="@URL@/line"/></endpoint></call>
                </sequence>
              </target>
            </iterate>
            <aggregate id="inner">
              <completeCondition><messageCount min="-1" max="-1"/></completeCondition>
              <onComplete expression="//priced">
                <property name="wrap" type="OM"><order xmlns=""/></property>
              </onComplete>
            </aggregate>
          </sequence>
        </target>
      </iterate>
    </inSequence>
  </resource>
</api>"""


async def test_nested_iterate_and_aggregate_match_by_id(gateway, backend):
    """Two splits nested, each with its aggregate, matched by id (aggregateCorelation.<id>,
    messageSequence.<id>): the inner aggregate gathers the lines of one order, the outer one the orders. (SOAP
    in and out: a POX reply would carry the body's first element only, as in MI.)"""

    async def price(request: web.Request, body: bytes) -> web.Response:
        line = etree.fromstring(body)
        sku = line.findtext(".//sku")
        return web.Response(text=f"<priced><sku>{sku}</sku></priced>", content_type="application/xml")

    server = await backend(price)
    outer_join = """
            <aggregate id="outer">
              <completeCondition><messageCount min="-1" max="-1"/></completeCondition>
              <onComplete expression="//priced">
                <respond/>
              </onComplete>
            </aggregate>"""
    # the inner onComplete goes on to the outer aggregate (what follows the inner aggregate in its list)
    api = NESTED.replace("@URL@", str(server.make_url(""))).replace(
        """                <property name="wrap" type="OM"><order xmlns=""/></property>
              </onComplete>
            </aggregate>""",
        """                <property name="done" value="inner"/>
              </onComplete>
            </aggregate>"""
        + outer_join,
    )
    client = await gateway({"api/Nested.xml": api})
    orders = (
        "<orders><order><line><sku>a1</sku></line><line><sku>a2</sku></line></order>"
        "<order><line><sku>b1</sku></line><line><sku>b2</sku></line><line><sku>b3</sku></line></order></orders>"
    )
    envelope = f'<s:Envelope xmlns:s="{SOAP11_NS}"><s:Body>{orders}</s:Body></s:Envelope>'
    response = await client.post("/nested", data=envelope, headers={"Content-Type": "text/xml"})
    assert response.status == 200, await response.text()
    body = etree.fromstring(await response.read())
    assert sorted(body.xpath("//priced/sku/text()")) == ["a1", "a2", "b1", "b2", "b3"]
    assert len(server.requests) == 5


# -- aggregate details ----------------------------------------------------------------------------------
async def test_enclosing_element_property_wraps_the_merged_elements(gateway, stockquote):
    server = await stockquote()
    proxy = (
        SAMPLE_400.replace("@URL@", server.url)
        .replace(
            "<iterate ",
            '<property name="ENCLOSE" type="OM"><quotes xmlns="urn:quotes"/></property><iterate ',
        )
        .replace(
            'expression="//m0:getQuoteResponse"',
            'expression="//m0:getQuoteResponse" enclosingElementProperty="ENCLOSE"',
        )
    )
    client = await gateway({"proxies/SplitAggregateProxy.xml": proxy})
    response = await client.post("/services/SplitAggregateProxy", data=multiple_quotes(["IBM", "SUN"]), headers=SOAP)
    assert response.status == 200, await response.text()
    body = etree.fromstring(await response.read()).find(f"{{{SOAP11_NS}}}Body")
    assert [etree.QName(child).text for child in body] == ["{urn:quotes}quotes"]
    assert len(body[0].findall(f"{S}getQuoteResponse")) == 2


async def test_aggregate_element_type_child_merges_objects(gateway, backend):
    server = await json_items_backend(backend)
    api = (
        JSON_ITERATE_CALL.replace("@URL@", str(server.make_url("")))
        .replace("@TIMEOUT@", "")
        .replace('expression="json-eval($)"', 'expression="json-eval($)" aggregateElementType="child"')
    )
    client = await gateway({"api/Prices.xml": api})
    response = await client.post("/prices", json={"items": [{"id": 1}, {"id": 2}]})
    assert response.status == 200, await response.text()
    merged = await response.json()
    assert sorted(merged["id"]) == [1, 2] and sorted(merged["price"]) == [10, 20]


async def test_json_iterate_preserve_payload_attaches_each_item(gateway, backend):
    """JSON preservePayload + attachPath: each copy is the whole payload, the iterated array emptied and the
    item set at attachPath (W: SynapseJsonPath.replace)."""
    server = await echo_path_backend(backend)
    api = f"""
    <api {SYNAPSE} name="P" context="/p">
      <resource methods="POST">
        <inSequence>
          <iterate expression="json-eval($.items)" preservePayload="true" attachPath="json-eval($.item)">
            <target>
              <sequence>
                <call><endpoint><http method="post" uri-template="{server.make_url("")}/x"/></endpoint></call>
              </sequence>
            </target>
          </iterate>
          <aggregate><onComplete expression="json-eval($.got)"><respond/></onComplete></aggregate>
        </inSequence>
      </resource>
    </api>"""
    client = await gateway({"api/P.xml": api})
    response = await client.post("/p", json={"customer": "c1", "item": None, "items": [1, 2]})
    assert response.status == 200, await response.text()
    got = sorted(await response.json(), key=lambda value: value["item"])
    assert got == [{"customer": "c1", "item": 1, "items": []}, {"customer": "c1", "item": 2, "items": []}]


async def test_correlate_on_gathers_messages_across_requests(gateway):
    """correlateOn: messages whose expression has a value are gathered together (W: keyed by the expression
    itself), across client requests; the second request completes the aggregation (min 2) and gets both."""
    api = f"""
    <api {SYNAPSE} name="C" context="/c">
      <resource methods="POST">
        <inSequence>
          <aggregate>
            <correlateOn expression="json-eval($.batch)"/>
            <completeCondition><messageCount min="2" max="-1"/></completeCondition>
            <onComplete expression="json-eval($.n)"><respond/></onComplete>
          </aggregate>
        </inSequence>
      </resource>
    </api>"""
    client = await gateway({"api/C.xml": api})
    first = await client.post("/c", json={"batch": "b", "n": 1})
    # (MI would keep the first client waiting and answer it with the merged message; here the first request
    # is answered 202 at once and the merged message answers the request that completed the aggregation)
    assert first.status == 202  # gathered, nothing to answer yet
    second = await client.post("/c", json={"batch": "b", "n": 2})
    assert second.status == 200
    assert await second.json() == [1, 2]


# -- foreach --------------------------------------------------------------------------------------------
async def test_foreach_xml_transforms_each_element_in_place(gateway):
    api = f"""
    <api {SYNAPSE} name="F" context="/f">
      <resource methods="POST">
        <inSequence>
          <foreach expression="//items/item" id="f">
            <sequence>
              <payloadFactory media-type="xml">
                <format><item xmlns=""><name>$1</name><seen>yes</seen></item></format>
                <args><arg evaluator="xml" expression="//item/text()"/></args>
              </payloadFactory>
            </sequence>
          </foreach>
          <property name="count" expression="get-property('f_FOREACH_COUNTER')"/>
          <header name="X-Count" scope="transport" expression="get-property('count')"/>
          <respond/>
        </inSequence>
      </resource>
    </api>"""
    client = await gateway({"api/F.xml": api})
    response = await client.post(
        "/f",
        data="<order><items><item>a</item><item>b</item></items></order>",
        headers={"Content-Type": "application/xml"},
    )
    assert response.status == 200, await response.text()
    raw = await response.read()
    body = etree.fromstring(raw)
    assert body.xpath("//items/item/name/text()") == ["a", "b"], raw
    assert body.xpath("//items/item/seen/text()") == ["yes", "yes"]
    assert response.headers["X-Count"] == "2"


async def test_foreach_json_transforms_each_array_item(gateway):
    api = f"""
    <api {SYNAPSE} name="F" context="/f">
      <resource methods="POST">
        <inSequence>
          <foreach expression="json-eval($.items)">
            <sequence>
              <payloadFactory media-type="json">
                <format>{{"name": "$1", "double": $2}}</format>
                <args><arg evaluator="json" expression="$.name"/><arg evaluator="json" expression="$.n"/></args>
              </payloadFactory>
            </sequence>
          </foreach>
          <respond/>
        </inSequence>
      </resource>
    </api>"""
    client = await gateway({"api/F.xml": api})
    response = await client.post("/f", json={"id": 9, "items": [{"name": "a", "n": 1}, {"name": "b", "n": 2}]})
    assert response.status == 200, await response.text()
    assert await response.json() == {"id": 9, "items": [{"name": "a", "double": 1}, {"name": "b", "double": 2}]}


# -- deploy errors --------------------------------------------------------------------------------------
async def test_deploy_errors_follow_mis_factories(gateway):
    files = {
        "sequences/NoTarget.xml": f'<sequence {SYNAPSE} name="NoTarget"><iterate expression="//a"/></sequence>',
        "sequences/AttachNoPreserve.xml": f"""<sequence {SYNAPSE} name="AttachNoPreserve">
            <iterate expression="//a" attachPath="//b"><target sequence="x"/></iterate></sequence>""",
        "sequences/MixedPaths.xml": f"""<sequence {SYNAPSE} name="MixedPaths">
            <iterate expression="json-eval($.a)" preservePayload="true" attachPath="//b"><target/></iterate>
            </sequence>""",
        "sequences/CallInForeach.xml": f"""<sequence {SYNAPSE} name="CallInForeach">
            <foreach expression="//a"><sequence><call><endpoint key="e"/></call></sequence></foreach></sequence>""",
        "sequences/CloneIterations.xml": f"""<sequence {SYNAPSE} name="CloneIterations">
            <clone iterations="2"><target/><target/></clone></sequence>""",
    }
    client = await gateway(files)
    health = await (await client.get("/healthz")).json()
    text = json.dumps(health)
    assert "Target for an iterate mediator is required" in text
    assert "attachPath can not be present" in text
    assert "both expression and attachPath should be either jsonpath or xpath" in text
    assert "Sequence cannot contain Call, Send or CallOut mediators" in text
    assert "only one target is allowed" in text


# MI's integration test configuration mediatorconfig/call_template/synapse_expressions.xml (wso2/micro-integrator,
# Apache-2.0), unchanged but for the address.
TEMPLATED_PROXY = """<proxy xmlns="http://ws.apache.org/ns/synapse" name="SplitAggregateProxy123" startOnLoad="true" transports="https http">
        <target>
            <inSequence>
                <call-template target="iter_func123">
                    <with-param xmlns:m0="http://services.samples" name="iter_expr" value="{{//m0:getQuote/m0:request}}"/>
                    <with-param name="symbol" value="WSO2"/>
                    <with-param xmlns:m0="http://services.samples" name="attach_path" value="{{//m0:getQuote}}"/>
                </call-template>
            </inSequence>
            <outSequence>
                <call-template target="aggr_func123">
                    <with-param xmlns:m0="http://services.samples" name="aggr_expr" value="{{//m0:getQuoteResponse}}"/>
                </call-template>
            </outSequence>
        </target>
    </proxy>"""
ITER_TEMPLATE = """<template xmlns="http://ws.apache.org/ns/synapse" name="iter_func123">
        <parameter name="iter_expr"/>
        <parameter name="attach_path"/>
        <parameter name="symbol"/>
        <sequence>
            <property name="sym" expression="$func:symbol"/>
            <iterate xmlns:m0="http://services.samples" preservePayload="true" attachPath="$func:attach_path" expression="$func:iter_expr">
                <target>
                    <sequence>
                        <enrich>
                            <source type="property" clone="true" property="sym"/>
                            <target xpath="//m0:request/m0:symbol/text()"/>
                        </enrich>
                        <send>
                            <endpoint>
                                <address uri="@URL@"/>
                            </endpoint>
                        </send>
                    </sequence>
                </target>
            </iterate>
        </sequence>
    </template>"""
AGGR_TEMPLATE = """<template xmlns="http://ws.apache.org/ns/synapse" name="aggr_func123">
        <parameter name="aggr_expr"/>
        <sequence>
            <log level="full"/>
            <aggregate>
                <completeCondition>
                    <messageCount min="-1" max="-1"/>
                </completeCondition>
                <onComplete expression="$func:aggr_expr">
                    <log level="full"/>
                    <send/>
                </onComplete>
            </aggregate>
        </sequence>
    </template>"""


async def test_iterate_and_aggregate_inside_templates_with_expression_parameters(gateway, stockquote):
    """MI's call-template test (mediatorconfig/call_template/synapse_expressions.xml): the iterate and the
    aggregate sit in templates whose expression, attachPath and onComplete expression are {{…}} parameters
    ($func:…), and the target enriches each part's symbol with a template parameter: every answer is WSO2's."""
    server = await stockquote()
    files = {
        "proxies/SplitAggregateProxy123.xml": TEMPLATED_PROXY,
        "templates/iter_func123.xml": ITER_TEMPLATE.replace("@URL@", server.url),
        "templates/aggr_func123.xml": AGGR_TEMPLATE,
    }
    client = await gateway(files)
    response = await client.post(
        "/services/SplitAggregateProxy123", data=multiple_quotes(["IBM", "SUN", "MSFT"]), headers=SOAP
    )
    assert response.status == 200, await response.text()
    answers = etree.fromstring(await response.read()).findall(f".//{S}getQuoteResponse")
    assert [answer.findtext(f"{S}return/{S}symbol") for answer in answers] == ["WSO2"] * 3
    assert len(server.requests) == 3


async def test_an_aggregation_that_cannot_complete_is_given_up_with_its_exchange(gateway, backend, caplog):
    """A part that never reaches the aggregate (dropped in its target) and no timeout: MI keeps the aggregation
    (and its client waiting); here the client gets 202 once every part is done, the aggregation is given up
    (logged) and the next request aggregates afresh."""
    server = await json_items_backend(backend)
    api = (
        JSON_ITERATE_CALL.replace("@URL@", str(server.make_url("")))
        .replace("@TIMEOUT@", "")
        .replace(
            "<call>",
            '<filter source="json-eval($.id)" regex="2"><then><drop/></then></filter><call>',
        )
    )
    client = await gateway({"api/Prices.xml": api})
    response = await client.post("/prices", json={"items": [{"id": 1}, {"id": 2}, {"id": 3}]})
    assert response.status == 202
    assert "gave up an aggregation with 2 message(s)" in caplog.text
    response = await client.post("/prices", json={"items": [{"id": 4}, {"id": 5}]})
    assert response.status == 200
    assert sorted(item["id"] for item in await response.json()) == [4, 5]


async def test_target_sequence_anon_next_to_an_inline_sequence_runs_the_inline_one(gateway, stockquote):
    """`<target sequence="anon"><sequence>…`: as MI's serializer writes it; the inline sequence runs and the
    key is not a dangling reference."""
    server = await stockquote()
    head, tail = SAMPLE_400.replace("@URL@", server.url).split("<iterate ")
    proxy = head + "<iterate " + tail.replace("<target>", '<target sequence="anon">')
    client = await gateway({"proxies/SplitAggregateProxy.xml": proxy})
    response = await client.post("/services/SplitAggregateProxy", data=multiple_quotes(["IBM", "SUN"]), headers=SOAP)
    assert response.status == 200, await response.text()
    assert len(etree.fromstring(await response.read()).findall(f".//{S}getQuoteResponse")) == 2


async def test_a_blocking_call_in_the_target_does_not_go_on_after_the_iterate(gateway, backend):
    """W: a blocking call runs inside the target's sequence and never resumes a continuation: the copies end
    with their target, so the aggregate after the iterate gathers nothing (202), unlike a non-blocking call."""
    server = await json_items_backend(backend)
    api = (
        JSON_ITERATE_CALL.replace("@URL@", str(server.make_url("")))
        .replace("@TIMEOUT@", "")
        .replace("<call>", '<call blocking="true">')
    )
    client = await gateway({"api/Prices.xml": api})
    response = await client.post("/prices", json={"items": [{"id": 1}, {"id": 2}]})
    assert response.status == 202
    assert len(server.requests) == 2


# MI's integration test configuration synapseconfig/aggregateWithinTimoutConfig/synapse.xml (wso2/micro-integrator,
# Apache-2.0): a sequential iterate over getQuote elements, inside it an iterate over their requests (target
# sequence="anon" next to an inline sequence), the inner parts rewritten by a payloadFactory and sent; in the
# outSequence an aggregate (iterate2) whose onComplete holds the outer aggregate (iterate1), both with timeouts.
NESTED_AGGREGATES = """<proxy xmlns="http://ws.apache.org/ns/synapse" name="aggregateMediatorTestProxy" transports="https http" startOnLoad="true" trace="disable">
            <description/>
            <target>
                <inSequence>
                    <iterate xmlns:ns="http://org.apache.synapse/xsd" xmlns:ns3="http://org.apache.synapse/xsd" xmlns:m0="http://services.samples" id="iterate1" preservePayload="true" attachPath="//m0:getQuotes" expression="//m0:getQuotes/m0:getQuote" sequential="true">
                        <target>
                            <sequence>
                                <log level="full" category="DEBUG">
                                    <property name="target1" value="************After 1st Iterate before 2nd Iterate*************"/>
                                </log>
                                <iterate id="iterate2" preservePayload="true" attachPath="//m0:getQuote" expression="//m0:getQuotes/m0:getQuote/m0:request">
                                    <target sequence="anon">
                                        <sequence>
                                            <log level="full" category="DEBUG"/>
                                            <payloadFactory>
                                                <format>
                                                    <m0:getQuote>
                                                        <m0:request>
                                                            <m0:symbol>WSO2</m0:symbol>
                                                        </m0:request>
                                                    </m0:getQuote>
                                                </format>
                                                <args>
                                                    <arg expression="//m0:getQuote/m0:request/m0:symbol"/>
                                                </args>
                                            </payloadFactory>
                                            <log level="full" category="DEBUG">
                                                <property name="target1" value="************after payload factory*************"/>
                                            </log>
                                            <send>
                                                <endpoint>
                                                    <address uri="@URL@"/>
                                                </endpoint>
                                            </send>
                                        </sequence>
                                    </target>
                                </iterate>
                            </sequence>
                        </target>
                    </iterate>
                </inSequence>
               <outSequence>
                    <aggregate id="iterate2">
                       <completeCondition timeout="1">
                            <messageCount min="-1" max="-1"/>
                       </completeCondition>
                       <onComplete xmlns:ns="http://org.apache.synapse/xsd" xmlns:ns3="http://org.apache.synapse/xsd" xmlns:m0="http://services.samples" expression="//m0:getQuoteResponse">
                            <log level="custom">
                                <property name="messageLog" value="*****Aggregating*****"/>
                            </log>
                            <aggregate id="iterate1">
                               <completeCondition timeout="1">
                                   <messageCount min="-1" max="-1"/>
                               </completeCondition>
                                <onComplete expression="//m0:getQuoteResponse">
                                   <send/>
                               </onComplete>
                            </aggregate>
                       </onComplete>
                    </aggregate>
                </outSequence>
            </target>
        </proxy>"""


def get_quotes(groups: list[list[str]]) -> bytes:
    quotes = "".join(
        "<m0:getQuote>"
        + "".join(f"<m0:request><m0:symbol>{s}</m0:symbol></m0:request>" for s in group)
        + "</m0:getQuote>"
        for group in groups
    )
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP11_NS}"><soapenv:Body>'
        f'<m0:getQuotes xmlns:m0="http://services.samples">{quotes}</m0:getQuotes></soapenv:Body></soapenv:Envelope>'
    ).encode()


async def test_mis_nested_aggregates_with_timeouts_gather_every_answer(gateway, stockquote):
    """MI's configuration unchanged but for the address: 3 getQuote of 2 requests each give 6 back-end calls
    (every symbol rewritten to WSO2 by the payloadFactory), and the client gets the 6 answers merged by the two
    nested aggregates, well within their 1 s timeouts."""
    server = await stockquote()
    client = await gateway({"proxies/aggregateMediatorTestProxy.xml": NESTED_AGGREGATES.replace("@URL@", server.url)})
    started = time.monotonic()
    body = get_quotes([["IBM", "SUN"], ["MSFT", "GOOG"], ["A", "B"]])
    response = await client.post("/services/aggregateMediatorTestProxy", data=body, headers=SOAP)
    assert response.status == 200, await response.text()
    answers = etree.fromstring(await response.read()).findall(f".//{S}getQuoteResponse")
    assert [answer.findtext(f"{S}return/{S}symbol") for answer in answers] == ["WSO2"] * 6
    assert len(server.requests) == 6
    assert time.monotonic() - started < 0.9


async def test_a_large_split_runs_at_most_32_parts_at_once(gateway, backend):
    """Bounded fan-out: 80 parts reach the back end at most 32 at a time (MAX_PARALLEL), and all 80 answers
    are aggregated."""
    in_flight = {"now": 0, "most": 0}

    async def handler(request: web.Request, body: bytes) -> web.Response:
        in_flight["now"] += 1
        in_flight["most"] = max(in_flight["most"], in_flight["now"])
        await asyncio.sleep(0.02)
        in_flight["now"] -= 1
        item = json.loads(body)
        return web.json_response({"id": item["id"], "price": item["id"] * 10})

    server = await backend(handler)
    api = JSON_ITERATE_CALL.replace("@URL@", str(server.make_url(""))).replace("@TIMEOUT@", "")
    client = await gateway({"api/Prices.xml": api})
    response = await client.post("/prices", json={"items": [{"id": n} for n in range(80)]})
    assert response.status == 200, await response.text()
    assert sorted(item["id"] for item in await response.json()) == list(range(80))
    assert 8 < in_flight["most"] <= 32, in_flight


async def test_an_aggregate_inside_the_target_gathers_the_parts_themselves(gateway):
    """Apache sample 471's shape (its EJB calls left out): each part runs a keyed `collector` sequence whose
    aggregate gathers the parts themselves (no back end at all) and answers with a payloadFactory."""
    files = {
        "proxies/BuyAllProxy.xml": f"""
        <proxy {SYNAPSE} name="BuyAllProxy">
          <target>
            <inSequence>
              <iterate xmlns:m0="http://services.samples" preservePayload="false" expression="//m0:buyItems/m0:items/m0:item">
                <target><sequence><sequence key="collector"/></sequence></target>
              </iterate>
            </inSequence>
          </target>
        </proxy>""",
        "sequences/collector.xml": f"""
        <sequence {SYNAPSE} name="collector">
          <aggregate>
            <onComplete xmlns:m0="http://services.samples" expression="//m0:item">
              <payloadFactory>
                <format><buyAllResponse xmlns=""><itemCount>$1</itemCount><total>$2</total></buyAllResponse></format>
                <args>
                  <arg xmlns:m0="http://services.samples" expression="count(//m0:item)"/>
                  <arg xmlns:m0="http://services.samples" expression="sum(//m0:item/m0:quantity)"/>
                </args>
              </payloadFactory>
              <respond/>
            </onComplete>
          </aggregate>
        </sequence>""",
    }
    client = await gateway(files)
    items = "".join(f"<m0:item><m0:id>{n}</m0:id><m0:quantity>{n * 2}</m0:quantity></m0:item>" for n in range(1, 5))
    body = (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP11_NS}"><soapenv:Body><m0:buyItems xmlns:m0="http://services.samples">'
        f"<m0:items>{items}</m0:items></m0:buyItems></soapenv:Body></soapenv:Envelope>"
    )
    response = await client.post("/services/BuyAllProxy", data=body, headers={"Content-Type": "text/xml"})
    assert response.status == 200, await response.text()
    answer = etree.fromstring(await response.read()).find(f"{{{SOAP11_NS}}}Body/buyAllResponse")
    assert (answer.findtext("itemCount"), answer.findtext("total")) == (
        "4.0",
        "20.0",
    )  # XPath numbers, as MI prints them


async def test_foreach_continue_loop_on_failure_leaves_the_failing_item_out(gateway):
    """continueLoopOnFailure="true": an item whose sequence faults is left out and the loop goes on (W:
    ForEachMediator); without it the fault ends the flow in the fault sequence."""
    api = f"""
    <api {SYNAPSE} name="F" context="/f">
      <resource methods="POST" url-mapping="/@MODE@">
        <inSequence>
          <foreach expression="json-eval($.items)" @ATTR@>
            <sequence>
              <filter source="json-eval($.n)" regex="2">
                <then><sequence key="{{get-property('no-such-sequence')}}"/></then>
              </filter>
            </sequence>
          </foreach>
          <respond/>
        </inSequence>
      </resource>
    </api>"""
    files = {
        "api/F.xml": api.replace("@MODE@", "on").replace("@ATTR@", 'continueLoopOnFailure="true"'),
        "api/G.xml": api.replace('name="F" context="/f"', 'name="G" context="/g"')
        .replace("@MODE@", "off")
        .replace("@ATTR@", ""),
    }
    client = await gateway(files)
    response = await client.post("/f/on", json={"items": [{"n": 1}, {"n": 2}, {"n": 3}]})
    assert response.status == 200, await response.text()
    assert await response.json() == {"items": [{"n": 1}, {"n": 3}]}
    response = await client.post("/g/off", json={"items": [{"n": 1}, {"n": 2}, {"n": 3}]})
    assert response.status == 500


async def test_an_aggregation_completes_at_its_bound(gateway, monkeypatch):
    """No completion condition can hold (correlateOn, min and max -1, no timeout): the aggregation still ends
    at MAX_GATHERED messages (10,000; 3 here) instead of growing without bound as in MI."""
    from gateway.mediators import eip

    monkeypatch.setattr(eip, "MAX_GATHERED", 3)
    api = f"""
    <api {SYNAPSE} name="C" context="/c">
      <resource methods="POST">
        <inSequence>
          <aggregate>
            <correlateOn expression="json-eval($.batch)"/>
            <completeCondition><messageCount min="-1" max="-1"/></completeCondition>
            <onComplete expression="json-eval($.n)"><respond/></onComplete>
          </aggregate>
        </inSequence>
      </resource>
    </api>"""
    client = await gateway({"api/C.xml": api})
    statuses = [(await client.post("/c", json={"batch": "b", "n": n})).status for n in (1, 2)]
    assert statuses == [202, 202]
    response = await client.post("/c", json={"batch": "b", "n": 3})
    assert response.status == 200
    assert await response.json() == [1, 2, 3]


async def test_a_scheduled_task_runs_iterate_call_and_aggregate(gateway, backend):
    """A split injected by a scheduled task (no client waits): the copies call, the aggregate after the
    iterate completes and its onComplete reaches the back end with every part (enclosed in <all>)."""

    async def handler(request: web.Request, body: bytes) -> web.Response:
        if request.path == "/done":
            return web.Response(status=200)
        return web.Response(text=f"<priced>{etree.fromstring(body).text}</priced>", content_type="application/xml")

    server = await backend(handler)
    url = str(server.make_url(""))
    await gateway(
        {
            "sequences/Split.xml": f"""
                <sequence {SYNAPSE} name="Split">
                  <property name="enclose" type="OM"><all xmlns=""/></property>
                  <iterate expression="//item">
                    <target><sequence><call><endpoint><http method="post" uri-template="{url}/price"/></endpoint></call></sequence></target>
                  </iterate>
                  <aggregate>
                    <onComplete expression="//priced" enclosingElementProperty="enclose">
                      <call><endpoint><http method="post" uri-template="{url}/done"/></endpoint></call>
                    </onComplete>
                  </aggregate>
                </sequence>""",
            "tasks/Once.xml": f"""
                <task {SYNAPSE} name="Once" class="org.apache.synapse.startup.tasks.MessageInjector" group="synapse.simple.quartz">
                  <trigger once="true"/>
                  <property name="format" value="pox"/>
                  <property name="injectTo" value="sequence"/>
                  <property name="sequenceName" value="Split"/>
                  <property name="message"><items xmlns=""><item>a</item><item>b</item><item>c</item></items></property>
                </task>""",
        }
    )
    for _ in range(500):
        if any(r["path"] == "/done" for r in server.requests):
            break
        await asyncio.sleep(0.02)
    done = [r for r in server.requests if r["path"] == "/done"]
    assert len(done) == 1
    assert sorted(etree.fromstring(done[0]["body"]).xpath("/all/priced/text()")) == ["a", "b", "c"]
    assert len([r for r in server.requests if r["path"] == "/price"]) == 3


async def test_target_soap_action_is_the_copies_soap_action(gateway, stockquote):
    """`<target soapAction>` sets the SOAPAction the copies are sent with (W: Target.mediate)."""
    server = await stockquote()
    head, tail = SAMPLE_400.replace("@URL@", server.url).split("<iterate ")
    proxy = head + "<iterate " + tail.replace("<target>", '<target soapAction="urn:getQuote">')
    client = await gateway({"proxies/SplitAggregateProxy.xml": proxy})
    headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "urn:somethingElse"}
    response = await client.post("/services/SplitAggregateProxy", data=multiple_quotes(["IBM", "SUN"]), headers=headers)
    assert response.status == 200, await response.text()
    assert [request.headers.get("SOAPAction") for request in server.requests] == ['"urn:getQuote"'] * 2
    assert {request.operation for request in server.requests} == {"getQuote"}


async def test_iterate_over_xml_held_by_a_property(gateway, backend):
    """The expression may select elements outside the message (an OM property): each part is a copy of one
    of them, the message itself is left as it is."""
    server = await echo_path_backend(backend)
    api = f"""
    <api {SYNAPSE} name="P" context="/p">
      <resource methods="POST">
        <inSequence>
          <property name="list" type="OM"><list xmlns=""><item>x</item><item>y</item></list></property>
          <iterate expression="$ctx:list/item">
            <target>
              <sequence>
                <property name="messageType" value="application/json" scope="axis2"/>
                <call><endpoint><http method="post" uri-template="{server.make_url("")}/x"/></endpoint></call>
              </sequence>
            </target>
          </iterate>
          <aggregate><onComplete expression="json-eval($.got)"><respond/></onComplete></aggregate>
        </inSequence>
      </resource>
    </api>"""
    client = await gateway({"api/P.xml": api})
    response = await client.post("/p", json={"keep": True})
    assert response.status == 200, await response.text()
    result = await response.json()
    assert sorted(got["item"] for got in result) == ["x", "y"], result


async def test_a_target_sequence_on_error_handles_the_copys_fault(gateway):
    """`<target><sequence onError="…">`: a copy's fault goes to that sequence (W: the anonymous sequence
    pushes its onError handler), here answering the client, instead of the resource's fault handling."""
    files = {
        "api/P.xml": f"""
        <api {SYNAPSE} name="P" context="/p">
          <resource methods="POST">
            <inSequence>
              <iterate expression="json-eval($.items)">
                <target>
                  <sequence onError="partFault">
                    <sequence key="{{get-property('no-such-sequence')}}"/>
                  </sequence>
                </target>
              </iterate>
            </inSequence>
          </resource>
        </api>""",
        "sequences/partFault.xml": f"""
        <sequence {SYNAPSE} name="partFault">
          <payloadFactory media-type="json"><format>{{"handled": "$1"}}</format>
            <args><arg expression="get-property('ERROR_MESSAGE')"/></args></payloadFactory>
          <respond/>
        </sequence>""",
    }
    client = await gateway(files)
    response = await client.post("/p", json={"items": [1]})
    assert response.status == 200, await response.text()
    handled = (await response.json())["handled"]
    assert handled == "Sequence named None cannot be found"


async def test_a_split_inside_a_filter_goes_on_after_the_filter(gateway, backend):
    """W: the continuation climbs out of containers: copies of an iterate inside a filter's <then> that
    `call` go on after the iterate in <then>, then after the filter, to the aggregate there."""
    server = await json_items_backend(backend)
    api = f"""
    <api {SYNAPSE} name="Prices" context="/prices">
      <resource methods="POST">
        <inSequence>
          <filter source="json-eval($.mode)" regex="split">
            <then>
              <iterate expression="json-eval($.items)">
                <target>
                  <sequence>
                    <call><endpoint><http method="post" uri-template="{server.make_url("")}/price"/></endpoint></call>
                  </sequence>
                </target>
              </iterate>
              <property name="where" value="then"/>
            </then>
          </filter>
          <aggregate>
            <onComplete expression="json-eval($)">
              <header name="X-Where" scope="transport" expression="get-property('where')"/>
              <respond/>
            </onComplete>
          </aggregate>
        </inSequence>
      </resource>
    </api>"""
    client = await gateway({"api/Prices.xml": api})
    response = await client.post("/prices", json={"mode": "split", "items": [{"id": 1}, {"id": 2}]})
    assert response.status == 200, await response.text()
    assert sorted(item["id"] for item in await response.json()) == [1, 2]
    assert response.headers["X-Where"] == "then"  # the rest of <then> ran for the copies first


async def test_a_split_in_a_sequence_reached_by_key_goes_on_in_the_caller(gateway, backend):
    """W: the continuation climbs out of a sequence reached by `<sequence key>` too: copies of an iterate in
    the named sequence that `call` go on after the iterate there, then after the `<sequence key>` mediator in
    the caller, to the aggregate there. A sequence without a split in it is run as before."""
    server = await json_items_backend(backend)
    fanout = f"""<sequence {SYNAPSE} name="fanout">
      <iterate expression="json-eval($.items)">
        <target>
          <sequence>
            <call><endpoint><http method="post" uri-template="{server.make_url("")}/price"/></endpoint></call>
          </sequence>
        </target>
      </iterate>
      <property name="where" value="fanout"/>
    </sequence>"""
    plain = f'<sequence {SYNAPSE} name="plain"><property name="plain" value="yes"/></sequence>'
    api = f"""
    <api {SYNAPSE} name="Prices" context="/prices">
      <resource methods="POST">
        <inSequence>
          <sequence key="plain"/>
          <sequence key="fanout"/>
          <aggregate>
            <onComplete expression="json-eval($)">
              <header name="X-Where" scope="transport" expression="get-property('where')"/>
              <header name="X-Plain" scope="transport" expression="get-property('plain')"/>
              <respond/>
            </onComplete>
          </aggregate>
        </inSequence>
      </resource>
    </api>"""
    client = await gateway({"api/Prices.xml": api, "sequences/fanout.xml": fanout, "sequences/plain.xml": plain})
    response = await client.post("/prices", json={"items": [{"id": 1}, {"id": 2}, {"id": 3}]})
    assert response.status == 200, await response.text()
    assert sorted(item["id"] for item in await response.json()) == [1, 2, 3]
    assert response.headers["X-Where"] == "fanout"  # the rest of the named sequence ran for the copies first
    assert response.headers["X-Plain"] == "yes"
