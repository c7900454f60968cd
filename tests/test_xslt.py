"""xslt (W: XSLTMediator, XSLTMediatorFactory): stylesheets from local entries and the registry, compiled once,
XSLT 1.0 on libxslt and 2.0/3.0 on Saxon, parameters, source/target, resources; Apache sample 8."""

from __future__ import annotations

import re

from lxml import etree

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SYNAPSE_NS = "http://ws.apache.org/ns/synapse"


def entry(key: str, body: str) -> str:
    return f'<localEntry xmlns="http://ws.apache.org/ns/synapse" key="{key}">{body}</localEntry>'


def proxy(name: str, in_sequence: str) -> str:
    return (
        f'<proxy xmlns="http://ws.apache.org/ns/synapse" name="{name}"><target><inSequence>{in_sequence}'
        "<respond/></inSequence></target></proxy>"
    )


def stylesheet(version: str, template: str, extra: str = "") -> str:
    """xmlns="": inside a local entry, literal result elements would be in the Synapse namespace (as in MI)."""
    return (
        f'<xsl:stylesheet version="{version}" xmlns="" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">{extra}'
        f'<xsl:template match="/">{template}</xsl:template></xsl:stylesheet>'
    )


def envelope(body: str) -> str:
    return f'<soapenv:Envelope xmlns:soapenv="{SOAP11}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'


async def post_soap(client, path: str, body: str):
    response = await client.post(path, data=envelope(body), headers={"Content-Type": "text/xml", "SOAPAction": "urn:x"})
    return response.status, etree.fromstring(await response.read())


def body_child(reply: etree._Element) -> etree._Element:
    return reply.find(f"{{{SOAP11}}}Body")[0]


async def test_xslt_1_0_with_parameters_runs_on_libxslt(gateway):
    client = await gateway(
        {
            "local-entries/ss.xml": entry(
                "ss",
                stylesheet(
                    "1.0",
                    '<out p="{$p}" q="{$q}"><xsl:value-of select="/order/name"/></out>',
                    '<xsl:param name="p"/><xsl:param name="q"/>',
                ),
            ),
            "proxies/P.xml": proxy(
                "P", '<xslt key="ss"><property name="p" expression="//qty"/><property name="q" value="lit"/></xslt>'
            ),
        }
    )
    status, reply = await post_soap(client, "/services/P", "<order><name>pen</name><qty>3</qty></order>")
    assert status == 200
    out = body_child(reply)
    assert (out.tag, out.text, out.get("p"), out.get("q")) == ("out", "pen", "3", "lit")
    compiled = [value for (kind, _key, _res), value in client.config.compiled.items() if kind == "xslt"]
    assert [type(value).__name__ for value in compiled] == ["LxmlStylesheet"]


async def test_xslt_2_0_runs_on_saxon(gateway):
    client = await gateway(
        {
            "local-entries/ss.xml": entry(
                "ss2", stylesheet("2.0", '<out><xsl:value-of select="upper-case(/order/name)"/></out>')
            ),
            "proxies/P.xml": proxy("P", '<xslt key="ss2"/>'),
        }
    )
    status, reply = await post_soap(client, "/services/P", "<order><name>pen</name></order>")
    assert status == 200
    assert body_child(reply).text == "PEN"  # upper-case() is XPath 2.0: libxslt would fail
    assert type(client.config.compiled[("xslt", "ss2", ())]).__name__ == "SaxonStylesheet"


# -- Apache sample 8: a custom request transformed for the stock quote service and its answer back ---------------
CUSTOM_NS = "http://www.apache-synapse.org/test"
SAMPLE_8_REQUEST_XSLT = """<?xml version="1.0" encoding="ISO-8859-1"?>
<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:fn="http://www.w3.org/2005/02/xpath-functions" xmlns:m0="http://www.apache-synapse.org/test"
    exclude-result-prefixes="m0 fn">
<xsl:output method="xml" omit-xml-declaration="yes" indent="yes"/>
<xsl:template match="/"><xsl:apply-templates select="//m0:CheckPriceRequest"/></xsl:template>
<xsl:template match="m0:CheckPriceRequest">
<m:getQuote xmlns:m="http://services.samples/xsd"><m:request><m:symbol><xsl:value-of select="m0:Code"/></m:symbol>
</m:request></m:getQuote>
</xsl:template>
</xsl:stylesheet>
"""
SAMPLE_8_RESPONSE_XSLT = """<?xml version="1.0" encoding="ISO-8859-1"?>
<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:fn="http://www.w3.org/2005/02/xpath-functions" xmlns:m0="http://services.samples/xsd"
    exclude-result-prefixes="m0 fn">
<xsl:output method="xml" omit-xml-declaration="yes" indent="yes"/>
<xsl:template match="/"><xsl:apply-templates select="//*[local-name()='return']"/></xsl:template>
<xsl:template match="*[local-name()='return']">
<m:CheckPriceResponse xmlns:m="http://www.apache-synapse.org/test">
<m:Code><xsl:value-of select="m0:symbol"/></m:Code><m:Price><xsl:value-of select="m0:last"/></m:Price>
</m:CheckPriceResponse>
</xsl:template>
</xsl:stylesheet>
"""


