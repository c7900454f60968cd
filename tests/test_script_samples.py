"""Apache Synapse's script samples 350-353, played end to end through `main` against the samples' Axis2 back end
(the stockquote stand-in), and E4X, the Rhino XML syntax they are written in.

The configurations are apache/synapse's repository/conf/sample/synapse_sample_35N.xml (Apache-2.0) with the back
end's address (localhost:9000) replaced by the stand-in's; the keyed scripts are the samples' own
stockquoteTransform.js. What each should do comes from the Synapse guide (userguide/samples/sample35N.xml): the
custom CheckPriceRequest is turned into a getQuote, and the getQuoteResponse back into a CheckPriceResponse."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.conftest import SYNAPSE

CHECK_PRICE = (
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
    '<m0:CheckPriceRequest xmlns:m0="http://services.samples"><m0:Code>{}</m0:Code></m0:CheckPriceRequest>'
    "</s:Body></s:Envelope>"
)
GET_QUOTE = (
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
    '<m0:getQuote xmlns:m0="http://services.samples"><m0:request><m0:symbol>{}</m0:symbol></m0:request>'
    "</m0:getQuote></s:Body></s:Envelope>"
)

TRANSFORM_JS = """<x xmlns=""><![CDATA[
  function transformRequest(mc) {
     var symbol = mc.getPayloadXML()..*::Code.toString();
     mc.setPayloadXML(
        <m:getQuote xmlns:m="http://services.samples">
           <m:request>
              <m:symbol>{symbol}</m:symbol>
           </m:request>
        </m:getQuote>);
  }

  function transformResponse(mc) {
     var symbol = mc.getPayloadXML()..*::symbol.toString();
     var price = mc.getPayloadXML()..*::last.toString();
     mc.setPayloadXML(
        <m:CheckPriceResponse xmlns:m="http://services.samples/xsd">
\t   <m:Code>{symbol}</m:Code>
\t   <m:Price>{price}</m:Price>
        </m:CheckPriceResponse>);
  }
]]></x>"""

SAMPLE_350 = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <in>
            <script language="js" key="stockquoteScript" function="transformRequest"/>
            <send>
                <endpoint>
                    <address uri="@URL@"/>
                </endpoint>
            </send>
        </in>
        <out>
            <script language="js" key="script/stockquoteTransformResponse.js"
                    function="transformResponse"/>
            <send/>
        </out>
    </sequence>"""

SAMPLE_351 = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <in>
            <script language="js">
                var symbol = mc.getPayloadXML()..*::Code.toString();
                mc.setPayloadXML(
                &lt;m:getQuote xmlns:m="http://services.samples"&gt;
                &lt;m:request&gt;
                &lt;m:symbol&gt;{symbol}&lt;/m:symbol&gt;
                &lt;/m:request&gt;
                &lt;/m:getQuote&gt;);
            </script>
            <send>
                <endpoint>
                    <address uri="@URL@"/>
                </endpoint>
            </send>
        </in>
        <out>
            <script language="js">
                var symbol = mc.getPayloadXML()..*::symbol.toString();
                var price = mc.getPayloadXML()..*::last.toString();
                mc.setPayloadXML(
                &lt;m:CheckPriceResponse xmlns:m="http://services.samples/xsd"&gt;
                &lt;m:Code&gt;{symbol}&lt;/m:Code&gt;
                &lt;m:Price&gt;{price}&lt;/m:Price&gt;
                &lt;/m:CheckPriceResponse&gt;);
            </script>
            <send/>
        </out>
    </sequence>"""

SAMPLE_352 = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <in>
            <script language="js">
                mc.setTo(mc.getReplyTo());
                mc.setProperty("RESPONSE", "true");
                mc.setPayloadXML(
                &lt;ns:getQuoteResponse xmlns:ns="http://services.samples"&gt;
                &lt;ns:return&gt;
                &lt;ns:last&gt;99.9&lt;/ns:last&gt;
                &lt;/ns:return&gt;
                &lt;/ns:getQuoteResponse&gt;);
            </script>
        </in>
        <send/>
    </sequence>"""

# Sample 353 is written in Ruby; here is the same transformation in the gateway's Python.
SAMPLE_353_PY = """<x xmlns=""><![CDATA[
def transformRequest(mc):
    symbol = re.search(r"<(?:\\w+:)?Code>([^<]*)<", mc.getPayloadXML()).group(1)
    mc.setPayloadXML('<m:getQuote xmlns:m="http://services.samples"><m:request><m:symbol>'
                     + symbol + '</m:symbol></m:request></m:getQuote>')

def transformResponse(mc):
    xml = mc.getPayloadXML()
    symbol = re.search(r"<(?:\\w+:)?symbol>([^<]*)<", xml).group(1)
    price = re.search(r"<(?:\\w+:)?last>([^<]*)<", xml).group(1)
    mc.setPayloadXML('<m:CheckPriceResponse xmlns:m="http://services.samples/xsd"><m:Code>' + symbol
                     + '</m:Code><m:Price>' + price + '</m:Price></m:CheckPriceResponse>')
]]></x>"""

