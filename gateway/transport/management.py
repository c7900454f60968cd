"""MI's management API (wso2/micro-integrator `management.apis`: ManagementInternalApi and its resources), on
its own port: the same paths, query parameters, bodies and JSON shapes, so MI's tools (`apictl mi …`, the
dashboard) can talk to it. Plus the dashboard page (`/dashboard`) and MI's probes (`/healthz`, `/liveness`).

Login: `GET /management/login` with Basic auth answers `{"AccessToken": …}`; every other resource needs
`Authorization: Bearer <token>`. Users come from the settings (`management.users`) with argon2 hashes; a user
without `admin` may read but not change anything (MI's read-only users: 403). Resources MI has and this gateway
has no artifacts for (APIs, inbound endpoints, tasks, message stores and processors) answer MI's list shape,
empty, so a client needs no special case.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
import platform
import secrets
import sys
import time
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import hdrs, web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from lxml import etree

from gateway.runtime import metrics as prometheus
from gateway.runtime.endpoints import EndpointTemplate
from gateway.settings import ManagementUser
from gateway.transport.control import MI_LEVELS, ROOT_LOGGER, Hub
from gateway.xmlutil import local_name, parse_config_file

if TYPE_CHECKING:
    from gateway.errors import DeployError
    from gateway.runtime.configuration import Configuration, ProxyService

CONTEXT = "/management"
MAX_TOKENS = 256  # MI's JWT token store size: "Max concurrent access limit exceeded" after that
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("an unknown user costs the same as a wrong password")
HUB = web.AppKey("hub", Hub)
SERVER_METRICS = web.AppKey("server_metrics", prometheus.ServerCollector)
USER = "management.user"

try:
    PRODUCT_VERSION = version("synapse-gateway")
except PackageNotFoundError:  # running from a checkout that is not installed
    PRODUCT_VERSION = "0.1.0"


@dataclass(slots=True)
class _Token:
    user: ManagementUser
    expires: float


class Logins:
    """Users from the settings and the tokens handed out (kept by hash; MI keeps its JWTs in memory too)."""

    def __init__(self, users: tuple[ManagementUser, ...], expiry: float) -> None:
        self.users = {user.name: user for user in users}
        self.expiry = expiry
        self.tokens: dict[str, _Token] = {}
        self.clock = time.monotonic

    async def check_password(self, name: str, password: str) -> ManagementUser | None:
        user = self.users.get(name)
        stored = user.password_hash if user is not None else _DUMMY_HASH
        try:  # argon2 costs tens of milliseconds of CPU: not on the event loop that may also serve messages
            await asyncio.to_thread(_HASHER.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return user

    def issue(self, user: ManagementUser) -> str | None:
        now = self.clock()
        for key in [key for key, token in self.tokens.items() if token.expires <= now]:
            del self.tokens[key]
        if len(self.tokens) >= MAX_TOKENS:
            return None
        token = secrets.token_urlsafe(32)
        self.tokens[_digest(token)] = _Token(user, now + self.expiry)
        return token

    def user_of(self, token: str) -> ManagementUser | None:
        entry = self.tokens.get(_digest(token))
        if entry is None or entry.expires <= self.clock():
            return None
        return entry.user

    def revoke(self, token: str) -> bool:
        return self.tokens.pop(_digest(token), None) is not None


AUTH = web.AppKey("auth", Logins)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- the app ----------------------------------------------------------------------------------------------
def create_management_app(hub: Hub) -> web.Application:
    settings = hub.settings.management
    app = web.Application(middlewares=[_authenticate], client_max_size=1024 * 1024)
    app[HUB] = hub
    app[AUTH] = Logins(settings.users, settings.token_expiry)
    routes = [
        ("GET", "", root),
        ("GET", "/", root),
        ("GET", "/login", login),
        ("GET", "/logout", logout),
        ("*", "/proxy-services", proxy_services),
        ("*", "/endpoints", endpoints),
        ("*", "/sequences", sequences),
        ("GET", "/templates", templates),
        ("GET", "/local-entries", local_entries),
        ("*", "/apis", apis),
        ("GET", "/inbound-endpoints", inbound_endpoints),
        ("GET", "/tasks", tasks),
        ("GET", "/message-stores", message_stores),
        ("*", "/message-processors", message_processors),
        ("*", "/logging", logging_resource),
        ("GET", "/server", server),
        ("GET", "/connectors", connectors),
        ("GET", "/dashboard", dashboard_data),  # ours: everything the dashboard page shows, in one answer
    ]
    for method, path, handler in routes:
        app.router.add_route(method, CONTEXT + path, handler)
    app.router.add_get("/healthz", readiness)  # MI's probes (MI serves them on port 9201, without login)
    app.router.add_get("/liveness", liveness)
    if hub.settings.metrics.enabled:  # MI's path (MI: port 9201, without login, as Prometheus scrapes)
        app[SERVER_METRICS] = prometheus.ServerCollector(hub.settings)
        app.router.add_get(prometheus.PATH, metrics_page)
    app.router.add_get("/dashboard", dashboard_page)
    app.router.add_get("/", to_dashboard)
    app.router.add_get("/favicon.ico", no_content)
    app.router.add_get("/dashboard/{name:[a-z.]+}", dashboard_asset)
    return app


async def no_content(_request: web.Request) -> web.Response:
    return web.Response(status=204)


async def to_dashboard(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/dashboard")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _error(message: str, status: int) -> web.Response:
    """MI's Utils.createJsonError: `{"Error": message}` with the status."""
    return _json({"Error": message}, status)


