"""payloadFactory: formats, arguments, media types and the jinja2 extension (docs/synapse-semantics.md §5.6;
docs/conformance.md C-PF*)."""

from __future__ import annotations

import logging

import orjson
from lxml import etree

from gateway.mediators.payload_factory import compile_template

S = 'xmlns="http://ws.apache.org/ns/synapse"'
SYNAPSE = "http://ws.apache.org/ns/synapse"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"


def proxy(name: str, in_sequence: str) -> dict[str, str]:
    return {
        f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target><inSequence>{in_sequence}</inSequence>'
        "</target></proxy>"
    }


def pf(format_: str, args: str = "", media: str = "xml", extra: str = "") -> str:
    args_xml = f"<args>{args}</args>" if args else ""
    return f'<payloadFactory media-type="{media}" {extra}><format>{format_}</format>{args_xml}</payloadFactory>'


async def post(client, name: str, body: bytes = b"<a/>", ctype: str = "application/xml", **headers):
    response = await client.post(f"/services/{name}", data=body, headers={"Content-Type": ctype, **headers})
    return response.status, response.headers.get("Content-Type", ""), await response.read()


# -- XML formats ----------------------------------------------------------------------------------


async def test_xml_format_inherits_the_synapse_namespace_unless_xmlns_empty(gateway):
    client = await gateway(
        {
            **proxy("Inherit", pf("<r><v>1</v></r>") + "<respond/>"),
            **proxy("Empty", pf('<r xmlns=""><v>1</v></r>') + "<respond/>"),
            **proxy("Prefixed", pf('<m:r xmlns:m="urn:m"><v>1</v><m:w xmlns="">2</m:w></m:r>') + "<respond/>"),
        }
    )
    root = etree.fromstring((await post(client, "Inherit"))[2])
    assert root.tag == f"{{{SYNAPSE}}}r" and root[0].tag == f"{{{SYNAPSE}}}v"  # MI's well-known surprise
    root = etree.fromstring((await post(client, "Empty"))[2])
    assert root.tag == "r" and root[0].tag == "v"
    root = etree.fromstring((await post(client, "Prefixed"))[2])
    assert [c.tag for c in root] == [f"{{{SYNAPSE}}}v", "{urn:m}w"]


async def test_xml_format_indentation_is_removed(gateway):
    client = await gateway(
        proxy("P", pf('\n  <r xmlns="">\n    <v>$1</v>\n  </r>\n', '<arg value="x"/>') + "<respond/>")
    )
    root = etree.fromstring((await post(client, "P"))[2])
    assert root.text is None and root[0].tail is None and root.findtext("v") == "x"


async def test_xml_string_args_are_escaped_and_null_is_empty(gateway):
    client = await gateway(
        proxy(
            "P",
            pf(
                '<r xmlns="" a="$2"><v>$1</v><n>$3</n></r>',
                '<arg expression="//q"/><arg value="say &quot;hi&quot; &amp; go"/>'
                "<arg expression=\"get-property('nope')\"/>",
            )
            + "<respond/>",
        )
    )
    status, _, body = await post(client, "P", b"<q>a &lt; b &amp; c</q>")
    root = etree.fromstring(body)
    assert root.findtext("v") == "a < b & c"
    assert root.get("a") == 'say "hi" & go'
    assert root.findtext("n") == ""


async def test_xml_looking_arg_is_inserted_as_xml_unless_literal(gateway):
    args = '<arg expression="//item"/><arg expression="//item" literal="true"/>'
    client = await gateway(proxy("P", pf('<r xmlns=""><x>$1</x><t>$2</t></r>', args) + "<respond/>"))
    root = etree.fromstring((await post(client, "P", b"<in><item><n>1</n></item></in>"))[2])
    assert root.find("x/item/n").text == "1"
    assert root.findtext("t") == "<item><n>1</n></item>"  # literal: text, escaped


