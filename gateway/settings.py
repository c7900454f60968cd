"""One Settings object from defaults, an optional YAML file and CLI flags (flags win).

The YAML file is checked against a schema (pydantic): an unknown key gets a did-you-mean, a wrong type one
clear line with the file and line of the offending key. The runtime reads the flat, frozen `Settings`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ByteSize, ConfigDict, Field, ValidationError, field_validator

from gateway.database import DataSource, parse_jdbc_url, resolve_variable
from gateway.outbound import check_rule

DEFAULT_SECRET_NAMES = ("authToken", "password", "secret", "Authorization", "apiKeySecret", "token")
# Headers whose values are credentials: their values are masked wherever they appear in a log.
DEFAULT_SECRET_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-API-Key")
# Outbound destinations a message may name (twilioRest apiUrl, an endpoint URI built from the message).
DEFAULT_OUTBOUND_ALLOW = ("https://api.twilio.com", "https://verify.twilio.com", "loopback")
DEFAULT_DATASOURCES = {"default": parse_jdbc_url("jdbc:sqlite:data/gateway.db")}
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
MiB = 1024 * 1024


class SettingsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Settings:
    artifacts: Path = Path(".")
    host: str = "0.0.0.0"
    port: int = 8290  # MI's default HTTP port (8280 + offset 10)
    workers: int = 1
    log_level: str = "INFO"
    log_format: str = (
        "%(asctime)s %(levelname)s %(name)s [%(activity_id)s] - %(message)s"  # the id: `-` outside a message
    )
    max_body_bytes: int = 10 * MiB  # a request body read into memory
    max_tree_bytes: int = 4 * MiB  # a body parsed into an XML tree (trees cost ~35 times their bytes)
    max_response_bytes: int = 10 * MiB  # an endpoint or connector answer read into memory
    body_read_timeout: float = 30.0  # seconds to receive a body that is read (408 after that)
    endpoint_timeout: float = 60.0  # seconds, when an endpoint declares none
    connector_timeout: float = 10.0  # seconds for connector calls (e.g. Twilio)
    script_timeout: float = 10.0  # seconds a <script> may run for one message
    script_memory_bytes: int = 64 * MiB  # JavaScript heap a <script> may use in one run
    secret_names: tuple[str, ...] = DEFAULT_SECRET_NAMES
    secret_headers: tuple[str, ...] = DEFAULT_SECRET_HEADERS
    outbound_allow: tuple[str, ...] = DEFAULT_OUTBOUND_ALLOW
    connectors: dict[str, Any] = field(default_factory=dict)  # per-connector options
    hot_deploy: bool = True  # MI's server.hot_deployment: watch the artifact folders and redeploy what changes
    management: ManagementSettings = field(default_factory=lambda: ManagementSettings())
    metrics: MetricsSettings = field(default_factory=lambda: MetricsSettings())
    https: HttpsSettings = field(default_factory=lambda: HttpsSettings())
    outbound_verify_tls: bool = True  # check back ends' certificates (MI's default)
    outbound_ca_bundle: Path | None = None  # trust these CAs (PEM) instead of the system's
    log_json: bool = False  # one JSON object per log line
    access_log: bool = False  # one line per request, Apache's combined format plus the activity id
    correlation_header: str = "activityid"  # MI's: taken from the request or made, sent on, returned
    tracing: TracingSettings = field(default_factory=lambda: TracingSettings())
    # Where throttle counters live: None keeps them in this process; a redis:// URL shares them between
    # gateway nodes (and workers), so a limit holds for the whole cluster.
    throttle_redis: str | None = None
    # MI's datasources (deployment.toml [[datasource]]): the names a `<pool><dsName>` may use. "default" is the
    # embedded SQLite database unless configured (its file is relative to the artifacts folder).
    datasources: dict[str, DataSource] = field(default_factory=lambda: dict(DEFAULT_DATASOURCES))
    # Tests only: the gateway's clock (gateway/clock.py) may be moved forward, also by POST /_test/clock. Never in
    # production: it lets a client make every expiry (codes, sessions) pass.
    test_clock: bool = False
    # vfs:file: endpoints write only under these directories (none: no file is written; docs/operations.md)
    file_roots: tuple[Path, ...] = ()
    mail: MailSettings = field(default_factory=lambda: MailSettings())  # the SMTP server of mailto: endpoints
    local_depth: int = 8  # local: endpoints may nest this deep (a proxy calling itself fails, never loops)
    # Each serving process moves the deployed configuration into the collector's permanent generation after
    # every deployment (gc.freeze), so full collections do not walk it (docs/operations.md, "Garbage collector").
    gc_freeze: bool = True

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True, slots=True)
class MailSettings:
    """The SMTP server of mailto: endpoints (MI's mail.smtp.* of the mail transport sender)."""

    host: str | None = None  # none: mailto: endpoints fail with a clear fault
    port: int = 25
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # a secret: never logged
    security: str = "none"  # none | starttls | tls
    sender: str | None = None  # MI's mail.smtp.from: the From when the message sets none


@dataclass(frozen=True, slots=True)
class ManagementUser:
    name: str
    password_hash: str  # argon2 (`gateway hash-password`); plain passwords are refused
    admin: bool = True  # may change things (activate, deactivate, log levels); else read only


@dataclass(frozen=True, slots=True)
class ManagementSettings:
    """MI's management API (and the dashboard) on its own port; every resource but /login needs a token."""

    enabled: bool = True
    host: str = "127.0.0.1"  # MI listens everywhere, over HTTPS; without TLS here it stays on this machine
    port: int = 9164  # MI's management port
    users: tuple[ManagementUser, ...] = ()
    token_expiry: float = 3600.0  # seconds a login token stays valid
    tls: bool = False  # serve it over HTTPS (as MI) with the https section's certificate and key


MI_LATENCY_BUCKETS = (0.19, 0.20, 0.25, 0.30, 0.35, 0.40, 0.50, 0.60, 1.0, 5.0)  # PrometheusReporter's


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """Prometheus metrics with MI's names, scraped at /metric-service/metrics on the management port."""

    enabled: bool = True
    latency_buckets: tuple[float, ...] = MI_LATENCY_BUCKETS  # MI: metric_handler.*_latency_buckets


@dataclass(frozen=True, slots=True)
class HttpsSettings:
    """MI's HTTPS listener (8253 = 8243 + offset 10): on once a certificate and its key are configured."""

    port: int = 8253
    certificate: Path | None = None  # PEM: the certificate (and its chain)
    key: Path | None = None  # PEM: its private key
    client_ca: Path | None = None  # PEM: CAs whose client certificates are accepted
    client_auth: str = "none"  # none | optional | required (MI's SSLVerifyClient)

    @property
    def enabled(self) -> bool:
        return self.certificate is not None


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """Optional OpenTelemetry tracing: a span per request, per mediator and per outbound call."""

    enabled: bool = False
    exporter: str = "otlp"  # otlp (OTLP over HTTP; `endpoint`, else the OTEL_EXPORTER_OTLP_* variables) | console
    endpoint: str | None = None  # e.g. http://collector:4318/v1/traces
    service_name: str = "synapse-gateway"


# -- the YAML schema ------------------------------------------------------------------------------------
_DEFAULT = Settings()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Size = Annotated[ByteSize, Field(gt=0)]  # 10485760, "10MiB", "4 MB"
Names = tuple[Annotated[str, Field(min_length=1)], ...]


class _Logging(_Section):
    level: str = _DEFAULT.log_level
    format: str = _DEFAULT.log_format
    json_lines: bool = Field(False, alias="json")  # `json` itself is a BaseModel method
    access_log: bool = False

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = {"WARN": "WARNING", "FATAL": "CRITICAL", "TRACE": "DEBUG"}.get(value.upper(), value.upper())
        if level not in LOG_LEVELS:
            raise ValueError(f"unknown log level '{value}' (use one of {', '.join(LOG_LEVELS)})")
        return level


class _Limits(_Section):
    max_body_bytes: Size = ByteSize(_DEFAULT.max_body_bytes)
    max_tree_bytes: Size = ByteSize(_DEFAULT.max_tree_bytes)
    max_response_bytes: Size = ByteSize(_DEFAULT.max_response_bytes)
    script_memory: Size = ByteSize(_DEFAULT.script_memory_bytes)


class _Timeouts(_Section):
    endpoint: Seconds = _DEFAULT.endpoint_timeout
    connector: Seconds = _DEFAULT.connector_timeout
    body_read: Seconds = _DEFAULT.body_read_timeout
    script: Seconds = _DEFAULT.script_timeout


class _Secrets(_Section):
    names: Names = DEFAULT_SECRET_NAMES
    headers: Names = DEFAULT_SECRET_HEADERS


class _Outbound(_Section):
    allow: Names = DEFAULT_OUTBOUND_ALLOW
    verify_tls: bool = True
    ca_bundle: str | None = None

    @field_validator("allow")
    @classmethod
    def _valid_rules(cls, rules: tuple[str, ...]) -> tuple[str, ...]:
        for rule in rules:
            check_rule(rule)  # ValueError says what is wrong with it
        return rules


class _Throttle(_Section):
    redis: Annotated[str, Field(pattern=r"^(redis|rediss|unix)://")] | None = None


class _User(_Section):
    name: Annotated[str, Field(min_length=1)]
    password: Annotated[str, Field(min_length=1)]
    admin: bool = True

    @field_validator("password")
    @classmethod
    def _hashed(cls, value: str) -> str:
        if not value.startswith("$argon2"):
            raise ValueError(
                "store a hash, not the password: `python3 -m gateway hash-password` prints one to paste here"
            )
        return value


class _Management(_Section):
    enabled: bool = True
    host: Annotated[str, Field(min_length=1)] = _DEFAULT.management.host
    port: Annotated[int, Field(ge=1, le=65535, strict=True)] = _DEFAULT.management.port
    users: tuple[_User, ...] = ()
    token_expiry: Seconds = _DEFAULT.management.token_expiry
    tls: bool = False


class _Metrics(_Section):
    enabled: bool = True
    latency_buckets: tuple[Annotated[float, Field(gt=0, allow_inf_nan=False)], ...] = MI_LATENCY_BUCKETS


class _Https(_Section):
    port: Annotated[int, Field(ge=1, le=65535, strict=True)] = 8253
    certificate: str | None = None
    key: str | None = None
    client_ca: str | None = None
    client_auth: str = "none"

    @field_validator("client_auth")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value.lower() not in ("none", "optional", "required"):
            raise ValueError("use none, optional or required")
        return value.lower()


class _Correlation(_Section):
    header: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")] = "activityid"


class _Tracing(_Section):
    enabled: bool = False
    exporter: str = "otlp"
    endpoint: str | None = None
    service_name: Annotated[str, Field(min_length=1)] = "synapse-gateway"

    @field_validator("exporter")
    @classmethod
    def _known_exporter(cls, value: str) -> str:
        if value not in ("otlp", "console"):
            raise ValueError("use otlp or console")
        return value


class _DataSource(_Section):
    url: Annotated[str, Field(min_length=1)]
    user: str | None = None
    password: str | None = None
    max_size: Annotated[int, Field(ge=1, le=1000, strict=True)] = 10
    min_size: Annotated[int, Field(ge=0, le=1000, strict=True)] = 0
    timeout: Seconds = 30.0  # to get a connection (MI's maxWait)

    @field_validator("url", "user", "password")
    @classmethod
    def _resolved(cls, value: str | None) -> str | None:
        return resolve_variable(value)  # $SYSTEM:NAME: the environment variable (ValueError when unset)

    @field_validator("url")
    @classmethod
    def _jdbc(cls, value: str) -> str:
        parse_jdbc_url(value)  # ValueError says what is wrong with it
        return value

    def source(self) -> DataSource:
        return parse_jdbc_url(
            self.url,
            user=self.user,
            password=self.password,
            max_size=self.max_size,
            min_size=self.min_size,
            acquire_timeout=self.timeout,
        )


class _FileTransport(_Section):
    roots: tuple[Annotated[str, Field(min_length=1)], ...] = ()


class _Mail(_Section):
    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535, strict=True)] = 25
    user: str | None = None
    password: str | None = None
    security: str = "none"
    sender: str | None = Field(None, alias="from")

    @field_validator("user", "password")
    @classmethod
    def _resolved(cls, value: str | None) -> str | None:
        return resolve_variable(value)  # $SYSTEM:NAME: the environment variable (ValueError when unset)

    @field_validator("security")
    @classmethod
    def _known_security(cls, value: str) -> str:
        if value not in ("none", "starttls", "tls"):
            raise ValueError("use none, starttls or tls")
        return value


