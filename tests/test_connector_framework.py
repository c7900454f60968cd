"""The connector framework with a throw-away connector (descriptor + module written per test): discovery,
descriptor checks, deploy-time errors, parameter semantics, options, timeouts and configKey connections."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from lxml import etree

import gateway.connector.registry as framework
from gateway.connector import (
    NO_CONNECTION,
    Connector,
    ConnectorDefinitionError,
    ConnectorError,
    ConnectorRegistry,
    load_connector,
)
from gateway.connector.binding import bind_operation, connection_from_entry
from gateway.connector.mediator import ConnectorOperation
from gateway.deploy.loader import load
from gateway.deploy.registry import FactoryContext
from gateway.errors import DeployError
from gateway.runtime.configuration import LocalEntry
from gateway.runtime.services import Services
from gateway.settings import Settings
from gateway.transport.server import SERVICES
from tests.conftest import SYNAPSE, write_artifacts

OPS_MODULE = """
import asyncio

import aiohttp
import orjson


class Runtime:
    def __init__(self, options):
        self.options = options
        self.closed = False

    async def close(self):
        self.closed = True


async def start(services, options):
    if options.get("greeting") == "fail":
        raise RuntimeError("cannot start")
    return Runtime(options)


async def connect(call):
    call.ctx.properties["fake.server"] = call.value("server")


async def echo(call):
    body = {"args": call.arguments, "server": call.ctx.properties.get("fake.server"),
            "greeting": call.runtime.options["greeting"], "timeout": call.timeout}
    call.set_result(200, orjson.dumps(body), "application/json", {"X-Fake": "1"})


async def slow(call):
    call.target = "GET http://slow.example"
    await asyncio.sleep(5)


async def refuse(call):
    call.target = "GET http://refusing.example"
    raise aiohttp.ClientConnectionError("connection refused")


async def broken(call):
    raise ValueError("internal state x=42 of /srv/secret/path")


async def settle(call):  # declared local: no I/O, so no timeout around it (the sleep stands for slow CPU work)
    await asyncio.sleep(0.4)
    call.ctx.properties["fake.settled"] = "yes"
"""

DESCRIPTOR = """
name: fake
description: a connector for tests
module: fake_connector_ops
start: start
connection: connect
options:
  greeting: {type: str, default: hello}
operations:
  connect:
    parameters:
      server: {mandatory: true}
  echo:
    parameters:
      required: {mandatory: true}
      coded: {mandatory: false}
      withDefault: {default: dflt}
      many: {repeatable: true, max: 3, split: ";"}
      renamed: {aliases: [oldName]}
  slow: {}
  refuse: {}
  broken: {}
  settle: {local: true}
