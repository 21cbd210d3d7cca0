"""How fast place_order could be with SQLAlchemy in the loop: its statements alone, without its Python.

Run from the project root: `.venv/bin/python -m bench.bench_place_order_floor` (`--help` for options). Two parts:
- per statement, inside one transaction: a prebuilt Core SELECT and INSERT through `Session.execute`, through
  the transaction's `Connection.execute`, through `Connection.exec_driver_sql` and through the DB-API cursor of
  that same connection (the last two with values converted by hand, which the app must not do);
- per order, in blocks alternating with bench_place_order's raw sqlite3 baseline (same file, same pragmas):
  (c) the baseline's rows with typed values through prebuilt Core statements, one unit of work per order, via
  `Session.execute`; (d) the same via the transaction's Connection; (e) (c) plus the event loaded by its slug
  as the page does; (f) (e) plus every other statement place_order runs (form, catalogue, repeated-submission
  check, savepoint, mail template), i.e. place_order's SQL with none of its validation, hashing or rendering.
(f) is the floor of place_order's rate as long as those statements go through SQLAlchemy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/bench_place_order_floor.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, insert, select, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.bench_place_order import BLOCK, Shop, build_shop, make_answers, prepare_raw, run_raw  # noqa: E402
from bench.dataset import print_machine  # noqa: E402
from bench.results import BenchResult, report  # noqa: E402
from core.catalogue import load_catalogue  # noqa: E402
from core.db import make_engine, migrate, unit_of_work  # noqa: E402
from core.events import get_published_event  # noqa: E402
from core.form_versions import current_form  # noqa: E402
from core.mail_templates import template_for  # noqa: E402
from core.models import (  # noqa: E402
    CodeRedemption,
    MessageChannel,
    MessageKind,
    MessageStatus,
    Order,
    OrderLine,
    OrderPersonalData,
    OrderStatus,
    OrderStatusChange,
    OutboxMessage,
    RedemptionCode,
    StockPool,
    Variant,
    utcnow,
)
from core.submissions import find_repeated_submission  # noqa: E402

_ORDER, _STATUS, _PERSONAL, _LINES, _OUTBOX, _REDEMPTION = (
    insert(model.__table__) for model in (Order, OrderStatusChange, OrderPersonalData, OrderLine, OutboxMessage,
                                          CodeRedemption))
_CODES, _VARIANTS, _POOLS = RedemptionCode.__table__, Variant.__table__, StockPool.__table__
_TAKE_CODE = (update(_CODES).where(_CODES.c.id == bindparam("code_id"), _CODES.c.uses < _CODES.c.max_uses)
              .values(uses=_CODES.c.uses + 1))
_TAKE_VARIANT = (update(_VARIANTS).where(_VARIANTS.c.id == bindparam("row_id"), _VARIANTS.c.stock.is_(None)
                                         | (_VARIANTS.c.sold + bindparam("quantity") <= _VARIANTS.c.stock))
                 .values(sold=_VARIANTS.c.sold + bindparam("quantity")))
_TAKE_POOL = (update(_POOLS).where(_POOLS.c.id == bindparam("row_id"),
                                   _POOLS.c.sold + bindparam("quantity") <= _POOLS.c.capacity)
              .values(sold=_POOLS.c.sold + bindparam("quantity")))
WAYS = {
    "session": "(c) baseline's rows, prebuilt Core, Session.execute",
    "connection": "(d) the same on the transaction's Connection",
    "event": "(e) (c) + get_published_event",
    "statements": "(f) (e) + every other statement of place_order",
}


def statement_costs(session: Session, repeat: int) -> dict[str, float]:
    """Microseconds per statement, best of five runs of `repeat`, inside the session's transaction."""
    connection = session.connection()
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    by_id = select(_VARIANTS.c.id).where(_VARIANTS.c.id == bindparam("id"))
    select_sql = "SELECT variants.id FROM variants WHERE variants.id = ?"
    now = utcnow()
    status = {"order_id": 1, "status": OrderStatus.RECEIVED, "at": now, "actor": "system", "tracking": ""}
    insert_sql = "INSERT INTO order_status_changes (order_id, status, at, actor, tracking) VALUES (?, ?, ?, ?, ?)"
    converted = (1, "received", now.isoformat(sep=" "), "system", "")  # by hand: what the column types do
    ways: dict[str, Callable[[], Any]] = {
        "SELECT via Session.execute": lambda: session.execute(by_id, {"id": 1}).first(),
        "SELECT via Connection.execute": lambda: connection.execute(by_id, {"id": 1}).first(),
        "SELECT via exec_driver_sql": lambda: connection.exec_driver_sql(select_sql, (1,)).first(),
        "SELECT via DB-API cursor": lambda: cursor.execute(select_sql, (1,)).fetchone(),
        "INSERT via Session.execute": lambda: session.execute(_STATUS, status),
        "INSERT via Connection.execute": lambda: connection.execute(_STATUS, status),
        "INSERT via exec_driver_sql": lambda: connection.exec_driver_sql(insert_sql, converted),
        "INSERT via DB-API cursor": lambda: cursor.execute(insert_sql, converted),
    }
    costs = {}
    for label, run in ways.items():
        best = float("inf")
        for _ in range(5):
            began = time.perf_counter()
            for _ in range(repeat):
                run()
            best = min(best, time.perf_counter() - began)
        costs[label] = best / repeat * 1e6
    return costs


