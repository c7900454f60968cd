"""Split and join: `iterate`, `clone`, `aggregate` and `foreach` (W: mediators/eip/splitter/{IterateMediator,
CloneMediator}, eip/aggregator/{AggregateMediator,Aggregate}, eip/Target, builtin/ForEachMediator, EIPUtils).

A split copies the message once per part (iterate) or per target (clone) and runs each copy through its
target: concurrently on the event loop, at most MAX_PARALLEL at a time, unless `sequential`. The copies carry
MI's correlation properties (`aggregateCorelation[.id]`, the parent's message id, and `messageSequence[.id]`,
"n/total"), which the aggregate reads to gather the copies, or their replies, back into one message:

- a target that `send`s: the replies come back through the outSequence (or the send's receive sequence),
  where the aggregate waits (Apache sample 400);
- a target whose inline sequence `call`s: the copy goes on after the split mediator in the enclosing list,
  and after the containers around it (W: the reliant continuation state; MediatorList.mediate_rest), so an
  aggregate placed after the iterate gathers them.

The branches run beside the parent's flow (`Exchange.spawn`); the transport waits for them, or for the
reply, before it answers (`Exchange.settle`). An aggregate's state lives in the deployed mediator, keyed
by the correlation, as in MI, and is dropped when its message's exchange ends."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.errors import MediationError
from gateway.expressions import JsonPath
from gateway.mediators.base import Mediator, MediatorList
from gateway.mediators.enrich import JsonPathRef
from gateway.mediators.flow import Send
from gateway.mediators.sequence import SequenceRef
from gateway.mediators.transform import dump_json, json_document, set_envelope, set_json_payload
from gateway.message import kinds, soap
from gateway.message.payload import Payload
from gateway.message.values import JsonValue

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Expression, Value
    from gateway.message.context import MessageContext
    from gateway.runtime.endpoints import Endpoint

log = logging.getLogger("gateway.mediator.eip")

AGGREGATE_CORRELATION = "aggregateCorelation"  # W: EIPConstants (MI's spelling)
MESSAGE_SEQUENCE = "messageSequence"
SHARED_DATA_HOLDER = "EIP_SHARED_DATA_HOLDER"
MAX_PARALLEL = 32  # branches of one split that run at once (bounded fan-out)
MAX_GATHERED = 10_000  # messages one aggregation holds at most: it completes then (MI has no bound)
JSON_CONTENT_TYPE = "application/json; charset=UTF-8"


def _named(name: str, split_id: str | None) -> str:
    return f"{name}.{split_id}" if split_id else name


class SharedData:
    """W: SharedDataHolder: shared by the copies of one split; set when their aggregate has completed, so a
    late reply is dropped instead of starting a new aggregation."""

    __slots__ = ("completed",)

    def __init__(self) -> None:
        self.completed = False

    def __str__(self) -> str:
        return f"SharedDataHolder(completed={self.completed})"


# -- targets --------------------------------------------------------------------------------------------
class Target:
    """`<target [sequence] [endpoint] [soapAction] [to]>` with an inline `<sequence>` or `<endpoint>`
    (W: eip/Target, TargetFactory): the sequence runs first; a target with only an endpoint sends to it."""

    __slots__ = ("sequence", "sequence_key", "endpoint", "soap_action", "to", "location", "_send", "_ref")

    def __init__(
        self,
        *,
        sequence: Mediator | None,
        sequence_key: Value | None,
        endpoint: Endpoint | None,
        soap_action: str | None,
        to: str | None,
        location: SourceLocation,
    ) -> None:
        self.sequence = sequence
        self.sequence_key = sequence_key
        self.endpoint = endpoint
        self.soap_action = soap_action
        self.to = to
        self.location = location
        self._send = Send(endpoint, None, location) if endpoint is not None else None
        self._ref = SequenceRef(sequence_key, location) if sequence_key is not None else None

    async def run(self, ctx: MessageContext, rest: MediatorList | None, sequential: bool) -> bool:
        """One copy through the target. `sequential`: in the parent's flow, its faults are the parent's (W:
        synchronous Target.mediate); otherwise a fault goes to the copy's own fault handlers."""
        if self.soap_action is not None:
            ctx.soap_action = self.soap_action
            if "SOAPAction" in ctx.transport_headers:  # the client's header would otherwise go out as it was
                ctx.transport_headers["SOAPAction"] = f'"{self.soap_action}"'
        if self.to is not None:
            ctx.to = self.to
        engine = ctx.exchange.services.engine
        inline = self.sequence is not None
        step: Mediator | None = self.sequence if self.sequence is not None else self._ref or self._send
        if step is None:
            return True
        ctx.paused = False
        proceed = await (step.mediate(ctx) if sequential else engine.mediate_branch(ctx, step))
        # W: only an inline sequence keeps the reliant continuation state, and only a paused flow (a call)
        # resumes through it: the copy then goes on after the split mediator.
        if proceed and ctx.paused and inline and rest is not None and rest.children:
            return await rest.mediate(ctx) if sequential else await engine.mediate_branch(ctx, rest)
        return proceed


