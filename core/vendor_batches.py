"""Batch vendors: their spreadsheet of line items at the cutoff, then only what changed, and what was sent.

Each send freezes a snapshot of the vendor's lines (VendorSnapshot); the next one compares against it and sends
a Changes sheet of lines added, changed or cancelled since. The sheets are built by core/exports.py, as the
organiser's own downloads are, and written by core/spreadsheets.py.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from core.spreadsheets import write_xlsx
from core.vendors import record_disclosure

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
            return (f"The full list ({_plural(self.rows, 'line item')} in {_plural(self.orders, 'order')}) is "
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


def send_batch(session: Session, actor: Actor | None, event_id: int, vendor_id: int, now: datetime) -> BatchResult:
    """Queue a batch vendor's spreadsheet: all its line items the first time, then only what changed.

    Freezes a snapshot of the vendor's lines, queues a VENDOR_BATCH mail with the XLSX attached (only the
    fields the vendor may see), records the disclosures and audits `vendor.batch_sent`. A later call sends a
    Changes sheet of lines added, changed (variant or quantity) or cancelled since the last snapshot; when
    nothing changed it sends nothing and records nothing. Moves along the fulfilment steps are not news to
    the vendor and are not sent. A None actor is the system (the cutoff timer). Raises PermissionDenied,
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
    lines = line_frame(session, event, conditions, vendor_lines)
    orders = order_rows(session, conditions, vendor_lines)
    current = {str(row.line_id): _fingerprint(row) for row in lines.itertuples()}
    active = {line_id: sent for line_id, sent in current.items() if sent["status"] != OrderStatus.CANCELLED}
    summary = summary_sheet(session, event, lines)
    if previous is None:
        kind = BatchKind.FULL
        shown = lines[lines["status"] != OrderStatus.CANCELLED.value]
        sheet, disclosed = vendor_line_items(session, event, vendor, lines, shown["line_id"].tolist(), orders)
        sheets = {SHEET_LINES: sheet, SHEET_SUMMARY: summary}
        counts = {LineChange.ADDED: len(sheet), LineChange.CHANGED: 0, LineChange.CANCELLED: 0}
        rows = len(sheet)
    else:
        changes = _changes(previous.lines, current)
        if not changes:
            return BatchResult(kind=BatchKind.NO_CHANGES, vendor_name=vendor.name, rows=0, added=0, changed=0,
                               cancelled=0, orders=0, message_id=None, snapshot_id=None)
        kind = BatchKind.DELTA
        sheet, disclosed = _delta_sheet(session, event, vendor, lines, orders, previous.lines, changes)
        sheets = {SHEET_CHANGES: sheet, SHEET_SUMMARY: summary}
        counts = {change: sum(1 for c in changes.values() if c == change) for change in LineChange}
        rows = len(sheet)
    told = len({order_id for order_ids in disclosed.values() for order_id in order_ids})
    attachment = (export_filename(event.slug, f"vendor-{vendor.id}-{'full' if kind == BatchKind.FULL else 'changes'}",
                            "xlsx", now), write_xlsx(sheets))
    message = enqueue_message(
        session, kind=MessageKind.VENDOR_BATCH, recipients=recipients,
        subject=_subject(event, vendor, kind), body_text=_body(event, vendor, kind, rows, counts, previous),
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
                          "snapshot_id": snapshot.id})
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


def _last_snapshot(session: Session, event: Event, vendor_id: int) -> VendorSnapshot | None:
    return session.scalars(
        select(VendorSnapshot).where(VendorSnapshot.event_id == event.id, VendorSnapshot.vendor_id == vendor_id)
        .order_by(VendorSnapshot.id.desc()).limit(1)  # ids, not times: the caller chooses `now`
    ).first()


def _fingerprint(row: Any) -> dict[str, Any]:
    # What decides a change (variant, quantity, status), plus the labels to describe the line if it disappears.
    return {"reference": row.reference, "item": row.item_name, "variant": row.variant_label,
            "variant_key": row.variant_key, "quantity": int(row.quantity), "status": row.status}


