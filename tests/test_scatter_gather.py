# ruff: noqa: E501 (MI's configurations below are kept as they are)
"""MI 4.4's scatter-gather and MI 4.3's foreach with a collection (gateway/mediators/eip_v2.py), played through a
real gateway on loopback against real concurrent back ends: the result shapes (JSON array, XML enclosing element,
body or variable), concurrency and the sequential mode, the aggregation's condition, timeout and min-messages, a
branch's fault, foreach's update-original / target-variable / counter-variable / continue-without-aggregation over
JSON and XML collections, and the deploy errors of MI's factories."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web
from lxml import etree

SYNAPSE = 'xmlns="http://ws.apache.org/ns/synapse"'


async def pets_backend(backend, delays: dict[str, float] | None = None):
    """A back end answering `{"pet": {"name": <path's last segment>, "requestId": …}}` after the path's delay."""

    async def handler(request: web.Request, body: bytes) -> web.Response:
        name = request.path.rsplit("/", 1)[-1]
        await asyncio.sleep((delays or {}).get(name, 0.0))
        request_id = json.loads(body or b"{}").get("requestId")
        return web.json_response({"pet": {"name": name, "requestId": request_id}})

    return await backend(handler)


def branch_call(url: str, name: str) -> str:
    return f'<sequence><call><endpoint><http method="post" uri-template="{url}/{name}"/></endpoint></call></sequence>'


def scatter_api(url: str, names: list[str], attributes: str, aggregation: str, after: str = "<respond/>") -> str:
    branches = "".join(branch_call(url, name) for name in names)
    return f"""
<api {SYNAPSE} name="Pets" context="/pets">
  <resource methods="POST">
    <inSequence>
      <scatter-gather {attributes}>
        <aggregation {aggregation}/>
        {branches}
      </scatter-gather>
      {after}
    </inSequence>
  </resource>
</api>"""


async def test_scatter_gather_json_body_gathers_each_branch_concurrently(gateway, backend):
    """W: ScatterGather: a copy of the message per sequence, run at once; the body becomes the JSON array of
    each branch's aggregation expression, in the order the branches end, and the flow goes on after it (the
    respond). Three branches of 0.4 s end together, not one after the other."""
    server = await pets_backend(backend, {"dog": 0.4, "cat": 0.4, "fish": 0.4})
    api = scatter_api(
        str(server.make_url("")),
        ["dog", "cat", "fish"],
        'parallel-execution="true" target="body" result-content-type="JSON"',
        'expression="json-eval($.pet)"',
    )
    client = await gateway({"api/Pets.xml": api})
    started = time.monotonic()
    response = await client.post("/pets", json={"requestId": 7})
    elapsed = time.monotonic() - started
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("application/json")
    result = await response.json()
    assert sorted(pet["name"] for pet in result) == ["cat", "dog", "fish"]
    assert all(pet["requestId"] == 7 for pet in result)
    assert len(server.requests) == 3
    assert elapsed < 1.0, elapsed


async def test_scatter_gather_orders_results_by_arrival(gateway, backend):
    """MI gathers the messages as they arrive (Aggregate.addMessage): the slow branch's result comes last."""
    server = await pets_backend(backend, {"slow": 0.5, "fast": 0.0})
    api = scatter_api(
        str(server.make_url("")),
        ["slow", "fast"],
        'target="body" result-content-type="JSON"',
        'expression="json-eval($.pet.name)"',
    )
    client = await gateway({"api/Pets.xml": api})
    response = await client.post("/pets", json={"requestId": 1})
    assert await response.json() == ["fast", "slow"]


async def test_sequential_scatter_gather_runs_the_branches_one_after_the_other(gateway, backend):
    server = await pets_backend(backend, {"a": 0.2, "b": 0.2, "c": 0.2})
    api = scatter_api(
        str(server.make_url("")),
        ["a", "b", "c"],
        'parallel-execution="false" target="body" result-content-type="JSON"',
        'expression="json-eval($.pet.name)"',
    )
    client = await gateway({"api/Pets.xml": api})
    started = time.monotonic()
    response = await client.post("/pets", json={})
    assert await response.json() == ["a", "b", "c"]
    assert time.monotonic() - started >= 0.6


async def test_scatter_gather_xml_body_encloses_the_results(gateway, backend):
    """result-content-type XML: each branch's elements under result-enclosing-element (no namespace), as the
    only child of a new body; messageType application/xml."""
    server = await pets_backend(backend)
    api = scatter_api(
        str(server.make_url("")),
        ["dog", "cat"],
        'target="body" result-content-type="XML" result-enclosing-element="pets"',
        'expression="//pet"',
    )
    client = await gateway({"api/Pets.xml": api})
    response = await client.post("/pets", json={"requestId": 3})
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("application/xml")
    root = etree.fromstring(await response.read())
    assert root.tag == "pets"
    assert sorted(pet.findtext("name") for pet in root.findall("pet")) == ["cat", "dog"]
    assert {pet.findtext("requestId") for pet in root.findall("pet")} == {"3"}