def _list(items: list[dict[str, Any]]) -> dict[str, Any]:
    """MI's Utils.createJSONList."""
    return {"count": len(items), "list": items}


def _hub(request: web.Request) -> Hub:
    return request.app[HUB]


def _logins(request: web.Request) -> Logins:
    return request.app[AUTH]


@web.middleware
async def _authenticate(request: web.Request, handler: Any) -> web.StreamResponse:
    """MI's BasicSecurityHandler for /login, JWTTokenSecurityHandler for the rest (401 without a valid token)."""
    path = request.path
    if not path.startswith(CONTEXT) or path.rstrip("/") == CONTEXT:
        response: web.StreamResponse = await handler(request)
        return response
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, credentials = header.partition(" ")
    logins = _logins(request)
    if path == CONTEXT + "/login":
        user = None
        if scheme == "Basic":
            try:
                name, _, password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                name = password = ""
            if name and password:
                user = await logins.check_password(name, password)
        if user is None:
            # A browser would answer the challenge with its own password dialog: the dashboard asks for none.
            challenge = {} if "X-Requested-With" in request.headers else {"WWW-Authenticate": 'Basic realm="WSO2 EI"'}
            return web.Response(status=401, headers=challenge)
    else:
        user = logins.user_of(credentials.strip()) if scheme == "Bearer" else None
        if user is None:
            return web.Response(status=401)
    request[USER] = user
    response = await handler(request)
    return response


def _may_edit(request: web.Request) -> bool:
    user: ManagementUser = request[USER]
    return user.admin


async def _payload(request: web.Request) -> dict[str, Any] | web.Response:
    """The JSON object of a POST/PATCH, or MI's answer when there is none."""
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _error("Error when parsing JSON payload", 400)
    if not isinstance(body, dict):
        return _error("JSON payload is missing", 400)
    return body


async def _edit(request: web.Request) -> dict[str, Any] | web.Response:
    """A change (POST) by a user allowed to make it: its JSON object, or the answer refusing it."""
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
    if not _may_edit(request):
        return web.Response(status=403)
    return await _payload(request)


# -- login ------------------------------------------------------------------------------------------------
async def root(_request: web.Request) -> web.Response:
    return _json({"WSO2 Micro Integrator": f"synapse-gateway {PRODUCT_VERSION}", "ManagementApi": "Active"})


async def login(request: web.Request) -> web.Response:
    token = _logins(request).issue(request[USER])
    if token is None:
        return _error("Max concurrent access limit exceeded", 500)
    return _json({"AccessToken": token})


async def logout(request: web.Request) -> web.Response:
    token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")[2].strip()
    if not _logins(request).revoke(token):
        return _error("Log out failed due to incorrect credentials", 500)
    return web.Response(status=200)


