"""Exports: an event's orders as spreadsheets (XLSX, CSV) for organisers and vendors, and batch vendor mail.

Frames are built from SQL here and written by one XLSX writer and one CSV writer that share `neutralise`, so
that no text cell can start a formula in a spreadsheet program (DESIGN.md, convention 6).
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd
import xlsxwriter
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, Permission, require
from core.catalogue import NO_VARIANT
from core.errors import DomainError, NotFound, SchemaError
from core.events import get_event_for
from core.forms import FieldType, FormSpec, parse_form_spec
from core.models import (
    Event,
    FormVersion,
    Item,
    MessageKind,
    Order,
    OrderLine,
    OrderPersonalData,
    OrderStatus,
    OutboxMessage,
    Variant,
    Vendor,
    VendorMode,
    VendorSnapshot,
    utcnow,
)
from core.orders import STATUS_LABELS, format_answer
from core.outbox import enqueue_message
from core.vendors import disclosed_fields, record_disclosure

ExportFormat = Literal["xlsx", "csv"]
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPE = "text/csv"
# OWASP's list for CSV injection: a cell starting with one of these is read as a formula by some program.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Excel's last row is 1,048,576; one is the header.
MAX_XLSX_ROWS = 1_048_575

SHEET_ORDERS = "Orders"
SHEET_LINES = "Line items"
SHEET_SUMMARY = "Summary"
SHEET_CHANGES = "Changes"
REFERENCE, PLACED_AT, STATUS, TOTAL = "Reference", "Placed at", "Status", "Total"
ITEM, VARIANT, QUANTITY, UNIT_PRICE = "Item", "Variant", "Quantity", "Unit price"
CHANGE, BEFORE = "Change", "Before"
LINE_COLUMNS = (REFERENCE, ITEM, VARIANT, QUANTITY, UNIT_PRICE, STATUS)
# A vendor sees neither placing times nor prices (what attendees paid is the organiser's business).
VENDOR_LINE_COLUMNS = (REFERENCE, ITEM, VARIANT, QUANTITY, STATUS)
MONEY_COLUMNS = frozenset({UNIT_PRICE, TOTAL})
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DISCLOSURE_CHUNK = 5_000
LINE_CHUNK = 10_000


@dataclass(frozen=True)
class ExportFile:
    """A file to download or attach; `filename` is built from the event slug and a timestamp only."""

    filename: str
    mimetype: str
    data: bytes


@dataclass(frozen=True)
class ExportFilters:
    """What an export is narrowed to; empty values filter nothing.

    `date_from`/`date_to` are inclusive days in the event's time zone; `vendor_id` keeps only the lines of items
    routed to that vendor (and the orders that have such lines).
    """

    statuses: frozenset[OrderStatus] = frozenset()
    date_from: date | None = None
    date_to: date | None = None
    vendor_id: int | None = None


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


# --- neutralising and writing ----------------------------------------------------------------------------------


def neutralise(text: str) -> str:
    """`text` prefixed with a single quote when a spreadsheet program could read it as a formula (OWASP).

    Also when the trigger follows leading whitespace (" =1+1", "\\n=1"): some programs trim cells on import.
    Full-width look-alikes (＝) are left alone: no spreadsheet program we know starts a formula with them.
    """
    if text.startswith(FORMULA_TRIGGERS) or text.lstrip().startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def write_xlsx(sheets: Mapping[str, pd.DataFrame]) -> bytes:
    """An XLSX workbook of `sheets` (name -> frame) with a bold header row; every string is neutralised.

    Written with XlsxWriter directly, cell by cell with an explicit type, so no string can become a formula
    or a link; in constant-memory mode, rows go to a temporary file as they are written (pandas' to_excel
    must not use that mode: it silently drops columns). Raises SchemaError beyond Excel's row limit.
    """
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {
        "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
        "strings_to_numbers": False, "default_date_format": DATETIME_FORMAT,
    })
    bold = workbook.add_format({"bold": True})
    money = workbook.add_format({"num_format": "0.00"})
    for name, frame in sheets.items():
        if len(frame) > MAX_XLSX_ROWS:
            raise SchemaError(f"The sheet {name} would have {len(frame):,} rows; Excel takes at most "
                              f"{MAX_XLSX_ROWS:,}. Narrow the export with the filters.")
        sheet = workbook.add_worksheet(name)
        headers = [neutralise(str(column)) for column in frame.columns]
        columns = [_plain_values(frame[column]) for column in frame.columns]
        for index, header in enumerate(headers):
            sample = (len(str(v)) for v in columns[index][:200] if v is not None)
            width = min(max([len(header), *sample], default=8) + 2, 60)
            sheet.set_column(index, index, width, money if header in MONEY_COLUMNS else None)
            sheet.write_string(0, index, header, bold)
        sheet.freeze_panes(1, 0)
        write_string, write_number, write_datetime = sheet.write_string, sheet.write_number, sheet.write_datetime
        formats = [money if header in MONEY_COLUMNS else None for header in headers]
        for row, values in enumerate(zip(*columns, strict=True), start=1):
            for index, value in enumerate(values):
                kind = type(value)
                if kind is str:
                    write_string(row, index, value)
                elif kind is int or kind is float:
                    write_number(row, index, value, formats[index])
                elif kind is datetime:
                    write_datetime(row, index, value)
                elif value is not None:  # None is a blank cell, which constant-memory mode need not write
                    raise TypeError(f"cannot write {kind.__name__} to a spreadsheet")
    workbook.close()
    return buffer.getvalue()


def write_csv(frame: pd.DataFrame) -> bytes:
    """`frame` as UTF-8 CSV with a byte order mark (so Excel reads accents); every string is neutralised.

    Text is quoted and numbers are not, so numbers stay numbers and a locale that splits on ";" still sees
    one field per cell.
    """
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    writer.writerow([neutralise(str(column)) for column in frame.columns])
    columns = [[v.isoformat(sep=" ", timespec="seconds") if type(v) is datetime else ("" if v is None else v)
                for v in _plain_values(frame[column])] for column in frame.columns]
    writer.writerows(zip(*columns, strict=True))
    return text.getvalue().encode("utf-8-sig")


def _plain_values(series: pd.Series) -> list[Any]:
    """The column's cells as None, int, float, naive datetime or neutralised str (both writers take these)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return ["Yes" if v else "No" for v in series.tolist()]
    if pd.api.types.is_numeric_dtype(series.dtype):
        return [None if v is None or v is pd.NA or (type(v) is float and math.isnan(v)) else v
                for v in series.tolist()]
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return [None if pd.isna(v) else v.to_pydatetime() for v in series.tolist()]
    return [_plain(v) for v in series.tolist()]


