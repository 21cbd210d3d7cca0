"""The form builder: the form as a list of fields, one of them open in an editor, and the public renderer's preview.

The draft lives in the database (core/form_drafts.py). Every control acts in a callback that makes one core call
in one unit of work, before the run that draws the outcome; the screen only reads widgets and draws what core
returns. The editor's inputs keep what the organiser typed until core accepts it, with core's error beside the
input at fault; the list and the preview show the draft, which is the last valid state.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import streamlit as st
from sqlalchemy.orm import Session

from core import form_drafts
from core.auth import Actor
from core.db import read_only, unit_of_work
from core.errors import DomainError, FormValidationError, NewerFormSaved
from core.events import utc_to_local
from core.form_builder import (
    EDITABLE,
    FIELD_TYPE_HINTS,
    FIELD_TYPE_NAMES,
    TEMPLATES,
    WHOLE_FIELD,
    FieldRow,
    RemovedField,
    attributes_of,
    personal_data_surface,
    type_of,
)
from core.form_drafts import Draft
from core.forms import ALWAYS_PERSONAL, CHOICE_TYPES, MAX_TEXT_LENGTH, FieldType
from pages import form_renderer, runtime

PREVIEW_PREFIX = "preview"
TYPE_ICONS = {
    FieldType.SHORT_TEXT: ":material/short_text:",
    FieldType.LONG_TEXT: ":material/notes:",
    FieldType.EMAIL: ":material/mail:",
    FieldType.PHONE: ":material/call:",
    FieldType.NUMBER: ":material/pin:",
    FieldType.SINGLE_CHOICE: ":material/radio_button_checked:",
    FieldType.MULTIPLE_CHOICE: ":material/checklist:",
    FieldType.CHECKBOX: ":material/check_box:",
    FieldType.DATE: ":material/calendar_month:",
    FieldType.ADDRESS: ":material/home:",
    FieldType.ITEMS: ":material/shopping_cart:",
}
UNKNOWN_ICON = ":material/help:"
# "Show only if" offers this before the earlier fields (a string: a None choice would read as no choice at all).
ALWAYS_SHOWN = ""
TEMPLATE_ICONS = {
    "full_name": ":material/badge:",
    "email": ":material/mail:",
    "phone": ":material/call:",
    "delivery_address": ":material/local_shipping:",
    "consent": ":material/verified_user:",
    "choice": ":material/radio_button_checked:",
    "free_text": ":material/notes:",
}
# Icon buttons: their label names them for screen readers ("Move 'Email' up") but only the icon shows. A field's
# button in the list reads like a line of text, so it starts at the left even when its label wraps.
BUILDER_CSS = """<style>
div[class*="st-key-fb-icon-"] [data-testid="stMarkdownContainer"] {
  position: absolute !important; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden;
  clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0;
}
div[class*="st-key-fb-open-"] button { justify-content: flex-start; text-align: left; }
div[class*="st-key-fb-open-"] button p { text-align: left; }
</style>"""
_MARKDOWN_SPECIAL = r"([\\`*_{}\[\]()#+\-.!|~<>$:])"
# The date inputs' range (Streamlit's default is ten years either side of today).
DAY_RANGE_YEARS = (2000, 2100)


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Form builder")
    st.caption(event.title)
    try:
        with read_only(runtime.engine()) as session:
            draft = form_drafts.load_draft(session, actor, event.id)
    except DomainError as exc:
        st.error(str(exc))
        return
    st.html(BUILDER_CSS)
    _follow(draft)
    _status(actor, draft)
    # The preview gets half: it draws item lines side by side, as the public page does.
    fields, preview = st.columns(2, gap="large")
    with fields:
        _field_list(actor, draft)
        _add_field(actor, draft)
        _json(actor, draft)
    with preview:
        _preview(draft)


# --- session state: which field is open, what the editor holds, and the last operation's outcome --------------


def _key(event_id: int, name: str) -> str:
    return f"fb.{event_id}.{name}"


def _editor_key(event_id: int, name: str) -> str:
    return _key(event_id, f"editor.{name}")


def _follow(draft: Draft) -> None:
    """Before any widget is drawn: refill the editor when the draft changed elsewhere (another tab, a save)."""
    state = st.session_state
    seen = (state.get(_key(draft.event_id, "open")), draft.changed_at, draft.saved_number)
    if state.get(_key(draft.event_id, "seen")) != seen:
        _fill_editor(draft, seen[0])


def _fill_editor(draft: Draft, open_key: str | None) -> None:
    """Set the editor's inputs to the stored field `open_key` (in a callback, or before the inputs are drawn);
    when that field is gone (deleted, here or in another tab), no field is open."""
    state = st.session_state
    event_id = draft.event_id
    if open_key not in {field.get("key") for field in draft.fields}:
        state[_key(event_id, "open")] = open_key = None
    for name in [name for name in state if str(name).startswith(_editor_key(event_id, ""))]:
        del state[name]
    state[_key(event_id, "errors")] = {}
    state[_key(event_id, "seen")] = (open_key, draft.changed_at, draft.saved_number)
    if open_key is None:
        return
    field = draft.field(open_key)
    for name in EDITABLE:
        if name not in ("type", "options", "show_if", "min_date", "max_date"):
            state[_editor_key(event_id, name)] = field.get(name, _EMPTY.get(name))
    state[_editor_key(event_id, "type")] = type_of(field)
    for name in ("min_date", "max_date"):
        state[_editor_key(event_id, name)] = date.fromisoformat(field[name]) if field.get(name) else None
    options = list(field.get("options") or [])
    state[_editor_key(event_id, "option_count")] = len(options)
    for index, option in enumerate(options):
        state[_editor_key(event_id, f"option.{index}")] = option
    show_if = field.get("show_if") or {}
    state[_editor_key(event_id, "show_if_field")] = show_if.get("field") or ALWAYS_SHOWN
    state[_editor_key(event_id, "show_if_value")] = show_if.get("value")


_EMPTY: dict[str, Any] = {"key": "", "label": "", "help": "", "required": False, "personal": False, "purpose": "",
                          "pattern": "", "pattern_hint": "", "decimals": 0}


def _editor_values(event_id: int) -> dict[str, Any]:
    """The editor's inputs as core.form_builder.edited takes them; attributes not on screen are left out."""
    state = st.session_state
    values = {name: state[_editor_key(event_id, name)] for name in EDITABLE
              if _editor_key(event_id, name) in state and name not in ("options", "show_if")}
    if _editor_key(event_id, "option_count") in state:
        values["options"] = [state.get(_editor_key(event_id, f"option.{index}")) or ""
                             for index in range(state[_editor_key(event_id, "option_count")])]
    if _editor_key(event_id, "show_if_field") in state:
        target = state[_editor_key(event_id, "show_if_field")]
        values["show_if"] = {"field": target, "value": state.get(_editor_key(event_id, "show_if_value"))} \
            if target else None
    return values


