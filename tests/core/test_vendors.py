"""Vendors on the real database: who may use which, routing items, and the disclosure register they keep."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from core.db import read_only, unit_of_work
from core.errors import FormValidationError, NotFound, PermissionDenied, VendorValidationError
from core.models import (
    AuditEntry,
    Item,
    Vendor,
    VendorMode,
)
from core.order_admin import order_detail
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
from tests.factories import make_user
from tests.factories.vendors import Shop, make_vendor, make_vendor_shop, place_everything


@pytest.fixture
def shop(engine: Engine) -> Shop:
    return make_vendor_shop(engine)


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
        make_vendor(session, "Printer", owner=olivia)
        make_vendor(session, "printer", owner=oscar)
        with pytest.raises(VendorValidationError) as caught:
            make_vendor(session, "PRINTER", owner=olivia)
    assert "name" in caught.value.errors


def test_an_organiser_sees_only_their_own_vendors_and_an_admin_sees_all(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        make_vendor(session, "Oscar's Socks", owner=shop.oscar)
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
    reference = place_everything(shop)
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
        socks = make_vendor(session, "Oscar's Socks", owner=shop.oscar)
        with pytest.raises(PermissionDenied):
            route_item(session, shop.oscar, shop.event_id, "hoodie", socks.id)
        with pytest.raises(PermissionDenied):
            list_item_routes(session, shop.oscar, shop.event_id)
        with pytest.raises(PermissionDenied):
            vendor_overview(session, shop.oscar, shop.event_id)


def test_an_organiser_cannot_route_items_to_another_organisers_vendor(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        socks = make_vendor(session, "Oscar's Socks", owner=shop.oscar)
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


