"""Factories for payloadFactory, enrich and makefault (W: config/xml/{PayloadFactoryMediatorFactory,
EnrichMediatorFactory,FaultMediatorFactory}; docs/synapse-semantics.md §5.5, §5.6, §5.8).

Everything is validated and compiled here: formats are pre-split on `$n`, jinja2 templates compiled in a
sandbox, XPath/JSONPath compiled, enrich type combinations and makefault codes checked with W:'s rules."""

from __future__ import annotations

import copy
import logging
import re

from jsonpath import JSONPathError
from lxml import etree

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node
from gateway.deploy.registry import mediator
from gateway.errors import ExpressionError
from gateway.expressions import Expression, compile_expression, compile_jsonpath
from gateway.mediators.enrich import (
    BODY,
    CHILD,
    CUSTOM,
    ENVELOPE,
    INLINE,
    PROPERTY,
    REMOVE,
    REPLACE,
    SIBLING,
    Enrich,
    JsonPathRef,
    Source,
    Target,
    split_json_paths,
)
from gateway.mediators.makefault import FaultCode, MakeFault
from gateway.mediators.payload_factory import (
    Argument,
    JinjaTemplate,
    PayloadFactory,
    compile_template,
    format_text,
    to_json,
)
from gateway.mediators.transform import looks_like_xml, parse_json
from gateway.message import kinds, soap
from gateway.message.faults import SOAP11_CODES, SOAP12_CODES
from gateway.xmlutil import children, config_error, did_you_mean, prefixed_namespaces

log = logging.getLogger("gateway.deploy")


# -- payloadFactory ------------------------------------------------------------------------------

_TEMPLATE_TYPES = ("default", "jinja2", "freemarker")


def _payload_factory(node: Node) -> PayloadFactory:
    media, template_type = node["media-type"], node["template-type"].lower()
    if template_type not in _TEMPLATE_TYPES:
        raise node.error(
            f"invalid template-type '{node['template-type']}'",
            did_you_mean(template_type, _TEMPLATE_TYPES) or "use default or jinja2",
        )
    if template_type == "freemarker":
        raise node.error(
            "FreeMarker templates are not supported",
            'use template-type="jinja2" (a sandboxed Jinja2 template) or the default $n format',
        )
    format_node = node.one("format")
    if format_node is None:
        raise node.error(
            "format element of payloadFactoryMediator is required",
            'add <format>…</format> or <format key="localEntryKey"/>',
        )
    args_node = node.one("args")
    args = tuple(arg.build() for arg in args_node.all("arg")) if args_node is not None else ()
    format_element = format_node.element
    if format_node.has("key"):
        if children(format_element) or (format_element.text or "").strip():
            raise format_node.error("a <format> takes either a 'key' or inline content, not both")
        if template_type == "jinja2":
            raise format_node.error(
                "jinja2 templates must be inline", "they are compiled at deploy time; put the template inside <format>"
            )
        return PayloadFactory(
            media=media, template=None, key=format_node["key"], args=args, jinja=None, location=node.location
        )
    if media == "xml" and template_type == "default":
        first = children(format_element)
        if not first:
            raise format_node.error(
                "an XML format needs an element",
                'put the payload element inside <format> (or use media-type="json"/"text")',
            )
        text = format_text(first[0], "xml")
    elif media == "xml" and children(format_element):
        text = format_text(children(format_element)[0], "xml")
    else:
        text = format_text(format_element, "json")
    if template_type == "jinja2":
        if args_node is not None and args:
            raise args_node.error(
                "a jinja2 template takes no <args>",
                "read values inside the template: xpath('…'), payload, props, axis2, headers",
            )
        return PayloadFactory(
            media=media,
            template=None,
            key=None,
            args=(),
            jinja=_jinja(format_element, text, media),
            location=node.location,
        )
    try:
        template = compile_template(text, media, len(args), node.namespaces)
    except ExpressionError as exc:
        raise format_node.error("Invalid Payload format", str(exc)) from None
    if template.mismatch:
        log.warning(
            "%s: payloadFactory: %s; MI logs this and leaves the rest of the format unreplaced",
            node.location,
            template.mismatch,
        )
    return PayloadFactory(media=media, template=template, key=None, args=args, jinja=None, location=node.location)