# -- artifacts --------------------------------------------------------------------------------------------
def _searched(request: web.Request, names: list[str]) -> list[str]:
    key = request.query.get("searchKey", "").strip().lower()
    return [name for name in names if key in name.lower()] if key else names


def _source(hub: Hub, kind: str, name: str) -> str:
    for artifact in hub.state.config.deployed:
        if artifact.kind == kind and artifact.name == name:
            data = hub.deployer.source(artifact.path)
            return data.decode("utf-8", "replace") if data is not None else ""
    return ""


def _enabled(flag: bool) -> str:
    return "enabled" if flag else "disabled"


def _server_url(hub: Hub, request: web.Request, scheme: str = "http") -> str:
    """W: ApiResource.getServerContext: the host configured, else the one the client used."""
    host = hub.settings.host if hub.settings.host not in ("0.0.0.0", "::", "") else request.url.host or "localhost"
    port = hub.settings.https.port if scheme == "https" else hub.settings.port
    return f"{scheme}://{host}:{port}"


def _service_urls(hub: Hub, request: web.Request, name: str) -> tuple[str, str]:
    return f"{_server_url(hub, request)}/services/{name}", f"{_server_url(hub, request, 'https')}/services/{name}"


async def proxy_services(request: web.Request) -> web.Response:
    """MI's ProxyServiceResource."""
    hub = _hub(request)
    config = hub.state.config
    if request.method == "GET":
        name = request.query.get("proxyServiceName")
        if name is not None:
            proxy = config.proxies.get(name)
            if proxy is None:
                return _error(f"Proxy service ('{name}') not found", 404)
            return _json(_proxy_details(hub, request, proxy))
        items = []
        for proxy_name in _searched(request, sorted(config.proxies)):
            http, _ = _service_urls(hub, request, proxy_name)
            items.append({"name": proxy_name, "wsdl1_1": f"{http}?wsdl", "wsdl2_0": f"{http}?wsdl2"})
        return _json(_list(items))
    payload = await _edit(request)
    if isinstance(payload, web.Response):
        return payload
    name = str(payload.get("name", ""))
    proxy = config.proxies.get(name)
    if "status" in payload:
        if proxy is None:
            return _error("Proxy service could not be found", 404)
        status = str(payload["status"]).lower()
        if status not in ("active", "inactive"):
            return _error("Provided state is not valid", 400)
        hub.state.proxy_running[name] = status == "active"
        hub.switched()
        what = "started" if status == "active" else "stopped"
        return _json({"Message": f"Proxy service {name} {what} successfully"})
    if "name" not in payload:
        return _error("Unsupported operation", 400)
    if proxy is None:
        return _error(f"Specified proxy ('{name}') not found", 400)
    return _tracing_unsupported(payload)


def _tracing_unsupported(payload: dict[str, Any]) -> web.Response:
    """MI's message tracing (`{"name", "trace": "enable"}`) needs MI's tracing back end: not offered here."""
    if "trace" not in payload:
        return _error("Missing attribute trace in payload", 400)
    return _error("Message tracing is not supported by this gateway (see docs/operations.md)", 400)


def _proxy_details(hub: Hub, request: web.Request, proxy: ProxyService) -> dict[str, Any]:
    http, https = _service_urls(hub, request, proxy.name)
    eprs = [url for url, transport in ((http, "http"), (https, "https")) if transport in proxy.transports]
    return {
        "name": proxy.name,
        "wsdl1_1": f"{http}?wsdl",
        "wsdl2_0": f"{http}?wsdl2",
        "stats": _enabled(proxy.statistics),
        "tracing": _enabled(proxy.trace),
        "configuration": _source(hub, "proxy", proxy.name),
        "eprs": eprs,
        "isRunning": hub.state.running(proxy),
    }


def _root_element(text: str) -> etree._Element | None:
    if not text:
        return None
    try:
        return parse_config_file("<management>", None, text.encode("utf-8"))
    except Exception:  # noqa: BLE001 - a listing must not fail on one unreadable source
        return None


def _endpoint_type(text: str) -> str:
    element = _root_element(text)
    children = [child for child in element if isinstance(child.tag, str)] if element is not None else []
    for child in children:
        if local_name(child) not in ("description", "property", "parameter"):
            return local_name(child)
    return element.get("template", "template") if element is not None and element.get("template") else "unknown"