async def test_several_xml_nodes_are_inserted_as_xml(gateway):
    client = await gateway(proxy("P", pf('<r xmlns="">$1</r>', '<arg expression="//i"/>') + "<respond/>"))
    root = etree.fromstring((await post(client, "P", b"<in><i>1</i><i>2</i></in>"))[2])
    assert [i.text for i in root] == ["1", "2"]


async def test_json_evaluated_arg_in_an_xml_format_is_converted_to_xml(gateway):
    args = '<arg evaluator="json" expression="$.order"/><arg evaluator="json" expression="json-eval($.name)"/>'
    client = await gateway(proxy("P", pf('<r xmlns=""><o>$1</o><n>$2</n></r>', args) + "<respond/>"))
    status, ctype, body = await post(
        client,
        "P",
        b'{"order":{"id":7,"lines":[1,2]},"name":"a<b"}',
        "application/json",
        Accept="application/xml",
    )
    root = etree.fromstring(body)
    assert root.findtext("o/id") == "7" and [x.text for x in root.findall("o/lines")] == ["1", "2"]
    assert root.findtext("n") == "a<b"


async def test_xml_format_that_is_a_soap_envelope_replaces_the_envelope(gateway):
    envelope = (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP11}"><soapenv:Header><h xmlns="urn:h">$1</h>'
        '</soapenv:Header><soapenv:Body><b xmlns="urn:b">ok</b></soapenv:Body></soapenv:Envelope>'
    )
    client = await gateway(proxy("P", pf(envelope, '<arg value="hv"/>') + "<respond/>"))
    status, _, body = await post(
        client, "P", f'<e:Envelope xmlns:e="{SOAP11}"><e:Body><x/></e:Body></e:Envelope>'.encode(), "text/xml"
    )
    root = etree.fromstring(body)
    assert root.findtext(f"{{{SOAP11}}}Header/{{urn:h}}h") == "hv"
    assert root.findtext(f"{{{SOAP11}}}Body/{{urn:b}}b") == "ok"


async def test_soap_headers_of_the_message_are_kept(gateway):
    client = await gateway(proxy("P", pf('<r xmlns="">new</r>') + "<respond/>"))
    request = (
        f'<e:Envelope xmlns:e="{SOAP11}"><e:Header><h xmlns="urn:h">keep</h></e:Header><e:Body><x/></e:Body>'
        "</e:Envelope>"
    )
    root = etree.fromstring((await post(client, "P", request.encode(), "text/xml"))[2])
    assert root.findtext(f"{{{SOAP11}}}Header/{{urn:h}}h") == "keep"
    assert root.findtext(f"{{{SOAP11}}}Body/r") == "new"


# -- JSON formats ---------------------------------------------------------------------------------


async def test_json_format_quoting_decides_the_type_and_strings_are_escaped(gateway):
    fmt = '{"s": "$1", "n": $2, "raw": $3, "q": "$4"}'
    args = '<arg expression="//s"/><arg expression="//n"/><arg expression="//n"/><arg expression="//q"/>'
    client = await gateway(proxy("P", pf(fmt, args, "json") + "<respond/>"))
    status, ctype, body = await post(client, "P", b'<in><s>12</s><n>4.50</n><q>say "hi"\n\\ ok</q></in>')
    assert ctype.startswith("application/json")
    assert orjson.loads(body) == {"s": "12", "n": 4.5, "raw": 4.5, "q": 'say "hi"\n\\ ok'}
    assert b'"n": 4.50' in body  # the format's text is kept as written


async def test_json_format_xml_arg_is_converted_unless_literal(gateway):
    fmt = '{"pet": $1, "text": "$2"}'
    args = '<arg expression="//pet"/><arg expression="//pet" literal="true"/>'
    client = await gateway(proxy("P", pf(fmt, args, "json") + "<respond/>"))
    body = (await post(client, "P", b"<in><pet><name>John</name><age>5</age></pet></in>"))[2]
    assert orjson.loads(body) == {
        "pet": {"pet": {"name": "John", "age": 5}},
        "text": "<pet><name>John</name><age>5</age></pet>",
    }