async def test_scatter_gather_to_a_variable_keeps_the_original_message(gateway, backend):
    """target="variable": the original message goes on, unchanged, and the result is in the variable (a JSON
    array; with XML, the enclosing element). A class mediator of the tests shows the variables."""
    server = await pets_backend(backend)
    after = """<property name="kept" expression="json-eval($.requestId)"/>
      <class name="tests.support.plugins.ShowVariables"/>
      <payloadFactory media-type="json"><format>{"kept": $1, "variables": $2}</format>
        <args><arg expression="get-property('kept')"/><arg evaluator="json" expression="$"/></args></payloadFactory>
      <respond/>"""
    url = str(server.make_url(""))
    api = scatter_api(
        url,
        ["dog", "cat"],
        'target="variable" target-variable="gathered" result-content-type="JSON"',
        'expression="json-eval($.pet.name)"',
        after,
    )
    client = await gateway({"api/Pets.xml": api})
    response = await client.post("/pets", json={"requestId": 5})
    assert response.status == 200, await response.text()
    result = await response.json()
    assert result["kept"] == 5  # the request's payload was still there after the scatter-gather
    assert sorted(result["variables"]["gathered"]) == ["cat", "dog"]
    xml = scatter_api(
        url,
        ["dog"],
        'target="variable" target-variable="pets" result-content-type="XML" result-enclosing-element="all"',
        'expression="//pet/name"',
        '<class name="tests.support.plugins.ShowVariables"/><respond/>',
    )
    client = await gateway({"api/Pets.xml": xml})
    response = await client.post("/pets", json={"requestId": 5})
    assert await response.json() == {"pets": "<all><name>dog</name></all>"}


async def test_scatter_gather_condition_gathers_only_matching_branches(gateway, backend):
    """<aggregation condition>: a branch for which it is not "true" is not gathered; once every branch has
    ended the result holds the others (MI waits for the timeout first)."""
    server = await pets_backend(backend)
    api = scatter_api(
        str(server.make_url("")),
        ["dog", "cat", "dingo"],
        'target="body" result-content-type="JSON"',
        'expression="json-eval($.pet.name)" condition="starts-with(//pet/name, \'d\')" timeout="5000"',
    )
    client = await gateway({"api/Pets.xml": api})
    started = time.monotonic()
    response = await client.post("/pets", json={})
    assert sorted(await response.json()) == ["dingo", "dog"]
    assert time.monotonic() - started < 2.0


async def test_scatter_gather_timeout_completes_with_the_results_in_hand(gateway, backend):
    """timeout (milliseconds, from the first result): the slow branch is left out, the client does not wait
    for it."""
    server = await pets_backend(backend, {"slow": 3.0})
    api = scatter_api(
        str(server.make_url("")),
        ["fast", "slow"],
        'target="body" result-content-type="JSON"',
        'expression="json-eval($.pet.name)" timeout="500"',
    )
    client = await gateway({"api/Pets.xml": api})
    started = time.monotonic()
    response = await client.post("/pets", json={})
    elapsed = time.monotonic() - started
    assert await response.json() == ["fast"]
    assert 0.4 <= elapsed < 2.0, elapsed


async def test_scatter_gather_min_messages_completes_early(gateway, backend):
    server = await pets_backend(backend, {"slow": 3.0})
    api = scatter_api(
        str(server.make_url("")),
        ["a", "slow", "b"],
        'target="body" result-content-type="JSON"',
        'expression="json-eval($.pet.name)" min-messages="2"',
    )
    client = await gateway({"api/Pets.xml": api})
    started = time.monotonic()
    response = await client.post("/pets", json={})
    assert sorted(await response.json()) == ["a", "b"]
    assert time.monotonic() - started < 2.0


async def test_scatter_gather_min_messages_static_dynamic_and_not_a_number(gateway, backend):
    """min-messages read once at deploy ("2.9" is 2, W: Double.parseDouble(...).intValue()), or per message from
    {expression} (on the first gathered result: here the id each reply echoes); a static text that is no number
    deploys and fails each message, as MI's does."""
    server = await pets_backend(backend, {"slow": 3.0})
    url = str(server.make_url(""))
    attributes = 'target="body" result-content-type="JSON"'
    expression = 'expression="json-eval($.pet.name)"'
    static = scatter_api(url, ["a", "slow", "b"], attributes, f'{expression} min-messages="2.9"')
    dynamic = scatter_api(
        url, ["a", "slow", "b"], attributes, f'{expression} min-messages="{{json-eval($.pet.requestId)}}"'
    )
    invalid = scatter_api(url, ["a", "b"], attributes, f'{expression} min-messages="two"')
    dynamic, invalid = (
        dynamic.replace('"Pets" context="/pets"', '"Dyn" context="/dyn"'),
        invalid.replace('"Pets" context="/pets"', '"Bad" context="/bad"'),
    )
    client = await gateway({"api/Pets.xml": static, "api/Dyn.xml": dynamic, "api/Bad.xml": invalid})
    for path in ("/pets", "/dyn"):
        started = time.monotonic()
        response = await client.post(path, json={"requestId": 2})
        assert sorted(await response.json()) == ["a", "b"], path
        assert time.monotonic() - started < 2.0, path
    for _ in range(2):
        response = await client.post("/bad", json={})
        assert response.status == 500
        assert "Invalid message count for the scatter-gather mediator: 'two'" in await response.text()


