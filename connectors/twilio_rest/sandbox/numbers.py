"""Phone numbers: AvailablePhoneNumbers (Local, TollFree), IncomingPhoneNumbers (purchase, fetch,
list, update, release) and OutgoingCallerIds (validation requests, fetch, list, update, delete).

Available numbers are made up, deterministically per search, for the countries in
``countries.COUNTRIES`` (others answer 404); numbers some account already owns are never offered.
Twilio's test-credential magic inputs work: buying +15005550000 is 21422 (unavailable),
+15005550001 is 21421 (invalid), AreaCode 533 finds nothing (21452; an empty search result).
A validation request verifies the number after the first status delay (the validation call) and
posts the signed result to its StatusCallback; numbers of ``rules.DELIVERY_OUTCOMES`` fail it.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from . import rules, trial
from .api import ApiRequest, Route, filters_of, json_response, no_content, page
from .countries import COUNTRIES, Country, country_of, friendly_format
from .errors import TwilioApiError, invalid_parameter, not_found
from .inventory import NUMBER_FIELDS, CallerId, IncomingNumber, capabilities, defaults
from .store import new_sid, utcnow

UNAVAILABLE_NUMBER = "+15005550000"
INVALID_NUMBER = "+15005550001"
NO_NUMBERS_AREA_CODE = "533"
MAX_AVAILABLE = 30  # Twilio returns at most 30 numbers per search
TRIAL_MAX_VERIFIED = 5  # "Each account can verify up to five numbers" (Twilio's trial pages)
URL_FIELDS = frozenset({"VoiceUrl", "VoiceFallbackUrl", "StatusCallback", "SmsUrl", "SmsFallbackUrl"})
METHOD_FIELDS = frozenset(
    {"VoiceMethod", "VoiceFallbackMethod", "StatusCallbackMethod", "SmsMethod", "SmsFallbackMethod"}
)
BOOLEAN_FIELDS = frozenset({"VoiceCallerIdLookup", "PublicApplicationConnectEnabled"})
# A few well-known US area codes so that local numbers carry a place, as Twilio's do.
US_PLACES: Mapping[str, tuple[str, str, str, str, str, float, float]] = {
    "415": ("CA", "San Francisco", "SNFC CA 01", "722", "94105", 37.79, -122.39),
    "212": ("NY", "New York", "NWYRCYZN01", "132", "10001", 40.75, -73.99),
    "512": ("TX", "Austin", "AUSTIN", "558", "78701", 30.27, -97.74),
    "617": ("MA", "Boston", "BOSTON", "128", "02108", 42.36, -71.06),
    "808": ("HI", "Hilo", "HILO", "834", "96720", 19.72, -155.09),
}


def settings_from(form: MultiMapping[str], fields: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
    """The configurable fields a form sets, checked as Twilio does (URLs, GET/POST, booleans)."""
    changes: dict[str, Any] = {}
    for name, (key, _default) in fields.items():
        value = form.get(name)
        if not isinstance(value, str):
            continue
        if name in URL_FIELDS and value and not rules.is_valid_callback_url(value):
            raise TwilioApiError(21502, f"{name} is not a valid URL: {value}")
        if name in METHOD_FIELDS:
            value = value.upper()
            if value not in ("GET", "POST"):
                raise invalid_parameter(name, value, "expected GET or POST")
        if name in BOOLEAN_FIELDS:
            changes[key] = rules.parse_bool(form, name)
            continue
        changes[key] = value or None
    return changes


# ---------------------------------------------------------------------------------------------
# AvailablePhoneNumbers
# ---------------------------------------------------------------------------------------------
def _country(api: ApiRequest) -> Country:
    country = COUNTRIES.get(api.params["country"])
    if country is None:
        raise not_found(api.request.path)
    return country


def _contains_pattern(raw: str) -> re.Pattern[str]:
    """Twilio's Contains: digits, letters (phone keypad) and * for any digit."""
    keypad = {c: d for d, letters in {"2": "ABC", "3": "DEF", "4": "GHI", "5": "JKL", "6": "MNO",
              "7": "PQRS", "8": "TUV", "9": "WXYZ"}.items() for c in letters}  # fmt: skip
    digits = "".join(keypad.get(ch.upper(), ch) for ch in raw.strip())
    if not digits or not re.fullmatch(r"[0-9*]+", digits) or len(digits) < 2:
        raise invalid_parameter("Contains", raw, "at least two digits, letters or *")
    return re.compile(digits.replace("*", r"\d"))