def _argument(arg: Node) -> Argument:
    literal = arg["literal"]
    value, expression = arg["value"], arg.raw("expression")
    if value is not None:
        if expression is not None:
            raise arg.error("give either 'value' or 'expression', not both")
        return Argument(value, None, literal, looks_like_xml(value))
    if expression is None:
        raise arg.error("Unsupported arg type. value or expression attribute required")
    if not expression.strip():
        raise arg.error("Attribute value for xpath cannot be empty")
    if arg["evaluator"] == "json":
        try:
            compiled: Expression = compile_jsonpath(expression, expression)  # json-eval(…) is optional here
        except ExpressionError as exc:
            raise arg.error(f"invalid JSONPath for attribute 'expression': '{expression}'", str(exc)) from None
    else:
        try:
            compiled = compile_expression(expression, arg.namespaces)
        except ExpressionError as exc:
            raise arg.error(f"invalid expression for attribute 'expression': '{expression}'", str(exc)) from None
    return Argument(None, compiled, literal)


_ARG = Element(
    "arg",
    "One $n value: a literal or an expression.",
    build=_argument,
    attributes=(
        Attribute("value", Kind.TEXT, "A literal value."),
        Attribute("expression", Kind.TEXT, "XPath (evaluator xml) or JSONPath (evaluator json)."),
        Attribute(
            "evaluator",
            Kind.CHOICE,
            "xml (XPath) or json (JSONPath).",
            choices=("xml", "json"),
            default="xml",
            label="evaluator",
        ),
        Attribute("literal", Kind.BOOLEAN, "true: never parse the value as XML/JSON.", default=False),
        Attribute(
            "deepCheck",
            Kind.TEXT,
            "ESB 4.x's payloadFactory option, still written by tooling and MI's own tests.",
            ignored="PayloadFactoryMediatorFactory no longer reads deepCheck; use literal",
        ),
    ),
)
mediator(
    Element(
        "payloadFactory",
        "Replace the payload with a format whose $1, $2, … are filled from <args> (or a sandboxed "
        "jinja2 template, an extension).",
        anchor="W: PayloadFactoryMediatorFactory",
        build=_payload_factory,
        children=(
            Child(
                Element(
                    "format",
                    "The new payload: inline, or key= naming a local entry.",
                    body=Body.ANY,
                    common=False,
                    attributes=(
                        Attribute("key", Kind.KEY, "A local entry holding the format.", refers_to="localEntry"),
                    ),
                ),
            ),
            Child(Element("args", "The values for $1, $2, …", common=False, children=(Child(_ARG, repeatable=True),))),
        ),
        attributes=(
            Attribute(
                "media-type",
                Kind.CHOICE,
                "The new payload's format.",
                choices=("xml", "json", "text"),
                default="xml",
                label="media-type",
            ),
            Attribute(
                "template-type",
                Kind.TEXT,
                "default ($n) or jinja2 (an extension); freemarker is not supported.",
                default="default",
            ),
            Attribute("escapeXmlChars", Kind.BOOLEAN, "Accepted: JSON arguments are always escaped.", default=False),
        ),
    )
)


def _jinja(element: etree._Element, text: str, media: str) -> JinjaTemplate:
    from jinja2 import TemplateSyntaxError, meta, nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(autoescape=media == "xml", undefined=_lenient_undefined())
    env.filters["tojson"] = to_json
    try:
        tree = env.parse(text)
        template = env.from_string(text)
    except TemplateSyntaxError as exc:
        raise config_error(
            element,
            f"invalid jinja2 template: {exc.message} (template line {exc.lineno})",
            "wrap the template in <![CDATA[…]]> if it contains XML-special characters",
        ) from None
    variables = meta.find_undeclared_variables(tree)
    namespaces = prefixed_namespaces(element)
    compiled: dict[str, Expression] = {}
    needs_body = False
    for call in tree.find_all(nodes.Call):
        if not (isinstance(call.node, nodes.Name) and call.node.name == "xpath"):
            continue
        argument = call.args[0] if call.args else None
        if isinstance(argument, nodes.Const) and isinstance(argument.value, str):
            try:
                expression = compile_expression(argument.value, namespaces)
            except ExpressionError as exc:
                raise config_error(
                    element, f"invalid expression in the jinja2 template: xpath('{argument.value}')", str(exc)
                ) from None
            compiled[argument.value] = expression
            needs_body = needs_body or expression.needs_body
        else:
            needs_body = True  # computed at run time: assume it reads the message
    return JinjaTemplate(template, namespaces, needs_body, "payload" in variables, compiled)


