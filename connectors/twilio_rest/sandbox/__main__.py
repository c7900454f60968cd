"""``python -m synapse_gateway_connectors.twilio_rest.sandbox [--port 8299]`` (or ``gateway twilio-sandbox``)."""

import sys

from .server import main

sys.exit(main())
