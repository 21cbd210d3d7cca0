"""How fast and lean the XLSX export is on 100k line items, against raw pandas to_excel of the same frame.

Run from the project root: `.venv/bin/python -m bench.bench_exports` (`--help` for options). Builds a SQLite
file with bulk inserts (50k orders of two lines each, personal data, a batch vendor of every item), builds the
"Line items" frame that core.exports.export_orders serialises, and writes it (a) with
`DataFrame.to_excel(engine="xlsxwriter")`, the baseline, and (b) with core.exports.write_xlsx, which
export_orders uses. Then, for scale, (c) the frames alone (SQL and pandas), (d) export_orders to XLSX end to
end (three sheets), (e) to CSV, and (f) send_batch's first full list (rolled back). Each measurement runs in a
fresh subprocess, so that its peak resident memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/bench_exports.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, func, insert, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from core.auth import Actor  # noqa: E402
from core.catalogue import add_item  # noqa: E402
from core.db import make_engine, migrate, read_only, unit_of_work  # noqa: E402
from core.demo import DEMO_FORM  # noqa: E402
from core.events import create_event  # noqa: E402
from core.exports import ExportFilters, export_orders, order_sheets, send_batch, write_xlsx  # noqa: E402
from core.form_versions import save_form  # noqa: E402
from core.models import (  # noqa: E402
    Item,
    Order,
    OrderLine,
    OrderPersonalData,
    OrderStatus,
    OutboxMessage,
    User,
    UserRole,
    Variant,
    Vendor,
    VendorMode,
    utcnow,
)
from core.orders import REFERENCE_ALPHABET, REFERENCE_LENGTH  # noqa: E402
from core.users import actor_for, create_user  # noqa: E402

GOAL_RATIO = 1.2
GOAL_PEAK_MB = 500
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Katherine", "Linus",
               "Margaret", "Niklaus", "Radia", "Tim", "Zoë", "Ken", "Dennis", "Hedy", "Annie", "Claude"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Johnson",
              "Torvalds", "Hamilton", "Wirth", "Perlman", "Berners-Lee", "Brontë", "Thompson", "Ritchie", "Lamarr",
              "Easley", "Shannon"]
STATUS_WEIGHTS = {OrderStatus.RECEIVED: 30, OrderStatus.SENT_TO_VENDOR: 20, OrderStatus.IN_PRODUCTION: 15,
                  OrderStatus.SHIPPED: 15, OrderStatus.DELIVERED: 17, OrderStatus.CANCELLED: 3}
# A few notes that a spreadsheet would read as formulas, so that neutralising is part of the work measured.
NOTES = ["", "", "", "", "Please knock twice", "=HYPERLINK(\"http://evil.example\")", "-no onions", "@reception"]
LINES_PER_ORDER = 2
MODES = {
    "pandas": "baseline: DataFrame.to_excel(engine=\"xlsxwriter\")",
    "ours": "(b) core.exports.write_xlsx, same frame",
    "frames": "(c) order_sheets: SQL and frames only",
    "export": "(d) export_orders, XLSX, three sheets",
    "csv": "(e) export_orders, CSV of the line items",
    "batch": "(f) send_batch, first full list",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000, help="line items to create (default 100000)")
    parser.add_argument("--db", type=Path, help="keep the SQLite file here; reused if it already has orders")
    parser.add_argument("--repeat", type=int, default=3, help="subprocess runs per measurement; the median is shown")
    parser.add_argument("--child", choices=sorted(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.db, args.child)
        return
    with tempfile.TemporaryDirectory() as scratch:
        run(args.db or Path(scratch) / "bench-exports.db", args.lines, args.repeat)


def run(path: Path, lines: int, repeat: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with read_only(engine) as session:
        existing = session.scalar(select(func.count()).select_from(OrderLine)) or 0
    if existing:
        print(f"Reusing {path} with {existing:,} line items.")
    else:
        started = time.perf_counter()
        build(engine, lines)
        with read_only(engine) as session:
            existing = session.scalar(select(func.count()).select_from(OrderLine)) or 0
        print(f"Built {path} with {existing:,} line items in {time.perf_counter() - started:.1f} s.")
    engine.dispose()
    print_machine()
    results = {mode: measure(path, mode, repeat) for mode in MODES}
    baseline = results["pandas"]["seconds"]
    width = max(len(name) for name in MODES.values())
    print(f"\n{'what'.ljust(width)}  {'seconds':>8}  {'x baseline':>10}  {'peak MB':>8}  {'MB at start':>11}  "
          f"{'file MB':>7}")
    for mode, name in MODES.items():
        result = results[mode]
        print(f"{name.ljust(width)}  {result['seconds']:8.2f}  {result['seconds'] / baseline:10.2f}  "
              f"{result['peak_mb']:8.0f}  {result['start_mb']:11.0f}  {result['bytes'] / 1e6:7.1f}")
    ratio = results["ours"]["seconds"] / baseline
    peak = max(results[mode]["peak_mb"] for mode in ("ours", "export", "batch"))
    print(f"\nwrite_xlsx <= {GOAL_RATIO}x the baseline (the goal): {'yes' if ratio <= GOAL_RATIO else 'NO'} "
          f"({ratio:.2f}x)")
    print(f"Peak memory <= {GOAL_PEAK_MB} MB (the goal; largest of (b), (d), (f)): "
          f"{'yes' if peak <= GOAL_PEAK_MB else 'NO'} ({peak:.0f} MB)")


def measure(path: Path, mode: str, repeat: int) -> dict[str, float]:
    """The median seconds and the largest peak memory of `repeat` fresh processes doing `mode`."""
    samples = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-m", "bench.bench_exports", "--child", mode, "--db", str(path)],
                              capture_output=True, text=True, check=False,
                              cwd=Path(__file__).resolve().parent.parent)
        if done.returncode != 0:
            raise RuntimeError(f"{mode} failed:\n{done.stderr}")
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {"seconds": statistics.median(s["seconds"] for s in samples),
            "peak_mb": max(s["peak_mb"] for s in samples), "start_mb": max(s["start_mb"] for s in samples),
            "bytes": samples[-1]["bytes"]}


def child(path: Path, mode: str) -> None:
    """One measurement in this fresh process; prints seconds, memory and the output size as JSON."""
    engine = make_engine(f"sqlite:///{path}")
    with read_only(engine) as session:
        admin = actor_for(session.scalars(select(User).where(User.username == "bench-admin")).one())
        event_id = session.scalars(select(Order.event_id).limit(1)).one()
        vendor_id = session.scalars(select(Vendor.id).limit(1)).one()
        frame = order_sheets(session, admin, event_id, ExportFilters())["Line items"] \
            if mode in ("pandas", "ours") else None
    work: Callable[[], bytes] = {
        "pandas": lambda: to_excel(frame),
        "ours": lambda: write_xlsx({"Line items": frame}),
        "frames": lambda: in_rolled_back(engine, lambda s: str(
            {k: len(v) for k, v in order_sheets(s, admin, event_id, ExportFilters()).items()}).encode()),
        "export": lambda: in_rolled_back(engine, lambda s: export_orders(s, admin, event_id, ExportFilters(),
                                                                         "xlsx").data),
        "csv": lambda: in_rolled_back(engine, lambda s: export_orders(s, admin, event_id, ExportFilters(),
                                                                      "csv").data),
        "batch": lambda: in_rolled_back(engine, lambda s: batch_attachment(s, admin, event_id, vendor_id)),
    }[mode]
    start_mb = resident_mb()
    started = time.perf_counter()
    data = work()
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "start_mb": start_mb, "bytes": len(data)}))


def to_excel(frame: Any) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, engine="xlsxwriter", index=False, sheet_name="Line items")
    return buffer.getvalue()


def in_rolled_back(engine: Engine, work: Callable[[Session], bytes]) -> bytes:
    """Run `work` in a write transaction that is rolled back, so the file stays as built (no audit, no mail)."""
    with Session(engine) as session:
        try:
            return work(session)
        finally:
            session.rollback()


def batch_attachment(session: Session, actor: Actor, event_id: int, vendor_id: int) -> bytes:
    result = send_batch(session, actor, event_id, vendor_id, utcnow())
    message = session.get_one(OutboxMessage, result.message_id)
    assert message.attachment is not None
    return message.attachment


def resident_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def build(engine: Engine, lines: int, seed: int = 2027) -> None:
    """An event like the demo with `lines` line items, two per order, and a batch vendor of every item."""
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
        create_user(session, None, username="bench-admin", display_name="Bench", role=UserRole.ADMIN,
                    password="a-long-password-123")
        vendor = Vendor(name="Bench Batch", mode=VendorMode.BATCH, emails=["batch@vendor.example"],
                        visible_fields=["name", "phone", "delivery", "dietary"])
        session.add(vendor)
        session.flush()
        for item in event.items:
            item.vendor_id = vendor.id
        event_id, version_id = event.id, version.id
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
    order_lines: list[dict[str, Any]] = []
    for order_id in range(1, lines // LINES_PER_ORDER + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        chosen = rng.sample(variants, LINES_PER_ORDER)
        breakfast = any(c[1] == "breakfast" for c in chosen)
        orders.append({"id": order_id, "event_id": event_id, "form_version_id": version_id,
                       "reference": _reference(rng, references), "idempotency_key": f"bench-{order_id}",
                       "status": rng.choices(statuses, weights)[0],
                       "answers": {"consent": True, **({"dietary": "Vegetarian"} if breakfast else {})},
                       "created_at": start + timedelta(seconds=rng.uniform(0, 60 * 86400))})
        answers: dict[str, Any] = {"name": f"{first} {last}",
                                   "email": f"{first}.{last}{order_id}@example.org".lower()}
        if breakfast:
            answers |= {"phone": f"+4479{rng.randrange(10**8):08d}",
                        "delivery": {"street": f"{rng.randint(1, 200)} High Street", "city": "London",
                                     "postcode": "N1 1AA", "country": "United Kingdom"}}
        if note := rng.choice(NOTES):
            answers["notes"] = note
        personal.append({"order_id": order_id, "answers": answers})
        for item_id, item_key, item_name, price, dimension_names, variant_id, variant_key, options in chosen:
            order_lines.append({"order_id": order_id, "item_id": item_id, "variant_id": variant_id,
                                "item_key": item_key, "item_name": item_name, "variant_key": variant_key,
                                "variant_label": ", ".join(options[d] for d in dimension_names),
                                "quantity": rng.randint(1, 3), "unit_price": price})
    with engine.begin() as connection:
        connection.execute(insert(Order.__table__), orders)
        connection.execute(insert(OrderPersonalData.__table__), personal)
        connection.execute(insert(OrderLine.__table__), order_lines)
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")


def _reference(rng: random.Random, taken: set[str]) -> str:
    while True:
        reference = "".join(rng.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
        if reference not in taken:
            taken.add(reference)
            return reference


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