def _candidates(country: Country, toll_free: bool, area_code: str | None, seed: str) -> list[str]:
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    prefixes = country.toll_free_prefixes if toll_free else country.local_prefixes
    if area_code is not None:
        prefixes = (area_code,)
    numbers = []
    for index in range(400):
        prefix = prefixes[index % len(prefixes)]
        rest = "".join(rng.choice("0123456789") for _ in range(country.national_length - len(prefix)))
        if country.calling_code == "1":
            rest = rng.choice("23456789") + rest[1:]  # NANP exchange codes never start with 0 or 1
        numbers.append(f"+{country.calling_code}{prefix}{rest}")
    return numbers


def _available(country: Country, number: str, toll_free: bool) -> dict[str, Any]:
    place = US_PLACES.get(number[2:5]) if country.iso in ("US", "CA") and not toll_free else None
    region, locality, rate_center, lata, postal, lat, lon = place or (None,) * 7
    caps = capabilities(number)
    return {
        "friendly_name": friendly_format(number),
        "phone_number": number,
        "lata": lata,
        "locality": locality,
        "rate_center": rate_center,
        # The spec types these as numbers (Twilio's answers carry strings such as "19.720000").
        "latitude": lat,
        "longitude": lon,
        "region": region,
        "postal_code": postal,
        "iso_country": country.iso,
        "address_requirements": "none",
        "beta": False,
        "capabilities": caps,
    }


async def _search(api: ApiRequest, toll_free: bool) -> web.Response:
    country = _country(api)
    query = api.request.query
    area_code = query.get("AreaCode")
    if area_code is not None and (country.calling_code != "1" or not re.fullmatch(r"[2-9]\d\d", area_code)):
        raise invalid_parameter("AreaCode", area_code, "a three-digit North American area code")
    contains = _contains_pattern(query["Contains"]) if "Contains" in query else None
    wanted = {name: rules.parse_bool(query, name) for name in ("SmsEnabled", "MmsEnabled", "VoiceEnabled")}
    size = min(int(query.get("PageSize", MAX_AVAILABLE)) if query.get("PageSize", "").isdigit() else MAX_AVAILABLE,
               MAX_AVAILABLE)  # fmt: skip
    found: list[dict[str, Any]] = []
    if area_code != NO_NUMBERS_AREA_CODE:
        seed = f"{api.account_sid}|{country.iso}|{toll_free}|{area_code}|{query.get('Contains')}"
        for number in _candidates(country, toll_free, area_code, seed):
            caps = capabilities(number)
            if any(value is not None and caps[name[:-7].lower()] != value for name, value in wanted.items()):
                continue
            if contains is not None and not contains.search(number[1 + len(country.calling_code) :]):
                continue
            if api.state.inventory.owner_of_number(number) is None and number not in {n["phone_number"] for n in found}:
                found.append(_available(country, number, toll_free))
            if len(found) >= size:
                break
    # One page holds every match (Twilio pages available numbers no further).
    return json_response(
        {
            "end": max(len(found) - 1, 0),
            "first_page_uri": api.request.path_qs,
            "next_page_uri": None,
            "page": 0,
            "page_size": size,
            "previous_page_uri": None,
            "start": 0,
            "uri": api.request.path_qs,
            "available_phone_numbers": found,
        }
    )


async def available_local(api: ApiRequest) -> web.Response:
    return await _search(api, toll_free=False)


async def available_toll_free(api: ApiRequest) -> web.Response:
    return await _search(api, toll_free=True)


# ---------------------------------------------------------------------------------------------
# IncomingPhoneNumbers
# ---------------------------------------------------------------------------------------------
def _pick_by_area_code(api: ApiRequest, area_code: str) -> str:
    if area_code == NO_NUMBERS_AREA_CODE or not re.fullmatch(r"[2-9]\d\d", area_code):
        raise TwilioApiError(21452, "No phone numbers found")
    seed = f"{api.account_sid}|purchase|{area_code}|{utcnow().isoformat()}"
    for number in _candidates(COUNTRIES["US"], False, area_code, seed):
        if api.state.inventory.owner_of_number(number) is None:
            return number
    raise TwilioApiError(21452, "No phone numbers found")


