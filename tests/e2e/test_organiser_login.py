"""Organiser login in a real browser: the cookie survives a reload, logout revokes it, protected URLs stay shut."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.db import make_engine, unit_of_work
from core.events import get_published_event
from core.models import Order
from core.orders import place_order
from tests.e2e.conftest import Server, log_in, screenshot

PROTECTED_PATHS = ["dashboard", "orders", "status-upload", "exports", "events", "form-builder", "items", "codes", "vendors",
                   "mail-templates", "outbox", "audit", "purge", "users", "account"]


COOKIE_COMPONENT = "**/component/extra_streamlit_components.CookieManager.cookie_manager/**"


def _sidebar_has_orders_link(page) -> bool:  # noqa: ANN001
    return page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Orders").count() == 1


def test_login_survives_a_reload_and_logout_revokes_the_cookie(server: Server, browser) -> None:  # noqa: ANN001
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, server)
    page.goto(f"{server.url}/orders")
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Orders").wait_for()
    assert _sidebar_has_orders_link(page)
    screenshot(page, "organiser-1-after-reload")
    stolen = context.cookies()
    assert any(cookie["name"] == "event_orders_login" for cookie in stolen)

    page.goto(f"{server.url}/account")
    page.get_by_role("button", name="Log out").click()
    page.get_by_text("You are logged out.").wait_for()

    # The cookie copied before logout is worthless afterwards, even in a fresh browser.
    replay = browser.new_context()
    replay.add_cookies(stolen)
    replayed = replay.new_page()
    replayed.set_default_timeout(20_000)
    replayed.goto(f"{server.url}/orders")
    replayed.get_by_role("button", name="Open the order form").wait_for()  # the public landing page
    assert not _sidebar_has_orders_link(replayed)
    screenshot(replayed, "organiser-2-replayed-cookie-refused")
    replay.close()
    context.close()


def test_the_login_cookie_is_stored_even_when_the_organiser_moves_on_before_it_could_be(
        server: Server, browser) -> None:  # noqa: ANN001
    context = browser.new_context()
    # The component that stores the cookie runs in an iframe of its own; hold its files back, as a slow network
    # or a busy machine would, until the organiser has long left the login screen.
    held = []
    context.route(COOKIE_COMPONENT, lambda route: held.append(route))
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, server, cookie=False)  # lands on the Dashboard at once
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Orders", exact=True).click()
    page.get_by_role("heading", name="Orders", exact=True).wait_for()
    assert held and not _login_cookie(context)
    for route in held:
        route.continue_()
    context.unroute(COOKIE_COMPONENT)
    page.wait_for_function("document.cookie.includes('event_orders_login=')")
    # A new tab of the same browser is logged in by that cookie.
    other = context.new_page()
    other.set_default_timeout(20_000)
    other.goto(f"{server.url}/orders")
    other.locator('[data-testid="stSidebar"]').get_by_role("link", name="Orders").wait_for()
    assert _sidebar_has_orders_link(other)
    context.close()


def _login_cookie(context) -> str | None:  # noqa: ANN001
    return next((c["value"] for c in context.cookies() if c["name"] == "event_orders_login"), None)


@pytest.mark.parametrize("path", PROTECTED_PATHS)
def test_protected_url_as_the_first_request_shows_nothing_protected(server: Server, page, path: str) -> None:  # noqa: ANN001
    engine = make_engine(server.database_url)
    with unit_of_work(engine) as session:
        place_order(session, get_published_event(session, "demo"), {
            "name": "Zebedee Secretname", "email": "zebedee@example.com", "consent": True,
            "items": [{"item": "hoodie", "options": {"size": "M"}, "quantity": 1}],
        }, idempotency_key="e2e-secret")
        reference = session.scalars(select(Order.reference)).one()
    engine.dispose()
    page.goto(f"{server.url}/{path}")  # the very first request this server sees
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)
    body = page.locator("body").inner_text()
    assert "Zebedee" not in body and reference not in body
    assert page.locator('[data-testid="stDataFrame"]').count() == 0
    assert not _sidebar_has_orders_link(page)
