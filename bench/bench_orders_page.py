"""How fast the organiser's orders page is on 100k orders, against a raw sqlite3 query on the same file.

Run from the project root: `.venv/bin/python -m bench.bench_orders_page` (`--help` for options). Builds a
SQLite file with bulk inserts (not place_order), then times search_orders without a filter, with a status
filter and with a text search, the first render of pages/orders_page.py through AppTest, and a baseline
(`SELECT ... ORDER BY created_at DESC LIMIT 50` plus a COUNT with sqlite3) in the same run.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as `python bench/bench_orders_page.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, func, select  # noqa: E402

from bench.dataset import ADMIN, build_event, print_machine  # noqa: E402
from bench.results import BenchResult, report  # noqa: E402
from core.auth import Actor  # noqa: E402
from core.db import make_engine, migrate, read_only  # noqa: E402
from core.models import (  # noqa: E402
    Order,
    OrderStatus,
    User,
    utcnow,
)
from core.order_admin import OrderFilters, search_orders  # noqa: E402
from core.users import actor_for  # noqa: E402

GOAL_SECONDS = 1.5
PAGE_SIZE = 50
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
        report(run(path, args.orders, args.repeat))


def run(path: Path, orders: int, repeat: int) -> list[BenchResult]:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate(engine)
    with read_only(engine) as session:
        existing = session.scalar(select(func.count()).select_from(Order)) or 0
    if existing:
        print(f"Reusing {path} with {existing} orders.")
        with read_only(engine) as session:
            admin = actor_for(session.scalars(select(User).where(User.username == ADMIN)).one())
            event_id = session.scalar(select(Order.event_id).limit(1))
    else:
        started = time.perf_counter()
        event_id, admin = build_event(engine, orders)
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
    timings += [Timing("(d) first render of pages/orders_page.py (AppTest)", first),
                Timing("    second render, same session (warm)", again)]

    width = max(len(t.name) for t in [baseline, *timings])
    print(f"\n{'what'.ljust(width)}  {'seconds':>9}  {'x baseline':>10}")
    for timing in [baseline, *timings]:
        print(f"{timing.name.ljust(width)}  {timing.seconds:9.4f}  {timing.seconds / baseline.seconds:10.1f}")
    verdict = "yes" if first <= GOAL_SECONDS else "NO"
    print(f"\nFirst render <= {GOAL_SECONDS} s (the goal): {verdict} ({first:.2f} s)")
    return [BenchResult(f"orders page first render, {orders:,} orders", first, "s", baseline=baseline.seconds,
                        goal=GOAL_SECONDS)]


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
    at = AppTest.from_string("from pages import orders_page\norders_page.render()", default_timeout=120)
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


if __name__ == "__main__":
    main()
