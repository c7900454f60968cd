"""Deployment: fail-safe loading, duplicates, unknown elements, `gateway validate`, /healthz (§7)."""

from __future__ import annotations

import subprocess
import sys

import orjson

from gateway.cli import main as cli
from tests.conftest import write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'
GOOD = f'<proxy {S} name="Good"><target><inSequence><respond/></inSequence></target></proxy>'


async def test_fail_safe_start_with_one_bad_file_among_good_ones(gateway):
    client = await gateway(
        {
            "proxies/Good.xml": GOOD,
            "proxies/Broken.xml": f'<proxy {S} name="Broken"><target><inSequence><respond></inSequence></target>',
            "proxies/Typo.xml": f'<proxy {S} name="Typo"><target><inSequence><respnd/></inSequence></target></proxy>',
        }
    )
    response = await client.post("/services/Good", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 200
    health = orjson.loads(await (await client.get("/healthz")).read())
    assert health["status"] == "ok"
    assert {(a["kind"], a["name"]) for a in health["deployed"]} >= {("proxy", "Good"), ("sequence", "fault")}
    failed = {f["path"].rsplit("/", 1)[-1]: f for f in health["failed"]}
    assert set(failed) == {"Broken.xml", "Typo.xml"}
    assert failed["Typo.xml"]["element"] == "respnd" and failed["Typo.xml"]["line"] == 1
    assert "respond" in failed["Typo.xml"]["hint"]
    assert (await client.post("/services/Typo", data=b"<a/>")).status == 404


def test_validate_reports_path_line_element_reason_and_did_you_mean(tmp_path, capsys):
    root = write_artifacts(
        tmp_path,
        {
            "proxies/Good.xml": GOOD,
            "proxies/Typo.xml": f"""
            <proxy {S} name="Typo">
              <target>
                <inSequence>
                  <property name="a" expresion="//a"/>
                </inSequence>
              </target>
            </proxy>""",
            "sequences/s.xml": f"""
            <sequence {S} name="s">
              <lgo level="full"/>
            </sequence>""",
        },
        with_defaults=False,
    )
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out.splitlines()
    typo = next(line for line in out if "Typo.xml" in line)
    assert ":4: property: unknown attribute 'expresion'" in typo and "did you mean 'expression'?" in typo
    seq = next(line for line in out if "s.xml" in line)
    assert ":2: lgo: unknown mediator 'lgo'" in seq and "did you mean 'log'?" in seq


def test_validate_exit_code_zero_when_everything_loads(tmp_path, capsys):
    root = write_artifacts(tmp_path, {"proxies/Good.xml": GOOD})
    assert cli(["validate", str(root)]) == 0
    assert capsys.readouterr().out == ""


def test_validate_the_shipped_artifacts_via_the_console_script():
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "validate", "."],
        capture_output=True,
        text=True,
        cwd=str(__import__("tests.conftest").conftest.REPO),
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 problem(s)" in result.stderr


def test_duplicate_names_and_wrong_namespace_and_unknown_root(tmp_path, capsys):
    root = write_artifacts(
        tmp_path,
        {
            "proxies/A.xml": GOOD,
            "proxies/B.xml": GOOD,
            "proxies/NoNs.xml": '<proxy name="X"><target><inSequence><respond/></inSequence></target></proxy>',
            "sequences/task.xml": f'<task {S} name="x"/>',
            "sequences/odd.xml": f'<sequense {S} name="x"/>',
        },
        with_defaults=False,
    )
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "B.xml:1: proxy: proxy named 'Good' already exists (defined in" in out
    assert "NoNs.xml:1: proxy: element is in namespace ''" in out
    assert "task.xml:1: task: a <task> does not belong in sequences/" in out  # tasks deploy from tasks/
    assert "did you mean 'sequence'?" in out


def test_proxy_structure_errors(tmp_path, capsys):
    root = write_artifacts(
        tmp_path,
        {
            "proxies/NoTarget.xml": f'<proxy {S} name="NoTarget"/>',
            "proxies/Empty.xml": f'<proxy {S} name="Empty"><target/></proxy>',
            "proxies/NoName.xml": f"<proxy {S}><target><inSequence><respond/></inSequence></target></proxy>",
            "proxies/BadChild.xml": f'<proxy {S} name="B"><targt/></proxy>',
            "proxies/UnknownConnector.xml": f'<proxy {S} name="U"><target><inSequence><nosuch.op/></inSequence>'
            "</target></proxy>",
        },
        with_defaults=False,
    )
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "Target is required for a Proxy service definition" in out
    assert "must declare either an inSequence or endpoint or both" in out
    assert "the 'name' attribute is required" in out
    assert "unexpected <targt> inside <proxy>" in out and "did you mean 'target'?" in out
    assert "UnknownConnector.xml:1: nosuch.op:" in out


