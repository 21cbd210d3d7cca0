"""YagmailMailer against a real SMTP server on 127.0.0.1: the message it writes, yagmail's traps, error mapping."""

from __future__ import annotations

import ipaddress
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import core.mailer
from core.config import Settings
from core.mailer import (
    MailServerUnavailable,
    OutgoingMail,
    PermanentMailError,
    TemporaryMailError,
    YagmailMailer,
    short_reason,
)
from core.outbox import new_message_id
from tests.mail_server import Fault, MailServer, running_mail_server

SENDER = "Event Orders <orders@example.org>"
WRITTEN_AT = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[MailServer]:
    with running_mail_server() as running:
        yield running


def settings_for(server: MailServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"smtp_host": server.host, "smtp_port": server.port, "smtp_security": "none",
                              "mail_from": SENDER}
    return Settings(**(values | overrides))


def mail(**overrides: Any) -> OutgoingMail:
    values: dict[str, Any] = {"message_id": new_message_id(), "recipients": ("ada@example.org",),
                              "subject": "Your order ABC123", "body_text": "Hello Ada,\nthank you.",
                              "date": WRITTEN_AT}
    return OutgoingMail(**(values | overrides))


def send(server: MailServer, message: OutgoingMail, **settings: Any) -> EmailMessage:
    """Send one message with a fresh mailer and return it as the server received it."""
    mailer = YagmailMailer(settings_for(server, **settings))
    try:
        mailer.send(message)
    finally:
        mailer.close()
    [received] = server.received
    return received.message


def parts(message: EmailMessage) -> dict[str, str]:
    # Received over SMTP, text arrives with CRLF line ends.
    return {part.get_content_type(): part.get_content().replace("\r\n", "\n") for part in message.walk()
            if part.get_content_maintype() == "text"}


def test_message_has_stable_headers_and_text_and_html_alternatives(server: MailServer) -> None:
    outgoing = mail()
    received = send(server, outgoing)
    assert received["From"] == SENDER
    assert received["To"] == "ada@example.org"
    assert received["Subject"] == "Your order ABC123"
    assert received["Message-ID"] == outgoing.message_id
    assert received["Date"].datetime == WRITTEN_AT
    assert received.get_content_type() == "multipart/alternative"
    assert parts(received) == {"text/plain": "Hello Ada,\nthank you.",
                               "text/html": parts(received)["text/html"]}
    assert "Hello Ada,\nthank you." in parts(received)["text/html"]
    [envelope] = server.received
    assert envelope.mail_from == "orders@example.org"
    assert envelope.rcpt_tos == ("ada@example.org",)


