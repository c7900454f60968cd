"""Just enough numbering-plan knowledge for the sandbox: the country of a number, national-format
numbers made E.164 with the sender's country (as Twilio does), the kind of a sender (long code,
toll-free, short code, alphanumeric) and plausible numbers for AvailablePhoneNumbers.

A small table, not libphonenumber: the countries listed in ``COUNTRIES``. A national number for a
sender of any other country stays as it is (and fails as an invalid 'To', 21211).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The sender patterns of rules.py (which imports this module, so they are repeated here).
E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")
ALPHANUMERIC_SENDER_RE = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
SHORT_CODE_RE = re.compile(r"^\d{3,8}$")


@dataclass(frozen=True, slots=True)
class Country:
    iso: str
    calling_code: str
    trunk_prefix: str  # dropped from a national number before the calling code is added ("" = none)
    national_length: int  # digits of a typical national significant number (for generated numbers)
    local_prefixes: tuple[str, ...]  # first digits of generated local numbers
    toll_free_prefixes: tuple[str, ...] = ()
    mms: bool = False  # Twilio offers MMS on US/CA numbers only


COUNTRIES: dict[str, Country] = {
    c.iso: c
    for c in (
        Country(
            "US",
            "1",
            "1",
            10,
            ("415", "212", "512", "617", "808"),
            ("800", "833", "844", "855", "866", "877", "888"),
            True,
        ),
        Country("CA", "1", "1", 10, ("604", "416", "514"), ("800", "833", "844", "855", "866", "877", "888"), True),
        Country("GB", "44", "0", 10, ("20", "161", "131"), ("800", "808")),
        Country("IE", "353", "0", 9, ("1", "21")),
        Country("DE", "49", "0", 11, ("30", "89", "40"), ("800",)),
        Country("FR", "33", "0", 9, ("1", "4"), ("80",)),
        Country("ES", "34", "", 9, ("91", "93"), ("900",)),
        Country("IT", "39", "", 10, ("06", "02"), ("800",)),
        Country("NL", "31", "0", 9, ("20", "10"), ("800",)),
        Country("BE", "32", "0", 8, ("2", "3")),
        Country("CH", "41", "0", 9, ("44", "22")),
        Country("AT", "43", "0", 10, ("1",)),
        Country("SE", "46", "0", 9, ("8",)),
        Country("NO", "47", "", 8, ("2",)),
        Country("DK", "45", "", 8, ("3",)),
        Country("PL", "48", "", 9, ("22",)),
        Country("PT", "351", "", 9, ("21",)),
        Country("AU", "61", "0", 9, ("2", "3"), ("1800",)),
        Country("NZ", "64", "0", 8, ("9",)),
        Country("IN", "91", "0", 10, ("11", "22")),
        Country("JP", "81", "0", 10, ("3", "6")),
        Country("SG", "65", "", 8, ("6",)),
        Country("HK", "852", "", 8, ("3",)),
        Country("BR", "55", "0", 10, ("11", "21")),
        Country("MX", "52", "", 10, ("55", "33")),
        Country("ZA", "27", "0", 9, ("21", "11")),
        Country("IL", "972", "0", 8, ("3",)),
    )
}
_BY_CODE = sorted({c.calling_code: c for c in reversed(COUNTRIES.values())}.items(), key=lambda i: -len(i[0]))
_FORMATTING_RE = re.compile(r"[\s().\-]")
NANP_TOLL_FREE_RE = re.compile(r"^\+18(00|33|44|55|66|77|88)\d{7}$")


def country_of(number: str) -> Country | None:
    """The country of an E.164 number (the first listed country of a shared calling code: +1 is US)."""
    if not E164_RE.match(number):
        return None
    digits = number[1:]
    return next((country for code, country in _BY_CODE if digits.startswith(code)), None)


def to_e164(number: str, sender: str | None) -> str:
    """A national-format number with the sender's country made E.164, as Twilio does for 'To'
    (``07891 063180`` from a +44 sender is +447891063180); anything else is returned unchanged."""
    prefix = ""
    if number.lower().startswith("whatsapp:"):
        prefix, number = number[:9], number[9:]
    if number.startswith("+") or sender is None:
        return prefix + number
    digits = _FORMATTING_RE.sub("", number)
    if not digits.isdigit():
        return prefix + number
    if digits.startswith("00"):  # the international call prefix most countries use
        return prefix + "+" + digits[2:]
    country = country_of(sender.removeprefix("whatsapp:"))
    if country is None:
        return prefix + number
    if country.calling_code == "1":
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
        if len(digits) != 10:
            return prefix + number
    elif country.trunk_prefix and digits.startswith(country.trunk_prefix):
        digits = digits[len(country.trunk_prefix) :]
    return prefix + "+" + country.calling_code + digits


def sender_kind(sender: str) -> str:
    """``short_code``, ``toll_free``, ``alphanumeric`` or ``long_code`` (any other E.164 number)."""
    bare = sender.removeprefix("whatsapp:")
    if SHORT_CODE_RE.match(bare):
        return "short_code"
    if NANP_TOLL_FREE_RE.match(bare) or re.match(r"^\+44(800|808)\d{6,7}$", bare):
        return "toll_free"
    if ALPHANUMERIC_SENDER_RE.match(bare) and not bare.isdigit():
        return "alphanumeric"
    return "long_code"


def friendly_format(number: str) -> str:
    """``(415) 555-0123`` for North American numbers (as Twilio shows them), the number itself otherwise."""
    if re.match(r"^\+1\d{10}$", number):
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number
