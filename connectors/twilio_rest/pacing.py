"""smsPace: what a message costs its sender, for a processor that paces deliveries per sender
(docs/operations.md, pacing). Nothing is sent: the operation sets properties that travel with the message into a
message store, and the processor's pacing.key / pacing.units / pacing.rate read them.

Twilio's sending rates (seed 003; the sandbox models the same, connectors/twilio_rest/sandbox/throughput.py): a
US/Canada long code sends 1 segment per second, toll-free 3, a short code 100, an alphanumeric sender 10, a long
code to another country 10. A Messaging Service spreads over its numbers: give its rate (messagingServiceRate).
Segments are counted as carriers count them (GSM-7 160/153, UCS-2 70/67); an MMS (mediaUrl) is one unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .sandbox.countries import sender_kind
from .sandbox.segments import count_segments

if TYPE_CHECKING:
    from gateway.connector import OperationCall

_DEFAULT_RATES = {
    "longCodeRate": 1.0,
    "longCodeInternationalRate": 10.0,
    "tollFreeRate": 3.0,
    "shortCodeRate": 100.0,
    "alphanumericRate": 10.0,
    "messagingServiceRate": 1.0,
}
_KIND_RATE = {"toll_free": "tollFreeRate", "short_code": "shortCodeRate", "alphanumeric": "alphanumericRate"}


def _rate(call: OperationCall, name: str) -> float:
    text = call.value(name)
    if text is None or not text.strip():
        return _DEFAULT_RATES[name]
    try:
        rate = float(text)
    except ValueError:
        raise call.invalid(name, f"'{text}' is not a number of segments per second") from None
    if rate <= 0:
        raise call.invalid(name, "must be more than 0")
    return rate


async def sms_pace(call: OperationCall) -> None:
    ctx = call.ctx
    to = (call.value("to") or "").strip()
    if not to:
        raise call.missing("to")
    service = (call.value("messagingServiceSid") or "").strip()
    sender = (call.value("from") or "").strip()
    if not sender and not service:
        raise call.missing("from", "give from (a number, short code or sender ID) or messagingServiceSid")
    if service:
        key, rate = service, _rate(call, "messagingServiceRate")
    else:
        kind = sender_kind(sender)
        if kind in _KIND_RATE:
            rate = _rate(call, _KIND_RATE[kind])
        elif to.removeprefix("whatsapp:").startswith("+1"):
            rate = _rate(call, "longCodeRate")
        else:
            rate = _rate(call, "longCodeInternationalRate")
        key = sender
    count = count_segments(call.value("body") or "")
    units = 1 if call.values("mediaUrl") else max(1, count.segments)
    props = ctx.properties
    props["twilio.pace.key"] = key
    props["twilio.pace.units"] = str(units)
    props["twilio.pace.rate"] = repr(rate)
    props["twilio.segments"] = str(count.segments)
    props["twilio.encoding"] = count.encoding
