"""The Events page's two ways to a new draft: a new event, and a copy of the chosen one; title first, the address
name suggested from it."""

from __future__ import annotations

import streamlit as st

from core.auth import Actor
from core.event_admin import TITLE_MAX_LENGTH, EventSettings, create_event_for, suggest_slug
from core.event_copy import duplicate_event
from ui import feedback, runtime
from ui.feedback import Kept

NEW = "events.new"
COPY = "events.copy"


def new_event(actor: Actor, *, first: bool) -> None:
    failed = feedback.has_errors(NEW, "slug", "title", "create")
    # No st.form: the address name follows the title as it is typed, which a form's inputs cannot.
    with st.expander("New event", icon=":material/add:", expanded=first or failed):
        _title_and_slug(NEW)
        st.button("Create event", type="primary", on_click=_create, args=(actor,))
    # Outside the panel: after the first event is created the panel closes, and its "Created" must still show.
    feedback.show(NEW, "create")


def duplicate(actor: Actor, event: EventSettings) -> None:
    with st.expander("Duplicate this event", icon=":material/content_copy:",
                     expanded=feedback.has_errors(COPY, "slug", "title", "duplicate")):
        st.caption("A new draft with this event's branding, form, items, stock settings, pictures, routing, mail "
                   "templates and code mode; never its orders, codes or anyone's personal data, and no dates.")
        _title_and_slug(COPY, placeholder=f"{event.title} (next time)")
        st.button("Duplicate", icon=":material/content_copy:", on_click=_copy, args=(actor, event.id))
    feedback.show(COPY, "duplicate")


def _title_and_slug(scope: str, placeholder: str = "Summer Meetup 2027") -> None:
    """Title first; the address name follows it (slugified, next free number) until the organiser changes it."""
    st.text_input("Title", key=f"{scope}.title", max_chars=TITLE_MAX_LENGTH, placeholder=placeholder,
                  on_change=_suggest_slug, args=(scope,))
    feedback.show(scope, "title")
    st.text_input("Address name", key=f"{scope}.slug", max_chars=64, placeholder="summer-meetup",
                  help="The public page will be /?event=<address name>. Lower-case letters, digits, hyphens. "
                       "Suggested from the title.")
    feedback.show(scope, "slug")


def _suggest_slug(scope: str) -> None:
    state = st.session_state
    if state.get(f"{scope}.slug", "") not in ("", state.get(f"{scope}.suggested")):
        return  # typed by the organiser: theirs to keep
    suggested = feedback.read(lambda session: suggest_slug(session, state[f"{scope}.title"]))
    if suggested is not None:
        state[f"{scope}.slug"] = state[f"{scope}.suggested"] = suggested


def _create(actor: Actor) -> None:
    state = st.session_state
    created = feedback.apply(lambda s: create_event_for(s, actor, slug=state[f"{NEW}.slug"],
                                                          title=state[f"{NEW}.title"]),
                             Kept(NEW, "create"), done="Created. It is a draft until you publish it.")
    if created is not None:
        _choose(created.id, NEW)


def _copy(actor: Actor, event_id: int) -> None:
    state = st.session_state
    copied = feedback.apply(lambda s: duplicate_event(s, actor, event_id, slug=state[f"{COPY}.slug"],
                                                        title=state[f"{COPY}.title"]),
                            Kept(COPY, "duplicate"),
                            done="Duplicated. The copy is a draft, chosen in the sidebar; check its dates before "
                                 "publishing it.")
    if copied is not None:
        _choose(copied.id, COPY)


def _choose(event_id: int, scope: str) -> None:
    """Choose the new draft in the sidebar and empty the inputs for the next one."""
    state = st.session_state
    state[runtime.EVENT_KEY] = event_id
    state[f"{scope}.slug"], state[f"{scope}.title"], state[f"{scope}.suggested"] = "", "", ""
