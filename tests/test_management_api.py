"""MI's management API on its own port: login, the artifact resources, switches and log levels, checked
against MI's recorded request/response shapes (tests/data/mi_management_shapes.json, read from MI's resource
classes) and against MI's own OpenAPI description (tests/data/mi-management-api/)."""

from __future__ import annotations

import asyncio
import base64
import copy
import http.client
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from openapi_schema_validator import OAS30Validator

from gateway.connector import ConnectorRegistry
from gateway.deploy.hotdeploy import HotDeployer
from gateway.runtime.state import RuntimeState
from gateway.settings import ManagementSettings, ManagementUser, Settings, SettingsError, load_settings
from gateway.transport.control import Hub
from gateway.transport.management import AUTH, create_management_app
from gateway.transport.server import create_app
from tests.conftest import REPO, SYNAPSE, write_artifacts
from tests.support.subprocess_gateway import HANG_GUARD, free_port, get
from tests.support.waiting import until

DATA = Path(__file__).parent / "data"
SHAPES = orjson.loads((DATA / "mi_management_shapes.json").read_bytes())["exchanges"]
MI_OPENAPI = yaml.safe_load((DATA / "mi-management-api" / "management-api.yaml").read_text(encoding="utf-8"))
HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # cheap to verify: many logins here
USERS = (
    ManagementUser("admin", HASHER.hash("admin-pass"), admin=True),
    ManagementUser("viewer", HASHER.hash("viewer-pass"), admin=False),
)
ARTIFACTS = {
    "proxies/Echo.xml": f"""<proxy {SYNAPSE} name="Echo" statistics="enable"><target><inSequence>
        <payloadFactory media-type="json"><format>{{"ok":true}}</format><args/></payloadFactory><respond/>
        </inSequence></target></proxy>""",
    "proxies/Sleeper.xml": f"""<proxy {SYNAPSE} name="Sleeper" startOnLoad="false"><target><inSequence>
        <payloadFactory media-type="json"><format>{{"awake":true}}</format><args/></payloadFactory><respond/>
        </inSequence></target></proxy>""",
    "sequences/Audit.xml": f"""<sequence {SYNAPSE} name="Audit"><log level="simple"/>
        <property name="seen" value="yes"/></sequence>""",
    "endpoints/Backend.xml": f"""<endpoint {SYNAPSE} name="Backend">
        <address uri="http://127.0.0.1:9/backend"/></endpoint>""",
    "local-entries/Greeting.xml": f'<localEntry {SYNAPSE} key="Greeting">hello</localEntry>',
    "local-entries/Creds.xml": f"""<localEntry {SYNAPSE} key="Creds"><credentials {SYNAPSE}>
        <username>svc</username><password>hunter2</password></credentials></localEntry>""",
    "api/Orders.xml": f"""<api {SYNAPSE} name="Orders" context="/orders" version="1.0.0" version-type="url">
        <resource methods="GET" uri-template="/{{id}}"><inSequence><respond/></inSequence></resource>
        <resource methods="POST"><inSequence><respond/></inSequence></resource></api>""",
    "templates/Greet.xml": f"""<template {SYNAPSE} name="Greet"><parameter name="who"/>
        <sequence><log level="custom"><property name="hi" expression="$func:who"/></log></sequence></template>""",
}
# Keys MI's OpenAPI document shows that MI itself leaves out here: org.json drops a null value, and a
# sequence that is not in a CApp has no container name.
OMITTED_BY_MI = {("/sequences", "container")}


@dataclass
class Management:
    api: TestClient
    gateway: TestClient
    hub: Hub
    tokens: dict[str, str]

    async def call(self, method: str, path: str, *, user: str | None = "admin", json: Any = None) -> Any:
        headers = {}
        if user is not None:
            kind, _, name = user.partition(":") if ":" in user else ("bearer", "", user)
            if kind == "basic":
                secret = base64.b64encode(f"{name}:{name}-pass".encode()).decode()
                headers["Authorization"] = f"Basic {secret}"
            else:
                headers["Authorization"] = f"Bearer {self.tokens.get(name, name)}"
        data = orjson.dumps(json) if json is not None else None
        return await self.api.request(method, path, headers=headers, data=data)


