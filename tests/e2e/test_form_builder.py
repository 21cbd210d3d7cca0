"""The form builder in a real browser: an organiser adds a custom "Pickup point" choice shown only when a breakfast
box is ordered, finds the draft again after a reload, saves it, and the public form asks it only then."""

from __future__ import annotations

from playwright.sync_api import expect

from core.models import FormDraft, FormVersion
from tests.e2e.conftest import Server, choose, commit, log_in, screenshot, settled, stored, textbox

PICKUP = "Pickup point"


def _sidebar_to_builder(page) -> None:  # noqa: ANN001
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Form builder", exact=True).click()
    page.get_by_role("heading", name="Form builder", exact=True).wait_for()


def test_organiser_builds_a_conditional_pickup_point_and_attendees_see_it_only_with_breakfast(
        server: Server, browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1440, "height": 2600})
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, server)
    _sidebar_to_builder(page)
    page.get_by_role("button", name="Breakfast preference · Single choice").wait_for()  # the demo's saved form

    # A choice from the templates, named, with its own options, moved above the consent box.
    page.get_by_role("button", name="A choice", exact=True).click()
    expect(textbox(page, "Label")).to_have_value("Choose one")  # the new field, open in the editor
    commit(page, "Label", PICKUP)
    page.get_by_role("button", name=f"{PICKUP} · Single choice").wait_for()
    commit(page, "Option 1", "North gate")
    page.get_by_text("North gate", exact=True).wait_for()  # the preview draws the option
    commit(page, "Option 2", "Town hall")
    page.get_by_text("Town hall", exact=True).wait_for()
    page.get_by_role("button", name=f"Move '{PICKUP}' up").click()
    # No longer the last field: its "down" button is enabled (the faded copy of the old list may linger a moment).
    page.get_by_role("button", name=f"Move '{PICKUP}' down", disabled=False).wait_for()
    settled(page)

    # Shown only if a breakfast box is ordered: an earlier field, then one of its answers.
    choose(page, "Show only if", "What would you like?")
    choose(page, "Answer that shows this field", "Breakfast box")
    page.get_by_text("Shown if What would you like? includes Breakfast box").nth(2).wait_for()
    page.mouse.move(0, 0)  # no tooltip or heading anchor over the picture
    screenshot(page, "builder-1-editor-and-preview")
    fields = [field["key"] for field in stored(server.database_url, FormDraft)[0].document["fields"]]
    assert fields[-2:] == ["pickup_point", "consent"]

    # A reload finds the draft; nothing is saved yet.
    page.reload()
    page.get_by_role("heading", name="Form builder", exact=True).wait_for()
    page.get_by_text("Unsaved draft").wait_for()
    page.get_by_role("button", name=f"{PICKUP} · Single choice").wait_for()
    screenshot(page, "builder-2-list-after-reload")
    [version] = stored(server.database_url, FormVersion)
    assert "pickup_point" not in [field["key"] for field in version.schema["fields"]]

    page.get_by_role("button", name="Save form").click()
    page.get_by_text("Saved as version 1.").wait_for()
    [version] = stored(server.database_url, FormVersion)
    [pickup] = [field for field in version.schema["fields"] if field["key"] == "pickup_point"]
    assert pickup == {"key": "pickup_point", "type": "single_choice", "label": PICKUP, "required": True,
                      "options": ["North gate", "Town hall"], "show_if": {"field": "items", "value": "breakfast"}}
    assert stored(server.database_url, FormDraft) == []
    context.close()

    # The attendee is asked for a pickup point only once a breakfast box is in the order.
    attendee = browser.new_context(viewport={"width": 1000, "height": 1800})
    public = attendee.new_page()
    public.set_default_timeout(20_000)
    public.goto(f"{server.url}/?event=demo")
    public.get_by_role("button", name="Place order").wait_for()
    assert public.get_by_text("North gate").count() == 0
    quantity = public.get_by_role("spinbutton", name="Breakfast box quantity")
    quantity.fill("1")
    quantity.press("Tab")
    public.get_by_text("North gate", exact=True).wait_for()
    public.get_by_text(f"{PICKUP} *", exact=True).wait_for()
    public.get_by_text(f"{PICKUP} *", exact=True).scroll_into_view_if_needed()
    screenshot(public, "builder-3-public-form-with-pickup-point")
    attendee.close()