class _File(_Section):
    artifacts: str | None = None
    host: Annotated[str, Field(min_length=1)] = _DEFAULT.host
    port: Annotated[int, Field(ge=1, le=65535, strict=True)] = _DEFAULT.port
    workers: Annotated[int, Field(ge=1, le=256, strict=True)] = _DEFAULT.workers
    logging: _Logging = _Logging.model_validate({})
    limits: _Limits = _Limits()
    timeouts: _Timeouts = _Timeouts()
    secrets: _Secrets = _Secrets()
    outbound: _Outbound = _Outbound()
    connectors: dict[str, dict[str, Any]] = {}
    hot_deploy: bool = True
    management: _Management = _Management()
    metrics: _Metrics = _Metrics()
    https: _Https = _Https()
    correlation: _Correlation = _Correlation()
    tracing: _Tracing = _Tracing()
    throttle: _Throttle = _Throttle()
    datasources: dict[str, _DataSource] = {}
    test_clock: bool = False
    file_transport: _FileTransport = _FileTransport()
    mail: _Mail = _Mail.model_validate({})
    local_transport_depth: Annotated[int, Field(ge=1, le=64, strict=True)] = 8
    gc_freeze: bool = _DEFAULT.gc_freeze


def load_settings(path: str | Path | None, **overrides: Any) -> Settings:
    """Settings from the YAML file (if any) with the CLI flags on top; SettingsError names what is wrong."""
    document: dict[str, Any] = {}
    source: _Source | None = None
    if path is not None:
        source = _Source.read(Path(path))
        document = source.document
    flags = {
        "artifacts": overrides.pop("artifacts", None),
        "host": overrides.pop("host", None),
        "port": overrides.pop("port", None),
        "workers": overrides.pop("workers", None),
        "hot_deploy": overrides.pop("hot_deploy", None),
    }
    https_flags = {key: overrides.pop(f"https_{key}", None) for key in ("port",)}
    https_flags = {key: value for key, value in https_flags.items() if value is not None}
    management_flags = {key: overrides.pop(f"management_{key}", None) for key in ("enabled", "host", "port")}
    management_flags = {key: value for key, value in management_flags.items() if value is not None}
    if overrides:
        raise TypeError(f"unknown overrides {sorted(overrides)}")
    merged = dict(document)
    merged.update(
        {key: (str(value) if key == "artifacts" else value) for key, value in flags.items() if value is not None}
    )
    if management_flags:
        merged["management"] = {**(merged.get("management") or {}), **management_flags}
    if https_flags:
        merged["https"] = {**(merged.get("https") or {}), **https_flags}
    try:
        model = _File.model_validate(merged)
    except ValidationError as exc:
        from_flags = {key for key, value in flags.items() if value is not None}
        raise SettingsError(_describe(exc, source, from_flags)) from None
    _check_management_tls(model, source)
    artifacts = Path(".")
    if model.artifacts is not None:
        if flags["artifacts"] is not None or source is None:
            artifacts = Path(model.artifacts)
        else:
            artifacts = (source.path.parent / model.artifacts).resolve()
    return Settings(
        artifacts=artifacts,
        host=model.host,
        port=model.port,
        workers=model.workers,
        log_level=model.logging.level,
        log_format=model.logging.format,
        max_body_bytes=int(model.limits.max_body_bytes),
        max_tree_bytes=int(model.limits.max_tree_bytes),
        max_response_bytes=int(model.limits.max_response_bytes),
        body_read_timeout=model.timeouts.body_read,
        endpoint_timeout=model.timeouts.endpoint,
        connector_timeout=model.timeouts.connector,
        script_timeout=model.timeouts.script,
        script_memory_bytes=int(model.limits.script_memory),
        secret_names=model.secrets.names,
        secret_headers=model.secrets.headers,
        outbound_allow=model.outbound.allow,
        connectors=model.connectors,
        hot_deploy=model.hot_deploy,
        management=ManagementSettings(
            enabled=model.management.enabled,
            host=model.management.host,
            port=model.management.port,
            users=tuple(ManagementUser(u.name, u.password, u.admin) for u in model.management.users),
            token_expiry=model.management.token_expiry,
            tls=model.management.tls,
        ),
        metrics=MetricsSettings(
            enabled=model.metrics.enabled, latency_buckets=tuple(sorted(model.metrics.latency_buckets))
        ),
        https=_https(model.https, source),
        outbound_verify_tls=model.outbound.verify_tls,
        outbound_ca_bundle=_path(model.outbound.ca_bundle, source),
        log_json=model.logging.json_lines,
        access_log=model.logging.access_log,
        correlation_header=model.correlation.header,
        tracing=TracingSettings(
            model.tracing.enabled, model.tracing.exporter, model.tracing.endpoint, model.tracing.service_name
        ),
        throttle_redis=model.throttle.redis,
        datasources={**DEFAULT_DATASOURCES, **{name: ds.source() for name, ds in model.datasources.items()}},
        test_clock=model.test_clock,
        file_roots=tuple(_path(root, source) or Path(root) for root in model.file_transport.roots),
        mail=MailSettings(
            model.mail.host,
            model.mail.port,
            model.mail.user,
            model.mail.password,
            model.mail.security,
            model.mail.sender,
        ),
        local_depth=model.local_transport_depth,
        gc_freeze=model.gc_freeze,
    )