async def test_a_branch_fault_runs_the_fault_sequence_on_its_copy(gateway, backend):
    """A branch whose call fails: the copy's own fault handlers run (W: MediatorWorker pops the copied fault
    stack), here logging into a property the others never see; the other branches are gathered and answer."""
    server = await pets_backend(backend)
    url = str(server.make_url(""))
    api = f"""
<api {SYNAPSE} name="Pets" context="/pets">
  <resource methods="POST" faultSequence="quiet">
    <inSequence>
      <scatter-gather target="body" result-content-type="JSON">
        <aggregation expression="json-eval($.pet.name)"/>
        {branch_call(url, "dog")}
        <sequence><call><endpoint><http method="post" uri-template="http://127.0.0.1:1/none"/></endpoint></call></sequence>
        {branch_call(url, "cat")}
      </scatter-gather>
      <respond/>
    </inSequence>
  </resource>
</api>"""
    quiet = f"""<sequence {SYNAPSE} name="quiet">
      <payloadFactory media-type="json"><format>{{"failed": "$1"}}</format>
        <args><arg expression="get-property('ERROR_MESSAGE')"/></args></payloadFactory>
      <call><endpoint><http method="post" uri-template="{url}/reported"/></endpoint></call>
    </sequence>"""
    client = await gateway({"api/Pets.xml": api, "sequences/quiet.xml": quiet})
    response = await client.post("/pets", json={})
    assert response.status == 200, await response.text()
    assert sorted(await response.json()) == ["cat", "dog"]
    # the failing branch's copy went through the fault sequence, which reported it to the back end
    reports = [json.loads(r["body"]) for r in server.requests if r["path"] == "/reported"]
    assert len(reports) == 1 and reports[0]["failed"], reports


async def test_scatter_gather_in_a_keyed_sequence_goes_on_in_the_caller(gateway, backend):
    """The flow goes on after the scatter-gather, also out of a sequence reached by key."""
    server = await pets_backend(backend)
    url = str(server.make_url(""))
    gather = f"""<sequence {SYNAPSE} name="gather">
      <scatter-gather target="body" result-content-type="JSON">
        <aggregation expression="json-eval($.pet.name)"/>{branch_call(url, "dog")}{branch_call(url, "cat")}
      </scatter-gather>
    </sequence>"""
    api = f"""
<api {SYNAPSE} name="Pets" context="/pets">
  <resource methods="POST">
    <inSequence>
      <sequence key="gather"/>
      <payloadFactory media-type="json"><format>{{"count": $1}}</format>
        <args><arg evaluator="json" expression="$.length()"/></args></payloadFactory>
      <respond/>
    </inSequence>
  </resource>
</api>"""
    client = await gateway({"api/Pets.xml": api, "sequences/gather.xml": gather})
    response = await client.post("/pets", json={})
    assert response.status == 200, await response.text()
    assert await response.json() == {"count": 2}


# -- foreach with a collection (MI 4.3) -------------------------------------------------------------------
def price_backend(backend, delay: float = 0.0):
    async def handler(request: web.Request, body: bytes) -> web.Response:
        item = json.loads(body)
        await asyncio.sleep(delay)
        return web.json_response({"id": item["id"], "price": item["id"] * 10})

    return backend(handler)


def foreach_api(attributes: str, sequence: str, after: str = "<respond/>") -> str:
    return f"""
<api {SYNAPSE} name="Items" context="/items">
  <resource methods="POST">
    <inSequence>
      <foreach {attributes}>
        <sequence>{sequence}</sequence>
      </foreach>
      {after}
    </inSequence>
  </resource>
</api>"""


async def test_foreach_v2_calls_each_item_concurrently_and_updates_the_array(gateway, backend):
    """W: ForEachMediatorV2: each item of the JSON array in a message of its own, through the sequence (a call
    is allowed), at once; the results replace the items in order, in the original payload."""
    server = await price_backend(backend, delay=0.3)
    url = str(server.make_url(""))
    api = foreach_api(
        'collection="json-eval($.order.items)"',
        f'<call><endpoint><http method="post" uri-template="{url}/price"/></endpoint></call>',
    )
    client = await gateway({"api/Items.xml": api})
    items = [{"id": n} for n in range(1, 6)]
    started = time.monotonic()
    response = await client.post("/items", json={"order": {"ref": "x", "items": items}})
    elapsed = time.monotonic() - started
    assert response.status == 200, await response.text()
    assert await response.json() == {"order": {"ref": "x", "items": [{"id": n, "price": n * 10} for n in range(1, 6)]}}
    assert len(server.requests) == 5
    assert elapsed < 1.2, elapsed


async def test_foreach_v2_sequential_with_counter_variable(gateway, backend):
    """parallel-execution false: one item after the other; counter-variable holds each item's index in the
    item's message (shown by the tests' class mediator, whose payload becomes the item's result)."""
    server = await price_backend(backend, delay=0.1)
    url = str(server.make_url(""))
    api = foreach_api(
        'collection="json-eval($.items)" parallel-execution="false" counter-variable="i"',
        f'<call><endpoint><http method="post" uri-template="{url}/price"/></endpoint></call>'
        '<class name="tests.support.plugins.ShowVariables"/>',
    )
    client = await gateway({"api/Items.xml": api})
    started = time.monotonic()
    response = await client.post("/items", json={"items": [{"id": 1}, {"id": 2}, {"id": 3}]})
    assert await response.json() == {"items": [{"i": 0}, {"i": 1}, {"i": 2}]}
    assert time.monotonic() - started >= 0.3
    assert [json.loads(r["body"])["id"] for r in server.requests] == [1, 2, 3]


