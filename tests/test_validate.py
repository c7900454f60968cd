"""validate (W: ValidateMediator, ValidateMediatorFactory): XML Schemas from local entries and the registry
(imports through <resource>), JSON Schemas, source, on-fail with ERROR_MESSAGE; Apache sample 7."""

from __future__ import annotations

import json

from lxml import etree

from gateway.deploy.loader import load

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SYNAPSE = "http://ws.apache.org/ns/synapse"

SAMPLE_7_SCHEMA = """
<localEntry xmlns="http://ws.apache.org/ns/synapse" key="validate_schema">
    <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
               xmlns="http://services.samples" elementFormDefault="qualified"
               attributeFormDefault="unqualified" targetNamespace="http://services.samples">
        <xs:element name="getQuote">
            <xs:complexType>
                <xs:sequence>
                    <xs:element name="request">
                        <xs:complexType>
                            <xs:sequence>
                                <xs:element name="stocksymbol" type="xs:string"/>
                            </xs:sequence>
                        </xs:complexType>
                    </xs:element>
                </xs:sequence>
            </xs:complexType>
        </xs:element>
    </xs:schema>
</localEntry>"""


def envelope(body: str) -> str:
    return f'<soapenv:Envelope xmlns:soapenv="{SOAP11}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'


def sample_7_proxy(address: str) -> str:
    return f"""
        <proxy xmlns="http://ws.apache.org/ns/synapse" name="Sample7"><target>
          <inSequence>
            <validate>
                <schema key="validate_schema"/>
                <on-fail>
                    <makefault response="true">
                        <code xmlns:tns="http://schemas.xmlsoap.org/soap/envelope/" value="tns:Server"/>
                        <reason value="Invalid custom quote request"/>
                    </makefault>
                    <property name="RESPONSE" value="true"/>
                    <header name="To" expression="get-property('ReplyTo')"/>
                    <send/>
                </on-fail>
            </validate>
            <send><endpoint><address uri="{address}"/></endpoint></send>
          </inSequence>
          <outSequence><send/></outSequence>
        </target></proxy>"""


async def test_apache_sample_7_a_request_that_fails_the_schema_gets_the_fault(gateway, stockquote):
    """Sample 7: the standard getQuote has <symbol>, the schema wants <stocksymbol>: the client gets the fault
    and nothing reaches the service; a request that validates is sent on and answered. The fault code is the
    SOAP 1.1 one of WSO2's copy of the sample (Apache's tns:Receiver is a SOAP 1.2 code, refused by MI's factory)."""
    service = await stockquote()
    client = await gateway(
        {"local-entries/validate_schema.xml": SAMPLE_7_SCHEMA, "proxies/Sample7.xml": sample_7_proxy(service.url)}
    )
    assert ("schema", "validate_schema", ()) in client.config.compiled  # compiled at deploy time
    response = await client.post(
        "/services/Sample7",
        data=envelope(
            '<m0:getQuote xmlns:m0="http://services.samples"><m0:request><m0:symbol>IBM</m0:symbol></m0:request>'
            "</m0:getQuote>"
        ),
        headers={"Content-Type": "text/xml", "SOAPAction": "urn:getQuote"},
    )
    reply = etree.fromstring(await response.read())
    assert reply.findtext(f".//{{{SOAP11}}}Fault/faultstring") == "Invalid custom quote request"
    assert service.requests == []
    response = await client.post(
        "/services/Sample7",
        data=envelope(
            '<m0:getQuote xmlns:m0="http://services.samples"><m0:request><m0:stocksymbol>IBM</m0:stocksymbol>'
            "</m0:request></m0:getQuote>"
        ),
        headers={"Content-Type": "text/xml", "SOAPAction": "urn:getQuote"},
    )
    assert response.status == 200
    assert b"getQuoteResponse" in await response.read()
    assert len(service.requests) == 1


def echo_proxy(validate: str) -> str:
    return f"""
        <proxy xmlns="http://ws.apache.org/ns/synapse" name="V"><target><inSequence>
          {validate}
          <payloadFactory media-type="json"><format>{{"valid": true}}</format></payloadFactory>
          <property name="messageType" value="application/json" scope="axis2"/>
          <respond/>
        </inSequence></target></proxy>"""


ON_FAIL = """<on-fail>
  <payloadFactory media-type="json"><format>{"valid": false, "error": "$1"}</format>
    <args><arg expression="get-property('ERROR_MESSAGE')"/></args></payloadFactory>
  <property name="messageType" value="application/json" scope="axis2"/>
  <respond/>
</on-fail>"""


