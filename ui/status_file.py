"""The Status upload screen's pieces: whose file it is, and the preview of what each row would do."""

from __future__ import annotations

import streamlit as st

from core.auth import Actor
from core.status_upload import StatusImportPreview, file_vendors
from core.wording import counted
from ui import feedback


def whose_file(actor: Actor, event_id: int, *, key: str) -> int | None:
    """The vendor whose file this is (only the items it makes move), or None for whole orders; no question when
    the event has no vendors."""
    vendors = feedback.read(lambda session: file_vendors(session, actor, event_id)) or ()
    if not vendors:
        return None
    names = {vendor.id: vendor.name for vendor in vendors}
    return st.selectbox(
        "Whose file is this?", [None, *names], key=key,
        format_func=lambda vendor_id: "No vendor's (mine, or several vendors'): move whole orders"
        if vendor_id is None else f"From {names[vendor_id]}: move only the items it makes",
        help="A vendor who makes part of an order reports only its own items. Choose it, and in an order shared "
             "with other vendors only its items move, as when it reports through its vendor link; the rest of the "
             "order stays where it is.")


def show_preview(preview: StatusImportPreview) -> None:
    errors = len(preview.errors)
    st.subheader("Preview")
    st.caption(f"{counted(len(preview.rows), 'row')}: {len(preview.changes)} would change an order, {errors} with "
               "errors" + (" (skipped when you apply)." if errors else "."))
    st.dataframe(preview.frame(), hide_index=True, width="stretch", column_config={
        "row": st.column_config.NumberColumn("Row", help="As a spreadsheet numbers it: the header is row 1."),
        "reference": st.column_config.TextColumn("Reference"),
        "current": st.column_config.TextColumn("Now"),
        "new_status": st.column_config.TextColumn("New status"),
        "tracking": st.column_config.TextColumn("Tracking"),
        "outcome": st.column_config.TextColumn("Outcome or error", width="large"),
        "ok": st.column_config.CheckboxColumn("OK"),
    })