class _Split(Mediator):
    """What iterate and clone share: the copies' correlation properties and how the targets run."""

    __slots__ = ("split_id", "continue_parent", "sequential")

    @property
    def continues(self) -> bool:
        return True

    def __init__(
        self, split_id: str | None, continue_parent: bool, sequential: bool, location: SourceLocation | None
    ) -> None:
        super().__init__(location)
        self.split_id = split_id
        self.continue_parent = continue_parent
        self.sequential = sequential

    async def mediate(self, ctx: MessageContext) -> bool:
        return await self.mediate_rest(ctx, None)

    def _mark(self, parent: MessageContext, child: MessageContext, number: int, count: int) -> None:
        sequence = f"{number}/{count}"
        child.properties[AGGREGATE_CORRELATION] = parent.message_id  # W: MessageHelper.cloneMessageContext
        if self.split_id:
            child.properties[f"{AGGREGATE_CORRELATION}.{self.split_id}"] = parent.message_id
            child.properties[f"{MESSAGE_SEQUENCE}.{self.split_id}"] = sequence
        else:
            child.properties[MESSAGE_SEQUENCE] = sequence

    async def _dispatch(
        self,
        ctx: MessageContext,
        count: int,
        make: Callable[[int], tuple[Target, MessageContext]],
        rest: MediatorList | None,
    ) -> None:
        """Run the `count` copies (`make(n)` builds the n-th). Concurrently, at most MAX_PARALLEL at a time: the
        first ones are built here (a problem building them is the parent's fault, as in MI), the others as
        running ones end, so a split of many parts never holds more than MAX_PARALLEL copies being sent."""
        if self.sequential:
            for number in range(count):
                target, child = make(number)
                await target.run(child, rest, True)
            return
        first = [make(number) for number in range(min(count, MAX_PARALLEL))]
        if count <= MAX_PARALLEL:
            for target, child in first:
                ctx.exchange.spawn(target.run(child, rest, False))
            return
        ctx.exchange.spawn(self._feed(ctx, first, count, make, rest))

    @staticmethod
    async def _feed(
        ctx: MessageContext,
        first: list[tuple[Target, MessageContext]],
        count: int,
        make: Callable[[int], tuple[Target, MessageContext]],
        rest: MediatorList | None,
    ) -> None:
        running: set[asyncio.Task[object]] = set()
        for number in range(count):
            while len(running) >= MAX_PARALLEL:
                _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            target, child = first[number] if number < len(first) else make(number)
            running.add(ctx.exchange.spawn(target.run(child, rest, False)))


