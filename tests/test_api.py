"""REST APIs over HTTP: dispatch between APIs, resources and proxies, the REST properties, MI's answers
when nothing matches, versions, OPTIONS, fault handling and the address endpoint's REST_URL_POSTFIX
(W: api/API, Resource, ApiUtils, the dispatchers and version strategies; docs/conformance.md "REST APIs")."""

from __future__ import annotations

import logging

import orjson
import pytest
from aiohttp import web
from yarl import URL

from gateway.cli import main as cli
from gateway.runtime.api import UriTemplate, UrlMapping
from tests.conftest import write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'
PROPERTIES = (
    "REST_API_CONTEXT",
    "REST_FULL_REQUEST_PATH",
    "REST_SUB_REQUEST_PATH",
    "SYNAPSE_REST_API",
    "SYNAPSE_REST_API_VERSION",
    "API_ELECTED_RESOURCE",
    "REST_METHOD",
)


def echo(*names: str, axis2: tuple[str, ...] = (), url: tuple[str, ...] = ()) -> str:
    """An inSequence answering the named properties as JSON ({"NAME": value}; "$url:NAME" for url ones)."""
    fields = [*names, *axis2, *(f"$url:{name}" for name in url)]
    body = ",".join(f'"{name}":"${index}"' for index, name in enumerate(fields, 1))
    args = "".join(f'<arg expression="$ctx:{name}"/>' for name in names)
    args += "".join(f'<arg expression="$axis2:{name}"/>' for name in axis2)
    args += "".join(f'<arg expression="$url:{name}"/>' for name in url)
    return (
        f'<inSequence><payloadFactory media-type="json"><format>{{{body}}}</format><args>{args}</args>'
        "</payloadFactory><respond/></inSequence>"
    )


def tag(name: str) -> str:
    """An inSequence answering {"resource": name}."""
    return (
        f'<inSequence><payloadFactory media-type="json"><format>{{"resource":"{name}"}}</format><args/>'
        "</payloadFactory><respond/></inSequence>"
    )


def api(name: str, context: str, resources: str, extra: str = "") -> dict[str, str]:
    return {f"api/{name}.xml": f'<api {S} name="{name}" context="{context}" {extra}>{resources}</api>'}


async def resource_of(client, method: str, path: str, **kwargs) -> str | int:
    response = await client.request(method, path, **kwargs)
    if response.status != 200:
        return response.status
    return (await response.json())["resource"]


# -- dispatch and properties ---------------------------------------------------------------------------------
async def test_uri_template_sets_uri_var_query_param_and_the_rest_properties(gateway):
    resource = (
        '<resource methods="GET" uri-template="/{id}/items/{+rest}">'
        + echo("uri.var.id", "uri.var.rest", "query.param.q", "query.param.x", *PROPERTIES, axis2=("REST_URL_POSTFIX",))
        + "</resource>"
    )
    client = await gateway(api("Orders", "/orders/", resource))
    response = await client.get("/orders/a%20b/items/x/y%2Fz?q=1+2&x=%C3%A9")
    assert response.status == 200
    assert await response.json() == {
        "uri.var.id": "a b",  # decoded
        "uri.var.rest": "x/y/z?q=1+2&x=é",  # {+rest} takes the rest, query included, decoded (MI)
        "query.param.q": "1 2",  # URLDecoder: '+' is a space
        "query.param.x": "é",
        "REST_API_CONTEXT": "/orders",  # trailing slashes trimmed
        "REST_FULL_REQUEST_PATH": "/orders/a%20b/items/x/y%2Fz?q=1+2&x=%C3%A9",  # as received
        "REST_SUB_REQUEST_PATH": "/a%20b/items/x/y%2Fz?q=1+2&x=%C3%A9",
        "SYNAPSE_REST_API": "Orders",
        "SYNAPSE_REST_API_VERSION": "",
        "API_ELECTED_RESOURCE": "/{id}/items/{+rest}",
        "REST_METHOD": "GET",
        "REST_URL_POSTFIX": "/a%20b/items/x/y%2Fz?q=1+2&x=%C3%A9",
    }