def _plain(value: object) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return neutralise(value) if value else None
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, (numbers.Real, Decimal)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError("convert times to the event's wall-clock time before exporting them")
        return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
    return neutralise(format_answer(value))


# --- organiser exports -----------------------------------------------------------------------------------------


def order_sheets(session: Session, actor: Actor, event_id: int, filters: ExportFilters) -> dict[str, pd.DataFrame]:
    """The frames of an organiser's export: Orders, Line items and Summary (see `export_orders`).

    Raises PermissionDenied, NotFound for an unknown event or a vendor without items in it, SchemaError for a
    bad date range.
    """
    event = get_event_for(session, actor, event_id, Permission.ORDERS_EXPORT)
    vendor = _routed_vendor(session, event, filters.vendor_id) if filters.vendor_id is not None else None
    conditions = _order_conditions(event, filters)
    line_condition = _vendor_lines(event, vendor.id) if vendor else None
    # Lines before orders: an order committed in between (PostgreSQL reads each statement afresh) then only
    # adds a row to Orders, and never leaves a line without its order.
    lines = _line_frame(session, event, conditions, line_condition)
    orders = list(_order_rows(session, conditions, line_condition).values())
    forms = _form_specs(session, event.id)
    columns = _answer_columns(forms, {key for spec in forms.values() if spec for key in _answer_keys(spec)})
    totals = (lines["quantity"] * lines["unit_price"]).groupby(lines["order_id"]).sum(min_count=1)
    unpriced = set(lines.loc[lines["unit_price"].isna(), "order_id"].tolist())
    frame: dict[str, pd.Series] = {
        REFERENCE: pd.Series([o.reference for o in orders], dtype="str"),
        PLACED_AT: _local_times([o.created_at for o in orders], event.timezone),
        STATUS: pd.Series([STATUS_LABELS[o.status] for o in orders], dtype="str"),
        # An order with an unpriced line has no total, rather than a misleadingly low one.
        TOTAL: pd.Series([math.nan if o.id in unpriced else round(float(totals.get(o.id, 0.0)), 2) for o in orders],
                         dtype="float64"),
    }
    for key, header in columns:
        frame[header] = pd.Series([_answer(o, key) for o in orders], dtype="object")
    return {
        SHEET_ORDERS: pd.DataFrame(frame, columns=list(frame)),
        SHEET_LINES: _line_items(lines, LINE_COLUMNS),
        SHEET_SUMMARY: _summary(session, event, lines),
    }


