"""Bundled connectors. Each subpackage exposes `CONNECTOR` (a gateway.connector.Connector,
usually loaded from its `connector.yaml`); third-party ones register the same object under the
`synapse_gateway.connectors` entry-point group."""
