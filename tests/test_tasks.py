"""Scheduled tasks (issue 15, item 6): MI's MessageInjector on a trigger, into a proxy, a sequence or main."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.deploy.loader import load
from gateway.runtime.tasks import quartz_to_croniter
from gateway.settings import Settings
from tests.conftest import write_artifacts
from tests.support.subprocess_gateway import free_port
from tests.support.waiting import until

INJECTOR = "org.apache.synapse.startup.tasks.MessageInjector"


def _task(trigger: str, properties: str, name: str = "Tick") -> str:
    return f"""
<task xmlns="http://ws.apache.org/ns/synapse" name="{name}" class="{INJECTOR}" group="synapse.simple.quartz">
  {trigger}
  {properties}
</task>"""


def _forwarding_proxy(url: str) -> str:
    return f"""
<proxy xmlns="http://ws.apache.org/ns/synapse" name="Quotes">
  <target>
    <inSequence>
      <property name="OUT_ONLY" value="true"/>
      <property name="seen.task" expression="get-property('TASK_NAME')"/>
      <header name="X-Task" scope="transport" expression="get-property('seen.task')"/>
      <call><endpoint><address uri="{url}"/></endpoint></call>
    </inSequence>
  </target>
</proxy>"""


async def test_a_counted_interval_task_injects_its_message_into_a_proxy(gateway: Any, backend: Any) -> None:
    server = await backend(lambda request, body: web.Response(status=200))
    await gateway(
        {
            "proxies/Quotes.xml": _forwarding_proxy(str(server.make_url("/quote"))),
            "tasks/Tick.xml": _task(
                '<trigger count="3" interval="0.05"/>',
                """<property name="format" value="soap11"/>
                   <property name="soapAction" value="urn:getQuote"/>
                   <property name="injectTo" value="proxy"/>
                   <property name="proxyName" value="Quotes"/>
                   <property name="message"><m:getQuote xmlns:m="http://services.samples"><m:symbol>IBM</m:symbol>
                   </m:getQuote></property>""",
            ),
        }
    )
    await until(lambda: len(server.requests) == 3)
    await asyncio.sleep(0.3)
    assert len(server.requests) == 3, "count=3 runs three times and stops"
    first = server.requests[0]
    assert first["headers"]["Content-Type"].startswith("text/xml")
    assert b"<m:symbol>IBM</m:symbol>" in first["body"] and b"Envelope" in first["body"]
    assert first["headers"]["SOAPAction"] == '"urn:getQuote"'
    assert first["headers"]["X-Task"] == "Tick"


async def test_a_task_injects_into_a_sequence_as_pox(gateway: Any, backend: Any) -> None:
    server = await backend(lambda request, body: web.Response(status=200))
    await gateway(
        {
            "sequences/Collect.xml": f"""
                <sequence xmlns="http://ws.apache.org/ns/synapse" name="Collect">
                  <property name="OUT_ONLY" value="true"/>
                  <call><endpoint><address uri="{server.make_url("/collect")}"/></endpoint></call>
                </sequence>""",
            "tasks/Once.xml": _task(
                '<trigger once="true"/>',
                """<property name="format" value="pox"/>
                   <property name="injectTo" value="sequence"/>
                   <property name="sequenceName" value="Collect"/>
                   <property name="message"><ping xmlns="">1</ping></property>""",
                name="Once",
            ),
        }
    )
    await until(lambda: len(server.requests) == 1)
    assert server.requests[0]["body"] == b"<ping>1</ping>"
    assert server.requests[0]["headers"]["Content-Type"].startswith("application/xml")


async def test_an_unknown_format_is_ignored_when_injecting_into_a_sequence(gateway: Any, backend: Any) -> None:
    """wso2/integration-samples DatabasePolling: format "text/xml" into a sequence. MI's MessageInjector only
    refuses another format on its proxy branch; into a sequence the message goes in as with no format."""
    server = await backend(lambda request, body: web.Response(status=200))
    await gateway(
        {
            "sequences/Collect.xml": f"""
                <sequence xmlns="http://ws.apache.org/ns/synapse" name="Collect">
                  <property name="OUT_ONLY" value="true"/>
                  <call><endpoint><address uri="{server.make_url("/collect")}"/></endpoint></call>
                </sequence>""",
            "tasks/Sync.xml": _task(
                '<trigger count="1" interval="60"/>',
                """<property name="injectTo" value="sequence"/>
                   <property name="sequenceName" value="Collect"/>
                   <property name="message"><init xmlns=""/></property>
                   <property name="format" value="text/xml"/>""",
                name="Sync",
            ),
        }
    )
    await until(lambda: len(server.requests) == 1)
    assert b"<init/>" in server.requests[0]["body"]
    assert b"Envelope" in server.requests[0]["body"], "as with no format: the default SOAP 1.1 envelope"


async def test_a_task_without_a_message_deploys_and_each_run_logs_mis_error(gateway: Any, caplog: Any) -> None:
    """MI's management-api tests deploy AbcScheduledTask (a trigger, no properties): MessageInjector checks the
    message on each run, so the task is deployed and listed, and every run logs "message or registry-key not set"."""
    import logging

    with caplog.at_level(logging.ERROR, logger="gateway.runtime.tasks"):
        client = await gateway({"tasks/AbcScheduledTask.xml": _task('<trigger once="true"/>', "", "AbcScheduledTask")})
        assert "AbcScheduledTask" in client.config.tasks
        await until(lambda: any("message or registry-key not set" in r.getMessage() for r in caplog.records))
    [error] = [r.getMessage() for r in caplog.records if "registry-key" in r.getMessage()]
    assert error == "task AbcScheduledTask: message or registry-key not set"


def test_quartz_cron_expressions_are_read_with_quartz_field_order() -> None:
    assert quartz_to_croniter("0/5 * * * * ?") == "* * * * * 0/5"
    assert quartz_to_croniter("0 30 9 ? * 2-6") == "30 9 * * 1-5 0", "Quartz weekdays count from Sunday=1"


def test_task_deploy_errors_name_the_fix(tmp_path: Path) -> None:
    root = write_artifacts(
        tmp_path,
        {
            "tasks/Java.xml": _task('<trigger interval="1"/>', "", name="Java").replace(INJECTOR, "com.acme.MyTask"),
            "tasks/NoProxy.xml": _task(
                '<trigger interval="1"/>',
                '<property name="injectTo" value="proxy"/><property name="message"><a xmlns=""/></property>',
                name="NoProxy",
            ),
            "tasks/BadFormat.xml": _task(
                '<trigger interval="1"/>',
                """<property name="injectTo" value="proxy"/><property name="proxyName" value="P"/>
                   <property name="format" value="text/xml"/><property name="message"><a xmlns=""/></property>""",
                name="BadFormat",
            ),
            "tasks/BadCron.xml": _task(
                '<trigger cron="every day"/>', '<property name="message"><a xmlns=""/></property>', name="BadCron"
            ),
        },
    )
    config = load(root, settings=Settings(artifacts=root))
    problems = " | ".join(str(p) for p in config.failed)
    assert "Java task classes do not run here" in problems and INJECTOR in problems
    assert "Proxy service name not specified (add the proxyName property)" in problems
    assert "6 or 7 fields" in problems
    assert "incorrect format specified: 'text/xml'" in problems, "the proxy branch refuses another format"
    assert "Java.xml:1: task:" in problems and "BadCron.xml:2: trigger:" in problems, "file:line of each"


async def test_with_two_workers_a_task_runs_in_one_of_them(serve: Any, backend: Any) -> None:
    """MI runs a task on one node: with --workers 2 the first worker (`worker 1` in the log) runs it, so a task
    counted 3 times injects 3 messages, not 6 (and not none: the workers are numbered from 1)."""
    server = await backend(lambda request, body: web.Response(status=200))
    files = {
        "proxies/Quotes.xml": _forwarding_proxy(str(server.make_url("/quote"))),
        "tasks/Tick.xml": _task(
            '<trigger count="3" interval="0.2"/>',
            """<property name="format" value="pox"/>
               <property name="injectTo" value="proxy"/>
               <property name="proxyName" value="Quotes"/>
               <property name="message"><tick xmlns=""/></property>""",
        ),
    }
    gw = serve(free_port(), 2, files=files)
    await until(lambda: len(gw.latest_pids()) == 2, 60, "two workers to start")
    pids = set(gw.latest_pids().values())
    await until(lambda: pids <= gw.listening_pids(), 60, "the workers to listen")
    await until(lambda: len(server.requests) == 3, 30, "three runs")
    await asyncio.sleep(1.0)  # the other worker would have run it by now too
    assert len(server.requests) == 3