@pytest.fixture(autouse=True)
def _restore_log_levels():
    """The logging resource changes process-wide levels: put them back for the other tests."""
    names = [None, *[name for name in logging.root.manager.loggerDict if name.startswith("gateway")]]
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def management(aiohttp_client, tmp_path):
    async def start(files: dict[str, str] | None = None, **management_overrides: Any) -> Management:
        root = write_artifacts(tmp_path / "artifacts", ARTIFACTS if files is None else files)
        options = {"users": USERS, **management_overrides}
        settings = Settings(artifacts=root, port=8290, management=ManagementSettings(**options))
        registry = ConnectorRegistry.discover()
        deployer = HotDeployer(root, settings, registry)
        state = RuntimeState(deployer.load())
        hub = Hub(state, deployer, settings)
        gateway = await aiohttp_client(create_app(settings, state.config, registry, state))
        api = await aiohttp_client(create_management_app(hub))
        found = Management(api, gateway, hub, {})
        for user in ("admin", "viewer"):
            response = await found.call("GET", "/management/login", user=f"basic:{user}")
            found.tokens[user] = (await response.json())["AccessToken"]
        return found

    return start


@pytest.mark.parametrize("exchange", SHAPES, ids=[shape["anchor"] for shape in SHAPES])
async def test_the_answer_has_the_shape_mi_gives(management, exchange):
    mgmt = await management()
    request = exchange["request"]
    response = await mgmt.call(
        request["method"], request["path"], user=exchange.get("user", "admin"), json=request.get("json")
    )
    assert response.status == exchange["status"], await response.text()
    for header in exchange.get("headers", []):
        assert header in response.headers
    if not any(key in exchange for key in ("keys", "keys_include", "body", "values", "item_keys")):
        return
    assert response.content_type == "application/json"
    body = await response.json()
    if "body" in exchange:
        assert body == exchange["body"]
    if "keys" in exchange:
        assert sorted(body) == sorted(exchange["keys"])
    for key in exchange.get("keys_include", []):
        assert key in body
    for key, value in exchange.get("values", {}).items():
        assert body[key] == value, key
    if "item_keys" in exchange:
        assert body["list"], "the fixture artifacts give at least one item"
        assert body["count"] == len(body["list"]) == exchange.get("count", len(body["list"]))
        for item in body["list"]:
            assert sorted(item) == sorted(exchange["item_keys"])
    for key, value in exchange.get("values_of_first", {}).items():
        assert body["list"][0][key] == value
    if "value_contains" in exchange:
        assert exchange["value_contains"] in body["value"] and exchange["value_lacks"] not in body["value"]


