"""The rush: attendees submit the public form at once through HAProxy to 1 and to 2 workers, and 200 at once.

Run from the project root: `.venv/bin/python -m bench.bench_sessions` (`--help` for options); it needs
haproxy (`apt-get install haproxy`). For each worker count it starts two stacks as `make serve` does
(deploy/serve.py: workers behind HAProxy on 127.0.0.1): `app.py` on a fresh SQLite file (or `--db`) with the
demo event, and, as the baseline, a bare Streamlit page whose button inserts one row with raw sqlite3 and shows
a reference, behind the same proxy with as many workers. Each attendee is a Streamlit session driven over the
websocket through the proxy (deploy/streamlit_client.py) with the messages a browser sends: open
`/?event=demo`, fill the form (one rerun, as a browser does on each change), then, once every session is
ready, press "Place order": all in the same instant, or evenly spread over `--spread` seconds. Latency is from
sending the click to receiving the message that draws the order reference. The server does all it does for a
browser; only the browser's own drawing is left out (it happens on each attendee's device). Afterwards every
reference shown is looked up in the database: an error is a session that showed no reference, or an order
stored without its reference shown; a lost order is a reference shown but not stored.

First load after a start: the first session's first script run (connect to the run's end) on a stack just
started, against the bare page's. Cold, with the workers not warmed (WORKERS=1), and as `make serve` starts
them, each worker warmed by one session before the proxy opens (WORKERS=2).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

if not __package__:  # run as `python bench/bench_sessions.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

from bench.dataset import print_machine  # noqa: E402
from bench.results import BenchResult, report  # noqa: E402
from bench.servers import LOG_DIR, demo_database, server_env  # noqa: E402
from core.db import make_engine, read_only  # noqa: E402
from core.demo import DEMO_SLUG  # noqa: E402
from core.models import Order  # noqa: E402
from deploy.serve import PROXY_MISSING, Stack, free_port, running_stack  # noqa: E402
from deploy.streamlit_client import Session  # noqa: E402

GOAL_P95_MS = 500
GOAL_P95_RATIO = 2.0  # with WORKERS=2
GOAL_FIRST_LOAD_RATIO = 1.5
SUBMIT = "Place order"
TIMEOUT_SECONDS = 180
# The baseline: the least a Streamlit page can do for an order (two inputs, a button, one INSERT, a reference).
BARE_PAGE = """import os
import secrets
import sqlite3

import streamlit as st


def place_order():
    reference = secrets.token_hex(5).upper()
    connection = sqlite3.connect(os.environ["BARE_ORDERS_DB"], timeout=30)
    try:
        with connection:
            connection.execute("INSERT INTO orders (reference, name, email) VALUES (?, ?, ?)",
                               (reference, st.session_state.name, st.session_state.email))
    finally:
        connection.close()
    st.session_state.reference = reference


st.title("A bare order page")
if "reference" in st.session_state:
    st.markdown(f"Your order reference is **`{st.session_state.reference}`**.")
else:
    st.text_input("Full name *", key="name")
    st.text_input("Email *", key="email")
    st.button("Place order", on_click=place_order)
