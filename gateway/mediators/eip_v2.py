"""MI 4.4's blocking split and join: `scatter-gather` and the foreach with a `collection` (W: mediators/v2/
{ScatterGather,ForEachMediatorV2}).

Both copy the message once per branch (a `<sequence>` of scatter-gather, an item of foreach's collection), run
the copies through their sequence (concurrently, at most MAX_PARALLEL at a time, unless parallel-execution is
false), wait for them, and put the gathered result in the body or in a variable; the flow then goes on after
the mediator, in this same flow (W: the aggregation resumes the original continuation stack). The copies carry
MI's correlation properties (`aggregateCorelation.<id>`, `messageSequence.<id>` = "n/total"). A branch whose
flow stops (drop, respond, a fault, which its own copy of the fault handlers handles) brings nothing back."""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.errors import MediationError
from gateway.mediators.base import Mediator
from gateway.mediators.eip import AGGREGATE_CORRELATION, MAX_PARALLEL, MESSAGE_SEQUENCE, MessageCount, copy_payload
from gateway.mediators.enrich import JsonPathRef
from gateway.mediators.transform import dump_json, json_document, parse_fragment, set_message_type_automatically
from gateway.message import kinds, soap
from gateway.message.payload import Payload
from gateway.message.values import JsonValue

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Expression, Value
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.mediator.eip")

SCATTER_MESSAGES = "SCATTER_MESSAGES"  # W: SynapseConstants.SCATTER_MESSAGES
JSON_CONTENT_TYPE = "application/json"  # W: PassThroughConstants.JSON_CONTENT_TYPE
XML_CONTENT_TYPE = "application/xml"  # W: SynapseConstants.XML_CONTENT_TYPE

Make = Callable[[int], "MessageContext"]


class _Branches:
    """The copies of one blocking split, run through their sequences; `finished()` hands them back as they end.
    Concurrently: the first MAX_PARALLEL copies are made at once (a problem making them is the parent's fault,
    as in MI), the others as running ones end. Sequentially: one after the other, on demand."""

    __slots__ = ("ctx", "steps", "make", "parallel", "count", "_queue", "_next", "_running")

    def __init__(
        self, ctx: MessageContext, count: int, steps: Callable[[int], Mediator], make: Make, parallel: bool
    ) -> None:
        self.ctx = ctx
        self.steps = steps
        self.make = make
        self.parallel = parallel
        self.count = count
        self._queue: asyncio.Queue[tuple[int, MessageContext | None, bool]] = asyncio.Queue()
        self._next = 0
        self._running = 0

    def start(self) -> None:
        if not self.parallel:
            return
        first = [(number, self.make(number)) for number in range(min(self.count, MAX_PARALLEL))]
        self._next = len(first)
        for number, child in first:
            self._launch(number, child)

    def _launch(self, number: int, child: MessageContext | None) -> None:
        self._running += 1
        self.ctx.exchange.spawn(self._run(number, child))

    async def _run(self, number: int, child: MessageContext | None) -> None:
        proceed = False
        try:
            if child is None:
                child = self.make(number)
            proceed = await self.ctx.exchange.services.engine.mediate_branch(child, self.steps(number))
        finally:
            self._queue.put_nowait((number, child, proceed))
            self._running -= 1
            if self._next < self.count:  # the next copy starts as this one ends (bounded fan-out)
                self._next += 1
                self._launch(self._next - 1, None)

    async def finished(self, timeout: float | None) -> tuple[int, MessageContext | None, bool] | None:
        """The next branch to end (its number, its copy, whether its flow went on to the end); None when every
        branch has ended or `timeout` seconds passed first."""
        if not self.parallel:
            if self._next >= self.count:
                return None
            number = self._next
            self._next += 1
            child = self.make(number)
            proceed = await self.ctx.exchange.services.engine.mediate_branch(child, self.steps(number))
            return number, child, proceed
        if self._queue.empty() and self._running == 0 and self._next >= self.count:
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None


