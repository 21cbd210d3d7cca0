"""How fast and lean the XLSX export is on 100k line items, against raw pandas to_excel of the same frame.

Run from the project root: `.venv/bin/python -m bench.bench_exports` (`--help` for options). Builds a SQLite
file with bulk inserts (50k orders of two lines each, personal data, a batch vendor of every item), builds the
"Line items" frame that core.exports.export_orders serialises, and writes it (a) with
`DataFrame.to_excel(engine="xlsxwriter")`, the baseline, and (b) with core.spreadsheets.write_xlsx, which
export_orders uses. Then, for scale, (c) the frames alone (SQL and pandas), (d) export_orders to XLSX end to
end (three sheets), (e) to CSV, and (f) send_batch's first full list (rolled back). Each measurement runs in a
fresh subprocess, so that its peak resident memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/bench_exports.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.dataset import ADMIN, build_event, print_machine  # noqa: E402
from bench.results import BenchResult, report  # noqa: E402
from core.auth import Actor  # noqa: E402
from core.db import make_engine, migrate, read_only  # noqa: E402
from core.exports import ExportFilters, export_orders, order_sheets  # noqa: E402
from core.models import (  # noqa: E402
    Order,
    OrderLine,
    OutboxMessage,
    User,
    Vendor,
    utcnow,
)
from core.spreadsheets import write_xlsx  # noqa: E402
from core.users import actor_for  # noqa: E402
from core.vendor_batches import send_batch  # noqa: E402

GOAL_RATIO = 1.2
GOAL_PEAK_MB = 500
LINES_PER_ORDER = 2
MODES = {
    "pandas": "baseline: DataFrame.to_excel(engine=\"xlsxwriter\")",
    "ours": "(b) core.spreadsheets.write_xlsx, same frame",
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
        report(run(args.db or Path(scratch) / "bench-exports.db", args.lines, args.repeat))


def run(path: Path, lines: int, repeat: int) -> list[BenchResult]:
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with read_only(engine) as session:
        existing = session.scalar(select(func.count()).select_from(OrderLine)) or 0
    if existing:
        print(f"Reusing {path} with {existing:,} line items.")
    else:
        started = time.perf_counter()
        build_event(engine, lines // LINES_PER_ORDER, lines_per_order=LINES_PER_ORDER, batch_vendor=True)
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
    return [
        BenchResult(f"write_xlsx vs pandas to_excel, {lines:,} line items", results["ours"]["seconds"], "s",
                    baseline=baseline, goal=GOAL_RATIO, goal_on_ratio=True),
        BenchResult("export peak memory, largest of (b), (d), (f)", peak, "MB",
                    baseline=results["pandas"]["peak_mb"], goal=GOAL_PEAK_MB),
    ]


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
        admin = actor_for(session.scalars(select(User).where(User.username == ADMIN)).one())
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


if __name__ == "__main__":
    main()