def test_an_attendee_named_like_an_existing_file_gets_text_not_that_file(server: MailServer,
                                                                         tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    for name in (str(secret), "/etc/passwd"):
        server.clear()
        received = send(server, mail(subject=name, body_text=name))
        assert [part.get_content_type() for part in received.iter_attachments()] == []
        assert parts(received)["text/plain"] == name
        raw = server.received[0].data
        assert b"TOP-SECRET-CONTENT" not in raw and b"root:" not in raw


def test_html_in_a_name_is_escaped_in_the_html_part_and_kept_in_the_text_part(server: MailServer) -> None:
    name = "<script>alert(1)</script> & <b>Bob</b>"
    received = send(server, mail(body_text=f"Name: {name}"))
    html_part = parts(received)["text/html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;Bob&lt;/b&gt;" in html_part
    assert "<script>" not in html_part and "<b>" not in html_part
    assert parts(received)["text/plain"] == f"Name: {name}"


def test_a_template_html_body_is_sent_as_its_html_part(server: MailServer) -> None:
    received = send(server, mail(body_html="<p>Hello <strong>Ada</strong></p>"))
    assert parts(received)["text/html"] == "<p>Hello <strong>Ada</strong></p>"


@pytest.mark.parametrize("overrides", [
    {"subject": "Order\r\nBcc: eve@example.org"},
    {"subject": "Order\nBcc: eve@example.org"},
    {"recipients": ("ada@example.org\r\nBcc: eve@example.org",)},
    {"recipients": ("ada@example.org, eve@example.org",)},
    {"recipients": ("Ada <ada@example.org>",)},
    {"recipients": ()},
    {"message_id": "<x@example.org>\r\nBcc: eve@example.org"},
], ids=["crlf-subject", "lf-subject", "crlf-recipient", "two-in-one", "display-name", "none", "crlf-message-id"])
def test_input_that_could_inject_headers_is_refused_and_nothing_is_sent(server: MailServer,
                                                                       overrides: dict[str, Any]) -> None:
    mailer = YagmailMailer(settings_for(server))
    with pytest.raises(PermanentMailError):
        mailer.send(mail(**overrides))
    mailer.close()
    assert server.received == []


def test_attachment_keeps_its_bytes_and_only_the_last_part_of_its_name(server: MailServer) -> None:
    data = b"item,size\nHoodie,M\n"
    received = send(server, mail(attachment=("../../etc/passwd", data)))
    [attachment] = received.iter_attachments()
    assert attachment.get_filename() == "passwd"
    assert attachment.get_content() == data
    assert received.get_content_type() == "multipart/mixed"
    server.clear()
    received = send(server, mail(attachment=("orders.xlsx", b"PK\x03\x04")))
    [attachment] = received.iter_attachments()
    assert attachment.get_content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert attachment.get_content() == b"PK\x03\x04"


def test_non_ascii_headers_and_awkward_bodies_arrive_intact(server: MailServer) -> None:
    body = ("Grüße, Zoë!\r\n.\n..leading dots\rold Mac line\n--=_not-a-boundary--\n"
            + "x" * 300 + "\ntrailing space \nFrom the start\n")
    outgoing = mail(subject="Bestellung für Zoë – 5 €", body_text=body, recipients=("zoe@exämple.org",),
                    attachment=("Bestellübersicht.csv", b"a;b\n"))
    received = send(server, outgoing, mail_from="Événements Été <orders@example.org>")
    assert received["Subject"] == "Bestellung für Zoë – 5 €"
    assert received["From"].addresses[0].display_name == "Événements Été"
    assert server.received[0].rcpt_tos == ("zoe@xn--exmple-cua.org",)
    expected = body.replace("\r\n", "\n").replace("\r", "\n")
    assert parts(received)["text/plain"] == expected
    [attachment] = received.iter_attachments()
    assert (attachment.get_filename(), attachment.get_payload(decode=True)) == ("Bestellübersicht.csv", b"a;b\n")
    assert all(len(line) <= 78 for line in server.received[0].data.split(b"\r\n"))
    server.clear()
    long_subject = " ".join(f"word{n}" for n in range(50))
    received = send(server, mail(subject=long_subject))
    assert received["Subject"] == long_subject
    assert all(len(line) <= 78 for line in server.received[0].data.split(b"\r\n"))


def test_starttls_against_a_server_without_tls_fails_for_now_instead_of_sending_in_clear(
        server: MailServer) -> None:
    for security in ("starttls", "ssl"):
        mailer = YagmailMailer(settings_for(server, smtp_security=security))
        with pytest.raises(MailServerUnavailable):
            mailer.send(mail())
        mailer.close()
    assert server.received == []


def test_starttls_checks_the_server_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    certificate, key = _self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    with running_mail_server(tls_context=context) as server:
        mailer = YagmailMailer(settings_for(server, smtp_security="starttls"))
        with pytest.raises(MailServerUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            mailer.send(mail())
        assert server.received == []
        # Trusting that certificate (as a deployment would trust its CA) lets the same mail through, encrypted.
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
        received = send(server, mail(), smtp_security="starttls")
        assert received["Subject"] == "Your order ABC123"


def test_logs_in_with_a_user_name_without_at_sign_as_given() -> None:
    # yagmail would log in as "apikey@gmail.com" if handed the bare name.
    with running_mail_server(login=("apikey", "s3cret")) as server:
        received = send(server, mail(), smtp_user="apikey", smtp_password="s3cret")
        assert received["To"] == "ada@example.org"


def test_a_wrong_password_holds_mail_for_later_rather_than_failing_it() -> None:
    with running_mail_server(login=("apikey", "s3cret")) as server:
        mailer = YagmailMailer(settings_for(server, smtp_user="apikey", smtp_password="wrong"))
        with pytest.raises(MailServerUnavailable) as raised:
            mailer.send(mail())
        assert raised.value.code == 535
        # No password at all against a server that wants one: also the settings' fault, so not permanent.
        mailer = YagmailMailer(settings_for(server, smtp_user="apikey"))
        with pytest.raises(MailServerUnavailable) as raised:
            mailer.send(mail())
        assert raised.value.code == 530
        assert server.received == []


def test_without_a_password_no_keyring_or_prompt_is_used_and_a_server_without_auth_works(
        server: MailServer) -> None:
    # yagmail would look the password up in keyring (not installed: it prints and raises) or prompt for it.
    received = send(server, mail(), smtp_user="orders@example.org", smtp_password="")
    assert received["Message-ID"]


def test_a_connection_dropped_mid_message_raises_promptly_instead_of_returning_false(server: MailServer) -> None:
    server.fault = Fault.DROP_IN_DATA
    mailer = YagmailMailer(settings_for(server))
    started = time.monotonic()
    with pytest.raises(TemporaryMailError) as raised:
        mailer.send(mail())
    assert not isinstance(raised.value, PermanentMailError)
    assert time.monotonic() - started < 2  # yagmail's own send() sleeps 3 + 6 + 9 s retrying, then returns False
    assert server.received == []
    server.fault = Fault.NONE
    outgoing = mail()
    mailer.send(outgoing)  # the same mailer connects afresh
    mailer.close()
    assert server.message_ids() == [outgoing.message_id]


@pytest.mark.parametrize(("fault", "error", "code"), [
    (Fault.GREET_421, MailServerUnavailable, 421),
    (Fault.MAIL_421, TemporaryMailError, 421),
    (Fault.DATA_451, TemporaryMailError, 451),
    (Fault.RCPT_550, PermanentMailError, 550),
])
def test_smtp_replies_map_to_temporary_and_permanent_errors(server: MailServer, fault: Fault,
                                                            error: type[Exception], code: int) -> None:
    server.fault = fault
    mailer = YagmailMailer(settings_for(server))
    with pytest.raises(error) as raised:
        mailer.send(mail())
    mailer.close()
    assert raised.value.code == code  # type: ignore[attr-defined]
    assert str(raised.value).startswith(str(code))
    assert "ada@example.org" not in str(raised.value)
    assert server.received == []


def test_a_refused_connection_is_a_temporary_server_error(server: MailServer) -> None:
    server.refuse()
    mailer = YagmailMailer(settings_for(server))
    with pytest.raises(MailServerUnavailable, match="refused"):
        mailer.send(mail())
    server.accept()
    mailer.send(mail())
    mailer.close()
    assert len(server.received) == 1


def test_a_partly_refused_message_goes_to_the_others(server: MailServer) -> None:
    server.refused_recipients = {"bob@example.org"}
    send(server, mail(recipients=("ada@example.org", "bob@example.org")))
    assert server.received[0].rcpt_tos == ("ada@example.org",)


def test_one_connection_carries_a_batch_and_a_stale_one_is_replaced(server: MailServer,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    mailer = YagmailMailer(settings_for(server))
    before = server.connections
    for _ in range(3):
        mailer.send(mail())
    assert server.connections == before + 1
    server.refuse()  # a restart drops the kept connection
    server.accept()
    monkeypatch.setattr(core.mailer, "REUSE_CHECK_AFTER_SECONDS", 0.0)
    mailer.send(mail())
    mailer.close()
    assert len(server.received) == 4


def test_settings_that_cannot_send_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="SMTP_HOST"):
        YagmailMailer(Settings(smtp_host="", mail_from=SENDER))
    with pytest.raises(ValueError, match="SMTP_SECURITY"):
        YagmailMailer(Settings(smtp_host="127.0.0.1", smtp_security="tls", mail_from=SENDER))
    with pytest.raises(ValueError, match="MAIL_FROM"):
        YagmailMailer(Settings(smtp_host="127.0.0.1", mail_from="orders"))


def test_reasons_are_one_short_line_without_addresses() -> None:
    reason = short_reason(b"550 5.1.1 <ada@example.org>: Recipient\r\n address bob@example.org rejected" + b"!" * 300)
    assert reason.startswith("550 5.1.1 <address>: Recipient address <address> rejected!")
    assert "@" not in reason and "\n" not in reason
    assert len(reason) == core.mailer.MAX_REASON_LENGTH


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = directory / "server.pem", directory / "server.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return certificate_path, key_path