def export_orders(
    session: Session, actor: Actor, event_id: int, filters: ExportFilters, fmt: ExportFormat
) -> ExportFile:
    """The event's orders as XLSX (sheets Orders, Line items, Summary) or CSV (the line items only, one file).

    Orders has one row per order: reference, placed at (the event's wall-clock time: Excel has no time zones),
    status, total of the exported lines, and every answer, personal ones included. Line items has one row per
    item and variant of an order. Summary pivots quantities per item and variant, with totals, leaving out
    cancelled orders. Audited as `orders.exported` (filters and counts only). Raises as `order_sheets` does.
    """
    _check_format(fmt)
    sheets = order_sheets(session, actor, event_id, filters)
    event = session.get_one(Event, event_id)
    if fmt == "xlsx":
        file = ExportFile(_filename(event.slug, "orders", "xlsx"), XLSX_MIMETYPE, write_xlsx(sheets))
    else:
        file = ExportFile(_filename(event.slug, "line-items", "csv"), CSV_MIMETYPE, write_csv(sheets[SHEET_LINES]))
    audit.record(session, actor, "orders.exported", event=event, subject=f"event:{event.slug}",
                 details={"format": fmt, "filters": _filter_details(filters), "orders": len(sheets[SHEET_ORDERS]),
                          "lines": len(sheets[SHEET_LINES])})
    return file


def vendor_export(
    session: Session, actor: Actor, event_id: int, vendor_id: int, filters: ExportFilters = ExportFilters(),
    fmt: ExportFormat = "xlsx",
) -> ExportFile:
    """What the vendor may see: only the lines of items routed to it, and only the order fields it may see.

    XLSX has sheets Line items (reference, item, variant, quantity, status and the vendor's fields) and
    Summary; CSV the line items. `filters.vendor_id` is ignored. Audited as `orders.exported`; a download is
    not a disclosure (only `send_batch` knows the vendor received it). Raises as `order_sheets` does.
    """
    _check_format(fmt)
    event = get_event_for(session, actor, event_id, Permission.ORDERS_EXPORT)
    vendor = _routed_vendor(session, event, vendor_id)
    conditions = _order_conditions(event, filters)
    vendor_lines = _vendor_lines(event, vendor.id)
    lines = _line_frame(session, event, conditions, vendor_lines)
    orders = _order_rows(session, conditions, vendor_lines)
    sheet = _vendor_line_items(session, event, vendor, lines, lines["line_id"].tolist(), orders)[0]
    if fmt == "xlsx":
        data = write_xlsx({SHEET_LINES: sheet, SHEET_SUMMARY: _summary(session, event, lines)})
        file = ExportFile(_filename(event.slug, f"vendor-{vendor.id}", "xlsx"), XLSX_MIMETYPE, data)
    else:
        file = ExportFile(_filename(event.slug, f"vendor-{vendor.id}-line-items", "csv"), CSV_MIMETYPE,
                          write_csv(sheet))
    audit.record(session, actor, "orders.exported", event=event, subject=f"vendor:{vendor.id}",
                 details={"format": fmt, "filters": _filter_details(filters), "vendor_view": True,
                          "vendor_id": vendor.id, "orders": int(lines["order_id"].nunique()), "lines": len(lines)})
    return file


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


# --- batch vendors ---------------------------------------------------------------------------------------------