async def test_apache_sample_8_transforms_the_request_and_the_reply(gateway, stockquote, tmp_path):
    """Sample 8: `xslt-key-req` is a local entry read from a file (src), the reply's stylesheet is the registry
    resource `transform/transform_back.xslt`; the client sends CheckPriceRequest and gets CheckPriceResponse.
    The sample's stylesheets, except that `m0:return` is matched by local name: the stand-in answers as Axis2 1.7
    does (the `return` element in the service's namespace, its fields in the /xsd one), the sample predates it."""
    from tests.support.stockquote import XSD_NS

    service = await stockquote(types_ns=XSD_NS)
    request_xslt = tmp_path / "transform.xslt"
    request_xslt.write_text(SAMPLE_8_REQUEST_XSLT, encoding="utf-8")
    client = await gateway(
        {
            "local-entries/xslt-key-req.xml": '<localEntry xmlns="http://ws.apache.org/ns/synapse" '
            f'key="xslt-key-req" src="file:{request_xslt}"/>',
            "registry/governance/transform/transform_back.xslt": SAMPLE_8_RESPONSE_XSLT,
            "proxies/Sample8.xml": f"""
                <proxy xmlns="http://ws.apache.org/ns/synapse" name="Sample8"><target>
                  <inSequence><xslt key="xslt-key-req"/>
                    <send><endpoint><address uri="{service.url}"/></endpoint></send></inSequence>
                  <outSequence><xslt key="transform/transform_back.xslt"/><send/></outSequence>
                </target></proxy>""",
        }
    )
    assert client.config.dangling == ()
    status, reply = await post_soap(
        client,
        "/services/Sample8",
        f'<m0:CheckPriceRequest xmlns:m0="{CUSTOM_NS}"><m0:Code>IBM</m0:Code></m0:CheckPriceRequest>',
    )
    assert status == 200
    answer = body_child(reply)
    assert answer.tag == f"{{{CUSTOM_NS}}}CheckPriceResponse"
    assert answer.findtext(f"{{{CUSTOM_NS}}}Code") == "IBM"
    assert re.fullmatch(r"-?[0-9]+\.[0-9]+(E-?[0-9]+)?", answer.findtext(f"{{{CUSTOM_NS}}}Price"))  # the last price
    sent = etree.fromstring(service.requests[-1].body)
    assert sent.find(f".//{{{XSD_NS}}}symbol").text == "IBM"  # the service got a standard getQuote
    kinds = {key: type(value).__name__ for (_kind, key, _res), value in client.config.compiled.items()}
    assert kinds == {"xslt-key-req": "SaxonStylesheet", "transform/transform_back.xslt": "SaxonStylesheet"}


async def test_source_target_text_output_and_dynamic_keys(gateway):
    """`source` picks the node that is replaced; `target` stores the result in a property instead; a text result
    is wrapped in MI's text element; a {dynamic} key is compiled on first use and kept."""
    client = await gateway(
        {
            "local-entries/upper.xml": entry(
                "upper", stylesheet("2.0", '<b><xsl:value-of select="upper-case(/a)"/></b>')
            ),
            "local-entries/text.xml": entry(
                "text", stylesheet("1.0", "<xsl:value-of select=\"concat('n=', /b)\"/>", '<xsl:output method="text"/>')
            ),
            "proxies/P.xml": proxy(
                "P",
                """<xslt key="upper" source="//item/a"/>
                   <xslt key="text" source="//item/b" target="asText"/>
                   <property name="transform.xslt.result.disableBuild" value="true"/>
                   <xslt key="upper" source="//other/a" target="asString"/>
                   <property name="transform.xslt.result.disableBuild" action="remove"/>
                   <property name="which" expression="//which"/>
                   <xslt key="{get-property('which')}" source="//other/a"/>
                   <payloadFactory><format><r><items>$1</items><stored>$2</stored><asString>$3</asString></r></format>
                     <args><arg expression="//item"/><arg expression="get-property('asText')"/>
                       <arg expression="get-property('asString')" literal="true"/></args>
                   </payloadFactory>""",
            ),
        }
    )
    status, reply = await post_soap(
        client, "/services/P", "<in><item><a>x</a></item><other><a>y</a></other><which>upper</which></in>"
    )
    assert status == 200
    result = body_child(reply)
    items = result.find("{*}items/{*}item")  # the format's elements are in the proxy's namespace
    assert [(etree.QName(node).localname, node.text) for node in items.iter()] == [("item", None), ("b", "X")]
    assert result.findtext(f"{{{SYNAPSE_NS}}}stored") == "n=X"  # the text result, stored in a property
    assert result.findtext(f"{{{SYNAPSE_NS}}}asString") == "<b>Y</b>"  # disableBuild: the result as a string
    assert ("xslt", "upper", ()) in client.config.compiled  # the dynamic key reused the static compilation


