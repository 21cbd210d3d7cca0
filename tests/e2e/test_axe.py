"""WCAG 2.1 AA in a real browser: axe-core finds no serious or critical violation on the public pages and the
organiser pages, and the public form can be filled and submitted with the keyboard alone (issue 13).

axe-core is vendored (tests/e2e/vendor/axe.min.js, MPL-2.0, its licence beside it), so that the suite needs no
npm; README, "Accessibility", says how to update it and lists what we excluded (nothing so far).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.models import Order, OrderLine, OrderPersonalData
from tests.e2e.conftest import Server, choose, log_in, stored, textbox

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_VERSION = "4.14.1"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Violations inside Streamlit itself that we cannot fix, as {rule id: CSS selector of the element}; each is
# listed in the README with what we did about it. Empty: none was found on these pages with Streamlit 1.67.
STREAMLIT_EXCLUSIONS: dict[str, str] = {}
RUN_AXE = """async ({tags, exclusions}) => {
  // A node is excluded only from its rule, and only when it lies inside the element named for that rule.
  const excluded = (id, node) => id in exclusions
    && Boolean(document.querySelector(node.target.join(' '))?.closest(exclusions[id]));
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return result.violations
    .filter((violation) => ['serious', 'critical'].includes(violation.impact))
    .map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      nodes: violation.nodes.filter((node) => !excluded(violation.id, node))
        .map((node) => node.html.slice(0, 200) + ' -> ' + node.failureSummary.replace(/\\s+/g, ' ').slice(0, 300)),
    }))
    .filter((violation) => violation.nodes.length > 0);
}"""


def serious_violations(page) -> list[dict[str, Any]]:  # noqa: ANN001
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    assert page.evaluate("axe.version") == AXE_VERSION
    return page.evaluate(RUN_AXE, {"tags": WCAG_21_AA, "exclusions": STREAMLIT_EXCLUSIONS})


def _settled(page) -> None:  # noqa: ANN001
    """Wait until Streamlit has finished the current run (its status widget shows "Running" until then)."""
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached")


def test_the_public_pages_have_no_serious_accessibility_violations(server: Server, page) -> None:  # noqa: ANN001
    page.goto(f"{server.url}/?event=demo")
    page.get_by_role("button", name="Place order").wait_for()
    _settled(page)
    assert serious_violations(page) == [], "public form"

    page.get_by_role("button", name="Place order").click()  # errors beside their fields
    page.get_by_role("alert").filter(has_text="Please tick this box to continue.").wait_for()
    assert serious_violations(page) == [], "public form with errors"

    textbox(page, "Full name *").fill("Grace Hopper")
    textbox(page, "Email *").fill("grace@example.com")
    textbox(page, "Email *").press("Tab")
    choose(page, "Hoodie size", "L")
    page.get_by_role("spinbutton", name="Hoodie quantity").fill("1")
    page.get_by_role("spinbutton", name="Hoodie quantity").press("Tab")
    page.get_by_text("I agree that my details").click()
    page.get_by_role("button", name="Place order").click()
    page.get_by_text("Your order reference is").wait_for()
    page.get_by_role("button", name="Place order").wait_for(state="detached")
    _settled(page)
    assert serious_violations(page) == [], "order confirmation"

    page.goto(f"{server.url}/lookup")
    page.get_by_role("button", name=re.compile("Find")).first.wait_for()
    _settled(page)
    assert serious_violations(page) == [], "order lookup"

    page.goto(f"{server.url}/login")
    page.get_by_role("button", name="Log in").wait_for()
    _settled(page)
    assert serious_violations(page) == [], "login"


def test_the_organiser_pages_have_no_serious_accessibility_violations(server: Server, page) -> None:  # noqa: ANN001
    log_in(page, server)
    for path, ready in (("dashboard", "Orders per"), ("form-builder", "Preview"), ("orders", "Orders")):
        page.goto(f"{server.url}/{path}")
        page.get_by_role("heading", name=ready).first.wait_for()
        _settled(page)
        assert serious_violations(page) == [], path


# --- Keyboard only ---------------------------------------------------------------------------------------------

# The accessible name of the focused element: its <label>s, aria-labelledby, aria-label, or its own text, without
# what is hidden from screen readers (a button's icon).
FOCUSED_NAME = """
() => {
  const field = document.activeElement;
  if (!field || field === document.body) return '';
  const text = (element) => {
    const copy = element.cloneNode(true);
    copy.querySelectorAll('[aria-hidden="true"]').forEach((hidden) => hidden.remove());
    return copy.textContent.replace(/\\s+/g, ' ').trim();
  };
  const byId = (field.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean)
    .map((id) => document.getElementById(id)).filter(Boolean);
  const labels = [...(field.labels || []), ...byId].map(text).join(' ').trim();
  return labels || (field.getAttribute('aria-label') || '').trim() || text(field);
}
"""
MAX_TABS = 120


def _tab_to(page, name: str) -> None:  # noqa: ANN001
    """Press Tab until the element named `name` has the focus (the way a keyboard user moves through a form)."""
    seen = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_NAME)
        if focused == name:
            return
        seen.append(focused)
    raise AssertionError(f"Tab never reached {name!r}; it went through {seen}")


def test_the_public_form_is_filled_and_submitted_with_the_keyboard_only(server: Server, page) -> None:  # noqa: ANN001
    page.goto(f"{server.url}/?event=demo")
    page.get_by_role("button", name="Place order").wait_for()
    _settled(page)
    _tab_to(page, "Full name *")
    page.keyboard.type("Grace Hopper")
    _tab_to(page, "Email *")
    page.keyboard.type("grace@example.com")
    _tab_to(page, "Hoodie size")
    page.keyboard.type("L")
    page.keyboard.press("Enter")
    _tab_to(page, "Hoodie quantity")
    page.keyboard.press("ArrowUp")  # 0 -> 1
    _tab_to(page, "Anything else we should know?")
    page.keyboard.type("Keyboard only")
    consent = page.get_by_text("I agree that my details").inner_text().strip()
    _tab_to(page, consent)
    page.keyboard.press("Space")
    _tab_to(page, "Place order")
    page.keyboard.press("Enter")

    confirmation = page.get_by_text("Your order reference is")
    confirmation.wait_for()
    [order] = stored(server.database_url, Order)
    assert order.reference in confirmation.inner_text()
    assert [(line.item_key, line.variant_label, line.quantity) for line in stored(server.database_url, OrderLine)] == [
        ("hoodie", "L", 1)]
    [personal] = stored(server.database_url, OrderPersonalData)
    assert (personal.answers["name"], personal.answers["notes"]) == ("Grace Hopper", "Keyboard only")
