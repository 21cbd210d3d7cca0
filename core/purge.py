"""Purging personal data: an event's when its retention ends or an organiser asks, one order's when its attendee
asks after delivery; then scrubbing the database files so that the bytes are gone too.

Destroyed: every answer to a personal field (names, emails, phones, addresses), free-text answers even where
the organiser did not mark them personal, lookup secrets (their hashes), email claims, submission fingerprints,
tracking numbers, the recipients, subjects, bodies and attachments (vendor spreadsheets) of the event's mails,
and attendees' data that SMTP errors echoed into the audit trail. Kept: orders (reference, status, times, form
version), their lines (item, variant, quantity, price), status history without tracking, disclosures (vendor,
field keys, order) and the audit trail. A purge receipt with counts only is stored and mailed to the event's
organisers; it says that backups made before the purge still hold the data until they age out (and when, if
backups were recorded: core/backups.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, bindparam, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, Permission, require, visible_events
from core.backups import backups_hold_data_until
from core.config import Settings
from core.errors import FormValidationError, NotFound, OrderNotForgettable, SchemaError
from core.event_admin import organiser_addresses
from core.forms import TEXT_TYPES, parse_form_spec
from core.fulfilment import FORGETTABLE
from core.models import (
    AuditEntry,
    EmailClaim,
    Event,
    FormVersion,
    MessageKind,
    MessageStatus,
    Order,
    OrderLine,
    OrderPersonalData,
    OrderStatusChange,
    OutboxMessage,
    PurgeReceipt,
)
from core.outbox import enqueue_message

logger = logging.getLogger(__name__)

CONFIRM_FIELD = "confirm_slug"
# What stays of a purged mail: the row (kind, status, times) for the counts, no words of it.
PURGED_SUBJECT = "[purged]"
CANCELLED_BY_PURGE = "not sent: its personal data was purged"
ERROR_REMOVED = "[removed by the purge]"
# Audit actions whose details may quote attendees' data, and the detail keys that can: SMTP errors often
# repeat the recipient's address ("550 <ada@example.org>: no such user").
MASKED_AUDIT_DETAILS: Mapping[str, tuple[str, ...]] = {"mail.failed": ("error",)}
WAITING = (MessageStatus.PENDING, MessageStatus.HELD, MessageStatus.SENDING)
# Rewritten by a purge; PostgreSQL vacuums these afterwards.
PURGED_TABLES = ("order_personal_data", "orders", "email_claims", "order_status_changes", "outbox", "audit_log")


class PurgeCategory(StrEnum):
    PERSONAL_ANSWERS = "personal_answers"
    FREE_TEXT_ANSWERS = "free_text_answers"
    LOOKUP_SECRETS = "lookup_secrets"
    EMAIL_CLAIMS = "email_claims"
    SUBMISSION_HASHES = "submission_hashes"
    TRACKING = "tracking"
    MAILS = "mails"
    MAILS_CANCELLED = "mails_cancelled"
    VENDOR_SPREADSHEETS = "vendor_spreadsheets"
    AUDIT_DETAILS = "audit_details"


CATEGORY_LABELS = {
    PurgeCategory.PERSONAL_ANSWERS: "Orders with personal answers (names, emails, phones, addresses, personal fields)",
    PurgeCategory.FREE_TEXT_ANSWERS: "Orders with other free-text answers",
    PurgeCategory.LOOKUP_SECRETS: "Order lookup links",
    PurgeCategory.EMAIL_CLAIMS: "One-order-per-email records (hashed addresses)",
    PurgeCategory.SUBMISSION_HASHES: "Repeat-submission fingerprints (keyed hashes of the answers)",
    PurgeCategory.TRACKING: "Tracking numbers and links",
    PurgeCategory.MAILS: "Mails: recipients, subjects, bodies",
    PurgeCategory.MAILS_CANCELLED: "of which not sent yet (cancelled)",
    PurgeCategory.VENDOR_SPREADSHEETS: "Vendor spreadsheets attached to mails",
    PurgeCategory.AUDIT_DETAILS: "Audit entries quoting mail errors (masked)",
}


@dataclass(frozen=True)
class PurgeReceiptView:
    """A stored purge receipt; `created` is False when the event had been purged before this call."""

    id: int
    event_id: int
    event_title: str
    at: datetime
    actor: str
    counts: Mapping[str, int]
    created: bool = True
    # When the last backup made before the purge is due to be deleted, if `python -m core backup` recorded it.
    backups_until: datetime | None = None

    @property
    def backup_note(self) -> str:
        """What the purge could not reach: the backups made before it (core/backups.py)."""
        if self.backups_until is None:
            return ("Backups made before this purge, if any, still hold this data until they age out: keep them no "
                    "longer than the shortest retention of your events.")
        return (f"Backups made before this purge still hold this data until they age out: the last of them is due "
                f"for deletion on {self.backups_until:%Y-%m-%d} (UTC), at the first backup run after that day.")

    @property
    def lines(self) -> tuple[PlanLine, ...]:
        """The counts per category, labelled, in the dry run's order."""
        return tuple(PlanLine(category, CATEGORY_LABELS[category], int(self.counts.get(category.value, 0)))
                     for category in PurgeCategory)

    @property
    def by(self) -> str:
        return "the retention timer" if self.actor == audit.SYSTEM else self.actor

    @property
    def total(self) -> int:
        """Records destroyed; cancelled mails are counted among the mails already."""
        return sum(line.count for line in self.lines if line.category != PurgeCategory.MAILS_CANCELLED)