async def test_json_evaluator_object_arg_is_inserted_as_json(gateway):
    fmt = '{"items": $1, "first": "$2", "count": $3}'
    args = (
        '<arg evaluator="json" expression="$.items"/><arg evaluator="json" expression="$.items[0].name"/>'
        '<arg evaluator="json" expression="json-eval($.items.length())"/>'
    )
    client = await gateway(proxy("P", pf(fmt, args, "json") + "<respond/>"))
    body = (await post(client, "P", b'{"items":[{"name":"a\\"b"},{"name":"c"}]}', "application/json"))[2]
    assert orjson.loads(body) == {"items": [{"name": 'a"b'}, {"name": "c"}], "first": 'a"b', "count": 2}


async def test_static_value_is_xml_escaped_even_in_a_json_format(gateway):
    """W: TemplateProcessor XML-escapes static `value` args whatever the media type (an MI quirk)."""
    client = await gateway(
        proxy(
            "P",
            pf('{"v": "$1", "e": "$2"}', '<arg value="a &amp; b"/><arg expression="\'a &amp; b\'"/>', "json")
            + "<respond/>",
        )
    )
    assert orjson.loads((await post(client, "P"))[2]) == {"v": "a &amp; b", "e": "a & b"}


async def test_quote_string_in_payload_factory_json(gateway):
    seq = (
        '<property name="QUOTE_STRING_IN_PAYLOAD_FACTORY_JSON" value="true"/>'
        + pf(
            '{"a": $1, "b": $2, "c": $3, "d": $4}',
            '<arg value="text"/><arg value="12"/><arg value="true"/><arg value="null"/>',
            "json",
        )
        + "<respond/>"
    )
    client = await gateway(proxy("P", seq))
    assert orjson.loads((await post(client, "P"))[2]) == {"a": "text", "b": 12, "c": True, "d": None}


async def test_invalid_json_result_is_a_mediation_fault(gateway):
    client = await gateway(proxy("P", pf('{"a": $1}', '<arg value="not json"/>', "json") + "<respond/>"))
    status, ctype, body = await post(client, "P", b"{}", "application/json")
    assert status == 500
    assert "Error creating JSON Payload" in orjson.loads(body)["error"]["message"]


# -- text, keys, messageType ----------------------------------------------------------------------


async def test_text_media_type(gateway):
    client = await gateway(proxy("P", pf("Hello $1!", '<arg expression="//n"/>', "text") + "<respond/>"))
    status, ctype, body = await post(client, "P", b"<p><n>Ann &amp; Bob</n></p>")
    assert ctype.startswith("text/plain") and body == b"Hello Ann & Bob!"


async def test_format_key_names_a_local_entry_and_may_be_dynamic(gateway):
    client = await gateway(
        {
            "local-entries/xmlFormat.xml": f'<localEntry {S} key="xmlFormat"><r xmlns="">\n  <v>$1</v>\n</r>'
            "</localEntry>",
            "local-entries/jsonFormat.xml": f'<localEntry {S} key="jsonFormat">{{"v": "$1"}}</localEntry>',
            **proxy(
                "Xml",
                '<payloadFactory><format key="xmlFormat"/><args><arg value="1"/></args></payloadFactory><respond/>',
            ),
            **proxy(
                "Json",
                '<payloadFactory media-type="json"><format key="{//key}"/><args><arg value="2"/></args>'
                "</payloadFactory><respond/>",
            ),
            **proxy("Missing", '<payloadFactory><format key="nope"/></payloadFactory><respond/>'),
        }
    )
    root = etree.fromstring((await post(client, "Xml"))[2])
    assert root.tag == "r" and root.text is None and root.findtext("v") == "1"
    assert orjson.loads((await post(client, "Json", b"<a><key>jsonFormat</key></a>"))[2]) == {"v": "2"}
    status, _, body = await post(client, "Missing")
    assert status == 500 and b"Key nope not found" in body


