"""Purging personal data: what goes, what stays, who may, the receipt, and that the bytes leave the files."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import ColumnElement, Engine, func, select

from core import audit
from core.auth import Actor
from core.config import PROJECT_DIR, Settings
from core.dashboard import items_ordered
from core.db import read_only, unit_of_work
from core.errors import FormValidationError, NotFound, OrderNotForgettable, PermissionDenied
from core.exports import ExportFilters, order_sheets
from core.fulfilment import record_status
from core.mailer import YagmailMailer
from core.models import (
    AuditEntry,
    Base,
    EmailClaim,
    Event,
    MessageKind,
    MessageStatus,
    Order,
    OrderLine,
    OrderPersonalData,
    OrderStatus,
    OrderStatusChange,
    OutboxMessage,
    PurgeReceipt,
    User,
    UserRole,
    VendorMode,
)
from core.orders import place_order
from core.outbox import dispatch
from core.purge import (
    CONFIRM_FIELD,
    ERROR_REMOVED,
    PurgeCategory,
    PurgeReceiptView,
    events_due_for_purge,
    forget_order,
    list_purge_receipts,
    purge_event,
    purge_plan,
    retention_end,
    scrub_storage,
)
from core.vendor_batches import send_batch
from tests.factories import make_shop, make_user
from tests.factories.events import make_order
from tests.factories.exports import make_vendor, route
from tests.factories.stock import CODE_KEY
from tests.mail_server import running_mail_server

T0 = datetime(2030, 6, 1, 9, 0, tzinfo=UTC)
AFTER = T0 + timedelta(days=90)

# Values no other test data contains, so that any occurrence in the database is a leak.
NAME = "Zebulon-Quixote-7731"
EMAIL = "zq7731@example.org"
PHONE = "+447400773177"
STREET = "77 Quixote-Lane-7731"
NOTE = "Quixote-sizes-note-7731"
TRACKING = "ZQTRACK7731XYZ"
SMTP_ERROR = f"550 5.1.1 <{EMAIL}>: mailbox unavailable"
SECRETS = (NAME, EMAIL, PHONE, STREET, NOTE, TRACKING)


def breakfast() -> list[dict[str, object]]:
    return [{"item": "breakfast", "options": {}, "quantity": 1}]


def tshirt(size: str = "M") -> list[dict[str, object]]:
    return [{"item": "tshirt", "options": {"type": "Fitted", "size": size}, "quantity": 2}]


@dataclass(frozen=True)
class World:
    engine: Engine
    event_id: int
    other_event_id: int
    olga: Actor  # organiser of the event
    bob: Actor  # organiser of the other event only
    marked_order_id: int  # the order with the recognisable values

    def count(self, model: type[Base], *conditions: ColumnElement[bool]) -> int:
        with read_only(self.engine) as session:
            return session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


@pytest.fixture
def world(engine: Engine) -> World:
    """Two events; the first has the marked order (every kind of personal data), two more orders, a sent and a
    queued mail, a batch vendor's spreadsheet, a tracking number, an email claim and a failed mail's audit entry."""
    with unit_of_work(engine) as session:
        event = make_shop(session, slug="fest", title="Summer Fest", opens_at=T0 - timedelta(days=10),
                          closes_at=T0 + timedelta(days=10), ends_at=T0 + timedelta(days=20), retention_days=30)
        other = make_shop(session, slug="other", title="Other Fest", opens_at=T0 - timedelta(days=10))
        olga = make_user(session, "olga", member_of=[event])
        bob = make_user(session, "bob", member_of=[other])
        receipt = make_order(session, event, breakfast() + tshirt(), key="marked", now=T0, name=NAME, email=EMAIL,
                             phone=PHONE, size_note=NOTE, code_key=CODE_KEY,
                             delivery={"street": STREET, "city": "London", "postcode": "N1 1AA", "country": "GB"})
        make_order(session, event, tshirt("S"), key="second", now=T0, name="Bea Second", email="bea@example.com",
                   status=OrderStatus.DELIVERED)
        make_order(session, event, tshirt("L"), key="third", now=T0, name="Cy Third", email="cy@example.com",
                   status=OrderStatus.CANCELLED)
        make_order(session, other, tshirt(), key="elsewhere", now=T0, name="Other Person", email="op@example.com")
        order = session.scalars(select(Order).where(Order.reference == receipt.reference)).one()
        order.status = OrderStatus.SHIPPED
        record_status(session, order, OrderStatus.SHIPPED, "olga", tracking=TRACKING, at=T0)
        session.add(EmailClaim(event_id=event.id, email_hash="c1a1" * 16, order_id=order.id))
        vendor = make_vendor(session, "Tee Batch", mode=VendorMode.BATCH, visible_fields=["name", "email"])
        route(session, event, vendor, "tshirt")
        send_batch(session, None, event.id, vendor.id, T0)
        # One mail went out already; the rest wait.
        sent = session.scalars(select(OutboxMessage).where(OutboxMessage.order_id == order.id)
                               .order_by(OutboxMessage.id)).first()
        assert sent is not None and NAME in sent.body_text
        sent.status, sent.sent_at = MessageStatus.SENT, T0
        audit.record(session, None, "mail.failed", event=event.id, subject=f"message:{sent.id}",
                     details={"kind": "confirmation", "attempts": 3, "error": SMTP_ERROR})
        return World(engine, event.id, other.id, olga, bob, order.id)


def purge(world: World, actor: Actor | None, *, slug: str | None = "fest", event_id: int | None = None,
          notify_fallback: Sequence[str] = ()) -> PurgeReceiptView:
    with unit_of_work(world.engine) as session:
        return purge_event(session, actor, event_id or world.event_id, now=AFTER, confirm_slug=slug,
                           notify_fallback=notify_fallback)


# --- when -----------------------------------------------------------------------------------------------------


def test_retention_ends_after_the_event_or_else_after_orders_close_and_never_without_either() -> None:
    ends, closes = T0 + timedelta(days=5), T0
    assert retention_end(Event(ends_at=ends, closes_at=closes, retention_days=30)) == ends + timedelta(days=30)
    assert retention_end(Event(ends_at=None, closes_at=closes, retention_days=7)) == closes + timedelta(days=7)
    assert retention_end(Event(ends_at=None, closes_at=None, retention_days=7)) is None


def test_events_are_due_once_their_retention_ended_and_until_they_are_purged(world: World) -> None:
    end = T0 + timedelta(days=50)  # ends_at + 30 days
    with read_only(world.engine) as session:
        assert events_due_for_purge(session, end - timedelta(seconds=1)) == []
        assert events_due_for_purge(session, end) == [world.event_id]  # the other event has no end or close
    purge(world, None)
    with read_only(world.engine) as session:
        assert events_due_for_purge(session, end + timedelta(days=365)) == []


# --- what goes and what stays ---------------------------------------------------------------------------------


def test_the_dry_run_counts_what_the_purge_then_destroys(world: World) -> None:
    with read_only(world.engine) as session:
        plan = purge_plan(session, world.olga, world.event_id, AFTER)
    planned = {line.category.value: line.count for line in plan.lines}
    assert plan.automatic_at == T0 + timedelta(days=50) and not plan.purged
    assert planned[PurgeCategory.PERSONAL_ANSWERS] == 3
    assert planned[PurgeCategory.FREE_TEXT_ANSWERS] == 1  # only the marked order answered the size note
    assert planned[PurgeCategory.LOOKUP_SECRETS] == 3
    assert planned[PurgeCategory.EMAIL_CLAIMS] == 1
    assert planned[PurgeCategory.TRACKING] == 1
    assert planned[PurgeCategory.VENDOR_SPREADSHEETS] == 1
    assert planned[PurgeCategory.AUDIT_DETAILS] == 1
    assert planned[PurgeCategory.MAILS] > planned[PurgeCategory.MAILS_CANCELLED] > 0
    assert (plan.orders_kept, plan.order_lines_kept) == (3, 4)

    receipt = purge(world, world.olga)
    assert receipt.created and dict(receipt.counts) == planned
    with read_only(world.engine) as session:
        after = purge_plan(session, world.olga, world.event_id, AFTER)
    assert after.receipt is not None and after.receipt.id == receipt.id
    assert all(line.count == 0 for line in after.lines)


def test_purge_destroys_personal_data_and_keeps_the_anonymous_counts(world: World) -> None:
    with read_only(world.engine) as session:
        before = items_ordered(session, session.get_one(Event, world.event_id))
    purge(world, world.olga)
    in_event = Order.event_id == world.event_id
    assert world.count(OrderPersonalData, OrderPersonalData.order_id.in_(select(Order.id).where(in_event))) == 0
    assert world.count(Order, in_event, Order.lookup_token_hash.is_not(None)) == 0
    assert world.count(EmailClaim) == 0
    assert world.count(OrderStatusChange, OrderStatusChange.tracking.is_not(None)) == 0
    with read_only(world.engine) as session:
        orders = session.scalars(select(Order).where(in_event).order_by(Order.id)).all()
        assert [o.status for o in orders] == [OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED]
        assert all("size_note" not in o.answers for o in orders)
        assert session.get_one(Event, world.event_id).purged_at == AFTER
        assert items_ordered(session, session.get_one(Event, world.event_id)).equals(before)
        assert len(session.scalars(select(OrderLine).join(Order).where(in_event)).all()) == 4
        sheets = order_sheets(session, world.olga, world.event_id, ExportFilters())
        mails = session.scalars(select(OutboxMessage).where(OutboxMessage.event_id == world.event_id,
                                                            OutboxMessage.kind != MessageKind.PURGE_RECEIPT)).all()
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "mail.failed")).one()
    assert sheets["Orders"]["Name"].isna().all() and len(sheets["Orders"]) == 3
    assert all(m.purged_at == AFTER and m.recipients == [] and m.body_text == "" and m.body_html == ""
               and m.attachment_name is None for m in mails)
    assert {m.status for m in mails} == {MessageStatus.SENT, MessageStatus.FAILED}
    assert entry.details == {"kind": "confirmation", "attempts": 3, "error": ERROR_REMOVED}
    # The other event is untouched.
    assert world.count(OrderPersonalData) == 1 and world.count(Order, Order.lookup_token_hash.is_not(None)) == 1


def test_nothing_with_attendees_data_is_sent_after_the_purge_only_the_receipt(world: World) -> None:
    with unit_of_work(world.engine) as session:
        session.scalars(select(User).where(User.username == "olga")).one().email = "olga@organisers.example"
    receipt = purge(world, world.olga)
    with running_mail_server() as server:
        settings = Settings(smtp_host=server.host, smtp_port=server.port, smtp_security="none",
                            mail_from="Event Orders <ops@example.org>")
        report = dispatch(world.engine, YagmailMailer(settings), now=AFTER)
        received = server.received
    # The other event's confirmation still goes out; of this event, only the receipt.
    assert report.sent == 2 and sorted(m.rcpt_tos for m in received) == [("olga@organisers.example",),
                                                                          ("op@example.com",)]
    [mail] = [m for m in received if m.rcpt_tos == ("olga@organisers.example",)]
    body = mail.message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Summer Fest" in mail.message["Subject"] and f"Receipt {receipt.id}" in text
    assert not any(secret in m.data.decode() for secret in SECRETS for m in received)


def test_receipt_mail_goes_to_the_fallback_when_no_organiser_gave_an_address(world: World) -> None:
    purge(world, None, slug=None, notify_fallback=["ops@example.org"])
    with read_only(world.engine) as session:
        [mail] = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.PURGE_RECEIPT)).all()
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "event.purged")).all()
    assert mail.recipients == ["ops@example.org"] and mail.status == MessageStatus.PENDING
    assert entry.actor == audit.SYSTEM and entry.details["mailed_to"] == 1
    assert entry.details[PurgeCategory.PERSONAL_ANSWERS] == 3


def test_free_text_answers_go_while_choices_and_ticks_stay(engine: Engine) -> None:
    form = {"fields": [
        {"key": "email", "type": "email", "label": "Email", "required": True, "purpose": "To confirm."},
        {"key": "items", "type": "items", "label": "Items", "required": True},
        {"key": "fit", "type": "single_choice", "label": "Fit", "options": ["Loose", "Tight"]},
        {"key": "wishes", "type": "long_text", "label": "Wishes"},
        {"key": "consent", "type": "checkbox", "label": "I agree", "required": True},
    ]}
    with unit_of_work(engine) as session:
        event = make_shop(session, slug="fest", form=form)
        place_order(session, event, {"email": EMAIL, "items": tshirt(), "fit": "Loose", "wishes": NOTE,
                                     "consent": True}, idempotency_key="k", now=T0)
    with unit_of_work(engine) as session:
        receipt = purge_event(session, None, event.id, now=AFTER)
    with read_only(engine) as session:
        [order] = session.scalars(select(Order)).all()
    assert order.answers == {"fit": "Loose", "consent": True}
    assert receipt.counts[PurgeCategory.FREE_TEXT_ANSWERS] == 1


# --- who, and only once ---------------------------------------------------------------------------------------


def test_an_organiser_must_retype_the_slug_and_be_an_organiser_of_the_event(world: World) -> None:
    for wrong in (None, "", "Fest", "other"):
        with pytest.raises(FormValidationError) as refused:
            purge(world, world.olga, slug=wrong)
        assert set(refused.value.errors) == {CONFIRM_FIELD} and "fest" in refused.value.errors[CONFIRM_FIELD]
    with pytest.raises(PermissionDenied):
        purge(world, world.bob)
    with pytest.raises(PermissionDenied), read_only(world.engine) as session:
        purge_plan(session, world.bob, world.event_id, AFTER)
    with pytest.raises(NotFound):
        with unit_of_work(world.engine) as session:
            admin = make_user(session, "root", role=UserRole.ADMIN)
        purge(world, admin, event_id=world.event_id + 100)
    assert world.count(PurgeReceipt) == 0 and world.count(OrderPersonalData) == 4


def test_purging_twice_returns_the_first_receipt_and_does_nothing(world: World) -> None:
    first = purge(world, world.olga)
    again = purge(world, None, slug=None)
    assert (again.id, again.created, again.actor) == (first.id, False, "olga")
    assert world.count(PurgeReceipt) == 1
    assert world.count(AuditEntry, AuditEntry.action == "event.purged") == 1
    with read_only(world.engine) as session:
        assert [r.id for r in list_purge_receipts(session, world.olga)] == [first.id]
        assert list_purge_receipts(session, world.bob) == []


def test_a_timer_and_a_click_at_once_purge_once(world: World) -> None:
    barrier = threading.Barrier(2)
    results: list[PurgeReceiptView | Exception] = []

    def run(actor: Actor | None) -> None:
        barrier.wait()
        try:
            results.append(purge(world, actor))
        except Exception as exc:  # noqa: BLE001 - any error fails the assertion below, with its message
            results.append(exc)

    threads = [threading.Thread(target=run, args=(actor,)) for actor in (None, world.olga)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.created for r in results if isinstance(r, PurgeReceiptView)) == [False, True]
    assert world.count(PurgeReceipt) == 1
    assert world.count(AuditEntry, AuditEntry.action == "event.purged") == 1


# --- one attendee ---------------------------------------------------------------------------------------------


def test_an_attendee_can_forget_their_order_once_it_is_delivered_or_cancelled(world: World) -> None:
    with read_only(world.engine) as session:
        ids = {o.status: o.id for o in session.scalars(select(Order).where(Order.event_id == world.event_id))}
    with pytest.raises(OrderNotForgettable), unit_of_work(world.engine) as session:
        forget_order(session, ids[OrderStatus.SHIPPED], now=AFTER)
    with unit_of_work(world.engine) as session:
        forgotten = forget_order(session, ids[OrderStatus.DELIVERED], now=AFTER)
    assert forgotten.counts[PurgeCategory.PERSONAL_ANSWERS] == 1
    assert forgotten.counts[PurgeCategory.LOOKUP_SECRETS] == 1
    assert forgotten.counts[PurgeCategory.MAILS] >= 1
    with read_only(world.engine) as session:
        delivered = session.get_one(Order, ids[OrderStatus.DELIVERED])
        assert delivered.personal is None and delivered.lookup_token_hash is None
        mails = session.scalars(select(OutboxMessage).where(OutboxMessage.order_id == delivered.id)).all()
        assert mails and all(m.recipients == [] and m.status == MessageStatus.FAILED for m in mails)
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "order.forgotten")).one()
        assert entry.actor == "attendee" and entry.subject == f"order:{delivered.reference}"
    # Everyone else keeps their data until the event is purged.
    assert world.count(OrderPersonalData) == 3
    with pytest.raises(NotFound), unit_of_work(world.engine) as session:
        forget_order(session, 10_000, now=AFTER)


# --- the bytes ------------------------------------------------------------------------------------------------


def _every_stored_value(engine: Engine) -> str:
    """Every row of every table as text, read through SQL (works on both backends)."""
    with read_only(engine) as session:
        return "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables
                         for row in session.execute(select(table)))


def _marks(world: World) -> tuple[str, ...]:
    """The recognisable values plus the hashes the database held for the marked order."""
    with read_only(world.engine) as session:
        order = session.get_one(Order, world.marked_order_id)
        token_hash, fingerprint = order.lookup_token_hash, order.submission_hash
    assert token_hash and fingerprint
    return (*SECRETS, token_hash, "c1a1" * 16, fingerprint)


def _spreadsheet_slice(world: World) -> bytes:
    with read_only(world.engine) as session:
        data = session.scalars(select(OutboxMessage.attachment).where(
            OutboxMessage.kind == MessageKind.VENDOR_BATCH)).one()
    assert data and len(data) > 400
    return data[len(data) // 2: len(data) // 2 + 200]  # compressed: the names are not readable in it


def _file_bytes(path: Path) -> bytes:
    wal = Path(f"{path}-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _hits(data: bytes, marks: tuple[str, ...]) -> list[str]:
    forms = {mark: (mark.encode(), mark.encode("utf-16-le"), mark.encode("utf-16-be")) for mark in marks}
    return [mark for mark, encoded in forms.items() if any(e in data for e in encoded)]


def test_after_purge_and_scrub_none_of_the_values_is_left_in_the_rows_nor_in_the_sqlite_files(world: World) -> None:
    marks, spreadsheet = _marks(world), _spreadsheet_slice(world)
    # PostgreSQL's data files can be read only with superuser rights: there every row of every table is searched.
    path = Path(world.engine.url.database or "") if world.engine.dialect.name == "sqlite" else None
    assert [mark for mark in marks if mark not in _every_stored_value(world.engine)] == []  # it would see a leak
    if path is not None:
        assert _hits(_file_bytes(path), marks) == list(marks) and spreadsheet in _file_bytes(path)
    purge(world, world.olga)
    scrub_storage(world.engine)  # on PostgreSQL VACUUM must run outside a transaction: this fails if it does not
    stored = _every_stored_value(world.engine)
    assert [mark for mark in marks if mark in stored] == []
    assert "Other Person" in stored  # the other event's data is still there
    if path is not None:
        data = _file_bytes(path)
        assert _hits(data, marks) == [] and spreadsheet not in data
        assert Path(f"{path}-wal").stat().st_size == 0
        with world.engine.connect() as connection:  # every connection deletes securely (core.db)
            assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_scrub_storage_keeps_the_database_usable(world: World) -> None:
    purge(world, world.olga)
    scrub_storage(world.engine)
    scrub_storage(world.engine)  # again, with nothing to do
    with unit_of_work(world.engine) as session:
        session.add(PurgeReceipt(event_id=world.other_event_id, at=AFTER, actor="x", counts={}))
    assert world.count(PurgeReceipt) == 2


def test_the_shell_shows_a_dry_run_then_purges_and_scrubs(world: World) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DATABASE_URL": world.engine.url.render_as_string(hide_password=False)}
        return subprocess.run([sys.executable, "-m", "core", "purge", *args], cwd=PROJECT_DIR, env=env, text=True,
                              capture_output=True, timeout=120, check=False)

    world.engine.dispose()  # the subprocess gets the database to itself
    dry = run("fest", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Would keep 3 orders and 4 order lines." in dry.stdout and world.count(OrderPersonalData) == 4
    assert run("fest").returncode == 2  # neither --dry-run nor --yes
    done = run("fest", "--yes")
    assert done.returncode == 0, done.stderr
    assert "Purged fest" in done.stdout and world.count(OrderPersonalData) == 1
    assert "purged before" in run("fest", "--yes").stdout
    missing = run("nope", "--dry-run")
    assert missing.returncode == 1 and "There is no event 'nope'." in missing.stderr
