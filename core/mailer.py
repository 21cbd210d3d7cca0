"""Sending mail: the Mailer protocol, its two errors, and YagmailMailer, the only module that imports yagmail.

yagmail builds messages with traps (see DESIGN.md), so we use it only to open the SMTP connection (TLS and
login as configured) and write each message ourselves (`compose`):
- a content string that is an existing file path is attached by yagmail: we never hand it content at all;
- yagmail sends plain strings as HTML: `compose` writes a text/plain part and an HTML part of escaped text;
- with `smtp_ssl=False` yagmail wants STARTTLS unless told not to: we always say which, and "none" says no;
- without a password yagmail reaches for keyring or a terminal prompt: we skip its login then;
- yagmail's `send()` swallows a dropped connection (after sleeping 3 + 6 + 9 s) and returns False: we send with
  smtplib's `sendmail` on its connection, which raises, and map every failure to our two errors;
- yagmail appends "@gmail.com" to a login name without "@": we pass the name in its alias form.
"""

from __future__ import annotations

import html
import mimetypes
import re
import secrets
import smtplib
import ssl
import time
from base64 import encodebytes
from binascii import b2a_qp
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.utils import format_datetime, formataddr, formatdate, parseaddr
from functools import lru_cache
from typing import Protocol
from urllib.parse import quote

import yagmail

from core.config import Settings

SECURITY_MODES = ("starttls", "ssl", "none")
SMTP_TIMEOUT_SECONDS = 30.0
# A kept connection idle longer than this is checked with NOOP first: servers hang up on idle clients.
REUSE_CHECK_AFTER_SECONDS = 5.0
MAX_REASON_LENGTH = 200
_ADDRESS_IN_TEXT = re.compile(r"<?[^\s<>()\[\]:;,\"']+@[^\s<>()\[\]:;,\"']+>?")
# "Authentication required / failed / too weak": a settings problem that would fail every message alike.
_LOGIN_NEEDED_CODES = frozenset({530, 534, 535, 538})
_UNSAFE_IN_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\\"]")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tab is allowed in a header
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable ASCII but < > and spaces


@dataclass(frozen=True)
class OutgoingMail:
    """One message as the outbox stores it; `message_id` is the stable Message-ID header, e.g. <hex@domain>."""

    message_id: str
    recipients: tuple[str, ...]
    subject: str
    body_text: str
    body_html: str = ""
    date: datetime | None = None
    attachment: tuple[str, bytes] | None = None


class MailError(Exception):
    """Sending failed; `code` is the SMTP reply code if the server gave one, `reason` a short text without addresses."""

    def __init__(self, reason: str, code: int | None = None):
        self.code = code
        self.reason = short_reason(reason)
        super().__init__(f"{code} {self.reason}" if code else self.reason)


class TemporaryMailError(MailError):
    """Worth trying again later: no connection, a 4xx reply, a dropped connection."""


class MailServerUnavailable(TemporaryMailError):
    """The server could not be reached or refused the session itself, so other messages would fail the same way."""


class PermanentMailError(MailError):
    """Trying again will not help: a 5xx reply to this message, or a message that cannot be written (bad address)."""


class Mailer(Protocol):
    """Sends messages, possibly over one connection kept between calls; `close()` ends that connection."""

    def send(self, message: OutgoingMail) -> None:
        """Deliver `message` to the server or raise TemporaryMailError or PermanentMailError."""
        ...

    def close(self) -> None: ...


