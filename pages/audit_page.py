"""The audit log: who changed what and when, filtered and paged; organisers see their own events' entries only."""

from __future__ import annotations

import streamlit as st

from core.audit import AuditFilters, list_audit_entries
from ui import feedback, runtime
from ui.paging import pager

PAGE_SIZE = 50
PAGE_KEY = "audit.page"


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    st.title("Audit log")
    st.caption("Who changed what, and when (times in UTC). Organisers see the entries of their own events only.")
    restart = {"on_change": _restart}
    only_event = event is not None and st.toggle(f"Only {event.title}", value=True, key="audit.only_event",
                                                 **restart)
    action_column, actor_column, dates_column = st.columns(3)
    action = action_column.text_input("Action starts with", key="audit.action", placeholder="e.g. order.",
                                      max_chars=64, **restart)
    username = actor_column.text_input("By user", key="audit.actor", placeholder="username", max_chars=64, **restart)
    dates = dates_column.date_input("Between (UTC)", value=(), key="audit.dates", format="YYYY-MM-DD", **restart)
    filters = AuditFilters(action_prefix=action, actor=username, event_id=event.id if only_event and event else None,
                           date_from=dates[0] if dates else None, date_to=dates[1] if len(dates) > 1 else None)
    page = st.session_state.get(PAGE_KEY, 1)
    with st.spinner("Loading the audit log…"):
        found = feedback.read(lambda session: list_audit_entries(session, actor, filters, limit=PAGE_SIZE,
                                                                   offset=(page - 1) * PAGE_SIZE))
    if found is None:
        return
    entries, total = found
    if total == 0:
        st.info("No entries match.", icon=":material/search_off:")
        return
    st.dataframe(entries, hide_index=True, width="stretch", column_config={
        "at": st.column_config.DatetimeColumn("When", format="D MMM YYYY, HH:mm:ss"),
        "actor": st.column_config.TextColumn("By"),
        "action": st.column_config.TextColumn("Action"),
        "event": st.column_config.TextColumn("Event"),
        "subject": st.column_config.TextColumn("Subject"),
        "details": st.column_config.TextColumn("Details", width="large"),
    })
    pages = max(1, -(-total // PAGE_SIZE))
    pager("audit", page, pages, f"{total} entr{'ies' if total != 1 else 'y'} · page {page} of {pages}", _turn_to)


def _restart() -> None:
    st.session_state[PAGE_KEY] = 1


def _turn_to(page: int) -> None:
    st.session_state[PAGE_KEY] = page
