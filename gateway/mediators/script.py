"""`script` (W: mediators/bsf/ScriptMediator with GraalVMJavaScriptMessageContext, MI 4's default `js` engine).

The script sees `mc`, MI's script message context, built from a snapshot of the message: properties of the
default, axis2, transport and operation scopes, and the payload as the script's source asks for it (a script
that never names getPayloadXML/getPayloadJSON/getEnvelope/getPayloadText gets no payload, so nothing is parsed
for it). The changes it makes (payload, properties, SOAP headers, To, SOAPAction, log lines) are applied here,
in order, after it returns. A script returning `false` stops the flow, as in MI; an error, a script past its
time or memory, or a keyed function that does not exist is a fault with MI's message."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from lxml import etree

from gateway.errors import MediationError
from gateway.mediators import script_e4x
from gateway.mediators.base import Mediator
from gateway.mediators.script_engines import (
    DEFAULT_MEMORY,
    DEFAULT_TIMEOUT,
    JavaScriptProgram,
    PythonProgram,
    ScriptEngineError,
    ScriptTimeout,
    check_javascript,
    check_python,
)
from gateway.mediators.transform import (
    envelope_keeping_headers,
    has_json_payload,
    parse_fragment,
    set_envelope,
    set_json_payload,
    set_xml_body,
)
from gateway.message import kinds, scopes, soap
from gateway.message.json_codec import dumps as json_dumps
from gateway.message.json_codec import loads as json_loads

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Value
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.script")

JAVASCRIPT = "js"
PYTHON = "py"


class Program(Protocol):
    async def run(self, state: dict[str, Any], timeout: float, memory: int) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Needs:
    """What of the payload a script's source can read (a plain text scan of the source)."""

    xml: bool
    json: bool
    envelope: bool

    @classmethod
    def of(cls, *sources: str) -> Needs:
        text = "\n".join(sources)
        return cls(
            xml="getPayloadXML" in text,
            json="getPayloadJSON" in text or "getPayloadText" in text,
            envelope="getEnvelope" in text or "getPayloadText" in text,
        )

    @property
    def any(self) -> bool:
        return self.xml or self.json or self.envelope


def prepare(dialect: str, language: str, source: str) -> tuple[str, str | None]:
    """The source to run and None, or what is wrong with it. JavaScript with E4X (Rhino's XML syntax) is
    rewritten into plain JavaScript (gateway.mediators.script_e4x): always for `rhinoJs`, and for `js` when the
    script does not compile as it is and uses E4X."""
    if language == PYTHON:
        return source, check_python(source)
    problem = None if dialect == "rhinoJs" else check_javascript(source, as_function_body=True)
    if (problem is None and dialect != "rhinoJs") or not script_e4x.uses_e4x(source):
        return source, problem if dialect != "rhinoJs" else check_javascript(source, as_function_body=True)
    try:
        translated = script_e4x.translate(source)
    except script_e4x.E4XError as exc:
        return source, f"E4X: {exc}"
    return translated, check_javascript(translated, as_function_body=True)


def make_program(
    language: str, name: str, source: str, includes: tuple[str, ...], function: str | None
) -> JavaScriptProgram | PythonProgram:
    if language == PYTHON:
        return PythonProgram(name, source, includes, function)
    return JavaScriptProgram(name, source, includes, function)