def _operate(actor: Actor, event_id: int, operation: Callable[[Session], Draft]) -> Draft | None:
    """Run one builder operation in its own unit of work; keep its outcome for the run that follows.

    Field errors go beside the editor's inputs, other errors above the list. Returns the new draft, or None.
    """
    state = st.session_state
    for name in ("notice", "removed", "saved", "newer"):
        state.pop(_key(event_id, name), None)
    try:
        with unit_of_work(runtime.engine()) as session:
            draft = operation(session)
    except FormValidationError as exc:
        state[_key(event_id, "errors")] = dict(exc.errors)
        return None
    except DomainError as exc:
        # A newer saved version gets its own message, with "Save anyway" beside it.
        state[_key(event_id, "newer" if isinstance(exc, NewerFormSaved) else "notice")] = str(exc)
        return None
    if draft.focus is not None:
        state[_key(event_id, "open")] = draft.focus
    _fill_editor(draft, state.get(_key(event_id, "open")))
    return draft


# --- callbacks --------------------------------------------------------------------------------------------------


def _toggle(event_id: int, key: str) -> None:
    state = st.session_state
    state[_key(event_id, "open")] = None if state.get(_key(event_id, "open")) == key else key
    state[_key(event_id, "seen")] = None  # the next run fills the editor for the newly open field


def _apply_editor(actor: Actor, event_id: int, key: str) -> None:
    values = _editor_values(event_id)
    _operate(actor, event_id, lambda session: form_drafts.update_field(session, actor, event_id, key, values))