@dataclass(frozen=True)
class PlanLine:
    category: PurgeCategory
    label: str
    count: int


@dataclass(frozen=True)
class PurgePlan:
    """The dry run: what a purge of the event would destroy now, what it keeps, and when it happens by itself.

    `automatic_at` is None when the event has neither an end nor a closing time (it is then never purged by the
    timer); `receipt` is set once the event was purged.
    """

    event_id: int
    slug: str
    title: str
    automatic_at: datetime | None
    lines: tuple[PlanLine, ...]
    orders_kept: int
    order_lines_kept: int
    receipt: PurgeReceiptView | None

    @property
    def purged(self) -> bool:
        return self.receipt is not None


@dataclass(frozen=True)
class ForgottenOrder:
    """What `forget_order` destroyed, counts per category (keys of PurgeCategory)."""

    order_id: int
    counts: Mapping[str, int]


# --- When -----------------------------------------------------------------------------------------------------


def retention_end(event: Event) -> datetime | None:
    """When the event's personal data is due for purging: `retention_days` after it ends.

    Without an end, the close of orders stands in for it; with neither there is no date, and only an organiser
    purges (the dashboard should say so).
    """
    anchor = event.ends_at or event.closes_at
    return anchor + timedelta(days=event.retention_days) if anchor is not None else None


def events_due_for_purge(session: Session, now: datetime) -> list[int]:
    """Ids of events not purged yet whose retention end (see `retention_end`) has passed, archived ones included."""
    candidates = session.scalars(select(Event).where(
        Event.purged_at.is_(None), or_(Event.ends_at.is_not(None), Event.closes_at.is_not(None)))
        .order_by(Event.id))
    return [event.id for event in candidates if (end := retention_end(event)) is not None and end <= now]


# --- The dry run ----------------------------------------------------------------------------------------------


def purge_plan(session: Session, actor: Actor | None, event_id: int, now: datetime) -> PurgePlan:
    """What a purge of the event would destroy at `now` (counts per category). A None actor is the shell.

    Raises PermissionDenied, NotFound.
    """
    if actor is not None:
        require(session, actor, Permission.EVENT_PURGE, event_id)
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound("There is no such event.")
    scope = _EventScope(event.id)
    counts = _count(session, scope)
    return PurgePlan(
        event_id=event.id, slug=event.slug, title=event.title, automatic_at=retention_end(event),
        lines=tuple(PlanLine(category, CATEGORY_LABELS[category], counts[category]) for category in PurgeCategory),
        orders_kept=session.scalar(select(func.count()).select_from(Order).where(Order.event_id == event.id)) or 0,
        order_lines_kept=session.scalar(select(func.count()).select_from(OrderLine).join(Order)
                                        .where(Order.event_id == event.id)) or 0,
        receipt=_receipt_of(session, event, created=False))


