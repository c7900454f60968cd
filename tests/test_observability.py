"""Prometheus metrics with MI's names, MI's activityid, JSON and access logs: driven over HTTP on loopback, in
process (the gateway fixture) and as `gateway serve` subprocesses (--workers 2 summed by the supervisor)."""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import signal

import orjson
from prometheus_client.parser import text_string_to_metric_families

from gateway.masking import ActivityFilter, JsonFormatter
from gateway.runtime.metrics import PATH, ServerCollector, exposition
from gateway.settings import Settings
from gateway.transport.server import SERVICES, STATE
from tests.support.subprocess_gateway import HANG_GUARD, free_port, get
from tests.support.waiting import until
from tests.test_management_api import management  # noqa: F401 - the fixture
from tests.test_twilio_connector import sample_send, shipped

SYNAPSE = 'xmlns="http://ws.apache.org/ns/synapse"'


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def scrape(client) -> dict:
    services = client.app[SERVICES]
    server = ServerCollector(services.settings)
    server.current = client.app[STATE].config
    return samples(exposition(services.metrics.snapshot(), services.metrics.bounds, server).decode())


def proxy(name: str, backend_url: str | None = None, fault: bool = False) -> str:
    if fault:
        body = '<makefault version="pox"><reason value="broken"/></makefault><respond/>'
        return f"""<proxy {SYNAPSE} name="{name}"><target><inSequence>
            <call><endpoint><address uri="http://127.0.0.1:1/refused"/></endpoint></call>
            </inSequence><faultSequence>{body}</faultSequence></target></proxy>"""
    if backend_url is None:
        return f"""<proxy {SYNAPSE} name="{name}"><target><inSequence>
            <log level="custom"><property name="said" value="hello"/></log>
            <payloadFactory media-type="json"><format>{{"ok":true}}</format><args/></payloadFactory><respond/>
            </inSequence></target></proxy>"""
    return f"""<proxy {SYNAPSE} name="{name}"><target><endpoint name="Backend"><address uri="{backend_url}"/>
        </endpoint></target></proxy>"""


# -- metrics, in one process ------------------------------------------------------------------------------
async def test_proxy_api_and_endpoint_metrics_have_mi_names_and_count_requests_errors_and_latency(gateway, backend):
    server = await backend(lambda request, body: __import__("aiohttp").web.json_response({"b": 1}))
    api = f"""<api {SYNAPSE} name="Orders" context="/orders"><resource methods="GET" uri-template="/{{id}}">
        <inSequence><payloadFactory media-type="json"><format>{{"id":1}}</format><args/></payloadFactory><respond/>
        </inSequence></resource></api>"""
    gw = await gateway(
        {
            "proxies/Hello.xml": proxy("Hello"),
            "proxies/Broken.xml": proxy("Broken", fault=True),
            "proxies/Pass.xml": proxy("Pass", str(server.make_url("/b"))),
            "api/Orders.xml": api,
        }
    )
    before = scrape(gw)
    # MI's serviceUp: a deployed artifact's counters exist at 0 before its first request
    assert value(before, "wso2_integration_proxy_request_count_total", service_name="Hello", service_type="proxy") == 0
    for _ in range(3):
        assert (await gw.get("/services/Hello")).status == 200
    assert (await gw.get("/services/Broken")).status == 500
    assert (await gw.post("/services/Pass", json={"a": 1})).status == 200
    assert (await gw.get("/orders/7")).status == 200
    found = scrape(gw)
    hello = {"service_name": "Hello", "service_type": "proxy"}
    assert value(found, "wso2_integration_proxy_request_count_total", **hello) == 3
    assert value(found, "wso2_integration_proxy_request_count_error_total", **hello) == 0
    assert value(found, "wso2_integration_proxy_latency_seconds_count", **hello) == 3
    assert value(found, "wso2_integration_proxy_latency_seconds_bucket", le="+Inf", **hello) == 3
    assert value(found, "wso2_integration_proxy_latency_seconds_bucket", le="0.19", **hello) == 3  # MI's buckets
    assert value(found, "wso2_integration_proxy_latency_seconds_sum", **hello) > 0
    broken = {"service_name": "Broken", "service_type": "proxy"}
    assert value(found, "wso2_integration_proxy_request_count_total", **broken) == 1
    assert value(found, "wso2_integration_proxy_request_count_error_total", **broken) == 1
    [url] = [
        dict(labels)["invocation_url"] for (name, labels) in found if name == "wso2_integration_api_request_count_total"
    ]
    assert url.startswith("http://") and url.endswith(":8290/orders")
    orders = {"service_name": "Orders", "service_type": "api", "invocation_url": url}
    assert value(found, "wso2_integration_api_request_count_total", **orders) == 1
    assert value(found, "wso2_integration_api_latency_seconds_count", **orders) == 1
    endpoint = {"service_name": "Backend", "service_type": "endpoint"}
    assert value(found, "wso2_integration_endpoint_request_count_total", **endpoint) == 1
    assert value(found, "wso2_integration_endpoint_request_count_error_total", **endpoint) == 0
    inline = {"service_name": "AnonymousEndpoint", "service_type": "endpoint"}  # MI's name for an unnamed one
    assert value(found, "wso2_integration_endpoint_request_count_error_total", **inline) == 1
    up = {k: v for k, v in found.items() if k[0] == "wso2_integration_service_up"}
    assert len(up) == 4 and all(v > 0 for v in up.values())  # three proxies and the API, since their deployment
    assert any(k[0] == "wso2_integration_server_up" for k in found)
    assert not any(name.endswith("_created") for name, _ in found)


