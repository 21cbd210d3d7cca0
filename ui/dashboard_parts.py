"""Pieces of the Dashboard screen: the setup checklist, and what was ordered and when, drawn as charts."""

from __future__ import annotations

import streamlit as st

from core.dashboard import Dashboard
from core.markup import escape_markdown
from core.setup_checklist import ChecklistStep
from ui import runtime

# Blues, greys and grey-greens only: no red, orange or yellow that could read as a warning on the dashboard.
NEUTRAL_SWATCHES = ("#4c6a92", "#8aa1c1", "#5f7f6f", "#a7b8a8", "#7a7a8c", "#b5b5c3", "#4f7c8a", "#9fc1c9",
                    "#6b6b6b", "#c4c4c4")


def show_checklist(steps: tuple[ChecklistStep, ...]) -> None:
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


def show_items_ordered(board: Dashboard) -> None:
    st.subheader("Items ordered")
    if board.items.empty:
        st.caption("Nothing ordered yet.")
        return
    st.vega_lite_chart(board.items, _items_chart(), width="stretch")
    st.dataframe(board.items, hide_index=True, width="stretch")


def show_orders_over_time(board: Dashboard) -> None:
    if board.orders_per_hour is not None:  # one or two days of orders: per day would be one or two huge bars
        st.subheader(f"Orders per hour ({board.timezone})")
        st.bar_chart(board.orders_per_hour, x="Hour", y="Orders")
        return
    st.subheader(f"Orders per day ({board.timezone})")
    if board.orders_per_day.empty:
        st.caption("No orders yet.")
    else:
        st.bar_chart(board.orders_per_day, x="Day", y="Orders")


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
