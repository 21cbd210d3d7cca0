"""Factories for vendor and mail tests: the demo's two kinds of vendor, routed to the shop's items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import read_only
from core.models import Event, MessageKind, OutboxMessage, VendorMode
from core.vendors import VendorView, create_vendor, route_item


def make_vendor(
    session: Session, actor: Actor, name: str, *, mode: VendorMode = VendorMode.PER_ORDER,
    visible_fields: Sequence[str] = ("name",), emails: Sequence[str] = (),
) -> VendorView:
    slug = name.lower().replace(" ", "-")
    return create_vendor(session, actor, name=name, emails=list(emails) or [f"{slug}@vendors.example"], mode=mode,
                         visible_fields=list(visible_fields))


@dataclass(frozen=True)
class Vendors:
    printer: VendorView  # hoodies, per order: names and sizes only
    caterer: VendorView  # breakfast, per order: name, phone and delivery address
    tees: VendorView  # t-shirts, one spreadsheet at the cutoff


def route_shop(session: Session, actor: Actor, event: Event) -> Vendors:
    """Vendors for the tests.factories shop, each item routed: a per-order printer and caterer, a batch t-shirt
    maker."""
    printer = make_vendor(session, actor, "Hoodie Printer", visible_fields=["name"])
    caterer = make_vendor(session, actor, "Breakfast Caterer", visible_fields=["name", "phone", "delivery"],
                          emails=["orders@caterer.example", "kitchen@caterer.example"])
    tees = make_vendor(session, actor, "Tee Batch", mode=VendorMode.BATCH, visible_fields=["name", "email"])
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
