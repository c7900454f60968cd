"""enrich: sources, targets, actions, clone, native JSON and deploy-time validation (docs/synapse-semantics.md §5.8;
docs/conformance.md C-EN*)."""

from __future__ import annotations

import orjson
from lxml import etree

S = 'xmlns="http://ws.apache.org/ns/synapse"'
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"


def proxy(name: str, in_sequence: str) -> dict[str, str]:
    return {
        f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target><inSequence>{in_sequence}</inSequence>'
        "</target></proxy>"
    }


def enrich(source: str, target: str) -> str:
    return f"<enrich>{source}{target}</enrich>"


async def post_xml(client, name: str, body: bytes, ctype: str = "application/xml") -> etree._Element:
    response = await client.post(f"/services/{name}", data=body, headers={"Content-Type": ctype})
    assert response.status == 200, await response.text()
    return etree.fromstring(await response.read())


async def post_json(client, name: str, body: bytes, **headers):
    response = await client.post(
        f"/services/{name}", data=body, headers={"Content-Type": "application/json", **headers}
    )
    return response.status, await response.read()


# -- XML sources and targets ----------------------------------------------------------------------


async def test_custom_source_replaces_a_custom_target(gateway):
    """type defaults to custom on both sides; action defaults to replace; clone defaults to true."""
    client = await gateway(proxy("P", enrich('<source xpath="//new"/>', '<target xpath="//old"/>') + "<respond/>"))
    root = await post_xml(client, "P", b"<r><old>1</old>tail<new>2</new></r>")
    assert [c.tag for c in root] == ["new", "new"] and root[0].tail == "tail"  # the source stays (a clone)


async def test_clone_false_moves_the_source(gateway):
    client = await gateway(
        proxy("P", enrich('<source xpath="//new" clone="false"/>', '<target xpath="//old"/>') + "<respond/>")
    )
    root = await post_xml(client, "P", b"<r><old>1</old><new>2</new></r>")
    assert [(c.tag, c.text) for c in root] == [("new", "2")]


async def test_child_and_sibling_actions(gateway):
    client = await gateway(
        {
            **proxy(
                "Child",
                enrich('<source xpath="//i"/>', '<target xpath="//list" action="child"/>') + "<respond/>",
            ),
            **proxy(
                "Sibling",
                enrich('<source xpath="//i"/>', '<target xpath="//list" action="sibling"/>') + "<respond/>",
            ),
        }
    )
    root = await post_xml(client, "Child", b"<r><list/><i>1</i><i>2</i></r>")
    assert [i.text for i in root.find("list")] == ["1", "2"]
    root = await post_xml(client, "Sibling", b"<r><list/><i>1</i><i>2</i></r>")
    # W: insertSiblingAfter per node, so several nodes land in reverse order right after the target
    assert [(c.tag, c.text) for c in root] == [("list", None), ("i", "2"), ("i", "1"), ("i", "1"), ("i", "2")]


async def test_text_source_sets_element_text_and_text_or_attribute_targets(gateway):
    client = await gateway(
        {
            **proxy("Elem", enrich('<source xpath="string(//v)"/>', '<target xpath="//slot"/>') + "<respond/>"),
            **proxy(
                "Text",
                enrich('<source xpath="//v/text()"/>', '<target xpath="//slot/text()"/>') + "<respond/>",
            ),
            **proxy("Attr", enrich('<source xpath="string(//v)"/>', '<target xpath="//slot/@id"/>') + "<respond/>"),
        }
    )
    body = b'<r><v>new</v><slot id="0">old<x/></slot></r>'
    assert (await post_xml(client, "Elem", body)).find("slot").text == "new"
    slot = (await post_xml(client, "Text", body)).find("slot")
    assert slot.text == "new" and len(slot) == 0  # Axiom setText replaces the content
    assert (await post_xml(client, "Attr", body)).find("slot").get("id") == "new"