"""
APP_VALUES: dict[str, str | int | bool] = {
    "Full name *": "Attendee {n}", "Email *": "attendee{n}@example.org", "T-shirt type": "Fitted",
    "T-shirt size": "M", "T-shirt colour": "Black", "T-shirt quantity": 1,
    "I agree that my details are used for this order and deleted after the event. *": True,
}
BARE_VALUES: dict[str, str | int | bool] = {"Full name *": "Attendee {n}", "Email *": "attendee{n}@example.org"}


@dataclass
class Outcome:
    latencies_ms: list[float] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0  # the stack's (workers and proxy), over the bursts (opening, filling and submitting)
    client_cpu_seconds: float = 0.0  # this process's, driving the sessions: on the same CPUs as the stack
    sessions: int = 0

    def p(self, percent: float) -> float:
        """The nearest-rank percentile of the latencies (the strict one: p95 of 50 is the 48th fastest)."""
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)] if ordered else math.nan


async def attendee_session(url: str, query: str, number: int, values: Mapping[str, str | int | bool],
                           ready: asyncio.Barrier, delay: float, outcome: Outcome) -> None:
    """Open the page, fill it, wait for everyone and then `delay` seconds, press the button; record how it went."""
    try:
        async with Session(url, query, timeout=TIMEOUT_SECONDS) as attendee:
            await attendee.run()
            personal = {label: value.format(n=number) if isinstance(value, str) else value
                        for label, value in values.items()}
            filled = await attendee.run(personal)
            if filled.problems:
                raise RuntimeError("; ".join(filled.problems))
            await ready.wait()
            await asyncio.sleep(delay)
            submitted = await attendee.run(personal, click=SUBMIT)
    except Exception as exc:  # noqa: BLE001 - any failure of one session is that session's error, counted
        outcome.errors.append(f"session {number}: {type(exc).__name__}: {exc}")
        if not ready.broken:
            await ready.abort()  # the others must not wait for a session that will never be ready
        return
    if submitted.reference is None or submitted.reference_after is None:
        outcome.errors.append(f"session {number}: no reference shown; {'; '.join(submitted.problems)}")
        return
    outcome.latencies_ms.append(submitted.reference_after * 1000)
    outcome.references.append(submitted.reference)
    if submitted.problems:
        outcome.errors.append(f"session {number}: {'; '.join(submitted.problems)}")


async def burst(url: str, query: str, sessions: int, values: Mapping[str, str | int | bool], first: int,
                spread: float, outcome: Outcome) -> None:
    """`sessions` attendees at once; the clicks all in one instant, or evenly within `spread` seconds."""
    ready = asyncio.Barrier(sessions)
    delays = random.Random(first).sample(range(sessions), sessions)  # evenly spaced, in a random order
    await asyncio.gather(*(attendee_session(url, query, first + n, values, ready, spread * delays[n] / sessions,
                                            outcome) for n in range(sessions)))


def stack_cpu_seconds(stack: Stack) -> float:
    """User and system CPU time of the stack's workers and proxy so far (Linux /proc)."""
    total = 0.0
    for pid in [worker.process.pid for worker in stack.workers] + [stack.proxy.pid]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / 100  # SC_CLK_TCK is 100 on Linux
    return total


def timed_burst(stack: Stack, query: str, sessions: int, values: Mapping[str, str | int | bool], first: int,
                spread: float, outcome: Outcome) -> None:
    """`burst` through the stack's proxy, adding its CPU seconds and sessions to `outcome`."""
    cpu, client_cpu = stack_cpu_seconds(stack), time.process_time()
    asyncio.run(burst(stack.url, query, sessions, values, first, spread, outcome))
    outcome.cpu_seconds += stack_cpu_seconds(stack) - cpu
    outcome.client_cpu_seconds += time.process_time() - client_cpu
    outcome.sessions += sessions


async def first_load(url: str, query: str) -> float:
    """Milliseconds from connecting to the end of the first script run of a new session."""
    started = time.perf_counter()
    async with Session(url, query, timeout=TIMEOUT_SECONDS) as attendee:
        run = await attendee.run()
    if run.problems:
        raise RuntimeError("; ".join(run.problems))
    return (time.perf_counter() - started) * 1000


async def warm_every_worker(stack: Stack, query: str) -> None:
    """One visit to each worker directly: a cold worker's first run imports the app, which is not the rush."""
    for worker in stack.workers:
        async with Session(worker.url, query, timeout=TIMEOUT_SECONDS) as attendee:
            await attendee.run()


@dataclass
class Configuration:
    """One worker count: the app's and the bare page's outcomes per kind of burst, and their first loads."""

    workers: int
    warmed_by_launcher: bool
    ours: dict[str, Outcome] = field(default_factory=dict)
    bare: dict[str, Outcome] = field(default_factory=dict)
    first_load_ms: float = math.nan
    bare_first_load_ms: float = math.nan
    stored: set[str] = field(default_factory=set)
    bare_stored: set[str] = field(default_factory=set)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50, help="attendees submitting at once (default 50)")
    parser.add_argument("--rounds", type=int, default=2, help="bursts of each kind, each of new sessions")
    parser.add_argument("--spread", type=float, default=10.0,
                        help="the second kind of burst: clicks evenly spread over this many seconds (default 10)")
    parser.add_argument("--rush", type=int, default=200,
                        help="one burst of this many sessions at once with the most workers (default 200; 0: none)")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    parser.add_argument("--db", help="a SQLAlchemy URL to use instead of a temporary SQLite file (it is filled)")
    parser.add_argument("--watch-files", action="store_true",
                        help="keep Streamlit's default file watcher on (off by default, as a deployment runs)")
    args = parser.parse_args()
    if shutil.which("haproxy") is None:
        raise SystemExit(PROXY_MISSING)
    counts = [int(count) for count in args.workers.split(",")]
    report(run(args.sessions, args.rounds, args.spread, args.rush, counts, args.db, args.watch_files))


