"""`gateway rename-column OLD NEW`: rename a column in the SQL of the artifacts' dblookup / dbreport statements.

A column name cannot be a bound parameter, and MI reads `<sql>` as it is written (W: AbstractDBMediatorFactory
resolves `$SYSTEM:` only in the connection's pool settings, never in a statement). So a configurable column — the
phone-number column of api/PhoneAuthApi.xml, the seed's "User Phone Number Field" — is changed where MI would
change it: in the artifacts, before they are deployed. This rewrites the files in place; the result is plain
Synapse XML that MI deploys as well. Only `<sql>` elements (whole unquoted identifiers, never text in 'string
literals') and dblookup's `<result column>` change; every other byte of the files stays as it was."""

from __future__ import annotations

import re
from pathlib import Path

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SQL = re.compile(r"(<(?:[A-Za-z_][\w.-]*:)?sql\b[^>]*>)(.*?)(</(?:[A-Za-z_][\w.-]*:)?sql\s*>)", re.DOTALL)
_LITERAL = re.compile(r"('(?:[^']|'')*')")


def rename_in_sql(sql: str, old: str, new: str) -> str:
    """`old` -> `new` as a whole identifier outside string literals (case-insensitive, as unquoted SQL names)."""
    word = re.compile(rf"(?<![\w\"`]){re.escape(old)}(?![\w\"`])", re.IGNORECASE)
    parts = _LITERAL.split(sql)
    return "".join(part if index % 2 else word.sub(new, part) for index, part in enumerate(parts))


def rename_in_text(text: str, old: str, new: str) -> str:
    """In `<sql>` texts, and in `<result column="…">`, which names a column of the statement's result."""
    text = _SQL.sub(lambda m: m.group(1) + rename_in_sql(m.group(2), old, new) + m.group(3), text)
    column = re.compile(
        rf"(<(?:[A-Za-z_][\w.-]*:)?result\b[^>]*?\bcolumn\s*=\s*([\"'])){re.escape(old)}(\2)", re.IGNORECASE
    )
    return column.sub(lambda m: m.group(1) + new + m.group(3), text)


def rename_column(root: Path, old: str, new: str) -> list[Path]:
    """Rewrite every artifact under `root` whose SQL names `old`; answers the files changed."""
    for name in (old, new):
        if not IDENTIFIER.fullmatch(name):
            raise ValueError(f"'{name}' is not a plain SQL column name (letters, digits, _; not starting with a digit)")
    changed: list[Path] = []
    for path in sorted(root.rglob("*.xml")):
        text = path.read_text(encoding="utf-8")
        renamed = rename_in_text(text, old, new)
        if renamed != text:
            path.write_text(renamed, encoding="utf-8")
            changed.append(path)
    return changed
