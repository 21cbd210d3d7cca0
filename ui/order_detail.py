"""One order as its organiser sees it on the Orders page (and, later, wherever an order is opened)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import streamlit as st

from core.auth import Actor
from core.fulfilment import STATUS_LABELS
from core.order_admin import OrderDetail, order_detail, resend_order_to_vendors
from core.outbox import MESSAGE_STATUS_LABELS
from core.vendor_portal import PORTAL_CHANNEL
from core.vendors import DisclosureView
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
    show_order_lines(detail.lines, detail.total, detail.currency, detail.line_status_labels or None)
    st.dataframe([{"Question": answer.label, "Answer": answer.value, "Personal": answer.personal}
                  for answer in detail.answers], hide_index=True, width="stretch")
    if not detail.personal_data_kept:
        st.info("The personal details of this order have been deleted.", icon=":material/delete:")
    _history(detail)
    _disclosures(detail)
    _resend_section(actor, event_id, detail.reference)


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
                   "Mail": _shared_how(shared)}
                  for shared in detail.disclosures],
                 hide_index=True, width="stretch", column_config={"When": st.column_config.DatetimeColumn(
                     format="D MMM YYYY, HH:mm", help=f"In the event's timezone, {detail.timezone}")})


def _shared_how(shared: DisclosureView) -> str:
    """The Mail column: the mail's state, or that the vendor saw it in its portal."""
    if shared.channel == PORTAL_CHANNEL:
        return "Vendor portal"
    return MESSAGE_STATUS_LABELS[shared.message_status] if shared.message_status else "Not linked"


def _resend_section(actor: Actor, event_id: int, reference: str) -> None:
    """The organiser's "the vendor lost it" button: the order's per-order vendors get their mail again."""
    st.button("Send this order to its vendors again", key=f"resend.{reference}", icon=":material/forward_to_inbox:",
              on_click=_resend, args=(actor, event_id, reference))
    feedback.show(f"resend.{reference}")


def _resend(actor: Actor, event_id: int, reference: str) -> None:
    kept = feedback.Kept(f"resend.{reference}")
    names = feedback.apply(lambda session: resend_order_to_vendors(session, actor, event_id, reference), kept)
    if isinstance(names, tuple):
        feedback.note(kept, f"Queued again for {', '.join(names)}.")
