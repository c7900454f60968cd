"""Contract checks against Twilio's published OpenAPI specs (``twilio_api_v2010.json``, and
``twilio_verify_v2.json`` for Verify's ``/v2/Services…`` paths).

``validate_request`` checks a request sent TO Twilio (method, path, query, form body,
auth); ``validate_response`` checks a response FROM Twilio (status, JSON body). Both raise
``AssertionError`` with a readable list of problems. ``attach_contract`` adds a middleware
to a fake Twilio app (e.g. the sandbox) that checks every exchange.

Schemas are checked with openapi-schema-validator (OAS 3.0 rules: nullable, formats,
patterns, enums) using one cached validator per schema: openapi-core's full request and
response unmarshalling costs ~10-30 ms per call on this 1.8 MB spec, too slow to check
every exchange of a test suite, and it cannot express Twilio's wire quirks below.

Where the spec and the real API disagree, the real API wins:

- Array form fields (``MediaUrl``, ``PersistentAction``, ``StatusCallbackEvent``) are sent
  repeated (``MediaUrl=a&MediaUrl=b``), i.e. style=form/explode=true; the spec declares no
  ``encoding``. A non-array field sent twice is reported.
- ``DateSent``/``DateSent<``/``DateSent>`` (and the Recordings' ``DateCreated…``, the Calls'
  ``StartTime…`` / ``EndTime…``) are typed
  ``date-time`` but documented (and sent) as ``YYYY-MM-DD``; that or an ISO 8601 timestamp is accepted.
- Booleans are ``true``/``false`` on the wire (what the SDKs send).
- Twilio's own formats (phone-number, date-time-rfc-2822, uri-map, …) get validators.
- 4xx/5xx bodies are not in the spec; they are checked against the legacy error shape
  ``{code:int, message:str, more_info:str, status:int}``.

Stricter than the spec alone: 2xx bodies must carry every documented property and no
undocumented one (recursively, where a schema lists properties), requests must not send
undocumented form fields, and ``x-twilio.conditional`` groups (e.g. From or
MessagingServiceSid) must be satisfied.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from aiohttp import web
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator, oas30_format_checker

SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "twilio-oai" / "twilio_api_v2010.json"
# Verify v2 (verify.twilio.com/v2/...): its paths and components are merged into the one spec (no name is shared).
VERIFY_SPEC_PATH = SPEC_PATH.with_name("twilio_verify_v2.json")
FORM = "application/x-www-form-urlencoded"

Pairs = Iterable[tuple[str, str]]
QueryLike = Mapping[str, Any] | Pairs | None

# ---------------------------------------------------------------------------------------------
# Format validators for Twilio's custom formats
# ---------------------------------------------------------------------------------------------
_RFC2822_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} \+0000$"
)
_HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_SENT_PARAMS = (
    *("DateSent", "DateSent<", "DateSent>", "DateCreated", "DateCreated<", "DateCreated>"),
    *("StartTime", "StartTime<", "StartTime>", "EndTime", "EndTime<", "EndTime>"),  # Calls: the same rule
)


def _rfc2822_gmt(value: Any) -> bool:
    """Twilio's dates: ``Thu, 24 Aug 2023 05:01:45 +0000`` with a weekday that matches."""
    if not isinstance(value, str):
        return True
    if not _RFC2822_RE.match(value):
        return False
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return parsed.strftime("%a") == value[:3]


def _address(value: Any) -> bool:
    # Catches the classic bug of an unencoded '+' arriving as a leading space.
    return not isinstance(value, str) or (value != "" and value == value.strip())


def _uri(value: Any) -> bool:
    """Absolute URL, or a path relative to https://api.twilio.com (as in ``*_uri`` fields)."""
    if not isinstance(value, str):
        return True
    if not value or any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return (bool(parts.scheme) and bool(parts.netloc)) or value.startswith("/")


def _uri_map(value: Any) -> bool:
    return not isinstance(value, dict) or all(isinstance(v, str) and _uri(v) for v in value.values())


