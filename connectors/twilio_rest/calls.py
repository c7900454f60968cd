"""twilioRest call operations (the 2015 connector's names): getNewCall, getCall, getCallList and
modifyLiveCall on ``Calls.json`` / ``Calls/{CallSid}.json``.

getNewCall takes every field of the spec's CreateCall (seed 001's To, From, Url / Twiml / ApplicationSid,
Method, Fallback*, StatusCallback*, SendDigits, Timeout, Record, Recording*, MachineDetection, …);
modifyLiveCall redirects a live call (Url or Twiml) or ends it (Status canceled / completed)."""

from __future__ import annotations

from .resources import PAGING, Endpoint, handler

ACC = "Accounts/{accountSid}"
CALL_STATUSES = "queued|ringing|in-progress|completed|busy|failed|no-answer|canceled"

_CALL_HANDLERS = {
    "url": ("Url", "url"),
    "twiml": ("Twiml", "text"),
    "method": ("Method", "method"),
    "fallbackUrl": ("FallbackUrl", "url"),
    "fallbackMethod": ("FallbackMethod", "method"),
    "statusCallback": ("StatusCallback", "url"),
    "statusCallbackMethod": ("StatusCallbackMethod", "method"),
}

ENDPOINTS = {
    "getNewCall": Endpoint(
        "POST",
        ACC + "/Calls.json",
        fields={
            "to": ("To", "text"),
            "from": ("From", "text"),
            **_CALL_HANDLERS,
            "applicationSid": ("ApplicationSid", "sid:AP"),
            "statusCallbackEvent": ("StatusCallbackEvent", "list:initiated|ringing|answered|completed"),
            "sendDigits": ("SendDigits", "text"),
            "timeout": ("Timeout", "int"),
            "timeLimit": ("TimeLimit", "int"),
            "record": ("Record", "bool"),
            "recordingChannels": ("RecordingChannels", "enum:mono|dual"),
            "recordingStatusCallback": ("RecordingStatusCallback", "url"),
            "recordingStatusCallbackMethod": ("RecordingStatusCallbackMethod", "method"),
            "recordingStatusCallbackEvent": ("RecordingStatusCallbackEvent", "list:in-progress|completed|absent"),
            "recordingTrack": ("RecordingTrack", "enum:inbound|outbound|both"),
            "trim": ("Trim", "enum:trim-silence|do-not-trim"),
            "machineDetection": ("MachineDetection", "enum:Enable|DetectMessageEnd"),
            "ifMachine": ("MachineDetection", "const:Enable"),  # 2015's IfMachine (Continue/Hangup) is gone
            "machineDetectionTimeout": ("MachineDetectionTimeout", "int"),
            "machineDetectionSpeechThreshold": ("MachineDetectionSpeechThreshold", "int"),
            "machineDetectionSpeechEndThreshold": ("MachineDetectionSpeechEndThreshold", "int"),
            "machineDetectionSilenceTimeout": ("MachineDetectionSilenceTimeout", "int"),
            "asyncAmd": ("AsyncAmd", "bool"),
            "asyncAmdStatusCallback": ("AsyncAmdStatusCallback", "url"),
            "asyncAmdStatusCallbackMethod": ("AsyncAmdStatusCallbackMethod", "method"),
            "sipAuthUsername": ("SipAuthUsername", "text"),
            "sipAuthPassword": ("SipAuthPassword", "text"),
            "callerId": ("CallerId", "text"),
            "callReason": ("CallReason", "text"),
            "callToken": ("CallToken", "text"),
            "byoc": ("Byoc", "sid:BY"),
            "clientNotificationUrl": ("ClientNotificationUrl", "url"),
        },
        one_of=("url", "twiml", "applicationSid"),
    ),
    "getCall": Endpoint("GET", ACC + "/Calls/{callSid}.json", sids={"callSid": "CA"}),
    "getCallList": Endpoint(
        "GET",
        ACC + "/Calls.json",
        fields={
            "to": ("To", "text"),
            "from": ("From", "text"),
            "parentCallSid": ("ParentCallSid", "sid:CA"),
            "status": ("Status", "enum:" + CALL_STATUSES),
            "startTime": ("StartTime", "date"),
            "startTimeBefore": ("StartTime", "date<"),
            "startTimeAfter": ("StartTime", "date>"),
            "endTime": ("EndTime", "date"),
            "endTimeBefore": ("EndTime", "date<"),
            "endTimeAfter": ("EndTime", "date>"),
            **PAGING,
        },
    ),
    "modifyLiveCall": Endpoint(
        "POST",
        ACC + "/Calls/{callSid}.json",
        sids={"callSid": "CA"},
        fields={
            **_CALL_HANDLERS,
            "status": ("Status", "enum:canceled|completed"),
            "timeLimit": ("TimeLimit", "int"),
        },
    ),
}

get_new_call = handler(ENDPOINTS["getNewCall"])
get_call = handler(ENDPOINTS["getCall"])
get_call_list = handler(ENDPOINTS["getCallList"])
modify_live_call = handler(ENDPOINTS["modifyLiveCall"])