def send_batch(session: Session, actor: Actor | None, event_id: int, vendor_id: int, now: datetime) -> BatchResult:
    """Queue a batch vendor's spreadsheet: all its line items the first time, then only what changed.

    Freezes a snapshot of the vendor's lines, queues a VENDOR_BATCH mail with the XLSX attached (only the
    fields the vendor may see), records the disclosures and audits `vendor.batch_sent`. A later call sends a
    Changes sheet of lines added, changed (variant or quantity) or cancelled since the last snapshot; when
    nothing changed it sends nothing and records nothing. Moves along the fulfilment steps are not news to
    the vendor and are not sent. `actor` None means the system (the cutoff timer). Raises PermissionDenied,
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
    vendor = session.get(Vendor, vendor_id) if previous is not None else _routed_vendor(session, event, vendor_id)
    if vendor is None:
        raise NotFound("This vendor gets no items of this event.")
    if vendor.mode != VendorMode.BATCH:
        raise DomainError(f"{vendor.name} gets each order as it arrives; only batch vendors are sent a list.")
    recipients = [str(e).strip() for e in vendor.emails if str(e).strip()]
    if not recipients:
        raise DomainError(f"{vendor.name} has no email address; add one before sending.")
    conditions, vendor_lines = [Order.event_id == event.id], _vendor_lines(event, vendor.id)
    lines = _line_frame(session, event, conditions, vendor_lines)
    orders = _order_rows(session, conditions, vendor_lines)
    current = {str(row.line_id): _fingerprint(row) for row in lines.itertuples()}
    active = {line_id: sent for line_id, sent in current.items() if sent["status"] != OrderStatus.CANCELLED}
    summary = _summary(session, event, lines)
    if previous is None:
        kind = BatchKind.FULL
        shown = lines[lines["status"] != OrderStatus.CANCELLED.value]
        sheet, disclosed = _vendor_line_items(session, event, vendor, lines, shown["line_id"].tolist(), orders)
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
    attachment = (_filename(event.slug, f"vendor-{vendor.id}-{'full' if kind == BatchKind.FULL else 'changes'}",
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
        "Sent": _local_times([row.frozen_at for row in found], event.timezone),
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
    sheet, disclosed = _vendor_line_items(session, event, vendor, lines, present, orders, disclose=told)
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


# --- building the frames ---------------------------------------------------------------------------------------


def _check_format(fmt: str) -> None:
    if fmt not in ("xlsx", "csv"):
        raise ValueError(f"unknown export format {fmt!r}")


def _filename(slug: str, what: str, extension: str, now: datetime | None = None) -> str:
    # The slug matched core.events.SLUG and `what` is ours: no user text reaches a file name.
    stamp = (now or utcnow()).astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{slug}-{what}-{stamp}.{extension}"


def _filter_details(filters: ExportFilters) -> dict[str, Any]:
    return {"statuses": sorted(s.value for s in filters.statuses),
            "date_from": filters.date_from.isoformat() if filters.date_from else None,
            "date_to": filters.date_to.isoformat() if filters.date_to else None, "vendor_id": filters.vendor_id}


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _routed_vendor(session: Session, event: Event, vendor_id: int | None) -> Vendor:
    """The vendor, if the event routes items to it; NotFound otherwise (another organiser's vendors stay hidden)."""
    routed = select(Item.id).where(Item.event_id == event.id, Item.vendor_id == vendor_id).exists()
    vendor = session.get(Vendor, vendor_id) if vendor_id is not None else None
    if vendor is None or not session.scalar(select(routed)):
        raise NotFound("This vendor gets no items of this event.")
    return vendor


def _order_conditions(event: Event, filters: ExportFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Order.event_id == event.id]
    if filters.statuses:
        conditions.append(Order.status.in_(sorted(filters.statuses)))
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise SchemaError("The first day is after the last day.")
    zone = ZoneInfo(event.timezone)
    if filters.date_from:
        conditions.append(Order.created_at >= datetime.combine(filters.date_from, time(), zone).astimezone(UTC))
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), zone).astimezone(UTC)
        conditions.append(Order.created_at < end)
    return conditions


def _vendor_lines(event: Event, vendor_id: int) -> ColumnElement[bool]:
    return OrderLine.item_id.in_(select(Item.id).where(Item.event_id == event.id, Item.vendor_id == vendor_id))


def _line_frame(session: Session, event: Event, conditions: Sequence[ColumnElement[bool]],
                line_condition: ColumnElement[bool] | None) -> pd.DataFrame:
    """The matching order lines, in the order they were placed, with the columns everything else builds on."""
    result = session.execute(
        select(OrderLine.id, OrderLine.order_id, Order.reference, Order.status, OrderLine.item_key,
               OrderLine.item_name, OrderLine.variant_key, OrderLine.variant_label, OrderLine.quantity,
               OrderLine.unit_price)
        .join(Order, Order.id == OrderLine.order_id)
        .where(*conditions, *([line_condition] if line_condition is not None else []))
        .order_by(Order.created_at, Order.id, OrderLine.id)
        .execution_options(yield_per=LINE_CHUNK)
    )
    # In chunks: 100k rows as Python objects at once would take more memory than the whole frame.
    chunks = [_line_chunk(rows) for rows in result.partitions()]
    return pd.concat(chunks, ignore_index=True) if chunks else _line_chunk([])


