"""Which outbound destinations a message may name (settings `outbound.allow`).

A URL that comes from configuration is trusted. A URL built from a message (twilioRest `apiUrl`, an endpoint
whose host comes from a property) must match a rule, otherwise the call is refused before any connection:

    loopback                      http(s) to 127.0.0.0/8, ::1 or localhost, any port
    https://api.twilio.com        that scheme and host, its default port, any path
    https://api.example.com:8443/v1/   that port, and paths under /v1/ only
    https://*.example.com         any sub-domain of example.com
    local:///services/NAME        a local: address of that proxy (local: alone: any proxy or API of this gateway)
    mailto:*@example.com          mailto: addresses of that domain (mailto:ops@example.com: that one)
    *                             anything (turns the check off)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from yarl import URL

from gateway.errors import DESTINATION_NOT_ALLOWED, MediationError

_DEFAULT_PORTS = {"http": 80, "https": 443, "rabbitmq": 5672}  # rabbitmq: a rabbitmq: endpoint's broker


@dataclass(frozen=True, slots=True)
class Rule:
    scheme: str | None  # None: http or https
    host: str  # "" for loopback; "*.x.com" for a wildcard
    port: int | None  # None: any port (loopback) or the scheme's default
    path: str  # a prefix ending in "/" ("/" for any path)
    text: str

    def allows(self, url: URL) -> bool:
        scheme = (url.scheme or "").lower()
        host = (url.host or "").lower().rstrip(".")
        if scheme not in _DEFAULT_PORTS or not host:
            return False
        if self.host == "":  # loopback
            return _is_loopback(host)
        if self.scheme != scheme:
            return False
        if self.host.startswith("*."):
            if not host.endswith(self.host[1:]):
                return False
        elif host != self.host:
            return False
        port = url.port if url.port is not None else _DEFAULT_PORTS[scheme]
        if port != (self.port if self.port is not None else _DEFAULT_PORTS[scheme]):
            return False
        path = url.path or "/"
        return self.path == "/" or path == self.path.rstrip("/") or path.startswith(self.path)


def parse_rule(text: str) -> Rule | None:
    """A rule from its text; None for `*`. ValueError says what is wrong."""
    rule = text.strip()
    if rule == "*":
        return None
    if rule == "loopback":
        return Rule(None, "", None, "/", rule)
    try:
        url = URL(rule)
    except ValueError as exc:
        raise ValueError(f"outbound rule '{text}' is not a URL: {exc}") from None
    if url.scheme not in _DEFAULT_PORTS or not url.host:
        raise ValueError(
            f"outbound rule '{text}' must be 'loopback', '*', an http(s)://host[:port][/path] URL, rabbitmq://host[:port],"
            " local:///services/NAME or mailto:*@domain"
        )
    if url.user or url.query_string or url.fragment:
        raise ValueError(f"outbound rule '{text}' may not hold credentials, a query or a fragment")
    host = url.host.lower().rstrip(".")
    if "*" in host and not (host.startswith("*.") and "*" not in host[2:]):
        raise ValueError(f"outbound rule '{text}': a wildcard is only allowed as the first label (*.example.com)")
    path = url.path or "/"
    if not path.endswith("/"):
        path += "/"
    return Rule(url.scheme, host, url.explicit_port, path, rule)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _other_rule(text: str) -> str | None:
    """A `local:` or `mailto:` rule, lower-cased: `local:` (any local service), `local:///services/NAME` (that
    path and under it), `mailto:*@example.com`, `mailto:ops@example.com`; None when it is an URL rule."""
    rule = text.strip().lower()
    if rule.startswith("local:"):
        path = "/" + rule[len("local:") :].lstrip("/")
        return "local:" + path
    if rule.startswith("mailto:"):
        address = rule[len("mailto:") :]
        if "@" not in address or "," in address:
            raise ValueError(f"outbound rule '{text}' must be mailto:someone@domain or mailto:*@domain")
        return rule
    return None


def check_rule(text: str) -> None:
    """ValueError says what is wrong with a rule of any kind."""
    if _other_rule(text) is None:
        parse_rule(text)


def _other_allows(rules: tuple[str, ...], address: str) -> bool:
    """A local: path or every recipient of a mailto: address must match a rule."""
    lowered = address.lower()
    if lowered.startswith("local:"):
        path = "/" + lowered[len("local:") :].lstrip("/").split("?", 1)[0]
        for rule in rules:
            if rule.startswith("local:"):
                prefix = rule[len("local:") :]
                if prefix == "/" or path == prefix.rstrip("/") or path.startswith(prefix.rstrip("/") + "/"):
                    return True
        return False
    recipients = [r.strip() for r in lowered[len("mailto:") :].split("?", 1)[0].split(",") if r.strip()]
    if not recipients:
        return False
    for recipient in recipients:
        domain = recipient.rpartition("@")[2]
        if f"mailto:{recipient}" not in rules and f"mailto:*@{domain}" not in rules:
            return False
    return True


class OutboundPolicy:
    """The allow-list, parsed once at start-up."""

    __slots__ = ("rules", "open", "others")

    def __init__(self, rules: tuple[str, ...] | list[str]) -> None:
        others = tuple(other for other in (_other_rule(rule) for rule in rules) if other is not None)
        parsed = [parse_rule(rule) for rule in rules if _other_rule(rule) is None]
        self.open = any(rule is None for rule in parsed)
        self.rules = tuple(rule for rule in parsed if rule is not None)
        self.others = others

    def allows(self, url: str | URL) -> bool:
        if self.open:
            return True
        if isinstance(url, str) and url[:6].lower() == "local:" or str(url)[:7].lower() == "mailto:":
            return _other_allows(self.others, str(url))
        try:
            target = url if isinstance(url, URL) else URL(url)
        except ValueError:
            return False
        return any(rule.allows(target) for rule in self.rules)

    def check(self, url: str | URL, what: str) -> None:
        """Raise a fault (403) unless the destination is allowed; no connection is made."""
        if not self.allows(url):
            shown = str(url).split("?", 1)[0]
            raise MediationError(
                f"Outbound destination not allowed: {what} {shown}",
                DESTINATION_NOT_ALLOWED,
                f"{what} came from the message and {shown} matches no rule of outbound.allow in the gateway "
                f"config (allowed: {', '.join(r.text for r in self.rules) or 'nothing'}); add a rule if this "
                "destination is intended",
                http_status=403,
            )
