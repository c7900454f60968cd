"""MI's file registry (MI: MicroIntegratorRegistry; W: SynapseConfiguration.getSequence / getEndpoint / getEntry,
GetPropertyFunction, PropertyMediator): `registry/governance|config|local` in the artifacts folder, addressed as
gov:/…, conf:/… and local:/… keys, over HTTP on a real gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
import requests
import zeep
from aiohttp import web
from lxml import etree

from gateway.cli import main as cli
from gateway.runtime.registry import format_properties, parse_properties, registry_key
from tests.conftest import write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'
WSDL_FILE = Path(__file__).resolve().parent / "data" / "stockquote.wsdl"
REPORT_ERROR = (
    '<property name="HTTP_SC" value="500" scope="axis2"/>'
    '<header name="X-Code" scope="transport" expression="get-property(\'ERROR_CODE\')"/>'
    '<header name="X-Message" scope="transport" expression="get-property(\'ERROR_MESSAGE\')"/><respond/>'
)


def proxy(name: str, body: str, fault: str = "", target_attributes: str = "") -> dict[str, str]:
    fault_part = f"<faultSequence>{fault}</faultSequence>" if fault else ""
    return {
        f"proxies/{name}.xml": f'<proxy {S} name="{name}"><target{target_attributes}><inSequence>{body}</inSequence>'
        f"{fault_part}</target></proxy>"
    }


def tagging_sequence(tag: str) -> str:
    return f'<sequence {S} name="{tag}"><header name="X-Ran" scope="transport" value="{tag}"/><respond/></sequence>'


@pytest.mark.parametrize(
    ("key", "canonical"),
    [
        ("gov:/a/b.xml", "gov:/a/b.xml"),
        ("gov:a/b.xml", "gov:/a/b.xml"),  # MI drops one leading '/' after the prefix: both name the same file
        ("gov://a//./b.xml", "gov:/a/b.xml"),
        ("a/b.xml", "gov:/a/b.xml"),  # no prefix: governance
        ("conf:/x", "conf:/x"),
        ("local:/x", "local:/x"),
        ("resources:x.json", "gov:/mi-resources/x.json"),  # MI 4.4: a CApp's resources
        ("gov:/a/../b", "gov:/b"),
        ("gov:/../etc/passwd", None),  # MI: "illegal which points to a location outside the registry"
    ],
)
def test_keys_resolve_as_mi_file_registry_does(key, canonical):
    assert registry_key(key) == canonical


async def test_dynamic_sequences_from_every_registry_folder(gateway):
    files = {
        "registry/governance/seqs/gov.xml": tagging_sequence("gov"),
        "registry/config/seqs/conf.xml": tagging_sequence("conf"),
        "registry/local/seqs/local.xml": tagging_sequence("local"),
    }
    for name, key in [
        ("Gov", "gov:/seqs/gov.xml"),
        ("GovNoSlash", "gov:seqs/gov.xml"),
        ("Conf", "conf:/seqs/conf.xml"),
        ("Local", "local:/seqs/local.xml"),
    ]:
        files.update(proxy(name, f'<sequence key="{key}"/>'))
    files.update(proxy("TargetAttr", "", target_attributes=' inSequence="conf:/seqs/conf.xml"'))
    client = await gateway(files)
    for name, ran in [
        ("Gov", "gov"),
        ("GovNoSlash", "gov"),
        ("Conf", "conf"),
        ("Local", "local"),
        ("TargetAttr", "conf"),
    ]:
        response = await client.post(f"/services/{name}", json={})
        assert (response.status, response.headers.get("X-Ran")) == (200, ran), name
    deployed = {(a.kind, a.name) for a in client.config.deployed}
    assert ("sequence", "gov:/seqs/gov.xml") in deployed  # compiled at deploy time, listed like any artifact


async def test_endpoints_from_the_registry(gateway, backend):
    server = await backend(lambda request, body: web.json_response({"path": request.path}))
    client = await gateway(
        {
            "registry/governance/endpoints/backend.xml": f'<endpoint {S} name="backend">'
            f'<address uri="{server.make_url("/orders")}"/></endpoint>',
            **proxy("Send", '<send><endpoint key="gov:/endpoints/backend.xml"/></send>'),
            **proxy("Call", '<call><endpoint key="gov:endpoints/backend.xml"/></call><respond/>'),
            **proxy("Target", "", target_attributes=' endpoint="gov:/endpoints/backend.xml"'),
        }
    )
    for name in ("Send", "Call"):
        response = await client.post(f"/services/{name}", json={})
        assert await response.json() == {"path": "/orders"}, name
    response = await client.post("/services/Target", json={})
    assert await response.json() == {"path": "/orders"}


async def test_payload_factory_format_keys_from_the_registry(gateway):
    client = await gateway(
        {
            "registry/governance/formats/order.xml": "<order><id>$1</id></order>",
            "registry/governance/formats/order.json": '{"order": {"id": "$1"}}',
            **proxy(
                "Xml",
                '<property name="id" value="42"/>'
                '<payloadFactory media-type="xml"><format key="gov:/formats/order.xml"/>'
                '<args><arg expression="$ctx:id"/></args></payloadFactory><respond/>',
            ),
            **proxy(
                "Json",
                '<property name="id" value="7"/>'
                '<payloadFactory media-type="json"><format key="gov:/formats/order.json"/>'
                '<args><arg expression="$ctx:id"/></args></payloadFactory><respond/>',
            ),
        }
    )
    xml = await client.post("/services/Xml?x=1", data="<in/>", headers={"Content-Type": "application/xml"})
    assert etree.tostring(etree.fromstring(await xml.read())) == b"<order><id>42</id></order>"
    json_reply = await client.post("/services/Json", json={})
    assert await json_reply.json() == {"order": {"id": "7"}}


async def test_publish_wsdl_key_from_the_registry_serves_a_working_wsdl(gateway):
    wsdl = WSDL_FILE.read_text(encoding="utf-8")
    client = await gateway(
        {
            "registry/governance/wsdl/stockquote.wsdl": wsdl,
            "proxies/StockQuote.xml": f'<proxy {S} name="StockQuote"><target><inSequence><respond/></inSequence>'
            '</target><publishWSDL key="gov:/wsdl/stockquote.wsdl"/></proxy>',
        }
    )
    url = str(client.make_url("/services/StockQuote?wsdl"))

    def operations() -> list[str]:
        session = requests.Session()
        session.trust_env = False
        zeep_client = zeep.Client(url, transport=zeep.Transport(session=session))
        return sorted(zeep_client.service._operations)

    assert "getQuote" in await asyncio.to_thread(operations)  # a real SOAP client reads it


async def test_get_property_registry_reads_resources_and_properties_as_mi(gateway, tmp_path):
    root = tmp_path / "artifacts" / "registry"
    (root / "config" / "app").mkdir(parents=True)
    (root / "config" / "app" / "settings.txt").write_bytes(b"line one\r\nline two\n")
    (root / "config" / "app" / "settings.txt.properties").write_text(
        "# a comment\ncolor = blue\nsize:  10\nmulti=a\\\n   b\nunicode=\\u00e9t\\u00e9\n", encoding="utf-8"
    )
    (root / "config" / "app.collections.properties").write_text("owner=ops\n", encoding="utf-8")
    reads = {
        "text": "get-property('registry', 'conf:/app/settings.txt')",
        "color": "get-property('registry', 'conf:/app/settings.txt@color')",
        "size": "get-property('registry', 'conf:app/settings.txt@size')",
        "multi": "get-property('registry', 'conf:/app/settings.txt@multi')",
        "unicode": "get-property('registry', 'conf:/app/settings.txt@unicode')",
        "folder": "get-property('registry', 'conf:/app@owner')",
        "missing": "get-property('registry', 'conf:/app/settings.txt@nope')",
        "nothing": "get-property('registry', 'gov:/nothing/here')",
    }
    fields = "".join(f"<{name}>${index}</{name}>" for index, name in enumerate(reads, 1))
    args = "".join(f'<arg expression="{expression}"/>' for expression in reads.values())
    client = await gateway(
        proxy(
            "P",
            f'<payloadFactory media-type="xml"><format><r>{fields}</r></format><args>{args}</args>'
            "</payloadFactory><respond/>",
        )
    )
    response = await client.post("/services/P", data="<in/>", headers={"Content-Type": "application/xml"})
    got = {etree.QName(child).localname: child.text or "" for child in etree.fromstring(await response.read())}
    assert got == {
        "text": "line one\nline two",  # MI: lines joined with \n, no final line break
        "color": "blue",
        "size": "10",
        "multi": "ab",
        "unicode": "été",
        "folder": "ops",  # a folder's properties: NAME.collections.properties beside it
        "missing": "",
        "nothing": "",
    }


async def test_property_scope_registry_writes_what_mi_writes_and_later_reads_see_it(gateway, tmp_path):
    client = await gateway(
        {
            **proxy(
                "Write",
                '<property name="conf:/state/counter.txt" expression="json-eval($.value)" scope="registry"/>'
                '<property name="conf:/state/flags@mode" expression="json-eval($.mode)" scope="registry"/>'
                '<property name="conf:/state/flags" action="remove" scope="registry"/>'  # W: a no-op
                "<respond/>",
            ),
            **proxy(
                "Read",
                "<property name=\"c\" expression=\"get-property('registry', 'conf:/state/counter.txt')\"/>"
                "<property name=\"m\" expression=\"get-property('registry', 'conf:/state/flags@mode')\"/>"
                '<header name="X-Counter" scope="transport" expression="$ctx:c"/>'
                '<header name="X-Mode" scope="transport" expression="$ctx:m"/><respond/>',
            ),
        }
    )
    assert (await client.post("/services/Write", json={"value": "7", "mode": "a=b c"})).status == 200
    state = tmp_path / "artifacts" / "registry" / "config" / "state"
    assert (state / "counter.txt").read_text() == "7"
    assert (state / "flags").read_text() == ""  # MI: key@name leaves an empty resource …
    assert parse_properties((state / "flags.properties").read_text()) == {"mode": "a=b c"}  # … and its property
    assert "mediaType=text/plain" in (state / ".metadata" / "counter.txt.meta").read_text()
    read = await client.post("/services/Read", json={})
    assert (read.headers["X-Counter"], read.headers["X-Mode"]) == ("7", "a=b c")
    assert (await client.post("/services/Write", json={"value": "8", "mode": "z"})).status == 200
    read = await client.post("/services/Read", json={})
    assert (read.headers["X-Counter"], read.headers["X-Mode"]) == ("8", "z")  # written since: seen now


async def test_a_registry_write_cannot_leave_the_registry(gateway, tmp_path):
    client = await gateway(
        proxy(
            "P",
            '<property name="{json-eval($.key)}" value="x" scope="registry"/><respond/>',
            fault=REPORT_ERROR,
        )
    )
    response = await client.post("/services/P", json={"key": "conf:/../../proxies/Evil.xml"})
    assert response.status == 500
    assert response.headers["X-Message"] == (
        "The registry key 'conf:/../../proxies/Evil.xml' is illegal which points to a location outside the registry"
    )
    assert not (tmp_path / "artifacts" / "proxies" / "Evil.xml").exists()
    # nor through a symbolic link inside it (MI compares canonical paths), for writes and reads
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s3cret")
    (tmp_path / "artifacts" / "registry" / "config").mkdir(parents=True)
    (tmp_path / "artifacts" / "registry" / "config" / "link").symlink_to(outside, target_is_directory=True)
    response = await client.post("/services/P", json={"key": "conf:/link/new.txt"})
    assert "is illegal which points to a location outside the registry" in response.headers["X-Message"]
    assert not (outside / "new.txt").exists()
    registry = client.config.registry
    assert registry.lookup("conf:/link/secret.txt") is None


async def test_entries_from_the_registry_serve_enrich_and_get_property(gateway):
    client = await gateway(
        {
            "registry/governance/snippets/greeting.xml": "<greeting>hello</greeting>",
            **proxy(
                "P",
                '<enrich><source type="inline" key="gov:/snippets/greeting.xml"/><target type="body"/></enrich>'
                "<respond/>",
            ),
        }
    )
    response = await client.post("/services/P", data="<in/>", headers={"Content-Type": "application/xml"})
    assert etree.fromstring(await response.read()).tag == "greeting"


async def test_local_entries_holding_a_sequence_or_an_endpoint_serve_those_keys(gateway, backend):
    server = await backend(lambda request, body: web.json_response({"from": "backend"}))
    client = await gateway(
        {
            "local-entries/seq.xml": f'<localEntry {S} key="entrySeq">'
            '<sequence name="entrySeq"><header name="X-Ran" scope="transport" value="entry"/><respond/></sequence>'
            "</localEntry>",
            "local-entries/ep.xml": f'<localEntry {S} key="entryEp"><endpoint>'
            f'<address uri="{server.make_url("/")}"/></endpoint></localEntry>',
            **proxy("Seq", '<sequence key="entrySeq"/>'),
            **proxy("Ep", '<send><endpoint key="entryEp"/></send>'),
        }
    )
    assert (await client.post("/services/Seq", json={})).headers["X-Ran"] == "entry"
    assert await (await client.post("/services/Ep", json={})).json() == {"from": "backend"}


async def test_missing_registry_keys_fail_per_message_as_in_mi(gateway):
    client = await gateway(
        {
            **proxy("Seq", '<sequence key="gov:/missing/seq.xml"/>', fault=REPORT_ERROR),
            **proxy("Ep", '<send><endpoint key="conf:/missing/ep.xml"/></send>', fault=REPORT_ERROR),
        }
    )
    seq = await client.post("/services/Seq", json={})
    assert seq.headers["X-Message"] == "Sequence named gov:/missing/seq.xml cannot be found"
    ep = await client.post("/services/Ep", json={})
    assert (ep.headers["X-Code"], ep.headers["X-Message"]) == (
        "305100",
        "Couldn't find the endpoint with the key : conf:/missing/ep.xml",
    )


def test_validate_reports_registry_problems_with_their_reasons(tmp_path, capsys):
    root = write_artifacts(
        tmp_path,
        {
            "registry/governance/seqs/broken.xml": f'<sequence {S} name="broken">\n<lgo/>\n</sequence>',
            "registry/governance/xslt/t.xslt": '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
            'version="1.0"/>',
            "registry/gov/seqs/typo.xml": tagging_sequence("typo"),
            "registry/loose.xml": tagging_sequence("loose"),
            "sequences/S.xml": f'<sequence {S} name="S">\n'
            '<sequence key="gov:/seqs/broken.xml"/>\n'
            '<sequence key="gov:/xslt/t.xslt"/>\n'
            '<sequence key="gov:/seqs/absent.xml"/>\n'
            '<sequence key="gov:/../outside.xml"/>\n'
            '<sequence key="gov:/seqs/typo.xml"/>\n'
            '<send><endpoint key="http://localhost:9000/services/x"/></send>\n'
            "</sequence>",
        },
        with_defaults=False,
    )
    assert cli(["validate", str(root)]) == 1
    lines = capsys.readouterr().out.splitlines()

    def about(text: str) -> str:
        found = [line for line in lines if text in line]
        assert len(found) == 1, (text, lines)
        return found[0].split("/artifacts/", 1)[-1] if "/artifacts/" in found[0] else found[0]

    assert about("lgo").endswith(
        "registry/governance/seqs/broken.xml:2: lgo: unknown mediator 'lgo' (did you mean 'log'?)"
    )
    assert "S.xml:2: sequence: key 'gov:/seqs/broken.xml' names no deployed sequence" in about("'gov:/seqs/broken.xml'")
    assert "registry/governance/seqs/broken.xml defines it but failed to deploy" in about("'gov:/seqs/broken.xml'")
    assert "t.xslt holds a <stylesheet> element, not a sequence" in about("'gov:/xslt/t.xslt'")
    assert "add registry/governance/seqs/absent.xml to the registry, or fix the key" in about("absent")
    assert "the key climbs out of the registry folder, which MI refuses" in about("outside")
    assert "registry/gov/seqs/typo.xml: (file): not read: registry/gov/ is not read (gov: keys are read from " in about(
        "gov/seqs/typo.xml: (file)"
    )
    assert (
        'a key names a deployed artifact, not an address: use <endpoint><address uri="http://localhost:9000/services/x"/>'
        in about("services/x")
    )
    assert "registry/loose.xml: (file): not read: a file directly in registry/ is not a registry resource" in about(
        "loose.xml: (file)"
    )


@pytest.mark.parametrize(
    ("declaration", "problem"),
    [
        (
            f'<registry {S} provider="org.wso2.micro.integrator.registry.MicroIntegratorRegistry">'
            '<parameter name="cachableDuration">15000</parameter></registry>',
            None,
        ),
        (
            f'<registry {S} provider="org.apache.synapse.registry.url.SimpleURLRegistry">'
            '<parameter name="root">file:repository/</parameter></registry>',
            "registry.xml:1: registry: the registry provider 'org.apache.synapse.registry.url.SimpleURLRegistry' "
            "is not supported",
        ),
        (
            f'<registry {S} provider="org.wso2.micro.integrator.registry.MicroIntegratorRegistry">\n'
            '<parameter name="RegRoot">file:///tmp/registry</parameter></registry>',
            "registry.xml:2: parameter: registry parameter 'RegRoot' is not supported",
        ),
    ],
)
def test_mi_registry_declaration_is_accepted_and_others_are_reported(tmp_path, capsys, declaration, problem):
    root = write_artifacts(
        tmp_path,
        {
            "registry.xml": declaration,
            "proxies/P.xml": f'<proxy {S} name="P"><target><inSequence><respond/></inSequence></target></proxy>',
        },
        with_defaults=False,
    )
    code = cli(["validate", str(root)])
    out = capsys.readouterr().out
    if problem is None:
        assert (code, out) == (0, "")
    else:
        assert code == 1 and problem in out


def test_properties_files_read_and_write_as_java_does():
    text = "a\\ b = x\\=y\n! comment\n  key2 : v\\tw\nempty\n"
    assert parse_properties(text) == {"a b": "x=y", "key2": "v\tw", "empty": ""}
    values = {"k:1": " lead\nline", "#x": "été"}
    assert parse_properties(format_properties(values)) == values


async def test_text_resources_keep_their_content_for_json_formats(gateway, tmp_path):
    """A non-XML resource is text (MI: readNonXML): a JSON format from the registry works as a local entry's."""
    registry = tmp_path / "artifacts" / "registry" / "governance"
    registry.mkdir(parents=True)
    (registry / "reply.json").write_text('{\n  "ok": true,\n  "echo": "$1"\n}\n', encoding="utf-8")
    client = await gateway(
        proxy(
            "P",
            '<payloadFactory media-type="json"><format key="gov:reply.json"/>'
            '<args><arg evaluator="json" expression="$.msg"/></args></payloadFactory><respond/>',
        )
    )
    response = await client.post("/services/P", json={"msg": "hi"})
    assert orjson.loads(await response.read()) == {"ok": True, "echo": "hi"}
