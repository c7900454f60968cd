"""``python -m connectors.twilio_rest.sandbox [--port 8299]``."""

import sys

from .server import main

sys.exit(main())