async def purchase_number(api: ApiRequest) -> web.Response:
    phone, area_code = api.form.get("PhoneNumber"), api.form.get("AreaCode")
    if not phone and not area_code:
        raise TwilioApiError(21451, "A 'PhoneNumber' or 'AreaCode' is required to purchase a number")
    if phone:
        if phone == INVALID_NUMBER or not rules.E164_RE.match(phone) or country_of(phone) is None:
            raise TwilioApiError(21421, "PhoneNumber is invalid")
        if phone == UNAVAILABLE_NUMBER or api.state.inventory.owner_of_number(phone) is not None:
            raise TwilioApiError(21422, "PhoneNumber is unavailable")
    else:
        phone = _pick_by_area_code(api, area_code or "")
    trial.check_purchase(api)
    settings = defaults(NUMBER_FIELDS)
    settings["friendly_name"] = friendly_format(phone)
    settings.update(settings_from(api.form, NUMBER_FIELDS))
    now = utcnow()
    record = IncomingNumber(new_sid("PN"), api.account_sid, phone, settings, now, now)
    api.state.inventory.account(api.account_sid).numbers[record.sid] = record
    return json_response(record.to_json(), 201)


async def fetch_number(api: ApiRequest) -> web.Response:
    return json_response(api.find(api.state.inventory.account(api.account_sid).numbers).to_json())


async def update_number(api: ApiRequest) -> web.Response:
    numbers = api.state.inventory.account(api.account_sid).numbers
    record: IncomingNumber = api.find(numbers)
    changes = settings_from(api.form, NUMBER_FIELDS)
    target = api.form.get("AccountSid")
    directory = api.state.directory
    if target and target != api.account_sid:
        if directory.get(target) is None or directory.owner_of(target) != directory.owner_of(api.account_sid):
            raise TwilioApiError(21430, f"Account {target} is not a subaccount of this account's owner")
    record.settings.update(changes)
    record.date_updated = utcnow()
    if target and target != api.account_sid:
        del numbers[record.sid]
        record.account_sid = target
        api.state.inventory.account(target).numbers[record.sid] = record
    return json_response(record.to_json())


async def release_number(api: ApiRequest) -> web.Response:
    numbers = api.state.inventory.account(api.account_sid).numbers
    record: IncomingNumber = api.find(numbers)
    del numbers[record.sid]
    return no_content()


def _number_filter(raw: str | None) -> re.Pattern[str] | None:
    """PhoneNumber filters of the list resources: partial numbers, * for any digit."""
    if raw is None:
        return None
    return re.compile(re.escape(raw.strip()).replace(r"\*", r"\d"))


async def list_numbers(api: ApiRequest) -> web.Response:
    query = api.request.query
    pattern, name = _number_filter(query.get("PhoneNumber")), query.get("FriendlyName")
    origin = query.get("Origin")
    numbers = sorted(api.state.inventory.account(api.account_sid).numbers.values(), key=lambda n: n.seq)
    items = [
        n
        for n in numbers
        if (pattern is None or pattern.search(n.phone_number))
        and (name is None or n.settings.get("friendly_name") == name)
        and (origin is None or n.origin == origin)
    ]
    filters = filters_of(query, ("Beta", "FriendlyName", "PhoneNumber", "Origin"))
    return page(api, "incoming_phone_numbers", items, filters)