async def test_foreach_v2_xml_collection_replaces_the_elements(gateway):
    """An XPath collection: each element alone in a body; the results are put back under the elements' parent,
    in order."""
    api = foreach_api(
        'collection="//order/item"',
        """<payloadFactory media-type="xml"><format><item xmlns=""><name>$1</name><done>true</done></item></format>
           <args><arg expression="//item/text()"/></args></payloadFactory>""",
    )
    client = await gateway({"api/Items.xml": api})
    body = "<order><ref>r1</ref><item>a</item><item>b</item><item>c</item></order>"
    response = await client.post("/items", data=body, headers={"Content-Type": "application/xml"})
    assert response.status == 200, await response.text()
    order = etree.fromstring(await response.read())
    assert order.findtext("ref") == "r1"
    assert [item.findtext("name") for item in order.findall("item")] == ["a", "b", "c"]
    assert all(item.findtext("done") == "true" for item in order.findall("item"))


async def test_foreach_v2_to_a_variable_leaves_the_payload(gateway, backend):
    """update-original false: the payload is left as it was; the results go to target-variable (a JSON array in
    item order; with XML, inside result-enclosing-element)."""
    server = await price_backend(backend)
    url = str(server.make_url(""))
    api = foreach_api(
        'collection="json-eval($.items)" update-original="false" target-variable="priced" result-content-type="JSON"',
        f'<call><endpoint><http method="post" uri-template="{url}/price"/></endpoint></call>',
    )
    client = await gateway({"api/Items.xml": api})
    response = await client.post("/items", json={"items": [{"id": 4}, {"id": 5}]})
    assert await response.json() == {"items": [{"id": 4}, {"id": 5}]}
    assert len(server.requests) == 2
    shown = api.replace("<respond/>", '<class name="tests.support.plugins.ShowVariables"/><respond/>')
    client = await gateway({"api/Items.xml": shown})
    response = await client.post("/items", json={"items": [{"id": 4}, {"id": 5}]})
    assert await response.json() == {"priced": [{"id": 4, "price": 40}, {"id": 5, "price": 50}]}


async def test_foreach_v2_continue_without_aggregation_goes_on_at_once(gateway, backend):
    """continue-without-aggregation: the message goes on at once, unchanged; the items still run beside it."""
    server = await price_backend(backend, delay=0.5)
    url = str(server.make_url(""))
    api = foreach_api(
        'collection="json-eval($.items)" continue-without-aggregation="true"',
        f'<call><endpoint><http method="post" uri-template="{url}/price"/></endpoint></call>',
    )
    client = await gateway({"api/Items.xml": api})
    started = time.monotonic()
    response = await client.post("/items", json={"items": [{"id": 1}, {"id": 2}]})
    assert await response.json() == {"items": [{"id": 1}, {"id": 2}]}
    assert time.monotonic() - started < 0.45
    for _ in range(50):
        if len(server.requests) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(server.requests) == 2


async def test_mis_json_body_replace_with_json_xml_and_called_branches(gateway, backend):
    """MI's integration test configuration ScatterGatherPI `/json-body-replace` (wso2/micro-integrator, in the
    corpus), with json-eval in place of its `${payload.…}`: one branch makes a JSON pet, one an XML pet, one calls
    a back end; sequential, so the array is in branch order, and the XML pet is read as JSON (W: JsonUtil)."""

    async def mock_backend(request: web.Request, body: bytes) -> web.Response:
        request_id = json.loads(body)["requestId"]
        return web.json_response({"pet": {"name": "pet3", "type": "mock-backend", "requestId": request_id}})

    server = await backend(mock_backend)
    api = f"""
<api {SYNAPSE} name="ScatterGatherPI" context="/scatter-gather">
    <resource methods="POST" url-mapping="/json-body-replace">
        <inSequence>
            <scatter-gather parallel-execution="false" result-target="body" content-type="JSON">
                <aggregation expression="json-eval($.pet)"/>
                <sequence>
                    <payloadFactory media-type="json" template-type="default">
                        <format>{{"pet": {{"name": "pet1", "type": "dog", "requestId": $1}}}}</format>
                        <args><arg evaluator="json" expression="$.requestId"/></args>
                    </payloadFactory>
                </sequence>
                <sequence>
                    <payloadFactory media-type="xml" template-type="default">
                        <format>
                            <pet xmlns="">
                                <name>pet2</name>
                                <type>cat</type>
                                <requestId>$1</requestId>
                            </pet>
                        </format>
                        <args><arg evaluator="json" expression="$.requestId"/></args>
                    </payloadFactory>
                </sequence>
                <sequence>
                    <call>
                        <endpoint>
                            <http method="post" uri-template="{server.make_url("/scatter-gather/mock-backend-json")}"/>
                        </endpoint>
                    </call>
                </sequence>
            </scatter-gather>
            <respond/>
        </inSequence>
    </resource>
</api>"""
    client = await gateway({"api/ScatterGatherPI.xml": api})
    response = await client.post("/scatter-gather/json-body-replace", json={"requestId": 123})
    assert response.status == 200, await response.text()
    assert await response.json() == [
        {"name": "pet1", "type": "dog", "requestId": 123},
        {"name": "pet2", "type": "cat", "requestId": 123},
        {"name": "pet3", "type": "mock-backend", "requestId": 123},
    ]


