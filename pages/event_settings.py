"""Events for organisers: the list, a new event, and the chosen event's settings, branding and organisers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.errors import DomainError, FormValidationError
from core.event_admin import (
    CLOSED_MESSAGE_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    RETENTION_DAYS_MAX,
    TITLE_MAX_LENGTH,
    EventChanges,
    EventSettings,
    EventState,
    add_member,
    archive_event,
    create_event_for,
    get_event_for_edit,
    list_event_rows,
    phone_regions,
    publish_event,
    remove_member,
    set_header_image,
    suggest_slug,
    unarchive_event,
    unpublish_event,
    update_event,
)
from core.event_copy import duplicate_event
from core.events import local_moment, timezone_names
from core.images import MAX_IMAGE_BYTES
from core.markup import safe_markdown
from pages import runtime

NEW = "events.new"
COPY = "events.copy"
IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "gif"]
STATES_HELP = ("draft: not published · scheduled: orders not open yet · open · closed: attendees may still "
               "change orders · fulfilment: orders are final · purged: personal data deleted · archived")
# The settings whose inputs are a date and a time in the event's time zone.
MOMENTS = {"opens_at": "Orders open", "closes_at": "Orders close",
           "change_deadline": "Attendees may change orders until", "ends_at": "The event ends"}


def render() -> None:
    actor = runtime.require_actor()
    st.title("Events")
    has_events = _event_list(actor)
    _new_event(actor, first=not has_events)
    event = runtime.choose_event(actor)
    if event is None:
        return
    try:
        with read_only(runtime.engine()) as session:
            settings = get_event_for_edit(session, actor, event.id)
    except DomainError as exc:
        st.error(str(exc))
        return
    scope = f"event.{settings.id}"
    st.header(settings.title, divider="gray")
    st.caption(f"{settings.state.value.capitalize()} · public page: `/?event={settings.slug}`")
    _publishing(actor, settings, scope)
    _duplicate(actor, settings)
    _details(actor, settings, scope)
    _header_image(actor, settings, scope)
    _members(actor, settings, scope)


# --- feedback: every action runs in a callback, before the rerun that shows its outcome beside its inputs ---

def _act(scope: str, section: str, action: Callable[[Session], object], success: str | None = None) -> bool:
    """Run `action` in one unit of work; keep its field errors, or its message, for `_feedback` to show."""
    state = st.session_state
    state[f"{scope}.errors"], state[f"{scope}.success"] = {}, {}
    try:
        with unit_of_work(runtime.engine()) as session:
            action(session)
    except FormValidationError as exc:
        state[f"{scope}.errors"] = dict(exc.errors)
        return False
    except DomainError as exc:
        state[f"{scope}.errors"] = {section: str(exc)}
        return False
    if success:
        state[f"{scope}.success"] = {section: success}
    return True


def _feedback(scope: str, name: str) -> None:
    if message := st.session_state.get(f"{scope}.errors", {}).get(name):
        st.error(message)
    if message := st.session_state.get(f"{scope}.success", {}).get(name):
        st.success(message)


def _forget_inputs(scope: str) -> None:
    """Drop the inputs' remembered values, so that they show what is stored now."""
    for key in [key for key in st.session_state if str(key).startswith(f"{scope}.input.")]:
        del st.session_state[key]


# --- the list and a new event ---

def _event_list(actor: Actor) -> bool:
    """The table of the actor's events, with a way back for archived ones; returns whether there are any."""
    with read_only(runtime.engine()) as session:
        rows = list_event_rows(session, actor)
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
            _feedback(NEW, "archived")
    return True


def _new_event(actor: Actor, *, first: bool) -> None:
    failed = st.session_state.get(f"{NEW}.errors", {}).keys() & {"slug", "title", "create"}
    with st.expander("New event", icon=":material/add:", expanded=first or bool(failed)):
        _title_and_slug(NEW)
        st.button("Create event", type="primary", on_click=_create, args=(actor,))
        _feedback(NEW, "create")


def _title_and_slug(scope: str, placeholder: str = "Summer Meetup 2027") -> None:
    """Title first; the address name follows it (slugified, next free number) until the organiser changes it."""
    st.text_input("Title", key=f"{scope}.title", max_chars=TITLE_MAX_LENGTH, placeholder=placeholder,
                  on_change=_suggest_slug, args=(scope,))
    _feedback(scope, "title")
    st.text_input("Address name", key=f"{scope}.slug", max_chars=64, placeholder="summer-meetup",
                  help="The public page will be /?event=<address name>. Lower-case letters, digits, hyphens. "
                       "Suggested from the title.")
    _feedback(scope, "slug")


