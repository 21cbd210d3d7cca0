"""Exports of the chosen event: spreadsheets to download, lists to send to batch vendors, and what was sent."""

from __future__ import annotations

import streamlit as st

from core.auth import Actor
from core.event_admin import EventSummary
from core.exports import ExportFilters, prepare_export
from core.fulfilment import STATUS_LABELS
from core.models import OrderStatus, utcnow
from core.spreadsheets import ExportFile
from core.vendor_batches import BatchKind, ExportsOverview, exports_overview, send_batch
from ui import feedback, runtime
from ui.confirm import confirm

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
    _send_section(actor, event, prefix, overview)
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
        key = f"{prefix}.file.{fmt}"
        wanted = (filters, vendor_view)
        prepared = st.session_state.get(key)
        if prepared is None or prepared[0] != wanted:
            if not column.button(f"Prepare {label}", key=f"{key}.prepare", icon=icon):
                continue
            with column, st.spinner(f"Building the {label}…"):  # a change, not a read: the export is audited
                file = feedback.apply(lambda session, fmt=fmt: prepare_export(
                    session, actor, event.id, filters, fmt, vendor_view=vendor_view))
            if file is None:
                continue
            st.session_state[key] = prepared = (wanted, file)
        file: ExportFile = prepared[1]
        column.download_button(f"Download {label}", data=file.data, file_name=file.filename, mime=file.mimetype,
                               key=f"{key}.download", icon=":material/download:", on_click="ignore", type="primary")
        column.caption(f"{file.filename} · {len(file.data) / 1000:,.0f} kB · change a filter to prepare it afresh")


def _send_section(actor: Actor, event: EventSummary, prefix: str, overview: ExportsOverview) -> None:
    batch = {vendor.id: vendor.name for vendor in overview.vendors if vendor.batch}
    st.subheader("Send to a batch vendor")
    if not batch:
        st.caption("No items of this event go to a batch vendor.")
        return
    st.caption("The first list holds every line item of the vendor; each later one only what was added, changed "
               "or cancelled since. Mail is sent from the outbox.")
    vendor_id = st.selectbox("Batch vendor", list(batch), key=f"{prefix}.batch_vendor", format_func=batch.get)
    if st.session_state.get(f"{prefix}.confirm_send") == vendor_id:
        confirm(f"Send {batch[vendor_id]} their list now?", "Yes, send", _send, (actor, event.id, prefix, vendor_id),
                no="No", on_no=_forget, no_args=(f"{prefix}.confirm_send",), key=f"{prefix}.send",
                icon=":material/outgoing_mail:")
    else:
        st.button("Send to vendor now…", key=f"{prefix}.send", icon=":material/send:", on_click=_ask_to_send,
                  args=(prefix, vendor_id))
    feedback.show(prefix, "send")
    if sent := st.session_state.pop(f"{prefix}.sent", None):
        kind, message = sent
        if kind == BatchKind.NO_CHANGES:
            st.info(message, icon=":material/info:")
        else:
            st.success(message, icon=":material/check_circle:")


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


def _ask_to_send(prefix: str, vendor_id: int) -> None:
    st.session_state[f"{prefix}.confirm_send"] = vendor_id


def _forget(key: str) -> None:
    st.session_state.pop(key, None)


def _send(actor: Actor, event_id: int, prefix: str, vendor_id: int) -> None:
    """Queue the vendor's list in its own unit of work; runs before the rerun, which then shows the history."""
    st.session_state.pop(f"{prefix}.confirm_send", None)
    result = feedback.apply(lambda session: send_batch(session, actor, event_id, vendor_id, utcnow()),
                            feedback.Kept(prefix, "send"))
    if result is not None:
        st.session_state[f"{prefix}.sent"] = (result.kind, result.message)
