"""A stand-in for the back ends of Apache Synapse's samples, so tests can play the samples end to end.

The samples send to the sample Axis2 server: `SimpleStockQuoteService` on localhost:9000
(samples.services.SimpleStockQuoteService behind Axis2's RPC message receivers) and `LBService1` on 9001-9004
for the load-balance and fail-over samples (samples.services.LBService1, raw XML receivers, one server per
`-name MyServerN`); the REST integration samples (10002, 10003) use an HTTP echo server. A `SampleServer` is one
such server on one loopback port, answering as they do:

- element names, namespaces, field types and order as Axis2 1.7 writes the Java beans (BeanUtil: properties in
  alphabetical order, `xsi:type` on every bean, doubles as Java's Double.toString, dates as Date.toString);
- dispatch as Axis2's dispatchers: SOAPAction, then wsa:Action, then the request URI's operation part, then the
  first body element's local name; SOAP 1.1, SOAP 1.2 or POX in, the same out; one-way placeOrder → 202;
- faults as Axis2's MessageContextBuilder builds them (500, `<detail/>`, the RPC receiver's exception detail),
  WS-Addressing replies as its AddressingOutHandler writes them (RelatesTo; a non-anonymous ReplyTo gets 202 and
  the reply is posted there); `?wsdl` describes the service at this server's address.

Types are in http://services.samples as the Apache build's services.xml maps them; `types_ns=XSD_NS` gives
WSO2's build, where they stay in Axis2's default http://services.samples/xsd.
Deliberately lenient where Axis2 would fault or answer empty: request fields are found by local name anywhere
under the operation element (so `GET .../getQuote?symbol=IBM` works), and getMarketActivity also takes the
`symbol` children that the samples' guide shows (the Java client sends `symbols`). getRandomQuote and
getQuoteError come from a trimmed variant of the service (DataDog's Synapse tests); they are not in the WSDL.

Test controls on a server: `delay` (seconds before answering), `answer_status` (answer every request with that
HTTP status and a plain body), `drop_connections` (close each connection without an answer), `stop()`/`start()`
(refuse connections, then listen again on the same port), and `requests`, a record of everything received.
Each answer carries `X-Sample-Server: <instance>` (not sent by Axis2) so tests can tell which server answered.
Run `python -m tests.support.stockquote --port 9000` to serve one by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import random
import ssl
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import ClientSession, web
from aiohttp.helpers import parse_mimetype
from lxml import etree

SAMPLES_NS = "http://services.samples"
XSD_NS = "http://services.samples/xsd"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
WSA_NS = "http://www.w3.org/2005/08/addressing"
WSA_SUBMISSION_NS = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
ANONYMOUS = {WSA_NS: f"{WSA_NS}/anonymous", WSA_SUBMISSION_NS: f"{WSA_SUBMISSION_NS}/role/anonymous"}
WSA_NONE = f"{WSA_NS}/none"
FAULT_ACTION = {WSA_NS: f"{WSA_NS}/soap/fault", WSA_SUBMISSION_NS: f"{WSA_SUBMISSION_NS}/fault"}
CONTENT_TYPES = {
    "1.1": "text/xml; charset=UTF-8",
    "1.2": "application/soap+xml; charset=UTF-8",
    None: "application/xml; charset=UTF-8",
}

# samples.services.GetQuoteResponse's properties as BeanUtil writes them: alphabetical, with their schema types.
QUOTE_FIELDS = (
    ("change", "double"),
    ("earnings", "double"),
    ("high", "double"),
    ("last", "double"),
    ("lastTradeTimestamp", "string"),
    ("low", "double"),
    ("marketCap", "double"),
    ("name", "string"),
    ("open", "double"),
    ("peRatio", "double"),
    ("percentageChange", "double"),
    ("prevClose", "double"),
    ("symbol", "string"),
    ("volume", "int"),
)
STOCKQUOTE = frozenset(
    {"getQuote", "getSimpleQuote", "getFullQuote", "getMarketActivity", "placeOrder", "getRandomQuote", "getQuoteError"}
)
LOADBALANCE = frozenset({"sampleOperation", "sleepOperation", "loadOperation", "setClientName"})
KINDS = {"stockquote": STOCKQUOTE, "loadbalance": LOADBALANCE}
DEFAULT_SERVICES = {"SimpleStockQuoteService": "stockquote", "LBService1": "loadbalance"}
FULL_QUOTE_DAYS = 365  # GetFullQuoteResponse.COUNT
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def java_double(value: float) -> str:
    """Java's Double.toString, as Axis2's ConverterUtil writes a double (infinities spelled as XML Schema)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "INF" if value > 0 else "-INF"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(value)  # the shortest digits that read back, in plain notation within this range
    number = Decimal(repr(abs(value)))
    digits = "".join(map(str, number.as_tuple().digits)).rstrip("0") or "0"
    return f"{'-' if value < 0 else ''}{digits[0]}.{digits[1:] or '0'}E{number.adjusted()}"


