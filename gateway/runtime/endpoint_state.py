"""Endpoint suspension (W: EndpointDefinition, EndpointContext, AbstractEndpoint.isTimeout / isSuspendFault /
isRetry): what an endpoint's `<suspendOnFailure>`, `<markForSuspension>`, `<retryConfig>` and `<timeout>` say, fixed
at deploy time (`Suspension`), and the state a leaf endpoint is in, kept per process (`EndpointContext`).

The states are MI's: ACTIVE; TIMEOUT (marked for suspension: `retriesBeforeSuspension` more failures are tolerated,
each after `retryDelay`); SUSPENDED (not ready until `initialDuration`, then each further suspension
`progressionFactor` times longer, at most `maximumDuration`; an unset initialDuration is MI's 30 s); OFF (switched
off through the management API). A successful answer makes the endpoint ACTIVE again."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway.errors import MediationError

ACTIVE, TIMEOUT, SUSPENDED, OFF = "ACTIVE", "TIMEOUT", "SUSPENDED", "OFF"
DEFAULT_SUSPEND_MILLIS = 30_000  # W: SynapseConstants.DEFAULT_ENDPOINT_SUSPEND_TIME
_NHTTP_CONNECTION_TIMEOUT, _NHTTP_CONNECTION_CLOSED = 101504, 101505  # W: the default timeout codes
NONE_READY = 303000  # W: ENDPOINT_LB_NONE_READY / ENDPOINT_FO_NONE_READY
ADDRESS_NONE_READY = 303001  # W: ENDPOINT_ADDRESS_NONE_READY
WSDL_NONE_READY = 303002  # W: ENDPOINT_WSDL_NONE_READY
_NOT_READY_CODE = {"address": ADDRESS_NONE_READY, "wsdl": WSDL_NONE_READY}


@dataclass(frozen=True, slots=True)
class Suspension:
    """The QoS part of MI's EndpointDefinition (milliseconds; W: its defaults)."""

    suspend_codes: frozenset[int] = frozenset()  # empty: every error suspends
    initial_duration: int = -1  # -1: MI's 30 s
    progression_factor: float = 1.0
    maximum_duration: int = 2**63 - 1
    timeout_codes: frozenset[int] = frozenset()  # empty: 101504 and 101505
    retries_before_suspension: int = 0
    retry_delay: int = 0
    retry_disabled_codes: frozenset[int] = frozenset()
    retry_enabled_codes: frozenset[int] = frozenset()
    timeout_action: str | None = None  # None, "discard" or "fault"
    # `<enableAddressing>`: the WS-Addressing namespace written on the outgoing SOAP message (W: isAddressingOn,
    # getAddressingVersion: final unless version="submission"); None: no addressing
    addressing: str | None = None

    def is_timeout(self, code: int) -> bool:
        """W: AbstractEndpoint.isTimeout."""
        if not self.timeout_codes:
            return code in (_NHTTP_CONNECTION_TIMEOUT, _NHTTP_CONNECTION_CLOSED)
        return code in self.timeout_codes

    def is_suspend_fault(self, code: int) -> bool:
        """W: AbstractEndpoint.isSuspendFault: with no codes listed every error suspends."""
        return not self.suspend_codes or code in self.suspend_codes

    def is_retry(self, code: int) -> bool:
        """W: AbstractEndpoint.isRetry: may a load-balance / fail-over parent try another child?"""
        if code in self.retry_disabled_codes:
            return False
        if self.retry_enabled_codes:
            return code in self.retry_enabled_codes
        return True


DEFAULT_SUSPENSION = Suspension()


class Discarded(MediationError):
    """`<responseAction>discard</responseAction>`: the endpoint failed and its fault handlers are ignored
    (W: AbstractEndpoint.onFault "Ignoring fault handlers since the timeout action is set to DISCARD")."""


