"""A vendor's CSV of order statuses: read it, show what each row would do (or why it cannot), then apply it.

Columns, in any order, named case-insensitively: `reference` (also "order", "order reference"), `status` (a
value or a label: "shipped", "In production", "SENT_TO_VENDOR"), and optionally `tracking` (also "tracking
number", "tracking link"). UTF-8 with or without a BOM, separated by commas, semicolons or tabs (as spreadsheet
programs in different locales write them). Rows are numbered as a spreadsheet shows them: the header is row 1.

Applying takes the rows that were valid in the preview the organiser saw, and only those (as pretix's and
similar tools' imports do): rows with errors are skipped, not fixed by guessing. All valid rows go in one
transaction, so an import is applied entirely or not at all; if one of them can no longer be applied (another
organiser moved that order meanwhile), nothing is applied and the organiser is asked to look at a new preview.

A file from one vendor, forwarded by the organiser, moves only that vendor's lines (`vendor_id`): in an order
shared with other vendors the rest stays where it is, exactly as when the vendor reports through its portal
(`fulfilment.move_vendor_lines`). The history names the vendor; the audit log the organiser who applied it, with
the vendor as `reported_by`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core import audit
from core.auth import Actor, Permission, require
from core.config import Settings
from core.errors import FormValidationError, NotFound, StatusChangeRefused, StatusImportStale
from core.fulfilment import (
    FULFILMENT_STEPS,
    STATUS_LABELS,
    VENDOR_STATUSES,
    check_part,
    check_transition,
    current_tracking,
    line_status,
    move_orders,
    move_vendor_lines,
    part_tracking,
    tracking_problem,
    vendor_actor,
)
from core.models import Event, Item, Order, OrderStatus, Vendor

MAX_FILE_BYTES = 2_000_000
# Applying holds the database's write lock: 2,000 rows with mails take a few seconds, while orders wait.
MAX_ROWS = 2_000
MAX_REFERENCE_LENGTH = 16  # the column's size
PREVIEW_COLUMNS = ("row", "reference", "current", "new_status", "tracking", "outcome", "ok")
FILE_FIELD = "file"

_HEADER_ALIASES = {
    "reference": "reference", "order reference": "reference", "order": "reference", "order ref": "reference",
    "ref": "reference", "status": "status", "order status": "status", "tracking": "tracking",
    "tracking number": "tracking", "tracking link": "tracking", "tracking url": "tracking",
}
_STATUS_NAMES: dict[str, OrderStatus] = {
    **{status.value.replace("_", " "): status for status in OrderStatus},
    **{label.casefold(): status for status, label in STATUS_LABELS.items()},
    "canceled": OrderStatus.CANCELLED,
}
_SEPARATORS = re.compile(r"[\s_-]+")


@dataclass(frozen=True)
class StatusImportRow:
    """One data row of the file and what applying it would do; `error` is "" when it can be applied."""

    row: int
    reference: str
    status: OrderStatus | None
    tracking: str | None
    current: OrderStatus | None  # the order's status when previewed; None for an unknown reference
    # The order's tracking when previewed, to tell a new tracking number from a repeated one.
    current_tracking: str | None = None
    error: str = ""

    @property
    def changes(self) -> bool:
        """Whether applying the row moves the order (or records a new tracking number for a shipped one)."""
        return not self.error and self.status is not None and (
            self.status != self.current or self.tracking is not None and self.tracking != self.current_tracking)

    @property
    def outcome(self) -> str:
        if self.error:
            return self.error
        if not self.changes:
            return f"No change: already {STATUS_LABELS[self.current].lower()}." if self.current else "No change."
        if self.status == self.current:
            return "New tracking number or link."
        before = STATUS_LABELS[self.current].lower() if self.current else "?"
        return f"{before.capitalize()} → {STATUS_LABELS[self.status].lower()}"  # type: ignore[index]


@dataclass(frozen=True)
class StatusImportPreview:
    """What a file would do to an event's orders, row by row."""

    event_id: int
    rows: tuple[StatusImportRow, ...]
    vendor_id: int | None = None  # a vendor's file: only its lines move

    @property
    def changes(self) -> tuple[StatusImportRow, ...]:
        return tuple(row for row in self.rows if row.changes)

    @property
    def errors(self) -> tuple[StatusImportRow, ...]:
        return tuple(row for row in self.rows if row.error)

    def frame(self) -> pd.DataFrame:
        """The rows as a table of PREVIEW_COLUMNS; `ok` is False for rows with an error."""
        rows = self.rows
        return pd.DataFrame({
            "row": pd.Series([r.row for r in rows], dtype="int64"),
            "reference": pd.Series([r.reference for r in rows], dtype="str"),
            "current": pd.Series([STATUS_LABELS[r.current] if r.current else "" for r in rows], dtype="str"),
            "new_status": pd.Series([STATUS_LABELS[r.status] if r.status else "" for r in rows], dtype="str"),
            "tracking": pd.Series([r.tracking or "" for r in rows], dtype="str"),
            "outcome": pd.Series([r.outcome for r in rows], dtype="str"),
            "ok": pd.Series([not r.error for r in rows], dtype="bool"),
        }, columns=list(PREVIEW_COLUMNS))


