"""How fast the outbox drains to a local SMTP server, against a raw smtplib loop over one connection.

Run from the project root: `.venv/bin/python -m bench.bench_outbox` (`--help` for options). Queues the messages
with enqueue_message, then, interleaved in the same run and to the same aiosmtpd server on 127.0.0.1
(tests/mail_server.py), sends them
- baseline: with `smtplib.SMTP.sendmail` over one connection, composed (core.mailer.compose) beforehand, untimed;
(a) the same, composing each message inside the timed loop;
(b) with `outbox.dispatch` + YagmailMailer in batches of `--batch`: one kept connection per batch, a claim
    commit per batch and a commit per message;
(b2) like (b), recording deliveries within 50 ms in one commit (`group_commit`);
(c) like (b) with a new connection for every message, to show what keeping it is worth.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import smtplib
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path

if not __package__:  # run as `python bench/bench_outbox.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, update  # noqa: E402

from bench.results import BenchResult, report  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db import make_engine, migrate, unit_of_work  # noqa: E402
from core.mailer import Mailer, OutgoingMail, YagmailMailer, compose  # noqa: E402
from core.models import MessageKind, MessageStatus, OutboxMessage, utcnow  # noqa: E402
from core.outbox import dispatch, enqueue_message  # noqa: E402
from tests.mail_server import running_mail_server  # noqa: E402

GOAL_RATIO = 0.7
GROUP_COMMIT = timedelta(milliseconds=50)
SENDER = "Event Orders <orders@example.org>"
BODY = """Hello {name},

thank you for your order {ref} for Summer Fest.

  1 x T-shirt (Fitted, M, black)     12.50
  1 x Hoodie (L)                     30.00
  2 x Breakfast box                  19.00

