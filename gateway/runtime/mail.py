"""The `mailto:` address transport of endpoints (W: axis2 MailTransportSender, MailOutTransportInfo): an address
endpoint whose uri is `mailto:someone@example.com` mails the message through the SMTP server of the `mail` settings.

- Recipients: the transport header `To` (set with scope="transport"), else the uri's addresses; `Cc` and `Bcc`
  transport headers add recipients (Bcc is never written into the mail). `From` (and Reply-To): the transport
  header, else `mail.from` of the settings (MI's mail.smtp.from). `Subject`: the transport header, else the uri's
  `?subject=`, else MI's `SOAPAction: <action>`. `In-Reply-To` and `References` headers are carried.
- The body is the message as MI's formatter for its messageType writes it, with that content type; with
  `transport.mail.Format` Multipart (or Attachment) a text part (`transport.mail.bodyWhenAttached`) comes first and
  the message second (an attachment named by `AttachmentFile`).
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


MAIL_FORMAT = "transport.mail.Format"  # W: MailConstants.TRANSPORT_MAIL_FORMAT: Text | Multipart | Attachment
BODY_WHEN_ATTACHED = "transport.mail.bodyWhenAttached"
BODY_MIME_WHEN_ATTACHED = "transport.mail.bodyMimeWhenAttached"
ATTACHMENT_FILE = "AttachmentFile"


def _property(ctx: MessageContext, name: str) -> str | None:
    value = ctx.axis2.get(name, ctx.properties.get(name))
    return str(value) if value is not None and value != "" else None


def compose(
    ctx: MessageContext, target: MailTarget, body: bytes, content_type: str | None, sender: str | None
) -> tuple[EmailMessage, list[str]]:
    """The mail and its envelope recipients (W: MailTransportSender.sendMail)."""
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
            "From address for outgoing message cannot be determined",
            detail='set the From transport header (<property name="From" scope="transport" …/>) or mail.from in '
            "the settings",
        )
    mail_format = _property(ctx, MAIL_FORMAT) or "Text"
    if mail_format not in ("Text", "Multipart", "Attachment"):
        raise MediationError(
            f"unknown {MAIL_FORMAT} '{mail_format}'", detail="MI's mail formats are Text, Multipart and Attachment"
        )
    message = EmailMessage()
    message["From"] = origin
    message["Reply-To"] = origin
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    action = ctx.soap_action if ctx.soap_action is not None else "null"  # Java's null, as MI writes it
    subject = _header(ctx, "Subject") or target.subject or f"SOAPAction: {action}"
    message["Subject"] = subject.replace("\r", " ").replace("\n", " ")
    for name in ("In-Reply-To", "References"):
        value = _header(ctx, name)
        if value:
            message[name] = value.replace("\r", " ").replace("\n", " ")
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = email.utils.make_msgid()
    if ctx.soap_action:
        message["SOAPAction"] = ctx.soap_action
    if mail_format == "Text":
        _content(message, body, content_type)
    else:  # a text part, then the message (a named attachment with Attachment)
        text = _property(ctx, BODY_WHEN_ATTACHED) or "Web Service Message Attached"
        text_type = (_property(ctx, BODY_MIME_WHEN_ATTACHED) or "text/plain").partition("/")[2] or "plain"
        message.set_content(text, subtype=text_type, charset="utf-8")
        part = EmailMessage()
        _content(part, body, content_type)
        if mail_format == "Attachment":
            part["Content-Disposition"] = "attachment"
            part.set_param("filename", _property(ctx, ATTACHMENT_FILE) or "attachment", header="Content-Disposition")
        message.make_mixed()
        message.attach(part)
    return message, [*to, *cc, *bcc]


def _content(part: EmailMessage, body: bytes, content_type: str | None) -> None:
    """The formatted message with its content type: text (and XML, as AXIOM counts it) quoted-printable."""
    media = (content_type or "text/plain").split(";")[0].strip().lower() or "text/plain"
    maintype, _, subtype = media.partition("/")
    textual = maintype == "text" or subtype.endswith("xml") or subtype.endswith("json")
    if maintype == "text":
        part.set_content(
            body.decode("utf-8", errors="replace"), subtype=subtype or "plain", charset="utf-8", cte="quoted-printable"
        )
    else:
        part.set_content(
            body,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            cte="quoted-printable" if textual else "base64",
        )


def check_server(settings: MailSettings) -> None:
    if not settings.host:
        raise MediationError(
            "no SMTP server is configured for mailto: endpoints",
            CONNECT_FAILED,
            "set mail.host (and mail.port, mail.user, mail.password, mail.security, mail.from) in the settings",
        )


async def send(settings: MailSettings, message: EmailMessage, recipients: list[str], timeout: float) -> None:
    """One SMTP session: connect (TLS or STARTTLS as configured), log in when a user is set, send (the caller
    checked the server is configured)."""
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
