"""Exports: an event's orders as the organiser's spreadsheets (XLSX, CSV), and a vendor's view of them.

The frames are built from SQL here; core/vendor_batches.py builds batch vendors' attachments from the same
frames, and core/spreadsheets.py writes them (no text cell can start a formula, DESIGN.md convention 6).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, Permission
from core.catalogue import NO_VARIANT
from core.errors import NotFound, SchemaError
from core.event_admin import get_event_for
from core.forms import FieldType, FormSpec, format_answer, parse_form_spec
from core.fulfilment import LINE_STATUS, STATUS_LABELS, in_statuses
from core.models import (
    Event,
    FormVersion,
    Item,
    Order,
    OrderLine,
    OrderPersonalData,
    OrderStatus,
    OrderStatusChange,
    Variant,
    Vendor,
    utcnow,
)
from core.spreadsheets import (
    CSV_MIMETYPE,
    TOTAL,
    UNIT_PRICE,
    XLSX_MIMETYPE,
    ExportFile,
    write_csv,
    write_xlsx,
)
from core.vendors import disclosed_fields

ExportFormat = Literal["xlsx", "csv"]

SHEET_ORDERS = "Orders"
SHEET_LINES = "Line items"
SHEET_SUMMARY = "Summary"
SHEET_CHANGES = "Changes"
# Column headers; TOTAL and UNIT_PRICE come from core.spreadsheets, which writes them as money.
REFERENCE, PLACED_AT, STATUS = "Reference", "Placed at", "Status"
ITEM, VARIANT, QUANTITY = "Item", "Variant", "Quantity"
CHANGE, BEFORE = "Change", "Before"
# The event's ISO 4217 code, beside every column of amounts.
CURRENCY = "Currency"
# The tracking number or link of the order's latest shipped step.
TRACKING = "Tracking"
LINE_COLUMNS = (REFERENCE, ITEM, VARIANT, QUANTITY, UNIT_PRICE, CURRENCY, STATUS)
# A vendor sees neither placing times nor prices (what attendees paid is the organiser's business).
VENDOR_LINE_COLUMNS = (REFERENCE, ITEM, VARIANT, QUANTITY, STATUS)
LINE_CHUNK = 10_000


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



# --- organiser exports -----------------------------------------------------------------------------------------


def order_sheets(session: Session, actor: Actor, event_id: int, filters: ExportFilters) -> dict[str, pd.DataFrame]:
    """The frames of an organiser's export: Orders, Line items and Summary (see `export_orders`).

    Raises PermissionDenied, NotFound for an unknown event or a vendor without items in it, SchemaError for a
    bad date range.
    """
    event = get_event_for(session, actor, event_id, Permission.ORDERS_EXPORT)
    vendor = routed_vendor(session, event, filters.vendor_id) if filters.vendor_id is not None else None
    conditions = _order_conditions(event, filters)
    line_condition = vendor_line_condition(event, vendor.id) if vendor else None
    # Lines before orders: an order committed in between (PostgreSQL reads each statement afresh) then only
    # adds a row to Orders, and never leaves a line without its order.
    lines = line_frame(session, event, conditions, line_condition)
    orders = list(order_rows(session, conditions, line_condition).values())
    tracking = _tracking(session, conditions)
    forms = _form_specs(session, event.id)
    columns = _answer_columns(forms, {key for spec in forms.values() if spec for key in _answer_keys(spec)})
    totals = (lines["quantity"] * lines["unit_price"]).groupby(lines["order_id"]).sum(min_count=1)
    unpriced = set(lines.loc[lines["unit_price"].isna(), "order_id"].tolist())
    frame: dict[str, pd.Series] = {
        REFERENCE: pd.Series([o.reference for o in orders], dtype="str"),
        PLACED_AT: local_times([o.created_at for o in orders], event.timezone),
        STATUS: pd.Series([STATUS_LABELS[o.status] for o in orders], dtype="str"),
        # An order with an unpriced line has no total, rather than a misleadingly low one.
        TOTAL: pd.Series([math.nan if o.id in unpriced else round(float(totals.get(o.id, 0.0)), 2) for o in orders],
                         dtype="float64"),
        CURRENCY: pd.Series([event.currency] * len(orders), dtype="str"),
        TRACKING: pd.Series([tracking.get(o.id) for o in orders], dtype="object"),
    }
    for key, header in columns:
        frame[header] = pd.Series([_answer(o, key) for o in orders], dtype="object")
    return {
        SHEET_ORDERS: pd.DataFrame(frame, columns=list(frame)),
        SHEET_LINES: _line_items(lines, LINE_COLUMNS, event.currency),
        SHEET_SUMMARY: summary_sheet(session, event, lines),
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
        file = ExportFile(export_filename(event.slug, "orders", "xlsx"), XLSX_MIMETYPE, write_xlsx(sheets))
    else:
        file = ExportFile(export_filename(event.slug, "line-items", "csv"), CSV_MIMETYPE,
                          write_csv(sheets[SHEET_LINES]))
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
    vendor = routed_vendor(session, event, vendor_id)
    conditions = _order_conditions(event, filters)
    vendor_lines = vendor_line_condition(event, vendor.id)
    lines = line_frame(session, event, conditions, vendor_lines)
    orders = order_rows(session, conditions, vendor_lines)
    sheet = vendor_line_items(session, event, vendor, lines, lines["line_id"].tolist(), orders)[0]
    if fmt == "xlsx":
        data = write_xlsx({SHEET_LINES: sheet, SHEET_SUMMARY: summary_sheet(session, event, lines)})
        file = ExportFile(export_filename(event.slug, f"vendor-{vendor.id}", "xlsx"), XLSX_MIMETYPE, data)
    else:
        file = ExportFile(export_filename(event.slug, f"vendor-{vendor.id}-line-items", "csv"), CSV_MIMETYPE,
                          write_csv(sheet))
    audit.record(session, actor, "orders.exported", event=event, subject=f"vendor:{vendor.id}",
                 details={"format": fmt, "filters": _filter_details(filters), "vendor_view": True,
                          "vendor_id": vendor.id, "orders": int(lines["order_id"].nunique()), "lines": len(lines)})
    return file


def prepare_export(session: Session, actor: Actor, event_id: int, filters: ExportFilters, fmt: ExportFormat, *,
                   vendor_view: bool = False) -> ExportFile:
    """The Exports page's file: with `vendor_view` and a vendor in `filters`, what that vendor may see
    (`vendor_export`); else the organiser's own (`export_orders`). Audited; raises as they do."""
    if vendor_view and filters.vendor_id is not None:
        return vendor_export(session, actor, event_id, filters.vendor_id, filters, fmt)
    return export_orders(session, actor, event_id, filters, fmt)