class EndpointContext:
    """W: EndpointContext (not clustered): the state of one endpoint in this process."""

    __slots__ = (
        "name",
        "kind",
        "definition",
        "state",
        "next_retry",
        "remaining_retries",
        "last_suspend",
        "suspensions",
        "timeouts",
        "switched_off",
    )

    def __init__(self, name: str | None, kind: str, definition: Suspension = DEFAULT_SUSPENSION):
        self.name = name or "AnonymousEndpoint"
        self.kind = kind  # address, http, wsdl, default: the word in MI's "not ready" message
        self.definition = definition
        self.state = ACTIVE
        self.next_retry = 0.0  # time.monotonic() seconds
        self.remaining_retries = definition.retries_before_suspension
        self.last_suspend = -1  # milliseconds
        self.suspensions = 0
        self.timeouts = 0
        self.switched_off = False

    def __str__(self) -> str:  # W: EndpointContext.toString, getStateAsString (OFF is its "MAINTNENCE")
        state = "MAINTNENCE" if self.state == OFF else self.state
        return f"[ Name : {self.name} ] [ State : {state} ]"

    def ready(self) -> bool:
        """W: readyToSend: ACTIVE, or TIMEOUT / SUSPENDED once the next retry time has come (the state only
        changes on the outcome of that retry)."""
        if self.state == ACTIVE:
            return True
        if self.state == OFF:
            return False
        return time.monotonic() >= self.next_retry

    def not_ready(self) -> MediationError:
        """W: AddressEndpoint.send: a root leaf endpoint that is not ready fails at once."""
        kind = self.kind.capitalize() if self.kind != "wsdl" else "WSDL"
        return MediationError(
            f"Currently , {kind} endpoint : {self}",
            _NOT_READY_CODE.get(self.kind, ADDRESS_NONE_READY),
            f"the endpoint is {self.state.lower()} until {self._until()}; see its <suspendOnFailure> and "
            "<markForSuspension>",
        )

    def _until(self) -> str:
        left = max(0.0, self.next_retry - time.monotonic())
        return f"{left:.1f} s from now"

    def on_success(self) -> None:
        if self.state not in (ACTIVE, OFF):
            self._set(ACTIVE)

    def on_fault(self, code: int) -> None:
        """W: AddressEndpoint.onFault: a timeout marks the endpoint, any other suspend error suspends it."""
        if self.definition.is_timeout(code):
            self._set(TIMEOUT)
        elif self.definition.is_suspend_fault(code):
            self._set(SUSPENDED)

    def switch(self, on: bool) -> None:
        """The management API's activate / deactivate (W: EndpointContext.switchOn / switchOff)."""
        self.switched_off = not on
        self._set(ACTIVE if on else OFF)

    def _set(self, state: str) -> None:
        if self.switched_off:
            self.state = OFF
            return
        definition = self.definition
        if state == ACTIVE or state == OFF:
            self.state = state
            self.remaining_retries = definition.retries_before_suspension
            self.last_suspend = -1
        elif state == TIMEOUT:
            retries = self.remaining_retries
            if retries <= 0:  # "marked for SUSPENSION, but no further retries remain"
                self._set(SUSPENDED)
                return
            self.state = TIMEOUT
            self.timeouts += 1
            self.remaining_retries = retries - 1
            self.next_retry = time.monotonic() + definition.retry_delay / 1000.0
        else:
            self.state = SUSPENDED
            self.suspensions += 1
            if self.last_suspend > 0:
                duration = int(self.last_suspend * definition.progression_factor)
            else:
                duration = definition.initial_duration
            if duration > definition.maximum_duration:
                duration = definition.maximum_duration
            elif duration < 0:
                duration = DEFAULT_SUSPEND_MILLIS
            self.last_suspend = duration
            self.next_retry = time.monotonic() + duration / 1000.0

    def describe(self) -> dict[str, object]:
        """For the management API: the state, and when a suspended or timed-out endpoint is tried again."""
        info: dict[str, object] = {"state": self.state, "suspensions": self.suspensions, "timeouts": self.timeouts}
        if self.state in (TIMEOUT, SUSPENDED):
            info["retryInMillis"] = max(0, int((self.next_retry - time.monotonic()) * 1000))
            if self.state == TIMEOUT:
                info["remainingRetries"] = self.remaining_retries
            else:
                info["suspendedForMillis"] = self.last_suspend
        return info
