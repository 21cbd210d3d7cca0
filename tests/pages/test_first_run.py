"""The first run through app.py: a printed password must be replaced before anything else, and a logged-in
organiser lands on the Dashboard rather than on a page that only says they are logged in."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from core.config import PROJECT_DIR
from core.db import read_only, unit_of_work
from core.demo import seed_demo
from core.models import UserRole, utcnow
from core.users import actor_for, check_password, create_user, ensure_initial_admin, get_user
from tests.pages.conftest import click, render_page, revoking_once
from ui import login_session

NEW_PASSWORD = "a password only I know"


@pytest.fixture
def printed_password(engine: Engine) -> str:
    """A first start, as `make run` does it: the demo event and `admin` with a password printed on the console."""
    with unit_of_work(engine) as session:
        seed_demo(session)
        password = ensure_initial_admin(session)
    assert password is not None
    return password


def _logged_in_app(engine: Engine, username: str) -> AppTest:
    """app.py at `/` for a session that has just logged in as `username` (AppTest cannot set cookies)."""
    with read_only(engine) as session:
        actor = actor_for(get_user(session, username))
    at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=30)
    at.session_state["auth.actor"] = actor
    at.session_state["auth.issued_at"] = utcnow()
    return at.run()


def test_the_printed_password_leads_to_setting_a_new_one_and_nothing_else(
    engine: Engine, printed_password: str
) -> None:
    at = _logged_in_app(engine, "admin")
    assert not at.exception
    assert at.title[0].value == "Set your own password"
    assert [w.label for w in at.text_input] == ["New password", "New password again"]
    links = [link.proto.page for link in at.sidebar.get("page_link")]
    assert "dashboard" not in links and "events" not in links  # the organiser pages are not even registered


def test_every_organiser_page_refuses_until_the_password_is_replaced(engine: Engine, printed_password: str) -> None:
    with read_only(engine) as session:
        admin = actor_for(get_user(session, "admin"))
    at = render_page("dashboard_page", admin)
    assert not at.exception
    assert [w.value for w in at.warning] == ["Set a new password of your own before anything else."]
    assert not at.title and not at.metric


def test_keeping_the_printed_password_is_refused(engine: Engine, printed_password: str) -> None:
    at = _logged_in_app(engine, "admin")
    at.text_input[0].input(printed_password)
    at.text_input[1].input(printed_password)
    at = click(at, "Set password")
    assert at.error[0].value == "Choose a new password, not the one you were given."
    at = _logged_in_app(engine, "admin")
    assert at.title[0].value == "Set your own password"


def test_after_the_new_password_the_organiser_lands_on_the_dashboard_still_logged_in(
    engine: Engine, printed_password: str
) -> None:
    at = _logged_in_app(engine, "admin")
    at.text_input[0].input(NEW_PASSWORD)
    at.text_input[1].input(NEW_PASSWORD)
    at = click(at, "Set password")  # straight on to the Dashboard, saying so
    assert not at.exception
    assert [toast.value for toast in at.toast] == ["Your new password is set."]
    with read_only(engine) as session:
        assert check_password(session, "admin", NEW_PASSWORD)
        assert not get_user(session, "admin").must_change_password
    assert at.session_state["auth.actor"].username == "admin"  # the change revoked old logins, not this one
    assert at.session_state["auth.cookie_pending"]  # and its new cookie waits for the browser to store it
    assert at.title[0].value == "Summer Meetup 2027"  # the demo event's Dashboard
    assert [m.label for m in at.metric][:1] == ["Orders"]


def test_a_login_ended_while_the_new_password_was_saved_says_so_and_asks_to_log_in_again(
    engine: Engine, printed_password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _logged_in_app(engine, "admin")
    monkeypatch.setattr(login_session, "session_actor", revoking_once(engine))
    at.text_input[0].input(NEW_PASSWORD)
    at.text_input[1].input(NEW_PASSWORD)
    at = click(at, "Set password")
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Your new password is set, but this login was ended meanwhile. Please log in again with your new password."]
    assert "Log in" in [link.label for link in at.main.get("page_link")] + [m.value for m in at.markdown]
    assert "auth.actor" not in at.session_state and "auth.cookie_pending" not in at.session_state
    with read_only(engine) as session:
        assert check_password(session, "admin", NEW_PASSWORD)


def test_a_logged_in_organiser_at_the_bare_address_lands_on_the_dashboard(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        seed_demo(session)
        create_user(session, None, username="root", display_name="Root", role=UserRole.ADMIN,
                    password=NEW_PASSWORD)
    at = _logged_in_app(engine, "root")
    assert not at.exception
    assert at.title[0].value == "Summer Meetup 2027"
    assert [m.label for m in at.metric][:1] == ["Orders"]
    # The checklist's links are Streamlit page links within the app, e.g. to route the demo's items.
    assert "vendors" in [link.proto.page for link in at.main.get("page_link")]