def _suggest_slug(scope: str) -> None:
    state = st.session_state
    if state.get(f"{scope}.slug", "") not in ("", state.get(f"{scope}.suggested")):
        return  # typed by the organiser: theirs to keep
    with read_only(runtime.engine()) as session:
        state[f"{scope}.slug"] = state[f"{scope}.suggested"] = suggest_slug(session, state[f"{scope}.title"])


def _create(actor: Actor) -> None:
    state = st.session_state
    created: list[int] = []
    if _act(NEW, "create", lambda s: created.append(
            create_event_for(s, actor, slug=state[f"{NEW}.slug"], title=state[f"{NEW}.title"]).id),
            "Created. It is a draft until you publish it."):
        state[runtime.EVENT_KEY] = created[0]
        state[f"{NEW}.slug"], state[f"{NEW}.title"], state[f"{NEW}.suggested"] = "", "", ""


# --- the chosen event ---

def _duplicate(actor: Actor, event: EventSettings) -> None:
    with st.expander("Duplicate this event", icon=":material/content_copy:",
                     expanded=bool(st.session_state.get(f"{COPY}.errors"))):
        st.caption("A new draft with this event's branding, form, items, stock settings, pictures, routing, mail "
                   "templates and code mode; never its orders, codes or anyone's personal data, and no dates.")
        _title_and_slug(COPY, placeholder=f"{event.title} (next time)")
        st.button("Duplicate", icon=":material/content_copy:", on_click=_copy, args=(actor, event.id))
    _feedback(COPY, "duplicate")


def _copy(actor: Actor, event_id: int) -> None:
    state = st.session_state
    created: list[int] = []
    if _act(COPY, "duplicate", lambda s: created.append(
            duplicate_event(s, actor, event_id, slug=state[f"{COPY}.slug"], title=state[f"{COPY}.title"]).id),
            "Duplicated. The copy is a draft, chosen in the sidebar; check its dates before publishing it."):
        state[runtime.EVENT_KEY] = created[0]
        state[f"{COPY}.slug"], state[f"{COPY}.title"], state[f"{COPY}.suggested"] = "", "", ""

def _publishing(actor: Actor, event: EventSettings, scope: str) -> None:
    left, right = st.columns([3, 1], vertical_alignment="center")
    left.toggle("Published: attendees can open the public page", value=event.published,
                key=f"{scope}.input.published", on_change=_set_published, args=(actor, event.id, scope))
    right.button("Archive", icon=":material/archive:", key=f"{scope}.archive", width="stretch",
                 on_click=_archive, args=(actor, event.id, scope))
    _feedback(scope, "published")
    # As attendees will see it, without taking orders (pages/public.py), published or not.
    runtime.page_link("order", "Preview the public page", icon=":material/visibility:",
                      query_params={"event": event.slug, "preview": "1"})


def _archive(actor: Actor, event_id: int, scope: str) -> None:
    if _act(scope, "published", lambda s: archive_event(s, actor, event_id)):
        # The event leaves the picker, so the news goes beside the list of archived events.
        st.session_state[f"{NEW}.success"] = {"archived": "Archived. It is listed under Archived events."}


def _set_published(actor: Actor, event_id: int, scope: str) -> None:
    publish = st.session_state[f"{scope}.input.published"]
    change = publish_event if publish else unpublish_event
    if not _act(scope, "published", lambda s: change(s, actor, event_id)):
        _forget_inputs(scope)


def _details(actor: Actor, event: EventSettings, scope: str) -> None:
    key = f"{scope}.input"
    st.subheader("Details")
    st.text_input("Title", value=event.title, key=f"{key}.title", max_chars=TITLE_MAX_LENGTH)
    _feedback(scope, "title")
    st.text_input("Address name", value=event.slug, key=f"{key}.slug", max_chars=64,
                  help="Changing it breaks links you have already shared.")
    _feedback(scope, "slug")
    description = st.text_area("Description (Markdown)", value=event.description, key=f"{key}.description",
                               max_chars=DESCRIPTION_MAX_LENGTH, height=200)
    _feedback(scope, "description")
    with st.expander("Preview of the description", expanded=bool(description)):
        # As the public page shows it: raw HTML as text, only http(s), mailto and relative links live.
        st.markdown(safe_markdown(description))
    left, middle, right = st.columns(3)
    with left:
        st.color_picker("Accent colour", value=event.accent_colour, key=f"{key}.accent_colour")
        _feedback(scope, "accent_colour")
    with middle:
        zones = timezone_names()
        timezone = st.selectbox("Time zone", zones, index=_index(zones, event.timezone), key=f"{key}.timezone")
        _feedback(scope, "timezone")
    with right:
        regions = phone_regions()
        st.selectbox("Phone numbers from", regions, index=_index(regions, event.phone_region),
                     key=f"{key}.phone_region", help="Numbers without a country code are read as from here.")
        _feedback(scope, "phone_region")
    st.caption(f"Dates and times below are in {timezone}.")
    for name, label in MOMENTS.items():
        _moment_inputs(scope, name, label, event.local(getattr(event, name)))
    st.text_area("Message when orders are closed", value=event.closed_message, key=f"{key}.closed_message",
                 max_chars=CLOSED_MESSAGE_MAX_LENGTH)
    _feedback(scope, "closed_message")
    st.number_input("Keep personal data for this many days after the event ends", min_value=0,
                    max_value=RETENTION_DAYS_MAX, value=event.retention_days, step=1, key=f"{key}.retention_days")
    _feedback(scope, "retention_days")
    st.toggle("Close orders when everything is sold out", value=event.close_when_sold_out,
              key=f"{key}.close_when_sold_out", help="Items without a stock limit never sell out.")
    st.toggle("One order per email address", value=event.one_order_per_email, key=f"{key}.one_order_per_email",
              help="A second order with the same address is refused until the first one is cancelled.")
    st.button("Save details", type="primary", icon=":material/save:", key=f"{scope}.save", on_click=_save,
              args=(actor, event.id, scope))
    _feedback(scope, "details")


