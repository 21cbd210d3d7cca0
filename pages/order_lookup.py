"""The attendee's own order (`/lookup`): found by the secret link of the confirmation mail (`?t=<secret>`) or by
reference plus email; shows it, and lets the attendee change or cancel it, or delete their personal data.

Access, once proven, lives in this session's state only (the order's id, never shown or logged).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import streamlit as st

from core.config import code_key
from core.db import read_only, unit_of_work
from core.errors import DomainError, FormValidationError, LookupThrottled, NotFound
from core.forms import FieldType
from core.lookup import (
    NOT_FOUND_MESSAGE,
    ChangeForm,
    OwnOrder,
    cancel_own_order,
    change_form,
    change_order,
    find_order_by_reference,
    find_order_by_token,
    own_order,
    tracking_link,
)
from core.mail_templates import DELETE_AFTER_UNKNOWN
from core.markup import escape_markdown
from core.models import utcnow
from core.money import column_format, format_money
from core.orders import ReceiptLine
from core.purge import forget_order
from pages import runtime
from pages.form_renderer import read_answers, render_form

ORDER_KEY = "lookup.order_id"
TOKEN_KEY = "lookup.token"  # the secret last resolved, so that another link opened in this tab is resolved anew
STEP_KEY = "lookup.step"  # None, "change", "cancel" or "forget": which action is open
ERRORS_KEY = "lookup.errors"
PROBLEM_KEY = "lookup.problem"
NOTICE_KEY = "lookup.notice"
FORM_PREFIX = "lookup.change"


def render() -> None:
    st.title("Find my order")
    _resolve_link()
    order_id = st.session_state.get(ORDER_KEY)
    if order_id is None:
        _find_form()
        return
    try:
        with read_only(runtime.engine()) as session:
            order = own_order(session, order_id)
    except NotFound:
        st.session_state.pop(ORDER_KEY, None)
        _find_form()
        return
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice, icon=":material/check_circle:")
    _show(order)
    step = st.session_state.get(STEP_KEY)
    changing = step == "change" and order.can_change
    # The change form shows its own problem beside the form; anything else failed shows it here.
    if not changing and (problem := st.session_state.pop(PROBLEM_KEY, None)):
        st.error(problem, icon=":material/error:")
    if changing:
        _change(order_id)
    elif step == "cancel" and order.can_change:
        _confirm("Cancel this order? Its items go back on sale; this cannot be undone.", "Yes, cancel my order",
                 _cancel, order_id)
    elif step == "forget" and order.can_forget:
        _confirm("Delete your name, contact details and other answers now? Only the reference, items and status "
                 "stay; you will not be able to find this order by email again.", "Yes, delete my details",
                 _forget, order_id)
    else:
        _actions(order)


def _resolve_link() -> None:
    token = st.query_params.get("t")
    if not token or token == st.session_state.get(TOKEN_KEY):
        return
    with read_only(runtime.engine()) as session:
        order_id = find_order_by_token(session, token)
    st.session_state[TOKEN_KEY] = token
    if order_id is None:
        st.session_state.pop(ORDER_KEY, None)
        st.error(NOT_FOUND_MESSAGE + " The link may be out of date: a change sends a new one.",
                 icon=":material/error:")
    else:
        _enter(order_id)


def _enter(order_id: int) -> None:
    st.session_state[ORDER_KEY] = order_id
    st.session_state[STEP_KEY] = None


def _find_form() -> None:
    st.write("Open the link in your confirmation mail, or enter your order reference and the email address you "
             "ordered with.")
    with st.form("find_order"):
        reference = st.text_input("Order reference", max_chars=16, placeholder="e.g. K7M2QX9P")
        email = st.text_input("Email address", max_chars=254, autocomplete="email")
        submitted = st.form_submit_button("Find my order", type="primary", icon=":material/search:")
    if not submitted:
        return
    try:
        # Committed even when nothing is found: the failed attempt counts towards the throttle.
        with unit_of_work(runtime.engine()) as session:
            order_id = find_order_by_reference(session, reference, email, client=runtime.client_address())
    except LookupThrottled as exc:
        st.error(str(exc), icon=":material/error:")
        return
    if order_id is None:
        st.error(NOT_FOUND_MESSAGE, icon=":material/error:")
        return
    _enter(order_id)
    st.rerun()


def _show(order: OwnOrder) -> None:
    st.subheader(order.event_title)
    placed = order.local(order.placed_at)
    st.markdown(f"Order **`{order.reference}`**, placed on {placed:%d %B %Y at %H:%M} ({order.timezone}). "
                f"Status: **{order.status_label}**.")
    if order.changed_at is not None:
        st.caption(f"Last changed by you on {order.local(order.changed_at):%d %B %Y at %H:%M}.")
    show_lines(order.lines, order.total, order.currency)
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


def show_lines(lines: Sequence[ReceiptLine], total: Decimal | None, currency: str) -> None:
    """An order's lines as a table, and the total when every item has a price (also the confirmation screen's)."""
    st.dataframe(
        [{"Item": line.item_name, "Choice": line.variant_label, "Quantity": line.quantity,
          "Price each": line.unit_price} for line in lines],
        hide_index=True, width="stretch",
        column_config={"Price each": st.column_config.NumberColumn(format=column_format(currency))},
    )
    if total is not None:
        st.markdown(f"**Total: {escape_markdown(format_money(total, currency))}**")


def _actions(order: OwnOrder) -> None:
    if order.can_change:
        until = (f"until {order.local(order.change_until):%d %B %Y at %H:%M}" if order.change_until
                 else "until it goes into production")
        st.caption(f"You can change or cancel this order {until}.")
        change, cancel = st.columns(2)
        change.button("Change my order", on_click=_open, args=("change",), icon=":material/edit:",
                      width="stretch")
        cancel.button("Cancel my order", on_click=_open, args=("cancel",), icon=":material/cancel:",
                      width="stretch")
    elif order.locked_reason:
        st.info(order.locked_reason, icon=":material/lock:")
    if order.can_forget:
        st.button("Delete my personal data now", on_click=_open, args=("forget",), icon=":material/delete:")


def _open(step: str) -> None:
    state = st.session_state
    state[PROBLEM_KEY] = None
    state[ERRORS_KEY] = {}
    if step == "change":
        try:
            with read_only(runtime.engine()) as session:
                draft = change_form(session, state[ORDER_KEY])
        except DomainError as exc:
            state[PROBLEM_KEY] = str(exc)
            return
        _prefill(draft)
    state[STEP_KEY] = step


def _close() -> None:
    st.session_state[STEP_KEY] = None


def _confirm(question: str, label: str, action: Any, order_id: int) -> None:
    st.warning(question, icon=":material/warning:")
    yes, no = st.columns(2)
    yes.button(label, type="primary", on_click=action, args=(order_id,), width="stretch")
    no.button("Go back", on_click=_close, width="stretch")


def _change(order_id: int) -> None:
    try:
        with read_only(runtime.engine()) as session:
            draft = change_form(session, order_id)
    except DomainError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.markdown("**Change your order**")
    for line in draft.unavailable:
        st.warning(f"{line} is no longer offered; saving a change removes it from your order.")
    render_form(draft.form, draft.catalogue, FORM_PREFIX, st.session_state.get(ERRORS_KEY) or {}, draft.currency)
    if problem := st.session_state.get(PROBLEM_KEY):
        st.error(problem, icon=":material/error:")
    elif st.session_state.get(ERRORS_KEY):
        st.error("Please correct the fields marked above; nothing was changed yet.", icon=":material/error:")
    save, back = st.columns(2)
    save.button("Save changes", type="primary", on_click=_save, args=(order_id, draft), icon=":material/save:",
                width="stretch")
    back.button("Discard changes", on_click=_close, width="stretch")


def _save(order_id: int, draft: ChangeForm) -> None:
    """Runs before the rerun, so errors appear beside their fields in that same run."""
    state = st.session_state
    state[PROBLEM_KEY] = None
    state[ERRORS_KEY] = {}
    config = runtime.settings()
    try:
        with unit_of_work(runtime.engine()) as session:
            token = change_order(session, order_id, read_answers(draft.form, draft.catalogue, FORM_PREFIX),
                                 code_key=code_key(config), check_deliverability=config.email_check_deliverability)
    except FormValidationError as exc:
        state[ERRORS_KEY] = exc.errors
        return
    except DomainError as exc:
        state[PROBLEM_KEY] = str(exc)
        return
    # The old link stopped working; the address bar carries the new one, so a reload still finds the order.
    st.query_params["t"] = token
    state[TOKEN_KEY] = token
    state[STEP_KEY] = None
    state[NOTICE_KEY] = ("Your order has been changed. We have sent you a fresh confirmation with a new link; "
                         "the old link no longer works.")


def _cancel(order_id: int) -> None:
    _act(lambda session: cancel_own_order(session, order_id), "Your order has been cancelled.")


def _forget(order_id: int) -> None:
    _act(lambda session: forget_order(session, order_id, now=utcnow()), "Your personal details have been deleted.")


def _act(action: Any, notice: str) -> None:
    state = st.session_state
    state[STEP_KEY] = None
    try:
        with unit_of_work(runtime.engine()) as session:
            action(session)
    except DomainError as exc:
        state[PROBLEM_KEY] = str(exc)
        return
    state[NOTICE_KEY] = notice


def _prefill(draft: ChangeForm) -> None:
    """Put the order's answers into the change form's widgets (keys as pages/form_renderer.py draws them)."""
    state = st.session_state
    for key in [key for key in state if str(key).startswith(f"{FORM_PREFIX}.")]:
        del state[key]
    for spec in draft.form.fields:
        key, value = f"{FORM_PREFIX}.{spec.key}", draft.answers.get(spec.key)
        if value is None:
            continue
        if spec.type == FieldType.ADDRESS and isinstance(value, dict):
            for part, text in value.items():
                state[f"{key}.{part}"] = text
        elif spec.type == FieldType.ITEMS:
            _prefill_lines(draft, key, value)
        elif spec.type == FieldType.DATE and isinstance(value, str):
            state[key] = dt.date.fromisoformat(value)
        else:
            state[key] = value


def _prefill_lines(draft: ChangeForm, key: str, lines: list[dict[str, Any]]) -> None:
    state = st.session_state
    counts: dict[str, int] = {}
    for line in lines:
        index = counts.get(line["item"], 0)
        counts[line["item"]] = index + 1
        line_key = f"{key}.{line['item']}.{index}"
        for name, option in line["options"].items():
            state[f"{line_key}.{name}"] = option
        state[f"{line_key}.quantity"] = line["quantity"]
    for item_key, count in counts.items():
        if count > 1:
            state[f"{key}.{item_key}.lines"] = count
