"""AppTest runs app.py in this process against the test's own database (DATABASE_URL points at it)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from core.config import PROJECT_DIR

AppFactory = Callable[..., AppTest]
TEST_COOKIE_KEY = "test-only-cookie-key-0123456789abcdefghijklmnop"


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AppFactory:
    """Build an AppTest of app.py for `/?event=<slug>` (or the bare `/` when slug is None)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COOKIE_KEY", TEST_COOKIE_KEY)
    monkeypatch.setenv("MAIL_DISPATCH_SECONDS", "0")  # tests dispatch explicitly
    monkeypatch.setenv("TICK_SECONDS", "0")  # and tick explicitly: a background tick would audit and purge

    def build(slug: str | None = None) -> AppTest:
        at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=30)
        if slug is not None:
            at.query_params["event"] = slug
        return at.run()

    return build
