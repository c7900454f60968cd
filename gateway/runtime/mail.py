"""The `mailto:` address transport of endpoints (W: axis2 MailTransportSender, MailOutTransportInfo): an address
endpoint whose uri is `mailto:someone@example.com` mails the message through the SMTP server of the `mail` settings.

- Recipients: the transport header `To` (set with scope="transport"), else the uri's addresses; `Cc` and `Bcc`
  transport headers add recipients (Bcc is never written into the mail). `From`: the transport header, else
  `mail.from` of the settings (MI's mail.smtp.from). `Subject`: the transport header, else MI's
  `SOAPAction: <action>` when the message has one.
- The body is the message as MI's formatter for its messageType writes it, with that content type (MI's default
  transport.mail.Format Text).
- The SMTP server (host, port, user, password, STARTTLS or TLS) is read from the settings once; the password is a
  secret: never logged, and masked out of a driver's error text.
- One SMTP session per message (aiosmtplib): mail is rare next to HTTP, and a kept session would be closed by
  the server's idle timeout anyway.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

from gateway.errors import CONNECT_FAILED, CONNECT_TIMEOUT, MediationError

if TYPE_CHECKING:
    from gateway.message.context import MessageContext
    from gateway.settings import MailSettings


@dataclass(frozen=True, slots=True)
class MailTarget:
    """A `mailto:` uri, read at deploy time."""

    recipients: tuple[str, ...]
    subject: str | None = None  # mailto:…?subject=…
    cc: tuple[str, ...] = ()

    def address(self) -> str:
        return "mailto:" + ",".join(self.recipients)


def is_mail_uri(uri: str) -> bool:
    return uri[:7].lower() == "mailto:"


def _addresses(text: str, what: str) -> tuple[str, ...]:
    found = tuple(address for _, address in email.utils.getaddresses([text]) if address)
    for address in found:
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain or any(c in address for c in "\r\n"):
            raise ValueError(f"'{address}' in {what} is not a mail address")
    return found


def parse_mail_uri(uri: str) -> MailTarget:
    """RFC 6068 `mailto:a@b[,c@d][?subject=…&cc=…]`; ValueError says what is wrong."""
    rest = uri[len("mailto:") :]
    to, _, query = rest.partition("?")
    recipients = _addresses(unquote(to), "the uri")
    if not recipients:
        raise ValueError("names no recipient (mailto:someone@example.com)")
    subject: str | None = None
    cc: tuple[str, ...] = ()
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.lower() == "subject":
            subject = value
        elif key.lower() == "cc":
            cc = _addresses(value, "cc")
        elif key.lower() not in ("body", "bcc"):
            raise ValueError(f"unknown mailto field '{key}' (subject or cc)")
    return MailTarget(recipients, subject, cc)


def _header(ctx: MessageContext, name: str) -> str | None:
    value = ctx.transport_headers.get(name)
    return value if value else None


def compose(
    ctx: MessageContext, target: MailTarget, body: bytes, content_type: str | None, sender: str | None
) -> tuple[EmailMessage, list[str]]:
    """The mail and its envelope recipients."""
    try:
        to = _addresses(_header(ctx, "To") or "", "the To header") or target.recipients
        cc = _addresses(_header(ctx, "Cc") or "", "the Cc header") or target.cc
        bcc = _addresses(_header(ctx, "Bcc") or "", "the Bcc header")
        origin = _header(ctx, "From") or sender
        if origin:
            _addresses(origin, "the From header")
    except ValueError as exc:
        raise MediationError("the mail has an invalid address", detail=str(exc)) from None
    if not origin:
        raise MediationError(
            "the mail has no sender",
            detail='set the From transport header (<property name="From" scope="transport" …/>) or mail.from in '
            "the settings",
        )
    message = EmailMessage()
    message["From"] = origin
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    subject = (
        _header(ctx, "Subject") or target.subject or (f"SOAPAction: {ctx.soap_action}" if ctx.soap_action else None)
    )
    if subject:
        message["Subject"] = subject.replace("\r", " ").replace("\n", " ")
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = email.utils.make_msgid()
    media = (content_type or "text/plain").split(";")[0].strip().lower() or "text/plain"
    maintype, _, subtype = media.partition("/")
    if maintype == "text":
        message.set_content(body.decode("utf-8", errors="replace"), subtype=subtype or "plain", charset="utf-8")
    else:
        message.set_content(body, maintype=maintype or "application", subtype=subtype or "octet-stream")
    return message, [*to, *cc, *bcc]


def check_server(settings: MailSettings) -> None:
    if not settings.host:
        raise MediationError(
            "no SMTP server is configured for mailto: endpoints",
            CONNECT_FAILED,
            "set mail.host (and mail.port, mail.user, mail.password, mail.security, mail.from) in the settings",
        )


async def send(settings: MailSettings, message: EmailMessage, recipients: list[str], timeout: float) -> None:
    """One SMTP session: connect (TLS or STARTTLS as configured), log in when a user is set, send."""
    check_server(settings)
    try:
        import aiosmtplib
    except ImportError:
        raise MediationError(
            "mailto: endpoints need the aiosmtplib package", detail="install synapse-gateway[mail]"
        ) from None

    try:
        await aiosmtplib.send(
            message,
            recipients=recipients,
            hostname=settings.host,
            port=settings.port,
            username=settings.user,
            password=settings.password,
            use_tls=settings.security == "tls",
            start_tls=True if settings.security == "starttls" else False,
            timeout=timeout,
        )
    except (aiosmtplib.SMTPTimeoutError, TimeoutError):
        raise MediationError(
            f"the SMTP server {settings.host}:{settings.port} did not answer in time",
            CONNECT_TIMEOUT,
            "raise the endpoint <timeout> or check the mail server",
        ) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        detail = f"{type(exc).__name__}: {exc}"
        if settings.password and len(settings.password) > 2:
            detail = detail.replace(settings.password, "****")
        raise MediationError(
            f"Error occurred while sending mail through {settings.host}:{settings.port}", CONNECT_FAILED, detail
        ) from None
