"""The attendee's lookup page through AppTest: finding an order by link or reference plus email, changing,
cancelling and deleting one's data, with errors beside the fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.fulfilment import change_status
from core.lookup import NOT_FOUND_MESSAGE, find_order_by_token
from core.models import Event, Item, MessageKind, Order, OrderStatus, Variant, utcnow
from core.orders import place_order
from tests.factories import answers, make_shop, make_user
from tests.factories.orders import hoodie, tshirts
from tests.factories.vendors import outbox, route_shop
from tests.pages.conftest import AppFactory, click, render_page


@dataclass(frozen=True)
class Shop:
    engine: Engine
    event_id: int
    reference: str
    token: str
    organiser: Actor


@pytest.fixture
def shop(engine: Engine) -> Shop:
    """Ada's order of a fitted M t-shirt and an L hoodie (routed to a per-order printer); L t-shirts are sold out."""
    with unit_of_work(engine) as session:
        event = make_shop(session, title="Summer Meetup", timezone="Europe/London")
        organiser = make_user(session, "olivia", member_of=[event])
        route_shop(session, organiser, event)
        session.scalars(select(Variant).join(Item).where(
            Item.event_id == event.id, Item.key == "tshirt", Variant.key == "Fitted/L")).one().stock = 0
        receipt = place_order(session, event, answers(items=tshirts(1) + hoodie(1)), idempotency_key="ada")
    assert receipt.lookup_token
    return Shop(engine, event.id, receipt.reference, receipt.lookup_token, organiser)


def _page(token: str | None = None) -> AppTest:
    return render_page("lookup_page", query=None if token is None else {"t": token})


def _find(at: AppTest, reference: str, email: str) -> AppTest:
    at.text_input[0].input(reference)
    at.text_input[1].input(email)
    return click(at, "Find my order")


def _order(shop: Shop) -> Order:
    with read_only(shop.engine) as session:
        order = session.scalars(select(Order).where(Order.reference == shop.reference)).one()
        _ = order.lines, order.personal
        return order


def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "subheader", "markdown", "caption", "text", "info", "warning", "error",
                                  "success") for e in getattr(at, kind)]
    return "\n".join(str(part) for part in parts)


def test_the_secret_link_opens_the_order(shop: Shop) -> None:
    at = _page(shop.token)
    assert not at.exception
    assert at.title[0].value == "Find my order" and at.subheader[0].value == "Summer Meetup"
    text = _texts(at)
    assert f"Order **`{shop.reference}`**" in text and "Status: **Received**" in text and "Received" in at.text[0].value
    assert list(at.table[0].value["Item"]) == ["T-shirt", "Hoodie"]
    assert "Your personal details are deleted after the event." in text
    assert {"Change my order", "Cancel my order"} <= {b.label for b in at.button}
    assert not at.text_input  # no lookup form once the order is open


def test_a_wrong_link_says_nothing_about_any_order(shop: Shop) -> None:
    at = _page(shop.token[:-2] + "xx")
    assert not at.exception
    assert at.error[0].value.startswith(NOT_FOUND_MESSAGE)
    assert shop.reference not in _texts(at) and [w.label for w in at.text_input] == ["Order reference",
                                                                                    "Email address"]


def test_reference_and_email_open_the_order_and_a_wrong_email_looks_like_no_order(shop: Shop) -> None:
    wrong_email = _find(_page(), shop.reference, "grace@example.com")
    unknown = _find(_page(), "ZZZZZZZZ", "ada@example.com")
    assert [e.value for e in wrong_email.error] == [e.value for e in unknown.error] == [NOT_FOUND_MESSAGE]
    found = _find(_page(), shop.reference.lower(), "Ada@Example.com")
    assert not found.exception and found.subheader[0].value == "Summer Meetup"
    assert f"Order **`{shop.reference}`**" in _texts(found)


def test_lookups_are_throttled_after_ten_failures(shop: Shop) -> None:
    at = _page()
    for attempt in range(11):
        at = _find(at, f"WRONG{attempt:03d}", "nobody@example.com")
        assert [e.value for e in at.error] == [NOT_FOUND_MESSAGE]
    # The score decays in real time, so the 11th failure is the first to impose a wait (of about 4 s).
    at = _find(at, shop.reference, "ada@example.com")  # even the right details wait now
    assert at.error[0].value.startswith("Too many attempts. Please wait ")
    assert not at.subheader


def test_changing_the_size_saves_the_order_and_renews_the_link(shop: Shop) -> None:
    at = click(_page(shop.token), "Change my order")
    assert not at.exception
    assert at.text_input(key="lookup.change.name").value == "Ada Lovelace"
    assert at.selectbox(key="lookup.change.items.tshirt.0.size").value == "M"
    assert at.selectbox(key="lookup.change.items.hoodie.0.size").value == "L"
    at.selectbox(key="lookup.change.items.hoodie.0.size").select("M")
    at.text_input(key="lookup.change.name").input("Ada King")
    at = click(at, "Save changes")
    assert not at.exception
    assert at.success[0].value.startswith("Your order has been changed.")
    assert list(at.table[0].value["Choice"]) == ["Fitted, M", "M"]
    order = _order(shop)
    assert order.personal is not None and order.personal.answers["name"] == "Ada King"
    new_token = at.query_params["t"]
    with read_only(shop.engine) as session:
        assert find_order_by_token(session, new_token) == order.id
        assert find_order_by_token(session, shop.token) is None
    assert [m.kind for m in outbox(shop.engine, MessageKind.ORDER_CHANGED)] == [MessageKind.ORDER_CHANGED]