# -- iterate --------------------------------------------------------------------------------------------
class Iterate(_Split):
    """`<iterate expression [attachPath] [preservePayload] [continueParent] [sequential] [id]>` (W:
    IterateMediator): one copy per match of the expression, XML elements or the items of a JSON array."""

    __slots__ = ("expression", "attach_path", "preserve_payload", "target", "_json_path", "_json_attach")
    tag = "iterate"

    def __init__(
        self,
        *,
        expression: Expression,
        attach_path: Expression | None,
        preserve_payload: bool,
        target: Target,
        split_id: str | None,
        continue_parent: bool,
        sequential: bool,
        location: SourceLocation | None,
    ) -> None:
        super().__init__(split_id, continue_parent, sequential, location)
        self.expression = expression
        self.attach_path = attach_path
        self.preserve_payload = preserve_payload
        self.target = target
        self._json_path: JsonPath | None = None
        self._json_attach: JsonPathRef | None = None
        if expression.kind == "json":
            self._json_path = JsonPath(getattr(expression, "path", "$"))
            self._json_attach = JsonPathRef(getattr(attach_path, "path", "$") if attach_path is not None else "$")

    @property
    def reads_body(self) -> bool:
        return True

    async def mediate_rest(self, ctx: MessageContext, rest: MediatorList | None) -> bool:
        ctx.properties[_named(SHARED_DATA_HOLDER, self.split_id)] = SharedData()
        if self._json_path is not None:
            count, payload_of = await self._split_json(ctx)
        else:
            await ctx.build()
            count, payload_of = self._split_xml(ctx)

        def make(number: int) -> tuple[Target, MessageContext]:
            payload, part = payload_of(number)
            child = ctx.split_copy(payload)
            self._mark(ctx, child, number, count)
            if part is not None and self.preserve_payload:
                self._attach(child, part)
            return self.target, child

        await self._dispatch(ctx, count, make, rest)
        return self.continue_parent

    def _split_xml(self, ctx: MessageContext) -> tuple[int, Callable[[int], tuple[Payload, etree._Element | None]]]:
        """The matched elements are detached from a copy of the envelope; the n-th copy gets the n-th of them, in
        that envelope at attachPath (preservePayload, attached by make) or alone in an otherwise empty body."""
        envelope = ctx.envelope
        found = self.expression.evaluate(ctx)
        matches = found if isinstance(found, list) else [found] if found is not None else []
        elements = []
        for match in matches:
            if not isinstance(match, etree._Element):
                raise MediationError(
                    f"Error splitting message with XPath : {self.expression.source} - result not an OMNode",
                    detail=f"iterate at {self.location}: the expression must select elements",
                )
            elements.append(match)
        # Matches in the message are found again in its copy and detached there; a match from elsewhere (a
        # property holding XML, say) is copied as it is.
        paths = [_position(element, envelope) for element in elements]
        base = copy.deepcopy(envelope)
        parts = [
            _follow(base, path) if path is not None else copy.deepcopy(element)
            for path, element in zip(paths, elements, strict=True)
        ]
        for part in parts:
            parent = part.getparent()
            if parent is not None:
                parent.remove(part)
            part.tail = None
        if not self.preserve_payload:
            body = soap.body_of(base)
            for child in list(body):
                body.remove(child)
            body.text = None
        content_type = ctx.payload.content_type if ctx.payload.kind in kinds.XML_KINDS else kinds.APPLICATION_XML

        def payload_of(number: int) -> tuple[Payload, etree._Element | None]:
            fresh = copy.deepcopy(base)
            part = parts[number]
            if not self.preserve_payload:
                soap.body_of(fresh).append(copy.deepcopy(part))
            payload = Payload(content_type)
            payload.replace_envelope(fresh)
            return payload, part

        return len(parts), payload_of

    def _attach(self, child: MessageContext, part: etree._Element) -> None:
        assert self.attach_path is not None
        found = self.attach_path.evaluate(child)
        anchor = found[0] if isinstance(found, list) and found else found
        if isinstance(anchor, etree._Element) and _position(anchor, child.envelope) is None:
            # an attachPath held by a template parameter was evaluated on the caller's message
            top = anchor
            while (above := top.getparent()) is not None:
                top = above
            where = _position(anchor, top)
            try:
                anchor = _follow(child.envelope, where) if where else None
            except IndexError:
                anchor = None
        if not isinstance(anchor, etree._Element):
            raise MediationError(
                "Error in attaching the splitted elements :: Unable to get the attach path specified by the "
                f"expression {self.attach_path.source}",
                detail=f"iterate at {self.location}",
            )
        anchor.append(copy.deepcopy(part))
        child.payload.mark_modified()

    async def _split_json(
        self, ctx: MessageContext
    ) -> tuple[int, Callable[[int], tuple[Payload, etree._Element | None]]]:
        assert self._json_path is not None and self._json_attach is not None
        document = await json_document(ctx)
        selected = self._json_path.select(document)
        if not isinstance(selected, list):
            raise MediationError(
                f"JSON element expressed by the path {self.expression.source} is not a valid JSON array that "
                "can be iterated",
                detail=f"iterate at {self.location}",
            )
        items: list[Any] = selected
        root: Any = None
        if self.preserve_payload:
            root = copy.deepcopy(document)
            if self._json_path.text != self._json_attach.text:
                root = JsonPathRef(self._json_path.text).set(root, [])
        attach = self._json_attach

        def payload_of(number: int) -> tuple[Payload, etree._Element | None]:
            value = items[number]
            if self.preserve_payload:
                value = attach.set(copy.deepcopy(root), value)
            return Payload(JSON_CONTENT_TYPE, dump_json(value)), None

        return len(items), payload_of


