"""Accessibility basics of the public form on a 375-pixel-wide phone screen, in a real browser.

Every input has a visible label tied to it, errors are given in words beside their fields, nothing scrolls
sideways, and an order can be placed start to finish at that width.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.models import Order
from tests.e2e.conftest import Server, choose, screenshot, stored, textbox

PHONE = {"width": 375, "height": 812}

# For each input, select and textarea of the page: its accessible name (from <label for>, a wrapping <label>,
# aria-labelledby or aria-label) and the text of the labels shown with it (those, or its widget's label).
FIELD_LABELS = """
() => [...document.querySelectorAll('[data-testid="stMain"] :is(input, select, textarea)')]
  .filter((field) => field.type !== 'hidden')
  .map((field) => {
    const text = (element) => element.innerText.replace(/\\s+/g, ' ').trim();
    const shown = (element) => element.checkVisibility() && element.getBoundingClientRect().width > 0;
    const byId = (field.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean)
      .map((id) => document.getElementById(id)).filter(Boolean);
    const labels = [...(field.labels || []), ...byId];
    const widget = field.closest('[data-testid="stElementContainer"]');
    const widgetLabels = widget ? [...widget.querySelectorAll('[data-testid="stWidgetLabel"]')] : [];
    return {
      field: field.outerHTML.slice(0, 120),
      name: labels.map(text).join(' ').trim() || (field.getAttribute('aria-label') || '').trim(),
      visible: [...labels, ...widgetLabels].filter(shown).map(text).join(' ').trim(),
    };
  })
"""
# How far the page and Streamlit's scrolling main area reach beyond the viewport's width, in pixels.
SIDEWAYS_OVERFLOW = """
() => {
  const main = document.querySelector('[data-testid="stMain"]');
  return Math.max(document.scrollingElement.scrollWidth - window.innerWidth,
                  main ? main.scrollWidth - main.clientWidth : 0);
}
"""


@pytest.fixture
def phone(browser) -> Iterator[object]:  # noqa: ANN001
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def _assert_no_sideways_scrolling(page) -> None:  # noqa: ANN001
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate(SIDEWAYS_OVERFLOW) <= 0


def _top(locator) -> float:  # noqa: ANN001
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not shown"
    return box["y"]


def test_every_input_of_the_public_form_has_a_visible_label(server: Server, phone) -> None:  # noqa: ANN001
    phone.goto(f"{server.url}/?event=demo")
    phone.get_by_role("button", name="Place order").wait_for()
    fields = phone.evaluate(FIELD_LABELS)
    # Name, email, phone, three t-shirt choices and a quantity, hoodie size and quantity, breakfast quantity,
    # notes, consent: a form that lost its inputs would pass the check below vacuously.
    assert len(fields) >= 12
    # Named for a screen reader, and by words on the screen that say the same (so speech commands work too).
    unlabelled = [field for field in fields if not field["name"] or field["name"] not in field["visible"]]
    assert unlabelled == []
    labels = {field["name"] for field in fields}
    assert {"Full name *", "Email *", "T-shirt size", "Hoodie quantity"} <= labels
    _assert_no_sideways_scrolling(phone)


def test_an_attendee_orders_on_a_375_pixel_screen(server: Server, phone) -> None:  # noqa: ANN001
    phone.goto(f"{server.url}/?event=demo")
    phone.get_by_role("button", name="Place order").wait_for()
    _assert_no_sideways_scrolling(phone)
    screenshot(phone, "phone-1-form")

    phone.get_by_role("button", name="Place order").click()
    # Each error is said in words (an alert to screen readers), right below its own field, not only by colour.
    consent_error = phone.get_by_role("alert").filter(has_text="Please tick this box to continue.")
    consent_error.wait_for()
    phone.get_by_role("alert").filter(has_text="Choose at least one item.").wait_for()
    required = phone.get_by_role("alert").filter(has_text="This field is required.")
    assert required.count() == 2  # name and email
    name, email, mobile = (phone.locator('[data-testid="stTextInput"]').filter(has_text=label)
                           for label in ("Full name", "Email", "Mobile phone"))
    assert _top(name) < _top(required.nth(0)) < _top(email) < _top(required.nth(1)) < _top(mobile)
    assert _top(phone.get_by_text("I agree that my details")) < _top(consent_error)
    _assert_no_sideways_scrolling(phone)
    screenshot(phone, "phone-2-errors")
    assert stored(server.database_url, Order) == []

    textbox(phone, "Full name *").fill("Grace Hopper")
    textbox(phone, "Email *").fill("grace@example.com")
    textbox(phone, "Email *").press("Tab")
    choose(phone, "Hoodie size", "L")
    phone.get_by_role("spinbutton", name="Hoodie quantity").fill("1")
    phone.get_by_role("spinbutton", name="Hoodie quantity").press("Tab")
    phone.get_by_text("I agree that my details").click()
    phone.get_by_role("button", name="Place order").click()

    confirmation = phone.get_by_text("Your order reference is")
    confirmation.wait_for()
    phone.get_by_role("button", name="Place order").wait_for(state="detached")  # the rerun has finished
    [order] = stored(server.database_url, Order)
    assert order.reference in confirmation.inner_text()
    _assert_no_sideways_scrolling(phone)
    screenshot(phone, "phone-3-confirmation")
