"""`gc_freeze` (on by default): each serving process freezes its deployed configuration out of the cyclic
collector (gc.freeze) at start-up and again after every hot redeployment; /healthz reports the frozen count of
the worker that answered. Real `gateway serve` subprocesses over HTTP."""

from __future__ import annotations

import orjson

from tests.conftest import SYNAPSE
from tests.support.subprocess_gateway import free_port, get


def echo(value: str, name: str = "Echo") -> str:
    return (
        f'<proxy {SYNAPSE} name="{name}"><target><inSequence>'
        f'<payloadFactory media-type="json"><format>{{"v":"{value}"}}</format><args/></payloadFactory>'
        "<respond/></inSequence></target></proxy>"
    )


def health(port: int) -> dict:
    status, body = get(port, "/healthz")
    assert status == 200, body
    return orjson.loads(body)


def answers(port: int) -> bool:
    try:
        return get(port, "/healthz")[0] == 200
    except OSError:  # not listening yet
        return False


def per_worker(gateway, pids: set[int], until=lambda answer: True) -> dict[int, dict]:
    """The /healthz answer of every worker in `pids` (fresh connections until each has answered, with `until`)."""
    seen: dict[int, dict] = {}

    def all_seen() -> bool:
        answer = health(gateway.port)
        if until(answer):
            seen[answer["pid"]] = answer
        return pids <= set(seen)

    gateway.wait_until(all_seen, f"workers {sorted(pids)} to answer /healthz")
    return seen


def test_every_worker_freezes_its_configuration_and_again_after_a_hot_redeployment(serve, tmp_path):
    gw = serve(free_port(), 2, files={"proxies/Echo.xml": echo("one")})
    pids = set(gw.wait_started(2).values())
    before = per_worker(gw, pids)
    for answer in before.values():
        assert answer["gc"]["frozen"] > 10_000, answer["gc"]  # the modules and the deployed configuration
    version = before[next(iter(pids))]["version"]

    folder = tmp_path / "gateway0" / "proxies"
    (folder / "Echo.xml").write_text(echo("two"), encoding="utf-8")
    (folder / "Other.xml").write_text(echo("other", "Other"), encoding="utf-8")
    after = per_worker(gw, pids, until=lambda answer: answer["version"] != version)
    for pid in pids:
        # Frozen again, with one more proxy: more objects. Without a new gc.freeze() the permanent generation can
        # only shrink (the replaced configuration's frozen objects are freed).
        assert after[pid]["gc"]["frozen"] > before[pid]["gc"]["frozen"], (before[pid]["gc"], after[pid]["gc"])
    status, body = get(gw.port, "/services/Other")
    assert (status, orjson.loads(body)) == (200, {"v": "other"})


def test_a_single_process_gateway_refreezes_after_a_hot_redeployment(serve, tmp_path):
    gw = serve(free_port(), 1, files={"proxies/Echo.xml": echo("one")})
    gw.wait_until(lambda: answers(gw.port), "the gateway to answer")
    before = health(gw.port)
    assert before["gc"]["frozen"] > 10_000, before["gc"]
    folder = tmp_path / "gateway0" / "proxies"
    (folder / "Echo.xml").write_text(echo("two"), encoding="utf-8")
    (folder / "Other.xml").write_text(echo("other", "Other"), encoding="utf-8")
    gw.wait_until(lambda: "Other" in {a["name"] for a in health(gw.port)["deployed"]}, "the redeployment")
    after = health(gw.port)
    assert after["gc"]["frozen"] > before["gc"]["frozen"], (before["gc"], after["gc"])  # as above


def test_gc_freeze_false_leaves_everything_to_the_collector(serve, tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text("gc_freeze: false\n", encoding="utf-8")
    gw = serve(free_port(), 1, files={"proxies/Echo.xml": echo("one")}, args=["--config", str(config)])
    gw.wait_until(lambda: answers(gw.port), "the gateway to answer")
    before = health(gw.port)
    assert before["gc"]["frozen"] == 0, before["gc"]
    assert len(before["gc"]["collections"]) == 3
    (tmp_path / "gateway0" / "proxies" / "Echo.xml").write_text(echo("two"), encoding="utf-8")
    gw.wait_until(lambda: health(gw.port)["version"] != before["version"], "the redeployment")
    assert health(gw.port)["gc"]["frozen"] == 0