async def test_a_query_template_needs_its_query_and_url_reads_the_query(gateway):
    resource = '<resource methods="GET" uri-template="/find?name={name}&amp;page={page}">' + echo(
        "uri.var.name", "uri.var.page", "query.param.page", url=("NAME",)
    )
    client = await gateway(api("Search", "/search", resource + "</resource>"))
    response = await client.get("/search/find?name=bob&page=2")
    assert await response.json() == {
        "uri.var.name": "bob",
        "uri.var.page": "2",
        "query.param.page": "2",
        "$url:NAME": "bob",  # W: $url: matches the name ignoring case
    }
    assert (await client.get("/search/find")).status == 404  # MI: a template's query part is not optional
    assert (await client.get("/search/find?page=2&name=bob")).status == 404  # nor in another order


async def test_resources_are_elected_as_mi_does(gateway):
    """W: URLMappingBasedDispatcher (exact, then the longest prefix, then the extension), then URI templates in
    order, then the default resource: the vectors of W: URLMappingBasedDispatcherTest and friends."""
    resources = (
        f'<resource uri-template="/t/{{x}}">{tag("template")}</resource>'
        f'<resource url-mapping="/foo/*">{tag("foo")}</resource>'
        f'<resource url-mapping="/foo/bar/*">{tag("foobar")}</resource>'
        f'<resource url-mapping="*.jsp">{tag("jsp")}</resource>'
        f'<resource url-mapping="/exact/">{tag("exact")}</resource>'
        f'<resource url-mapping="/t/*">{tag("t-prefix")}</resource>'
        f"<resource>{tag('default')}</resource>"
    )
    client = await gateway(api("Test", "/test", resources))
    expected = {
        "/test/foo/": "foo",
        "/test/foo/index.html?a=5": "foo",
        "/test/foo/bars": "foo",
        "/test/foo/index.jsp": "foo",
        "/test/foo/bar/": "foobar",
        "/test/foo/bar/index.html?a=5": "foobar",
        "/test/foo/bar/index.jsp": "foobar",
        "/test/index.jsp": "jsp",
        "/test/hello/index.jsp?a=5": "jsp",
        "/test/exact": "exact",
        "/test/exact/?x=1": "exact",
        "/test/t/1": "t-prefix",  # url mappings are tried before templates
        "/test/foolish/index.html": "default",
        "/test": "default",
    }
    for path, name in expected.items():
        assert await resource_of(client, "GET", path) == name, path


async def test_no_resource_404_and_method_not_allowed_405_answer_no_body_and_no_echoed_headers(gateway):
    resources = f'<resource methods="GET" uri-template="/a">{tag("a")}</resource>' + (
        f'<resource methods="POST" uri-template="/b">{tag("b")}</resource>'
    )
    client = await gateway(api("Api", "/api", resources))
    for method, path, status in (
        ("GET", "/api/nothing", 404),
        ("DELETE", "/api/a", 405),  # no resource takes DELETE, one has the path: 405
        ("POST", "/api/a", 404),  # a POST resource exists but not for this path: MI answers 404
    ):
        response = await client.request(method, path, headers={"X-Custom": "echo me"})
        assert response.status == status, (method, path)
        assert await response.read() == b""
        assert "X-Custom" not in response.headers  # W: TRANSPORT_HEADERS removed
    assert await resource_of(client, "POST", "/api/b") == "b"


async def test_user_sequences_answer_unmatched_requests(gateway):
    handler = (
        '<sequence {S} name="{name}"><payloadFactory media-type="json"><format>{{"handled":"{name}"}}</format>'
        '<args/></payloadFactory><property name="HTTP_SC" value="{status}" scope="axis2"/><respond/></sequence>'
    )
    files = {
        **api("Api", "/api", f'<resource methods="GET" uri-template="/a">{tag("a")}</resource>'),
        "sequences/mismatch.xml": handler.format(S=S, name="_resource_mismatch_handler_", status=404),
        "sequences/method.xml": handler.format(S=S, name="_method_not_allowed_handler_", status=405),
    }
    client = await gateway(files)
    response = await client.get("/api/zzz")
    assert (response.status, await response.json()) == (404, {"handled": "_resource_mismatch_handler_"})
    response = await client.put("/api/a")
    assert (response.status, await response.json()) == (405, {"handled": "_method_not_allowed_handler_"})