FORMAT_VALIDATORS: dict[str, Callable[[Any], bool]] = {
    "date-time-rfc-2822": _rfc2822_gmt,
    "phone-number": _address,
    "endpoint": _address,
    "uri": _uri,
    "uri-map": _uri_map,
    "http-method": lambda v: not isinstance(v, str) or v.upper() in _HTTP_METHODS,
    "currency": lambda v: not isinstance(v, str) or bool(re.fullmatch(r"[A-Za-z]{3}", v)),
    "iso-country-code": lambda v: not isinstance(v, str) or bool(re.fullmatch(r"[A-Z]{2}", v)),
}


# ---------------------------------------------------------------------------------------------
# Spec access (parsed once per process: the file is 1.8 MB)
# ---------------------------------------------------------------------------------------------
@cache
def spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    with VERIFY_SPEC_PATH.open(encoding="utf-8") as fh:
        verify: dict[str, Any] = json.load(fh)
    data["paths"].update(verify["paths"])
    for kind, entries in verify["components"].items():
        data["components"].setdefault(kind, {}).update(entries)
    return data


def _resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        node: Any = spec()
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


@cache
def _path_patterns() -> list[tuple[re.Pattern[str], str, tuple[str, ...]]]:
    """(regex, template, parameter names) per spec path; fewer parameters are tried first."""
    patterns = []
    for template in spec()["paths"]:
        names = tuple(re.findall(r"\{([^}]+)\}", template))
        regex = re.escape(template)
        for name in names:
            regex = regex.replace(re.escape("{" + name + "}"), "([^/]+)", 1)
        patterns.append((re.compile(f"^{regex}$"), template, names))
    return sorted(patterns, key=lambda item: len(item[2]))


def _match_path(url_path: str) -> tuple[str, dict[str, str]]:
    path = urlsplit(url_path).path
    for pattern, template, names in _path_patterns():
        match = pattern.match(path)
        if match:
            return template, dict(zip(names, (unquote(g) for g in match.groups()), strict=True))
    raise AssertionError(f"{path}: no such path in the Twilio spec")


def find_operation(method: str, url_path: str) -> tuple[str, dict[str, Any]]:
    """Return (path template, operation object) or raise AssertionError."""
    template, _ = _match_path(url_path)
    operation = spec()["paths"][template].get(method.lower())
    if operation is None:
        raise AssertionError(f"{method.upper()} {urlsplit(url_path).path}: method not defined for {template}")
    return template, operation


# ---------------------------------------------------------------------------------------------
# Schema validation (one cached openapi-schema-validator per schema location)
# ---------------------------------------------------------------------------------------------
def _inline(node: Any) -> Any:
    """A copy of ``node`` with every ``$ref`` replaced by its target (Twilio's are not recursive)."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(_resolve(node))
        return {key: _inline(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item) for item in node]
    return node


@cache
def _format_checker() -> FormatChecker:
    checker = copy.deepcopy(oas30_format_checker)
    for name, check in FORMAT_VALIDATORS.items():
        checker.checks(name)(check)
    return checker


_VALIDATORS: dict[tuple[str, ...], OAS30Validator] = {}


def _validator(key: tuple[str, ...], schema: Mapping[str, Any]) -> OAS30Validator:
    validator = _VALIDATORS.get(key)
    if validator is None:
        validator = _VALIDATORS[key] = OAS30Validator(_inline(schema), format_checker=_format_checker())
    return validator


def _schema_problems(validator: OAS30Validator, value: Any, prefix: str = "") -> list[str]:
    problems = []
    for error in validator.iter_errors(value):
        where = "/".join(str(p) for p in error.absolute_path)
        location = f"{prefix}.{where}" if prefix and where else prefix or where
        problems.append(error.message + (f" (at {location})" if location else ""))
    return problems


def _fail(what: str, problems: list[str]) -> None:
    if problems:
        raise AssertionError(f"{what} does not match the Twilio spec:\n  - " + "\n  - ".join(problems))


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------
def _pairs(data: QueryLike) -> list[tuple[str, str]]:
    if data is None:
        return []
    items = getattr(data, "items", None)
    if callable(items):
        # multidict's items() yields every pair; werkzeug's MultiDict needs multi=True.
        try:
            return [(str(k), str(v)) for k, v in items(multi=True)]
        except TypeError:
            return [(str(k), str(v)) for k, v in items()]
    return [(str(k), str(v)) for k, v in data]  # type: ignore[misc]


def _cast(value: str, schema: Mapping[str, Any]) -> Any:
    """Turn one wire string into the schema's type (raises ValueError when it cannot)."""
    kind = _resolve(schema).get("type")
    if kind == "integer":
        if not re.fullmatch(r"[+-]?\d+", value.strip()):
            raise ValueError(f"{value!r} is not an integer")
        return int(value)
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    if kind == "boolean":
        # Twilio and its SDKs speak "true"/"false"; yes/on/1 are not booleans on this API.
        if value.lower() not in ("true", "false"):
            raise ValueError(f"{value!r} is not true/false")
        return value.lower() == "true"
    return value


