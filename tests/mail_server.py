"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd) that records what it receives and can be made to fail.

    with running_mail_server() as server:
        ...send to server.host, server.port...
        server.fault = Fault.RCPT_550        # every RCPT gets 550 from now on
        server.refuse()                      # stop listening: connections are refused
        server.accept()                      # listen again, on the same port

Faults are switched between sessions; each applies to every connection until it is set back to Fault.NONE.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from enum import StrEnum
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"


class Fault(StrEnum):
    NONE = "none"
    GREET_421 = "greet_421"  # "421 service not available" instead of the greeting, then hang up
    MAIL_421 = "mail_421"  # 421 in answer to MAIL FROM, then hang up
    RCPT_550 = "rcpt_550"  # every recipient refused permanently
    DATA_451 = "data_451"  # the whole message arrives, then "451 try again later"
    DROP_IN_DATA = "drop_in_data"  # hang up after the first line of the message, without a reply


@dataclass(frozen=True)
class ReceivedMail:
    """One message the server accepted: the SMTP envelope and the raw bytes as they arrived."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return cast(EmailMessage, email.message_from_bytes(self.data, policy=email.policy.default))

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class MailServer:
    """The recording, fault-injecting server; start it with `running_mail_server()`."""

    def __init__(self, *, tls_context: ssl.SSLContext | None = None, login: tuple[str, str] | None = None):
        self.host = HOST
        self.port = 0
        self.fault = Fault.NONE
        # Recipients refused for good (550) or for now (450) even without a fault, as a real server does.
        self.refused_recipients: set[str] = set()
        self.deferred_recipients: set[str] = set()
        self.connections = 0
        self._received: list[ReceivedMail] = []
        self._lock = threading.Lock()
        self._tls_context = tls_context
        self._login = login
        self._controller: _Controller | None = None

    @property
    def received(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._received)

    def message_ids(self) -> list[str]:
        return [mail.message_id for mail in self.received]

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    def accept(self) -> None:
        """Listen (again): on a free port the first time, then on the same port so clients find it."""
        if self._controller is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        self.port = listener.getsockname()[1]
        kwargs: dict[str, Any] = {}
        if self._tls_context is not None:
            kwargs["tls_context"] = self._tls_context
        if self._login is not None:
            # AUTH is enforced in handle_MAIL: aiosmtpd's auth_required warns when TLS is not required as well.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=self._tls_context is not None)
        controller = _Controller(self, listener, **kwargs)
        try:
            controller.start()
        except BaseException:
            listener.close()
            raise
        self._controller = controller

    def refuse(self) -> None:
        """Stop listening, so that connecting fails with "connection refused"."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _record(self, envelope: Envelope) -> None:
        with self._lock:
            self._received.append(ReceivedMail(str(envelope.mail_from), tuple(envelope.rcpt_tos),
                                               bytes(envelope.original_content or b"")))

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert self._login is not None
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self._login[0]
              and auth_data.password.decode() == self._login[1])
        return AuthResult(success=ok, handled=False)


class _Handler:
    def __init__(self, server: MailServer):
        self.server = server

    async def handle_MAIL(self, smtp: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if self.server._login is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, smtp: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if self.server.fault is Fault.RCPT_550 or address in self.server.refused_recipients:
            return f"550 5.1.1 <{address}>: Recipient address rejected: mailbox unavailable"
        if address in self.server.deferred_recipients:
            return f"450 4.2.1 <{address}>: Recipient address rejected: try again later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if self.server.fault is Fault.DATA_451:
            return "451 4.3.0 Temporary local problem, try again later"
        self.server._record(envelope)
        return "250 OK"


class _FaultySMTP(SMTP):
    def __init__(self, handler: _Handler, **kwargs: Any):
        super().__init__(handler, **kwargs)
        self.mail_server = handler.server

    def connection_made(self, transport: Any) -> None:
        connection = transport.get_extra_info("socket")
        if connection is not None:  # aiosmtpd writes each line of a reply on its own: don't let Nagle hold them
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    async def _handle_client(self) -> None:
        self.mail_server.connections += 1
        if self.mail_server.fault is Fault.GREET_421:
            await self.push("421 4.3.2 Service not available, closing transmission channel")
            self._hang_up()
            return
        await super()._handle_client()

    async def smtp_MAIL(self, arg: str | None) -> None:
        if self.mail_server.fault is Fault.MAIL_421:
            await self.push("421 4.3.2 Service not available, closing transmission channel")
            self._hang_up()
            return
        await super().smtp_MAIL(arg)

    async def smtp_DATA(self, arg: str) -> None:
        if self.mail_server.fault is Fault.DROP_IN_DATA and self.envelope is not None and self.envelope.rcpt_tos:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readuntil(b"\r\n")
            self._hang_up()
            return
        await super().smtp_DATA(arg)

    def _hang_up(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _Controller(Controller):
    """aiosmtpd's threaded Controller on a socket we bound ourselves (it has no "any free port" option)."""

    def __init__(self, server: MailServer, listener: socket.socket, **smtp_kwargs: Any):
        super().__init__(_Handler(server), hostname=server.host, port=server.port, **smtp_kwargs)
        self._listener = listener

    def factory(self) -> SMTP:
        return _FaultySMTP(self.handler, **self.SMTP_kwargs)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._listener)

    def _trigger_server(self) -> None:
        # The base class reads the greeting to make aiosmtpd build its SMTP object; a 421 greeting is fine too.
        with socket.create_connection((self.hostname, self.port), 1.0) as probe:
            probe.recv(1024)


@contextmanager
def running_mail_server(*, tls_context: ssl.SSLContext | None = None,
                        login: tuple[str, str] | None = None) -> Iterator[MailServer]:
    """Start a MailServer on a free port of 127.0.0.1 and stop it afterwards."""
    server = MailServer(tls_context=tls_context, login=login)
    server.accept()
    try:
        yield server
    finally:
        server.refuse()


def wait_for(server: MailServer, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
    """The received mails once there are at least `count` (the server records them in its own thread)."""
    deadline = time.monotonic() + timeout
    while len(server.received) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.received


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """A running MailServer; import this fixture into a test module or conftest to use it."""
    with running_mail_server() as server:
        yield server