async def endpoints(request: web.Request) -> web.Response:
    """MI's EndpointResource: the endpoints with their state (isActive; ours: `state`, with the children of a
    load-balance or fail-over endpoint and their states), and `{"name", "status": "active"|"inactive"}` to
    switch one on or off."""
    hub = _hub(request)
    config = hub.state.config
    if request.method == "GET":
        name = request.query.get("endpointName")
        if name is not None:
            if name not in config.endpoints:
                return _error(f"Endpoint ('{name}') not found", 404)
            endpoint = config.endpoints[name]
            text = _source(hub, "endpoint", name)
            details: dict[str, Any] = {"name": name, "type": _endpoint_type(text)}
            uri = getattr(endpoint, "uri", None)
            if uri is not None:
                details["address"] = uri
            details.update(
                {"configuration": text, "isActive": _is_active(endpoint), "tracing": "disabled", **_state(endpoint)}
            )
            return _json(details)
        items = [
            {
                "name": endpoint,
                "type": _endpoint_type(_source(hub, "endpoint", endpoint)),
                "isActive": _is_active(config.endpoints[endpoint]),
            }
            for endpoint in _searched(request, sorted(config.endpoints))
        ]
        return _json(_list(items))
    payload = await _edit(request)
    if isinstance(payload, web.Response):
        return payload
    name = str(payload.get("name", ""))
    if name not in config.endpoints:
        return _error("Endpoint does not exist", 404)
    if "status" in payload:
        status = str(payload["status"]).lower()
        if status not in ("active", "inactive"):
            return _error("Provided state is not valid", 400)
        hub.state.switch_endpoint(name, status == "active")
        hub.switched()
        return _json({"Message": f"{name} is switched {'On' if status == 'active' else 'Off'}"})
    return _tracing_unsupported(payload)


def _is_active(endpoint: Any) -> bool:
    """MI's isActive: the endpoint is not suspended, timed out or switched off."""
    state = endpoint.describe().get("state", "ACTIVE")
    return bool(state == "ACTIVE")


def _state(endpoint: Any) -> dict[str, Any]:
    info: dict[str, Any] = endpoint.describe()
    info.pop("type", None)
    info.pop("address", None)
    return info


_BUILTIN = ("main", "fault")


def _mediator_types(text: str) -> list[str]:
    """MI lists the sequence's mediators by their class (`LogMediator`); connector operations are invokes."""
    element = _root_element(text)
    types = []
    for child in element if element is not None else []:
        if not isinstance(child.tag, str):
            continue
        tag = local_name(child)
        types.append("InvokeMediator" if "." in tag else f"{tag[0].upper()}{tag[1:]}Mediator")
    return types


async def sequences(request: web.Request) -> web.Response:
    """MI's SequenceResource."""
    hub = _hub(request)
    config = hub.state.config
    deployed = {a.name for a in config.deployed if a.kind == "sequence"}
    names = sorted(name for name in config.sequences if name in deployed or name in _BUILTIN)
    if request.method == "POST":
        if not _may_edit(request):
            return web.Response(status=403)
        payload = await _payload(request)
        if isinstance(payload, web.Response):
            return payload
        if "name" not in payload:
            return _error("Unsupported operation", 400)
        if payload["name"] not in names:
            return _error(f"Specified sequence ('{payload['name']}') not found", 400)
        return _tracing_unsupported(payload)
    if request.method != "GET":
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])

    def summary(name: str) -> dict[str, Any]:
        sequence = config.sequences[name]
        return {
            "name": name,
            "stats": _enabled(bool(getattr(sequence, "statistics", False))),
            "tracing": _enabled(bool(getattr(sequence, "trace", False))),
        }

    name = request.query.get("sequenceName")
    if name is not None:
        if name not in names:
            return _error(f"Sequence ('{name}') not found", 404)
        text = _source(hub, "sequence", name)
        return _json({**summary(name), "mediators": _mediator_types(text), "configuration": text})
    return _json(_list([summary(name) for name in _searched(request, names)]))