def write_rows(execute: Callable[..., Any], shop: Shop, row: dict[str, Any], key: str) -> None:
    """The rows the baseline writes (and place_order), with the values the models' types take."""
    now = utcnow()
    order_id = execute(_ORDER, {
        "event_id": shop.event_id, "form_version_id": shop.version_id, "reference": row["reference"],
        "idempotency_key": key, "status": OrderStatus.RECEIVED, "answers": {"consent": True}, "created_at": now,
        "lookup_token_hash": row["token_hash"], "submission_hash": None}).inserted_primary_key[0]
    execute(_STATUS, {"order_id": order_id, "status": OrderStatus.RECEIVED, "at": now, "actor": "system",
                      "tracking": ""})
    execute(_PERSONAL, {"order_id": order_id, "answers": row["personal_answers"]})
    execute(_LINES, [{"order_id": order_id, "item_id": line[0], "variant_id": line[1], "item_key": line[2],
                      "item_name": line[3], "variant_key": line[4], "variant_label": line[5], "quantity": line[6],
                      "unit_price": line[7]} for line in row["lines"]])
    execute(_TAKE_CODE, {"code_id": row["code_id"]})
    execute(_REDEMPTION, {"code_id": row["code_id"], "order_id": order_id, "at": now})
    for line in sorted(row["lines"], key=lambda line: line[1]):
        execute(_TAKE_VARIANT, {"row_id": line[1], "quantity": line[6]})
    execute(_TAKE_POOL, {"row_id": shop.pool_id, "quantity": sum(line[6] for line in row["lines"])})
    execute(_OUTBOX, {
        "message_id": f"<{row['reference']}@bench>", "kind": MessageKind.CONFIRMATION,
        "recipients": row["recipients"], "subject": f"Your order {row['reference']}", "body_text": row["mail"],
        "body_html": f"<p>{row['mail']}</p>", "event_id": shop.event_id, "order_id": order_id, "vendor_id": None,
        "attachment_name": None, "attachment": None, "channel": MessageChannel.EMAIL, "purged_at": None,
        "status": MessageStatus.PENDING, "attempts": 0, "next_attempt_at": now, "claimed_until": None,
        "last_error": "", "sent_at": None, "created_at": now})


def run_way(way: str, engine: Any, shop: Shop, rows: list[dict[str, Any]], start: int, stop: int) -> float:
    began = time.perf_counter()
    for n in range(start, stop):
        with unit_of_work(engine) as session:
            if way == "connection":
                write_rows(session.connection().execute, shop, rows[n], f"{way}-{n}")
                continue
            if way in ("event", "statements"):
                event = get_published_event(session, shop.slug)
            if way != "statements":
                write_rows(session.execute, shop, rows[n], f"{way}-{n}")
                continue
            current_form(session, event.id)
            load_catalogue(session, event, images=False)
            find_repeated_submission(session, event.id, rows[n]["token_hash"], utcnow())
            with session.begin_nested():
                write_rows(session.execute, shop, rows[n], f"{way}-{n}")
            template_for(session, event.id, MessageKind.CONFIRMATION)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000, help="orders per way (default 1,000)")
    parser.add_argument("--repeat", type=int, default=3000, help="statements per timing of one way (default 3,000)")
    args = parser.parse_args()
    print_machine()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "floor.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        shops = {way: build_shop(engine, f"floor-{way}", args.orders) for way in ("raw", *WAYS)}
        answers = make_answers(args.orders)
        prepared = {way: prepare_raw(shop, answers) for way, shop in shops.items()}
        for rows in prepared.values():
            for row, given in zip(rows, answers, strict=True):
                row["personal_answers"] = {"name": given["name"], "email": given["email"]}
                row["recipients"] = [given["email"]]
        with unit_of_work(engine) as session:
            # The status INSERTs name an order that does not exist; checked at commit, and this rolls back.
            session.connection().exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            costs = statement_costs(session, args.repeat)
            session.rollback()
        seconds = dict.fromkeys(shops, 0.0)
        for start in range(0, args.orders, BLOCK):
            stop = min(start + BLOCK, args.orders)
            seconds["raw"] += run_raw(path, shops["raw"], prepared["raw"], start, stop)
            for way in WAYS:
                seconds[way] += run_way(way, engine, shops[way], prepared[way], start, stop)
        engine.dispose()
    print("Per statement, in one transaction (SQLite):")
    for label, micro in costs.items():
        print(f"  {label:<34} {micro:6.1f} µs")
    print(f"Per order, {args.orders} orders each, one transaction per order:")
    print(f"{'way':<56} {'ms/order':>8} {'x raw':>6}")
    for way, label in (("raw", "baseline: raw sqlite3, values prepared beforehand"), *WAYS.items()):
        print(f"{label:<56} {seconds[way] / args.orders * 1e3:>8.3f} {seconds['raw'] / seconds[way]:>6.2f}")
    report([BenchResult(f"place_order's statements alone through SQLAlchemy ({way})", args.orders / seconds[way],
                        "orders/s", baseline=args.orders / seconds["raw"]) for way in ("session", "statements")])


if __name__ == "__main__":
    main()
