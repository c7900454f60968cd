"""`validate` (W: mediators/builtin/ValidateMediator; A: sample 7).

An XML message (or the node `source` selects; default the first element of the Body) is validated against the
XML Schemas named by the `<schema key>`s, compiled together once (libxml2 through lxml); `xs:import` and
`xs:include` are resolved only through the `<resource location key>` map, never from files or the network. A
JSON message (or any message with `json-source="true"`) is validated against a JSON Schema (the `jsonschema`
package; draft 4 unless the schema's `$schema` names another, as MI's validator is draft 4). When validation
fails, ERROR_MESSAGE and ERROR_DETAIL are set and `<on-fail>` runs; its result is the mediator's.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.errors import MediationError
from gateway.mediators.base import Mediator, MediatorList
from gateway.mediators.resources import KEY_SEPARATOR, Resolver, ResourceError, ResourceMap, compiled, register
from gateway.mediators.transform import has_json_payload, json_document, looks_like_json, parse_json
from gateway.mediators.xslt import stylesheet_element
from gateway.message import soap

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Expression, Value
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.mediator.validate")

XSD_NS = "http://www.w3.org/2001/XMLSchema"
_WRAPPER = "urn:synapse-gateway:schema:"  # locations of the schemas a wrapper imports, resolved to the keys


# -- XML Schema ---------------------------------------------------------------------------------------------
class _SchemaResolver(etree.Resolver):
    """xs:import / xs:include through the <resource> map and the wrapper's own schemas only."""

    def __init__(self, resolver: Resolver, own: dict[str, bytes]) -> None:
        super().__init__()
        self.resolver = resolver
        self.own = own
        self.refused: list[str] = []

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:  # type: ignore[override]
        data = self.own.get(system_url)
        if data is None:
            data = self.resolver.lookup(system_url)
        if data is None:
            self.refused.append(system_url)
            raise ResourceError(f"not mapped: {system_url}")  # lxml turns it into a parse error; never fetched
        return self.resolve_string(data, context)  # type: ignore[call-arg]


def compile_xsd(values: list[Any], resolver: Resolver) -> etree.XMLSchema:
    roots = [stylesheet_element(value, "XML Schema") for value in values]
    for root in roots:
        if etree.QName(root) != etree.QName(XSD_NS, "schema"):
            raise ResourceError(f"the entry holds <{etree.QName(root).localname}>, not an <xs:schema>")
    own: dict[str, bytes] = {}
    if len(roots) == 1:
        document = etree.tostring(roots[0])
    else:  # several schemas: one wrapper that imports (or includes, for no-namespace ones) each of them
        parts = []
        for index, root in enumerate(roots):
            location = f"{_WRAPPER}{index}"
            own[location] = etree.tostring(root)
            namespace = root.get("targetNamespace")
            parts.append(
                f'<xs:import namespace="{namespace}" schemaLocation="{location}"/>'
                if namespace
                else f'<xs:include schemaLocation="{location}"/>'
            )
        document = f'<xs:schema xmlns:xs="{XSD_NS}">{"".join(parts)}</xs:schema>'.encode()
    schema_resolver = _SchemaResolver(resolver, own)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    parser.resolvers.add(schema_resolver)
    try:
        return etree.XMLSchema(etree.fromstring(document, parser))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        hint = ""
        if schema_resolver.refused:
            hint = f" (map '{schema_resolver.refused[0]}' with <resource location=… key=…/>: nothing is fetched)"
        raise ResourceError(f"Error creating a new schema object: {exc}{hint}") from None


