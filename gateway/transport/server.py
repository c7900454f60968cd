"""The HTTP transport: /services/NAME[/...] → proxy flow, ?wsdl, /healthz; a path under an API's context →
that API (`?swagger.json`); anything else → `main`. Proxies win over APIs, as Axis2 dispatches them first."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import hdrs, http_exceptions, web
from multidict import CIMultiDict, istr

from gateway import clock
from gateway.connector import ConnectorRegistry
from gateway.errors import DeployError
from gateway.masking import bind_message_secrets, unbind_message_secrets
from gateway.mediators import script_engines
from gateway.message.context import Exchange, MessageContext, Reply
from gateway.message.errors import error_reply
from gateway.message.incoming import request_context
from gateway.message.payload import BodyReadError, Payload, content_type_parameter, kind_of, media_type_of
from gateway.runtime import tracing
from gateway.runtime.api import ApiIndex, ApiMatch, Request, elect
from gateway.runtime.configuration import Configuration, ProxyService
from gateway.runtime.heap import heap_report
from gateway.runtime.processors import Processors
from gateway.runtime.services import Services
from gateway.runtime.state import RuntimeState
from gateway.runtime.tasks import Tasks
from gateway.settings import Settings
from gateway.transport import client, memory
from gateway.transport.inbound import InboundEndpoints
from gateway.transport.swagger import requested_format, swagger_response
from gateway.transport.wsdl import wsdl_response

log = logging.getLogger("gateway.http")

_SOAP_ACTION = istr("SOAPAction")
_OTHER_CORRELATION_HEADERS = (istr("X-Request-ID"), istr("X-Correlation-ID"))  # taken when activityid is absent
STATE = web.AppKey("state", RuntimeState)  # the live configuration (hot deployment swaps it) and switches
SERVICES = web.AppKey("services", Services)
# Bodies up to this size are read in one go; larger or unknown-length ones stay a stream until needed.
_READ_EAGERLY_UP_TO = 256 * 1024
# After a tree this large was built (~35 times its bytes), freed memory is handed back to the system.
_TRIM_AFTER_TREES_OF = 512 * 1024


class ProtocolRejections(logging.Filter):
    """A malformed request (unknown method, over-long line, smuggling attempt) is the client's problem:
    aiohttp answers 400 and would log a traceback at ERROR; one WARNING line is what an operator needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, http_exceptions.HttpProcessingError):
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "a client"
            reason = " ".join(str(error.message).split())[:200]
            record.msg, record.args = "rejected a malformed request from %s: %s %s", (peer, error.code, reason)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


_PROTOCOL_REJECTIONS = ProtocolRejections()


PROCESSORS: web.AppKey[Processors] = web.AppKey("processors")
TASKS: web.AppKey[Tasks] = web.AppKey("tasks")
INBOUND_ENDPOINT_NAME = "inbound.endpoint.name"  # W: SynapseConstants.INBOUND_ENDPOINT_NAME
INBOUND: web.AppKey[InboundEndpoints] = web.AppKey("inbound")
CONNECTORS: web.AppKey[ConnectorRegistry | None] = web.AppKey("connectors")


def create_app(
    settings: Settings,
    config: Configuration,
    connectors: ConnectorRegistry | None = None,
    state: RuntimeState | None = None,
) -> web.Application:
    """The HTTP app for a deployed configuration; `connectors` is the registry the configuration was built
    with (its runtimes are started with the app); `state` holds the configuration being served when hot
    deployment or the management API change it."""
    server_log = logging.getLogger("aiohttp.server")
    if _PROTOCOL_REJECTIONS not in server_log.filters:
        server_log.addFilter(_PROTOCOL_REJECTIONS)
    app = web.Application(client_max_size=settings.max_body_bytes)
    services = Services(settings=settings)
    app[STATE] = state if state is not None else RuntimeState(config)
    app[SERVICES] = services
    app[CONNECTORS] = connectors
    app[STATE].metrics = services.metrics
    if services.metrics is not None:
        services.metrics.deployed(app[STATE].config)
    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    app.router.add_get("/healthz", healthz)
    clock.configure(settings.test_clock)
    if settings.test_clock:
        log.warning("test_clock is on: POST /_test/clock moves this gateway's clock forward (never in production)")
        app.router.add_post("/_test/clock", advance_clock)
        app.on_cleanup.append(_system_clock)
    app.router.add_route("*", "/services/{name}", handle_service)
    app.router.add_route("*", "/services/{name}/{tail:.*}", handle_service)
    app.router.add_route("*", "/{tail:.*}", handle_unknown)
    return app


