"""The twilioRest connector: `<twilioRest.init>`, `<twilioRest.sendSms>` and the other operations of connector.yaml.

`CONNECTOR` is what the gateway's connector registry discovers (bundled package and the
`synapse_gateway.connectors` entry point). The local Twilio fake lives in `.sandbox`.
"""

from pathlib import Path

from gateway.connector import load_connector

try:
    import twilio  # noqa: F401  (the SDK is an optional extra of the gateway)
except ImportError as exc:  # a clear line in `gateway validate` and /healthz instead of a bare ModuleNotFoundError
    raise ImportError("the twilioRest connector needs the Twilio SDK: pip install 'synapse-gateway[twilio]'") from exc

CONNECTOR = load_connector(Path(__file__).with_name("connector.yaml"), package=__name__)

__all__ = ["CONNECTOR"]
