"""How fast the organiser's orders page is on 100k orders, against a raw sqlite3 query on the same file.

Run from the project root: `.venv/bin/python -m bench.bench_orders_page` (`--help` for options). Builds a
SQLite file with bulk inserts (not place_order), then times search_orders without a filter, with a status
filter and with a text search, the first render of pages/order_list.py through AppTest, and a baseline
(`SELECT ... ORDER BY created_at DESC LIMIT 50` plus a COUNT with sqlite3) in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/bench_orders_page.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, func, insert, select  # noqa: E402

from core.auth import Actor  # noqa: E402
from core.catalogue import add_item  # noqa: E402
from core.db import make_engine, migrate, read_only, unit_of_work  # noqa: E402
from core.demo import DEMO_FORM  # noqa: E402
from core.events import create_event  # noqa: E402
from core.form_versions import save_form  # noqa: E402
from core.models import (  # noqa: E402
    Item,
    Order,
    OrderLine,
    OrderPersonalData,
    OrderStatus,
    User,
    UserRole,
    Variant,
    utcnow,
)
from core.orders import REFERENCE_ALPHABET, REFERENCE_LENGTH, OrderFilters, search_orders  # noqa: E402
from core.users import actor_for, create_user  # noqa: E402

GOAL_SECONDS = 1.5
PAGE_SIZE = 50
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Katherine", "Linus",
               "Margaret", "Niklaus", "Radia", "Tim", "Zoë", "Ken", "Dennis", "Hedy", "Annie", "Claude"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Johnson",
              "Torvalds", "Hamilton", "Wirth", "Perlman", "Berners-Lee", "Brontë", "Thompson", "Ritchie", "Lamarr",
              "Easley", "Shannon"]
# Most orders wait or are on their way; few are cancelled, as at a real event.
STATUS_WEIGHTS = {OrderStatus.RECEIVED: 30, OrderStatus.SENT_TO_VENDOR: 20, OrderStatus.IN_PRODUCTION: 15,
                  OrderStatus.SHIPPED: 15, OrderStatus.DELIVERED: 17, OrderStatus.CANCELLED: 3}
TEXT_SEARCH = "hopper"


@dataclass(frozen=True)
class Timing:
    name: str
    seconds: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000, help="orders to create (default 100000)")
    parser.add_argument("--db", type=Path, help="keep the SQLite file here; reused if it already has orders")
    parser.add_argument("--repeat", type=int, default=5, help="runs per query timing; the median is shown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = args.db or Path(scratch) / "bench-orders.db"
        run(path, args.orders, args.repeat)


def run(path: Path, orders: int, repeat: int) -> None:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate(engine)
    with read_only(engine) as session:
        existing = session.scalar(select(func.count()).select_from(Order)) or 0
    if existing:
        print(f"Reusing {path} with {existing} orders.")
        with read_only(engine) as session:
            admin = actor_for(session.scalars(select(User).where(User.username == "bench-admin")).one())
            event_id = session.scalar(select(Order.event_id).limit(1))
    else:
        started = time.perf_counter()
        event_id, admin = build(engine, orders)
        print(f"Built {path} with {orders} orders in {time.perf_counter() - started:.1f} s.")
    assert event_id is not None
    print_machine()

    baseline = Timing("baseline: sqlite3 SELECT ... LIMIT 50 + COUNT", median(lambda: raw_baseline(path), repeat))
    timings = [
        Timing("(a) search_orders, no filter", median(lambda: search(engine, admin, event_id, OrderFilters()), repeat)),
        Timing("(b) search_orders, status filter", median(lambda: search(engine, admin, event_id, OrderFilters(
            statuses=frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED}))), repeat)),
        Timing(f"(c) search_orders, text search '{TEXT_SEARCH}'",
               median(lambda: search(engine, admin, event_id, OrderFilters(text=TEXT_SEARCH)), repeat)),
    ]
    engine.dispose()
    first, again = render_page(url, admin)
    timings += [Timing("(d) first render of pages/order_list.py (AppTest)", first),
                Timing("    second render, same session (warm)", again)]

    width = max(len(t.name) for t in [baseline, *timings])
    print(f"\n{'what'.ljust(width)}  {'seconds':>9}  {'x baseline':>10}")
    for timing in [baseline, *timings]:
        print(f"{timing.name.ljust(width)}  {timing.seconds:9.4f}  {timing.seconds / baseline.seconds:10.1f}")
    verdict = "yes" if first <= GOAL_SECONDS else "NO"
    print(f"\nFirst render <= {GOAL_SECONDS} s (the goal): {verdict} ({first:.2f} s)")


def build(engine: Engine, count: int, seed: int = 2027) -> tuple[int, Actor]:
    """An event like the demo with `count` orders (~1.5 lines each) and their personal data, in one transaction."""
    with unit_of_work(engine) as session:
        event = create_event(session, slug="bench", title="Benchmark Meetup", published=True,
                             timezone="Europe/London")
        add_item(session, event, key="tshirt", name="T-shirt", price=Decimal("15.00"), max_per_order=5,
                 dimensions=[{"name": "type", "label": "Type", "options": ["Fitted", "Straight"]},
                             {"name": "size", "label": "Size", "options": ["S", "M", "L", "XL"]},
                             {"name": "colour", "label": "Colour", "options": ["Black", "Forest green"]}])
        add_item(session, event, key="hoodie", name="Hoodie", price=Decimal("35.00"), max_per_order=2,
                 dimensions=[{"name": "size", "label": "Size", "options": ["S", "M", "L", "XL"]}])
        add_item(session, event, key="breakfast", name="Breakfast box", price=Decimal("9.50"), max_per_order=4)
        version, _ = save_form(session, event, DEMO_FORM)
        admin = create_user(session, None, username="bench-admin", display_name="Bench", role=UserRole.ADMIN,
                            password="a-long-password-123")
        session.flush()
        event_id, version_id, actor = event.id, version.id, actor_for(admin)
    with read_only(engine) as session:
        variants = [(item.id, item.key, item.name, item.price, [d["name"] for d in item.dimensions], variant.id,
                     variant.key, variant.options)
                    for item, variant in session.execute(
                        select(Item, Variant).join(Variant, Variant.item_id == Item.id)
                        .where(Item.event_id == event_id).order_by(Variant.id))]
    rng = random.Random(seed)
    statuses, weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    start = utcnow() - timedelta(days=60)
    references: set[str] = set()
    orders: list[dict[str, Any]] = []
    personal: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for order_id in range(1, count + 1):
        reference = _reference(rng, references)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        orders.append({"id": order_id, "event_id": event_id, "form_version_id": version_id, "reference": reference,
                       "idempotency_key": f"bench-{order_id}", "status": rng.choices(statuses, weights)[0],
                       "answers": {"consent": True},
                       "created_at": start + timedelta(seconds=rng.uniform(0, 60 * 86400))})
        personal.append({"order_id": order_id, "answers": {
            "name": f"{first} {last}", "email": f"{first}.{last}{order_id}@example.org".lower()}})
        for chosen in rng.sample(variants, 1 if rng.random() < 0.5 else 2):
            item_id, item_key, item_name, price, dimension_names, variant_id, variant_key, options = chosen
            lines.append({"order_id": order_id, "item_id": item_id, "variant_id": variant_id, "item_key": item_key,
                          "item_name": item_name, "variant_key": variant_key,
                          "variant_label": ", ".join(options[d] for d in dimension_names),
                          "quantity": rng.randint(1, 3), "unit_price": price})
    # One transaction of three executemany inserts: the fast way to fill SQLite.
    with engine.begin() as connection:
        connection.execute(insert(Order.__table__), orders)
        connection.execute(insert(OrderPersonalData.__table__), personal)
        connection.execute(insert(OrderLine.__table__), lines)
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
    return event_id, actor


def _reference(rng: random.Random, taken: set[str]) -> str:
    while True:
        reference = "".join(rng.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
        if reference not in taken:
            taken.add(reference)
            return reference


def search(engine: Engine, actor: Actor, event_id: int, filters: OrderFilters) -> None:
    with read_only(engine) as session:
        page = search_orders(session, actor, event_id, filters, page=1, page_size=PAGE_SIZE)
    assert len(page.rows) == min(PAGE_SIZE, page.total)


def raw_baseline(path: Path) -> None:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT id, reference, created_at, status FROM orders "
                                  "ORDER BY created_at DESC LIMIT 50").fetchall()
        (total,) = connection.execute("SELECT COUNT(*) FROM orders").fetchone()
    finally:
        connection.close()
    assert len(rows) == min(50, total)


def render_page(url: str, actor: Actor) -> tuple[float, float]:
    """Seconds for the first AppTest run of the orders page in this process, and for a rerun."""
    import streamlit.logger
    from streamlit.testing.v1 import AppTest

    streamlit.logger.set_log_level("error")  # AppTest outside a server logs a harmless warning per element
    os.environ["DATABASE_URL"] = url
    at = AppTest.from_string("from pages import order_list\norder_list.render()", default_timeout=120)
    at.session_state["auth.actor"] = actor
    at.session_state["auth.issued_at"] = utcnow()
    started = time.perf_counter()
    at.run()
    first = time.perf_counter() - started
    if at.exception or len(at.dataframe) != 1 or len(at.dataframe[0].value) != PAGE_SIZE:
        raise RuntimeError(f"the orders page did not render its table: {at.exception}")
    started = time.perf_counter()
    at.run()
    return first, time.perf_counter() - started


def median(work: Callable[[], None], repeat: int) -> float:
    work()  # warm the OS cache and SQLAlchemy's statement cache; the page's own first run is timed apart
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def print_machine() -> None:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"Machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}; "
          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


if __name__ == "__main__":
    main()