async def test_message_type_switch_rules(gateway):
    client = await gateway(
        {
            **proxy("Json", pf('{"a": 1}', media="json") + "<respond/>"),
            **proxy("Text", pf("t", media="text") + "<respond/>"),
            **proxy("Xml", pf('<r xmlns=""/>') + "<respond/>"),
        }
    )
    assert (await post(client, "Json", b"<a/>"))[1].startswith("application/json")
    assert (await post(client, "Text", b"{}", "application/json"))[1].startswith("text/plain")
    # xml: a JSON message becomes application/xml; an XML/SOAP one keeps its type
    assert (await post(client, "Xml", b"{}", "application/json"))[1].startswith("application/xml")
    assert (await post(client, "Xml", b"<a/>", "application/xml"))[1].startswith("application/xml")
    soap = f'<e:Envelope xmlns:e="{SOAP11}"><e:Body/></e:Envelope>'.encode()
    assert (await post(client, "Xml", soap, "text/xml"))[1].startswith("text/xml")


async def test_no_entity_body_is_removed_for_a_get(gateway):
    client = await gateway(proxy("P", pf('{"ok": true}', media="json") + "<respond/>"))
    response = await client.get("/services/P")
    assert response.status == 200 and orjson.loads(await response.read()) == {"ok": True}


async def test_args_that_do_not_read_the_body_leave_it_unparsed(gateway):
    client = await gateway(proxy("P", pf('{"v": "$1"}', '<arg expression="$trp:X-Id"/>', "json") + "<respond/>"))
    status, _, body = await post(client, "P", b'{"broken": ', "application/json", **{"X-Id": "7"})
    assert status == 200 and orjson.loads(body) == {"v": "7"}


