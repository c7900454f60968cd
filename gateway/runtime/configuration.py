"""The deployed configuration: an immutable snapshot of every artifact, built at deploy time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gateway.errors import DeployError, SourceLocation
from gateway.runtime.registry import Registry, Table

if TYPE_CHECKING:
    from lxml import etree

    from gateway.mediators.base import Mediator
    from gateway.mediators.template import SequenceTemplate
    from gateway.runtime.api import ApiIndex, RestApi
    from gateway.runtime.endpoints import Endpoint
    from gateway.runtime.inbound import InboundSpec
    from gateway.runtime.processors import MessageProcessorSpec
    from gateway.runtime.stores import MessageStoreSpec
    from gateway.runtime.tasks import TaskSpec


@dataclass(frozen=True, slots=True)
class LocalEntry:
    key: str
    value: Any  # str text, or an lxml element for XML entries
    location: SourceLocation
    src: str | None = None


WSDL11_NS = "http://schemas.xmlsoap.org/wsdl/"
WSDL20_NS = "http://www.w3.org/ns/wsdl"


@dataclass(slots=True)
class PublishedWsdl:
    """A proxy's published WSDL 1.1 (publishWSDL): loaded at deploy time; a `key` is resolved from its local
    entry once every artifact is loaded (gateway.deploy.wsdl.resolve_keyed_wsdls)."""

    source: str  # how it was given, for messages: "inline", "uri …", "key …"
    location: SourceLocation
    definitions: etree._Element | None = None  # the wsdl:definitions element (shared: copy before changing it)
    key: str | None = None
    unavailable: str | None = None  # why a keyed WSDL could not be resolved


@dataclass(frozen=True, slots=True)
class ProxyService:
    name: str
    location: SourceLocation
    fault_handler: Mediator  # what the proxy pushes on the fault stack
    transports: tuple[str, ...] = ("http", "https")
    start_on_load: bool = True
    statistics: bool = False
    trace: bool = False
    description: str | None = None
    in_sequence: Mediator | None = None  # inline MediatorList, or a SequenceRef for a named one
    out_sequence: Mediator | None = None
    fault_sequence: Mediator | None = None
    endpoint: Endpoint | None = None  # inline, or a reference resolved per request
    parameters: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    publish_wsdl: PublishedWsdl | None = None


@dataclass(frozen=True, slots=True)
class DeployedArtifact:
    kind: str
    name: str
    path: str


@dataclass(frozen=True, slots=True)
class Configuration:
    """Sequences, endpoints, local entries and templates are Tables: a key that names no deployed artifact is
    looked up in the registry (gov:/…, conf:/…), as MI does."""

    proxies: Mapping[str, ProxyService]
    sequences: Mapping[str, Mediator]
    endpoints: Mapping[str, Endpoint]
    local_entries: Mapping[str, LocalEntry]
    templates: Mapping[str, SequenceTemplate]
    apis: Mapping[str, RestApi] = field(default_factory=lambda: MappingProxyType({}))  # by API.name
    api_index: ApiIndex | None = None  # the APIs by context, for dispatch (None: no API)
    deployed: tuple[DeployedArtifact, ...] = ()
    failed: tuple[DeployError, ...] = ()
    # Static keys of deployed artifacts that name nothing deployed: the artifact serves (as in MI) and every
    # message reaching the reference fails. `gateway validate` reports them as problems.
    dangling: tuple[DeployError, ...] = ()
    registry: Registry = field(default_factory=lambda: Registry(None))
    message_stores: Mapping[str, MessageStoreSpec] = field(default_factory=lambda: MappingProxyType({}))
    message_processors: Mapping[str, MessageProcessorSpec] = field(default_factory=lambda: MappingProxyType({}))
    tasks: Mapping[str, TaskSpec] = field(default_factory=lambda: MappingProxyType({}))
    inbound_endpoints: Mapping[str, InboundSpec] = field(default_factory=lambda: MappingProxyType({}))
    # A digest of the deployed files (path and bytes): equal versions serve the same artifacts. Hot
    # deployment and /healthz show it, so every worker can be seen to converge on one version.
    version: str = ""
    # Stylesheets, queries and schemas compiled for this configuration, by (kind, key, resource map)
    # (gateway.mediators.resources): static keys at assembly, dynamic ones on first use.
    compiled: dict[Any, Any] = field(default_factory=dict)

    @staticmethod
    def empty() -> Configuration:
        return Configuration(MappingProxyType({}), Table(), Table(), Table(), Table())