def test_a_sold_out_size_is_refused_beside_the_item_and_nothing_changes(shop: Shop) -> None:
    at = click(_page(shop.token), "Change my order")
    at.selectbox(key="lookup.change.items.tshirt.0.size").select("L")
    at = click(at, "Save changes")
    assert not at.exception
    assert "T-shirt (Fitted, L) is sold out." in [e.value for e in at.error]
    assert at.selectbox(key="lookup.change.items.tshirt.0.size").value == "L"  # the choice is kept to correct
    assert [(line.variant_label, line.quantity) for line in _order(shop).lines] == [("Fitted, M", 1), ("L", 1)]
    assert outbox(shop.engine, MessageKind.ORDER_CHANGED) == []


def test_after_the_deadline_the_order_can_only_be_seen(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        session.get_one(Event, shop.event_id).change_deadline = utcnow() - timedelta(hours=1)
    at = _page(shop.token)
    assert not at.exception
    assert "deadline for changes has passed" in at.info[0].value
    assert not {"Change my order", "Cancel my order"} & {b.label for b in at.button}


def test_a_deadline_that_passes_while_editing_refuses_the_save(shop: Shop) -> None:
    at = click(_page(shop.token), "Change my order")
    at.selectbox(key="lookup.change.items.hoodie.0.size").select("M")
    with unit_of_work(shop.engine) as session:
        session.get_one(Event, shop.event_id).change_deadline = utcnow() - timedelta(seconds=1)
    at = click(at, "Save changes")
    assert not at.exception
    assert "deadline for changes has passed" in at.error[0].value
    assert "Save changes" not in {b.label for b in at.button}
    assert [(line.variant_label, line.quantity) for line in _order(shop).lines] == [("Fitted, M", 1), ("L", 1)]


def test_cancelling_asks_first_then_cancels(shop: Shop) -> None:
    at = click(_page(shop.token), "Cancel my order")
    assert at.warning[0].value.startswith("Cancel this order?")
    assert _order(shop).status == OrderStatus.RECEIVED
    at = click(at, "Yes, cancel my order")
    assert not at.exception
    assert at.success[0].value == "Your order has been cancelled." and "Status: **Cancelled**" in _texts(at)
    assert _order(shop).status == OrderStatus.CANCELLED
    assert "Delete my personal data now" in {b.label for b in at.button}


def test_after_delivery_the_attendee_deletes_their_data(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        change_status(session, shop.organiser, shop.event_id, [shop.reference], OrderStatus.DELIVERED)
    at = click(_page(shop.token), "Delete my personal data now")
    at = click(at, "Go back")
    assert _order(shop).personal is not None
    at = click(click(at, "Delete my personal data now"), "Yes, delete my details")
    assert not at.exception
    assert at.success[0].value == "Your personal details have been deleted."
    assert "Your personal details have been deleted. What is left" in at.info[0].value
    assert "Delete my personal data now" not in {b.label for b in at.button}
    assert _order(shop).personal is None


def test_shipping_tracking_is_shown_as_a_button_only_for_web_addresses(shop: Shop) -> None:
    from core.fulfilment import record_status

    with unit_of_work(shop.engine) as session:
        order = session.scalars(select(Order).where(Order.reference == shop.reference)).one()
        order.status = OrderStatus.SHIPPED
        record_status(session, order, OrderStatus.SHIPPED, "olivia", tracking="https://track.example/1Z")
        record_status(session, order, OrderStatus.SHIPPED, "olivia", tracking="[x](javascript:alert(1))")
    at = _page(shop.token)
    assert not at.exception
    assert [b.proto.url for b in at.get("link_button")] == ["https://track.example/1Z"]
    assert "Tracking number: [x](javascript:alert(1))" in [t.value for t in at.text]
    assert "already being made or delivered" in at.info[0].value


def test_the_landing_page_and_the_confirmation_link_to_the_lookup(shop: Shop, app: AppFactory) -> None:
    assert "[Find my order](/lookup)" in _texts(app())
    at = app("test-event")
    at.text_input(key="order.test-event.name").input("Grace Hopper")
    at.text_input(key="order.test-event.email").input("grace@example.com")
    at.selectbox(key="order.test-event.items.tshirt.0.type").select("Fitted")
    at.selectbox(key="order.test-event.items.tshirt.0.size").select("M")
    at.number_input(key="order.test-event.items.tshirt.0.quantity").set_value(1)
    at = click(at, "Place order")
    assert not at.exception
    link = next(m.value for m in at.markdown if "Find my order" in m.value)
    token = link.split("(/lookup?t=")[1].split(")")[0]
    with read_only(shop.engine) as session:
        order_id = find_order_by_token(session, token)
    assert order_id is not None and order_id != _order(shop).id
    grace = [m for m in outbox(shop.engine, MessageKind.CONFIRMATION) if m.recipients == ["grace@example.com"]]
    assert len(grace) == 1 and f"/lookup?t={token}" in grace[0].body_text
