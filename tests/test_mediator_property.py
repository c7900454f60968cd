"""The property mediator over real HTTP: scopes, types, pattern/group, remove, null results, dynamic
names, messageType, and its deploy errors (docs/synapse-semantics.md §5.1, §3.2)."""

from __future__ import annotations

from aiohttp import web
from lxml import etree

from gateway.cli import main as cli
from tests.conftest import write_artifacts

S = 'xmlns="http://ws.apache.org/ns/synapse"'
FAULT = (
    '<faultSequence><property name="HTTP_SC" value="500" scope="axis2"/>'
    '<header name="X-Err" scope="transport" expression="get-property(\'ERROR_MESSAGE\')"/>'
    '<header name="X-Code" scope="transport" expression="get-property(\'ERROR_CODE\')"/>'
    "<respond/></faultSequence>"
)


def proxy(in_sequence: str, *, out_sequence: str = "", endpoint: str = "", name: str = "P") -> dict[str, str]:
    out = f"<outSequence>{out_sequence}</outSequence>" if out_sequence else ""
    return {
        f"proxies/{name}.xml": f'<proxy {S} name="{name}" xmlns:m="urn:m"><target>'
        f"<inSequence>{in_sequence}</inSequence>{out}{endpoint}{FAULT}</target></proxy>"
    }


def show(header: str, expression: str) -> str:
    """Echo an expression's value as a response header (request-path replies echo transport headers)."""
    return f'<header name="{header}" scope="transport" expression="{expression}"/>'


async def post(client, body: bytes = b"<a/>", ctype: str = "application/xml", **headers: str):
    return await client.post("/services/P", data=body, headers={"Content-Type": ctype, **headers})


async def test_default_scope_is_read_by_ctx_and_get_property(gateway):
    client = await gateway(
        proxy(
            '<property name="greeting" value="hello"/>'
            '<property name="g2" value="world" scope="synapse"/>'
            + show("X-Ctx", "$ctx:greeting")
            + show("X-Get", "get-property('greeting')")
            + show("X-Scoped", "get-property('default','greeting')")
            + show("X-Alias", "$ctx:g2")
            + "<respond/>"
        )
    )
    response = await post(client)
    assert response.status == 200
    assert response.headers["X-Ctx"] == "hello"
    assert response.headers["X-Get"] == "hello"
    assert response.headers["X-Scoped"] == "hello"
    assert response.headers["X-Alias"] == "world"


async def test_axis2_scope_is_separate_from_default_scope(gateway):
    client = await gateway(
        proxy(
            '<property name="flag" value="a2" scope="axis2"/>'
            + show("X-Axis2", "get-property('axis2','flag')")
            + show("X-Var", "$axis2:flag")
            + show("X-Default", "get-property('flag')")
            + show("X-Ctx", "$ctx:flag")
            + "<respond/>"
        )
    )
    response = await post(client)
    assert response.headers["X-Axis2"] == "a2"
    assert response.headers["X-Var"] == "a2"
    assert response.headers["X-Default"] == ""  # not visible through the default scope
    assert response.headers["X-Ctx"] == ""


async def test_transport_scope_sets_reads_and_removes_http_headers(gateway):
    client = await gateway(
        proxy(
            '<property name="X-Added" value="added" scope="transport"/>'
            '<property name="X-Drop" action="remove" scope="transport"/>'
            '<property name="X-Null" expression="get-property(\'missing\')" scope="transport"/>'
            + show("X-Trp", "$trp:x-in")
            + show("X-Get", "get-property('transport','X-IN')")
            + "<respond/>"
        )
    )
    response = await post(client, **{"X-In": "from-client", "X-Drop": "gone"})
    assert response.headers["X-Added"] == "added"
    assert "X-Drop" not in response.headers
    assert response.headers["X-Null"] == ""  # W: a null value becomes ""
    assert response.headers["X-Trp"] == "from-client"  # header names are case-insensitive
    assert response.headers["X-Get"] == "from-client"


