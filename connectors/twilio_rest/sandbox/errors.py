"""Twilio's legacy REST error body: ``{code, message, more_info, status}``."""

from __future__ import annotations

from typing import Any

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


class TwilioApiError(Exception):
    """An API error answered as Twilio does; raise it anywhere in a handler."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": MORE_INFO.format(code=self.code),
            "status": self.status,
        }


def not_found(path: str) -> TwilioApiError:
    return TwilioApiError(20404, f"The requested resource {path} was not found", 404)


def authenticate() -> TwilioApiError:
    return TwilioApiError(20003, "Authenticate", 401)


def method_not_allowed(method: str) -> TwilioApiError:
    return TwilioApiError(20004, f"Method {method} not allowed", 405)


def too_many_requests() -> TwilioApiError:
    return TwilioApiError(20429, "Too Many Requests", 429)


def invalid_parameter(name: str, value: str, expected: str) -> TwilioApiError:
    # 20001 is what api.twilio.com uses for malformed parameters ("Invalid message sid: …").
    return TwilioApiError(20001, f"Invalid parameter {name}: {value!r} ({expected})")