def java_date(seconds: float | None = None) -> str:
    """java.util.Date.toString(): `Tue Sep 18 09:46:57 CEST 2012`."""
    return time.strftime("%a %b %d %H:%M:%S %Z %Y", time.localtime(seconds))


def random_quote(symbol: str | None, rng: random.Random) -> dict[str, Any]:
    """A quote as GetQuoteResponse(symbol) makes one: the same draws in the same order."""

    def vary(base: float, variance: float, only_positive: bool) -> float:  # GetQuoteResponse.getRandom
        rand = rng.random()
        sign = 1 if rand > 0.5 else -1
        return (base + sign * variance * base * rand) * (1 if only_positive else sign)

    last = vary(100, 0.9, True)
    quote: dict[str, Any] = {
        "symbol": symbol,
        "last": last,
        "lastTradeTimestamp": java_date(),
        "change": vary(3, 0.5, False),
        "open": vary(last, 0.05, False),
        "high": vary(last, 0.05, False),
        "low": vary(last, 0.05, False),
        "volume": int(vary(10000, 1.0, True)),
        "marketCap": vary(10e6, 5.0, False),
        "prevClose": vary(last, 0.15, False),
    }
    quote["percentageChange"] = quote["change"] / quote["prevClose"] * 100
    quote["earnings"] = vary(10, 0.4, False)
    quote["peRatio"] = vary(20, 0.30, False)
    quote["name"] = f"{symbol} Company"  # Java's string concatenation writes a null symbol as "null"
    return quote


class Fault(Exception):
    """An Axis2 fault: `code` is the SOAP 1.1 local name ("Client" or "Server"), `detail` an optional entry."""

    def __init__(self, code: str, reason: str, detail: etree._Element | None = None) -> None:
        super().__init__(reason)
        self.code, self.reason, self.detail = code, reason, detail


@dataclass(frozen=True)
class Order:
    symbol: str | None
    quantity: int
    price: float


@dataclass
class Received:
    """One request as the server got it; `operation` is None when dispatch found none."""

    server: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    service: str | None = None
    operation: str | None = None
    soap_version: str | None = None  # "1.1", "1.2", or None for POX and REST


@dataclass
class Inbound:
    soap_version: str | None
    payload: etree._Element | None = None
    action: str | None = None  # SOAPAction, or the Content-Type's action parameter
    wsa_ns: str | None = None  # the WS-Addressing namespace of the request's headers, if it had any
    wsa: dict[str, str] = field(default_factory=dict)  # Action, MessageID, To, ReplyTo (its Address)
    error: Fault | None = None  # the body is not XML


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _text(payload: etree._Element | None, name: str) -> str | None:
    """The first element named `name` in any namespace under the payload (Axis2 binds bean fields by local name)."""
    found = None if payload is None else next(payload.iter(f"{{*}}{name}"), None)
    return None if found is None else (found.text or "")


def _first_child(element: etree._Element | None) -> etree._Element | None:
    return None if element is None else next(element.iterchildren(tag=etree.Element), None)


