"""Status upload: a vendor's CSV of order statuses (reference, status, tracking), previewed row by row, then applied."""

from __future__ import annotations

import streamlit as st

from core.auth import Actor
from core.status_upload import (
    FILE_FIELD,
    MAX_ROWS,
    StatusImportPreview,
    apply_status_import,
    file_vendors,
    preview_status_import,
)
from core.wording import counted
from ui import feedback, runtime

PREFIX = "status_upload"


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Status upload")
    st.caption(event.title)
    st.markdown("Upload a vendor's CSV with the columns **reference**, **status** and, optionally, **tracking** "
                f"(at most {MAX_ROWS} rows; commas or semicolons; UTF-8). Statuses may be written as on the Orders "
                "page (“In production”, “Shipped”). Nothing changes until you apply the preview.")
    state = st.session_state
    if done := state.pop(f"{PREFIX}.done", None):
        st.success(done, icon=":material/check_circle:")
    generation = state.get(f"{PREFIX}.generation", 0)
    vendor_id = _whose_file(actor, event.id)
    upload = st.file_uploader("CSV file", type=["csv", "txt"], key=f"{PREFIX}.file.{event.id}.{generation}")
    file_slot = st.empty()
    if upload is None:
        return
    preview = feedback.read(lambda session: preview_status_import(session, actor, event.id, upload.getvalue(),
                                                                  vendor_id=vendor_id),
                            slots={FILE_FIELD: file_slot})
    if preview is None:
        return
    _preview(preview)
    changes = len(preview.changes)
    if not changes:
        st.info("Nothing to apply: no row would change an order.", icon=":material/info:")
        return
    notify = st.checkbox("Tell the attendees (status mail; a text to those who asked for one)",
                         key=f"{PREFIX}.notify")
    if st.button(f"Apply {changes} change{'s' if changes != 1 else ''}", type="primary", key=f"{PREFIX}.apply",
                 icon=":material/done_all:"):
        applied = feedback.apply(lambda session: apply_status_import(
            session, actor, event.id, preview, notify_attendee=notify, settings=runtime.settings()))
        if applied is not None:
            skipped = f"; {counted(len(preview.errors), 'row')} with errors skipped" if preview.errors else ""
            state[f"{PREFIX}.done"] = f"{counted(applied, 'order')} updated{skipped}."
            state[f"{PREFIX}.generation"] = generation + 1  # a fresh uploader: the file is done
            st.rerun()


def _whose_file(actor: Actor, event_id: int) -> int | None:
    """The vendor whose file this is (only its lines move), or None for whole orders."""
    vendors = feedback.read(lambda session: file_vendors(session, actor, event_id)) or ()
    if not vendors:
        return None
    names = {vendor.id: vendor.name for vendor in vendors}
    return st.selectbox(
        "Whose file is this?", [None, *names], key=f"{PREFIX}.vendor.{event_id}",
        format_func=lambda vendor_id: "Not one vendor's: move whole orders" if vendor_id is None
        else f"{names[vendor_id]}'s: move only its items",
        help="A vendor who makes part of an order reports only its own items. Choose it, and in an order shared "
             "with other vendors only its items move, as when it reports through its vendor link; the rest of the "
             "order stays where it is.")


def _preview(preview: StatusImportPreview) -> None:
    errors = len(preview.errors)
    st.subheader("Preview")
    st.caption(f"{len(preview.rows)} rows: {len(preview.changes)} would change an order, {errors} with errors"
               + (" (skipped when you apply)." if errors else "."))
    st.dataframe(preview.frame(), hide_index=True, width="stretch", column_config={
        "row": st.column_config.NumberColumn("Row", help="As a spreadsheet numbers it: the header is row 1."),
        "reference": st.column_config.TextColumn("Reference"),
        "current": st.column_config.TextColumn("Now"),
        "new_status": st.column_config.TextColumn("New status"),
        "tracking": st.column_config.TextColumn("Tracking"),
        "outcome": st.column_config.TextColumn("Outcome or error", width="large"),
        "ok": st.column_config.CheckboxColumn("OK"),
    })
