"""`xslt` (W: mediators/transform/XSLTMediator; A: the XSLT mediator of the Synapse guide, sample 8).

The stylesheet named by `key` (a local entry or a registry resource, static or `{dynamic}`) is compiled once
(gateway.mediators.resources) by the engine its `version` asks for:

- `version="1.0"`: libxslt through lxml, a real XSLT 1.0 processor (and the faster one);
- `version="2.0"` / `"3.0"`: Saxon HE through `saxonche` (MI itself runs Saxon for every stylesheet).

The source (default: the first element of the SOAP Body; `source="xpath"` picks another node) is transformed
as a document of its own, as W:'s stream source builder does, and the result replaces it (the Body's or the
Header's children when the source is one of them, the envelope when it is the envelope), or is stored in the
`target` property. `<property name value|expression>` become the stylesheet's string parameters. Neither engine
may read files or the network: `document()`, `unparsed-text()` and imports only see what `<resource>` maps.
"""

from __future__ import annotations

import base64
import copy
import logging
import re
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.errors import MediationError
from gateway.mediators.base import Mediator
from gateway.mediators.resources import Resolver, ResourceError, ResourceMap, compiled, register
from gateway.mediators.transform import set_envelope
from gateway.message import soap
from gateway.message.payload import SAFE_PARSER

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Expression, Value
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.mediator.xslt")

XSL_NS = "http://www.w3.org/1999/XSL/Transform"
TEXT_NS = "http://ws.apache.org/commons/ns/payload"  # W: BaseConstants.DEFAULT_TEXT_WRAPPER
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
DISABLE_BUILD = "transform.xslt.result.disableBuild"  # W: XSLTMediator.TRANSFORM_XSLT_RESULT_DISABLE_BUILD
XSLT_ERROR = 0  # W: handleException without a specific code: ERROR_CODE stays the default


# -- engines ------------------------------------------------------------------------------------------------
_saxon: Any = None


def saxon_processor() -> Any:
    """The process's one Saxon processor, created on first use, allowed no URI access (files, network) but data:."""
    global _saxon
    if _saxon is None:
        try:
            from saxonche import PySaxonProcessor
        except ImportError:
            raise ResourceError(
                "XSLT 2.0/3.0 and XQuery need Saxon: pip install 'synapse-gateway[transform]' (saxonche)"
            ) from None
        processor = PySaxonProcessor(license=False)
        # data: URIs only: the <resource>-mapped modules are handed over as data: URIs (_inline_modules)
        processor.set_configuration_property("http://saxon.sf.net/feature/allowedProtocols", "data")
        _saxon = processor
    return _saxon


def saxon_message(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:500]


class _EntryResolver(etree.Resolver):
    """xsl:import / xsl:include / document() through the <resource> map only."""

    def __init__(self, resolver: Resolver) -> None:
        super().__init__()
        self.resolver = resolver

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:  # type: ignore[override]
        data = self.resolver.lookup(system_url)
        if data is None and system_url.startswith("file:"):
            data = self.resolver.lookup(system_url.rsplit("/", 1)[-1])
        if data is None:
            return None  # not mapped: the access control refuses it
        return self.resolve_string(data, context)  # type: ignore[call-arg]


_DENY: etree.XSLTAccessControl = etree.XSLTAccessControl.DENY_ALL  # type: ignore[attr-defined]


class Stylesheet:
    """A compiled stylesheet: `transform(source, params)` returns the result element, or text for
    `<xsl:output method="text"/>`."""

    engine = ""

    def __init__(self, version: str, text_output: bool) -> None:
        self.version = version
        self.text_output = text_output

    def transform(self, source: etree._Element, params: dict[str, str]) -> etree._Element | str:
        raise NotImplementedError


class LxmlStylesheet(Stylesheet):
    engine = "libxslt"

    def __init__(self, xslt: etree.XSLT, version: str, text_output: bool) -> None:
        super().__init__(version, text_output)
        self.xslt = xslt

    def transform(self, source: etree._Element, params: dict[str, str]) -> etree._Element | str:
        document = etree.ElementTree(copy.deepcopy(source))
        arguments: dict[str, Any] = {name: etree.XSLT.strparam(value) for name, value in params.items()}
        try:
            result = self.xslt(document, **arguments)
        except etree.XSLTApplyError as exc:
            raise ResourceError(str(exc) or "the transformation failed") from None
        if self.text_output:
            return str(result)
        root = result.getroot()
        if root is None:
            text = str(result).strip()
            if text:
                return text
            raise ResourceError("Unable to create an OMElement using XSLT result: the result is empty")
        return root


