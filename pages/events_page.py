"""Events for organisers: the list, a new event or a copy of the chosen one (ui/new_event_form), and the chosen
event's settings, branding and organisers."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from core.auth import Actor
from core.event_admin import (
    EventSettings,
    EventState,
    add_member,
    archive_event,
    get_event_for_edit,
    list_event_rows,
    publish_event,
    remove_member,
    set_header_image,
    unarchive_event,
    unpublish_event,
    update_event,
)
from core.images import MAX_IMAGE_BYTES
from ui import event_settings_form, feedback, new_event_form, runtime
from ui.feedback import Kept

NEW = new_event_form.NEW  # the list's notes (archived events) go beside the new event
IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "gif"]
STATES_HELP = ("draft: not published · scheduled: orders not open yet · open · closed: attendees may still "
               "change orders · fulfilment: orders are final · purged: personal data deleted · archived")


def render() -> None:
    actor = runtime.require_actor()
    st.title("Events")
    has_events = _event_list(actor)
    new_event_form.new_event(actor, first=not has_events)
    event = runtime.choose_event(actor)
    if event is None:
        return
    settings = feedback.read(lambda session: get_event_for_edit(session, actor, event.id))
    if settings is None:
        return
    scope = f"event.{settings.id}"
    st.header(settings.title, divider="gray")
    st.caption(f"{settings.state.value.capitalize()} · public page: `/?event={settings.slug}`")
    _publishing(actor, settings, scope)
    new_event_form.duplicate(actor, settings)
    _details(actor, settings, scope)
    _header_image(actor, settings, scope)
    _members(actor, settings, scope)


# Every action runs in a callback, before the rerun that shows its outcome beside its inputs (ui/feedback.Kept).

def _act(scope: str, section: str, action: Callable[[Session], object], success: str | None = None) -> bool:
    return feedback.apply(action, Kept(scope, section), done=success) is not None


def _forget_inputs(scope: str) -> None:
    """Drop the inputs' remembered values, so that they show what is stored now."""
    for key in [key for key in st.session_state if str(key).startswith(f"{scope}.input.")]:
        del st.session_state[key]


# --- the list and a new event ---

def _event_list(actor: Actor) -> bool:
    """The table of the actor's events, with a way back for archived ones; returns whether there are any."""
    rows = feedback.read(lambda session: list_event_rows(session, actor))
    if not rows:
        return False
    st.dataframe(
        pd.DataFrame(rows), hide_index=True, width="stretch",
        column_order=["title", "slug", "state", "opens", "closes", "timezone"],
        column_config={"title": "Event", "slug": "Address name", "timezone": "Time zone",
                       "state": st.column_config.TextColumn("State", help=STATES_HELP),
                       "opens": st.column_config.DatetimeColumn("Orders open", format="YYYY-MM-DD HH:mm"),
                       "closes": st.column_config.DatetimeColumn("Orders close", format="YYYY-MM-DD HH:mm")},
    )
    archived = [row for row in rows if row.state == EventState.ARCHIVED]
    if archived:
        with st.expander(f"Archived events ({len(archived)})"):
            for row in archived:
                st.button(f"Unarchive {row.title}", key=f"{NEW}.unarchive.{row.id}", on_click=_act,
                          args=(NEW, "archived", lambda s, event_id=row.id: unarchive_event(s, actor, event_id),
                                "Unarchived; choose it in the sidebar."))
            feedback.show(NEW, "archived")
    return True


# --- the chosen event ---

def _publishing(actor: Actor, event: EventSettings, scope: str) -> None:
    left, right = st.columns([3, 1], vertical_alignment="center")
    left.toggle("Published: attendees can open the public page", value=event.published,
                key=f"{scope}.input.published", on_change=_set_published, args=(actor, event.id, scope))
    right.button("Archive", icon=":material/archive:", key=f"{scope}.archive", width="stretch",
                 on_click=_archive, args=(actor, event.id, scope))
    feedback.show(scope, "published")
    # As attendees will see it, without taking orders (pages/order_page.py), published or not.
    runtime.page_link("order", "Preview the public page", icon=":material/visibility:",
                      query_params={"event": event.slug, "preview": "1"})


