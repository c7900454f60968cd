"""Answering `//name/text()` and `//name` straight from an untouched JSON payload.

MI evaluates XPath over the `jsonObject` infoset of a JSON body (docs/synapse-semantics.md §4.3). For the most common
shape in real proxies, a descendant name with or without `/text()`, the answer can be read from the
parsed JSON without building that infoset at all. Whenever the infoset could differ from a plain walk
(floats, whose lexical form orjson does not keep; objects or arrays under the name; empty elements
turned into serialized XML; several elements; control characters), `FALLBACK` hands the expression
back to the real XPath, so results are always the same as MI's."""

from __future__ import annotations

import enum
import re
from typing import Any, Final, Literal

from gateway.message.json_index import descendant_index

__all__ = ["FALLBACK", "descendant_index", "descendant_pattern", "descendant_string"]


class _Fallback(enum.Enum):
    FALLBACK = enum.auto()


FALLBACK: Final = _Fallback.FALLBACK  # "not sure from the JSON: evaluate the real XPath" (a typed sentinel)
_PATTERN = re.compile(r"\s*//([A-Za-z_][A-Za-z0-9_.-]*)(/text\(\))?\s*")
# Names that are part of the infoset itself, never plain keys.
_CONTROL = re.compile(r"[\x00-\x1f]")
_INFOSET_NAMES = frozenset(("jsonObject", "jsonArray", "jsonElement", "jsonValue"))


def descendant_pattern(source: str) -> tuple[str, bool] | None:
    """(name, text_only) when `source` is `//name` or `//name/text()`, else None."""
    match = _PATTERN.fullmatch(source)
    if match is None or match.group(1) in _INFOSET_NAMES:
        return None
    return match.group(1), match.group(2) is not None


def _scalar_text(value: Any) -> str | None | Literal[_Fallback.FALLBACK]:
    """The element text a scalar becomes, None for an empty element, FALLBACK when unsure."""
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if value == "":
            return None
        if _CONTROL.search(value) is not None:
            return FALLBACK  # the XML builder sanitises/normalises these
        return value
    return FALLBACK  # floats (lexical form lost), objects, arrays


def descendant_string(index: dict[str, list[Any]], name: str, text_only: bool) -> str | Literal[_Fallback.FALLBACK]:
    """The §3.2 string of `//name/text()` (text_only) or `//name` over the infoset, from the index."""
    texts: list[str] = []
    matches = 0
    for child in index.get(name, ()):
        for item in child if isinstance(child, list) else (child,):
            text = _scalar_text(item)
            if text is FALLBACK or (text is None and not text_only):
                return FALLBACK  # unsure, or an empty element (its string is serialized XML)
            matches += 1
            if text is not None:
                texts.append(text)
    if text_only:
        return "".join(texts)
    if matches > 1:
        return FALLBACK  # several elements give serialized XML each
    if not texts:
        return ""
    text = texts[0]
    if text != text.strip() or "\xa0" in text:
        return FALLBACK  # MI trims (and maps NBSP); let the real path do exactly that
    return text
