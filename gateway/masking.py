"""Secrets never reach a log: a logging filter that masks values of secret-named fields in every
record, whatever shape they appear in (property lines, JSON, XML, headers, form bodies)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "****"


class SecretMasker:
    def __init__(self, names: Iterable[str]) -> None:
        names = [n for n in names if n]
        alternatives = "|".join(sorted((re.escape(n) for n in names), key=len, reverse=True)) or "(?!)"
        # Any key that *contains* a secret name (authToken, x-auth-token, db_password, ...).
        key = rf"[\w.:-]*(?:{alternatives})[\w.:-]*"
        self._patterns = [
            # JSON: "authToken": "value"  (also numbers / null)
            (re.compile(rf'("{key}"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}}\s]+)', re.IGNORECASE), r'\1"' + MASK + '"'),
            # XML: <authToken>value</authToken>, with optional prefixes
            (re.compile(rf"(<(?:[\w.-]+:)?({key})(?:\s[^>]*)?>)([^<]*)(</(?:[\w.-]+:)?\2\s*>)", re.IGNORECASE),
             r"\1" + MASK + r"\4"),
            # XML attributes: authToken="value"
            (re.compile(rf'(\b{key}\s*=\s*)("[^"]*"|\'[^\']*\')', re.IGNORECASE), r'\1"' + MASK + '"'),
            # Authorization headers and similar: "Authorization: Basic abc", "authToken = abc", "x=abc&authToken=abc"
            (re.compile(rf"(\b{key}\b\s*(?:=|:)\s*)([^,&;\s<>\"'][^,&;<>\"']*)", re.IGNORECASE), r"\1" + MASK),
        ]

    def mask(self, text: str) -> str:
        for pattern, replacement in self._patterns:
            text = pattern.sub(replacement, text)
        return text


class MaskingFilter(logging.Filter):
    """Installed on every handler; rewrites the fully formatted message."""

    def __init__(self, masker: SecretMasker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.masker.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            record.exc_text = self.masker.mask(logging.Formatter().formatException(record.exc_info))
        return True


def install_masking(names: Iterable[str], level: str = "INFO", fmt: str | None = None) -> SecretMasker:
    """Configure root logging with the masking filter on its handlers (idempotent)."""
    masker = SecretMasker(names)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(fmt or "%(asctime)s %(levelname)s %(name)s - %(message)s"))
        root.addHandler(handler)
    for handler in root.handlers:
        for old in [f for f in handler.filters if isinstance(f, MaskingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(MaskingFilter(masker))
    root.setLevel(level.upper())
    return masker
