"""How soon the public order form is usable in a browser, against a bare Streamlit page served alongside.

Run from the project root: `.venv/bin/python -m bench.bench_tti` (`--help` for options). Starts two servers on
127.0.0.1: `streamlit run app.py` on a temporary SQLite file with the demo event, and a bare page (a title and
one text input). Chromium (Playwright) opens `/?event=demo` and the bare page in turn, each in a fresh browser
context (no cache, no cookies: a new visitor), and records the time from navigation start until the page's
first input exists and is enabled and Streamlit reports the script run finished (`data-test-script-state` of
stApp is `notRunning`): the page is drawn in full and answers the first keystroke. The first load of each
server is reported apart (it imports the app); the ratio is of medians over `--runs` warm loads. The app's
landing page (no form) is timed too, to tell the cost of the app's frame from that of the form.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

if not __package__:  # run as `python bench/bench_tti.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dataset import print_machine  # noqa: E402
from bench.results import BenchResult, report  # noqa: E402
from bench.servers import LOG_DIR, demo_database, server_env  # noqa: E402
from core.demo import DEMO_SLUG  # noqa: E402
from tests.streamlit_server import running_streamlit  # noqa: E402

GOAL_RATIO = 1.15
BARE_PAGE = """import streamlit as st

st.title("A bare Streamlit page")
st.text_input("Your name")
"""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
# Runs in the page before its own scripts: notes performance.now() (ms since navigation start) the first time
# an input in the main area is enabled while no script run is in progress. A MutationObserver reacts to the
# very DOM change that makes it so, where polling from Playwright would add its own round trips.
OBSERVER = """
(() => {
  const ready = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const input = document.querySelector('[data-testid="stMain"] input');
    return app && input && !input.disabled && app.getAttribute('data-test-script-state') === 'notRunning';
  };
  const observer = new MutationObserver(() => {
    if (window.__interactiveAt === undefined && ready()) {
      window.__interactiveAt = performance.now();
      observer.disconnect();
    }
  });
  observer.observe(document, {subtree: true, childList: true, attributes: true,
                              attributeFilter: ['data-test-script-state', 'disabled']});
})();
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="warm loads of each page; the median counts")
    parser.add_argument("--watch-files", action="store_true",
                        help="keep Streamlit's default file watcher on (off by default, as a deployment runs)")
    args = parser.parse_args()
    results = run(args.runs, args.watch_files)
    report(results)


def run(runs: int, watch_files: bool = False) -> list[BenchResult]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium is not installed (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        database_url = f"sqlite:///{directory / 'tti.db'}"
        demo_database(database_url)
        bare = directory / "bare_page.py"
        bare.write_text(BARE_PAGE)
        env = server_env(database_url, watch_files=watch_files)
        with (running_streamlit("app.py", env, LOG_DIR / "tti-app.log") as app,
              running_streamlit(bare, env, LOG_DIR / "tti-bare.log") as bare_page,
              sync_playwright() as playwright):
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            # The landing page is the app without the form: it tells the app's frame from the form itself.
            pages = {"form": f"{app.url}/?event={DEMO_SLUG}", "bare": bare_page.url, "landing": f"{app.url}/"}
            first = {name: interactive_after(browser, url) for name, url in pages.items()}
            samples: dict[str, list[float]] = {name: [] for name in pages}
            for _ in range(runs):  # interleaved, so that a neighbour's load on the machine hits both alike
                for name, url in pages.items():
                    samples[name].append(interactive_after(browser, url))
            browser.close()
    print_machine()
    form, base = statistics.median(samples["form"]), statistics.median(samples["bare"])
    print(f"\nTime to interactive, ms (median of {runs} warm loads; each load a fresh browser context; "
          f"file watcher {'on' if watch_files else 'off'})\n")
    print("| page | first load | median | min | max | × bare page |")
    print("|---|---|---|---|---|---|")
    for name, label in (("bare", "bare Streamlit page (title + one input)"),
                        ("landing", "landing page / (the app without the form)"),
                        ("form", "public order form /?event=demo")):
        values = samples[name]
        print(f"| {label} | {first[name]:.0f} | {statistics.median(values):.0f} | {min(values):.0f} | "
              f"{max(values):.0f} | {statistics.median(values) / base:.2f} |")
    ratio = form / base
    print(f"\nGoal, at most {GOAL_RATIO}x the bare page: {'met' if ratio <= GOAL_RATIO else 'MISSED'} ({ratio:.2f}x)\n")
    return [
        BenchResult(f"public form time to interactive (median of {runs})", form, "ms", baseline=base,
                    goal=GOAL_RATIO, goal_on_ratio=True),
        BenchResult("landing page (the app without the form) time to interactive", statistics.median(
            samples["landing"]), "ms", baseline=base),
        BenchResult("public form, first load after the server starts", first["form"], "ms", baseline=first["bare"]),
    ]


def interactive_after(browser, url: str) -> float:  # noqa: ANN001 - Playwright's types stay local
    """Milliseconds from navigation start until the page's first input is usable, in a fresh context."""
    context = browser.new_context(viewport={"width": 1000, "height": 1400})
    try:
        page = context.new_page()
        page.add_init_script(OBSERVER)
        page.goto(url, wait_until="commit", timeout=60_000)
        page.wait_for_function("window.__interactiveAt !== undefined", timeout=60_000, polling=100)
        return float(page.evaluate("window.__interactiveAt"))
    finally:
        context.close()


if __name__ == "__main__":
    main()