def _lenient_undefined() -> type:
    """Missing values render as "" (like a missing property in MI), but touching an unsafe attribute fails
    the render instead of silently printing nothing."""
    from jinja2 import ChainableUndefined
    from jinja2.exceptions import SecurityError

    class LenientUndefined(ChainableUndefined):
        __slots__ = ()

        def __str__(self) -> str:
            if self._undefined_exception is SecurityError:
                self._fail_with_undefined_error()
            return super().__str__()

        __html__ = __str__

    return LenientUndefined


# -- enrich --------------------------------------------------------------------------------------

_TYPES = (CUSTOM, ENVELOPE, BODY, PROPERTY, INLINE)
_LATER = {
    "key": 'renaming a JSON key (type="key") is not supported yet',
    "variable": 'MI 4.4 variables (type="variable") are not supported yet',
}
_ACTIONS = (REPLACE, CHILD, SIBLING, REMOVE)
_PROPERTY_TARGET = re.compile(r"'([^']*)'")


def _type(element: etree._Element, side: str) -> str:
    value = element.get("type")
    if value is None:
        return CUSTOM  # W: custom is the default for both
    if value in _LATER:
        raise config_error(element, f"{side} {_LATER[value]}", "use custom, body, property, inline or envelope")
    if value not in _TYPES:
        raise config_error(
            element,
            f"Unexpected {side} type '{value}'",
            did_you_mean(value, _TYPES) or f"use one of: {', '.join(_TYPES)}",
        )
    return value


def _combination(
    source: etree._Element, target: etree._Element, source_type: str, target_type: str, action: str
) -> None:
    """W: EnrichMediatorFactory.validateTypeCombination, applied to the effective types (W: checks an
    explicit target type only, so a defaulted custom target slips through there)."""
    if target_type == INLINE:
        raise config_error(
            target,
            "Inline not support for target attribute",
            "inline is a source type only; the target is custom, body, property or envelope",
        )
    wrong = "Wrong combination of source and target type"
    if source_type == ENVELOPE and target_type in (CUSTOM, ENVELOPE, BODY):
        raise config_error(
            target,
            f"{wrong}: an envelope source can only be stored in a property",
            'use <target type="property" property="…"/>',
        )
    if source_type == BODY and target_type in (ENVELOPE, BODY):
        raise config_error(
            target,
            f"{wrong}: a body source cannot replace the {target_type}",
            "target a custom XPath or a property instead",
        )
    if source_type == CUSTOM and target_type == ENVELOPE:
        raise config_error(
            target,
            f"{wrong}: a custom source cannot become the envelope",
            "an envelope target needs an envelope from an inline or property source",
        )
    if target_type == ENVELOPE and action != REPLACE:
        raise config_error(target, "Invalid target action: an envelope target only supports replace")
    if action == REMOVE:
        if source_type != CUSTOM:
            raise config_error(
                source,
                "Wrong combination of source type and target action: remove needs a "
                "custom source (the XPath/JSONPath of what to remove)",
            )
        if target_type in (CUSTOM, ENVELOPE):
            raise config_error(
                target,
                "Wrong combination of target type and target action: remove works on the body or a property",
            )


def _enrich(node: Node) -> Enrich:
    source_node, target_node = node.one("source"), node.one("target")
    assert source_node is not None and target_node is not None  # required by the declaration
    source_el, target_el = source_node.element, target_node.element
    source_type, target_type = _type(source_el, "source"), _type(target_el, "target")
    action = target_node["action"]
    if action not in _ACTIONS:
        raise target_node.error(
            f"Unexpected target action '{action}'",
            did_you_mean(action, _ACTIONS) or f"use one of: {', '.join(_ACTIONS)}",
        )
    _combination(source_el, target_el, source_type, target_type, action)
    source = _source(source_el, source_type, action)
    node.fctx.refer("localEntry", source.inline_key, source_el)
    target = _target(target_el, target_type, action)
    return Enrich(source, target, _native_json(source, target), node.location)


