"""Factories for vendor and order mail tests (test_vendors, test_order_mail): the demo's two kinds of vendor,
routed to the shop's items, and that shop with its organisers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.models import Event, MessageKind, OutboxMessage, UserRole, Vendor, VendorMode
from core.orders import place_order
from core.vendors import VendorView, create_vendor, route_item
from tests.factories import answers, make_shop, make_user


def make_vendor(
    session: Session, name: str = "Print Shop", *, owner: Actor | None = None, mode: VendorMode | None = None,
    emails: Sequence[str] | None = None, visible_fields: Sequence[str] = ("name",),
) -> Vendor | VendorView:
    """A vendor. With `owner`, made as that organiser makes one (`vendors.create_vendor`: checked, audited, a
    VendorView; per order, and an address made from the name, unless told); without, a vendor of nobody written
    straight to the database (a Vendor row; batch, orders@print.example, unless told)."""
    if owner is not None:
        slug = name.lower().replace(" ", "-")
        return create_vendor(session, owner, name=name, emails=[f"{slug}@vendors.example"] if emails is None
                             else list(emails), mode=mode or VendorMode.PER_ORDER, visible_fields=list(visible_fields))
    vendor = Vendor(name=name, mode=mode or VendorMode.BATCH,
                    emails=["orders@print.example"] if emails is None else list(emails),
                    visible_fields=list(visible_fields), owner_id=None)
    session.add(vendor)
    session.flush()
    return vendor


@dataclass(frozen=True)
class Vendors:
    printer: VendorView  # hoodies, per order: names and sizes only
    caterer: VendorView  # breakfast, per order: name, phone and delivery address
    tees: VendorView  # t-shirts, one spreadsheet at the cutoff


def route_shop(session: Session, actor: Actor, event: Event) -> Vendors:
    """Vendors for the tests.factories shop, each item routed: a per-order printer and caterer, a batch t-shirt
    maker."""
    printer = make_vendor(session, "Hoodie Printer", owner=actor, visible_fields=["name"])
    caterer = make_vendor(session, "Breakfast Caterer", owner=actor, visible_fields=["name", "phone", "delivery"],
                          emails=["orders@caterer.example", "kitchen@caterer.example"])
    tees = make_vendor(session, "Tee Batch", owner=actor, mode=VendorMode.BATCH, visible_fields=["name", "email"])
    route_item(session, actor, event.id, "hoodie", printer.id)
    route_item(session, actor, event.id, "breakfast", caterer.id)
    route_item(session, actor, event.id, "tshirt", tees.id)
    return Vendors(printer, caterer, tees)


def outbox(engine: Engine, kind: MessageKind | None = None) -> list[OutboxMessage]:
    """The queued messages (of `kind`), oldest first."""
    with read_only(engine) as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        return list(session.scalars(query))


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


def make_vendor_shop(engine: Engine) -> Shop:
    """The shop of tests.factories as Summer Meetup, its vendors routed (`route_shop`), another shop, an admin."""
    with unit_of_work(engine) as session:
        event = make_shop(session, title="Summer Meetup")
        other = make_shop(session, slug="other-event")
        olivia = make_user(session, "olivia", member_of=[event])
        oscar = make_user(session, "oscar", member_of=[other])
        admin = make_user(session, "ada_admin", role=UserRole.ADMIN)
        vendors = route_shop(session, olivia, event)
    return Shop(engine, event.id, olivia, oscar, admin, vendors)


def place_in_shop(shop: Shop, key: str = "form-1", **overrides: Any) -> str:
    """Place an order in the shop with tests.factories' answers, changed by `overrides`; returns its reference."""
    with unit_of_work(shop.engine) as session:
        event = session.get_one(Event, shop.event_id)
        return place_order(session, event, answers(**overrides), idempotency_key=key).reference


def place_everything(shop: Shop, key: str = "form-1") -> str:
    """An order of every item, with a phone, a delivery address and a size note."""
    return place_in_shop(shop, key, items=EVERYTHING, phone="020 7946 0000", delivery=ADDRESS,
                         size_note="Roomy please")