async def test_operation_and_default_scopes_reach_the_response_flow_but_axis2_does_not(gateway, backend):
    async def ok(request: web.Request, body: bytes):
        return web.Response(body=b"<ok/>", content_type="application/xml")

    server = await backend(ok)
    client = await gateway(
        proxy(
            '<property name="op" value="O" scope="operation"/><property name="ax" value="A" scope="axis2"/>'
            '<property name="df" value="D"/>'
            f'<send><endpoint><address uri="{server.make_url("/b")}"/></endpoint></send>',
            out_sequence=show("X-Op", "get-property('operation','op')")
            + show("X-Ax", "$axis2:ax")
            + show("X-Df", "$ctx:df")
            + "<send/>",
        )
    )
    response = await post(client)
    assert response.status == 200
    assert response.headers["X-Op"] == "O"
    assert response.headers["X-Df"] == "D"
    assert response.headers["X-Ax"] == ""  # axis2 scope belongs to one message context only


async def test_types_convert_values_and_expressions(gateway):
    body = b"<order><item>1</item><item>2</item><n>7</n><word>no</word></order>"
    client = await gateway(
        proxy(
            '<property name="i" value="42" type="INTEGER"/>'
            '<property name="cnt" expression="count(//item)" type="INTEGER"/>'
            '<property name="sh" expression="count(//item)" type="SHORT"/>'
            '<property name="lg" value="9007199254740993" type="LONG"/>'
            '<property name="d" value="2.50" type="DOUBLE"/>'
            '<property name="f" expression="//n" type="FLOAT"/>'
            '<property name="s" value="text" type="STRING"/>'
            '<property name="om" value="&lt;a&gt;&lt;b&gt;x&lt;/b&gt;&lt;/a&gt;" type="OM"/>'
            '<property name="omChild" type="OM"><item xmlns="" id="7">inline</item></property>'
            '<property name="json" value=\'{"a":[1,true]}\' type="JSON"/>'
            '<property name="bare" value="hello world" type="JSON"/>'
            + show("X-I", "$ctx:i")
            + show("X-Cnt", "$ctx:cnt")
            + show("X-Sh", "$ctx:sh")
            + show("X-Lg", "$ctx:lg")
            + show("X-D", "$ctx:d")
            + show("X-F", "$ctx:f")
            + show("X-S", "$ctx:s")
            + show("X-Om", "$ctx:om")
            + show("X-OmChild", "$ctx:omChild")
            + show("X-Json", "$ctx:json")
            + show("X-Bare", "$ctx:bare")
            + "<respond/>"
        )
    )
    response = await post(client, body)
    assert response.status == 200, response.headers.get("X-Err")
    assert response.headers["X-I"] == "42"
    assert response.headers["X-Cnt"] == "2"  # count() gives "2.0": INTEGER keeps the integral part
    assert response.headers["X-Sh"] == "2"
    assert response.headers["X-Lg"] == "9007199254740993"  # a Java long, not a double
    assert response.headers["X-D"] == "2.5"  # Java Double.toString
    assert response.headers["X-F"] == "7.0"
    assert response.headers["X-S"] == "text"
    assert response.headers["X-Om"] == "<a><b>x</b></a>"  # an element without direct text: its XML
    assert response.headers["X-OmChild"] == "inline"
    assert response.headers["X-Json"] == '{"a":[1,true]}'
    assert response.headers["X-Bare"] == '"hello world"'  # W: a bare word is retried as a JSON string


async def test_boolean_follows_axis2_is_true_explicitly(gateway):
    cases = {"YES": "true", "True": "true", "1": "true", "on": "false", "0": "false", "": "false", "yes!": "false"}
    props = "".join(f'<property name="b{i}" expression="$trp:X-B{i}" type="BOOLEAN"/>' for i in range(len(cases)))
    shows = "".join(show(f"X-R{i}", f"$ctx:b{i}") for i in range(len(cases)))
    client = await gateway(
        proxy(
            props + '<property name="lit" value="yes" type="BOOLEAN"/>'
            '<property name="missing" expression="$trp:X-Nope" type="BOOLEAN"/>'
            + shows
            + show("X-Lit", "$ctx:lit")
            + show("X-Missing", "$ctx:missing")
            + "<respond/>"
        )
    )
    response = await post(client, **{f"X-B{i}": value for i, value in enumerate(cases)})
    for i, expected in enumerate(cases.values()):
        assert response.headers[f"X-R{i}"] == expected, list(cases)[i]
    assert response.headers["X-Lit"] == "true"
    assert response.headers["X-Missing"] == "false"  # a failed lookup is false, not an error