_ENRICH_TYPES = "custom (an XPath or JSONPath), envelope, body, property or inline"
mediator(
    Element(
        "enrich",
        "Copy a part of the message (or an inline value, or a property) into another part, or remove it.",
        anchor="W: EnrichMediatorFactory",
        build=_enrich,
        children=(
            Child(
                Element(
                    "source",
                    "What to copy.",
                    body=Body.ANY,
                    common=False,
                    attributes=(
                        Attribute("type", Kind.TEXT, f"{_ENRICH_TYPES} (default custom)."),
                        Attribute("clone", Kind.BOOLEAN, "Copy (true) or move (false).", default=True),
                        Attribute("xpath", Kind.TEXT, "custom: the XPath or json-eval(…) of what to copy."),
                        Attribute("property", Kind.TEXT, "property: the property to copy."),
                        Attribute("key", Kind.TEXT, "inline: a local entry holding the value."),
                    ),
                ),
                required=True,
            ),
            Child(
                Element(
                    "target",
                    "Where it goes.",
                    common=False,
                    attributes=(
                        Attribute("type", Kind.TEXT, "custom, envelope, body or property (default custom)."),
                        Attribute("action", Kind.TEXT, "replace, child, sibling or remove.", default=REPLACE),
                        Attribute("xpath", Kind.TEXT, "custom: the XPath or json-eval(…) of the place."),
                        Attribute("property", Kind.TEXT, "property: the property to set."),
                    ),
                ),
                required=True,
            ),
        ),
    )
)


def _expression(element: etree._Element, attribute: str) -> Expression:
    text = element.get(attribute) or ""
    try:
        return compile_expression(text, prefixed_namespaces(element))
    except ExpressionError as exc:
        raise config_error(element, f"invalid expression for attribute '{attribute}': '{text}'", str(exc)) from None


def _source(element: etree._Element, kind: str, action: str) -> Source:
    clone = (element.get("clone") or "true").strip().lower() != "false"
    if kind == CUSTOM:
        text = element.get("xpath")
        if not text or not text.strip():
            raise config_error(element, "xpath attribute is required for CUSTOM type")
        if action == REMOVE and text.strip().startswith("json-eval("):
            try:
                paths = tuple(JsonPathRef(p) for p in split_json_paths(text))
            except (ValueError, JSONPathError) as exc:
                raise config_error(element, f"invalid JSONPath in '{text}'", str(exc)) from None
            return Source(CUSTOM, clone, None, None, remove_paths=paths)
        expression = _expression(element, "xpath")
        json_path = None
        if expression.kind == "json":
            try:
                json_path = JsonPathRef(text)
            except (ValueError, JSONPathError):
                json_path = None  # e.g. json-eval($ctx:p.a): read through the expression, never natively
        return Source(CUSTOM, clone, expression, json_path)
    if kind == PROPERTY:
        name = element.get("property")
        if not name:
            raise config_error(element, "property attribute is required for PROPERTY type")
        return Source(PROPERTY, clone, property=name)
    if kind == INLINE:
        inline = children(element)
        if inline:
            return Source(INLINE, clone, inline=copy.deepcopy(inline[0]))
        if (element.text or "").strip():
            return Source(INLINE, clone, inline=element.text)
        if element.get("key"):
            return Source(INLINE, clone, inline_key=element.get("key"))
        raise config_error(
            element,
            "XML element is required for INLINE type",
            'put an element or text inside <source type="inline">, or name a local entry with key="…"',
        )
    return Source(kind, clone)


def _target(element: etree._Element, kind: str, action: str) -> Target:
    if kind == CUSTOM:
        text = element.get("xpath")
        if not text or not text.strip():
            raise config_error(element, "xpath attribute is required for CUSTOM type")
        stripped = text.strip()
        if stripped.startswith("get-property("):
            # W: Target.handleProperty: a get-property() target names a property (scope optional)
            names = _PROPERTY_TARGET.findall(stripped)
            if not names:
                raise config_error(element, f"cannot read a property name from '{text}'")
            scope, name = (names[0], names[1]) if len(names) > 1 else ("default", names[0])
            if scope not in ("default", "axis2", "operation"):
                raise config_error(
                    element,
                    f"unsupported property scope '{scope}' in an enrich target",
                    "use default, axis2 or operation",
                )
            return Target(CUSTOM, action, None, None, name, scope)
        expression = _expression(element, "xpath")
        json_path = None
        if expression.kind == "json":
            try:
                json_path = JsonPathRef(text)
            except (ValueError, JSONPathError) as exc:
                raise config_error(element, f"a JSONPath target must address the payload: '{text}'", str(exc)) from None
            if action == REPLACE and json_path.root:
                raise config_error(
                    element,
                    "Acting replace is not supported for root path in type custom. "
                    "Please use type body action replace instead",
                )
            if action == SIBLING:
                raise config_error(
                    element,
                    "Action sibling is not supported for a JSONPath target. Please use child action instead",
                )
        return Target(CUSTOM, action, expression, json_path)
    if kind == PROPERTY:
        name = element.get("property")
        if not name:
            raise config_error(element, "property attribute is required for PROPERTY type")
        return Target(PROPERTY, action, property=name)
    return Target(kind, action)


