"""Class mediators in Python: `<class name="package.module.Class">` (W: mediators/ext/ClassMediator; the plugin
API is documented in docs/class-mediators.md).

A plugin subclasses `ClassMediator` and implements `mediate(self, mc)` (plain or async), returning False to stop
the flow. `<property name value>` children set its attributes once, at deploy time (through a `set_<name>` or
MI-style `setName` method when it has one, else the attribute, converted to the type it is annotated with);
`<property name expression>` ones are evaluated for each message, on a copy of the instance, so concurrent
messages never see each other's values. `mc` is a `Message`: the message's properties in MI's scopes, its
payload as XML or JSON, and its transport headers."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from lxml import etree

from gateway.errors import MediationError
from gateway.mediators.base import Mediator
from gateway.mediators.transform import has_json_payload, json_document, set_json_payload, set_xml_body
from gateway.message import scopes, soap
from gateway.message.json_codec import dumps as json_dumps

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Expression
    from gateway.message.context import MessageContext

ENTRY_POINT_GROUP = "synapse_gateway.mediators"


class Message:
    """What a class mediator sees of the message (`mc`)."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: MessageContext) -> None:
        self._ctx = ctx

    @property
    def context(self) -> MessageContext:
        """The gateway's own message context, for what this API does not cover (it may change between
        versions; prefer the methods below)."""
        return self._ctx

    # -- properties --------------------------------------------------------------------------------
    def get_property(self, name: str, scope: str = "default") -> Any:
        """A property of MI's `default` (synapse), `axis2`, `transport` (a header) or `operation` scope, or None."""
        return scopes.read(self._ctx, scope, name)

    def set_property(self, name: str, value: Any, scope: str = "default") -> None:
        scopes.writer(scope, special_names=True)(self._ctx, name, value)

    def remove_property(self, name: str, scope: str = "default") -> None:
        scopes.remover(scope, special_names=True)(self._ctx, name)

    @property
    def headers(self) -> Mapping[str, str]:
        """The transport headers (case-insensitive; set them with set_property(name, value, "transport"))."""
        return self._ctx.transport_headers

    # -- payload -----------------------------------------------------------------------------------
    async def payload_xml(self) -> etree._Element | None:
        """The first element of the SOAP body (a JSON payload is seen as MI's XML form of it). Changing the
        element changes the message."""
        envelope = await self._ctx.build()
        element = soap.first_body_element(envelope)
        if element is not None:
            self._ctx.payload.mark_modified()
        return element

    async def set_payload_xml(self, payload: etree._Element | str) -> None:
        element = etree.fromstring(payload) if isinstance(payload, str) else payload
        await set_xml_body(self._ctx, element)

    async def payload_json(self) -> Any:
        """The payload as JSON values (dict, list, str, int, Decimal, bool, None)."""
        return await json_document(self._ctx)

    def set_payload_json(self, value: Any) -> None:
        set_json_payload(self._ctx, json_dumps(value))

    @property
    def has_json_payload(self) -> bool:
        return has_json_payload(self._ctx)

    @property
    def is_response(self) -> bool:
        return self._ctx.is_response


class ClassMediator:
    """The base class of Python class mediators."""

    #: False when the mediator never reads the payload (the bytes are then not even read for it).
    reads_body: ClassVar[bool] = True

    def init(self) -> None:
        """Called once after the deploy-time properties are set (MI's ManagedLifecycle.init)."""

    def mediate(self, mc: Message) -> Any:
        """Mediate one message; return False to stop the flow. May be a coroutine function."""
        raise NotImplementedError(f"{type(self).__name__} does not implement mediate(mc)")


class ClassMediatorCall(Mediator):
    """The deployed `<class>`: the plugin instance, and the properties evaluated per message."""

    __slots__ = ("instance", "name", "dynamic")
    tag = "class"

    def __init__(
        self,
        instance: ClassMediator,
        name: str,
        dynamic: tuple[tuple[str, Expression], ...],
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.instance = instance
        self.name = name
        self.dynamic = dynamic

    @property
    def reads_body(self) -> bool:
        return bool(getattr(self.instance, "reads_body", True)) or any(e.needs_body for _, e in self.dynamic)

    async def mediate(self, ctx: MessageContext) -> bool:
        instance = self.instance
        try:
            if self.dynamic:
                instance = copy.copy(instance)
                for name, expression in self.dynamic:
                    set_property(instance, name, expression.string_value(ctx))
            result = instance.mediate(Message(ctx))
            if inspect.isawaitable(result):
                result = await result
        except MediationError:
            raise
        except Exception as exc:  # noqa: BLE001 - W: any exception of the class is a fault of the flow
            raise MediationError(
                "Error occured in the mediation of the class mediator",
                detail=f"class {self.name} at {self.location}: {type(exc).__name__}: {exc}",
            ) from exc
        return result is not False


def _convert(value: Any, annotation: Any, name: str) -> Any:
    if not isinstance(value, str) or annotation in (None, str, Any, inspect.Parameter.empty):
        return value
    if annotation is bool:
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"property '{name}' must be true or false, not '{value}'")
        return lowered == "true"
    if annotation in (int, float):
        try:
            return annotation(value.strip())
        except ValueError:
            raise ValueError(f"property '{name}' must be a {annotation.__name__}, not '{value}'") from None
    return value


def _annotations(cls: type) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for key, value in getattr(klass, "__annotations__", {}).items():
            if isinstance(value, str):
                value = {"str": str, "int": int, "float": float, "bool": bool}.get(value.split("|")[0].strip(), None)
            found[key] = value
    return found


def property_names(cls: type) -> list[str]:
    """The names a `<property>` may set on `cls` (for messages)."""
    names = {name for name in _annotations(cls) if not name.startswith("_") and name != "reads_body"}
    names.update(
        attr[4:] if attr.startswith("set_") else attr[3].lower() + attr[4:]
        for attr in dir(cls)
        if (attr.startswith("set_") or (attr.startswith("set") and attr[3:4].isupper()))
        and callable(getattr(cls, attr))
    )
    return sorted(names)


def set_property(instance: object, name: str, value: Any) -> None:
    """MI's setter rules, in Python: `set_<name>(value)`, `set<Name>(value)`, else the attribute."""
    cls = type(instance)
    for setter_name in (f"set_{name}", f"set{name[:1].upper()}{name[1:]}"):
        setter = getattr(instance, setter_name, None)
        if callable(setter):
            parameters = list(inspect.signature(setter).parameters.values())
            annotation = parameters[0].annotation if parameters else None
            if isinstance(annotation, str):
                annotation = {"str": str, "int": int, "float": float, "bool": bool}.get(annotation)
            setter(_convert(value, annotation, name))
            return
    annotations = _annotations(cls)
    if name in annotations or (hasattr(cls, name) and not callable(getattr(cls, name))):
        setattr(instance, name, _convert(value, annotations.get(name), name))
        return
    raise AttributeError(name)
