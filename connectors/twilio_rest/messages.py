"""twilioRest message lifecycle operations (seed 002): updateSms (redact the body, cancel a scheduled
message), deleteSms and createSmsFeedback, on ``Messages/{Sid}.json`` and its Feedback subresource.
sendSms, getSms and getSmsList live in operations.py."""

from __future__ import annotations

from .resources import Endpoint, handler

MESSAGE = "Accounts/{accountSid}/Messages/{messageSid}"

ENDPOINTS = {
    "updateSms": Endpoint(
        "POST",
        MESSAGE + ".json",
        sids={"messageSid": "SM|MM"},
        fields={"redact": ("Body", "flag:"), "status": ("Status", "enum:canceled")},
        one_of=("redact", "status"),
    ),
    "deleteSms": Endpoint("DELETE", MESSAGE + ".json", sids={"messageSid": "SM|MM"}),
    "createSmsFeedback": Endpoint(
        "POST",
        MESSAGE + "/Feedback.json",
        sids={"messageSid": "SM|MM"},
        fields={"outcome": ("Outcome", "enum:confirmed|unconfirmed")},
    ),
}

update_sms = handler(ENDPOINTS["updateSms"])
delete_sms = handler(ENDPOINTS["deleteSms"])
create_sms_feedback = handler(ENDPOINTS["createSmsFeedback"])
