"""The form fields of Twilio's API spec (``twilio_api_v2010.json``) that operations accept by their own
name, besides their declared parameters (connector.yaml ``passthrough``): a field Twilio adds later is
usable as soon as this list knows it, and a misspelt one is a deploy error with a did-you-mean.

``spec_fields.json`` is derived from the spec; regenerate it after updating the spec:
``python3 -m synapse_gateway_connectors.twilio_rest.spec_fields tests/data/twilio-oai/twilio_api_v2010.json``
(tests/test_twilio_messages.py checks that it matches the spec the tests use)."""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

FIELDS_PATH = Path(__file__).with_name("spec_fields.json")
OPERATIONS = ("CreateMessage", "UpdateMessage", "CreateCall", "UpdateCall")


@cache
def _fields() -> dict[str, tuple[str, ...]]:
    data = json.loads(FIELDS_PATH.read_text(encoding="utf-8"))
    return {name: tuple(data[name]) for name in OPERATIONS}


def fields_of(operation_id: str) -> tuple[str, ...]:
    return _fields()[operation_id]


def create_message_fields() -> tuple[str, ...]:
    return fields_of("CreateMessage")


def create_call_fields() -> tuple[str, ...]:
    return fields_of("CreateCall")


def update_call_fields() -> tuple[str, ...]:
    return fields_of("UpdateCall")


def derive(spec: dict[str, Any]) -> dict[str, list[str]]:
    """operationId -> the form fields of its request body, from a parsed twilio_api_v2010.json."""
    found: dict[str, list[str]] = {}
    for item in spec["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict) or operation.get("operationId") not in OPERATIONS:
                continue
            schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
            while "$ref" in schema:
                node: Any = spec
                for part in schema["$ref"].lstrip("#/").split("/"):
                    node = node[part]
                schema = node
            found[operation["operationId"]] = sorted(schema.get("properties", {}))
    return {name: found[name] for name in OPERATIONS}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    FIELDS_PATH.write_text(json.dumps(derive(spec), indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