def _choose_condition(actor: Actor, event_id: int, key: str) -> None:
    """A new "show only if" field waits for its answer; "Always shown" applies at once."""
    state = st.session_state
    state[_editor_key(event_id, "show_if_value")] = None
    if state.get(_editor_key(event_id, "show_if_field")) == ALWAYS_SHOWN:
        _apply_editor(actor, event_id, key)


def _add_option(event_id: int) -> None:
    """A new, empty option input; the draft changes once it has text."""
    state = st.session_state
    count = state.get(_editor_key(event_id, "option_count"), 0)
    state[_editor_key(event_id, f"option.{count}")] = ""
    state[_editor_key(event_id, "option_count")] = count + 1


def _move_option(actor: Actor, event_id: int, key: str, index: int, offset: int) -> None:
    state = st.session_state
    here, there = _editor_key(event_id, f"option.{index}"), _editor_key(event_id, f"option.{index + offset}")
    state[here], state[there] = state.get(there, ""), state.get(here, "")
    _apply_editor(actor, event_id, key)


def _remove_option(actor: Actor, event_id: int, key: str, index: int) -> None:
    state = st.session_state
    count = state.get(_editor_key(event_id, "option_count"), 0)
    for later in range(index, count - 1):
        state[_editor_key(event_id, f"option.{later}")] = state.get(_editor_key(event_id, f"option.{later + 1}"), "")
    state.pop(_editor_key(event_id, f"option.{count - 1}"), None)
    state[_editor_key(event_id, "option_count")] = count - 1
    _apply_editor(actor, event_id, key)


def _delete(actor: Actor, event_id: int, key: str) -> None:
    draft = _operate(actor, event_id, lambda session: form_drafts.delete_field(session, actor, event_id, key))
    if draft is not None:
        st.session_state[_key(event_id, "removed")] = draft.removed


def _undo(actor: Actor, event_id: int, removed: RemovedField) -> None:
    _operate(actor, event_id, lambda session: form_drafts.undo_delete(session, actor, event_id, removed))


def _save(actor: Actor, event_id: int, replace_newer: bool) -> None:
    outcome: list[form_drafts.SavedForm] = []

    def save(session: Session) -> Draft:
        outcome.append(form_drafts.save_draft(session, actor, event_id, replace_newer=replace_newer))
        return outcome[0].draft

    if _operate(actor, event_id, save) is not None:
        saved = outcome[0]
        note = (f" Orders use version {saved.number - 1}, so a new version was created; those orders keep theirs."
                if saved.previous_in_use else "")
        st.session_state[_key(event_id, "saved")] = f"Saved as version {saved.number}.{note}"


def _import_json(actor: Actor, event_id: int) -> None:
    state = st.session_state
    upload = state.get(_key(event_id, "json_file"))
    text = upload.getvalue() if upload is not None else state.get(_key(event_id, "json_text")) or ""
    if _operate(actor, event_id, lambda session: form_drafts.import_form_json(session, actor, event_id, text)) \
            is not None:
        state[_key(event_id, "json_text")] = ""  # done: the draft, shown above, is what was pasted


# --- the status line: saved version, draft, save and discard ----------------------------------------------------


def _status(actor: Actor, draft: Draft) -> None:
    state = st.session_state
    event_id = draft.event_id
    if draft.changed and draft.changed_at is not None:
        moment = utc_to_local(draft.changed_at, draft.timezone)
        attendees = f"version {draft.saved_number}" if draft.saved_number else "no form yet"
        st.markdown(f":orange-badge[Unsaved draft] Changed by {_plain(draft.changed_by or '')} on "
                    f"{moment:%d %b %Y at %H:%M} ({_plain(draft.timezone)}). Attendees see {attendees} until "
                    f"you save. It is kept here, for every organiser of the event, until you save or discard it.")
    st.caption(_version_note(draft))
    if draft.changed and draft.newer_version is not None:
        st.warning(f"Version {draft.newer_version} was saved since this draft started: saving replaces it with "
                   f"this draft. Discard the draft to start again from version {draft.newer_version}.",
                   icon=":material/sync_problem:")
    with st.container(horizontal=True):
        st.button("Save form", type="primary", icon=":material/save:", disabled=not draft.changed,
                  on_click=_save, args=(actor, event_id, False), key=_key(event_id, "save"))
        st.button("Discard draft", icon=":material/undo:", disabled=not draft.changed, key=_key(event_id, "discard"),
                  on_click=_operate, args=(actor, event_id,
                                           lambda session: form_drafts.discard_draft(session, actor, event_id)))
    if newer := state.get(_key(event_id, "newer")):
        st.error(newer, icon=":material/sync_problem:")
        st.button("Save anyway", on_click=_save, args=(actor, event_id, True), key=_key(event_id, "save_anyway"))
    if saved := state.pop(_key(event_id, "saved"), None):
        st.success(saved, icon=":material/check_circle:")
    if draft.spec is not None:
        st.caption(personal_data_surface(draft.spec))


