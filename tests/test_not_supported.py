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