def _position(element: etree._Element, root: etree._Element) -> list[int] | None:
    """Where an element sits under `root`: its index under each ancestor, from the root down; None when it is
    not in that tree."""
    path = []
    parent = element.getparent()
    while parent is not None:
        path.append(parent.index(element))
        element, parent = parent, parent.getparent()
    if element is not root:
        return None
    path.reverse()
    return path


def _follow(root: etree._Element, path: list[int]) -> etree._Element:
    """The element at `path` (see _position) in a copy of the tree; IndexError when it is not there."""
    element = root
    for index in path:
        element = element[index]
    return element


# -- clone ----------------------------------------------------------------------------------------------
def copy_payload(payload: Payload) -> Payload:
    """An independent copy of a payload already read: its bytes, or its (changed) envelope."""
    if payload.modified and payload.is_built:
        fresh = Payload(payload.content_type or kinds.APPLICATION_XML)
        fresh.replace_envelope(copy.deepcopy(payload.envelope))
        return fresh
    if payload.modified and payload.kind == kinds.JSON:
        return Payload(JSON_CONTENT_TYPE, dump_json(payload.json_value()))
    return Payload(payload.content_type, payload.raw)


class Clone(_Split):
    """`<clone [id] [sequential] [continueParent] [iterations]>` with `<target>`s (W: CloneMediator): a whole
    copy of the message per target (or `iterations` copies for its one target)."""

    __slots__ = ("targets", "iterations")
    tag = "clone"

    def __init__(
        self,
        *,
        targets: tuple[Target, ...],
        iterations: Value | None,
        split_id: str | None,
        continue_parent: bool,
        sequential: bool,
        location: SourceLocation | None,
    ) -> None:
        super().__init__(split_id, continue_parent, sequential, location)
        self.targets = targets
        self.iterations = iterations

    async def mediate_rest(self, ctx: MessageContext, rest: MediatorList | None) -> bool:
        ctx.properties[_named(SHARED_DATA_HOLDER, self.split_id)] = SharedData()
        targets = self.targets
        if self.iterations is not None and targets:
            text = self.iterations.resolve(ctx) or ""
            try:
                times = int(text.strip())
            except ValueError:
                raise MediationError(
                    f"Invalid value for the iterations attribute of the clone mediator: {text}",
                    detail=f"clone at {self.location}",
                ) from None
            targets = (targets[0],) * max(times, 0)
        count = len(targets)
        await ctx.payload.read()

        def make(number: int) -> tuple[Target, MessageContext]:
            child = ctx.split_copy(copy_payload(ctx.payload))
            self._mark(ctx, child, number, count)
            return targets[number], child

        await self._dispatch(ctx, count, make, rest)
        return self.continue_parent


# -- aggregate ------------------------------------------------------------------------------------------
class MessageCount:
    """A completion count: the aggregate's `<messageCount min max>`, scatter-gather's `min-messages`/`max-messages`
    (W: Double.parseDouble(value).intValue()); -1 when absent. A static number is read once, at deploy time; an
    expression (or a static text that is no number: MI fails each message on it) is read per message."""

    __slots__ = ("value", "static", "mediator", "detail")

    def __init__(self, value: Value | None, mediator: str, detail: str) -> None:
        self.value = value
        self.mediator = mediator
        self.detail = detail
        self.static: int | None = -1 if value is None else None
        if value is not None and not value.is_dynamic:
            try:
                self.static = int(float((value.static_text or "").strip()))
            except ValueError:
                pass

    def read(self, ctx: MessageContext) -> int:
        if self.static is not None:
            return self.static
        assert self.value is not None
        text = self.value.resolve(ctx) or ""
        try:
            return int(float(text.strip()))
        except ValueError:
            raise MediationError(
                f"Invalid message count for the {self.mediator} mediator: '{text}'", detail=self.detail
            ) from None


