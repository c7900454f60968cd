"""The `RESPONSE` property (W: Axis2MessageContext.isResponse reads it): set to "true" in the default scope, it
turns the message into a response, so a `<send/>` without an endpoint answers the client (Synapse's idiom
`<property name="RESPONSE" value="true"/> <header name="To" action="remove"/> <send/>`)."""

from __future__ import annotations

from tests.conftest import SYNAPSE


async def test_response_true_and_send_answer_the_client(gateway):
    client = await gateway(
        {
            "proxies/R.xml": f"""
            <proxy {SYNAPSE} name="R"><target><inSequence>
                <payloadFactory media-type="json">
                    <format>{{"answered": "by the gateway"}}</format><args/>
                </payloadFactory>
                <property name="RESPONSE" value="true"/>
                <header name="To" action="remove"/>
                <send/>
            </inSequence></target></proxy>"""
        }
    )
    response = await client.post("/services/R", data="{}", headers={"Content-Type": "application/json"})
    assert response.status == 200
    assert await response.json() == {"answered": "by the gateway"}


async def test_response_set_then_removed_is_a_request_again(gateway):
    client = await gateway(
        {
            "proxies/R.xml": f"""
            <proxy {SYNAPSE} name="R"><target><inSequence>
                <property name="RESPONSE" value="true"/>
                <property name="RESPONSE" action="remove"/>
                <send/>
            </inSequence></target></proxy>"""
        }
    )
    response = await client.post("/services/R", data="{}", headers={"Content-Type": "application/json"})
    assert response.status == 500  # a request with no endpoint: "send without an endpoint … has no destination"
