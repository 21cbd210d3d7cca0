"""Warm a freshly started worker: `python -m deploy.warm http://127.0.0.1:8601` (the systemd unit's ExecStartPost).

Waits for the worker's health check, then opens one session, which imports the app, checks the migrations and
starts the worker's tick thread, so that the first visitor does not wait for any of it. Exits with 1, naming
the problem (e.g. a missing COOKIE_KEY), when the app cannot serve: systemd then marks the worker failed.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path

if not __package__:  # run as `python deploy/warm.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy.streamlit_client import open_page, run_sync  # noqa: E402

TIMEOUT_SECONDS = 90


def warm(url: str, timeout: float = TIMEOUT_SECONDS) -> list[str]:
    """What went wrong warming the worker at `url`; empty when it serves the app."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            return [f"no answer to the health check at {url} within {timeout:.0f} s"]
        time.sleep(0.2)
    try:
        return run_sync(open_page(url, timeout=timeout)).problems
    except Exception as exc:  # noqa: BLE001 - whatever it is, the operator needs to read it
        return [f"{type(exc).__name__}: {exc}"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    problems = warm(args[0].rstrip("/"))
    for problem in problems:
        print(f"deploy.warm: {args[0]}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
