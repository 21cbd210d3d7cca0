"""A real HTTP server on 127.0.0.1 standing in for the SMS provider: it records each request and can be made to fail.

    with running_sms_provider() as provider:
        HttpSmsProvider(provider.url, "token", "Sender").send("+447700900123", "Hello")
        provider.received[0].json   # {"from": "Sender", "to": ["+447700900123"], "body": "Hello"}
        provider.status = 503       # every request is answered 503 from now on
        provider.delay = 2.0        # answer only after 2 seconds (a client with a shorter timeout gives up)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"
PATH = "/xms/v1/test-plan/batches"


@dataclass(frozen=True)
class ReceivedSms:
    """One request as it arrived: method, path, headers (names lower-cased) and the raw body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class SmsProvider:
    """The recording server; start it with `running_sms_provider()`."""

    def __init__(self) -> None:
        self.status = 201
        self.delay = 0.0
        self._received: list[ReceivedSms] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{HOST}:{self._server.server_address[1]}{PATH}"

    @property
    def received(self) -> list[ReceivedSms]:
        with self._lock:
            return list(self._received)

    def _record(self, request: ReceivedSms) -> None:
        with self._lock:
            self._received.append(request)


def _handler(provider: SmsProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server looks for
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            provider._record(ReceivedSms("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if provider.delay:
                time.sleep(provider.delay)
            reply = json.dumps({"id": f"batch-{len(provider.received)}"} if provider.status < 300
                               else {"code": "error", "text": "the number +447700900123 is not valid"}).encode()
            try:
                self.send_response(provider.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass  # keep the test output clean

    return Handler


@contextmanager
def running_sms_provider() -> Iterator[SmsProvider]:
    """Serve on a free port of 127.0.0.1 in a thread; stopped and closed when the block ends."""
    provider = SmsProvider()
    server = ThreadingHTTPServer((HOST, 0), _handler(provider))
    server.daemon_threads = True
    provider._server = server
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    """The URL of a port on 127.0.0.1 that nothing listens on (connections are refused)."""
    server = ThreadingHTTPServer((HOST, 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return f"http://{HOST}:{port}{PATH}"