async def test_body_source_to_property_stores_an_element_and_property_source_to_body(gateway):
    seq = (
        enrich('<source type="body"/>', '<target type="property" property="saved"/>')
        + '<property name="isElement" expression="boolean($ctx:saved/b)"/>'
        + enrich('<source type="inline"><other xmlns=""/></source>', '<target type="body"/>')
        + enrich('<source type="property" property="saved"/>', '<target xpath="//other" action="child"/>')
        + '<header name="X-Element" scope="transport" expression="$ctx:isElement"/><respond/>'
    )
    client = await gateway(proxy("P", seq))
    response = await client.post("/services/P", data=b"<a><b>1</b></a>", headers={"Content-Type": "application/xml"})
    assert response.headers["X-Element"] == "true"  # the property holds XML (OM), not a string
    root = etree.fromstring(await response.read())
    assert root.tag == "other" and root.findtext("a/b") == "1"


async def test_property_source_replaces_the_body(gateway):
    seq = (
        '<property name="p" type="OM"><new xmlns=""><v>1</v></new></property>'
        + enrich('<source type="property" property="p"/>', '<target type="body"/>')
        + "<respond/>"
    )
    client = await gateway(proxy("P", seq))
    assert (await post_xml(client, "P", b"<old/>")).findtext("v") == "1"


async def test_inline_sources_element_text_and_local_entry_key(gateway):
    client = await gateway(
        {
            "local-entries/sym.xml": f'<localEntry {S} key="sym"><symbol xmlns="">MSFT</symbol></localEntry>',
            **proxy(
                "Element",
                enrich(
                    '<source type="inline"><x xmlns="">1</x></source>',
                    '<target xpath="//slot" action="child"/>',
                )
                + "<respond/>",
            ),
            **proxy(
                "Text",
                enrich('<source type="inline">plain text</source>', '<target xpath="//slot"/>') + "<respond/>",
            ),
            **proxy(
                "Key",
                enrich('<source type="inline" key="sym"/>', '<target xpath="//symbol"/>') + "<respond/>",
            ),
        }
    )
    assert (await post_xml(client, "Element", b"<r><slot/></r>")).findtext("slot/x") == "1"
    assert (await post_xml(client, "Text", b"<r><slot>old</slot></r>")).findtext("slot") == "plain text"
    for _ in range(2):  # the local entry is copied, never moved into the message
        root = await post_xml(client, "Key", b"<q><symbol>IBM</symbol></q>")
        assert root.findtext("symbol") == "MSFT"


async def test_envelope_source_to_property_and_back_to_the_envelope(gateway):
    seq = (
        enrich('<source type="envelope"/>', '<target type="property" property="env"/>')
        + enrich('<source type="inline"><changed xmlns=""/></source>', '<target type="body"/>')
        + enrich('<source type="property" property="env"/>', '<target type="envelope"/>')
        + "<respond/>"
    )
    client = await gateway(proxy("P", seq))
    request = (
        f'<e:Envelope xmlns:e="{SOAP11}"><e:Header><h xmlns="urn:h">1</h></e:Header><e:Body><orig/></e:Body>'
        "</e:Envelope>"
    )
    root = await post_xml(client, "P", request.encode(), "text/xml")
    assert root.find(f"{{{SOAP11}}}Body/orig") is not None
    assert root.findtext(f"{{{SOAP11}}}Header/{{urn:h}}h") == "1"


async def test_custom_get_property_target_stores_into_that_property(gateway):
    seq = (
        enrich('<source xpath="//v"/>', "<target xpath=\"get-property('axis2', 'saved')\"/>")
        + '<header name="X-Saved" scope="transport" expression="$axis2:saved"/><respond/>'
    )
    client = await gateway(proxy("P", seq))
    response = await client.post("/services/P", data=b"<r><v>42</v></r>", headers={"Content-Type": "application/xml"})
    assert response.headers["X-Saved"] == "42"


