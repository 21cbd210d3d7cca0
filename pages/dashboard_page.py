"""The dashboard of the chosen event: its state and dates, order counts, what was ordered, orders per day, and what
needs attention."""

from __future__ import annotations

import streamlit as st

from core.config import public_base_url_warning
from core.dashboard import Dashboard, NoticeLevel, event_dashboard
from core.event_admin import EventState
from core.money import format_money
from core.setup_checklist import setup_checklist
from ui import feedback, runtime
from ui.dashboard_parts import show_checklist, show_items_ordered, show_orders_over_time

STATE_COLOURS = {EventState.DRAFT: "gray", EventState.SCHEDULED: "violet", EventState.OPEN: "green",
                 EventState.CLOSED: "orange", EventState.FULFILMENT: "blue", EventState.PURGED: "gray",
                 EventState.ARCHIVED: "gray"}


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    shown = feedback.read(lambda session: (event_dashboard(session, actor, event.id),
                                           setup_checklist(session, actor, event.id, runtime.settings())))
    if shown is None:
        return
    board, checklist = shown
    st.title(board.title)
    # The slug matched core.events.SLUG (lower-case letters, digits, hyphens), so it is safe in a Markdown link.
    st.markdown(f":{STATE_COLOURS[board.state]}-badge[{board.state.value.capitalize()}] · "
                f"[Open the public page]({board.public_path}) (`{board.public_path}`)")
    st.markdown(board.next_step)  # built from dates and the time zone name only
    show_checklist(checklist)
    if warning := public_base_url_warning(runtime.settings(), st.context.url, st.get_option("server.port")):
        st.warning(warning, icon=":material/link_off:")
    for notice in board.notices:
        if notice.level == NoticeLevel.WARNING:
            st.warning(notice.message, icon=":material/warning:")
        else:
            st.info(notice.message, icon=":material/info:")
    orders, cancelled, items, value = st.columns(4)
    orders.metric("Orders", board.orders, border=True)
    cancelled.metric("Cancelled", board.cancelled, border=True)
    items.metric("Items ordered", board.items_ordered, border=True)
    value.metric("Order value", format_money(board.order_value, board.currency), border=True)

    show_items_ordered(board)
    show_orders_over_time(board)
    if board.vendor_sends:
        st.subheader("Batch vendors")
        # Vendor names are organisers' text: plain text, never Markdown.
        for state in board.vendor_sends:
            st.text(state.message)
    _timeline(board)


def _timeline(board: Dashboard) -> None:
    st.subheader(f"Dates ({board.timezone})")
    if not board.timeline:
        st.caption("No dates are set yet; set them on the Events page.")
        return
    st.markdown("\n".join(
        f"- {':material/check_circle:' if milestone.passed else ':material/schedule:'} {milestone.label}: "
        f"{milestone.at:%a %d %b %Y, %H:%M}" for milestone in board.timeline))