def _version_note(draft: Draft) -> str:
    if draft.saved_number is None:
        return "This event has no form yet: add fields, then save. Attendees see the form once it is saved."
    if draft.saved_in_use:
        return (f"Version {draft.saved_number}. Orders were placed with it, so saving creates version "
                f"{draft.saved_number + 1}; those orders keep theirs.")
    return f"Version {draft.saved_number}. No orders use it yet, so saving changes it in place."


# --- the list of fields -----------------------------------------------------------------------------------------


def _field_list(actor: Actor, draft: Draft) -> None:
    state = st.session_state
    event_id = draft.event_id
    st.subheader("Fields")
    if notice := state.get(_key(event_id, "notice")):
        st.error(notice, icon=":material/error:")
    if (removed := state.get(_key(event_id, "removed"))) is not None:
        with st.container(horizontal=True, vertical_alignment="center"):
            st.info(f"Deleted '{removed.field.get('label')}'.", icon=":material/delete:", width="stretch")
            st.button("Undo", icon=":material/undo:", on_click=_undo, args=(actor, event_id, removed),
                      key=_key(event_id, "undo"))
    if draft.problem and draft.fields:
        st.warning(f"The form cannot be saved as it is: {draft.problem}", icon=":material/warning:")
    if not draft.fields:
        st.info("The form has no fields yet. Start from the usual form, or add fields one by one below.",
                icon=":material/edit_note:")
        st.button("Start from the usual form: name, email, items and consent", icon=":material/auto_awesome:",
                  key=_key(event_id, "starter"), on_click=_operate,
                  args=(actor, event_id, lambda session: form_drafts.start_from_usual_form(session, actor, event_id)))
        return
    open_key = state.get(_key(event_id, "open"))
    keys = [row.key for row in draft.rows]
    keys_unique = all(keys) and len(set(keys)) == len(keys)  # only a broken stored form repeats a key
    for index, row in enumerate(draft.rows):
        # Rows are drawn by position, so an open editor keeps its inputs (and the focus) when its label changes
        # the field's key; the row's buttons are keyed by field, so that a move never leaves one field's button
        # where another field's was.
        with st.container(border=True):
            with st.container(horizontal=True, vertical_alignment="center", gap="small", wrap=False):
                # The type is part of the button's name, so that it never repeats a template button's name.
                st.button(f"**{_plain(row.label)}** :gray[· {_plain(row.type_name)}]",
                          icon=TYPE_ICONS.get(row.type, UNKNOWN_ICON), type="tertiary", wrap=True,
                          key=f"fb-open-{event_id}-{index}", on_click=_toggle, args=(event_id, row.key),
                          help="Close the editor" if row.key == open_key else "Open this field's settings")
                st.space("stretch")
                with st.container(horizontal=True, gap="xsmall", width="content", wrap=False):
                    _row_actions(actor, event_id, row, index, index == len(draft.rows) - 1,
                                 row.key if keys_unique else str(index))
            if badges := _badges(row):
                st.markdown(badges)
            if row.key == open_key:
                _editor(actor, draft, row.key)


def _row_actions(actor: Actor, event_id: int, row: FieldRow, index: int, last: bool,
                 handle: str) -> None:
    """Move up, move down, duplicate, delete; `handle` names the buttons (the field's key, while keys are unique)."""
    key, label = row.key, row.label

    def move(offset: int) -> None:
        _operate(actor, event_id, lambda session: form_drafts.move_field(session, actor, event_id, key, offset))

    def duplicate() -> None:
        _operate(actor, event_id, lambda session: form_drafts.duplicate_field(session, actor, event_id, key))

    _icon_button(f"Move '{label}' up", ":material/arrow_upward:", f"up-{handle}", index == 0, lambda: move(-1))
    _icon_button(f"Move '{label}' down", ":material/arrow_downward:", f"down-{handle}", last, lambda: move(1))
    _icon_button(f"Duplicate '{label}'", ":material/content_copy:", f"copy-{handle}", row.type == FieldType.ITEMS,
                 duplicate)
    _icon_button(f"Delete '{label}'", ":material/delete:", f"delete-{handle}", False,
                 lambda: _delete(actor, event_id, key))


