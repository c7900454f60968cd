"""twilioRest phone-number operations (the 2015 connector's names): available local and toll-free
numbers, incoming phone numbers (purchase, get, list, update, remove) and verified outgoing caller
IDs (add, get, list, update, remove)."""

from __future__ import annotations

from .resources import PAGING, Endpoint, handler

ACC = "Accounts/{accountSid}"

# The 2015 connector's twelve number settings, plus the application SIDs Twilio added since.
NUMBER_SETTINGS = {
    "friendlyName": ("FriendlyName", "text"),
    "voiceUrl": ("VoiceUrl", "url"),
    "voiceMethod": ("VoiceMethod", "method"),
    "voiceFallbackUrl": ("VoiceFallbackUrl", "url"),
    "voiceFallbackMethod": ("VoiceFallbackMethod", "method"),
    "statusCallback": ("StatusCallback", "url"),
    "statusCallbackMethod": ("StatusCallbackMethod", "method"),
    "voiceCallerIdLookup": ("VoiceCallerIdLookup", "bool"),
    "voiceApplicationSid": ("VoiceApplicationSid", "sid:AP"),
    "smsUrl": ("SmsUrl", "url"),
    "smsMethod": ("SmsMethod", "method"),
    "smsFallbackUrl": ("SmsFallbackUrl", "url"),
    "smsFallbackMethod": ("SmsFallbackMethod", "method"),
    "smsApplicationSid": ("SmsApplicationSid", "sid:AP"),
}
CAPABILITIES = {
    "smsEnabled": ("SmsEnabled", "bool"),
    "mmsEnabled": ("MmsEnabled", "bool"),
    "voiceEnabled": ("VoiceEnabled", "bool"),
    "faxEnabled": ("FaxEnabled", "bool"),
    "beta": ("Beta", "bool"),
    "excludeAllAddressRequired": ("ExcludeAllAddressRequired", "bool"),
    "excludeLocalAddressRequired": ("ExcludeLocalAddressRequired", "bool"),
    "excludeForeignAddressRequired": ("ExcludeForeignAddressRequired", "bool"),
    "pageSize": ("PageSize", "page_size"),
}
COUNTRY = {"country": "country"}

ENDPOINTS = {
    "getAvailableLocalNumbers": Endpoint(
        "GET",
        ACC + "/AvailablePhoneNumbers/{country}/Local.json",
        sids=COUNTRY,
        fields={
            "areaCode": ("AreaCode", "int"),
            "contains": ("Contains", "text"),
            "inRegion": ("InRegion", "text"),
            "inPostalCode": ("InPostalCode", "text"),
            "inLocality": ("InLocality", "text"),
            "nearLatLong": ("NearLatLong", "text"),
            "nearNumber": ("NearNumber", "text"),
            "inLata": ("InLata", "text"),
            "inRateCenter": ("InRateCenter", "text"),
            "distance": ("Distance", "int"),
            **CAPABILITIES,
        },
    ),
    "getAvailableTollFreeNumbers": Endpoint(
        "GET",
        ACC + "/AvailablePhoneNumbers/{country}/TollFree.json",
        sids=COUNTRY,
        fields={"areaCode": ("AreaCode", "int"), "contains": ("Contains", "text"), **CAPABILITIES},
    ),
    "purchasePhoneNumber": Endpoint(
        "POST",
        ACC + "/IncomingPhoneNumbers.json",
        fields={"phoneNumber": ("PhoneNumber", "text"), "areaCode": ("AreaCode", "text"), **NUMBER_SETTINGS},
        one_of=("phoneNumber", "areaCode"),
    ),
    "getIncomingPhoneNumber": Endpoint(
        "GET", ACC + "/IncomingPhoneNumbers/{incomingCallerId}.json", sids={"incomingCallerId": "PN"}
    ),
    "getIncomingPhoneNumberList": Endpoint(
        "GET",
        ACC + "/IncomingPhoneNumbers.json",
        fields={
            "phoneNumber": ("PhoneNumber", "text"),
            "friendlyName": ("FriendlyName", "text"),
            "beta": ("Beta", "bool"),
            "origin": ("Origin", "text"),
            **PAGING,
        },
    ),
    "updateIncomingPhoneNumber": Endpoint(
        "POST",
        ACC + "/IncomingPhoneNumbers/{incomingCallerId}.json",
        sids={"incomingCallerId": "PN"},
        fields=NUMBER_SETTINGS,
    ),
    "removeIncomingPhoneNumber": Endpoint(
        "DELETE", ACC + "/IncomingPhoneNumbers/{incomingCallerId}.json", sids={"incomingCallerId": "PN"}
    ),
    "addOutgoingPhoneNumber": Endpoint(
        "POST",
        ACC + "/OutgoingCallerIds.json",
        fields={
            "phoneNumber": ("PhoneNumber", "text"),
            "friendlyName": ("FriendlyName", "text"),
            "callDelay": ("CallDelay", "int"),
            "extension": ("Extension", "text"),
            "statusCallback": ("StatusCallback", "url"),
            "statusCallbackMethod": ("StatusCallbackMethod", "method"),
        },
    ),
    "getOutgoingPhoneNumber": Endpoint(
        "GET", ACC + "/OutgoingCallerIds/{outgoingCallerId}.json", sids={"outgoingCallerId": "PN"}
    ),
    "getOutgoingPhoneNumberList": Endpoint(
        "GET",
        ACC + "/OutgoingCallerIds.json",
        fields={"phoneNumber": ("PhoneNumber", "text"), "friendlyName": ("FriendlyName", "text"), **PAGING},
    ),
    "updateOutgoingPhoneNumber": Endpoint(
        "POST",
        ACC + "/OutgoingCallerIds/{outgoingCallerId}.json",
        sids={"outgoingCallerId": "PN"},
        fields={"friendlyName": ("FriendlyName", "text")},
    ),
    "removeOutgoingPhoneNumber": Endpoint(
        "DELETE", ACC + "/OutgoingCallerIds/{outgoingCallerId}.json", sids={"outgoingCallerId": "PN"}
    ),
}

get_available_local_numbers = handler(ENDPOINTS["getAvailableLocalNumbers"])
get_available_toll_free_numbers = handler(ENDPOINTS["getAvailableTollFreeNumbers"])
purchase_phone_number = handler(ENDPOINTS["purchasePhoneNumber"])
get_incoming_phone_number = handler(ENDPOINTS["getIncomingPhoneNumber"])
get_incoming_phone_number_list = handler(ENDPOINTS["getIncomingPhoneNumberList"])
update_incoming_phone_number = handler(ENDPOINTS["updateIncomingPhoneNumber"])
remove_incoming_phone_number = handler(ENDPOINTS["removeIncomingPhoneNumber"])
add_outgoing_phone_number = handler(ENDPOINTS["addOutgoingPhoneNumber"])
get_outgoing_phone_number = handler(ENDPOINTS["getOutgoingPhoneNumber"])
get_outgoing_phone_number_list = handler(ENDPOINTS["getOutgoingPhoneNumberList"])
update_outgoing_phone_number = handler(ENDPOINTS["updateOutgoingPhoneNumber"])
remove_outgoing_phone_number = handler(ENDPOINTS["removeOutgoingPhoneNumber"])
