"""The Exports page through AppTest: prepared downloads, sending to a batch vendor, the history, and its guard."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import partial

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.models import Event, MessageKind, OutboxMessage, VendorMode
from tests.factories import make_shop, make_user
from tests.factories.exports import make_vendor, read_sheets, records, route
from tests.factories.orders import hoodie, place, tshirts
from tests.pages.conftest import button, render_page


@dataclass(frozen=True)
class Shop:
    alice: Actor
    reference: str
    printer_id: int


@pytest.fixture
def shop(engine: Engine) -> Shop:
    """Alice's event with one order and a batch printer of t-shirts; Bob's event beside it."""
    with unit_of_work(engine) as session:
        event = make_shop(session, slug="alices-event", title="Alice's event")
        alice = make_user(session, "alice", member_of=[event])
        printer = make_vendor(session, "Print Shop", visible_fields=["name"])
        route(session, event, printer, "tshirt")
        reference = place(session, event, "a", items=[*tshirts(2), *hoodie(1)])
        other = make_shop(session, slug="bobs-event", title="Bob's event")
        make_user(session, "bob", member_of=[other])
        place(session, other, "b", name="Grace Hopper")
        return Shop(alice, reference, printer.id)


_page = partial(render_page, "exports_page")


def test_the_page_refuses_an_anonymous_session(shop: Shop) -> None:
    at = _page(None)
    assert not at.exception
    assert [w.value for w in at.warning] == ["Please log in to see this page."]
    assert not at.title and not at.button and not at.download_button and not at.dataframe


def test_prepared_downloads_give_a_readable_spreadsheet_and_the_line_items_csv(
    shop: Shop, served: dict[str, bytes]
) -> None:
    at = _page(shop.alice)
    assert not at.exception
    assert at.title[0].value == "Exports"
    assert at.sidebar.selectbox(key="organiser.event_id").options == ["Alice's event"]
    assert not at.download_button
    button(at, "Prepare spreadsheet (XLSX)").click().run()
    button(at, "Prepare line items (CSV)").click().run()
    assert not at.exception and not at.error
    assert [b.label for b in at.download_button] == ["Download spreadsheet (XLSX)", "Download line items (CSV)"]
    xlsx_name = next(name for name in served if name.endswith(".xlsx"))
    csv_name = next(name for name in served if name.endswith(".csv"))
    sheets = read_sheets(served[xlsx_name])
    assert list(sheets) == ["Orders", "Line items", "Summary"]
    assert [(row["Reference"], row["Name"]) for row in records(sheets["Orders"])] == [(shop.reference, "Ada Lovelace")]
    rows = list(csv.reader(io.StringIO(served[csv_name].decode("utf-8-sig"))))
    assert [row[:3] for row in rows] == [["Reference", "Item", "Variant"], [shop.reference, "T-shirt", "Fitted, M"],
                                         [shop.reference, "Hoodie", "L"]]
    assert "Grace Hopper" not in str(sheets)  # Bob's event's order


def test_the_vendor_view_holds_only_what_the_vendor_may_see(shop: Shop, served: dict[str, bytes]) -> None:
    at = _page(shop.alice)
    at.selectbox(key=f"exports.{_event_id(at)}.vendor").set_value(shop.printer_id).run()
    at.toggle(key=f"exports.{_event_id(at)}.vendor_view").set_value(True).run()
    button(at, "Prepare spreadsheet (XLSX)").click().run()
    assert not at.exception
    sheets = read_sheets(served[next(name for name in served if "vendor" in name)])
    assert records(sheets["Line items"]) == [{"Reference": shop.reference, "Item": "T-shirt", "Variant": "Fitted, M",
                                              "Quantity": 2, "Status": "Received", "Name": "Ada Lovelace"}]


def test_changing_a_filter_asks_for_the_file_to_be_prepared_again(shop: Shop) -> None:
    at = _page(shop.alice)
    button(at, "Prepare spreadsheet (XLSX)").click().run()
    assert len(at.download_button) == 1
    at.multiselect(key=f"exports.{_event_id(at)}.statuses").set_value(["cancelled"]).run()
    assert not at.download_button
    assert "Prepare spreadsheet (XLSX)" in [b.label for b in at.button]


def test_sending_to_a_batch_vendor_asks_first_then_sends_the_full_list_then_nothing_new(
    shop: Shop, engine: Engine
) -> None:
    at = _page(shop.alice)
    assert at.selectbox(key=f"exports.{_event_id(at)}.batch_vendor").options == ["Print Shop"]
    assert [c.value for c in at.caption if c.value == "Nothing sent yet."]
    button(at, "Send to vendor now…").click().run()
    assert "Send Print Shop their list now?" in at.warning[0].value
    assert _batch_mails(engine) == 0
    button(at, "Yes, send").click().run()
    assert not at.exception
    assert "full list (1 line item in 1 order)" in at.success[0].value
    assert _batch_mails(engine) == 1
    history = at.dataframe[0].value
    assert history[["Vendor", "Kind", "Rows", "By"]].to_dict("records") == [
        {"Vendor": "Print Shop", "Kind": "full", "Rows": 1, "By": "alice"}]
    button(at, "Send to vendor now…").click().run()
    button(at, "Yes, send").click().run()
    assert "no mail was sent" in at.info[0].value
    assert _batch_mails(engine) == 1


def test_a_vendor_that_cannot_be_sent_to_shows_why(shop: Shop, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = session.scalars(select(Event).where(Event.slug == "alices-event")).one()
        silent = make_vendor(session, "Hoodie Batch", emails=[], mode=VendorMode.BATCH)
        route(session, event, silent, "hoodie")
        silent_id = silent.id
    at = _page(shop.alice)
    at.selectbox(key=f"exports.{_event_id(at)}.batch_vendor").set_value(silent_id).run()
    button(at, "Send to vendor now…").click().run()
    button(at, "Yes, send").click().run()
    assert [e.value for e in at.error] == ["Hoodie Batch has no email address; add one before sending."]
    assert _batch_mails(engine) == 0


def _event_id(at: AppTest) -> int:
    return int(at.session_state["organiser.event_id"])


def _batch_mails(engine: Engine) -> int:
    with read_only(engine) as session:
        return len(session.scalars(select(OutboxMessage.id).where(OutboxMessage.kind == MessageKind.VENDOR_BATCH))
                   .all())
