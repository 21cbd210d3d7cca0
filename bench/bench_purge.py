"""How long purging an event's personal data takes, against a plain DELETE of the same rows plus VACUUM.

Run from the project root: `.venv/bin/python -m bench.bench_purge` (`--help` for options). Builds one SQLite file
with `bench/dataset.py` (100k orders with personal data), adds what a real event holds besides (a lookup hash per
order, a sent confirmation mail per order with the name and address in it, a batch vendor's spreadsheet), and
copies it twice for each round, then times, in the same run and alternating which goes first:
- baseline: a raw sqlite3 connection (no secure_delete) deletes the personal rows and the event's mails, clears
  the lookup hashes, commits and runs VACUUM;
- (a) `core.purge.purge_event` (as the timer) in one unit of work, then `scrub_storage` (secure_delete,
  WAL checkpoint TRUNCATE, VACUUM, checkpoint TRUNCATE).
After each, the forensic check reads the database file and its WAL for a sample of the names, emails, phones,
lookup hashes and the spreadsheet's bytes: the number of values still found is printed (goal: 0 for (a)).
Goal: (a) at most 1.5x the baseline.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as `python bench/bench_purge.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, insert, select, update  # noqa: E402

from bench.dataset import build_event, print_machine  # noqa: E402
from bench.results import BenchResult, report  # noqa: E402
from core.db import make_engine, migrate, read_only, unit_of_work  # noqa: E402
from core.models import (  # noqa: E402
    MessageKind,
    MessageStatus,
    Order,
    OrderPersonalData,
    OutboxMessage,
    utcnow,
)
from core.outbox import new_message_id  # noqa: E402
from core.purge import purge_event, scrub_storage  # noqa: E402

GOAL_RATIO = 1.5
SAMPLE = 500
SPREADSHEET_BYTES = 2_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000, help="orders to create (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, each on fresh copies; the median is shown")
    args = parser.parse_args()
    print_machine()
    with tempfile.TemporaryDirectory(prefix="bench-purge-") as tmp:
        template = Path(tmp) / "template.db"
        started = time.perf_counter()
        event_id, marks = build(template, args.orders)
        print(f"Built {args.orders:,} orders in {time.perf_counter() - started:.1f} s; "
              f"file {template.stat().st_size / 1e6:.0f} MB; {len(marks)} values to look for afterwards.")
        baseline_times, purge_times, transaction_times, baseline_hits, purge_hits = [], [], [], [], []
        for round_number in range(args.repeat):
            plain, ours = Path(tmp) / f"plain-{round_number}.db", Path(tmp) / f"ours-{round_number}.db"
            shutil.copyfile(template, plain)
            shutil.copyfile(template, ours)
            runs = [("baseline", plain), ("ours", ours)]
            for name, path in runs if round_number % 2 == 0 else reversed(runs):
                if name == "baseline":
                    seconds, found = plain_delete(path, event_id, marks)
                    baseline_times.append(seconds)
                    baseline_hits.append(found)
                else:
                    transaction, seconds, found = purge(path, event_id, marks)
                    transaction_times.append(transaction)
                    purge_times.append(seconds)
                    purge_hits.append(found)
            plain.unlink()
            ours.unlink()
    baseline, ours_median = statistics.median(baseline_times), statistics.median(purge_times)
    ratio = ours_median / baseline
    print("\n| what | seconds | x baseline | values found afterwards |\n|---|---|---|---|")
    print(f"| baseline: DELETE + UPDATE + VACUUM (sqlite3) | {baseline:.2f} | 1 | {max(baseline_hits)} |")
    print(f"| (a) purge_event + scrub_storage | {ours_median:.2f} | {ratio:.2f} | {max(purge_hits)} |")
    transaction = statistics.median(transaction_times)
    print(f"| (a1) of which the purge transaction | {transaction:.2f} | {transaction / baseline:.2f} | |")
    print(f"\nGoal: (a) at most {GOAL_RATIO}x the baseline: {'met' if ratio <= GOAL_RATIO else 'NOT met'}; "
          f"forensic check of (a): {'clean' if max(purge_hits) == 0 else 'VALUES FOUND'}.")
    report([BenchResult(f"purge_event + scrub_storage, {args.orders:,} orders", ours_median, "s", baseline=baseline,
                        goal=GOAL_RATIO, goal_on_ratio=True),
            BenchResult("personal values found in the file after the purge", max(purge_hits), "",
                        baseline=max(baseline_hits), goal=0)])


def build(path: Path, orders: int) -> tuple[int, list[bytes]]:
    """The data set, plus lookup hashes, one sent confirmation per order and a vendor spreadsheet; returns the
    event id and a sample of the values that must be gone after a purge."""
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    event_id, _admin = build_event(engine, orders, batch_vendor=True)
    with read_only(engine) as session:
        personal = session.execute(select(OrderPersonalData.order_id, OrderPersonalData.answers)).all()
    hashes = {order_id: secrets.token_hex(32) for order_id, _ in personal}
    spreadsheet = secrets.token_bytes(SPREADSHEET_BYTES)  # compressed XLSX looks like this
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(update(Order.__table__).where(Order.__table__.c.id == bindparam("order_id"))
                           .values(lookup_token_hash=bindparam("token_hash")),
                           [{"order_id": i, "token_hash": h} for i, h in hashes.items()])
        connection.execute(insert(OutboxMessage.__table__), [_confirmation(event_id, order_id, answers, now)
                                                             for order_id, answers in personal])
        connection.execute(insert(OutboxMessage.__table__), [{
            "message_id": new_message_id(), "kind": MessageKind.VENDOR_BATCH, "event_id": event_id,
            "recipients": ["batch@vendor.example"], "subject": "Line items", "body_text": "Attached.",
            "body_html": "", "attachment_name": "bench-vendor.xlsx", "attachment": spreadsheet,
            "status": MessageStatus.SENT, "attempts": 1, "next_attempt_at": now, "sent_at": now, "last_error": "",
            "created_at": now, "channel": "email"}])
    engine.dispose()  # the last connection checkpoints and removes the WAL: the copies are complete files
    step = max(len(personal) // SAMPLE, 1)
    marks: list[bytes] = []
    for order_id, answers in personal[::step]:
        marks += [answers["email"].encode(), hashes[order_id].encode()]
        if "phone" in answers:
            marks.append(answers["phone"].encode())
    marks.append(spreadsheet[SPREADSHEET_BYTES // 2: SPREADSHEET_BYTES // 2 + 64])
    return event_id, marks


def _confirmation(event_id: int, order_id: int, answers: dict[str, object], now: object) -> dict[str, object]:
    delivery = answers.get("delivery")
    address = ", ".join(str(v) for v in delivery.values()) if isinstance(delivery, dict) else ""
    body = f"Hello {answers['name']},\n\nthank you for your order.\n{address}\n"
    return {"message_id": new_message_id(), "kind": MessageKind.CONFIRMATION, "event_id": event_id,
            "order_id": order_id, "recipients": [answers["email"]], "subject": "Your order", "body_text": body,
            "body_html": f"<p>{body}</p>", "status": MessageStatus.SENT, "attempts": 1, "next_attempt_at": now,
            "sent_at": now, "last_error": "", "created_at": now, "channel": "email"}


def plain_delete(path: Path, event_id: int, marks: list[bytes]) -> tuple[float, int]:
    """The baseline: the same personal rows deleted with plain SQL, then VACUUM; seconds taken and the forensic
    hits, read while the connection is still open (closing the last one would remove the WAL)."""
    started = time.perf_counter()
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    orders = "SELECT id FROM orders WHERE event_id = ?"
    connection.execute(f"DELETE FROM order_personal_data WHERE order_id IN ({orders})", (event_id,))
    connection.execute("DELETE FROM outbox WHERE event_id = ?", (event_id,))
    connection.execute("UPDATE orders SET lookup_token_hash = NULL WHERE event_id = ?", (event_id,))
    connection.execute("COMMIT")
    connection.execute("VACUUM")
    elapsed = time.perf_counter() - started
    found = hits(path, marks)
    connection.close()
    return elapsed, found


def purge(path: Path, event_id: int, marks: list[bytes]) -> tuple[float, float, int]:
    """(a): purge_event as the timer, committed, then scrub_storage; seconds the transaction and the whole took
    (engine creation excluded) and the forensic hits, read while the engine's connection is still open."""
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect():
        pass  # connect once, untimed, as the app's engine is connected long before a purge
    started = time.perf_counter()
    with unit_of_work(engine) as session:
        purge_event(session, None, event_id, now=utcnow())
    transaction = time.perf_counter() - started
    scrub_storage(engine)
    elapsed = time.perf_counter() - started
    found = hits(path, marks)
    engine.dispose()
    return transaction, elapsed, found


def hits(path: Path, marks: list[bytes]) -> int:
    """How many of `marks` the database file and its WAL still contain."""
    wal = Path(f"{path}-wal")
    data = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    return sum(mark in data for mark in marks)


if __name__ == "__main__":
    main()
