"""Batch vendors: their spreadsheet of line items at the cutoff, then only what changed, and what was sent.

Each send freezes a snapshot of the vendor's lines (VendorSnapshot); the next one compares against it and sends
a Changes sheet of lines added, changed or cancelled since. After the cutoff the tick (core/lifecycle.py) calls
`send_batch` for every batch vendor that was sent a list, so changes reach the vendor by themselves. The sheets are built by core/exports.py, as the
organiser's own downloads are, and written by core/spreadsheets.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, Permission, require
from core.errors import DomainError, NotFound
from core.event_admin import get_event_for
from core.exports import (
    BEFORE,
    CHANGE,
    ITEM,
    QUANTITY,
    REFERENCE,
    SHEET_CHANGES,
    SHEET_LINES,
    SHEET_SUMMARY,
    STATUS,
    VARIANT,
    export_filename,
    line_frame,
    local_times,
    order_rows,
    routed_vendor,
    summary_sheet,
    vendor_line_condition,
    vendor_line_items,
)
from core.fulfilment import STATUS_LABELS
from core.models import (
    Event,
    Item,
    MessageKind,
    Order,
    OrderStatus,
    OutboxMessage,
    Vendor,
    VendorMode,
    VendorSnapshot,
)
from core.outbox import enqueue_message
from core.portal_links import portal_link_paragraph
from core.spreadsheets import write_xlsx
from core.vendors import record_disclosure
from core.wording import counted

DISCLOSURE_CHUNK = 5_000


class BatchKind(StrEnum):
    FULL = "full"  # every current line item of the vendor
    DELTA = "delta"  # only what was added, changed or cancelled since the last snapshot
    NO_CHANGES = "no_changes"  # nothing to send; no mail, no snapshot


class LineChange(StrEnum):
    ADDED = "added"
    CHANGED = "changed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class BatchResult:
    """What `send_batch` did; `message_id` is the queued outbox row (None when nothing was sent)."""

    kind: BatchKind
    vendor_name: str
    rows: int
    added: int
    changed: int
    cancelled: int
    orders: int
    message_id: int | None
    snapshot_id: int | None

    @property
    def message(self) -> str:
        if self.kind == BatchKind.NO_CHANGES:
            return f"Nothing has changed since the last list sent to {self.vendor_name}; no mail was sent."
        if self.kind == BatchKind.FULL:
            return (f"The full list ({counted(self.rows, 'line item')} in {counted(self.orders, 'order')}) is "
                    f"queued for {self.vendor_name}.")
        return (f"The changes ({self.added} added, {self.changed} changed, {self.cancelled} cancelled) are queued "
                f"for {self.vendor_name}.")


@dataclass(frozen=True)
class DueBatch:
    event_id: int
    vendor_id: int


@dataclass(frozen=True)
class ExportVendor:
    """A vendor that gets items of the event; `batch` vendors can be sent their list from the Exports page."""

    id: int
    name: str
    mode: VendorMode

    @property
    def batch(self) -> bool:
        return self.mode == VendorMode.BATCH


@dataclass(frozen=True, eq=False)
class ExportsOverview:
    """What the Exports page shows besides the files: the event's vendors and what was sent to them."""

    event_id: int
    slug: str
    timezone: str
    vendors: tuple[ExportVendor, ...]
    history: pd.DataFrame


def exports_overview(session: Session, actor: Actor, event_id: int) -> ExportsOverview:
    """The event's vendors (those with items routed to them) and the history of batches sent."""
    event = get_event_for(session, actor, event_id, Permission.ORDERS_EXPORT)
    vendors = session.execute(
        select(Vendor.id, Vendor.name, Vendor.mode)
        .where(Vendor.id.in_(select(Item.vendor_id).where(Item.event_id == event.id)))
        .order_by(Vendor.name, Vendor.id)
    ).all()
    return ExportsOverview(event_id=event.id, slug=event.slug, timezone=event.timezone,
                           vendors=tuple(ExportVendor(v.id, v.name, v.mode) for v in vendors),
                           history=export_history(session, actor, event.id))


