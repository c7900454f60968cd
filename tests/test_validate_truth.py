"""`gateway validate` tells the whole truth, and accepts what MI accepts.

Every problem of every file, every .xml file that is not read, artifacts in the wrong folder, static keys
that name nothing deployed, and no input that crashes the loader."""

from __future__ import annotations

import orjson
import pytest
from aiohttp import web

from gateway.cli import main as cli
from gateway.deploy import registry
from gateway.deploy.declare import Element
from gateway.deploy.unsupported import NOT_SUPPORTED
from tests.conftest import write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'
GOOD = f'<proxy {S} name="Good"><target><inSequence><respond/></inSequence></target></proxy>'


def proxy(name: str, target: str, attributes: str = "") -> dict[str, str]:
    return {f"proxies/{name}.xml": f'<proxy {S} name="{name}"{attributes}>\n<target>{target}</target>\n</proxy>'}


def validate(tmp_path, capsys, files: dict[str, str], *, defaults: bool = False) -> tuple[int, list[str], str]:
    root = write_artifacts(tmp_path / "artifacts", files, with_defaults=defaults)
    code = cli(["validate", str(root)])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def line_of(lines: list[str], *parts: str) -> str:
    found = [line for line in lines if all(part in line for part in parts)]
    assert len(found) == 1, (parts, lines)
    return found[0]


# -- A1: dangling static references -----------------------------------------------------------------------

DANGLING = f"""
<proxy {S} name="P">
  <target faultSequence="noFault">
    <inSequence onError="noHandler">
      <sequence key="foo"/>
      <sequence key="{{get-property('which')}}"/>
      <sequence key="fault"/>
      <sequence key="main"/>
      <sequence key="shared"/>
      <filter xpath="true()"><then sequence="noThen"/></filter>
      <payloadFactory media-type="xml"><format key="noFormat"/></payloadFactory>
      <send receive="noReceive"><endpoint key="noEndpoint"/></send>
    </inSequence>
  </target>
</proxy>"""


def test_dangling_static_keys_are_reported_with_path_line_and_consequence(tmp_path, capsys):
    code, lines, err = validate(
        tmp_path,
        capsys,
        {
            "proxies/P.xml": DANGLING,
            "proxies/Q.xml": f'<proxy {S} name="Q"><target inSequence="alsoMissing" endpoint="noEp"/></proxy>',
            "sequences/shared.xml": f'<sequence {S} name="shared"><log/></sequence>',
            "proxies/Good.xml": GOOD,
        },
    )
    assert code == 1
    assert (
        "P.xml:4: sequence: key 'foo' names no deployed sequence (every message reaching it fails; deploy "
        "sequences/foo.xml or fix the key)" in line_of(lines, "'foo'")
    )
    assert (
        "P.xml:2: target: key 'noFault' names no deployed sequence (errors in this proxy go to the global "
        "'fault' sequence instead" in line_of(lines, "'noFault'")
    )
    assert "P.xml:3: inSequence: key 'noHandler' names no deployed sequence (errors there skip it" in line_of(
        lines, "'noHandler'"
    )
    assert "P.xml:9: then: key 'noThen' names no deployed sequence" in line_of(lines, "'noThen'")
    assert "P.xml:10: format: key 'noFormat' names no deployed local entry" in line_of(lines, "'noFormat'")
    assert "P.xml:11: send: key 'noReceive' names no deployed sequence (every reply to this send fails" in line_of(
        lines, "'noReceive'"
    )
    assert "P.xml:11: endpoint: key 'noEndpoint' names no deployed endpoint" in line_of(lines, "'noEndpoint'")
    assert "Q.xml:1: target: key 'alsoMissing' names no deployed sequence" in line_of(lines, "'alsoMissing'")
    assert "Q.xml:1: target: key 'noEp' names no deployed endpoint" in line_of(lines, "'noEp'")
    # dynamic keys cannot be checked; `fault` and `main` always exist; `shared` is in another file
    assert not [
        line
        for line in lines
        if "'which'" in line or "'fault'" in line.split("(")[0] or "'main'" in line or "'shared'" in line
    ]
    assert len(lines) == 9
    # P and Q serve but are not OK; Good and shared are
    assert "2 artifact(s) OK, 9 problem(s)" in err


