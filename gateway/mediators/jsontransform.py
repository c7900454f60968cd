"""`jsontransform` (W: mediators/builtin/JSONTransformMediator).

With `<property>`s the first element of the Body is written as JSON with those XML-to-JSON settings (MI's
`synapse.commons.json.output.*` overrides; `autoPrimitive` is honoured, the others are accepted with no effect).
With `schema` the JSON payload (or the Body written as JSON) is converted and checked by MI's schema-driven JSON
processor (gateway.mediators.json_schema_transform); the schema is compiled once per key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.errors import MediationError
from gateway.mediators.base import Mediator
from gateway.mediators.json_schema_transform import JsonTransformError, process
from gateway.mediators.resources import Resolver, ResourceError, compiled, register
from gateway.mediators.transform import dump_json, json_document, parse_json, set_json_payload
from gateway.message import soap
from gateway.message.json_xml import xml_to_json_value

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Value
    from gateway.message.context import MessageContext

AUTO_PRIMITIVE = "synapse.commons.json.output.autoPrimitive"


class Schema:
    """A parsed JSON Schema for the JSON processor."""

    __slots__ = ("document",)

    def __init__(self, document: Any) -> None:
        self.document = document


def compile_transform_schema(values: list[Any], resolver: Resolver) -> Schema:
    value = values[0]
    if not isinstance(value, str):
        raise ResourceError("Can not find valid JSON Schema content: the entry holds XML")
    if not value.strip():
        raise ResourceError("Input json and schema should not be null")
    try:
        document = parse_json(value)
    except ValueError as exc:
        raise ResourceError(f"Invalid JSON schema: {exc}") from None
    if isinstance(document, dict) and document and "type" not in document:
        raise ResourceError("JSON schema should contain a type declaration")
    if not isinstance(document, dict | bool):
        raise ResourceError("JSON schema should be an object or boolean")
    return Schema(_plain(document))


def _plain(value: Any) -> Any:
    """Schema numbers as floats/ints (limits are compared as Java doubles)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


register("jsontransform", compile_transform_schema)


class JsonTransform(Mediator):
    __slots__ = ("schema", "properties")
    tag = "jsontransform"

    def __init__(self, schema: Value | None, properties: dict[str, str], location: SourceLocation | None = None):
        super().__init__(location)
        self.schema = schema
        self.properties = properties

    @property
    def reads_body(self) -> bool:
        return True

    async def mediate(self, ctx: MessageContext) -> bool:
        if self.properties:
            envelope = await ctx.build()
            element = soap.first_body_element(envelope)
            if element is not None:
                auto = self.properties.get(AUTO_PRIMITIVE, "true").strip().lower() != "false"
                set_json_payload(ctx, dump_json(xml_to_json_value(element, auto_primitive=auto)))
        if self.schema is None:
            return True
        key = self.schema.resolve(ctx) or ""
        try:
            schema: Schema = compiled(ctx, "jsontransform", key, ())
        except ResourceError as exc:
            raise MediationError(str(exc), 0, f"jsontransform schema {key} at {self.location}") from None
        document = await json_document(ctx)
        try:
            result = process(document, schema.document)
        except JsonTransformError as exc:
            raise MediationError(str(exc), 0, f"jsontransform schema {key} at {self.location}") from None
        set_json_payload(ctx, dump_json(result))
        return True