def send_batch(session: Session, actor: Actor | None, event_id: int, vendor_id: int, now: datetime, *,
               full: bool = False) -> BatchResult:
    """Queue a batch vendor's spreadsheet: all its line items the first time, then only what changed.

    Freezes a snapshot of the vendor's lines, queues a VENDOR_BATCH mail with the XLSX attached (only the
    fields the vendor may see), records the disclosures and audits `vendor.batch_sent`. A later call sends a
    Changes sheet of lines added, changed (variant or quantity) or cancelled since the last snapshot; when
    nothing changed it sends nothing and records nothing. Moves along the fulfilment steps are not news to
    the vendor and are not sent; cancelling is. `full` sends the whole current list again (the organiser's
    "send the full list again", audited with `resend`), and later deltas compare against it.
    A None actor is the system (the cutoff timer). Raises PermissionDenied,
    NotFound, or DomainError for a vendor that is not a batch vendor or has no email address.
    """
    if actor is not None:
        require(session, actor, Permission.ORDERS_EXPORT, event_id)
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound("There is no such event.")
    # Locks the vendor row (PostgreSQL; SQLite writers are serial anyway), so two timers or a timer and a click
    # cannot both send the first full list: the second waits, then finds the first's snapshot.
    session.execute(select(Vendor.id).where(Vendor.id == vendor_id).with_for_update())
    previous = _last_snapshot(session, event, vendor_id)
    # A vendor whose items all went elsewhere since its last list still gets told they are cancelled.
    vendor = session.get(Vendor, vendor_id) if previous is not None else routed_vendor(session, event, vendor_id)
    if vendor is None:
        raise NotFound("This vendor gets no items of this event.")
    if vendor.mode != VendorMode.BATCH:
        raise DomainError(f"{vendor.name} gets each order as it arrives; only batch vendors are sent a list.")
    recipients = [str(e).strip() for e in vendor.emails if str(e).strip()]
    if not recipients:
        raise DomainError(f"{vendor.name} has no email address; add one before sending.")
    conditions, vendor_lines = [Order.event_id == event.id], vendor_line_condition(event, vendor.id)
    lines, current = _current_lines(session, event, vendor.id)
    orders = order_rows(session, conditions, vendor_lines)
    active = {line_id: sent for line_id, sent in current.items() if sent["status"] != OrderStatus.CANCELLED}
    summary = summary_sheet(session, event, lines)
    if previous is None or full:
        kind = BatchKind.FULL
        shown = lines[lines["status"] != OrderStatus.CANCELLED.value]
        sheet, disclosed = vendor_line_items(session, event, vendor, lines, shown["line_id"].tolist(), orders)
        sheets = {SHEET_LINES: sheet, SHEET_SUMMARY: summary}
        counts = {LineChange.ADDED: len(sheet), LineChange.CHANGED: 0, LineChange.CANCELLED: 0}
        rows = len(sheet)
    else:
        changes, was = _changes(previous.lines, current, _updated_line_ids(session, lines, previous, vendor))
        if not changes:
            return BatchResult(kind=BatchKind.NO_CHANGES, vendor_name=vendor.name, rows=0, added=0, changed=0,
                               cancelled=0, orders=0, message_id=None, snapshot_id=None)
        kind = BatchKind.DELTA
        sheet, disclosed = _delta_sheet(session, event, vendor, lines, orders, previous.lines, was, changes)
        sheets = {SHEET_CHANGES: sheet, SHEET_SUMMARY: summary}
        counts = {change: sum(1 for c in changes.values() if c == change) for change in LineChange}
        rows = len(sheet)
    told = len({order_id for order_ids in disclosed.values() for order_id in order_ids})
    attachment = (export_filename(event.slug, f"vendor-{vendor.id}-{'full' if kind == BatchKind.FULL else 'changes'}",
                            "xlsx", now), write_xlsx(sheets))
    message = enqueue_message(
        session, kind=MessageKind.VENDOR_BATCH, recipients=recipients,
        subject=_subject(event, vendor, kind),
        body_text=_body(event, vendor, kind, rows, counts, previous, portal_link_paragraph(session, event.id, vendor.id)),
        event_id=event.id, vendor_id=vendor.id, attachment=attachment)
    for fields, order_ids in disclosed.items():
        ordered = sorted(order_ids)
        for start in range(0, len(ordered), DISCLOSURE_CHUNK):
            record_disclosure(session, vendor, ordered[start:start + DISCLOSURE_CHUNK], list(fields), message)
            session.flush()  # flushed rows leave the session's memory: 100k ORM objects would not
    snapshot = VendorSnapshot(event_id=event.id, vendor_id=vendor.id, lines=active, is_delta=kind == BatchKind.DELTA,
                              message_id=message.id, actor=actor.username if actor else audit.SYSTEM, rows=rows,
                              frozen_at=now)
    session.add(snapshot)
    session.flush()
    audit.record(session, actor, "vendor.batch_sent", event=event, subject=f"vendor:{vendor.id}",
                 details={"vendor_id": vendor.id, "kind": kind.value, "rows": rows, "orders": told,
                          "added": counts[LineChange.ADDED], "changed": counts[LineChange.CHANGED],
                          "cancelled": counts[LineChange.CANCELLED], "message_id": message.id,
                          "snapshot_id": snapshot.id, **({"resend": True} if full and previous else {})})
    return BatchResult(kind=kind, vendor_name=vendor.name, rows=rows, added=counts[LineChange.ADDED],
                       changed=counts[LineChange.CHANGED], cancelled=counts[LineChange.CANCELLED], orders=told,
                       message_id=message.id, snapshot_id=snapshot.id)


