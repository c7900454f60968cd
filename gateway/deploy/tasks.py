"""`<task>` artifacts from tasks/ (W: config/xml/StartupFinder, startup/quartz/SimpleQuartzFactory,
startup/tasks/MessageInjector): MI's message-injector task with its trigger and properties."""

from __future__ import annotations

import copy
import logging

from lxml import etree

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node
from gateway.message import soap
from gateway.runtime.tasks import FORMATS, TaskSpec, quartz_to_croniter
from gateway.xmlutil import is_description, parse_xml_text

log = logging.getLogger(__name__)

MESSAGE_INJECTOR = "org.apache.synapse.startup.tasks.MessageInjector"
_PROPERTIES = {
    "message",
    "to",
    "format",
    "soapAction",
    "injectTo",
    "proxyName",
    "sequenceName",
    "registryKey",
    "invokeHandlers",
    "sequential",
}


def _task(node: Node) -> TaskSpec:
    name = node["name"]
    mi_class = (node["class"] or "").strip()
    if mi_class != MESSAGE_INJECTOR:
        raise node.error(
            f"task class '{mi_class}' is not supported: Java task classes do not run here",
            f"use {MESSAGE_INJECTOR} (inject a message into a proxy, a sequence or main)",
        )
    values: dict[str, str] = {}
    message: etree._Element | None = None
    for prop in node.all("property"):
        key = prop["name"]
        if key not in _PROPERTIES:
            raise node.error(
                f"unknown MessageInjector property '{key}'", f"use one of: {', '.join(sorted(_PROPERTIES))}"
            )
        inline = [child for child in prop.others if not is_description(child)]
        if inline:
            if key != "message":
                raise node.error(f"property '{key}' takes a value, not XML")
            message = copy.deepcopy(inline[0])
            etree.cleanup_namespaces(message)  # no xmlns="" left over from the artifact's default namespace
        elif prop["value"] is not None:
            values[key] = prop["value"]
    if "registryKey" in values:
        raise node.error("registryKey messages are not supported yet", "put the message inline in the message property")
    if message is None and "message" not in values:
        # W: MessageInjector.execute checks it on each run: MI deploys the task (its management API lists it)
        # and every run logs the error
        log.warning(
            "%s: task '%s': message or registry-key not set: every run will fail (add <property name=\"message\">"
            "<yourPayload/></property>)",
            node.location,
            name,
        )
    elif message is None:
        text = values["message"]
        try:
            message = parse_xml_text(text)
        except etree.XMLSyntaxError as exc:
            raise node.error(f"the message property is not XML: {exc}") from None
    inject_to = values.get("injectTo", "main").lower()
    fmt = values.get("format", "soap11").lower()
    if fmt not in FORMATS:
        if inject_to == "proxy":  # W: MessageInjector.execute: only the proxy branch refuses another format
            raise node.error(f"incorrect format specified: '{fmt}'", "use soap11, soap12, pox or get")
        # W: MessageInjector.execute, sequence / main: no branch matches, so the payload goes in as with no format
        log.warning(
            "%s: task '%s': format '%s' is not soap11, soap12, pox or get; MI ignores it when injecting into a "
            "sequence or main, and so does this gateway (the message goes in as with no format)",
            node.location,
            name,
            values["format"],
        )
        fmt = "soap11"
    content_type, version = FORMATS[fmt]
    body: bytes | None = None
    if message is not None and version is not None:
        body = etree.tostring(soap.wrap(message, version), encoding="UTF-8")
    elif message is not None:
        body = etree.tostring(message, encoding="UTF-8")
    if inject_to not in ("proxy", "sequence", "main"):
        raise node.error(f"injectTo '{inject_to}' is not proxy, sequence or main")
    target = values.get("proxyName") if inject_to == "proxy" else values.get("sequenceName")
    if inject_to != "main" and not target:
        what = "Proxy service" if inject_to == "proxy" else "Sequence"
        raise node.error(
            f"{what} name not specified", f"add the {'proxyName' if inject_to == 'proxy' else 'sequenceName'} property"
        )
    trigger = node.one("trigger")
    if trigger is None:
        raise node.error(
            "a task needs a <trigger>", '<trigger interval="5"/> (seconds), count="N", once="true" or cron="…"'
        )
    cron = None
    interval: float | None = None
    count = -1
    if trigger["cron"]:
        try:
            cron = quartz_to_croniter(trigger["cron"])
        except ValueError as exc:
            raise trigger.error(str(exc)) from None
    elif trigger["once"]:
        count, interval = 1, 0.0
    else:
        if trigger["interval"] is None:
            raise trigger.error("a trigger needs interval, cron or once")
        interval = float(trigger["interval"])
        count = trigger["count"] if trigger["count"] is not None else -1
    return TaskSpec(
        name=name,
        message=body,
        content_type=content_type,
        method="GET" if fmt == "get" else "POST",
        to=values.get("to"),
        soap_action=values.get("soapAction"),
        inject_to=inject_to,
        target=target,
        interval=interval,
        count=count,
        cron=cron,
        location=node.location,
    )


TASK = Element(
    "task",
    "A scheduled task: MI's MessageInjector, run on a trigger.",
    anchor="W: StartupFinder, SimpleQuartzFactory, MessageInjector",
    build=_task,
    common=False,
    children=(
        Child(
            Element(
                "trigger",
                "When the task runs: every interval seconds (count times, or for ever), once, or on a cron.",
                common=False,
                attributes=(
                    Attribute("interval", Kind.NUMBER, "Seconds between runs.", minimum=0),
                    Attribute("count", Kind.INTEGER, "How many runs (-1 or none: for ever)."),
                    Attribute("once", Kind.BOOLEAN, "Run once."),
                    Attribute("cron", Kind.TEXT, "A Quartz cron expression (seconds minutes hours day month weekday)."),
                ),
            )
        ),
        Child(
            Element(
                "property",
                "A MessageInjector property: message (inline XML), to, format, soapAction, injectTo, proxyName, "
                "sequenceName.",
                body=Body.ANY,
                common=False,
                attributes=(
                    Attribute("name", Kind.NAME, "The property.", required=True),
                    Attribute("value", Kind.TEXT, "Its value (or inline XML for message)."),
                ),
            ),
            repeatable=True,
        ),
    ),
    attributes=(
        Attribute("name", Kind.NAME, "The task's name.", required=True),
        Attribute("class", Kind.TEXT, "MI's task class (MessageInjector).", required=True),
        Attribute("group", Kind.TEXT, "Accepted for compatibility (MI's task group)."),
        Attribute("pinnedServers", Kind.TEXT, "Accepted for compatibility: tasks run in one process here."),
        Attribute("description", Kind.TEXT, "Free text for tools; no effect."),
    ),
)
