"""`script`: JavaScript on V8 and restricted Python with MI's `mc` API, over HTTP through a real gateway."""

from __future__ import annotations

import json

import pytest

from gateway.deploy.loader import build_file
from gateway.errors import DeployError
from tests.conftest import SYNAPSE


def entry(key: str, source: str) -> str:
    return f'<localEntry {SYNAPSE} key="{key}"><![CDATA[{source}]]></localEntry>'


def api(in_sequence: str, name: str = "S", extra: dict[str, str] | None = None) -> dict[str, str]:
    files = {
        f"api/{name}.xml": f"""
            <api {SYNAPSE} name="{name}" context="/{name.lower()}">
              <resource methods="POST GET" url-mapping="/*">
                <inSequence>{in_sequence}</inSequence>
                <faultSequence>
                  <payloadFactory media-type="json">
                    <format>{{"code": "$1", "message": "$2", "detail": "$3"}}</format>
                    <args><arg expression="$ctx:ERROR_CODE"/><arg expression="$ctx:ERROR_MESSAGE"/>
                          <arg expression="$ctx:ERROR_DETAIL"/></args>
                  </payloadFactory>
                  <property name="HTTP_SC" value="500" scope="axis2"/>
                  <respond/>
                </faultSequence>
              </resource>
            </api>"""
    }
    files.update(extra or {})
    return files