def _icon_button(label: str, icon: str, name: str, disabled: bool, action: Callable[[], None]) -> None:
    # The key's prefix is what BUILDER_CSS hides the label by.
    st.button(_plain(label), icon=icon, key=f"fb-icon-{name}", disabled=disabled, on_click=action, type="tertiary",
              help=_plain(label))


def _badges(row: FieldRow) -> str:
    parts = []
    if row.required:
        parts.append(":blue-badge[Required]")
    if row.personal:
        parts.append(":orange-badge[Personal]")
    if row.shown_if:
        parts.append(f":violet-badge[{_plain(row.shown_if)}]")
    if row.problem:
        parts.append(f":red-badge[Needs fixing: {_plain(row.problem)}]")
    return " ".join(parts)


# --- the open field's editor ------------------------------------------------------------------------------------


def _editor(actor: Actor, draft: Draft, key: str) -> None:
    """The open field's attributes, each applied when it changes; errors beside the input at fault."""
    state = st.session_state
    event_id = draft.event_id
    errors: dict[str, str] = state.get(_key(event_id, "errors")) or {}
    apply = {"on_change": _apply_editor, "args": (actor, event_id, key)}
    name = lambda attribute: _editor_key(event_id, attribute)  # noqa: E731 - a short local helper
    try:
        field_type = FieldType(state.get(name("type")))
    except ValueError:
        field_type = None
    _error(errors, WHOLE_FIELD)
    st.text_input("Label", key=name("label"), max_chars=200, help="What the attendee reads.", **apply)
    _error(errors, "label")
    kind, required = st.columns(2, vertical_alignment="bottom")
    with kind:
        # A known type cannot be cleared (index 0 draws no clear button); the state holds the actual choice.
        st.selectbox("Type", list(FieldType), key=name("type"), format_func=_type_name, **apply,
                     help=FIELD_TYPE_HINTS.get(field_type) if field_type else None,
                     index=0 if field_type else None, placeholder="Choose a type")
    if field_type is None:
        _error(errors, "type")
        return
    with required:
        st.checkbox(_required_label(field_type), key=name("required"), **apply)
    _error(errors, "type")
    attributes = attributes_of(field_type)
    st.text_input("Help text", key=name("help"), max_chars=500, **apply,
                  placeholder="Optional: a hint shown with the field")
    _error(errors, "help")
    if "min_length" in attributes:
        _text_limits(name, errors, apply, field_type)
    if "min_value" in attributes:
        _number_limits(name, errors, apply)
    if "min_date" in attributes:
        _date_limits(name, errors, apply)
    if "options" in attributes:
        _options(actor, event_id, key, field_type, errors)
    if "purpose" in attributes:
        _personal(name, errors, apply, field_type)
    _condition(actor, draft, key, errors, apply)
    with st.expander("Advanced: the field's key"):
        st.text_input("Key", key=name("key"), max_chars=40, **apply,
                      help="How exports, vendors' lists and the JSON name this field. It is made from the label.")
        _error(errors, "key")
        if key in draft.saved_keys:
            st.caption("The saved form uses this key: orders already placed keep their answers under it, and "
                       "vendors who may see this field would need it granted again under a new key.")
    st.button("Done", icon=":material/check:", key=_key(event_id, "done"), on_click=_toggle, args=(event_id, key))


def _type_name(field_type: FieldType) -> str:
    return FIELD_TYPE_NAMES[field_type]


def _required_label(field_type: FieldType) -> str:
    if field_type == FieldType.CHECKBOX:
        return "Must be ticked to order (consent)"
    if field_type == FieldType.ITEMS:
        return "At least one item must be ordered"
    return "Required"