def _mark(parent: MessageContext, child: MessageContext, split_id: str, number: int, count: int) -> None:
    child.properties[SCATTER_MESSAGES] = True
    child.properties[f"{AGGREGATE_CORRELATION}.{split_id}"] = parent.message_id
    child.properties[f"{MESSAGE_SEQUENCE}.{split_id}"] = f"{number}/{count}"


def _new_id() -> str:
    """W: String.valueOf(new Random().nextLong()): each mediator has its own id for its correlation properties."""
    return str(int.from_bytes(os.urandom(8), "big", signed=True))


def _json_item(expression: Expression, ctx: MessageContext) -> Any:
    """What one message contributes to a JSON result: the expression's JSON value (W: a JsonElement is added as
    it is, anything else as its string). A json-eval path or an MI 4.4 `${…}` gives JSON values; XML it gives
    (and an XPath's result) counts by its string."""
    found = expression.evaluate(ctx)
    if isinstance(found, JsonValue):  # a JSON value held by a property or variable
        return found.value
    if isinstance(found, dict):
        return found
    if expression.kind == "xpath" or _holds_xml(found):
        return expression.string_value(ctx) or ""
    return found


def _holds_xml(value: Any) -> bool:
    if isinstance(value, list):
        return any(isinstance(item, (etree._Element, etree._ElementTree)) for item in value)
    return isinstance(value, (etree._Element, etree._ElementTree))


def _xml_items(expression: Expression, ctx: MessageContext) -> list[etree._Element]:
    """What one message contributes to an XML result: copies of the elements the expression selects, or its
    string value read as XML (W: AXIOMUtil.stringToOM(stringValueOf))."""
    found = expression.evaluate(ctx) if expression.kind != "json" else None
    if isinstance(found, etree._Element):
        found = [found]
    if isinstance(found, list) and found and all(isinstance(node, etree._Element) for node in found):
        return [copy.deepcopy(node) for node in found]
    text = (expression.string_value(ctx) or "").strip()
    parsed = parse_fragment(text) if text.startswith("<") else None
    elements = [node for node in parsed if isinstance(node.tag, str)] if parsed is not None else []
    if not elements:
        raise MediationError(
            f"Error reading XML element: {expression.source}",
            detail=f"the expression gave {text[:80]!r}, which is not XML",
        )
    return elements


def _tidy(root: etree._Element) -> etree._Element:
    """A result element made here: the `xmlns=""` its copied children no longer need is dropped (prefixed
    declarations stay: a QName in a value, xsi:type say, may use them)."""
    prefixes = {prefix for element in root.iter() for prefix in element.nsmap if prefix}
    etree.cleanup_namespaces(root, keep_ns_prefixes=sorted(prefixes))
    return root


def _body(ctx: MessageContext, element: etree._Element) -> None:
    """The result replaces the message: a new envelope of the same SOAP version with `element` in its body."""
    version = soap.envelope_version(ctx.envelope) if ctx.payload.is_built else kinds.SOAP11
    payload = Payload(XML_CONTENT_TYPE)
    payload.replace_envelope(soap.wrap(element, version))
    ctx.payload = payload


def _content_type(ctx: MessageContext, media: str) -> None:
    """W: ScatterGather.setContentType: messageType, ContentType and the Content-Type header; NO_ENTITY_BODY goes."""
    set_message_type_automatically(ctx, media)
    ctx.axis2.pop("NO_ENTITY_BODY", None)


