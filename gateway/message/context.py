"""The message context: scoped properties, transport headers, the lazy payload and the fault stack."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree
from multidict import CIMultiDict, MultiDict, MultiMapping

from gateway.errors import MESSAGE_PARSING_ERROR, MediationError
from gateway.masking import SecretValues
from gateway.message import kinds, soap
from gateway.message.payload import Payload

if TYPE_CHECKING:
    from gateway.mediators.base import Mediator
    from gateway.runtime.api import ApiResource
    from gateway.runtime.configuration import Configuration, ProxyService
    from gateway.runtime.services import Services

log = logging.getLogger("gateway.message")


# The WS-Addressing fields Axis2's AddressingInHandler reads into the message context (both namespaces).
_WSA_FIELDS = {f"{{{ns}}}{name}": (ns, name) for ns in soap.WSA_NAMESPACES for name in ("To", "Action", "MessageID")}


@dataclass(slots=True)
class Reply:
    """What goes back to the client: a status, headers and a body (bytes or a stream of chunks)."""

    status: int
    headers: CIMultiDict[str]
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None  # chunks, for untouched pass-through bodies
    on_done: Callable[[], object] | None = None  # called after the stream is copied (releases the backend connection)


@dataclass(slots=True)
class Exchange:
    """One client request and its eventual reply, shared by the request and response contexts."""

    method: str
    path: str  # the request path with query, e.g. /services/Foo/bar?x=1
    client_kind: str  # payload kind of the client's request (gateway.message.kinds)
    accept: str | None
    services: Services
    reply: Reply | None = None
    faulted: bool = False
    main_passes: int = 0  # replies that ran `main` again (gateway.runtime.engine)
    closing_tasks: list[Callable[[], object]] = field(default_factory=list)
    # Work of this message that runs beside its flow: the branches of a split (iterate, clone) and the
    # timers of aggregates. The transport waits for them (settle) before it answers.
    pending: list[asyncio.Task[object]] = field(default_factory=list)
    transaction: Any = None  # the database transaction of the `transaction` mediator (gateway.database.Transaction)
    _secrets: SecretValues | None = None  # made on the first secret: most messages carry none
    _activity_id: str | None = None

    @property
    def secrets(self) -> SecretValues:
        """The values masked in every log line of this message (see gateway.masking)."""
        if self._secrets is None:
            self._secrets = SecretValues()
        return self._secrets

    def mask(self, text: str) -> str:
        """What the log masker asks of the message being mediated (bound by the transport)."""
        return self._secrets.mask(text) if self._secrets is not None else text

    @property
    def activity_id(self) -> str:
        """The id that ties this message's log lines to what its client was told (made on first use)."""
        if self._activity_id is None:
            self._activity_id = os.urandom(16).hex()  # 128 random bits as uuid4().hex, at a quarter of the cost
        return self._activity_id

    def take_activity_id(self, value: str | None) -> None:
        """The client's id (MI's `activityid` header) when it is a sensible one (printable, at most 128
        characters); otherwise one is made on first use."""
        if value and len(value) <= 128 and value.isprintable():
            self._activity_id = value

    @property
    def client_is_soap(self) -> bool:
        return self.client_kind in kinds.SOAP_KINDS

    def spawn(self, work: Coroutine[object, object, object]) -> asyncio.Task[object]:
        """Run `work` beside the flow (a split's branch, an aggregate's timer); settle() waits for it."""
        task = asyncio.create_task(work)
        task.add_done_callback(_log_failure)
        self.pending.append(task)
        return task

    async def settle(self) -> None:
        """Wait until the client's reply is written or no work of this message is left (W: the branches of
        a split run on MI's worker pool while the client waits). Work still running once the reply is out
        goes on in the background; the connections it holds are released when it ends."""
        while self.reply is None:
            running = [task for task in self.pending if not task.done()]
            if not running:
                break
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        running = [task for task in self.pending if not task.done()]
        self.pending.clear()
        if running:
            _DRAINING.add(drain := asyncio.create_task(self._drain(running)))
            drain.add_done_callback(_DRAINING.discard)

    async def _drain(self, running: list[asyncio.Task[object]]) -> None:
        await asyncio.wait(running)
        while self.pending:  # branches started by the late ones
            more, self.pending = self.pending, []
            await asyncio.wait(more)
        for close in self.closing_tasks:
            close()


_DRAINING: set[asyncio.Task[None]] = set()


async def background_work_done() -> None:
    """Wait until the work that went on after its reply was written (a clone's branch that sends after the
    answer) has ended, in this process."""
    while _DRAINING:
        await asyncio.gather(*list(_DRAINING), return_exceptions=True)


