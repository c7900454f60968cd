"""One Settings object from defaults, an optional YAML file and CLI flags (flags win)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SECRET_NAMES = ("authToken", "password", "secret", "Authorization", "apiKeySecret", "token")


class SettingsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Settings:
    artifacts: Path = Path(".")
    host: str = "0.0.0.0"
    port: int = 8290  # MI's default HTTP port (8280 + offset 10)
    workers: int = 1
    log_level: str = "INFO"
    log_format: str = "%(asctime)s %(levelname)s %(name)s - %(message)s"
    max_body_bytes: int = 10 * 1024 * 1024
    endpoint_timeout: float = 60.0  # seconds, when an endpoint declares none
    connector_timeout: float = 10.0  # seconds for connector calls (e.g. Twilio)
    secret_names: tuple[str, ...] = DEFAULT_SECRET_NAMES
    connectors: dict[str, Any] = field(default_factory=dict)  # per-connector options

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


# YAML layout: top-level keys mirror the CLI, plus nested `logging`, `limits`, `timeouts`, `secrets`.
_YAML_KEYS = {
    ("artifacts",): "artifacts", ("host",): "host", ("port",): "port", ("workers",): "workers",
    ("logging", "level"): "log_level", ("logging", "format"): "log_format",
    ("limits", "max_body_bytes"): "max_body_bytes",
    ("timeouts", "endpoint"): "endpoint_timeout", ("timeouts", "connector"): "connector_timeout",
    ("secrets", "names"): "secret_names", ("connectors",): "connectors",
}


def load_settings(path: str | Path | None, **overrides: Any) -> Settings:
    settings = Settings()
    if path is not None:
        settings = _from_yaml(Path(path), settings)
    return settings.with_overrides(**overrides)


def _from_yaml(path: Path, base: Settings) -> Settings:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read config: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise SettingsError(f"{where}: malformed YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(document, dict):
        raise SettingsError(f"{path}: the config must be a mapping of settings")
    values: dict[str, Any] = {}
    known_sections = {key[0] for key in _YAML_KEYS}
    for top in document:
        if top not in known_sections:
            raise SettingsError(f"{path}: unknown setting '{top}' (known: {', '.join(sorted(known_sections))})")
    for keys, attr in _YAML_KEYS.items():
        node: Any = document
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                break
        if node is not None:
            values[attr] = node
    types = {f.name: f.type for f in fields(Settings)}
    coerced: dict[str, Any] = {}
    for attr, value in values.items():
        try:
            if attr == "artifacts":
                coerced[attr] = (path.parent / str(value)).resolve()
            elif attr == "secret_names":
                coerced[attr] = tuple(str(v) for v in value)
            elif types[attr] in ("int", int):
                coerced[attr] = int(value)
            elif types[attr] in ("float", float):
                coerced[attr] = float(value)
            else:
                coerced[attr] = value
        except (TypeError, ValueError):
            raise SettingsError(f"{path}: setting '{attr}' has an invalid value {value!r}") from None
    return replace(base, **coerced)
