"""One order as its organiser sees it on the Orders page (and, later, wherever an order is opened)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import streamlit as st

from core.auth import Actor
from core.fulfilment import STATUS_LABELS
from core.order_admin import OrderDetail, order_detail
from core.outbox import MESSAGE_STATUS_LABELS
from ui import feedback
from ui.order_lines import show_order_lines


def show_order_detail(actor: Actor, event_id: int, reference: str) -> None:
    """One order of the event for its organiser: lines, answers, status history and what vendors received."""
    detail = feedback.read(lambda session: order_detail(session, actor, event_id, reference))
    if detail is None:
        return
    st.subheader(f"Order {detail.reference}")
    st.caption(f"Placed {detail.local_placed_at:%d %b %Y, %H:%M} ({detail.timezone}) · "
               f"{STATUS_LABELS[detail.status]} · form version {detail.form_version}")
    show_order_lines(detail.lines, detail.total)
    st.dataframe([{"Question": answer.label, "Answer": answer.value, "Personal": answer.personal}
                  for answer in detail.answers], hide_index=True, width="stretch")
    if not detail.personal_data_kept:
        st.info("The personal details of this order have been deleted.", icon=":material/delete:")
    _history(detail)
    _disclosures(detail)


def _history(detail: OrderDetail) -> None:
    """Every status the order went through: when, which, set by whom, and tracking."""
    st.markdown("**Status history**")
    zone = ZoneInfo(detail.timezone)
    # Tracking as plain text, not a link column: it came from a vendor's file and is only shown, never followed.
    st.dataframe([{"When": step.at.astimezone(zone).replace(tzinfo=None), "Status": step.label,
                   "By": step.actor or "", "Tracking": step.tracking or ""} for step in detail.history],
                 hide_index=True, width="stretch", column_config={"When": st.column_config.DatetimeColumn(
                     format="D MMM YYYY, HH:mm", help=f"In the event's timezone, {detail.timezone}")})


def _disclosures(detail: OrderDetail) -> None:
    """The order's disclosure register: which vendor received which of its fields, when, and in which mail."""
    st.markdown("**Shared with vendors**")
    if not detail.disclosures:
        st.caption("No vendor has received anything of this order.")
        return
    zone = ZoneInfo(detail.timezone)
    st.dataframe([{"Vendor": shared.vendor_name, "Fields": ", ".join(shared.fields) or "Items only",
                   "When": shared.at.astimezone(zone).replace(tzinfo=None),
                   "Mail": MESSAGE_STATUS_LABELS[shared.message_status] if shared.message_status else "Not linked"}
                  for shared in detail.disclosures],
                 hide_index=True, width="stretch", column_config={"When": st.column_config.DatetimeColumn(
                     format="D MMM YYYY, HH:mm", help=f"In the event's timezone, {detail.timezone}")})
