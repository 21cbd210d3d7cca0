"""An attendee orders from /?event=demo in a real browser against a freshly started server."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.db import make_engine, read_only
from core.models import Order
from tests.e2e.conftest import Server, screenshot


def _choose(page, label: str, option: str) -> None:  # noqa: ANN001
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def _textbox(page, label: str):  # noqa: ANN001, ANN202
    return page.get_by_role("textbox", name=label, exact=True)


def _orders(database_url: str) -> list[Order]:
    engine = make_engine(database_url)
    with read_only(engine) as session:
        orders = list(session.scalars(select(Order)).all())
    engine.dispose()
    return orders


def test_attendee_orders_and_sees_the_reference(server: Server, page) -> None:  # noqa: ANN001
    page.goto(f"{server.url}/?event=demo")
    page.get_by_role("button", name="Place order").wait_for()
    screenshot(page, "attendee-1-form")

    _textbox(page, "Full name *").fill("Ada Lovelace")
    _textbox(page, "Email *").fill("ada@")
    _textbox(page, "Email *").press("Tab")
    _choose(page, "T-shirt type", "Fitted")
    _choose(page, "T-shirt size", "M")
    _choose(page, "T-shirt colour", "Black")
    page.get_by_role("spinbutton", name="T-shirt quantity").fill("2")
    page.get_by_role("spinbutton", name="T-shirt quantity").press("Tab")
    page.get_by_role("button", name="Place order").click()

    # The bad email is reported in text beside its field, and the rest of the form is kept.
    page.get_by_text("There must be something after the @-sign.").wait_for()
    page.get_by_text("Please tick this box to continue.").wait_for()
    assert _textbox(page, "Full name *").input_value() == "Ada Lovelace"
    screenshot(page, "attendee-2-errors")
    assert _orders(server.database_url) == []

    _textbox(page, "Email *").fill("ada@example.com")
    _textbox(page, "Email *").press("Tab")
    page.get_by_text("I agree that my details").click()
    page.get_by_role("button", name="Place order").dblclick()

    page.get_by_text("Your order reference is").wait_for()
    page.get_by_role("button", name="Place order").wait_for(state="detached")  # the rerun has finished
    screenshot(page, "attendee-3-confirmation")
    [order] = _orders(server.database_url)
    assert re.search(rf"\b{order.reference}\b", page.get_by_text("Your order reference is").inner_text())


def test_unknown_event_page_in_the_browser(server: Server, page) -> None:  # noqa: ANN001
    page.goto(f"{server.url}/?event=nothing-here")
    page.get_by_role("heading", name="Event not found").wait_for()