def _text_limits(name: Callable[[str], str], errors: dict[str, str], apply: dict[str, Any],
                 field_type: FieldType) -> None:
    longest = MAX_TEXT_LENGTH[field_type]
    shortest, most = st.columns(2)
    with shortest:
        st.number_input("Shortest answer (characters)", key=name("min_length"), value=None, min_value=0,
                        max_value=longest, step=1, **apply)
        _error(errors, "min_length")
    with most:
        st.number_input("Longest answer (characters)", key=name("max_length"), value=None, min_value=1,
                        max_value=longest, step=1, help=f"At most {longest}.", **apply)
        _error(errors, "max_length")
    pattern, hint = st.columns(2)
    with pattern:
        st.text_input("Pattern (a regular expression)", key=name("pattern"), max_chars=200, **apply,
                      help="The whole answer must match it, e.g. [A-Z]{2}[0-9]{4} for two capitals and four digits.")
        _error(errors, "pattern")
    with hint:
        st.text_input("Message when the pattern does not match", key=name("pattern_hint"), max_chars=200, **apply,
                      placeholder="e.g. Two capitals and four digits, like AB1234")
        _error(errors, "pattern_hint")


def _number_limits(name: Callable[[str], str], errors: dict[str, str], apply: dict[str, Any]) -> None:
    smallest, largest, decimals = st.columns(3)
    for column, attribute, label in ((smallest, "min_value", "Smallest number"),
                                     (largest, "max_value", "Largest number")):
        with column:
            st.number_input(label, key=name(attribute), value=None, step=1.0, format="%g", **apply)
            _error(errors, attribute)
    with decimals:
        st.number_input("Decimal places", key=name("decimals"), min_value=0, max_value=6, step=1, **apply)
        _error(errors, "decimals")


def _date_limits(name: Callable[[str], str], errors: dict[str, str], apply: dict[str, Any]) -> None:
    earliest, latest = st.columns(2)
    for column, attribute, label in ((earliest, "min_date", "Earliest date"), (latest, "max_date", "Latest date")):
        with column:
            st.date_input(label, key=name(attribute), value=None, min_value=date(DAY_RANGE_YEARS[0], 1, 1),
                          max_value=date(DAY_RANGE_YEARS[1], 12, 31), format="YYYY-MM-DD", **apply)
            _error(errors, attribute)


def _options(actor: Actor, event_id: int, key: str, field_type: FieldType, errors: dict[str, str]) -> None:
    state = st.session_state
    count = state.get(_editor_key(event_id, "option_count"), 0)
    if field_type in CHOICE_TYPES:
        st.markdown("**Options**")
    else:
        st.markdown("**Countries delivered to**")
        st.caption("Leave the list empty to accept an address in any country.")
    for index in range(count):
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            st.text_input(f"Option {index + 1}", key=_editor_key(event_id, f"option.{index}"), max_chars=100,
                          label_visibility="collapsed", placeholder=f"Option {index + 1}",
                          on_change=_apply_editor, args=(actor, event_id, key))
            _icon_button(f"Move option {index + 1} up", ":material/arrow_upward:", f"option-up-{index}",
                         index == 0, lambda index=index: _move_option(actor, event_id, key, index, -1))
            _icon_button(f"Move option {index + 1} down", ":material/arrow_downward:", f"option-down-{index}",
                         index == count - 1, lambda index=index: _move_option(actor, event_id, key, index, 1))
            _icon_button(f"Remove option {index + 1}", ":material/close:", f"option-remove-{index}", False,
                         lambda index=index: _remove_option(actor, event_id, key, index))
    st.button("Add an option", icon=":material/add:", type="tertiary", key=_key(event_id, "add_option"),
              on_click=_add_option, args=(event_id,))
    _error(errors, "options")


def _personal(name: Callable[[str], str], errors: dict[str, str], apply: dict[str, Any],
              field_type: FieldType) -> None:
    if field_type in ALWAYS_PERSONAL:
        st.caption(f"An {FIELD_TYPE_NAMES[field_type].lower()} is always personal data: it is deleted with the "
                   f"event's other personal data, and you say why you ask for it.")
        personal = True
    else:
        st.checkbox("Personal data: the answer can identify a person", key=name("personal"), **apply,
                    help="Personal answers are deleted when the event's retention ends, and need a purpose.")
        personal = st.session_state.get(name("personal")) is True
    if personal:
        st.text_input("Why you need it (shown to attendees)", key=name("purpose"), max_chars=300, **apply,
                      placeholder="e.g. To deliver your breakfast box.")
        _error(errors, "purpose")


