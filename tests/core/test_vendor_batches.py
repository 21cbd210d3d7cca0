"""Batch vendors: the first full list, then only what changed, concurrent sends, the cutoff timer's due
batches, the history of what was sent, permissions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from core.db import read_only, unit_of_work
from core.errors import DomainError, PermissionDenied
from core.fulfilment import change_status
from core.models import AuditEntry, Disclosure, Event, Item, Order, OrderLine, OrderStatus, VendorMode, VendorSnapshot
from core.vendor_batches import BatchKind, DueBatch, due_batches, export_history, exports_overview, send_batch
from tests.factories import make_shop
from tests.factories.exports import (
    BASE,
    PHONE,
    World,
    batch_mails,
    line_id,
    make_vendor,
    make_world,
    place_at,
    read_sheets,
    records,
    route,
    send_list,
)
from tests.factories.orders import hoodie, tshirts


@pytest.fixture
def world(engine: Engine) -> World:
    return make_world(engine)


def test_the_first_batch_sends_every_current_line_item_of_the_vendor(world: World) -> None:
    ada = place_at(world, "a", [*tshirts(2), *hoodie(1)])
    place_at(world, "b", tshirts(1, size="S"), name="Grace Hopper", status=OrderStatus.CANCELLED)
    place_at(world, "c", hoodie(1), name="Alan Turing")
    result = send_list(world)
    assert (result.kind, result.rows, result.orders, result.added) == (BatchKind.FULL, 1, 1, 1)
    assert "full list (1 line item in 1 order)" in result.message
    [mail] = batch_mails(world)
    assert (mail.id, mail.event_id, mail.vendor_id) == (result.message_id, world.event_id, world.printer_id)
    assert mail.recipients == ["orders@print.example", "ops@print.example"]
    assert "all line items" in mail.subject and "Print Shop" in mail.subject
    assert mail.attachment is not None
    sheets = read_sheets(mail.attachment)
    assert list(sheets) == ["Line items", "Summary"]
    assert records(sheets["Line items"]) == [{"Reference": ada, "Item": "T-shirt", "Variant": "Fitted, M",
                                              "Quantity": 2, "Status": "Received", "Name": "Ada Lovelace"}]
    with read_only(world.engine) as session:
        snapshot = session.scalars(select(VendorSnapshot)).one()
        disclosures = session.execute(select(Disclosure.order_id, Disclosure.fields, Disclosure.message_id,
                                             Disclosure.vendor_name)).all()
        ada_id = session.scalars(select(Order.id).where(Order.reference == ada)).one()
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "vendor.batch_sent")).one()
    assert (snapshot.is_delta, snapshot.rows, snapshot.actor, snapshot.message_id) == (False, 1, "alice", mail.id)
    assert set(snapshot.lines) == {str(line_id(world, ada, "tshirt"))}
    assert [tuple(d) for d in disclosures] == [(ada_id, ["name"], mail.id, "Print Shop")]
    assert entry.details["kind"] == "full" and entry.details["rows"] == 1
    assert "Ada" not in json.dumps(entry.details)


def test_a_disclosure_names_only_the_fields_an_order_has_an_answer_to(world: World) -> None:
    with unit_of_work(world.engine) as session:
        hoodies = make_vendor(session, "Hoodies", visible_fields=["name", "phone"])
        route(session, session.get_one(Event, world.event_id), hoodies, "hoodie")
        hoodies_id = hoodies.id
    with_phone = place_at(world, "a", hoodie(1), phone=PHONE)
    without = place_at(world, "b", hoodie(1), name="Grace Hopper")
    send_list(world, hoodies_id)
    with read_only(world.engine) as session:
        fields = dict(session.execute(select(Order.reference, Disclosure.fields)
                                      .join(Disclosure, Disclosure.order_id == Order.id)).all())
    assert fields == {with_phone: ["name", "phone"], without: ["name"]}


def test_the_next_batch_sends_only_lines_added_changed_or_cancelled_since(world: World) -> None:
    ada = place_at(world, "a", tshirts(2, size="M"))
    grace = place_at(world, "b", tshirts(1, size="S"), name="Grace Hopper")
    alan = place_at(world, "c", tshirts(1, size="L"), name="Alan Turing")
    assert send_list(world).rows == 3
    with unit_of_work(world.engine) as session:
        session.execute(update(OrderLine).where(OrderLine.id == line_id(world, ada, "tshirt")).values(quantity=3))
        change_status(session, world.alice, world.event_id, [grace], OrderStatus.CANCELLED)
        change_status(session, world.alice, world.event_id, [alan], OrderStatus.IN_PRODUCTION)  # not news
    edsger = place_at(world, "d", tshirts(1, size="M"), name="Edsger Dijkstra")

    result = send_list(world, now=BASE + timedelta(days=1))
    assert (result.kind, result.added, result.changed, result.cancelled, result.rows) == (BatchKind.DELTA, 1, 1, 1, 3)
    first, second = batch_mails(world)
    assert "changes" in second.subject and second.attachment is not None
    sheets = read_sheets(second.attachment)
    assert list(sheets) == ["Changes", "Summary"]
    changes = {row["Reference"]: row for row in records(sheets["Changes"])}
    assert changes == {
        ada: {"Change": "changed", "Reference": ada, "Item": "T-shirt", "Variant": "Fitted, M", "Quantity": 3,
              "Status": "Received", "Name": "Ada Lovelace", "Before": "2 × T-shirt (Fitted, M)"},
        # A cancelled line tells the vendor what not to make, and nothing about the person.
        grace: {"Change": "cancelled", "Reference": grace, "Item": "T-shirt", "Variant": "Fitted, S", "Quantity": 1,
                "Status": "Cancelled", "Name": None, "Before": None},
        edsger: {"Change": "added", "Reference": edsger, "Item": "T-shirt", "Variant": "Fitted, M", "Quantity": 1,
                 "Status": "Received", "Name": "Edsger Dijkstra", "Before": None},
    }
    assert sheets["Summary"] == [["Item", "Fitted, M", "Fitted, L", "Total"], ["T-shirt", 4, 1, 5],
                                 ["Total", 4, 1, 5]]
    with read_only(world.engine) as session:
        told = set(session.execute(select(Order.reference).join(Disclosure, Disclosure.order_id == Order.id)
                                   .where(Disclosure.message_id == second.id)).scalars())
        snapshots = session.scalars(select(VendorSnapshot).order_by(VendorSnapshot.id)).all()
    assert told == {ada, edsger}
    assert [s.is_delta for s in snapshots] == [False, True]
    assert set(snapshots[1].lines) == {str(line_id(world, r, "tshirt")) for r in (ada, alan, edsger)}

    again = send_list(world, now=BASE + timedelta(days=2))
    assert (again.kind, again.message_id, again.snapshot_id) == (BatchKind.NO_CHANGES, None, None)
    assert "no mail was sent" in again.message
    assert len(batch_mails(world)) == 2
    with read_only(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(VendorSnapshot)) == 2


def test_two_sends_at_once_send_the_full_list_once(world: World) -> None:
    """The cutoff timer in two app processes, or a timer and a click: the second waits, then finds nothing new."""
    place_at(world, "a", tshirts())
    first_sent, results = threading.Event(), []

    def send(hold: bool) -> None:
        with unit_of_work(world.engine) as session:
            results.append(send_batch(session, world.alice, world.event_id, world.printer_id, BASE).kind)
            if hold:
                first_sent.set()
                time.sleep(0.5)  # the other send starts meanwhile and must wait for this commit

    holder = threading.Thread(target=send, args=(True,))
    holder.start()
    assert first_sent.wait(10)
    send(False)
    holder.join()
    assert results == [BatchKind.FULL, BatchKind.NO_CHANGES]
    assert len(batch_mails(world)) == 1


def test_lines_whose_item_went_to_another_vendor_are_cancelled_for_the_first(world: World) -> None:
    ada = place_at(world, "a", tshirts(2))
    send_list(world)
    with unit_of_work(world.engine) as session:
        session.execute(update(Item).where(Item.event_id == world.event_id, Item.key == "tshirt")
                        .values(vendor_id=world.caterer_id))
    result = send_list(world)
    assert (result.kind, result.cancelled) == (BatchKind.DELTA, 1)
    attachment = batch_mails(world)[-1].attachment
    assert attachment is not None
    assert records(read_sheets(attachment)["Changes"]) == [
        {"Change": "cancelled", "Reference": ada, "Item": "T-shirt", "Variant": "Fitted, M", "Quantity": 2,
         "Status": "Cancelled", "Name": None, "Before": None}]


def test_only_batch_vendors_with_an_email_address_are_sent_a_list(world: World) -> None:
    with unit_of_work(world.engine) as session:
        event = session.get_one(Event, world.event_id)
        per_order = make_vendor(session, "Per order", mode=VendorMode.PER_ORDER)
        silent = make_vendor(session, "No mail", emails=[])
        route(session, event, per_order, "hoodie")
        route(session, event, silent, "tshirt")
        ids = per_order.id, silent.id
    for vendor_id, message in zip(ids, ("only batch vendors", "no email address"), strict=True):
        with pytest.raises(DomainError, match=message):
            send_list(world, vendor_id)
    assert batch_mails(world) == []


def test_the_system_sends_batches_in_its_own_name(world: World) -> None:
    place_at(world, "a", tshirts())
    send_list(world, actor=None)
    with read_only(world.engine) as session:
        assert session.scalars(select(VendorSnapshot.actor)).one() == "system"
        assert session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "vendor.batch_sent")).one() == \
            "system"


def test_due_batches_lists_batch_vendors_past_their_events_cutoff_that_were_never_sent_a_list(
    world: World,
) -> None:
    now = BASE + timedelta(hours=1)
    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).vendor_cutoff_at = BASE
        per_order = make_vendor(session, "Per order", mode=VendorMode.PER_ORDER)
        route(session, session.get_one(Event, world.event_id), per_order, "hoodie")
        later = make_shop(session, slug="later", vendor_cutoff_at=BASE + timedelta(days=1))
        archived = make_shop(session, slug="archived", vendor_cutoff_at=BASE, archived_at=BASE)
        purged = make_shop(session, slug="purged", vendor_cutoff_at=BASE, purged_at=BASE)
        no_cutoff = make_shop(session, slug="no-cutoff")
        for other in (later, archived, purged, no_cutoff):
            route(session, other, make_vendor(session, f"Batch of {other.slug}"), "tshirt")
    with read_only(world.engine) as session:
        assert due_batches(session, now) == [DueBatch(world.event_id, world.printer_id),
                                             DueBatch(world.event_id, world.caterer_id)]
    send_list(world, world.printer_id)
    with read_only(world.engine) as session:
        assert due_batches(session, now) == [DueBatch(world.event_id, world.caterer_id)]


def test_the_history_lists_what_was_sent_to_whom_newest_first(world: World) -> None:
    place_at(world, "a", tshirts())
    send_list(world, now=BASE)
    place_at(world, "b", tshirts(), name="Grace Hopper")
    send_list(world, now=BASE + timedelta(hours=2), actor=None)
    with read_only(world.engine) as session:
        history = export_history(session, world.alice, world.event_id)
        overview = exports_overview(session, world.alice, world.event_id)
    assert history.to_dict("records") == [
        {"Sent": pd.Timestamp(2027, 3, 1, 15, 0), "Vendor": "Print Shop", "Kind": "delta", "Rows": 1,
         "Mail": "pending", "By": "system"},
        {"Sent": pd.Timestamp(2027, 3, 1, 13, 0), "Vendor": "Print Shop", "Kind": "full", "Rows": 1,
         "Mail": "pending", "By": "alice"},
    ]
    assert [(v.name, v.batch) for v in overview.vendors] == [("Caterer", True), ("Print Shop", True)]
    assert overview.history.equals(history)


# --- permissions -----------------------------------------------------------------------------------------------

CALLS: dict[str, Callable[[Session, World], object]] = {
    "send_batch": lambda s, w: send_batch(s, w.bob, w.event_id, w.printer_id, BASE),
    "export_history": lambda s, w: export_history(s, w.bob, w.event_id),
    "exports_overview": lambda s, w: exports_overview(s, w.bob, w.event_id),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_an_organiser_of_another_event_is_refused_by_every_function(
    world: World, call: Callable[[Session, World], object]
) -> None:
    place_at(world, "a", tshirts())
    with unit_of_work(world.engine) as session, pytest.raises(PermissionDenied):
        call(session, world)
    assert batch_mails(world) == []
    with read_only(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action.in_(["orders.exported", "vendor.batch_sent"]))) == 0
