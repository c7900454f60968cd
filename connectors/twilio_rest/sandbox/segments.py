"""SMS segment counting, the way carriers (and Twilio's ``num_segments``) count.

A body that only uses the GSM 03.38 alphabet is sent as GSM-7: 160 septets in a single
SMS, 153 per part once concatenated (the UDH eats 7 septets of every part). Extension
characters (``€ [ ] { } ^ ~ \\ |`` and form feed) take two septets (ESC + char) and an
escape pair is never split across parts. Anything else switches the whole body to UCS-2:
70 UTF-16 code units single, 67 per part, and a surrogate pair (e.g. an emoji) counts 2
and is never split either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 default alphabet (the ESC code point itself is not a user character).
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: each needs ESC + char, i.e. two septets.
GSM7_EXTENDED: frozenset[str] = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """Result of :func:`count_segments`.

    ``units`` is septets for GSM-7 and UTF-16 code units for UCS-2.
    """

    encoding: Encoding
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """True when every character can be sent in the GSM-7 alphabet (basic or extension)."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def _char_costs(text: str, gsm: bool) -> list[int]:
    if gsm:
        return [2 if ch in GSM7_EXTENDED else 1 for ch in text]
    # Python strings are code points; astral ones are a surrogate pair in UTF-16.
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(costs: list[int], part_size: int) -> int:
    """Greedy packing that never splits a multi-unit character (escape or surrogate pair)."""
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part_size:
            parts += 1
            used = 0
        used += cost
    return parts


def count_segments(body: str) -> SegmentCount:
    """Count encoding, units and SMS segments of ``body``.

    An empty body still occupies one segment (Twilio reports ``num_segments`` "1" for
    an MMS without text).
    """
    gsm = is_gsm7(body)
    costs = _char_costs(body, gsm)
    units = sum(costs)
    single, part = (GSM7_SINGLE, GSM7_PART) if gsm else (UCS2_SINGLE, UCS2_PART)
    segments = 1 if units <= single else _pack(costs, part)
    return SegmentCount("GSM-7" if gsm else "UCS-2", units, segments)