def event_id_by_slug(session: Session, slug: str) -> int:
    """For the shell, which names events by slug; raises NotFound."""
    event_id = session.scalar(select(Event.id).where(Event.slug == slug))
    if event_id is None:
        raise NotFound(f"There is no event '{slug}'.")
    return event_id


def list_purge_receipts(session: Session, actor: Actor) -> list[PurgeReceiptView]:
    """Receipts of the events `actor` may see, newest first; raises PermissionDenied."""
    require(session, actor, Permission.AUDIT_VIEW)
    mine = visible_events(actor).with_only_columns(Event.id).order_by(None)
    rows = session.execute(select(PurgeReceipt, Event.title).join(Event, Event.id == PurgeReceipt.event_id)
                           .where(PurgeReceipt.event_id.in_(mine))
                           .order_by(PurgeReceipt.at.desc(), PurgeReceipt.id.desc())).all()
    return [_view(receipt, title, created=False) for receipt, title in rows]


def receipt_fallback(settings: Settings) -> list[str]:
    """Where receipts go when no organiser of the event gave an address: the operator's MAIL_FROM, if set."""
    address = parseaddr(settings.mail_from)[1]
    return [address] if address else []


# --- Purging --------------------------------------------------------------------------------------------------


def purge_event(
    session: Session,
    actor: Actor | None,
    event_id: int,
    *,
    now: datetime,
    confirm_slug: str | None = None,
    notify_fallback: Sequence[str] = (),
) -> PurgeReceiptView:
    """Destroy the event's personal data, store a receipt, audit `event.purged` and mail the receipt.

    A None actor is the timer (or the shell) and needs no confirmation; an organiser needs EVENT_PURGE and must
    retype the event's slug as `confirm_slug` (FormValidationError on CONFIRM_FIELD otherwise). The event row is
    locked first, so a timer and a click cannot both purge: the second finds it purged and gets the existing
    receipt (`created` False) with nothing done. The receipt mail goes to the organisers who gave an address,
    else to `notify_fallback` (the operator's MAIL_FROM), else nowhere. Call `scrub_storage` after commit.
    Raises PermissionDenied, NotFound, FormValidationError.
    """
    if actor is not None:
        require(session, actor, Permission.EVENT_PURGE, event_id)
    event = session.scalars(select(Event).where(Event.id == event_id).with_for_update()
                            .execution_options(populate_existing=True)).one_or_none()
    if event is None:
        raise NotFound("There is no such event.")
    if event.purged_at is not None:
        existing = _receipt_of(session, event, created=False)
        if existing is not None:
            return existing
    if actor is not None and (confirm_slug or "").strip() != event.slug:
        raise FormValidationError({CONFIRM_FIELD: f"Type the event's address name, {event.slug}, to confirm."})
    counts = _destroy(session, _EventScope(event.id), now)
    event.purged_at = now
    receipt = PurgeReceipt(event_id=event.id, at=now, actor=actor.username if actor else audit.SYSTEM,
                           counts={category.value: counts[category] for category in PurgeCategory},
                           backups_until=backups_hold_data_until(session, now))
    session.add(receipt)
    session.flush()
    recipients = organiser_addresses(session, event.id) or [a for a in notify_fallback if a]
    if recipients:
        _queue_receipt_mail(session, event, receipt, recipients, now)
    audit.record(session, actor, "event.purged", event=event, subject=f"event:{event.slug}",
                 details={**receipt.counts, "receipt_id": receipt.id, "mailed_to": len(recipients)})
    return _view(receipt, event.title, created=True)


