"""The gateway's YAML settings are checked against a schema: unknown keys get a did-you-mean, wrong types
one clear line naming the file and line; CLI flags are checked the same way."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.cli import main as cli
from gateway.settings import Settings, SettingsError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text))
    return str(caught.value).splitlines()


def test_unknown_keys_get_did_you_mean_with_file_and_line(tmp_path):
    lines = problems(
        tmp_path,
        """\
        port: 8290
        limits:
          max_body_byte: 5
        logging: {levl: INFO}
        """,
    )
    assert (
        f"{tmp_path}/gateway.yaml:3: unknown setting 'limits.max_body_byte' (did you mean 'max_body_bytes'?)" in lines
    )
    assert any(":4: unknown setting 'logging.levl' (did you mean 'level'?)" in line for line in lines)


def test_a_string_where_a_list_belongs_is_one_clear_line(tmp_path):
    # the finding: `names: authToken` made every character a secret
    (line,) = problems(tmp_path, "secrets: {names: authToken}\n")
    assert line.startswith(f"{tmp_path}/gateway.yaml:1: setting 'secrets.names' has an invalid value 'authToken'")
    assert line.endswith(": must be a list, e.g. [a, b]")


def test_an_unknown_log_level_is_an_error_not_a_traceback(tmp_path):
    (line,) = problems(tmp_path, "logging:\n  level: LOUD\n")
    assert ":2: setting 'logging.level'" in line and "use one of CRITICAL, ERROR, WARNING, INFO, DEBUG" in line


@pytest.mark.parametrize(
    "text,key",
    [
        ("port: 85832\n", "port"),
        ("port: 0\n", "port"),
        ("workers: 0\n", "workers"),
        ("port: '80a'\n", "port"),
        ("timeouts: {endpoint: -1}\n", "timeouts.endpoint"),
        ("limits: {max_tree_bytes: lots}\n", "limits.max_tree_bytes"),
        ("outbound: {allow: ['ftp://files']}\n", "outbound.allow"),
        ("connectors: [a]\n", "connectors"),
    ],
)
def test_wrong_values_name_the_key(tmp_path, text, key):
    (line,) = problems(tmp_path, text)
    assert f"setting '{key}' has an invalid value" in line


def test_sizes_accept_units_and_levels_accept_mi_names(tmp_path):
    loaded = load_settings(
        write(
            tmp_path,
            """\
        limits: {max_body_bytes: 2MiB, max_tree_bytes: 512KiB}
        logging: {level: warn}
        outbound: {allow: ["https://*.example.com", "loopback"]}
        """,
        )
    )
    assert loaded.max_body_bytes == 2 * 1024 * 1024 and loaded.max_tree_bytes == 512 * 1024
    assert loaded.log_level == "WARNING"
    assert loaded.outbound_allow == ("https://*.example.com", "loopback")


def test_defaults_without_a_file_match_the_dataclass():
    assert load_settings(None) == Settings()


def test_the_port_flag_is_range_checked(capsys):
    assert cli(["serve", "--port", "85832"]) == 2  # it used to listen on 20296 (85832 mod 65536)
    assert "command line: setting 'port' has an invalid value 85832" in capsys.readouterr().err


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=True), st.text(max_size=20)
)
_keys = st.sampled_from(
    [
        "artifacts",
        "host",
        "port",
        "workers",
        "logging",
        "level",
        "format",
        "limits",
        "max_body_bytes",
        "max_tree_bytes",
        "timeouts",
        "endpoint",
        "secrets",
        "names",
        "outbound",
        "allow",
        "connectors",
        "twilioRest",
        "timeout",
    ]
) | st.text(max_size=12)
_documents = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5), max_leaves=20
)


@settings(max_examples=150, deadline=None)
@given(document=_documents)
def test_any_yaml_document_loads_or_gives_a_settings_error(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("fuzz") / "gateway.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    try:
        loaded = load_settings(path)
    except SettingsError as exc:
        assert str(exc).strip()  # something an operator can read
    else:
        assert 1 <= loaded.port <= 65535 and loaded.workers >= 1
        assert all(isinstance(name, str) and name for name in loaded.secret_names)