async def templates(request: web.Request) -> web.Response:
    """MI's TemplateResource: sequence and endpoint templates."""
    hub = _hub(request)
    config = hub.state.config
    kind = request.query.get("type")

    def kind_of(name: str) -> str:
        return "endpoint" if isinstance(config.templates[name], EndpointTemplate) else "sequence"

    def details(name: str) -> dict[str, Any]:
        template = config.templates[name]
        return {
            "name": name,
            "Parameters": [parameter.name for parameter in template.parameters],
            "configuration": _source(hub, "template", name),
            "type": kind_of(name),
        }

    if kind is None:
        names = _searched(request, sorted(config.templates))
        # MI 4.x's TemplateResource answers count/list; its docs (and older releases) the two named lists
        return _json(
            {
                **_list([details(name) for name in names]),
                "sequenceTemplateList": [{"name": name} for name in names if kind_of(name) == "sequence"],
                "endpointTemplateList": [{"name": name} for name in names if kind_of(name) == "endpoint"],
            }
        )
    if kind not in ("sequence", "endpoint"):
        return _json({"Error": f"Received type {kind} is not a valid template type"})  # MI: status 200
    names = [name for name in sorted(config.templates) if kind_of(name) == kind]
    name = request.query.get("name")
    if name is None:
        return _json(_list([{"name": template} for template in names]))
    if name not in names:
        return _error(f"Specified {kind} template ('{name}') not found", 404)
    return _json(details(name))


def _entry_type(value: Any, src: str | None) -> str:
    if src:
        return "Source URL"
    return "Inline XML" if isinstance(value, etree._Element) else "Inline Text"


def _entry_value(value: Any) -> str:
    if isinstance(value, etree._Element):
        masked = _masked_password(value)
        return etree.tostring(masked, encoding="unicode")
    return str(value)


def _masked_password(element: etree._Element) -> etree._Element:
    """MI masks a <password> child of an XML entry (LocalEntryResource.maskPasswordElement)."""
    passwords = [child for child in element if isinstance(child.tag, str) and local_name(child) == "password"]
    if not passwords:
        return element
    copy = etree.fromstring(etree.tostring(element))
    for child in copy:
        if isinstance(child.tag, str) and local_name(child) == "password":
            child.text = "*****"
    return copy


async def local_entries(request: web.Request) -> web.Response:
    """MI's LocalEntryResource."""
    config = _hub(request).state.config
    name = request.query.get("name")
    if name is not None:
        entry = config.local_entries.get(name)
        if entry is None:
            return _error(f"Reference for {name} could not be resolved", 404)
        return _json(
            {
                "name": name,
                "type": _entry_type(entry.value, entry.src),
                "value": entry.src or _entry_value(entry.value),
                "description": None,
            }
        )
    items = [
        {"name": key, "type": _entry_type(config.local_entries[key].value, config.local_entries[key].src)}
        for key in _searched(request, sorted(config.local_entries))
    ]
    return _json(_list(items))


async def apis(request: web.Request) -> web.Response:
    """MI's ApiResource: a list of `{"name", "url"}`; with `apiName`, its version, stats, tracing, resources
    (`{"methods", "url"}`, "N/A" for the default resource) and configuration."""
    hub = _hub(request)
    apis = hub.state.config.apis
    server = _server_url(hub, request)
    if request.method != "GET":
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        if not _may_edit(request):
            return web.Response(status=403)
        payload = await _payload(request)
        if isinstance(payload, web.Response):
            return payload
        if str(payload.get("name", "")) not in apis:
            return _error(f"Specified API ('{payload.get('name', '')}') not found", 400)
        return _tracing_unsupported(payload)
    name = request.query.get("apiName")
    if name is None:
        items = [
            {"name": key, "url": server + apis[key].context, "tracing": "disabled"}  # MI 4.2+ adds tracing
            for key in _searched(request, sorted(apis))
        ]
        return _json(_list(items))
    api = apis.get(name)
    if api is None:
        return _error(f"API ('{name}') not found", 404)
    return _json(
        {
            "name": api.name,
            "url": server + api.context,
            "version": api.version or "N/A",
            "stats": "disabled",
            "tracing": "disabled",
            "resources": [
                {"methods": sorted(resource.methods), "url": resource.mapping_text or "N/A"}
                for resource in api.resources
            ],
            "configuration": _source(hub, "api", api.name),
        }
    )