async def test_mis_xml_body_replace_encloses_each_branch_body(gateway, backend):
    """ScatterGatherPI `/xml-body-replace` (MI's integration test), with `$body/node()` in place of its
    `${xpath('$body/node()')}`: the XML pet a branch makes and the one a back end answers, under
    <scatter_response>, in the order the branches end."""

    async def mock_backend(request: web.Request, body: bytes) -> web.Response:
        request_id = etree.fromstring(body).findtext(".//requestId")
        await asyncio.sleep(0.2)
        return web.Response(
            text=f"<pet><name>pet2</name><type>mock-backend</type><requestId>{request_id}</requestId></pet>",
            content_type="application/xml",
        )

    server = await backend(mock_backend)
    api = f"""
<api {SYNAPSE} name="ScatterGatherPI" context="/scatter-gather">
    <resource methods="POST" uri-template="/xml-body-replace">
        <inSequence>
            <scatter-gather parallel-execution="true" result-target="body" root-element="scatter_response"
                            content-type="XML">
                <aggregation expression="$body/node()"/>
                <sequence>
                    <payloadFactory media-type="xml" template-type="default">
                        <format>
                            <pet xmlns="">
                                <name>pet1</name>
                                <type>cat</type>
                                <requestId>$1</requestId>
                            </pet>
                        </format>
                        <args><arg expression="//requestId"/></args>
                    </payloadFactory>
                </sequence>
                <sequence>
                    <call>
                        <endpoint>
                            <http method="post" uri-template="{server.make_url("/scatter-gather/mock-backend-xml")}"/>
                        </endpoint>
                    </call>
                </sequence>
            </scatter-gather>
            <respond/>
        </inSequence>
        <faultSequence>
        </faultSequence>
    </resource>
</api>"""
    client = await gateway({"api/ScatterGatherPI.xml": api})
    response = await client.post(
        "/scatter-gather/xml-body-replace",
        data="<request><requestId>42</requestId></request>",
        headers={"Content-Type": "application/xml"},
    )
    assert response.status == 200, await response.text()
    root = etree.fromstring(await response.read())
    assert root.tag == "scatter_response"
    pets = [(pet.findtext("name"), pet.findtext("type"), pet.findtext("requestId")) for pet in root]
    assert pets == [("pet1", "cat", "42"), ("pet2", "mock-backend", "42")]


async def test_mis_foreach_body_replace_over_json_and_xml(gateway):
    """MI's integration test configuration ForEachPI `/json-body-replace-1` and `/xml-body-replace`
    (wso2/micro-integrator, in the corpus), with json-eval / XPath in place of its `${…}`: each item becomes what
    its sequence made of it, in place."""
    api = f"""
<api {SYNAPSE} name="ForEachPI" context="/foreach">
    <resource methods="POST" uri-template="/json-body-replace-1">
        <inSequence>
            <foreach collection="json-eval($.data.list)" parallel-execution="true">
                <sequence>
                    <payloadFactory media-type="json">
                        <format>{{"_name": "$1", "age": 5}}</format>
                        <args><arg evaluator="json" expression="$.name"/></args>
                    </payloadFactory>
                </sequence>
            </foreach>
            <respond/>
        </inSequence>
    </resource>
    <resource methods="POST" uri-template="/xml-body-replace">
        <inSequence>
            <foreach collection="//data/list" parallel-execution="false">
                <sequence>
                    <payloadFactory media-type="xml">
                        <format>
                            <person xmlns="">
                                <surname>$1</surname>
                                <age>10</age>
                            </person>
                        </format>
                        <args><arg expression="//list/name/text()"/></args>
                    </payloadFactory>
                </sequence>
            </foreach>
            <respond/>
        </inSequence>
    </resource>
</api>"""
    client = await gateway({"api/ForEachPI.xml": api})
    fruit = {"data": {"list": [{"name": "apple", "type": "fruit"}, {"name": "carrot", "type": "vegetable"}]}}
    response = await client.post("/foreach/json-body-replace-1", json=fruit)
    assert response.status == 200, await response.text()
    assert await response.json() == {"data": {"list": [{"_name": "apple", "age": 5}, {"_name": "carrot", "age": 5}]}}
    body = "<data><list><name>apple</name></list><list><name>carrot</name></list></data>"
    response = await client.post("/foreach/xml-body-replace", data=body, headers={"Content-Type": "application/xml"})
    assert response.status == 200, await response.text()
    data = etree.fromstring(await response.read())
    assert [(p.findtext("surname"), p.findtext("age")) for p in data] == [("apple", "10"), ("carrot", "10")]
    assert data.find("list") is None