def short_reason(text: str | bytes) -> str:
    """A reply or error text fit for logs and the Outbox page: one line, addresses masked, at most 200 characters."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = _ADDRESS_IN_TEXT.sub("<address>", " ".join(text.split()))
    return text if len(text) <= MAX_REASON_LENGTH else text[: MAX_REASON_LENGTH - 1] + "…"


def compose(mail: OutgoingMail, sender: str) -> bytes:
    """The message as sent: text/plain and text/html alternatives, then the attachment, with CRLF line ends.

    Without `body_html`, the HTML part is the escaped text. Raises PermanentMailError when a header would be
    malformed or could smuggle in another header (line breaks in the subject, a bad recipient or Message-ID).
    The layout is fixed, so it is written directly: the email package's API spends 1-1.5 ms per message on
    header objects, more than sending it to a local relay takes. Every part is quoted-printable or base64,
    which never contain "=_", so boundaries starting with "=_" cannot occur inside a part.
    """
    if not mail.recipients:
        raise PermanentMailError("message has no recipients")
    if _CONTROL_CHARACTER.search(mail.subject):
        raise PermanentMailError("the subject contains a line break or another control character")
    if not _MESSAGE_ID.fullmatch(mail.message_id):
        raise PermanentMailError("malformed Message-ID")
    if _CONTROL_CHARACTER.search(sender):
        raise PermanentMailError("the sender contains a line break or another control character")
    recipients = ",\r\n ".join(parse_address(recipient) for recipient in mail.recipients)
    body = _multipart("alternative", [_text_part(mail.body_text, "plain"),
                                      _text_part(mail.body_html or _html_of_text(mail.body_text), "html")])
    if mail.attachment is not None:
        body = _multipart("mixed", [body, _attachment_part(*mail.attachment)])
    subject = (mail.subject if mail.subject.isascii() and len(mail.subject) <= 60  # else encoded and folded
               else Header(mail.subject, "us-ascii" if mail.subject.isascii() else "utf-8",
                           header_name="Subject").encode(linesep="\r\n"))
    headers = (
        f"From: {_from_header(sender)}\r\n"
        f"To: {recipients}\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {format_datetime(mail.date) if mail.date else formatdate(usegmt=True)}\r\n"
        f"Message-ID: {mail.message_id}\r\n"
        "MIME-Version: 1.0\r\n"
    )
    return headers.encode("ascii") + body


def parse_address(text: str) -> str:
    """A bare address (`name@example.org`) in ASCII (IDNA domain); PermanentMailError if it is anything else."""
    if _PLAIN_ADDRESS.fullmatch(text):  # the usual case, checked 50 times faster than by the email package
        return text
    try:
        address = Address(addr_spec=text)
        return f"{address.username}@{address.domain.encode('idna').decode('ascii')}"
    except (ValueError, IndexError, HeaderParseError, UnicodeError):
        raise PermanentMailError("invalid recipient address") from None


@lru_cache(maxsize=8)
def _from_header(sender: str) -> str:
    return formataddr(parseaddr(sender), charset="utf-8")


def _text_part(text: str, subtype: str) -> bytes:
    # Any line end becomes LF for the encoder, which breaks lines there; then CRLF, as SMTP wants.
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = b2a_qp(lines.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    return (f"Content-Type: text/{subtype}; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode("ascii") + encoded


def _attachment_part(name: str, data: bytes) -> bytes:
    filename = _safe_filename(name)
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    parameter = f'filename="{filename}"' if filename.isascii() else f"filename*=utf-8''{quote(filename)}"
    return (f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: attachment;\r\n {parameter}\r\n\r\n").encode("ascii") + \
        encodebytes(data).replace(b"\n", b"\r\n")


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    boundary = f"=_{secrets.token_hex(16)}".encode("ascii")
    pieces = [f'Content-Type: multipart/{subtype};\r\n boundary="'.encode("ascii") + boundary + b'"\r\n\r\n']
    for part in parts:
        pieces.append(b"--" + boundary + b"\r\n" + part + b"\r\n")
    pieces.append(b"--" + boundary + b"--\r\n")
    return b"".join(pieces)


def _html_of_text(text: str) -> str:
    return ('<!doctype html><html><body><div style="white-space: pre-wrap">' + html.escape(text)
            + "</div></body></html>")


def _safe_filename(name: str) -> str:
    # Only the last path component, without control characters or quotes, so it is never read as a path.
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE_IN_FILENAME.sub("_", base).strip(" .") or "attachment"


class YagmailMailer:
    """A Mailer over SMTP with the deployment's Settings, through yagmail's connection and login.

    Keeps one connection open across `send` calls (a dispatch batch) until `close()` or an error; one instance
    per thread. Raises ValueError at construction when SMTP_HOST, MAIL_FROM or SMTP_SECURITY is unusable.
    """

    def __init__(self, settings: Settings, *, timeout: float = SMTP_TIMEOUT_SECONDS):
        if not settings.smtp_host:
            raise ValueError("SMTP_HOST is not set, so mail cannot be sent.")
        if settings.smtp_security not in SECURITY_MODES:
            raise ValueError(f"SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}, "
                             f"not {settings.smtp_security!r}.")
        address = parseaddr(settings.mail_from)[1]
        try:
            if _CONTROL_CHARACTER.search(settings.mail_from):
                raise ValueError("line break")
            self.envelope_from = Address(addr_spec=address).addr_spec
        except (ValueError, IndexError, HeaderParseError):
            raise ValueError("MAIL_FROM must be an email address, e.g. 'Orders <orders@example.org>'.") from None
        self.sender = settings.mail_from
        self._settings = settings
        # Verified TLS (smtplib's own default checks no certificate); built once, as loading the CAs takes 20 ms.
        self._tls = ssl.create_default_context() if settings.smtp_security != "none" else None
        self._timeout = timeout
        self._client: yagmail.SMTP | None = None
        self._last_used = 0.0

    def send(self, message: OutgoingMail) -> None:
        """Send `message`; raises PermanentMailError (5xx, bad message) or TemporaryMailError (anything else)."""
        payload = compose(message, self.sender)
        recipients = [parse_address(recipient) for recipient in message.recipients]
        connection = self._connection()
        try:
            # Some recipients may be refused while others are accepted; the message went out, so it counts as sent.
            connection.sendmail(self.envelope_from, recipients, payload)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _reply in exc.recipients.values()]
            reason = short_reason(next(iter(exc.recipients.values()))[1])
            if all(code >= 500 for code in codes):
                raise PermanentMailError(f"recipient refused: {reason}", codes[0]) from None
            raise TemporaryMailError(f"recipient refused: {reason}", min(codes)) from None
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:  # the server is closing the connection
                self.close()
            if exc.smtp_code in _LOGIN_NEEDED_CODES:  # our settings are wrong, not this message
                raise MailServerUnavailable(short_reason(exc.smtp_error), exc.smtp_code) from None
            error = PermanentMailError if 500 <= exc.smtp_code < 600 else TemporaryMailError
            raise error(short_reason(exc.smtp_error), exc.smtp_code) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise TemporaryMailError(f"connection lost while sending: {_describe(exc)}") from None
        self._last_used = time.monotonic()

    def close(self) -> None:
        """Say QUIT and close the connection, if one is open; never raises."""
        client, self._client = self._client, None
        if client is None:
            return
        client.is_closed = True  # so that yagmail's __del__ does not try again
        connection = client.smtp
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            connection.close()

    def _connection(self) -> smtplib.SMTP:
        if self._client is not None and time.monotonic() - self._last_used > REUSE_CHECK_AFTER_SECONDS:
            try:
                alive = self._client.smtp.noop()[0] == 250
            except (smtplib.SMTPException, OSError):
                alive = False
            if not alive:
                self.close()
        if self._client is None:
            self._client = self._connect()
        return self._client.smtp

    def _connect(self) -> yagmail.SMTP:
        settings = self._settings
        password = settings.smtp_password
        login_name = settings.smtp_user or self.envelope_from
        options: dict[str, object] = {"timeout": self._timeout}
        if settings.smtp_security == "ssl":
            options["context"] = self._tls
        client = yagmail.SMTP(
            # {name: name} keeps yagmail from turning a login name without "@" into "name@gmail.com".
            user={login_name: login_name},
            password=password or None,
            host=settings.smtp_host,
            port=settings.smtp_port,
            smtp_ssl=settings.smtp_security == "ssl",
            # Always explicit: yagmail's default (None) means STARTTLS whenever smtp_ssl is off.
            smtp_starttls={"context": self._tls} if settings.smtp_security == "starttls" else False,
            # Without a password, yagmail would ask keyring or a terminal; a server without AUTH needs no login.
            smtp_skip_login=not password,
            soft_email_validation=False,
            **options,
        )
        client.set_logging(None)  # yagmail would log recipients
        try:
            client.login()
        except smtplib.SMTPAuthenticationError as exc:
            self._close_client(client)
            raise MailServerUnavailable(f"login refused: {short_reason(exc.smtp_error)}", exc.smtp_code) from None
        except smtplib.SMTPResponseException as exc:  # e.g. 421 or 554 instead of the greeting
            self._close_client(client)
            raise MailServerUnavailable(short_reason(exc.smtp_error), exc.smtp_code) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, timeout, no STARTTLS, bad certificate
            self._close_client(client)
            raise MailServerUnavailable(f"cannot connect to {settings.smtp_host}:{settings.smtp_port}: "
                                        f"{_describe(exc)}") from None
        return client

    @staticmethod
    def _close_client(client: yagmail.SMTP) -> None:
        client.is_closed = True
        if client.smtp is not None:
            client.smtp.close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ssl.SSLError) and getattr(exc, "reason", None):
        text = f"TLS: {exc.reason}"
    return short_reason(text)