async def test_twilio_metrics_by_operation_status_and_twilio_error_code(gateway, sandbox):
    gw = await gateway(shipped())
    assert (await gw.post("/services/twilioRest", json=sample_send(sandbox.url))).status == 201
    # a number Twilio refuses: its own code (21211) is the label
    response = await gw.post("/services/twilioRest", json=sample_send(sandbox.url, to="+15005550001"))
    assert response.status == 400, await response.text()
    twilio_code = (await response.json())["code"]
    # a local check: the code Twilio would answer, nothing sent
    assert (await gw.post("/services/twilioRest", json=sample_send(sandbox.url, to=""))).status == 400
    found = scrape(gw)
    op = {"connector": "twilioRest", "operation": "sendSms"}
    assert value(found, "wso2_integration_connector_request_count_total", status="201", error_code="", **op) == 1
    assert (
        value(found, "wso2_integration_connector_request_count_total", status="400", error_code=str(twilio_code), **op)
        == 1
    )
    assert value(found, "wso2_integration_connector_request_count_total", status="400", error_code="21604", **op) == 1
    assert value(found, "wso2_integration_connector_latency_seconds_count", **op) == 3
    init = {"connector": "twilioRest", "operation": "init"}
    assert value(found, "wso2_integration_connector_latency_seconds_count", **init) == 3


async def test_metrics_can_be_turned_off(gateway):
    from gateway.settings import MetricsSettings

    gw = await gateway({"proxies/Hello.xml": proxy("Hello")}, metrics=MetricsSettings(enabled=False))
    assert gw.app[SERVICES].metrics is None
    assert (await gw.get("/services/Hello")).status == 200


# -- activityid -------------------------------------------------------------------------------------------
async def test_activity_id_is_taken_or_made_sent_to_the_back_end_and_twilio_and_returned(gateway, backend, sandbox):
    server = await backend(lambda request, body: __import__("aiohttp").web.json_response({"b": 1}))
    files = shipped()
    files["proxies/Pass.xml"] = proxy("Pass", str(server.make_url("/b")))
    files["proxies/Broken.xml"] = proxy("Broken", fault=True)
    gw = await gateway(files)

    response = await gw.post("/services/Pass", json={}, headers={"activityid": "client-chosen-1"})
    assert response.headers["activityid"] == "client-chosen-1"
    assert server.requests[-1]["headers"]["activityid"] == "client-chosen-1"

    response = await gw.post("/services/Pass", json={})
    made = response.headers["activityid"]
    assert len(made) == 32 and server.requests[-1]["headers"]["activityid"] == made

    response = await gw.post("/services/Pass", json={}, headers={"X-Request-ID": "from-the-proxy"})
    assert response.headers["activityid"] == "from-the-proxy"

    response = await gw.post("/services/twilioRest", json=sample_send(sandbox.url), headers={"activityid": "sms-1"})
    assert response.status == 201 and response.headers["activityid"] == "sms-1"
    assert sandbox.requests[-1]["headers"]["activityid"] == "sms-1"

    error = await gw.get("/services/Broken", headers={"activityid": "err-1"})
    assert error.status == 500 and error.headers["activityid"] == "err-1"  # on error replies too

    unknown = await gw.get("/services/Nope", headers={"activityid": "x" * 500})  # too long: one is made
    assert len(unknown.headers["activityid"]) == 32