def _path(text: str | None, source: _Source | None) -> Path | None:
    """A file named in the config: relative to the config file's folder."""
    if text is None:
        return None
    path = Path(text).expanduser()
    return path if path.is_absolute() or source is None else (source.path.parent / path).resolve()


def _https(model: _Https, source: _Source | None) -> HttpsSettings:
    certificate, key = _path(model.certificate, source), _path(model.key, source)
    if (certificate is None) != (key is None):
        where = _where(source, ("https",))
        raise SettingsError(f"{where}: https needs both 'certificate' and 'key' (PEM files), or neither")
    client_ca = _path(model.client_ca, source)
    if model.client_auth != "none" and client_ca is None:
        where = _where(source, ("https", "client_auth"))
        raise SettingsError(f"{where}: https.client_auth '{model.client_auth}' needs https.client_ca (a PEM bundle)")
    for path in (certificate, key, client_ca):
        if path is not None and not path.is_file():
            raise SettingsError(f"{_where(source, ('https',))}: https: no such file {path}")
    return HttpsSettings(model.port, certificate, key, client_ca, model.client_auth)


def _check_management_tls(model: _File, source: _Source | None) -> None:
    if model.management.tls and model.https.certificate is None:
        where = _where(source, ("management", "tls"))
        raise SettingsError(f"{where}: management.tls needs https.certificate and https.key (it serves with them)")


