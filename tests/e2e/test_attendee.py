"""An attendee orders from /?event=demo in a real browser against a freshly started server."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from core.db import make_engine, unit_of_work
from core.models import Event, Item, Order, utcnow
from deploy.streamlit_client import Run, Session, run_sync
from tests.e2e.conftest import Server, choose, screenshot, stored, textbox
from tests.markup_checks import PAYLOADS


def test_attendee_orders_and_sees_the_reference(server: Server, page) -> None:  # noqa: ANN001
    page.goto(f"{server.url}/?event=demo")
    page.get_by_role("button", name="Place order").wait_for()
    screenshot(page, "attendee-1-form")

    textbox(page, "Full name *").fill("Ada Lovelace")
    textbox(page, "Email *").fill("ada@")
    textbox(page, "Email *").press("Tab")
    choose(page, "T-shirt type", "Fitted")
    choose(page, "T-shirt size", "M")
    choose(page, "T-shirt colour", "Black")
    page.get_by_role("spinbutton", name="T-shirt quantity").fill("2")
    page.get_by_role("spinbutton", name="T-shirt quantity").press("Tab")
    page.get_by_role("button", name="Place order").click()

    # The bad email is reported in text beside its field, and the rest of the form is kept.
    page.get_by_text("There must be something after the @-sign.").wait_for()
    page.get_by_text("Please tick this box to continue.").wait_for()
    assert textbox(page, "Full name *").input_value() == "Ada Lovelace"
    screenshot(page, "attendee-2-errors")
    assert stored(server.database_url, Order) == []

    textbox(page, "Email *").fill("ada@example.com")
    textbox(page, "Email *").press("Tab")
    page.get_by_text("I agree that my details").click()
    page.get_by_role("button", name="Place order").dblclick()

    page.get_by_text("Your order reference is").wait_for()
    page.get_by_role("button", name="Place order").wait_for(state="detached")  # the rerun has finished
    screenshot(page, "attendee-3-confirmation")
    [order] = stored(server.database_url, Order)
    assert re.search(rf"\b{order.reference}\b", page.get_by_text("Your order reference is").inner_text())


FORM_VALUES: dict[str, str | int | bool] = {
    "Full name *": "Ada Lovelace", "Email *": "ada@example.org", "T-shirt type": "Fitted", "T-shirt size": "M",
    "T-shirt colour": "Black", "T-shirt quantity": 1,
    "I agree that my details are used for this order and deleted after the event. *": True,
}
WELCOME = "Welcome to the **Summer Meetup 2027**"  # the start of the demo event's description


def _runs(url: str, *steps: tuple[dict[str, str | int | bool], str | None], between=lambda: None) -> list[Run]:
    """Open /?event=demo as a browser tab would, then rerun with each step's (values, click); `between` runs
    after the page is open."""
    async def visit() -> list[Run]:
        async with Session(url, "event=demo", timeout=60) as tab:
            runs = [await tab.run()]
            between()
            for values, click in steps:
                runs.append(await tab.run(values, click=click))
            return runs

    return run_sync(visit())


def test_filling_in_and_placing_an_order_redraw_only_the_form_not_the_page_around_it(server: Server) -> None:
    """The form is a fragment (pages/order_page.py): in a rush each submit costs its worker less."""
    opened, filled, placed, again = _runs(server.url, (FORM_VALUES, None), (FORM_VALUES, "Place order"),
                                          ({}, "Place another order"))
    assert any(text.startswith(WELCOME) for text in opened.texts)
    for run in (filled, placed, again):
        assert not run.problems and not any(text.startswith(WELCOME) for text in run.texts)
    [order] = stored(server.database_url, Order)
    assert placed.reference == order.reference
    assert "Place order" in again.widgets and again.reference is None  # a fresh form in the same place


def test_a_change_to_the_form_reads_the_event_anew(server: Server) -> None:
    """A rerun of the form alone gets the event of the page's last whole run; it must not show that stale one."""
    def close_the_event() -> None:
        with unit_of_work(make_engine(server.database_url)) as session:
            session.scalars(select(Event).where(Event.slug == "demo")).one().closes_at = utcnow() - timedelta(minutes=1)

    opened, filled = _runs(server.url, ({"Full name *": "Ada Lovelace"}, None), between=close_the_event)
    assert "Place order" in opened.widgets
    assert filled.texts == ["Orders for the Summer Meetup are closed. See you there!"]  # the demo's closed message
    assert "Place order" not in filled.widgets


def test_unknown_event_page_in_the_browser(server: Server, page) -> None:  # noqa: ANN001
    page.goto(f"{server.url}/?event=nothing-here")
    page.get_by_role("heading", name="Event not found").wait_for()


def test_unsafe_markdown_links_are_not_live_in_the_browser(server: Server, page) -> None:  # noqa: ANN001
    """What Chromium renders from an organiser's description and item text: no link but http(s)/mailto/relative."""
    payloads = "\n\n".join(PAYLOADS)
    engine = make_engine(server.database_url)
    with unit_of_work(engine) as session:
        session.scalars(select(Event).where(Event.slug == "demo")).one().description = (
            f"Welcome! [Our site](https://example.org/site)\n\n{payloads}")
        for item in session.scalars(select(Item)):
            item.description = "[d](data:text/html,<script>alert(1)</script>) and <javascript:alert(1)>"
    engine.dispose()
    page.goto(f"{server.url}/?event=demo")
    page.get_by_role("button", name="Place order").wait_for()
    page.get_by_role("link", name="Our site").wait_for()
    addresses = page.eval_on_selector_all(
        "a[href], img[src], iframe[src], object[data], embed[src]",
        "nodes => nodes.map(n => n.getAttribute('href') || n.getAttribute('src') || n.getAttribute('data'))")
    schemes = {re.match(r"([a-z][a-z0-9+.-]*):", address.strip().lower()).group(1)
               for address in addresses if re.match(r"[a-z][a-z0-9+.-]*:", address.strip().lower())}
    assert schemes <= {"http", "https", "mailto"}, addresses
    assert "https://example.org/site" in addresses