async def test_paths_outside_every_context_and_proxies_go_where_mi_sends_them(gateway):
    files = {
        **api("Root", "/services", f"<resource>{tag('api')}</resource>"),
        **api("Orders", "/orders", f"<resource>{tag('orders')}</resource>"),
        "proxies/P.xml": f'<proxy {S} name="P"><target>{tag("proxy")}</target></proxy>',
    }
    client = await gateway(files)
    assert await resource_of(client, "GET", "/services/P") == "proxy"  # Axis2 dispatches proxies first
    assert await resource_of(client, "GET", "/services/Other/x") == "api"
    assert await resource_of(client, "GET", "/orders?x=1") == "orders"
    assert await resource_of(client, "GET", "/orders/1") == "orders"
    assert await resource_of(client, "GET", "/ordersX") == 404  # not under /orders: main answers 404
    assert await resource_of(client, "GET", "/elsewhere") == 404


async def test_the_longest_context_wins_and_a_root_api_takes_the_rest(gateway):
    files = {
        **api("A", "/a", f"<resource>{tag('a')}</resource>"),
        **api("AB", "/a/b", f"<resource>{tag('ab')}</resource>"),
        **api("Root", "/", f"<resource>{tag('root')}</resource>"),
    }
    client = await gateway(files)
    assert await resource_of(client, "GET", "/a/b/c") == "ab"
    assert await resource_of(client, "GET", "/a/bc") == "a"
    assert await resource_of(client, "GET", "/a") == "a"
    assert await resource_of(client, "GET", "/zzz/y") == "root"


async def test_versions_by_context_and_by_url(gateway):
    resource = '<resource methods="GET" uri-template="/items/{id}">' + echo(
        "SYNAPSE_REST_API", "SYNAPSE_REST_API_VERSION", "REST_API_CONTEXT", "REST_SUB_REQUEST_PATH", "uri.var.id"
    )
    resource += "</resource>"
    files = {
        **api("Ctx", "/ctx/{version}", resource, 'version="1.0.0" version-type="context"'),
        **api("Url", "/url", resource, 'version="2" version-type="url"'),
        **api("Plain", "/url", f"<resource>{tag('unversioned')}</resource>"),
    }
    client = await gateway(files)
    assert await (await client.get("/ctx/1.0.0/items/7")).json() == {
        "SYNAPSE_REST_API": "Ctx:v1.0.0",
        "SYNAPSE_REST_API_VERSION": "1.0.0",
        "REST_API_CONTEXT": "/ctx/1.0.0",
        "REST_SUB_REQUEST_PATH": "/items/7",
        "uri.var.id": "7",
    }
    assert (await client.get("/ctx/2.0.0/items/7")).status == 404
    assert await (await client.get("/url/2/items/8?x")).json() == {
        "SYNAPSE_REST_API": "Url:v2",
        "SYNAPSE_REST_API_VERSION": "2",
        "REST_API_CONTEXT": "/url",
        "REST_SUB_REQUEST_PATH": "/items/8?x",
        "uri.var.id": "8",
    }
    # the versioned API is preferred; another version is the unversioned API's
    assert await resource_of(client, "GET", "/url/3/items/8") == "unversioned"