async def inbound_endpoints(request: web.Request) -> web.Response:
    """MI's InboundEndpointResource: `[{"name", "protocol"}]`, and `?inboundEndpointName=` details."""
    deployed = _hub(request).state.config.inbound_endpoints
    name = request.query.get("inboundEndpointName")
    if name is not None:
        spec = deployed.get(name)
        if spec is None:
            return _error(f"Specified inbound endpoint ('{name}') not found", 404)
        return _json(
            {
                "name": spec.name,
                "protocol": spec.protocol,
                "sequence": spec.sequence or "",
                "error": spec.on_error or "",
                "parameters": [{"name": k, "value": v} for k, v in spec.parameters if "password" not in k.lower()],
            }
        )
    key = request.query.get("searchKey", "").strip().lower()
    items = [{"name": n, "protocol": s.protocol} for n, s in deployed.items() if key in n.lower()]
    return _json(_list(items))


async def tasks(request: web.Request) -> web.Response:
    """MI's TaskResource: `[{"name"}]`, and `?taskName=` details (name, trigger)."""
    deployed = _hub(request).state.config.tasks
    name = request.query.get("taskName")
    if name is not None:
        task = deployed.get(name)
        if task is None:
            return _error(f"Specified task ('{name}') not found", 404)
        trigger = task.trigger
        return _json(
            {
                "name": task.name,
                "triggerType": trigger["type"],
                "triggerCount": str(task.count),
                "triggerInterval": str(int((task.interval or 0) * 1000)),
                "triggerCron": task.cron or "",
            }
        )
    key = request.query.get("searchKey", "").strip().lower()
    return _json(_list([{"name": task} for task in deployed if key in task.lower()]))


def _stores(config: Configuration) -> list[dict[str, Any]]:
    """Message stores as MI lists them: `{"name", "type", "size"}` (none deployable yet)."""
    stores: dict[str, Any] = getattr(config, "message_stores", {})
    return [
        {"name": name, "type": getattr(store, "type", "custom-message-store"), "size": store.size()}
        for name, store in stores.items()
    ]


def _processors(hub: Hub) -> list[dict[str, Any]]:
    """Message processors as MI lists them: `{"name", "type", "status"}` (none deployable yet)."""
    processors: dict[str, Any] = getattr(hub.state.config, "message_processors", {})
    return [
        {
            "name": name,
            "type": getattr(processor, "type", "Scheduled-message-forwarding-processor"),
            "status": "active"
            if hub.state.processor_active.get(name, getattr(processor, "active", True))
            else "inactive",
        }
        for name, processor in processors.items()
    ]


async def message_stores(request: web.Request) -> web.Response:
    """MI's MessageStoreResource."""
    items = _stores(_hub(request).state.config)
    name = request.query.get("name")
    if name is not None:
        for item in items:
            if item["name"] == name:
                return _json(item)
        return _error(f"Specified message store ('{name}') not found", 404)
    key = request.query.get("searchKey", "").strip().lower()
    return _json(_list([item for item in items if key in item["name"].lower()]))


async def message_processors(request: web.Request) -> web.Response:
    """MI's MessageProcessorResource: list, details, and activate/deactivate (`{"name", "status"}`)."""
    hub = _hub(request)
    items = _processors(hub)
    if request.method == "GET":
        name = request.query.get("name")
        if name is not None:
            for item in items:
                if item["name"] == name:
                    return _json(item)
            return _error(f"Specified message processor ('{name}') not found", 404)
        key = request.query.get("searchKey", "").strip().lower()
        return _json(_list([item for item in items if key in item["name"].lower()]))
    payload = await _edit(request)
    if isinstance(payload, web.Response):
        return payload
    if "name" not in payload or "status" not in payload:
        return _json({"Error": "Missing parameters in payload"})  # MI: status 200
    name, status = str(payload["name"]), str(payload["status"]).lower()
    if name not in {item["name"] for item in items}:
        return _error("Message processor does not exist", 404)
    if status not in ("active", "inactive"):
        return _error("Provided state is not valid", 400)
    hub.state.processor_active[name] = status == "active"
    hub.switched()
    return _json({"Message": f"{name} : is {'activated' if status == 'active' else 'deactivated'}"})


