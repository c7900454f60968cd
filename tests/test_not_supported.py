"""The mediators that are not supported yet on purpose: each deploy error gives the reason, what to use
instead and the row of docs/conformance.md, and each row exists."""

from __future__ import annotations

from gateway.cli import main as cli
from gateway.deploy.registry import SYNAPSE_MEDIATORS, known_mediators
from gateway.deploy.unsupported import NOT_SUPPORTED
from tests.conftest import REPO, write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'
LISTED = (
    "smooks",
    "datamapper",
    "bam",
    "ejb",
    "spring",
    "rule",
    "entitlementService",
    "oauthService",
    "event",
    "bean",
    "builder",
    "enqueue",
)


def test_each_one_says_why_and_names_its_row(tmp_path, capsys):
    assert set(NOT_SUPPORTED) == set(LISTED)
    assert set(LISTED) <= SYNAPSE_MEDIATORS and not set(LISTED) & set(known_mediators())
    body = "".join(f"<{name}/>\n" for name in LISTED)
    root = write_artifacts(tmp_path, {"sequences/s.xml": f'<sequence {S} name="s">\n{body}</sequence>'})
    assert cli(["validate", str(root)]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if "s.xml:" in line]
    assert len(lines) == len(LISTED)
    for line, name in zip(lines, LISTED, strict=True):
        why = NOT_SUPPORTED[name]
        assert f": {name}: the '{name}' mediator is not supported yet: {why.reason} (" in line, line
        assert line.endswith(f"{why.instead}; see docs/conformance.md, row {why.row})"), line


def test_each_row_is_in_the_conformance_doc():
    doc = (REPO / "docs" / "conformance.md").read_text(encoding="utf-8")
    section = doc.split("## Not supported yet: mediators", 1)[1]
    for name, why in NOT_SUPPORTED.items():
        row = next((line for line in section.splitlines() if line.startswith(f"| {why.row} |")), None)
        assert row is not None, why.row
        assert f"`{name}`" in row


def test_rule_in_the_carbon_rules_namespace_and_router_say_what_mi_says(tmp_path, capsys):
    """Apache/WSO2 samples 600-603 write <rule xmlns="http://wso2.org/carbon/rules">, the QName carbon-rules'
    factory registers: it is the rule mediator (NS06), not a stray element. MI has no <router> (WSO2 ESB 4.x
    had one): MediatorFactoryFinder refuses it with "Unknown mediator referenced by configuration element"."""
    root = write_artifacts(
        tmp_path,
        {
            "sequences/s.xml": f"""<sequence {S} name="s">
  <rule xmlns="http://wso2.org/carbon/rules"><source>soapBody</source></rule>
  <router><route expression="//a" match="x"><target sequence="t"/></route></router>
  <other xmlns="urn:not-synapse"/>
</sequence>"""
        },
    )
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "s.xml:2: rule: the 'rule' mediator is not supported yet: WSO2's rule mediator runs Drools" in out, out
    assert (
        "s.xml:3: router: Unknown mediator referenced by configuration element : "
        "{http://ws.apache.org/ns/synapse}router (MI has no <router> mediator" in out
    ), out
    assert "s.xml:4: other: element '{urn:not-synapse}other' is not in the Synapse namespace" in out, out
