"""The crypto connector: general building blocks for authentication flows written in Synapse XML.

`<crypto.hashPassword>` / `<crypto.verifyPassword>` (argon2id, a memory-hard KDF), `<crypto.randomToken>`
(`secrets`: hex, UUID-shaped or digits), `<crypto.hashToken>` (keyed HMAC-SHA-256, for storing tokens and
codes) and `<crypto.verifyToken>` (a value against its stored hash, in constant time). Every result is a
default-scope property; the message is not changed. See docs/phone-verification.md.
"""

from pathlib import Path

from gateway.connector import load_connector

CONNECTOR = load_connector(Path(__file__).with_name("connector.yaml"), package=__name__)

__all__ = ["CONNECTOR"]
