"""Errors are data: deploy problems and mediation faults carry what, where and how to fix."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where a configuration element came from."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(slots=True)
class DeployError(Exception):
    """A problem found while loading an artifact; rendered as `path:line: element: reason`."""

    location: SourceLocation
    element: str
    reason: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.location}: {self.element}: {self.reason}"
        return f"{text} ({self.hint})" if self.hint else text


class ExpressionError(ValueError):
    """An XPath/JSONPath/template that cannot be compiled (raised at deploy time)."""


# MI error codes (W: SynapseConstants; reference section 6.2).
DEFAULT_ERROR = 0
CONNECT_FAILED = 101503
CONNECT_TIMEOUT = 101504
ENDPOINT_KEY_MISSING = 305100
MESSAGE_PARSING_ERROR = 601000
# Ours: a destination taken from the message is not on the outbound allow-list (no connection is made).
DESTINATION_NOT_ALLOWED = 403100


class MediationError(Exception):
    """A runtime fault that unwinds to the innermost fault handler.

    `code` becomes ERROR_CODE; `message` ERROR_MESSAGE; `detail` ERROR_DETAIL.
    `http_status` is an optional status hint (e.g. 413, or a connector's upstream status).
    """

    def __init__(
        self,
        message: str,
        code: int = DEFAULT_ERROR,
        detail: str | None = None,
        *,
        http_status: int | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.detail = detail
        self.http_status = http_status
        # Optional payload to install as the message body before the fault sequence runs
        # (a connector's upstream error JSON, for instance).
        self.body = body
        self.content_type = content_type


@dataclass(frozen=True, slots=True)
class TransportFailure:
    code: int
    message: str
    detail: str
    timed_out: bool


def transport_failure(
    exc: BaseException, target: str, timeout: float, *, what: str | None = None
) -> TransportFailure | None:
    """The one mapping of transport failures to MI's codes (W: SynapseConstants): no answer in time is 101504,
    a connection that could not be made or broke is 101503. None when `exc` is not a transport failure.
    `what` names the caller for the message (a connector operation); endpoints keep MI's plain messages."""
    if isinstance(exc, TimeoutError):  # asyncio's, and aiohttp's ServerTimeoutError / ConnectionTimeoutError
        message = f"Send timeout: {what} got no answer within {timeout:g} s" if what else "Send timeout"
        return TransportFailure(CONNECT_TIMEOUT, message, f"{target}: no answer within {timeout:g} s", True)
    if isinstance(exc, aiohttp.ClientError | OSError):
        message = (
            f"Error connecting to the back end: {what} could not reach {target}"
            if what
            else "Error connecting to the back end"
        )
        detail = f"{target}: {type(exc).__name__}: {exc}"
        if isinstance(exc, ssl.SSLCertVerificationError | aiohttp.ClientConnectorCertificateError):
            detail += f"; {_UNTRUSTED_CERTIFICATE}"
        return TransportFailure(CONNECT_FAILED, message, detail, False)
    return None


_UNTRUSTED_CERTIFICATE = (
    "the back end's TLS certificate failed verification: give its CA in outbound.ca_bundle (PEM) or have the "
    "certificate name the host in the URL (outbound.verify_tls: false turns the check off, never in production)"
)
