"""Bundled connectors, installed as the package `synapse_gateway_connectors`. Each subpackage exposes
`CONNECTOR` (a gateway.connector.Connector, loaded from its `connector.yaml`); third-party ones register the
same object under the `synapse_gateway.connectors` entry-point group. Inside a connector, imports are
relative, so the code does not depend on the installed name."""
