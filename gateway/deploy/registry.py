"""Tag → declaration. Each mediator is declared once (`gateway.deploy.declare.Element` with its builder) and
registered with `mediator(SPEC)`; elements named `prefix.operation` are resolved through the connector
registry."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.deploy.declare import Element, Reported, build
from gateway.deploy.unsupported import NOT_SUPPORTED
from gateway.errors import DeployError, SourceLocation
from gateway.mediators.base import Mediator, MediatorList
from gateway.xmlutil import (
    SYNAPSE_NS,
    DeployErrors,
    children,
    config_error,
    did_you_mean,
    is_description,
    local_name,
    location,
    problems_of,
)

if TYPE_CHECKING:
    from gateway.connector import ConnectorRegistry
    from gateway.connector.model import TemplateSource
    from gateway.expressions import Value
    from gateway.mediators.resources import Precompile
    from gateway.mediators.template import SequenceTemplate
    from gateway.settings import Settings

_MEDIATORS: dict[str, Element] = {}
# Every mediator element of Synapse and MI, so that one this gateway does not implement yet is named as such
# and never "corrected" into another: W: MediatorFactoryFinder and the extension factories (script, spring,
# throttle, xquery, opa), MI's own (cache, dataServiceCall, entitlementService, oauthService), carbon-mediation
# (datamapper, fastXSLT, smooks, builder, publishEvent, bam, event), Apache Synapse (RMSequence) and
# MI 4.4 (variable, throwError, scatter-gather). Supported ones register a factory and are never reported.
SYNAPSE_MEDIATORS = frozenset(
    (
        "sequence",
        "log",
        "send",
        "filter",
        "rules",
        "drop",
        "header",
        "makefault",
        "property",
        "propertyGroup",
        "switch",
        "in",
        "out",
        "class",
        "validate",
        "xslt",
        "annotatedCommand",
        "pojoCommand",
        "clone",
        "iterate",
        "aggregate",
        "dbreport",
        "dblookup",
        "callout",
        "eventPublisher",
        "transaction",
        "enqueue",
        "conditionalRouter",
        "sampler",
        "rewrite",
        "enrich",
        "store",
        "call-template",
        "payloadFactory",
        "bean",
        "ejb",
        "call",
        "loopback",
        "respond",
        "comment",
        "foreach",
        "jsontransform",
        "NTLM",
        "variable",
        "scatter-gather",
        "throwError",
        "script",
        "spring",
        "throttle",
        "xquery",
        "opa",
        "cache",
        "dataServiceCall",
        "entitlementService",
        "oauthService",
        "datamapper",
        "fastXSLT",
        "smooks",
        "builder",
        "publishEvent",
        "bam",
        "event",
        "RMSequence",
        "rule",
    )
)

# Mediators an MI extension registers under its own namespace (W: MediatorFactoryFinder looks them up by
# QName): carbon-rules' RuleMediatorFactory reads {http://wso2.org/carbon/rules}rule.
FOREIGN_MEDIATORS = {"http://wso2.org/carbon/rules": "rule"}

# Mediators of WSO2 ESB 4.x that MI no longer has: MI's MediatorFactoryFinder refuses them with its
# "Unknown mediator" message, and so does this gateway, saying what to use instead.
NOT_IN_MI = {
    "router": "MI has no <router> mediator (WSO2 ESB 4.x had one): route with conditionalRouter, switch or filter",
}


def mediator(spec: Element) -> Element:
    """Register a mediator declaration (its `build` makes the runtime mediator)."""
    assert spec.build is not None, f"<{spec.tag}> declares no builder"
    _MEDIATORS[spec.tag] = spec
    return spec


def mediator_specs() -> list[Element]:
    """The mediators this gateway builds, by tag."""
    _load_factories()
    return [_MEDIATORS[tag] for tag in sorted(_MEDIATORS, key=str.lower)]


def known_mediators() -> list[str]:
    return [spec.tag for spec in mediator_specs()]


_loaded = False


def _load_factories() -> None:
    global _loaded
    if _loaded:
        return
    from gateway.deploy import factories

    for module in pkgutil.iter_modules(factories.__path__):
        importlib.import_module(f"{factories.__name__}.{module.name}")
    _loaded = True


@dataclass(frozen=True, slots=True)
class Reference:
    """A static key naming another artifact (`<sequence key="x"/>`, target@endpoint, onError, …), checked
    by the loader once every file is loaded. `role` says what a missing target breaks."""

    kind: str  # "sequence" | "endpoint" | "localEntry" | "template"
    key: str
    location: SourceLocation
    element: str
    role: str


@dataclass(frozen=True, slots=True)
class Arguments:
    """The with-param names of a call-template, checked against the template's parameters once every file is
    loaded (MI ignores a with-param the template does not declare; here it is reported)."""

    target: str
    names: tuple[str, ...]
    location: SourceLocation


@dataclass
class FactoryContext:
    """What a factory may consult while building: the file, the settings and the connector registry. It
    also collects the independent problems of the artifact (`collect`) and its static references."""

    path: str
    settings: Settings | None = None
    connectors: ConnectorRegistry | None = None
    problems: list[DeployError] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    arguments: list[Arguments] = field(default_factory=list)
    # <endpoint template=…> built in this artifact: instantiated once every file is loaded (gateway.deploy.loader)
    template_endpoints: list[Any] = field(default_factory=list)
    # Stylesheets, queries and schemas named by a static key, compiled once every entry is loaded.
    precompile: list[Precompile] = field(default_factory=list)
    # Connector template operations compiled during one load (shared by the contexts of that load).
    connector_templates: dict[str, SequenceTemplate | list[DeployError] | None] = field(default_factory=dict)

    @contextmanager
    def collect(self, element: etree._Element) -> Iterator[None]:
        """Record a problem of `element` and carry on with its siblings: every problem of a file is reported,
        not only the first. Anything unexpected becomes a problem too, never a crash of the whole load."""
        try:
            yield
        except Reported:
            pass  # its problems are recorded already
        except (DeployError, DeployErrors) as exc:
            self.problems.extend(problems_of(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must cost one artifact, not the deployment
            self.problems.append(internal_error(exc, location(element, self.path), local_name(element)))

    def refer(self, kind: str, key: Value | str | None, element: etree._Element, role: str = "call") -> None:
        """Note a static reference; dynamic `{…}` keys are resolved per message and cannot be checked."""
        if key is None:
            return
        text = key if isinstance(key, str) else (None if key.is_dynamic else key.static_text)
        if text and "{" not in text:
            self.references.append(
                Reference(kind, text.strip(), location(element, self.path), local_name(element), role)
            )

    def connector_template(self, qualified: str, source: TemplateSource, used_at: etree._Element) -> SequenceTemplate:
        """A connector's template operation, compiled once per load with the template declaration; its
        problems (a bug of the connector) are reported where it is used, with their own lines."""
        if qualified not in self.connector_templates:
            from gateway.deploy.artifacts import TEMPLATE

            self.connector_templates[qualified] = None  # being compiled: a template that calls itself
            inner = FactoryContext(
                source.path, self.settings, self.connectors, connector_templates=self.connector_templates
            )
            compiled: SequenceTemplate | None = None
            with inner.collect(source.element):
                compiled = build(source.element, TEMPLATE, inner)
            if compiled is None or inner.problems:
                self.connector_templates[qualified] = inner.problems or [
                    DeployError(SourceLocation(source.path), qualified, "the template could not be compiled")
                ]
            else:
                compiled.name = qualified
                self.connector_templates[qualified] = compiled
                self.references.extend(inner.references)
        found = self.connector_templates[qualified]
        if found is None:
            raise config_error(used_at, f"the template of {qualified} calls itself", "a bug of the connector")
        if isinstance(found, list):
            use = config_error(
                used_at,
                f"the template of {qualified} does not compile ({source.path})",
                "a bug of the connector: its problems follow",
            )
            raise DeployErrors([use, *found])
        return found

    def note_arguments(self, target: str, names: tuple[str, ...], element: etree._Element) -> None:
        if names:
            self.arguments.append(Arguments(target, names, location(element, self.path)))

    def build_mediator(self, element: etree._Element) -> Mediator:
        _load_factories()
        name = local_name(element)
        namespace = etree.QName(element).namespace
        foreign = namespace != SYNAPSE_NS and FOREIGN_MEDIATORS.get(namespace or "") == name
        if namespace != SYNAPSE_NS and not foreign:
            raise config_error(
                element,
                f"element '{element.tag}' is not in the Synapse namespace",
                f'declare xmlns="{SYNAPSE_NS}" on the artifact root',
            )
        if name in NOT_IN_MI:
            raise config_error(
                element, f"Unknown mediator referenced by configuration element : {element.tag}", NOT_IN_MI[name]
            )
        spec = None if foreign else _MEDIATORS.get(name)
        if spec is not None:
            built: Mediator = build(element, spec, self)  # a mediator declaration builds a Mediator
            return built
        if "." in name:
            if self.connectors is None:
                raise config_error(
                    element, f"connector operation '{name}' cannot be resolved", "no connector registry is available"
                )
            return self.connectors.build_operation(element, self)
        if name in NOT_SUPPORTED:
            why = NOT_SUPPORTED[name]
            raise config_error(
                element,
                f"the '{name}' mediator is not supported yet: {why.reason}",
                f"{why.instead}; see docs/conformance.md, row {why.row}",
            )
        if name in SYNAPSE_MEDIATORS:
            raise config_error(
                element,
                f"the '{name}' mediator is not supported yet",
                "see docs/conformance.md for the supported mediators",
            )
        names = [*_MEDIATORS, *SYNAPSE_MEDIATORS]
        same_but_case = [known for known in names if known.lower() == name.lower()]
        hint = (
            f"element names are case-sensitive: did you mean '{same_but_case[0]}'?"
            if same_but_case
            else did_you_mean(name, names)
        )
        raise config_error(
            element, f"unknown mediator '{name}'", hint or "see docs/conformance.md for supported mediators"
        )

    def build_list(self, parent: etree._Element, skip: tuple[str, ...] = ()) -> MediatorList:
        """The mediators of a sequence-like element; `<description>` is skipped (W: addChildren) and a
        failing child is recorded so that its siblings are still checked."""
        built = []
        for child in children(parent):
            if is_description(child) or local_name(child) in skip:
                continue
            with self.collect(child):
                built.append(self.build_mediator(child))
        return MediatorList(built, location(parent, self.path))


def internal_error(exc: Exception, where: SourceLocation, element: str) -> DeployError:
    text = str(exc)
    text = text if len(text) <= 200 else text[:200] + "…"
    return DeployError(
        where,
        element,
        f"internal error while loading: {type(exc).__name__}: {text}",
        "please report it; the other artifacts are not affected",
    )