# -- scatter-gather -------------------------------------------------------------------------------------
class ScatterGather(Mediator):
    """`<scatter-gather parallel-execution target target-variable result-content-type result-enclosing-element>`
    with `<aggregation expression condition timeout min-messages max-messages/>` and one `<sequence>` per branch
    (W: v2/ScatterGather): a copy of the message per sequence; the branches' results, in the order they end, as
    a JSON array or inside an XML element, in the body or a variable; the flow then goes on after it."""

    __slots__ = (
        "sequences",
        "parallel",
        "json_result",
        "enclosing",
        "variable",
        "expression",
        "condition",
        "timeout",
        "minimum",
        "maximum",
        "split_id",
    )
    tag = "scatter-gather"

    def __init__(
        self,
        *,
        sequences: tuple[Mediator, ...],
        parallel: bool,
        json_result: bool,
        enclosing: str | None,
        variable: str | None,
        expression: Expression,
        condition: Expression | None,
        timeout_ms: int,
        minimum: Value | None,
        maximum: Value | None,
        location: SourceLocation | None,
    ) -> None:
        super().__init__(location)
        self.sequences = sequences
        self.parallel = parallel
        self.json_result = json_result
        self.enclosing = enclosing
        self.variable = variable
        self.expression = expression
        self.condition = condition
        self.timeout = timeout_ms / 1000.0
        detail = f"scatter-gather at {location}: min-messages/max-messages must be numbers"
        self.minimum = MessageCount(minimum, "scatter-gather", detail)
        self.maximum = MessageCount(maximum, "scatter-gather", detail)
        self.split_id = _new_id()

    @property
    def reads_body(self) -> bool:
        return True

    def _accepted(self, child: MessageContext) -> bool:
        """W: aggregateMessages: with a condition, only a message for which it is "true" is gathered."""
        if self.condition is None:
            return True
        return (self.condition.string_value(child) or "").lower() == "true"

    async def mediate(self, ctx: MessageContext) -> bool:
        await ctx.payload.read()
        count = len(self.sequences)
        source = ctx.payload

        def make(number: int) -> MessageContext:
            child = ctx.split_copy(copy_payload(source))
            _mark(ctx, child, self.split_id, number, count)
            return child

        branches = _Branches(ctx, count, lambda number: self.sequences[number], make, self.parallel)
        branches.start()
        gathered: list[MessageContext] = []
        minimum = maximum = -1
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            wait = None if deadline is None else max(0.0, deadline - loop.time())
            ended = await branches.finished(wait)
            if ended is None:
                if deadline is not None and loop.time() >= deadline:
                    log.warning("Scatter Gather mediator timeout occurred (%s)", self.location)
                break
            _, child, proceed = ended
            if child is None or not proceed:
                continue
            await child.payload.read()
            if not self._accepted(child):
                continue
            if not gathered:  # W: the aggregate is made by the first message: min/max read there, the timer starts
                minimum, maximum = self.minimum.read(child), self.maximum.read(child)
                if self.timeout > 0:
                    deadline = loop.time() + self.timeout
            gathered.append(child)
            size = len(gathered)
            if size >= count or (0 < minimum <= size) or (0 < maximum <= size):
                break
            if deadline is not None and loop.time() >= deadline:
                break
        if not gathered:
            log.warning("An aggregation of messages timed out with no aggregated messages (%s)", self.location)
            return False
        return await self._complete(ctx, gathered)

    async def _complete(self, ctx: MessageContext, gathered: list[MessageContext]) -> bool:
        if self.variable is not None:  # the original message goes on, with the result in a variable
            ctx.variables[self.variable] = await self._result(gathered, as_variable=True)
            return True
        result = await self._result(gathered, as_variable=False)
        # W: the merged message is a copy of the last one gathered, with a new envelope
        last = gathered[-1]
        ctx.properties = dict(last.properties)
        ctx.variables = dict(last.variables)
        ctx.transport_headers = last.transport_headers.copy()
        if isinstance(result, etree._Element):
            _body(ctx, result)
            _content_type(ctx, XML_CONTENT_TYPE)
        else:
            ctx.payload = Payload(JSON_CONTENT_TYPE, dump_json(result))
            _content_type(ctx, JSON_CONTENT_TYPE)
        return True

    async def _result(self, gathered: list[MessageContext], *, as_variable: bool) -> Any:
        if self.json_result:
            items = []
            for message in gathered:
                if self.expression.kind == "json":
                    await json_document(message)  # a malformed body is this message's fault here, not later
                value = _json_item(self.expression, message)
                if as_variable and self.expression.kind == "xpath" and not isinstance(value, dict):
                    raise MediationError(
                        f"Aggregation expression {self.expression.source} did not return a valid JSON element"
                    )
                items.append(value)
            return JsonValue(items) if as_variable else items
        assert self.enclosing is not None
        root = etree.Element(self.enclosing)
        for message in gathered:
            if self.expression.kind == "xpath":
                await message.build()
            for element in _xml_items(self.expression, message):
                root.append(element)
        return _tidy(root)