async def test_a_target_xpath_that_selects_nothing_faults(gateway):
    client = await gateway(
        {
            **proxy("Nothing", enrich('<source xpath="//v"/>', '<target xpath="//missing"/>') + "<respond/>"),
            # W: an attribute target casts the source to text: an element source is an error
            **proxy("ElementToAttr", enrich('<source xpath="//v"/>', '<target xpath="//v/@id"/>') + "<respond/>"),
        }
    )
    status, body = await post_json(client, "Nothing", b'{"v":1}')
    assert status == 500 and orjson.loads(body)["error"]["message"] == "Invalid Target object to be enrich."
    response = await client.post(
        "/services/ElementToAttr", data=b'<r><v id="1">x</v></r>', headers={"Content-Type": "application/xml"}
    )
    assert response.status == 500 and "Invalid Source object" in await response.text()


async def test_body_target_removes_no_entity_body(gateway):
    client = await gateway(
        proxy(
            "P",
            enrich('<source type="inline"><ok xmlns=""/></source>', '<target type="body"/>') + "<respond/>",
        )
    )
    response = await client.get("/services/P")
    assert etree.fromstring(await response.read()).tag == "ok"


async def test_remove_from_an_xml_body(gateway):
    """W: remove is only implemented for JSON; here it also removes what the source XPath selects in XML."""
    client = await gateway(
        proxy("P", enrich('<source xpath="//secret"/>', '<target type="body" action="remove"/>') + "<respond/>")
    )
    root = await post_xml(client, "P", b"<r><a>1</a><secret>x</secret><b>2</b></r>")
    assert [c.tag for c in root] == ["a", "b"]


# -- native JSON ----------------------------------------------------------------------------------


async def test_json_custom_source_replaces_a_json_path_target_keeping_types(gateway):
    client = await gateway(
        proxy(
            "P",
            enrich('<source xpath="json-eval($.new)"/>', '<target xpath="json-eval($.old)"/>') + "<respond/>",
        )
    )
    status, body = await post_json(client, "P", b'{"old":1,"new":{"id":"007","n":1.50,"l":[1]},"keep":"123"}')
    assert body == b'{"old":{"id":"007","n":1.50,"l":[1]},"new":{"id":"007","n":1.50,"l":[1]},"keep":"123"}'


async def test_json_child_appends_to_an_array_or_merges_an_object(gateway):
    client = await gateway(
        {
            **proxy(
                "Array",
                enrich(
                    '<source type="inline">{"id":3}</source>',
                    '<target xpath="json-eval($.items)" action="child"/>',
                )
                + "<respond/>",
            ),
            **proxy(
                "Object",
                enrich(
                    '<source type="inline">{"b":2}</source>',
                    '<target xpath="json-eval($.obj)" action="child"/>',
                )
                + "<respond/>",
            ),
        }
    )
    assert orjson.loads((await post_json(client, "Array", b'{"items":[{"id":1}]}'))[1]) == {
        "items": [{"id": 1}, {"id": 3}]
    }
    assert orjson.loads((await post_json(client, "Object", b'{"obj":{"a":1}}'))[1]) == {"obj": {"a": 1, "b": 2}}


async def test_json_body_and_property_targets(gateway):
    seq = (
        enrich('<source type="body"/>', '<target type="property" property="orig"/>')
        + enrich('<source type="inline">{"replaced": true}</source>', '<target type="body"/>')
        + enrich('<source type="property" property="orig"/>', '<target xpath="json-eval($.replaced)"/>')
        + '<header name="X-Orig" scope="transport" expression="json-eval($ctx:orig.a)"/><respond/>'
    )
    client = await gateway(proxy("P", seq))
    response = await client.post("/services/P", data=b'{"a":[1]}', headers={"Content-Type": "application/json"})
    assert response.headers["X-Orig"] == "[1]"
    assert orjson.loads(await response.read()) == {"replaced": {"a": [1]}}


async def test_json_property_child_appends_to_a_json_array_property(gateway):
    seq = (
        '<property name="list" type="JSON" value="[1]"/>'
        + enrich('<source xpath="json-eval($.v)"/>', '<target type="property" property="list" action="child"/>')
        + '<header name="X-List" scope="transport" expression="json-eval($ctx:list)"/><respond/>'
    )
    client = await gateway(proxy("P", seq))
    response = await client.post("/services/P", data=b'{"v":2}', headers={"Content-Type": "application/json"})
    assert orjson.loads(response.headers["X-List"]) == [1, 2]


