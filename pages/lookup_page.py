"""The attendee's own order (`/lookup`): found by the secret link of the confirmation mail (`?t=<secret>`) or by
reference plus email; shows it, and lets the attendee change or cancel it, or delete their personal data.

Access, once proven, lives in this session's state only (the order's id, never shown or logged).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.config import code_key
from core.db import read_only
from core.errors import NotFound
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
)
from core.models import utcnow
from core.purge import forget_order
from ui import feedback, fresh, runtime
from ui.confirm import confirm
from ui.form_renderer import prefill_answers, read_answers, render_form
from ui.own_order import show_own_order

ORDER_KEY = "lookup.order_id"
TOKEN_KEY = "lookup.token"  # the secret last resolved, so that another link opened in this tab is resolved anew
STEP_KEY = "lookup.step"  # None, "change", "cancel" or "forget": which action is open
SCOPE = "lookup"  # what the last action left to show (ui/feedback.py)
FORM_PREFIX = "lookup.change"


def render() -> None:
    st.title("Find my order")
    _resolve_link()
    order_id = st.session_state.get(ORDER_KEY)
    if order_id is None:
        _find_form()
        return
    try:  # not feedback.read: an order gone (purged, say) shows the search, not an error
        with read_only(runtime.engine()) as session:
            order = own_order(session, order_id)
    except NotFound:
        st.session_state.pop(ORDER_KEY, None)
        _find_form()
        return
    fresh.show_notice(SCOPE)
    show_own_order(order)
    step = st.session_state.get(STEP_KEY)
    changing = step == "change" and order.can_change
    # The change form shows its own problem beside the form; anything else failed shows it here.
    if not changing:
        feedback.show(SCOPE)
    if changing:
        _change(order_id)
    elif step == "cancel" and order.can_change:
        confirm("Cancel this order? Its items go back on sale; this cannot be undone.", "Yes, cancel my order",
                _cancel, (order_id,), no="Go back", on_no=_close, stretch=True)
    elif step == "forget" and order.can_forget:
        confirm("Delete your name, contact details and other answers now? Only the reference, items and status "
                "stay; you will not be able to find this order by email again.", "Yes, delete my details",
                _forget, (order_id,), no="Go back", on_no=_close, stretch=True)
    else:
        _actions(order)


def _resolve_link() -> None:
    token = st.query_params.get("t")
    if not token or token == st.session_state.get(TOKEN_KEY):
        return
    with read_only(runtime.engine()) as session:  # no DomainError: an unknown link is None
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
    # A change, committed even when nothing is found: the failed attempt counts towards the throttle.
    found = feedback.apply(lambda session: [find_order_by_reference(session, reference, email,
                                                                    client=runtime.client_address())])
    if found is None:
        return
    [order_id] = found
    if order_id is None:
        st.error(NOT_FOUND_MESSAGE, icon=":material/error:")
        return
    _enter(order_id)
    st.rerun()


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
    feedback.forget(SCOPE)
    if step == "change":
        draft = feedback.read(lambda session: change_form(session, state[ORDER_KEY]), feedback.Kept(SCOPE))
        if draft is None:
            return
        prefill_answers(draft.form, FORM_PREFIX, draft.answers)
    state[STEP_KEY] = step


def _close() -> None:
    st.session_state[STEP_KEY] = None


def _change(order_id: int) -> None:
    draft = feedback.read(lambda session: change_form(session, order_id))
    if draft is None:
        return
    st.markdown("**Change your order**")
    for line in draft.unavailable:
        st.warning(f"{line} is no longer offered; saving a change removes it from your order.")
    errors = feedback.kept_errors(SCOPE)
    problem = errors.pop("", None)
    render_form(draft.form, draft.catalogue, FORM_PREFIX, errors)
    if problem:
        st.error(problem, icon=":material/error:")
    elif errors:
        st.error("Please correct the fields marked above; nothing was changed yet.", icon=":material/error:")
    save, back = st.columns(2)
    save.button("Save changes", type="primary", on_click=_save, args=(order_id, draft), icon=":material/save:",
                width="stretch")
    back.button("Discard changes", on_click=_close, width="stretch")


def _save(order_id: int, draft: ChangeForm) -> None:
    """Runs before the rerun, so errors appear beside their fields in that same run."""
    state = st.session_state
    config = runtime.settings()
    answers = read_answers(draft.form, draft.catalogue, FORM_PREFIX)
    token = feedback.apply(lambda session: change_order(session, order_id, answers, code_key=code_key(config),
                                                        check_deliverability=config.email_check_deliverability),
                           feedback.Kept(SCOPE))
    if token is None:
        return
    # The old link stopped working; the address bar carries the new one, so a reload still finds the order.
    st.query_params["t"] = token
    state[TOKEN_KEY] = token
    state[STEP_KEY] = None
    fresh.refresh(SCOPE, "Your order has been changed. We have sent you a fresh confirmation with a new link; the "
                  "old link no longer works.", rerun=False, renew=False)


def _cancel(order_id: int) -> None:
    _act(lambda session: cancel_own_order(session, order_id), "Your order has been cancelled.")


def _forget(order_id: int) -> None:
    _act(lambda session: forget_order(session, order_id, now=utcnow()), "Your personal details have been deleted.")


def _act(action: Any, notice: str) -> None:
    st.session_state[STEP_KEY] = None
    if feedback.apply(action, feedback.Kept(SCOPE)) is not None:
        fresh.refresh(SCOPE, notice, rerun=False, renew=False)