async def test_conversion_failure_is_a_runtime_fault_handled_by_the_fault_sequence(gateway):
    client = await gateway(
        {
            **proxy('<property name="n" expression="$trp:X-N" type="INTEGER"/><respond/>'),
            **proxy('<property name="n" value="40000" type="SHORT"/><respond/>', name="Literal"),
        }
    )
    ok = await post(client, **{"X-N": "12"})
    assert ok.status == 200
    bad = await post(client, **{"X-N": "12abc"})
    assert bad.status == 500
    assert bad.headers["X-Err"] == (
        "Unknown type : INTEGER for the property mediator or the property value "
        "cannot be converted into the specified type."
    )
    assert bad.headers["X-Code"] == "0"
    literal = await client.post("/services/Literal", data=b"<a/>", headers={"Content-Type": "application/xml"})
    assert literal.status == 500
    assert "SHORT" in literal.headers["X-Err"]


async def test_pattern_and_group_use_a_full_match(gateway):
    client = await gateway(
        proxy(
            '<property name="g2" expression="$trp:X-Code" pattern="([a-z]+)-(\\d+)" group="2"/>'
            '<property name="g0" expression="$trp:X-Code" pattern="[a-z]+-\\d+"/>'
            '<property name="partial" value="IBM" pattern="IB"/>'
            '<property name="nogroup" value="abc-1" pattern="([a-z]+)-1" group="5"/>'
            '<property name="literal" value="key=value" pattern="key=(.*)" group="1"/>'
            + show("X-G2", "$ctx:g2")
            + show("X-G0", "$ctx:g0")
            + show("X-Partial", "$ctx:partial")
            + show("X-NoGroup", "$ctx:nogroup")
            + show("X-Literal", "$ctx:literal")
            + "<respond/>"
        )
    )
    response = await post(client, **{"X-Code": "abc-123"})
    assert response.headers["X-G2"] == "123"
    assert response.headers["X-G0"] == "abc-123"
    assert response.headers["X-Partial"] == ""  # "IB" does not match all of "IBM"
    assert response.headers["X-NoGroup"] == ""  # a group that does not exist gives ""
    assert response.headers["X-Literal"] == "value"


async def test_remove_in_every_scope(gateway):
    client = await gateway(
        proxy(
            '<property name="d" value="1"/><property name="d" action="remove"/>'
            '<property name="a" value="1" scope="axis2"/><property name="a" action="remove" scope="axis2"/>'
            '<property name="o" value="1" scope="operation"/>'
            '<property name="o" action="remove" scope="operation"/>'
            '<property name="X-In" action="remove" scope="transport"/>'
            + show("X-D", "get-property('d')")
            + show("X-A", "$axis2:a")
            + show("X-O", "$operation:o")
            + "<respond/>"
        )
    )
    response = await post(client, **{"X-In": "present"})
    assert response.status == 200
    assert (response.headers["X-D"], response.headers["X-A"], response.headers["X-O"]) == ("", "", "")
    assert "X-In" not in response.headers


async def test_null_expression_does_not_clear_an_existing_value(gateway):
    client = await gateway(
        proxy(
            '<property name="keep" value="kept"/><property name="keep" expression="get-property(\'nothing\')"/>'
            '<property name="fresh" expression="get-property(\'nothing\')"/>'
            + show("X-Keep", "$ctx:keep")
            + show("X-Fresh", "get-property('fresh')")
            + "<respond/>"
        )
    )
    response = await post(client)
    assert response.headers["X-Keep"] == "kept"
    assert response.headers["X-Fresh"] == ""


async def test_dynamic_name_is_evaluated_per_message(gateway):
    client = await gateway(
        proxy(
            '<property name="{$trp:X-Name}" value="dynamic"/><property name="{//m:key}" expression="//m:val"/>'
            '<property name="{{literal}}" value="escaped"/>'
            + show("X-A", "get-property('alpha')")
            + show("X-B", "get-property('beta')")
            + show("X-K", "get-property('fromBody')")
            + show("X-Esc", "get-property('{literal}')")
            + "<respond/>"
        )
    )
    body = b'<m:r xmlns:m="urn:m"><m:key>fromBody</m:key><m:val>v1</m:val></m:r>'
    first = await post(client, body, **{"X-Name": "alpha"})
    second = await post(client, body, **{"X-Name": "beta"})
    assert (first.headers["X-A"], first.headers["X-B"]) == ("dynamic", "")
    assert (second.headers["X-A"], second.headers["X-B"]) == ("", "dynamic")
    assert first.headers["X-K"] == "v1"
    assert first.headers["X-Esc"] == "escaped"  # {{…}} is a literal name with one brace pair removed