Look it up or change it until 1 June: https://orders.example.org/?event=fest&order={ref}
We delete your personal data 30 days after the event.
"""


class OneConnectionPerMessage:
    """A Mailer that does not keep its connection: what sending costs when every message connects anew."""

    def __init__(self, mailer: YagmailMailer):
        self.mailer = mailer

    def send(self, message: OutgoingMail) -> None:
        try:
            self.mailer.send(message)
        finally:
            self.mailer.close()

    def close(self) -> None:
        self.mailer.close()


class ServerProcess:
    """The test SMTP server in a process of its own, as a real relay is: in ours it would compete for the GIL."""

    def __enter__(self) -> ServerProcess:
        self._pipe, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        self.host, self.port = self._pipe.recv()
        return self

    def count(self) -> int:
        self._pipe.send("count")
        return int(self._pipe.recv())

    def clear(self) -> None:
        self._pipe.send("clear")
        self._pipe.recv()

    def __exit__(self, *exc: object) -> None:
        self._pipe.send("stop")
        self._process.join(timeout=10)


def _serve(pipe: Connection) -> None:
    with running_mail_server() as server:
        pipe.send((server.host, server.port))
        while (command := pipe.recv()) != "stop":
            if command == "count":
                pipe.send(len(server.received))
            else:
                server.clear()
                pipe.send(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100, help="dispatch's limit: messages claimed per batch")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the median counts")
    parser.add_argument("--db", help="a SQLAlchemy URL to use instead of a temporary SQLite file (it is filled)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, ServerProcess() as server:
        url = args.db or f"sqlite:///{Path(directory) / 'bench.db'}"
        engine = make_engine(url)
        migrate(engine)
        settings = Settings(smtp_host=server.host, smtp_port=server.port, smtp_security="none", mail_from=SENDER)
        ids = _queue(engine, args.messages)
        mails = _outgoing(ids)

        def baseline() -> float:
            return _raw_smtplib(server, mails, compose_first=True)

        def baseline_composing() -> float:
            return _raw_smtplib(server, mails, compose_first=False)

        def ours() -> float:
            return _drain(engine, ids, lambda: YagmailMailer(settings), args.batch)

        def grouped() -> float:
            return _drain(engine, ids, lambda: YagmailMailer(settings), args.batch, GROUP_COMMIT)

        def per_message() -> float:
            return _drain(engine, ids, lambda: OneConnectionPerMessage(YagmailMailer(settings)), args.batch)

        # Interleaved, so that a neighbour's load on the machine hits each alike.
        runs = {"baseline": baseline, "composing": baseline_composing, "dispatch": ours, "grouped": grouped,
                "per_message": per_message}
        timings: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, run in runs.items():
                server.clear()
                timings[name].append(run())
                if (received := server.count()) != args.messages:
                    raise SystemExit(f"{name}: the server received {received} of {args.messages} messages")
        results = {name: statistics.median(seconds) for name, seconds in timings.items()}
        engine.dispose()
    _print(args, url, results)
    rate = {name: args.messages / seconds for name, seconds in results.items()}
    report(BenchResult(f"outbox {short} rate vs raw smtplib, {args.messages:,} messages", rate[name], "msg/s",
                       baseline=rate["baseline"], goal=GOAL_RATIO, direction="at_least", goal_on_ratio=True)
           for name, short in (("dispatch", "(b)"), ("grouped", "(b2) group commit")))


def _queue(engine: Engine, count: int) -> list[int]:
    with unit_of_work(engine) as session:
        rows = [enqueue_message(session, kind=MessageKind.CONFIRMATION, recipients=[f"attendee{n}@example.org"],
                                subject=f"Your order ORD{n:05d}", body_text=BODY.format(name=f"Attendee {n}",
                                                                                       ref=f"ORD{n:05d}"))
                for n in range(count)]
        return [row.id for row in rows]


def _outgoing(ids: list[int]) -> list[OutgoingMail]:
    now = utcnow()
    return [OutgoingMail(message_id=f"<bench{n}@event-orders.invalid>", recipients=(f"attendee{n}@example.org",),
                         subject=f"Your order ORD{n:05d}",
                         body_text=BODY.format(name=f"Attendee {n}", ref=f"ORD{n:05d}"), date=now)
            for n in range(len(ids))]


def _raw_smtplib(server: ServerProcess, mails: list[OutgoingMail], *, compose_first: bool) -> float:
    """Seconds to send `mails` over one smtplib connection, recording nothing; composing them first is untimed."""
    payloads = [compose(mail, SENDER) for mail in mails] if compose_first else []
    started = time.perf_counter()
    with smtplib.SMTP(server.host, server.port) as connection:
        for number, mail in enumerate(mails):
            payload = payloads[number] if compose_first else compose(mail, SENDER)
            connection.sendmail("orders@example.org", list(mail.recipients), payload)
    return time.perf_counter() - started


def _drain(engine: Engine, ids: list[int], mailer: Callable[[], Mailer], batch: int,
           group_commit: timedelta = timedelta(0)) -> float:
    """Seconds for dispatch to send every queued message (made due again first, untimed)."""
    with unit_of_work(engine) as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(
            status=MessageStatus.PENDING, attempts=0, sent_at=None, claimed_until=None,
            next_attempt_at=utcnow() - timedelta(seconds=1)))
    started = time.perf_counter()
    while dispatch(engine, mailer(), limit=batch, group_commit=group_commit).claimed:
        pass
    return time.perf_counter() - started


def _print(args: argparse.Namespace, url: str, results: dict[str, float]) -> None:
    count = args.messages
    base = results["baseline"]
    backend = "PostgreSQL" if url.startswith("postgresql") else f"SQLite {sqlite3.sqlite_version}"
    print(f"{count} messages to aiosmtpd on 127.0.0.1 (its own process) · {backend} · Python {platform.python_version()} · "
          f"{os.cpu_count()} CPUs · median of {args.repeat}\n")
    print("| what | seconds | messages/s | × baseline rate |")
    print("|---|---|---|---|")
    labels = {"baseline": "baseline: raw smtplib, one connection, messages composed beforehand",
              "composing": "(a) raw smtplib, one connection, composing each message in the loop",
              "dispatch": f"(b) dispatch + YagmailMailer, batches of {args.batch}, a commit per message",
              "grouped": f"(b2) the same, group_commit={GROUP_COMMIT.total_seconds() * 1000:.0f} ms",
              "per_message": "(c) the same, a new connection per message"}
    for name, seconds in results.items():
        print(f"| {labels[name]} | {seconds:.3f} | {count / seconds:,.0f} | {base / seconds:.2f} |")
    print()
    for name, short in (("dispatch", "(b)"), ("grouped", "(b2)")):
        ratio = base / results[name]
        print(f"Goal, at least {GOAL_RATIO}x the baseline's rate: {short} {'met' if ratio >= GOAL_RATIO else 'MISSED'} "
              f"({ratio:.2f}x).")

if __name__ == "__main__":
    main()