@contextmanager
def stacks(directory: Path, workers: int, url: str, bare_db: Path, bare_script: Path,
           *, warm: bool, watch_files: bool) -> Iterator[tuple[Stack, Stack]]:
    """The app's stack and the bare page's, each `workers` behind its own HAProxy."""
    env = {**server_env(url, watch_files=watch_files), "BARE_ORDERS_DB": str(bare_db)}
    with ExitStack() as both:
        app_dir, bare_dir = directory / f"app-{workers}", directory / f"bare-{workers}"
        app_dir.mkdir()
        bare_dir.mkdir()
        environment = {**os.environ, **env}
        app = both.enter_context(running_stack(workers, free_port(), environment, app_dir, warm=warm,
                                               log_dir=LOG_DIR / f"sessions-app-{workers}"))
        bare = both.enter_context(running_stack(workers, free_port(), environment, bare_dir, warm=False,
                                                script=str(bare_script), log_dir=LOG_DIR / f"sessions-bare-{workers}"))
        yield app, bare


def run(sessions: int, rounds: int, spread: float, rush: int, counts: list[int],
        database_url: str | None = None, watch_files: bool = False) -> list[BenchResult]:
    kinds = {"at once": 0.0, f"spread over {spread:g} s": spread}
    query = f"event={DEMO_SLUG}"
    configurations: list[Configuration] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        for workers in counts:
            # As `make serve` starts it (warmed) with the most workers; cold otherwise, to see what warming saves.
            config = Configuration(workers, warmed_by_launcher=workers == max(counts) and len(counts) > 1)
            url = database_url or f"sqlite:///{directory / f'sessions-{workers}.db'}"
            demo_database(url)
            engine = make_engine(url)
            with read_only(engine) as session:
                before = set(session.scalars(select(Order.reference)))
            bare_db = directory / f"bare-{workers}.db"
            with sqlite3.connect(bare_db) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("CREATE TABLE orders (reference TEXT PRIMARY KEY, name TEXT, email TEXT)")
            bare_script = directory / "bare_order_page.py"
            bare_script.write_text(BARE_PAGE)
            config.ours = {kind: Outcome() for kind in kinds}
            config.bare = {kind: Outcome() for kind in kinds}
            with stacks(directory, workers, url, bare_db, bare_script, warm=config.warmed_by_launcher,
                        watch_files=watch_files) as (app, bare):
                config.bare_first_load_ms = asyncio.run(first_load(bare.url, ""))
                config.first_load_ms = asyncio.run(first_load(app.url, query))
                asyncio.run(warm_every_worker(bare, ""))
                asyncio.run(warm_every_worker(app, query))
                first = 0
                for _ in range(rounds):  # interleaved, so that a neighbour's load on the machine hits both alike
                    for kind, seconds in kinds.items():
                        timed_burst(bare, "", sessions, BARE_VALUES, first, seconds, config.bare[kind])
                        timed_burst(app, query, sessions, APP_VALUES, first, seconds, config.ours[kind])
                        first += sessions
                if rush and workers == max(counts):
                    config.bare["rush"], config.ours["rush"] = Outcome(), Outcome()
                    timed_burst(bare, "", rush, BARE_VALUES, first, 0.0, config.bare["rush"])
                    timed_burst(app, query, rush, APP_VALUES, first, 0.0, config.ours["rush"])
            with read_only(engine) as session:
                config.stored = set(session.scalars(select(Order.reference))) - before
            engine.dispose()
            with sqlite3.connect(bare_db) as connection:
                config.bare_stored = {row[0] for row in connection.execute("SELECT reference FROM orders")}
            configurations.append(config)
    print_machine()
    # Other work on the machine takes CPU from the workers and this client alike: say how much there was.
    print(f"Load average (1 min) before the run {load_before:.1f}, after it {os.getloadavg()[0]:.1f}")
    return summarise(configurations, sessions, rounds, spread, rush, database_url)