def parse_inbound(content_type: str, soap_action: str | None, body: bytes) -> Inbound:
    """Read a request as Axis2's builders do (the SOAP version from the envelope, else POX)."""
    mime = parse_mimetype(content_type)
    by_type = {"application/soap+xml": "1.2", "text/xml": "1.1"}.get(f"{mime.type}/{mime.subtype}")
    action = soap_action.strip('"') if soap_action is not None else mime.parameters.get("action")
    inbound = Inbound(by_type, action=action or None)
    if not body.strip():
        inbound.soap_version = None  # REST: the operation comes from the URI, its fields from the query
        return inbound
    try:
        root = etree.fromstring(body, PARSER)
    except etree.XMLSyntaxError as exc:
        inbound.error = Fault("Server", f"Error while building the message: {exc}")
        return inbound
    version = {f"{{{SOAP11_NS}}}Envelope": "1.1", f"{{{SOAP12_NS}}}Envelope": "1.2"}.get(root.tag)
    inbound.soap_version = version
    if version is None:
        inbound.payload = root
        return inbound
    envelope_ns = etree.QName(root).namespace
    for block in root.iterfind(f"{{{envelope_ns}}}Header/*"):
        name = etree.QName(block)
        if name.namespace in (WSA_NS, WSA_SUBMISSION_NS):
            inbound.wsa_ns = name.namespace
            address = block.findtext(f"{{{name.namespace}}}Address") if name.localname == "ReplyTo" else None
            inbound.wsa[name.localname] = (address if address is not None else block.text or "").strip()
    inbound.payload = _first_child(root.find(f"{{{envelope_ns}}}Body"))
    return inbound


def dispatch(operations: frozenset[str], inbound: Inbound, uri_operation: str | None) -> str | None:
    """Axis2's order: SOAPAction (`urn:op` or `op`), wsa:Action, the URI's operation, the body's first element."""
    for action in (inbound.action, inbound.wsa.get("Action")):
        if action:
            name = action.removeprefix("urn:")
            if name in operations:
                return name
    if uri_operation in operations:
        return uri_operation
    if inbound.payload is not None and _local(inbound.payload) in operations:
        return _local(inbound.payload)
    return None


def exception_detail(service: str, message: str) -> etree._Element:
    """RPCMessageReceiver's detail for a method that throws java.lang.Exception (the WSDL's fault element)."""
    outer = etree.Element(f"{{{SAMPLES_NS}}}{service}Exception", nsmap={"ns": SAMPLES_NS})
    inner = etree.SubElement(outer, outer.tag)
    etree.SubElement(inner, f"{{{SAMPLES_NS}}}Message").text = message
    return outer


class _Beans:
    """Writes samples.services beans as BeanUtil does, with their types in `types_ns`."""

    def __init__(self, types_ns: str) -> None:
        self.ns = types_ns
        self.prefix = "ns" if types_ns == SAMPLES_NS else "ax21"

    def response(self, operation: str, type_name: str) -> tuple[etree._Element, etree._Element]:
        root = etree.Element(f"{{{SAMPLES_NS}}}{operation}Response", nsmap={"ns": SAMPLES_NS})
        nsmap = {"xsi": XSI_NS} if self.ns == SAMPLES_NS else {self.prefix: self.ns, "xsi": XSI_NS}
        result = etree.SubElement(root, f"{{{SAMPLES_NS}}}return", nsmap=nsmap)
        result.set(f"{{{XSI_NS}}}type", f"{self.prefix}:{type_name}")
        return root, result

    def bean(self, parent: etree._Element, name: str, type_name: str) -> etree._Element:
        element = etree.SubElement(parent, f"{{{self.ns}}}{name}")
        element.set(f"{{{XSI_NS}}}type", f"{self.prefix}:{type_name}")
        return element

    def quote(self, parent: etree._Element, quote: dict[str, Any]) -> None:
        for name, schema_type in QUOTE_FIELDS:
            child = etree.SubElement(parent, f"{{{self.ns}}}{name}")
            value = quote[name]
            if value is None:
                child.set(f"{{{XSI_NS}}}nil", "true")
            else:
                child.text = java_double(value) if schema_type == "double" else str(value)


