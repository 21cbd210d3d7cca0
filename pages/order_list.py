"""The orders of the chosen event: search and filters, a paged table, an order's details, and status changes."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.errors import DomainError, FormValidationError
from core.event_admin import EventSummary
from core.fulfilment import MAX_TRACKING_LENGTH, STATUS_LABELS, change_status
from core.markup import escape_markdown
from core.models import MessageStatus, OrderStatus
from core.money import column_format, format_money
from core.order_admin import MAX_SEARCH_LENGTH, OrderDetail, OrderFilters, OrderPage, order_detail, search_orders
from pages import runtime

PAGE_SIZE = 50
# Set with "Set status"; cancelling has a button of its own that asks for confirmation first.
SETTABLE_STATUSES = (OrderStatus.RECEIVED, OrderStatus.SENT_TO_VENDOR, OrderStatus.IN_PRODUCTION,
                     OrderStatus.SHIPPED, OrderStatus.DELIVERED)
MESSAGE_STATUS_LABELS = {MessageStatus.HELD: "Held (no mail server set up)", MessageStatus.PENDING: "Waiting",
                         MessageStatus.SENDING: "Being sent", MessageStatus.SENT: "Sent",
                         MessageStatus.FAILED: "Failed"}


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Orders")
    st.caption(event.title)
    prefix = f"orders.{event.id}"
    filter_area = st.container()
    try:
        with st.spinner("Loading orders…"), read_only(runtime.engine()) as session:
            result = search_orders(session, actor, event.id, _filters(prefix),
                                   page=st.session_state.get(f"{prefix}.page", 1), page_size=PAGE_SIZE)
    except DomainError as exc:
        filter_area.error(str(exc))
        return
    with filter_area:
        _filter_widgets(prefix, result.item_choices)
    st.session_state[f"{prefix}.page"] = result.page
    if done := st.session_state.pop(f"{prefix}.done", None):
        st.success(done, icon=":material/check_circle:")
    if result.total == 0:
        st.info("No orders match.", icon=":material/search_off:")
        return
    references = _table(prefix, result)
    _paging(prefix, result)
    if references:
        _actions(actor, event, prefix, references)
    if len(references) == 1:
        _detail(actor, event, references[0])


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
            "total": st.column_config.NumberColumn("Total", format=column_format(result.currency)),
            "name": st.column_config.TextColumn("Name"),
            "email": st.column_config.TextColumn("Email"),
        },
    )
    return [str(result.rows.iloc[row]["reference"]) for row in shown.selection.rows if row < len(result.rows)]


def _paging(prefix: str, result: OrderPage) -> None:
    previous, where, following = st.columns([1, 3, 1], vertical_alignment="center")
    previous.button("Previous", key=f"{prefix}.previous", icon=":material/chevron_left:", disabled=result.page <= 1,
                    on_click=_turn_to, args=(prefix, result.page - 1))
    where.caption(f"{result.total} order{'s' if result.total != 1 else ''} · page {result.page} of {result.pages}. "
                  "Select rows to see an order or change several at once.")
    following.button("Next", key=f"{prefix}.next", icon=":material/chevron_right:",
                     disabled=result.page >= result.pages, on_click=_turn_to, args=(prefix, result.page + 1))


def _actions(actor: Actor, event: EventSummary, prefix: str, references: list[str]) -> None:
    count = f"{len(references)} order{'s' if len(references) != 1 else ''}"
    st.subheader(f"{count} selected")
    field_errors: dict[str, str] = st.session_state.pop(f"{prefix}.field_errors", {})
    status_column, button_column = st.columns([2, 1], vertical_alignment="bottom")
    new_status = status_column.selectbox("New status", SETTABLE_STATUSES, key=f"{prefix}.new_status",
                                         format_func=STATUS_LABELS.get)
    button_column.button("Set status", key=f"{prefix}.set_status", icon=":material/sync:",
                         on_click=_set_status, args=(actor, event.id, prefix, references))
    if new_status == OrderStatus.SHIPPED:
        st.text_input("Tracking number or link (optional)", key=f"{prefix}.tracking", max_chars=MAX_TRACKING_LENGTH,
                      placeholder="e.g. JD014600006281234567 or https://carrier.example/track/…")
        if message := field_errors.get("tracking"):
            st.error(message, icon=":material/error:")
    st.checkbox("Tell the attendees (status mail; a text to those who asked for one)", key=f"{prefix}.notify",
                help="Uses the event's “Status update” mail template.")
    if st.session_state.get(f"{prefix}.confirm_cancel") == references:
        st.warning(f"Cancel {count} ({', '.join(references)})? A cancelled order cannot be reopened.",
                   icon=":material/warning:")
        yes, no = st.columns(2)
        yes.button("Yes, cancel", key=f"{prefix}.cancel_yes", type="primary", on_click=_cancel,
                   args=(actor, event.id, prefix, references))
        no.button("No, keep them", key=f"{prefix}.cancel_no", on_click=_forget, args=(f"{prefix}.confirm_cancel",))
    else:
        st.button(f"Cancel {count}…", key=f"{prefix}.cancel", icon=":material/cancel:", on_click=_ask_to_cancel,
                  args=(prefix, references))
    if problem := st.session_state.pop(f"{prefix}.problem", None):
        st.error(problem)


def _detail(actor: Actor, event: EventSummary, reference: str) -> None:
    try:
        with read_only(runtime.engine()) as session:
            detail = order_detail(session, actor, event.id, reference)
    except DomainError as exc:
        st.error(str(exc))
        return
    st.subheader(f"Order {detail.reference}")
    st.caption(f"Placed {detail.local_placed_at:%d %b %Y, %H:%M} ({detail.timezone}) · "
               f"{STATUS_LABELS[detail.status]} · form version {detail.form_version}")
    st.dataframe([{"Item": line.item_name, "Choice": line.variant_label, "Quantity": line.quantity,
                   "Price each": line.unit_price} for line in detail.lines],
                 hide_index=True, width="stretch", column_config={"Price each": st.column_config.NumberColumn(
                     format=column_format(detail.currency))})
    if detail.total is not None:
        st.markdown(f"**Total: {escape_markdown(format_money(detail.total, detail.currency))}**")
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


def _restart(prefix: str) -> None:
    st.session_state[f"{prefix}.page"] = 1
    _new_generation(prefix)


def _turn_to(prefix: str, page: int) -> None:
    st.session_state[f"{prefix}.page"] = page
    _new_generation(prefix)


def _new_generation(prefix: str) -> None:
    st.session_state[f"{prefix}.generation"] = st.session_state.get(f"{prefix}.generation", 0) + 1
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
    if f"{prefix}.field_errors" not in state:
        state.pop(f"{prefix}.tracking", None)


def _cancel(actor: Actor, event_id: int, prefix: str, references: list[str]) -> None:
    notify = bool(st.session_state.get(f"{prefix}.notify"))
    _change(prefix, lambda session: change_status(session, actor, event_id, references, OrderStatus.CANCELLED,
                                                  notify_attendee=notify, settings=runtime.settings()),
            "{count} cancelled.")


def _change(prefix: str, action: Callable[[Session], int], message: str) -> None:
    """Run a status change in its own unit of work; runs before the rerun, which then shows the new state."""
    try:
        with unit_of_work(runtime.engine()) as session:
            changed = action(session)
    except FormValidationError as exc:
        st.session_state[f"{prefix}.field_errors"] = exc.errors  # shown beside their inputs by the rerun
        return
    except DomainError as exc:
        st.session_state[f"{prefix}.problem"] = str(exc)
        return
    st.session_state[f"{prefix}.done"] = message.format(count=f"{changed} order{'s' if changed != 1 else ''}")
    _new_generation(prefix)
