"""`class` (W: config/xml/ClassMediatorFactory): a Python class mediator (docs/class-mediators.md).

The name is looked up first among the `synapse_gateway.mediators` entry points (an installed package may map a
short name, or the Java class name an MI configuration already uses, to its Python class), then imported as
`package.module.Class`. A Java class name that resolves to nothing gets a deploy error naming the Python way."""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node, NotYet
from gateway.deploy.registry import mediator
from gateway.expressions import Expression
from gateway.mediators.plugin import (
    ENTRY_POINT_GROUP,
    ClassMediator,
    ClassMediatorCall,
    property_names,
    set_property,
)
from gateway.xmlutil import children, did_you_mean

_JAVA_ROOTS = ("org.", "com.", "net.", "io.", "java.", "javax.", "lk.", "edu.")
_PYTHON_WAY = (
    "class mediators here are Python classes: subclass gateway.mediators.plugin.ClassMediator and name it as "
    "package.module.Class, or map this name to your Python class with a 'synapse_gateway.mediators' entry point "
    '(docs/class-mediators.md); <script language="js"|"py"> covers small logic'
)


@cache
def _entry_points() -> dict[str, str]:
    return {entry.name: entry.value for entry in entry_points(group=ENTRY_POINT_GROUP)}


def _load_entry_point(name: str) -> object:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            return entry.load()
    raise LookupError(name)


def _resolve(node: Node, name: str) -> type[ClassMediator]:
    if name in _entry_points():
        try:
            found = _load_entry_point(name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin is this artifact's problem
            raise node.error(
                f"Error loading class : {name} (entry point {_entry_points()[name]}): {type(exc).__name__}: {exc}"
            ) from None
    else:
        module_name, _, class_name = name.rpartition(".")
        if not module_name:
            raise node.error(
                f"Error loading class : {name} - no '{ENTRY_POINT_GROUP}' entry point has this name",
                did_you_mean(name, tuple(_entry_points())) or "name it as package.module.Class",
            )
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if name.startswith(_JAVA_ROOTS) or (class_name[:1].isupper() and module_name.count(".") >= 1):
                raise node.error(f"Error loading class : {name} - a Java class cannot run here", _PYTHON_WAY) from None
            raise node.error(f"Error loading class : {name} - cannot import {module_name}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the plugin's own import failed
            raise node.error(f"Error loading class : {name} - importing {module_name} failed: {exc}") from None
        found = getattr(module, class_name, None)
        if found is None:
            raise node.error(f"Error loading class : {name} - Class not found in {module_name}")
    if not isinstance(found, type) or not issubclass(found, ClassMediator):
        raise node.error(
            f"{name} is not a class mediator",
            "subclass gateway.mediators.plugin.ClassMediator and implement mediate(mc)",
        )
    return found


def _class(node: Node) -> ClassMediatorCall:
    name = node["name"]
    cls = _resolve(node, name)
    try:
        instance = cls()
    except Exception as exc:  # noqa: BLE001 - W: "Error in instantiating class"
        raise node.error(f"Error in instantiating class : {name}: {type(exc).__name__}: {exc}") from None
    dynamic: list[tuple[str, Expression]] = []
    for prop in node.all("property"):
        prop_name = prop["name"]
        if prop.has("value") and prop.has("expression"):
            raise prop.error("a class mediator property takes either 'value' or 'expression', not both")
        inline = children(prop.element)
        if prop.has("expression"):
            if prop_name not in property_names(cls):
                raise _no_property(prop, cls, prop_name)
            dynamic.append((prop_name, prop["expression"]))
            continue
        if prop.has("value"):
            value: object = prop["value"]
        elif inline:
            value = inline[0]
        else:
            raise prop.error(f"the property '{prop_name}' has no value", "give value, expression or an XML element")
        try:
            set_property(instance, prop_name, value)
        except AttributeError:
            raise _no_property(prop, cls, prop_name) from None
        except (ValueError, TypeError) as exc:
            raise prop.error(f"Error setting property : {prop_name} on {name}: {exc}") from None
    try:
        instance.init()
    except Exception as exc:  # noqa: BLE001 - the plugin refused its configuration
        raise node.error(f"{name}.init() failed: {type(exc).__name__}: {exc}") from None
    return ClassMediatorCall(instance, name, tuple(dynamic), node.location)


def _no_property(prop: Node, cls: type, name: str) -> Exception:
    known = property_names(cls)
    return prop.error(
        f"{cls.__module__}.{cls.__qualname__} has no property '{name}'",
        did_you_mean(name, tuple(known)) or (f"its properties: {', '.join(known)}" if known else "it takes none"),
    )


mediator(
    Element(
        "class",
        "Run a Python class mediator (a subclass of gateway.mediators.plugin.ClassMediator), named as "
        "package.module.Class or by a 'synapse_gateway.mediators' entry point; <property> children set it up.",
        anchor="W: ClassMediatorFactory",
        build=_class,
        children=(
            Child(
                Element(
                    "property",
                    "A property of the class: a value set once, an expression evaluated per message, or XML.",
                    common=False,
                    body=Body.ANY,
                    attributes=(
                        Attribute("name", Kind.NAME, "The property (attribute or setter) name.", required=True),
                        Attribute("value", Kind.TEXT, "A constant value (converted to the annotated type)."),
                        Attribute("expression", Kind.EXPRESSION, "Evaluated for each message (as a string)."),
                    ),
                ),
                repeatable=True,
            ),
        ),
        attributes=(
            Attribute(
                "name",
                Kind.NAME,
                "package.module.Class, or an entry point name.",
                required=True,
                missing="The name of the actual mediator class is a required attribute",
            ),
            Attribute(
                "target",
                Kind.TEXT,
                "MI 4.4 result target.",
                unsupported=NotYet("the class mediator 'target' (MI 4.4) is not supported yet"),
            ),
        ),
    )
)