def forget_order(session: Session, order_id: int, *, now: datetime) -> ForgottenOrder:
    """Destroy one order's personal data at its attendee's request, once it is delivered or cancelled.

    Like an event purge, limited to the order: its personal and free-text answers, lookup secret, email claim,
    tracking, and the recipients and words of its own mails (waiting ones are cancelled). A batch vendor's
    spreadsheet lists many orders and stays until the event is purged. Audited `order.forgotten` by
    "attendee". The caller has checked the attendee's lookup secret. Raises NotFound, OrderNotForgettable.
    """
    order = session.scalars(select(Order).where(Order.id == order_id).with_for_update()).one_or_none()
    if order is None:
        raise NotFound("There is no such order.")
    if order.status not in FORGETTABLE:
        raise OrderNotForgettable("Your details can be deleted once your order has been delivered or cancelled.")
    destroyed = _destroy(session, _OrderScope(order.id), now)
    counts = {category.value: destroyed[category] for category in PurgeCategory}
    entry = audit.record(session, None, "order.forgotten", event=order.event_id, subject=f"order:{order.reference}",
                         details=counts)
    entry.actor = audit.ATTENDEE
    return ForgottenOrder(order.id, counts)


# --- Scrubbing the files --------------------------------------------------------------------------------------


def scrub_storage(engine: Engine) -> None:
    """Make deleted bytes unreadable from the database files; call after the purging transaction committed.

    SQLite (secure_delete is on for every connection, see core.db): checkpoint the WAL and truncate it, VACUUM
    (with its temporary copy in memory, not in a temp file), then checkpoint and truncate the WAL that VACUUM
    wrote. A checkpoint blocked by a long reader is logged; the next scrub completes it. PostgreSQL: VACUUM the
    purged tables, so their dead row versions are pruned (the bytes of freed space and of the WAL archive are
    PostgreSQL's to recycle; see README).
    """
    if engine.dialect.name == "sqlite":
        if engine.url.database in (None, "", ":memory:"):
            return
        connection = engine.raw_connection()  # the DBAPI connection: VACUUM must run outside any transaction
        try:
            cursor = connection.cursor()
            _checkpoint(cursor)
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute("VACUUM")
            cursor.execute("PRAGMA temp_store=DEFAULT")
            _checkpoint(cursor)
            cursor.close()
        finally:
            connection.close()
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in PURGED_TABLES:
            connection.exec_driver_sql(f'VACUUM (ANALYZE) "{table}"')


def _checkpoint(cursor: Any) -> None:
    cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    busy, _log, _done = cursor.fetchone()
    if busy:
        logger.warning("WAL checkpoint after a purge was blocked by a reader; the WAL still holds old pages")


# --- What a purge touches -------------------------------------------------------------------------------------


class _EventScope:
    def __init__(self, event_id: int):
        self.event_id = event_id
        self.orders: Select[Any] = select(Order.id).where(Order.event_id == event_id)

    def order_condition(self) -> ColumnElement[bool]:
        return Order.event_id == self.event_id

    def outbox_condition(self) -> ColumnElement[bool]:
        # Purge receipts are the organisers' record and hold counts only.
        return or_(OutboxMessage.event_id == self.event_id, OutboxMessage.order_id.in_(self.orders)) \
            & (OutboxMessage.kind != MessageKind.PURGE_RECEIPT)

    def email_claim_condition(self) -> ColumnElement[bool]:
        return EmailClaim.event_id == self.event_id

    def audit_condition(self, session: Session) -> ColumnElement[bool]:
        return AuditEntry.event_id == self.event_id


class _OrderScope:
    def __init__(self, order_id: int):
        self.order_id = order_id
        self.orders: Select[Any] = select(Order.id).where(Order.id == order_id)

    def order_condition(self) -> ColumnElement[bool]:
        return Order.id == self.order_id

    def outbox_condition(self) -> ColumnElement[bool]:
        return OutboxMessage.order_id == self.order_id

    def email_claim_condition(self) -> ColumnElement[bool]:
        return EmailClaim.order_id == self.order_id

    def audit_condition(self, session: Session) -> ColumnElement[bool]:
        # Mail entries name their message ("message:12"), not its order: an order has only a few mails.
        mails = session.scalars(select(OutboxMessage.id).where(self.outbox_condition()))
        return AuditEntry.subject.in_([f"message:{mail_id}" for mail_id in mails])