def due_batches(session: Session, now: datetime) -> list[DueBatch]:
    """(event, batch vendor) pairs whose vendor cutoff has passed and that were never sent a list.

    For the timer, which acts as the system; archived and purged events are left out. Vendors without an email
    are listed too: `send_batch` refuses them with a message the timer should pass on to the organisers.
    """
    sent = exists().where(VendorSnapshot.event_id == Event.id, VendorSnapshot.vendor_id == Vendor.id)
    pairs = session.execute(
        select(Event.id, Vendor.id).distinct()
        .join(Item, Item.event_id == Event.id).join(Vendor, Vendor.id == Item.vendor_id)
        .where(Event.vendor_cutoff_at.is_not(None), Event.vendor_cutoff_at <= now, Event.archived_at.is_(None),
               Event.purged_at.is_(None),
               Vendor.mode == VendorMode.BATCH, ~sent)
        .order_by(Event.id, Vendor.id)
    ).all()
    return [DueBatch(event_id, vendor_id) for event_id, vendor_id in pairs]


@dataclass(frozen=True)
class VendorSendState:
    """A batch vendor of an event on the dashboard: what it was last sent, when, and how many lines changed since.

    `waiting` counts the lines the next send would carry (the whole list when none was sent yet); `last_sent_at`
    is in the event's time zone.
    """

    vendor_id: int
    name: str
    last_sent_at: datetime | None
    last_kind: BatchKind | None
    last_rows: int
    mail_status: str | None
    waiting: int
    cutoff_passed: bool

    @property
    def message(self) -> str:
        if self.last_sent_at is None:
            when = "at the vendor cutoff" if not self.cutoff_passed else "by the timer's next run"
            return f"{self.name}: not sent a list yet; {counted(self.waiting, 'line item')} go out {when}."
        what = "the full list" if self.last_kind == BatchKind.FULL else "changes"
        sent = (f"{self.name}: last sent {what} ({counted(self.last_rows, 'row')}) on "
                f"{self.last_sent_at:%a %d %b %Y, %H:%M}, mail {self.mail_status or 'deleted'}.")
        if not self.waiting:
            return f"{sent} No changes waiting."
        then = "the timer's next run sends them" if self.cutoff_passed else "they go out after the vendor cutoff"
        return f"{sent} {counted(self.waiting, 'changed line')} waiting; {then}."