async def post_json(client, path: str, body: object, **headers: str):
    return await client.post(path, data=json.dumps(body), headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("language", ["js", "py"])
async def test_json_payload_read_changed_and_written_back(gateway, language):
    source = {
        "js": """
            var p = mc.getPayloadJSON();
            mc.setPayloadJSON({greeting: "Hello " + p.name, n: p.n + 1, tags: p.tags.concat(["x"])});
        """,
        "py": """
p = mc.getPayloadJSON()
mc.setPayloadJSON({"greeting": "Hello " + p["name"], "n": p["n"] + 1, "tags": p["tags"] + ["x"]})
""",
    }[language]
    client = await gateway(api(f'<script language="{language}"><![CDATA[{source}]]></script><respond/>'))
    response = await post_json(client, "/s", {"name": "Ada", "n": 41, "tags": ["a"]})
    assert response.status == 200, await response.text()
    assert await response.json() == {"greeting": "Hello Ada", "n": 42, "tags": ["a", "x"]}


@pytest.mark.parametrize("language", ["js", "py"])
async def test_properties_in_every_scope_are_read_and_written(gateway, language):
    source = {
        "js": """
            var who = mc.getProperty("who");
            var agent = mc.getProperty("X-Agent", "transport");
            mc.setProperty("greeting", "hi " + who + " via " + agent);
            mc.setProperty("X-Out", "from-script", "transport");
            mc.setProperty("HTTP_SC", 201, "axis2");
            mc.removeProperty("secret");
            mc.setProperty("count", 3);
        """,
        "py": """
who = mc.getProperty("who")
agent = mc.getProperty("X-Agent", "transport")
mc.setProperty("greeting", "hi " + who + " via " + agent)
mc.setProperty("X-Out", "from-script", "transport")
mc.setProperty("HTTP_SC", 201, "axis2")
mc.removeProperty("secret")
mc.setProperty("count", 3)
""",
    }[language]
    client = await gateway(
        api(
            f"""
            <property name="who" value="Ada"/>
            <property name="secret" value="s3cret"/>
            <script language="{language}"><![CDATA[{source}]]></script>
            <payloadFactory media-type="json">
              <format>{{"greeting": "$1", "secret": "$2", "count": "$3"}}</format>
              <args><arg expression="$ctx:greeting"/><arg expression="$ctx:secret"/>
                    <arg expression="$ctx:count"/></args>
            </payloadFactory>
            <respond/>"""
        )
    )
    response = await post_json(client, "/s", {}, **{"X-Agent": "curl"})
    assert response.status == 201, await response.text()
    assert response.headers["X-Out"] == "from-script"
    assert await response.json() == {"greeting": "hi Ada via curl", "secret": "", "count": "3"}


@pytest.mark.parametrize("language", ["js", "py"])
async def test_xml_payload_as_a_string_in_and_out(gateway, language):
    source = {
        "js": """
            var xml = mc.getPayloadXML();
            var code = /<Code>([^<]*)<\\/Code>/.exec(xml)[1];
            mc.setPayloadXML('<m:getQuote xmlns:m="http://services.samples"><m:request><m:symbol>'
                + code + '</m:symbol></m:request></m:getQuote>');
        """,
        "py": """
code = re.search("<Code>([^<]*)</Code>", mc.getPayloadXML()).group(1)
mc.setPayloadXML('<m:getQuote xmlns:m="http://services.samples"><m:request><m:symbol>'
                 + code + '</m:symbol></m:request></m:getQuote>')
""",
    }[language]
    client = await gateway(api(f'<script language="{language}"><![CDATA[{source}]]></script><respond/>'))
    response = await client.post(
        "/s",
        data="<CheckPriceRequest><Code>IBM</Code></CheckPriceRequest>",
        headers={"Content-Type": "application/xml"},
    )
    assert response.status == 200, await response.text()
    text = await response.text()
    assert "<m:symbol>IBM</m:symbol>" in text and 'xmlns:m="http://services.samples"' in text


async def test_a_script_returning_false_stops_the_flow(gateway):
    client = await gateway(
        api(
            """
            <script language="js">mc.setProperty("HTTP_SC", 204, "axis2"); false</script>
            <payloadFactory media-type="json"><format>{"reached": true}</format><args/></payloadFactory>
            <respond/>"""
        )
    )
    response = await post_json(client, "/s", {})
    assert response.status == 202  # the flow stopped before respond: nothing was sent back


@pytest.mark.parametrize("language", ["js", "py"])
async def test_keyed_script_function_from_a_local_entry(gateway, language):
    source = {
        "js": "function transform(mc) { var p = mc.getPayloadJSON(); mc.setPayloadJSON({sum: p.a + p.b}); }",
        "py": 'def transform(mc):\n    p = mc.getPayloadJSON()\n    mc.setPayloadJSON({"sum": p["a"] + p["b"]})\n',
    }[language]
    client = await gateway(
        api(
            f'<script language="{language}" key="calc" function="transform"/><respond/>',
            extra={"local-entries/calc.xml": f'<localEntry {SYNAPSE} key="calc"><![CDATA[{source}]]></localEntry>'},
        )
    )
    response = await post_json(client, "/s", {"a": 2, "b": 40})
    assert response.status == 200, await response.text()
    assert await response.json() == {"sum": 42}


async def test_keyed_script_with_an_include_and_a_missing_function(gateway):
    client = await gateway(
        api(
            '<switch source="$trp:X-Which">'
            '<case regex="good"><script language="js" key="main" function="run"><include key="lib"/></script></case>'
            '<default><script language="js" key="main" function="absent"/></default></switch><respond/>',
            extra={
                "local-entries/lib.xml": entry("lib", "function twice(x) { return 2 * x; }"),
                "local-entries/main.xml": entry("main", "function run(mc) { mc.setPayloadJSON({v: twice(21)}); }"),
            },
        )
    )
    response = await post_json(client, "/s", {}, **{"X-Which": "good"})
    assert await response.json() == {"v": 42}
    response = await post_json(client, "/s", {}, **{"X-Which": "bad"})
    assert response.status == 500
    body = await response.json()
    assert (
        body["message"]
        == "The script engine returned a NoSuchMethodException executing the external js script : main function absent"
    )


@pytest.mark.parametrize("language", ["js", "py"])
async def test_a_script_that_loops_forever_is_stopped_and_faults(gateway, language):
    source = {"js": "while (true) {}", "py": "while True:\n    pass\n"}[language]
    client = await gateway(api(f'<script language="{language}"><![CDATA[{source}]]></script><respond/>'))
    client.config  # noqa: B018 - deployed
    for mediator in _scripts(client):
        mediator.limits = type(mediator.limits)(timeout=0.5, memory=mediator.limits.memory)
    response = await post_json(client, "/s", {})  # without the stop, this would never answer
    assert response.status == 500
    body = await response.json()
    assert body["message"] == f"The script engine returned an error executing the inlined {language} script"
    assert "was stopped" in body["detail"]
    # the engine recovers: the next message runs the script again (and is stopped again)
    response = await post_json(client, "/s", {})
    assert response.status == 500


async def test_a_script_past_its_memory_limit_faults(gateway):
    client = await gateway(
        api(
            '<script language="js"><![CDATA[var a = []; while (true) { a.push(new Array(100000).fill(7)); }]]>'
            "</script><respond/>"
        )
    )
    for mediator in _scripts(client):
        mediator.limits = type(mediator.limits)(timeout=10, memory=32 * 1024 * 1024)
    response = await post_json(client, "/s", {})
    assert response.status == 500
    assert "MB" in (await response.json())["detail"]


@pytest.mark.parametrize(
    ("source", "blocked"),
    [
        ("import os\nos.system('true')", "import is not allowed"),
        ("open('/etc/passwd').read()", "NameError"),
        ("().__class__.__base__.__subclasses__()", "__subclasses__' is not allowed"),
        ("g = (x for x in [1])\ng.gi_frame.f_back", "attribute 'f_back' is not allowed"),
        ("json.loads.__globals__", "attribute '__globals__' is not allowed"),
    ],
)
async def test_python_scripts_are_sandboxed(gateway, source, blocked):
    files = api('<script language="py" key="s" function="mediate"/><respond/>')
    body = source.replace("\n", "\n    ")
    files["local-entries/s.xml"] = entry("s", f"def mediate(mc):\n    {body}\n")
    client = await gateway(files)
    response = await post_json(client, "/s", {})
    assert response.status == 500
    assert blocked in (await response.json())["detail"]


async def test_javascript_has_no_file_or_network_access(gateway):
    client = await gateway(
        api(
            """<script language="js"><![CDATA[
            var found = [typeof require, typeof fetch, typeof XMLHttpRequest, typeof process, typeof java];
            mc.setPayloadJSON({found: found});
            ]]></script><respond/>"""
        )
    )
    response = await post_json(client, "/s", {})
    assert await response.json() == {"found": ["undefined"] * 5}


def _scripts(client):
    from gateway.mediators.script import Script

    found = []

    def walk(obj, seen):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, Script):
            found.append(obj)
        for name in getattr(type(obj), "__slots__", ()) or ():
            walk_value(getattr(obj, name, None), seen)
        if hasattr(obj, "__dict__"):
            for value in vars(obj).values():
                walk_value(value, seen)

    def walk_value(value, seen):
        if isinstance(value, (list, tuple)):
            for item in value:
                walk_value(item, seen)
        elif isinstance(value, dict):
            for item in value.values():
                walk_value(item, seen)
        elif hasattr(value, "__slots__") or hasattr(value, "__dict__"):
            if type(value).__module__.startswith("gateway"):
                walk(value, seen)

    for api_ in client.config.apis.values():
        walk(api_, set())
    assert found, "no script mediator found"
    return found


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ('<script language="rb">puts 1</script>', "the script language 'rb' is not supported (Ruby)"),
        ('<script language="js">var x = ;</script>', "the inline js script does not compile"),
        ('<script language="js" function="f">x</script>', "Cannot use 'function' attribute without 'key'"),
        ('<script language="py">import os</script>', "import is not allowed"),
        ("<script>x</script>", "The 'language' attribute is required"),
    ],
)
def test_deploy_errors(tmp_path, script, reason):
    path = tmp_path / "sequences" / "s.xml"
    path.parent.mkdir(parents=True)
    path.write_text(f'<sequence {SYNAPSE} name="s">{script}</sequence>', encoding="utf-8")
    result = build_file(path, None, None, None, {})
    problems = [str(problem) for problem in result.problems]
    assert any(reason in p for p in problems), problems