_Scope = _EventScope | _OrderScope


def _conditions(scope: _Scope) -> dict[PurgeCategory, tuple[Any, ColumnElement[bool]]]:
    """Per category that is a plain filter: the table and the rows of it a purge changes."""
    outbox = scope.outbox_condition()
    return {
        PurgeCategory.PERSONAL_ANSWERS: (OrderPersonalData, OrderPersonalData.order_id.in_(scope.orders)),
        PurgeCategory.LOOKUP_SECRETS: (Order, scope.order_condition() & Order.lookup_token_hash.is_not(None)),
        PurgeCategory.EMAIL_CLAIMS: (EmailClaim, scope.email_claim_condition()),
        PurgeCategory.SUBMISSION_HASHES: (Order, scope.order_condition() & Order.submission_hash.is_not(None)),
        PurgeCategory.TRACKING: (OrderStatusChange, OrderStatusChange.order_id.in_(scope.orders)
                                 & OrderStatusChange.tracking.is_not(None)),
        PurgeCategory.MAILS: (OutboxMessage, outbox & OutboxMessage.purged_at.is_(None)),
        PurgeCategory.MAILS_CANCELLED: (OutboxMessage, outbox & OutboxMessage.status.in_(WAITING)),
        PurgeCategory.VENDOR_SPREADSHEETS: (OutboxMessage, outbox & OutboxMessage.attachment.is_not(None)),
    }


def _count(session: Session, scope: _Scope) -> dict[PurgeCategory, int]:
    counts = {category: session.scalar(select(func.count()).select_from(table).where(condition)) or 0
              for category, (table, condition) in _conditions(scope).items()}
    counts[PurgeCategory.FREE_TEXT_ANSWERS] = len(_free_text_rewrites(session, scope))
    counts[PurgeCategory.AUDIT_DETAILS] = len(_audit_masks(session, scope))
    return counts


def _destroy(session: Session, scope: _Scope, now: datetime) -> dict[PurgeCategory, int]:
    """Destroy the personal data in `scope` with a few set-based statements; returns the counts per category."""
    conditions = _conditions(scope)
    masks = _audit_masks(session, scope)
    rewrites = _free_text_rewrites(session, scope)
    counts: dict[PurgeCategory, int] = {}

    def change(category: PurgeCategory, statement: Any) -> None:
        counts[category] = session.execute(statement.where(conditions[category][1]),
                                           execution_options={"synchronize_session": False}).rowcount

    change(PurgeCategory.PERSONAL_ANSWERS, delete(OrderPersonalData))
    if rewrites:
        table = Order.__table__
        session.execute(update(table).where(table.c.id == bindparam("order_id"))
                        .values(answers=bindparam("new_answers")), rewrites)
    counts[PurgeCategory.FREE_TEXT_ANSWERS] = len(rewrites)
    change(PurgeCategory.LOOKUP_SECRETS, update(Order).values(lookup_token_hash=None))
    change(PurgeCategory.EMAIL_CLAIMS, delete(EmailClaim))
    change(PurgeCategory.SUBMISSION_HASHES, update(Order).values(submission_hash=None))
    change(PurgeCategory.TRACKING, update(OrderStatusChange).values(tracking=None))
    # Nothing with attendees' data may leave after the purge: waiting mails fail, with a reason that says why.
    change(PurgeCategory.MAILS_CANCELLED, update(OutboxMessage).values(
        status=MessageStatus.FAILED, claimed_until=None, last_error=CANCELLED_BY_PURGE))
    change(PurgeCategory.VENDOR_SPREADSHEETS, update(OutboxMessage).values(attachment=None, attachment_name=None))
    change(PurgeCategory.MAILS, update(OutboxMessage).values(
        recipients=[], subject=PURGED_SUBJECT, body_text="", body_html="", purged_at=now,
        last_error=case((OutboxMessage.last_error.in_(["", CANCELLED_BY_PURGE]), OutboxMessage.last_error),
                        else_=ERROR_REMOVED)))
    for entry, details in masks:
        entry.details = details
    counts[PurgeCategory.AUDIT_DETAILS] = len(masks)
    session.flush()
    return counts


