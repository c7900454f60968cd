"""`<messageStore>` and `<messageProcessor>` artifacts (W: config/xml/MessageStoreFactory,
MessageProcessorFactory), read from message-stores/ and message-processors/ with MI's class names and
parameters, and turned into the specs the runtime runs (gateway/runtime/stores.py, processors.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.database import parse_jdbc_url
from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node
from gateway.deploy.registry import Reference
from gateway.errors import ExpressionError
from gateway.expressions import Value, compile_value
from gateway.runtime.processors import MessageProcessorSpec, Pacing
from gateway.runtime.stores import MessageStoreSpec
from gateway.runtime.tasks import quartz_to_croniter

_P = "org.apache.synapse.message."
IN_MEMORY = _P + "store.impl.memory.InMemoryStore"
JDBC = _P + "store.impl.jdbc.JDBCMessageStore"
RABBITMQ = _P + "store.impl.rabbitmq.RabbitMQStore"
_JMS = (_P + "store.impl.jms.JmsStore", "org.wso2.carbon.message.store.persistence.jms.JMSMessageStore")
RESEQUENCE = _P + "store.impl.resequencer.ResequenceMessageStore"
FORWARDING = (
    _P + "processor.impl.forwarder.ScheduledMessageForwardingProcessor",
    "org.apache.synapse.message.processors.forward.ScheduledMessageForwardingProcessor",  # W: deprecated name
)
SAMPLING = (
    _P + "processor.impl.sampler.SamplingProcessor",
    "org.apache.synapse.message.processors.sampler.SamplingProcessor",
)
FAILOVER = (_P + "processor.impl.failover.FailoverScheduledMessageForwardingProcessor",)
_NOT_YET_PROCESSORS = {
    "org.apache.synapse.message.processors.resequence.ResequencingProcessor": "the resequencing processor",
}

PARAMETER = Element(
    "parameter",
    "One of the artifact's parameters (MI's names: store.rabbitmq.*, store.jdbc.*, interval, …).",
    attributes=(
        Attribute("name", Kind.NAME, "The parameter's name.", required=True),
        Attribute(
            "expression",
            Kind.EXPRESSION,
            "An XPath or json-eval(…) read from each message (store.resequence.id.path of a resequencing store).",
        ),
    ),
    body=Body.TEXT,
    text=Attribute("#text", Kind.TEXT, "The parameter's value."),
    common=False,
)


def _parameters(node: Node) -> tuple[tuple[str, str], ...]:
    return tuple(
        (p["name"], (p["#text"] or "").strip() if p["expression"] is None else p.element.get("expression", ""))
        for p in node.all("parameter")
    )


def _expressions(node: Node) -> dict[str, Any]:
    found = {p["name"]: p["expression"] for p in node.all("parameter") if p["expression"] is not None}
    for name in found:
        if name != "store.resequence.id.path":
            raise node.error(f"parameter {name} takes a value, not an expression", "give its value as text")
    return found


def _store_root(node: Node) -> str:
    """Where embedded stores keep their file: beside the artifact folders."""
    return str(Path(node.fctx.path).resolve().parent.parent / ".gateway" / "message-stores.sqlite3")


def _message_store(node: Node) -> MessageStoreSpec:
    name = node["name"]
    mi_class = (node["class"] or IN_MEMORY).strip()
    parameters = _parameters(node)
    values = dict(parameters)
    expressions = _expressions(node)
    if expressions and mi_class != RESEQUENCE and mi_class not in _JMS:
        raise node.error("only a resequencing store reads an expression (store.resequence.id.path)")
    if mi_class == IN_MEMORY:
        return MessageStoreSpec(name, "memory", mi_class, parameters)
    if mi_class == RABBITMQ:
        return MessageStoreSpec(name, "rabbitmq", mi_class, parameters)
    if mi_class == RESEQUENCE:
        return _jdbc_store(node, name, mi_class, parameters, values, expressions)
    if mi_class == JDBC:
        return _jdbc_store(node, name, mi_class, parameters, values, expressions)
    if mi_class in _JMS:
        raise node.error(
            "JMS message stores are not supported: there is no JMS client for Python",
            f'use the RabbitMQ store: class="{RABBITMQ}" with store.rabbitmq.host.name, .host.port, '
            ".queue.name, .username and .password (docs/operations.md, message stores)",
        )
    raise node.error(
        f"unknown message store class '{mi_class}'",
        f"use {IN_MEMORY} (or no class), {JDBC}, {RESEQUENCE} or {RABBITMQ}",
    )


def _jdbc_store(
    node: Node,
    name: str,
    mi_class: str,
    parameters: tuple[tuple[str, str], ...],
    values: dict[str, str],
    expressions: dict[str, Any],
) -> MessageStoreSpec:
    """JDBCMessageStore, and ResequenceMessageStore (a JDBC store with a sequence number per message)."""
    resequence: dict[str, Any] = {}
    if mi_class == RESEQUENCE:
        path = expressions.get("store.resequence.id.path")
        if path is None:
            raise node.error(
                "a resequencing store needs store.resequence.id.path, an expression giving each message's number",
                '<parameter name="store.resequence.id.path" expression="//seq"/> (or json-eval($.seq))',
            )
        text = values.get("store.resequence.timeout", "")
        try:
            timeout = int(text)
        except ValueError:
            raise node.error(
                f"store.resequence.timeout must be whole seconds, not '{text}'",
                "how long to wait for a missing number before going on (-1: for ever)",
            ) from None
        resequence = {"sequence_path": path, "gap_timeout": float(timeout)}
    default_table = "JDBC_MESSAGE_STORE" if mi_class == JDBC else "RESEQUENCE_MESSAGE_STORE"
    backend = "sqlite" if mi_class == JDBC else "resequence"
    table = values.get("store.jdbc.table", default_table)
    if not table.replace("_", "").isalnum():
        raise node.error(f"store.jdbc.table '{table}' is not a plain SQL identifier", "use letters, digits and _")
    if "store.jdbc.dsName" in values:
        raise node.error(
            "JDBC message stores on a datasource (store.jdbc.dsName) are not supported yet",
            "give store.jdbc.connection.url (jdbc:sqlite:FILE or jdbc:postgresql://host/db) instead",
        )
    url = values.get("store.jdbc.connection.url", "")
    if url.startswith("jdbc:sqlite:"):
        path = url[len("jdbc:sqlite:") :]
        where = Path(path) if Path(path).is_absolute() else Path(node.fctx.path).resolve().parent.parent / path
        return MessageStoreSpec(name, backend, mi_class, parameters, path=str(where), table=table, **resequence)
    if url.startswith(("jdbc:h2:", "jdbc:derby:")) or url == "":
        # MI's embedded databases: the embedded SQLite file stands in for them.
        return MessageStoreSpec(name, backend, mi_class, parameters, path=_store_root(node), table=table, **resequence)
    if url.startswith(("jdbc:postgresql:", "jdbc:mysql:", "jdbc:mariadb:")):
        try:  # checked now; the store connects on first use
            source = parse_jdbc_url(url)
        except ValueError as exc:
            raise node.error(f"store.jdbc.connection.url: {exc}") from None
        kind = source.dialect if mi_class == JDBC else "resequence"
        return MessageStoreSpec(name, kind, mi_class, parameters, table=table, **resequence)
    raise node.error(
        f"the JDBC URL '{url}' is not supported for message stores",
        "use jdbc:sqlite:FILE (embedded), jdbc:postgresql://host:port/database or jdbc:mysql://host:port/database",
    )


MESSAGE_STORE = Element(
    "messageStore",
    "A message store: in memory (no class), JDBC (SQLite embedded, PostgreSQL, MySQL), resequencing (JDBC) or "
    "RabbitMQ.",
    anchor="W: MessageStoreFactory; message/store/impl/*",
    build=_message_store,
    common=False,
    children=(Child(PARAMETER, repeatable=True),),
    attributes=(
        Attribute("name", Kind.NAME, "The store's name (the store mediator's messageStore).", required=True),
        Attribute("class", Kind.TEXT, "MI's store class; none means the in-memory store."),
        Attribute("description", Kind.TEXT, "Free text for tools; no effect."),
    ),
)


def _millis(node: Node, values: dict[str, str], name: str, default: int) -> float:
    text = values.get(name, "")
    if not text:
        return default / 1000
    try:
        millis = int(text)
    except ValueError:
        raise node.error(f"parameter {name} must be whole milliseconds, not '{text}'") from None
    if millis < 0:
        raise node.error(f"parameter {name} must not be negative")
    return millis / 1000


def _factor(node: Node, values: dict[str, str]) -> float:
    text = values.get("client.retry.progression.factor", "")
    try:
        factor = float(text) if text else 1.0
    except ValueError:
        raise node.error(f"client.retry.progression.factor must be a number, not '{text}'") from None
    if factor < 1:
        raise node.error("client.retry.progression.factor must be 1 or more")
    return factor


def _integer(node: Node, values: dict[str, str], name: str, default: int) -> int:
    text = values.get(name, "")
    try:
        return int(text) if text else default
    except ValueError:
        raise node.error(f"parameter {name} must be a whole number, not '{text}'") from None


def _member_count(node: Node, values: dict[str, str]) -> int:
    """W: ScheduledMessageProcessor memberCount: how many consumers read the store (default 1)."""
    count = _integer(node, values, "member.count", 1)
    if count < 1:
        raise node.error(f"member.count must be 1 or more, not {count}", "leave it out for one consumer")
    return count


def _message_processor(node: Node) -> MessageProcessorSpec:
    name = node["name"]
    mi_class = (node["class"] or "").strip()
    parameters = _parameters(node)
    values = dict(parameters)
    if mi_class in _NOT_YET_PROCESSORS:
        raise node.error(
            f"{_NOT_YET_PROCESSORS[mi_class]} is not supported yet",
            f'store the messages in a resequencing store (class="{RESEQUENCE}") and read it with the scheduled '
            "forwarding processor",
        )
    for parameter in node.all("parameter"):
        if parameter["expression"] is not None and mi_class not in _NOT_YET_PROCESSORS:
            raise parameter.error(f"parameter {parameter['name']} takes a value, not an expression")
    if mi_class in FORWARDING:
        kind = "forwarding"
    elif mi_class in SAMPLING:
        kind = "sampling"
    elif mi_class in FAILOVER:
        kind = "failover"
    else:
        raise node.error(
            f"unknown message processor class '{mi_class}'", f"use {FORWARDING[0]}, {SAMPLING[0]} or {FAILOVER[0]}"
        )
    cron = None
    if values.get("cronExpression"):
        try:
            cron = quartz_to_croniter(values["cronExpression"])
        except ValueError as exc:
            raise node.error(f"cronExpression: {exc}", "e.g. 0/5 * * * * ? (every 5 seconds)") from None
    drain_pause = None
    if values.get("cron.expression") and values.get("throttle.interval"):
        drain_pause = _millis(node, values, "throttle.interval", 0)
    target_store = None
    if kind == "failover":
        target_store = values.get("message.target.store.name") or None
        if target_store is None:
            # MI deploys it and then removes every message it takes ("… not found in the message context, Hence
            # removing the message"): refused here instead.
            raise node.error(
                "a failover message processor needs message.target.store.name",
                '<parameter name="message.target.store.name">TargetStore</parameter>',
            )
        if target_store == node["messageStore"]:
            raise node.error("message.target.store.name is the processor's own store", "name another store")
    target = node["targetEndpoint"] or values.get("target.endpoint") or None
    # Without a target, each message names its own in the `target.endpoint` property (W: ForwardingService).
    sequence = values.get("sequence") or None
    if kind == "sampling" and sequence is None:
        raise node.error("a sampling processor needs a sequence", '<parameter name="sequence">SequenceName</parameter>')
    codes: frozenset[int] = frozenset()
    if values.get("non.retry.status.codes"):
        try:
            codes = frozenset(int(code) for code in values["non.retry.status.codes"].split(",") if code.strip())
        except ValueError:
            raise node.error("non.retry.status.codes must be status codes separated by commas") from None
    target_sequence = values.get("message.processor.target.sequence") or None
    if target_sequence is not None and kind != "forwarding":
        raise node.error("message.processor.target.sequence is for the forwarding processor")
    pacing = _pacing(node, values)
    if pacing is not None and (cron is not None or kind != "forwarding"):
        raise node.error("pacing.* is for a forwarding processor on an interval", "remove cronExpression or pacing.*")
    spec = MessageProcessorSpec(
        name=name,
        kind=kind,
        mi_class=mi_class,
        store=node["messageStore"],
        parameters=parameters,
        target_endpoint=target,
        interval=_millis(node, values, "interval", 1000),
        retry_interval=_millis(node, values, "client.retry.interval", 1000),
        retry_factor=_factor(node, values),
        max_attempts=_integer(node, values, "max.delivery.attempts", 4),
        drop_after_max=values.get("max.delivery.drop", "Disabled").lower() == "enabled",
        reply_sequence=values.get("message.processor.reply.sequence") or None,
        fault_sequence=values.get("message.processor.fault.sequence") or None,
        deactivate_sequence=values.get("message.processor.deactivate.sequence") or None,
        fail_store=(values.get("message.processor.failMessagesStore") or None) if kind == "forwarding" else None,
        non_retry_codes=codes,
        sequence=sequence,
        concurrency=_integer(node, values, "concurrency", 1),
        active=values.get("is.active", "true").lower() != "false",
        location=node.location,
        target_sequence=target_sequence,
        pacing=pacing,
        cron=cron,
        drain_pause=drain_pause,
        throttle=values.get("throttle", "true").lower() != "false",
        target_store=target_store,
        member_count=_member_count(node, values),
    )
    where = node.location
    if target is not None:
        node.fctx.references.append(Reference("endpoint", target, where, "messageProcessor", "call"))
    for key in (spec.reply_sequence, spec.fault_sequence, spec.deactivate_sequence, spec.sequence, target_sequence):
        if key is not None:
            node.fctx.references.append(Reference("sequence", key, where, "messageProcessor", "call"))
    return spec


def _pacing(node: Node, values: dict[str, str]) -> Pacing | None:
    """Extension: pacing.key, pacing.rate (units per second), pacing.units, pacing.redis, pacing.concurrency."""
    given = {name for name in values if name.startswith("pacing.")}
    if not given:
        return None
    unknown = given - {"pacing.key", "pacing.rate", "pacing.units", "pacing.redis", "pacing.concurrency"}
    if unknown:
        raise node.error(
            f"unknown pacing parameter '{sorted(unknown)[0]}'",
            "use pacing.key, pacing.rate, pacing.units, pacing.redis or pacing.concurrency",
        )
    for required in ("pacing.key", "pacing.rate"):
        if not values.get(required):
            raise node.error(f"pacing needs {required}", "see docs/operations.md, pacing")

    def value(name: str) -> Value:
        try:
            return compile_value(values[name])
        except ExpressionError as exc:
            raise node.error(f"parameter {name}: {exc}") from None

    rate = values["pacing.rate"]
    if not rate.startswith("{"):
        try:
            if float(rate) <= 0:
                raise ValueError
        except ValueError:
            raise node.error(f"pacing.rate must be a positive number or a {{expression}}, not '{rate}'") from None
    return Pacing(
        key=value("pacing.key"),
        units=value("pacing.units") if values.get("pacing.units") else None,
        rate=value("pacing.rate"),
        redis_url=values.get("pacing.redis") or None,
        concurrency=_integer(node, values, "pacing.concurrency", 16),
    )


MESSAGE_PROCESSOR = Element(
    "messageProcessor",
    "A message processor: forwards stored messages to an endpoint or another store, or samples them into a sequence.",
    anchor="W: MessageProcessorFactory; message/processor/impl/*",
    build=_message_processor,
    common=False,
    children=(Child(PARAMETER, repeatable=True),),
    attributes=(
        Attribute("name", Kind.NAME, "The processor's name.", required=True),
        Attribute("class", Kind.TEXT, "MI's processor class (forwarding, sampling or failover).", required=True),
        Attribute("messageStore", Kind.NAME, "The store it takes messages from.", required=True),
        Attribute("targetEndpoint", Kind.NAME, "Forwarding: the endpoint messages go to."),
        Attribute("description", Kind.TEXT, "Free text for tools; no effect."),
    ),
)