def _native_json(source: Source, target: Target) -> bool:
    """W: EnrichMediatorFactory's conditions for working on a JSON payload without XML conversion."""
    inline_is_xml = source.type == INLINE and (
        isinstance(source.inline, etree._Element) or (isinstance(source.inline, str) and not _is_json(source.inline))
    )
    source_custom, target_custom = source.type == CUSTOM, target.type == CUSTOM
    source_json = source_custom and (source.json_path is not None or bool(source.remove_paths))
    target_json = target_custom and target.json_path is not None
    no_envelope = ENVELOPE not in (source.type, target.type)
    return (
        not inline_is_xml
        and no_envelope
        and (
            not (source_custom or target_custom)
            or (source_json and not target_custom)
            or (not source_custom and target_json)
            or (source_json and target_json)
        )
    )


def _is_json(text: str) -> bool:
    try:
        parse_json(text)
    except ValueError:
        return False
    return True


# -- makefault -----------------------------------------------------------------------------------

_VERSIONS = kinds.XML_KINDS
_URI_TEXT = re.compile(r"\S+")


def _makefault(node: Node) -> MakeFault:
    version_attr = node["version"]
    if version_attr is not None and version_attr not in _VERSIONS:
        raise node.error("Invalid SOAP version", f'version="{version_attr}": use soap11, soap12 or pox')
    version = version_attr or kinds.SOAP11  # W: SOAP 1.1 when no version is given (A: guesses from the message)
    response = node["response"]
    if response is not None and response not in ("true", "false"):
        raise node.error(f"Invalid value '{response}' passed as response. Expected 'true' or 'false'")
    element = node.element
    parts = {
        tag: child.element
        for tag in ("code", "reason", "node", "role", "detail")
        if (child := node.one(tag)) is not None
    }
    code, code_expression = _code(parts.get("code"), element, version, version_attr is None)
    reason, reason_expression = _reason(parts.get("reason"), element, version)
    fault_node = _uri(parts.get("node"), "node")
    if fault_node is not None and version != kinds.SOAP12:
        if version_attr is None:
            raise config_error(
                parts["node"],
                "a fault node does not apply to a SOAP 1.1 fault (the default version)",
                'set version="soap12" or remove <node>',
            )
        fault_node = None  # W: ignored for an explicit soap11 / pox fault
    role = _uri(parts.get("role"), "role")
    detail_text, detail_expression, detail_elements = _detail(parts.get("detail"))
    return MakeFault(
        version=version,
        code=code,
        code_expression=code_expression,
        reason=reason,
        reason_expression=reason_expression,
        role=role,
        node=fault_node,
        detail_text=detail_text,
        detail_expression=detail_expression,
        detail_elements=detail_elements,
        mark_response=response != "false",
        location=node.location,
    )


def _valued(tag: str, doc: str) -> Element:
    return Element(
        tag,
        doc,
        common=False,
        attributes=(
            Attribute("value", Kind.TEXT, "A literal."),
            Attribute("expression", Kind.TEXT, "Read from the message."),
        ),
    )


mediator(
    Element(
        "makefault",
        "Turn the message into a SOAP 1.1, SOAP 1.2 or POX fault.",
        anchor="W: FaultMediatorFactory",
        build=_makefault,
        children=(
            Child(_valued("code", "The fault code, prefix:Name in the version's namespace (not for pox).")),
            Child(_valued("reason", "The fault string.")),
            Child(Element("node", "The SOAP 1.2 fault node URI.", body=Body.TEXT, common=False)),
            Child(Element("role", "The fault role (actor) URI.", body=Body.TEXT, common=False)),
            Child(
                Element(
                    "detail",
                    "Fault detail: text, elements, or an expression.",
                    body=Body.ANY,
                    common=False,
                    attributes=(Attribute("expression", Kind.TEXT, "Read from the message."),),
                )
            ),
        ),
        attributes=(
            Attribute("version", Kind.TEXT, "soap11 (default), soap12 or pox."),
            Attribute("response", Kind.TEXT, "true (default): the fault is a response to send back."),
        ),
    )
)