SAMPLE_353 = """<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
        <in>
            <script language="py" key="stockquoteScript" function="transformRequest"/>
            <send>
                <endpoint name="stockquote">
                    <address uri="@URL@"/>
                </endpoint>
            </send>
        </in>
        <out>
            <script language="py" key="stockquoteScript" function="transformResponse"/>
            <send/>
        </out>
    </sequence>"""

XSD = {"m": "http://services.samples/xsd", "ns": "http://services.samples"}


async def soap_post(client, body: str) -> tuple[int, etree._Element]:
    response = await client.post(
        "/", data=body.encode(), headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "urn:getQuote"}
    )
    text = await response.read()
    envelope = etree.fromstring(text)
    return response.status, envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]


def local_entry(key: str, content: str) -> str:
    return f'<localEntry {SYNAPSE} key="{key}">{content}</localEntry>'


@pytest.mark.parametrize("sample", ["350", "351", "353"])
async def test_custom_quote_is_transformed_both_ways(gateway, stockquote, sample):
    svc = await stockquote()
    sequence = {"350": SAMPLE_350, "351": SAMPLE_351, "353": SAMPLE_353}[sample].replace("@URL@", svc.url)
    files = {"sequences/main.xml": sequence}
    if sample == "350":
        files["local-entries/stockquoteScript.xml"] = local_entry("stockquoteScript", TRANSFORM_JS)
        files["registry/governance/script/stockquoteTransformResponse.js"] = TRANSFORM_JS.split("<![CDATA[")[1].split(
            "]]>"
        )[0]
    if sample == "353":
        files["local-entries/stockquoteScript.xml"] = local_entry("stockquoteScript", SAMPLE_353_PY)
    client = await gateway(files)
    status, answer = await soap_post(client, CHECK_PRICE.format("IBM"))
    assert status == 200, etree.tostring(answer)
    assert answer.tag == "{http://services.samples/xsd}CheckPriceResponse"
    assert answer.findtext("m:Code", namespaces=XSD) == "IBM"
    assert float(answer.findtext("m:Price", namespaces=XSD)) > 0
    # what the back end received: a standard getQuote for the same symbol
    received = etree.fromstring(svc.requests[-1].body)
    assert received.findtext(".//ns:symbol", namespaces=XSD) == "IBM"


async def test_sample_352_answers_from_the_script_without_a_back_end(gateway):
    client = await gateway({"sequences/main.xml": SAMPLE_352})
    status, answer = await soap_post(client, GET_QUOTE.format("IBM"))
    assert status == 200
    assert answer.tag == "{http://services.samples}getQuoteResponse"
    assert answer.findtext("ns:return/ns:last", namespaces=XSD) == "99.9"


async def test_e4x_objects_behave_as_in_rhino(gateway):
    script = """<script language="rhinoJs"><![CDATA[
        var order = mc.getPayloadXML();
        var total = 0;
        for each (var item in order..item) { total += parseFloat(item.@price) * Number(item.qty); }
        var first = order.items.item[0];
        mc.setPayloadXML(<summary customer={order.@customer}>
            <count>{order..item.length()}</count>
            <total>{total}</total>
            <first>{first.name.toString()}</first>
            <firstIsWidget>{first.name == "widget"}</firstIsWidget>
            <copy>{first.name}</copy>
            <escaped>{"a < b & c"}</escaped>
        </summary>);
    ]]></script>"""
    client = await gateway(
        {
            "api/E.xml": f"""<api {SYNAPSE} name="E" context="/e"><resource methods="POST">
                <inSequence>{script}<respond/></inSequence></resource></api>"""
        }
    )
    response = await client.post(
        "/e",
        data='<order customer="ada"><items><item price="2.5"><name>widget</name><qty>2</qty></item>'
        '<item price="10"><name>gadget</name><qty>1</qty></item></items></order>',
        headers={"Content-Type": "application/xml"},
    )
    assert response.status == 200, await response.text()
    summary = etree.fromstring(await response.read())
    assert summary.get("customer") == "ada"
    assert summary.findtext("count") == "2"
    assert summary.findtext("total") == "15"
    assert summary.findtext("first") == "widget"
    assert summary.findtext("firstIsWidget") == "true"
    assert summary.find("copy/name").text == "widget"  # an XML value is inserted as XML
    assert summary.findtext("escaped") == "a < b & c"
