"""The Vendors page through AppTest: an organiser's vendors, adding, editing, deleting, routing items; and the
order detail's register of what vendors received."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pytest
from sqlalchemy import Engine, select

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.models import Event, Item, Vendor, VendorMode
from pages.orders_page import table_key
from tests.factories import make_shop, make_user
from tests.factories.orders import place
from tests.factories.vendors import Vendors, make_vendor, route_shop
from tests.pages.conftest import click, render_page


@dataclass(frozen=True)
class Shop:
    engine: Engine
    event_id: int
    olivia: Actor
    vendors: Vendors


@pytest.fixture
def shop(engine: Engine) -> Shop:
    with unit_of_work(engine) as session:
        event = make_shop(session, title="Summer Meetup")
        olivia = make_user(session, "olivia", member_of=[event])
        oscar = make_user(session, "oscar")
        make_vendor(session, "Oscar's Socks", owner=oscar, emails=["socks@oscar.example"])
        vendors = route_shop(session, olivia, event)
    return Shop(engine, event.id, olivia, vendors)


_page = partial(render_page, "vendors_page")


def _vendor(engine: Engine, name: str) -> Vendor | None:
    with read_only(engine) as session:
        return session.scalars(select(Vendor).where(Vendor.name == name)).first()


def test_anonymous_session_sees_the_login_warning_and_no_vendors(shop: Shop) -> None:
    at = _page(None)
    assert not at.exception
    assert [w.value for w in at.warning] == ["Please log in to see this page."]
    assert not at.dataframe and not at.text_input and not at.selectbox


def test_an_organiser_sees_their_own_vendors_only(shop: Shop) -> None:
    at = _page(shop.olivia)
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["Name"]) == ["Breakfast Caterer", "Hoodie Printer", "Tee Batch"]
    assert list(table["May see"]) == ["name, phone, delivery", "name", "name, email"]
    assert "Owner" not in table.columns
    assert "Oscar" not in str(table) and "socks@oscar.example" not in str(table)


def test_adding_a_vendor_with_the_fields_it_may_see(shop: Shop) -> None:
    at = _page(shop.olivia)
    form = "vendors.add.0"
    fields = at.multiselect(key=f"{form}.visible_fields")
    assert fields.options == ["Name (name)", "Email (email)", "Phone (phone)", "Delivery address (delivery)",
                              "Anything about sizes? (size_note)"]
    at.text_input(key=f"{form}.name").input("Pin Maker")
    at.text_area(key=f"{form}.emails").input("pins@maker.example\nPINS@maker.example, boss@maker.example")
    at.radio(key=f"{form}.mode").set_value(VendorMode.BATCH)
    fields.set_value(["name", "size_note"])
    at = click(at, "Add vendor")
    assert not at.exception
    assert at.success[0].value == "Added Pin Maker."
    vendor = _vendor(shop.engine, "Pin Maker")
    assert vendor is not None
    assert (vendor.emails, vendor.mode, vendor.visible_fields) == (
        ["pins@maker.example", "boss@maker.example"], VendorMode.BATCH, ["name", "size_note"])
    assert "Pin Maker" in list(at.dataframe[0].value["Name"])


def test_a_bad_address_is_shown_beside_its_input_and_nothing_is_added(shop: Shop) -> None:
    at = _page(shop.olivia)
    at.text_input(key="vendors.add.0.name").input("Pin Maker")
    at.text_area(key="vendors.add.0.emails").input("pins at maker")
    at = click(at, "Add vendor")
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("pins at maker:")
    assert _vendor(shop.engine, "Pin Maker") is None


def test_editing_a_vendor(shop: Shop) -> None:
    at = _page(shop.olivia)
    at.selectbox(key="vendors.chosen").set_value(shop.vendors.printer.id).run()
    form = f"vendors.edit.{shop.vendors.printer.id}.0"
    assert at.text_input(key=f"{form}.name").value == "Hoodie Printer"
    at.text_area(key=f"{form}.emails").input("new@printer.example")
    at.multiselect(key=f"{form}.visible_fields").set_value(["name", "size_note"])
    at = click(at, "Save changes")
    assert not at.exception
    assert at.success[0].value == "Saved Hoodie Printer."
    vendor = _vendor(shop.engine, "Hoodie Printer")
    assert vendor is not None and (vendor.emails, vendor.visible_fields) == (["new@printer.example"],
                                                                             ["name", "size_note"])


def test_deleting_a_vendor_asks_first(shop: Shop) -> None:
    at = _page(shop.olivia)
    at.selectbox(key="vendors.chosen").set_value(shop.vendors.tees.id).run()
    at = click(at, "Delete Tee Batch…")
    assert "Delete Tee Batch?" in at.warning[0].value
    assert _vendor(shop.engine, "Tee Batch") is not None
    at = click(at, "Yes, delete")
    assert not at.exception
    assert at.success[0].value == "Deleted Tee Batch."
    assert _vendor(shop.engine, "Tee Batch") is None
    assert list(at.dataframe[0].value["Name"]) == ["Breakfast Caterer", "Hoodie Printer"]


def test_routing_an_item_to_another_vendor(shop: Shop) -> None:
    at = _page(shop.olivia)
    form = f"vendors.routes.{shop.event_id}.0"
    hoodie = at.selectbox(key=f"{form}.hoodie")
    assert hoodie.value == shop.vendors.printer.id
    assert hoodie.options == ["The organisers (no vendor)", "Breakfast Caterer (per order)",
                              "Hoodie Printer (per order)", "Tee Batch (batch)"]
    hoodie.set_value(shop.vendors.caterer.id)
    at.selectbox(key=f"{form}.tshirt").select_index(0)
    at = click(at, "Save routing")
    assert not at.exception
    assert at.success[0].value == "2 items routed."
    with read_only(shop.engine) as session:
        routes = dict(session.execute(select(Item.key, Item.vendor_id).where(Item.event_id == shop.event_id)).all())
    assert routes == {"tshirt": None, "hoodie": shop.vendors.caterer.id, "breakfast": shop.vendors.caterer.id}


def test_the_order_detail_shows_what_each_vendor_received(shop: Shop) -> None:
    with unit_of_work(shop.engine) as session:
        reference = place(session, session.get_one(Event, shop.event_id), "k", phone="020 7946 0000",
                          items=[{"item": "hoodie", "options": {"size": "L"}, "quantity": 1},
                                 {"item": "breakfast", "options": {}, "quantity": 1}],
                          delivery={"street": "1 Row", "city": "London", "postcode": "N1 1AA",
                                    "country": "United Kingdom"})
    at = render_page("orders_page", shop.olivia)
    at.session_state[table_key(f"orders.{shop.event_id}", 0)] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not at.exception
    assert f"Order {reference}" in [h.value for h in at.subheader]
    assert "**Shared with vendors**" in [m.value for m in at.markdown]
    register = at.dataframe[-1].value
    assert list(register["Vendor"]) == ["Hoodie Printer", "Breakfast Caterer"]
    assert list(register["Fields"]) == ["Name", "Name, Phone, Delivery address"]
    assert list(register["Mail"]) == ["Waiting", "Waiting"]
