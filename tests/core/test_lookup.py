"""Attendee self-service: finding one's order (secret link, reference plus email, throttled), seeing it, changing
or cancelling it until the deadline with stock and vendors kept right, and deleting one's data after delivery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.errors import ChangeRefused, FormValidationError, LookupThrottled, OrderNotForgettable
from core.fulfilment import change_status
from core.lookup import (
    cancel_own_order,
    change_form,
    change_order,
    find_order_by_reference,
    find_order_by_token,
    own_order,
    tracking_link,
)
from core.models import (
    AuditEntry,
    CodeMode,
    Disclosure,
    Event,
    Item,
    MessageKind,
    Order,
    OrderStatus,
    Variant,
    utcnow,
)
from core.orders import place_order
from core.purge import forget_order
from tests.factories import answers, make_shop, make_user
from tests.factories.orders import hoodie, tshirts
from tests.factories.vendors import Vendors, outbox, route_shop


@dataclass(frozen=True)
class Shop:
    engine: Engine
    event_id: int
    order_id: int
    reference: str
    token: str
    organiser: Actor
    vendors: Vendors


def _stock(session, event: Event, item_key: str, variant_key: str, stock: int | None) -> None:  # noqa: ANN001
    variant = session.scalars(select(Variant).join(Item).where(
        Item.event_id == event.id, Item.key == item_key, Variant.key == variant_key)).one()
    variant.stock = stock


@pytest.fixture
def shop(engine: Engine) -> Shop:
    """Ada's order of a fitted M t-shirt (batch vendor) and an L hoodie (per-order printer); M and L t-shirts have
    stock 5 and 1."""
    with unit_of_work(engine) as session:
        event = make_shop(session, title="Summer Meetup")
        organiser = make_user(session, "olivia", member_of=[event])
        vendors = route_shop(session, organiser, event)
        _stock(session, event, "tshirt", "Fitted/M", 5)
        _stock(session, event, "tshirt", "Fitted/L", 1)
        receipt = place_order(session, event, answers(items=tshirts(1) + hoodie(1)), idempotency_key="ada")
        order_id = session.scalars(select(Order.id).where(Order.reference == receipt.reference)).one()
    assert receipt.lookup_token
    return Shop(engine, event.id, order_id, receipt.reference, receipt.lookup_token, organiser, vendors)


def _sold(shop: Shop, variant_key: str) -> int:
    with read_only(shop.engine) as session:
        return session.scalars(select(Variant.sold).join(Item).where(
            Item.event_id == shop.event_id, Item.key == "tshirt", Variant.key == variant_key)).one()


def _change(shop: Shop, **overrides: object) -> str:
    with unit_of_work(shop.engine) as session:
        return change_order(session, shop.order_id, answers(**overrides))


def _lines(shop: Shop) -> list[tuple[str, str, int]]:
    with read_only(shop.engine) as session:
        order = own_order(session, shop.order_id)
    return [(line.item_name, line.variant_label, line.quantity) for line in order.lines]


def _edit_event(shop: Shop, **values: object) -> None:
    with unit_of_work(shop.engine) as session:
        event = session.get_one(Event, shop.event_id)
        for name, value in values.items():
            setattr(event, name, value)


# --- Finding an order ---------------------------------------------------------------------------------------------


def test_the_secret_link_finds_the_order_and_nothing_else_does(shop: Shop) -> None:
    with read_only(shop.engine) as session:
        assert find_order_by_token(session, shop.token) == shop.order_id
        for wrong in (shop.token[:-1], "", None, "x" * 1000, shop.reference):
            assert find_order_by_token(session, wrong) is None


def test_reference_and_email_find_the_order_whatever_their_case(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        found = find_order_by_reference(session, f" {shop.reference.lower()} ", "ADA@Example.com ", client="c")
    assert found == shop.order_id


def test_a_wrong_email_gives_the_same_answer_as_an_unknown_reference(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        assert find_order_by_reference(session, shop.reference, "grace@example.com", client="c") is None
        assert find_order_by_reference(session, "NOSUCHRF", "ada@example.com", client="c") is None
        assert find_order_by_reference(session, "", "", client="c") is None


def test_a_client_that_keeps_failing_must_wait_even_with_the_right_details(shop: Shop) -> None:
    now = utcnow()
    with unit_of_work(shop.engine) as session:
        for attempt in range(10):  # different references: only the client's score grows
            assert find_order_by_reference(session, f"WRONG{attempt:03d}", "a@b.example", client="c", now=now) is None
    with unit_of_work(shop.engine) as session, pytest.raises(LookupThrottled) as caught:
        find_order_by_reference(session, shop.reference, "ada@example.com", client="c", now=now)
    assert caught.value.retry_after > 0 and f"wait {caught.value.retry_after} seconds" in str(caught.value)
    with unit_of_work(shop.engine) as session:
        # Another client is not slowed down, and the waiting client's score decays.
        assert find_order_by_reference(session, shop.reference, "ada@example.com", client="d", now=now) == shop.order_id
        assert find_order_by_reference(session, shop.reference, "ada@example.com", client="c",
                                       now=now + timedelta(hours=3)) == shop.order_id


def test_a_reference_under_attack_slows_every_client_down_for_at_most_a_minute(shop: Shop) -> None:
    now = utcnow()
    guesses = 0
    while guesses < 12:  # a new bot guesses each time the reference lets one
        with unit_of_work(shop.engine) as session:
            try:
                find_order_by_reference(session, shop.reference, "guess@example.com", client=f"bot{guesses}",
                                        now=now)
                guesses += 1
            except LookupThrottled as exc:
                now += timedelta(seconds=exc.retry_after)
    with unit_of_work(shop.engine) as session, pytest.raises(LookupThrottled) as caught:
        find_order_by_reference(session, shop.reference, "ada@example.com", client="ada", now=now)
    assert 30 < caught.value.retry_after <= 60
    with unit_of_work(shop.engine) as session:
        assert find_order_by_reference(session, shop.reference, "ada@example.com", client="ada",
                                       now=now + timedelta(seconds=61)) == shop.order_id


# --- Seeing it ----------------------------------------------------------------------------------------------------


def test_the_attendee_sees_items_history_deletion_date_and_deadline(shop: Shop) -> None:
    deadline = utcnow() + timedelta(days=3)
    _edit_event(shop, timezone="Europe/London", change_deadline=deadline, retention_days=30,
                ends_at=utcnow().replace(year=2030, month=6, day=1, hour=12))
    with read_only(shop.engine) as session:
        order = own_order(session, shop.order_id)
    assert (order.reference, order.event_title, order.status) == (shop.reference, "Summer Meetup",
                                                                  OrderStatus.RECEIVED)
    assert [(line.item_name, line.variant_label, line.quantity) for line in order.lines] == [
        ("T-shirt", "Fitted, M", 1), ("Hoodie", "L", 1)]
    assert [step.label for step in order.history] == ["Received"]
    assert order.delete_after == "1 July 2030"
    assert order.change_until == deadline and order.can_change and not order.can_forget
    assert order.local(order.placed_at).tzinfo is not None


def test_tracking_is_a_link_only_when_it_is_a_plain_web_address() -> None:
    assert tracking_link("https://track.example/p?id=1Z999") == "https://track.example/p?id=1Z999"
    for unsafe in ("1Z999AA10123456784", "javascript:alert(1)", "https://x.example/\"><script>", "http://",
                   "https://a.example/ b", "data:text/html,hi", None, ""):
        assert tracking_link(unsafe) is None


# --- Changing it --------------------------------------------------------------------------------------------------


def test_the_change_form_is_the_orders_own_answers(shop: Shop) -> None:
    with read_only(shop.engine) as session:
        draft = change_form(session, shop.order_id)
    assert draft.answers["name"] == "Ada Lovelace" and draft.answers["email"] == "ada@example.com"
    assert draft.answers["items"] == [{"item": "tshirt", "options": {"type": "Fitted", "size": "M"}, "quantity": 1},
                                      {"item": "hoodie", "options": {"size": "L"}, "quantity": 1}]
    assert draft.unavailable == ()


def test_a_new_size_takes_its_stock_and_gives_the_old_back(shop: Shop) -> None:
    assert (_sold(shop, "Fitted/M"), _sold(shop, "Fitted/L")) == (1, 0)
    token = _change(shop, name="Ada King", items=tshirts(1, size="L") + hoodie(1))
    assert (_sold(shop, "Fitted/M"), _sold(shop, "Fitted/L")) == (0, 1)
    assert _lines(shop) == [("Hoodie", "L", 1), ("T-shirt", "Fitted, L", 1)]
    with read_only(shop.engine) as session:
        order = session.get_one(Order, shop.order_id)
        assert order.changed_at is not None
        assert order.personal is not None and order.personal.answers["name"] == "Ada King"
        # A fresh link replaces the old one.
        assert find_order_by_token(session, shop.token) is None
        assert find_order_by_token(session, token) == shop.order_id
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "order.changed_by_attendee")).one()
    assert entry.actor == "attendee" and entry.details["reference"] == shop.reference
    assert "Ada" not in str(entry.details) and "@" not in str(entry.details)
    confirmations = outbox(shop.engine, MessageKind.CONFIRMATION)
    assert len(confirmations) == 2
    assert f"/lookup?t={token}" in confirmations[-1].body_text and "1 × T-shirt (Fitted, L)" in confirmations[-1].body_text


def test_a_sold_out_choice_fails_beside_its_item_and_changes_nothing(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        _stock(session, session.get_one(Event, shop.event_id), "tshirt", "Fitted/L", 0)
    mails_before = len(outbox(shop.engine))
    with pytest.raises(FormValidationError) as caught:
        _change(shop, name="Ada King", items=tshirts(1, size="L") + hoodie(1, size="M"))
    assert list(caught.value.errors) == ["items.tshirt"] and "sold out" in caught.value.errors["items.tshirt"]
    assert _lines(shop) == [("T-shirt", "Fitted, M", 1), ("Hoodie", "L", 1)]
    assert (_sold(shop, "Fitted/M"), _sold(shop, "Fitted/L")) == (1, 0)
    assert len(outbox(shop.engine)) == mails_before
    with read_only(shop.engine) as session:
        order = session.get_one(Order, shop.order_id)
        assert order.changed_at is None and order.personal is not None
        assert order.personal.answers["name"] == "Ada Lovelace"
        assert find_order_by_token(session, shop.token) == shop.order_id


def test_keeping_a_choice_that_sold_out_since_is_no_problem(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        _stock(session, session.get_one(Event, shop.event_id), "tshirt", "Fitted/M", 1)  # Ada holds the last one
    _change(shop, phone="+44 20 7946 0000", items=tshirts(1) + hoodie(1))
    assert _sold(shop, "Fitted/M") == 1
    with pytest.raises(FormValidationError):
        _change(shop, items=tshirts(2) + hoodie(1))


def test_answers_are_validated_again(shop: Shop) -> None:
    with pytest.raises(FormValidationError) as caught:
        _change(shop, email="not-an-address", items=[])
    assert set(caught.value.errors) == {"email", "items"}


def test_an_item_that_needs_a_code_cannot_be_added_to_an_order_without_one(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session, code_mode=CodeMode.ITEMS)
        session.scalars(select(Item).where(Item.event_id == event.id, Item.key == "hoodie")).one().requires_code = True
        reference = place_order(session, event, answers(), idempotency_key="k").reference
        order_id = session.scalars(select(Order.id).where(Order.reference == reference)).one()
    with unit_of_work(engine) as session, pytest.raises(FormValidationError) as caught:
        change_order(session, order_id, answers(items=tshirts() + hoodie()))
    assert caught.value.errors == {"items.hoodie": "Hoodie needs a code that this order does not have."}


@pytest.mark.parametrize("deadline", ["change_deadline", "closes_at"])
def test_changes_are_refused_after_the_deadline(shop: Shop, deadline: str) -> None:
    _edit_event(shop, **{deadline: utcnow() - timedelta(minutes=1)})
    with read_only(shop.engine) as session:
        order = own_order(session, shop.order_id)
    assert not order.can_change and "deadline" in order.locked_reason
    with pytest.raises(ChangeRefused):
        _change(shop, items=tshirts(1, size="L"))
    with unit_of_work(shop.engine) as session, pytest.raises(ChangeRefused):
        cancel_own_order(session, shop.order_id)
    assert _lines(shop) == [("T-shirt", "Fitted, M", 1), ("Hoodie", "L", 1)]


def test_an_explicit_change_deadline_outlasts_the_close_of_orders(shop: Shop) -> None:
    _edit_event(shop, closes_at=utcnow() - timedelta(days=1), change_deadline=utcnow() + timedelta(days=1))
    _change(shop, items=tshirts(1, size="L"))
    assert _lines(shop) == [("T-shirt", "Fitted, L", 1)]


def test_an_order_in_production_can_no_longer_be_changed(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        change_status(session, shop.organiser, shop.event_id, [shop.reference], OrderStatus.IN_PRODUCTION)
    with pytest.raises(ChangeRefused, match="already being made"):
        _change(shop, items=tshirts(1, size="L"))


# --- Vendors ------------------------------------------------------------------------------------------------------


def test_the_confirmation_carries_the_secret_link_and_vendor_mails_do_not(shop: Shop) -> None:
    confirmation = outbox(shop.engine, MessageKind.CONFIRMATION)[0]
    assert f"/lookup?t={shop.token}" in confirmation.body_text and f"/lookup?t={shop.token}" in confirmation.body_html
    vendor_mails = outbox(shop.engine, MessageKind.VENDOR_ORDER)
    assert [m.vendor_id for m in vendor_mails] == [shop.vendors.printer.id]
    for mail in vendor_mails:
        assert "/lookup" not in mail.body_text + mail.body_html and shop.token not in mail.body_text


def test_a_change_tells_the_per_order_vendor_that_had_the_order_what_it_now_sees(shop: Shop) -> None:
    _change(shop, name="Ada King", items=tshirts(1) + hoodie(1, size="M"))
    changed = outbox(shop.engine, MessageKind.ORDER_CHANGED)
    assert [(m.vendor_id, m.recipients) for m in changed] == [(shop.vendors.printer.id,
                                                               ["hoodie-printer@vendors.example"])]
    mail = changed[0]
    assert mail.subject == f"Order {shop.reference} for Summer Meetup changed"
    assert "1 × Hoodie (M)" in mail.body_text and "Name: Ada King" in mail.body_text
    for unseen in ("ada@example.com", "T-shirt", "/lookup"):
        assert unseen not in mail.body_text + mail.body_html
    with read_only(shop.engine) as session:
        disclosures = session.execute(select(Disclosure.fields, Disclosure.message_id).where(
            Disclosure.order_id == shop.order_id, Disclosure.vendor_id == shop.vendors.printer.id)
            .order_by(Disclosure.id)).all()
    assert [(fields, message_id == mail.id) for fields, message_id in disclosures][-1] == (["name"], True)


def test_a_change_the_vendor_cannot_see_is_not_mailed_to_it(shop: Shop) -> None:
    _change(shop, items=tshirts(1, size="L") + hoodie(1), phone="+44 20 7946 0000")  # the printer sees names only
    assert outbox(shop.engine, MessageKind.ORDER_CHANGED) == []


def test_a_vendor_that_gets_its_first_line_of_the_order_gets_a_new_order_mail(shop: Shop) -> None:
    delivery = {"street": "1 Analytical Row", "city": "London", "postcode": "N1 1AA", "country": "United Kingdom"}
    _change(shop, items=tshirts(1) + hoodie(1) + [{"item": "breakfast", "options": {}, "quantity": 1}],
            delivery=delivery)
    assert outbox(shop.engine, MessageKind.ORDER_CHANGED) == []
    caterer = [m for m in outbox(shop.engine, MessageKind.VENDOR_ORDER) if m.vendor_id == shop.vendors.caterer.id]
    assert len(caterer) == 1 and "1 × Breakfast box" in caterer[0].body_text


def test_cancelling_gives_stock_back_and_tells_the_vendor_that_had_it(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        cancel_own_order(session, shop.order_id)
    assert _sold(shop, "Fitted/M") == 0
    with read_only(shop.engine) as session:
        order = session.get_one(Order, shop.order_id)
        assert order.status == OrderStatus.CANCELLED
        assert [(step.status, step.actor) for step in order.history][-1] == (OrderStatus.CANCELLED, "attendee")
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "order.cancelled_by_attendee")).one()
        assert entry.actor == "attendee" and entry.details == {"reference": shop.reference, "old_status": "received"}
        view = own_order(session, shop.order_id)
    assert not view.can_change and view.can_forget
    changed = outbox(shop.engine, MessageKind.ORDER_CHANGED)
    assert [m.vendor_id for m in changed] == [shop.vendors.printer.id]
    assert changed[0].subject.endswith("cancelled") and "1 × Hoodie (L)" in changed[0].body_text
    with unit_of_work(shop.engine) as session, pytest.raises(ChangeRefused):
        cancel_own_order(session, shop.order_id)


def test_cancelling_an_order_no_per_order_vendor_had_mails_no_vendor(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        route_shop(session, make_user(session, "olivia", member_of=[event]), event)
        reference = place_order(session, event, answers(), idempotency_key="k").reference  # t-shirt: batch only
        order_id = session.scalars(select(Order.id).where(Order.reference == reference)).one()
    with unit_of_work(engine) as session:
        cancel_own_order(session, order_id)
    assert outbox(engine, MessageKind.ORDER_CHANGED) == []


# --- Deleting one's data ------------------------------------------------------------------------------------------


def test_personal_data_can_be_deleted_once_delivered(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session, pytest.raises(OrderNotForgettable):
        forget_order(session, shop.order_id, now=utcnow())
    with unit_of_work(shop.engine) as session:
        change_status(session, shop.organiser, shop.event_id, [shop.reference], OrderStatus.DELIVERED)
    with read_only(shop.engine) as session:
        assert own_order(session, shop.order_id).can_forget
    with unit_of_work(shop.engine) as session:
        forget_order(session, shop.order_id, now=utcnow())
    with unit_of_work(shop.engine) as session:
        view = own_order(session, shop.order_id)
        assert not view.personal_data_kept and not view.can_forget and not view.can_change
        assert [line.item_name for line in view.lines] == ["T-shirt", "Hoodie"]
        assert find_order_by_token(session, shop.token) is None
        assert find_order_by_reference(session, shop.reference, "ada@example.com", client="c") is None
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "order.forgotten", AuditEntry.actor == "attendee")) == 1



def test_a_changed_email_moves_the_one_order_per_email_claim(engine: Engine) -> None:
    key = b"k" * 32
    with unit_of_work(engine) as session:
        event = make_shop(session, one_order_per_email=True)
        ada = place_order(session, event, answers(), idempotency_key="ada", code_key=key).reference
        place_order(session, event, answers(email="grace@example.com"), idempotency_key="grace", code_key=key)
        ada_id = session.scalars(select(Order.id).where(Order.reference == ada)).one()
    with unit_of_work(engine) as session, pytest.raises(FormValidationError) as caught:
        change_order(session, ada_id, answers(email="Grace@example.com"), code_key=key)
    assert list(caught.value.errors) == ["email"]
    with unit_of_work(engine) as session:
        change_order(session, ada_id, answers(email="ada.king@example.com"), code_key=key)
    with unit_of_work(engine) as session:  # the old address is free again, the new one taken
        event = session.get_one(Event, event.id)
        place_order(session, event, answers(), idempotency_key="ada-again", code_key=key)
        with pytest.raises(FormValidationError):
            place_order(session, event, answers(email="ada.king@example.com"), idempotency_key="x", code_key=key)


def test_an_order_without_personal_answers_can_be_changed_by_its_link(engine: Engine) -> None:
    form = {"fields": [{"key": "items", "type": "items", "label": "Items", "required": True}]}
    with unit_of_work(engine) as session:
        event = make_shop(session, form=form)
        receipt = place_order(session, event, {"items": tshirts()}, idempotency_key="k")
        assert receipt.lookup_token
        order_id = find_order_by_token(session, receipt.lookup_token)
    assert order_id is not None
    with unit_of_work(engine) as session:
        change_order(session, order_id, {"items": tshirts(2, size="S")})
    with read_only(engine) as session:
        order = session.get_one(Order, order_id)
        assert order.personal is None
        assert [(line.variant_key, line.quantity) for line in order.lines] == [("Fitted/S", 2)]
