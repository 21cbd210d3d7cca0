"""Exports of the chosen event: spreadsheets to download, lists to send to batch vendors, and what was sent."""

from __future__ import annotations

import streamlit as st

from core.auth import Actor
from core.event_admin import EventSummary
from core.exports import ExportFilters, prepare_export
from core.fulfilment import STATUS_LABELS
from core.models import OrderStatus
from core.vendor_batches import ExportsOverview, exports_overview
from ui import feedback, runtime
from ui.batch_send import draw_send_section
from ui.downloads import prepared_download

FORMATS: dict[str, tuple[str, str]] = {
    "xlsx": ("spreadsheet (XLSX)", ":material/table_view:"),
    "csv": ("line items (CSV)", ":material/csv:"),
}


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Exports")
    st.caption(event.title)
    overview = feedback.read(lambda session: exports_overview(session, actor, event.id))
    if overview is None:
        return
    prefix = f"exports.{event.id}"
    filters, vendor_view = _filters(prefix, overview)
    _downloads(actor, event, prefix, filters, vendor_view)
    draw_send_section(actor, event, prefix, overview)
    _history(overview)


def _filters(prefix: str, overview: ExportsOverview) -> tuple[ExportFilters, bool]:
    names = {vendor.id: vendor.name for vendor in overview.vendors}
    status_column, dates_column, vendor_column = st.columns(3)
    statuses = status_column.multiselect("Status", list(OrderStatus), key=f"{prefix}.statuses",
                                         format_func=STATUS_LABELS.get, placeholder="Any status")
    dates = tuple(dates_column.date_input("Placed between", value=(), key=f"{prefix}.dates", format="YYYY-MM-DD",
                                          help=f"Days in the event's time zone, {overview.timezone}"))
    vendor_id = vendor_column.selectbox("Vendor", [None, *names], key=f"{prefix}.vendor",
                                        format_func=lambda i: "All items" if i is None else names[i],
                                        help="Only the lines of items routed to this vendor")
    vendor_view = vendor_id is not None and st.toggle(
        "Only what this vendor may see", key=f"{prefix}.vendor_view",
        help="The vendor's own spreadsheet: its lines and the order fields it may see, no prices")
    filters = ExportFilters(statuses=frozenset(statuses), date_from=dates[0] if dates else None,
                            date_to=dates[1] if len(dates) > 1 else None, vendor_id=vendor_id)
    return filters, vendor_view


def _downloads(actor: Actor, event: EventSummary, prefix: str, filters: ExportFilters, vendor_view: bool) -> None:
    st.caption("The spreadsheet has a sheet of orders with every answer, one of line items and a summary; the CSV "
               "file holds the line items only. Times are the event's local time.")
    for fmt, column in zip(FORMATS, st.columns(len(FORMATS)), strict=True):
        label, icon = FORMATS[fmt]
        file = prepared_download(
            f"{prefix}.file.{fmt}", (filters, vendor_view), lambda session, fmt=fmt: prepare_export(
                session, actor, event.id, filters, fmt, vendor_view=vendor_view),
            prepare=f"Prepare {label}", download=f"Download {label}", icon=icon, spinner=f"Building the {label}…",
            where=column, primary=True)
        if file is not None:
            column.caption(f"{file.filename} · {len(file.data) / 1000:,.0f} kB · change a filter to prepare it afresh")


def _history(overview: ExportsOverview) -> None:
    st.subheader("Sent to vendors")
    if overview.history.empty:
        st.caption("Nothing sent yet.")
        return
    st.dataframe(overview.history, hide_index=True, width="stretch", column_config={
        "Sent": st.column_config.DatetimeColumn("Sent", format="D MMM YYYY, HH:mm",
                                                help=f"In the event's time zone, {overview.timezone}"),
        "Kind": st.column_config.TextColumn("Kind", help="full: every line item; delta: only the changes"),
        "Mail": st.column_config.TextColumn("Mail", help="The outbox status of the mail"),
    })