async def test_url_version_is_left_out_of_the_postfix_an_address_endpoint_appends(gateway, backend):
    server = await backend(lambda request, body: web.json_response({"path": request.path_qs}))
    send = f'<inSequence><send><endpoint><address uri="{server.make_url("/base")}"/></endpoint></send></inSequence>'
    files = {
        **api("V", "/v", f'<resource url-mapping="/quotes/*">{send}</resource>', 'version="1" version-type="url"'),
        **api(
            "Bare",
            "/bare",
            "<resource><inSequence>"
            '<property name="REST_URL_POSTFIX" scope="axis2" action="remove"/>'
            f'<send><endpoint><address uri="{server.make_url("/base")}"/></endpoint></send>'
            "</inSequence></resource>",
        ),
    }
    client = await gateway(files)
    assert await (await client.get("/v/1/quotes/IBM?x=1")).json() == {"path": "/base/quotes/IBM?x=1"}
    assert await (await client.get("/bare/quotes/IBM?x=1")).json() == {"path": "/base"}


async def test_hostname_port_and_transports(gateway):
    files = {
        **api("Host", "/h", f"<resource>{tag('host')}</resource>", 'hostname="example.com" port="8080"'),
        **api("Tls", "/tls", f"<resource>{tag('tls')}</resource>", 'transports="https"'),
        **api("ResTls", "/rt", f'<resource methods="GET" protocol="https">{tag("rt")}</resource>'),
    }
    client = await gateway(files)
    assert await resource_of(client, "GET", "/h", headers={"Host": "example.com:8080"}) == "host"
    assert await resource_of(client, "GET", "/h", headers={"Host": "example.com"}) == 404  # port 80
    assert await resource_of(client, "GET", "/h", headers={"Host": "other.com:8080"}) == 404
    assert await resource_of(client, "GET", "/tls") == 404  # https only: main answers
    assert await resource_of(client, "GET", "/rt") == 400  # the resource exists and allows GET, not over http


async def test_options_is_answered_with_allow_unless_the_resource_takes_options(gateway):
    files = {
        **api("Opt", "/opt", f'<resource methods="POST GET" uri-template="/a">{tag("a")}</resource>'),
        **api("Any", "/any", f"<resource>{tag('any')}</resource>"),
        **api("Own", "/own", f'<resource methods="OPTIONS GET">{tag("own")}</resource>'),
    }
    client = await gateway(files)
    response = await client.options("/opt/a")
    assert (response.status, response.headers["Allow"], await response.read()) == (200, "GET, POST", b"")
    response = await client.options("/any")
    assert response.headers["Allow"] == "GET, POST, PUT, DELETE"  # W: REST_ALL_SUPPORTED_METHODS
    assert await resource_of(client, "OPTIONS", "/own") == "own"  # mediated
    response = await client.options("/own", headers={"Max-Forwards": "0"})
    assert (response.status, response.headers["Allow"]) == (200, "GET")


async def test_resource_without_in_sequence_accepts_with_202(gateway):
    client = await gateway(api("Empty", "/empty", '<resource methods="POST"/>'))
    response = await client.post("/empty", data=b"{}", headers={"Content-Type": "application/json"})
    assert (response.status, await response.read()) == (202, b"")


async def test_malformed_query_escape_is_a_400_through_the_fault_sequence(gateway):
    client = await gateway(api("Q", "/q", f"<resource>{tag('q')}</resource>"))
    raw = URL(str(client.make_url("/q")) + "?a=%zz", encoded=True)  # sent as written, not re-encoded
    response = await client.session.get(raw, headers={"Accept": "application/json"})
    assert response.status == 400
    assert "due to an error in the request sent by the client" in (await response.text())


# -- sequences, faults and the response path -----------------------------------------------------------------
async def test_send_from_a_resource_runs_its_out_sequence(gateway, backend):
    server = await backend(lambda request, body: web.json_response({"backend": request.path_qs}))
    resource = (
        '<resource methods="GET" uri-template="/quotes/{symbol}">'
        f'<inSequence><send><endpoint><address uri="{server.make_url("/svc")}"/></endpoint></send></inSequence>'
        '<outSequence><property name="X-Symbol" expression="$ctx:uri.var.symbol" scope="transport"/><send/>'
        "</outSequence></resource>"
    )
    client = await gateway(api("Stock", "/stock", resource))
    response = await client.get("/stock/quotes/IBM")
    assert response.status == 200
    assert await response.json() == {"backend": "/svc/quotes/IBM"}
    assert response.headers["X-Symbol"] == "IBM"  # the reply ran the resource's outSequence