def _condition(actor: Actor, draft: Draft, key: str, errors: dict[str, str], apply: dict[str, Any]) -> None:
    """"Show only if": an earlier field, then one of its answers."""
    state = st.session_state
    event_id = draft.event_id
    conditions = {condition.key: condition for condition in draft.conditions(key)}
    target_key, value_key = _editor_key(event_id, "show_if_field"), _editor_key(event_id, "show_if_value")
    if state.get(target_key) not in (ALWAYS_SHOWN, *conditions):
        state[target_key] = ALWAYS_SHOWN  # e.g. the field it waited for moved below it in another tab
    if not conditions:
        st.caption("Show only if: there is no earlier choice, tick box or item picker to depend on.")
        return
    st.selectbox("Show only if", [ALWAYS_SHOWN, *conditions], key=target_key, on_change=_choose_condition,
                 args=(actor, event_id, key),
                 format_func=lambda k: "Always shown" if k == ALWAYS_SHOWN else conditions[k].label)
    chosen = conditions.get(state.get(target_key))
    if chosen is None:
        return
    answers = {answer.value: answer.label for answer in chosen.answers}
    if state.get(value_key) not in answers:
        state[value_key] = None
    st.selectbox("Answer that shows this field", list(answers), key=value_key, index=None,
                 placeholder="Choose an answer", format_func=lambda value: answers[value], **apply)
    _error(errors, "show_if")


def _error(errors: dict[str, str], attribute: str) -> None:
    if message := errors.get(attribute):
        st.error(message, icon=":material/error:")


# --- adding fields ----------------------------------------------------------------------------------------------


def _add_field(actor: Actor, draft: Draft) -> None:
    event_id = draft.event_id
    st.markdown("**Add a field**")
    has_items = any(row.type == FieldType.ITEMS for row in draft.rows)
    with st.container(horizontal=True, gap="small"):
        for name, template in TEMPLATES.items():
            st.button(template.name, icon=TEMPLATE_ICONS.get(name), key=_key(event_id, f"template.{name}"),
                      on_click=_operate, args=(actor, event_id, lambda session, name=name:
                                               form_drafts.add_field_from_template(session, actor, event_id, name)))
        with st.popover("Another type", icon=":material/add:"):
            for field_type in FieldType:
                st.button(FIELD_TYPE_NAMES[field_type], icon=TYPE_ICONS[field_type], help=FIELD_TYPE_HINTS[field_type],
                          key=_key(event_id, f"type.{field_type.value}"), width="stretch",
                          disabled=field_type == FieldType.ITEMS and has_items,
                          on_click=_operate, args=(actor, event_id, lambda session, field_type=field_type:
                                                   form_drafts.add_field_of_type(session, actor, event_id,
                                                                                 field_type)))


# --- JSON for power users, and the preview ----------------------------------------------------------------------


def _json(actor: Actor, draft: Draft) -> None:
    event_id = draft.event_id
    errors: dict[str, str] = st.session_state.get(_key(event_id, "errors")) or {}
    with st.expander("The form as JSON, for power users", icon=":material/data_object:", expanded="json" in errors):
        filename, mimetype, data = form_drafts.export_form_json(draft)
        st.download_button("Download the draft as JSON", data, file_name=filename, mime=mimetype,
                           icon=":material/download:", on_click="ignore", key=_key(event_id, "json_download"))
        st.code(data.decode(), language="json", height=300)
        st.text_area("Paste a form as JSON", key=_key(event_id, "json_text"), height=160,
                     placeholder='{"fields": [{"key": "name", "type": "short_text", "label": "Full name"}]}')
        st.file_uploader("Or upload a JSON file", type=["json"], key=_key(event_id, "json_file"))
        st.button("Replace the draft with this JSON", icon=":material/upload:", key=_key(event_id, "json_import"),
                  on_click=_import_json, args=(actor, event_id))
        _error(errors, "json")


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
        form_renderer.render_form(draft.spec, draft.catalogue, prefix=PREVIEW_PREFIX, errors={}, currency=draft.currency)


def _plain(text: str) -> str:
    """`text` for Markdown, shown as typed (no links, emphasis or icons made of an organiser's label)."""
    return re.sub(_MARKDOWN_SPECIAL, r"\\\1", text)
