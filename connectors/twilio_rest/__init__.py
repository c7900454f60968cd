"""The twilioRest connector: `<twilioRest.init|sendSms|getSmsList|getSms>` (see connector.yaml).

`CONNECTOR` is what the gateway's connector registry discovers (bundled package and the
`synapse_gateway.connectors` entry point). The local Twilio fake lives in `.sandbox`.
"""

from pathlib import Path

from gateway.connector import load_connector

CONNECTOR = load_connector(Path(__file__).with_name("connector.yaml"))

__all__ = ["CONNECTOR"]
