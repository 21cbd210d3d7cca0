"""Batch vendors after the cutoff: every tick sends what changed (an attendee's new size, an organiser's cancel) as
one delta mail, nothing when nothing changed, once across processes; the dashboard says what was sent and what
waits. Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select

from core.auth import Actor
from core.config import Settings
from core.db import make_engine, read_only, unit_of_work
from core.fulfilment import cancel_order
from core.lifecycle import TickReport, run_tick
from core.lookup import change_order
from core.models import AuditEntry, Disclosure, Event, MessageKind, Order, OutboxMessage, VendorSnapshot
from core.vendor_batches import BatchKind, vendor_send_states
from tests.factories import answers, make_shop, make_user
from tests.factories.exports import make_vendor, route
from tests.factories.orders import place, tshirts
from tests.mail_server import MailServer, running_mail_server, wait_for

T0 = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
CUTOFF = T0 + timedelta(days=1)


@dataclass(frozen=True)
class Hoodies:
    engine: Engine
    event_id: int
    olivia: Actor
    ada: str
    grace: str


@pytest.fixture
def shop(engine: Engine) -> Hoodies:
    """Orders open at T0 and close at the vendor cutoff; attendees may change their orders for a day after."""
    with unit_of_work(engine) as session:
        event = make_shop(session, opens_at=T0, closes_at=CUTOFF, vendor_cutoff_at=CUTOFF,
                          change_deadline=CUTOFF + timedelta(days=1), ends_at=T0 + timedelta(days=5))
        olivia = make_user(session, "olivia", member_of=[event])
        route(session, event, make_vendor(session, "Print Shop", visible_fields=["name"]), "tshirt")
        ada = place(session, event, "a", now=T0 + timedelta(minutes=5), items=tshirts(2, size="M"))
        grace = place(session, event, "b", now=T0 + timedelta(minutes=6), items=tshirts(1, size="S"),
                      name="Grace Hopper", email="grace@example.com")
    return Hoodies(engine, event.id, olivia, ada, grace)


def _settings(server: MailServer) -> Settings:
    return Settings(smtp_host=server.host, smtp_port=server.port, smtp_security="none",
                    mail_from="Event Orders <ops@example.org>")


def _tick(engine: Engine, settings: Settings, now: datetime) -> TickReport:
    report = run_tick(engine, settings, now=now)
    assert report.ran and not report.failed, report.summary
    return report


def _vendor_mails(server: MailServer) -> list[dict[str, list[dict[str, object]]]]:
    """The sheets of every mail the print shop received, oldest first, as records by header."""
    sheets = []
    for mail in server.received:
        if mail.rcpt_tos != ("orders@print.example",):
            continue
        [attachment] = mail.message.iter_attachments()
        book = load_workbook(io.BytesIO(attachment.get_content()))
        found = {}
        for sheet in book.worksheets:
            rows = list(sheet.iter_rows(values_only=True))
            found[sheet.title] = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
        sheets.append(found)
    return sheets


def _change_size(shop: Hoodies, size: str, now: datetime) -> None:
    with unit_of_work(shop.engine) as session:
        order_id = session.scalars(select(Order.id).where(Order.reference == shop.ada)).one()
        change_order(session, order_id, answers(items=tshirts(2, size=size)), now=now)


def test_after_the_cutoff_each_tick_mails_the_batch_vendor_what_changed_and_nothing_else(shop: Hoodies) -> None:
    with running_mail_server() as server:
        settings = _settings(server)
        assert _tick(shop.engine, settings, CUTOFF - timedelta(minutes=1)).batches_sent == 0
        assert _tick(shop.engine, settings, CUTOFF).batches_sent == 1
        wait_for(server, 3)  # two confirmations and the list
        [full] = _vendor_mails(server)
        assert [(row["Reference"], row["Variant"], row["Quantity"]) for row in full["Line items"]] == [
            (shop.ada, "Fitted, M", 2), (shop.grace, "Fitted, S", 1)]

        _change_size(shop, "L", CUTOFF + timedelta(hours=1))  # the attendee, through their lookup link
        with read_only(shop.engine) as session:
            [waiting] = vendor_send_states(session, shop.olivia, shop.event_id, CUTOFF + timedelta(hours=1))
        assert (waiting.last_kind, waiting.waiting) == (BatchKind.FULL, 1)
        assert "1 changed line waiting" in waiting.message

        assert _tick(shop.engine, settings, CUTOFF + timedelta(hours=2)).batches_sent == 1
        wait_for(server, 5)  # the attendee's new confirmation, then the delta
        delta = _vendor_mails(server)[-1]
        assert list(delta) == ["Changes", "Summary"]
        assert delta["Changes"] == [{"Change": "changed", "Reference": shop.ada, "Item": "T-shirt",
                                     "Variant": "Fitted, L", "Quantity": 2, "Status": "Received",
                                     "Name": "Ada Lovelace", "Before": "2 × T-shirt (Fitted, M)"}]

        quiet = _tick(shop.engine, settings, CUTOFF + timedelta(hours=3))
        assert (quiet.batches_sent, quiet.mail.sent) == (0, 0)
        assert len(_vendor_mails(server)) == 2
        with read_only(shop.engine) as session:
            [state] = vendor_send_states(session, shop.olivia, shop.event_id, CUTOFF + timedelta(hours=3))
        assert (state.last_kind, state.last_rows, state.waiting) == (BatchKind.DELTA, 1, 0)
        assert "No changes waiting" in state.message

        with unit_of_work(shop.engine) as session:  # the organiser cancels an order: news to the vendor too
            cancel_order(session, shop.olivia, shop.event_id, shop.grace)
        assert _tick(shop.engine, settings, CUTOFF + timedelta(hours=4)).batches_sent == 1
        wait_for(server, 6)
        cancelled = _vendor_mails(server)[-1]["Changes"]
        assert [(row["Change"], row["Reference"], row["Variant"], row["Name"]) for row in cancelled] == [
            ("cancelled", shop.grace, "Fitted, S", None)]
        assert _tick(shop.engine, settings, CUTOFF + timedelta(hours=5)).batches_sent == 0

    with read_only(shop.engine) as session:
        kinds = [entry.details["kind"] for entry in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "vendor.batch_sent").order_by(AuditEntry.id))]
        told = session.execute(select(Order.reference, Disclosure.channel, OutboxMessage.subject)
                               .join(Disclosure, Disclosure.order_id == Order.id)
                               .join(OutboxMessage, OutboxMessage.id == Disclosure.message_id)
                               .order_by(Disclosure.id)).all()
    assert kinds == ["full", "delta", "delta"]
    # The delta disclosed Ada's name again; a cancelled line disclosed nothing of Grace.
    assert [(reference, channel) for reference, channel, _ in told] == [
        (shop.ada, "mail"), (shop.grace, "mail"), (shop.ada, "mail")]
    assert "changes to your list" in told[-1][2]


def test_a_change_of_the_orders_details_alone_is_sent_again(shop: Hoodies) -> None:
    """The snapshot keeps no personal data; an attendee's change to an order the vendor sees details of resends
    its line with the details as they are now."""
    with running_mail_server() as server:
        settings = _settings(server)
        _tick(shop.engine, settings, CUTOFF)
        with unit_of_work(shop.engine) as session:
            order_id = session.scalars(select(Order.id).where(Order.reference == shop.ada)).one()
            change_order(session, order_id, answers(name="Ada King", items=tshirts(2, size="M")),
                         now=CUTOFF + timedelta(hours=1))
        assert _tick(shop.engine, settings, CUTOFF + timedelta(hours=2)).batches_sent == 1
        wait_for(server, 5)
        [row] = _vendor_mails(server)[-1]["Changes"]
    assert (row["Change"], row["Name"], row["Variant"]) == ("changed", "Ada King", "Fitted, M")
    assert row["Before"] == "Same line; the order's details were updated"


def test_two_processes_ticking_at_once_send_a_change_once(database_url: str, shop: Hoodies) -> None:
    """Each process with its own engine; the second clock is past the first's lease, so both run the step and
    only the vendor's row lock and the latest snapshot keep the delta to one."""
    settings = Settings(mail_from="Event Orders <ops@example.org>")  # mail held: read the outbox instead
    run_tick(shop.engine, settings, now=CUTOFF)
    _change_size(shop, "S", CUTOFF + timedelta(hours=1))
    engines = [make_engine(database_url) for _ in range(2)]
    barrier = threading.Barrier(2)
    reports: list[TickReport] = []

    def tick(index: int) -> None:
        barrier.wait()
        reports.append(run_tick(engines[index], settings, now=CUTOFF + timedelta(hours=1 + index * 11),
                                holder=f"process-{index}"))

    threads = [threading.Thread(target=tick, args=(i,)) for i in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for engine in engines:
            engine.dispose()
    assert not [report.failed for report in reports if report.failed]
    assert sum(report.batches_sent for report in reports) == 1
    with read_only(shop.engine) as session:
        batches = session.scalars(select(OutboxMessage.subject).where(OutboxMessage.kind == MessageKind.VENDOR_BATCH)
                                  .order_by(OutboxMessage.id)).all()
        snapshots = session.scalars(select(VendorSnapshot.is_delta).order_by(VendorSnapshot.id)).all()
    assert len(batches) == 2 and "changes to your list" in batches[1]
    assert snapshots == [False, True]


def test_no_delta_goes_out_for_an_archived_event(shop: Hoodies) -> None:
    with running_mail_server() as server:
        settings = _settings(server)
        _tick(shop.engine, settings, CUTOFF)
        with unit_of_work(shop.engine) as session:
            session.get_one(Event, shop.event_id).archived_at = CUTOFF + timedelta(minutes=30)
        _change_size(shop, "L", CUTOFF + timedelta(hours=1))
        assert _tick(shop.engine, settings, CUTOFF + timedelta(hours=2)).batches_sent == 0
