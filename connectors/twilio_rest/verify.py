"""twilioRest Verify v2 operations (seed 003's one-time codes): createVerifyService, startVerification,
checkVerification, getVerification, updateVerification on ``{verifyUrl}/v2/Services…``.

Verify lives on its own host (https://verify.twilio.com). init's ``verifyUrl`` names it; without one,
an ``apiUrl`` of https://api.twilio.com means the real Verify host, and any other ``apiUrl`` (the
sandbox, a proxy) serves Verify too. The same credentials and pooled client are used."""

from __future__ import annotations

from .resources import Endpoint, handler

SERVICE = "v2/Services/{serviceSid}"
CHANNELS = "enum:sms|call|email|whatsapp|sna"

ENDPOINTS = {
    "createVerifyService": Endpoint(
        "POST",
        "v2/Services",
        fields={
            "friendlyName": ("FriendlyName", "text"),
            "codeLength": ("CodeLength", "int"),
            "lookupEnabled": ("LookupEnabled", "bool"),
            "skipSmsToLandlines": ("SkipSmsToLandlines", "bool"),
            "dtmfInputRequired": ("DtmfInputRequired", "bool"),
            "ttsName": ("TtsName", "text"),
            "psd2Enabled": ("Psd2Enabled", "bool"),
            "doNotShareWarningEnabled": ("DoNotShareWarningEnabled", "bool"),
            "customCodeEnabled": ("CustomCodeEnabled", "bool"),
        },
        host="verify",
    ),
    "startVerification": Endpoint(
        "POST",
        SERVICE + "/Verifications",
        sids={"serviceSid": "VA"},
        fields={
            "to": ("To", "text"),
            "channel": ("Channel", CHANNELS),
            "locale": ("Locale", "text"),
            "customFriendlyName": ("CustomFriendlyName", "text"),
            "customMessage": ("CustomMessage", "text"),
            "customCode": ("CustomCode", "text"),
            "sendDigits": ("SendDigits", "text"),
            "amount": ("Amount", "text"),
            "payee": ("Payee", "text"),
            "rateLimits": ("RateLimits", "json_object"),
            "channelConfiguration": ("ChannelConfiguration", "json_object"),
            "appHash": ("AppHash", "text"),
            "templateSid": ("TemplateSid", "sid:HJ"),
            "templateCustomSubstitutions": ("TemplateCustomSubstitutions", "json_object"),
            "deviceIp": ("DeviceIp", "text"),
            "riskCheck": ("RiskCheck", "enum:enable|disable"),
            "tags": ("Tags", "json_object"),
        },
        host="verify",
    ),
    "checkVerification": Endpoint(
        "POST",
        SERVICE + "/VerificationCheck",
        sids={"serviceSid": "VA"},
        fields={
            "code": ("Code", "text"),
            "to": ("To", "text"),
            "verificationSid": ("VerificationSid", "sid:VE"),
            "amount": ("Amount", "text"),
            "payee": ("Payee", "text"),
        },
        one_of=("to", "verificationSid"),
        host="verify",
    ),
    "getVerification": Endpoint(
        "GET",
        SERVICE + "/Verifications/{verificationSid}",
        sids={"serviceSid": "VA", "verificationSid": "VE"},
        host="verify",
    ),
    "updateVerification": Endpoint(
        "POST",
        SERVICE + "/Verifications/{verificationSid}",
        sids={"serviceSid": "VA", "verificationSid": "VE"},
        fields={"status": ("Status", "enum:canceled|approved")},
        host="verify",
    ),
}

create_verify_service = handler(ENDPOINTS["createVerifyService"])
start_verification = handler(ENDPOINTS["startVerification"])
check_verification = handler(ENDPOINTS["checkVerification"])
get_verification = handler(ENDPOINTS["getVerification"])
update_verification = handler(ENDPOINTS["updateVerification"])
