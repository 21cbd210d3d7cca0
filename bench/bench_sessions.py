"""50 attendees submit the public form at once through the running server: latency, errors and lost orders.

Run from the project root: `.venv/bin/python -m bench.bench_sessions` (`--help` for options). Starts
`streamlit run app.py` on a temporary SQLite file (or `--db`) with the demo event, and, as the baseline, a bare
Streamlit page whose button inserts one row with raw sqlite3 and shows a reference. Each attendee is a
Streamlit session driven over the server's own websocket (`/_stcore/stream`) with the messages a browser
sends: open `/?event=demo`, fill the form (one rerun, as a browser does on each change), then, once every
session is ready, all press "Place order" in the same instant. Latency is from sending the click to receiving
the message that draws the order reference. The server does all it does for a browser (session, script run,
callback, place_order, drawing the confirmation); only the browser's own drawing is left out, which happens on
each attendee's device and would make 50 Chromium tabs on this machine measure Chromium, not the server.
Afterwards every reference shown is looked up in the database: an error is a session that showed no
reference (timeout, exception, error message), a lost order one whose reference is not in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

if not __package__:  # run as `python bench/bench_sessions.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ClientState_pb2 import ClientState  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from bench.dataset import print_machine  # noqa: E402
from bench.results import BenchResult, report  # noqa: E402
from bench.servers import LOG_DIR, demo_database, server_env  # noqa: E402
from core.db import make_engine, read_only  # noqa: E402
from core.demo import DEMO_SLUG  # noqa: E402
from core.models import Order  # noqa: E402
from tests.streamlit_server import RunningServer, running_streamlit  # noqa: E402

GOAL_P95_MS = 500
SUBMIT = "Place order"
REFERENCE = re.compile(r"reference is \*\*`([A-Z0-9-]+)`\*\*")
TIMEOUT_SECONDS = 120
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


@dataclass
class Run:
    """What one script run drew: its widgets' ids by label, what went wrong, when the order reference arrived."""

    widgets: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    reference: str | None = None
    reference_after: float | None = None  # seconds from sending the request


class Attendee:
    """One browser tab as the server sees it: a websocket asking for script runs and reading what they draw."""

    def __init__(self, url: str, query_string: str):
        self.ws_url = url.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.query_string = query_string
        self.widgets: dict[str, str] = {}
        self.page_script_hash = ""
        self._connection: ClientConnection | None = None

    async def __aenter__(self) -> Attendee:
        self._connection = await connect(self.ws_url, subprotocols=["streamlit"], max_size=None, proxy=None,
                                         open_timeout=TIMEOUT_SECONDS, ping_interval=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._connection is not None
        await self._connection.close()

    async def run(self, values: Mapping[str, str | int | bool] | None = None, click: str | None = None) -> Run:
        """Rerun the script with `values` in the widgets labelled so (and `click` pressed); wait for it to end."""
        assert self._connection is not None
        states = [_widget_state(self.widgets, label, value) for label, value in (values or {}).items()]
        if click is not None:
            states.append(WidgetState(id=_widget_id(self.widgets, click), trigger_value=True))
        message = BackMsg(rerun_script=ClientState(query_string=self.query_string,
                                                   widget_states=WidgetStates(widgets=states),
                                                   page_script_hash=self.page_script_hash))
        run = Run()
        started = time.perf_counter()
        await self._connection.send(message.SerializeToString())
        async with asyncio.timeout(TIMEOUT_SECONDS):
            while True:
                forward = ForwardMsg()
                forward.ParseFromString(await self._connection.recv())
                kind = forward.WhichOneof("type")
                if kind == "new_session":
                    self.page_script_hash = forward.new_session.page_script_hash
                elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                    _read_element(forward.delta.new_element, run, started)
                elif kind == "script_finished" and forward.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    if forward.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                        run.problems.append(f"script finished with status {forward.script_finished}")
                    break
        self.widgets = run.widgets
        return run


def _widget_id(widgets: Mapping[str, str], label: str) -> str:
    if label not in widgets:
        raise LookupError(f"no widget labelled {label!r} on the page (have {sorted(widgets)})")
    return widgets[label]


def _widget_state(widgets: Mapping[str, str], label: str, value: str | int | bool) -> WidgetState:
    """A widget's value as the browser sends it: text and choices as strings, ticks as bools, counts as ints."""
    state = WidgetState(id=_widget_id(widgets, label))
    if isinstance(value, bool):
        state.bool_value = value
    elif isinstance(value, int):
        state.int_value = value
    else:
        state.string_value = value
    return state


def _read_element(element, run: Run, started: float) -> None:  # noqa: ANN001 - a protobuf Element
    kind = element.WhichOneof("type")
    body = getattr(element, kind)
    if hasattr(body, "label") and hasattr(body, "id") and body.id:
        run.widgets[body.label] = body.id
    if kind in ("markdown", "alert"):
        if kind == "alert" and body.format == body.ERROR:
            run.problems.append(f"error shown: {body.body}")
        if run.reference is None and (match := REFERENCE.search(body.body)):
            run.reference = match.group(1)
            run.reference_after = time.perf_counter() - started
    elif kind == "exception":
        run.problems.append(f"exception: {body.type}: {body.message}")


@dataclass
class Outcome:
    latencies_ms: list[float] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0  # the server's, over the bursts (opening, filling and submitting)

    def p(self, percent: float) -> float:
        """The nearest-rank percentile of the latencies (the strict one: p95 of 50 is the 48th fastest)."""
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)] if ordered else math.nan


