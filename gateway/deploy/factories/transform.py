"""Factories for payloadFactory, enrich and makefault (W: config/xml/{PayloadFactoryMediatorFactory,
EnrichMediatorFactory,FaultMediatorFactory}; reference §5.5, §5.6, §5.8).

Everything is validated and compiled here: formats are pre-split on `$n`, jinja2 templates compiled in a
sandbox, XPath/JSONPath compiled, enrich type combinations and makefault codes checked with W:'s rules."""

from __future__ import annotations

import copy
import logging
import re

from jsonpath import JSONPathError
from lxml import etree

from gateway.deploy.artifacts import dynamic_key
from gateway.deploy.registry import FactoryContext, mediator_factory
from gateway.deploy.xmlutil import (
    boolean_attribute,
    check_attributes,
    children,
    config_error,
    did_you_mean,
    is_description,
    local_name,
    location,
    prefixed_namespaces,
)
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
from gateway.message import soap
from gateway.message.faults import SOAP11_CODES, SOAP12_CODES

log = logging.getLogger("gateway.deploy")


def _expression(element: etree._Element, attribute: str) -> Expression:
    text = element.get(attribute) or ""
    try:
        return compile_expression(text, prefixed_namespaces(element))
    except ExpressionError as exc:
        raise config_error(
            element, f"invalid expression for attribute '{attribute}': '{text}'", str(exc)
        ) from None


def _only_children(element: etree._Element, allowed: tuple[str, ...]) -> dict[str, etree._Element]:
    found: dict[str, etree._Element] = {}
    for child in children(element):
        tag = local_name(child)
        if is_description(child):
            continue  # W: AbstractMediatorFactory reads a <description> on every mediator
        if tag not in allowed:
            raise config_error(
                child,
                f"unexpected <{tag}> inside <{local_name(element)}>",
                did_you_mean(tag, allowed) or f"allowed: {', '.join(allowed)}",
            )
        if tag in found:
            raise config_error(child, f"<{local_name(element)}> takes only one <{tag}>")
        found[tag] = child
    return found


# -- payloadFactory ------------------------------------------------------------------------------

_TEMPLATE_TYPES = ("default", "jinja2", "freemarker")


@mediator_factory("payloadFactory")
def payload_factory(element: etree._Element, fctx: FactoryContext) -> PayloadFactory:
    check_attributes(element, ("media-type", "template-type", "escapeXmlChars", "description"))
    media = element.get("media-type", "xml")
    if media not in ("xml", "json", "text"):
        raise config_error(
            element,
            f"invalid media-type '{media}'",
            did_you_mean(media, ("xml", "json", "text")) or "use xml, json or text",
        )
    template_type = (element.get("template-type") or "default").lower()
    if template_type not in _TEMPLATE_TYPES:
        raise config_error(
            element,
            f"invalid template-type '{element.get('template-type')}'",
            did_you_mean(template_type, _TEMPLATE_TYPES) or "use default or jinja2",
        )
    if template_type == "freemarker":
        raise config_error(
            element,
            "FreeMarker templates are not supported",
            'use template-type="jinja2" (a sandboxed Jinja2 template) or the default $n format',
        )
    boolean_attribute(element, "escapeXmlChars", False)  # accepted: our JSON arguments are always escaped
    parts = _only_children(element, ("format", "args"))
    format_element = parts.get("format")
    if format_element is None:
        raise config_error(
            element,
            "format element of payloadFactoryMediator is required",
            'add <format>…</format> or <format key="localEntryKey"/>',
        )
    check_attributes(format_element, ("key",))
    args = _arguments(parts.get("args"))
    where = location(element, fctx.path)
    key_text = format_element.get("key")
    if key_text is not None:
        if children(format_element) or (format_element.text or "").strip():
            raise config_error(format_element, "a <format> takes either a 'key' or inline content, not both")
        if template_type == "jinja2":
            raise config_error(
                format_element,
                "jinja2 templates must be inline",
                "they are compiled at deploy time; put the template inside <format>",
            )
        key = dynamic_key(format_element, key_text)
        fctx.refer("localEntry", key, format_element)
        return PayloadFactory(
            media=media,
            template=None,
            key=key,
            args=args,
            jinja=None,
            location=where,
        )
    if media == "xml" and template_type == "default":
        first = children(format_element)
        if not first:
            raise config_error(
                format_element,
                "an XML format needs an element",
                'put the payload element inside <format> (or use media-type="json"/"text")',
            )
        text = format_text(first[0], "xml")
    elif media == "xml" and children(format_element):
        text = format_text(children(format_element)[0], "xml")
    else:
        text = format_text(format_element, "json")
    if template_type == "jinja2":
        if args:
            raise config_error(
                parts["args"],
                "a jinja2 template takes no <args>",
                "read values inside the template: xpath('…'), payload, props, axis2, headers",
            )
        return PayloadFactory(
            media=media,
            template=None,
            key=None,
            args=(),
            jinja=_jinja(format_element, text, media),
            location=where,
        )
    template = compile_template(text, media, len(args))
    if template.mismatch:
        log.warning(
            "%s: payloadFactory: %s; MI logs this and leaves the rest of the format unreplaced",
            where,
            template.mismatch,
        )
    return PayloadFactory(media=media, template=template, key=None, args=args, jinja=None, location=where)