class SaxonStylesheet(Stylesheet):
    engine = "Saxon"

    def __init__(self, executable: Any, version: str, text_output: bool) -> None:
        super().__init__(version, text_output)
        self.executable = executable

    def transform(self, source: etree._Element, params: dict[str, str]) -> etree._Element | str:
        processor = saxon_processor()
        executable = self.executable
        try:
            node = processor.parse_xml(xml_text=etree.tostring(source, encoding="unicode"))
            executable.clear_parameters()
            executable.set_capture_result_documents(True)  # drops the previous run's (they would pile up)
            for name, value in params.items():
                executable.set_parameter(name, processor.make_string_value(value))
            output = executable.transform_to_string(xdm_node=node)
        except Exception as exc:  # noqa: BLE001 - saxonche raises PySaxonApiError (and others) from C
            raise ResourceError(saxon_message(exc)) from None
        text = _DECLARATION.sub("", output or "", count=1)
        if self.text_output:
            return text
        return parse_result(text)


def parse_result(text: str) -> etree._Element:
    if not text.strip():
        raise ResourceError("Unable to create an OMElement using XSLT result: the result is empty")
    try:
        return etree.fromstring(text, SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ResourceError(f"Unable to create an OMElement using XSLT result: {exc}") from None


def stylesheet_element(value: Any, what: str = "XSLT stylesheet") -> etree._Element:
    """The entry's stylesheet as an element: an XML entry, or text parsed safely (a src file, a registry file)."""
    if isinstance(value, etree._Element):
        return value
    text = str(value)
    try:
        return etree.fromstring(_DECLARATION.sub("", text.lstrip(), count=1).encode("utf-8"), SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ResourceError(f"the entry is not a well-formed {what}: {exc}") from None


def compile_stylesheet(values: list[Any], resolver: Resolver, *, saxon_only: bool = False) -> Stylesheet:
    root = stylesheet_element(values[0])
    qname = etree.QName(root)
    if qname.namespace != XSL_NS or qname.localname not in ("stylesheet", "transform"):
        if root.get(f"{{{XSL_NS}}}version") is None:
            raise ResourceError(f"the entry holds <{qname.localname}>, not an <xsl:stylesheet>")
        version = root.get(f"{{{XSL_NS}}}version") or "1.0"  # a literal result element stylesheet
    else:
        version = (root.get("version") or "1.0").strip()
    text_output = any(
        (output.get("method") or "").strip() == "text" for output in root.iterchildren(f"{{{XSL_NS}}}output")
    )
    if version == "1.0" and not saxon_only:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        parser.resolvers.add(_EntryResolver(resolver))
        try:
            document = etree.fromstring(etree.tostring(root), parser)
            return LxmlStylesheet(etree.XSLT(document, access_control=_DENY), version, text_output)
        except etree.XSLTParseError as exc:
            raise ResourceError(f"{exc}{_import_hint(root)}") from None
        except etree.XMLSyntaxError as exc:
            raise ResourceError(str(exc)) from None
    processor = saxon_processor()
    try:
        executable = processor.new_xslt30_processor().compile_stylesheet(
            stylesheet_text=etree.tostring(_inline_modules(root, resolver, ()), encoding="unicode")
        )
    except Exception as exc:  # noqa: BLE001 - PySaxonApiError
        raise ResourceError(saxon_message(exc)) from None
    if executable is None:
        raise ResourceError("Saxon could not compile the stylesheet")
    executable.set_capture_result_documents(True)  # xsl:result-document never writes a file
    return SaxonStylesheet(executable, version, text_output)


_MAX_MODULES = 32  # nested xsl:import / xsl:include levels


def _inline_modules(root: etree._Element, resolver: Resolver, seen: tuple[str, ...]) -> etree._Element:
    """A copy of `root` whose xsl:import / xsl:include hrefs are `data:` URIs holding the modules the <resource>
    map names (recursively): Saxon may read data: URIs only, so nothing else is ever fetched."""
    modules = list(root.iterchildren(f"{{{XSL_NS}}}import", f"{{{XSL_NS}}}include"))
    if not modules:
        return root
    if len(seen) >= _MAX_MODULES:
        raise ResourceError(f"xsl:import / xsl:include nested deeper than {_MAX_MODULES} levels")
    root = copy.deepcopy(root)
    for module in root.iterchildren(f"{{{XSL_NS}}}import", f"{{{XSL_NS}}}include"):
        href = module.get("href") or ""
        if href in seen:
            raise ResourceError(f"{href} imports or includes itself")
        data = resolver.lookup(href)
        if data is None:
            raise ResourceError(
                f'<xsl:{etree.QName(module).localname} href="{href}"> is not mapped '
                "(map it with <resource location=… key=…/>: nothing is fetched)"
            )
        inlined = _inline_modules(stylesheet_element(data.decode("utf-8")), resolver, (*seen, href))
        encoded = base64.b64encode(etree.tostring(inlined, encoding="utf-8")).decode("ascii")
        module.set("href", f"data:application/xml;base64,{encoded}")
    return root


def _imports(root: etree._Element) -> list[str]:
    return [
        f'<xsl:{etree.QName(child).localname} href="{child.get("href")}">'
        for child in root.iterchildren(f"{{{XSL_NS}}}import", f"{{{XSL_NS}}}include")
    ]


def _import_hint(root: etree._Element) -> str:
    imports = _imports(root)
    return f" (map {imports[0]} with <resource location=… key=…/>)" if imports else ""


def compile_for_saxon(values: list[Any], resolver: Resolver) -> Stylesheet:
    """fastXSLT's stylesheets: Saxon whatever their version (carbon-mediation's FastXSLTMediator sets Saxon)."""
    return compile_stylesheet(values, resolver, saxon_only=True)


register("xslt", compile_stylesheet)
register("fastxslt", compile_for_saxon)


# -- the mediator -------------------------------------------------------------------------------------------
class Parameter:
    __slots__ = ("name", "value", "expression")

    def __init__(self, name: str, value: str | None, expression: Expression | None) -> None:
        self.name = name
        self.value = value
        self.expression = expression

    def resolve(self, ctx: MessageContext) -> str | None:
        if self.expression is not None:
            return self.expression.string_value(ctx)
        return self.value


class Xslt(Mediator):
    __slots__ = ("key", "source", "target", "parameters", "resources")
    tag = "xslt"
    kind = "xslt"  # the compiler (gateway.mediators.resources)

    def __init__(
        self,
        key: Value,
        source: Expression | None,
        target: str | None,
        parameters: tuple[Parameter, ...],
        resources: ResourceMap,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.key = key
        self.source = source
        self.target = target
        self.parameters = parameters
        self.resources = resources

    @property
    def reads_body(self) -> bool:
        return True

    async def mediate(self, ctx: MessageContext) -> bool:
        envelope = await ctx.build()
        if self.source is None:
            node = soap.first_body_element(envelope)
            if node is None:
                log.warning("%s: found an empty SOAP body, skipping the XSLT transformation", self.location)
                return True
        else:
            found = [item for item in self.source.nodes(ctx) if isinstance(item, etree._Element)]
            if not found:
                raise self._error(f"the source XPath {self.source.source} selects no element")
            node = found[0]
        key = self.key.resolve(ctx) or ""
        params = {p.name: value for p in self.parameters if (value := p.resolve(ctx)) is not None}
        try:
            stylesheet: Stylesheet = compiled(ctx, self.kind, key, self.resources)
            result = stylesheet.transform(node, params)
        except ResourceError as exc:
            raise self._error(str(exc), key) from None
        if self.target is not None and str(ctx.properties.get(DISABLE_BUILD, "")).lower() == "true":
            text = result if isinstance(result, str) else etree.tostring(result, encoding="unicode")
            ctx.properties[self.target] = text  # W: the result as a string, not built into a tree
            return True
        element = result if isinstance(result, etree._Element) else _text_element(result)
        if self.target is not None:
            ctx.properties[self.target] = element
            return True
        self._replace(ctx, envelope, node, element)
        return True

    def _replace(
        self, ctx: MessageContext, envelope: etree._Element, node: etree._Element, result: etree._Element
    ) -> None:
        if node is envelope:
            if (
                etree.QName(result).localname != "Envelope"
                or etree.QName(result).namespace not in soap.VERSION_NS.values()
            ):
                raise self._error("the result of a transformation of the envelope must be a SOAP envelope")
            set_envelope(ctx, result)
            return
        body = soap.body_of(envelope)
        header = soap.header_of(envelope)
        if node is body or (header is not None and node is header):
            for child in list(node):
                node.remove(child)
            node.text = None
            for child in list(result):
                node.append(child)
        else:
            parent = node.getparent()
            if parent is None:
                raise self._error("the source node has no parent to replace it in")
            result.tail = node.tail
            parent.replace(node, result)
        set_envelope(ctx, envelope)

    def _error(self, reason: str, key: str | None = None) -> MediationError:
        source = self.source.source if self.source is not None else "the first element of the SOAP Body"
        return MediationError(
            f"Unable to perform XSLT transformation using : {key or self.key.source} against source XPath : "
            f"{source} reason : {reason}",
            XSLT_ERROR,
            f"xslt at {self.location}",
        )


def _text_element(text: str) -> etree._Element:
    """W: ResultBuilderFactory.Output.TEXT: a text result is wrapped in the payload text element."""
    element = etree.Element(f"{{{TEXT_NS}}}text", nsmap={"axis2ns": TEXT_NS})
    element.text = text
    return element


class FastXslt(Xslt):
    """`fastXSLT` (carbon-mediation FastXSLTMediator): the first element of the Body through a Saxon stylesheet,
    no source, target or parameters."""

    __slots__ = ()
    tag = "fastXSLT"
    kind = "fastxslt"