def vendor_send_states(session: Session, actor: Actor, event_id: int, now: datetime) -> tuple[VendorSendState, ...]:
    """Per batch vendor of the event (routed to now, or sent a list before): the last send and changes waiting.

    Reads order lines and when orders changed, never their answers. Raises PermissionDenied or NotFound.
    """
    event = get_event_for(session, actor, event_id, Permission.ORDERS_VIEW)
    routed = select(Item.vendor_id).where(Item.event_id == event.id)
    sent = select(VendorSnapshot.vendor_id).where(VendorSnapshot.event_id == event.id)
    vendors = session.scalars(select(Vendor).where(Vendor.mode == VendorMode.BATCH,
                                                   Vendor.id.in_(routed.union(sent)))
                              .order_by(Vendor.name, Vendor.id)).all()
    states = []
    cutoff_passed = event.vendor_cutoff_at is not None and event.vendor_cutoff_at <= now
    for vendor in vendors:
        previous = _last_snapshot(session, event, vendor.id)
        lines, current = _current_lines(session, event, vendor.id)
        if previous is None:
            waiting = sum(1 for line in current.values() if line["status"] != OrderStatus.CANCELLED)
            states.append(VendorSendState(vendor.id, vendor.name, None, None, 0, None, waiting, cutoff_passed))
            continue
        changes, _ = _changes(previous.lines, current, _updated_line_ids(session, lines, previous, vendor))
        mail = session.scalar(select(OutboxMessage.status).where(OutboxMessage.id == previous.message_id)) \
            if previous.message_id is not None else None
        states.append(VendorSendState(
            vendor.id, vendor.name, previous.frozen_at.astimezone(ZoneInfo(event.timezone)),
            BatchKind.DELTA if previous.is_delta else BatchKind.FULL, previous.rows,
            mail.value if mail is not None else None, len(changes), cutoff_passed))
    return tuple(states)


def batches_after_cutoff(session: Session, now: datetime) -> list[DueBatch]:
    """(event, batch vendor) pairs whose cutoff has passed and that were sent a list: the timer calls `send_batch`
    for each on every run, which sends what changed since and nothing when nothing did.

    A vendor whose items all went elsewhere is still listed: its lines go out as cancelled.
    """
    pairs = session.execute(
        select(VendorSnapshot.event_id, VendorSnapshot.vendor_id).distinct()
        .join(Event, Event.id == VendorSnapshot.event_id).join(Vendor, Vendor.id == VendorSnapshot.vendor_id)
        .where(Event.vendor_cutoff_at.is_not(None), Event.vendor_cutoff_at <= now, Event.archived_at.is_(None),
               Event.purged_at.is_(None), Vendor.mode == VendorMode.BATCH)
        .order_by(VendorSnapshot.event_id, VendorSnapshot.vendor_id)
    ).all()
    return [DueBatch(event_id, vendor_id) for event_id, vendor_id in pairs]


def export_history(session: Session, actor: Actor, event_id: int) -> pd.DataFrame:
    """The lists sent to the event's batch vendors, newest first: Sent (the event's wall-clock time), Vendor,
    Kind (full/delta), Rows, Mail (the outbox status) and By."""
    event = get_event_for(session, actor, event_id, Permission.ORDERS_EXPORT)
    found = session.execute(
        select(VendorSnapshot.frozen_at, Vendor.name, VendorSnapshot.is_delta, VendorSnapshot.rows,
               OutboxMessage.status, VendorSnapshot.actor)
        .outerjoin(Vendor, Vendor.id == VendorSnapshot.vendor_id)
        .outerjoin(OutboxMessage, OutboxMessage.id == VendorSnapshot.message_id)
        .where(VendorSnapshot.event_id == event.id)
        .order_by(VendorSnapshot.frozen_at.desc(), VendorSnapshot.id.desc())
    ).all()
    return pd.DataFrame({
        "Sent": local_times([row.frozen_at for row in found], event.timezone),
        "Vendor": pd.Series([row.name if row.name is not None else "(deleted vendor)" for row in found], dtype="str"),
        "Kind": pd.Series([BatchKind.DELTA.value if row.is_delta else BatchKind.FULL.value for row in found],
                          dtype="str"),
        "Rows": pd.Series([row.rows for row in found], dtype="int64"),
        "Mail": pd.Series([row.status.value if row.status is not None else "deleted" for row in found], dtype="str"),
        "By": pd.Series([row.actor for row in found], dtype="str"),
    })