def _code(
    element: etree._Element | None, makefault_el: etree._Element, version: str, defaulted: bool
) -> tuple[FaultCode | None, Expression | None]:
    if element is None:
        if version != kinds.POX:
            raise config_error(
                makefault_el,
                "The fault code is a required attribute for the makefault mediator unless it is a pox fault",
                'add <code value="soapenv:Server" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"/>',
            )
        return None, None
    value, expression = element.get("value"), element.get("expression")
    if value is None:
        if expression is None:
            raise config_error(element, "A 'value' or 'expression' attribute must specify the fault code")
        return None, _expression(element, "expression")
    if ":" not in value:
        raise config_error(
            element,
            "A QName is expected for fault code as prefix:name",
            f'e.g. value="soapenv:{value or "Server"}" with xmlns:soapenv declared',
        )
    prefix, name = value.split(":", 1)
    namespace = element.nsmap.get(prefix)
    if namespace is None:
        raise config_error(
            element,
            f"Invalid namespace prefix '{prefix}' in code attribute",
            f'declare xmlns:{prefix}="{soap.VERSION_NS.get(version, soap.SOAP11_NS)}"',
        )
    if version in kinds.SOAP_KINDS:
        _check_code(element, version, namespace, name, defaulted)
    return FaultCode(name, namespace, prefix), None


def _check_code(element: etree._Element, version: str, namespace: str, name: str, defaulted: bool) -> None:
    """W: FaultMediatorFactory (product-ei#3999): the code must be one of the version's own codes."""
    expected = soap.VERSION_NS[version]
    codes = SOAP11_CODES if version == kinds.SOAP11 else SOAP12_CODES
    other = kinds.SOAP12 if version == kinds.SOAP11 else kinds.SOAP11
    equivalent = {"Receiver": "Server", "Sender": "Client", "Server": "Receiver", "Client": "Sender"}.get(name, name)
    if namespace != expected:
        hint = None
        if namespace == soap.VERSION_NS[other]:
            suggestion = equivalent if equivalent in codes else codes[-1]
            why = "makefault defaults to SOAP 1.1 on MI" if defaulted else f"this is a {version} fault"
            hint = (
                f'{why}: set version="{other}" or use a {version} code such as soapenv:{suggestion} '
                f'with xmlns:soapenv="{expected}"'
            )
        raise config_error(
            element,
            f"Invalid namespace in fault code for {version} version. Namespace should be corrected as {expected}.",
            hint,
        )
    if name not in codes:
        hint = f"did you mean '{equivalent}'?" if equivalent in codes else did_you_mean(name, codes)
        raise config_error(
            element,
            f"Invalid code value for {version} version. Code value has to be one of the following : {', '.join(codes)}",
            hint,
        )


def _reason(
    element: etree._Element | None, makefault_el: etree._Element, version: str
) -> tuple[str | None, Expression | None]:
    if element is None:
        if version != kinds.POX:
            raise config_error(
                makefault_el,
                "The fault reason is a required attribute for the makefault mediator unless it is a pox fault",
                'add <reason value="…"/>',
            )
        return None, None
    value, expression = element.get("value"), element.get("expression")
    if value is not None:
        return value, None
    if expression is None:
        raise config_error(element, "A 'value' or 'expression' attribute must specify the fault reason")
    return None, _expression(element, "expression")


def _uri(element: etree._Element | None, what: str) -> str | None:
    if element is None:
        return None
    if element.text is None:
        return None
    text = element.text.strip()
    if not _URI_TEXT.fullmatch(text):
        raise config_error(element, f"Invalid URI specified for fault {what} : {element.text}")
    return text


def _detail(
    element: etree._Element | None,
) -> tuple[str | None, Expression | None, tuple[etree._Element, ...]]:
    if element is None:
        return None, None, ()
    if element.get("expression"):
        return None, _expression(element, "expression"), ()
    elements = children(element)
    if elements:
        return None, None, tuple(copy.deepcopy(child) for child in elements)
    return element.text or "", None, ()
