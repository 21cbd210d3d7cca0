"""Text messages: the SmsSender interface, one HTTP provider adapter, and the bridge that lets the outbox send SMS.

SMS is off unless SMS_PROVIDER_URL, SMS_TOKEN and SMS_SENDER are all set (from the environment or
secrets.toml; the repository holds no credentials), and only attendees who ticked the form's SMS opt-in get one.

`HttpSmsProvider` speaks the common JSON shape of Sinch's SMS REST API: `POST <url>` (for Sinch,
`https://<region>.sms.api.sinch.com/xms/v1/<service plan id>/batches`) with `Authorization: Bearer <token>` and
`{"from": <sender>, "to": [<E.164 number>], "body": <text>}`; any 2xx reply means accepted. Other providers
can sit behind the same interface with an adapter of their own.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from http.client import HTTPException
from typing import Protocol
from urllib.parse import urlsplit

from core.config import Settings
from core.mailer import MailServerUnavailable, OutgoingMail, PermanentMailError, TemporaryMailError

SMS_TIMEOUT_SECONDS = 10.0
_LOCAL_HOSTS = frozenset({"localhost"})


class SmsError(Exception):
    """Sending failed; the message names the HTTP status or the network problem, never the number or text."""


class TemporarySmsError(SmsError):
    """Worth trying again later (a timeout or a 5xx for this message)."""


class SmsProviderUnavailable(TemporarySmsError):
    """The provider could not be reached, or refused our credentials: every message would fail alike now."""


class PermanentSmsError(SmsError):
    """Trying again will not help: the provider refused this message (a 4xx such as an invalid number)."""


class SmsSender(Protocol):
    """Sends one text message to one E.164 number, or raises TemporarySmsError or PermanentSmsError."""

    def send(self, to: str, text: str) -> None: ...


class HttpSmsProvider:
    """The Sinch-like JSON-over-HTTPS adapter (see the module docstring), on the standard library alone."""

    def __init__(self, url: str, token: str, sender: str, *, timeout: float | None = None):
        check_provider_url(url)
        self.url = url
        self._token = token
        self.sender = sender
        self.timeout = SMS_TIMEOUT_SECONDS if timeout is None else timeout

    def __repr__(self) -> str:  # never the token, not even in a traceback
        return f"HttpSmsProvider(url={self.url!r}, sender={self.sender!r})"

    def send(self, to: str, text: str) -> None:
        body = json.dumps({"from": self.sender, "to": [to], "body": text}).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Authorization": f"Bearer {self._token}", "Content-Type": "application/json",
            "Accept": "application/json"})
        try:
            # The URL was checked to be http(s) (check_provider_url), so urlopen opens no file:// or other scheme.
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            raise _error_for_status(exc.code) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise SmsProviderUnavailable(f"SMS provider unreachable: {type(reason).__name__}") from None


def _error_for_status(status: int) -> SmsError:
    # Only the status: a provider's error text may repeat the number, and last_error holds no personal data.
    reason = f"SMS provider replied HTTP {status}"
    # Refused credentials (a settings problem), rate limits and gateway trouble would fail every message alike:
    # the batch waits, and nothing is lost while the operator fixes the token.
    if status in (401, 403, 429, 502, 503, 504):
        return SmsProviderUnavailable(reason)
    if status == 408 or status >= 500:
        return TemporarySmsError(reason)
    return PermanentSmsError(reason)


def check_provider_url(url: str) -> None:
    """Raise ValueError unless `url` is https, or http to this machine (a local relay or a test's stand-in):
    the bearer token must not cross a network in clear text."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and (host in _LOCAL_HOSTS or _is_loopback(host)):
        return
    raise ValueError("SMS_PROVIDER_URL must start with https:// (plain http only to 127.0.0.1 or localhost).")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sms_configured(settings: Settings) -> bool:
    """Whether SMS is switched on: a provider URL, a token and a sender are all set."""
    return bool(settings.sms_provider_url and settings.sms_token and settings.sms_sender)


def sms_sender(settings: Settings) -> SmsSender | None:
    """The configured provider, or None while SMS is off. Raises ValueError for a provider URL that is not https."""
    if not sms_configured(settings):
        return None
    return HttpSmsProvider(settings.sms_provider_url, settings.sms_token, settings.sms_sender)


class SmsMailer:
    """Lets the outbox dispatcher (written for mail) send SMS rows: each recipient gets the text part.

    Maps SMS errors onto the outbox's mail errors, so retries, backoff, leases and alarms work the same way.
    """

    def __init__(self, sender: SmsSender):
        self._sender = sender

    def send(self, message: OutgoingMail) -> None:
        try:
            for number in message.recipients:
                self._sender.send(number, message.body_text)
        except SmsProviderUnavailable as exc:
            raise MailServerUnavailable(str(exc)) from None
        except TemporarySmsError as exc:
            raise TemporaryMailError(str(exc)) from None
        except PermanentSmsError as exc:
            raise PermanentMailError(str(exc)) from None

    def close(self) -> None:
        """Nothing to close: each SMS is one HTTP request."""