def _current_lines(session: Session, event: Event, vendor_id: int) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """The vendor's lines in the event (no personal data), and their fingerprints by line id."""
    lines = line_frame(session, event, [Order.event_id == event.id], vendor_line_condition(event, vendor_id))
    return lines, {str(row.line_id): _fingerprint(row) for row in lines.itertuples()}


def _last_snapshot(session: Session, event: Event, vendor_id: int) -> VendorSnapshot | None:
    return session.scalars(
        select(VendorSnapshot).where(VendorSnapshot.event_id == event.id, VendorSnapshot.vendor_id == vendor_id)
        .order_by(VendorSnapshot.id.desc()).limit(1)  # ids, not times: the caller chooses `now`
    ).first()


def _fingerprint(row: Any) -> dict[str, Any]:
    # What decides a change (variant, quantity, status), plus the labels to describe the line if it disappears.
    return {"reference": row.reference, "item": row.item_name, "item_key": row.item_key,
            "variant": row.variant_label, "variant_key": row.variant_key, "quantity": int(row.quantity),
            "status": row.status}


def _updated_line_ids(session: Session, lines: pd.DataFrame, previous: VendorSnapshot, vendor: Vendor) -> set[str]:
    """Lines of orders their attendee changed since `previous` was sent, for a vendor that sees some of their
    answers: the snapshot holds no personal data to compare, so such a line is sent again with what it shows now.
    """
    if not vendor.visible_fields or lines.empty:
        return set()
    changed_orders = set(session.scalars(select(Order.id).where(
        Order.id.in_(sorted({int(i) for i in lines["order_id"]})), Order.changed_at.is_not(None),
        Order.changed_at > previous.frozen_at)))
    return {str(line_id) for line_id, order_id in zip(lines["line_id"], lines["order_id"], strict=True)
            if int(order_id) in changed_orders}


def _changes(
    before: Mapping[str, Any], current: Mapping[str, Mapping[str, Any]], updated: AbstractSet[str] = frozenset(),
) -> tuple[dict[str, LineChange], dict[str, Mapping[str, Any]]]:
    """Line id -> what happened to it since `before` (which holds only lines that were not cancelled), and for
    changed lines what they were (`updated`: lines whose order's answers changed since).

    An attendee who changes a size replaces the line (core/lookup.py keeps only lines whose variant stays): a
    line gone and a line added of the same order and item is one line changed, with its old variant as Before.
    """
    changes: dict[str, LineChange] = {}
    was: dict[str, Mapping[str, Any]] = {}
    for line_id, now in current.items():
        old = before.get(line_id)
        cancelled = now["status"] == OrderStatus.CANCELLED
        if old is None:
            if not cancelled:
                changes[line_id] = LineChange.ADDED
        elif cancelled:
            changes[line_id] = LineChange.CANCELLED
        elif (now["variant_key"], now["quantity"]) != (old.get("variant_key"), old.get("quantity")) \
                or line_id in updated:
            changes[line_id], was[line_id] = LineChange.CHANGED, old
    # Gone altogether (deleted, or its item now goes to another vendor): the vendor should not make it.
    added = {(current[i]["reference"], _item_of(current[i])): i for i, c in changes.items() if c == LineChange.ADDED}
    for line_id, old in before.items():
        if line_id in current:
            continue
        replacement = added.pop((old.get("reference"), _item_of(old)), None)
        if replacement is not None:
            changes[replacement], was[replacement] = LineChange.CHANGED, old
        else:
            changes[line_id] = LineChange.CANCELLED
    return changes, was


