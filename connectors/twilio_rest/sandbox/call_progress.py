"""Call status progression: queued -> ringing -> in-progress -> completed, with signed status callbacks.

The call rings for the first status delay and talks for the second; ``duration`` is the talk time in
whole seconds (at least 1). Callbacks go to ``StatusCallback`` (else the application's
``status_callback``) for the events asked for in ``StatusCallbackEvent`` (``initiated``,
``ringing``, ``answered``, ``completed``; Twilio's default is ``completed`` only).

Sandbox-only outcomes: a call to +15005550011 ends ``no-answer``, to +15005550012 ``failed`` and to
+15005550013 ``busy``. ``Record=true`` records the call; a ``<Record>`` verb in ``Twiml`` leaves a
recording too (transcribed with ``transcribe="true"``).

Something else that ends the call (an update to ``canceled`` or ``completed``) calls
:func:`finish_call` and cancels the timer with ``state.cancel_message_timer(call.sid)``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .errors import TwilioApiError
from .inventory import Recording
from .recordings import start_recording, transcribe, twiml_records
from .store import API_VERSION, CallRecord, utcnow

if TYPE_CHECKING:
    from .rules import CallUpdate
    from .server import SandboxState

log = logging.getLogger(__name__)

EVENT_OF_STATUS = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
UNANSWERED = {"+15005550011": "no-answer", "+15005550012": "failed", "+15005550013": "busy"}


def _events(call: CallRecord) -> set[str]:
    return {value for name, value in call.params if name == "StatusCallbackEvent"} or {"completed"}


async def _callback(state: SandboxState, call: CallRecord, event: str, sequence: int) -> None:
    url = call.status_callback
    if url is None or event not in _events(call):
        return
    params = [
        ("AccountSid", call.account_sid),
        ("ApiVersion", API_VERSION),
        ("CallSid", call.sid),
        ("CallStatus", call.status),
        ("CallbackSource", "call-progress-events"),
        ("Called", call.to),
        ("Caller", call.from_),
        ("Direction", "outbound-api"),
        ("From", call.from_),
        ("SequenceNumber", str(sequence)),
        ("Timestamp", utcnow().strftime("%a, %d %b %Y %H:%M:%S +0000")),
        ("To", call.to),
    ]
    if call.status in FINAL_STATUSES and call.duration is not None:
        params += [("CallDuration", str(call.duration)), ("Duration", str(max(1, (call.duration + 59) // 60)))]
    await state.post_callback(call.account_sid, url, params, resource_sid=call.sid, status=call.status)


def _set(call: CallRecord, status: str) -> None:
    call.status = status
    call.date_updated = utcnow()


async def progress_call(state: SandboxState, call: CallRecord) -> None:
    """Drive one call to its end on the status timers (stops when something else changed its status)."""
    try:
        ring, talk = state.config.status_delays
        await _callback(state, call, "initiated", 0)
        await asyncio.sleep(ring / 2)
        if call.status != "queued":
            return
        _set(call, "ringing")
        await _callback(state, call, "ringing", 1)
        await asyncio.sleep(ring / 2)
        if call.status != "ringing":
            return
        unanswered = UNANSWERED.get(call.to)
        if unanswered is not None:
            await finish_call(state, call, unanswered)
            return
        _set(call, "in-progress")
        call.start_time = utcnow()
        if any(name == "Record" and value.lower() == "true" for name, value in call.params):
            start_recording(state, call.account_sid, call.sid, "OutboundAPI")
        await _callback(state, call, "answered", 2)
        await asyncio.sleep(talk)
        if call.status == "in-progress":
            await finish_call(state, call, "completed")
    except asyncio.CancelledError:
        raise
    except Exception:  # a bug here must not leak into the event loop's error log forever
        log.exception("status progression of %s failed", call.sid)


async def finish_call(state: SandboxState, call: CallRecord, status: str) -> None:
    """End the call: times, duration, its recordings (and transcription), the final callback."""
    now = utcnow()
    answered = call.start_time is not None
    call.end_time = now
    call.duration = max(1, round((now - call.start_time).total_seconds())) if call.start_time else 0
    _set(call, status)
    recordings = state.inventory.account(call.account_sid).recordings.values()
    if answered:
        has_verb, transcribed = twiml_records(call.twiml)
        if has_verb:
            start_recording(state, call.account_sid, call.sid, "RecordVerb", transcribed)
    for recording in [r for r in recordings if r.call_sid == call.sid and r.status == "in-progress"]:
        recording.status = "completed"
        recording.duration = call.duration
        recording.date_updated = now
        if recording.transcribe:
            transcribe(state, recording)
        await _recording_callback(state, call, recording)
    await _callback(state, call, "completed", 3)


async def _recording_callback(state: SandboxState, call: CallRecord, recording: Recording) -> None:
    url = next((value for name, value in call.params if name == "RecordingStatusCallback"), None)
    if not url:
        return
    params = [
        ("AccountSid", call.account_sid),
        ("CallSid", call.sid),
        ("ErrorCode", "0"),
        ("RecordingChannels", "1"),
        ("RecordingDuration", str(recording.duration or 0)),
        ("RecordingSid", recording.sid),
        ("RecordingSource", recording.source),
        ("RecordingStatus", "completed"),
        (
            "RecordingUrl",
            f"https://api.twilio.com/{API_VERSION}/Accounts/{call.account_sid}/Recordings/{recording.sid}",
        ),
    ]
    await state.post_callback(call.account_sid, url, params, resource_sid=recording.sid, status="completed")


async def update_call(state: SandboxState, call: CallRecord, update: CallUpdate) -> None:
    """Twilio's call update. ``Status=canceled`` hangs up a queued or ringing call (an answered call is left
    alone); ``Status=completed`` hangs up any live call (canceled if it was not answered yet). ``Url`` or
    ``Twiml`` redirect a live call to new instructions (21220 once it has ended). The new instructions are
    kept (``url`` / ``twiml``); a ``<Record>`` in the new TwiML records the rest of the call."""
    if update.status_callback is not None:
        call.status_callback = update.status_callback
    if update.status is not None:
        if call.status in FINAL_STATUSES:
            return  # Twilio answers the ended call unchanged
        if update.status == "canceled" and call.status == "in-progress":
            return
        final = "completed" if call.status == "in-progress" else "canceled"
        state.cancel_message_timer(call.sid)
        # The ended call is answered at once; its callbacks go out in the background. finish_call sets the
        # status before its first await, so one turn of the loop is enough.
        state.spawn(finish_call(state, call, final))
        await asyncio.sleep(0)
        return
    if update.url is None and update.twiml is None:
        if update.method is not None:
            call.method = update.method
        call.date_updated = utcnow()
        return
    if call.status in FINAL_STATUSES:
        raise TwilioApiError(21220, "Call is not in-progress. Cannot redirect.")
    call.url, call.twiml = update.url, update.twiml
    if update.method is not None:
        call.method = update.method
    call.redirects += 1
    call.date_updated = utcnow()