def _arguments(args_element: etree._Element | None) -> tuple[Argument, ...]:
    if args_element is None:
        return ()
    check_attributes(args_element, ())
    built: list[Argument] = []
    for arg in children(args_element):
        if local_name(arg) != "arg":
            raise config_error(arg, f"unexpected <{local_name(arg)}> inside <args>", "only <arg> is allowed")
        check_attributes(arg, ("value", "expression", "evaluator", "literal", "description"))
        literal = boolean_attribute(arg, "literal", False)
        value, expression = arg.get("value"), arg.get("expression")
        if value is not None:
            if expression is not None:
                raise config_error(arg, "give either 'value' or 'expression', not both")
            built.append(Argument(value, None, literal, looks_like_xml(value)))
            continue
        if expression is None:
            raise config_error(arg, "Unsupported arg type. value or expression attribute required")
        if not expression.strip():
            raise config_error(arg, "Attribute value for xpath cannot be empty")
        evaluator = arg.get("evaluator", "xml")
        if evaluator not in ("xml", "json"):
            raise config_error(arg, f"invalid evaluator '{evaluator}'", "use xml (XPath) or json (JSONPath)")
        if evaluator == "json":
            path = expression.strip()
            if path.startswith("json-eval(") and path.endswith(")"):
                path = path[len("json-eval(") : -1]
            try:
                compiled: Expression = compile_jsonpath(path.strip(), expression)
            except ExpressionError as exc:
                raise config_error(
                    arg, f"invalid JSONPath for attribute 'expression': '{expression}'", str(exc)
                ) from None
        else:
            compiled = _expression(arg, "expression")
        built.append(Argument(None, compiled, literal))
    return tuple(built)


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
    from jinja2.sandbox import SecurityError

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
        raise config_error(
            element, f"{side} {_LATER[value]}", "use custom, body, property, inline or envelope"
        )
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


@mediator_factory("enrich")
def enrich(element: etree._Element, fctx: FactoryContext) -> Enrich:
    check_attributes(element, ("description",))
    parts = _only_children(element, ("source", "target"))
    if "source" not in parts:
        raise config_error(element, "source element is mandatory")
    if "target" not in parts:
        raise config_error(element, "target element is mandatory")
    source_el, target_el = parts["source"], parts["target"]
    check_attributes(source_el, ("type", "clone", "xpath", "property", "key"))
    check_attributes(target_el, ("type", "action", "xpath", "property"))
    source_type, target_type = _type(source_el, "source"), _type(target_el, "target")
    action = target_el.get("action", REPLACE)
    if action not in _ACTIONS:
        raise config_error(
            target_el,
            f"Unexpected target action '{action}'",
            did_you_mean(action, _ACTIONS) or f"use one of: {', '.join(_ACTIONS)}",
        )
    _combination(source_el, target_el, source_type, target_type, action)
    source = _source(source_el, source_type, action)
    fctx.refer("localEntry", source.inline_key, source_el)
    target = _target(target_el, target_type, action)
    return Enrich(source, target, _native_json(source, target), location(element, fctx.path))


def _source(element: etree._Element, kind: str, action: str) -> Source:
    clone = boolean_attribute(element, "clone", True)
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
                raise config_error(
                    element, f"a JSONPath target must address the payload: '{text}'", str(exc)
                ) from None
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
        isinstance(source.inline, etree._Element)
        or (isinstance(source.inline, str) and not _is_json(source.inline))
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