def _item_of(fingerprint: Mapping[str, Any]) -> str:
    # Snapshots from before item keys were kept name the item only.
    return str(fingerprint.get("item_key") or fingerprint.get("item"))


def _delta_sheet(
    session: Session, event: Event, vendor: Vendor, lines: pd.DataFrame, orders: Mapping[int, Any],
    before: Mapping[str, Any], was: Mapping[str, Mapping[str, Any]], changes: Mapping[str, LineChange],
) -> tuple[pd.DataFrame, dict[tuple[str, ...], set[int]]]:
    """The Changes sheet: Change, the vendor's line columns and fields, and Before for changed lines.

    A cancelled line shows no personal fields: the vendor needs only to know what not to make.
    """
    present = [line_id for line_id in lines["line_id"].tolist() if str(line_id) in changes]
    lines_now = {int(row.line_id): (row.variant_key, int(row.quantity)) for row in lines.itertuples()}
    told = [line_id for line_id in present if changes[str(line_id)] != LineChange.CANCELLED]
    sheet, disclosed = vendor_line_items(session, event, vendor, lines, present, orders, disclose=told)
    sheet.insert(0, CHANGE, pd.Series([changes[str(i)].value for i in present], dtype="str"))
    sheet[BEFORE] = pd.Series([_before(was[str(i)], lines_now.get(i)) if changes[str(i)] == LineChange.CHANGED
                               else None for i in present], dtype="object")
    listed = {str(i) for i in present}
    gone = [line_id for line_id, change in changes.items() if line_id not in listed and change == LineChange.CANCELLED]
    if gone:
        rows = pd.DataFrame({CHANGE: [LineChange.CANCELLED.value] * len(gone),
                             REFERENCE: [before[i]["reference"] for i in gone],
                             ITEM: [before[i]["item"] for i in gone],
                             VARIANT: [before[i]["variant"] for i in gone],
                             QUANTITY: [before[i]["quantity"] for i in gone],
                             STATUS: [STATUS_LABELS[OrderStatus.CANCELLED]] * len(gone)})
        sheet = pd.concat([sheet, rows], ignore_index=True)[list(sheet.columns)]
    return sheet, disclosed


def _before(was: Mapping[str, Any], now: tuple[str, int] | None) -> str:
    if now is not None and now == (was.get("variant_key"), was.get("quantity")):
        return "Same line; the order's details were updated"
    variant = was.get("variant") or ""
    return f"{was.get('quantity')} × {was.get('item')}" + (f" ({variant})" if variant else "")


def _subject(event: Event, vendor: Vendor, kind: BatchKind) -> str:
    what = "all line items" if kind == BatchKind.FULL else "changes to your list"
    subject = f"{event.title}: {what} for {vendor.name}"
    return " ".join(subject.split())[:300]  # no line breaks: they would inject mail headers


def _body(event: Event, vendor: Vendor, kind: BatchKind, rows: int, counts: Mapping[LineChange, int],
          previous: VendorSnapshot | None, portal: str = "") -> str:
    if kind == BatchKind.FULL:
        what = (f"Attached is the full list of line items for {event.title}: {counted(rows, 'line item')}. "
                "The Summary sheet counts them per item and variant.")
    else:
        assert previous is not None
        when = previous.frozen_at.astimezone(ZoneInfo(event.timezone))
        what = (f"Attached are the changes to the line items for {event.title} since the list of "
                f"{when:%d %B %Y, %H:%M} ({event.timezone}): {counts[LineChange.ADDED]} added, "
                f"{counts[LineChange.CHANGED]} changed and {counts[LineChange.CANCELLED]} cancelled. "
                "The Summary sheet counts all current line items per item and variant.")
    return f"Hello {vendor.name},\n\n{what}\n\n" + (f"{portal}\n\n" if portal else "") + "Thank you.\n"