class Aggregation:
    """The messages gathered under one correlation (W: eip/aggregator/Aggregate)."""

    __slots__ = ("key", "messages", "minimum", "maximum", "expires", "completed", "timer", "rest")

    def __init__(self, key: str, minimum: int, maximum: int, timeout: float, rest: MediatorList | None) -> None:
        self.key = key
        self.messages: list[MessageContext] = []
        self.minimum = minimum
        self.maximum = maximum
        self.expires = time.monotonic() + timeout if timeout > 0 else 0.0
        self.completed = False
        self.timer: asyncio.Task[object] | None = None
        self.rest = rest

    def add(self, ctx: MessageContext) -> bool:
        if self.maximum <= 0 or len(self.messages) < self.maximum:
            self.messages.append(ctx)
            return True
        return False

    def is_complete(self, split_id: str | None) -> bool:
        if self.completed:
            return False
        count = len(self.messages)
        if self.messages:
            sequence = self.messages[0].properties.get(_named(MESSAGE_SEQUENCE, split_id))
            if isinstance(sequence, str) and "/" in sequence:
                try:
                    if count >= int(sequence.split("/")[1]):
                        return True
                except ValueError:
                    pass
        if self.minimum > 0 and count >= self.minimum:
            return True
        if self.maximum > 0 and count >= self.maximum:
            return True
        if count >= MAX_GATHERED:
            log.warning("an aggregation reached %d messages and completes with them (the bound)", count)
            return True
        return bool(self.expires and time.monotonic() >= self.expires)


