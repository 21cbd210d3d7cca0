"""The form builder's list of fields: each a row that opens its editor, with move, duplicate and delete."""

from __future__ import annotations

import streamlit as st

from core import form_drafts
from core.auth import Actor
from core.form_builder import FieldRow, RemovedField
from core.form_drafts import Draft
from core.forms import FieldType
from ui import builder_state
from ui.builder_state import operate, state_key, toggle
from ui.builder_widgets import TYPE_ICONS, UNKNOWN_ICON, badges, icon_button, plain
from ui.field_editor import draw_editor


def draw_field_list(actor: Actor, draft: Draft) -> None:
    """The draft's fields, the open one with its editor; the last operation's notice and undo above them."""
    state = st.session_state
    event_id = draft.event_id
    st.subheader("Fields")
    if notice := builder_state.errors(event_id).get("notice"):
        st.error(notice, icon=":material/error:")
    if (removed := state.get(state_key(event_id, "removed"))) is not None:
        with st.container(horizontal=True, vertical_alignment="center"):
            st.info(f"Deleted '{removed.field.get('label')}'.", icon=":material/delete:", width="stretch")
            st.button("Undo", icon=":material/undo:", on_click=_undo, args=(actor, event_id, removed),
                      key=state_key(event_id, "undo"))
    if draft.problem and draft.fields:
        st.warning(f"The form cannot be saved as it is: {draft.problem}", icon=":material/warning:")
    if not draft.fields:
        st.info("The form has no fields yet. Start from the usual form, or add fields one by one below.",
                icon=":material/edit_note:")
        st.button("Start from the usual form: name, email, items and consent", icon=":material/auto_awesome:",
                  key=state_key(event_id, "starter"), on_click=operate,
                  args=(actor, event_id, lambda session: form_drafts.start_from_usual_form(session, actor, event_id)))
        return
    open_key = state.get(state_key(event_id, "open"))
    keys = [row.key for row in draft.rows]
    keys_unique = all(keys) and len(set(keys)) == len(keys)  # only a broken stored form repeats a key
    for index, row in enumerate(draft.rows):
        # Rows are drawn by position, so an open editor keeps its inputs (and the focus) when its label changes
        # the field's key; the row's buttons are keyed by field, so that a move never leaves one field's button
        # where another field's was.
        with st.container(border=True):
            with st.container(horizontal=True, vertical_alignment="center", gap="small", wrap=False):
                # The type is part of the button's name, so that it never repeats a template button's name.
                st.button(f"**{plain(row.label)}** :gray[· {plain(row.type_name)}]",
                          icon=TYPE_ICONS.get(row.type, UNKNOWN_ICON), type="tertiary", wrap=True,
                          key=f"fb-open-{event_id}-{index}", on_click=toggle, args=(event_id, row.key),
                          help="Close the editor" if row.key == open_key else "Open this field's settings")
                st.space("stretch")
                with st.container(horizontal=True, gap="xsmall", width="content", wrap=False):
                    _row_actions(actor, event_id, row, index, index == len(draft.rows) - 1,
                                 row.key if keys_unique else str(index))
            if shown := badges(row):
                st.markdown(shown)
            if row.key == open_key:
                draw_editor(actor, draft, row.key)


def _row_actions(actor: Actor, event_id: int, row: FieldRow, index: int, last: bool,
                 handle: str) -> None:
    """Move up, move down, duplicate, delete; `handle` names the buttons (the field's key, while keys are unique)."""
    key, label = row.key, row.label

    def move(offset: int) -> None:
        operate(actor, event_id, lambda session: form_drafts.move_field(session, actor, event_id, key, offset))

    def duplicate() -> None:
        operate(actor, event_id, lambda session: form_drafts.duplicate_field(session, actor, event_id, key))

    icon_button(f"Move '{label}' up", ":material/arrow_upward:", f"up-{handle}", index == 0, lambda: move(-1))
    icon_button(f"Move '{label}' down", ":material/arrow_downward:", f"down-{handle}", last, lambda: move(1))
    icon_button(f"Duplicate '{label}'", ":material/content_copy:", f"copy-{handle}", row.type == FieldType.ITEMS,
                 duplicate)
    icon_button(f"Delete '{label}'", ":material/delete:", f"delete-{handle}", False,
                 lambda: _delete(actor, event_id, key))


def _delete(actor: Actor, event_id: int, key: str) -> None:
    draft = operate(actor, event_id, lambda session: form_drafts.delete_field(session, actor, event_id, key))
    if draft is not None:
        st.session_state[state_key(event_id, "removed")] = draft.removed


def _undo(actor: Actor, event_id: int, removed: RemovedField) -> None:
    operate(actor, event_id, lambda session: form_drafts.undo_delete(session, actor, event_id, removed))
