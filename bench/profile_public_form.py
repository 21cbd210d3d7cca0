"""Where the public form's script runs spend their time: open, fill and submit, under cProfile.

Run from the project root: `.venv/bin/python -m bench.profile_public_form` (`--help` for options). It seeds the
demo event in a temporary SQLite file and runs `app.py` through Streamlit's AppTest (the real script, session
state, widgets and callbacks, in this process) for `--sessions` attendees: each opens `/?event=demo`, fills the
form (one rerun with every value, as the session benchmark sends it) and presses "Place order". The first
session warms up (imports, the engine, migrations) and is not profiled. The profile covers the script thread
(AppTest runs each script run in a thread of its own), so the numbers are the server's work per run, without
the websocket and the browser. Not a benchmark with a goal: bench/README.md quotes its top costs.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PHASES = ("open", "fill", "submit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20, help="attendees profiled (default 20)")
    parser.add_argument("--sort", choices=["cumulative", "tottime"], default="cumulative")
    parser.add_argument("--lines", type=int, default=40, help="rows of each phase's profile (default 40)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ.update({"DATABASE_URL": f"sqlite:///{folder}/profile.db", "DEMO": "true",
                           "COOKIE_KEY": "profile-only-cookie-key-0123456789abcdefghij",
                           "MAIL_DISPATCH_SECONDS": "0", "TICK_SECONDS": "0"})
        from streamlit.testing.v1 import AppTest
        from streamlit.testing.v1.local_script_runner import LocalScriptRunner

        from core.config import PROJECT_DIR
        from core.db import make_engine, migrate, unit_of_work
        from core.demo import seed_demo

        engine = make_engine(os.environ["DATABASE_URL"])
        migrate(engine)
        with unit_of_work(engine) as session:
            seed_demo(session)
        engine.dispose()

        profiles: dict[str, cProfile.Profile] = {phase: cProfile.Profile() for phase in PHASES}
        wall: dict[str, list[float]] = defaultdict(list)
        current: list[str | None] = [None]
        original = LocalScriptRunner._run_script_thread

        def profiled(self: LocalScriptRunner) -> None:  # AppTest's script thread, where the run happens
            phase = current[0]
            if phase is None:
                original(self)
                return
            profiles[phase].enable()
            try:
                original(self)
            finally:
                profiles[phase].disable()

        LocalScriptRunner._run_script_thread = profiled  # type: ignore[method-assign]

        def attendee(number: int, profile: bool) -> None:
            def timed(phase: str, run: object) -> None:
                current[0] = phase if profile else None
                began = time.perf_counter()
                run()  # type: ignore[operator]
                if profile:
                    wall[phase].append(time.perf_counter() - began)
                current[0] = None

            at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=60)
            at.query_params["event"] = "demo"
            timed("open", at.run)
            at.text_input(key="order.demo.name").input(f"Attendee {number}")
            at.text_input(key="order.demo.email").input(f"attendee{number}@example.org")
            at.selectbox(key="order.demo.items.tshirt.0.type").select("Fitted")
            at.selectbox(key="order.demo.items.tshirt.0.size").select("M")
            at.selectbox(key="order.demo.items.tshirt.0.colour").select("Black")
            at.number_input(key="order.demo.items.tshirt.0.quantity").set_value(1)
            at.checkbox(key="order.demo.consent").check()
            timed("fill", at.run)
            next(b for b in at.button if b.label == "Place order").click()
            timed("submit", at.run)
            shown = " ".join(str(m.value) for m in at.markdown)
            if "Your order reference is" not in shown:
                sys.exit(f"attendee {number}: no reference shown: {[str(e.value) for e in at.error]}")

        attendee(0, profile=False)
        for number in range(1, args.sessions + 1):
            attendee(number, profile=True)

    for phase in PHASES:
        runs = sorted(wall[phase])
        print(f"\n=== {phase}: {len(runs)} runs, median {runs[len(runs) // 2] * 1000:.1f} ms wall "
              f"(AppTest, profiler on) ===")
        pstats.Stats(profiles[phase]).strip_dirs().sort_stats(args.sort).print_stats(args.lines)


if __name__ == "__main__":
    main()
