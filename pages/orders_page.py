"""The orders of the chosen event: search and filters, a paged table, an order's details, and status changes."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from sqlalchemy.orm import Session

from core.auth import Actor
from core.event_admin import EventSummary
from core.fulfilment import FULFILMENT_STEPS, MAX_TRACKING_LENGTH, STATUS_LABELS, change_status
from core.models import OrderStatus
from core.order_admin import MAX_SEARCH_LENGTH, OrderFilters, OrderPage, search_orders
from ui import feedback, fresh, runtime
from ui.confirm import confirm
from ui.order_detail import show_order_detail
from ui.paging import pager

PAGE_SIZE = 50


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Orders")
    st.caption(event.title)
    prefix = f"orders.{event.id}"
    filter_area = st.container()
    with st.spinner("Loading orders…"), filter_area:
        result = feedback.read(lambda session: search_orders(
            session, actor, event.id, _filters(prefix), page=st.session_state.get(f"{prefix}.page", 1),
            page_size=PAGE_SIZE))
    if result is None:
        return
    with filter_area:
        _filter_widgets(prefix, result.item_choices)
    st.session_state[f"{prefix}.page"] = result.page
    fresh.show_notice(prefix)
    if result.total == 0:
        st.info("No orders match.", icon=":material/search_off:")
        return
    references = _table(prefix, result)
    _paging(prefix, result)
    if references:
        _actions(actor, event, prefix, references)
    if len(references) == 1:
        show_order_detail(actor, event.id, references[0])


def table_key(prefix: str, generation: int) -> str:
    """The table's key; a new generation (other page, filters, after a change) starts with nothing selected."""
    return f"{prefix}.table.{generation}"


def _filters(prefix: str) -> OrderFilters:
    # Read from the widgets' state of the last run: the widgets are drawn after the search, which supplies the
    # item choices.
    state = st.session_state
    dates = tuple(state.get(f"{prefix}.dates") or ())
    return OrderFilters(text=state.get(f"{prefix}.text", ""), statuses=frozenset(state.get(f"{prefix}.statuses", ())),
                        item_key=state.get(f"{prefix}.item") or None, date_from=dates[0] if dates else None,
                        date_to=dates[1] if len(dates) > 1 else None)


def _filter_widgets(prefix: str, items: dict[str, str]) -> None:
    restart = {"on_change": _restart, "args": (prefix,)}
    st.text_input("Search", key=f"{prefix}.text", placeholder="Order reference, name or email",
                  max_chars=MAX_SEARCH_LENGTH, icon=":material/search:", **restart)
    status_column, item_column, dates_column = st.columns(3)
    status_column.multiselect("Status", list(OrderStatus), key=f"{prefix}.statuses", format_func=STATUS_LABELS.get,
                              placeholder="Any status", **restart)
    item_column.selectbox("Item", ["", *items], key=f"{prefix}.item",
                          format_func=lambda key: items.get(key, "Any item"), **restart)
    dates_column.date_input("Placed between", value=(), key=f"{prefix}.dates", format="YYYY-MM-DD", **restart)


def _table(prefix: str, result: OrderPage) -> list[str]:
    """Draw the page of orders; returns the references of the selected rows."""
    shown = st.dataframe(
        result.rows, key=table_key(prefix, st.session_state.get(f"{prefix}.generation", 0)), on_select="rerun",
        selection_mode="multi-row", hide_index=True, width="stretch",
        column_config={
            "reference": st.column_config.TextColumn("Reference"),
            "placed_at": st.column_config.DatetimeColumn("Placed", format="D MMM YYYY, HH:mm",
                                                         help=f"In the event's timezone, {result.timezone}"),
            "status": st.column_config.SelectboxColumn("Status", options=[s.value for s in OrderStatus],
                                                       format_func=lambda value: STATUS_LABELS[OrderStatus(value)]),
            "items": st.column_config.TextColumn("Items", width="large"),
            "total": st.column_config.NumberColumn("Total", format="%.2f"),
            "name": st.column_config.TextColumn("Name"),
            "email": st.column_config.TextColumn("Email"),
        },
    )
    return [str(result.rows.iloc[row]["reference"]) for row in shown.selection.rows if row < len(result.rows)]