async def test_mis_not_found_endpoint_branch_is_left_out(gateway):
    """ScatterGatherPI `/not-found-ep` with MI's own shipped `fault` sequence (log and drop): the branch whose
    call is refused goes to the fault sequence on its copy and brings nothing; the client gets the two others,
    as MI's ScatterGatherTestCase.testScatterGatherJSON404EPClone expects. (The gateway's shipped `fault`
    answers the client instead, so there the client gets that answer.)"""
    pet = '{{"pet": {{"name": "{name}", "type": "dog", "requestId": $1}}}}'
    branch = (
        '<sequence><payloadFactory media-type="json" template-type="default"><format>{format}</format>'
        '<args><arg evaluator="json" expression="$.requestId"/></args></payloadFactory></sequence>'
    )
    api = f"""
<api {SYNAPSE} name="ScatterGatherPI" context="/scatter-gather">
    <resource methods="POST" url-mapping="/not-found-ep">
        <inSequence>
            <scatter-gather parallel-execution="false" result-target="body" content-type="JSON">
                <aggregation expression="json-eval($.pet)" timeout="1000"/>
                {branch.format(format=pet.format(name="pet1"))}
                <sequence>
                    <call>
                        <endpoint>
                            <http method="post" uri-template="http://127.0.0.1:1/not-found"/>
                        </endpoint>
                    </call>
                </sequence>
                {branch.format(format=pet.format(name="pet3"))}
            </scatter-gather>
            <respond/>
        </inSequence>
    </resource>
</api>"""
    mi_fault = f"""<sequence {SYNAPSE} name="fault">
        <log level="full">
            <property name="MESSAGE" value="Executing default &quot;fault&quot; sequence"/>
            <property name="ERROR_CODE" expression="get-property('ERROR_CODE')"/>
            <property name="ERROR_MESSAGE" expression="get-property('ERROR_MESSAGE')"/>
        </log>
        <drop/>
    </sequence>"""
    client = await gateway({"api/ScatterGatherPI.xml": api, "sequences/fault.xml": mi_fault})
    response = await client.post("/scatter-gather/not-found-ep", json={"requestId": 1114567})
    assert response.status == 200, await response.text()
    assert await response.json() == [
        {"name": "pet1", "type": "dog", "requestId": 1114567},
        {"name": "pet3", "type": "dog", "requestId": 1114567},
    ]


async def test_pre_release_spellings_of_mi_4_4(gateway, backend):
    """MI's own integration tests of late 2024 (the corpus's ScatterGatherPI and ForEachPI) spell the outputs
    `result-target="body | <variable>"`, `content-type`, `root-element` (scatter-gather) and `result-target`,
    `result-type` (foreach, the variable's name also naming the XML result's element): read as MI 4.4's."""
    server = await pets_backend(backend)
    url = str(server.make_url(""))
    body = scatter_api(url, ["dog"], 'result-target="body" content-type="JSON"', 'expression="json-eval($.pet.name)"')
    client = await gateway({"api/Pets.xml": body})
    assert await (await client.post("/pets", json={})).json() == ["dog"]
    variable = scatter_api(
        url,
        ["dog"],
        'result-target="out" content-type="XML" root-element="r"',
        'expression="//pet/name"',
        '<class name="tests.support.plugins.ShowVariables"/><respond/>',
    )
    client = await gateway({"api/Pets.xml": variable})
    assert await (await client.post("/pets", json={})).json() == {"out": "<r><name>dog</name></r>"}
    foreach = foreach_api(
        'collection="//list/item" result-target="result" result-type="XML" version="v2"',
        '<payloadFactory media-type="xml"><format><done xmlns="">$1</done></format>'
        '<args><arg expression="//item/text()"/></args></payloadFactory>',
        '<class name="tests.support.plugins.ShowVariables"/>'
        '<property name="messageType" scope="axis2" value="application/json"/><respond/>',
    )
    client = await gateway({"api/Items.xml": foreach})
    response = await client.post(
        "/items", data="<list><item>a</item><item>b</item></list>", headers={"Content-Type": "application/xml"}
    )
    assert await response.json() == {"result": "<result><done>a</done><done>b</done></result>"}