async def test_a_resource_fault_sequence_handles_its_errors_and_a_missing_one_falls_back_to_fault(gateway):
    failing = '<inSequence><sequence key="nowhere"/></inSequence>'
    mediators = (
        '<payloadFactory media-type="json"><format>{"fault":"$1"}</format>'
        '<args><arg expression="$ctx:ERROR_MESSAGE"/></args></payloadFactory><respond/>'
    )
    answer = f"<faultSequence>{mediators}</faultSequence>"
    resources = (
        f'<resource uri-template="/inline">{failing}{answer}</resource>'
        f'<resource uri-template="/missing" faultSequence="gone">{failing}</resource>'
        f'<resource uri-template="/keyed" inSequence="nowhere" faultSequence="answer"/>'
    )
    files = {
        **api("F", "/f", resources),
        "sequences/answer.xml": f'<sequence {S} name="answer">{mediators}</sequence>',
    }
    client = await gateway(files)
    response = await client.get("/f/inline")
    assert await response.json() == {"fault": "Sequence named nowhere cannot be found"}
    response = await client.get("/f/keyed")
    assert await response.json() == {"fault": "Sequence named nowhere cannot be found"}
    response = await client.get("/f/missing", headers={"Accept": "application/json"})
    assert response.status == 500  # the shipped global fault sequence answers
    assert "nowhere" in await response.text()


# -- deploy time ---------------------------------------------------------------------------------------------
def validate(tmp_path, capsys, files: dict[str, str]) -> tuple[int, str]:
    root = write_artifacts(tmp_path / "artifacts", files, with_defaults=False)
    code = cli(["validate", str(root)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (f'<api {S} name="A"><resource/></api>', "api: Attribute 'context' is required for an API definition"),
        (f'<api {S} name="A" context="a"><resource/></api>', "api: API context must begin with '/' character"),
        (f'<api {S} name="A" context="/a"/>', "api: An API must contain at least one resource definition"),
        (
            f'<api {S} name="A" context="/a" version="1"><resource/></api>',
            "api: Attribute 'version-type' is required for an API definition",
        ),
        (
            f'<api {S} name="A" context="/a"><resource methods="get"/></api>',
            "resource: Invalid or duplicate method definition for resource: 'get' (methods are case-sensitive: GET)",
        ),
        (
            f'<api {S} name="A" context="/a"><resource uri-template="/x/{{a"/></api>',
            "resource: Error while parsing the URI template '/x/{a': Illegal open brace character",
        ),
        (
            f'<api {S} name="A" context="/a"><resource uri-template="/x/{{?a}}"/></api>',
            "Unsupported template expression: {?a}",
        ),
        (
            f'<api {S} name="A" context="/a"><resource/><resource methods="GET"/></api>',
            "resource: Only one resource can be designated as default",
        ),
        (
            f'<api {S} name="A" context="/a"><resource methods="GET POST" uri-template="/x"/>'
            '<resource methods="POST" uri-template="/x"/></api>',
            "resource: Two resources cannot have the same path mapping and methods",
        ),
        (
            f'<api {S} name="A" context="/a" transports="http https"><resource/></api>',
            "api: invalid transports 'http https' (MI takes one transport here, http or https",
        ),
        (
            f'<api {S} name="A" context="/a"><handlers><handler class="org.example.Auth"/></handlers><resource/></api>',
            "handler: API handler 'org.example.Auth' is a Java class: API handlers are not supported",
        ),
        (f'<api {S} name="A" context="/a" contxt="/b"><resource/></api>', "unknown attribute 'contxt'"),
    ],
)
def test_deploy_errors_name_file_line_and_fix(tmp_path, capsys, xml, expected):
    code, output = validate(tmp_path, capsys, {"api/A.xml": xml})
    assert code == 1
    assert expected in output
    assert "api/A.xml:1: " in output


