"""Purge data: the dry run of the chosen event, an export beforehand, the purge after retyping the slug, receipts."""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.auth import Actor
from core.event_admin import EventSummary
from core.exports import ExportFilters, export_orders
from core.models import utcnow
from core.purge import (
    CONFIRM_FIELD,
    PurgePlan,
    purge_event,
    purge_plan,
    receipt_fallback,
    scrub_storage,
)
from ui import feedback, runtime
from ui.downloads import prepared_download
from ui.purge_views import show_dry_run, show_past_receipts, show_receipt


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
        show_receipt(plan.receipt)
    else:
        before = st.empty()  # the dry run and the form, cleared once they are out of date
        with before.container():
            show_dry_run(plan)
            _export_first(actor, event)
            typed, slots = _confirmation(plan)
        if typed is not None:
            _purge(actor, plan, typed, slots, before)
    show_past_receipts(actor)


def _export_first(actor: Actor, event: EventSummary) -> None:
    st.subheader("Export first (optional)")
    if prepared_download(f"purge.{event.id}.export", event.id,
                         lambda session: export_orders(session, actor, event.id, ExportFilters(), "xlsx"),
                         prepare="Prepare an export of all orders (XLSX)", download="Download the export",
                         icon=":material/table_view:", spinner="Building the spreadsheet…"):
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
        show_receipt(receipt)
