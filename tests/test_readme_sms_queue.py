"""The README's "Queue now, deliver later" examples, run as written with real curl against `python3 -m gateway
serve` on the repository's own artifacts and the Twilio sandbox: the SQLite queue (no service), then the same
configuration on RabbitMQ with the pace shared through Redis by two nodes. Only the ports (8290-8299 may be taken
on a test machine), the copy's folder and the RabbitMQ queue's name change."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
import uuid
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from tests.conftest import require_service
from tests.support.subprocess_gateway import free_port

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("api", "local-entries", "sequences", "message-stores", "message-processors")
ARRIVAL = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+\+00:00) (\S+) (.+)$", re.M)


def readme_blocks() -> list[str]:
    """The sh blocks of the README's section "## Queue now, deliver later"."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Queue now, deliver later", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def shipped_files(sandbox_port: str) -> dict[str, str]:
    files = {}
    for folder in SHIPPED:
        for path in sorted((REPO / folder).glob("*.xml")):
            files[f"{folder}/{path.name}"] = path.read_text(encoding="utf-8").replace("8299", sandbox_port)
    return files


async def run_block(script: str, cwd: Path) -> str:
    """Run a README block with bash (set -e); whatever it left running in the background is killed after."""
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        "set -e\n" + script,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the block's background gateways share its process group
        except ProcessLookupError:
            pass
    assert process.returncode == 0, err.decode()
    return out.decode()


def arrivals(output: str, prefix: str) -> list[tuple[float, str, str]]:
    found = [(datetime.fromisoformat(at).timestamp(), frm, body) for at, frm, body in ARRIVAL.findall(output)]
    return [item for item in found if item[2].startswith(prefix)]


def assert_paced(found: list[tuple[float, str, str]], bodies: list[str], slack: float = 0.95) -> None:
    """1 segment/s from a US long code: the run never leaves faster than that (`slack` for the clocks' reading;
    with two nodes, for a node's late send, which cannot move a slot the other node already holds)."""
    assert sorted(body for _, _, body in found) == bodies, found
    times = sorted(at for at, _, _ in found)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert times[-1] - times[0] >= (len(times) - 1) * slack, gaps
    assert min(gaps) >= 0.4, gaps


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's flow uses curl")
async def test_the_readme_sms_queue_runs_as_written_on_sqlite(serve, sandbox, tmp_path):
    sqlite_block = readme_blocks()[0]
    sandbox_port = sandbox.url.rsplit(":", 1)[1]
    gateway = serve(free_port(), files=shipped_files(sandbox_port))
    gateway.wait_until(lambda: "listening on" in gateway.log(), "the gateway to listen")
    script = sqlite_block.replace("localhost:8290", f"127.0.0.1:{gateway.port}")
    output = await run_block(script.replace("localhost:8299", f"127.0.0.1:{sandbox_port}"), tmp_path)

    accepted = [orjson.loads(line) for line in output.splitlines() if line.startswith('{"id"')]
    assert [(a["status"], a["segments"], a["encoding"]) for a in accepted[:3]] == [("queued", 1, "GSM-7")] * 3
    found = arrivals(output, "queued")
    assert {frm for _, frm, _ in found} == {"+15017122661"}
    assert_paced(found, ["queued 1", "queued 2", "queued 3", "queued 4"])
    tracked = orjson.loads(output.strip().splitlines()[-1])
    assert tracked["status"] in ("queued", "sent", "delivered") and tracked["sid"].startswith("SM"), tracked


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's flow uses curl")
async def test_the_readme_sms_queue_runs_as_written_on_rabbitmq_with_two_nodes(sandbox, tmp_path):
    require_service("rabbitmq")
    require_service("redis")
    pytest.importorskip("aio_pika")
    pytest.importorskip("redis")
    rabbitmq_block = readme_blocks()[2]
    sandbox_port = sandbox.url.rsplit(":", 1)[1]
    clone = tmp_path / "clone"  # the README's commands run from a clone: the shipped folders
    for relative, text in shipped_files(sandbox_port).items():
        (clone / relative).parent.mkdir(parents=True, exist_ok=True)
        (clone / relative).write_text(text, encoding="utf-8")
    queue = f"sms-outbox-{uuid.uuid4().hex[:8]}"
    script = rabbitmq_block.replace("/tmp/sms-rabbitmq", str(tmp_path / "sms-rabbitmq"))
    # The sandbox and the nodes listen on IPv4 only: `localhost` may reach another process on [::1] first
    script = script.replace("localhost:", "127.0.0.1:")
    script = script.replace(">sms-outbox<", f">{queue}<").replace("8299", sandbox_port)
    script = script.replace("8291", str(free_port())).replace("8292", str(free_port()))
    try:
        output = await run_block(script, clone)
    finally:
        await _delete_queue(queue)
    found = arrivals(output, "rabbit")
    assert {frm for _, frm, _ in found} == {"+15017122662"}
    assert_paced(found, ["rabbit 1", "rabbit 2", "rabbit 3", "rabbit 4"], slack=0.8)
    nodes = [(tmp_path / "sms-rabbitmq" / f"node{n}.log").read_text() for n in (1, 2)]
    assert all("listening on" in log for log in nodes), nodes


async def _delete_queue(name: str) -> None:
    import aio_pika

    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)


async def test_the_readme_burst_watch_prints_each_arrival_at_the_senders_pace(serve, sandbox):
    """`python3 -m bench.pacing watch`, the README's way to watch a burst leave: a smaller burst (6 SMS from 3
    long codes), each printed as the sandbox receives it with the gap since its sender's previous one."""
    watch_line = next(line for line in readme_blocks()[1].splitlines() if "bench.pacing watch" in line)
    command = watch_line.split("#", 1)[0].split()
    assert command == ["python3", "-m", "bench.pacing", "watch"]
    sandbox_port = sandbox.url.rsplit(":", 1)[1]
    gateway = serve(free_port(), files=shipped_files(sandbox_port))
    gateway.wait_until(lambda: "listening on" in gateway.log(), "the gateway to listen")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command[1:],
        "--gateway",
        f"http://127.0.0.1:{gateway.port}",
        "--sandbox",
        sandbox.url,
        "--count",
        "6",
        "--senders",
        "3",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith("6 SMS accepted (202)"), lines
    arrivals = [line.split() for line in lines[1:]]
    assert len(arrivals) == 6, lines
    by_sender: dict[str, list[str]] = {}
    for fields in arrivals:
        by_sender.setdefault(fields[1], []).append(fields[-1] if fields[-1] == "first" else fields[-2])
    assert len(by_sender) == 3, lines
    for gaps in by_sender.values():
        assert gaps[0] == "first" and float(gaps[1]) >= 0.5, lines  # "+1.001 s": the sender's pace
