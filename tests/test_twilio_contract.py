"""Contract (issue 13, item 8): every twilioRest operation that calls Twilio, with EVERY one of its
parameters given a well-formed value, sends a request that validates against Twilio's OpenAPI specs
(twilio_api_v2010.json, twilio_verify_v2.json). The values are generated from the operation tables (the
same tables the handlers use), so a new parameter or operation is covered without editing this file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from synapse_gateway_connectors.twilio_rest import (
    CONNECTOR,
    accounts,
    calls,
    messages,
    numbers,
    operations,
    recordings,
    verify,
)
from synapse_gateway_connectors.twilio_rest.resources import Endpoint

from tests.support.twilio_openapi import validate_request
from tests.support.twilio_sandbox import ACCOUNT, TOKEN, Sandbox

TABLES: dict[str, Endpoint] = {
    **accounts.ENDPOINTS,
    **calls.ENDPOINTS,
    **messages.ENDPOINTS,
    **numbers.ENDPOINTS,
    **recordings.ENDPOINTS,
    **verify.ENDPOINTS,
}
# Operations that are not table-driven: their fields (parameter -> (Twilio's field, kind)).
OWN_FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    "sendSms": {
        "to": ("To", "text"),
        "from": ("From", "text"),
        "messagingServiceSid": ("MessagingServiceSid", "sid:MG"),
        "messageBody": ("Body", "text"),
        "mediaUrl": ("MediaUrl", "url"),
        **operations.SEND_FIELDS,
    },
    "getSms": {"messageSid": ("Sid", "sid:SM|MM")},
    "getSmsList": {
        "to": ("To", "text"),
        "from": ("From", "text"),
        "dateSent": ("DateSent", "date"),
        "dateSentBefore": ("DateSent", "date<"),
        "dateSentAfter": ("DateSent", "date>"),
        "pageSize": ("PageSize", "page_size"),
        "page": ("Page", "page"),
        "pageToken": ("PageToken", "text"),
        "limit": ("", "page_size"),
    },
}
LOCAL_ONLY = {"init", "validateSignature", "smsPace"}  # nothing is sent to Twilio
PHONE_FIELDS = {"To", "From", "PhoneNumber", "FallbackFrom", "CallerId"}


def value_for(field: str, kind: str) -> str | None:
    """A well-formed value of this kind (None: leave the parameter out)."""
    if kind.startswith("sid:"):
        return kind[4:].split("|")[0] + "0123456789abcdef" * 2
    if kind.startswith(("enum:", "list:")):
        return kind.split(":", 1)[1].split("|")[0]
    if kind.startswith("const:"):
        return None  # a 2015 alias of a field the table also sets
    if kind in ("bool", "flag:"):
        return "true"
    if kind.startswith("flag:"):
        return "true"
    if kind.startswith("date") and kind != "datetime":
        return "2024-01-31"
    fixed = {
        "int": "5",
        "validity": "600",
        "page_size": "2",
        "page": "0",
        "method": "POST",
        "url": "https://example.test/twilio",
        "decimal": "0.05",
        "country": "US",
        "json_object": '{"1": "Ada"}',
        "list": "mailto:ops@example.test",
        "datetime": (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if kind in fixed:
        return fixed[kind]
    if field in PHONE_FIELDS:
        return "+14155550100"
    return {"Code": "123456", "Locale": "en", "AreaCode": "415", "FriendlyName": "contract"}.get(field, "x")


def parameters_of(operation: str) -> dict[str, str]:
    spec = CONNECTOR.operations[operation]
    fields: dict[str, tuple[str, str]]
    if operation in TABLES:
        endpoint = TABLES[operation]
        fields = dict(endpoint.fields)
        for name, kind in endpoint.sids.items():
            fields[name] = ("Sid", "country" if kind == "country" else f"sid:{kind}")
    else:
        fields = OWN_FIELDS[operation]
    values: dict[str, str] = {}
    for parameter in spec.parameters:
        if spec.parameters[parameter].passthrough:
            continue
        field, kind = fields.get(parameter, (parameter, "text"))
        value = value_for(field, kind)
        if value is not None:
            values[parameter] = value
    return values


def proxy_for(operation: str, api_url: str) -> str:
    children = "".join(
        f"<{name}>{{//{name}/text()}}</{name}>"
        for name, spec in CONNECTOR.operations[operation].parameters.items()
        if not spec.passthrough
    )
    return f"""
        <proxy xmlns="http://ws.apache.org/ns/synapse" name="{operation}">
          <target><inSequence>
            <twilioRest.init><accountSid>{ACCOUNT}</accountSid><authToken>{TOKEN}</authToken>
              <apiUrl>{api_url}</apiUrl><retries>0</retries></twilioRest.init>
            <twilioRest.{operation}>{children}</twilioRest.{operation}>
            <respond/>
          </inSequence></target>
        </proxy>"""


SENDING = sorted(set(CONNECTOR.operations) - LOCAL_ONLY)


def test_every_operation_is_covered() -> None:
    assert set(SENDING) == set(TABLES) | set(OWN_FIELDS)
    assert len(SENDING) >= 28 + 8, "the 2015 connector's 29 operations (less init) plus the 8 new ones"


@pytest.mark.parametrize("operation", SENDING)
async def test_every_parameter_of_every_operation_is_a_valid_request(
    gateway: Any, sandbox: Sandbox, operation: str
) -> None:
    gw = await gateway({f"proxies/{operation}.xml": proxy_for(operation, sandbox.url)})
    assert not gw.config.failed, gw.config.failed
    params = parameters_of(operation)
    response = await gw.post(f"/services/{operation}", json=params)
    body = await response.read()
    assert sandbox.requests, f"{operation} sent nothing: {response.status} {body[:300]!r}"
    for record in sandbox.requests:
        validate_request(
            record["method"], record["raw_path"], form=record["form"], headers={"Authorization": "Basic x"}
        )
    sent = {name for name, _ in sandbox.requests[0]["form"]} | {name for name, _ in sandbox.requests[0]["query"]}
    expected = {field for parameter, (field, kind) in fields_of(operation).items() if parameter in params and field}
    expected -= {"Sid"}  # path parameters
    assert expected <= sent, (operation, sorted(expected - sent), json.dumps(params))


def fields_of(operation: str) -> dict[str, tuple[str, str]]:
    return dict(TABLES[operation].fields) if operation in TABLES else OWN_FIELDS[operation]