# -- foreach (MI 4.3+) ----------------------------------------------------------------------------------
class ForEachV2(Mediator):
    """`<foreach collection parallel-execution update-original continue-without-aggregation counter-variable
    target-variable result-content-type result-enclosing-element>` with an inline `<sequence>` (W:
    v2/ForEachMediatorV2): each item of the collection (a JSON array, or the elements an XPath selects) runs
    the sequence in a message of its own; the results replace the items in the original message (or go to a
    variable); the flow then goes on."""

    __slots__ = (
        "collection",
        "sequence",
        "parallel",
        "update_original",
        "continue_without_aggregation",
        "counter",
        "variable",
        "json_result",
        "enclosing",
        "split_id",
        "_variable",
        "_path",
    )
    tag = "foreach"

    def __init__(
        self,
        *,
        collection: Expression,
        sequence: Mediator,
        parallel: bool,
        update_original: bool,
        continue_without_aggregation: bool,
        counter: str | None,
        variable: str | None,
        json_result: bool,
        enclosing: str | None,
        location: SourceLocation | None,
    ) -> None:
        super().__init__(location)
        self.collection = collection
        self.sequence = sequence
        self.parallel = parallel
        self.update_original = update_original
        self.continue_without_aggregation = continue_without_aggregation
        self.counter = counter
        self.variable = variable
        self.json_result = json_result
        self.enclosing = enclosing
        self.split_id = _new_id()
        self._variable, self._path = _write_back(collection)

    @property
    def reads_body(self) -> bool:
        return True

    async def mediate(self, ctx: MessageContext) -> bool:
        synapse_expression = self.collection.source.lstrip().startswith("${")  # MI 4.4: JSON or XML items
        if self.collection.kind == "json":
            await json_document(ctx)
        elif not synapse_expression:
            await ctx.build()
        found = self.collection.evaluate(ctx)
        items: list[Any] = found if isinstance(found, list) else []
        elements = all(isinstance(item, etree._Element) for item in items)
        if self.collection.kind == "xpath" and not synapse_expression and not elements:
            found = None  # text or attribute nodes: not a collection of elements
        if not isinstance(found, list):
            raise MediationError(
                f"Expression {self.collection.source} did not resolve to a valid array",
                detail=f"foreach at {self.location}",
            )
        if not items:
            log.info("No elements found for the expression : %s", self.collection.source)
            return True
        count = len(items)
        version = soap.envelope_version(ctx.envelope) if ctx.payload.is_built else kinds.SOAP11

        def make(number: int) -> MessageContext:
            item = items[number]
            if isinstance(item, etree._Element):
                payload = Payload(XML_CONTENT_TYPE)
                element = copy.deepcopy(item)
                element.tail = None
                payload.replace_envelope(soap.wrap(element, version))
            else:
                payload = Payload(JSON_CONTENT_TYPE, dump_json(item))
            child = ctx.split_copy(payload)
            _mark(ctx, child, self.split_id, number, count)
            if not self.parallel and self.counter is not None:
                child.variables[self.counter] = number
            return child

        branches = _Branches(ctx, count, lambda _: self.sequence, make, self.parallel)
        if self.continue_without_aggregation:
            if self.parallel:
                branches.start()
            else:
                while await branches.finished(None) is not None:
                    pass
            return True
        branches.start()
        results: dict[int, MessageContext] = {}
        while (ended := await branches.finished(None)) is not None:
            number, child, proceed = ended
            if child is not None and proceed:
                results[number] = child
        if self.update_original:
            await self._update(ctx, items, results)
        else:
            ctx.variables[self.variable or ""] = await self._gathered(count, results)
        return True

    async def _gathered(self, count: int, results: dict[int, MessageContext]) -> Any:
        if self.json_result:
            values = [await json_document(results[n]) if n in results else None for n in range(count)]
            return JsonValue(values)
        root = etree.Element(self.enclosing or "")
        for number in range(count):
            if number in results:
                element = soap.first_body_element(await results[number].build())
                if element is not None:
                    root.append(copy.deepcopy(element))
        return _tidy(root)

    async def _update(self, ctx: MessageContext, items: list[Any], results: dict[int, MessageContext]) -> None:
        if all(isinstance(item, etree._Element) for item in items):
            # W: updateXMLCollection: the items leave their parent, the results are appended to it in order
            parent = items[0].getparent()
            for item in items:
                owner = item.getparent()
                if owner is not None:
                    owner.remove(item)
            if parent is not None:
                for number in range(len(items)):
                    if number in results:
                        element = soap.first_body_element(await results[number].build())
                        if element is not None:
                            parent.append(copy.deepcopy(element))
            ctx.payload.mark_modified()
            return
        updated = [await json_document(results[n]) if n in results else items[n] for n in range(len(items))]
        if self._path is None:
            raise MediationError(
                f"foreach cannot write its results back to {self.collection.source}",
                detail=f"foreach at {self.location}: use a path on the payload or a variable, or update-original=false",
            )
        if self._variable is not None:  # W: a collection in a variable is updated there
            held = ctx.variables.get(self._variable)
            document = held.value if isinstance(held, JsonValue) else held
            final = updated if self._path.root else self._path.set(copy.deepcopy(document), updated)
            ctx.variables[self._variable] = JsonValue(final)
            return
        document = await json_document(ctx)
        final = updated if self._path.root else self._path.set(document, updated)
        ctx.payload = Payload(JSON_CONTENT_TYPE, dump_json(final))