# -- logging, server, health ------------------------------------------------------------------------------
def _loggers() -> list[str]:
    import logging

    known = [name for name in logging.root.manager.loggerDict if name.startswith(("gateway", "aiohttp"))]
    return [ROOT_LOGGER, *sorted(known)]


def _level_name(level: int) -> str:
    for name, number in MI_LEVELS.items():
        if number == level and name != "TRACE":
            return name
    return "INFO"


def _logger_data(name: str) -> dict[str, Any]:
    import logging

    logger = logging.getLogger() if name == ROOT_LOGGER else logging.getLogger(name)
    return {
        "loggerName": name,
        "componentName": "" if name == ROOT_LOGGER else name,
        "level": _level_name(logger.getEffectiveLevel()),
    }


async def logging_resource(request: web.Request) -> web.Response:
    """MI's LoggingResource: list the loggers and their levels, change one (`PATCH {"loggerName", "loggingLevel"}`)."""
    hub = _hub(request)
    if request.method == "GET":
        name = request.query.get("loggerName")
        if name is not None:
            if name not in _loggers():
                return _error(f"Logger name ('{name}') not found", 400)
            return _json(_logger_data(name))
        key = request.query.get("searchKey", "").strip().lower()
        return _json(_list([_logger_data(name) for name in _loggers() if key in name.lower()]))
    if request.method != "PATCH":
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "PATCH"])
    if not _may_edit(request):
        return _error("User is not Authorized to edit", 403)
    payload = await _payload(request)
    if isinstance(payload, web.Response):
        return payload
    level = payload.get("loggingLevel")
    if level is None:
        return _error("Log level is missing", 400)
    if str(level).upper() not in MI_LEVELS:
        return _error(f"Invalid log level {level}", 400)
    name = payload.get("loggerName")
    if name is None:
        return _error("Logger name is missing", 400)
    if not str(name).startswith(("gateway", "aiohttp", "connectors")) and name != ROOT_LOGGER:
        return _error(f"Specified logger ('{name}') not found", 400)
    hub.set_log_level(str(name), str(level))
    return _json({"message": f"Successfully added logger for ('{name}') with level {str(level).upper()}"})


async def server(request: web.Request) -> web.Response:
    """MI's MetaDataResource, with this runtime's values under MI's keys (java* name the Python runtime)."""
    hub = _hub(request)
    return _json(
        {
            "carbonHome": str(hub.settings.artifacts),
            "javaHome": sys.prefix,
            "javaVersion": platform.python_version(),
            "javaVendor": platform.python_implementation(),
            "osName": platform.system(),
            "osVersion": platform.release(),
            "productName": "synapse-gateway",
            "productVersion": PRODUCT_VERSION,
        }
    )


async def connectors(request: web.Request) -> web.Response:
    """MI's ConnectorResource: `[{"name", "package", "description", "status"}]`."""
    from gateway.connector import ConnectorRegistry

    registry = _hub(request).deployer.connectors or ConnectorRegistry.discover()
    items = [
        {
            "name": connector.name,
            "package": connector.source or "",
            "description": connector.description,
            "status": "enabled",
        }
        for connector in sorted(registry, key=lambda connector: connector.name)
    ]
    return _json(_list(items))


async def readiness(request: web.Request) -> web.Response:
    """MI's ReadinessResource (/healthz): ready unless an artifact failed to deploy."""
    config = _hub(request).state.config
    body: dict[str, Any] = {"version": PRODUCT_VERSION, "update_level": "0"}
    if config.failed:
        body["status"] = "not ready, faulty artifacts detected"
        body["Faulty artifacts"] = sorted({problem.location.path for problem in config.failed})
        return _json(body, 500)
    body["status"] = "ready"
    return _json(body)


async def liveness(_request: web.Request) -> web.Response:
    return _json({"server": "started"})


