"""Orders per second through place_order with stock and a code per order, against raw sqlite3 in the same run.

Run from the project root: `.venv/bin/python -m bench.bench_place_order` (`--help` for options). In one
temporary SQLite file, with the pragmas core.db sets (WAL, synchronous=FULL, ...) for both ways, it builds two
copies of the demo event, each with stock on every variant, a pool shared by t-shirts and hoodies, the code mode
FORM and one single-use code per order, and writes the same orders, interleaved in blocks:
- baseline: raw `sqlite3`, one transaction per order (BEGIN IMMEDIATE … COMMIT) with exactly the rows
  place_order writes: the order, its first status, its personal data, its lines, the confirmation in the outbox,
  the code's use and its redemption, and the conditional stock updates of variants and pool; every value
  (reference, lookup hash, mail text) is prepared before the clock starts;
(a) `core.orders.place_order`, one unit of work per order as the public page runs it (loading the event,
    validating the answers against the stored form, the code's HMAC, rendering the confirmation mail);
(b) the same on a copy of the event without stock, pool or codes: what stock and codes add to (a).
Goals: (a) at least 0.5x the baseline's rate and at least 1,000 orders/s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/bench_place_order.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, insert, select  # noqa: E402

import core.db  # noqa: E402
from bench.dataset import print_machine  # noqa: E402
from bench.results import BenchResult, report  # noqa: E402
from core.catalogue_admin import add_item  # noqa: E402
from core.codes import code_hash  # noqa: E402
from core.db import _configure_sqlite_connection, make_engine, migrate, unit_of_work  # noqa: E402
from core.demo import DEMO_FORM  # noqa: E402
from core.event_admin import create_event  # noqa: E402
from core.events import get_published_event  # noqa: E402
from core.form_versions import save_form  # noqa: E402
from core.models import CodeMode, Item, RedemptionCode, StockPool, Variant, utcnow  # noqa: E402
from core.orders import new_reference, place_order  # noqa: E402

GOAL_RATIO = 0.5
GOAL_RATE = 1000
CODE_KEY = b"bench-code-key-0123456789abcdef-0123456789"
BLOCK = 250  # orders per timed block; blocks of the two ways alternate so machine load hits both alike


@dataclass(frozen=True)
class Shop:
    event_id: int
    slug: str
    version_id: int
    variants: dict[tuple[str, str], tuple[int, int]]  # (item key, variant key) -> (item id, variant id)
    pool_id: int
    codes: list[tuple[str, int]]  # (code as typed, its id)


def build_shop(engine: Engine, slug: str, orders: int, *, limited: bool = True) -> Shop:
    """A demo-like event with stock for every order, a shared pool and one single-use code per order.

    `limited=False`: the same event without stock, pool or codes.
    """
    with unit_of_work(engine) as session:
        event = create_event(session, slug=slug, title="Benchmark Meetup", published=True, timezone="Europe/London",
                             code_mode=CodeMode.FORM if limited else CodeMode.NONE)
        add_item(session, event, key="tshirt", name="T-shirt", price=Decimal("15.00"), max_per_order=5,
                 dimensions=[{"name": "type", "label": "Type", "options": ["Fitted", "Straight"]},
                             {"name": "size", "label": "Size", "options": ["S", "M", "L", "XL"]},
                             {"name": "colour", "label": "Colour", "options": ["Black", "Forest green"]}])
        add_item(session, event, key="hoodie", name="Hoodie", price=Decimal("35.00"), max_per_order=2,
                 dimensions=[{"name": "size", "label": "Size", "options": ["S", "M", "L", "XL"]}])
        add_item(session, event, key="breakfast", name="Breakfast box", price=Decimal("9.50"), max_per_order=4)
        version, _ = save_form(session, event, DEMO_FORM)
        session.flush()
        pool = StockPool(event_id=event.id, name="Tops", capacity=orders * 10, sold=0)
        session.add(pool)
        session.flush()
        variants = {}
        for item in session.scalars(select(Item).where(Item.event_id == event.id)):
            item.pool_id = pool.id if item.key != "breakfast" and limited else None
            for variant in item.variants:
                variant.stock = orders * 5 if limited else None
                variants[(item.key, variant.key)] = (item.id, variant.id)
        typed = [f"BENCH-{n:06d}" for n in range(orders)]
        session.execute(insert(RedemptionCode), [
            {"event_id": event.id, "code_hash": code_hash(code, CODE_KEY), "hint": code[:8], "max_uses": 1,
             "uses": 0, "item_keys": []} for code in typed])
        ids = dict(session.execute(select(RedemptionCode.code_hash, RedemptionCode.id)
                                   .where(RedemptionCode.event_id == event.id)).all())
        return Shop(event.id, slug, version.id, variants, pool.id,
                    [(code, ids[code_hash(code, CODE_KEY)]) for code in typed])


def make_answers(orders: int, seed: int = 2027) -> list[dict[str, Any]]:
    """Valid answers to the demo form: a t-shirt or a hoodie, sometimes both; no breakfast (no address)."""
    rng = random.Random(seed)
    result = []
    for n in range(orders):
        items = [{"item": "tshirt", "quantity": rng.randint(1, 3),
                  "options": {"type": rng.choice(["Fitted", "Straight"]), "size": rng.choice(["S", "M", "L", "XL"]),
                              "colour": rng.choice(["Black", "Forest green"])}}]
        if rng.random() < 0.4:
            items.append({"item": "hoodie", "quantity": 1, "options": {"size": rng.choice(["S", "M", "L"])}})
        result.append({"name": f"Attendee {n}", "email": f"attendee{n}@example.org", "phone": "", "items": items,
                       "notes": "", "consent": True})
    return result


def run_place_order(engine: Engine, shop: Shop, answers: list[dict[str, Any]], start: int, stop: int,
                    *, with_code: bool = True) -> float:
    began = time.perf_counter()
    for n in range(start, stop):
        with unit_of_work(engine) as session:  # as pages/order_page.py submits: the event by its address
            place_order(session, get_published_event(session, shop.slug), answers[n], idempotency_key=f"bench-{n}",
                        code=shop.codes[n][0] if with_code else "", code_key=CODE_KEY)
    return time.perf_counter() - began


def prepare_raw(shop: Shop, answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every value the raw inserts need, computed before timing (what place_order computes while it runs)."""
    prepared = []
    for n, given in enumerate(answers):
        reference = new_reference()
        lines = []
        for entry in given["items"]:
            options = entry["options"]
            key = "/".join(options[d] for d in (["type", "size", "colour"] if entry["item"] == "tshirt" else ["size"]))
            item_id, variant_id = shop.variants[(entry["item"], key)]
            lines.append((item_id, variant_id, entry["item"], entry["item"].title(), key, ", ".join(options.values()),
                          entry["quantity"], "15.00" if entry["item"] == "tshirt" else "35.00"))
        prepared.append({
            "reference": reference, "key": f"raw-{n}",
            "token_hash": hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
            "answers": json.dumps({"consent": True}),
            "personal": json.dumps({"name": given["name"], "email": given["email"]}),
            "lines": lines, "code_id": shop.codes[n][1],
            "mail": f"Hello {given['name']}, thank you for your order {reference}. " * 8,
            "email": json.dumps([given["email"]]),
        })
    return prepared


