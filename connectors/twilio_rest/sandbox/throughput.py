"""Per-sender throughput and queueing, the model Twilio's rate-limit article describes.

Every sender (a From number, short code or alphanumeric ID; for a Messaging Service, each number of
its pool) sends at a fixed rate of segments per second and queues what it cannot send yet:

==============================================  ===================
sender                                          segments per second
==============================================  ===================
long code, to a +1 (US/Canada) number           1
long code or alphanumeric ID, to other numbers  10
toll-free number                                3
short code                                      100
==============================================  ===================

An SMS costs its segments, an MMS one unit. A message that would wait more than the queue limit
(10 hours of sending, ``queue_limit`` = 36000 s) is refused at once with 21611; one that would wait
longer than its ``ValidityPeriod`` is accepted, stays ``queued`` and fails with 30001 (queue overflow)
when the validity period ends, without using the sender's time. A Messaging Service hands each
message to the pool sender that is free first, so its throughput is the sum of its senders'.

Times are model seconds: ``time_scale`` model seconds pass per real second (1 = real time), so a
test can drain a 30-message queue in milliseconds while ``date_sent`` still shows 1 s between
messages. ``throughput: false`` turns the model off (every message is sent after the status delay).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from .countries import sender_kind
from .errors import TwilioApiError

QUEUE_LIMIT = 36000.0  # seconds of queued sending per sender (Twilio: 10 hours)
RATES = {"short_code": 100.0, "toll_free": 3.0, "alphanumeric": 10.0}
LONG_CODE_DOMESTIC = 1.0  # to US/Canada (+1)
LONG_CODE_INTERNATIONAL = 10.0


def rate(sender: str, to: str) -> float:
    """Segments per second ``sender`` sends to ``to``."""
    kind = sender_kind(sender)
    if kind in RATES:
        return RATES[kind]
    return LONG_CODE_DOMESTIC if to.removeprefix("whatsapp:").startswith("+1") else LONG_CODE_INTERNATIONAL


def queue_full() -> TwilioApiError:
    return TwilioApiError(21611, "This 'From' number has exceeded the maximum number of queued messages")


class ModelClock:
    """Model seconds: ``scale`` of them pass per real second; rescaling keeps the current reading."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self._real = time.monotonic()
        self._model = 0.0

    def now(self) -> float:
        return self._model + (time.monotonic() - self._real) * self.scale

    def rescale(self, scale: float) -> None:
        if scale != self.scale:
            self._model, self._real, self.scale = self.now(), time.monotonic(), scale

    def real_seconds(self, model_seconds: float) -> float:
        return model_seconds / self.scale


@dataclass(frozen=True, slots=True)
class Admission:
    """Where a message stands in its sender's queue when it is accepted."""

    sender: str
    wait: float  # model seconds before it is sent
    expires: bool  # it would wait longer than its validity period: fails with 30001 then
    sent_at: float = field(default_factory=time.time)  # wall-clock time of the modelled send (date_sent)


class SenderQueues:
    """When each (account, sender) is next free, in model seconds."""

    def __init__(self, clock: ModelClock) -> None:
        self.clock = clock
        self._free_at: dict[tuple[str, str], float] = {}
        # (model, wall) time when the sender's current backlog began: its dates count from there, so a
        # busy sender's messages are dated exactly 1/rate apart whatever time_scale is.
        self._anchor: dict[tuple[str, str], tuple[float, float]] = {}

    def admit(
        self, account_sid: str, senders: Sequence[str], to: str, units: int, validity: float, limit: float
    ) -> Admission:
        """Queue ``units`` segments on the sender free first; 21611 when it is more than ``limit`` away."""
        now = self.clock.now()
        sender = min(senders, key=lambda s: self._free_at.get((account_sid, s), now))
        key = (account_sid, sender)
        start = max(now, self._free_at.get(key, now))
        wait = start - now
        if wait > limit:
            raise queue_full()
        if wait > validity:
            return Admission(sender, wait, expires=True)
        if wait == 0:
            self._anchor[key] = (now, time.time())
        anchor_model, anchor_wall = self._anchor[key]
        self._free_at[key] = start + units / rate(sender, to)
        return Admission(sender, wait, expires=False, sent_at=anchor_wall + start - anchor_model)

    def backlog(self, account_sid: str, sender: str) -> float:
        """Model seconds until ``sender`` is free (0 when idle)."""
        return max(0.0, self._free_at.get((account_sid, sender), 0.0) - self.clock.now())

    def clear(self) -> None:
        self._free_at.clear()
        self._anchor.clear()
