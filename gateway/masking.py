"""Secrets never reach a log.

Two mechanisms, both applied to every record by `MaskingFilter` (installed on every handler) and by the log
mediator before it writes:

- **By value.** Once a value is known to be secret, every occurrence of it is masked, whatever key, escape or
  comment surrounds it. Values become known per message (`SecretValues`, bound to the request's task through a
  context variable): properties whose names are secret, connector parameters declared `secret`, and the
  values of credential headers (Authorization, Cookie, X-API-Key, …). Static secrets of the configuration
  (a connection local entry's authToken) are known for the whole process (`CONFIGURED`).
- **By key name.** Values of fields whose name contains a secret name (authToken, x-auth-token, db_password)
  in JSON, XML elements and attributes, `key=value` / `key: value` pairs.

Every scan is linear in the length of the text: possessive quantifiers and token-boundary lookbehinds keep the
regular expressions from backtracking, and XML elements are paired with their closing tags through one index of
closing-tag positions (no search per opening tag).
"""

from __future__ import annotations

import base64
import bisect
import contextvars
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Protocol
from urllib.parse import quote, quote_plus

import orjson

MASK = "****"
_NAME_VERDICTS = 4096  # property names whose verdict is remembered (most are the configuration's own)
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words everywhere; key-name masking still applies


class SecretValues:
    """A set of secret values and the forms they take in logs (JSON- and XML-escaped, URL-encoded).

    Adding a value only records it: its escaped forms are made the first time a log line is actually masked, so
    a message that carries a secret but logs nothing pays a set insert, not six encodings."""

    __slots__ = ("_values", "_pending", "_forms", "_ordered")

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pending: list[str] = []
        self._forms: set[str] = set()
        self._ordered: tuple[str, ...] | None = ()

    def __bool__(self) -> bool:
        return bool(self._values)

    def add(self, value: object) -> None:
        text = value if isinstance(value, str) else str(value) if value is not None else ""
        if text in self._values:
            return
        text = text.strip()
        if len(text) < MIN_SECRET_LENGTH or text in self._values:
            return
        self._values.add(text)
        self._pending.append(text)

    def _expand(self) -> None:
        for text in self._pending:
            forms = {
                text,
                _json_escaped(text),
                _xml_escaped(text),
                _xml_escaped(text, quotes=True),
                quote(text, safe=""),
                quote_plus(text),
            }
            self._forms.update(form for form in forms if len(form) >= MIN_SECRET_LENGTH)
        self._pending.clear()
        self._ordered = None

    def add_header(self, name: str, value: str) -> None:
        """A credential header: the whole value, its credential part, and a Basic password."""
        self.add(value)
        scheme, _, credential = value.strip().partition(" ")
        if credential:
            self.add(credential)
            if scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(credential, validate=True).decode("utf-8")
                except (ValueError, UnicodeDecodeError):
                    decoded = ""
                self.add(decoded)
                self.add(decoded.partition(":")[2])
        if name.lower() in ("cookie", "set-cookie"):
            for part in value.split(";"):
                self.add(part.partition("=")[2])

    def mask(self, text: str) -> str:
        if not self._values:
            return text
        if self._pending:
            self._expand()
        ordered = self._ordered
        if ordered is None:  # longest first, so a secret that contains another is masked whole
            ordered = self._ordered = tuple(sorted(self._forms, key=len, reverse=True))
        for form in ordered:
            if form in text:
                text = text.replace(form, MASK)
        return text


def _json_escaped(text: str) -> str:
    import orjson

    return orjson.dumps(text).decode()[1:-1]


def _xml_escaped(text: str, quotes: bool = False) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace('"', "&quot;").replace("'", "&apos;") if quotes else escaped


class MessageSecrets(Protocol):
    """The secrets of the message being mediated (the message exchange, which makes its SecretValues lazily)."""

    def mask(self, text: str) -> str: ...


#: Secrets of the deployed configuration, known to every record of this process.
CONFIGURED = SecretValues()
_CURRENT: contextvars.ContextVar[MessageSecrets | None] = contextvars.ContextVar("gateway_message", default=None)


def bind_message_secrets(message: MessageSecrets) -> contextvars.Token[MessageSecrets | None]:
    """Make `message` the source of secrets for every record logged from the current task."""
    return _CURRENT.set(message)


def unbind_message_secrets(token: contextvars.Token[MessageSecrets | None]) -> None:
    _CURRENT.reset(token)