def test_e4x_outside_the_rewritten_subset_gets_a_hint(tmp_path):
    path = tmp_path / "sequences" / "s.xml"
    path.parent.mkdir(parents=True)
    path.write_text(
        f'<sequence {SYNAPSE} name="s">'
        '<script language="js">var s = mc.getPayloadXML()..item.(@id == 1);</script></sequence>',
        encoding="utf-8",
    )
    problems = build_file(path, None, None, None, {}).problems
    assert len(problems) == 1 and isinstance(problems[0], DeployError)
    assert "E4X" in str(problems[0]), problems


async def test_a_dynamic_key_picks_the_script_per_message(gateway):
    client = await gateway(
        api(
            '<script language="js" key="{$trp:X-Script}" function="run"/><respond/>',
            extra={
                "local-entries/one.xml": entry("one", "function run(mc) { mc.setPayloadJSON({script: 1}); }"),
                "registry/governance/scripts/two.js": "function run(mc) { mc.setPayloadJSON({script: 2}); }",
            },
        )
    )
    for _ in range(2):
        response = await post_json(client, "/s", {}, **{"X-Script": "one"})
        assert await response.json() == {"script": 1}
        response = await post_json(client, "/s", {}, **{"X-Script": "gov:/scripts/two.js"})
        assert await response.json() == {"script": 2}
    response = await post_json(client, "/s", {}, **{"X-Script": "three"})
    assert response.status == 500
    body = await response.json()
    assert (
        body["message"]
        == "The script engine returned an Exception executing the external js script : {$trp:X-Script} function run"
    )
    assert "no local entry or registry resource is named 'three'" in body["detail"]


