"""Sending a batch vendor their list now, after a question; the outcome beside the button."""

from __future__ import annotations

import streamlit as st

from core.auth import Actor
from core.event_admin import EventSummary
from core.models import utcnow
from core.vendor_batches import BatchKind, ExportsOverview, send_batch
from ui import feedback
from ui.confirm import confirm


def draw_send_section(actor: Actor, event: EventSummary, prefix: str, overview: ExportsOverview) -> None:
    """Choose a batch vendor of the event and send them their list (the first one full, later ones the changes)."""
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