def _plain(value: Any) -> Any:
    """A property value as the script sees it: text, a number, a boolean, or an XML string."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, etree._Element):
        return etree.tostring(value, encoding="unicode")
    if isinstance(value, list) and all(isinstance(item, etree._Element) for item in value):
        return "".join(etree.tostring(item, encoding="unicode") for item in value)
    return str(value)


def _table(values: Any) -> dict[str, Any]:
    return {str(name): _plain(value) for name, value in values.items()}


async def snapshot(ctx: MessageContext, needs: Needs) -> dict[str, Any]:
    state: dict[str, Any] = {
        "props": {
            "default": _table(ctx.properties),
            "axis2": _table(ctx.axis2),
            "transport": {name: value for name, value in ctx.transport_headers.items()},
            "operation": _table(ctx.operation),
        },
        "to": ctx.to,
        "messageId": ctx.message_id,
        "soapAction": ctx.soap_action,
        "response": ctx.is_response,
        "pox": ctx.message_format == kinds.POX,
        "get": ctx.exchange.method == "GET",
        "fault": False,
    }
    # the request's wsa:ReplyTo / wsa:From (reading To above parsed a body that mentions addressing)
    payload = ctx.payload
    header = soap.header_of(payload.envelope) if payload.is_built and payload.kind in kinds.SOAP_KINDS else None
    state["replyTo"] = soap.wsa_address(header, "ReplyTo")
    state["from"] = soap.wsa_address(header, "From")
    if needs.json and has_json_payload(ctx):
        raw = await ctx.payload.read()
        state["json"] = raw.decode("utf-8") if raw else None
    if needs.xml or needs.envelope:
        if ctx.payload.kind == kinds.EMPTY and not ctx.payload.is_built:
            envelope = soap.new_envelope()
        else:
            envelope = await ctx.build()
        if needs.xml:
            first = soap.first_body_element(envelope)
            state["xml"] = etree.tostring(first, encoding="unicode") if first is not None else None
        if needs.envelope:
            state["envelope"] = etree.tostring(envelope, encoding="unicode")
    state["fault"] = bool(ctx.axis2.get("FAULT_MESSAGE") in (True, "true"))
    return state


def _element(text: str, what: str) -> etree._Element:
    holder = parse_fragment(text.strip())
    element = next((child for child in holder if isinstance(child.tag, str)), None) if holder is not None else None
    if element is None:
        raise MediationError(
            "Failed to create OMElement with provided payload", detail=f"{what}: not one XML element: {text[:200]}"
        )
    return element


def _stored(value: Any) -> Any:
    """A value the script set, as the gateway keeps it (objects were sent as JSON, XML as elements)."""
    if isinstance(value, dict):
        if "$json" in value:
            return value["$json"]
        if "$xml" in value:
            return _element(value["$xml"], "setProperty")
    return value


async def _add_header(ctx: MessageContext, must_understand: bool, content: str) -> None:
    element = _element(content, "addHeader")
    envelope = await envelope_keeping_headers(ctx)
    if envelope is None:
        envelope = soap.wrap(None)
        first = soap.first_body_element(await ctx.build()) if ctx.payload.kind != kinds.EMPTY else None
        soap.set_body_element(envelope, soap.detached_copy(first) if first is not None else None)
    header = soap.header_of(envelope, create=True)
    assert header is not None
    if must_understand:
        name = f"{{{etree.QName(envelope).namespace}}}mustUnderstand"
        element.set(name, "1" if soap.envelope_version(envelope) == kinds.SOAP11 else "true")
    header.append(element)
    set_envelope(ctx, envelope)


async def apply_changes(ctx: MessageContext, changes: list[Any], where: str) -> None:
    for change in changes:
        kind = change[0]
        if kind == "xml":
            element = _element(change[1], "setPayloadXML")
            if etree.QName(element).localname == "Envelope" and etree.QName(element).namespace in soap.SOAP_NAMESPACES:
                set_envelope(ctx, element)
            else:
                await set_xml_body(ctx, element)
        elif kind == "json":
            try:
                value = json_loads(change[1])
            except ValueError as exc:
                raise MediationError("Invalid JSON payload", detail=f"{where}: setPayloadJSON: {exc}") from None
            set_json_payload(ctx, json_dumps(value))
        elif kind == "set":
            _, scope, name, value = change
            stored = _stored(value)
            if scope == "default" and isinstance(stored, str) and stored.lstrip().startswith("<"):
                holder = parse_fragment(stored.strip())  # W: setProperty keeps an XML value as an element
                elements = [child for child in holder if isinstance(child.tag, str)] if holder is not None else []
                if len(elements) == 1:
                    stored = elements[0]
            scopes.writer(scope, special_names=True)(ctx, name, stored)  # RESPONSE, messageType: MI's rules
        elif kind == "remove":
            _, scope, name = change
            scopes.remover(scope, special_names=True)(ctx, name)
        elif kind == "header":
            await _add_header(ctx, bool(change[1]), change[2])
        elif kind == "to":
            ctx.to = change[1]
        elif kind == "soapAction":
            ctx.soap_action = change[1]
        elif kind == "messageId":
            ctx.message_id = change[1]
        elif kind == "response":
            ctx.is_response = bool(change[1])
        elif kind == "log":
            log.info("%s: %s", where, ctx.exchange.mask(str(change[1])))


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float = DEFAULT_TIMEOUT
    memory: int = DEFAULT_MEMORY


class Script(Mediator):
    """An inline script (`program` made at deploy time) or a keyed one (`key` + `function`), whose source is
    looked up per message and compiled once per distinct source."""

    __slots__ = (
        "language",
        "dialect",
        "program",
        "needs",
        "key",
        "function",
        "includes",
        "limits",
        "_keyed",
        "_describe",
    )
    tag = "script"

    def __init__(
        self,
        *,
        language: str,
        dialect: str,
        program: Program | None,
        needs: Needs,
        key: Value | None,
        function: str | None,
        includes: tuple[Value, ...],
        limits: Limits,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.language = language
        self.dialect = dialect
        self.program = program
        self.needs = needs
        self.key = key
        self.function = function
        self.includes = includes
        self.limits = limits
        self._keyed: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[Program, Needs]] = {}
        label = "inlined " if key is None else "external "
        name = "" if key is None else f" : {key.static_text if not key.is_dynamic else key.source}"
        self._describe = f"{label}{dialect} script{name}" + (f" function {function}" if function else "")

    @property
    def reads_body(self) -> bool:
        return self.key is not None or self.needs.any

    def _source_of(self, ctx: MessageContext, key: str) -> str:
        value = ctx.local_entry(key)
        if value is None:
            raise MediationError(  # W: a missing entry fails inside the engine call: its generic message
                f"The script engine returned an Exception executing the {self._describe}",
                detail=f"script at {self.location}: no local entry or registry resource is named '{key}'",
            )
        if isinstance(value, etree._Element):
            return value.text or ""
        return str(value)

    def _program(self, ctx: MessageContext) -> tuple[Program, Needs]:
        if self.program is not None:
            return self.program, self.needs
        assert self.key is not None
        names = tuple(key.resolve(ctx) or "" for key in (self.key, *self.includes))
        # keyed by the texts too: a local entry or registry resource redeployed under the same key is new code
        texts = tuple(self._source_of(ctx, name) for name in names)
        cached = self._keyed.get((names, texts))
        if cached is not None:
            return cached
        sources = []
        for name, raw in zip(names, texts, strict=True):
            text, problem = prepare(self.dialect, self.language, raw)
            if problem is not None:
                raise MediationError(
                    f"The script engine returned an error executing the {self._describe}",
                    detail=f"script at {self.location}: {name}: {problem}",
                )
            sources.append(text)
        source, includes = sources[0], tuple(sources[1:])
        program = make_program(self.language, names[0], source, includes, self.function)
        made: tuple[Program, Needs] = (program, Needs.of(source, *includes))
        if len(self._keyed) >= 64:  # a dynamic key could name many scripts, redeploys many versions: a few
            self._keyed.pop(next(iter(self._keyed)))
        self._keyed[(names, texts)] = made
        return made

    async def mediate(self, ctx: MessageContext) -> bool:
        program, needs = self._program(ctx)
        state = await snapshot(ctx, needs)
        try:
            answer = await program.run(state, self.limits.timeout, self.limits.memory)
        except ScriptTimeout as exc:
            raise MediationError(
                f"The script engine returned an error executing the {self._describe}",
                detail=f"script at {self.location}: {exc}",
            ) from None
        except ScriptEngineError as exc:
            raise MediationError(
                f"The script engine returned an Exception executing the {self._describe}",
                detail=f"script at {self.location}: {exc}",
            ) from None
        error = answer.get("error")
        if error is not None:
            kind = "a NoSuchMethodException" if answer.get("missing") else "an error"
            raise MediationError(
                f"The script engine returned {kind} executing the {self._describe}",
                detail=f"script at {self.location}: {error}",
            )
        await apply_changes(ctx, answer.get("changes") or [], f"script at {self.location}")
        return answer.get("result") is not False