async def attendee_session(url: str, query: str, number: int, values: Mapping[str, str | int | bool],
                           ready: asyncio.Barrier, delay: float, outcome: Outcome) -> None:
    """Open the page, fill it, wait for everyone and then `delay` seconds, press the button; record how it went."""
    try:
        async with Attendee(url, query) as attendee:
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
    """`sessions` attendees at once; the clicks all in one instant, or at random within `spread` seconds."""
    ready = asyncio.Barrier(sessions)
    delays = random.Random(first).sample(range(sessions), sessions)  # evenly spaced, in a random order
    await asyncio.gather(*(attendee_session(url, query, first + n, values, ready, spread * delays[n] / sessions,
                                            outcome) for n in range(sessions)))


async def warm_up(url: str, query: str) -> None:
    """One visit first: the server's first script run imports the app, which is not what is measured."""
    async with Attendee(url, query) as attendee:
        await attendee.run()


def timed_burst(server: RunningServer, query: str, sessions: int, values: Mapping[str, str | int | bool],
                first: int, spread: float, outcome: Outcome) -> None:
    """`burst`, adding the server's CPU seconds for it to `outcome`."""
    cpu = server.cpu_seconds()
    asyncio.run(burst(server.url, query, sessions, values, first, spread, outcome))
    outcome.cpu_seconds += server.cpu_seconds() - cpu


APP_VALUES: dict[str, str | int | bool] = {
    "Full name *": "Attendee {n}", "Email *": "attendee{n}@example.org", "T-shirt type": "Fitted",
    "T-shirt size": "M", "T-shirt colour": "Black", "T-shirt quantity": 1,
    "I agree that my details are used for this order and deleted after the event. *": True,
}
BARE_VALUES: dict[str, str | int | bool] = {"Full name *": "Attendee {n}", "Email *": "attendee{n}@example.org"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50, help="attendees submitting at once (default 50)")
    parser.add_argument("--rounds", type=int, default=2, help="bursts of each kind, each of new sessions")
    parser.add_argument("--spread", type=float, default=10.0,
                        help="the second kind of burst: clicks evenly spread over this many seconds (default 10)")
    parser.add_argument("--db", help="a SQLAlchemy URL to use instead of a temporary SQLite file (it is filled)")
    parser.add_argument("--watch-files", action="store_true",
                        help="keep Streamlit's default file watcher on (off by default, as a deployment runs)")
    args = parser.parse_args()
    report(run(args.sessions, args.rounds, args.spread, args.db, args.watch_files))


