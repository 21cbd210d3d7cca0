"""Vendors on the real database: who may use which, routing items, and the mails and disclosures of an order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.errors import FormValidationError, NotFound, PermissionDenied, VendorValidationError
from core.mail_templates import save_template
from core.models import (
    AuditEntry,
    Disclosure,
    Event,
    Item,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    UserRole,
    Vendor,
    VendorMode,
)
from core.order_admin import order_detail
from core.orders import place_order
from core.vendors import (
    create_vendor,
    delete_vendor,
    list_item_routes,
    list_vendors,
    route_item,
    route_items,
    update_vendor,
    vendor_overview,
)
from tests.factories import BASIC_FORM, answers, make_event, make_item, make_shop, make_user
from tests.vendor_factories import Vendors, make_vendor, outbox, route_shop

ADDRESS = {"street": "1 Analytical Row", "city": "London", "postcode": "N1 1AA", "country": "United Kingdom"}
EVERYTHING = [
    {"item": "tshirt", "options": {"type": "Fitted", "size": "M"}, "quantity": 2},
    {"item": "hoodie", "options": {"size": "L"}, "quantity": 1},
    {"item": "breakfast", "options": {}, "quantity": 1},
]


@dataclass(frozen=True)
class Shop:
    engine: Engine
    event_id: int
    olivia: Actor  # organiser of the event, owner of its vendors
    oscar: Actor  # another organiser, of another event
    admin: Actor
    vendors: Vendors


@pytest.fixture
def shop(engine: Engine) -> Shop:
    with unit_of_work(engine) as session:
        event = make_shop(session, title="Summer Meetup")
        other = make_shop(session, slug="other-event")
        olivia = make_user(session, "olivia", member_of=[event])
        oscar = make_user(session, "oscar", member_of=[other])
        admin = make_user(session, "ada_admin", role=UserRole.ADMIN)
        vendors = route_shop(session, olivia, event)
    return Shop(engine, event.id, olivia, oscar, admin, vendors)


def _place(shop: Shop, key: str = "form-1", **overrides: Any) -> str:
    with unit_of_work(shop.engine) as session:
        event = session.get_one(Event, shop.event_id)
        return place_order(session, event, answers(**overrides), idempotency_key=key).reference


def _everything(shop: Shop, key: str = "form-1") -> str:
    return _place(shop, key, items=EVERYTHING, phone="020 7946 0000", delivery=ADDRESS, size_note="Roomy please")


# --- Vendors of an organiser -------------------------------------------------------------------------------------


def test_creating_a_vendor_normalises_its_emails_and_is_audited_without_them(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        olivia = make_user(session, "olivia")
        created = create_vendor(session, olivia, name="  Hoodie Printer ", emails="Orders@Printer.example, \n"
                                "orders@Printer.example;shop@printer.example", mode="per_order",
                                visible_fields=["name", " name", "size_note"])
    assert created.name == "Hoodie Printer"
    assert created.emails == ("Orders@printer.example", "shop@printer.example")
    assert created.mode == VendorMode.PER_ORDER
    assert created.visible_fields == ("name", "size_note")
    assert created.owner == "olivia"
    with read_only(engine) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "vendor.created")).one()
    assert entry.actor == "olivia" and entry.subject == f"vendor:{created.id}"
    assert "printer.example" not in str(entry.details) and "Hoodie" not in str(entry.details)


def test_every_bad_vendor_setting_is_named(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        olivia = make_user(session, "olivia")
        with pytest.raises(VendorValidationError) as caught:
            create_vendor(session, olivia, name=" ", emails="not-an-address", mode="weekly",
                          visible_fields=["Name; DROP"])
    assert set(caught.value.errors) == {"name", "emails", "mode", "visible_fields"}
    assert "not-an-address" in caught.value.errors["emails"]
    assert isinstance(caught.value, FormValidationError)


def test_a_vendor_needs_at_least_one_email(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        olivia = make_user(session, "olivia")
        with pytest.raises(VendorValidationError) as caught:
            create_vendor(session, olivia, name="Printer", emails=[" ", ""], mode=VendorMode.BATCH,
                          visible_fields=[])
    assert caught.value.errors == {"emails": "Enter at least one email address."}


def test_an_organiser_cannot_have_two_vendors_of_the_same_name_but_two_organisers_can(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        olivia, oscar = make_user(session, "olivia"), make_user(session, "oscar")
        make_vendor(session, olivia, "Printer")
        make_vendor(session, oscar, "printer")
        with pytest.raises(VendorValidationError) as caught:
            make_vendor(session, olivia, "PRINTER")
    assert "name" in caught.value.errors


def test_an_organiser_sees_only_their_own_vendors_and_an_admin_sees_all(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        make_vendor(session, shop.oscar, "Oscar's Socks")
    with read_only(shop.engine) as session:
        assert [v.name for v in list_vendors(session, shop.olivia)] == ["Breakfast Caterer", "Hoodie Printer",
                                                                       "Tee Batch"]
        assert [v.name for v in list_vendors(session, shop.oscar)] == ["Oscar's Socks"]
        everyone = list_vendors(session, shop.admin)
    assert [(v.name, v.owner) for v in everyone] == [("Breakfast Caterer", "olivia"), ("Hoodie Printer", "olivia"),
                                                     ("Oscar's Socks", "oscar"), ("Tee Batch", "olivia")]


def test_nobody_logged_out_may_list_or_create_vendors(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        with pytest.raises(PermissionDenied):
            list_vendors(session, None)  # type: ignore[arg-type]
        with pytest.raises(PermissionDenied):
            create_vendor(session, None, name="X", emails="x@example.com", mode="batch",  # type: ignore[arg-type]
                          visible_fields=[])


def test_an_organiser_cannot_change_or_delete_another_organisers_vendor(shop: Shop) -> None:
    printer = shop.vendors.printer
    with unit_of_work(shop.engine) as session:
        with pytest.raises(NotFound):
            update_vendor(session, shop.oscar, printer.id, name="Mine now", emails="oscar@example.com",
                          mode="batch", visible_fields=["email", "phone"])
        with pytest.raises(NotFound):
            delete_vendor(session, shop.oscar, printer.id)
    with read_only(shop.engine) as session:
        vendor = session.get_one(Vendor, printer.id)
        assert (vendor.name, vendor.visible_fields) == ("Hoodie Printer", ["name"])


def test_updating_a_vendor_changes_what_it_may_see_and_audits_the_field_keys(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        updated = update_vendor(session, shop.olivia, shop.vendors.printer.id, name="Hoodie Printer",
                                emails=["new@printer.example"], mode="per_order", visible_fields=["name", "size_note"])
    assert updated.emails == ("new@printer.example",) and updated.visible_fields == ("name", "size_note")
    with read_only(shop.engine) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "vendor.updated")).one()
    assert entry.details["changed"] == ["emails", "visible_fields"]
    assert entry.details["visible_fields"] == ["name", "size_note"]
    assert "new@printer.example" not in str(entry.details)


def test_an_admin_may_edit_any_vendor(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        updated = update_vendor(session, shop.admin, shop.vendors.tees.id, name="Tee Batch Ltd",
                                emails="t@tees.example", mode="batch", visible_fields=["name"])
    assert updated.owner == "olivia" and updated.name == "Tee Batch Ltd"


def test_deleting_a_vendor_hands_its_items_back_and_keeps_the_register(shop: Shop) -> None:
    reference = _everything(shop)
    with unit_of_work(shop.engine) as session:
        assert delete_vendor(session, shop.olivia, shop.vendors.printer.id) == 1
    with read_only(shop.engine) as session:
        assert session.scalar(select(Item.vendor_id).where(Item.key == "hoodie")) is None
        routes = {route.item_key: route.vendor_name for route in list_item_routes(session, shop.olivia,
                                                                                   shop.event_id)}
        detail = order_detail(session, shop.olivia, shop.event_id, reference)
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "vendor.deleted")) == 1
    assert routes == {"tshirt": "Tee Batch", "hoodie": "", "breakfast": "Breakfast Caterer"}
    assert [shared.vendor_name for shared in detail.disclosures] == ["Hoodie Printer", "Breakfast Caterer"]


# --- Routing items -----------------------------------------------------------------------------------------------


def test_routing_an_item_is_audited_and_listed(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        assert route_item(session, shop.olivia, shop.event_id, "hoodie", shop.vendors.caterer.id)
        assert not route_item(session, shop.olivia, shop.event_id, "hoodie", shop.vendors.caterer.id)
        assert route_items(session, shop.olivia, shop.event_id, {"tshirt": None, "breakfast": None}) == 2
    with read_only(shop.engine) as session:
        routes = list_item_routes(session, shop.olivia, shop.event_id)
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "item.routed")
                                  .order_by(AuditEntry.id)).all()
    assert [(r.item_key, r.vendor_id) for r in routes] == [("tshirt", None), ("hoodie", shop.vendors.caterer.id),
                                                           ("breakfast", None)]
    # Three routes from the fixture, then the three changes here; the unchanged one is not logged.
    assert len(entries) == 6
    assert entries[3].details == {"item": "hoodie", "vendor_id": shop.vendors.caterer.id,
                                  "previous_vendor_id": shop.vendors.printer.id}


def test_an_organiser_cannot_route_the_items_of_another_organisers_event(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        socks = make_vendor(session, shop.oscar, "Oscar's Socks")
        with pytest.raises(PermissionDenied):
            route_item(session, shop.oscar, shop.event_id, "hoodie", socks.id)
        with pytest.raises(PermissionDenied):
            list_item_routes(session, shop.oscar, shop.event_id)
        with pytest.raises(PermissionDenied):
            vendor_overview(session, shop.oscar, shop.event_id)


def test_an_organiser_cannot_route_items_to_another_organisers_vendor(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        socks = make_vendor(session, shop.oscar, "Oscar's Socks")
    with unit_of_work(shop.engine) as session:
        with pytest.raises(NotFound):
            route_item(session, shop.olivia, shop.event_id, "hoodie", socks.id)
        with pytest.raises(NotFound):
            route_item(session, shop.olivia, shop.event_id, "hoodie", 999_999)
        with pytest.raises(NotFound):
            route_item(session, shop.olivia, shop.event_id, "scarf", shop.vendors.printer.id)
    with read_only(shop.engine) as session:
        assert session.scalar(select(Item.vendor_id).where(Item.key == "hoodie", Item.event_id == shop.event_id)) \
            == shop.vendors.printer.id


def test_the_overview_offers_the_events_form_fields_but_not_the_item_picker(shop: Shop) -> None:
    with read_only(shop.engine) as session:
        overview = vendor_overview(session, shop.olivia, shop.event_id)
        without_event = vendor_overview(session, shop.olivia, None)
    assert overview.form_fields == {"name": "Name", "email": "Email", "phone": "Phone",
                                    "delivery": "Delivery address", "size_note": "Anything about sizes?"}
    assert [route.vendor_name for route in overview.routes] == ["Tee Batch", "Hoodie Printer", "Breakfast Caterer"]
    assert without_event.routes == () and len(without_event.vendors) == 3


# --- Mails and disclosures of a new order ------------------------------------------------------------------------


def test_an_order_queues_the_confirmation_and_one_mail_per_per_order_vendor(shop: Shop) -> None:
    reference = _everything(shop)
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
    reference = _everything(shop)
    mail = outbox(shop.engine, MessageKind.VENDOR_ORDER)[0]
    assert mail.subject == f"Order {reference} for Summer Meetup"
    assert mail.body_text == (f"Hello Hoodie Printer,\n\na new order {reference} for Summer Meetup:\n\n"
                              "1 × Hoodie (L)\n\nName: Ada Lovelace\n")
    for secret in ("ada@example.com", "+442079460000", "Analytical", "N1 1AA", "Roomy", "T-shirt", "Breakfast"):
        assert secret not in mail.body_text + mail.body_html + mail.subject


def test_the_breakfast_caterer_gets_name_phone_and_address(shop: Shop) -> None:
    reference = _everything(shop)
    mail = outbox(shop.engine, MessageKind.VENDOR_ORDER)[1]
    assert mail.body_text == (
        f"Hello Breakfast Caterer,\n\na new order {reference} for Summer Meetup:\n\n1 × Breakfast box\n\n"
        "Name: Ada Lovelace\nPhone: +442079460000\n"
        "Delivery address: 1 Analytical Row, London, N1 1AA, United Kingdom\n")
    for secret in ("ada@example.com", "Roomy", "T-shirt", "Hoodie"):
        assert secret not in mail.body_text + mail.body_html + mail.subject


def test_each_vendor_mail_is_recorded_in_the_orders_disclosure_register(shop: Shop) -> None:
    reference = _everything(shop)
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
    _place(shop, items=[{"item": "tshirt", "options": {"type": "Fitted", "size": "S"}, "quantity": 3}])
    assert [m.kind for m in outbox(shop.engine)] == [MessageKind.CONFIRMATION]
    with read_only(shop.engine) as session:
        assert session.scalar(select(func.count()).select_from(Disclosure)) == 0


def test_a_field_the_vendor_may_see_but_that_was_not_answered_is_not_recorded(shop: Shop) -> None:
    _place(shop, items=[{"item": "breakfast", "options": {}, "quantity": 1}], delivery=ADDRESS)  # no phone
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
    _place(shop, items=[{"item": "hoodie", "options": {"size": "S"}, "quantity": 1}], size_note="Roomy")
    mail = outbox(shop.engine, MessageKind.VENDOR_ORDER)[0]
    assert mail.subject == "Hoodie for"
    assert mail.body_text == "For :\n1 × Hoodie (S)\nAnything about sizes?: Roomy\n"
    assert "Ada" not in mail.body_html


def test_the_events_own_templates_word_the_mails(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        save_template(session, shop.olivia, shop.event_id, MessageKind.CONFIRMATION,
                      "Thanks {name}! ({order_ref})", "{items}\n{{see you}}")
    reference = _place(shop)
    confirmation = outbox(shop.engine, MessageKind.CONFIRMATION)[0]
    assert confirmation.subject == f"Thanks Ada Lovelace! ({reference})"
    assert confirmation.body_text == "1 × T-shirt (Fitted, M)\n{see you}\n"


def test_nothing_is_queued_when_the_answers_are_refused(shop: Shop) -> None:
    with pytest.raises(FormValidationError):
        _place(shop, items=EVERYTHING, email="not an address")
    assert outbox(shop.engine) == []
    with read_only(shop.engine) as session:
        assert session.scalar(select(func.count()).select_from(Disclosure)) == 0


def test_a_repeated_submit_queues_no_second_set_of_mails(shop: Shop) -> None:
    first = _everything(shop, "same-form")
    again = _everything(shop, "same-form")
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