async def test_message_type_switches_the_reply_format_json_to_xml(gateway):
    client = await gateway(
        proxy(
            '<property name="messageType" value="application/xml" scope="axis2"/>'
            + show("X-Ct", "$axis2:ContentType")
            + "<respond/>"
        )
    )
    response = await post(client, b'{"symbol":"IBM","qty":2}', "application/json")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    assert response.headers["X-Ct"] == "application/xml"  # W: handleSpecialProperties rewrites it
    root = etree.fromstring(await response.read())
    assert root.tag == "jsonObject"
    assert root.findtext("symbol") == "IBM" and root.findtext("qty") == "2"


async def test_removing_transport_headers_stops_the_request_header_echo(gateway):
    client = await gateway(
        {
            **proxy(
                '<property name="TRANSPORT_HEADERS" action="remove" scope="axis2"/>'
                '<property name="X-After" value="1" scope="transport"/><respond/>'
            ),
            **proxy("<respond/>", name="Echo"),
        }
    )
    response = await post(client, **{"X-Custom": "c1"})
    assert "X-Custom" not in response.headers
    assert response.headers["X-After"] == "1"
    echo = await client.post(
        "/services/Echo", data=b"<a/>", headers={"Content-Type": "application/xml", "X-Custom": "c1"}
    )
    assert echo.headers["X-Custom"] == "c1"


# -- deploy errors -------------------------------------------------------------------------------


def validate_lines(tmp_path, capsys, mediators: dict[str, str]) -> dict[str, str]:
    """Deploy one proxy per entry (the mediator on line 3) and return `gateway validate`'s line per file."""
    files = {
        f"proxies/{name}.xml": f'<proxy {S} name="{name}" xmlns:m="urn:m"><target><inSequence>\n\n'
        f"{xml}\n<respond/></inSequence></target></proxy>"
        for name, xml in mediators.items()
    }
    root = write_artifacts(tmp_path, files, with_defaults=False)
    assert cli(["validate", str(root)]) == 1
    out = capsys.readouterr().out.splitlines()
    return {name: next((line for line in out if f"{name}.xml:" in line), "") for name in mediators}


def test_deploy_errors_are_reported_with_location_and_hints(tmp_path, capsys):
    lines = validate_lines(
        tmp_path,
        capsys,
        {
            "NoName": '<property value="x"/>',
            "NoValue": '<property name="a"/>',
            "GroupNoPattern": '<property name="a" value="x" group="1"/>',
            "NegativeGroup": '<property name="a" value="x" pattern="(x)" group="-1"/>',
            "BadXPath": '<property name="a" expression="//a[" />',
            "UnboundPrefix": '<property name="a" expression="//q:a"/>',
            "BadScope": '<property name="a" value="x" scope="transprt"/>',
            "System": '<property name="a" value="x" scope="system"/>',
            "BadType": '<property name="a" value="x" type="INTEGR"/>',
            "LowerType": '<property name="a" value="1" type="integer"/>',
            "BadAction": '<property name="a" action="remve"/>',
            "BadPattern": '<property name="a" value="x" pattern="[a-"/>',
            "Both": '<property name="a" value="x" expression="//a"/>',
        },
    )
    expected = {
        "NoName": "the 'name' attribute is required",
        "NoValue": "either a child element or one of 'value', 'expression'",
        "GroupNoPattern": "group is only allowed when a pattern is specified",
        "NegativeGroup": "group can have a positive value only",
        "BadXPath": "invalid expression for attribute 'expression'",
        "UnboundPrefix": "invalid expression for attribute 'expression'",
        "BadScope": "invalid scope 'transprt' (did you mean 'transport'?)",
        "System": "scope 'system' is not supported",
        "BadType": "unknown type 'INTEGR' (did you mean 'INTEGER'?)",
        "LowerType": "unknown type 'integer' (type names are case-sensitive: did you mean 'INTEGER'?)",
        "BadAction": "invalid action 'remve' (did you mean 'remove'?)",
        "BadPattern": "invalid regular expression in 'pattern'",
        "Both": "give only one of value / expression",
    }
    for name, reason in expected.items():
        assert f"{name}.xml:3: property: {reason}" in lines[name], (name, lines[name])