class SampleServer:
    """One sample Axis2 server (or, with `echo=True`, the integration tests' echo server) on one loopback port.

    `name` is the service `url` points at; a name that is not one of the usual services is deployed as another
    copy of SimpleStockQuoteService. `server_name` is Axis2's `-name` (LBService1 answers with it)."""

    def __init__(
        self,
        name: str = "SimpleStockQuoteService",
        *,
        server_name: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.0,
        types_ns: str = SAMPLES_NS,
        echo: bool = False,
        seed: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name, self.server_name, self.host, self.port = name, server_name, host, port
        self.ssl_context = ssl_context  # serve HTTPS with it
        self.services = dict(DEFAULT_SERVICES) if name in DEFAULT_SERVICES else {**DEFAULT_SERVICES, name: "stockquote"}
        self.delay = delay
        self.answer_status: int | None = None
        self.drop_connections = False
        self.echo = echo
        self.requests: list[Received] = []
        self.orders: list[Order] = []
        self.rng = random.Random(seed)
        self._beans = _Beans(types_ns)
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- lifecycle and addresses

    @property
    def base_url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.url_for(self.name)

    def url_for(self, service: str) -> str:
        return f"{self.base_url}/services/{service}"

    @property
    def instance(self) -> str:
        return self.server_name or f"{self.host}:{self.port}"

    async def start(self) -> SampleServer:
        """Listen (again) on `port`; the first start picks a free port when `port` is 0."""
        if self._runner is not None:
            return self
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port, reuse_address=True, ssl_context=self.ssl_context).start()
        self.port = runner.addresses[0][1]
        self._runner = runner
        return self

    async def stop(self) -> None:
        """Close the listener and every open connection: new connections are refused until start()."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def close(self) -> None:
        await self.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        record = Received(self.instance, request.method, request.path_qs, dict(request.headers), body)
        self.requests.append(record)
        if self.drop_connections:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)  # never reaches the client: its connection is closed
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.answer_status is not None:
            return self._answer(web.Response(status=self.answer_status, text=f"{self.instance} forced failure"))
        if self.echo:
            return self._answer(self._echo(request, body))
        service, _, uri_operation = request.path.removeprefix("/services/").partition("/")
        service = service.split(".", 1)[0]  # Service.EndpointName, as the WSDL's port addresses name it
        record.service = service if request.path.startswith("/services/") else None
        if request.method == "GET" and "wsdl" in {key.lower() for key in request.query}:
            return self._answer(self._wsdl(service))
        inbound = parse_inbound(request.headers.get("Content-Type", ""), request.headers.get("SOAPAction"), body)
        record.soap_version = inbound.soap_version
        try:
            if inbound.error:
                raise inbound.error
            epr = inbound.wsa.get("To") or request.path_qs
            kind = self.services.get(service) if record.service else None
            if kind is None:
                raise Fault("Client", f"The service cannot be found for the endpoint reference (EPR) {epr}")
            operation = dispatch(KINDS[kind], inbound, uri_operation or None)
            record.operation = operation
            if operation is None:
                action = inbound.wsa.get("Action", inbound.action)
                raise Fault(
                    "Client",
                    f"The endpoint reference (EPR) for the Operation not found is {epr} and the "
                    f"WSA Action = {'null' if action is None else action}. If this EPR was previously "
                    "reachable, please contact the server administrator.",
                )
            if inbound.payload is None and request.query:  # REST: Axis2 builds the operation element
                inbound.payload = etree.Element(f"{{{SAMPLES_NS}}}{operation}")
                for key, value in request.query.items():
                    try:
                        etree.SubElement(inbound.payload, key).text = value
                    except ValueError as exc:  # not an XML name
                        raise Fault("Client", f"Invalid query parameter {key!r}: {exc}") from exc
            result = await (
                self._loadbalance(operation, inbound.payload)
                if kind == "loadbalance"
                else self._stockquote(service, operation, inbound.payload)
            )
        except Fault as fault:
            return self._reply(inbound, self._fault(inbound, fault), None, status=500)
        if result is None:
            return self._answer(web.Response(status=202))
        return self._reply(inbound, result, f"urn:{operation}Response")

    def _answer(self, response: web.Response) -> web.Response:
        response.headers["X-Sample-Server"] = self.instance
        return response

    def _echo(self, request: web.Request, body: bytes) -> web.Response:
        """EchoHttpServerController: the entity back with its Content-Type, or 204 for a request without one."""
        if request.method not in ("POST", "PUT", "PATCH"):
            return web.Response(status=204)
        content_type = request.headers.get("Content-Type", "application/octet-stream")
        return web.Response(body=body, headers={"Content-Type": content_type})

    # ---- services

    async def _stockquote(self, service: str, operation: str, payload: etree._Element | None) -> etree._Element | None:
        if operation == "placeOrder":
            try:
                order = Order(
                    _text(payload, "symbol"), int(_text(payload, "quantity") or 0), float(_text(payload, "price") or 0)
                )
            except ValueError as exc:
                raise Fault("Server", str(exc)) from exc
            self.orders.append(order)
            return None  # in-only: Axis2 acknowledges with 202 and no body
        if operation == "getQuoteError" or (operation == "getQuote" and _text(payload, "symbol") == "ERR"):
            message = "Invalid stock symbol : ERR"
            raise Fault("Server", message, exception_detail(service, message))
        beans = self._beans
        if operation == "getFullQuote":
            root, result = beans.response(operation, "GetFullQuoteResponse")
            symbol = _text(payload, "symbol")
            for day in range(FULL_QUOTE_DAYS):
                trading_day = beans.bean(result, "tradeHistory", "TradingDay")
                etree.SubElement(trading_day, f"{{{beans.ns}}}day").text = str(day)
                beans.quote(beans.bean(trading_day, "quote", "GetQuoteResponse"), random_quote(symbol, self.rng))
            return root
        if operation == "getMarketActivity":
            found = payload.iter("{*}symbols", "{*}symbol") if payload is not None else ()
            symbols = [element.text or "" for element in found]
            if not symbols:  # a null symbols array: NullPointerException in the Java service
                raise Fault("Server", "Exception occurred while trying to invoke service method getMarketActivity")
            root, result = beans.response(operation, "GetMarketActivityResponse")
            for symbol in symbols:
                beans.quote(beans.bean(result, "quotes", "GetQuoteResponse"), random_quote(symbol, self.rng))
            return root
        symbol = "RND" if operation == "getRandomQuote" else _text(payload, "symbol")
        root, result = beans.response(operation, "GetQuoteResponse")
        beans.quote(result, random_quote(symbol, self.rng))
        return root

    async def _loadbalance(self, operation: str, payload: etree._Element | None) -> etree._Element:
        """LBService1: the request element comes back with its text replaced by the server's name."""
        if payload is None:
            raise Fault("Server", f"Exception occurred while trying to invoke service method {operation}")
        reply = copy.deepcopy(payload)
        answer = f"Response from server: {self.server_name}" if self.server_name else "Response from anonymous server"
        if operation in ("sleepOperation", "loadOperation"):
            target = reply.find("load")
            if target is None or not (target.text or "").strip().isdigit():
                raise Fault("Server", f"Exception occurred while trying to invoke service method {operation}")
            if operation == "sleepOperation":
                await asyncio.sleep(int(target.text or 0) / 1000)
        else:
            target = reply
            if operation == "setClientName":
                answer = "Sessions are not supported in this service."
        for child in list(target):
            target.remove(child)
        target.text = answer
        return reply

    # ---- answers

    def _fault(self, inbound: Inbound, fault: Fault) -> etree._Element:
        if inbound.soap_version == "1.2":
            element = etree.Element(f"{{{SOAP12_NS}}}Fault", nsmap={"soapenv": SOAP12_NS})
            code = etree.SubElement(etree.SubElement(element, f"{{{SOAP12_NS}}}Code"), f"{{{SOAP12_NS}}}Value")
            code.text = "soapenv:" + {"Client": "Sender", "Server": "Receiver"}[fault.code]
            text = etree.SubElement(etree.SubElement(element, f"{{{SOAP12_NS}}}Reason"), f"{{{SOAP12_NS}}}Text")
            text.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
            text.text = fault.reason
            detail = etree.SubElement(element, f"{{{SOAP12_NS}}}Detail")
        else:  # POX is handled as SOAP 1.1 inside Axis2
            element = etree.Element(f"{{{SOAP11_NS}}}Fault", nsmap={"soapenv": SOAP11_NS})
            etree.SubElement(element, "faultcode").text = f"soapenv:{fault.code}"
            etree.SubElement(element, "faultstring").text = fault.reason
            detail = etree.SubElement(element, "detail")
        if fault.detail is not None:
            detail.append(fault.detail)
        return element

    def _reply(self, inbound: Inbound, content: etree._Element, action: str | None, status: int = 200) -> web.Response:
        """The answer in the request's SOAP version (or POX); `action` is the reply's, None for a fault."""
        if inbound.soap_version is None:  # POX: ApplicationXMLFormatter writes a fault's detail entry or reason
            if action is None:
                detail, reason = content[-1], content.find("faultstring")
                content = copy.deepcopy(detail[0] if len(detail) else reason)
                etree.cleanup_namespaces(content)
            body = etree.tostring(content, xml_declaration=True, encoding="utf-8")
            return self._answer(web.Response(status=status, body=body, headers={"Content-Type": CONTENT_TYPES[None]}))
        envelope_ns = SOAP11_NS if inbound.soap_version == "1.1" else SOAP12_NS
        envelope = etree.Element(f"{{{envelope_ns}}}Envelope", nsmap={"soapenv": envelope_ns})
        reply_to = None
        if inbound.wsa_ns:
            header = etree.SubElement(envelope, f"{{{envelope_ns}}}Header", nsmap={"wsa": inbound.wsa_ns})
            reply_to = self._addressing(header, inbound, action or FAULT_ACTION[inbound.wsa_ns])
        etree.SubElement(envelope, f"{{{envelope_ns}}}Body").append(content)
        body = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        content_type = CONTENT_TYPES[inbound.soap_version]
        if inbound.soap_version == "1.2" and action:
            content_type += f'; action="{action}"'
        if reply_to:  # the reply goes to the ReplyTo address; the request's own connection just gets 202
            task = asyncio.get_running_loop().create_task(self._post_reply(reply_to, body, content_type))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return self._answer(web.Response(status=202))
        return self._answer(web.Response(status=status, body=body, headers={"Content-Type": content_type}))

    def _addressing(self, header: etree._Element, inbound: Inbound, action: str) -> str | None:
        """AddressingOutHandler's headers for a reply; returns the ReplyTo address if it is not anonymous."""
        wsa = inbound.wsa_ns
        assert wsa is not None
        reply_to = inbound.wsa.get("ReplyTo") or ANONYMOUS[wsa]
        redirected = reply_to not in (ANONYMOUS[wsa], WSA_NONE)

        def add(name: str, text: str) -> etree._Element:
            element = etree.SubElement(header, f"{{{wsa}}}{name}")
            element.text = text
            return element

        if redirected or wsa == WSA_SUBMISSION_NS:  # the final spec omits an anonymous To
            add("To", reply_to)
        if redirected and wsa == WSA_NS:  # a reply needs no reply: ReplyTo none (the submission spec omits it)
            etree.SubElement(add("ReplyTo", ""), f"{{{wsa}}}Address").text = WSA_NONE
        if redirected or wsa == WSA_SUBMISSION_NS:
            add("MessageID", f"urn:uuid:{uuid.uuid4()}")
        add("Action", action)
        if inbound.wsa.get("MessageID"):
            add("RelatesTo", inbound.wsa["MessageID"])
        return reply_to if redirected else None

    async def _post_reply(self, address: str, body: bytes, content_type: str) -> None:
        async with ClientSession() as session:
            async with session.post(address, data=body, headers={"Content-Type": content_type}) as response:
                await response.read()

    def _wsdl(self, service: str) -> web.Response:
        if self.services.get(service) != "stockquote":
            return web.Response(status=404, text=f"no WSDL for {service}")
        body = stockquote_wsdl(service, self.url_for(service), self._beans.ns)
        return web.Response(body=body, headers={"Content-Type": "text/xml; charset=UTF-8"})


