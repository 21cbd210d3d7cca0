"""Issue 13's whole journey in a real browser, from an empty database: an organiser creates an event, adds a hoodie
with sizes and a breakfast box, builds a form whose delivery address is asked only with a breakfast box, adds a
per-order and a batch vendor, routes the items, publishes, and two attendees order, one of them a breakfast box."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.config import PROJECT_DIR
from core.models import Event, FormVersion, Order, OrderPersonalData, OutboxMessage, Vendor, VendorMode
from tests.e2e.conftest import (
    ADMIN_PASSWORD,
    Server,
    choose,
    commit,
    log_in,
    screenshot,
    settled,
    start_server,
    stop_server,
    stored,
    textbox,
)

TITLE = "Running Club Hoodie Drop"
SLUG = "running-club-hoodie-drop"
PURPOSE = "To deliver your breakfast box to your door."
HOODIE_MAKER, BAKERY = "Stitch & Print", "Dawn Bakery"


@pytest.fixture
def empty_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """A started app server on an empty database: no demo event, only the admin `e2e`."""
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "core", "users", "add", "e2e", "--role", "admin", "--name", "E2E Admin"],
                   cwd=PROJECT_DIR, check=True, capture_output=True, env=env, timeout=120,
                   input=f"{ADMIN_PASSWORD}\n".encode())
    process, url = start_server(database_url, tmp_path / "streamlit.log")
    try:
        yield Server(url=url, database_url=database_url)
    finally:
        stop_server(process)


def _sidebar(page, name: str) -> None:  # noqa: ANN001
    """Follow a link of our own sidebar menu (a reload would keep the login but forget the chosen event)."""
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name=name, exact=True).click()
    page.get_by_role("heading", name=name, exact=True).first.wait_for()


def _add_item(page, key: str, name: str, price: str, dimensions: str = "") -> None:  # noqa: ANN001
    adding = page.locator('[data-testid="stForm"]').filter(has=page.get_by_role("button", name="Add item"))
    adding.get_by_role("textbox", name="Key").fill(key)
    adding.get_by_role("textbox", name="Name").fill(name)
    adding.get_by_role("textbox", name="Price").fill(price)
    adding.get_by_role("textbox", name="Dimensions").fill(dimensions)
    adding.get_by_role("button", name="Add item").click()
    page.get_by_text(f"Added {name}.").wait_for()


def _add_vendor(page, name: str, email: str, mode: str) -> None:  # noqa: ANN001
    adding = page.locator('[data-testid="stForm"]').filter(has=page.get_by_role("button", name="Add vendor"))
    adding.get_by_role("textbox", name="Name").fill(name)
    adding.get_by_role("textbox", name="Emails").fill(email)
    adding.get_by_text(mode).click()
    adding.get_by_role("button", name="Add vendor").click()
    page.get_by_text(f"Added {name}.").wait_for()


def _order(browser, server: Server, name: str, email: str, breakfast: bool) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1000, "height": 1800})
    public = context.new_page()
    public.set_default_timeout(20_000)
    public.goto(f"{server.url}/?event={SLUG}")
    public.get_by_role("button", name="Place order").wait_for()
    textbox(public, "Full name *").fill(name)
    textbox(public, "Email *").fill(email)
    choose(public, "Hoodie size", "M")
    hoodies = public.get_by_role("spinbutton", name="Hoodie quantity")
    hoodies.fill("1")
    hoodies.press("Tab")
    if breakfast:
        boxes = public.get_by_role("spinbutton", name="Breakfast box quantity")
        boxes.fill("1")
        boxes.press("Tab")
        textbox(public, "Street and number").wait_for()
        public.get_by_text("Delivery address *", exact=True).scroll_into_view_if_needed()
        screenshot(public, "hoodie-drop-4-form-with-address")
        textbox(public, "Street and number").fill("12 Quarry Lane")
        textbox(public, "City").fill("Millbrook")
        textbox(public, "Postcode").fill("MB1 2QL")
        textbox(public, "Country").fill("United Kingdom")
        textbox(public, "Country").press("Tab")
    else:
        public.get_by_text("Hoodie size").scroll_into_view_if_needed()
        expect(public.get_by_text("Delivery address")).to_have_count(0)
        expect(textbox(public, "Street and number")).to_have_count(0)
        screenshot(public, "hoodie-drop-3-form-without-address")
    public.get_by_text("I agree that my details").click()
    public.get_by_role("button", name="Place order").click()
    public.get_by_text("Your order reference is").wait_for()
    context.close()


def test_organiser_builds_the_hoodie_drop_from_nothing_and_only_breakfast_orders_give_an_address(
        empty_server: Server, browser) -> None:  # noqa: ANN001
    server = empty_server
    context = browser.new_context(viewport={"width": 1440, "height": 2600})
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, server, events=False)

    # The event, a draft at first.
    _sidebar(page, "Events")
    page.get_by_role("textbox", name="Title").first.fill(TITLE)
    page.get_by_role("textbox", name="Title").first.press("Tab")
    expect(page.get_by_role("textbox", name="Address name").first).to_have_value(SLUG)  # follows the title
    page.get_by_role("button", name="Create event").click()
    # The "New event" panel closes once an event exists; its notice stays visible below it.
    page.get_by_text("Created. It is a draft until you publish it.").wait_for()
    page.get_by_text("Published: attendees can open the public page").wait_for()

    # A hoodie in three sizes and a breakfast box with no choices.
    _sidebar(page, "Items")
    page.get_by_text("This event offers nothing yet").wait_for()
    _add_item(page, "hoodie", "Hoodie", "35.00", "Size: S, M, L")
    _add_item(page, "breakfast", "Breakfast box", "8.50")

    # The form: the usual start, then a delivery address shown only with a breakfast box, personal with a purpose.
    _sidebar(page, "Form builder")
    page.get_by_role("button", name="Start from the usual form: name, email, items and consent").click()
    page.get_by_role("button", name="What would you like? · Items to order").wait_for()
    page.get_by_role("button", name="Delivery address", exact=True).click()
    textbox(page, "Label").wait_for()
    expect(textbox(page, "Label")).to_have_value("Delivery address")
    page.get_by_text("A postal address is always personal data").wait_for()  # an address needs no tick, only its purpose
    commit(page, "Why you need it (shown to attendees)", PURPOSE)
    choose(page, "Show only if", "What would you like?")
    choose(page, "Answer that shows this field", "Breakfast box")
    page.get_by_text("Shown if What would you like? includes Breakfast box").first.wait_for()
    page.get_by_role("button", name="Move 'Delivery address' up").click()  # above the consent box
    # No longer the last field: its "down" button is enabled (the faded copy of the old list may linger a moment).
    page.get_by_role("button", name="Move 'Delivery address' down", disabled=False).wait_for()
    settled(page)
    page.mouse.move(0, 0)
    screenshot(page, "hoodie-drop-1-builder")
    page.get_by_role("button", name="Save form").click()
    page.get_by_text("Saved as version 1.").wait_for()
    [version] = stored(server.database_url, FormVersion)
    assert [field["key"] for field in version.schema["fields"]] == ["name", "email", "items", "delivery", "consent"]
    [address] = [field for field in version.schema["fields"] if field["key"] == "delivery"]
    assert address["type"] == "address" and address["purpose"] == PURPOSE
    assert address["show_if"] == {"field": "items", "value": "breakfast"}

    # Vendors: the hoodie maker gets a mail per order, the bakery one list; each item routed to its vendor.
    _sidebar(page, "Vendors")
    _add_vendor(page, HOODIE_MAKER, "orders@stitch.example", "Per order (a mail for each order)")
    _add_vendor(page, BAKERY, "boxes@dawn.example", "Batch (one spreadsheet at the cutoff)")
    choose(page, "Hoodie", f"{HOODIE_MAKER} (per order)")
    choose(page, "Breakfast box", f"{BAKERY} (batch)")
    page.get_by_role("button", name="Save routing").click()
    page.get_by_text("2 items routed.").wait_for()
    page.mouse.move(0, 0)
    screenshot(page, "hoodie-drop-2-vendors")
    vendors = {vendor.name: vendor for vendor in stored(server.database_url, Vendor)}
    assert vendors[HOODIE_MAKER].mode == VendorMode.PER_ORDER and vendors[BAKERY].mode == VendorMode.BATCH

    # Publish.
    _sidebar(page, "Events")
    page.get_by_text("Published: attendees can open the public page").click()
    page.get_by_text("Open ·").first.wait_for()
    [event] = stored(server.database_url, Event)
    assert event.published
    context.close()

    # One attendee orders a hoodie alone and is not asked for an address; the other adds a breakfast box.
    _order(browser, server, "Ada Hillrunner", "ada@example.org", breakfast=False)
    _order(browser, server, "Bram Trailfoot", "bram@example.org", breakfast=True)

    first, second = sorted(stored(server.database_url, Order), key=lambda order: order.id)
    personal = {row.order_id: row.answers for row in stored(server.database_url, OrderPersonalData)}
    assert "delivery" not in personal.get(first.id, {}) and "delivery" not in first.answers
    assert personal[second.id]["delivery"] == {"street": "12 Quarry Lane", "city": "Millbrook",
                                               "postcode": "MB1 2QL", "country": "United Kingdom"}
    # No e2e test runs the SMTP server, so the per-order vendor's mails are checked in the outbox: one per order.
    to_maker = [mail for mail in stored(server.database_url, OutboxMessage) if mail.vendor_id == vendors[HOODIE_MAKER].id]
    assert sorted(mail.order_id for mail in to_maker) == [first.id, second.id]
    assert all(mail.recipients == ["orders@stitch.example"] for mail in to_maker)
    # The bakery is a batch vendor with no cutoff: it gets its list when an organiser sends it, not per order.
    assert not [mail for mail in stored(server.database_url, OutboxMessage) if mail.vendor_id == vendors[BAKERY].id]