async def test_deploy_errors_follow_mis_v2_factories(gateway):
    """W: ScatterGatherMediatorFactory and ForEachMediatorFactory.createForEachMediatorV2: each file fails with
    MI's own reason."""
    agg = '<aggregation expression="json-eval($)"/>'
    sg = "for the configuration of a Scatter Gather mediator"
    cases = {
        "NoType": (
            f'<scatter-gather target="body">{agg}<sequence><log/></sequence></scatter-gather>',
            f"The 'result-content-type' attribute is required {sg}",
        ),
        "BadType": (
            f'<scatter-gather target="body" result-content-type="CSV">{agg}<sequence/></scatter-gather>',
            "The 'result-content-type' attribute should be either 'JSON' or 'XML'",
        ),
        "XmlNoRoot": (
            f'<scatter-gather target="body" result-content-type="XML">{agg}<sequence/></scatter-gather>',
            f"The 'result-enclosing-element' attribute is required {sg} when the 'result-content-type' is 'XML'",
        ),
        "NoTarget": (
            f'<scatter-gather result-content-type="JSON">{agg}<sequence/></scatter-gather>',
            f"The 'target' attribute is required {sg}",
        ),
        "NoVariable": (
            f'<scatter-gather target="variable" result-content-type="JSON">{agg}<sequence/></scatter-gather>',
            f"The 'target-variable' attribute is required {sg} when the 'target' is 'variable'",
        ),
        "BadTarget": (
            f'<scatter-gather target="header" result-content-type="JSON">{agg}<sequence/></scatter-gather>',
            "The 'target' attribute should be either 'body' or 'variable'",
        ),
        "NoSequence": (
            f'<scatter-gather target="body" result-content-type="JSON">{agg}</scatter-gather>',
            f"A 'sequence' element is required {sg}",
        ),
        "NoAggregation": (
            '<scatter-gather target="body" result-content-type="JSON"><sequence/></scatter-gather>',
            f"The 'aggregation' element is required {sg}",
        ),
        "NoExpression": (
            '<scatter-gather target="body" result-content-type="JSON"><aggregation/><sequence/></scatter-gather>',
            f"The 'expression' attribute is required {sg}",
        ),
        "ForeachNoVariable": (
            '<foreach collection="json-eval($.a)" update-original="false"><sequence/></foreach>',
            "The 'result-content-type' and 'target-variable' attributes are required when the 'update-original' "
            "attribute is 'false'",
        ),
        "ForeachCounter": (
            '<foreach collection="json-eval($.a)" counter-variable="i"><sequence/></foreach>',
            "The 'counter-variable' attribute is not allowed when parallel-execution is true",
        ),
        "ForeachNoSequence": (
            '<foreach collection="json-eval($.a)"/>',
            "A 'sequence' element is required for the configuration of a Foreach mediator",
        ),
        "ForeachXmlNoRoot": (
            '<foreach collection="//a" update-original="false" target-variable="v" result-content-type="XML">'
            "<sequence/></foreach>",
            "The 'result-enclosing-element' attribute is required for the configuration of a Foreach mediator when "
            "the 'result-content-type' is 'XML'",
        ),
    }
    files = {
        f"sequences/{name}.xml": f'<sequence {SYNAPSE} name="{name}">{mediator}</sequence>'
        for name, (mediator, _) in cases.items()
    }
    client = await gateway(files)
    health = await (await client.get("/healthz")).json()
    failed = {problem["path"].rsplit("/", 1)[-1]: problem for problem in health["failed"]}
    assert set(failed) == {f"{name}.xml" for name in cases}
    for name, (_, reason) in cases.items():
        assert failed[f"{name}.xml"]["reason"] == reason, name


# -- MI 4.4's ${…} (Synapse Expressions) -----------------------------------------------------------------
async def test_mis_scatter_gather_configurations_with_synapse_expressions(gateway, backend):
    """MI's integration test configuration ScatterGatherPI (wso2/micro-integrator, in the corpus) in MI 4.4's
    released spelling (`target`, `target-variable`, `result-content-type`, `${vars.…}`), its `${…}` unchanged:
    JSON body, JSON variable read back by `${vars.…}` in a payloadFactory, and the aggregation condition."""

    async def mock_backend(request: web.Request, body: bytes) -> web.Response:
        request_id = json.loads(body)["requestId"]
        return web.json_response({"pet": {"name": "pet3", "type": "mock-backend", "requestId": request_id}})

    server = await backend(mock_backend)
    pet = '{{"pet": {{"name": "{name}", "type": "{type}", "requestId": ${{payload.requestId}}}}}}'

    def json_branch(name: str, kind: str) -> str:
        return (
            '<sequence><payloadFactory media-type="json" template-type="default">'
            f"<format>{pet.format(name=name, type=kind)}</format></payloadFactory></sequence>"
        )

    xml_branch = (
        '<sequence><payloadFactory media-type="xml" template-type="default"><format>'
        '<pet xmlns=""><name>pet2</name><type>cat</type><requestId>${payload.requestId}</requestId></pet>'
        "</format></payloadFactory></sequence>"
    )
    call_branch = (
        f'<sequence><call><endpoint><http method="post" uri-template="{server.make_url("/mock-backend-json")}"/>'
        "</endpoint></call></sequence>"
    )
    api = f"""
<api {SYNAPSE} name="ScatterGatherPI" context="/scatter-gather">
    <resource methods="POST" url-mapping="/json-body-replace">
        <inSequence>
            <scatter-gather parallel-execution="false" target="body" result-content-type="JSON">
                <aggregation expression="${{payload.pet}}"/>
                {json_branch("pet1", "dog")}{xml_branch}{call_branch}
            </scatter-gather>
            <respond/>
        </inSequence>
    </resource>
    <resource methods="POST" url-mapping="/json-variable-output">
        <inSequence>
            <scatter-gather parallel-execution="true" target="variable" target-variable="output_var"
                            result-content-type="JSON">
                <aggregation expression="${{payload.pet}}"/>
                {json_branch("pet1", "dog")}{xml_branch}{call_branch}
            </scatter-gather>
            <payloadFactory media-type="json" template-type="default">
                <format>{{"response": {{"requestData": ${{payload}}, "scatterGatherOutput": ${{vars.output_var}}}}}}</format>
            </payloadFactory>
            <respond/>
        </inSequence>
    </resource>
    <resource methods="POST" url-mapping="/aggregate-condition">
        <inSequence>
            <scatter-gather parallel-execution="true" target="body" result-content-type="JSON">
                <aggregation expression="${{payload.pet}}" condition="${{payload.pet.type == 'dog'}}" timeout="1000"/>
                {json_branch("pet1", "dog")}{json_branch("pet2", "cat")}{json_branch("pet3", "dog")}
            </scatter-gather>
            <respond/>
        </inSequence>
    </resource>
</api>"""
    client = await gateway({"api/ScatterGatherPI.xml": api})
    request = {"requestId": 1114567}
    pets = [
        {"name": "pet1", "type": "dog", "requestId": 1114567},
        {"name": "pet2", "type": "cat", "requestId": 1114567},
        {"name": "pet3", "type": "mock-backend", "requestId": 1114567},
    ]
    response = await client.post("/scatter-gather/json-body-replace", json=request)
    assert response.status == 200, await response.text()
    assert await response.json() == pets
    response = await client.post("/scatter-gather/json-variable-output", json=request)
    assert response.status == 200, await response.text()
    result = await response.json()
    assert result["response"]["requestData"] == request
    assert sorted(result["response"]["scatterGatherOutput"], key=lambda p: p["name"]) == pets
    response = await client.post("/scatter-gather/aggregate-condition", json=request)
    assert response.status == 200, await response.text()
    assert sorted((p["name"], p["type"]) for p in await response.json()) == [("pet1", "dog"), ("pet3", "dog")]