# --- building the frames (core/vendor_batches.py builds its sheets with them too) ----------------------------


def _check_format(fmt: str) -> None:
    if fmt not in ("xlsx", "csv"):
        raise ValueError(f"unknown export format {fmt!r}")


def export_filename(slug: str, what: str, extension: str, now: datetime | None = None) -> str:
    # The slug matched core.events.SLUG and `what` is ours: no user text reaches a file name.
    stamp = (now or utcnow()).astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{slug}-{what}-{stamp}.{extension}"


def _filter_details(filters: ExportFilters) -> dict[str, Any]:
    return {"statuses": sorted(s.value for s in filters.statuses),
            "date_from": filters.date_from.isoformat() if filters.date_from else None,
            "date_to": filters.date_to.isoformat() if filters.date_to else None, "vendor_id": filters.vendor_id}


def routed_vendor(session: Session, event: Event, vendor_id: int | None) -> Vendor:
    """The vendor, if the event routes items to it; NotFound otherwise (another organiser's vendors stay hidden)."""
    routed = select(Item.id).where(Item.event_id == event.id, Item.vendor_id == vendor_id).exists()
    vendor = session.get(Vendor, vendor_id) if vendor_id is not None else None
    if vendor is None or not session.scalar(select(routed)):
        raise NotFound("This vendor gets no items of this event.")
    return vendor