async def test_every_log_line_of_a_message_carries_its_activity_id_and_json_lines_parse(gateway):
    gw = await gateway({"proxies/Hello.xml": proxy("Hello")})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ActivityFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.INFO)
    try:
        response = await gw.get("/services/Hello", headers={"activityid": "trace-me"})
        logging.getLogger("gateway.test").info("outside any message")
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    assert response.headers["activityid"] == "trace-me"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    mediated = [line for line in lines if "said = hello" in line["message"]]
    assert mediated and all(line["activity_id"] == "trace-me" for line in mediated), lines
    assert {"time", "level", "logger", "message", "pid"} <= set(mediated[0])
    assert lines[-1]["activity_id"] == "-" and lines[-1]["message"] == "outside any message"


def test_the_default_log_format_names_the_activity_id():
    assert "%(activity_id)s" in Settings().log_format


# -- --workers 2: the supervisor sums the workers' metrics ------------------------------------------------
def _metrics(port: int) -> dict:
    status, body = get(port, PATH)
    assert status == 200, body
    return samples(body.decode())


def test_workers_metrics_are_summed_by_the_supervisor_and_survive_a_respawn(serve, tmp_path):
    port = free_port()
    gw = serve(free_port(), 2, files={"proxies/Hello.xml": proxy("Hello")}, args=["--management-port", str(port)])
    pids = gw.wait_started(2)
    hello = {"service_name": "Hello", "service_type": "proxy"}
    for _ in range(20):  # fresh connections: the kernel spreads them over both workers
        assert get(gw.port, "/services/Hello")[0] == 200
    found = _metrics(port)
    assert value(found, "wso2_integration_proxy_request_count_total", **hello) == 20
    assert value(found, "wso2_integration_proxy_latency_seconds_count", **hello) == 20

    os.kill(pids[1], signal.SIGKILL)  # a respawned worker starts from 0; the dead one's counts stay
    gw.wait_until(lambda: gw.latest_pids()[1] != pids[1], "worker 1 to be respawned")
    gw.wait_listening({gw.latest_pids()[1]})
    for _ in range(5):
        assert get(gw.port, "/services/Hello")[0] == 200
    assert value(_metrics(port), "wso2_integration_proxy_request_count_total", **hello) == 25


def test_access_log_and_json_log_of_a_served_gateway(serve, tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text("logging:\n  json: true\n  access_log: true\n", encoding="utf-8")
    gw = serve(free_port(), 1, files={"proxies/Hello.xml": proxy("Hello")}, args=["--config", str(config)])
    gw.wait_until(lambda: "listening on" in gw.log(), "the gateway to listen")
    connection = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=HANG_GUARD)
    connection.request("GET", "/services/Hello", headers={"activityid": "acc-1", "User-Agent": "probe/1"})
    assert connection.getresponse().status == 200
    connection.close()
    gw.wait_until(lambda: "acc-1" in gw.log() and "GET /services/Hello" in gw.log(), "the access log line")
    lines = [orjson.loads(line) for line in gw.log().splitlines() if line.startswith("{")]
    [access] = [line for line in lines if line["logger"] == "gateway.access"]
    # Apache's combined format, then the seconds taken and the activity id
    assert '"GET /services/Hello HTTP/1.1" 200 ' in access["message"]
    assert access["message"].startswith("127.0.0.1 - - [")
    assert '"probe/1"' in access["message"] and access["message"].endswith(" acc-1")
    assert [line for line in lines if line["activity_id"] == "acc-1" and "said = hello" in line["message"]]