# -- reading and explaining -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Source:
    path: Path
    document: dict[str, Any]
    lines: dict[tuple[str, ...], int]  # key path -> 1-based line of the key

    @staticmethod
    def read(path: Path) -> _Source:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"{path}: cannot read config: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SettingsError(f"{path}: the config is not UTF-8 text") from None
        try:
            document = yaml.safe_load(text)
            node = yaml.compose(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise SettingsError(f"{where}: malformed YAML: {getattr(exc, 'problem', None) or exc}") from None
        if document is None:
            document = {}
        if not isinstance(document, dict):
            raise SettingsError(f"{path}: the config must be a mapping of settings (e.g. `port: 8290`)")
        lines: dict[tuple[str, ...], int] = {}
        _key_lines(node, (), lines)
        return _Source(path, document, lines)


def _key_lines(node: Any, prefix: tuple[str, ...], out: dict[tuple[str, ...], int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = (*prefix, str(key.value))
            out[name] = key.start_mark.line + 1
            _key_lines(value, name, out)
    elif isinstance(node, yaml.SequenceNode):  # list items, as pydantic numbers them (management.users.0)
        for index, item in enumerate(node.value):
            name = (*prefix, str(index))
            out[name] = item.start_mark.line + 1
            _key_lines(item, name, out)


def _describe(exc: ValidationError, source: _Source | None, from_flags: set[str]) -> str:
    """One line per problem: where, which key, what is wrong, how to fix."""
    lines = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        key = ".".join(loc)
        where = "command line" if loc and loc[0] in from_flags else _where(source, loc)
        if error["type"] == "extra_forbidden":
            known = _known_keys(loc[:-1])
            hint = _did_you_mean(loc[-1], known) or f"known keys here: {', '.join(known)}"
            lines.append(f"{where}: unknown setting '{key}' ({hint})")
            continue
        given = "(not shown)" if loc and loc[-1] == "password" else error.get("input")
        message = _FRIENDLY.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")
        shown = given if given == "(not shown)" else repr(given)
        lines.append(f"{where}: setting '{key}' has an invalid value {shown}: {message}")
    return "\n".join(lines)


_FRIENDLY = {
    "tuple_type": "must be a list, e.g. [a, b]",
    "list_type": "must be a list, e.g. [a, b]",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be text",
    "byte_size": "must be a size such as 10485760 or 10MiB",
    "byte_size_unit": "must be a size such as 10485760 or 10MiB",
}


def _where(source: _Source | None, loc: tuple[str, ...]) -> str:
    if source is None:
        return "settings"
    for end in range(len(loc), 0, -1):
        line = source.lines.get(loc[:end])
        if line is not None:
            return f"{source.path}:{line}"
    return str(source.path)


def _known_keys(loc: tuple[str, ...]) -> list[str]:
    model: Any = _File
    for part in loc:
        annotation = model.model_fields[part].annotation if part in getattr(model, "model_fields", {}) else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def _did_you_mean(name: str, choices: list[str]) -> str | None:
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else None
