"""Purge data: the dry run of the chosen event, an export beforehand, the purge after retyping the slug, receipts."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.auth import Actor
from core.event_admin import EventSummary
from core.exports import ExportFilters, export_orders
from core.models import utcnow
from core.purge import (
    CONFIRM_FIELD,
    PlanLine,
    PurgePlan,
    PurgeReceiptView,
    list_purge_receipts,
    purge_event,
    purge_plan,
    receipt_fallback,
    scrub_storage,
)
from core.spreadsheets import ExportFile
from ui import feedback, runtime


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Purge data")
    st.caption(f"{event.title} · destroys the attendees' personal data of this event for good; the anonymous "
               "counts (orders per item, variant and status) and the audit trail stay.")
    plan = feedback.read(lambda session: purge_plan(session, actor, event.id, utcnow()))
    if plan is None:
        return
    if plan.receipt is not None:
        _show_receipt(plan.receipt)
    else:
        before = st.empty()  # the dry run and the form, cleared once they are out of date
        with before.container():
            _dry_run(plan)
            _export_first(actor, event)
            typed, slots = _confirmation(plan)
        if typed is not None:
            _purge(actor, plan, typed, slots, before)
    _past_receipts(actor)


def _dry_run(plan: PurgePlan) -> None:
    st.subheader("What would be destroyed now")
    if plan.automatic_at is None:
        st.info("This event has neither an end nor a closing time, so it is never purged automatically.",
                icon=":material/schedule:")
    else:
        st.info(f"Purged automatically on {plan.automatic_at:%d %b %Y, %H:%M} UTC (the end of the event, or the "
                "close of orders, plus the days personal data is kept).", icon=":material/schedule:")
    _counts_table(plan.lines)
    orders = f"{plan.orders_kept:,} order{'' if plan.orders_kept == 1 else 's'}"
    lines = f"{plan.order_lines_kept:,} order line{'' if plan.order_lines_kept == 1 else 's'}"
    st.caption(f"Kept: {orders} and {lines} (reference, status, "
               "times, items, variants, quantities, prices), the status history without tracking, and the audit "
               "trail.")


def _export_first(actor: Actor, event: EventSummary) -> None:
    st.subheader("Export first (optional)")
    key = f"purge.{event.id}.export"
    file: ExportFile | None = st.session_state.get(key)
    if file is None:
        if st.button("Prepare an export of all orders (XLSX)", key=f"{key}.prepare", icon=":material/table_view:"):
            with st.spinner("Building the spreadsheet…"):  # a change, not a read: the export is audited
                file = feedback.apply(lambda session: export_orders(session, actor, event.id, ExportFilters(), "xlsx"))
            if file is None:
                return
            st.session_state[key] = file
    if file is not None:
        st.download_button("Download the export", data=file.data, file_name=file.filename, mime=file.mimetype,
                           key=f"{key}.download", icon=":material/download:", on_click="ignore")
        st.caption("It holds every answer, personal ones included: keep it safe, and delete it when done.")


def _confirmation(plan: PurgePlan) -> tuple[str | None, dict[str, DeltaGenerator]]:
    """The confirmation form; returns what was typed once it is submitted (None before) and its error slot."""
    st.subheader("Purge now")
    with st.form(f"purge.{plan.event_id}.form"):
        typed = st.text_input(f"Type the event's address name, **{plan.slug}**, to confirm",
                              key=f"purge.{plan.event_id}.slug", autocomplete="off")
        slots = {CONFIRM_FIELD: st.empty()}
        submitted = st.form_submit_button("Destroy the personal data now", type="primary",
                                          icon=":material/delete_forever:")
    return (typed if submitted else None), slots


def _purge(actor: Actor, plan: PurgePlan, typed: str, slots: dict[str, DeltaGenerator],
           before: DeltaGenerator) -> None:
    receipt = None
    with st.status("Purging personal data…", expanded=True) as status:
        receipt = feedback.apply(lambda session: purge_event(
            session, actor, plan.event_id, now=utcnow(), confirm_slug=typed,
            notify_fallback=receipt_fallback(runtime.settings())), slots)
        if receipt is None:
            status.update(label="Nothing was purged.", state="error", expanded=False)
        else:
            st.write("Personal data destroyed; the receipt is stored and mailed to the organisers.")
            st.write("Scrubbing the database file…")
            scrub_storage(runtime.engine())
            status.update(label="Purged.", state="complete", expanded=False)
    if receipt is not None:
        before.empty()
        _show_receipt(receipt)


def _show_receipt(receipt: PurgeReceiptView) -> None:
    st.success(f"The personal data of this event was destroyed on {receipt.at:%d %b %Y, %H:%M} UTC by {receipt.by} "
               f"(receipt {receipt.id}).", icon=":material/verified_user:")
    st.caption(receipt.backup_note)
    _counts_table(receipt.lines)


def _counts_table(lines: Sequence[PlanLine]) -> None:
    st.dataframe([{"What": line.label, "Records": line.count} for line in lines], hide_index=True, width="stretch")


def _past_receipts(actor: Actor) -> None:
    receipts = feedback.read(lambda session: list_purge_receipts(session, actor))
    if receipts is None:
        return
    st.subheader("Purge receipts")
    if not receipts:
        st.caption("No event of yours has been purged yet.")
        return
    st.dataframe([{"Event": r.event_title, "When (UTC)": r.at, "By": r.actor, "Records destroyed": r.total,
                   "Still in backups until": r.backups_until} for r in receipts], hide_index=True, width="stretch")
    st.caption("A purge cannot reach into backups made before it: they hold the data until they age out.")
