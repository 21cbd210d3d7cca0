"""An organiser's whole journey in a real browser: create an event, add an item, build the form, publish, see an
attendee's order arrive, export a spreadsheet, and purge the attendees' personal data."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from core.models import Event, Order, OrderPersonalData
from tests.e2e.conftest import Server, log_in, screenshot, stored

SLUG = "winter-fair"
ATTENDEE = "Quentin Bramblewood"


def _sidebar(page, name: str, heading: str | None = None) -> None:  # noqa: ANN001
    """Follow a link of our own sidebar menu (a reload would keep the login but forget the chosen event)."""
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name=name, exact=True).click()
    page.get_by_role("heading", name=heading or name, exact=True).first.wait_for()


def test_organiser_builds_an_event_sees_an_order_exports_and_purges(server: Server, browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, server)

    # Create the event.
    _sidebar(page, "Events")
    screenshot(page, "journey-0-events")
    page.get_by_text("New event").first.click()  # an expander, open at first only when there are no events
    page.get_by_role("textbox", name="Address name").first.fill(SLUG)
    page.get_by_role("textbox", name="Title").first.fill("Winter Fair")
    page.get_by_role("button", name="Create event").click()
    page.get_by_text("Created. It is a draft until you publish it.").wait_for()
    screenshot(page, "journey-1-event-created")

    # Add an item with sizes.
    _sidebar(page, "Items")
    page.get_by_text("This event offers nothing yet").wait_for()
    adding = page.locator('[data-testid="stForm"]').filter(has=page.get_by_role("button", name="Add item"))
    adding.get_by_role("textbox", name="Key").fill("scarf")
    adding.get_by_role("textbox", name="Name").fill("Scarf")
    adding.get_by_role("textbox", name="Price").fill("12.50")
    adding.get_by_role("textbox", name="Dimensions").fill("Colour: Red, Blue")
    adding.get_by_role("button", name="Add item").click()
    page.get_by_role("combobox", name="Item to edit").wait_for()
    screenshot(page, "journey-2-item-added")

    # Build the form from the usual start, and save it.
    _sidebar(page, "Form builder")
    page.get_by_role("button", name="Start from the usual form").click()
    page.get_by_role("textbox", name="Full name *").wait_for()  # the preview shows the new rows
    page.get_by_role("button", name="Save form").click()
    page.get_by_text("Saved as version 1.").wait_for()
    screenshot(page, "journey-3-form-saved")

    # Publish.
    _sidebar(page, "Events")
    page.get_by_text("Published: attendees can open the public page").click()
    page.get_by_text("Open ·").or_(page.get_by_text("Open · public page")).first.wait_for()

    # An attendee orders in another browser.
    attendee = browser.new_context(viewport={"width": 1000, "height": 1400})
    public = attendee.new_page()
    public.set_default_timeout(20_000)
    public.goto(f"{server.url}/?event={SLUG}")
    public.get_by_role("textbox", name="Full name *").fill(ATTENDEE)
    public.get_by_role("textbox", name="Email *").fill("quentin@example.org")
    public.get_by_role("combobox", name="Scarf colour").click()
    public.get_by_role("option", name="Blue", exact=True).click()
    public.get_by_role("spinbutton", name="Scarf quantity").fill("1")
    public.get_by_role("spinbutton", name="Scarf quantity").press("Tab")
    public.get_by_text("I agree that my details").click()
    public.get_by_role("button", name="Place order").click()
    public.get_by_text("Your order reference is").wait_for()
    [order] = stored(server.database_url, Order)
    attendee.close()

    # The order arrives on the Orders page.
    _sidebar(page, "Orders")
    page.get_by_text("1 order · page 1 of 1").wait_for()
    # The table is drawn on a canvas, so the reference is found through the search box.
    page.get_by_role("textbox", name="Search").fill(order.reference)
    page.get_by_role("textbox", name="Search").press("Enter")
    page.get_by_text("1 order · page 1 of 1").wait_for()
    page.get_by_role("textbox", name="Search").fill("NOSUCHREF")
    page.get_by_role("textbox", name="Search").press("Enter")
    page.get_by_text("No orders match.").wait_for()
    page.get_by_role("textbox", name="Search").fill(order.reference)
    page.get_by_role("textbox", name="Search").press("Enter")
    page.get_by_text("1 order · page 1 of 1").wait_for()
    screenshot(page, "journey-4-order-arrived")

    # The dashboard counts it and says where the event stands.
    _sidebar(page, "Dashboard", heading="Winter Fair")
    page.get_by_text("Open", exact=True).first.wait_for()
    screenshot(page, "journey-5-dashboard")

    # Export the spreadsheet; it holds the order.
    _sidebar(page, "Exports")
    page.get_by_role("button", name="Prepare spreadsheet (XLSX)").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download spreadsheet (XLSX)").click()
    workbook = load_workbook(io.BytesIO(download.value.path().read_bytes()), read_only=True)
    cells = {str(cell) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True) for cell in row}
    assert order.reference in cells and ATTENDEE in cells
    screenshot(page, "journey-6-exported")

    # Purge: dry run, retype the address name, purge; the personal data is gone, the order stays.
    _sidebar(page, "Purge data")
    page.get_by_text("What would be destroyed now").wait_for()
    screenshot(page, "journey-7-purge-dry-run")
    page.get_by_role("textbox", name="Type the event's address name").fill(SLUG)
    page.get_by_role("button", name="Destroy the personal data now").click()
    page.get_by_text("The personal data of this event was destroyed").wait_for()
    screenshot(page, "journey-8-purged")
    assert stored(server.database_url, OrderPersonalData) == []
    [event] = [e for e in stored(server.database_url, Event) if e.slug == SLUG]
    assert event.purged_at is not None
    assert [o.reference for o in stored(server.database_url, Order)] == [order.reference]
    context.close()