def compile_json_schema(values: list[Any], resolver: Resolver) -> Any:
    from jsonschema import Draft4Validator, SchemaError
    from jsonschema.validators import validator_for

    if len(values) != 1:
        raise ResourceError("a JSON message is validated against one JSON Schema")
    value = values[0]
    if isinstance(value, etree._Element):
        raise ResourceError("Can not find valid JSON Schema content: the entry holds XML")
    try:
        schema = parse_json(str(value))
    except ValueError as exc:
        raise ResourceError(f"Error while validating the JSON Schema: {exc}") from None
    if not isinstance(schema, dict | bool):
        raise ResourceError("Error while validating the JSON Schema: a schema is a JSON object")
    cls = validator_for(schema, default=Draft4Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise ResourceError(f"Error while validating the JSON Schema: {exc.message}") from None
    return cls(schema)


def compile_schema(values: list[Any], resolver: Resolver) -> Any:
    """An entry of JSON text is a JSON Schema; anything else is an XML Schema (set)."""
    if len(values) == 1 and not isinstance(values[0], etree._Element) and looks_like_json(str(values[0])):
        return compile_json_schema(values, resolver)
    return compile_xsd(values, resolver)


register("schema", compile_schema)


# -- the mediator -------------------------------------------------------------------------------------------
class Validate(Mediator):
    __slots__ = ("keys", "source", "on_fail", "resources", "json_source")
    tag = "validate"

    def __init__(
        self,
        keys: tuple[Value, ...],
        source: Expression | None,
        on_fail: MediatorList,
        resources: ResourceMap,
        json_source: bool,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.keys = keys
        self.source = source
        self.on_fail = on_fail
        self.resources = resources
        self.json_source = json_source

    @property
    def reads_body(self) -> bool:
        return True

    def _key(self, ctx: MessageContext) -> str:
        return KEY_SEPARATOR.join(key.resolve(ctx) or "" for key in self.keys)

    async def mediate(self, ctx: MessageContext) -> bool:
        if self.json_source or has_json_payload(ctx):
            return await self._json(ctx)
        return await self._xml(ctx)

    async def _xml(self, ctx: MessageContext) -> bool:
        envelope = await ctx.build()
        if self.source is None:
            node = soap.first_body_element(envelope)
        else:
            found = [item for item in self.source.nodes(ctx) if isinstance(item, etree._Element)]
            node = found[0] if found else None
        if node is None:  # W: forwarded to on-fail, not a fault
            return await self._fail(
                ctx,
                f"Error occurred while accessing source element: {self._source_text()}",
                "the source selects no element",
            )
        key = self._key(ctx)
        try:
            schema = compiled(ctx, "schema", key, self.resources)
        except ResourceError as exc:
            raise self._error(str(exc)) from None
        if not isinstance(schema, etree.XMLSchema):
            raise self._error("an XML message is validated against an XML Schema; the entry holds a JSON Schema")
        if schema.validate(node):
            return True
        errors: list[Any] = list(schema.error_log)  # type: ignore[call-overload]
        messages = [str(error.message) for error in errors]
        log.debug("%s: validation failed: %s", self.location, messages)
        # W: ValidateMediatorErrorHandler.getAllExceptions: every message followed by a newline
        return await self._fail(ctx, "".join(f"{message}\n" for message in messages), "\n".join(map(str, errors)))

    async def _json(self, ctx: MessageContext) -> bool:
        key = self._key(ctx)
        try:
            validator = compiled(ctx, "schema", key, self.resources)
        except ResourceError as exc:
            raise self._error(str(exc)) from None
        if isinstance(validator, etree.XMLSchema):
            raise self._error("Can not find valid JSON Schema content: the entry holds an XML Schema")
        if self.source is not None:
            text = self.source.string_value(ctx)
            try:
                document = parse_json(text) if text and text.strip() else {}
            except ValueError as exc:
                raise self._error(
                    f"Error while validating the JSON Schema for JSONPath {self.source.source}: {exc}"
                ) from None
        else:
            document = await json_document(ctx)
        errors = sorted(validator.iter_errors(document), key=lambda error: list(error.path))
        if not errors:
            return True
        first = errors[0]
        pointer = "/" + "/".join(str(part) for part in first.path)
        return await self._fail(
            ctx,
            first.message,
            f"Error while validating Json message instance pointer {pointer}: {first.message}",
        )

    async def _fail(self, ctx: MessageContext, message: str, detail: str) -> bool:
        ctx.properties["ERROR_MESSAGE"] = message
        ctx.properties["ERROR_DETAIL"] = detail
        return await self.on_fail.mediate(ctx)

    def _source_text(self) -> str:
        return self.source.source if self.source is not None else "the first element of the SOAP Body"

    def _error(self, reason: str) -> MediationError:
        keys = [key.source for key in self.keys]
        return MediationError(
            f"Error creating a new schema objects for schemas : {keys}: {reason}",
            0,
            f"validate at {self.location}",
        )