class Aggregate(Mediator):
    """`<aggregate [id]>` with `<correlateOn expression>`, `<completeCondition timeout><messageCount min max>`
    and `<onComplete expression [sequence] [aggregateElementType] [enclosingElementProperty]>` (W:
    AggregateMediator): the messages of one correlation are merged when all the split's parts (or min / max
    of them) have arrived or the timeout fires, and onComplete runs on the merged message; every other
    message stops here."""

    __slots__ = (
        "split_id",
        "correlate",
        "timeout",
        "minimum",
        "maximum",
        "expression",
        "element_type",
        "enclosing_property",
        "on_complete",
        "on_complete_key",
        "_json_path",
        "_active",
    )
    tag = "aggregate"

    @property
    def continues(self) -> bool:
        return True

    def __init__(
        self,
        *,
        split_id: str | None,
        correlate: Expression | None,
        timeout: float,
        minimum: Value | None,
        maximum: Value | None,
        expression: Expression,
        element_type: Value | None,
        enclosing_property: str | None,
        on_complete: MediatorList | None,
        on_complete_key: Value | None,
        location: SourceLocation | None,
    ) -> None:
        super().__init__(location)
        self.split_id = split_id
        self.correlate = correlate
        self.timeout = timeout
        detail = f"aggregate at {location}: messageCount min/max must be numbers"
        self.minimum = MessageCount(minimum, "aggregate", detail)
        self.maximum = MessageCount(maximum, "aggregate", detail)
        self.expression = expression
        self.element_type = element_type
        self.enclosing_property = enclosing_property
        self.on_complete = on_complete
        self.on_complete_key = on_complete_key
        self._json_path = JsonPath(getattr(expression, "path", "$")) if expression.kind == "json" else None
        self._active: dict[str, Aggregation] = {}  # the open aggregations, by correlation (W: activeAggregates)

    @property
    def reads_body(self) -> bool:
        return True

    async def mediate(self, ctx: MessageContext) -> bool:
        return await self.mediate_rest(ctx, None)

    def _completed_already(self, ctx: MessageContext) -> bool:
        holder = ctx.properties.get(_named(SHARED_DATA_HOLDER, self.split_id))
        return isinstance(holder, SharedData) and holder.completed

    async def mediate_rest(self, ctx: MessageContext, rest: MediatorList | None) -> bool:
        key: str | None = None
        if self.correlate is not None:
            result = self.correlate.evaluate(ctx)
            if isinstance(result, list) and not result:
                raise MediationError(f"Failed to evaluate correlate expression: {self.correlate.source}")
            if result is False:
                return True  # W: a false correlation lets the message pass on
            if result is not None:
                key = self.correlate.source
        if key is None:
            correlation = ctx.properties.get(_named(AGGREGATE_CORRELATION, self.split_id))
            if not isinstance(correlation, str):
                return True  # not part of a split: the message goes on (W:)
            key = correlation
        aggregation = self._active.get(key)
        if aggregation is None:
            if self._completed_already(ctx):
                log.debug("a message reached the aggregate at %s after its aggregation completed", self.location)
                return False
            aggregation = Aggregation(key, self.minimum.read(ctx), self.maximum.read(ctx), self.timeout, rest)
            self._active[key] = aggregation
            if self.timeout > 0:
                aggregation.timer = ctx.exchange.spawn(self._expire(aggregation))
            if self.correlate is None:  # one message's split: nothing can arrive once its exchange is over
                ctx.exchange.closing_tasks.append(lambda: self._forget(aggregation))
        await ctx.payload.read()  # held until the aggregation completes: its connection is not kept open
        if self._json_path is None:
            await ctx.build()
        aggregation.add(ctx)
        if aggregation.is_complete(self.split_id):
            return await self._complete(aggregation)
        return False

    def _forget(self, aggregation: Aggregation) -> None:
        if not aggregation.completed:
            log.warning(
                "the aggregate at %s gave up an aggregation with %d message(s): the exchange ended first",
                self.location,
                len(aggregation.messages),
            )
            aggregation.completed = True
            self._mark_completed(aggregation)
        if aggregation.timer is not None:
            aggregation.timer.cancel()
        if self._active.get(aggregation.key) is aggregation:
            del self._active[aggregation.key]

    def _mark_completed(self, aggregation: Aggregation) -> None:
        for message in aggregation.messages:
            holder = message.properties.get(_named(SHARED_DATA_HOLDER, self.split_id))
            if isinstance(holder, SharedData):
                holder.completed = True

    async def _expire(self, aggregation: Aggregation) -> None:
        await asyncio.sleep(self.timeout)
        aggregation.timer = None  # this task: not to be cancelled by its own completion
        await self._complete(aggregation)

    async def _complete(self, aggregation: Aggregation) -> bool:
        """W: completeAggregate: merge, then onComplete (and what follows the aggregate) on the merged message.
        The message that completed the aggregation stops here: the merged one goes on in its place."""
        if aggregation.completed:
            return False
        aggregation.completed = True
        if aggregation.timer is not None:
            aggregation.timer.cancel()
            aggregation.timer = None
        self._mark_completed(aggregation)
        if self._active.get(aggregation.key) is aggregation:
            del self._active[aggregation.key]
        if not aggregation.messages:
            log.warning(
                "An aggregation of messages timed out with no aggregated messages (aggregate at %s)", self.location
            )
            return False
        first = aggregation.messages[0]
        merged = await self._merged(aggregation)
        engine = first.exchange.services.engine
        sequence: Mediator | None = self.on_complete
        if sequence is None and self.on_complete_key is not None:
            sequence = SequenceRef(self.on_complete_key, self.location)
        if sequence is None:
            raise MediationError(
                "Unable to find the sequence for the mediation of the aggregated message",
                detail=f"aggregate at {self.location}: add an <onComplete> to the aggregate",
            )
        proceed = await engine.mediate_branch(merged, sequence)
        if proceed and aggregation.rest is not None and aggregation.rest.children:
            await engine.mediate_branch(merged, aggregation.rest)
        return False

    # -- merging (W: getAggregatedMessage, EIPUtils.enrichEnvelope) --
    async def _merged(self, aggregation: Aggregation) -> MessageContext:
        first = aggregation.messages[0]
        element_type = self.element_type.resolve(first) if self.element_type is not None else None
        if self._json_path is not None:
            return await self._merged_json(aggregation, element_type)
        # The gathered messages end here: their trees are reused and their matches moved, not copied (W: the
        # first message is cloned and Axiom's addChild moves the others' elements).
        envelope = first.envelope
        payload = Payload(
            first.payload.content_type if first.payload.kind in kinds.XML_KINDS else kinds.APPLICATION_XML
        )
        payload.replace_envelope(envelope)
        merged = self._successor(aggregation, payload)
        body = soap.body_of(envelope)
        own = [node for node in self.expression.nodes(merged) if isinstance(node, etree._Element)]
        if own:
            parent = own[0].getparent()
            if parent is not None and parent is not body:
                outer = parent
                for node in own:
                    body.append(node)
                above = outer.getparent()
                while above is not None and above is not body:
                    outer, above = above, above.getparent()
                if above is body:
                    body.remove(outer)
        for message in aggregation.messages[1:]:
            found = [node for node in self.expression.nodes(message) if isinstance(node, etree._Element)]
            if not found:
                raise MediationError(
                    "Could not find matching elements to aggregate.",
                    detail=f"aggregate at {self.location}: {self.expression.source} matched nothing in a message",
                )
            for node in found:
                if node.getparent() is None:
                    raise MediationError("Could not add SOAPEnvelope as child element.")
                node.tail = None
                body.append(node)
        if self.enclosing_property is not None:
            enclosing = merged.properties.get(self.enclosing_property)
            if enclosing is None:
                raise MediationError(f"Enclosing Element property: {self.enclosing_property} not found ")
            if not isinstance(enclosing, etree._Element):
                raise MediationError(
                    f"Enclosing Element defined in the property: {self.enclosing_property} is not an OMElement "
                )
            wrapper = copy.deepcopy(enclosing)
            for child in list(body):
                if isinstance(child.tag, str):
                    wrapper.append(child)
            body.append(wrapper)
        payload.mark_modified()
        return merged

    async def _merged_json(self, aggregation: Aggregation, element_type: str | None) -> MessageContext:
        assert self._json_path is not None
        items: list[Any] = []
        merged_object: dict[str, Any] = {}
        for message in aggregation.messages:
            document = await json_document(message)
            matches = (
                [match.obj for match in self._json_path.matches(document)] if not self._json_path.root else [document]
            )
            if element_type == "child":
                for value in matches:
                    if not isinstance(value, dict):
                        raise MediationError(
                            f"Error merging aggregation results using JSONPath : {self.expression.source}",
                            detail="aggregateElementType child merges JSON objects only",
                        )
                    _merge_into_array(merged_object, value)
            elif not matches:
                items.append(None)
            else:
                items.append(matches[0] if len(matches) == 1 else matches)
        result: Any = merged_object if element_type == "child" else items
        first = aggregation.messages[0]
        if self.enclosing_property is not None:
            enclosing = first.properties.get(self.enclosing_property)
            if enclosing is None:
                raise MediationError(f"Enclosing Element property: {self.enclosing_property} not found ")
            if not isinstance(enclosing, etree._Element):
                raise MediationError(
                    f"Enclosing Element defined in the property: {self.enclosing_property} is not an OMElement "
                )
            result = {etree.QName(enclosing).localname: result}
        return self._successor(aggregation, Payload(JSON_CONTENT_TYPE, dump_json(result)))

    @staticmethod
    def _successor(aggregation: Aggregation, payload: Payload) -> MessageContext:
        """The merged message: a copy of the first one (W:), answering through the exchange of the last one (the
        client still waiting when a correlateOn aggregation spans several requests; the same exchange
        otherwise)."""
        first, last = aggregation.messages[0], aggregation.messages[-1]
        merged = first.split_copy(payload)
        merged.message_id = first.message_id
        merged.exchange = last.exchange
        return merged