def _form_schema(operation: Mapping[str, Any]) -> Mapping[str, Any]:
    content = operation["requestBody"].get("content", {})
    return _resolve(content.get(FORM, {}).get("schema", {}))


def _decode_form(operation: Mapping[str, Any], form: list[tuple[str, str]], problems: list[str]) -> dict[str, Any]:
    """Form pairs -> object per the body schema; array fields arrive repeated (explode=true)."""
    props = _form_schema(operation).get("properties", {})
    body: dict[str, Any] = {}
    for name in dict.fromkeys(key for key, _ in form):
        values = [value for key, value in form if key == name]
        prop = _resolve(props.get(name, {}))
        try:
            if prop.get("type") == "array":
                body[name] = [_cast(value, prop.get("items", {})) for value in values]
                continue
            if len(values) > 1:
                problems.append(f"form field {name} is sent {len(values)} times but is not an array")
            body[name] = _cast(values[-1], prop)
        except ValueError as exc:
            problems.append(f"form field {name}: {exc}")
    return body


def _check_conditional(operation: Mapping[str, Any], form: list[tuple[str, str]]) -> list[str]:
    groups = (operation.get("x-twilio") or {}).get("conditional") or []
    present = {name for name, value in form if value != ""}
    problems = []
    for group in groups:
        names = ["".join(part.capitalize() for part in snake.split("_")) for snake in group]
        if not present.intersection(names):
            problems.append(f"form body needs at least one of {', '.join(names)} (x-twilio conditional)")
    return problems


def _check_security(operation: Mapping[str, Any], headers: Mapping[str, str]) -> list[str]:
    if not operation.get("security", spec().get("security", [])):
        return []
    authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic" or not credentials.strip():
        return ["missing HTTP Basic Authorization (security scheme accountSid_authToken)"]
    return []


def _check_date_sent(pairs: list[tuple[str, str]]) -> list[str]:
    problems = []
    for name, value in pairs:
        if name not in _DATE_SENT_PARAMS:
            continue
        text = value[2:] if name in ("DateSent", "DateCreated") and value[:2] in ("<=", ">=") else value
        ok = bool(_DATE_RE.match(text))
        if not ok and "T" in text:
            try:
                datetime.fromisoformat(text)
                ok = True
            except ValueError:
                ok = False
        if not ok:
            problems.append(f"query parameter {name}={value!r}: expected YYYY-MM-DD (or ISO 8601)")
    return problems