def _line_chunk(found: Sequence[Any]) -> pd.DataFrame:
    return pd.DataFrame({
        "line_id": pd.Series([r.id for r in found], dtype="int64"),
        "order_id": pd.Series([r.order_id for r in found], dtype="int64"),
        "reference": pd.Series([r.reference for r in found], dtype="str"),
        "status": pd.Series([r.status.value for r in found], dtype="str"),
        "item_key": pd.Series([r.item_key for r in found], dtype="str"),
        "item_name": pd.Series([r.item_name for r in found], dtype="str"),
        "variant_key": pd.Series([r.variant_key for r in found], dtype="str"),
        "variant_label": pd.Series([r.variant_label for r in found], dtype="str"),
        "quantity": pd.Series([r.quantity for r in found], dtype="int64"),
        "unit_price": pd.Series([float(r.unit_price) if r.unit_price is not None else math.nan for r in found],
                                dtype="float64"),
    })


def _line_items(lines: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    every = {
        REFERENCE: lines["reference"], ITEM: lines["item_name"], VARIANT: lines["variant_label"],
        QUANTITY: lines["quantity"], UNIT_PRICE: lines["unit_price"],
        STATUS: lines["status"].map({status.value: label for status, label in STATUS_LABELS.items()}).astype("str"),
    }
    return pd.DataFrame({column: every[column].reset_index(drop=True) for column in columns})


def _order_rows(session: Session, conditions: Sequence[ColumnElement[bool]],
                line_condition: ColumnElement[bool] | None) -> dict[int, Any]:
    """The matching orders with their answers, personal ones included, by id, in the order they were placed."""
    query = (select(Order.id, Order.reference, Order.created_at, Order.status, Order.form_version_id,
                    Order.answers, OrderPersonalData.answers.label("personal"))
             .outerjoin(OrderPersonalData, OrderPersonalData.order_id == Order.id)
             .where(*conditions).order_by(Order.created_at, Order.id))
    if line_condition is not None:
        query = query.where(exists().where(OrderLine.order_id == Order.id, line_condition))
    return {row.id: row for row in session.execute(query)}


def _vendor_line_items(
    session: Session, event: Event, vendor: Vendor, lines: pd.DataFrame, line_ids: Sequence[int],
    orders: Mapping[int, Any], *, disclose: Sequence[int] | None = None,
) -> tuple[pd.DataFrame, dict[tuple[str, ...], set[int]]]:
    """The vendor's rows for `line_ids`, with the fields it may see filled only for lines in `disclose` (all, by
    default); and the orders disclosed, grouped by the field keys they showed."""
    chosen = lines[lines["line_id"].isin(line_ids)]
    shown_lines = set(line_ids if disclose is None else disclose)
    forms = _form_specs(session, event.id)
    allowed = {version: tuple(key for key in disclosed_fields(vendor, spec) if key in _answer_keys(spec))
               if spec else () for version, spec in forms.items()}
    columns = _answer_columns(forms, {key for keys in allowed.values() for key in keys})
    sheet = _line_items(chosen, VENDOR_LINE_COLUMNS)
    disclosed: dict[tuple[str, ...], set[int]] = {}
    for line_id, order_id in zip(chosen["line_id"], chosen["order_id"], strict=True):
        if line_id in shown_lines:
            order = orders[order_id]
            # As for per-order vendor mail: a field counts as disclosed when the order has an answer to it.
            shown = tuple(key for key in allowed.get(order.form_version_id, ())
                          if _answer(order, key) not in (None, ""))
            disclosed.setdefault(shown, set()).add(int(order_id))
    for key, header in columns:
        sheet[header] = pd.Series([
            _answer(orders[order_id], key)
            if line_id in shown_lines and key in allowed.get(orders[order_id].form_version_id, ()) else None
            for line_id, order_id in zip(chosen["line_id"], chosen["order_id"], strict=True)], dtype="object")
    return sheet, disclosed


def _summary(session: Session, event: Event, lines: pd.DataFrame) -> pd.DataFrame:
    """Quantities per item (rows) and variant (columns) with a Total column and row; cancelled orders left out."""
    active = lines.loc[lines["status"] != OrderStatus.CANCELLED.value,
                       ["item_key", "variant_key", "item_name", "variant_label", "quantity"]]
    if active.empty:
        return pd.DataFrame({ITEM: pd.Series([TOTAL], dtype="str"), TOTAL: pd.Series([0], dtype="int64")})
    item_rank = {key: rank for rank, key in enumerate(session.scalars(
        select(Item.key).where(Item.event_id == event.id).order_by(Item.position, Item.id)))}
    variant_rank = {(item_key, key): variant_id for item_key, key, variant_id in session.execute(
        select(Item.key, Variant.key, Variant.id).join(Item, Item.id == Variant.item_id)
        .where(Item.event_id == event.id))}
    grouped = (active.groupby(["item_key", "variant_key"], sort=False)
               .agg(item=("item_name", "first"), variant=("variant_label", "first"), quantity=("quantity", "sum"))
               .reset_index())
    grouped["variant"] = grouped["variant"].where(grouped["variant"] != "", NO_VARIANT)
    # Catalogue order; items and variants deleted since come last, by name.
    ranks = [(item_rank.get(i, len(item_rank)), name, variant_rank.get((i, v), math.inf), label)
             for i, name, v, label in zip(grouped["item_key"], grouped["item"], grouped["variant_key"],
                                          grouped["variant"], strict=True)]
    grouped = grouped.iloc[sorted(range(len(grouped)), key=ranks.__getitem__)]
    grouped["column"] = grouped["variant"].map(lambda label: f"{label} (variant)" if label in (ITEM, TOTAL) else label)
    pivot = grouped.pivot_table(index="item_key", columns="column", values="quantity", aggfunc="sum", sort=False)
    pivot = pivot.reindex(index=list(dict.fromkeys(grouped["item_key"])), columns=list(dict.fromkeys(grouped["column"])))
    pivot[TOTAL] = pivot.sum(axis=1)
    pivot.loc["__total__"] = pivot.sum(axis=0)
    names = dict(zip(grouped["item_key"], grouped["item"], strict=True))
    summary = pivot.astype("Int64").reset_index(drop=True)
    summary.columns = [str(c) for c in summary.columns]
    summary.insert(0, ITEM, pd.Series([names.get(k, TOTAL) for k in pivot.index[:-1]] + [TOTAL], dtype="str"))
    return summary


def _form_specs(session: Session, event_id: int) -> dict[int, FormSpec | None]:
    """Every form version of the event, parsed, newest first (None where the stored form is broken)."""
    specs: dict[int, FormSpec | None] = {}
    for version_id, schema in session.execute(select(FormVersion.id, FormVersion.schema)
                                              .where(FormVersion.event_id == event_id)
                                              .order_by(FormVersion.number.desc())):
        try:
            specs[version_id] = parse_form_spec(schema)
        except SchemaError:
            specs[version_id] = None
    return specs


def _answer_keys(spec: FormSpec) -> list[str]:
    return [field.key for field in spec.fields if field.type != FieldType.ITEMS]


def _answer_columns(forms: Mapping[int, FormSpec | None], keys: set[str]) -> list[tuple[str, str]]:
    """(key, header) for each answer column among `keys`: the newest form's fields first, labelled as it labels
    them; a label that is already a header gets its key added."""
    columns: list[tuple[str, str]] = []
    taken = {REFERENCE, PLACED_AT, STATUS, TOTAL, ITEM, VARIANT, QUANTITY, UNIT_PRICE, CHANGE, BEFORE}
    seen: set[str] = set()
    for spec in forms.values():
        for field in spec.fields if spec else ():
            if field.key in keys and field.key not in seen and field.type != FieldType.ITEMS:
                header, number = field.label, 1
                while header in taken:  # two columns of one name would silently become one
                    number += 1
                    header = f"{field.label} ({field.key})" if number == 2 else f"{field.label} ({field.key} {number})"
                columns.append((field.key, header))
                seen.add(field.key)
                taken.add(header)
    return columns


def _answer(order: Any, key: str) -> Any:
    """An answer for a spreadsheet cell: numbers stay numbers, Yes/No for ticks, text otherwise."""
    value = (order.personal or {}).get(key, (order.answers or {}).get(key))
    if value is None or isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return value
    return format_answer(value)


def _local_times(moments: Sequence[datetime], timezone: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(moments), utc=True)).dt.tz_convert(timezone).dt.tz_localize(None)
