"""xquery (W: XQueryMediator, XQueryMediatorFactory): queries from local entries run on Saxon, variables of
every type from literals, the message and entries, node and atomic results, target."""

from __future__ import annotations

from lxml import etree

from gateway.deploy.loader import load

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SYNAPSE = "http://ws.apache.org/ns/synapse"


def envelope(body: str) -> str:
    return f'<soapenv:Envelope xmlns:soapenv="{SOAP11}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'


def proxy(name: str, in_sequence: str) -> str:
    return (
        f'<proxy xmlns="{SYNAPSE}" name="{name}"><target><inSequence>{in_sequence}<respond/></inSequence>'
        "</target></proxy>"
    )


def query_entry(key: str, query: str) -> str:
    return f'<localEntry xmlns="{SYNAPSE}" key="{key}"><![CDATA[{query}]]></localEntry>'


async def post(client, path: str, body: str):
    response = await client.post(path, data=envelope(body), headers={"Content-Type": "text/xml"})
    return response.status, etree.fromstring(await response.read())


async def test_a_query_rewrites_the_body_from_its_variables(gateway):
    """Like MI's xquery samples: the payload bound as an ELEMENT variable, typed literals beside it."""
    client = await gateway(
        {
            "local-entries/q.xml": query_entry(
                "quote",
                """declare variable $payload as document-node() external;
                   declare variable $symbol as xs:string external;
                   declare variable $big as xs:long external;
                   declare variable $rich as xs:boolean external;
                   <m:getQuote xmlns:m="http://services.samples"><m:request>
                     <m:symbol>{$symbol}-{count($payload//item)}</m:symbol><m:big>{$big + 1}</m:big>
                     <m:rich>{$rich}</m:rich></m:request></m:getQuote>""",
            ),
            "proxies/P.xml": proxy(
                "P",
                """<xquery key="quote">
                     <variable name="payload" type="ELEMENT"/>
                     <variable name="symbol" type="STRING" expression="//code"/>
                     <variable name="big" type="LONG" value="9223322036854775801"/>
                     <variable name="rich" type="BOOLEAN" value="TRUE"/>
                   </xquery>""",
            ),
        }
    )
    assert type(client.config.compiled[("xquery", "quote", ())]).__name__ == "Query"
    status, reply = await post(client, "/services/P", "<order><code>IBM</code><item/><item/></order>")
    assert status == 200
    quote = reply.find(f"{{{SOAP11}}}Body/{{http://services.samples}}getQuote")
    values = {etree.QName(node).localname: node.text for node in quote.iter("{http://services.samples}*")}
    assert values["symbol"] == "IBM-2" and values["big"] == "9223322036854775802" and values["rich"] == "true"


async def test_an_atomic_result_becomes_the_target_text(gateway):
    client = await gateway(
        {
            "local-entries/q.xml": query_entry(
                "sum", "declare variable $a as xs:double external; declare variable $b as xs:int external; $a * $b"
            ),
            "proxies/P.xml": proxy(
                "P",
                """<xquery key="sum" target="//total">
                     <variable name="a" type="DOUBLE" expression="//price"/>
                     <variable name="b" type="INT" expression="//qty"/>
                   </xquery>""",
            ),
        }
    )
    status, reply = await post(client, "/services/P", "<o><price>2.5</price><qty>4</qty><total>?</total></o>")
    assert status == 200
    assert reply.findtext(f"{{{SOAP11}}}Body/o/total") == "10"


async def test_bad_values_and_queries_fault(gateway):
    client = await gateway(
        {
            "local-entries/q.xml": query_entry("n", "declare variable $n as xs:int external; <n>{$n}</n>"),
            "local-entries/bad.xml": query_entry("bad", "<a>{1 +}</a>"),
            "proxies/P.xml": proxy("P", '<xquery key="n"><variable name="n" type="INT" expression="//v"/></xquery>'),
            "proxies/Bad.xml": proxy("Bad", '<xquery key="bad"/>'),
        }
    )
    problems = [str(problem) for problem in client.config.dangling]
    assert len(problems) == 1 and "xquery 'bad' does not compile" in problems[0] and "XPST0003" in problems[0]
    status, reply = await post(client, "/services/P", "<v>12</v>")
    assert status == 200 and reply.findtext(f"{{{SOAP11}}}Body/n") == "12"
    status, reply = await post(client, "/services/P", "<v>twelve</v>")
    assert status == 500 and b"Incompatible value 'twelve' for the Int" in etree.tostring(reply)
    status, _ = await post(client, "/services/Bad", "<v/>")
    assert status == 500


def test_factory_errors(tmp_path):
    root = tmp_path / "a"
    (root / "proxies").mkdir(parents=True)
    (root / "proxies" / "P.xml").write_text(
        proxy("P", '<xquery/><xquery key="k"><variable name="x" type="DATE" value="1"/></xquery>')
    )
    reasons = [problem.reason for problem in load(root).failed]
    assert "The 'key' attribute is required for the XQuery mediator" in reasons
    assert "Unsupported Type" in reasons


async def test_a_variable_from_an_entry(gateway):
    """W: MediatorCustomVariable with a key: the entry's XML is the variable's value."""
    client = await gateway(
        {
            "local-entries/rates.xml": f'<localEntry xmlns="{SYNAPSE}" key="rates"><rates xmlns="">'
            '<rate cur="EUR">0.9</rate><rate cur="GBP">0.8</rate></rates></localEntry>',
            "local-entries/q.xml": query_entry(
                "convert",
                "declare variable $rates as document-node() external; declare variable $amount as xs:double external;"
                "<converted>{$amount * number($rates//rate[@cur='GBP'])}</converted>",
            ),
            "proxies/P.xml": proxy(
                "P",
                """<xquery key="convert">
                     <variable name="rates" type="DOCUMENT" key="rates"/>
                     <variable name="amount" type="DOUBLE" expression="//amount"/>
                   </xquery>""",
            ),
        }
    )
    status, reply = await post(client, "/services/P", "<pay><amount>10</amount></pay>")
    assert status == 200 and reply.findtext(f"{{{SOAP11}}}Body/converted") == "8"