def _merge_into_array(target: dict[str, Any], source: dict[str, Any]) -> None:
    """W: JSONMergeUtils.extendJSONObject with MERGE_INTO_ARRAY: a key present in both becomes an array."""
    for key, value in source.items():
        if key not in target:
            target[key] = copy.deepcopy(value)
            continue
        existing = target[key]
        if not isinstance(existing, list):
            existing = target[key] = [existing]
        existing.extend(copy.deepcopy(value) if isinstance(value, list) else [copy.deepcopy(value)])


# -- foreach --------------------------------------------------------------------------------------------
FOREACH_ORIGINAL_MESSAGE = "FOREACH_ORIGINAL_MESSAGE"
FOREACH_COUNTER = "FOREACH_COUNTER"


class ForEach(Mediator):
    """`<foreach expression [sequence] [id] [continueLoopOnFailure]>` (W: builtin/ForEachMediator): the
    sequence runs on each matched element (or JSON array item) in turn, in this message's own context, and
    the results replace the matches; the flow then goes on."""

    __slots__ = ("expression", "sequence", "sequence_key", "foreach_id", "continue_on_failure", "_json_path")
    tag = "foreach"

    def __init__(
        self,
        *,
        expression: Expression,
        sequence: MediatorList | None,
        sequence_key: Value | None,
        foreach_id: str | None,
        continue_on_failure: bool,
        location: SourceLocation | None,
    ) -> None:
        super().__init__(location)
        self.expression = expression
        self.sequence: Mediator | None = sequence
        if sequence is None and sequence_key is not None:
            self.sequence = SequenceRef(sequence_key, location)
        self.sequence_key = sequence_key
        self.foreach_id = foreach_id
        self.continue_on_failure = continue_on_failure
        self._json_path = JsonPath(getattr(expression, "path", "$")) if expression.kind == "json" else None

    @property
    def reads_body(self) -> bool:
        return True

    async def _run(self, ctx: MessageContext) -> bool:
        if self.sequence is None:
            raise MediationError("Couldn't find sequence information", detail=f"foreach at {self.location}")
        if not self.continue_on_failure:
            return await self.sequence.mediate(ctx)
        try:
            return await self.sequence.mediate(ctx)
        except Exception as exc:  # noqa: BLE001 - W: continueLoopOnFailure logs and goes on
            log.warning("foreach at %s: an iteration failed (%s); continuing with the remaining", self.location, exc)
            raise _Skipped from exc

    async def mediate(self, ctx: MessageContext) -> bool:
        prefix = f"{self.foreach_id}_" if self.foreach_id else ""
        counter_name = prefix + FOREACH_COUNTER
        counter = 0
        if self._json_path is not None:
            document = await json_document(ctx)
            ctx.properties[prefix + FOREACH_ORIGINAL_MESSAGE] = JsonValue(copy.deepcopy(document))
            ctx.properties[counter_name] = counter
            items = self._json_path.select(document)
            if not isinstance(items, list):
                raise MediationError(
                    f"JSON element expressed by the path {self.expression.source} is not a valid JSON array",
                    detail=f"foreach at {self.location}",
                )
            if not items:
                return True
            results: list[Any] = []
            for item in items:
                set_json_payload(ctx, dump_json(item))
                try:
                    proceed = await self._run(ctx)
                except _Skipped:
                    continue
                results.append(await json_document(ctx))
                counter += 1
                ctx.properties[counter_name] = counter
                if not proceed and not self.continue_on_failure:
                    break
            final = results if self._json_path.root else JsonPathRef(self._json_path.text).set(document, results)
            set_json_payload(ctx, dump_json(final))
            return True
        processing = await ctx.build()
        ctx.properties[prefix + FOREACH_ORIGINAL_MESSAGE] = copy.deepcopy(processing)
        ctx.properties[counter_name] = counter
        found = self.expression.evaluate(ctx)
        matches = [node for node in (found if isinstance(found, list) else [found]) if node is not None]
        if not matches:
            return True
        for match in matches:
            if not isinstance(match, etree._Element):
                raise MediationError(
                    f"Error splitting message with XPath : {self.expression.source} - result not an OMNode",
                    detail=f"foreach at {self.location}",
                )
        parent = matches[0].getparent()
        if parent is None:
            raise MediationError("Error detecting parent element to merge", detail=f"foreach at {self.location}")
        for match in matches:
            owner = match.getparent()
            if owner is not None:
                tail = match.tail
                owner.remove(match)
                match.tail = tail
        version = soap.envelope_version(processing)
        for match in matches:
            match.tail = None
            set_envelope(ctx, soap.wrap(match, version))
            try:
                proceed = await self._run(ctx)
            except _Skipped:
                proceed = True
            else:
                result = soap.first_body_element(ctx.envelope)
                if result is not None:
                    parent.append(result)
                counter += 1
                ctx.properties[counter_name] = counter
            if not proceed and not self.continue_on_failure:
                break
        set_envelope(ctx, processing)
        ctx.payload.mark_modified()
        return True


class _Skipped(Exception):
    """continueLoopOnFailure: this iteration failed and is left out."""
