"""A vendor opens its portal link in Chromium, marks two orders shipped with a tracking number, the attendees get
their status mails through the local SMTP server, and the organiser finds the step on the order's detail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from core.config import PROJECT_DIR
from core.db import make_engine, unit_of_work
from core.events import get_published_event
from core.models import Item, Order, OrderStatus, OrderStatusChange, User, Vendor, VendorMode
from core.orders import place_order
from core.users import actor_for
from core.vendor_portal import create_vendor_link
from tests.e2e.conftest import ADMIN_PASSWORD, E2E_COOKIE_KEY, dismiss_page_not_found, screenshot, stored
from tests.mail_server import running_mail_server, wait_for
from tests.streamlit_server import start_streamlit, stop_streamlit

TRACKING = "JD0146000062"


def _seed(database_url: str) -> tuple[str, list[str]]:
    """The demo event, the e2e admin, a per-order printer of its t-shirts with a portal link, two orders."""
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "core", "demo"], cwd=PROJECT_DIR, check=True, capture_output=True,
                   env=env, timeout=120)
    subprocess.run([sys.executable, "-m", "core", "users", "add", "e2e", "--role", "admin", "--name", "E2E Admin"],
                   cwd=PROJECT_DIR, check=True, capture_output=True, env=env, timeout=120,
                   input=f"{ADMIN_PASSWORD}\n".encode())
    engine = make_engine(database_url)
    references = []
    with unit_of_work(engine) as session:
        event = get_published_event(session, "demo")
        printer = Vendor(name="Print Shop", mode=VendorMode.PER_ORDER, emails=["orders@print.example"],
                         visible_fields=["name"])
        session.add(printer)
        session.flush()
        session.scalars(select(Item).where(Item.event_id == event.id, Item.key == "tshirt")).one().vendor_id = printer.id
        tshirt = {"item": "tshirt", "options": {"type": "Fitted", "size": "M", "colour": "Black"}, "quantity": 1}
        hoodie = {"item": "hoodie", "options": {"size": "M"}, "quantity": 1}  # no vendor: the organiser's own
        for key, name, items in (("ada", "Ada Lovelace", [tshirt, hoodie]), ("grace", "Grace Hopper", [tshirt])):
            references.append(place_order(session, event, {
                "name": name, "email": f"{key}@example.com", "consent": True, "items": items},
                idempotency_key=f"e2e-{key}").reference)
        admin = actor_for(session.scalars(select(User).where(User.username == "e2e")).one())
        link = create_vendor_link(session, admin, event.id, printer.id)
    engine.dispose()
    return link.path, references


def test_a_vendor_marks_two_orders_shipped_and_the_attendees_and_organiser_see_it(
    database_url: str, browser, tmp_path: Path,  # noqa: ANN001
) -> None:
    path, references = _seed(database_url)
    with running_mail_server() as mail:
        env = {"DATABASE_URL": database_url, "COOKIE_KEY": E2E_COOKIE_KEY, "SMTP_HOST": mail.host,
               "SMTP_PORT": str(mail.port), "SMTP_SECURITY": "none", "MAIL_FROM": "Event Orders <orders@example.org>",
               "MAIL_DISPATCH_SECONDS": "1", "TICK_SECONDS": "0"}
        process, url = start_streamlit("app.py", env, tmp_path / "streamlit.log")
        context = browser.new_context(viewport={"width": 1200, "height": 1400})
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            page.goto(f"{url}{path}")
            page.get_by_role("heading", name="Your orders").wait_for()
            dismiss_page_not_found(page)
            page.get_by_text("Summer Meetup 2027 · Print Shop").wait_for()
            assert page.locator('[data-testid="stSidebar"]').count() == 0  # no organiser navigation
            orders = page.get_by_role("combobox", name="Orders")
            for reference in references:
                orders.click()
                page.get_by_role("option", name=reference, exact=True).click()
            page.keyboard.press("Escape")
            status = page.get_by_role("combobox", name="New status")
            status.click()
            page.get_by_role("option", name="Shipped", exact=True).click()
            page.get_by_role("textbox", name="Tracking number or link (optional)").fill(TRACKING)
            page.get_by_role("button", name="Update").click()
            page.get_by_text("2 orders marked as shipped.").wait_for()
            screenshot(page, "vendor-portal-shipped")

            received = wait_for(mail, 6, timeout=30)  # 2 confirmations, 2 vendor mails, 2 status mails
            status_mails = [m for m in received if TRACKING in m.message.get_body(("plain",)).get_content()]
            assert sorted(m.rcpt_tos for m in status_mails) == [("ada@example.com",), ("grace@example.com",)]
            # Ada's hoodie is not the printer's: her mail is about the t-shirt, and her order is not shipped yet.
            subjects = {m.rcpt_tos[0]: m.message["Subject"] for m in status_mails}
            assert subjects["ada@example.com"] == (f"Your order {references[0]}: Shipped (1 × T-shirt (Fitted, M, "
                                                   "Black); the rest of your order follows separately)")
            assert subjects["grace@example.com"] == f"Your order {references[1]}: Shipped"
            statuses = {order.reference: order.status for order in stored(database_url, Order)}
            assert statuses == {references[0]: OrderStatus.RECEIVED, references[1]: OrderStatus.SHIPPED}

            # The organiser finds the step, by the vendor, on the order's detail.
            page.goto(f"{url}/login")
            page.get_by_role("textbox", name="Username").fill("e2e")
            page.get_by_role("textbox", name="Password").fill(ADMIN_PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url("**/dashboard")  # app.py lands a login on the Dashboard
            # The login cookie is stored by a component in the browser: wait for it before leaving the page.
            page.wait_for_function("document.cookie.includes('event_orders_login=')")
            page.goto(f"{url}/orders")
            search = page.get_by_role("textbox", name="Search")
            search.fill(references[0])
            search.press("Enter")
            page.get_by_text("1 order · page 1 of 1").wait_for()
            table = page.locator('[data-testid="stDataFrame"]').first
            table.click(position={"x": 18, "y": 52})  # the row's selection box (the table is a canvas)
            page.get_by_text(f"Order {references[0]}").wait_for()
            page.get_by_text("Status history").wait_for()
            screenshot(page, "vendor-portal-organiser-history")
        finally:
            context.close()
            stop_streamlit(process)
    steps = [(s.status, s.actor, s.tracking) for s in stored(database_url, OrderStatusChange)
             if s.status == OrderStatus.SHIPPED]
    assert steps == [(OrderStatus.SHIPPED, "vendor:Print Shop", TRACKING)] * 2
    assert path.split("t=")[1] not in (tmp_path / "streamlit.log").read_text()
