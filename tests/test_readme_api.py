"""The README's "Serving a REST API" flow, run as written: its shell block with real curl against `python3 -m
gateway serve` (a subprocess on the repository's own artifacts) and the Twilio sandbox. Only the ports change
(8290 and 8299 may be taken on a test machine), in the commands and in the shipped connection entry."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import orjson
import pytest

from tests.support.subprocess_gateway import free_port

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("api", "local-entries", "sequences", "proxies")


def readme_block() -> str:
    """The first sh block after the heading "## Serving a REST API"."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Serving a REST API", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's flow uses curl")
async def test_the_readme_rest_api_flow_runs_as_written(serve, sandbox):
    sandbox_port = sandbox.url.rsplit(":", 1)[1].rstrip("/")
    files = {}
    for folder in SHIPPED:
        for path in sorted((REPO / folder).glob("*.xml")):
            files[f"{folder}/{path.name}"] = path.read_text(encoding="utf-8").replace("8299", sandbox_port)
    gateway = serve(free_port(), files=files)
    gateway.wait_until(lambda: "listening on" in gateway.log(), "the gateway to listen")

    script = "set -e\n" + readme_block().replace("localhost:8290", f"127.0.0.1:{gateway.port}")
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", script, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    output = out.decode()

    sent = [dict(r["form"]) for r in sandbox.requests if r["method"] == "POST"]
    assert [(form["To"], form["From"], form["Body"]) for form in sent] == [
        ("+447891063180", "+442033229574", "Hello from a REST API"),
        ("+447891063180", "+442033229574", "Fetch me"),
    ]  # the missing-sender request never reached Twilio
    created = re.search(r"HTTP/1.1 201 Created\r\n.*?\r\n\r\n(\{.*?\})\n?HTTP/1.1", output, re.DOTALL)
    assert created, output
    assert orjson.loads(created.group(1))["body"] == "Hello from a REST API"
    fetched = re.search(r"HTTP/1.1 200 OK\r\n.*?\r\n\r\n(\{.*?\})\n?HTTP/1.1", output, re.DOTALL)
    assert fetched, output
    assert orjson.loads(fetched.group(1))["body"] == "Fetch me"
    assert "HTTP/1.1 400 Bad Request" in output and '"code":21603' in output
    sandbox.assert_contract()  # what reached "Twilio" and what it answered fit Twilio's OpenAPI spec
    swagger = orjson.loads(output[output.rindex('{\n  "openapi"') :])
    assert swagger["info"]["title"] == "SmsApi"
    assert set(swagger["paths"]) == {"/{to}", "/{sid}"}
