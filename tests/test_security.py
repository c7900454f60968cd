"""Hostile payloads: no entity resolution, no DTDs, no file reads (reference: security by default)."""

from __future__ import annotations

S = 'xmlns="http://ws.apache.org/ns/synapse"'
PROXY = {
    "proxies/P.xml": f'<proxy {S} name="P"><target><inSequence><property name="v" expression="//a"/>'
    '<header name="X-V" scope="transport" expression="$ctx:v"/><respond/></inSequence>'
    '<faultSequence><property name="HTTP_SC" value="400" scope="axis2"/>'
    '<header name="X-Code" scope="transport" expression="get-property(\'ERROR_CODE\')"/>'
    '<header name="X-Message" scope="transport" expression="get-property(\'ERROR_MESSAGE\')"/>'
    "<respond/></faultSequence></target></proxy>"
}


async def test_xxe_payload_is_rejected_without_reading_the_file(gateway, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]><a>&x;</a>').encode()
    client = await gateway(PROXY)
    response = await client.post("/services/P", data=xxe, headers={"Content-Type": "application/xml"})
    body = await response.read()
    assert response.status == 400
    assert response.headers["X-Code"] == "601000"
    assert "DOCTYPE" in response.headers["X-Message"]
    assert b"TOP-SECRET" not in body and "TOP-SECRET" not in str(response.headers)


async def test_entity_expansion_bomb_is_rejected(gateway):
    # "billion laughs": each entity expands to ten of the previous one, 10^9 "lol"s in all
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY l0 "lol">{entities}]><a>&l9;</a>'.encode()
    client = await gateway(PROXY)
    response = await client.post("/services/P", data=bomb, headers={"Content-Type": "application/xml"})
    assert response.status == 400
    assert response.headers["X-Code"] == "601000"
    assert len(await response.read()) < 10_000


async def test_soap_envelope_with_doctype_is_rejected(gateway):
    envelope = (
        b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x "y">]><soapenv:Envelope '
        b'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><a>&x;</a>'
        b"</soapenv:Body></soapenv:Envelope>"
    )
    client = await gateway(PROXY)
    response = await client.post("/services/P", data=envelope, headers={"Content-Type": "text/xml"})
    assert response.headers["X-Code"] == "601000"


async def test_doctype_without_an_internal_subset_is_rejected(gateway):
    """The check reads libxml2's internal subset, which it makes for every DOCTYPE, even one naming only an
    external DTD (never loaded) or nothing at all."""
    client = await gateway(PROXY)
    for doctype in (b"<!DOCTYPE a>", b'<!DOCTYPE a SYSTEM "a.dtd">'):
        for content_type, root in (("application/xml", b"<a>x</a>"), ("text/xml", ENVELOPE)):
            response = await client.post("/services/P", data=doctype + root, headers={"Content-Type": content_type})
            assert response.status == 400, (doctype, content_type)
            assert response.headers["X-Code"] == "601000"
            assert "DOCTYPE declarations are not allowed" in response.headers["X-Message"]


ENVELOPE = (
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><a>x</a>'
    b"</soapenv:Body></soapenv:Envelope>"
)


async def test_soap_content_type_needs_a_soap_envelope_root(gateway):
    """text/xml takes an Envelope of either SOAP version; any other root, or an Envelope in another namespace,
    is a 601000 fault."""
    client = await gateway(PROXY)
    soap12 = ENVELOPE.replace(b"http://schemas.xmlsoap.org/soap/envelope/", b"http://www.w3.org/2003/05/soap-envelope")
    response = await client.post("/services/P", data=soap12, headers={"Content-Type": "text/xml"})
    assert response.status == 200 and response.headers["X-V"] == "x"
    for body in (b"<a>x</a>", ENVELOPE.replace(b"http://schemas.xmlsoap.org/soap/envelope/", b"urn:not-soap")):
        response = await client.post("/services/P", data=body, headers={"Content-Type": "text/xml"})
        assert response.status == 400, body
        assert response.headers["X-Code"] == "601000"
        assert "not a SOAP envelope" in response.headers["X-Message"]


def test_secret_values_are_encoded_only_when_a_log_line_is_masked(monkeypatch):
    """A message carrying secrets but logging nothing pays no encoding; a masked line still hides every form."""
    from gateway import masking

    calls: list[str] = []
    real = masking._json_escaped
    monkeypatch.setattr(masking, "_json_escaped", lambda text: calls.append(text) or real(text))
    values = masking.SecretValues()
    for secret in ('to"ken/+1 x', "second-secret", 'to"ken/+1 x'):
        values.add(secret)
    assert values and calls == []
    line = 'json {"t": "to\\"ken/+1 x"} url to%22ken%2F%2B1%20x form to%22ken%2F%2B1+x plain second-secret'
    assert values.mask(line) == 'json {"t": "****"} url **** form **** plain ****'
    assert sorted(calls) == ["second-secret", 'to"ken/+1 x']
    values.mask(line)
    assert len(calls) == 2  # encoded once per value