async def test_the_message_type_stays_as_the_client_sent_it(gateway):
    """MI's setPayloadJSON/setPayloadXML change the payload, not messageType: the reply keeps the client's format."""
    client = await gateway(
        {
            **api('<script language="js">mc.setPayloadJSON({a: 1, b: "x"});</script><respond/>', name="J"),
            **api(
                '<script language="js"><![CDATA[mc.setPayloadXML("<out><v>2</v></out>");]]></script><respond/>',
                name="X",
            ),
        }
    )
    response = await client.post("/j", data="<in><v>1</v></in>", headers={"Content-Type": "application/xml"})
    assert response.headers["Content-Type"].startswith("application/xml")
    assert await response.text() == "<jsonObject><a>1</a><b>x</b></jsonObject>"
    response = await client.post("/x", data='{"a": 1}', headers={"Content-Type": "application/json"})
    assert response.headers["Content-Type"].startswith("application/json")
    assert await response.json() == {"out": {"v": 2}}


async def test_json_text_and_json_object_helpers(gateway):
    """MI's own integration scripts (ScriptMediatorJsHandlingNullJsonObject, …): setJsonText / getJsonText /
    setJsonObject / jsonObject (W: GraalVMJavaScriptMessageContext)."""
    source = """
        var doctor = mc.getPayloadJSON();
        mc.setJsonText(mc, JSON.stringify({name: doctor.name}));
        var text = mc.getJsonText();
        mc.setJsonObject(mc, JSON.parse(text));
        var kept = mc.jsonObject(mc);
        mc.setProperty("json", kept);
        mc.setPayloadJSON({fromObject: mc.getProperty("json").name, text: text, refused: mc.setJsonText(null, "x")});
    """
    client = await gateway(api(f'<script language="js"><![CDATA[{source}]]></script><respond/>'))
    response = await post_json(client, "/s", {"name": "Ada", "age": 36})
    assert await response.json() == {"fromObject": "Ada", "text": '{"name":"Ada"}', "refused": False}


LAZY_V8_PROBE = r"""
import sys, threading
import gateway.cli, gateway.mediators.script  # every mediator is registered; no script is deployed yet
assert "py_mini_racer" not in sys.modules, "V8 was loaded before any script needed it"
from gateway.mediators import script_engines

out = {}
def deploy():  # a redeploy runs in a worker thread, which then ends
    out["bad"] = script_engines.check_javascript("return 1 +", as_function_body=True)
    out["good"] = script_engines.check_javascript("mc.setProperty('x', 'y');", as_function_body=True)
thread = threading.Thread(target=deploy)
thread.start()
thread.join()
assert "py_mini_racer" in sys.modules
program = script_engines.JavaScriptProgram("t", "mc.setProperty('x', 'y');", (), None)
state = {"props": {"default": {}, "axis2": {}, "transport": {}, "operation": {}}, "to": None, "messageId": "m",
         "soapAction": "", "response": False, "pox": False, "get": False, "fault": False}
def run():  # an isolate made on another thread after the deploying thread ended
    out["run"] = program.run_blocking(state, 5.0, 64 * 1024 * 1024)
runner = threading.Thread(target=run)
runner.start()
runner.join()
import json, os
print(repr(out["bad"] is not None), out["good"], json.dumps(out["run"]), flush=True)
os._exit(0)  # a live V8 isolate can hang the interpreter's own shutdown (before this change too)
"""


def test_v8_is_loaded_only_when_a_script_needs_it_and_survives_its_loading_thread():
    """A gateway without JavaScript never loads V8 (~40 MB, ~0.2 s per worker); loaded by a redeploy in a
    worker thread that then ends, it still runs scripts afterwards (V8 stays bound to a live thread)."""
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", LAZY_V8_PROBE], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    bad_found, good, answer = result.stdout.strip().split(" ", 2)
    assert bad_found == "True" and good == "None"
    changes = json.loads(answer)
    assert "error" not in changes and '"x"' in json.dumps(changes["changes"]), answer