_PAYLOAD_PATH = re.compile(r"^\$\{\s*payload((?:\.|\[)[^}]*)?\s*\}$")
_VARIABLE_PATH = re.compile(r"^\$\{\s*vars?\.(\w+)((?:\.|\[)[^}]*)?\s*\}$")


def _write_back(collection: Expression) -> tuple[str | None, JsonPathRef | None]:
    """Where a JSON collection's results are written back (W: ForEachMediatorV2.getJsonPathFromExpression, which
    reads the expression's text): a json-eval path on the payload; `${payload.a.b}` → `$.a.b` in the payload;
    `${vars.v.a}` → `$.a` in the variable v (`var.` in MI 4.4's pre-release spelling). (None, None) for anything
    else (an XML collection needs none)."""
    path = getattr(collection, "path", None)
    if collection.kind == "json" and isinstance(path, str) and not path.startswith(("$ctx:", "$axis2:", "$trp:")):
        try:
            return None, JsonPathRef(path)
        except ValueError:
            return None, None
    source = collection.source.strip()
    variable = None
    if (found := _PAYLOAD_PATH.match(source)) is not None:
        tail = found.group(1) or ""
    elif (found := _VARIABLE_PATH.match(source)) is not None:
        variable, tail = found.group(1), found.group(2) or ""
    else:
        return None, None
    try:
        return variable, JsonPathRef("$" + tail.strip())
    except ValueError:
        return None, None
