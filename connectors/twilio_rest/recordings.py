"""twilioRest recording and transcription operations (the 2015 connector's names): getRecording,
getRecordingList, deleteRecording, getTranscription, getTranscriptionList."""

from __future__ import annotations

from .resources import PAGING, Endpoint, handler

ACC = "Accounts/{accountSid}"

ENDPOINTS = {
    "getRecording": Endpoint(
        "GET",
        ACC + "/Recordings/{recordingSid}.json",
        sids={"recordingSid": "RE"},
        fields={"includeSoftDeleted": ("IncludeSoftDeleted", "bool")},
    ),
    "getRecordingList": Endpoint(
        "GET",
        ACC + "/Recordings.json",
        fields={
            "callSid": ("CallSid", "sid:CA"),
            "dateCreated": ("DateCreated", "date"),
            "dateCreatedBefore": ("DateCreated", "date<"),
            "dateCreatedAfter": ("DateCreated", "date>"),
            "includeSoftDeleted": ("IncludeSoftDeleted", "bool"),
            **PAGING,
        },
    ),
    "deleteRecording": Endpoint("DELETE", ACC + "/Recordings/{recordingSid}.json", sids={"recordingSid": "RE"}),
    "getTranscription": Endpoint(
        "GET", ACC + "/Transcriptions/{transcriptionSid}.json", sids={"transcriptionSid": "TR"}
    ),
    "getTranscriptionList": Endpoint("GET", ACC + "/Transcriptions.json", fields=dict(PAGING)),
}

get_recording = handler(ENDPOINTS["getRecording"])
get_recording_list = handler(ENDPOINTS["getRecordingList"])
delete_recording = handler(ENDPOINTS["deleteRecording"])
get_transcription = handler(ENDPOINTS["getTranscription"])
get_transcription_list = handler(ENDPOINTS["getTranscriptionList"])
