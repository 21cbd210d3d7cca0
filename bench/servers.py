"""What the benchmarks that start `streamlit run app.py` share: the demo database, the environment, the logs."""

from __future__ import annotations

from pathlib import Path

from core.db import make_engine, migrate, unit_of_work
from core.demo import seed_demo
from tests.streamlit_server import NO_FILE_WATCHER

# The servers' logs (gitignored), to read when a run goes wrong.
LOG_DIR = Path(__file__).resolve().parent.parent / "test-artifacts" / "bench"
COOKIE_KEY = "bench-only-cookie-key-0123456789abcdefghijklmnop"


def demo_database(url: str) -> None:
    """Migrate the database at `url` and seed the demo event (`/?event=demo`) unless it is there."""
    engine = make_engine(url)
    migrate(engine)
    with unit_of_work(engine) as session:
        seed_demo(session)
    engine.dispose()


def server_env(database_url: str, *, watch_files: bool) -> dict[str, str]:
    """The app as deployed, minus the mail dispatcher's thread (no SMTP here) and, unless asked, the watcher."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return {"DATABASE_URL": database_url, "COOKIE_KEY": COOKIE_KEY, "DEMO": "false", "MAIL_DISPATCH_SECONDS": "0",
            **({} if watch_files else NO_FILE_WATCHER)}
