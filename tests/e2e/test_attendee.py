"""An attendee orders from /?event=demo in a real browser against a freshly started server."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from core.code_admin import CodeBatch, generate_codes
from core.config import code_key, load_settings
from core.db import make_engine, unit_of_work
from core.models import CodeMode, Event, Item, Order, utcnow
from deploy.streamlit_client import Run, Session, run_sync
from tests.e2e.conftest import E2E_COOKIE_KEY, Server, choose, screenshot, stored, textbox
from tests.factories import make_user
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


def _runs(url: str, *steps: tuple[dict[str, str | int | bool], str | None]) -> list[Run]:
    """Open /?event=demo as a browser tab would, then rerun with each step's (values, click)."""
    async def visit() -> list[Run]:
        async with Session(url, "event=demo", timeout=60) as tab:
            runs = [await tab.run()]
            for values, click in steps:
                runs.append(await tab.run(values, click=click))
            return runs

    return run_sync(visit())


def _change_demo_event(server: Server, change) -> object:  # noqa: ANN001 - change(session, event) -> anything
    engine = make_engine(server.database_url)
    try:
        with unit_of_work(engine) as session:
            return change(session, session.scalars(select(Event).where(Event.slug == "demo")).one())
    finally:
        engine.dispose()


def _shows_welcome(run: Run) -> bool:
    return any(text.startswith(WELCOME) for text in run.texts)


def test_filling_in_and_placing_an_order_redraw_only_the_form_not_the_page_around_it(server: Server) -> None:
    """The form is a fragment (pages/order_page.py): in a rush each submit costs its worker less."""
    opened, filled, refused, placed, again = _runs(
        server.url, (FORM_VALUES, None), ({**FORM_VALUES, "Email *": "ada@"}, "Place order"),
        (FORM_VALUES, "Place order"), ({}, "Place another order"))
    assert _shows_welcome(opened)
    assert not any(_shows_welcome(run) for run in (filled, refused, placed, again))
    # The refusal is drawn in the form, beside its field, and the corrected form is placed.
    assert "error shown: There must be something after the @-sign." in refused.problems
    assert refused.reference is None and "Place order" in refused.widgets
    assert not placed.problems and not again.problems
    [order] = stored(server.database_url, Order)
    assert placed.reference == order.reference
    assert "Place order" in again.widgets and again.reference is None  # a fresh form in the same place


def test_a_change_to_the_form_reads_the_event_anew(server: Server) -> None:
    """A rerun of the form alone gets the event of the page's last whole run; it must not show that stale one."""
    async def visit() -> tuple[Run, Run]:
        async with Session(server.url, "event=demo", timeout=60) as tab:
            opened = await tab.run()
            _change_demo_event(server, lambda _session, event: setattr(event, "closes_at",
                                                                       utcnow() - timedelta(minutes=1)))
            return opened, await tab.run({"Full name *": "Ada Lovelace"})

    opened, changed = run_sync(visit())
    assert "Place order" in opened.widgets
    assert changed.texts == ["Orders for the Summer Meetup are closed. See you there!"]  # the demo's closed message
    assert "Place order" not in changed.widgets


def test_an_invited_attendee_enters_a_code_and_orders_through_the_forms_own_reruns(server: Server) -> None:
    """FORM mode: the code gate is inside the fragment, and a valid code reruns the whole page to open the form."""
    def invite(session, event) -> str:  # noqa: ANN001
        event.code_mode = CodeMode.FORM
        organiser = make_user(session, "inviter", member_of=[event])
        key = code_key(load_settings(secrets={}, environ={"COOKIE_KEY": E2E_COOKIE_KEY}))
        return generate_codes(session, organiser, event.id, CodeBatch(count=1), key=key).codes[0]

    code = _change_demo_event(server, invite)
    gate, wrong, entered, placed = _runs(server.url, ({"Your code": "WRONG-CODE"}, "Open the order form"),
                                         ({"Your code": code}, "Open the order form"), (FORM_VALUES, "Place order"))
    assert "Place order" not in gate.widgets and "Your code" in gate.widgets
    assert any(problem.startswith("error shown:") for problem in wrong.problems) and not _shows_welcome(wrong)
    assert "Place order" in entered.widgets and _shows_welcome(entered)  # the whole page, drawn anew
    assert not placed.problems and not _shows_welcome(placed)
    [order] = stored(server.database_url, Order)
    assert placed.reference == order.reference


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