def run_raw(path: Path, shop: Shop, prepared: list[dict[str, Any]], start: int, stop: int) -> float:
    connection = sqlite3.connect(path)
    # Exactly the pragmas the app's connections get (WAL, synchronous, secure_delete, ...), so both ways pay the same.
    _configure_sqlite_connection(connection, None)
    began = time.perf_counter()
    for row in prepared[start:stop]:
        now = utcnow().isoformat(sep=" ")
        cursor = connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(
            "INSERT INTO orders (event_id, form_version_id, reference, idempotency_key, status, answers, created_at,"
            " lookup_token_hash) VALUES (?, ?, ?, ?, 'received', ?, ?, ?)",
            (shop.event_id, shop.version_id, row["reference"], row["key"], row["answers"], now, row["token_hash"]))
        order_id = cursor.lastrowid
        cursor.execute("INSERT INTO order_status_changes (order_id, status, at, actor) VALUES (?, 'received', ?, "
                       "'system')", (order_id, now))
        cursor.execute("INSERT INTO order_personal_data (order_id, answers) VALUES (?, ?)", (order_id, row["personal"]))
        cursor.executemany(
            "INSERT INTO order_lines (order_id, item_id, variant_id, item_key, item_name, variant_key, variant_label,"
            " quantity, unit_price) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(order_id, *line) for line in row["lines"]])
        cursor.execute("UPDATE redemption_codes SET uses = uses + 1 WHERE id = ? AND uses < max_uses",
                       (row["code_id"],))
        cursor.execute("INSERT INTO code_redemptions (code_id, order_id, at) VALUES (?, ?, ?)",
                       (row["code_id"], order_id, now))
        for _, variant_id, *_rest, quantity, _price in sorted(row["lines"], key=lambda line: line[1]):
            cursor.execute("UPDATE variants SET sold = sold + ? WHERE id = ? AND (stock IS NULL OR sold + ? <= stock)",
                           (quantity, variant_id, quantity))
        total = sum(line[6] for line in row["lines"])
        cursor.execute("UPDATE stock_pools SET sold = sold + ? WHERE id = ? AND sold + ? <= capacity",
                       (total, shop.pool_id, total))
        cursor.execute(
            "INSERT INTO outbox (message_id, kind, event_id, order_id, recipients, subject, body_text, body_html,"
            " channel, status, attempts, next_attempt_at, last_error, created_at) VALUES (?, 'confirmation', ?, ?,"
            " ?, ?, ?, ?, 'email', 'pending', 0, ?, '', ?)",
            (f"<{row['reference']}@bench>", shop.event_id, order_id, row["email"], f"Your order {row['reference']}",
             row["mail"], f"<p>{row['mail']}</p>", now, now))
        cursor.execute("COMMIT")
    elapsed = time.perf_counter() - began
    connection.close()
    return elapsed


def check(engine: Engine, shop: Shop, orders: int) -> None:
    """Both ways wrote every order and took exactly their stock: the pool equals the variants' units."""
    with unit_of_work(engine) as session:
        sold = sum(session.scalars(select(Variant.sold).join(Item).where(Item.event_id == shop.event_id,
                                                                          Item.pool_id == shop.pool_id)))
        pool = session.get_one(StockPool, shop.pool_id)
        used = sum(session.scalars(select(RedemptionCode.uses).where(RedemptionCode.event_id == shop.event_id)))
    assert pool.sold == sold and used == orders, (pool.sold, sold, used)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000, help="orders per way (default 2,000)")
    parser.add_argument("--db", type=Path, help="SQLite file to create (default: a temporary one)")
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default=core.db.SQLITE_SYNCHRONOUS,
                        help=f"SQLite's synchronous pragma for both ways (default: the app's, "
                             f"{core.db.SQLITE_SYNCHRONOUS}); NORMAL shows what durability costs")
    parser.add_argument("--profile", choices=["cumulative", "tottime"],
                        help="profile place_order (cProfile) instead, sorted by this")
    args = parser.parse_args()
    core.db.SQLITE_SYNCHRONOUS = args.synchronous  # read when a connection opens, by the engine and run_raw alike
    with tempfile.TemporaryDirectory() as folder:
        path = args.db or Path(folder) / "bench.db"
        if path.exists():
            sys.exit(f"{path} exists; give a new file")
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        ours, raw = build_shop(engine, "bench", args.orders), build_shop(engine, "bench-raw", args.orders)
        unlimited = build_shop(engine, "bench-unlimited", args.orders, limited=False)
        answers = make_answers(args.orders)
        prepared = prepare_raw(raw, answers)
        if args.profile:
            import cProfile
            import pstats

            with cProfile.Profile() as profile:
                run_place_order(engine, ours, answers, 0, args.orders)
            pstats.Stats(profile).sort_stats(args.profile).print_stats(45)
            return
        print_machine()
        seconds = {"raw": 0.0, "place_order": 0.0, "unlimited": 0.0}
        for start in range(0, args.orders, BLOCK):
            stop = min(start + BLOCK, args.orders)
            seconds["raw"] += run_raw(path, raw, prepared, start, stop)
            seconds["place_order"] += run_place_order(engine, ours, answers, start, stop)
            seconds["unlimited"] += run_place_order(engine, unlimited, answers, start, stop, with_code=False)
        check(engine, ours, args.orders)
        check(engine, raw, args.orders)
        engine.dispose()
    rate = {way: args.orders / spent for way, spent in seconds.items()}
    print(f"{args.orders} orders each (stock, a pool and a single-use code per order), SQLite WAL, "
          f"synchronous={args.synchronous}, one transaction per order:")
    print(f"{'way':<48} {'seconds':>8} {'orders/s':>9} {'x raw':>6}")
    for way, label in (("raw", "baseline: raw sqlite3, values prepared beforehand"),
                       ("place_order", "(a) core.orders.place_order"),
                       ("unlimited", "(b) the same without stock, pool or code")):
        print(f"{label:<48} {seconds[way]:>8.3f} {rate[way]:>9,.0f} {rate[way] / rate['raw']:>6.2f}")
    ratio = rate["place_order"] / rate["raw"]
    print(f"Goals: >= {GOAL_RATIO}x raw: {'met' if ratio >= GOAL_RATIO else 'NOT met'} ({ratio:.2f}); "
          f">= {GOAL_RATE:,} orders/s: {'met' if rate['place_order'] >= GOAL_RATE else 'NOT met'} "
          f"({rate['place_order']:,.0f})")
    report([BenchResult(f"place_order rate vs raw sqlite3, {args.orders:,} orders", rate["place_order"], "orders/s",
                        baseline=rate["raw"], goal=GOAL_RATIO, direction="at_least", goal_on_ratio=True),
            BenchResult("place_order rate", rate["place_order"], "orders/s", goal=GOAL_RATE, direction="at_least")])


if __name__ == "__main__":
    main()