async def _startup(app: web.Application) -> None:
    services = app[SERVICES]
    settings = services.settings
    services.transport = client.HttpTransport(settings.outbound_verify_tls, settings.outbound_ca_bundle)
    registry = app[CONNECTORS]
    if registry is not None:
        services.connectors = await registry.start(services)
    processors = app[PROCESSORS] = Processors(app[STATE], services)
    processors.start()
    tasks = app[TASKS] = Tasks(app[STATE], services)
    tasks.start()
    handlers = {
        "keys": (STATE, SERVICES, CONNECTORS),
        "mediate": _mediate,
        "service": handle_service,
        "unknown": handle_unknown,
    }
    inbound = app[INBOUND] = InboundEndpoints(app[STATE], services, app, handlers)
    inbound.start()


async def _cleanup(app: web.Application) -> None:
    services = app[SERVICES]
    if PROCESSORS in app:
        await app[PROCESSORS].stop()
    if TASKS in app:
        await app[TASKS].stop()
    if INBOUND in app:
        await app[INBOUND].stop()
    await services.stores.close()
    await services.amqp.close()
    for runtime in services.connectors.values():
        close = getattr(runtime, "close", None)
        if close is not None:
            await close()
    await services.throttle.close()
    if services.transport is not None:
        await services.transport.close()
    await services.databases.close()
    await script_engines.shutdown()


def _problem(error: DeployError) -> dict[str, str | int | None]:
    return {
        "path": error.location.path,
        "line": error.location.line,
        "element": error.element,
        "reason": error.reason,
        "hint": error.hint,
    }


def _from_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False


async def _system_clock(app: web.Application) -> None:
    clock.configure(False)  # a stopped test gateway leaves the system's time behind


async def advance_clock(request: web.Request) -> web.Response:
    """POST /_test/clock {"advance": ms} -> {"now": ms}: only routed with the setting test_clock (gateway/clock.py),
    and only for a client on this machine."""
    if not _from_loopback(request.remote):
        return web.json_response({"error": "the test clock answers only clients on this machine"}, status=403)
    try:
        body = orjson.loads(await request.read() or b"{}")
        advanced = clock.advance(int(body.get("advance", 0)))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        return web.json_response({"error": f'expected {{"advance": milliseconds}}: {exc}'}, status=400)
    return web.json_response({"now": advanced})


