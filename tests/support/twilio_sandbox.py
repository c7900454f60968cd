"""The Twilio sandbox on loopback for tests: a record of every API answer it gave, for contract checks."""

from __future__ import annotations

from typing import Any

from synapse_gateway_connectors.twilio_rest.sandbox import SANDBOX_STATE

from tests.support.twilio_openapi import validate_request, validate_response

# The seed's sample credentials are the sandbox's default account.
ACCOUNT = "AC3c4055d0dd73aab7b5b1b26c0794e9c6"
TOKEN = "cdd1fdb143d482a05e4f1f6fdb195395"


class Sandbox:
    """The sandbox app on loopback plus a record of every API answer it gave (for contract checks)."""

    def __init__(self, server, responses: list[tuple[str, str, int, bytes]]) -> None:
        self.server = server
        self.responses = responses

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def state(self):
        return self.server.app[SANDBOX_STATE]

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.state.requests

    def forms(self) -> list[list[tuple[str, str]]]:
        return [[(k, v) for k, v in r["form"]] for r in self.requests]

    def assert_contract(self) -> None:
        """Every request we sent and every answer we got validates against Twilio's OpenAPI spec."""
        assert self.requests, "nothing reached the sandbox"
        for record in self.requests:
            validate_request(
                record["method"], record["raw_path"], form=record["form"], headers={"Authorization": "Basic x"}
            )
            assert record["headers"].get("Authorization", "").startswith("Basic ")
        assert len(self.responses) == len(self.requests)
        for method, path, status, body in self.responses:
            validate_response(method, path, status, body)
