"""The dashboard of the chosen event: its state and dates, order counts, what was ordered, orders per day, and what
needs attention."""

from __future__ import annotations

import streamlit as st

from core.config import public_base_url_warning
from core.dashboard import Dashboard, NoticeLevel, event_dashboard
from core.event_admin import EventState
from core.markup import escape_markdown
from core.money import format_money
from core.setup_checklist import ChecklistStep, setup_checklist
from ui import feedback, runtime

# Blues, greys and grey-greens only: no red, orange or yellow that could read as a warning on the dashboard.
NEUTRAL_SWATCHES = ("#4c6a92", "#8aa1c1", "#5f7f6f", "#a7b8a8", "#7a7a8c", "#b5b5c3", "#4f7c8a", "#9fc1c9",
                    "#6b6b6b", "#c4c4c4")

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
    _checklist(checklist)
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

    st.subheader("Items ordered")
    if board.items.empty:
        st.caption("Nothing ordered yet.")
    else:
        st.vega_lite_chart(board.items, _items_chart(), width="stretch")
        st.dataframe(board.items, hide_index=True, width="stretch")
    if board.orders_per_hour is not None:  # one or two days of orders: per day would be one or two huge bars
        st.subheader(f"Orders per hour ({board.timezone})")
        st.bar_chart(board.orders_per_hour, x="Hour", y="Orders")
    else:
        st.subheader(f"Orders per day ({board.timezone})")
        if board.orders_per_day.empty:
            st.caption("No orders yet.")
        else:
            st.bar_chart(board.orders_per_day, x="Day", y="Orders")
    if board.vendor_sends:
        st.subheader("Batch vendors")
        # Vendor names are organisers' text: plain text, never Markdown.
        for state in board.vendor_sends:
            st.text(state.message)
    _timeline(board)


def _items_chart() -> dict[str, object]:
    """Quantities per item as horizontal bars stacked by variant, in neutral colours: the default palette's red
    for the third variant reads as a warning, and a variant named "Red" drawn blue would be no better."""
    return {
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "y": {"field": "Item", "type": "nominal", "sort": None, "title": None},
            "x": {"field": "Quantity", "type": "quantitative", "title": "Quantity"},
            "color": {"field": "Variant", "type": "nominal", "scale": {"range": list(NEUTRAL_SWATCHES)},
                      "legend": {"title": "Variant"}},
        },
    }


def _timeline(board: Dashboard) -> None:
    st.subheader(f"Dates ({board.timezone})")
    if not board.timeline:
        st.caption("No dates are set yet; set them on the Events page.")
        return
    st.markdown("\n".join(
        f"- {':material/check_circle:' if milestone.passed else ':material/schedule:'} {milestone.label}: "
        f"{milestone.at:%a %d %b %Y, %H:%M}" for milestone in board.timeline))


def _checklist(steps: tuple[ChecklistStep, ...]) -> None:
    """Open while something is missing; each missing step says what and links the screen that fixes it."""
    done = sum(step.done for step in steps)
    with st.expander(f"Setup checklist: {done} of {len(steps)} done", expanded=done < len(steps),
                     icon=":material/checklist:"):
        for step in steps:
            if step.done:
                st.markdown(f":material/check_circle: {step.label}")
                continue
            # Item and vendor names are the organisers' own text: shown as written, never as Markdown.
            st.markdown(f":material/radio_button_unchecked: **{step.label}**: {escape_markdown(step.missing)}")
            runtime.page_link(step.fix_path, step.fix_label, icon=":material/arrow_forward:")
