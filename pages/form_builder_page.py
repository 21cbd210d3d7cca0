"""The form builder: the form as a list of fields, one of them open in an editor, and the public renderer's preview.

The draft lives in the database (core/form_drafts.py). Every control acts in a callback that makes one core call
in one unit of work, before the run that draws the outcome; the screen only reads widgets and draws what core
returns. The editor's inputs keep what the organiser typed until core accepts it, with core's error beside the
input at fault; the list and the preview show the draft, which is the last valid state.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.orm import Session

from core import form_drafts
from core.auth import Actor
from core.events import utc_to_local
from core.form_builder import (
    FIELD_TYPE_HINTS,
    FIELD_TYPE_NAMES,
    TEMPLATES,
    personal_data_surface,
)
from core.form_drafts import Draft
from core.forms import FieldType
from ui import builder_state, feedback, form_renderer, runtime
from ui.builder_state import follow, operate, state_key
from ui.builder_widgets import (
    BUILDER_CSS,
    TEMPLATE_ICONS,
    TYPE_ICONS,
    plain,
    version_note,
)
from ui.field_list import draw_field_list

PREVIEW_PREFIX = "preview"


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Form builder")
    st.caption(event.title)
    draft = feedback.read(lambda session: form_drafts.load_draft(session, actor, event.id))
    if draft is None:
        return
    st.html(BUILDER_CSS)
    follow(draft)
    _status(actor, draft)
    # The preview gets half: it draws item lines side by side, as the public page does.
    fields, preview = st.columns(2, gap="large")
    with fields:
        draw_field_list(actor, draft)
        _add_field(actor, draft)
        _json(actor, draft)
    with preview:
        _preview(draft)


# --- callbacks --------------------------------------------------------------------------------------------------


def _save(actor: Actor, event_id: int, replace_newer: bool) -> None:
    outcome: list[form_drafts.SavedForm] = []

    def save(session: Session) -> Draft:
        outcome.append(form_drafts.save_draft(session, actor, event_id, replace_newer=replace_newer))
        return outcome[0].draft

    if operate(actor, event_id, save) is not None:
        saved = outcome[0]
        note = (f" Orders use version {saved.number - 1}, so a new version was created; those orders keep theirs."
                if saved.previous_in_use else "")
        st.session_state[state_key(event_id, "saved")] = f"Saved as version {saved.number}.{note}"


def _import_json(actor: Actor, event_id: int) -> None:
    state = st.session_state
    upload = state.get(state_key(event_id, "json_file"))
    text = upload.getvalue() if upload is not None else state.get(state_key(event_id, "json_text")) or ""
    if operate(actor, event_id, lambda session: form_drafts.import_form_json(session, actor, event_id, text)) \
            is not None:
        state[state_key(event_id, "json_text")] = ""  # done: the draft, shown above, is what was pasted


# --- the status line: saved version, draft, save and discard ----------------------------------------------------


def _status(actor: Actor, draft: Draft) -> None:
    state = st.session_state
    event_id = draft.event_id
    if draft.changed and draft.changed_at is not None:
        moment = utc_to_local(draft.changed_at, draft.timezone)
        attendees = f"version {draft.saved_number}" if draft.saved_number else "no form yet"
        st.markdown(f":orange-badge[Unsaved draft] Changed by {plain(draft.changed_by or '')} on "
                    f"{moment:%d %b %Y at %H:%M} ({plain(draft.timezone)}). Attendees see {attendees} until "
                    f"you save. It is kept here, for every organiser of the event, until you save or discard it.")
    st.caption(version_note(draft))
    if draft.changed and draft.newer_version is not None:
        st.warning(f"Version {draft.newer_version} was saved since this draft started: saving replaces it with "
                   f"this draft. Discard the draft to start again from version {draft.newer_version}.",
                   icon=":material/sync_problem:")
    with st.container(horizontal=True):
        st.button("Save form", type="primary", icon=":material/save:", disabled=not draft.changed,
                  on_click=_save, args=(actor, event_id, False), key=state_key(event_id, "save"))
        st.button("Discard draft", icon=":material/undo:", disabled=not draft.changed, key=state_key(event_id, "discard"),
                  on_click=operate, args=(actor, event_id,
                                           lambda session: form_drafts.discard_draft(session, actor, event_id)))
    if newer := builder_state.errors(event_id).get("newer"):
        st.error(newer, icon=":material/sync_problem:")
        st.button("Save anyway", on_click=_save, args=(actor, event_id, True), key=state_key(event_id, "save_anyway"))
    if saved := state.pop(state_key(event_id, "saved"), None):
        st.success(saved, icon=":material/check_circle:")
    if draft.spec is not None:
        st.caption(personal_data_surface(draft.spec))


# --- adding fields ----------------------------------------------------------------------------------------------


def _add_field(actor: Actor, draft: Draft) -> None:
    event_id = draft.event_id
    st.markdown("**Add a field**")
    has_items = any(row.type == FieldType.ITEMS for row in draft.rows)
    with st.container(horizontal=True, gap="small"):
        for name, template in TEMPLATES.items():
            st.button(template.name, icon=TEMPLATE_ICONS.get(name), key=state_key(event_id, f"template.{name}"),
                      on_click=operate, args=(actor, event_id, lambda session, name=name:
                                               form_drafts.add_field_from_template(session, actor, event_id, name)))
        with st.popover("Another type", icon=":material/add:"):
            for field_type in FieldType:
                st.button(FIELD_TYPE_NAMES[field_type], icon=TYPE_ICONS[field_type], help=FIELD_TYPE_HINTS[field_type],
                          key=state_key(event_id, f"type.{field_type.value}"), width="stretch",
                          disabled=field_type == FieldType.ITEMS and has_items,
                          on_click=operate, args=(actor, event_id, lambda session, field_type=field_type:
                                                   form_drafts.add_field_of_type(session, actor, event_id,
                                                                                 field_type)))


# --- JSON for power users, and the preview ----------------------------------------------------------------------


def _json(actor: Actor, draft: Draft) -> None:
    event_id = draft.event_id
    errors = builder_state.errors(event_id)
    with st.expander("The form as JSON, for power users", icon=":material/data_object:", expanded="json" in errors):
        filename, mimetype, data = form_drafts.export_form_json(draft)
        st.download_button("Download the draft as JSON", data, file_name=filename, mime=mimetype,
                           icon=":material/download:", on_click="ignore", key=state_key(event_id, "json_download"))
        st.code(data.decode(), language="json", height=300)
        st.text_area("Paste a form as JSON", key=state_key(event_id, "json_text"), height=160,
                     placeholder='{"fields": [{"key": "name", "type": "short_text", "label": "Full name"}]}')
        st.file_uploader("Or upload a JSON file", type=["json"], key=state_key(event_id, "json_file"))
        st.button("Replace the draft with this JSON", icon=":material/upload:", key=state_key(event_id, "json_import"),
                  on_click=_import_json, args=(actor, event_id))
        if message := errors.get("json"):
            st.error(message, icon=":material/error:")


def _preview(draft: Draft) -> None:
    st.subheader("Preview")
    st.caption("What attendees see, drawn by the public page itself. Try it: nothing typed here is saved.")
    if draft.spec is None:
        if draft.fields:
            st.error(draft.problem, icon=":material/error:")
        else:
            st.info("Add a field to see the preview.", icon=":material/visibility:")
        return
    with st.container(border=True):
        form_renderer.render_form(draft.spec, draft.catalogue, prefix=PREVIEW_PREFIX, errors={})