class SecretMasker:
    """Masks by key name (configured names) and by value (configured and current-message secrets)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(n for n in names if n)
        self._name_verdicts: dict[str, bool] = {}  # property names seen, judged once each
        alternatives = "|".join(sorted((re.escape(n) for n in self.names), key=len, reverse=True)) or "(?!)"
        self._secret_name = re.compile(alternatives, re.IGNORECASE)
        # A name token that contains a secret name. The lookbehind makes a token start only at a token
        # boundary and the lookahead stays inside the token, so the scan is linear.
        secret_token = rf"(?<![\w.-])(?=[\w.-]*?(?:{alternatives}))[\w.-]++"
        # JSON pairs with a scalar value; the key is decoded before it is judged (\u0054 is a T).
        self._json = re.compile(
            r'"(?P<key>(?:[^"\\\n]|\\.){1,256}+)"\s*+:\s*+'
            r'(?P<value>"(?:[^"\\]++|\\.)*+"|-?\d[\w.+-]*+|true|false|null)'
        )
        # XML attributes: name="value" or name='value'
        self._attribute = re.compile(
            rf"(?P<key>{secret_token}(?::[\w.-]++)?)\s*+=\s*+"
            r"(?P<value>\"[^\"]*+\"|'[^']*+')",
            re.IGNORECASE,
        )
        # Headers and forms: "Authorization: Basic abc", "authToken = abc", "x=abc&authToken=abc"
        self._pair = re.compile(
            rf"(?P<key>{secret_token})\s*+[=:]\s*+(?P<value>[^,&;\s<>\"'][^,&;<>\"'\n]*+)", re.IGNORECASE
        )
        # XML elements: opening tags of secret names, closing tags indexed by name
        self._open_tag = re.compile(rf"<(?P<name>(?:[\w.-]++:)?{secret_token})(?:\s[^<>]{{0,512}}+)?>", re.IGNORECASE)
        self._close_tag = re.compile(r"</(?P<name>[\w.:-]++)\s*+>")

    def mask(self, text: str) -> str:
        """Mask `text` by key name and by value; linear in its length."""
        current = _CURRENT.get()
        if current is not None:
            text = current.mask(text)
        if CONFIGURED:
            text = CONFIGURED.mask(text)
        if not self.names:
            return text
        if '"' in text:
            text = self._json.sub(self._json_pair, text)
        if "<" in text:
            text = self._mask_elements(text)
        if "=" in text:
            text = self._attribute.sub(lambda m: f'{m.group("key")}="{MASK}"', text)
        if "=" in text or ":" in text:
            text = self._pair.sub(lambda m: text_before_value(m) + MASK, text)
        return text

    def is_secret_name(self, name: str) -> bool:
        known = self._name_verdicts.get(name)
        if known is None:
            known = bool(self.names) and self._secret_name.search(name) is not None
            if len(self._name_verdicts) >= _NAME_VERDICTS:
                self._name_verdicts.clear()  # dynamic property names: bounded, never a leak
            self._name_verdicts[name] = known
        return known

    def _json_pair(self, match: re.Match[str]) -> str:
        key = match.group("key")
        if "\\" in key:
            key = _json_unescape(key)
        if not self._secret_name.search(key):
            return match.group(0)
        start = match.start("value") - match.start()
        return match.group(0)[:start] + f'"{MASK}"'

    def _mask_elements(self, text: str) -> str:
        closing: dict[str, list[int]] = {}
        for match in self._close_tag.finditer(text):
            closing.setdefault(match.group("name").lower(), []).append(match.start())
        if not closing:
            return text
        out: list[str] = []
        cursor = 0
        for match in self._open_tag.finditer(text):
            if match.start() < cursor:
                continue  # inside an element already masked
            positions = closing.get(match.group("name").lower())
            if not positions:
                continue
            index = bisect.bisect_left(positions, match.end())
            if index == len(positions):
                continue
            out.append(text[cursor : match.end()])
            out.append(MASK)
            cursor = positions[index]
        if not out:
            return text
        out.append(text[cursor:])
        return "".join(out)


def text_before_value(match: re.Match[str]) -> str:
    return match.group(0)[: match.start("value") - match.start()]


def _json_unescape(key: str) -> str:
    import orjson

    try:
        value = orjson.loads(f'"{key}"')
    except orjson.JSONDecodeError:
        return key
    return value if isinstance(value, str) else key


@lru_cache(maxsize=8)
def masker_for(names: tuple[str, ...]) -> SecretMasker:
    """One masker per configured name list, built once and never per message."""
    return SecretMasker(names)


class MaskingFilter(logging.Filter):
    """Installed on every handler; rewrites the fully formatted message (and any traceback)."""

    def __init__(self, masker: SecretMasker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "masked", False):
            return True  # the log mediator masked it already
        message = record.getMessage()
        masked = self.masker.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            record.exc_text = self.masker.mask(logging.Formatter().formatException(record.exc_info))
        return True


class ActivityFilter(logging.Filter):
    """Gives every record the activity id of the message being mediated (`%(activity_id)s`; `-` outside
    one): MI's activityid, the same the client and the back ends see."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = _CURRENT.get()
        record.activity_id = getattr(message, "activity_id", "-") if message is not None else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (`logging.json: true`): time (UTC), level, logger, activity id, message,
    process and, after a failure, the (masked) traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "activity_id": getattr(record, "activity_id", "-"),
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()


DEFAULT_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(activity_id)s] - %(message)s"


def install_masking(
    names: Iterable[str], level: str = "INFO", fmt: str | None = None, json: bool = False
) -> SecretMasker:
    """Configure root logging with the masking and activity-id filters on its handlers (idempotent)."""
    masker = masker_for(tuple(names))
    root = logging.getLogger()
    if not root.handlers:
        console = logging.StreamHandler()
        console.setFormatter(JsonFormatter() if json else logging.Formatter(fmt or DEFAULT_LOG_FORMAT))
        root.addHandler(console)
    for handler in root.handlers:
        for old in [f for f in handler.filters if isinstance(f, MaskingFilter | ActivityFilter)]:
            handler.removeFilter(old)
        handler.addFilter(ActivityFilter())
        handler.addFilter(MaskingFilter(masker))
    root.setLevel(level.upper())
    return masker