async def test_xsl_include_resolves_through_resources_only(gateway):
    client = await gateway(
        {
            "local-entries/lib.xml": entry(
                "lib",
                '<xsl:stylesheet version="1.0" xmlns="" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
                '<xsl:template name="greet"><hello/></xsl:template></xsl:stylesheet>',
            ),
            "local-entries/main.xml": entry(
                "main",
                stylesheet("1.0", '<out><xsl:call-template name="greet"/></out>', '<xsl:include href="lib.xsl"/>'),
            ),
            "local-entries/leaky.xml": entry(
                "leaky", stylesheet("1.0", "<out><xsl:copy-of select=\"document('file:///etc/hostname')\"/></out>")
            ),
            "proxies/P.xml": proxy("P", '<xslt key="main"><resource location="lib.xsl" key="lib"/></xslt>'),
            "proxies/Unmapped.xml": proxy("Unmapped", '<xslt key="main"/>'),
            "proxies/Leaky.xml": proxy("Leaky", '<xslt key="leaky"/>'),
        }
    )
    status, reply = await post_soap(client, "/services/P", "<a/>")
    assert status == 200 and [node.tag for node in body_child(reply).iter()] == ["out", "hello"]
    problems = [str(problem) for problem in client.config.dangling]
    assert len(problems) == 1 and "xslt 'main' does not compile" in problems[0] and "<resource" in problems[0]
    status, reply = await post_soap(client, "/services/Unmapped", "<a/>")
    assert status == 500
    status, reply = await post_soap(client, "/services/Leaky", "<a/>")
    assert status == 500 and b"read rights" in etree.tostring(reply)  # document() may not read files


async def test_saxon_may_not_read_or_write_files(gateway, tmp_path):
    written = tmp_path / "written.txt"
    client = await gateway(
        {
            "local-entries/read.xml": entry(
                "read", stylesheet("2.0", "<out><xsl:value-of select=\"unparsed-text('file:///etc/hostname')\"/></out>")
            ),
            "local-entries/write.xml": entry(
                "write",
                stylesheet("3.0", f'<xsl:result-document href="file://{written}">x</xsl:result-document><out/>'),
            ),
            "proxies/Read.xml": proxy("Read", '<xslt key="read"/>'),
            "proxies/Write.xml": proxy("Write", '<xslt key="write"/>'),
        }
    )
    status, reply = await post_soap(client, "/services/Read", "<a/>")
    assert status == 500 and b"prohibited" in etree.tostring(reply)
    for _ in range(3):
        status, reply = await post_soap(client, "/services/Write", "<a/>")
        assert status == 200 and body_child(reply).tag == "out"
    assert not written.exists()
    captured = client.config.compiled[("xslt", "write", ())].executable.get_result_documents()
    assert len(captured) == 1  # only the last run's: captured documents do not pile up


async def test_a_json_message_is_transformed_as_its_xml_form(gateway):
    client = await gateway(
        {
            "local-entries/ss.xml": entry(
                "ss", stylesheet("1.0", '<total><xsl:value-of select="sum(//price)"/></total>')
            ),
            "proxies/P.xml": proxy("P", '<xslt key="ss"/>'),  # messageType stays JSON: the reply is JSON
        }
    )
    response = await client.post("/services/P", json={"order": {"price": [1.5, 2.5]}})
    assert response.status == 200
    assert await response.json() == {"total": 4}


def test_mi_factory_errors(tmp_path):
    from gateway.deploy.loader import load

    root = tmp_path / "a"
    (root / "proxies").mkdir(parents=True)
    (root / "proxies" / "P.xml").write_text(
        proxy(
            "P",
            '<xslt/><xslt key="k"><feature name="x" value="yes"/></xslt>'
            '<xslt key="k"><property name="p"/></xslt><xslt key="k"><resource key="x"/></xslt>',
        )
    )
    reasons = [problem.reason for problem in load(root).failed]
    assert "The 'key' attribute is required for the XSLT mediator" in reasons
    assert "The feature must have value true or false" in reasons
    assert "A property must have either a 'value' or an 'expression' attribute" in reasons
    assert "The 'location' attribute is required for a resource definition" in reasons