# ---------------------------------------------------------------------------------------------
# OutgoingCallerIds (verified caller IDs)
# ---------------------------------------------------------------------------------------------
async def create_validation_request(api: ApiRequest) -> web.Response:
    phone = api.form.get("PhoneNumber") or ""
    if not phone:
        raise TwilioApiError(21401, "A 'PhoneNumber' is required")
    if not rules.E164_RE.match(phone):
        raise TwilioApiError(21401, f"Invalid Phone Number: {phone}")
    inventory = api.state.inventory.account(api.account_sid)
    if inventory.is_verified(phone):
        raise TwilioApiError(21450, "Phone number is already verified.")
    if api.state.directory.is_trial(api.account_sid) and len(inventory.caller_ids) >= TRIAL_MAX_VERIFIED:
        raise TwilioApiError(10002, "Trial accounts can verify up to five numbers", 403)
    callback = api.form.get("StatusCallback") or None
    if callback is not None and not rules.is_valid_callback_url(callback):
        raise invalid_parameter("StatusCallback", callback, "expected an absolute http(s) URL")
    delay = rules.parse_int(api.form, "CallDelay")
    if delay is not None and not 0 <= delay <= 60:
        raise invalid_parameter("CallDelay", str(delay), "between 0 and 60 seconds")
    friendly = api.form.get("FriendlyName") or friendly_format(phone)
    call_sid = new_sid("CA")
    code = f"{random.SystemRandom().randrange(10**6):06d}"
    api.state.spawn(_validate(api, phone, friendly, call_sid, callback))
    return json_response(
        {
            "account_sid": api.account_sid,
            "call_sid": call_sid,
            "friendly_name": friendly,
            "phone_number": phone,
            "validation_code": code,
        }
    )


async def _validate(api: ApiRequest, phone: str, friendly: str, call_sid: str, callback: str | None) -> None:
    """The validation call: the person answers and types the code (or, for a failing number, doesn't)."""
    state, account = api.state, api.account_sid
    await asyncio.sleep(state.config.status_delays[0])
    params = [("AccountSid", account), ("CallSid", call_sid), ("To", phone)]
    if phone in rules.DELIVERY_OUTCOMES:
        params.append(("VerificationStatus", "failed"))
    else:
        now = utcnow()
        caller = CallerId(new_sid("PN"), account, phone, friendly, now, now)
        state.inventory.account(account).caller_ids[caller.sid] = caller
        params += [("OutgoingCallerIdSid", caller.sid), ("VerificationStatus", "success")]
    if callback is not None:
        await state.post_callback(account, callback, params, resource_sid=call_sid, status=params[-1][1])


async def fetch_caller_id(api: ApiRequest) -> web.Response:
    return json_response(api.find(api.state.inventory.account(api.account_sid).caller_ids).to_json())


async def update_caller_id(api: ApiRequest) -> web.Response:
    record: CallerId = api.find(api.state.inventory.account(api.account_sid).caller_ids)
    name = api.form.get("FriendlyName")
    if name is not None:
        record.friendly_name = name[:64]
        record.date_updated = utcnow()
    return json_response(record.to_json())


async def delete_caller_id(api: ApiRequest) -> web.Response:
    caller_ids = api.state.inventory.account(api.account_sid).caller_ids
    record: CallerId = api.find(caller_ids)
    del caller_ids[record.sid]
    return no_content()


async def list_caller_ids(api: ApiRequest) -> web.Response:
    query = api.request.query
    pattern, name = _number_filter(query.get("PhoneNumber")), query.get("FriendlyName")
    caller_ids = sorted(api.state.inventory.account(api.account_sid).caller_ids.values(), key=lambda c: c.seq)
    items = [
        c
        for c in caller_ids
        if (pattern is None or pattern.search(c.phone_number)) and (name is None or c.friendly_name == name)
    ]
    return page(api, "outgoing_caller_ids", items, filters_of(query, ("PhoneNumber", "FriendlyName")))


ROUTES: list[Route] = [
    ("GET", "/AvailablePhoneNumbers/{country}/Local.json", available_local),
    ("GET", "/AvailablePhoneNumbers/{country}/TollFree.json", available_toll_free),
    ("GET", "/IncomingPhoneNumbers.json", list_numbers),
    ("POST", "/IncomingPhoneNumbers.json", purchase_number),
    ("GET", "/IncomingPhoneNumbers/{sid}.json", fetch_number),
    ("POST", "/IncomingPhoneNumbers/{sid}.json", update_number),
    ("DELETE", "/IncomingPhoneNumbers/{sid}.json", release_number),
    ("GET", "/OutgoingCallerIds.json", list_caller_ids),
    ("POST", "/OutgoingCallerIds.json", create_validation_request),
    ("GET", "/OutgoingCallerIds/{sid}.json", fetch_caller_id),
    ("POST", "/OutgoingCallerIds/{sid}.json", update_caller_id),
    ("DELETE", "/OutgoingCallerIds/{sid}.json", delete_caller_id),
]
