"""An attendee's own order as they see it on Find my order."""

from __future__ import annotations

import streamlit as st

from core.lookup import OwnOrder, tracking_link
from core.mail_templates import DELETE_AFTER_UNKNOWN
from ui.order_lines import show_receipt_lines


def show_own_order(order: OwnOrder) -> None:
    """The attendee's order: its lines, what happened so far (with tracking) and when their details go."""
    st.subheader(order.event_title)
    placed = order.local(order.placed_at)
    st.markdown(f"Order **`{order.reference}`**, placed on {placed:%d %B %Y at %H:%M} ({order.timezone}). "
                f"Status: **{order.status_label}**.")
    if order.changed_at is not None:
        st.caption(f"Last changed by you on {order.local(order.changed_at):%d %B %Y at %H:%M}.")
    show_receipt_lines(order.lines, order.total, order.currency, order.line_status_labels or None)
    st.markdown("**What happened so far**")
    for step in order.history:
        st.text(f"{order.local(step.at):%d %b %Y %H:%M}  {step.label}")
        if link := tracking_link(step.tracking):
            st.link_button("Track your parcel", link, icon=":material/local_shipping:")
        elif step.tracking:
            st.text(f"Tracking number: {step.tracking}")
    if order.personal_data_kept:
        when = order.delete_after if order.delete_after == DELETE_AFTER_UNKNOWN else f"on {order.delete_after}"
        st.caption(f"Your personal details are deleted {when}.")
    else:
        st.info("Your personal details have been deleted. What is left is the reference, the items and the status, "
                "nothing about you.", icon=":material/delete:")