async def test_json_clone_false_moves_the_value(gateway):
    client = await gateway(
        proxy(
            "P",
            enrich('<source xpath="json-eval($.a)" clone="false"/>', '<target type="property" property="moved"/>')
            + '<header name="X-Moved" scope="transport" expression="json-eval($ctx:moved)"/>'
            "<respond/>",
        )
    )
    response = await client.post(
        "/services/P", data=b'{"a":{"x":1},"b":2}', headers={"Content-Type": "application/json"}
    )
    assert orjson.loads(response.headers["X-Moved"]) == {"x": 1}
    assert orjson.loads(await response.read()) == {"b": 2}


async def test_json_remove_from_body_and_property(gateway):
    seq = (
        '<property name="p" type="JSON" value=\'{"k":1,"drop":2}\'/>'
        + enrich('<source xpath="json-eval($.secret,$.items[0])"/>', '<target type="body" action="remove"/>')
        + enrich('<source xpath="json-eval($.drop)"/>', '<target type="property" property="p" action="remove"/>')
        + '<header name="X-P" scope="transport" expression="json-eval($ctx:p)"/><respond/>'
    )
    client = await gateway(proxy("P", seq))
    response = await client.post(
        "/services/P",
        data=b'{"secret":"s","items":[1,2],"keep":true}',
        headers={"Content-Type": "application/json"},
    )
    assert orjson.loads(await response.read()) == {"items": [2], "keep": True}
    assert orjson.loads(response.headers["X-P"]) == {"k": 1}


async def test_json_text_into_an_xml_body_becomes_the_json_payload(gateway):
    client = await gateway(
        proxy(
            "P",
            '<property name="j" value=\'{"from":"property"}\'/>'
            + enrich('<source type="property" property="j"/>', '<target type="body"/>')
            + '<property name="messageType" value="application/json" scope="axis2"/>'
            "<respond/>",
        )
    )
    response = await client.post("/services/P", data=b"<old/>", headers={"Content-Type": "application/xml"})
    assert orjson.loads(await response.read()) == {"from": "property"}


async def test_xpath_enrich_on_a_json_payload_works_on_the_infoset(gateway):
    client = await gateway(proxy("P", enrich('<source xpath="//b"/>', '<target xpath="//a"/>') + "<respond/>"))
    assert orjson.loads((await post_json(client, "P", b'{"a":1,"b":"2"}'))[1]) == {"b": [2, 2]}


# -- deploy-time validation -----------------------------------------------------------------------