# -- Prometheus -------------------------------------------------------------------------------------------
async def metrics_page(request: web.Request) -> web.Response:
    """The serving process's metrics, or with --workers N every worker's summed (asked through its pipe), plus
    MI's server_up / service_up gauges from the configuration being served."""
    hub = _hub(request)
    server = request.app[SERVER_METRICS]
    server.current = hub.state.config
    server.stores = [(item["name"], item["type"], item["size"]) for item in _stores(hub.state.config)]
    server.processors = [(item["name"], item["type"], item["status"] == "active") for item in _processors(hub)]
    snapshot = await hub.metrics()
    body = prometheus.exposition(snapshot, tuple(hub.settings.metrics.latency_buckets), server)
    return web.Response(body=body, headers={hdrs.CONTENT_TYPE: prometheus.content_type()})


# -- the dashboard ----------------------------------------------------------------------------------------
_KIND_ORDER = {"proxy": 0, "sequence": 1, "endpoint": 2, "localEntry": 3, "template": 4}


async def dashboard_data(request: web.Request) -> web.Response:
    """Everything the dashboard shows: artifacts and their state, failures with file:line, request counts.
    Paths are shown relative to the artifacts folder."""
    hub = _hub(request)
    config = hub.state.config
    # Requests and errors per proxy, API and endpoint from the Prometheus metrics (an error is a message that
    # went through a fault handler, as MI counts it); without metrics, per proxy (5xx answers as errors).
    counts: dict[tuple[str, str], list[int]] = {}
    if hub.settings.metrics.enabled:
        for (family, labels), numbers in (await hub.metrics()).get("series", {}).items():
            if family in (prometheus.PROXY, prometheus.API, prometheus.ENDPOINT):
                counter = counts.setdefault((family, labels[0]), [0, 0])
                counter[0] += int(numbers[0])
                counter[1] += int(numbers[1])
    else:
        counts = {("proxy", name): counter for name, counter in (await hub.counters()).items()}
    root = str(hub.settings.artifacts.resolve())

    def shown(path: str | None) -> str | None:
        if path is None:
            return None
        absolute = os.path.abspath(path)
        return absolute[len(root) + 1 :] if absolute.startswith(root + os.sep) else path

    artifacts = []
    for artifact in sorted(config.deployed, key=lambda a: (_KIND_ORDER.get(a.kind, 9), a.name.lower())):
        item: dict[str, Any] = {
            "kind": artifact.kind,
            "name": artifact.name,
            "path": shown(artifact.path),
            "state": "deployed",
        }
        if artifact.kind == "proxy":
            proxy = config.proxies[artifact.name]
            item.update(state="active" if hub.state.running(proxy) else "inactive")
        if artifact.kind in ("proxy", "api", "endpoint"):
            requests, errors = counts.get((artifact.kind, artifact.name), (0, 0))
            item.update(requests=requests, errors=errors)
        artifacts.append(item)

    def problem(p: DeployError) -> dict[str, Any]:
        where = shown(p.location.path)
        return {"path": where, "line": p.location.line, "element": p.element, "reason": p.reason, "hint": p.hint}

    events = []
    for event in reversed(hub.deployer.events):
        data = event.as_json()
        data.update(path=shown(event.path), backup=shown(event.backup), problems=[problem(p) for p in event.problems])
        events.append(data)
    return _json(
        {
            "time": time.time(),
            "version": config.version,
            "pid": os.getpid(),
            "workers": hub.settings.workers,
            "hotDeploy": hub.settings.hot_deploy,
            "artifacts": artifacts,
            "failed": [problem(p) for p in config.failed],
            "events": events,
            "stores": _stores(config),
            "processors": _processors(hub),
            "user": {"name": request[USER].name, "admin": request[USER].admin},
        }
    )


_ASSETS = {"dashboard.js": "application/javascript", "dashboard.css": "text/css"}


def _asset(name: str) -> bytes:
    return resources.files("gateway.transport").joinpath("dashboard", name).read_bytes()


async def dashboard_page(_request: web.Request) -> web.Response:
    return web.Response(body=_asset("index.html"), content_type="text/html", headers=_NO_FRAMES)


async def dashboard_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _ASSETS:
        raise web.HTTPNotFound()
    return web.Response(body=_asset(name), content_type=_ASSETS[name], headers=_NO_FRAMES)


_NO_FRAMES = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