def _changes(before: Mapping[str, Any], current: Mapping[str, Mapping[str, Any]]) -> dict[str, LineChange]:
    """Line id -> what happened to it since `before` (which holds only lines that were not cancelled)."""
    changes: dict[str, LineChange] = {}
    for line_id, now in current.items():
        was = before.get(line_id)
        cancelled = now["status"] == OrderStatus.CANCELLED
        if was is None:
            if not cancelled:
                changes[line_id] = LineChange.ADDED
        elif cancelled:
            changes[line_id] = LineChange.CANCELLED
        elif (now["variant_key"], now["quantity"]) != (was.get("variant_key"), was.get("quantity")):
            changes[line_id] = LineChange.CHANGED
    # Gone altogether (deleted, or its item now goes to another vendor): the vendor should not make it.
    for line_id in before:
        if line_id not in current:
            changes[line_id] = LineChange.CANCELLED
    return changes


def _delta_sheet(
    session: Session, event: Event, vendor: Vendor, lines: pd.DataFrame, orders: Mapping[int, Any],
    before: Mapping[str, Any], changes: Mapping[str, LineChange],
) -> tuple[pd.DataFrame, dict[tuple[str, ...], set[int]]]:
    """The Changes sheet: Change, the vendor's line columns and fields, and Before for changed lines.

    A cancelled line shows no personal fields: the vendor needs only to know what not to make.
    """
    present = [line_id for line_id in lines["line_id"].tolist() if str(line_id) in changes]
    told = [line_id for line_id in present if changes[str(line_id)] != LineChange.CANCELLED]
    sheet, disclosed = vendor_line_items(session, event, vendor, lines, present, orders, disclose=told)
    sheet.insert(0, CHANGE, pd.Series([changes[str(i)].value for i in present], dtype="str"))
    sheet[BEFORE] = pd.Series([_before(before[str(i)]) if changes[str(i)] == LineChange.CHANGED else None
                               for i in present], dtype="object")
    listed = {str(i) for i in present}
    gone = [line_id for line_id in changes if line_id not in listed]
    if gone:
        rows = pd.DataFrame({CHANGE: [LineChange.CANCELLED.value] * len(gone),
                             REFERENCE: [before[i]["reference"] for i in gone],
                             ITEM: [before[i]["item"] for i in gone],
                             VARIANT: [before[i]["variant"] for i in gone],
                             QUANTITY: [before[i]["quantity"] for i in gone],
                             STATUS: [STATUS_LABELS[OrderStatus.CANCELLED]] * len(gone)})
        sheet = pd.concat([sheet, rows], ignore_index=True)[list(sheet.columns)]
    return sheet, disclosed


def _before(was: Mapping[str, Any]) -> str:
    variant = was.get("variant") or ""
    return f"{was.get('quantity')} × {was.get('item')}" + (f" ({variant})" if variant else "")


def _subject(event: Event, vendor: Vendor, kind: BatchKind) -> str:
    what = "all line items" if kind == BatchKind.FULL else "changes to your list"
    subject = f"{event.title}: {what} for {vendor.name}"
    return " ".join(subject.split())[:300]  # no line breaks: they would inject mail headers


def _body(event: Event, vendor: Vendor, kind: BatchKind, rows: int, counts: Mapping[LineChange, int],
          previous: VendorSnapshot | None) -> str:
    if kind == BatchKind.FULL:
        what = (f"Attached is the full list of line items for {event.title}: {_plural(rows, 'line item')}. "
                "The Summary sheet counts them per item and variant.")
    else:
        assert previous is not None
        when = previous.frozen_at.astimezone(ZoneInfo(event.timezone))
        what = (f"Attached are the changes to the line items for {event.title} since the list of "
                f"{when:%d %B %Y, %H:%M} ({event.timezone}): {counts[LineChange.ADDED]} added, "
                f"{counts[LineChange.CHANGED]} changed and {counts[LineChange.CANCELLED]} cancelled. "
                "The Summary sheet counts all current line items per item and variant.")
    return f"Hello {vendor.name},\n\n{what}\n\nThank you.\n"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