_VERSIONS = ("soap11", "soap12", "pox")
_URI_TEXT = re.compile(r"\S+")


@mediator_factory("makefault")
def makefault(element: etree._Element, fctx: FactoryContext) -> MakeFault:
    check_attributes(element, ("version", "response", "description"))
    version_attr = element.get("version")
    if version_attr is not None and version_attr not in _VERSIONS:
        raise config_error(
            element, "Invalid SOAP version", f'version="{version_attr}": use soap11, soap12 or pox'
        )
    version = version_attr or "soap11"  # W: SOAP 1.1 when no version is given (A: guesses from the message)
    response = element.get("response")
    if response is not None and response not in ("true", "false"):
        raise config_error(
            element, f"Invalid value '{response}' passed as response. Expected 'true' or 'false'"
        )
    parts = _only_children(element, ("code", "reason", "node", "role", "detail"))
    code, code_expression = _code(parts.get("code"), element, version, version_attr is None)
    reason, reason_expression = _reason(parts.get("reason"), element, version)
    node = _uri(parts.get("node"), "node")
    if node is not None and version != "soap12":
        if version_attr is None:
            raise config_error(
                parts["node"],
                "a fault node does not apply to a SOAP 1.1 fault (the default version)",
                'set version="soap12" or remove <node>',
            )
        node = None  # W: ignored for an explicit soap11 / pox fault
    role = _uri(parts.get("role"), "role")
    detail_text, detail_expression, detail_elements = _detail(parts.get("detail"))
    return MakeFault(
        version=version,
        code=code,
        code_expression=code_expression,
        reason=reason,
        reason_expression=reason_expression,
        role=role,
        node=node,
        detail_text=detail_text,
        detail_expression=detail_expression,
        detail_elements=detail_elements,
        mark_response=response != "false",
        location=location(element, fctx.path),
    )


def _code(
    element: etree._Element | None, makefault_el: etree._Element, version: str, defaulted: bool
) -> tuple[FaultCode | None, Expression | None]:
    if element is None:
        if version != "pox":
            raise config_error(
                makefault_el,
                "The fault code is a required attribute for the makefault mediator unless it is a pox fault",
                'add <code value="soapenv:Server" xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
                'envelope/"/>',
            )
        return None, None
    check_attributes(element, ("value", "expression"))
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
    if version in ("soap11", "soap12"):
        _check_code(element, version, namespace, name, defaulted)
    return FaultCode(name, namespace, prefix), None


def _check_code(element: etree._Element, version: str, namespace: str, name: str, defaulted: bool) -> None:
    """W: FaultMediatorFactory (product-ei#3999): the code must be one of the version's own codes."""
    expected = soap.VERSION_NS[version]
    codes = SOAP11_CODES if version == "soap11" else SOAP12_CODES
    other = "soap12" if version == "soap11" else "soap11"
    equivalent = {"Receiver": "Server", "Sender": "Client", "Server": "Receiver", "Client": "Sender"}.get(
        name, name
    )
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
            f"Invalid namespace in fault code for {version} version. Namespace should be "
            f"corrected as {expected}.",
            hint,
        )
    if name not in codes:
        hint = f"did you mean '{equivalent}'?" if equivalent in codes else did_you_mean(name, codes)
        raise config_error(
            element,
            f"Invalid code value for {version} version. Code value has to be one of the "
            f"following : {', '.join(codes)}",
            hint,
        )


def _reason(
    element: etree._Element | None, makefault_el: etree._Element, version: str
) -> tuple[str | None, Expression | None]:
    if element is None:
        if version != "pox":
            raise config_error(
                makefault_el,
                "The fault reason is a required attribute for the makefault mediator "
                "unless it is a pox fault",
                'add <reason value="…"/>',
            )
        return None, None
    check_attributes(element, ("value", "expression"))
    value, expression = element.get("value"), element.get("expression")
    if value is not None:
        return value, None
    if expression is None:
        raise config_error(element, "A 'value' or 'expression' attribute must specify the fault reason")
    return None, _expression(element, "expression")


def _uri(element: etree._Element | None, what: str) -> str | None:
    if element is None:
        return None
    check_attributes(element, ())
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
    check_attributes(element, ("expression",))
    if element.get("expression"):
        return None, _expression(element, "expression"), ()
    elements = children(element)
    if elements:
        return None, None, tuple(copy.deepcopy(child) for child in elements)
    return element.text or "", None, ()