def summarise(configurations: list[Configuration], sessions: int, rounds: int, spread: float, rush: int,
              database_url: str | None) -> list[BenchResult]:
    backend = "PostgreSQL" if database_url and database_url.startswith("postgresql") else "SQLite (WAL)"
    print(f"\n{sessions} sessions open the form through HAProxy, fill it, then press '{SUBMIT}' (all in one "
          f"instant, or evenly spread over {spread:g} s); {rounds} round(s) of each; then {rush} at once with the "
          f"most workers; {backend}; ms from the click to the reference arriving\n")
    print("| workers | page | clicks | p50 | p95 | max | errors | lost | CPU s per session | client CPU s per session |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    results: list[BenchResult] = []
    for config in configurations:
        for kind in config.ours:
            for label, outcome, rows in (("bare page", config.bare[kind], config.bare_stored),
                                         ("public form", config.ours[kind], config.stored)):
                count = rush if kind == "rush" else sessions
                print(f"| {config.workers} | {label} | {f'{count} at once' if kind == 'rush' else kind} | "
                      f"{outcome.p(50):.0f} | {outcome.p(95):.0f} | {max(outcome.latencies_ms, default=math.nan):.0f}"
                      f" | {len(outcome.errors)} | {len(set(outcome.references) - rows)} | "
                      f"{outcome.cpu_seconds / max(outcome.sessions, 1):.3f} | "
                      f"{outcome.client_cpu_seconds / max(outcome.sessions, 1):.3f} |")
        for outcome in [*config.bare.values(), *config.ours.values()]:
            for error in outcome.errors[:5]:
                print(f"  {error}")
        results += configuration_results(config, sessions)
    print("\n| workers | first load after a start | public form | bare page | × bare |")
    print("|---|---|---|---|---|")
    for config in configurations:
        how = "warmed by the launcher (make serve)" if config.warmed_by_launcher else "cold"
        print(f"| {config.workers} | {how} | {config.first_load_ms:.0f} ms | {config.bare_first_load_ms:.0f} ms | "
              f"{config.first_load_ms / config.bare_first_load_ms:.2f} |")
    print()
    for result in results:
        if result.goal is not None:
            print(f"Goal, {result.benchmark} {result.goal_text()}: {'met' if result.passed else 'MISSED'} "
                  f"({f'{result.result:.0f} {result.unit}'.strip()}"
                  + (f", {result.ratio:.2f}× the bare page" if result.ratio is not None else "") + ")")
    print()
    return results


def configuration_results(config: Configuration, sessions: int) -> list[BenchResult]:
    name = f"WORKERS={config.workers}"
    at_once, bare_at_once = config.ours["at once"], config.bare["at once"]
    goals = config.workers >= 2
    results = [
        BenchResult(f"{name}, {sessions} at once: p95 submit to confirmation", at_once.p(95), "ms",
                    baseline=bare_at_once.p(95), goal=GOAL_P95_MS if goals else None),
        BenchResult(f"{name}, {sessions} at once: p95 against the bare page", at_once.p(95), "ms",
                    baseline=bare_at_once.p(95), goal=GOAL_P95_RATIO if goals else None, goal_on_ratio=True),
    ]
    for kind in config.ours:
        if kind.startswith("spread"):
            results.append(BenchResult(f"{name}, {sessions} {kind}: p95", config.ours[kind].p(95), "ms",
                                       baseline=config.bare[kind].p(95), goal=GOAL_P95_MS))
    bursts = [kind for kind in config.ours if kind != "rush"]
    confirmed = {reference for kind in bursts for reference in config.ours[kind].references}
    rush_confirmed = set(config.ours["rush"].references) if "rush" in config.ours else set()
    # An order stored without its reference shown is an error too: the attendee would order again.
    unconfirmed = config.stored - confirmed - rush_confirmed
    errors = sum(len(config.ours[kind].errors) for kind in bursts)
    results += [
        BenchResult(f"{name}, {sessions}-session bursts: errors", errors + len(unconfirmed), "",
                    baseline=sum(len(config.bare[kind].errors) for kind in bursts), goal=0),
        BenchResult(f"{name}, {sessions}-session bursts: lost orders", len(confirmed - config.stored), "",
                    baseline=len({r for kind in bursts for r in config.bare[kind].references} - config.bare_stored),
                    goal=0),
    ]
    if "rush" in config.ours:
        rush, bare_rush = config.ours["rush"], config.bare["rush"]
        results += [
            BenchResult(f"{name}, {rush.sessions} at once: p95", rush.p(95), "ms", baseline=bare_rush.p(95)),
            BenchResult(f"{name}, {rush.sessions} at once: errors", len(rush.errors), "",
                        baseline=len(bare_rush.errors), goal=0),
            BenchResult(f"{name}, {rush.sessions} at once: lost orders", len(rush_confirmed - config.stored), "",
                        baseline=len(set(bare_rush.references) - config.bare_stored), goal=0),
        ]
    how = "warmed as make serve starts it" if config.warmed_by_launcher else "cold, no warm-up"
    results.append(BenchResult(f"{name}, first load after a start ({how})", config.first_load_ms, "ms",
                               baseline=config.bare_first_load_ms, goal=GOAL_FIRST_LOAD_RATIO, goal_on_ratio=True))
    return results


if __name__ == "__main__":
    main()