def _paging(prefix: str, result: OrderPage) -> None:
    pager(prefix, result.page, result.pages,
          f"{result.total} order{'s' if result.total != 1 else ''} · page {result.page} of {result.pages}. "
          "Select rows to see an order or change several at once.", lambda page: _turn_to(prefix, page))


def _actions(actor: Actor, event: EventSummary, prefix: str, references: list[str]) -> None:
    count = f"{len(references)} order{'s' if len(references) != 1 else ''}"
    st.subheader(f"{count} selected")
    status_column, button_column = st.columns([2, 1], vertical_alignment="bottom")
    # "Set status" moves along the steps; cancelling has a button of its own that asks for confirmation first.
    new_status = status_column.selectbox("New status", FULFILMENT_STEPS, key=f"{prefix}.new_status",
                                         format_func=STATUS_LABELS.get)
    button_column.button("Set status", key=f"{prefix}.set_status", icon=":material/sync:",
                         on_click=_set_status, args=(actor, event.id, prefix, references))
    if new_status == OrderStatus.SHIPPED:
        st.text_input("Tracking number or link (optional)", key=f"{prefix}.tracking", max_chars=MAX_TRACKING_LENGTH,
                      placeholder="e.g. JD014600006281234567 or https://carrier.example/track/…")
        feedback.show(prefix, "tracking")
    st.checkbox("Tell the attendees (status mail; a text to those who asked for one)", key=f"{prefix}.notify",
                help="Uses the event's “Status update” mail template.")
    if st.session_state.get(f"{prefix}.confirm_cancel") == references:
        confirm(f"Cancel {count} ({', '.join(references)})? A cancelled order cannot be reopened.", "Yes, cancel",
                _cancel, (actor, event.id, prefix, references), no="No, keep them", on_no=_forget,
                no_args=(f"{prefix}.confirm_cancel",), key=f"{prefix}.cancel")
    else:
        st.button(f"Cancel {count}…", key=f"{prefix}.cancel", icon=":material/cancel:", on_click=_ask_to_cancel,
                  args=(prefix, references))
    feedback.show(prefix)


def _restart(prefix: str) -> None:
    st.session_state[f"{prefix}.page"] = 1
    _new_generation(prefix)


def _turn_to(prefix: str, page: int) -> None:
    st.session_state[f"{prefix}.page"] = page
    _new_generation(prefix)


def _new_generation(prefix: str, notice: str | None = None) -> None:
    fresh.refresh(prefix, notice, rerun=False)  # from a callback: the rerun follows
    if notice is None:
        feedback.forget(prefix)  # another page or selection: the last change's errors are out of date
    st.session_state.pop(f"{prefix}.confirm_cancel", None)


def _ask_to_cancel(prefix: str, references: list[str]) -> None:
    st.session_state[f"{prefix}.confirm_cancel"] = references


def _forget(key: str) -> None:
    st.session_state.pop(key, None)


def _set_status(actor: Actor, event_id: int, prefix: str, references: list[str]) -> None:
    # Read the inputs here, not from the button's args, so a change made just before the click counts.
    state = st.session_state
    status: OrderStatus = state[f"{prefix}.new_status"]
    tracking = state.get(f"{prefix}.tracking", "") if status == OrderStatus.SHIPPED else ""
    notify = bool(state.get(f"{prefix}.notify"))
    _change(prefix, lambda session: change_status(session, actor, event_id, references, status, tracking=tracking,
                                                  notify_attendee=notify, settings=runtime.settings()),
            f"{{count}} marked as {STATUS_LABELS[status].lower()}.")
    if "tracking" not in feedback.kept_errors(prefix):
        state.pop(f"{prefix}.tracking", None)


def _cancel(actor: Actor, event_id: int, prefix: str, references: list[str]) -> None:
    notify = bool(st.session_state.get(f"{prefix}.notify"))
    _change(prefix, lambda session: change_status(session, actor, event_id, references, OrderStatus.CANCELLED,
                                                  notify_attendee=notify, settings=runtime.settings()),
            "{count} cancelled.")


def _change(prefix: str, action: Callable[[Session], int], message: str) -> None:
    """Run a status change in a callback, before the rerun, which then shows the new state or the errors."""
    changed = feedback.apply(action, feedback.Kept(prefix))
    if changed is not None:
        _new_generation(prefix, message.format(count=f"{changed} order{'s' if changed != 1 else ''}"))
