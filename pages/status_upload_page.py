"""Status upload: a vendor's CSV of order statuses (reference, status, tracking), previewed row by row, then applied."""

from __future__ import annotations

import hashlib

import streamlit as st

from core.status_upload import FILE_FIELD, MAX_ROWS, apply_status_import, preview_status_import
from core.wording import counted
from ui import feedback, runtime
from ui.status_file import show_preview, whose_file

PREFIX = "status_upload"


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Status upload")
    st.caption(event.title)
    st.markdown("Upload a vendor's CSV with the columns **reference**, **status** and, optionally, **tracking** "
                f"(at most {MAX_ROWS:,} rows; commas or semicolons; UTF-8). Statuses may be written as on the Orders "
                "page (“In production”, “Shipped”). Nothing changes until you apply the preview.")
    state = st.session_state
    if done := state.pop(f"{PREFIX}.done", None):
        st.success(done, icon=":material/check_circle:")
    generation = state.get(f"{PREFIX}.generation", 0)
    vendor_id = whose_file(actor, event.id, key=f"{PREFIX}.vendor.{event.id}.{generation}")
    upload = st.file_uploader("CSV file", type=["csv", "txt"], key=f"{PREFIX}.file.{event.id}.{generation}")
    file_slot = st.empty()
    if upload is None:
        return
    preview = feedback.read(lambda session: preview_status_import(session, actor, event.id, upload.getvalue(),
                                                                  vendor_id=vendor_id),
                            slots={FILE_FIELD: file_slot})
    if preview is None:
        return
    # Apply what the organiser saw: the previous run's preview of this file, not this run's fresh read (which
    # apply_status_import compares it with, refusing if an order moved since).
    fingerprint = (event.id, generation, vendor_id, hashlib.sha256(upload.getvalue()).hexdigest())
    seen = state.get(f"{PREFIX}.shown")
    seen_preview = seen[1] if seen is not None and seen[0] == fingerprint else preview
    state[f"{PREFIX}.shown"] = (fingerprint, preview)
    show_preview(preview)
    changes = len(preview.changes)
    if not changes:
        st.info("Nothing to apply: no row would change an order.", icon=":material/info:")
        return
    notify = st.checkbox("Tell the attendees (status mail; a text to those who asked for one)",
                         key=f"{PREFIX}.notify")
    if st.button(f"Apply {counted(changes, 'change')}", type="primary", key=f"{PREFIX}.apply",
                 icon=":material/done_all:"):
        applied = feedback.apply(lambda session: apply_status_import(
            session, actor, event.id, seen_preview, notify_attendee=notify, settings=runtime.settings()))
        if applied is not None:
            errors = len(seen_preview.errors)
            skipped = f"; {counted(errors, 'row')} with errors skipped" if errors else ""
            state[f"{PREFIX}.done"] = f"{counted(applied, 'order')} updated{skipped}."
            state[f"{PREFIX}.generation"] = generation + 1  # a fresh uploader: the file is done
            st.rerun()