def _archive(actor: Actor, event_id: int, scope: str) -> None:
    if _act(scope, "published", lambda s: archive_event(s, actor, event_id)):
        # The event leaves the picker, so the news goes beside the list of archived events.
        feedback.note(Kept(NEW, "archived"), "Archived. It is listed under Archived events.")


def _set_published(actor: Actor, event_id: int, scope: str) -> None:
    publish = st.session_state[f"{scope}.input.published"]
    change = publish_event if publish else unpublish_event
    if not _act(scope, "published", lambda s: change(s, actor, event_id)):
        _forget_inputs(scope)


def _details(actor: Actor, event: EventSettings, scope: str) -> None:
    st.subheader("Details")
    event_settings_form.draw_settings(event, scope)
    st.button("Save details", type="primary", icon=":material/save:", key=f"{scope}.save", on_click=_save,
              args=(actor, event.id, scope))
    feedback.show(scope, "details")


def _save(actor: Actor, event_id: int, scope: str) -> None:
    changed = feedback.apply(lambda s: update_event(s, actor, event_id, event_settings_form.read_settings(scope)),
                             Kept(scope, "details"))
    if changed is not None:
        feedback.note(Kept(scope, "details"), "Saved." if changed else "Nothing to save: no changes.")
        _forget_inputs(scope)


def _header_image(actor: Actor, event: EventSettings, scope: str) -> None:
    st.subheader("Header image")
    if event.header_image is not None:
        st.image(event.header_image, width="stretch", alt="The event's current header image")
        st.button("Remove image", icon=":material/delete:", key=f"{scope}.image.remove", on_click=_act,
                  args=(scope, "image", lambda s: set_header_image(s, actor, event.id, None), "Image removed."))
    # A new key after each upload empties the uploader, whose value cannot be set.
    uploads = st.session_state.setdefault(f"{scope}.image.uploads", 0)
    st.file_uploader("Upload a header image", type=IMAGE_TYPES, key=f"{scope}.image.{uploads}",
                     max_upload_size=MAX_IMAGE_BYTES // (1024 * 1024), on_change=_upload_image, args=(actor, event.id, scope, f"{scope}.image.{uploads}"),
                     help="PNG, JPEG, WebP or GIF up to 5 MB. It is re-encoded without its metadata (such as "
                          "GPS positions) and scaled to at most 2400 pixels.")
    feedback.show(scope, "image")


def _upload_image(actor: Actor, event_id: int, scope: str, key: str) -> None:
    upload = st.session_state[key]
    if upload is None:
        return
    if _act(scope, "image", lambda s: set_header_image(s, actor, event_id, upload.getvalue()), "Image saved."):
        st.session_state[f"{scope}.image.uploads"] += 1


def _members(actor: Actor, event: EventSettings, scope: str) -> None:
    st.subheader("Organisers")
    for member in event.members:
        name, button = st.columns([4, 1], vertical_alignment="center")
        name.write(f"{member.display_name} (`{member.username}`)")
        button.button("Remove", key=f"{scope}.member.{member.username}", on_click=_act,
                      args=(scope, "members", lambda s, u=member.username: remove_member(s, actor, event.id, u),
                            f"Removed {member.username}."))
    feedback.show(scope, "members")
    with st.form(f"{scope}.add_member", border=False):
        st.text_input("Add an organiser by username", key=f"{scope}.input.username")
        feedback.show(scope, "username")
        st.form_submit_button("Add organiser", on_click=_add_member, args=(actor, event.id, scope))


def _add_member(actor: Actor, event_id: int, scope: str) -> None:
    username = st.session_state[f"{scope}.input.username"]
    if _act(scope, "username", lambda s: add_member(s, actor, event_id, username), f"Added {username.strip()}."):
        st.session_state[f"{scope}.input.username"] = ""
