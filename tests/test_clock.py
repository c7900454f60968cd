"""The gateway's clock (gateway/clock.py): get-property('SYSTEM_TIME') / ('SYSTEM_DATE') read it. Tests can move it
forward only with the setting test_clock; without it no request, and no code, can."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from gateway import clock
from gateway.settings import load_settings

NOW = """<proxy xmlns="http://ws.apache.org/ns/synapse" name="Now"><target><inSequence>
  <payloadFactory media-type="json"><format>{"time": $1, "year": $2, "now": $3}</format><args>
    <arg expression="get-property('SYSTEM_TIME')"/><arg expression="get-property('SYSTEM_DATE', 'yyyy')"/>
    <arg expression="${now()}"/></args>
  </payloadFactory><respond/></inSequence></target></proxy>"""
YEAR_MS = 400 * 24 * 3600 * 1000


async def _now(client: Any) -> dict[str, int]:
    response = await client.get("/services/Now")
    assert response.status == 200
    return dict(await response.json())


async def test_with_test_clock_a_request_moves_the_time_every_expression_reads(gateway: Any) -> None:
    client = await gateway({"proxies/Now.xml": NOW}, test_clock=True)
    before = await _now(client)
    response = await client.post("/_test/clock", json={"advance": YEAR_MS})
    assert response.status == 200
    moved = (await response.json())["now"]
    after = await _now(client)
    assert after["time"] >= moved >= before["time"] + YEAR_MS, (before, moved, after)
    assert after["year"] > before["year"], "SYSTEM_DATE moves too"
    assert after["now"] >= moved >= before["now"] + YEAR_MS, "MI 4.4's ${now()} reads the same clock"
    response = await client.post("/_test/clock", json={"advance": -1})
    assert response.status == 400 and "forward" in (await response.json())["error"]


async def test_without_test_clock_nothing_can_move_the_clock(gateway: Any) -> None:
    client = await gateway({"proxies/Now.xml": NOW})
    response = await client.post("/_test/clock", json={"advance": YEAR_MS})
    assert "now" not in await response.text(), "no such route: the request goes to the main sequence"
    with pytest.raises(clock.ClockNotAdjustable):
        clock.advance(YEAR_MS)
    now = await _now(client)
    assert abs(now["time"] - time.time() * 1000) < 60_000, "the system's time"


def test_test_clock_is_a_setting_off_by_default(tmp_path: Path) -> None:
    assert load_settings(None).test_clock is False
    config = tmp_path / "gateway.yaml"
    config.write_text("test_clock: true\n", encoding="utf-8")
    assert load_settings(config).test_clock is True


async def test_a_stopped_test_gateway_leaves_the_system_clock(aiohttp_client: Any, tmp_path: Path) -> None:
    from gateway.deploy.loader import load
    from gateway.settings import Settings
    from gateway.transport.server import create_app

    settings = Settings(artifacts=tmp_path, test_clock=True)
    client = await aiohttp_client(create_app(settings, load(tmp_path, settings=settings)))
    assert (await client.post("/_test/clock", json={"advance": YEAR_MS})).status == 200
    assert clock.now_ms() > time.time() * 1000 + YEAR_MS / 2
    await client.close()
    assert abs(clock.now_ms() - time.time() * 1000) < 60_000 and not clock.adjustable()


def test_the_clock_route_answers_only_loopback_clients() -> None:
    from gateway.transport.server import _from_loopback

    assert _from_loopback("127.0.0.1") and _from_loopback("::1") and _from_loopback("127.3.4.5")
    assert not _from_loopback("10.0.0.7") and not _from_loopback("192.168.1.2") and not _from_loopback(None)
    assert not _from_loopback("not-an-address")
