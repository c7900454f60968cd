"""Hot deployment in one process (MI's AbstractSynapseArtifactDeployer; docs/synapse-semantics.md §7): files
added, changed, broken and deleted under a real gateway on loopback; a request in flight keeps its version."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.connector import ConnectorRegistry
from gateway.deploy.hotdeploy import HotDeployer
from gateway.runtime.state import RuntimeState
from gateway.settings import Settings
from gateway.transport.control import Hub, attach_local
from gateway.transport.server import SERVICES, create_app
from tests.conftest import SYNAPSE, write_artifacts
from tests.support.subprocess_gateway import HANG_GUARD


def answer(value: str) -> str:
    return (
        f'<proxy {SYNAPSE} name="Echo"><target><inSequence>'
        f'<payloadFactory media-type="json"><format>{{"v":"{value}"}}</format><args/></payloadFactory>'
        "<respond/></inSequence></target></proxy>"
    )


BROKEN = f"""<proxy {SYNAPSE} name="Echo"><target><inSequence>
  <log level="custom"/>
  <nosuchmediator/>
</inSequence></target></proxy>"""


@dataclass
class Live:
    client: TestClient
    hub: Hub
    root: Path

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    async def get_json(self, path: str) -> tuple[int, object]:
        response = await self.client.post(path, json={})
        return response.status, await response.json(content_type=None)


@pytest.fixture
def live(aiohttp_client, tmp_path):
    """A real gateway on loopback whose files the test changes; `await live.hub.reload()` redeploys them (as
    the watcher does after a burst of changes)."""

    async def start(files: dict[str, str], *, watch: bool = False) -> Live:
        root = write_artifacts(tmp_path / "artifacts", files)
        settings = Settings(artifacts=root)
        registry = ConnectorRegistry.discover()
        deployer = HotDeployer(root, settings, registry)
        state = RuntimeState(deployer.load())
        app = create_app(settings, state.config, registry, state)
        hub = Hub(state, deployer, settings)
        if watch:
            attach_local(app, hub, None)
        return Live(await aiohttp_client(app), hub, root)

    return start


async def test_a_new_file_deploys_a_changed_one_updates_and_a_deleted_one_undeploys(live):
    gw = await live({"proxies/Echo.xml": answer("one")})
    assert await gw.get_json("/services/Echo") == (200, {"v": "one"})
    version = gw.hub.state.config.version

    gw.write("proxies/Echo.xml", answer("two"))
    gw.write("proxies/Other.xml", answer("other").replace('name="Echo"', 'name="Other"'))
    await gw.hub.reload()
    assert await gw.get_json("/services/Echo") == (200, {"v": "two"})
    assert await gw.get_json("/services/Other") == (200, {"v": "other"})
    assert gw.hub.state.config.version != version
    actions = [(event.action, event.name) for event in gw.hub.deployer.events]
    assert ("updated", "Echo") in actions and ("deployed", "Other") in actions

    (gw.root / "proxies" / "Other.xml").unlink()
    await gw.hub.reload()
    status, _ = await gw.get_json("/services/Other")
    assert status == 404  # the shipped main sequence: no such service any more
    assert ("undeployed", "Other") == (gw.hub.deployer.events[-1].action, gw.hub.deployer.events[-1].name)


async def test_a_new_file_that_fails_is_moved_to_back_and_logged_with_file_and_line(live, caplog):
    gw = await live({"proxies/Echo.xml": answer("one")})
    bad = gw.write("proxies/Bad.xml", BROKEN.replace('name="Echo"', 'name="Bad"'))
    with caplog.at_level(logging.INFO, logger="gateway.deploy"):
        await gw.hub.reload()
    assert not bad.exists()
    backup = bad.with_name("Bad.xml.back")
    assert backup.read_text(encoding="utf-8") == BROKEN.replace('name="Echo"', 'name="Bad"')
    assert f"{bad}:3: nosuchmediator: unknown mediator" in caplog.text
    assert f"backed up into {backup}" in caplog.text
    event = gw.hub.deployer.events[-1]
    assert (event.action, event.backup, event.problems[0].location.line) == ("failed", str(backup), 3)
    assert await gw.get_json("/services/Echo") == (200, {"v": "one"})

    # MI names the next backup FILE.1.back
    gw.write("proxies/Bad.xml", BROKEN.replace('name="Echo"', 'name="Bad"'))
    await gw.hub.reload()
    assert bad.with_name("Bad.xml.1.back").exists() and not bad.exists()


async def test_an_update_that_fails_keeps_the_old_version_serving_and_restores_it_into_the_file(live, caplog):
    gw = await live({"proxies/Echo.xml": answer("one")})
    path = gw.root / "proxies" / "Echo.xml"
    served = path.read_bytes()
    version = gw.hub.state.config.version
    path.write_text(BROKEN, encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="gateway.deploy"):
        await gw.hub.reload()
    assert await gw.get_json("/services/Echo") == (200, {"v": "one"})
    assert path.read_bytes() == served  # MI restores the serving artifact into the file
    assert path.with_name("Echo.xml.back").read_text(encoding="utf-8") == BROKEN
    assert f"Update of the Synapse artifact from file {path} failed: {path}:3: nosuchmediator" in caplog.text
    assert gw.hub.state.config.version == version
    # the restore is no news: nothing changes on the next look
    assert gw.hub.deployer.reload(fix_files=True) is None


async def test_a_new_file_taking_a_deployed_name_fails_and_the_deployed_one_keeps_it(live):
    gw = await live({"proxies/Echo.xml": answer("one")})
    duplicate = gw.write("proxies/A_Echo.xml", answer("intruder"))  # loads before Echo.xml
    await gw.hub.reload()
    assert await gw.get_json("/services/Echo") == (200, {"v": "one"})
    assert not duplicate.exists() and duplicate.with_name("A_Echo.xml.back").exists()
    assert "already exists" in gw.hub.deployer.events[-1].problems[0].reason


async def test_a_request_in_flight_finishes_on_the_version_it_started_on(live, backend):
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def slow(request, body):
        if not arrived.is_set():
            arrived.set()
            await release.wait()
        return web.json_response({"backend": True})

    server = await backend(slow)

    def proxy(tag: str) -> str:
        return (
            f'<proxy {SYNAPSE} name="Slow"><target><inSequence><send><endpoint>'
            f'<address uri="{server.make_url("/x")}"/></endpoint></send></inSequence>'
            f'<outSequence><payloadFactory media-type="json"><format>{{"v":"{tag}"}}</format><args/>'
            "</payloadFactory><send/></outSequence></target></proxy>"
        )

    gw = await live({"proxies/Slow.xml": proxy("old")})
    in_flight = asyncio.create_task(gw.get_json("/services/Slow"))
    await asyncio.wait_for(arrived.wait(), HANG_GUARD)
    gw.write("proxies/Slow.xml", proxy("new"))
    await gw.hub.reload()
    assert await gw.get_json("/services/Slow") == (200, {"v": "new"})  # a new request: the new version
    release.set()
    assert await asyncio.wait_for(in_flight, HANG_GUARD) == (200, {"v": "old"})


async def test_connector_runtimes_and_the_http_transport_survive_a_reload(live):
    gw = await live({"proxies/Echo.xml": answer("one")})
    services = gw.client.app[SERVICES]
    transport, connectors = services.transport, dict(services.connectors)
    assert connectors  # the bundled twilioRest runtime was started
    gw.write("proxies/Echo.xml", answer("two"))
    await gw.hub.reload()
    assert await gw.get_json("/services/Echo") == (200, {"v": "two"})
    assert services.transport is transport
    assert services.connectors == connectors and all(
        services.connectors[name] is runtime for name, runtime in connectors.items()
    )


async def test_a_redeployed_proxy_starts_as_its_file_says_and_others_keep_their_switch(live):
    gw = await live({"proxies/Echo.xml": answer("one"), "proxies/Other.xml": answer("x").replace('"Echo"', '"Other"')})
    gw.hub.state.proxy_running.update(Echo=False, Other=False)
    assert (await gw.get_json("/services/Echo"))[0] == 503
    gw.write("proxies/Echo.xml", answer("two"))
    await gw.hub.reload()
    assert await gw.get_json("/services/Echo") == (200, {"v": "two"})  # MI: a new proxy object starts
    assert (await gw.get_json("/services/Other"))[0] == 503


async def test_the_watcher_redeploys_a_changed_file_without_being_asked(live):
    gw = await live({"proxies/Echo.xml": answer("one")}, watch=True)
    # The watcher subscribes in a thread of its own some time after the app starts and says nothing when it has
    # (a fixed pause was too short on a loaded machine): the file is written again each second until a write is
    # seen. Nothing here asks for a reload; only the watcher can deploy "two".
    deadline = time.monotonic() + HANG_GUARD
    written = 0.0
    while (await gw.get_json("/services/Echo"))[1] != {"v": "two"}:
        assert time.monotonic() < deadline, "the change was never deployed"
        if time.monotonic() - written > 1.0:
            gw.write("proxies/Echo.xml", answer("two"))
            written = time.monotonic()
        await asyncio.sleep(0.1)


async def test_an_api_file_deploys_and_undeploys_while_serving(live):
    gw = await live({"proxies/Echo.xml": answer("one")})
    assert (await gw.client.get("/hello")).status == 404
    gw.write(
        "api/Hello.xml",
        f'<api {SYNAPSE} name="Hello" context="/hello"><resource methods="GET"><inSequence>'
        '<payloadFactory media-type="json"><format>{"hello":true}</format><args/></payloadFactory>'
        "<respond/></inSequence></resource></api>",
    )
    await gw.hub.reload()
    response = await gw.client.get("/hello")
    assert (response.status, await response.json()) == (200, {"hello": True})
    (gw.root / "api" / "Hello.xml").unlink()
    await gw.hub.reload()
    assert (await gw.client.get("/hello")).status == 404


async def test_a_sequence_that_stays_deployed_does_not_hold_the_lists_of_a_redeployed_caller(live):
    """A sequence holding a split (here clone continueParent) runs with its caller's remaining mediators after it;
    the list it joins them into is kept only while the caller's version lives: redeploying the caller ten times
    leaves the unchanged sequence holding one such list, not ten (nor one from a list whose id a new one took)."""
    sequence = f"""<sequence {SYNAPSE} name="S"><clone continueParent="true">
      <target><sequence><drop/></sequence></target></clone></sequence>"""
    gw = await live({"sequences/S.xml": sequence, "proxies/Echo.xml": answer("0")})
    body = gw.hub.state.config.sequences["S"].body
    for version in range(1, 11):
        proxy = answer(str(version)).replace("<inSequence>", '<inSequence><sequence key="S"/>')
        gw.write("proxies/Echo.xml", proxy + " " * version)  # another size: seen whatever the clock
        await gw.hub.reload()
        assert await gw.get_json("/services/Echo") == (200, {"v": str(version)})
        assert gw.hub.state.config.sequences["S"].body is body  # the sequence itself was not rebuilt
    gc.collect()
    assert len(body._joined) == 1


async def test_a_changed_registry_resource_is_redeployed_with_a_new_version(live):
    """A sequence kept in the registry (gov:/) changes: the next message runs the new one."""
    sequence = f'<sequence {SYNAPSE} name="greet"><payloadFactory media-type="json"><format>{{"v":"%s"}}</format>'
    sequence += "<args/></payloadFactory><respond/></sequence>"
    proxy = f'<proxy {SYNAPSE} name="Greet"><target><inSequence><sequence key="gov:/seq/greet.xml"/>'
    proxy += "</inSequence></target></proxy>"
    gw = await live({"proxies/Greet.xml": proxy, "registry/governance/seq/greet.xml": sequence % "one"})
    assert await gw.get_json("/services/Greet") == (200, {"v": "one"})
    version = gw.hub.state.config.version
    assert await asyncio.to_thread(gw.hub.deployer.reload, fix_files=False) is None  # nothing changed
    gw.write("registry/governance/seq/greet.xml", sequence % "two" + " ")  # another size: seen whatever the clock
    await gw.hub.reload()
    assert await gw.get_json("/services/Greet") == (200, {"v": "two"})
    assert gw.hub.state.config.version != version


async def test_the_gateways_own_registry_writes_do_not_redeploy_and_a_users_edit_does(live):
    """MI never redeploys artifacts for a runtime registry write (property scope="registry"): a proxy recording
    a value in the registry on every request leaves the served version alone, while a user's edit of that file,
    a new file beside it and a changed sequence in the registry still redeploy."""
    sequence = f'<sequence {SYNAPSE} name="greet"><payloadFactory media-type="json"><format>{{"v":"%s"}}</format>'
    sequence += "<args/></payloadFactory><respond/></sequence>"
    proxy = f'<proxy {SYNAPSE} name="Greet"><target><inSequence>'
    proxy += '<property name="conf:/state/last" expression="get-property(\'MessageID\')" scope="registry"/>'
    proxy += '<property name="conf:/state/seen@count" value="1" scope="registry"/>'
    proxy += '<sequence key="gov:/seq/greet.xml"/></inSequence></target></proxy>'
    gw = await live({"proxies/Greet.xml": proxy, "registry/governance/seq/greet.xml": sequence % "one"})
    version = gw.hub.state.config.version
    for _ in range(3):
        assert await gw.get_json("/services/Greet") == (200, {"v": "one"})
        assert await asyncio.to_thread(gw.hub.deployer.reload, fix_files=False) is None, "its own write"
    written = gw.root / "registry/config/state/last"
    assert written.read_text(encoding="utf-8").startswith("urn:uuid:")
    assert (gw.root / "registry/config/state/seen.properties").read_text(encoding="utf-8") == "count=1\n"
    gw.write("registry/config/state/last", "edited by hand")
    assert await asyncio.to_thread(gw.hub.deployer.reload, fix_files=False) is not None, "a user's edit"
    gw.write("registry/config/state/new", "a new resource")
    assert await asyncio.to_thread(gw.hub.deployer.reload, fix_files=False) is not None, "a user's new file"
    gw.write("registry/governance/seq/greet.xml", sequence % "two" + " ")
    await gw.hub.reload()
    assert await gw.get_json("/services/Greet") == (200, {"v": "two"})
    assert gw.hub.state.config.version != version


def test_the_watcher_ignores_the_gateways_own_registry_writes(tmp_path):
    """A registry write's .metadata and temporary files are never resources, and a file the gateway wrote is no
    news: no reload round for them (with 10,000 SMS recorded a round still cost 0.4 s). A user's edit is."""
    from gateway.runtime.registry import Registry
    from gateway.transport.control import _artifact_events

    wanted = _artifact_events(tmp_path)
    root = tmp_path.resolve()
    Registry(root / "registry").write("conf:/sms/status", "queued")
    Registry(root / "registry").write("conf:/sms/seen@count", "1")
    assert wanted(None, str(root / "registry/config/sms/.metadata/status.meta")) is False
    assert wanted(None, str(root / "registry/config/sms/.status.abc.tmp")) is False
    assert wanted(None, str(root / "registry/config/sms/status")) is False
    assert wanted(None, str(root / "registry/config/sms/seen.properties")) is False
    (root / "registry/config/sms/status").write_text("edited by hand", encoding="utf-8")
    assert wanted(None, str(root / "registry/config/sms/status")) is True
    assert wanted(None, str(root / "registry/config/sms/other")) is True
    assert wanted(None, str(root / "proxies/Echo.xml")) is True
