"""An attendee opens their order from the mail's secret link (/lookup?t=...) as the very first request to a
freshly started server, changes a size, and finds it again by reference plus email, in a phone-sized browser."""

from __future__ import annotations

from pathlib import Path

from core.db import make_engine, unit_of_work
from core.events import get_published_event
from core.models import OrderLine
from core.orders import place_order
from tests.e2e.conftest import Server, dismiss_page_not_found, screenshot, stored


def _place_demo_order(database_url: str) -> tuple[str, str]:
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        receipt = place_order(session, get_published_event(session, "demo"), {
            "name": "Ada Lovelace", "email": "ada@example.com", "consent": True,
            "items": [{"item": "tshirt", "options": {"type": "Fitted", "size": "M", "colour": "Black"},
                       "quantity": 2}],
        }, idempotency_key="e2e-lookup")
    engine.dispose()
    assert receipt.lookup_token
    return receipt.reference, receipt.lookup_token


def test_the_secret_link_opens_the_order_on_a_phone_to_change_a_size(server: Server, browser, tmp_path: Path) -> None:  # noqa: ANN001
    reference, token = _place_demo_order(server.database_url)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(f"{server.url}/lookup?t={token}")
        page.get_by_text(reference).first.wait_for()
        page.get_by_role("button", name="Change my order").wait_for()
        screenshot(page, "lookup-1-by-link")

        # Change the t-shirt from M to L.
        dismiss_page_not_found(page)
        page.get_by_role("button", name="Change my order").click()
        size = page.get_by_role("combobox", name="T-shirt size")
        size.scroll_into_view_if_needed()
        size.click()
        page.get_by_role("option", name="L", exact=True).click()
        page.get_by_role("button", name="Save changes").click()
        page.get_by_text("Your order has been changed.").wait_for()
        screenshot(page, "lookup-2-size-changed")
        assert [line.variant_key for line in stored(server.database_url, OrderLine)] == ["Fitted/L/Black"]

        other = context.new_page()
        other.goto(f"{server.url}/lookup")
        other.get_by_role("textbox", name="Order reference").fill(reference.lower())
        other.get_by_role("textbox", name="Email address").fill("ADA@example.com")
        other.get_by_role("button", name="Find my order").click()
        other.get_by_role("button", name="Cancel my order").wait_for()
        screenshot(other, "lookup-3-by-reference")
    finally:
        context.close()
    # The server's log (the `server` fixture writes it here) never holds the secret.
    assert token not in (tmp_path / "streamlit.log").read_text()