def parse_status(text: str) -> OrderStatus | None:
    """The status a cell names, by value or label, ignoring case, spaces, dashes and underscores; or None."""
    return _STATUS_NAMES.get(_SEPARATORS.sub(" ", text.strip()).casefold())


@dataclass(frozen=True)
class FileVendor:
    """A vendor whose file an organiser may upload for an event: one with items of the event routed to it."""

    id: int
    name: str


def file_vendors(session: Session, actor: Actor, event_id: int) -> tuple[FileVendor, ...]:
    """The vendors with items in the event, by name. Raises PermissionDenied."""
    require(session, actor, Permission.ORDERS_UPDATE, event_id)
    return tuple(FileVendor(vendor_id, name) for vendor_id, name in session.execute(
        select(Vendor.id, Vendor.name).where(Vendor.id.in_(
            select(Item.vendor_id).where(Item.event_id == event_id))).order_by(Vendor.name, Vendor.id)))


def preview_status_import(session: Session, actor: Actor, event_id: int, data: bytes, *,
                          vendor_id: int | None = None) -> StatusImportPreview:
    """Read a status CSV and check each row against the event's orders (with `vendor_id`, against that vendor's
    lines of each order); changes nothing.

    Raises PermissionDenied, NotFound (also for a vendor without items in the event), or FormValidationError
    under "file" for a file that cannot be read as a whole (not UTF-8, not CSV, no reference or status column, no
    rows, too many rows or bytes). Problems of single rows are reported in the rows: unknown reference or status,
    a move backwards, a cancelled order, a bad tracking number, a reference repeated in the file; for a vendor's
    file also an order without its items and a status a vendor does not report.
    """
    require(session, actor, Permission.ORDERS_UPDATE, event_id)
    if session.get(Event, event_id) is None:
        raise NotFound("There is no such event.")
    source = _source(session, event_id, vendor_id)
    return StatusImportPreview(event_id, _check_rows(session, event_id, _read_rows(data), source), vendor_id)


