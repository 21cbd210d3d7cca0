"""A vendor's portal (`/vendor?t=<secret>`), no login: its orders of one event with the fields it may see,
downloads, and status updates (in production, shipped with tracking, delivered).

Access, once the link is checked, lives in this session's state only; every text is shown as plain text.
"""

from __future__ import annotations

import streamlit as st

from core.db import unit_of_work
from core.errors import DomainError, FormValidationError
from core.fulfilment import MAX_TRACKING_LENGTH, STATUS_LABELS
from core.models import OrderStatus
from core.status_upload import FILE_FIELD
from core.vendor_portal import (
    NOT_A_LINK,
    VENDOR_STATUSES,
    PortalAccess,
    PortalFilters,
    PortalView,
    open_portal,
    portal_download,
    portal_view,
    update_statuses,
    upload_statuses,
)
from pages import runtime

ACCESS_KEY = "vendor.access"
TOKEN_KEY = "vendor.token"
NOTICE_KEY = "vendor.notice"
PROBLEM_KEY = "vendor.problem"
FILE_KEY = "vendor.file"


def render() -> None:
    st.title("Your orders")
    _resolve_link()
    access: PortalAccess | None = st.session_state.get(ACCESS_KEY)
    if access is None:
        st.caption("Open the link the organiser sent you.")
        return
    filters = _filters()
    try:
        with unit_of_work(runtime.engine()) as session:  # views are recorded in the disclosure register
            view = portal_view(session, access, filters)
    except DomainError as exc:
        st.session_state.pop(ACCESS_KEY, None)
        st.error(str(exc), icon=":material/error:")
        return
    st.subheader(f"{view.event_title} · {view.vendor_name}", anchor=False)
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice, icon=":material/check_circle:")
    if problem := st.session_state.pop(PROBLEM_KEY, None):
        st.error(problem, icon=":material/error:")
    if view.purged:
        st.info("The personal details of this event's orders have been deleted; only the counts remain.",
                icon=":material/delete:")
        st.dataframe(view.counts, hide_index=True)
        _downloads(access)
        return
    _orders(view)
    _status_form(access, view)
    _downloads(access)
    _upload(access)


def _resolve_link() -> None:
    token = st.query_params.get("t")
    if not token or token == st.session_state.get(TOKEN_KEY):
        return
    st.session_state[TOKEN_KEY] = token
    st.session_state.pop(ACCESS_KEY, None)
    try:
        # Committed even for a wrong link: the attempt counts towards the client's throttle.
        with unit_of_work(runtime.engine()) as session:
            access = open_portal(session, token, client=runtime.client_address())
    except DomainError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    if access is None:
        st.error(NOT_A_LINK, icon=":material/error:")
    else:
        st.session_state[ACCESS_KEY] = access


def _filters() -> PortalFilters:
    with st.expander("Filter", expanded=False):
        statuses = st.multiselect("Status", list(STATUS_LABELS), key="vendor.statuses", format_func=STATUS_LABELS.get)
        item = st.text_input("Item (as listed)", key="vendor.item", max_chars=200)
        variant = st.text_input("Variant (as listed)", key="vendor.variant", max_chars=200)
        changed = st.checkbox("Only what changed since my last visit", key="vendor.changed")
    return PortalFilters(frozenset(statuses), item.strip(), variant.strip(), changed)


def _orders(view: PortalView) -> None:
    if view.previous_visit_at is not None:
        st.caption(f"{view.changed_since_last_visit} order(s) new or changed since your last visit.")
    if not view.orders:
        st.caption("No orders to show.")
        return
    # A dataframe shows every cell as text: names and addresses are never read as Markdown or HTML.
    st.dataframe([{"Reference": order.reference, "Status": order.status_label, "Items": "; ".join(order.lines),
                   **{label: value for label, value in order.fields}, "Tracking": order.tracking or "",
                   "New or changed": "yes" if order.changed else ""} for order in view.orders],
                 hide_index=True, width="stretch")


def _status_form(access: PortalAccess, view: PortalView) -> None:
    st.subheader("Update statuses", anchor=False)
    references = [order.reference for order in view.orders if order.status != OrderStatus.CANCELLED]
    st.multiselect("Orders", references, key="vendor.selected")
    status = st.selectbox("New status", VENDOR_STATUSES, key="vendor.new_status", format_func=STATUS_LABELS.get)
    if status == OrderStatus.SHIPPED:
        st.text_input("Tracking number or link (optional)", key="vendor.tracking", max_chars=MAX_TRACKING_LENGTH)
    st.button("Update", key="vendor.update", type="primary", icon=":material/sync:", on_click=_update,
              args=(access,))


def _update(access: PortalAccess) -> None:
    state = st.session_state
    status: OrderStatus = state["vendor.new_status"]
    tracking = state.get("vendor.tracking", "") if status == OrderStatus.SHIPPED else ""
    selected = list(state.get("vendor.selected", []))
    try:
        with unit_of_work(runtime.engine()) as session:
            moved = update_statuses(session, access, {reference: tracking for reference in selected}, status,
                                    settings=runtime.settings())
    except FormValidationError as exc:
        state[PROBLEM_KEY] = " ".join(exc.errors.values())
        return
    except DomainError as exc:
        state[PROBLEM_KEY] = str(exc)
        return
    state[NOTICE_KEY] = f"{moved} order(s) marked as {STATUS_LABELS[status].lower()}."
    state["vendor.selected"] = []
    state.pop("vendor.tracking", None)


def _downloads(access: PortalAccess) -> None:
    st.subheader("Download", anchor=False)
    left, right = st.columns(2)
    left.button("Prepare XLSX", key="vendor.prepare_xlsx", on_click=_prepare, args=(access, "xlsx"))
    right.button("Prepare CSV", key="vendor.prepare_csv", on_click=_prepare, args=(access, "csv"))
    if prepared := st.session_state.get(FILE_KEY):
        st.download_button(f"Download {prepared.filename}", prepared.data, file_name=prepared.filename,
                           mime=prepared.mimetype, key="vendor.download", icon=":material/download:")


def _prepare(access: PortalAccess, fmt: str) -> None:
    """Built on request, not on every rerun: each download is recorded as a disclosure."""
    try:
        with unit_of_work(runtime.engine()) as session:
            st.session_state[FILE_KEY] = portal_download(session, access, "xlsx" if fmt == "xlsx" else "csv")
    except DomainError as exc:
        st.session_state[PROBLEM_KEY] = str(exc)


def _upload(access: PortalAccess) -> None:
    st.subheader("Upload your status file", anchor=False)
    st.caption("A CSV with the columns reference, status (in production, shipped or delivered) and, optionally, "
               "tracking. All rows are applied, or none.")
    st.file_uploader("Status file (CSV)", type=["csv"], key="vendor.upload")
    st.button("Apply file", key="vendor.apply", on_click=_apply_file, args=(access,))


def _apply_file(access: PortalAccess) -> None:
    uploaded = st.session_state.get("vendor.upload")
    if uploaded is None:
        st.session_state[PROBLEM_KEY] = "Choose a file first."
        return
    try:
        with unit_of_work(runtime.engine()) as session:
            moved = upload_statuses(session, access, uploaded.getvalue(), settings=runtime.settings())
    except FormValidationError as exc:
        st.session_state[PROBLEM_KEY] = exc.errors.get(FILE_FIELD) or " ".join(exc.errors.values())
        return
    except DomainError as exc:
        st.session_state[PROBLEM_KEY] = str(exc)
        return
    st.session_state[NOTICE_KEY] = f"{moved} order(s) updated from your file."
