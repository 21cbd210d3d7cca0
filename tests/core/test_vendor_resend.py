"""Sending again: one order to its per-order vendors, and a batch vendor's full list; each a recorded disclosure
and an audit entry, for organisers of the event only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from core.db import read_only, unit_of_work
from core.errors import DomainError, PermissionDenied
from core.fulfilment import cancel_order
from core.models import AuditEntry, Disclosure, Event, MessageKind, Order, OutboxMessage, VendorMode
from core.order_admin import resend_order_to_vendors
from core.vendor_batches import BatchKind, send_batch
from tests.factories.exports import BASE, World, batch_mails, make_vendor, make_world, place_at, read_sheets, route
from tests.factories.orders import hoodie, tshirts


@pytest.fixture
def world(engine: Engine) -> World:
    world = make_world(engine)
    with unit_of_work(engine) as session:
        knitter = make_vendor(session, "Knitters", mode=VendorMode.PER_ORDER, emails=["knit@example.org"],
                              visible_fields=["name"])
        route(session, session.get_one(Event, world.event_id), knitter, "hoodie")
    return world


def _vendor_orders(engine: Engine) -> list[OutboxMessage]:
    with read_only(engine) as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.VENDOR_ORDER)
                                    .order_by(OutboxMessage.id)))


def test_an_order_is_sent_again_to_its_per_order_vendors_and_recorded(world: World) -> None:
    ada = place_at(world, "a", [*tshirts(1), *hoodie(2)])
    [first] = _vendor_orders(world.engine)
    with unit_of_work(world.engine) as session:
        assert resend_order_to_vendors(session, world.alice, world.event_id, ada.lower()) == ("Knitters",)
    first_again, again = _vendor_orders(world.engine)
    assert (again.recipients, again.subject, again.body_text) == (first.recipients, first.subject, first.body_text)
    assert "2 × Hoodie" in again.body_text and "T-shirt" not in again.body_text
    with read_only(world.engine) as session:
        disclosures = session.execute(select(Disclosure.message_id, Disclosure.fields, Disclosure.channel)
                                      .order_by(Disclosure.id)).all()
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "order.resent_to_vendors")).one()
    assert [tuple(row) for row in disclosures] == [(first.id, ["name"], "mail"), (again.id, ["name"], "mail")]
    assert (entry.actor, entry.details["reference"], entry.details["message_ids"]) == ("alice", ada, [again.id])


def test_resending_an_order_is_refused_to_others_and_when_there_is_nothing_to_send(world: World) -> None:
    ada = place_at(world, "a", hoodie(1))
    shirts_only = place_at(world, "b", tshirts(1), name="Grace Hopper")
    with unit_of_work(world.engine) as session, pytest.raises(PermissionDenied):
        resend_order_to_vendors(session, world.bob, world.event_id, ada)
    with unit_of_work(world.engine) as session, pytest.raises(DomainError, match="per-order vendor"):
        resend_order_to_vendors(session, world.alice, world.event_id, shirts_only)
    with unit_of_work(world.engine) as session:
        cancel_order(session, world.alice, world.event_id, ada)
    with unit_of_work(world.engine) as session, pytest.raises(DomainError, match="cancelled"):
        resend_order_to_vendors(session, world.alice, world.event_id, ada)
    assert len(_vendor_orders(world.engine)) == 1


def test_the_full_list_is_sent_again_on_request_and_later_deltas_compare_with_it(world: World) -> None:
    ada = place_at(world, "a", tshirts(2))
    with unit_of_work(world.engine) as session:
        assert send_batch(session, world.alice, world.event_id, world.printer_id, BASE).kind == BatchKind.FULL
    grace = place_at(world, "b", tshirts(1, size="S"), name="Grace Hopper")
    with unit_of_work(world.engine) as session:
        again = send_batch(session, world.alice, world.event_id, world.printer_id, BASE + timedelta(hours=1),
                           full=True)
    assert (again.kind, again.rows) == (BatchKind.FULL, 2)
    with unit_of_work(world.engine) as session:
        after = send_batch(session, world.alice, world.event_id, world.printer_id, BASE + timedelta(hours=2))
    assert after.kind == BatchKind.NO_CHANGES  # Grace's order went out in the full list
    first, second = batch_mails(world)
    assert second.attachment is not None
    assert [row[0] for row in read_sheets(second.attachment)["Line items"][1:]] == [ada, grace]
    with read_only(world.engine) as session:
        entries = session.scalars(select(AuditEntry.details).where(AuditEntry.action == "vendor.batch_sent")
                                  .order_by(AuditEntry.id)).all()
        told = session.scalars(select(Order.reference).join(Disclosure, Disclosure.order_id == Order.id)
                               .where(Disclosure.message_id == second.id).order_by(Order.reference)).all()
    assert [entry.get("resend") for entry in entries] == [None, True]
    assert told == sorted([ada, grace])
    with unit_of_work(world.engine) as session, pytest.raises(PermissionDenied):
        send_batch(session, world.bob, world.event_id, world.printer_id, BASE, full=True)