def apply_status_import(
    session: Session, actor: Actor, event_id: int, preview: StatusImportPreview, *,
    notify_attendee: bool = False, settings: Settings | None = None,
) -> int:
    """Apply the rows of `preview` that would change an order, in one transaction; returns how many changed.

    Each goes through `fulfilment.move_orders`, as the Orders page's changes do (history, audit, stock given back
    on cancelling, the attendee told if `notify_attendee`); a vendor's file through `move_vendor_lines`, as the
    vendor's portal does. The import itself is audited as `order.status_imported` with its counts. Raises
    PermissionDenied, StatusImportStale (nothing applied) when a row to apply no longer applies as previewed.
    """
    require(session, actor, Permission.ORDERS_UPDATE, event_id)
    if preview.event_id != event_id:
        raise StatusImportStale("This preview belongs to another event. Upload the file again.")
    source = _source(session, event_id, preview.vendor_id)
    wanted = preview.changes
    again = {row.row: row for row in _check_rows(
        session, event_id, [(row.row, row.reference, row.status.value if row.status else "", row.tracking or "")
                            for row in wanted], source, lock=True)}
    stale = [row.row for row in wanted if again[row.row] != row]
    if stale:
        raise StatusImportStale(f"Orders changed since the preview (row{'s' if len(stale) > 1 else ''} "
                                f"{', '.join(map(str, stale[:10]))}). Look at the new preview and apply again.")
    by_status: dict[OrderStatus, dict[str, str | None]] = {}
    for row in wanted:
        by_status.setdefault(row.status, {})[row.reference] = row.tracking  # type: ignore[index]
    # Each reference is in one row only; the groups go in the order of the steps, so mails and audit entries do too.
    steps = [(status, by_status[status]) for status in (*FULFILMENT_STEPS, OrderStatus.CANCELLED) if status in by_status]
    if source is None:
        changed = sum(move_orders(session, actor, event_id, tracking, status, notify_attendee=notify_attendee,
                                  settings=settings) for status, tracking in steps)
    else:
        event = session.get_one(Event, event_id)
        changed = sum(move_vendor_lines(session, source.actor, event, source.item_ids, tracking, status,
                                        notify_attendee=notify_attendee, settings=settings, applied_by=actor)
                      for status, tracking in steps)
    details = {"rows": len(preview.rows), "applied": changed, "skipped": len(preview.errors),
               "notified": notify_attendee}
    audit.record(session, actor, "order.status_imported", event=event_id, subject="orders",
                 details=details if source is None else {**details, "vendor": source.vendor_id})
    return changed


# --- Reading the file --------------------------------------------------------------------------------------------

# (row number, reference, status text, tracking text)
_RawRow = tuple[int, str, str, str]


def read_status_file(data: bytes) -> list[tuple[int, str, OrderStatus | None, str]]:
    """The rows of a status CSV as (row number, reference, status or None if unknown, tracking text); for the
    vendor portal's upload of the same format. Raises FormValidationError under "file" as the preview does."""
    return [(number, reference, parse_status(status), tracking)
            for number, reference, status, tracking in _read_rows(data)]


def _file_error(message: str) -> FormValidationError:
    return FormValidationError({FILE_FIELD: message})