def test_config_files_never_resolve_entities(tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    root = write_artifacts(
        tmp_path,
        {
            "proxies/X.xml": f'<?xml version="1.0"?><!DOCTYPE proxy [<!ENTITY x SYSTEM "file://{secret}">]>'
            f'<proxy {S} name="X"><description>&x;</description><target><inSequence><respond/>'
            "</inSequence></target></proxy>",
        },
        with_defaults=False,
    )
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "DOCTYPE declarations are not allowed" in out
    assert "TOP-SECRET" not in out


def test_connection_local_entry_is_checked_at_deploy_time(tmp_path, capsys):
    root = write_artifacts(
        tmp_path,
        {
            "local-entries/conn.xml": f"""
            <localEntry {S} key="twilioConn">
              <twilioRest.init>
                <accountSid>AC1</accountSid>
                <authTokn>x</authTokn>
              </twilioRest.init>
            </localEntry>""",
        },
        with_defaults=False,
    )
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "conn.xml:4: twilioRest.init: unknown parameter 'authTokn' (did you mean 'authToken'?)" in out


def test_known_but_unsupported_mediators_say_so(tmp_path, capsys):
    root = write_artifacts(
        tmp_path,
        {
            "sequences/s.xml": f'<sequence {S} name="s"><smooks/></sequence>',
            "sequences/x.xml": f'<sequence {S} name="x"><ejb/></sequence>',
        },
        with_defaults=False,
    )
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "s.xml:1: smooks: the 'smooks' mediator is not supported yet" in out
    assert "x.xml:1: ejb: the 'ejb' mediator is not supported yet" in out


def test_address_uri_is_checked_at_deploy_time(tmp_path, capsys):
    root = write_artifacts(
        tmp_path,
        {
            "endpoints/a.xml": f'<endpoint {S} name="a"><address uri="jms:/queue"/></endpoint>',
            "endpoints/b.xml": f'<endpoint {S} name="b"><address uri="not a url"/></endpoint>',
        },
        with_defaults=False,
    )
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "a.xml:1: address: the 'jms' transport of uri 'jms:/queue' is not supported" in out
    assert "b.xml:1: address: the 'relative' transport of uri 'not a url' is not supported" in out


def test_an_endpoint_file_without_a_name_says_it_is_a_registry_resource(tmp_path, capsys):
    """Apache sample 10's dynamic_endpt_1.xml is a registry resource (no name); in endpoints/ MI's
    EndpointDeployer fails it too (addEndpoint(null, …))."""
    root = write_artifacts(
        tmp_path,
        {
            "endpoints/endpoint.xml": '<endpoint xmlns="http://ws.apache.org/ns/synapse">\n'
            '<address uri="http://localhost:9000/services/SimpleStockQuoteService"/></endpoint>'
        },
    )
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "endpoint.xml:1: endpoint: the 'name' attribute is required for a named endpoint (add name=" in out, out
    assert "reached by a key: put it under registry/" in out, out


def test_a_refused_address_uri_never_shows_its_credentials(tmp_path, capsys):
    jms = (
        "jms:/Q?transport.jms.ConnectionFactoryJNDIName=QCF&amp;java.naming.security.credentials=s3cr3t-one"
        "&amp;transport.jms.Password=s3cr3t-two"
    )
    root = write_artifacts(
        tmp_path,
        {
            "endpoints/a.xml": f'<endpoint {S} name="a"><address uri="{jms}"/></endpoint>',
            "endpoints/b.xml": f'<endpoint {S} name="b"><address uri="fix://admin:s3cr3t-three@host/x"/></endpoint>',
        },
        with_defaults=False,
    )
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "a.xml:1: address: the 'jms' transport of uri" in out and "credentials=****" in out, out
    assert "fix://admin:****@host/x" in out, out
    assert "s3cr3t" not in out