def run(sessions: int, rounds: int, spread: float, database_url: str | None = None,
        watch_files: bool = False) -> list[BenchResult]:
    kinds = {"at once": 0.0, f"spread over {spread:g} s": spread}
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        url = database_url or f"sqlite:///{directory / 'sessions.db'}"
        demo_database(url)
        engine = make_engine(url)
        with read_only(engine) as session:
            before = set(session.scalars(select(Order.reference)))
        bare_db = directory / "bare.db"
        with sqlite3.connect(bare_db) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("CREATE TABLE orders (reference TEXT PRIMARY KEY, name TEXT, email TEXT)")
        bare_script = directory / "bare_order_page.py"
        bare_script.write_text(BARE_PAGE)
        env = {**server_env(url, watch_files=watch_files), "BARE_ORDERS_DB": str(bare_db)}
        ours = {kind: Outcome() for kind in kinds}
        bare = {kind: Outcome() for kind in kinds}
        query = f"event={DEMO_SLUG}"
        with (running_streamlit("app.py", env, LOG_DIR / "sessions-app.log") as app,
              running_streamlit(bare_script, env, LOG_DIR / "sessions-bare.log") as bare_page):
            asyncio.run(warm_up(bare_page.url, ""))
            asyncio.run(warm_up(app.url, query))
            first = 0
            for _ in range(rounds):  # interleaved, so that a neighbour's load on the machine hits both alike
                for kind, seconds in kinds.items():
                    timed_burst(bare_page, "", sessions, BARE_VALUES, first, seconds, bare[kind])
                    timed_burst(app, query, sessions, APP_VALUES, first, seconds, ours[kind])
                    first += sessions
        with read_only(engine) as session:
            stored = set(session.scalars(select(Order.reference))) - before
        engine.dispose()
        with sqlite3.connect(bare_db) as connection:
            bare_stored = {row[0] for row in connection.execute("SELECT reference FROM orders")}
    print_machine()
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"\n{sessions} sessions open the form, fill it, then press '{SUBMIT}' (all in one instant, or evenly "
          f"spread over {spread:g} s); {rounds} round(s) of each; {backend}; file watcher "
          f"{'on' if watch_files else 'off'}; ms from the click to the reference arriving\n")
    print("| page | clicks | p50 | p95 | max | errors | lost | server CPU s per session |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in kinds:
        for label, outcome, rows in (("bare page, raw sqlite3 INSERT", bare[kind], bare_stored),
                                     ("public order form, place_order", ours[kind], stored)):
            print(f"| {label} | {kind} | {outcome.p(50):.0f} | {outcome.p(95):.0f} | "
                  f"{max(outcome.latencies_ms, default=math.nan):.0f} | {len(outcome.errors)} | "
                  f"{len(set(outcome.references) - rows)} | {outcome.cpu_seconds / (sessions * rounds):.3f} |")
    for outcome in [*bare.values(), *ours.values()]:
        for error in outcome.errors[:5]:
            print(f"  {error}")
    confirmed = {reference for outcome in ours.values() for reference in outcome.references}
    # An order stored without its reference shown is an error too: the attendee would order again.
    unconfirmed = len(stored - confirmed)
    errors = sum(len(outcome.errors) for outcome in ours.values()) + unconfirmed
    lost = len(confirmed - stored)
    bare_confirmed = {reference for outcome in bare.values() for reference in outcome.references}
    print(f"\nIn the database: {len(stored)} orders for {len(confirmed)} references shown "
          f"({sessions * rounds * len(kinds)} sessions); bare page {len(bare_stored)} for {len(bare_confirmed)}.")
    for kind in kinds:
        p95 = ours[kind].p(95)
        print(f"Goal, p95 <= {GOAL_P95_MS} ms with clicks {kind}: {'met' if p95 <= GOAL_P95_MS else 'MISSED'} "
              f"({p95:.0f} ms; mean {statistics.fmean(ours[kind].latencies_ms or [math.nan]):.0f} ms)")
    print(f"Goal, no errors and no lost orders: {'met' if errors == 0 and lost == 0 else 'MISSED'} "
          f"({errors} errors, {lost} lost)\n")
    return [
        *(BenchResult(f"{sessions} sessions, clicks {kind}: p95 submit to confirmation", ours[kind].p(95), "ms",
                      baseline=bare[kind].p(95), goal=GOAL_P95_MS) for kind in kinds),
        BenchResult(f"{sessions} sessions: errors", errors, "",
                    baseline=sum(len(outcome.errors) for outcome in bare.values()), goal=0),
        BenchResult(f"{sessions} sessions: lost orders", lost, "", baseline=len(bare_confirmed - bare_stored),
                    goal=0),
    ]


if __name__ == "__main__":
    main()