async def healthz(request: web.Request) -> web.Response:
    config = request.app[STATE].config
    body = {
        "status": "ok",
        "pid": os.getpid(),  # which worker answered (`serve --workers N`)
        "version": config.version,  # a digest of the deployed files: the workers serve the same when equal
        "gc": heap_report(),  # objects frozen out of the collector, collections per generation (runtime.heap)
        "deployed": [{"kind": a.kind, "name": a.name, "path": a.path} for a in config.deployed],
        "failed": [_problem(e) for e in config.failed],
        # deployed, but a key names nothing: every message reaching it fails
        "dangling": [_problem(e) for e in config.dangling],
        "apis": [
            {
                "name": api.name,
                "context": api.base_path,
                "resources": [{"methods": sorted(r.methods) or ["*"], "path": r.mapping_text} for r in api.resources],
            }
            for api in config.apis.values()
        ],
    }
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def handle_service(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    config = state.config  # read once: the whole message is mediated by this version
    name = request.match_info["name"]
    proxy = config.proxies.get(name)
    if proxy is None:
        return await _unknown(request, config)
    scheme = "https" if request.transport is not None and request.transport.get_extra_info("sslcontext") else "http"
    if scheme not in proxy.transports:
        log.warning(
            "proxy '%s' does not expose the %s transport (transports=%s)", name, scheme, ",".join(proxy.transports)
        )
        return web.Response(status=404)
    if request.method == "GET" and ("wsdl" in request.query or "WSDL" in request.query):
        return await wsdl_response(request, proxy)
    if not state.running(proxy):
        return _stopped(request, config, proxy)
    response = await _mediate(request, config, proxy)
    state.count(name, response.status >= 500)
    return response


async def handle_unknown(request: web.Request) -> web.StreamResponse:
    return await _unknown(request, request.app[STATE].config)


async def _unknown(request: web.Request, config: Configuration) -> web.StreamResponse:
    """No proxy: an API whose context holds the path (W: RestRequestHandler), else the `main` sequence."""
    index = config.api_index  # None: no API
    media = requested_format(request) if config.apis and request.method == "GET" else None
    if media is not None:  # MI: /NAME?swagger.json; extension: the API's own path too
        api = config.apis.get(request.path[1:]) or (index.find(_api_request(request, index)) if index else None)
        if api is not None:
            return swagger_response(request, api, media)
    if index is not None:
        api_request = _api_request(request, index)
        api = index.find(api_request)
        if api is not None:
            return await _mediate(request, config, None, elect(api, api_request))
    return await _mediate(request, config, None)


def _api_request(request: web.Request, index: ApiIndex) -> Request:
    """What dispatch reads of the request; headers no API nor resource looks at are left out."""
    headers = request.headers
    if not index.reads_details:
        host = headers.get(hdrs.HOST) if index.reads_host else None
        return Request(request.method, request.raw_path, host, request.scheme)
    return Request(
        request.method,
        request.raw_path,
        headers.get(hdrs.HOST),
        request.scheme,
        headers.get(hdrs.CONTENT_TYPE),
        request.body_exists,
        headers.get(hdrs.USER_AGENT),
    )


def _stopped(request: web.Request, config: Configuration, proxy: ProxyService) -> web.Response:
    """A stopped proxy (startOnLoad="false", or deactivated through the management API) answers 503 in the
    client's format."""
    exchange, ctx = _context(request, config, None, Payload(None, b""))
    overridden = proxy.name in request.app[STATE].proxy_running
    why = "deactivated through the management API" if overridden else 'startOnLoad="false"'
    ctx.properties["ERROR_CODE"] = 503
    ctx.properties["ERROR_MESSAGE"] = f"Proxy service '{proxy.name}' is stopped ({why})"
    ctx.axis2["HTTP_SC"] = 503
    return _to_response(error_reply(ctx), exchange)


def _context(
    request: web.Request, config: Configuration, proxy: ProxyService | None, payload: Payload
) -> tuple[Exchange, MessageContext]:
    services = request.app[SERVICES]
    content_type = request.headers.get(hdrs.CONTENT_TYPE)
    media = media_type_of(content_type)
    kind = kind_of(media) if media else "empty"
    path_qs = request.path_qs  # computed by yarl on each access
    exchange = Exchange(request.method, path_qs, kind, request.headers.get(hdrs.ACCEPT), services)
    activity = request.headers.get(services.correlation_header)
    if activity is None:
        for name in _OTHER_CORRELATION_HEADERS:
            activity = request.headers.get(name)
            if activity is not None:
                break
    exchange.take_activity_id(activity)
    soap_action = request.headers.get(_SOAP_ACTION)
    if soap_action is not None:
        soap_action = soap_action.strip('"')
    elif kind == "soap12":
        soap_action = content_type_parameter(content_type, "action")
    ctx = request_context(
        exchange,
        config,
        payload,
        CIMultiDict(request.headers),
        transport="http",
        media=media,
        content_type=content_type,
        query_params=request.query,
        soap_action=soap_action,
        proxy=proxy,
        remote=request.remote,
    )
    if proxy is not None:
        inbound = proxy.parameters.get(INBOUND_ENDPOINT_NAME)
        if inbound is None:
            ctx.properties["proxy.name"] = proxy.name
        else:  # an inbound endpoint's sequence (gateway/transport/inbound.py)
            ctx.properties[INBOUND_ENDPOINT_NAME] = inbound
        # The raw (still percent-encoded) rest of the URL after /services/NAME, so an endpoint can
        # append it to its own address unchanged.
        rest = request.raw_path[len("/services/") :]  # NAME[/suffix][?query], NAME maybe percent-encoded
        cut, query = rest.find("/"), rest.find("?")
        if cut == -1 or query != -1 and query < cut:
            cut = query
        if cut != -1 and len(rest) > cut:
            ctx.axis2["REST_URL_POSTFIX"] = rest[cut:]
    return exchange, ctx


async def _mediate(
    request: web.Request, config: Configuration, proxy: ProxyService | None, api: ApiMatch | None = None
) -> web.StreamResponse:
    tracer = request.app[SERVICES].tracer
    if tracer is None:
        return await _mediate_message(request, config, proxy, api)
    name = f"proxy {proxy.name}" if proxy is not None else f"api {api.api.name}" if api is not None else "main"
    with tracer.start_as_current_span(
        name,
        context=tracing.extract(request.headers),
        kind=tracing.server_kind(),
        attributes={"http.request.method": request.method, "url.path": request.path},
    ) as span:
        response = await _mediate_message(request, config, proxy, api)
        span.set_attribute("http.response.status_code", response.status)
        activity = response.headers.get(request.app[SERVICES].correlation_header)
        if activity:
            span.set_attribute("wso2.activity_id", activity)
        if response.status >= 500:
            tracing.mark_error(span, f"HTTP {response.status}")
        return response


async def _mediate_message(
    request: web.Request, config: Configuration, proxy: ProxyService | None, api: ApiMatch | None = None
) -> web.StreamResponse:
    services = request.app[SERVICES]
    settings = services.settings
    started = time.perf_counter()
    content_type = request.headers.get(hdrs.CONTENT_TYPE)
    length = request.content_length
    if not request.body_exists:
        payload = Payload(content_type, b"", limit=settings.max_body_bytes, tree_limit=settings.max_tree_bytes)
    elif (
        length is not None and length <= min(_READ_EAGERLY_UP_TO, settings.max_body_bytes) and request.content.is_eof()
    ):
        # The whole (small) body has already arrived: take its buffered bytes, no await, timer or stream needed.
        payload = Payload(
            content_type,
            request.content.read_nowait(-1),
            limit=settings.max_body_bytes,
            tree_limit=settings.max_tree_bytes,
        )
    else:
        payload = Payload(
            content_type,
            stream=request.content,
            length=length,
            limit=settings.max_body_bytes,
            tree_limit=settings.max_tree_bytes,
            timeout=settings.body_read_timeout,
        )
        if length is not None and length <= _READ_EAGERLY_UP_TO:
            try:
                await payload.read()  # small bodies in one go: fewer awaits later
            except BodyReadError:
                pass  # sticky: the flow starts with this fault (engine), nothing goes out empty
    exchange, ctx = _context(request, config, proxy, payload)
    secrets = bind_message_secrets(exchange)
    failed = True
    try:
        if proxy is not None:
            await services.engine.mediate_proxy(proxy, ctx)
        elif api is not None:
            await services.engine.mediate_api(api, ctx)
        else:
            await services.engine.mediate_main(ctx)
        if exchange.pending:
            await exchange.settle()
        reply = exchange.reply
        if reply is None:
            # Nothing was written: MI answers 202. After a handled fault we answer the error instead
            # (MI would answer 202 or hang; a client must never be left waiting).
            reply = error_reply(ctx) if exchange.faulted else Reply(202, CIMultiDict(), b"")
        response = await _write(request, reply, exchange)
        failed = exchange.faulted
        return response
    except Exception:
        # Details (and the traceback) go to the log under the message's id; the client gets the id only.
        log.exception(
            "unexpected failure while mediating %s %s (activity id %s)",
            request.method,
            request.path_qs,
            exchange.activity_id,
        )
        ctx.properties.setdefault("ERROR_CODE", 0)
        ctx.properties["ERROR_MESSAGE"] = f"Internal gateway error (activity id {exchange.activity_id})"
        return _to_response(error_reply(ctx), exchange)
    finally:
        unbind_message_secrets(secrets)
        metrics = services.metrics
        if metrics is not None:
            # MI's MetricHandler: every request of a proxy or API counts; one that went through a fault
            # handler (or failed inside the gateway) is an error too.
            if proxy is not None:
                inbound = proxy.parameters.get(INBOUND_ENDPOINT_NAME)  # an HTTP inbound endpoint's sequence
                series = metrics.proxy(proxy.name) if inbound is None else metrics.inbound(inbound)
                series.record(time.perf_counter() - started, failed)
            elif api is not None:
                metrics.api(api.api.name, api.api.base_path, request.scheme).record(
                    time.perf_counter() - started, failed
                )
        for close in exchange.closing_tasks:
            close()
        if payload.builds and (payload.declared_length or 0) >= _TRIM_AFTER_TREES_OF:
            memory.release_soon()


def server_tls(
    certificate: Path, key: Path, client_ca: Path | None = None, client_auth: str = "none"
) -> ssl.SSLContext:
    """MI's HTTPS listener: TLS 1.2 or later, the configured certificate and key, and client certificates
    checked against `client_ca` when `client_auth` is optional or required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(certificate), str(key))
    if client_ca is not None:
        context.load_verify_locations(cafile=str(client_ca))
    if client_auth == "required":
        context.verify_mode = ssl.CERT_REQUIRED
    elif client_auth == "optional":
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def run(
    app: web.Application,
    plain: list[socket.socket],
    secure: list[socket.socket],
    tls: ssl.SSLContext,
    on_ready: Callable[[], None],
    **runner_options: Any,
) -> None:
    """web.run_app for an HTTP and an HTTPS listener on one app (run_app gives every socket the same TLS):
    the same runner, signal handling, graceful stop and loop shutdown."""

    async def serve() -> None:
        runner = web.AppRunner(app, handle_signals=True, **runner_options)
        await runner.setup()
        try:
            for sock in plain:
                await web.SockSite(runner, sock).start()
            for sock in secure:
                await web.SockSite(runner, sock, ssl_context=tls).start()
            on_ready()
            while True:
                await asyncio.sleep(3600)
        finally:
            await runner.cleanup()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(serve())
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        # As run_app: stop serving first (in-flight requests finish within the shutdown timeout), then the rest.
        for tasks in ({main}, asyncio.all_tasks(loop)):
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()


def _to_response(reply: Reply, exchange: Exchange) -> web.Response:
    headers = reply.headers
    headers[exchange.services.correlation_header] = exchange.activity_id  # MI's activityid, back to the client
    return web.Response(status=reply.status, headers=headers, body=reply.body or b"")


async def _write(request: web.Request, reply: Reply, exchange: Exchange) -> web.StreamResponse:
    if reply.stream is None:
        return _to_response(reply, exchange)
    reply.headers[exchange.services.correlation_header] = exchange.activity_id
    response = web.StreamResponse(status=reply.status, headers=reply.headers)
    await response.prepare(request)
    try:
        async for chunk in reply.stream:
            await response.write(chunk)
    except BodyReadError as exc:
        # The status and headers are out: the client can only be told by cutting the connection (it sees the
        # body end early). An error reply written now would land inside the body, as a second answer.
        log.warning("a streamed reply broke off (activity id %s): %s", exchange.activity_id, exc)
        exchange.faulted = True
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response