async def test_type_combinations_and_attributes_are_validated_at_deploy(gateway):
    bad = {
        "EnvToBody": ('<source type="envelope"/>', '<target type="body"/>'),
        "EnvToCustom": ('<source type="envelope"/>', '<target xpath="//a"/>'),
        "BodyToBody": ('<source type="body"/>', '<target type="body"/>'),
        "BodyToEnv": ('<source type="body"/>', '<target type="envelope"/>'),
        "CustomToEnv": ('<source xpath="//a"/>', '<target type="envelope"/>'),
        "InlineTarget": ('<source xpath="//a"/>', '<target type="inline"/>'),
        "RemoveBodySource": (
            '<source type="body"/>',
            '<target type="property" property="p" action="remove"/>',
        ),
        "RemoveCustomTarget": ('<source xpath="//a"/>', '<target xpath="//b" action="remove"/>'),
        "EnvAction": ('<source type="property" property="p"/>', '<target type="envelope" action="child"/>'),
        "BadType": ('<source type="bodyy"/>', '<target type="property" property="p"/>'),
        "BadAction": ('<source xpath="//a"/>', '<target xpath="//b" action="append"/>'),
        "NoXPath": ("<source/>", '<target type="property" property="p"/>'),
        "NoProperty": ('<source type="property"/>', '<target type="body"/>'),
        "NoInline": ('<source type="inline"/>', '<target type="body"/>'),
        "KeyTarget": ('<source xpath="//a"/>', '<target type="key" xpath="json-eval($.a)"/>'),
        "Variable": ('<source type="variable"/>', '<target type="body"/>'),
        "JsonRootReplace": ('<source type="inline">{}</source>', '<target xpath="json-eval($.)"/>'),
        "JsonSibling": (
            '<source type="inline">{}</source>',
            '<target xpath="json-eval($.a)" action="sibling"/>',
        ),
        "BadClone": ('<source xpath="//a" clone="maybe"/>', '<target type="body"/>'),
    }
    files = {}
    for name, (source, target) in bad.items():
        files.update(proxy(name, enrich(source, target)))
    client = await gateway(files)
    reasons = {e.location.path.rsplit("/", 1)[-1][:-4]: f"{e.reason} ({e.hint})" for e in client.config.failed}
    assert set(reasons) == set(bad)
    for name in ("EnvToBody", "EnvToCustom", "BodyToBody", "BodyToEnv", "CustomToEnv"):
        assert reasons[name].startswith("Wrong combination of source and target type"), name
    assert "Inline not support for target attribute" in reasons["InlineTarget"]
    assert "source type and target action" in reasons["RemoveBodySource"]
    assert "target type and target action" in reasons["RemoveCustomTarget"]
    assert "only supports replace" in reasons["EnvAction"]
    assert "Unexpected source type 'bodyy'" in reasons["BadType"] and "did you mean 'body'" in reasons["BadType"]
    assert "Unexpected target action 'append'" in reasons["BadAction"]
    assert "xpath attribute is required for CUSTOM type" in reasons["NoXPath"]
    assert "property attribute is required for PROPERTY type" in reasons["NoProperty"]
    assert "XML element is required for INLINE type" in reasons["NoInline"]
    assert "not supported yet" in reasons["KeyTarget"] and "not supported yet" in reasons["Variable"]
    assert "root path" in reasons["JsonRootReplace"]
    assert "sibling is not supported" in reasons["JsonSibling"]
    assert "true or false" in reasons["BadClone"]


async def test_json_paths_are_normalised_like_json_eval(gateway):
    """Enrich compiles its JSONPaths with json-eval's front: a quoted key holding `.[` is a key, not Jayway's
    `.[` spelling (the old regex normaliser rewrote `$['a.[x]']` into `$['a[x]']`, which matched nothing and
    faulted). Writes go through JSON Pointers, so keys holding '/' or '~' are found too."""
    seq = (
        enrich("""<source xpath="json-eval($['a.[x]'])"/>""", """<target xpath="json-eval($['b.[y]'])"/>""")
        + enrich(
            """<source xpath="json-eval($['a.[x]'].v)"/>""", """<target xpath="json-eval($['x/~y'])" action="child"/>"""
        )
        + enrich("""<source xpath="json-eval($['c.[z]'],$['d)'])"/>""", '<target type="body" action="remove"/>')
        + '<header name="X-A" scope="transport" expression="json-eval($[\'a.[x]\'].v)"/><respond/>'
    )
    client = await gateway(proxy("P", seq))
    response = await client.post(
        "/services/P",
        data=b'{"a.[x]":{"v":1},"b.[y]":0,"x/~y":[0],"c.[z]":3,"d)":4}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 200, await response.text()
    assert response.headers["X-A"] == "1"
    assert orjson.loads(await response.read()) == {"a.[x]": {"v": 1}, "b.[y]": {"v": 1}, "x/~y": [0, 1]}


async def test_json_child_merges_an_object_and_keeps_numbers_as_sent(gateway):
    seq = (
        enrich(
            '<source type="inline">{"n":1.50,"m":{"k":true}}</source>',
            '<target xpath="json-eval($.o)" action="child"/>',
        )
        + "<respond/>"
    )
    client = await gateway(proxy("P", seq))
    response = await client.post(
        "/services/P", data=b'{"o":{"a":1e5},"z":[]}', headers={"Content-Type": "application/json"}
    )
    assert await response.read() == b'{"o":{"a":1e5,"n":1.50,"m":{"k":true}},"z":[]}'
