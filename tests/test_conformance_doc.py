"""docs/conformance.md stays true: every row names at least one test, and every named test exists."""

from __future__ import annotations

import ast
import re
from functools import cache

from tests.conftest import REPO

REFERENCE = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


@cache
def names_in(path: str) -> frozenset[str]:
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    )


def rows() -> list[list[str]]:
    table_rows = []
    for line in (REPO / "docs" / "conformance.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or line.startswith("| id ") or set(line) <= set("|- "):
            continue
        table_rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return table_rows


def test_every_row_names_existing_tests():
    problems = []
    all_rows = rows()
    assert len(all_rows) > 100
    for cells in all_rows:
        references = REFERENCE.findall(cells[-1])
        if not references:
            problems.append(f"{cells[0]}: no test named")
        for path, name in references:
            if not (REPO / path).exists() or name not in names_in(path):
                problems.append(f"{cells[0]}: {path}::{name} does not exist")
    assert not problems, "\n".join(problems)


def test_row_ids_are_unique():
    ids = [cells[0] for cells in rows()]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates


def test_the_mediator_reference_is_generated_from_the_declarations():
    from gateway.deploy.reference import render

    written = (REPO / "docs" / "mediators.md").read_text(encoding="utf-8")
    assert written == render(), "docs/mediators.md is stale: run `python3 -m gateway reference > docs/mediators.md`"


def test_every_declared_mediator_is_in_the_reference_and_every_synapse_one_is_listed():
    from gateway.deploy.reference import render
    from gateway.deploy.registry import SYNAPSE_MEDIATORS, known_mediators

    reference = render()
    for tag in known_mediators():
        assert f"### `<{tag}>`" in reference, tag
    for tag in SYNAPSE_MEDIATORS - set(known_mediators()):
        assert f"`{tag}`" in reference.split("## Not supported yet", 1)[1], tag
