"""The connector API: how a connector plugs into the gateway (see docs/writing-a-connector.md).

A connector is a `connector.yaml` descriptor (name, module, operations with their parameters, options) plus the
async callables it names. Each operation becomes an element `<name.operation>` in a sequence; its parameter
children are compiled when the artifact is deployed and resolved per message into an `OperationCall`. The
engine knows no connector: it only meets them through this package.

Everything a connector needs is exported here; nothing else of the gateway is part of the contract.
"""

from gateway.connector.descriptor import load_connector
from gateway.connector.invocation import BoundOperation, ConnectorError, OperationCall
from gateway.connector.model import (
    INVALID_PARAMETER,
    MISSING_PARAMETER,
    NO_CONNECTION,
    RESPONSE_PROCESSING_FAILED,
    Command,
    Connector,
    ConnectorDefinitionError,
    Handler,
    OperationSpec,
    OptionSpec,
    ParameterSpec,
    StartHook,
    TemplateSource,
)
from gateway.connector.registry import ENTRY_POINT_GROUP, ConnectorRegistry
from gateway.errors import CONNECT_FAILED, CONNECT_TIMEOUT, DESTINATION_NOT_ALLOWED
from gateway.outbound import OutboundPolicy
from gateway.runtime.services import HttpClient, HttpReply, ReplyTooLarge, Services

__all__ = [
    "CONNECT_FAILED",
    "CONNECT_TIMEOUT",
    "DESTINATION_NOT_ALLOWED",
    "ENTRY_POINT_GROUP",
    "INVALID_PARAMETER",
    "MISSING_PARAMETER",
    "NO_CONNECTION",
    "RESPONSE_PROCESSING_FAILED",
    "BoundOperation",
    "Command",
    "Connector",
    "ConnectorDefinitionError",
    "ConnectorError",
    "ConnectorRegistry",
    "Handler",
    "HttpClient",
    "HttpReply",
    "OperationCall",
    "OperationSpec",
    "OptionSpec",
    "OutboundPolicy",
    "ParameterSpec",
    "ReplyTooLarge",
    "Services",
    "StartHook",
    "TemplateSource",
    "load_connector",
]
