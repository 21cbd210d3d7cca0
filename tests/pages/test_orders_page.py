"""The organiser's orders page through AppTest: one event's orders, search, paging, details and status changes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.fulfilment import TRACKING_HINT, move_vendor_lines
from core.models import AuditEntry, Event, Item, Order, OrderStatus, UserRole, Vendor
from core.vendor_portal import PORTAL_CHANNEL
from core.vendors import record_disclosure
from pages.orders_page import PAGE_SIZE, table_key
from tests.factories import make_shop, make_user
from tests.factories.orders import TwoOrders, hoodie, make_two_orders, place, tshirts
from tests.factories.vendors import make_vendor
from tests.pages.conftest import click, render_page


@dataclass(frozen=True)
class Shop:
    engine: Engine
    event_id: int
    other_event_id: int
    organiser: Actor
    ada: str
    grace: str
    theirs: str


@pytest.fixture
def shop(engine: Engine) -> Shop:
    with unit_of_work(engine) as session:
        event = make_shop(session, title="Summer Meetup")
        other = make_shop(session, slug="other-event", title="Winter Meetup")
        organiser = make_user(session, "olivia", member_of=[event, other])
        ada = place(session, event, "a", items=tshirts(2) + hoodie(1), name="Ada Lovelace", email="ada@example.com")
        grace = place(session, event, "b", items=hoodie(), name="Grace Hopper", email="grace@example.com")
        theirs = place(session, other, "c", name="Someone Else", email="else@example.com")
    return Shop(engine, event.id, other.id, organiser, ada, grace, theirs)


_page = partial(render_page, "orders_page")


def _references(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["reference"])


def _select(at: AppTest, shop: Shop, *references: str, generation: int = 0) -> AppTest:
    rows = [_references(at).index(reference) for reference in references]
    at.session_state[table_key(f"orders.{shop.event_id}", generation)] = {"selection": {"rows": rows, "columns": []}}
    return at.run()


def _status(shop: Shop, reference: str) -> OrderStatus:
    with read_only(shop.engine) as session:
        return session.scalars(select(Order.status).where(Order.reference == reference)).one()


def test_anonymous_session_sees_the_login_warning_and_no_orders(shop: Shop) -> None:
    at = _page(None)
    assert not at.exception
    assert [w.value for w in at.warning] == ["Please log in to see this page."]
    assert not at.dataframe and not at.text_input


def test_lists_the_orders_of_the_chosen_event_only(shop: Shop) -> None:
    at = _page(shop.organiser, event_id=shop.event_id)
    assert not at.exception
    assert at.caption[0].value == "Summer Meetup"
    assert _references(at) == [shop.grace, shop.ada]
    assert "2 orders · page 1 of 1" in at.caption[1].value
    frame = at.dataframe[0].value
    assert frame.loc[1, "items"] == "2× T-shirt (Fitted, M); 1× Hoodie (L)"
    at.sidebar.selectbox[0].select(shop.other_event_id).run()
    assert _references(at) == [shop.theirs]


def test_search_box_and_filters_narrow_the_table(shop: Shop) -> None:
    at = _page(shop.organiser, event_id=shop.event_id)
    at.text_input(key=f"orders.{shop.event_id}.text").input("lovelace").run()
    assert _references(at) == [shop.ada]
    at.text_input(key=f"orders.{shop.event_id}.text").input("").run()
    at.selectbox(key=f"orders.{shop.event_id}.item").select("tshirt").run()
    assert _references(at) == [shop.ada]
    at.multiselect(key=f"orders.{shop.event_id}.statuses").select(OrderStatus.SHIPPED).run()
    assert not at.dataframe
    assert "No orders match." in [i.value for i in at.info]


def test_paging_shows_fifty_orders_at_a_time(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        event = session.get_one(Event, shop.event_id)
        for n in range(PAGE_SIZE - 1):
            place(session, event, f"more-{n}")
    at = _page(shop.organiser, event_id=shop.event_id)
    assert len(_references(at)) == PAGE_SIZE
    assert "51 orders · page 1 of 2" in at.caption[1].value
    at = click(at, "Next")
    assert _references(at) == [shop.ada]  # the oldest
    assert "page 2 of 2" in at.caption[1].value
    at = click(at, "Previous")
    assert len(_references(at)) == PAGE_SIZE


def test_selecting_one_order_shows_its_lines_and_answers(shop: Shop) -> None:
    at = _select(_page(shop.organiser, event_id=shop.event_id), shop, shop.ada)
    assert not at.exception
    assert f"Order {shop.ada}" in [h.value for h in at.subheader]
    lines, answers = at.dataframe[1].value, at.dataframe[2].value
    assert list(lines["Item"]) == ["T-shirt", "Hoodie"]
    assert dict(zip(answers["Question"], answers["Answer"], strict=True))["Name"] == "Ada Lovelace"
    assert "**Total: €55.00**" in [m.value for m in at.markdown]


def test_a_status_change_through_the_page_is_stored_and_audited(shop: Shop) -> None:
    at = _select(_page(shop.organiser, event_id=shop.event_id), shop, shop.ada, shop.grace)
    assert "2 orders selected" in [h.value for h in at.subheader]
    at.selectbox(key=f"orders.{shop.event_id}.new_status").select(OrderStatus.SHIPPED)
    at = click(at, "Set status")
    assert not at.exception
    assert [s.value for s in at.success] == ["2 orders marked as shipped."]
    assert (_status(shop, shop.ada), _status(shop, shop.grace)) == (OrderStatus.SHIPPED, OrderStatus.SHIPPED)
    assert set(at.dataframe[0].value["status"]) == {"shipped"}
    assert not at.subheader  # the selection is cleared after the change
    with read_only(shop.engine) as session:
        assert session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "order.status_changed")).all() == [
            "olivia", "olivia"]


def test_cancelling_asks_for_confirmation_first(shop: Shop) -> None:
    at = _select(_page(shop.organiser, event_id=shop.event_id), shop, shop.grace)
    at = click(at, "Cancel 1 order…")
    assert _status(shop, shop.grace) == OrderStatus.RECEIVED
    assert [w.value for w in at.warning] == [
        f"Cancel 1 order ({shop.grace})? A cancelled order cannot be reopened."]
    at = click(at, "Yes, cancel")
    assert [s.value for s in at.success] == ["1 order cancelled."]
    assert _status(shop, shop.grace) == OrderStatus.CANCELLED


def test_a_refused_change_is_shown_and_changes_nothing(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        admin = make_user(session, "root", role=UserRole.ADMIN)
    at = _select(_page(admin, event_id=shop.event_id), shop, shop.grace)
    at = click(click(at, "Cancel 1 order…"), "Yes, cancel")
    at = _select(at, shop, shop.grace, shop.ada, generation=1)
    at.selectbox(key=f"orders.{shop.event_id}.new_status").select(OrderStatus.SHIPPED)
    at = click(at, "Set status")
    assert [e.value for e in at.error] == [f"Order {shop.grace} is cancelled; a cancelled order cannot change."]
    assert (_status(shop, shop.grace), _status(shop, shop.ada)) == (OrderStatus.CANCELLED, OrderStatus.RECEIVED)


def test_an_organiser_sees_no_orders_of_events_they_are_not_a_member_of(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        outsider = make_user(session, "oscar")
    at = _page(outsider, event_id=shop.event_id)
    assert not at.exception
    assert not at.dataframe
    assert [i.value for i in at.info] == ["There are no events yet. Create one on the Events page."]


def test_an_order_without_per_order_vendors_is_not_sent_again_and_says_why(shop: Shop) -> None:
    at = _select(_page(shop.organiser, event_id=shop.event_id), shop, shop.ada)
    click(at, "Send this order to its vendors again")
    assert not at.exception
    assert [e.value for e in at.error] == [f"No item of order {shop.ada} goes to a per-order vendor. Batch vendors "
                                           "get their lists on the Exports page."]


def test_a_portal_view_of_the_order_reads_as_vendor_portal_in_its_disclosure_register(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        vendor = session.get(Vendor, make_vendor(session, "Print Shop", owner=shop.organiser).id)
        order_id = session.scalars(select(Order.id).where(Order.reference == shop.ada)).one()
        assert vendor is not None
        record_disclosure(session, vendor, [order_id], ["name"], None, channel=PORTAL_CHANNEL)
        record_disclosure(session, vendor, [order_id], ["name"], None)  # a mail since deleted from the outbox
    at = _select(_page(shop.organiser, event_id=shop.event_id), shop, shop.ada)
    assert not at.exception
    [register] = [frame.value for frame in at.dataframe if "Mail" in frame.value.columns]
    assert list(zip(register["Vendor"], register["Mail"], strict=True)) == [("Print Shop", "Vendor portal"),
                                                                           ("Print Shop", "Not linked")]


# --- Status tracking: a bulk change with tracking, a message to the attendees, the status history ---------------------

TRACKING = "https://carrier.example/track/JD0146"


@pytest.fixture
def tracking_shop(engine: Engine) -> TwoOrders:
    return make_two_orders(engine)


def _orders_page(tracking_shop: TwoOrders, *references: str) -> AppTest:
    at = render_page("orders_page", tracking_shop.organiser, event_id=tracking_shop.event_id)
    shown = list(at.dataframe[0].value["reference"])
    at.session_state[table_key(f"orders.{tracking_shop.event_id}", 0)] = {
        "selection": {"rows": [shown.index(r) for r in references], "columns": []}}
    return at.run()



def test_the_tracking_input_appears_for_shipped_and_a_bad_one_is_shown_beside_it(tracking_shop: TwoOrders) -> None:
    prefix = f"orders.{tracking_shop.event_id}"
    at = _orders_page(tracking_shop, tracking_shop.ada, tracking_shop.grace)
    assert not [t for t in at.text_input if t.key == f"{prefix}.tracking"]
    at.selectbox(key=f"{prefix}.new_status").select(OrderStatus.SHIPPED).run()
    at.text_input(key=f"{prefix}.tracking").input("javascript:alert(1)").run()
    at = click(at, "Set status")
    assert not at.exception
    assert [e.value for e in at.error] == [TRACKING_HINT]
    assert at.text_input(key=f"{prefix}.tracking").value == "javascript:alert(1)"  # kept, to correct it
    assert tracking_shop.status(tracking_shop.ada) == OrderStatus.RECEIVED


def test_a_bulk_change_with_tracking_can_tell_the_attendees(tracking_shop: TwoOrders) -> None:
    prefix = f"orders.{tracking_shop.event_id}"
    at = _orders_page(tracking_shop, tracking_shop.ada, tracking_shop.grace)
    at.selectbox(key=f"{prefix}.new_status").select(OrderStatus.SHIPPED).run()
    at.text_input(key=f"{prefix}.tracking").input(TRACKING)
    at.checkbox(key=f"{prefix}.notify").check()
    at = click(at, "Set status")
    assert not at.exception
    assert [s.value for s in at.success] == ["2 orders marked as shipped."]
    assert (tracking_shop.status(tracking_shop.ada), tracking_shop.status(tracking_shop.grace)) == (OrderStatus.SHIPPED, OrderStatus.SHIPPED)
    assert sorted(m.recipients[0] for m in tracking_shop.status_mails()) == ["ada@example.com", "grace@example.com"]
    assert all(f"Tracking: {TRACKING}" in m.body_text for m in tracking_shop.status_mails())


def test_the_order_detail_shows_its_status_history(tracking_shop: TwoOrders) -> None:
    prefix = f"orders.{tracking_shop.event_id}"
    at = _orders_page(tracking_shop, tracking_shop.ada)
    at.selectbox(key=f"{prefix}.new_status").select(OrderStatus.SHIPPED).run()
    at.text_input(key=f"{prefix}.tracking").input(TRACKING)
    click(at, "Set status")
    at = _orders_page(tracking_shop, tracking_shop.ada)
    assert "**Status history**" in [m.value for m in at.markdown]
    history = next(d.value for d in at.dataframe if "Tracking" in d.value.columns)
    assert list(history["Status"]) == ["Received", "Shipped"]
    assert list(history["By"]) == ["system", "olivia"]
    assert list(history["Tracking"]) == ["", TRACKING]
    assert tracking_shop.status_mails() == []  # the notify box was not ticked


def test_an_order_a_vendor_moved_in_part_shows_a_status_per_line(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        event = session.get_one(Event, shop.event_id)
        tshirt = session.scalars(select(Item.id).where(Item.event_id == event.id, Item.key == "tshirt")).one()
        move_vendor_lines(session, "vendor:Print Shop", event, {tshirt}, {shop.ada: None}, OrderStatus.SHIPPED)
    at = _select(_page(shop.organiser, event_id=shop.event_id), shop, shop.ada)
    assert not at.exception
    lines = at.dataframe[1].value
    assert list(zip(lines["Item"], lines["Status"], strict=True)) == [("T-shirt", "Shipped"), ("Hoodie", "Received")]
    history = next(d.value for d in at.dataframe if "Tracking" in d.value.columns)
    assert list(zip(history["Status"], history["By"], strict=True))[-1] == ("Shipped: 2 × T-shirt (Fitted, M)",
                                                                           "vendor:Print Shop")
    # An order all in one place shows no Status per line.
    at = _select(at, shop, shop.grace)
    assert "Status" not in at.dataframe[1].value.columns