async def test_mis_foreach_configurations_with_synapse_expressions(gateway):
    """MI's integration test configuration ForEachPI (in the corpus) in MI 4.4's released spelling, its `${…}`
    unchanged: a JSON collection of the payload replaced in place, a JSON collection held by a variable updated
    there, and an XML collection (`${xpath(…)}`) whose results go to a variable."""
    api = f"""
<api {SYNAPSE} name="ForEachPI" context="/foreach">
    <resource methods="POST" uri-template="/json-body-replace-1">
        <inSequence>
            <foreach collection="${{payload.data.list}}" parallel-execution="true">
                <sequence>
                    <variable name="status" expression="${{payload.type == 'fruit' ? true : false}}"/>
                    <payloadFactory media-type="json">
                        <format><![CDATA[{{"_name": "${{payload.name}}", "age": 5, "status": ${{vars.status}}}}]]></format>
                    </payloadFactory>
                </sequence>
            </foreach>
            <respond/>
        </inSequence>
    </resource>
    <resource methods="GET" uri-template="/json-var-replace">
        <inSequence>
            <variable name="list" type="JSON"
                      value="[{{&quot;name&quot;: &quot;guava&quot;,&quot;type&quot;: &quot;fruit&quot;}},{{&quot;name&quot;: &quot;beet&quot;,&quot;type&quot;: &quot;vegetable&quot;}}]"/>
            <foreach collection="${{vars.list}}" parallel-execution="false">
                <sequence>
                    <payloadFactory media-type="json">
                        <format><![CDATA[{{"_name": "${{payload.name}}", "age": 5}}]]></format>
                    </payloadFactory>
                </sequence>
            </foreach>
            <payloadFactory media-type="json"><format>{{"list": ${{vars.list}}}}</format></payloadFactory>
            <respond/>
        </inSequence>
    </resource>
    <resource methods="POST" uri-template="/xml-body-variable-output">
        <inSequence>
            <foreach collection="${{xpath('//data/list')}}" update-original="false" target-variable="foreach_result"
                     result-content-type="XML" result-enclosing-element="foreach_result" parallel-execution="false">
                <sequence>
                    <payloadFactory media-type="xml">
                        <format><person xmlns=""><surname>${{xpath('//list/name/text()')}}</surname><age>2</age></person></format>
                    </payloadFactory>
                </sequence>
            </foreach>
            <payloadFactory media-type="xml"><format><out xmlns="">${{vars.foreach_result}}</out></format></payloadFactory>
            <respond/>
        </inSequence>
    </resource>
</api>"""
    client = await gateway({"api/ForEachPI.xml": api})
    fruit = {"data": {"list": [{"name": "apple", "type": "fruit"}, {"name": "carrot", "type": "vegetable"}]}}
    response = await client.post("/foreach/json-body-replace-1", json=fruit)
    assert response.status == 200, await response.text()
    assert await response.json() == {
        "data": {"list": [{"_name": "apple", "age": 5, "status": True}, {"_name": "carrot", "age": 5, "status": False}]}
    }
    response = await client.get("/foreach/json-var-replace")
    assert response.status == 200, await response.text()
    assert await response.json() == {"list": [{"_name": "guava", "age": 5}, {"_name": "beet", "age": 5}]}
    body = "<data><list><name>apple</name></list><list><name>carrot</name></list></data>"
    response = await client.post(
        "/foreach/xml-body-variable-output", data=body, headers={"Content-Type": "application/xml"}
    )
    assert response.status == 200, await response.text()
    out = etree.fromstring(await response.read())
    result = out.find("foreach_result")
    assert [(p.findtext("surname"), p.findtext("age")) for p in result] == [("apple", "2"), ("carrot", "2")]