# ---- WSDL: the contract Axis2 generates for SimpleStockQuoteService (sample_proxy_1.wsdl describes the same)

_TYPES = {  # complex type -> its elements (name, type, repeated); an unprefixed type is one of these
    "GetQuote": [("symbol", "xs:string", False)],
    "GetFullQuote": [("symbol", "xs:string", False)],
    "GetMarketActivity": [("symbols", "xs:string", True)],
    "PlaceOrder": [("price", "xs:double", False), ("quantity", "xs:int", False), ("symbol", "xs:string", False)],
    "GetQuoteResponse": [(name, f"xs:{schema_type}", False) for name, schema_type in QUOTE_FIELDS],
    "GetFullQuoteResponse": [("tradeHistory", "TradingDay", True)],
    "TradingDay": [("day", "xs:int", False), ("quote", "GetQuoteResponse", False)],
    "GetMarketActivityResponse": [("quotes", "GetQuoteResponse", True)],
}
_OPERATIONS = {  # operation -> (its element's child, that child's type, the response's type; None: one-way)
    "getQuote": ("request", "GetQuote", "GetQuoteResponse"),
    "getSimpleQuote": ("symbol", "xs:string", "GetQuoteResponse"),
    "getFullQuote": ("request", "GetFullQuote", "GetFullQuoteResponse"),
    "getMarketActivity": ("request", "GetMarketActivity", "GetMarketActivityResponse"),
    "placeOrder": ("order", "PlaceOrder", None),
}
_BINDINGS = {  # binding prefix -> the name Axis2 gives its binding and port ({service}{name}Binding, ...Endpoint)
    "soap": ("Soap11", "HttpSoap11"),
    "soap12": ("Soap12", "HttpSoap12"),
    "http": ("Http", "Http"),
}
_WSDL_NAMESPACES = {
    "wsdl": "http://schemas.xmlsoap.org/wsdl/",
    "xs": "http://www.w3.org/2001/XMLSchema",
    "wsaw": "http://www.w3.org/2006/05/addressing/wsdl",
    "http": "http://schemas.xmlsoap.org/wsdl/http/",
    "mime": "http://schemas.xmlsoap.org/wsdl/mime/",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
    "soap12": "http://schemas.xmlsoap.org/wsdl/soap12/",
}


