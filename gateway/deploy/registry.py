"""Tag → factory. Mediator factories register themselves with `@mediator_factory("tag")`; elements
named `prefix.operation` are resolved through the connector registry."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.deploy.xmlutil import SYNAPSE_NS, children, config_error, did_you_mean, local_name, location
from gateway.mediators.base import Mediator, MediatorList

if TYPE_CHECKING:
    from gateway.settings import Settings

MediatorFactory = Callable[[etree._Element, "FactoryContext"], Mediator]
_FACTORIES: dict[str, MediatorFactory] = {}
# Real Synapse mediators this gateway does not implement yet: named as such, not as typos.
NOT_YET_SUPPORTED = frozenset((
    "call-template", "xslt", "xquery", "script", "clone", "iterate", "aggregate", "foreach", "callout", "cache",
    "throttle", "class", "validate", "dblookup", "dbreport", "rewrite", "datamapper", "jsontransform",
    "variable", "throwError", "scatter-gather", "smooks", "bean", "ejb", "spring", "event", "entitlementService",
    "oauthService", "builder", "store", "transaction", "conditionalRouter", "router", "enqueue", "pojoCommand",
    "fastXSLT", "ntlm", "dataServiceCall",
))


def mediator_factory(*tags: str):
    def register(function: MediatorFactory) -> MediatorFactory:
        for tag in tags:
            _FACTORIES[tag] = function
        return function

    return register


def known_mediators() -> list[str]:
    _load_factories()
    return sorted(_FACTORIES)


_loaded = False


def _load_factories() -> None:
    global _loaded
    if _loaded:
        return
    from gateway.deploy import factories

    for module in pkgutil.iter_modules(factories.__path__):
        importlib.import_module(f"{factories.__name__}.{module.name}")
    _loaded = True


@dataclass
class FactoryContext:
    """What a factory may consult while building: the file, the settings and the connector registry."""

    path: str
    settings: Settings | None = None
    connectors: Any = None  # gateway.deploy.connectors.ConnectorRegistry
    extra: dict[str, Any] = field(default_factory=dict)

    def build_mediator(self, element: etree._Element) -> Mediator:
        _load_factories()
        if etree.QName(element).namespace != SYNAPSE_NS:
            raise config_error(element, f"element '{element.tag}' is not in the Synapse namespace",
                               f'declare xmlns="{SYNAPSE_NS}" on the artifact root')
        name = local_name(element)
        factory = _FACTORIES.get(name)
        if factory is not None:
            return factory(element, self)
        if "." in name:
            if self.connectors is None:
                raise config_error(element, f"connector operation '{name}' cannot be resolved",
                                   "no connector registry is available")
            return self.connectors.build_operation(element, self)
        if name in NOT_YET_SUPPORTED:
            raise config_error(element, f"the '{name}' mediator is not supported yet",
                               "see docs/conformance.md for the supported mediators")
        raise config_error(element, f"unknown mediator '{name}'",
                           did_you_mean(name, _FACTORIES) or "see docs/conformance.md for supported mediators")

    def build_list(self, parent: etree._Element, skip: tuple[str, ...] = ()) -> MediatorList:
        built = [self.build_mediator(child) for child in children(parent) if local_name(child) not in skip]
        return MediatorList(built, location(parent, self.path))