def test_registry_keys_are_dangling_with_the_registry_hint(tmp_path, capsys):
    code, lines, _ = validate(
        tmp_path,
        capsys,
        proxy(
            "R",
            '<inSequence><sequence key="gov:/seqs/audit.xml"/><send><endpoint key="conf:/eps/backend.xml"/>'
            "</send></inSequence>",
        ),
    )
    assert code == 1
    assert (
        "R.xml:2: sequence: key 'gov:/seqs/audit.xml' names no deployed sequence (every message reaching it "
        "fails; add registry/governance/seqs/audit.xml to the registry, or fix the key)" in line_of(lines, "audit")
    )
    assert "add registry/config/eps/backend.xml to the registry, or fix the key" in line_of(lines, "backend")


def test_a_key_naming_an_artifact_that_failed_says_so(tmp_path, capsys):
    code, lines, _ = validate(
        tmp_path,
        capsys,
        {
            **proxy("P", '<inSequence><sequence key="broken"/></inSequence>'),
            "sequences/broken.xml": f'<sequence {S} name="broken"><lgo/></sequence>',
        },
    )
    assert code == 1
    assert "broken.xml defines it but failed to deploy (see its problems)" in line_of(lines, "key 'broken'")


async def test_an_artifact_with_a_dangling_key_serves_as_in_mi_and_fails_per_message(gateway):
    client = await gateway(
        {
            **proxy("Dangling", '<inSequence><sequence key="nowhere"/></inSequence>'),
            **proxy("Main", '<inSequence><sequence key="main"/></inSequence>'),
        },
        with_defaults=False,
    )
    assert [str(problem) for problem in client.config.dangling] == [
        f"{client.config.proxies['Dangling'].location.path}:2: sequence: key 'nowhere' names no deployed sequence "
        "(every message reaching it fails; deploy sequences/nowhere.xml or fix the key)"
    ]
    assert {a.name for a in client.config.deployed} == {"Dangling", "Main"}
    health = await (await client.get("/healthz")).json()
    assert [d["reason"] for d in health["dangling"]] == ["key 'nowhere' names no deployed sequence"]
    failing = await client.post("/services/Dangling", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert failing.status == 500 and b"Sequence named nowhere cannot be found" in await failing.read()
    # MI always has `main` and `fault`: a key naming them resolves to the built-in ones without the files
    main = await client.post("/services/Main", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert main.status == 404 and await main.read() == b""


# -- A2: every problem of every file -----------------------------------------------------------------------


def test_every_problem_of_every_file_is_reported(tmp_path, capsys):
    code, lines, err = validate(
        tmp_path,
        capsys,
        {
            "sequences/s.xml": f"""
            <sequence {S} name="s">
              <lgo/>
              <log level="ful"/>
              <property name="a" expresion="//a" valeu="1"/>
              <filter xpath="true()"><then><respnd/></then></filter>
              <log/>
            </sequence>""",
            "proxies/P.xml": f"""
            <proxy {S} name="P" bogus="1">
              <target>
                <inSequence><drp/></inSequence>
                <outSequence><sned/></outSequence>
              </target>
            </proxy>""",
        },
    )
    assert code == 1
    assert [line.split("/artifacts/", 1)[1] for line in lines] == [
        "proxies/P.xml:1: proxy: unknown attribute 'bogus' (allowed: name, onError, pinnedServers, serviceGroup, "
        "startOnLoad, statistics, trace, transports)",
        "proxies/P.xml:3: drp: unknown mediator 'drp' (did you mean 'drop'?)",
        "proxies/P.xml:4: sned: unknown mediator 'sned' (did you mean 'send'?)",
        "sequences/s.xml:2: lgo: unknown mediator 'lgo' (did you mean 'log'?)",
        "sequences/s.xml:3: log: invalid log level 'ful' (did you mean 'full'?)",
        "sequences/s.xml:4: property: unknown attribute 'expresion' (did you mean 'expression'?)",
        "sequences/s.xml:4: property: unknown attribute 'valeu' (did you mean 'value'?)",
        "sequences/s.xml:5: respnd: unknown mediator 'respnd' (did you mean 'respond'?)",
    ]
    assert "0 artifact(s) OK, 8 problem(s)" in err


# -- A3: files that are not read ---------------------------------------------------------------------------


def test_every_xml_file_that_is_not_read_is_reported_with_the_reason(tmp_path, capsys):
    code, lines, err = validate(
        tmp_path,
        capsys,
        {
            "proxies/Good.xml": GOOD,
            "proxies/old/Archived.xml": GOOD,
            "imports/twilio.xml": "<import/>",
            "proxy/Typo.xml": GOOD,
            "resources/schema.xml": "<schema/>",
            "Loose.xml": GOOD,
            "docs/readme.txt": "not xml",
        },
    )
    assert code == 1
    reasons = {
        line.split("/artifacts/", 1)[1].split(": (file): ", 1)[0]: line.split(": (file): ", 1)[1] for line in lines
    }
    assert reasons == {
        "proxies/old/Archived.xml": "not read: sub-folders of proxies/ are not read (MI reads only the files "
        "directly in proxies/)",
        "imports/twilio.xml": "not read: connector imports are not read: installed connectors are found without them",
        "proxy/Typo.xml": "not read: this folder is not read (did you mean 'proxies'?)",
        "resources/schema.xml": "not read: this folder is not read (artifact folders are: local-entries/, "
        "endpoints/, sequences/, templates/, proxies/, proxy-services/, api/, message-stores/, "
        "message-processors/, tasks/, inbound-endpoints/)",
        "Loose.xml": "not read: files directly in the artifacts folder are not read (put each artifact in its "
        "folder: local-entries/, endpoints/, sequences/, templates/, proxies/, proxy-services/, api/, "
        "message-stores/, message-processors/, tasks/, inbound-endpoints/)",
    }
    assert "1 artifact(s) OK, 5 problem(s)" in err


@pytest.mark.parametrize("layout", [{}, {"notes/todo.txt": "x"}, {"Loose.xml": GOOD}])
def test_a_folder_without_artifact_folders_says_so_in_one_line(tmp_path, capsys, layout):
    root = tmp_path / "somewhere"
    root.mkdir()
    write_artifacts(root, layout, with_defaults=False)
    assert cli(["validate", str(root)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{root}: (artifacts): no artifact folders here (expected some of local-entries/, endpoints/, sequences/, "
        "templates/, proxies/, proxy-services/, api/, message-stores/, message-processors/, "
        "tasks/, inbound-endpoints/) "
        "(pass the folder that holds them (MI's synapse-config/default))"
    ]
    assert "0 artifact(s) OK, 1 problem(s)" in captured.err


def test_pointing_at_an_artifact_folder_itself_gets_a_hint(tmp_path, capsys):
    root = write_artifacts(tmp_path, {"proxies/Good.xml": GOOD}, with_defaults=False) / "proxies"
    assert cli(["validate", str(root)]) == 1
    assert "(this is a proxies/ folder: pass the folder that contains it)" in capsys.readouterr().out


# -- A4: wrong folder --------------------------------------------------------------------------------------


def test_an_artifact_in_the_wrong_folder_is_named_with_its_folder(tmp_path, capsys):
    code, lines, _ = validate(
        tmp_path,
        capsys,
        {
            "sequences/P.xml": GOOD,
            "proxies/S.xml": f'<sequence {S} name="S"><log/></sequence>',
            "endpoints/L.xml": f'<localEntry {S} key="L">x</localEntry>',
        },
    )
    assert code == 1
    assert (
        "P.xml:1: proxy: a <proxy> does not belong in sequences/, which holds <sequence> artifacts (MI "
        "deploys by folder) (move it to proxy-services/ (or proxies/))" in line_of(lines, "P.xml")
    )
    assert "(move it to sequences/)" in line_of(lines, "S.xml")
    assert "(move it to local-entries/)" in line_of(lines, "L.xml")


# -- A5: no input crashes the loader -----------------------------------------------------------------------

LONG_WSDL = (
    f'<proxy {S} name="LongWsdl"><target><inSequence><respond/></inSequence></target>'
    f'<publishWSDL uri="{"w" * 5000}.wsdl"/></proxy>'
)


def test_a_very_long_publish_wsdl_uri_is_a_problem_not_a_crash(tmp_path, capsys):
    code, lines, err = validate(tmp_path, capsys, {"proxies/LongWsdl.xml": LONG_WSDL, "proxies/Good.xml": GOOD})
    assert code == 1
    line = line_of(lines, "LongWsdl.xml")
    assert (
        ":1: publishWSDL: Unable to load the WSDL from wwww" in line and "(5005 characters): File name too long" in line
    )
    assert len(line) < 400  # one readable line, not the 5000 characters
    assert "1 artifact(s) OK, 1 problem(s)" in err


async def test_the_proxy_beside_a_very_long_wsdl_uri_is_served(gateway):
    client = await gateway({"proxies/LongWsdl.xml": LONG_WSDL, "proxies/Good.xml": GOOD})
    response = await client.post("/services/Good", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 200
    health = orjson.loads(await (await client.get("/healthz")).read())
    assert [f["element"] for f in health["failed"]] == ["publishWSDL"]


async def test_an_unexpected_error_costs_one_artifact_not_the_deployment(gateway, monkeypatch):
    def broken_builder(node):  # stands for any bug in a builder
        raise KeyError("oops")

    monkeypatch.setitem(registry._MEDIATORS, "boom", Element("boom", "a buggy mediator", build=broken_builder))
    client = await gateway({**proxy("Bug", "<inSequence><boom/><lgo/></inSequence>"), "proxies/Good.xml": GOOD})
    assert [str(problem).split("/proxies/", 1)[1] for problem in client.config.failed] == [
        "Bug.xml:2: boom: internal error while loading: KeyError: 'oops' (please report it; the other artifacts "
        "are not affected)",
        "Bug.xml:2: lgo: unknown mediator 'lgo' (did you mean 'log'?)",
    ]
    response = await client.post("/services/Good", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 200


# -- A6: unknown attributes everywhere, statistics/trace values ---------------------------------------------


def test_unknown_attributes_and_statistics_trace_values_are_checked(tmp_path, capsys):
    code, lines, _ = validate(
        tmp_path,
        capsys,
        {
            "proxies/P.xml": f"""
            <proxy {S} name="P" statistics="enabel" trace="enable">
              <description lang="en">d</description>
              <parameter name="a" value="b">c</parameter>
              <target>
                <inSequence trace="on">
                  <in bogus="1"><log/></in>
                  <out bogus="1"/>
                  <call><endpoint><address uri="http://localhost:9/x" statistics="yes"/></endpoint>
                        <target type="property" extra="1">r</target></call>
                  <makefault version="pox"><reason value="r"/><node lang="en">http://n</node></makefault>
                </inSequence>
              </target>
            </proxy>""",
            "endpoints/E.xml": f"""
            <endpoint {S} name="E">
              <address uri="http://localhost:9/x">
                <timeout><duration>1000</duration><responseAction>retry</responseAction></timeout>
                <suspendOnFailure><errorCodes>101503, x</errorCodes><initialDuration unit="s">1</initialDuration>
                </suspendOnFailure>
                <enableAddressing version="2004"/>
              </address>
            </endpoint>""",
        },
    )
    assert code == 1
    tail = [line.split("/artifacts/", 1)[1] for line in lines]
    assert tail == [
        "endpoints/E.xml:3: responseAction: invalid timeout responseAction 'retry' (use discard or fault)",
        "endpoints/E.xml:4: errorCodes: <errorCodes> must be numbers separated by commas, not '101503, x'",
        "endpoints/E.xml:4: initialDuration: unknown attribute 'unit' (<initialDuration> takes no attributes)",
        "endpoints/E.xml:6: enableAddressing: invalid version '2004' (use one of: final, submission)",
        "proxies/P.xml:1: proxy: invalid statistics 'enabel' (use enable or disable; MI silently reads any other "
        "value as disable)",
        "proxies/P.xml:2: description: unknown attribute 'lang' (<description> takes no attributes)",
        "proxies/P.xml:3: parameter: unknown attribute 'value' (allowed: name)",
        "proxies/P.xml:5: inSequence: invalid trace 'on' (use enable or disable; MI silently reads any other value "
        "as disable)",
        "proxies/P.xml:6: in: unknown attribute 'bogus' (allowed: description, statistics, trace)",
        "proxies/P.xml:7: out: unknown attribute 'bogus' (allowed: description, statistics, trace)",
        "proxies/P.xml:8: address: invalid statistics 'yes' (use enable or disable; MI silently reads any other "
        "value as disable)",
        "proxies/P.xml:9: target: unknown attribute 'extra' (allowed: type)",
        "proxies/P.xml:10: node: unknown attribute 'lang' (<node> takes no attributes)",
    ]


# -- A7: every Synapse element that is not supported yet is named as such -----------------------------------


def test_every_synapse_mediator_not_supported_yet_says_so_and_is_never_corrected(tmp_path, capsys):
    missing = sorted(registry.SYNAPSE_MEDIATORS - set(registry.known_mediators()))
    assert {
        "RMSequence",
        "datamapper",
        "NTLM",
        "dataServiceCall",
        "bam",
        "publishEvent",
        "enqueue",
        "event",
    } <= set(missing)
    body = "".join(f"<{name}/>\n" for name in missing)
    code, lines, _ = validate(tmp_path, capsys, {"sequences/s.xml": f'<sequence {S} name="s">\n{body}</sequence>'})
    assert code == 1
    assert len(lines) == len(missing)
    for line, name in zip(lines, missing, strict=True):
        if name in NOT_SUPPORTED:  # named with its reason and its row (tests/test_not_supported.py)
            assert f": {name}: the '{name}' mediator is not supported yet: " in line, line
            continue
        assert line.endswith(
            f": {name}: the '{name}' mediator is not supported yet (see docs/conformance.md for "
            "the supported mediators)"
        ), line


def test_unknown_elements_get_did_you_mean_and_case_hints(tmp_path, capsys):
    code, lines, _ = validate(
        tmp_path, capsys, {"sequences/s.xml": f'<sequence {S} name="s">\n<ntlm/>\n<iterrate/>\n<logg/>\n</sequence>'}
    )
    assert code == 1
    assert [line.split(": ", 1)[1] for line in lines] == [
        "ntlm: unknown mediator 'ntlm' (element names are case-sensitive: did you mean 'NTLM'?)",
        "iterrate: unknown mediator 'iterrate' (did you mean 'iterate'?)",
        "logg: unknown mediator 'logg' (did you mean 'log'?)",
    ]


@pytest.mark.parametrize("kind", ["dynamicLoadbalance", "serviceDynamicLoadbalance", "class"])
def test_every_mi_endpoint_type_not_supported_yet_says_so(tmp_path, capsys, kind):
    code, lines, _ = validate(tmp_path, capsys, {"endpoints/E.xml": f'<endpoint {S} name="E"><{kind}/></endpoint>'})
    assert code == 1
    assert lines[0].endswith(f":1: {kind}: <{kind}> endpoints are not supported yet (use <address> or <http>)")


# -- B: accept what MI accepts -----------------------------------------------------------------------------


async def test_description_elements_are_skipped_as_in_mi(gateway):
    client = await gateway(
        {
            "sequences/tagged.xml": f"""
            <sequence {S} name="tagged">
              <description>adds the tag</description>
              <header name="X-Tag" scope="transport" value="t"/>
            </sequence>""",
            "local-entries/version.xml": f'<localEntry {S} key="version"><description>v</description>2.1</localEntry>',
            **proxy(
                "P",
                """
            <inSequence>
              <description>the flow</description>
              <sequence key="tagged"/>
              <log><description>a log</description></log>
              <filter xpath="true()"><description>always</description><then><description/>
                <header name="X-Version" scope="transport" expression="get-property('version')"/></then></filter>
              <respond><description>done</description></respond>
            </inSequence>""",
            ),
        }
    )
    assert not client.config.failed
    response = await client.post("/services/P", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 200
    assert response.headers["X-Tag"] == "t" and response.headers["X-Version"] == "2.1"


async def test_json_eval_without_a_dollar_reads_from_the_root_as_in_mi(gateway):
    client = await gateway(
        proxy(
            "P",
            """
        <inSequence>
          <header name="X-Name" scope="transport" expression="json-eval(name)"/>
          <header name="X-Second" scope="transport" expression="json-eval(items[1].id)"/>
          <respond/>
        </inSequence>""",
        )
    )
    response = await client.post(
        "/services/P",
        data=b'{"name": "ada", "items": [{"id": 1}, {"id": 2}]}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 200
    assert response.headers["X-Name"] == "ada" and response.headers["X-Second"] == "2"


async def test_legacy_endpoint_children_and_a_zero_timeout_deploy_and_send(gateway, backend):
    async def answer(request, body):
        return web.Response(text="ok")

    server = await backend(answer)
    client = await gateway(
        {
            "endpoints/Legacy.xml": f"""
            <endpoint {S} name="Legacy">
              <address uri="{server.make_url("/x")}">
                <suspendDurationOnFailure>30</suspendDurationOnFailure>
                <timeout><duration>0</duration><responseAction>fault</responseAction></timeout>
                <suspendOnFailure><errorCodes>101503,101504</errorCodes><progressionFactor>1.5</progressionFactor>
                </suspendOnFailure>
                <markForSuspension><retriesBeforeSuspension>0</retriesBeforeSuspension></markForSuspension>
              </address>
            </endpoint>""",
            **proxy(
                "P", '<inSequence><send><endpoint key="Legacy"/></send></inSequence><outSequence><send/></outSequence>'
            ),
        }
    )
    assert not client.config.failed
    assert client.config.endpoints["Legacy"].timeout is None  # 0: the gateway's default timeout, not "at once"
    response = await client.post("/services/P", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.status == 200 and await response.text() == "ok"


async def test_an_inline_named_sequence_runs_its_mediators_in_place(gateway):
    client = await gateway(
        {
            "sequences/handler.xml": f'<sequence {S} name="handler"><header name="X-Handled" scope="transport" '
            'value="yes"/><respond/></sequence>',
            **proxy(
                "P",
                """
            <inSequence>
              <sequence name="inline" onError="handler">
                <header name="X-Inline" scope="transport" value="ran"/>
                <sequence key="{get-property('unset')}"/>  <!-- names nothing: this message faults -->
              </sequence>
              <respond/>
            </inSequence>""",
            ),
        }
    )
    assert not client.config.failed and not client.config.dangling
    response = await client.post("/services/P", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert response.headers["X-Inline"] == "ran"
    assert response.headers["X-Handled"] == "yes"  # the inline sequence's onError handled the fault


def test_misleading_messages_now_say_what_is_not_supported(tmp_path, capsys):
    code, lines, _ = validate(
        tmp_path,
        capsys,
        {
            "endpoints/Lb.xml": f'<endpoint {S} name="Lb"><session type="soap"/><loadbalance><endpoint>'
            '<address uri="http://localhost:9/x"/></endpoint></loadbalance></endpoint>',
            "endpoints/Tpl.xml": f'<endpoint {S} name="Tpl" template="t" uri="http://localhost:9/x"/>',
            "sequences/s.xml": f"""
            <sequence {S} name="s" xmlns:wso2="http://org.wso2.securevault/configuration">
              <property name="p" expression="wso2:vault-lookup('db.password')"/>
              <property name="q" expression="${{payload.a +}}"/>
              <filter source="${{wso2-vault('db.password')}}" regex="a"><log/></filter>
              <sequence key="{{${{5 >> 3}}}}"/>
            </sequence>""",
        },
    )
    assert code == 1
    reasons = [line.split("/artifacts/", 1)[1] for line in lines]
    assert reasons[:2] == [
        'endpoints/Lb.xml:1: session: session type="soap" (Axis2 ServiceGroupId sessions) is not supported yet '
        '(use type="http" (cookies) or type="simpleClientSession")',
        "endpoints/Tpl.xml:1: endpoint: key 't' names no deployed template (every message reaching it fails; "
        "deploy templates/t.xml or fix the key)",
    ]
    assert (
        "s.xml:2: property:" in reasons[2]
        and "the secure vault (wso2:vault-lookup()) is not supported yet" in reasons[2]
        and "Unregistered function" not in reasons[2]
    )
    # MI 4.4 Synapse Expressions deploy; what they cannot do yet is named, and a syntax error has its position
    assert "s.xml:3: property:" in reasons[3] and "syntax error" in reasons[3] and "at the end" in reasons[3]
    assert "s.xml:4: filter:" in reasons[4] and "the secure vault (wso2-vault()) is not supported yet" in reasons[4]
    assert "s.xml:5: sequence:" in reasons[5] and "syntax error" in reasons[5] and "at position 4" in reasons[5]
    assert len(reasons) == 6
