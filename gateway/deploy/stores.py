"""`<messageStore>` and `<messageProcessor>` artifacts (W: config/xml/MessageStoreFactory,
MessageProcessorFactory), read from message-stores/ and message-processors/ with MI's class names and
parameters, and turned into the specs the runtime runs (gateway/runtime/stores.py, processors.py)."""

from __future__ import annotations

from pathlib import Path

from gateway.database import parse_jdbc_url
from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node
from gateway.deploy.registry import Reference
from gateway.errors import ExpressionError
from gateway.expressions import Value, compile_value
from gateway.runtime.processors import MessageProcessorSpec, Pacing
from gateway.runtime.stores import MessageStoreSpec

_P = "org.apache.synapse.message."
IN_MEMORY = _P + "store.impl.memory.InMemoryStore"
JDBC = _P + "store.impl.jdbc.JDBCMessageStore"
RABBITMQ = _P + "store.impl.rabbitmq.RabbitMQStore"
_JMS = (_P + "store.impl.jms.JmsStore", "org.wso2.carbon.message.store.persistence.jms.JMSMessageStore")
_RESEQUENCE = _P + "store.impl.resequencer.ResequenceMessageStore"
FORWARDING = (
    _P + "processor.impl.forwarder.ScheduledMessageForwardingProcessor",
    "org.apache.synapse.message.processors.forward.ScheduledMessageForwardingProcessor",  # W: deprecated name
)
SAMPLING = (
    _P + "processor.impl.sampler.SamplingProcessor",
    "org.apache.synapse.message.processors.sampler.SamplingProcessor",
)
_NOT_YET_PROCESSORS = {
    _P + "processor.impl.failover.FailoverScheduledMessageForwardingProcessor": "the failover forwarding processor",
    "org.apache.synapse.message.processors.resequence.ResequencingProcessor": "the resequencing processor",
}

PARAMETER = Element(
    "parameter",
    "One of the artifact's parameters (MI's names: store.rabbitmq.*, store.jdbc.*, interval, …).",
    attributes=(Attribute("name", Kind.NAME, "The parameter's name.", required=True),),
    body=Body.TEXT,
    text=Attribute("#text", Kind.TEXT, "The parameter's value."),
    common=False,
)


def _parameters(node: Node) -> tuple[tuple[str, str], ...]:
    return tuple((p["name"], (p["#text"] or "").strip()) for p in node.all("parameter"))


def _store_root(node: Node) -> str:
    """Where embedded stores keep their file: beside the artifact folders."""
    return str(Path(node.fctx.path).resolve().parent.parent / ".gateway" / "message-stores.sqlite3")


def _message_store(node: Node) -> MessageStoreSpec:
    name = node["name"]
    mi_class = (node["class"] or IN_MEMORY).strip()
    parameters = _parameters(node)
    values = dict(parameters)
    if mi_class == IN_MEMORY:
        return MessageStoreSpec(name, "memory", mi_class, parameters)
    if mi_class == RABBITMQ:
        return MessageStoreSpec(name, "rabbitmq", mi_class, parameters)
    if mi_class == JDBC:
        table = values.get("store.jdbc.table", "JDBC_MESSAGE_STORE")
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
            return MessageStoreSpec(name, "sqlite", mi_class, parameters, path=str(where), table=table)
        if url.startswith(("jdbc:h2:", "jdbc:derby:")) or url == "":
            # MI's embedded databases: the embedded SQLite file stands in for them.
            return MessageStoreSpec(name, "sqlite", mi_class, parameters, path=_store_root(node), table=table)
        if url.startswith(("jdbc:postgresql:", "jdbc:mysql:", "jdbc:mariadb:")):
            try:  # checked now; the store connects on first use
                source = parse_jdbc_url(url)
            except ValueError as exc:
                raise node.error(f"store.jdbc.connection.url: {exc}") from None
            return MessageStoreSpec(name, source.dialect, mi_class, parameters, table=table)
        raise node.error(
            f"the JDBC URL '{url}' is not supported for message stores",
            "use jdbc:sqlite:FILE (embedded), jdbc:postgresql://host:port/database or jdbc:mysql://host:port/database",
        )
    if mi_class in _JMS:
        raise node.error(
            "JMS message stores are not supported: there is no JMS client for Python",
            f'use the RabbitMQ store: class="{RABBITMQ}" with store.rabbitmq.host.name, .host.port, '
            ".queue.name, .username and .password (docs/operations.md, message stores)",
        )
    if mi_class == _RESEQUENCE:
        raise node.error("resequencing message stores are not supported yet", "use an in-memory or JDBC store")
    raise node.error(
        f"unknown message store class '{mi_class}'",
        f"use {IN_MEMORY} (or no class), {JDBC} or {RABBITMQ}",
    )


MESSAGE_STORE = Element(
    "messageStore",
    "A message store: in memory (no class), JDBC (SQLite embedded, or PostgreSQL) or RabbitMQ.",
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


def _message_processor(node: Node) -> MessageProcessorSpec:
    name = node["name"]
    mi_class = (node["class"] or "").strip()
    parameters = _parameters(node)
    values = dict(parameters)
    if mi_class in _NOT_YET_PROCESSORS:
        raise node.error(
            f"{_NOT_YET_PROCESSORS[mi_class]} is not supported yet",
            "use the scheduled forwarding processor or the sampling processor",
        )
    if "cronExpression" in values or "cron.expression" in values:
        raise node.error(
            "cron-scheduled message processors are not supported yet", "use the interval parameter (milliseconds)"
        )
    if mi_class in FORWARDING:
        kind = "forwarding"
    elif mi_class in SAMPLING:
        kind = "sampling"
    else:
        raise node.error(f"unknown message processor class '{mi_class}'", f"use {FORWARDING[0]} or {SAMPLING[0]}")
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
        fail_store=values.get("message.processor.failMessagesStore") or None,
        non_retry_codes=codes,
        sequence=sequence,
        concurrency=_integer(node, values, "concurrency", 1),
        active=values.get("is.active", "true").lower() != "false",
        location=node.location,
        target_sequence=target_sequence,
        pacing=pacing,
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
    "A message processor: forwards stored messages to an endpoint, or samples them into a sequence.",
    anchor="W: MessageProcessorFactory; message/processor/impl/*",
    build=_message_processor,
    common=False,
    children=(Child(PARAMETER, repeatable=True),),
    attributes=(
        Attribute("name", Kind.NAME, "The processor's name.", required=True),
        Attribute("class", Kind.TEXT, "MI's processor class (forwarding or sampling).", required=True),
        Attribute("messageStore", Kind.NAME, "The store it takes messages from.", required=True),
        Attribute("targetEndpoint", Kind.NAME, "Forwarding: the endpoint messages go to."),
        Attribute("description", Kind.TEXT, "Free text for tools; no effect."),
    ),
)