# -- the management port: the scrape without login, the dashboard's counts from the metrics --------------------
async def test_the_management_port_serves_the_metrics_without_login_and_the_dashboard_counts_apis(management):  # noqa: F811
    mgmt = await management()
    for _ in range(2):
        assert (await mgmt.gateway.post("/services/Echo", json={})).status == 200
    await mgmt.gateway.get("/orders/1.0.0/7")
    response = await mgmt.api.get(PATH)  # no token: Prometheus scrapes it as MI's metric service
    assert response.status == 200 and response.content_type == "text/plain"
    found = samples(await response.text())
    echo = {"service_name": "Echo", "service_type": "proxy"}
    assert value(found, "wso2_integration_proxy_request_count_total", **echo) == 2
    orders = [labels for name, labels in found if name == "wso2_integration_api_request_count_total"]
    assert [dict(labels)["service_name"] for labels in orders] == ["Orders:v1.0.0"]  # MI's name of a versioned API

    data = await (await mgmt.call("GET", "/management/dashboard")).json()
    shown = {(item["kind"], item["name"]): item for item in data["artifacts"]}
    assert shown[("proxy", "Echo")]["requests"] == 2
    [api] = [item for (kind, _), item in shown.items() if kind == "api"]
    assert api["requests"] == 1 and api["errors"] == 0, api
    assert "requests" in shown[("endpoint", "Backend")] and "requests" not in shown[("sequence", "Audit")]
    details = await (await mgmt.call("GET", "/management/proxy-services?proxyServiceName=Echo")).json()
    assert [url.split("/")[2].rsplit(":", 1)[1] for url in details["eprs"]] == ["8290", "8253"]  # each its own port


# -- OpenTelemetry (optional, off by default) -----------------------------------------------------------------
async def test_tracing_is_off_by_default_and_gives_one_span_per_mediator_and_outbound_call(gateway, backend, sandbox):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from gateway.runtime.tracing import build_tracer

    server = await backend(lambda request, body: __import__("aiohttp").web.json_response({"b": 1}))
    files = shipped()
    files["proxies/Pass.xml"] = f"""<proxy {SYNAPSE} name="Pass"><target><inSequence>
        <property name="p" value="1"/><call><endpoint name="Backend"><address uri="{server.make_url("/b")}"/>
        </endpoint></call><respond/></inSequence></target></proxy>"""
    gw = await gateway(files)
    services = gw.app[SERVICES]
    assert services.tracer is None  # off unless tracing.enabled
    exported = InMemorySpanExporter()
    services.tracer = build_tracer(exported, batch=False)  # what tracing.enabled builds, with an exporter we read

    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = await gw.post("/services/Pass", json={}, headers={"traceparent": parent, "activityid": "t-1"})
    assert response.status == 200
    spans = {span.name: span for span in exported.get_finished_spans()}
    root = spans["proxy Pass"]
    assert root.kind == SpanKind.SERVER and format(root.context.trace_id, "032x") == parent.split("-")[1]
    assert root.attributes["wso2.activity_id"] == "t-1" and root.attributes["http.response.status_code"] == 200
    for name in ("mediator property", "mediator call", "mediator respond"):
        assert spans[name].parent.span_id == root.context.span_id, name
        assert spans[name].attributes["code.filepath"].endswith("Pass.xml")
    endpoint = spans["endpoint Backend"]
    assert endpoint.kind == SpanKind.CLIENT and endpoint.parent.span_id == spans["mediator call"].context.span_id
    sent = server.requests[-1]["headers"]["traceparent"]  # the back end continues the same trace
    assert sent.split("-")[1] == parent.split("-")[1] and sent.split("-")[2] == format(endpoint.context.span_id, "016x")

    exported.clear()
    assert (await gw.post("/services/twilioRest", json=sample_send(sandbox.url))).status == 201
    names = [span.name for span in exported.get_finished_spans()]
    assert "connector twilioRest.sendSms" in names and "connector twilioRest.init" in names