async def test_a_changed_stylesheet_is_recompiled_on_hot_deployment(aiohttp_client, tmp_path):
    """The compiled stylesheets belong to the configuration: a reload after the local entry changes serves the
    new one (the proxy's file did not change)."""
    from gateway.connector import ConnectorRegistry
    from gateway.deploy.hotdeploy import HotDeployer
    from gateway.runtime.state import RuntimeState
    from gateway.settings import Settings
    from gateway.transport.control import Hub
    from gateway.transport.server import create_app
    from tests.conftest import write_artifacts

    def versioned(word: str) -> str:
        return entry("ss", stylesheet("1.0", f"<out>{word}</out>")) + " " * len(word)  # another size each time

    root = write_artifacts(
        tmp_path / "artifacts",
        {"local-entries/ss.xml": versioned("one"), "proxies/P.xml": proxy("P", '<xslt key="ss"/>')},
    )
    settings = Settings(artifacts=root)
    registry = ConnectorRegistry.discover()
    deployer = HotDeployer(root, settings, registry)
    state = RuntimeState(deployer.load())
    client = await aiohttp_client(create_app(settings, state.config, registry, state))
    hub = Hub(state, deployer, settings)
    _, reply = await post_soap(client, "/services/P", "<a/>")
    assert body_child(reply).text == "one"
    (root / "local-entries" / "ss.xml").write_text(versioned("three"), encoding="utf-8")
    await hub.reload()
    _, reply = await post_soap(client, "/services/P", "<a/>")
    assert body_child(reply).text == "three"


async def test_saxon_imports_resolve_through_resources_only(gateway):
    """An XSLT 2.0 stylesheet's xsl:import (lower precedence) and xsl:include, nested, come from the entries the
    <resource>s map; an unmapped one is a deploy problem."""
    lib = (
        '<xsl:stylesheet version="2.0" xmlns="" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        '<xsl:include href="deep.xsl"/><xsl:template match="/"><shadowed/></xsl:template>'
        '<xsl:template name="t"><lib><xsl:call-template name="deep"/></lib></xsl:template></xsl:stylesheet>'
    )
    deep = (
        '<xsl:stylesheet version="2.0" xmlns="" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        '<xsl:template name="deep"><deep/></xsl:template></xsl:stylesheet>'
    )
    client = await gateway(
        {
            "local-entries/lib.xml": entry("lib", lib),
            "registry/governance/xsl/deep.xsl": deep,
            "local-entries/main.xml": entry(
                "main", stylesheet("2.0", '<out><xsl:call-template name="t"/></out>', '<xsl:import href="lib.xsl"/>')
            ),
            "proxies/P.xml": proxy(
                "P",
                '<xslt key="main"><resource location="lib.xsl" key="lib"/>'
                '<resource location="deep.xsl" key="gov:/xsl/deep.xsl"/></xslt>',
            ),
            "proxies/Unmapped.xml": proxy(
                "Unmapped", '<xslt key="main"><resource location="lib.xsl" key="lib"/></xslt>'
            ),
        }
    )
    status, reply = await post_soap(client, "/services/P", "<a/>")
    assert status == 200 and [node.tag for node in body_child(reply).iter()] == ["out", "lib", "deep"]
    problems = [str(problem) for problem in client.config.dangling]
    assert len(problems) == 1 and 'href="deep.xsl"> is not mapped' in problems[0]


async def test_fast_xslt_runs_every_stylesheet_on_saxon(gateway):
    """carbon-mediation's fastXSLT: a 1.0 stylesheet too runs on Saxon (so XPath 2.0 functions work)."""
    client = await gateway(
        {
            "local-entries/ss.xml": entry(
                "ss", stylesheet("1.0", '<out><xsl:value-of select="upper-case(/a)"/></out>')
            ),
            "proxies/P.xml": proxy("P", '<fastXSLT key="ss"/>'),
        }
    )
    status, reply = await post_soap(client, "/services/P", "<a>fast</a>")
    assert status == 200 and body_child(reply).text == "FAST"
    assert type(client.config.compiled[("fastxslt", "ss", ())]).__name__ == "SaxonStylesheet"


async def test_a_body_source_takes_the_results_children(gateway):
    """W: XSLTMediator: when the source is the Body, the Body's children become the result's children."""
    client = await gateway(
        {
            "local-entries/ss.xml": entry(
                "ss",
                stylesheet(
                    "1.0",
                    '<wrapper><count><xsl:value-of select="count(/*/*)"/></count><first><xsl:value-of '
                    'select="local-name(/*/*[1])"/></first></wrapper>',
                ),
            ),
            "proxies/P.xml": proxy("P", '<xslt key="ss" source="$body"/>'),
        }
    )
    status, reply = await post_soap(client, "/services/P", "<a/><b/>")
    body = reply.find(f"{{{SOAP11}}}Body")
    assert status == 200 and [(child.tag, child.text) for child in body] == [("count", "2"), ("first", "a")]