def _free_text_rewrites(session: Session, scope: _Scope) -> list[dict[str, Any]]:
    """{order_id, new_answers} for each order whose non-personal answers hold something a purge removes.

    Kept are only answers to fields of the order's form version that are neither personal nor free text
    (choices, ticks, numbers, dates): what the counts per item, variant and status can use. Orders of a form
    without free-text fields are not read: `place_order` stores only the form's own fields, personal ones apart.
    A form that no longer parses loses all its answers: they cannot be shown to be safe.
    """
    versions = session.execute(select(FormVersion.id, FormVersion.schema).where(
        FormVersion.id.in_(select(Order.form_version_id).where(scope.order_condition()).distinct()))).all()
    rewrites: list[dict[str, Any]] = []
    for version_id, schema in versions:
        try:
            fields = parse_form_spec(schema).fields
        except SchemaError:
            keep: set[str] = set()
        else:
            if not any(spec.type in TEXT_TYPES and not spec.is_personal for spec in fields):
                continue
            keep = {spec.key for spec in fields if not spec.is_personal and spec.type not in TEXT_TYPES}
        for order_id, answers in session.execute(select(Order.id, Order.answers).where(
                scope.order_condition(), Order.form_version_id == version_id)):
            if answers and not keep.issuperset(answers):
                rewrites.append({"order_id": order_id,
                                 "new_answers": {key: value for key, value in answers.items() if key in keep}})
    return rewrites


def _audit_masks(session: Session, scope: _Scope) -> list[tuple[AuditEntry, dict[str, Any]]]:
    """Audit entries in scope whose details quote what may be attendees' data, with the masked details."""
    masks = []
    for entry in session.scalars(select(AuditEntry).where(
            scope.audit_condition(session), AuditEntry.action.in_(list(MASKED_AUDIT_DETAILS)))):
        details = dict(entry.details or {})
        keys = [key for key in MASKED_AUDIT_DETAILS[entry.action] if details.get(key) not in (None, ERROR_REMOVED)]
        if keys:
            masks.append((entry, {**details, **dict.fromkeys(keys, ERROR_REMOVED)}))
    return masks


# --- Receipts -------------------------------------------------------------------------------------------------


def _receipt_of(session: Session, event: Event, *, created: bool) -> PurgeReceiptView | None:
    receipt = session.scalars(select(PurgeReceipt).where(PurgeReceipt.event_id == event.id)
                              .order_by(PurgeReceipt.id.desc()).limit(1)).first()
    return _view(receipt, event.title, created=created) if receipt is not None else None


def _view(receipt: PurgeReceipt, title: str, *, created: bool) -> PurgeReceiptView:
    return PurgeReceiptView(id=receipt.id, event_id=receipt.event_id, event_title=title, at=receipt.at,
                            actor=receipt.actor, counts=dict(receipt.counts), created=created,
                            backups_until=receipt.backups_until)


def _queue_receipt_mail(session: Session, event: Event, receipt: PurgeReceipt, recipients: list[str],
                        now: datetime) -> None:
    title = " ".join(event.title.split())
    view = _view(receipt, title, created=True)
    who = view.by
    lines = [f"The personal data of {title} was destroyed on {now:%Y-%m-%d %H:%M} UTC by {who}.", "",
             "Destroyed:"]
    lines += [f"  {CATEGORY_LABELS[category]}: {receipt.counts[category.value]}" for category in PurgeCategory]
    lines += ["", "Kept: the orders (reference, status, times), their items, variants and quantities, and the "
              "audit trail without personal data.", "", view.backup_note, "",
              f"Receipt {receipt.id}; it contains no personal data."]
    message = enqueue_message(session, kind=MessageKind.PURGE_RECEIPT, recipients=recipients,
                              subject=f"Personal data purged: {title}"[:300], body_text="\n".join(lines),
                              event_id=event.id)
    message.created_at = now
    message.next_attempt_at = now
