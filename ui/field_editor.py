"""The form builder's editor of the open field: each attribute applied when it changes, errors beside it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import streamlit as st

from core import form_drafts
from core.auth import Actor
from core.form_builder import FIELD_TYPE_HINTS, FIELD_TYPE_NAMES, WHOLE_FIELD, always_personal_note, attributes_of
from core.form_drafts import Draft
from core.forms import ALWAYS_PERSONAL, CHOICE_TYPES, MAX_TEXT_LENGTH, FieldType
from ui import builder_state
from ui.builder_state import ALWAYS_SHOWN, editor_key, editor_values, operate, state_key, toggle
from ui.builder_widgets import icon_button

# The date inputs' range (Streamlit's default is ten years either side of today).
DAY_RANGE_YEARS = (2000, 2100)


def draw_editor(actor: Actor, draft: Draft, key: str) -> None:
    """The open field's attributes, each applied when it changes; errors beside the input at fault."""
    state = st.session_state
    event_id = draft.event_id
    errors = builder_state.errors(event_id)
    apply = {"on_change": apply_editor, "args": (actor, event_id, key)}
    name = lambda attribute: editor_key(event_id, attribute)  # noqa: E731 - a short local helper
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
    st.button("Done", icon=":material/check:", key=state_key(event_id, "done"), on_click=toggle, args=(event_id, key))


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
    count = state.get(editor_key(event_id, "option_count"), 0)
    if field_type in CHOICE_TYPES:
        st.markdown("**Options**")
    else:
        st.markdown("**Countries delivered to**")
        st.caption("Leave the list empty to accept an address in any country.")
    for index in range(count):
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            st.text_input(f"Option {index + 1}", key=editor_key(event_id, f"option.{index}"), max_chars=100,
                          label_visibility="collapsed", placeholder=f"Option {index + 1}",
                          on_change=apply_editor, args=(actor, event_id, key))
            icon_button(f"Move option {index + 1} up", ":material/arrow_upward:", f"option-up-{index}",
                         index == 0, lambda index=index: _move_option(actor, event_id, key, index, -1))
            icon_button(f"Move option {index + 1} down", ":material/arrow_downward:", f"option-down-{index}",
                         index == count - 1, lambda index=index: _move_option(actor, event_id, key, index, 1))
            icon_button(f"Remove option {index + 1}", ":material/close:", f"option-remove-{index}", False,
                         lambda index=index: _remove_option(actor, event_id, key, index))
    st.button("Add an option", icon=":material/add:", type="tertiary", key=state_key(event_id, "add_option"),
              on_click=_add_option, args=(event_id,))
    _error(errors, "options")


def _personal(name: Callable[[str], str], errors: dict[str, str], apply: dict[str, Any],
              field_type: FieldType) -> None:
    if field_type in ALWAYS_PERSONAL:
        st.caption(f"{always_personal_note(field_type)}: it is deleted with the event's other personal data, and "
                   f"you say why you ask for it.")
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
    target_key, value_key = editor_key(event_id, "show_if_field"), editor_key(event_id, "show_if_value")
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


def apply_editor(actor: Actor, event_id: int, key: str) -> None:
    values = editor_values(event_id)
    operate(actor, event_id, lambda session: form_drafts.update_field(session, actor, event_id, key, values))


def _choose_condition(actor: Actor, event_id: int, key: str) -> None:
    """A new "show only if" field waits for its answer; "Always shown" applies at once."""
    state = st.session_state
    state[editor_key(event_id, "show_if_value")] = None
    if state.get(editor_key(event_id, "show_if_field")) == ALWAYS_SHOWN:
        apply_editor(actor, event_id, key)


def _add_option(event_id: int) -> None:
    """A new, empty option input; the draft changes once it has text."""
    state = st.session_state
    count = state.get(editor_key(event_id, "option_count"), 0)
    state[editor_key(event_id, f"option.{count}")] = ""
    state[editor_key(event_id, "option_count")] = count + 1


def _move_option(actor: Actor, event_id: int, key: str, index: int, offset: int) -> None:
    state = st.session_state
    here, there = editor_key(event_id, f"option.{index}"), editor_key(event_id, f"option.{index + offset}")
    state[here], state[there] = state.get(there, ""), state.get(here, "")
    apply_editor(actor, event_id, key)


def _remove_option(actor: Actor, event_id: int, key: str, index: int) -> None:
    state = st.session_state
    count = state.get(editor_key(event_id, "option_count"), 0)
    for later in range(index, count - 1):
        state[editor_key(event_id, f"option.{later}")] = state.get(editor_key(event_id, f"option.{later + 1}"), "")
    state.pop(editor_key(event_id, f"option.{count - 1}"), None)
    state[editor_key(event_id, "option_count")] = count - 1
    apply_editor(actor, event_id, key)
