"""The sandbox process keeps its collector pauses short however many messages it stores (soak finding, issue 18)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc, json
    from datetime import UTC, datetime
    from synapse_gateway_connectors.twilio_rest.sandbox import server
    from synapse_gateway_connectors.twilio_rest.sandbox.store import MessageRecord

    before = len(gc.callbacks)
    code = server.main(["--port", "0", "--config", "/nonexistent/accounts.yaml"])  # set-up ran, nothing served
    installed = len(gc.callbacks) - before
    server.freeze_after_full_collections()  # a second call adds nothing
    now = datetime.now(UTC)
    stored = {}
    for i in range(50_000):
        sid = f"SM{i:032x}"
        stored[sid] = MessageRecord(sid=sid, account_sid="AC" + "0" * 32, to="+15005550006", from_="+15005550001",
                                    body="hi", status="queued", num_segments=1, media_urls=[],
                                    messaging_service_sid=None, date_created=now, date_updated=now,
                                    params=[("To", "+15005550006")])
    gc.collect()
    frozen = gc.get_freeze_count()
    tracked_young = sum(len(gc.get_objects(generation)) for generation in range(3))
    for sid in list(stored)[:25_000]:
        del stored[sid]
    after_delete = gc.get_freeze_count()
    print(json.dumps({"code": code, "installed": installed, "callbacks": len(gc.callbacks) - before, "frozen": frozen,
                      "young": tracked_young, "after_delete": after_delete}))
    """
)


def test_the_sandbox_command_freezes_what_survives_a_full_collection_and_still_frees_deleted_messages() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 1, done.stderr
    assert result["installed"] == 1 and result["callbacks"] == 1, result
    # Each record and its params list are tracked: 100,000 objects that the next full collection does not walk.
    assert result["frozen"] >= 100_000, result
    assert result["young"] < 10_000, result
    # Deleting half the records frees them (and their lists) although they were frozen.
    assert result["frozen"] - result["after_delete"] >= 50_000, result
