"""`payloadFactory` (W: mediators/transform/PayloadFactoryMediator, pfutils/{TemplateProcessor,
RegexTemplateProcessor}; docs/synapse-semantics.md §5.6), plus our sandboxed Jinja2 template type.

The format is compiled at deploy time into literal segments and argument slots (`$n`); per message the
arguments are evaluated, escaped or converted as W: does, joined and parsed once."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.errors import ExpressionError, MediationError
from gateway.expressions import JsonValue, compile_expression, compile_synapse_expression
from gateway.expressions.synapse_expr import as_string
from gateway.mediators.base import Mediator
from gateway.mediators.transform import (
    dump_json,
    json_document,
    looks_like_json,
    looks_like_xml,
    parse_fragment,
    parse_json,
    set_envelope,
    set_json_payload,
    set_message_type_automatically,
    set_text_payload,
    set_xml_body,
)
from gateway.message import kinds, soap
from gateway.message.json_xml import JsonConversionError, json_bytes_to_xml, xml_to_json_bytes
from gateway.message.payload import SAFE_PARSER

if TYPE_CHECKING:
    import jinja2

    from gateway.errors import SourceLocation
    from gateway.expressions import Expression, Value
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.mediator.payloadFactory")

MEDIA_TYPES = {"xml": kinds.APPLICATION_XML, "json": kinds.APPLICATION_JSON, "text": kinds.TEXT_PLAIN}
_XML_TYPES = (kinds.APPLICATION_XML, kinds.TEXT_XML, kinds.APPLICATION_SOAP_XML)
# W: RegexTemplateProcessor: "${expr}" (quoted), ${expr} (MI 4.4 inline Synapse Expressions) and $n (the arguments)
_PLACEHOLDER = re.compile(r'"\$\{([^}]+)\}"|\$\{([^}]+)\}|\$(\d+)')
_PADDING_OPEN, _PADDING_CLOSE = "<pfPadding>", "</pfPadding>"
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
# XML 1.0 cannot hold these characters; StringEscapeUtils.escapeXml10 drops them too.
_XML10_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"})
_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_JSON_CONTROL = re.compile(r'["\\\x00-\x1f]')
QUOTE_STRINGS = "QUOTE_STRING_IN_PAYLOAD_FACTORY_JSON"


# -- the compiled format --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Inline:
    """An inline `${…}` of the format (MI 4.4), `quoted` when written `"${…}"`."""

    expression: Expression
    quoted: bool


@dataclass(frozen=True, slots=True)
class Template:
    """Literal text, 0-based argument indexes and inline expressions, as they appear in the format."""

    parts: tuple[str | int | Inline, ...]
    mismatch: str | None  # why substitution stops early (W: logs it and leaves the rest as is)

    def render(self, values: Callable[[int], str], inline: Callable[[Inline], str] | None = None) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, int):
                out.append(values(part))
            else:
                assert inline is not None
                out.append(inline(part))
        return "".join(out)

    @property
    def needs_body(self) -> bool:
        return any(isinstance(p, Inline) and p.expression.needs_body for p in self.parts)


def compile_template(text: str, media: str, arg_count: int, namespaces: Mapping[str, str] | None = None) -> Template:
    """Pre-split a format on `$n` and compile its inline `${…}` (raises ExpressionError). As W: (the matcher stops at
    an ArrayIndexOutOfBounds), the first `$n` without an argument ends substitution: it and everything after stay
    literal."""
    if media == "xml":
        text = f"{_PADDING_OPEN}{text}{_PADDING_CLOSE}"
    parts: list[str | int | Inline] = []
    position = 0
    mismatch = None
    for match in _PLACEHOLDER.finditer(text):
        quoted, bare, number = match.groups()
        item: int | Inline
        if number is not None:
            index = int(number)
            if not 1 <= index <= arg_count:
                mismatch = f"${index} has no matching argument ({arg_count} given)"
                break
            item = index - 1
        else:
            item = Inline(compile_synapse_expression(quoted or bare, namespaces), quoted is not None)
        parts.append(text[position : match.start()])
        parts.append(item)
        position = match.end()
    parts.append(text[position:])
    return Template(tuple(p for p in parts if p != ""), mismatch)


def format_text(entry: Any, media: str) -> str:
    """The format text of an inline `<format>` or a local entry: XML media uses the first element
    serialised (whitespace-only text removed, as W: removeIndentations); JSON/text use the text."""
    if isinstance(entry, etree._Element):
        copy = _without_indentation(entry)
        if media == "xml":
            return etree.tostring(copy, encoding=str, with_tail=False)
        return copy.text or ""
    return str(entry)


def _without_indentation(element: etree._Element) -> etree._Element:
    import copy

    clone = copy.deepcopy(element)
    for node in clone.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    clone.tail = None
    return clone


@lru_cache(maxsize=256)
def _keyed_template(text: str, media: str, arg_count: int) -> Template:
    return compile_template(text, media, arg_count)


# -- arguments -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Argument:
    """`<arg value|expression [evaluator] [literal]>`; `static_is_xml` is decided once for a value."""

    value: str | None
    expression: Expression | None
    literal: bool
    static_is_xml: bool = False

    @property
    def json_path(self) -> bool:
        return self.expression is not None and self.expression.kind == "json"


def xml_escape(text: str) -> str:
    return _XML10_INVALID.sub("", text).translate(_XML_ESCAPES)


def json_escape(text: str) -> str:
    """W: escapeSpecialChars (\\ " \\b \\f \\n \\r \\t); other control characters are escaped too, so the
    result is always valid JSON (W: would emit them raw and fail to parse)."""
    return _JSON_CONTROL.sub(lambda m: _JSON_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text)


def _json_to_xml_text(text: str) -> str | None:
    """A JSON argument inside an XML format: the converted elements (jsonObject/jsonArray unwrapped)."""

    try:
        root = json_bytes_to_xml(text.strip())
    except JsonConversionError:
        return None
    if root.tag in ("jsonObject", "jsonArray"):
        return "".join(
            etree.tostring(child, encoding=str, with_tail=False) for child in root if isinstance(child.tag, str)
        )
    return etree.tostring(root, encoding=str, with_tail=False)


def _xml_to_json_text(text: str) -> str | None:
    """An XML argument inside a JSON format: `<jsonObject>arg</jsonObject>` converted (W:)."""

    root = parse_fragment(text)
    if root is None:
        return None
    root.tag = "jsonObject"
    return xml_to_json_bytes(root).decode("utf-8")


def replacement(arg: Argument, ctx: MessageContext, media: str) -> str:
    """The text that replaces `$n` (W: getArgValues + prepareReplacementValue, without the
    Matcher.appendReplacement escaping, which only exists to survive Java's regex replacement).

    Deliberate differences: `literal="true"` keeps an XML-looking value as escaped text in an XML format
    (W: inserts it raw); a JSON-looking string in an XML format that does not convert stays text (W:
    faults)."""
    if arg.expression is None:
        raw = arg.value or ""
        is_xml = arg.static_is_xml and not arg.literal
        # W: a static value is XML-escaped whatever the media type (so '&' reaches JSON as '&amp;').
        value = raw if is_xml else xml_escape(raw)
        kind = "xml" if is_xml else "str"
    else:
        raw = arg.expression.string_value(ctx) or ""
        is_xml = looks_like_xml(raw)
        if arg.literal:
            kind = "str"
        elif is_xml and not arg.json_path:
            kind = "xml"
        elif arg.json_path and looks_like_json(raw):
            kind = "json"
        else:
            kind = "str"
        escape = media == "xml" and ((not is_xml and kind != "json") or (arg.literal and is_xml))
        value = xml_escape(raw) if escape else raw
    if media == "json":
        if kind == "xml":
            converted = _xml_to_json_text(value)
            return converted if converted is not None else _quoted(ctx, json_escape(value), value)
        if kind == "str":
            return _quoted(ctx, json_escape(value), raw)
        return value
    if media == "xml":
        if kind == "json":
            converted = _json_to_xml_text(raw)
            return converted if converted is not None else xml_escape(raw)
        if kind == "str" and not arg.literal and looks_like_json(raw):
            converted = _json_to_xml_text(raw)
            if converted is not None:
                return converted
    return value


def inline_replacement(part: Inline, ctx: MessageContext, media: str) -> str:
    """W: RegexTemplateProcessor.replace for `${…}` / `"${…}"`: the object value (the string value when the
    expression calls xpath()), JSON objects and arrays as JSON (converted to XML in an XML format), strings escaped
    for the format."""
    expression = part.expression
    value: Any = expression.string_value(ctx) if "xpath(" in expression.source else expression.evaluate(ctx)
    if isinstance(value, JsonValue):
        value = value.value
    if isinstance(value, (dict, list)) and not any(isinstance(v, etree._Element) for v in value):
        text = dump_json(value).decode("utf-8")
        if media == "xml":
            return _json_to_xml_text(text) or xml_escape(text)
        return f'"{json_escape(text)}"' if part.quoted else text
    text = value if isinstance(value, str) else (as_string(value) or "")
    if part.quoted:
        if media == "xml":
            return f'"{xml_escape(text)}"'
        if media == "json":
            return f'"{json_escape(text)}"'
        return f'"{text}"'
    if media == "json" and looks_like_xml(text):
        return _xml_to_json_text(text) or json_escape(text)
    if media == "xml" and not looks_like_xml(text):
        return xml_escape(text)
    return text


def _quoted(ctx: MessageContext, escaped: str, original: str) -> str:
    """QUOTE_STRING_IN_PAYLOAD_FACTORY_JSON=true quotes string values (not true/false/null/numbers)."""
    flag = ctx.properties.get(QUOTE_STRINGS)
    if flag is None or str(flag).lower() != "true":
        return escaped
    trimmed = original.strip()
    if trimmed[:1] in ("{", "[") or trimmed in ("true", "false", "null") or _JSON_NUMBER.fullmatch(trimmed):
        return escaped
    return f'"{escaped}"'


# -- the mediator --------------------------------------------------------------------------------


class PayloadFactory(Mediator):
    """Replace the payload with a format filled from arguments, and switch messageType as W: does."""

    __slots__ = ("media", "template", "key", "args", "jinja", "_reads_body")
    tag = "payloadFactory"

    def __init__(
        self,
        *,
        media: str,
        template: Template | None,
        key: Value | None,
        args: tuple[Argument, ...],
        jinja: JinjaTemplate | None,
        location: SourceLocation,
    ) -> None:
        super().__init__(location)
        self.media = media
        self.template = template
        self.key = key
        self.args = args
        self.jinja = jinja
        self._reads_body = (
            any(a.expression is not None and a.expression.needs_body for a in args)
            or bool(key is not None and key.needs_body)
            or bool(jinja is not None and jinja.needs_body)
            or bool(template is not None and template.needs_body)
        )

    @property
    def reads_body(self) -> bool:
        return self._reads_body

    async def mediate(self, ctx: MessageContext) -> bool:
        if self.jinja is not None:
            out = await self.jinja.render(ctx)
        else:
            template = self.template if self.template is not None else self._keyed(ctx)
            values = [replacement(arg, ctx, self.media) for arg in self.args]
            out = template.render(values.__getitem__, lambda part: inline_replacement(part, ctx, self.media))
        await self._install(ctx, out.strip())
        self._switch_message_type(ctx)
        return True

    def _keyed(self, ctx: MessageContext) -> Template:
        assert self.key is not None
        name = self.key.resolve(ctx)
        entry = ctx.local_entry(name) if name else None
        if entry is None:
            raise MediationError(
                f"Key {name} not found ",
                detail=f"payloadFactory at {self.location}: deploy a local entry named '{name}' holding the format",
            )
        try:
            template = _keyed_template(format_text(entry, self.media), self.media, len(self.args))
        except ExpressionError as exc:
            raise MediationError(f"Invalid Payload format : {exc}") from None
        if template.mismatch:
            log.warning("payloadFactory at %s: %s (format key %s)", self.location, template.mismatch, name)
        return template

    async def _install(self, ctx: MessageContext, out: str) -> None:
        if self.media == "json":
            try:
                parse_json(out)
            except ValueError as exc:
                raise MediationError(
                    f"Error creating JSON Payload from source {out}",
                    detail=f"payloadFactory at {self.location}: the filled format is not valid JSON ({exc})",
                ) from None
            set_json_payload(ctx, out.encode("utf-8"))
        elif self.media == "text":
            set_text_payload(ctx, out)
        else:
            try:
                padding = etree.fromstring(
                    out if out.startswith(_PADDING_OPEN) else f"{_PADDING_OPEN}{out}{_PADDING_CLOSE}",
                    SAFE_PARSER,
                )
            except etree.XMLSyntaxError as exc:
                raise MediationError(
                    f"Error creating SOAP Envelope from source {out}",
                    detail=f"payloadFactory at {self.location}: the filled format is not well-formed XML ({exc.msg})",
                ) from None
            element = next((child for child in padding if isinstance(child.tag, str)), None)
            if element is None:
                raise MediationError(
                    f"Error creating SOAP Envelope from source {out}",
                    detail=f"payloadFactory at {self.location}: the format has no element",
                )
            if etree.QName(element).localname == "Envelope" and etree.QName(element).namespace in soap.SOAP_NAMESPACES:
                set_envelope(ctx, element)  # the format is a whole envelope (W: checkAndReplaceEnvelope)
            else:
                await set_xml_body(ctx, element)

    def _switch_message_type(self, ctx: MessageContext) -> None:
        """W: setContentType: json → application/json, text → text/plain, xml → application/xml unless
        the message is already XML or SOAP; NO_ENTITY_BODY is removed in every case."""
        media = MEDIA_TYPES[self.media]
        current = ctx.axis2.get("messageType")
        if self.media != "xml" or current not in _XML_TYPES:
            set_message_type_automatically(ctx, media)
        ctx.axis2.pop("NO_ENTITY_BODY", None)


# -- template-type="jinja2" (our extension) -------------------------------------------------------


class JinjaTemplate:
    """A sandboxed Jinja2 template compiled at deploy time. It sees `payload` (the JSON value of the
    message), `xpath('expr')` (the Synapse string value of an XPath or json-eval on the message),
    `props` (default scope), `axis2` and `headers` (transport headers, read-only)."""

    __slots__ = ("template", "namespaces", "needs_body", "uses_payload", "_compiled")

    def __init__(
        self,
        template: jinja2.Template,
        namespaces: Mapping[str, str],
        needs_body: bool,
        uses_payload: bool,
        compiled: dict[str, Expression],
    ) -> None:
        self.template = template
        self.namespaces = dict(namespaces)
        self.needs_body = needs_body
        self.uses_payload = uses_payload
        self._compiled = compiled

    def _expression(self, text: str) -> Expression:
        expression = self._compiled.get(text)
        if expression is None:
            try:
                expression = compile_expression(text, self.namespaces)
            except ExpressionError as exc:
                raise MediationError(f"invalid expression in a jinja2 template: {text}", detail=str(exc)) from None
            if len(self._compiled) < 256:  # dynamic expressions: a small bounded cache
                self._compiled[text] = expression
        return expression

    async def render(self, ctx: MessageContext) -> str:
        from types import MappingProxyType

        from jinja2 import TemplateError
        from multidict import CIMultiDictProxy

        payload = await json_document(ctx) if self.uses_payload else None
        if self.needs_body and not ctx.payload.is_built:
            await ctx.build()

        def xpath(text: str) -> str:
            value = self._expression(str(text)).string_value(ctx)
            return "" if value is None else value

        try:
            return self.template.render(
                payload=payload,
                xpath=xpath,
                props=MappingProxyType(ctx.properties),
                axis2=MappingProxyType(ctx.axis2),
                headers=CIMultiDictProxy(ctx.transport_headers),
            )
        except TemplateError as exc:
            raise MediationError(f"jinja2 payloadFactory template failed: {exc}") from None


def to_json(value: Any) -> str:
    """The `tojson` filter of jinja2 templates: compact JSON, exact numbers."""
    return dump_json(value).decode("utf-8")
