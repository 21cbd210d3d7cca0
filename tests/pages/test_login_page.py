"""Logging in through app.py: the library's form, our throttling, and server-side revocation on every run."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.login_throttle import USERNAME_MAX_DELAY, login_wait, record_failed_login
from core.models import UserRole, utcnow
from core.users import create_user, get_user, login_cookie_claims, revoke_sessions
from tests.pages.conftest import TEST_COOKIE_KEY, AppFactory, render_page, revoking_once
from ui import login_session

PASSWORD = "a long enough password"
PROTECTED_PAGES = ["dashboard_page", "orders_page", "exports_page", "events_page", "form_builder_page", "items_page",
                   "vendors_page", "mail_templates_page", "outbox_page", "audit_page", "users_page", "account_page"]


@pytest.fixture
def organiser(engine: Engine) -> str:
    with unit_of_work(engine) as session:
        create_user(session, None, username="olga", display_name="Olga", role=UserRole.ORGANISER, password=PASSWORD)
    return "olga"


def _script(body: str) -> AppTest:
    """A page run the way app.py runs it: the login is re-checked first (AppTest cannot open callable pages)."""
    script = f"from ui import login_session\nlogin_session.restore_session()\n{body}"
    return AppTest.from_string(script, default_timeout=30)


@pytest.fixture
def login_page() -> AppTest:
    return _script("from pages import login_page\nlogin_page.render()").run()


def _submit(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    return at.button[0].click().run()


def test_correct_password_logs_in(login_page: AppTest, organiser: str) -> None:
    at = _submit(login_page, organiser, PASSWORD)
    assert not at.exception
    # The run after the login (app.py would land it on the Dashboard) still holds it, and the cookie waiting
    # to be stored in the browser (ui/login_session.store_login_cookie) is olga's, issued with this login.
    assert at.session_state["auth.actor"].username == "olga"
    assert at.success[0].value.startswith("You are logged in.")
    token, _ = at.session_state["auth.cookie_pending"]
    claims = login_cookie_claims(token, TEST_COOKIE_KEY, 7.0)
    assert claims is not None and claims[0] == "olga"
    assert abs((claims[1] - at.session_state["auth.issued_at"]).total_seconds()) < 0.01


def test_the_pending_cookie_is_drawn_on_every_run_until_the_browser_says_it_stored_it(
        login_page: AppTest, organiser: str) -> None:
    at = _submit(login_page, organiser, PASSWORD)
    frame = _script("login_session.store_login_cookie()")  # what app.py runs on every page after a login
    frame.session_state["auth.actor"] = at.session_state["auth.actor"]
    frame.session_state["auth.issued_at"] = at.session_state["auth.issued_at"]
    frame.session_state["auth.cookie_pending"] = pending = at.session_state["auth.cookie_pending"]
    frame = frame.run().run()  # whatever the page, the component stays until it answers
    assert not frame.exception
    assert frame.session_state["auth.cookie_pending"] == pending
    frame.session_state[pending[1]] = True  # the component's answer: the browser stored the cookie
    frame = frame.run()
    assert "auth.cookie_pending" not in frame.session_state


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(login_page: AppTest, organiser: str) -> None:
    at = _submit(login_page, organiser, "not the password")
    assert at.error[0].value == "Username or password is incorrect."
    assert "auth.actor" not in at.session_state
    at = _submit(at, "nobody", PASSWORD)
    assert at.error[0].value == "Username or password is incorrect."


def test_repeated_failures_throttle_this_client_for_that_username_and_the_form_stays(
    login_page: AppTest, organiser: str
) -> None:
    at = login_page
    for _ in range(7):
        at = _submit(at, organiser, "not the password")
    assert "Too many failed attempts" in at.error[0].value
    at.run()
    assert [w.label for w in at.text_input] == ["Username", "Password"]  # others behind this address log in
    at = _submit(at, organiser, PASSWORD)  # this client, this username: even the right password waits
    assert "auth.actor" not in at.session_state
    assert "Too many failed attempts" in at.error[0].value


def test_an_attacker_at_the_same_address_does_not_keep_another_organiser_out(
    login_page: AppTest, engine: Engine, organiser: str
) -> None:
    """The review's simulation: one session hammers a username and sprays unknown ones, while another organiser
    logs in at once. AppTest sessions have no address, like every client behind a proxy that passes none: each is
    its own client (they used to share one key, and the form was hidden from all of them)."""
    with unit_of_work(engine) as session:
        create_user(session, None, username="bea", display_name="Bea", role=UserRole.ORGANISER,
                    password="bea's own long password")
    attacker = login_page
    for n in range(10):
        attacker = _submit(attacker, organiser, f"guess {n}")
        attacker = _submit(attacker, f"nobody{n}", "guess")
    assert "Too many failed attempts" in attacker.error[0].value
    colleague = _script("from pages import login_page\nlogin_page.render()").run()
    assert [w.label for w in colleague.text_input] == ["Username", "Password"]
    colleague = _submit(colleague, "bea", "bea's own long password")
    assert colleague.session_state["auth.actor"].username == "bea"
    # The attacker's own session may not try the attacked username for long, even with the right password ...
    attacker = _submit(attacker, organiser, PASSWORD)
    assert "auth.actor" not in attacker.session_state and "Too many failed attempts" in attacker.error[0].value
    # ... while anyone else waits for it at most USERNAME_MAX_DELAY: no lockout.
    with read_only(engine) as session:
        assert login_wait(session, organiser, "session:someone-else") <= USERNAME_MAX_DELAY.total_seconds()


def test_throttled_username_cannot_log_in_even_with_the_right_password(
    login_page: AppTest, engine: Engine, organiser: str
) -> None:
    with unit_of_work(engine) as session:
        for n in range(8):
            record_failed_login(session, organiser, f"203.0.113.{n}")  # a stranger elsewhere
    at = _submit(login_page, organiser, PASSWORD)
    assert "auth.actor" not in at.session_state
    assert "Too many failed attempts" in at.error[0].value


def test_revoked_login_is_dropped_on_the_next_run(login_page: AppTest, engine: Engine, organiser: str) -> None:
    at = _submit(login_page, organiser, PASSWORD)
    assert "auth.actor" in at.session_state
    with unit_of_work(engine) as session:
        revoke_sessions(session, get_user(session, organiser))  # e.g. a logout on another device
    at.run()
    assert "auth.actor" not in at.session_state


def test_a_login_revoked_while_its_password_was_checked_does_not_start(
        login_page: AppTest, engine: Engine, organiser: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(login_session, "session_actor", revoking_once(engine))
    at = _submit(login_page, organiser, PASSWORD)
    assert not at.exception
    assert "auth.actor" not in at.session_state and "auth.cookie_pending" not in at.session_state
    assert [e.value for e in at.error] == ["Username or password is incorrect."]
    assert [w.label for w in at.text_input] == ["Username", "Password"]  # the form, to log in again
    assert "auth.actor" in _submit(at, organiser, PASSWORD).session_state


def test_logout_on_the_account_page_ends_the_login(engine: Engine, organiser: str) -> None:
    at = _script("from pages import account_page\naccount_page.render()")
    issued = utcnow()
    at.session_state["auth.actor"] = Actor(1, organiser, UserRole.ORGANISER)
    at.session_state["auth.issued_at"] = issued
    at.run()
    logout = next(b for b in at.button if b.label == "Log out")
    at = logout.click().run()
    assert "You are logged out." in at.success[0].value
    assert "auth.actor" not in at.session_state
    at.session_state["auth.actor"] = Actor(1, organiser, UserRole.ORGANISER)  # the old login, replayed
    at.session_state["auth.issued_at"] = issued
    at.run()
    assert "auth.actor" not in at.session_state  # revoked in the database, not just forgotten here


@pytest.mark.parametrize("module", PROTECTED_PAGES)
def test_every_protected_page_refuses_an_anonymous_session_on_its_own(module: str) -> None:
    """Even run directly (as Streamlit's legacy multipage mode could), a page shows nothing but the login hint."""
    at = render_page(module)
    assert not at.exception
    assert [w.value for w in at.warning] == ["Please log in to see this page."]
    assert len(at.main.children) == 1 and not at.sidebar.children


def test_app_refuses_to_start_without_a_strong_cookie_key(app: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOKIE_KEY", "short")
    at = app("demo")
    assert "COOKIE_KEY is too short" in at.error[0].value
    assert not at.text_input
    monkeypatch.delenv("COOKIE_KEY")
    at = app("demo")
    assert "COOKIE_KEY is not set" in at.error[0].value
