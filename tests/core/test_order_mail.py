"""Order mail: the attendee's confirmation and per-order vendors' mails of a new order, with the disclosures they
make, wording from the event's templates, mails rolled back with their order, and the status SMS's text."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from core.db import read_only, unit_of_work
from core.errors import FormValidationError
from core.mail_templates import save_template
from core.models import Disclosure, Event, MessageKind, MessageStatus, OutboxMessage
from core.order_admin import order_detail
from core.order_mail import SMS_MAX_LENGTH, sms_text
from core.orders import place_order
from core.vendors import update_vendor
from tests.factories import BASIC_FORM, answers, make_event, make_item
from tests.factories.vendors import ADDRESS, EVERYTHING, Shop, make_vendor_shop, outbox, place_everything, place_in_shop


@pytest.fixture
def shop(engine: Engine) -> Shop:
    return make_vendor_shop(engine)


# --- When an order is placed -----------------------------------------------------------------------------------


def test_an_order_queues_the_confirmation_and_one_mail_per_per_order_vendor(shop: Shop) -> None:
    reference = place_everything(shop)
    messages = outbox(shop.engine)
    assert [(m.kind, m.vendor_id, m.recipients) for m in messages] == [
        (MessageKind.CONFIRMATION, None, ["ada@example.com"]),
        (MessageKind.VENDOR_ORDER, shop.vendors.printer.id, ["hoodie-printer@vendors.example"]),
        (MessageKind.VENDOR_ORDER, shop.vendors.caterer.id, ["orders@caterer.example", "kitchen@caterer.example"]),
    ]
    with read_only(shop.engine) as session:
        order_id = session.scalar(select(Disclosure.order_id).limit(1))
    assert all(m.order_id == order_id and m.event_id == shop.event_id for m in messages)
    assert all(m.status == MessageStatus.PENDING for m in messages)  # the dispatcher decides held or sent
    assert len({m.message_id for m in messages}) == 3
    confirmation = messages[0]
    assert confirmation.subject == f"Your order {reference} for Summer Meetup"
    for line in ("Hello Ada Lovelace,", "2 × T-shirt (Fitted, M)", "1 × Hoodie (L)", "1 × Breakfast box",
                 "/lookup?t=", "(deletion date: after the event)"):
        assert line in confirmation.body_text
    assert "Hello Ada Lovelace,<br>" in confirmation.body_html


def test_the_hoodie_printer_gets_names_and_sizes_only(shop: Shop) -> None:
    reference = place_everything(shop)
    mail = outbox(shop.engine, MessageKind.VENDOR_ORDER)[0]
    assert mail.subject == f"Order {reference} for Summer Meetup"
    assert mail.body_text == (f"Hello Hoodie Printer,\n\na new order {reference} for Summer Meetup:\n\n"
                              "1 × Hoodie (L)\n\nName: Ada Lovelace\n")
    for secret in ("ada@example.com", "+442079460000", "Analytical", "N1 1AA", "Roomy", "T-shirt", "Breakfast"):
        assert secret not in mail.body_text + mail.body_html + mail.subject


def test_the_breakfast_caterer_gets_name_phone_and_address(shop: Shop) -> None:
    reference = place_everything(shop)
    mail = outbox(shop.engine, MessageKind.VENDOR_ORDER)[1]
    assert mail.body_text == (
        f"Hello Breakfast Caterer,\n\na new order {reference} for Summer Meetup:\n\n1 × Breakfast box\n\n"
        "Name: Ada Lovelace\nPhone: +442079460000\n"
        "Delivery address: 1 Analytical Row, London, N1 1AA, United Kingdom\n")
    for secret in ("ada@example.com", "Roomy", "T-shirt", "Hoodie"):
        assert secret not in mail.body_text + mail.body_html + mail.subject


def test_each_vendor_mail_is_recorded_in_the_orders_disclosure_register(shop: Shop) -> None:
    reference = place_everything(shop)
    printer_mail, caterer_mail = outbox(shop.engine, MessageKind.VENDOR_ORDER)
    with read_only(shop.engine) as session:
        disclosures = session.scalars(select(Disclosure).order_by(Disclosure.id)).all()
        detail = order_detail(session, shop.olivia, shop.event_id, reference)
    assert [(d.vendor_id, d.vendor_name, d.fields, d.message_id) for d in disclosures] == [
        (shop.vendors.printer.id, "Hoodie Printer", ["name"], printer_mail.id),
        (shop.vendors.caterer.id, "Breakfast Caterer", ["name", "phone", "delivery"], caterer_mail.id),
    ]
    assert [(d.vendor_name, d.fields, d.message_status) for d in detail.disclosures] == [
        ("Hoodie Printer", ("Name",), MessageStatus.PENDING),
        ("Breakfast Caterer", ("Name", "Phone", "Delivery address"), MessageStatus.PENDING),
    ]


def test_a_batch_vendor_gets_nothing_per_order(shop: Shop) -> None:
    place_in_shop(shop, items=[{"item": "tshirt", "options": {"type": "Fitted", "size": "S"}, "quantity": 3}])
    assert [m.kind for m in outbox(shop.engine)] == [MessageKind.CONFIRMATION]
    with read_only(shop.engine) as session:
        assert session.scalar(select(func.count()).select_from(Disclosure)) == 0


def test_a_field_the_vendor_may_see_but_that_was_not_answered_is_not_recorded(shop: Shop) -> None:
    place_in_shop(shop, items=[{"item": "breakfast", "options": {}, "quantity": 1}], delivery=ADDRESS)  # no phone
    mail = outbox(shop.engine, MessageKind.VENDOR_ORDER)[0]
    assert "Phone" not in mail.body_text
    with read_only(shop.engine) as session:
        assert session.scalars(select(Disclosure.fields)).one() == ["name", "delivery"]


def test_a_vendor_that_may_not_see_names_gets_no_name_even_from_a_name_placeholder(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        update_vendor(session, shop.olivia, shop.vendors.printer.id, name="Hoodie Printer",
                      emails="p@printer.example", mode="per_order", visible_fields=["size_note"])
        save_template(session, shop.olivia, shop.event_id, MessageKind.VENDOR_ORDER,
                      "Hoodie for {name}", "For {name}:\n{items}\n{fields}")
    place_in_shop(shop, items=[{"item": "hoodie", "options": {"size": "S"}, "quantity": 1}], size_note="Roomy")
    mail = outbox(shop.engine, MessageKind.VENDOR_ORDER)[0]
    assert mail.subject == "Hoodie for"
    assert mail.body_text == "For :\n1 × Hoodie (S)\nAnything about sizes?: Roomy\n"
    assert "Ada" not in mail.body_html


def test_the_events_own_templates_word_the_mails(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        save_template(session, shop.olivia, shop.event_id, MessageKind.CONFIRMATION,
                      "Thanks {name}! ({order_ref})", "{items}\n{{see you}}")
    reference = place_in_shop(shop)
    confirmation = outbox(shop.engine, MessageKind.CONFIRMATION)[0]
    assert confirmation.subject == f"Thanks Ada Lovelace! ({reference})"
    assert confirmation.body_text == "1 × T-shirt (Fitted, M)\n{see you}\n"


def test_nothing_is_queued_when_the_answers_are_refused(shop: Shop) -> None:
    with pytest.raises(FormValidationError):
        place_in_shop(shop, items=EVERYTHING, email="not an address")
    assert outbox(shop.engine) == []
    with read_only(shop.engine) as session:
        assert session.scalar(select(func.count()).select_from(Disclosure)) == 0


def test_a_repeated_submit_queues_no_second_set_of_mails(shop: Shop) -> None:
    first = place_everything(shop, "same-form")
    again = place_everything(shop, "same-form")
    assert first == again
    assert len(outbox(shop.engine)) == 3


def test_mails_are_rolled_back_with_the_order(shop: Shop) -> None:
    with pytest.raises(RuntimeError), unit_of_work(shop.engine) as session:
        place_order(session, session.get_one(Event, shop.event_id), answers(items=EVERYTHING, delivery=ADDRESS),
                    idempotency_key="k")
        assert len(session.scalars(select(OutboxMessage)).all()) == 3
        raise RuntimeError("the request died before commit")
    assert outbox(shop.engine) == []


def test_no_confirmation_without_an_email_answer(engine: Engine) -> None:
    form = {"fields": [
        {**field, "required": False} if field["key"] == "email" else field for field in BASIC_FORM["fields"]]}
    with unit_of_work(engine) as session:
        event = make_event(session, form=form)
        make_item(session, event, "tshirt", name="T-shirt")
        place_order(session, event, answers(email=""), idempotency_key="k")
    assert outbox(engine) == []


# --- When an order moves along ---------------------------------------------------------------------------------


def test_an_sms_is_short_and_one_line_whatever_the_title() -> None:
    text = sms_text("A  very\nlong event title that goes on and on and on", "K7M2QX9P", "Shipped",
                    "https://x.example/" + "a" * 400)
    assert len(text) == SMS_MAX_LENGTH and text.endswith("...")
    assert "\n" not in text
    assert text.startswith("A very long event title that goes on...: your order K7M2QX9P is now shipped.")


def test_the_confirmations_lookup_link_follows_public_base_url(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `make run PORT=8601` sets: the secret link in the confirmation leads to that port."""
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:8601")
    place_in_shop(shop)
    confirmation = outbox(shop.engine, MessageKind.CONFIRMATION)[0]
    assert "http://127.0.0.1:8601/lookup?t=" in confirmation.body_text
    assert "8501" not in confirmation.body_text