def _read_rows(data: bytes) -> list[_RawRow]:
    if len(data) > MAX_FILE_BYTES:
        raise _file_error(f"The file is too large: at most {MAX_FILE_BYTES // 1_000_000} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _file_error("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again.") from None
    if not text.strip():
        raise _file_error("The file is empty.")
    if "\x00" in text:
        raise _file_error("The file contains NUL characters: it is not a text CSV file.")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        # strict: an unclosed quote is an error, not a cell that swallows the rest of the file.
        records = _limited(csv.reader(io.StringIO(text, newline=""), dialect, strict=True))
    except csv.Error as exc:
        raise _file_error(f"The file cannot be read as CSV ({exc}).") from None
    columns = {_HEADER_ALIASES.get(_SEPARATORS.sub(" ", name.strip()).casefold()): index
               for index, name in reversed(list(enumerate(records[0])))}
    if "reference" not in columns or "status" not in columns:
        raise _file_error("The first row must name the columns: reference, status and (optionally) tracking.")
    rows: list[_RawRow] = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank lines, as spreadsheets leave them at the end

        def cell(name: str, record: list[str] = record) -> str:
            index = columns.get(name)
            return record[index].strip() if index is not None and index < len(record) else ""

        rows.append((number, cell("reference"), cell("status"), cell("tracking")))
    if not rows:
        raise _file_error("The file has no rows below its header.")
    return rows


def _limited(reader: Iterable[list[str]]) -> list[list[str]]:
    records: list[list[str]] = []
    for record in reader:
        records.append(record)
        if len(records) > MAX_ROWS + 1:
            raise _file_error(f"The file has more than {MAX_ROWS} rows; split it into smaller files.")
    return records


# --- Checking rows against the orders ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _VendorFile:
    """Whose file it is, when it is one vendor's: its name in the history, and the items whose lines it moves."""

    vendor_id: int
    name: str
    item_ids: frozenset[int]

    @property
    def actor(self) -> str:
        return vendor_actor(self.name)


def _source(session: Session, event_id: int, vendor_id: int | None) -> _VendorFile | None:
    if vendor_id is None:
        return None
    vendor = session.get(Vendor, vendor_id)
    items = frozenset(session.scalars(select(Item.id).where(Item.event_id == event_id, Item.vendor_id == vendor_id)))
    if vendor is None or not items:
        raise NotFound("That vendor makes none of this event's items.")
    return _VendorFile(vendor.id, vendor.name, items)


def _check_rows(session: Session, event_id: int, raw: Sequence[_RawRow], source: _VendorFile | None, *,
                lock: bool = False) -> tuple[StatusImportRow, ...]:
    references = {reference.upper() for _, reference, _, _ in raw if 0 < len(reference) <= MAX_REFERENCE_LENGTH}
    query = (select(Order).where(Order.event_id == event_id, Order.reference.in_(references))
             .options(selectinload(Order.history), selectinload(Order.lines)).order_by(Order.id))
    orders = {order.reference: order for order in session.scalars(query.with_for_update() if lock else query)}
    first_row: dict[str, int] = {}
    checked: list[StatusImportRow] = []
    for number, reference_text, status_text, tracking_text in raw:
        reference = reference_text.upper()
        order = orders.get(reference)
        status = parse_status(status_text) if status_text else None
        tracking = tracking_text or None
        error = _row_error(reference, order, status_text, status, tracking, first_row.get(reference), source)
        first_row.setdefault(reference, number)
        current, current_track = _where(order, source) if order else (None, None)
        checked.append(StatusImportRow(
            row=number, reference=reference[:MAX_REFERENCE_LENGTH * 2], status=status,
            tracking=tracking if tracking is None or len(tracking) <= 500 else tracking[:500] + "…",
            current=current, current_tracking=current_track, error=error))
    return tuple(checked)


def _where(order: Order, source: _VendorFile | None) -> tuple[OrderStatus, str | None]:
    """The status and tracking a row moves from: the order's, or for a vendor's file and an order shared with
    other vendors its lines' (the least advanced of them) and the tracking it gave."""
    lines = [] if source is None else [line for line in order.lines if line.item_id in source.item_ids]
    # An order of the vendor's items only moves as a whole (`move_vendor_lines`): its own status and tracking.
    if source is None or len(lines) in (0, len(order.lines)) or order.status == OrderStatus.CANCELLED:
        return order.status, current_tracking(order)
    return min((line_status(order, line) for line in lines), key=FULFILMENT_STEPS.index), part_tracking(order, source.actor)


def _row_error(reference: str, order: Order | None, status_text: str, status: OrderStatus | None,
               tracking: str | None, seen_in_row: int | None, source: _VendorFile | None) -> str:
    if not reference:
        return "No order reference."
    if seen_in_row is not None:
        return f"Order {reference} is already in row {seen_in_row}."
    if order is None:
        return f"There is no order {reference} in this event."
    if not status_text:
        return "No status."
    if status is None:
        return (f"Unknown status “{status_text[:40]}”: use {_vendor_steps()}." if source is not None else
                f"Unknown status “{status_text[:40]}”: use one of {', '.join(STATUS_LABELS[s] for s in OrderStatus)}.")
    if tracking is not None:
        if status != OrderStatus.SHIPPED:
            return "A tracking number or link goes with the status Shipped only."
        if problem := tracking_problem(tracking):
            return problem
    if source is not None:
        return _vendor_row_error(order, status, source)
    if order.status != status:
        try:
            check_transition(order, status)
        except StatusChangeRefused as exc:
            return str(exc)
    return ""


def _vendor_row_error(order: Order, status: OrderStatus, source: _VendorFile) -> str:
    if status not in VENDOR_STATUSES:
        return (f"A vendor reports {_vendor_steps()} only. To cancel, or for any other status, upload the file "
                "as no vendor's, or use the Orders page.")
    lines = [line for line in order.lines if line.item_id in source.item_ids]
    if not lines:
        return f"Order {order.reference} holds none of the items {source.name} makes."
    try:
        check_part(order, lines, status)
    except StatusChangeRefused as exc:
        return str(exc)
    return ""


def _vendor_steps() -> str:
    """ "in production, shipped or delivered" """
    labels = [STATUS_LABELS[status].lower() for status in VENDOR_STATUSES]
    return f"{', '.join(labels[:-1])} or {labels[-1]}"