def test_two_apis_cannot_share_a_context_and_version(tmp_path, capsys):
    files = {
        **api("One", "/same", "<resource/>"),
        **api("Two", "/same/", "<resource/>"),
        **api("Three", "/same", "<resource/>", 'version="2" version-type="url"'),
    }
    code, output = validate(tmp_path, capsys, files)
    assert code == 1
    assert "Two.xml:1: api: URL context: /same is already registered with the API: One" in output
    assert "2 artifact(s) OK, 1 problem(s)" in output


def test_validate_lists_each_api_before_the_count(tmp_path, capsys):
    resources = '<resource methods="POST GET" uri-template="/items/{id}"/><resource url-mapping="/files/*"/>'
    code, output = validate(tmp_path, capsys, api("Shop", "/shop", resources, 'version="2" version-type="url"'))
    assert code == 0
    assert output.splitlines()[-2:] == [
        "api Shop:v2 at /shop/2: GET POST /items/{id}, * /files/*",
        "1 artifact(s) OK, 0 problem(s)",
    ]


def test_dangling_resource_keys_are_reported_like_a_proxys(tmp_path, capsys):
    code, output = validate(
        tmp_path, capsys, api("K", "/k", '<resource inSequence="inSeq" outSequence="outSeq" faultSequence="err"/>')
    )
    assert code == 1
    assert "K.xml:1: resource: key 'inSeq' names no deployed sequence (every message reaching it fails" in output
    assert "key 'outSeq' names no deployed sequence" in output
    assert "key 'err' names no deployed sequence (errors in this resource go to the global 'fault'" in output


async def test_url_pattern_is_ignored_as_mi_ignores_it_with_a_warning(gateway, caplog):
    caplog.set_level(logging.WARNING, logger="gateway.deploy")
    client = await gateway(api("P", "/p", f'<resource url-pattern="/order/*" methods="POST">{tag("any")}</resource>'))
    assert "<resource url-pattern=…> is not a Synapse attribute: Synapse and MI ignore it" in caplog.text
    assert await resource_of(client, "POST", "/p/order/1") == "any"
    assert await resource_of(client, "POST", "/p/elsewhere") == "any"  # the default resource: every path


# -- the compiled matchers, against the vectors of W: URITemplateBasedDispatcherTest ------------------------
@pytest.mark.parametrize(
    ("template", "uri", "variables"),
    [
        ("/~{user}", "/~foo", {"user": "foo"}),
        ("/~{user}", "/foo", None),
        ("/~{user}", "/~foo/bar", None),
        ("/dictionary/{char}/{word}", "/dictionary/c/cat", {"char": "c", "word": "cat"}),
        ("/dictionary/{char}/{word}", "/dictionary/d/dog/", {"char": "d", "word": "dog"}),
        ("/dictionary/{char}/{word}", "/dictionary/c", None),
        ("/dictionary/{char}/{word}", "/dictionary/c/cat?a=5", {"char": "c", "word": "cat"}),
        ("/dictionary/{char}/{word}", "/dictionary/c/cat/test", None),
        ("/dictionary/{char}{#ref}", "/dictionary/e#test", {"char": "e", "ref": "test"}),
        ("/dictionary/{char}{#ref}", "/dictionary/c/cat#ref", None),
        ("/", "/", {}),
        ("/x?a={a}&b={b}", "/x?a=1&b=2", {"a": "1", "b": "2"}),
        ("/x?a={a}&b={b}", "/x?a=1&b=", {"a": "1"}),  # a value-less parameter still matches
        ("/sms/{to}", "/sms/+44", None),  # '+' is reserved: it ends a simple variable
        ("/sms/{+to}", "/sms/+44", {"to": "+44"}),
        ("/files/{+path}", "/files/a/b%20c", {"path": "a/b c"}),
        ("/a/{x}", "/a/%zz", None),  # a malformed escape does not match (Java's decoder throws)
    ],
)
def test_uri_templates_match_as_mi_matches(template, uri, variables):
    assert UriTemplate(template).match(uri) == variables