def test_tracing_settings_build_a_tracer_or_say_what_is_missing(tmp_path):
    import importlib.util

    import pytest

    from gateway.runtime.tracing import TracingUnavailable, tracer_for
    from gateway.settings import SettingsError, TracingSettings, load_settings

    assert tracer_for(Settings(tracing=TracingSettings(enabled=True, exporter="console"))) is not None
    otlp = Settings(tracing=TracingSettings(enabled=True, endpoint="http://127.0.0.1:4318/v1/traces"))
    try:
        installed = importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except ModuleNotFoundError:
        installed = False
    if not installed:
        with pytest.raises(TracingUnavailable, match="opentelemetry-exporter-otlp-proto-http"):
            tracer_for(otlp)
    else:
        assert tracer_for(otlp) is not None
    config = tmp_path / "gateway.yaml"
    config.write_text("tracing:\n  enabled: true\n  exporter: zipkin\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="use otlp or console"):
        load_settings(config)


async def test_store_sizes_and_processor_states_are_gauges(management):  # noqa: F811
    forwarder = "org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor"
    mgmt = await management(
        {
            "proxies/Queue.xml": f"""<proxy {SYNAPSE} name="Queue"><target><inSequence>
                <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/><property name="OUT_ONLY" value="true"/>
                <store messageStore="Pending"/></inSequence></target></proxy>""",
            "message-stores/Pending.xml": f'<messageStore {SYNAPSE} name="Pending"/>',
            "endpoints/In.xml": f'<endpoint {SYNAPSE} name="In"><address uri="http://127.0.0.1:9/in"/></endpoint>',
            "message-processors/Fwd.xml": f"""<messageProcessor {SYNAPSE} name="Fwd" class="{forwarder}"
                messageStore="Pending" targetEndpoint="In"><parameter name="interval">20</parameter>
                <parameter name="is.active">false</parameter></messageProcessor>""",
        }
    )
    for i in range(2):
        assert (await mgmt.gateway.post("/services/Queue", json={"n": i})).status == 202
    found = samples(await (await mgmt.api.get(PATH)).text())
    store = {"store_name": "Pending", "store_type": "in-memory-message-store"}
    assert value(found, "wso2_integration_message_store_size", **store) == 2
    processor = {"processor_name": "Fwd", "processor_type": "Scheduled-message-forwarding-processor"}
    assert value(found, "wso2_integration_message_processor_active", **processor) == 0
    response = await mgmt.call("POST", "/management/message-processors", json={"name": "Fwd", "status": "active"})
    assert response.status == 200
    found = samples(await (await mgmt.api.get(PATH)).text())
    assert value(found, "wso2_integration_message_processor_active", **processor) == 1


async def test_inbound_endpoints_have_mi_inbound_metrics(gateway, tmp_path):
    from tests.support.subprocess_gateway import free_port
    from tests.test_inbound_endpoints import ECHO_SEQUENCE, OOPS, _get, _inbound

    port = free_port()
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a.xml").write_text("<order>1</order>")
    files = {
        "sequences/Handle.xml": ECHO_SEQUENCE,
        "sequences/Oops.xml": OOPS,
        "inbound-endpoints/Http.xml": _inbound("HttpIn", "http", {"inbound.http.port": str(port)}),
        "inbound-endpoints/Files.xml": _inbound(
            "Files",
            "file",
            {
                "interval": "50",
                "transport.vfs.FileURI": f"file://{inbox}",
                "transport.vfs.ActionAfterProcess": "DELETE",
            },
        ),
    }
    gw = await gateway(files, host="127.0.0.1")
    for _ in range(2):
        assert (await _get(f"http://127.0.0.1:{port}/anything", json={"x": 1}))[0] == 200
    file_in = {"service_name": "Files", "service_type": "inbound-endpoint"}
    http_in = {"service_name": "HttpIn", "service_type": "inbound-endpoint"}

    def counted() -> bool:  # each flow is counted once it ends: waited for, not given a fixed time
        found = scrape(gw)
        files = value(found, "wso2_integration_inbound_endpoint_request_count_total", **file_in)
        latencies = value(found, "wso2_integration_inbound_endpoint_latency_seconds_count", **http_in)
        return files is not None and (latencies or 0) >= 2

    await until(counted, what="the inbound endpoints' counts")
    await until(lambda: not (inbox / "a.xml").exists(), what="the processed file to be deleted")
    found = scrape(gw)
    assert value(found, "wso2_integration_inbound_endpoint_request_count_total", **http_in) == 2
    assert value(found, "wso2_integration_inbound_endpoint_latency_seconds_count", **http_in) == 2
    assert value(found, "wso2_integration_inbound_endpoint_request_count_total", **file_in) == 1
    assert not [k for k in found if k[0] == "wso2_integration_proxy_request_count_total"]  # not counted as proxies
    assert value(found, "wso2_integration_service_up", **http_in) > 0


async def test_twilio_retries_are_counted(gateway, sandbox):
    from tests.test_twilio_errors import FAST, _call, _gateway

    gw = await _gateway(gateway, connectors=FAST)
    sandbox.state.config.update({"rate_limit_next": 2, "retry_after": 0.01})
    status, _ = await _call(gw, sandbox, "twilioMessages", "getSmsList")
    assert status == 200
    found = scrape(gw)
    op = {"connector": "twilioRest", "operation": "getSmsList"}
    assert value(found, "wso2_integration_connector_retry_count_total", **op) == 2  # two 429s, then a page
    assert value(found, "wso2_integration_connector_request_count_total", status="200", error_code="", **op) == 1
    assert sandbox.requests[-1]["headers"]["activityid"]  # each attempt carries the activity id
