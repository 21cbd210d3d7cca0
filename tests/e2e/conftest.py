"""Browser tests: a real `streamlit run` on 127.0.0.1 and Debian's Chromium driven by Playwright.

Without Chromium the tests skip with the reason (CI installs it and treats a skip as a failure). Screenshots of
key screens go to test-artifacts/screenshots/, printed at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.config import PROJECT_DIR
from core.db import make_engine, read_only
from tests.streamlit_server import start_streamlit, stop_streamlit

SCREENSHOTS = PROJECT_DIR / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
# Chromium's background services try to reach Google; this machine's network refuses them, so switch them off.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


E2E_COOKIE_KEY = "e2e-only-cookie-key-0123456789abcdefghijklmnop"


ADMIN_PASSWORD = "e2e admin password 123"


@dataclass(frozen=True)
class Server:
    url: str
    database_url: str


def start_server(database_url: str, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `streamlit run app.py` on a free loopback port and wait until it answers its health check."""
    return start_streamlit("app.py", {"DATABASE_URL": database_url, "COOKIE_KEY": E2E_COOKIE_KEY}, log_path)


stop_server = stop_streamlit


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """A freshly started app server with the demo event and an admin `e2e`, on this test's own database."""
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "core", "demo"], cwd=PROJECT_DIR, check=True, capture_output=True,
                   env=env, timeout=120)
    subprocess.run([sys.executable, "-m", "core", "users", "add", "e2e", "--role", "admin", "--name", "E2E Admin"],
                   cwd=PROJECT_DIR, check=True, capture_output=True, env=env, timeout=120,
                   input=f"{ADMIN_PASSWORD}\n".encode())
    process, url = start_server(database_url, tmp_path / "streamlit.log")
    try:
        yield Server(url=url, database_url=database_url)
    finally:
        stop_server(process)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); browser tests need it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):  # noqa: ANN001, ANN201 - Playwright types stay inside the e2e tests
    context = browser.new_context(viewport={"width": 1000, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def screenshot(page, name: str) -> Path:  # noqa: ANN001
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCREENSHOTS.exists() and any(SCREENSHOTS.iterdir()):
        terminalreporter.write_line(f"Browser screenshots: {SCREENSHOTS}")


T = TypeVar("T")


# --- helpers the browser tests share ---------------------------------------------------------------------------


def stored(database_url: str, model: type[T]) -> list[T]:
    """Every row of `model` in the server's database, read outside the browser."""
    engine = make_engine(database_url)
    with read_only(engine) as session:
        rows = list(session.scalars(select(model)).all())
    engine.dispose()
    return rows


def textbox(page, label: str):  # noqa: ANN001, ANN201
    return page.get_by_role("textbox", name=label, exact=True)


def settled(page) -> None:  # noqa: ANN001
    """Wait until the app's script run has ended and Streamlit has dropped the previous run's stale elements.

    While a run redraws a screen, Streamlit keeps the old elements (faded) beside the new ones, so a locator can
    match both copies, or the old one only. Call it after waiting for something the run itself draws: right after
    a click the run may not have started yet, and the page still looks settled."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()
    expect(page.locator('[data-testid="stElementContainer"][data-stale="true"]')).to_have_count(0, timeout=20_000)


def after_change(page) -> None:  # noqa: ANN001
    """Wait for the run that a change in a widget starts, then until it has settled (`settled`)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        page.locator('[data-testid="stApp"][data-test-script-state="running"]').wait_for(state="attached",
                                                                                          timeout=2000)
    except PlaywrightTimeoutError:
        pass  # it was over before we looked
    settled(page)


def commit(page, label: str, value: str) -> None:  # noqa: ANN001
    """Type into a text input and leave it, as a person does, and wait for the run that applies it (the form
    builder applies a change on leaving)."""
    settled(page)
    box = textbox(page, label)
    box.fill(value)
    box.press("Tab")
    after_change(page)


def choose(page, label: str, option: str) -> None:  # noqa: ANN001
    """Pick `option` in a select box, once the screen has settled. Scrolled into view first: a select that
    Streamlit's main area is still scrolling towards ignores the click that started the scroll (in Playwright;
    a finger taps what it sees)."""
    settled(page)
    box = page.get_by_role("combobox", name=label)
    box.scroll_into_view_if_needed()
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    after_change(page)


def dismiss_page_not_found(page) -> None:  # noqa: ANN001
    """The first deep link after a start meets Streamlit's legacy pages/ mode, which finds no pages/login.py,
    says "Page not found" once and runs app.py, whose own navigation then serves the page underneath."""
    dialog = page.get_by_role("dialog")
    dialog.wait_for()  # shown on this server's very first deep link, so its absence would be news
    assert "Page not found" in dialog.inner_text()
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")


def log_in(page, server: Server, *, events: bool = True, cookie: bool = True) -> None:  # noqa: ANN001
    """Log the e2e admin in through /login, as the very first request the server sees, and wait until the browser
    holds the login cookie (`cookie=False`: only until the Dashboard shows). `events=False` for a server whose
    database holds no event yet, whose Dashboard says so instead of showing an event's figures."""
    page.goto(f"{server.url}/login")
    page.get_by_role("textbox", name="Username").wait_for()
    dismiss_page_not_found(page)
    page.get_by_role("textbox", name="Username").fill("e2e")
    page.get_by_role("textbox", name="Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")  # where app.py lands a login
    if events:
        page.get_by_role("heading", name="Items ordered").wait_for()
    else:
        page.get_by_text("There are no events yet. Create one on the Events page.").wait_for()
    # The login cookie is stored by a component in the browser, a moment later: a reload before it would find
    # no login (the new tab of a person who just logged in would too).
    if cookie:
        page.wait_for_function("document.cookie.includes('event_orders_login=')")
        # The component's answer reruns the page once more, which then draws it no longer.
        expect(page.locator('iframe[src*="cookie_manager"]')).to_have_count(0, timeout=20_000)
        settled(page)
