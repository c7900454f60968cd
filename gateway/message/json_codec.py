"""The one JSON codec: every JSON text the gateway parses or writes goes through `loads` / `dumps`.

Number policy (what MI's Gson does: a JsonPrimitive holds a LazilyParsedNumber, printed as it was read):
  * integers are Python ``int``, exact at any size;
  * every other number (a fraction, an exponent, ``-0``) is a :class:`JsonNumber`, a Decimal that prints
    its source text unchanged (``1.50`` stays ``1.50``, ``1e5`` stays ``1e5``).
``dumps`` writes ``JsonNumber``/``Decimal`` with their exact text, and integers beyond 64 bits exactly.

orjson does the work when the text has no such number (checked by a cheap scan); the stdlib scanner, with
numbers kept as text, handles the rest and what orjson refuses (lone surrogates, a BOM, nesting past 1024).
NaN and Infinity are not JSON and are refused.
"""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from typing import Any

import orjson

__all__ = ["JsonConversionError", "JsonNumber", "dumps", "dumps_text", "loads"]


class JsonConversionError(ValueError):
    """Malformed JSON (or JSON that cannot be represented as XML); the engine maps it to ERROR_CODE 601000."""

    def __init__(
        self, message: str, *, pos: int | None = None, lineno: int | None = None, colno: int | None = None
    ) -> None:
        super().__init__(message)
        self.pos = pos
        self.lineno = lineno
        self.colno = colno


class JsonNumber(Decimal):
    """A JSON number that is not a plain integer; ``str()`` is the text it was made from (the source text
    for parsed JSON, the canonical BigDecimal text MI prints for numbers converted from XML)."""

    __slots__ = ("_text",)
    _text: str

    def __new__(cls, text: str) -> JsonNumber:
        number = Decimal.__new__(cls, text)
        number._text = text
        return number

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"JsonNumber('{self._text}')"


# --------------------------------------------------------------------------------------------------------
# Reading


def _reject_constant(name: str) -> Any:
    raise JsonConversionError(f"Malformed JSON payload: {name} is not a valid JSON value")


def _integer(text: str) -> Any:
    return JsonNumber(text) if text == "-0" else int(text)  # int() would lose the sign of -0


_LEXICAL = json.JSONDecoder(parse_float=JsonNumber, parse_int=_integer, parse_constant=_reject_constant)
# Numbers orjson cannot give exactly: a fraction or exponent (a digit then '.', 'e' or 'E'), -0, and integers of
# 19 digits or more (orjson reads those beyond 64 bits as floats). Strings may match too: that only costs the
# slower, still exact, path. The literal-first forms scan several times faster than a leading character class.
_INEXACT_B = re.compile(rb"\.(?<=[0-9]\.)|[eE](?<=[0-9][eE])|-0(?![0-9])|[0-9]{19}")
_INEXACT_S = re.compile(r"\.(?<=[0-9]\.)|[eE](?<=[0-9][eE])|-0(?![0-9])|[0-9]{19}")


def loads(data: bytes | str) -> Any:
    """Parse JSON text with the number policy above; raises JsonConversionError (a ValueError)."""
    inexact = _INEXACT_S.search(data) if isinstance(data, str) else _INEXACT_B.search(data)
    if inexact is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # re-parse for a precise message, or accept what orjson refuses (lone surrogates, a BOM)
    return _loads_lexical(data)


def _loads_lexical(data: bytes | str) -> Any:
    try:
        text = data if isinstance(data, str) else data.decode(json.detect_encoding(data), "surrogatepass")
        if text[:1] == "\ufeff":  # tolerate a UTF-8 BOM, as json.loads does for bytes
            text = text[1:]
        return _LEXICAL.decode(text)
    except json.JSONDecodeError as exc:
        detail = "empty payload" if not exc.doc.strip() else exc.msg
        raise JsonConversionError(
            f"Malformed JSON payload: {detail} at line {exc.lineno} column {exc.colno} (char {exc.pos})",
            pos=exc.pos,
            lineno=exc.lineno,
            colno=exc.colno,
        ) from None
    except UnicodeDecodeError as exc:
        raise JsonConversionError(f"Malformed JSON payload: not valid {exc.encoding} text") from None
    except RecursionError:
        raise JsonConversionError("Malformed JSON payload: nesting too deep") from None


# --------------------------------------------------------------------------------------------------------
# Writing


class RawNumber:
    """A number to be written verbatim (the XML -> JSON writer's numbers that neither int nor float print)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


# A per-process nonce makes the placeholder impossible to forge from payload strings.
_NONCE = secrets.token_hex(8)
_PLACEHOLDER_MARK = ("\\u0000" + _NONCE).encode()
_PLACEHOLDER = re.compile(rb'"\\u0000' + _NONCE.encode() + rb'([-+.0-9eE]+)"')
_Fragment = getattr(orjson, "Fragment", None)  # orjson >= 3.9 splices raw JSON itself


def _number_text(obj: Any) -> str:
    if obj.__class__ is RawNumber:
        text: str = obj.text
        return text
    if isinstance(obj, Decimal) and obj.is_finite():
        return str(obj)
    raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")


def _default(obj: Any) -> Any:
    text = _number_text(obj)
    return _Fragment(text) if _Fragment is not None else "\x00" + _NONCE + text


def _placeholder(obj: Any) -> str:
    return "\x00" + _NONCE + _number_text(obj)


def too_deep() -> JsonConversionError:
    return JsonConversionError("document nested too deep to write as JSON (at most 254 levels)")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (JsonNumber/Decimal printed with their exact text, big integers exactly).
    Nesting beyond orjson's 254 levels is a JsonConversionError; other unserialisable values a TypeError."""
    try:
        out = orjson.dumps(value, default=_default)
    except orjson.JSONEncodeError as exc:
        if "Recursion limit" in str(exc):  # orjson's only signal for it
            raise too_deep() from None
        return _stdlib_dumps(value)  # e.g. integers beyond 64 bits, lone surrogates, non-string keys
    if _Fragment is None and _PLACEHOLDER_MARK in out:
        out = _PLACEHOLDER.sub(rb"\1", out)
    return out


def _stdlib_dumps(value: Any) -> bytes:
    """What orjson refuses but `loads` reads: integers beyond 64 bits exactly, lone surrogates as \\u escapes
    (so the text is ASCII). Unsupported values: TypeError."""
    try:
        out = json.dumps(value, separators=(",", ":"), default=_placeholder).encode("ascii")
    except RecursionError:
        raise too_deep() from None
    return _PLACEHOLDER.sub(rb"\1", out) if _PLACEHOLDER_MARK in out else out


def dumps_text(value: Any) -> str:
    """`dumps` as a str (Gson's JsonElement.toString())."""
    return dumps(value).decode("utf-8", "surrogatepass")
