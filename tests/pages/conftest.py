"""AppTest runs app.py, or one page alone, in this process against the test's own database."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.config import PROJECT_DIR
from core.db import unit_of_work
from core.models import utcnow
from core.users import get_user, revoke_sessions, session_actor

AppFactory = Callable[..., AppTest]
TEST_COOKIE_KEY = "test-only-cookie-key-0123456789abcdefghijklmnop"


@pytest.fixture(autouse=True)
def page_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every page test's settings; a test that needs another value (or none) sets it again afterwards."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COOKIE_KEY", TEST_COOKIE_KEY)
    monkeypatch.setenv("MAIL_DISPATCH_SECONDS", "0")  # tests dispatch explicitly
    monkeypatch.setenv("TICK_SECONDS", "0")  # and tick explicitly: a background tick would audit and purge


def render_page(
    module: str,
    actor: Actor | None = None,
    *,
    event_id: int | None = None,
    query: Mapping[str, str] | None = None,
) -> AppTest:
    """Run `pages.<module>.render()` alone, logged in as `actor` (or anonymous), for the chosen event and with
    these query parameters."""
    at = AppTest.from_string(f"from pages import {module}\n{module}.render()", default_timeout=30)
    if actor is not None:
        at.session_state["auth.actor"] = actor
        at.session_state["auth.issued_at"] = utcnow()
    if event_id is not None:
        at.session_state["organiser.event_id"] = event_id
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def button(at: AppTest, label: str) -> Any:
    """The button (plain or a form's submit button) labelled `label`."""
    return next(b for b in [*at.button, *at.get("form_submit_button")] if b.label == label)


def click(at: AppTest, label: str) -> AppTest:
    """Click the button labelled `label` and run the page again."""
    return button(at, label).click().run()


@pytest.fixture
def app() -> AppFactory:
    """Build an AppTest of app.py for `/?event=<slug>` (or the bare `/` when slug is None)."""

    def build(slug: str | None = None) -> AppTest:
        at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=30)
        if slug is not None:
            at.query_params["event"] = slug
        return at.run()

    return build


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, bytes]]:
    """The bytes behind each download button, by file name, as Streamlit's media storage received them."""
    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self: MemoryMediaFileStorage, path_or_data: Any, mimetype: str, kind: Any,
            filename: str | None = None) -> str:
        if filename is not None and isinstance(path_or_data, bytes):
            files[filename] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    yield files


def revoking_once(engine: Engine) -> Callable[[Session, str, datetime], Actor | None]:
    """`users.session_actor` as it answers, once, when an admin's "log out everywhere" comes in the instant before
    it reads a login issued from now on (a login starting); otherwise as usual. Patched into ui.login_session."""
    armed_at = utcnow()
    revoked: list[str] = []

    def revoked_in_that_instant(session: Session, username: str, issued: datetime) -> Actor | None:
        if not revoked and issued >= armed_at:
            revoked.append(username)
            with unit_of_work(engine) as other:
                revoke_sessions(other, get_user(other, username))
        return session_actor(session, username, issued)

    return revoked_in_that_instant