def _declared_parameters(template: str, operation: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    shared = spec()["paths"][template].get("parameters", [])
    return [_resolve(p) for p in [*shared, *operation.get("parameters", [])]]


def _check_parameters(
    template: str,
    method: str,
    operation: Mapping[str, Any],
    path_values: Mapping[str, str],
    query: list[tuple[str, str]],
    problems: list[str],
) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {"path": {}, "query": {}}
    for param in _declared_parameters(template, operation):
        where, name = param.get("in"), param["name"]
        raw: str | None
        if where == "path":
            raw = path_values.get(name)
        elif where == "query":
            found = [value for key, value in query if key == name]
            if len(found) > 1:
                problems.append(f"query parameter {name} is sent {len(found)} times")
            raw = found[-1] if found else None
        else:
            continue
        if raw is None:
            if param.get("required"):
                problems.append(f"missing required {where} parameter {name}")
            continue
        if name in _DATE_SENT_PARAMS:
            values[where][name] = raw  # see _check_date_sent: the spec's date-time is wrong here
            continue
        try:
            value = _cast(raw, param.get("schema", {}))
        except ValueError as exc:
            problems.append(f"{where} parameter {name}: {exc}")
            continue
        validator = _validator(("param", template, method, where, name), param.get("schema", {}))
        problems += _schema_problems(validator, value, f"{where} parameter {name}")
        values[where][name] = value
    return values


def validate_request(
    method: str,
    url_path: str,
    query: QueryLike = None,
    form: QueryLike = None,
    *,
    headers: Mapping[str, str] | None = None,
    content_type: str | None = None,
    allow_unknown_fields: bool = False,
) -> dict[str, Any]:
    """Check a request to Twilio against the spec; return the decoded ``{path, query, body}``.

    ``url_path`` may carry a query string (used when ``query`` is None). ``query`` and
    ``form`` are pairs or a MultiDict (repeated keys = array fields). ``headers`` defaults to
    a dummy Basic Authorization (pass the real ones to check that auth is sent).
    ``content_type``, when given, must be the form type for operations that take a body.
    """
    split = urlsplit(url_path)
    path = split.path
    query_pairs = _pairs(query) if query is not None else parse_qsl(split.query, keep_blank_values=True)
    form_pairs = _pairs(form)
    template, path_values = _match_path(path)
    operation = spec()["paths"][template].get(method.lower())
    if operation is None:
        raise AssertionError(f"{method.upper()} {path}: method not defined for {template}")

    problems = _check_security(operation, headers if headers is not None else {"Authorization": "Basic eA=="})
    values = _check_parameters(template, method.lower(), operation, path_values, query_pairs, problems)
    problems += _check_date_sent(query_pairs)
    if not allow_unknown_fields:
        known_query = {p["name"] for p in _declared_parameters(template, operation) if p.get("in") == "query"}
        unknown_query = sorted({name for name, _ in query_pairs} - known_query)
        problems += [f"query parameter {name!r} is not defined by the spec" for name in unknown_query]
    body: dict[str, Any] = {}
    if "requestBody" in operation:
        if content_type is not None and form_pairs and content_type.split(";")[0].strip().lower() != FORM:
            problems.append(f"body must be {FORM}, not {content_type}")
        body = _decode_form(operation, form_pairs, problems)
        schema = _form_schema(operation)
        problems += _schema_problems(_validator(("body", template, method.lower()), schema), body)
        problems += _check_conditional(operation, form_pairs)
        if not allow_unknown_fields:
            unknown = sorted(body.keys() - schema.get("properties", {}).keys())
            problems += [f"form field {name!r} is not defined by the spec" for name in unknown]
    elif form_pairs:
        problems.append("this operation takes no form body")
    _fail(f"request {method.upper()} {path}", problems)
    return {"path": values["path"], "query": values["query"], "body": body}


# ---------------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------------
ERROR_KEYS = frozenset({"code", "message", "more_info", "status"})
ERRORS_URL = "https://www.twilio.com/docs/errors/"


def validate_error_body(status: int, body: Any) -> None:
    """Twilio's legacy REST error body: ``{code, message, more_info, status}``."""
    problems: list[str] = []
    if not isinstance(body, dict):
        _fail(f"{status} error body", [f"expected a JSON object, got {type(body).__name__}"])
        return
    missing = ERROR_KEYS - body.keys()
    extra = body.keys() - ERROR_KEYS - {"details"}  # `details` is optional in newer errors
    if missing:
        problems.append(f"missing keys: {sorted(missing)}")
    if extra:
        problems.append(f"unexpected keys: {sorted(extra)}")
    code, message, more_info, body_status = (body.get(k) for k in ("code", "message", "more_info", "status"))
    if not isinstance(code, int) or isinstance(code, bool):
        problems.append(f"code must be an integer, got {code!r}")
    if not isinstance(message, str) or not message:
        problems.append(f"message must be a non-empty string, got {message!r}")
    if not isinstance(more_info, str) or not more_info.startswith(ERRORS_URL):
        problems.append(f"more_info must be a {ERRORS_URL}<code> URL, got {more_info!r}")
    elif isinstance(code, int) and not more_info.endswith(f"/{code}"):
        problems.append(f"more_info {more_info!r} does not point at code {code}")
    if body_status != status:
        problems.append(f"status field {body_status!r} differs from HTTP status {status}")
    _fail(f"{status} error body", problems)


def _exact_keys(schema: Mapping[str, Any], value: Any, where: str, problems: list[str]) -> None:
    """Every documented property present and nothing undocumented (where properties are listed)."""
    schema = _resolve(schema)
    if isinstance(value, dict) and schema.get("properties"):
        props = schema["properties"]
        extra = sorted(value.keys() - props.keys())
        missing = sorted(props.keys() - value.keys())
        if extra:
            problems.append(f"{where or 'body'}: undocumented keys {extra}")
        if missing:
            problems.append(f"{where or 'body'}: missing keys {missing}")
        for key, sub in props.items():
            if key in value:
                _exact_keys(sub, value[key], f"{where}.{key}" if where else key, problems)
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _exact_keys(schema["items"], item, f"{where}[{index}]", problems)


def validate_response(method: str, url_path: str, status: int, body_json: Any) -> None:
    """Check a Twilio response; ``body_json`` is the parsed JSON (or raw bytes/str, or None)."""
    path = urlsplit(url_path).path
    what = f"{status} response to {method.upper()} {path}"
    if isinstance(body_json, (bytes, str)):
        body_json = json.loads(body_json) if body_json else None
    if status >= 400:
        validate_error_body(status, body_json)
        return
    template, operation = find_operation(method, path)
    declared = operation.get("responses", {})
    if str(status) not in declared:
        _fail(what, [f"status {status} not declared (declared: {', '.join(sorted(declared))})"])
    if "content" not in declared[str(status)]:
        if body_json is not None:
            _fail(what, [f"expected an empty body, got {body_json!r}"])
        return
    schema = declared[str(status)]["content"]["application/json"]["schema"]
    validator = _validator(("response", template, method.lower(), str(status)), schema)
    problems = _schema_problems(validator, body_json)
    _exact_keys(schema, body_json, "", problems)
    _fail(what, problems)


# ---------------------------------------------------------------------------------------------
# A middleware that checks every exchange of a fake Twilio server (e.g. the sandbox)
# ---------------------------------------------------------------------------------------------
OFF_SPEC_HEADER = "X-Expect-Off-Spec"


@dataclass
class SpecContract:
    """Checks every ``/2010-04-01`` request received and response sent; collects violations.

    A request carrying ``X-Expect-Off-Spec`` is one a test sends off-spec on purpose: it
    must then FAIL request validation (so the check itself is proven to bite).
    """

    violations: list[str] = field(default_factory=list)
    checked: int = 0

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await handler(request)
        if request.path.startswith("/2010-04-01/") and isinstance(response, web.Response):
            await self._check(request, response)
        return response

    async def _check(self, request: web.Request, response: web.Response) -> None:
        self.checked += 1
        label = f"{request.method} {request.path_qs} -> {response.status}"
        form = [(k, v) for k, v in (await request.post()).items() if isinstance(v, str)]
        expect_off_spec = OFF_SPEC_HEADER in request.headers
        try:
            validate_request(
                request.method,
                request.path,
                request.query,
                form,
                headers=request.headers,
                content_type=request.headers.get("Content-Type"),
            )
        except AssertionError as exc:
            if not expect_off_spec:
                self.violations.append(f"{label}: {exc}")
        else:
            if expect_off_spec:
                self.violations.append(f"{label}: request was expected to be off-spec but validated")
        raw = response.body if isinstance(response.body, bytes) else b""
        if raw and response.content_type != "application/json":
            self.violations.append(f"{label}: content type {response.content_type}")
        try:
            validate_response(request.method, request.path, response.status, json.loads(raw) if raw else None)
        except AssertionError as exc:
            self.violations.append(f"{label}: {exc}")

    def assert_clean(self) -> None:
        assert not self.violations, "exchanges off the Twilio spec:\n" + "\n".join(self.violations)


CONTRACT: web.AppKey[SpecContract] = web.AppKey("twilio_spec_contract", SpecContract)


def attach_contract(app: web.Application) -> SpecContract:
    """Add a :class:`SpecContract` middleware to ``app`` (before it starts); also ``app[CONTRACT]``."""
    contract = SpecContract()
    app[CONTRACT] = contract
    app.middlewares.append(contract.middleware)
    return contract