def _order_conditions(event: Event, filters: ExportFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Order.event_id == event.id]
    if filters.statuses:
        conditions.append(in_statuses(filters.statuses))
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise SchemaError("The first day is after the last day.")
    zone = ZoneInfo(event.timezone)
    if filters.date_from:
        conditions.append(Order.created_at >= datetime.combine(filters.date_from, time(), zone).astimezone(UTC))
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), zone).astimezone(UTC)
        conditions.append(Order.created_at < end)
    return conditions


def vendor_line_condition(event: Event, vendor_id: int) -> ColumnElement[bool]:
    return OrderLine.item_id.in_(select(Item.id).where(Item.event_id == event.id, Item.vendor_id == vendor_id))


def line_frame(session: Session, event: Event, conditions: Sequence[ColumnElement[bool]],
                line_condition: ColumnElement[bool] | None) -> pd.DataFrame:
    """The matching order lines, in the order they were placed, with the columns everything else builds on;
    each line's status is its own (`fulfilment.line_status`)."""
    result = session.execute(
        select(OrderLine.id, OrderLine.order_id, Order.reference, LINE_STATUS.label("status"), OrderLine.item_key,
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


def _line_items(lines: pd.DataFrame, columns: Sequence[str], currency: str = "") -> pd.DataFrame:
    every = {
        REFERENCE: lines["reference"], ITEM: lines["item_name"], VARIANT: lines["variant_label"],
        QUANTITY: lines["quantity"], UNIT_PRICE: lines["unit_price"],
        CURRENCY: pd.Series([currency] * len(lines), dtype="str"),
        STATUS: lines["status"].map({status.value: label for status, label in STATUS_LABELS.items()}).astype("str"),
    }
    return pd.DataFrame({column: every[column].reset_index(drop=True) for column in columns})


def order_rows(session: Session, conditions: Sequence[ColumnElement[bool]],
                line_condition: ColumnElement[bool] | None) -> dict[int, Any]:
    """The matching orders with their answers, personal ones included, by id, in the order they were placed."""
    query = (select(Order.id, Order.reference, Order.created_at, Order.status, Order.form_version_id,
                    Order.answers, OrderPersonalData.answers.label("personal"))
             .outerjoin(OrderPersonalData, OrderPersonalData.order_id == Order.id)
             .where(*conditions).order_by(Order.created_at, Order.id))
    if line_condition is not None:
        query = query.where(exists().where(OrderLine.order_id == Order.id, line_condition))
    return {row.id: row for row in session.execute(query)}


def _tracking(session: Session, conditions: Sequence[ColumnElement[bool]]) -> dict[int, str]:
    """The tracking number or link of each matching order's latest shipped step that has one, by order id."""
    found = session.execute(
        select(OrderStatusChange.order_id, OrderStatusChange.tracking).join(Order, Order.id == OrderStatusChange.order_id)
        .where(*conditions, OrderStatusChange.status == OrderStatus.SHIPPED, OrderStatusChange.tracking.is_not(None))
        .order_by(OrderStatusChange.at, OrderStatusChange.id))
    return {order_id: tracking for order_id, tracking in found}  # the latest step wins


def vendor_line_items(
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


def summary_sheet(session: Session, event: Event, lines: pd.DataFrame) -> pd.DataFrame:
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
    taken = {REFERENCE, PLACED_AT, STATUS, TOTAL, CURRENCY, TRACKING, ITEM, VARIANT, QUANTITY, UNIT_PRICE, CHANGE, BEFORE}
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


def local_times(moments: Sequence[datetime], timezone: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(moments), utc=True)).dt.tz_convert(timezone).dt.tz_localize(None)