def _index(options: tuple[str, ...], value: str) -> int | None:
    return options.index(value) if value in options else None


def _moment_inputs(scope: str, name: str, label: str, local: datetime | None) -> None:
    day, at = st.columns(2)
    day.date_input(label, value=local.date() if local else None, key=f"{scope}.input.{name}.date",
                   format="YYYY-MM-DD")
    at.time_input("Time", value=local.time() if local else None, key=f"{scope}.input.{name}.time",
                  help="Empty means midnight.")
    _feedback(scope, name)


def _save(actor: Actor, event_id: int, scope: str) -> None:
    state, key = st.session_state, f"{scope}.input"
    timezone = state[f"{key}.timezone"]
    moments, errors = {}, {}
    for name in MOMENTS:
        try:
            moments[name] = local_moment(state[f"{key}.{name}.date"], state[f"{key}.{name}.time"], timezone)
        except DomainError as exc:
            errors[name] = str(exc)
    if errors:
        state[f"{scope}.errors"], state[f"{scope}.success"] = errors, {}
        return
    changes = EventChanges(
        title=state[f"{key}.title"], slug=state[f"{key}.slug"], description=state[f"{key}.description"],
        accent_colour=state[f"{key}.accent_colour"], timezone=timezone, phone_region=state[f"{key}.phone_region"],
        closed_message=state[f"{key}.closed_message"], retention_days=int(state[f"{key}.retention_days"]),
        close_when_sold_out=bool(state[f"{key}.close_when_sold_out"]),
        one_order_per_email=bool(state[f"{key}.one_order_per_email"]),
        **moments,
    )
    changed: list[str] = []
    if _act(scope, "details", lambda s: changed.extend(update_event(s, actor, event_id, changes))):
        state[f"{scope}.success"] = {"details": "Saved." if changed else "Nothing to save: no changes."}
        _forget_inputs(scope)


def _header_image(actor: Actor, event: EventSettings, scope: str) -> None:
    st.subheader("Header image")
    if event.header_image is not None:
        st.image(event.header_image, width="stretch")
        st.button("Remove image", icon=":material/delete:", key=f"{scope}.image.remove", on_click=_act,
                  args=(scope, "image", lambda s: set_header_image(s, actor, event.id, None), "Image removed."))
    # A new key after each upload empties the uploader, whose value cannot be set.
    uploads = st.session_state.setdefault(f"{scope}.image.uploads", 0)
    st.file_uploader("Upload a header image", type=IMAGE_TYPES, key=f"{scope}.image.{uploads}",
                     max_upload_size=MAX_IMAGE_BYTES // (1024 * 1024), on_change=_upload_image, args=(actor, event.id, scope, f"{scope}.image.{uploads}"),
                     help="PNG, JPEG, WebP or GIF up to 5 MB. It is re-encoded without its metadata (such as "
                          "GPS positions) and scaled to at most 2400 pixels.")
    _feedback(scope, "image")


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
    _feedback(scope, "members")
    with st.form(f"{scope}.add_member", border=False):
        st.text_input("Add an organiser by username", key=f"{scope}.input.username")
        _feedback(scope, "username")
        st.form_submit_button("Add organiser", on_click=_add_member, args=(actor, event.id, scope))


def _add_member(actor: Actor, event_id: int, scope: str) -> None:
    username = st.session_state[f"{scope}.input.username"]
    if _act(scope, "username", lambda s: add_member(s, actor, event_id, username), f"Added {username.strip()}."):
        st.session_state[f"{scope}.input.username"] = ""