def test_url_mappings_match_as_mi_matches():
    prefix = UrlMapping("/foo/bar/*")
    assert [prefix.prefix_length(u) for u in ("/foo/bar", "/foo/bar/", "/foo/bar?a=b", "/foo/bars", "/foo/")] == [
        2,
        2,
        2,
        0,
        0,
    ]
    assert UrlMapping("/*").prefix_length("/anything") == 1
    exact = UrlMapping("/foo/bar")
    assert [exact.exact_match(u) for u in ("/foo/bar", "/foo/bar/", "/foo/bar?a=5", "/foo", "/foo/bar/x")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert UrlMapping("/").exact_match("?a=1")
    assert UrlMapping("*.jsp").extension_match("/a/b.jsp?x=1")


async def test_healthz_lists_apis_with_their_resources(gateway):
    files = api(
        "H", "/h", '<resource methods="GET POST" uri-template="/{id}"/><resource/>', 'version="1" version-type="url"'
    )
    client = await gateway(files)
    health = orjson.loads(await (await client.get("/healthz")).read())
    assert {"kind": "api", "name": "H:v1", "path": next(iter(files)).join(("", ""))} in [
        {**artifact, "path": artifact["path"].split("artifacts/", 1)[1]} for artifact in health["deployed"]
    ]
    assert health["apis"] == [
        {
            "name": "H:v1",
            "context": "/h/1",
            "resources": [{"methods": ["GET", "POST"], "path": "/{id}"}, {"methods": ["*"], "path": None}],
        }
    ]


# -- dispatch among many APIs (the context index; bench's api scenario deploys 200) --------------------------
async def test_many_apis_with_overlapping_contexts_dispatch_as_mi_does(gateway, backend):
    server = await backend(lambda request, body: web.json_response({"path": request.path_qs}))
    send = f'<inSequence><send><endpoint><address uri="{server.make_url("/echo")}"/></endpoint></send></inSequence>'
    items = '<resource methods="POST" uri-template="/items/{id}">' + echo("SYNAPSE_REST_API", "uri.var.id")
    items += "</resource>"
    files: dict[str, str] = {}
    for index in range(60):
        files |= api(f"Shop{index:03d}", f"/shop{index:03d}", items + f'<resource methods="PUT">{send}</resource>')
    files |= {
        **api("Shop", "/shop", f"<resource>{tag('shop')}</resource>"),
        **api("Deep", "/shop001/items/deep", f"<resource>{tag('deep')}</resource>"),
        **api("Hosted", "/shop002/items", f"<resource>{tag('hosted')}</resource>", 'hostname="example.com"'),
        **api("V1", "/shop003", f"<resource>{tag('v1')}</resource>", 'version="1" version-type="url"'),
        **api("Ctx", "/c/{version}/shop", f"<resource>{tag('ctx')}</resource>", 'version="2" version-type="context"'),
        **api("Root", "/", f"<resource>{tag('root')}</resource>"),
    }
    client = await gateway(files)

    async def post(path: str, **kwargs) -> dict[str, str] | int:
        response = await client.post(path, data=b"{}", headers={"Content-Type": "application/json"}, **kwargs)
        return await response.json() if response.status == 200 else response.status

    assert await post("/shop042/items/7") == {"SYNAPSE_REST_API": "Shop042", "uri.var.id": "7"}
    assert await post("/shop059/items/a%20b?x=1") == {"SYNAPSE_REST_API": "Shop059", "uri.var.id": "a b"}
    assert await post("/shop042/items/") == 404  # the API's, but no resource matches
    assert await resource_of(client, "POST", "/shop") == "shop"
    assert await resource_of(client, "POST", "/shop060/items/1") == "root"  # no such context: the root API
    assert await resource_of(client, "POST", "/shopx") == "root"
    # the longest context first, also inside another API's resources
    assert await resource_of(client, "POST", "/shop001/items/deep/1") == "deep"
    assert await post("/shop001/items/deeper") == {"SYNAPSE_REST_API": "Shop001", "uri.var.id": "deeper"}
    # an API of a longer context that does not take the request leaves it to the shorter one
    assert await resource_of(client, "POST", "/shop002/items/9", headers={"Host": "example.com"}) == "hosted"
    assert await post("/shop002/items/9") == {"SYNAPSE_REST_API": "Shop002", "uri.var.id": "9"}
    # a url-versioned API first, the unversioned one of the same context for another version
    assert await resource_of(client, "POST", "/shop003/1/items/1") == "v1"
    assert await post("/shop003/2") == 404  # Shop003's: no resource for /2
    assert await resource_of(client, "POST", "/c/2/shop/x") == "ctx"
    assert await resource_of(client, "POST", "/c/3/shop/x") == "root"
    # REST_URL_POSTFIX: the path after the context, query included, appended to the endpoint's address
    response = await client.put("/shop017/orders/5?a=%20b")
    assert await response.json() == {"path": "/echo/orders/5?a=%20b"}


def test_one_expression_templates_match_as_the_node_chain_does():
    """Templates of literals and {x} variables are matched by one compiled expression; it must answer what the
    node chain answers (MI's matcher, quirks included) for any URI."""
    import random

    chars = [*"ab/?=%.-,;:+#*&~", "%41", "%4", "%2F", "é", "items", "42", "x"]
    compiled = 0
    rng = random.Random(18)
    for text in ("/", "/items/{id}", "/items/{id}/detail", "/{a}", "/{a}/b/{c}", "/a/{x}.json", "/a/{x}-{y}",
                 "/x{a}y", "/a/{b}/", "/~{user}", "/a;b/{c}", "/é/{x}", "/a/{x},{y}", "/a/{x:2}", "/a={b}",
                 "/o/{id}/{id}", "/a/{+x}", "/a?b={c}", "/a/*", "/d/{char}{#ref}", "/a/{b.c}"):  # fmt: skip
        fast, chain = UriTemplate(text), UriTemplate(text)
        compiled += fast.pattern is not None
        plain = text.replace("{", "").replace("}", "")
        for _ in range(3000):
            noise = "".join(rng.choice(chars) for _ in range(rng.randint(0, 6)))
            cut = rng.randint(0, len(plain))
            uri = plain[:cut] + noise + plain[cut:] if rng.random() < 0.7 else "/" + noise
            assert fast.match(uri) == chain._match_nodes(uri), (text, uri)
    assert compiled == 13  # the others ('*', a query, '=', {+x}, {#x}, prefixes, repeats, '.' in a name) keep the chain


async def test_resources_that_look_at_content_type_or_user_agent_get_them(gateway):
    """Dispatch reads these headers only for APIs whose resources look at them (and the Host header only
    when an API names a host or port): here they must be read."""
    resources = (
        f'<resource methods="POST" uri-template="/x" content-type="application/json">{tag("json")}</resource>'
        f'<resource methods="POST" uri-template="/{{name}}">{tag("any-type")}</resource>'
        f'<resource methods="GET" uri-template="/ua" user-agent="curl.*">{tag("curl")}</resource>'
        f'<resource methods="GET" uri-template="/{{name}}">{tag("any-agent")}</resource>'
    )
    client = await gateway(
        {**api("Typed", "/typed", resources), **api("Plain", "/plain", f"<resource>{tag('p')}</resource>")}
    )
    json_type, xml_type = {"Content-Type": "application/json"}, {"Content-Type": "application/xml"}
    assert await resource_of(client, "POST", "/typed/x", data=b"{}", headers=json_type) == "json"
    assert await resource_of(client, "POST", "/typed/x", data=b"<a/>", headers=xml_type) == "any-type"
    assert await resource_of(client, "GET", "/typed/ua", headers={"User-Agent": "curl/8.4"}) == "curl"
    assert await resource_of(client, "GET", "/typed/ua", headers={"User-Agent": "Mozilla/5.0"}) == "any-agent"
    assert await resource_of(client, "GET", "/plain/ua", headers={"User-Agent": "curl/8.4"}) == "p"
