"""A vendor's portal (`/vendor?t=<secret>`), no login: its orders of one event with the fields it may see,
downloads, and status updates (in production, shipped with tracking, delivered).

Access, once the link is checked, lives in this session's state only; every text is shown as plain text.
"""

from __future__ import annotations

import streamlit as st

from core.fulfilment import MAX_TRACKING_LENGTH, STATUS_LABELS, VENDOR_STATUSES
from core.models import OrderStatus
from core.status_upload import FILE_FIELD
from core.vendor_portal import (
    NOT_A_LINK,
    PortalAccess,
    PortalFilters,
    PortalView,
    open_portal,
    portal_download,
    portal_view,
    update_statuses,
    upload_statuses,
)
from core.wording import counted
from ui import feedback, runtime

ACCESS_KEY = "vendor.access"
TOKEN_KEY = "vendor.token"
SCOPE = "vendor"  # where a change's outcome waits for the rerun, by section: "status", "tracking", "download"
UPLOAD_SCOPE = "vendor.upload"
FILE_KEY = "vendor.file"


def render() -> None:
    st.title("Your orders")
    _resolve_link()
    access: PortalAccess | None = st.session_state.get(ACCESS_KEY)
    if access is None:
        st.caption("Open the link the organiser sent you.")
        return
    filters = _filters()
    # A change, not a read: views are recorded in the disclosure register.
    view = feedback.apply(lambda session: portal_view(session, access, filters))
    if not isinstance(view, PortalView):
        st.session_state.pop(ACCESS_KEY, None)
        return
    st.subheader(f"{view.event_title} · {view.vendor_name}", anchor=False)
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
    # Committed even for a wrong link: the attempt counts towards the client's throttle.
    access = feedback.apply(lambda session: open_portal(session, token, client=runtime.client_address()))
    if isinstance(access, PortalAccess):
        st.session_state[ACCESS_KEY] = access
    elif access is not None:  # a wrong link, not a refusal (already shown)
        st.error(NOT_A_LINK, icon=feedback.ERROR_ICON)


def _filters() -> PortalFilters:
    with st.expander("Filter", expanded=False):
        statuses = st.multiselect("Status", list(STATUS_LABELS), key="vendor.statuses", format_func=STATUS_LABELS.get)
        item = st.text_input("Item (as listed)", key="vendor.item", max_chars=200)
        variant = st.text_input("Variant (as listed)", key="vendor.variant", max_chars=200)
        changed = st.checkbox("Only what changed since my last visit", key="vendor.changed")
    return PortalFilters(frozenset(statuses), item.strip(), variant.strip(), changed)


def _orders(view: PortalView) -> None:
    if view.previous_visit_at is not None:
        st.caption(f"{counted(view.changed_since_last_visit, 'order')} new or changed since your last visit.")
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
    st.caption("Only your lines move: in an order that also holds other vendors' items, theirs stay where they "
               "are, and the attendee is told which items moved.")
    references = [order.reference for order in view.orders if order.status != OrderStatus.CANCELLED]
    st.multiselect("Orders", references, key="vendor.selected")
    status = st.selectbox("New status", VENDOR_STATUSES, key="vendor.new_status", format_func=STATUS_LABELS.get)
    if status == OrderStatus.SHIPPED:
        st.text_input("Tracking number or link (optional)", key="vendor.tracking", max_chars=MAX_TRACKING_LENGTH)
        feedback.show(SCOPE, "tracking")
    st.button("Update", key="vendor.update", type="primary", icon=":material/sync:", on_click=_update,
              args=(access,))
    feedback.show(SCOPE, "status")


def _update(access: PortalAccess) -> None:
    state = st.session_state
    status: OrderStatus = state["vendor.new_status"]
    tracking = state.get("vendor.tracking", "") if status == OrderStatus.SHIPPED else ""
    selected = list(state.get("vendor.selected", []))
    kept = feedback.Kept(SCOPE, "status")
    moved = feedback.apply(lambda session: update_statuses(
        session, access, {reference: tracking for reference in selected}, status, settings=runtime.settings()), kept)
    if moved is None:
        return
    feedback.note(kept, f"{counted(moved, 'order')} marked as {STATUS_LABELS[status].lower()}.")
    state["vendor.selected"] = []
    state.pop("vendor.tracking", None)


def _downloads(access: PortalAccess) -> None:
    st.subheader("Download", anchor=False)
    left, right = st.columns(2)
    left.button("Prepare XLSX", key="vendor.prepare_xlsx", on_click=_prepare, args=(access, "xlsx"))
    right.button("Prepare CSV", key="vendor.prepare_csv", on_click=_prepare, args=(access, "csv"))
    feedback.show(SCOPE, "download")
    if prepared := st.session_state.get(FILE_KEY):
        st.download_button(f"Download {prepared.filename}", prepared.data, file_name=prepared.filename,
                           mime=prepared.mimetype, key="vendor.download", icon=":material/download:")


def _prepare(access: PortalAccess, fmt: str) -> None:
    """Built on request, not on every rerun: each download is recorded as a disclosure."""
    prepared = feedback.apply(lambda session: portal_download(session, access, "xlsx" if fmt == "xlsx" else "csv"),
                              feedback.Kept(SCOPE, "download"))
    if prepared is not None:
        st.session_state[FILE_KEY] = prepared


def _upload(access: PortalAccess) -> None:
    st.subheader("Upload your status file", anchor=False)
    st.caption("A CSV with the columns reference, status (in production, shipped or delivered) and, optionally, "
               "tracking. All rows are applied, or none.")
    uploaded = st.file_uploader("Status file (CSV)", type=["csv"], key="vendor.upload")
    st.button("Apply file", key="vendor.apply", on_click=_apply_file, args=(access,), disabled=uploaded is None,
              help=None if uploaded else "Choose a file first.")
    # Bad rows are named under "file", a bad tracking of a row under "tracking", the rest and the outcome under "".
    for name in (FILE_FIELD, "tracking", ""):
        feedback.show(UPLOAD_SCOPE, name)


def _apply_file(access: PortalAccess) -> None:
    uploaded = st.session_state.get("vendor.upload")
    if uploaded is None:  # the button is disabled then; a click that raced the removal does nothing
        return
    kept = feedback.Kept(UPLOAD_SCOPE)
    moved = feedback.apply(lambda session: upload_statuses(session, access, uploaded.getvalue(),
                                                           settings=runtime.settings()), kept)
    if moved is not None:
        feedback.note(kept, f"{counted(moved, 'order')} updated from your file.")