def stockquote_wsdl(service: str, address: str, types_ns: str = SAMPLES_NS) -> bytes:
    """A WSDL 1.1 for the service at `address`, with SOAP 1.1, SOAP 1.2 and HTTP ports as Axis2's ?wsdl has."""
    types_prefix = "ns" if types_ns == SAMPLES_NS else "ax21"

    def element(name: str, kind: str, many: bool = False) -> str:
        kind = kind if ":" in kind else f"{types_prefix}:{kind}"
        repeat = ' maxOccurs="unbounded"' if many else ""
        nillable = "" if kind in ("xs:double", "xs:int") else ' nillable="true"'
        return f'<xs:element minOccurs="0"{repeat} name="{name}"{nillable} type="{kind}"/>'

    def sequence(items: list[tuple[str, str, bool]]) -> str:
        return "<xs:sequence>" + "".join(element(*item) for item in items) + "</xs:sequence>"

    def complex_type(items: list[tuple[str, str, bool]], name: str = "") -> str:
        named = f' name="{name}"' if name else ""
        return f"<xs:complexType{named}>{sequence(items)}</xs:complexType>"

    def wrapper(name: str, child: str, kind: str) -> str:
        return f'<xs:element name="{name}">{complex_type([(child, kind, False)])}</xs:element>'

    def message(name: str, element: str) -> str:
        return f'<wsdl:message name="{name}"><wsdl:part name="parameters" element="ns:{element}"/></wsdl:message>'

    types = "".join(complex_type(items, name) for name, items in _TYPES.items())
    wrappers = "".join(
        wrapper(name, child, kind) + (wrapper(f"{name}Response", "return", result) if result else "")
        for name, (child, kind, result) in _OPERATIONS.items()
    )
    wrappers += wrapper(f"{service}Exception", f"{service}Exception", "ns:Exception")
    wrappers += complex_type([("Message", "xs:string", False)], "Exception")
    schema = (
        '<xs:schema attributeFormDefault="qualified" elementFormDefault="qualified" targetNamespace="{}">{}</xs:schema>'
    )
    if types_ns == SAMPLES_NS:
        schemas = schema.format(SAMPLES_NS, wrappers + types)
    else:  # the types in their own schema, imported by the service's
        imported = f'<xs:import namespace="{types_ns}"/>'
        schemas = schema.format(types_ns, types) + schema.format(SAMPLES_NS, imported + wrappers)

    fault_name = f"{service}Exception"
    messages = [message(fault_name, fault_name)]
    port_type, bindings = [], {prefix: [] for prefix in _BINDINGS}
    for name, (_, _, result) in _OPERATIONS.items():
        faults = name == "getQuote"  # the only method declared to throw
        messages.append(message(f"{name}Request", name))
        if result:
            messages.append(message(f"{name}Response", f"{name}Response"))
        port_type.append(
            f'<wsdl:operation name="{name}"><wsdl:input message="ns:{name}Request" wsaw:Action="urn:{name}"/>'
            + (f'<wsdl:output message="ns:{name}Response" wsaw:Action="urn:{name}Response"/>' if result else "")
            + (
                f'<wsdl:fault message="ns:{fault_name}" name="{fault_name}" wsaw:Action="urn:{name}{fault_name}"/>'
                if faults
                else ""
            )
            + "</wsdl:operation>"
        )
        for prefix, operations in bindings.items():
            if prefix == "http":
                head = f'<http:operation location="{name}"/>'
                body = '<mime:content type="application/xml" part="parameters"/>'
                fault = f'<wsdl:fault name="{fault_name}"/>'
            else:
                head = f'<{prefix}:operation soapAction="urn:{name}" style="document"/>'
                body = f'<{prefix}:body use="literal"/>'
                fault = (
                    f'<wsdl:fault name="{fault_name}"><{prefix}:fault use="literal" name="{fault_name}"/></wsdl:fault>'
                )
            operations.append(
                f'<wsdl:operation name="{name}">{head}<wsdl:input>{body}</wsdl:input>'
                + (f"<wsdl:output>{body}</wsdl:output>" if result else "")
                + (fault if faults else "")
                + "</wsdl:operation>"
            )
    soap_binding = 'transport="http://schemas.xmlsoap.org/soap/http" style="document"'
    binding_heads = {
        "soap": f"<soap:binding {soap_binding}/>",
        "soap12": f"<soap12:binding {soap_binding}/>",
        "http": '<http:binding verb="POST"/>',
    }
    binding_xml = "".join(
        f'<wsdl:binding name="{service}{_BINDINGS[prefix][0]}Binding" type="ns:{service}PortType">'
        + binding_heads[prefix]
        + "".join(operations)
        + "</wsdl:binding>"
        for prefix, operations in bindings.items()
    )
    ports = "".join(
        f'<wsdl:port name="{service}{port}Endpoint" binding="ns:{service}{binding}Binding">'
        f'<{prefix}:address location="{address}.{service}{port}Endpoint"/></wsdl:port>'
        for prefix, (binding, port) in _BINDINGS.items()
    )
    declarations = " ".join(
        f'xmlns:{prefix}="{uri}"'
        for prefix, uri in {**_WSDL_NAMESPACES, "ns": SAMPLES_NS, types_prefix: types_ns}.items()
    )
    document = (
        f'<wsdl:definitions {declarations} targetNamespace="{SAMPLES_NS}">'
        f"<wsdl:documentation>{service}</wsdl:documentation><wsdl:types>{schemas}</wsdl:types>"
        f'{"".join(messages)}<wsdl:portType name="{service}PortType">{"".join(port_type)}</wsdl:portType>'
        f'{binding_xml}<wsdl:service name="{service}">{ports}</wsdl:service></wsdl:definitions>'
    )
    return etree.tostring(etree.fromstring(document), xml_declaration=True, encoding="utf-8", pretty_print=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the Synapse samples' Axis2 back end on loopback.")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--name", default=None, help="the server's -name, e.g. MyServer1")
    parser.add_argument("--echo", action="store_true", help="the integration tests' echo server instead")
    args = parser.parse_args()

    async def serve() -> None:
        server = await SampleServer(server_name=args.name, port=args.port, echo=args.echo).start()
        print(f"serving {server.base_url}/services/ {sorted(server.services)}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