"""

FAULT_SEQ = f"""
    <sequence {SYNAPSE} name="onErr">
      <log level="custom"><property name="CONNECTOR_ERROR" expression="get-property('CONNECTOR_ERROR')"/>
        <property name="ERROR_CODE" expression="get-property('ERROR_CODE')"/></log>
      <respond/>
    </sequence>"""


@pytest.fixture
def fake(tmp_path, monkeypatch) -> Connector:
    package = tmp_path / "fakepkg"
    package.mkdir()
    (package / "fake_connector_ops.py").write_text(textwrap.dedent(OPS_MODULE), encoding="utf-8")
    (package / "connector.yaml").write_text(textwrap.dedent(DESCRIPTOR), encoding="utf-8")
    monkeypatch.syspath_prepend(str(package))
    return load_connector(package / "connector.yaml")


@pytest.fixture
def registry(fake) -> ConnectorRegistry:
    """A registry with only the fake connector (pass it to the gateway: `gateway(files, registry=registry)`)."""
    return ConnectorRegistry([fake])


def proxy(name: str, body: str, on_error: str = "onErr") -> str:
    return f"""<proxy {SYNAPSE} name="{name}"><target><inSequence onError="{on_error}">
{textwrap.dedent(body).strip()}
<respond/></inSequence></target></proxy>"""


def deploy_errors(tmp_path: Path, registry: ConnectorRegistry, body: str) -> list[str]:
    root = write_artifacts(tmp_path / "deploy", {"proxies/p.xml": proxy("p", body)}, with_defaults=False)
    return [str(error) for error in load(root, connectors=registry).failed]


# -- descriptors and discovery ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("name: fake", "name: fake\nbogus: 1"), "unknown key(s) bogus"),
        (("module: fake_connector_ops", "module: no_such_module_xyz"), "cannot import module 'no_such_module_xyz'"),
        (("  slow: {}", "  slow: {handler: nothing_here}"), "has no callable 'nothing_here'"),
        (("  refuse: {}", "  refuse:\n    parameters:\n      x: {max: 2}"), "'max' is a positive integer"),
        (("renamed: {aliases: [oldName]}", "renamed: {aliases: [required]}"), "'required' is declared twice"),
        (("connection: connect", "connection: nope"), "connection operation 'nope' is not declared"),
        (("      server: {mandatory: true}", "      server: {mandatry: true}"), "unknown key(s) mandatry"),
        (("  settle: {local: true}", "  settle: {local: maybe}"), "settle.local: must be true or false"),
    ],
)
def test_descriptor_problems_are_reported(fake, tmp_path, change, expected):
    descriptor = tmp_path / "fakepkg" / "connector.yaml"
    text = descriptor.read_text(encoding="utf-8")
    assert change[0] in text
    descriptor.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(ConnectorDefinitionError, match=re.escape(expected)) as info:
        load_connector(descriptor)
    assert str(descriptor) in str(info.value)


def test_handlers_default_to_snake_case_and_specs_are_complete(fake):
    assert fake.operations["echo"].handler.__name__ == "echo"
    many = fake.operations["echo"].parameters["many"]
    assert (many.repeatable, many.max_occurs, many.split) == (True, 3, ";")
    assert fake.operations["echo"].element_names["oldName"] == "renamed"
    assert set(fake.options) == {"greeting", "timeout"}  # timeout is every connector's option


def test_discovery_finds_the_bundled_connector_and_dedupes_entry_points(fake, monkeypatch):
    from synapse_gateway_connectors.twilio_rest import CONNECTOR as twilio

    def entry(name: str, load):
        return SimpleNamespace(name=name, value=f"pkg:{name}", load=load)

    def broken():
        raise ImportError("no such package")

    impostor = Connector("twilioRest", [], source="impostor")
    points = [
        entry("twilioRest", lambda: twilio),
        entry("fake", lambda: fake),
        entry("dup", lambda: impostor),
        entry("broken", broken),
        entry("junk", lambda: 42),
    ]
    monkeypatch.setattr(framework, "entry_points", lambda group: points if group == framework.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(framework, "_DISCOVERED", None)
    registry = ConnectorRegistry.discover(refresh=True)
    assert registry.names() == ["crypto", "fake", "twilioRest"]  # crypto: bundled too (docs/phone-verification.md)
    assert registry.get("twilioRest") is twilio  # bundled package and entry point: the same object, once
    problems = " | ".join(registry.problems)
    assert "already provided by" in problems and "impostor" not in registry.get("twilioRest").source
    assert "broken" in problems and "no such package" in problems and "not a Connector (int)" in problems
    again = ConnectorRegistry.discover()  # cached: no second scan, the same connectors
    assert again is not registry and again.get("fake") is fake


# -- deploy-time errors ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<fak.echo/>", "p.xml:2: fak.echo: unknown connector 'fak' (did you mean 'fake'?)"),
        ("<fake.ecko/>", "p.xml:2: fake.ecko: unknown operation 'ecko' of connector 'fake' (did you mean 'echo'?)"),
        (
            "<fake.echo>\n<requird>x</requird></fake.echo>",
            "p.xml:3: fake.echo: unknown parameter 'requird' (did you mean 'required'?)",
        ),
        ("<fake.echo><oldNam>x</oldNam></fake.echo>", "unknown parameter 'oldNam' (did you mean 'oldName'?)"),
        ("<fake.echo><required>a</required><required>b</required></fake.echo>", "is given more than once"),
        ("<fake.echo><renamed>a</renamed><oldName>b</oldName></fake.echo>", "'renamed' is given more than once"),
        ("<fake.echo><required><x/></required></fake.echo>", "takes a text value, not elements"),
        ("<fake.echo>oops</fake.echo>", "text is not allowed here"),
        ("<fake.echo><required>{//[}</required></fake.echo>", "invalid value for parameter 'required'"),
        ("<fake.echo confKey='x'/>", "unknown attribute 'confKey' (did you mean 'configKey'?)"),
        ("<fake.connect configKey='x'><server>s</server></fake.connect>", "configKey cannot be used on fake.connect"),
        ("<fake.echo configKey=' '/>", "configKey is empty"),
    ],
)
def test_deploy_errors_name_the_place_and_suggest(tmp_path, registry, body, expected):
    errors = deploy_errors(tmp_path, registry, body)
    assert len(errors) == 1 and expected in errors[0], errors


def test_reads_body_only_when_a_value_needs_it(registry):
    fctx = FactoryContext("x.xml", connectors=registry)

    def build(xml: str) -> ConnectorOperation:
        mediator = fctx.build_mediator(etree.fromstring(f"<fake.echo {SYNAPSE}>{xml}</fake.echo>"))
        assert isinstance(mediator, ConnectorOperation)
        return mediator

    assert not build("<required>{$ctx:a}</required><coded>{get-property('b')}</coded>").reads_body
    assert not build("<required>literal</required><many>{{not an expression}}</many>").reads_body
    assert build("<required>{//a/text()}</required>").reads_body
    assert build("<required>{json-eval($.a)}</required>").reads_body
    assert not build("<required/>").reads_body  # empty = absent: nothing to evaluate
    assert build("<required>x</required>").qualified_name == "fake.echo"


# -- runtime semantics -----------------------------------------------------------------------------
async def test_parameters_defaults_repeats_aliases_and_literals(gateway, registry):
    body = """<fake.connect><server>{//server/text()}</server></fake.connect>
              <fake.echo><required>{//r/text()}</required><coded>   </coded>
                <many>a; b</many><many>{//m/text()}</many><oldName>{{kept literally}}</oldName></fake.echo>"""
    gw = await gateway(
        {"proxies/p.xml": proxy("p", body), "sequences/onErr.xml": FAULT_SEQ},
        connectors={"fake": {"greeting": "hi", "timeout": 2}},
        registry=registry,
    )
    assert not gw.config.failed, gw.config.failed
    response = await gw.post("/services/p", json={"r": "R", "m": "c", "server": "S1"})
    assert response.status == 200 and response.headers["X-Fake"] == "1"
    result = await response.json()
    assert result["args"] == {
        "required": ["R"],
        "withDefault": ["dflt"],
        "many": ["a", "b", "c"],
        "renamed": ["{kept literally}"],
    }
    assert (result["server"], result["greeting"], result["timeout"]) == ("S1", "hi", 2.0)
    assert gw.app[SERVICES].connectors["fake"].options == {"greeting": "hi", "timeout": 2.0}

    response = await gw.post("/services/p", json={"r": "R", "m": "d;e", "server": "S1"})
    assert response.status == 400  # four values for a max of three
    error = (await response.json())["error"]
    assert error["code"] == 500102 and "'many'" in error["message"] and "at most 3" in error["message"]


@pytest.mark.parametrize("payload", [{"server": "S"}, {"server": "S", "r": ""}, {"server": "S", "r": "  "}])
async def test_missing_or_empty_mandatory_fails_before_the_operation(gateway, registry, caplog, payload):
    body = """<fake.connect><server>{//server/text()}</server></fake.connect>
              <fake.echo><required>{//r/text()}</required></fake.echo>"""
    gw = await gateway({"proxies/p.xml": proxy("p", body), "sequences/onErr.xml": FAULT_SEQ}, registry=registry)
    caplog.set_level("INFO")
    response = await gw.post("/services/p", json=payload)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error == {
        "code": 500101,
        "message": "fake.echo: mandatory parameter 'required' is missing: no value was given",
    }
    assert "CONNECTOR_ERROR = fake.echo" in caplog.text and "ERROR_CODE = 500101" in caplog.text


async def test_timeouts_and_connection_failures_map_to_mi_codes(gateway, registry):
    files = {
        "proxies/slow.xml": proxy("slow", "<fake.slow/>"),
        "proxies/refuse.xml": proxy("refuse", "<fake.refuse/>"),
        "sequences/onErr.xml": FAULT_SEQ,
    }
    gw = await gateway(files, connectors={"fake": {"timeout": 0.2}}, registry=registry)
    response = await gw.post("/services/slow", json={})
    assert response.status == 504  # the operation sleeps 5 s and would end without a fault
    assert (await response.json())["error"]["code"] == 101504
    response = await gw.post("/services/refuse", json={})
    assert response.status == 502
    error = (await response.json())["error"]
    assert error["code"] == 101503 and "http://refusing.example" in error["message"]


async def test_a_local_operation_runs_without_the_timeout(gateway, registry, fake):
    """`local: true` (no I/O, like twilioRest.init): no timer is armed for it, so the 0.2 s timeout that stops
    fake.slow does not apply; every other operation keeps it."""
    assert fake.operations["settle"].local and not fake.operations["slow"].local
    files = {
        "proxies/settle.xml": f"""<proxy {SYNAPSE} name="settle"><target><inSequence onError="onErr">
            <fake.settle/>
            <payloadFactory media-type="json"><format>{{"settled": "$1"}}</format>
              <args><arg expression="$ctx:fake.settled"/></args></payloadFactory>
            <respond/></inSequence></target></proxy>""",
        "sequences/onErr.xml": FAULT_SEQ,
    }
    gw = await gateway(files, connectors={"fake": {"timeout": 0.2}}, registry=registry)
    response = await gw.post("/services/settle", json={})
    assert response.status == 200, await response.text()
    assert await response.json() == {"settled": "yes"}


async def test_xml_client_gets_connector_errors_in_its_format(gateway, registry):
    gw = await gateway(
        {"proxies/refuse.xml": proxy("refuse", "<fake.refuse/>"), "sequences/onErr.xml": FAULT_SEQ}, registry=registry
    )
    response = await gw.post(
        "/services/refuse", data=b"<a/>", headers={"Content-Type": "application/xml", "Accept": "application/xml"}
    )
    assert response.status == 502 and response.headers["Content-Type"].startswith("application/xml")
    tree = etree.fromstring(await response.read())
    assert tree.findtext(".//code") == "101503"


async def test_config_key_entries_are_compiled_once_per_deployed_entry(gateway, registry, fake):
    entry = f"""<localEntry {SYNAPSE} key="conn"><fake.connect><server>{{$ctx:srv}}</server></fake.connect>
    </localEntry>"""
    body = """<property name="srv" expression="//s/text()"/>
              <fake.echo configKey="conn"><required>x</required></fake.echo>"""
    gw = await gateway(
        {"local-entries/conn.xml": entry, "proxies/p.xml": proxy("p", body), "sequences/onErr.xml": FAULT_SEQ},
        registry=registry,
    )
    assert not gw.config.failed, gw.config.failed
    for server in ("one", "two"):
        response = await gw.post("/services/p", json={"s": server})
        assert (await response.json())["server"] == server
    cached_entry, bound = fake.connections["conn"]
    assert cached_entry is gw.config.local_entries["conn"]
    assert connection_from_entry(fake, "conn", cached_entry) is bound  # no recompilation per message
    redeployed = LocalEntry("conn", cached_entry.value, cached_entry.location)
    assert connection_from_entry(fake, "conn", redeployed) is not bound  # a new entry object is recompiled

    response = await gw.post("/services/p", json={})  # the connection's own mandatory parameter
    assert response.status == 400
    assert "fake.connect: mandatory parameter 'server'" in (await response.json())["error"]["message"]


# -- start-up --------------------------------------------------------------------------------------
async def test_start_validates_options_and_closes_on_failure(fake):
    second = Connector("second", [], start=fake.start, options=fake.options.values())
    registry = ConnectorRegistry([fake, second])
    runtimes = await registry.start(Services(Settings()))
    assert set(runtimes) == {"fake", "second"} and runtimes["fake"].options["greeting"] == "hello"

    with pytest.raises(ValueError, match=r"connectors.fake: unknown option\(s\) greting"):
        await registry.start(Services(Settings(connectors={"fake": {"greting": "x"}})))
    with pytest.raises(ValueError, match="connectors.fake.timeout must be a float"):
        await registry.start(Services(Settings(connectors={"fake": {"timeout": "soon"}})))

    started: list = []
    original = fake.start

    async def recording(services, options):
        runtime = await original(services, options)
        started.append(runtime)
        return runtime

    fake.start = recording
    with pytest.raises(RuntimeError, match="cannot start"):
        await registry.start(Services(Settings(connectors={"second": {"greeting": "fail"}})))
    assert len(started) == 1 and started[0].closed  # the first runtime was closed again


def test_timeout_option_overrides_the_gateway_default(fake):
    assert fake.timeout_for(Settings(connector_timeout=7)) == 7.0
    assert fake.timeout_for(Settings(connectors={"fake": {"timeout": 0.25}})) == 0.25


async def test_operation_mediator_waits_for_a_started_runtime(registry, fake):
    # Deployed but not started (e.g. a test app without start-up): a clear error, not an AttributeError.
    from gateway.runtime.configuration import Configuration

    element = etree.fromstring(f"<fake.echo {SYNAPSE}><required>x</required></fake.echo>")
    bound = bind_operation(fake, fake.operations["echo"], element, "x.xml")
    ctx = SimpleNamespace(
        exchange=SimpleNamespace(services=Services(Settings())),
        properties={},
        axis2={},
        config=Configuration.empty(),
        transport_headers={},
    )
    with pytest.raises(ConnectorError, match="not started") as info:
        await bound.invoke(ctx)  # type: ignore[arg-type]
    assert info.value.code == NO_CONNECTION and ctx.properties["CONNECTOR_ERROR"] == "fake.echo"


def test_local_entry_connections_can_be_checked_at_deploy_time(registry):
    good = etree.fromstring(f"<fake.connect {SYNAPSE}><server>{{$ctx:s}}</server></fake.connect>")
    registry.check_local_entry(good, "le.xml")
    registry.check_local_entry(etree.fromstring("<some.other><x/></some.other>"), "le.xml")  # not ours
    registry.check_local_entry(etree.fromstring(f"<fake.echo {SYNAPSE}><bogus/></fake.echo>"), "le.xml")
    bad = etree.fromstring(f"<fake.connect {SYNAPSE}>\n<sever>x</sever></fake.connect>")
    with pytest.raises(
        DeployError,
        match=r"le.xml:2: fake.connect: unknown parameter 'sever' "
        r"\(did you mean 'server'\?\)",
    ):
        registry.check_local_entry(bad, "le.xml")


async def test_an_internal_failure_gives_the_client_an_id_and_the_log_the_details(gateway, registry, caplog):
    # the finding: exception text (ValueError…, ClientPayloadError…) reached clients with code 0
    client = await gateway({"proxies/P.xml": proxy("P", "<fake.broken/>", on_error="fault")}, registry=registry)
    response = await client.post("/services/P", json={})
    assert response.status == 500
    error = (await response.json())["error"]
    assert re.fullmatch(r"Internal error \(activity id [0-9a-f]{32}\)", error["message"])
    assert "ValueError" not in await response.text() and "/srv/secret" not in await response.text()
    activity = error["message"].split()[-1].rstrip(")")
    logged = [r for r in caplog.records if activity in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback is in the log, under the same id
    assert "internal state x=42" in logged[0].getMessage()
