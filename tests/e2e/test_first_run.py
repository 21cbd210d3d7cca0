"""The first run in a real browser, started the way `make run PORT=...` starts it: log in with the password printed
on the console, set one's own, land on the Dashboard with its setup checklist, duplicate the demo event and
preview the copy; mail links lead to the port served on."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.config import PROJECT_DIR
from tests.e2e.conftest import E2E_COOKIE_KEY, dismiss_page_not_found, screenshot, settled, textbox
from tests.streamlit_server import free_port

NEW_PASSWORD = "my own first-run password"


@dataclass(frozen=True)
class FirstRun:
    url: str
    port: int
    printed_password: str


def _make_run_recipe(port: int) -> tuple[str, str]:
    """The demo-seeding and serving commands of `make run PORT=port`, as make would run them (a dry run, so that
    the test installs nothing into the shared virtualenv)."""
    recipe = subprocess.run(["make", "-n", "run", f"PORT={port}"], cwd=PROJECT_DIR, capture_output=True, text=True,
                            timeout=60, check=True).stdout
    demo = next(line for line in recipe.splitlines() if "-m core demo" in line)
    serve = recipe[recipe.index("PUBLIC_BASE_URL="):].strip()
    return demo, serve


@pytest.fixture
def first_run(database_url: str, tmp_path: Path) -> Iterator[FirstRun]:
    port = free_port()
    demo, serve = _make_run_recipe(port)
    env = {**os.environ, "DATABASE_URL": database_url, "COOKIE_KEY": E2E_COOKIE_KEY,
           "STREAMLIT_SERVER_HEADLESS": "true", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    env.pop("PUBLIC_BASE_URL", None)  # as on a fresh clone: make run must set it
    seeded = subprocess.run(["bash", "-c", demo], cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
                            timeout=120, check=True).stdout
    printed = re.search(r"Password \(shown only this once\): (\S+)", seeded)
    assert printed is not None, seeded
    log = (tmp_path / "make-run.log").open("wb")
    # Its own process group: bash runs `$(python -m core public-url)` and then streamlit under it.
    process = subprocess.Popen(["bash", "-c", serve], cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process)
        yield FirstRun(url, port, printed.group(1))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "make run's server exited early"
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the server did not answer within {timeout:.0f} s")


def _login_cookie(context) -> str | None:  # noqa: ANN001
    return next((c["value"] for c in context.cookies() if c["name"] == "event_orders_login"), None)


def _sidebar(page, name: str) -> None:  # noqa: ANN001
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name=name, exact=True).click()


def test_first_run_from_the_printed_password_to_a_previewed_copy(first_run: FirstRun, browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(20_000)

    # Log in with what the console printed: nothing but a new password is offered.
    page.goto(f"{first_run.url}/login")
    page.get_by_role("textbox", name="Username").wait_for()
    dismiss_page_not_found(page)
    page.get_by_role("textbox", name="Username").fill("admin")
    page.get_by_role("textbox", name="Password").fill(first_run.printed_password)
    page.get_by_role("button", name="Log in").click()
    # The login's rerun and the switch to this screen may briefly show two copies of it: wait until it settles.
    page.get_by_role("heading", name="Set your own password").first.wait_for()
    settled(page)
    expect(page.get_by_role("heading", name="Set your own password")).to_have_count(1)
    assert page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Orders").count() == 0
    textbox(page, "New password").fill(NEW_PASSWORD)
    textbox(page, "New password again").fill(NEW_PASSWORD)
    screenshot(page, "first-run-1-new-password")
    cookie_before = _login_cookie(context)
    page.get_by_role("button", name="Set password").click()

    # Straight on to the Dashboard, with the checklist, and no warning about mail links: make run set
    # PUBLIC_BASE_URL.
    page.wait_for_url("**/dashboard")
    page.get_by_text("Your new password is set.").wait_for()
    page.get_by_role("heading", name="Summer Meetup 2027").wait_for()
    page.get_by_text("Setup checklist:").wait_for()
    page.get_by_role("link", name="Route items to vendors").wait_for()
    assert page.get_by_text("PUBLIC_BASE_URL").count() == 0
    screenshot(page, "first-run-2-dashboard-checklist")

    # The new password holds after a reload (the cookie was issued anew), and the login lands on the Dashboard.
    # The renewed cookie is stored by a component in the browser, which app.py keeps drawn until it has: wait.
    for _ in range(40):
        if _login_cookie(context) not in (None, cookie_before):
            break
        page.wait_for_timeout(500)
    assert _login_cookie(context) not in (None, cookie_before)
    page.goto(f"{first_run.url}/login")
    page.wait_for_url("**/dashboard")
    page.get_by_role("heading", name="Summer Meetup 2027").wait_for()

    # Mail links lead to the port make run serves on.
    _sidebar(page, "Mail templates")
    page.get_by_text(f"http://127.0.0.1:{first_run.port}/lookup").first.wait_for()

    # Duplicate the demo event: the address name follows the title.
    _sidebar(page, "Events")
    page.get_by_text("Duplicate this event").click()
    duplicate = page.locator('[data-testid="stExpander"]').filter(has_text="Duplicate this event")
    title = duplicate.get_by_role("textbox", name="Title")
    title.fill("Summer Meetup 2028")
    title.press("Enter")
    slug = duplicate.get_by_role("textbox", name="Address name")
    page.wait_for_function("(el) => el.value === 'summer-meetup-2028'", arg=slug.element_handle())
    duplicate.get_by_role("button", name="Duplicate").click()
    page.get_by_text("Duplicated. The copy is a draft").wait_for()
    page.get_by_role("heading", name="Summer Meetup 2028").wait_for()
    screenshot(page, "first-run-3-duplicated")

    # Preview the copy: the attendee's page, with a banner, and no way to order.
    page.get_by_role("link", name="Preview the public page").click()
    page.get_by_text("Preview: orders are not taken.").wait_for()
    page.get_by_role("heading", name="Summer Meetup 2028").wait_for()
    assert page.get_by_role("button", name="Place order").is_disabled()
    screenshot(page, "first-run-4-preview")
    context.close()
