"""Recordings and Transcriptions: fetch, list, delete; recordings of a call (start one on a live
call, list them). Recordings come from calls (see call_progress.py): ``Record=true`` records the
whole call (source OutboundAPI), a ``<Record>`` verb in the call's ``Twiml`` leaves a RecordVerb
recording, transcribed when it says ``transcribe="true"``. A deleted recording is kept as
``deleted`` and shown only with ``IncludeSoftDeleted=true``, as Twilio does.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aiohttp import web

from . import rules
from .api import ApiRequest, Route, filters_of, json_response, no_content, page
from .errors import TwilioApiError, not_found
from .inventory import Recording, Transcription
from .store import new_sid, utcnow

if TYPE_CHECKING:
    from .server import SandboxState

SANDBOX_TRANSCRIPT = "Hello from the Twilio sandbox."
_RECORD_VERB_RE = re.compile(r"<Record\b[^>]*>", re.IGNORECASE)
_TRANSCRIBE_RE = re.compile(r"""\btranscribe\s*=\s*["']true["']""", re.IGNORECASE)


def twiml_records(twiml: str | None) -> tuple[bool, bool]:
    """(the TwiML has a <Record> verb, it asks for a transcription)."""
    verb = _RECORD_VERB_RE.search(twiml or "")
    return verb is not None, bool(verb and _TRANSCRIBE_RE.search(verb.group(0)))


def start_recording(
    state: SandboxState, account_sid: str, call_sid: str, source: str, transcribe: bool = False
) -> Recording:
    now = utcnow()
    record = Recording(new_sid("RE"), account_sid, call_sid, source, "in-progress", now, now, now)
    record.transcribe = transcribe
    state.inventory.account(account_sid).recordings[record.sid] = record
    return record


def _visible(api: ApiRequest, record: Recording) -> bool:
    return not record.deleted or rules.parse_bool(api.request.query, "IncludeSoftDeleted") is True


async def fetch_recording(api: ApiRequest) -> web.Response:
    record: Recording = api.find(api.state.inventory.account(api.account_sid).recordings)
    if not _visible(api, record):
        raise not_found(api.request.path)
    return json_response(record.to_json())


async def delete_recording(api: ApiRequest) -> web.Response:
    record: Recording = api.find(api.state.inventory.account(api.account_sid).recordings)
    if record.deleted:
        raise not_found(api.request.path)
    record.deleted = True
    record.date_updated = utcnow()
    return no_content()


async def list_recordings(api: ApiRequest) -> web.Response:
    query = api.request.query
    bounds = rules.parse_date_filters(query, "DateCreated")
    call_sid = api.params.get("call") or query.get("CallSid")
    recordings = sorted(api.state.inventory.account(api.account_sid).recordings.values(), key=lambda r: -r.seq)
    items = [
        r
        for r in recordings
        if _visible(api, r)
        and (call_sid is None or r.call_sid == call_sid)
        and rules.matches_date_bounds(r.date_created, bounds)
        and query.get("ConferenceSid") is None  # the sandbox has no conferences
    ]
    names = ("DateCreated", "DateCreated<", "DateCreated>", "CallSid", "ConferenceSid", "IncludeSoftDeleted")
    if "call" in api.params:  # a call's recordings have their own shape
        return page(api, "recordings", [_CallRecording(r) for r in items], filters_of(query, names))
    return page(api, "recordings", items, filters_of(query, names))


class _CallRecording:
    def __init__(self, recording: Recording) -> None:
        self.sid = recording.sid
        self.to_json = recording.to_call_json


async def start_call_recording(api: ApiRequest) -> web.Response:
    call = api.find(api.state.store.account(api.account_sid).calls, "call")
    if call.status != "in-progress":
        raise TwilioApiError(21220, "Requested resource is not eligible for recording: the call is not in-progress")
    record = start_recording(api.state, api.account_sid, call.sid, "StartCallRecordingAPI")
    return json_response(record.to_call_json(), 201)


async def fetch_transcription(api: ApiRequest) -> web.Response:
    return json_response(api.find(api.state.inventory.account(api.account_sid).transcriptions).to_json())


async def delete_transcription(api: ApiRequest) -> web.Response:
    transcriptions = api.state.inventory.account(api.account_sid).transcriptions
    del transcriptions[api.find(transcriptions).sid]
    return no_content()


async def list_transcriptions(api: ApiRequest) -> web.Response:
    recording_sid = api.params.get("recording")
    transcriptions = api.state.inventory.account(api.account_sid).transcriptions.values()
    items = [t for t in sorted(transcriptions, key=lambda t: -t.seq) if recording_sid in (None, t.recording_sid)]
    return page(api, "transcriptions", items, [])


def transcribe(state: SandboxState, recording: Recording) -> Transcription:
    now = utcnow()
    record = Transcription(
        new_sid("TR"),
        recording.account_sid,
        recording.sid,
        "completed",
        SANDBOX_TRANSCRIPT,
        recording.duration or 1,
        now,
        now,
    )
    state.inventory.account(recording.account_sid).transcriptions[record.sid] = record
    return record


ROUTES: list[Route] = [
    ("GET", "/Recordings.json", list_recordings),
    ("GET", "/Recordings/{sid}.json", fetch_recording),
    ("DELETE", "/Recordings/{sid}.json", delete_recording),
    ("GET", "/Recordings/{recording}/Transcriptions.json", list_transcriptions),
    ("GET", "/Calls/{call}/Recordings.json", list_recordings),
    ("POST", "/Calls/{call}/Recordings.json", start_call_recording),
    ("GET", "/Transcriptions.json", list_transcriptions),
    ("GET", "/Transcriptions/{sid}.json", fetch_transcription),
    ("DELETE", "/Transcriptions/{sid}.json", delete_transcription),
]