async def test_placeholder_mismatch_stops_substitution_and_is_logged(gateway, caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.deploy"):
        client = await gateway(
            proxy(
                "P",
                pf('<r xmlns=""><a>$1</a><b>$3</b><c>$2</c></r>', '<arg value="1"/><arg value="2"/>') + "<respond/>",
            )
        )
    assert "$3 has no matching argument" in caplog.text
    root = etree.fromstring((await post(client, "P"))[2])
    assert (root.findtext("a"), root.findtext("b"), root.findtext("c")) == ("1", "$3", "$2")


def test_template_is_pre_split_and_multi_digit_placeholders_name_arguments():
    template = compile_template('{"a": $1, "k": "$12"}', "json", 12)
    assert template.parts == ('{"a": ', 0, ', "k": "', 11, '"}')
    assert template.render(lambda i: str(i + 1)) == '{"a": 1, "k": "12"}'


# -- deploy-time validation -----------------------------------------------------------------------


async def test_deploy_errors_name_the_problem(gateway):
    bad = {
        "NoFormat": "<payloadFactory><args/></payloadFactory>",
        "NoArgType": pf("<r/>", "<arg/>"),
        "EmptyExpr": pf("<r/>", '<arg expression=" "/>'),
        "Media": pf("<r/>", media="yaml"),
        "Freemarker": pf("<r/>", extra='template-type="freemarker"'),
        "NoElement": pf("text only"),
        "KeyAndInline": '<payloadFactory><format key="k"><r/></format></payloadFactory>',
        "BadXPath": pf("<r/>", '<arg expression="//a["/>'),
        "BadEvaluator": pf("<r/>", '<arg expression="//a" evaluator="jsonpath"/>'),
    }
    files = {}
    for name, mediator in bad.items():
        files.update(proxy(name, mediator + "<respond/>"))
    client = await gateway(files)
    reasons = {e.location.path.rsplit("/", 1)[-1][:-4]: (e.reason, e.hint) for e in client.config.failed}
    assert reasons["NoFormat"][0] == "format element of payloadFactoryMediator is required"
    assert reasons["NoArgType"][0] == "Unsupported arg type. value or expression attribute required"
    assert reasons["EmptyExpr"][0] == "Attribute value for xpath cannot be empty"
    assert reasons["Media"][0] == "invalid media-type 'yaml'"
    assert "jinja2" in reasons["Freemarker"][1]
    assert reasons["NoElement"][0] == "an XML format needs an element"
    assert "either a 'key' or inline content" in reasons["KeyAndInline"][0]
    assert "invalid expression" in reasons["BadXPath"][0]
    assert "invalid evaluator" in reasons["BadEvaluator"][0]
    assert not client.config.proxies


# -- template-type="jinja2" (our extension) -------------------------------------------------------


async def test_jinja2_xml_template_reads_xpath_props_axis2_and_headers_and_escapes(gateway):
    template = (
        '<r xmlns=""><sym>{{ xpath("//m:symbol") }}</sym><p>{{ props.greeting }}</p>'
        "<m>{{ axis2.HTTP_METHOD }}</m><h>{{ headers['X-Id'] }}</h>"
        "{% for i in range(2) %}<i>{{ i }}</i>{% endfor %}</r>"
    )
    client = await gateway(
        proxy(
            "P",
            '<property name="greeting" value="a &lt; b"/>'
            f'<payloadFactory template-type="jinja2" xmlns:m="urn:m"><format>{template}'
            "</format></payloadFactory><respond/>",
        )
    )
    status, _, body = await post(client, "P", b'<q xmlns="urn:m"><symbol>IBM</symbol></q>', **{"X-Id": "9"})
    root = etree.fromstring(body)
    assert (root.findtext("sym"), root.findtext("p"), root.findtext("m"), root.findtext("h")) == (
        "IBM",
        "a < b",
        "POST",
        "9",
    )
    assert [i.text for i in root.findall("i")] == ["0", "1"]


async def test_jinja2_json_template_reads_the_payload(gateway):
    template = (
        '<![CDATA[{"total": {{ payload["items"] | map(attribute="price") | sum }}, '
        '"names": {{ payload["items"] | map(attribute="name") | list | tojson }}}]]>'
    )
    client = await gateway(
        proxy(
            "P",
            f'<payloadFactory media-type="json" template-type="jinja2"><format>{template}'
            "</format></payloadFactory><respond/>",
        )
    )
    body = (
        await post(client, "P", b'{"items":[{"name":"a","price":1.25},{"name":"b","price":2}]}', "application/json")
    )[2]
    assert orjson.loads(body) == {"total": 3.25, "names": ["a", "b"]}


async def test_jinja2_templates_are_sandboxed_and_checked_at_deploy(gateway):
    escape = "{{ props.__class__.__mro__ }}"
    client = await gateway(
        {
            **proxy(
                "Escape",
                f'<payloadFactory media-type="text" template-type="jinja2"><format>{escape}</format>'
                "</payloadFactory><respond/>",
            ),
            **proxy(
                "Syntax",
                '<payloadFactory media-type="text" template-type="jinja2"><format>{{ a </format>'
                "</payloadFactory><respond/>",
            ),
            **proxy(
                "BadXPath",
                '<payloadFactory media-type="text" template-type="jinja2"><format>{{ xpath("//a[") }}'
                "</format></payloadFactory><respond/>",
            ),
            **proxy(
                "Args",
                '<payloadFactory media-type="text" template-type="jinja2"><format>x</format>'
                '<args><arg value="1"/></args></payloadFactory><respond/>',
            ),
        }
    )
    reasons = {e.location.path.rsplit("/", 1)[-1][:-4]: e.reason for e in client.config.failed}
    assert "invalid jinja2 template" in reasons["Syntax"]
    assert "xpath('//a[')" in reasons["BadXPath"]
    assert "takes no <args>" in reasons["Args"]
    status, _, body = await post(client, "Escape")
    assert status == 500 and b"unsafe" in body  # the sandbox refuses dunder attributes