def _log_failure(task: asyncio.Task[object]) -> None:
    """A branch's own faults are handled inside it (its fault sequences): anything left is a bug, logged."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("a branch of a split message failed: %s", exc, exc_info=exc)


class MessageContext:
    """Per-message state. Properties in the default scope travel from request to response; axis2 ones
    do not (docs/synapse-semantics.md §1.3)."""

    __slots__ = (
        "properties",
        "variables",
        "axis2",
        "operation",
        "transport_headers",
        "func_stack",
        "payload",
        "is_response",
        "fault_stack",
        "exchange",
        "config",
        "proxy",
        "resource",
        "_to",
        "to_from_request",
        "to_set",
        "query_params",
        "_soap_action",
        "action_set",
        "_message_id",
        "headers_from_backend",
        "paused",
        "__weakref__",
    )

    def __init__(
        self,
        *,
        exchange: Exchange,
        config: Configuration,
        payload: Payload,
        transport_headers: CIMultiDict[str],
        proxy: ProxyService | None = None,
        resource: ApiResource | None = None,
        to: str | None = None,
        query_params: MultiMapping[str] | None = None,
        soap_action: str | None = None,
    ) -> None:
        self.properties: dict[str, Any] = {}
        # MI 4.4 variables (`<variable>`, `${vars.x}`): a scope of their own, copied like the properties
        self.variables: dict[str, Any] = {}
        self.axis2: dict[str, Any] = {}
        self.operation: dict[str, Any] = {}
        self.transport_headers = transport_headers
        self.func_stack: list[dict[str, Any]] = []
        self.payload = payload
        self.is_response = False
        self.fault_stack: list[Mediator] = []
        self.exchange = exchange
        self.config = config
        self.proxy = proxy
        self.resource = resource  # the API resource the request was dispatched to (its reply comes back to it)
        self._to = to
        # To, the action and the message id are still the request's (its path, its SOAPAction): the WS-Addressing
        # headers of a SOAP request name them instead (read when one of them is first read, see `_addressing`)
        self.to_from_request = False
        self.to_set = False  # a mediator (header To) set it: it wins over a proxy's target endpoint
        self.query_params: MultiMapping[str] = query_params if query_params is not None else MultiDict()
        self._soap_action = soap_action
        self.action_set = False  # the flow set the action (header Action, a clone target, a script)
        self._message_id: str | None = None  # generated on first use: most flows never read it
        # The transport headers came from a backend reply (relayed) rather than the client (echoed).
        self.headers_from_backend = False
        # A call mediator waited for a reply (W: the flow paused and resumed through its continuation stack):
        # the branch of a split then goes on after the split mediator (gateway.mediators.eip).
        self.paused = False

    # -- the interface expressions read ----------------------------------------------------------
    @property
    def to(self) -> str | None:
        """The message's To (W: MessageContext.getTo): one set by the header mediator; else a WS-Addressing To
        header of a SOAP request; else the request's path with its query, as Axis2 sets it for a plain HTTP
        request."""
        if self.to_from_request:
            self._addressing()
        return self._to

    @to.setter
    def to(self, value: str | None) -> None:
        self._to = value
        self.to_set = True

    @property
    def soap_action(self) -> str | None:
        """The action (W: Options.action, which both getSoapAction and getWSAAction read): one the flow set;
        else the request's wsa:Action when its SOAPAction header (or SOAP 1.2 action parameter) is empty; else
        that header. A wsa:Action that differs from a non-empty SOAPAction is a fault, raised once, where the
        addressing headers are first read (W: AddressingInHandler's ActionMismatch)."""
        if self.to_from_request:
            self._addressing()
        return self._soap_action

    @soap_action.setter
    def soap_action(self, value: str | None) -> None:
        self._soap_action = value
        self.action_set = True

    @property
    def unbuilt_action(self) -> str | None:
        """The action without looking into the body: what a message nobody parsed is sent with (W: MI reads
        the WS-Addressing headers only when it builds the message)."""
        return self._soap_action

    def _addressing(self) -> None:
        """W: AddressingInHandler, run when the message is built (RelayUtils.processAddressing): the request's
        wsa:To, wsa:Action and wsa:MessageID become its To, action and message id, unless the flow set them
        already. The envelope is parsed for them only if the body's bytes mention addressing. The headers of
        the first WS-Addressing namespace met are read (final or submission); ReplyTo, FaultTo, From and
        RelatesTo stay in the envelope, where get-property reads them."""
        payload = self.payload
        if payload.kind not in kinds.SOAP_KINDS or self.is_response:
            self.to_from_request = False
            return
        if not payload.is_read or payload.read_error is not None:
            return  # not in hand yet: looked for again once it is (gateway.runtime.endpoints.to_address)
        self.to_from_request = False
        if not payload.may_hold_addressing():
            return
        try:
            header = payload.envelope.find("{*}Header")
        except MediationError:
            return  # a broken body: its fault comes from whoever reads it
        namespace = None
        mismatch = None
        for block in header if header is not None else ():
            field_of = _WSA_FIELDS.get(block.tag) if isinstance(block.tag, str) else None
            if field_of is None or (namespace is not None and field_of[0] != namespace):
                continue
            namespace, name = field_of
            text = (block.text or "").strip()
            if not text:
                continue
            if name == "To" and not self.to_set:
                self._to = text
            elif name == "Action" and not self.action_set:
                if not self._soap_action:
                    self._soap_action = text
                elif self._soap_action != text:
                    mismatch = text
            elif name == "MessageID" and self._message_id is None:
                self._message_id = text
        if mismatch is not None:  # W: AddressingInHandler.extractActionInformation, triggerActionMismatchFault
            raise MediationError(
                "Error while building message. A header representing a Message Addressing Property is not valid "
                "and the message cannot be processed",
                MESSAGE_PARSING_ERROR,
                f"wsa:ActionMismatch: the SOAPAction {self._soap_action!r} is not the wsa:Action {mismatch!r}; "
                "send the same action in both, or an empty SOAPAction",
                http_status=400,
            )

    @property
    def message_id(self) -> str:
        if self._message_id is None:
            if self.to_from_request:
                self._addressing()
            if self._message_id is None:
                self._message_id = f"urn:uuid:{uuid.uuid4()}"
        return self._message_id

    @message_id.setter
    def message_id(self, value: str | None) -> None:
        self._message_id = value

    @message_id.deleter
    def message_id(self) -> None:
        self._message_id = None  # a fresh one is made when it is next read

    def local_entry(self, key: str) -> Any | None:
        entry = self.config.local_entries.get(key)
        return entry.value if entry is not None else None

    @property
    def envelope(self) -> etree._Element:
        return self.payload.envelope

    def payload_json(self) -> Any:
        return self.payload.json_value()

    @property
    def message_format(self) -> str:
        kind = self.payload.kind
        if kind in kinds.SOAP_KINDS:
            return kind
        if kind == kinds.EMPTY and self.exchange.method == "GET":
            return kinds.GET
        return kinds.POX

    def is_fault(self) -> bool:
        if self.axis2.get("FAULT_MESSAGE") in (True, "true"):
            return True
        return self.payload.is_built and soap.is_fault(self.payload.envelope)

    # -- helpers for mediators -------------------------------------------------------------------
    async def build(self) -> etree._Element:
        """Parse the body now (the first content-aware mediator calls this)."""
        return await self.payload.build()

    def set_message_type(self, media_type: str) -> None:
        """messageType also rewrites ContentType and the Content-Type header (W: handleSpecialProperties)."""
        self.axis2["messageType"] = media_type
        self.axis2["_flowMessageType"] = media_type  # the flow chose it: Accept no longer applies
        self.axis2["ContentType"] = media_type
        self.transport_headers["Content-Type"] = media_type

    def split_copy(self, payload: Payload) -> MessageContext:
        """A copy for one branch of a split (W: MessageHelper.cloneMessageContext): the properties, headers and
        fault handlers are copied, the operation context is shared, the message id is new."""
        copy = MessageContext(
            exchange=self.exchange,
            config=self.config,
            payload=payload,
            transport_headers=CIMultiDict(self.transport_headers),
            proxy=self.proxy,
            resource=self.resource,
            to=self.to,
            query_params=self.query_params,
            soap_action=self.soap_action,
        )
        copy.properties = dict(self.properties)
        copy.variables = dict(self.variables)
        copy.axis2 = dict(self.axis2)
        copy.operation = self.operation
        copy.func_stack = [dict(frame) for frame in self.func_stack]
        copy.is_response = self.is_response
        copy.fault_stack = list(self.fault_stack)
        copy.headers_from_backend = self.headers_from_backend
        copy.to_set = self.to_set  # a To the flow set still wins over a proxy's target endpoint
        copy.action_set = self.action_set
        return copy

    def response_context(self, payload: Payload, headers: CIMultiDict[str]) -> MessageContext:
        """A fresh context for a backend reply: default-scope properties are copied, axis2 ones are not."""
        reply = MessageContext(
            exchange=self.exchange,
            config=self.config,
            payload=payload,
            transport_headers=headers,
            proxy=self.proxy,
            resource=self.resource,
            to=None,
            query_params=self.query_params,
            soap_action=None,
        )
        reply.properties = dict(self.properties)
        reply.variables = dict(self.variables)  # W: SynapseCallbackReceiver copies the variables too
        reply.operation = self.operation  # the operation context is shared by both directions
        reply.is_response = True
        reply.headers_from_backend = True
        reply._message_id = self._message_id
        return reply
