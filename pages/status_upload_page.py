"""Status upload: a vendor's CSV of order statuses (reference, status, tracking), previewed row by row, then applied."""

from __future__ import annotations

import streamlit as st

from core.status_upload import FILE_FIELD, MAX_ROWS, StatusImportPreview, apply_status_import, preview_status_import
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
    upload = st.file_uploader("CSV file", type=["csv", "txt"], key=f"{PREFIX}.file.{event.id}.{generation}")
    file_slot = st.empty()
    if upload is None:
        return
    preview = feedback.read(lambda session: preview_status_import(session, actor, event.id, upload.getvalue()),
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
            state[f"{PREFIX}.done"] = (f"{applied} order{'s' if applied != 1 else ''} updated"
                                       f"{f'; {len(preview.errors)} rows with errors skipped' if preview.errors else ''}.")
            state[f"{PREFIX}.generation"] = generation + 1  # a fresh uploader: the file is done
            st.rerun()


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