async def test_schema_imports_resolve_through_resources_and_source_selects_the_node(gateway):
    client = await gateway(
        {
            "local-entries/types.xml": f"""<localEntry xmlns="{SYNAPSE}" key="types">
                <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:types">
                  <xs:simpleType name="code"><xs:restriction base="xs:string"><xs:pattern value="[A-Z]{{3}}"/>
                  </xs:restriction></xs:simpleType></xs:schema></localEntry>""",
            "registry/config/schemas/order.xsd": """
                <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:types" targetNamespace="urn:o"
                           elementFormDefault="qualified">
                  <xs:import namespace="urn:types" schemaLocation="http://example.invalid/types.xsd"/>
                  <xs:element name="item"><xs:complexType><xs:sequence>
                    <xs:element name="code" type="t:code"/></xs:sequence></xs:complexType></xs:element>
                </xs:schema>""",
            "proxies/V.xml": echo_proxy(
                f"""<validate source="//o:order/o:item" xmlns:o="urn:o">
                    <resource location="http://example.invalid/types.xsd" key="types"/>
                    <schema key="conf:/schemas/order.xsd"/>{ON_FAIL}</validate>"""
            ),
        }
    )
    assert client.config.dangling == ()

    async def post(code: str) -> dict:
        body = f'<o:order xmlns:o="urn:o"><o:item><o:code>{code}</o:code></o:item></o:order>'
        response = await client.post("/services/V", data=envelope(body), headers={"Content-Type": "text/xml"})
        assert response.status == 200
        body = etree.fromstring(await response.read()).find(f"{{{SOAP11}}}Body")  # a SOAP client gets SOAP
        fields = body[0] if body[0].tag == "jsonObject" else body
        return {child.tag: child.text for child in fields}

    assert await post("IBM") == {"valid": "true"}
    failed = await post("ibm")
    assert failed["valid"] == "false" and "code" in failed["error"] and "pattern" in failed["error"]
    assert failed["error"].endswith("\n")  # W: getAllExceptions ends every message with a newline


async def test_json_schema_validates_a_json_message(gateway):
    schema = json.dumps(
        {
            "type": "object",
            "required": ["to", "body"],
            "properties": {"to": {"type": "string", "pattern": "^\\+[0-9]+$"}, "body": {"type": "string"}},
        }
    )
    client = await gateway(
        {
            "local-entries/sms.xml": f'<localEntry xmlns="{SYNAPSE}" key="smsSchema"><![CDATA[{schema}]]></localEntry>',
            "proxies/V.xml": echo_proxy(f'<validate><schema key="smsSchema"/>{ON_FAIL}</validate>'),
        }
    )
    assert type(client.config.compiled[("schema", "smsSchema", ())]).__name__.endswith("Validator")

    async def post(document: dict) -> dict:
        response = await client.post("/services/V", json=document)
        return json.loads(await response.read())

    assert await post({"to": "+447700900000", "body": "hi"}) == {"valid": True}
    failed = await post({"to": "07700", "body": "hi"})
    assert failed["valid"] is False and "does not match" in failed["error"]
    failed = await post({"to": "+44"})
    assert failed["valid"] is False and "'body' is a required property" in failed["error"]


async def test_a_broken_schema_is_a_deploy_problem_and_a_fault_per_message(gateway):
    client = await gateway(
        {
            "local-entries/bad.xml": f"""<localEntry xmlns="{SYNAPSE}" key="bad">
                <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="a" type="xs:nope"/>
                </xs:schema></localEntry>""",
            "proxies/V.xml": echo_proxy(f'<validate><schema key="bad"/>{ON_FAIL}</validate>'),
            "sequences/alsoBad.xml": f'<sequence xmlns="{SYNAPSE}" name="alsoBad"><validate><schema key="bad"/>'
            "<on-fail><drop/></on-fail></validate></sequence>",
        }
    )
    problems = sorted(str(problem) for problem in client.config.dangling)
    assert len(problems) == 2  # each use is reported (the schema is compiled once)
    assert all("schema 'bad' does not compile" in problem and "XMLSchema}nope" in problem for problem in problems)
    response = await client.post("/services/V", data=envelope("<a/>"), headers={"Content-Type": "text/xml"})
    assert response.status == 500
    assert b"Error creating a new schema objects" in await response.read()


async def test_deploy_errors_use_mi_wording(tmp_path):
    root = tmp_path / "a"
    (root / "proxies").mkdir(parents=True)
    (root / "proxies" / "V.xml").write_text(
        f'<proxy xmlns="{SYNAPSE}" name="V"><target><inSequence><validate><on-fail><drop/></on-fail></validate>'
        f'<validate><schema key="x"/></validate><validate><schema/><on-fail><drop/></on-fail></validate>'
        "</inSequence></target></proxy>"
    )
    (root / "proxies" / "Lenient.xml").write_text(
        f'<proxy xmlns="{SYNAPSE}" name="Lenient"><target><inSequence><validate key="ignored" cache-schema="false">'
        '<property name="validation-feature-id" value="false"/><schema key="x"/><on-fail><drop/></on-fail>'
        "</validate></inSequence></target></proxy>"
    )
    config = load(root)
    assert "Lenient" in config.proxies  # MI ignores validate's key attribute and <property> children
    reasons = [problem.reason for problem in config.failed]
    assert "No schema specified for the validate mediator" in reasons
    assert "A non-empty <on-fail> child element is required for the <validate> mediator" in reasons
    assert "A 'schema' definition must contain a local property 'key'" in reasons


async def test_json_source_selects_the_part_to_validate(gateway):
    schema = json.dumps({"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}})
    client = await gateway(
        {
            "local-entries/item.xml": f'<localEntry xmlns="{SYNAPSE}" key="item"><![CDATA[{schema}]]></localEntry>',
            "proxies/V.xml": echo_proxy(
                f'<validate source="json-eval($.order.item)"><schema key="item"/>{ON_FAIL}</validate>'
            ),
        }
    )

    async def post(document: dict) -> dict:
        response = await client.post("/services/V", json=document)
        return json.loads(await response.read())

    assert await post({"order": {"item": {"sku": "A1"}}, "other": 1}) == {"valid": True}
    failed = await post({"order": {"item": {"name": "A1"}}})
    assert failed["valid"] is False and "'sku' is a required property" in failed["error"]