def _every_property_required(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """MI's document lists the keys of each answer without marking them required: here they all are."""
    schema = copy.deepcopy(schema)

    def walk(node: dict[str, Any]) -> None:
        if node.get("type") == "object" and "properties" in node:
            node["required"] = [key for key in node["properties"] if (path, key) not in OMITTED_BY_MI]
            for child in node["properties"].values():
                walk(child)
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            walk(node["items"])

    walk(schema)
    return schema


DOCUMENTED_GETS = [
    ("/proxy-services", ""),
    ("/endpoints", ""),
    ("/sequences", ""),
    ("/local-entries", ""),
    ("/templates", ""),
    ("/connectors", ""),
    ("/logging", "?loggerName=rootLogger"),
    ("/server", ""),
    ("/tasks", ""),
    ("/apis", ""),
    ("/inbound-endpoints", ""),
    ("/message-stores", ""),
    ("/message-processors", ""),
]


@pytest.mark.parametrize(("path", "query"), DOCUMENTED_GETS)
async def test_the_answer_validates_against_mis_openapi_document(management, path, query):
    mgmt = await management()
    response = await mgmt.call("GET", f"/management{path}{query}")
    assert response.status == 200
    body = await response.json()
    schema = MI_OPENAPI["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    OAS30Validator(_every_property_required(schema, path)).validate(body)


async def test_deactivating_a_proxy_stops_it_and_activating_it_starts_it_again(management):
    mgmt = await management()
    assert (await mgmt.gateway.post("/services/Echo", json={})).status == 200
    response = await mgmt.call("POST", "/management/proxy-services", json={"name": "Echo", "status": "inactive"})
    assert response.status == 200
    stopped = await mgmt.gateway.post("/services/Echo", json={})
    assert stopped.status == 503
    assert "deactivated" in (await stopped.text())
    details = await (await mgmt.call("GET", "/management/proxy-services?proxyServiceName=Echo")).json()
    assert details["isRunning"] is False
    await mgmt.call("POST", "/management/proxy-services", json={"name": "Echo", "status": "active"})
    assert (await mgmt.gateway.post("/services/Echo", json={})).status == 200


async def test_a_proxy_deployed_with_start_on_load_false_can_be_activated(management):
    mgmt = await management()
    assert (await mgmt.gateway.post("/services/Sleeper", json={})).status == 503
    await mgmt.call("POST", "/management/proxy-services", json={"name": "Sleeper", "status": "active"})
    response = await mgmt.gateway.post("/services/Sleeper", json={})
    assert (response.status, await response.json()) == (200, {"awake": True})


async def test_a_read_only_user_cannot_change_anything(management):
    mgmt = await management()
    for method, path, body in (
        ("POST", "/management/proxy-services", {"name": "Echo", "status": "inactive"}),
        ("POST", "/management/message-processors", {"name": "P", "status": "inactive"}),
        ("PATCH", "/management/logging", {"loggerName": "gateway.http", "loggingLevel": "DEBUG"}),
    ):
        response = await mgmt.call(method, path, user="viewer", json=body)
        assert response.status == 403, path
    assert (await mgmt.gateway.post("/services/Echo", json={})).status == 200
    assert (await mgmt.call("GET", "/management/proxy-services", user="viewer")).status == 200


async def test_the_logging_resource_changes_a_level_at_run_time(management):
    mgmt = await management()
    logging.getLogger("gateway.http").setLevel(logging.INFO)
    response = await mgmt.call(
        "PATCH", "/management/logging", json={"loggerName": "gateway.http", "loggingLevel": "DEBUG"}
    )
    assert response.status == 200
    assert logging.getLogger("gateway.http").level == logging.DEBUG
    data = await (await mgmt.call("GET", "/management/logging?loggerName=gateway.http")).json()
    assert data == {"loggerName": "gateway.http", "componentName": "gateway.http", "level": "DEBUG"}
    await mgmt.call("PATCH", "/management/logging", json={"loggerName": "rootLogger", "loggingLevel": "WARN"})
    assert logging.getLogger().level == logging.WARNING


async def test_login_refuses_a_wrong_password_and_logout_revokes_the_token(management):
    mgmt = await management()
    wrong = base64.b64encode(b"admin:guess").decode()
    response = await mgmt.api.get("/management/login", headers={"Authorization": f"Basic {wrong}"})
    assert response.status == 401
    unknown = base64.b64encode(b"nobody:guess").decode()
    assert (await mgmt.api.get("/management/login", headers={"Authorization": f"Basic {unknown}"})).status == 401
    assert (await mgmt.call("GET", "/management/logout")).status == 200
    assert (await mgmt.call("GET", "/management/proxy-services")).status == 401
    assert (await mgmt.call("GET", "/management/proxy-services", user="viewer")).status == 200


async def test_a_token_expires(management, monkeypatch):
    mgmt = await management(token_expiry=60)
    assert (await mgmt.call("GET", "/management/server")).status == 200
    logins = mgmt.api.app[AUTH]
    later = logins.clock() + 61
    monkeypatch.setattr(logins, "clock", lambda: later)
    assert (await mgmt.call("GET", "/management/server")).status == 401


async def test_the_dashboard_data_shows_states_failures_and_request_counts(management):
    files = {
        **ARTIFACTS,
        "proxies/Broken.xml": f'<proxy {SYNAPSE} name="Broken"><target><inSequence>\n<bogus/>'
        "</inSequence></target></proxy>",
    }
    mgmt = await management(files)
    for _ in range(3):
        await mgmt.gateway.post("/services/Echo", json={})
    data = await (await mgmt.call("GET", "/management/dashboard")).json()
    proxies = {item["name"]: item for item in data["artifacts"] if item["kind"] == "proxy"}
    assert proxies["Echo"]["state"] == "active" and proxies["Echo"]["requests"] == 3
    assert proxies["Sleeper"]["state"] == "inactive"
    (problem,) = data["failed"]
    assert problem["path"].endswith("proxies/Broken.xml") and problem["line"] == 2
    assert data["user"] == {"name": "admin", "admin": True}
    ready = await mgmt.call("GET", "/healthz", user=None)
    assert ready.status == 500 and (await ready.json())["status"].startswith("not ready")


def test_the_config_refuses_a_plain_password(tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text("management:\n  users:\n    - name: admin\n      password: admin\n", encoding="utf-8")
    with pytest.raises(
        SettingsError, match=r"gateway.yaml:4: .*password' has an invalid value \(not shown\).*hash-password"
    ) as refused:
        load_settings(config)
    assert "admin'" not in str(refused.value)  # the password is not echoed
    hashed = HASHER.hash("s3cret")
    config.write_text(
        f"management:\n  port: 9999\n  users:\n    - name: ops\n      password: '{hashed}'\n      admin: false\n"
    )
    settings = load_settings(config)
    assert settings.management.port == 9999
    assert settings.management.users == (ManagementUser("ops", hashed, admin=False),)


def test_hash_password_prints_an_argon2_hash_of_the_password():
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "hash-password", "--password-stdin"],
        input="correct horse\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    hashed = result.stdout.strip()
    assert hashed.startswith("$argon2id$") and HASHER.verify(hashed, "correct horse")


def test_with_workers_the_supervisor_serves_the_api_and_every_worker_follows_it(serve, tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text(f"management:\n  users:\n    - name: admin\n      password: '{USERS[0].password_hash}'\n")
    port, management_port = free_port(), free_port()
    gw = serve(port, 2, files=ARTIFACTS, args=["--config", str(config), "--management-port", str(management_port)])
    for pid in gw.wait_started(2).values():
        gw.wait_serving(pid)

    def call(method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", management_port, timeout=HANG_GUARD)
        secret = base64.b64encode(b"admin:admin-pass").decode()
        headers = {"Authorization": f"Bearer {token}" if token else f"Basic {secret}"}
        connection.request(method, path, body=orjson.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, orjson.loads(data) if data else None

    token = call("GET", "/management/login")[1]["AccessToken"]
    assert call("POST", "/management/proxy-services", token, {"name": "Echo", "status": "inactive"})[0] == 200
    answered: dict[int, int] = {}

    def every_worker_answers(status: int) -> bool:
        # One connection reaches one worker: ask it who it is, then call the proxy on the same connection.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG_GUARD)
        connection.request("GET", "/healthz")
        pid = orjson.loads(connection.getresponse().read())["pid"]
        connection.request("POST", "/services/Echo", body=b"{}", headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        connection.close()
        answered[pid] = response.status
        return len(answered) == 2 and set(answered.values()) == {status}

    gw.wait_until(lambda: every_worker_answers(503), "every worker to stop Echo")
    assert call("POST", "/management/proxy-services", token, {"name": "Echo", "status": "active"})[0] == 200
    answered.clear()
    gw.wait_until(lambda: every_worker_answers(200), "every worker to start Echo again")
    before = {item["name"]: item for item in call("GET", "/management/dashboard", token)[1]["artifacts"]}
    for _ in range(10):
        assert get(port, "/services/Echo")[0] == 200
    after = {item["name"]: item for item in call("GET", "/management/dashboard", token)[1]["artifacts"]}
    assert after["Echo"]["requests"] - before["Echo"]["requests"] == 10  # summed over both workers


async def test_stores_show_their_size_and_a_processor_is_deactivated_and_activated(management, aiohttp_server):
    from aiohttp import web

    delivered: list[bytes] = []

    async def take(request: web.Request) -> web.Response:
        delivered.append(await request.read())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/in", take)
    backend = await aiohttp_server(app)
    forwarder = "org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor"
    mgmt = await management(
        {
            "proxies/Queue.xml": f"""<proxy {SYNAPSE} name="Queue"><target><inSequence>
                <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/><property name="OUT_ONLY" value="true"/>
                <store messageStore="Pending"/></inSequence></target></proxy>""",
            "message-stores/Pending.xml": f'<messageStore {SYNAPSE} name="Pending"/>',
            "endpoints/In.xml": f'<endpoint {SYNAPSE} name="In"><address uri="{backend.make_url("/in")}"/></endpoint>',
            "message-processors/Fwd.xml": f"""<messageProcessor {SYNAPSE} name="Fwd" class="{forwarder}"
                messageStore="Pending" targetEndpoint="In"><parameter name="interval">20</parameter>
                <parameter name="is.active">false</parameter></messageProcessor>""",
        }
    )
    for i in range(3):
        assert (await mgmt.gateway.post("/services/Queue", json={"n": i})).status == 202
    stores = await (await mgmt.call("GET", "/management/message-stores")).json()
    assert stores["list"] == [{"name": "Pending", "type": "in-memory-message-store", "size": 3}]
    processor = await (await mgmt.call("GET", "/management/message-processors?name=Fwd")).json()
    assert processor["status"] == "inactive" and delivered == []
    response = await mgmt.call("POST", "/management/message-processors", json={"name": "Fwd", "status": "active"})
    assert response.status == 200
    await until(lambda: len(delivered) == 3)
    assert [orjson.loads(body)["n"] for body in delivered] == [0, 1, 2]
    await mgmt.call("POST", "/management/message-processors", json={"name": "Fwd", "status": "inactive"})
    await asyncio.sleep(0.3)  # let a tick that was already under way finish
    assert (await mgmt.gateway.post("/services/Queue", json={"n": 3})).status == 202
    await asyncio.sleep(0.3)
    assert len(delivered) == 3, "an inactive processor delivers nothing"
    stores = await (await mgmt.call("GET", "/management/message-stores?name=Pending")).json()
    assert stores["size"] == 1
