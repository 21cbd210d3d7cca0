"""The form builder's session state: which field is open, what its editor holds, and each operation's outcome.

Every operation on the draft runs in a callback (`operate`), one core call in one unit of work, before the run that
draws the outcome: field errors beside the editor's inputs, other errors above the list (ui/feedback.Kept).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import streamlit as st
from sqlalchemy.orm import Session

from core.auth import Actor
from core.errors import NewerFormSaved
from core.form_builder import EDITABLE, type_of
from core.form_drafts import Draft
from ui import feedback
from ui.feedback import Kept

# "Show only if" offers this before the earlier fields (a string: a None choice would read as no choice at all).
ALWAYS_SHOWN = ""


def state_key(event_id: int, name: str) -> str:
    return f"fb.{event_id}.{name}"


def editor_key(event_id: int, name: str) -> str:
    return state_key(event_id, f"editor.{name}")


def follow(draft: Draft) -> None:
    """Before any widget is drawn: refill the editor when the draft changed elsewhere (another tab, a save)."""
    state = st.session_state
    seen = (state.get(state_key(draft.event_id, "open")), draft.changed_at, draft.saved_number)
    if state.get(state_key(draft.event_id, "seen")) != seen:
        fill_editor(draft, seen[0])


def fill_editor(draft: Draft, open_key: str | None) -> None:
    """Set the editor's inputs to the stored field `open_key` (in a callback, or before the inputs are drawn);
    when that field is gone (deleted, here or in another tab), no field is open."""
    state = st.session_state
    event_id = draft.event_id
    if open_key not in {field.get("key") for field in draft.fields}:
        state[state_key(event_id, "open")] = open_key = None
    for name in [name for name in state if str(name).startswith(editor_key(event_id, ""))]:
        del state[name]
    feedback.forget(outcome_scope(event_id))
    state[state_key(event_id, "seen")] = (open_key, draft.changed_at, draft.saved_number)
    if open_key is None:
        return
    field = draft.field(open_key)
    for name in EDITABLE:
        if name not in ("type", "options", "show_if", "min_date", "max_date"):
            state[editor_key(event_id, name)] = field.get(name, EMPTY.get(name))
    state[editor_key(event_id, "type")] = type_of(field)
    for name in ("min_date", "max_date"):
        state[editor_key(event_id, name)] = date.fromisoformat(field[name]) if field.get(name) else None
    options = list(field.get("options") or [])
    state[editor_key(event_id, "option_count")] = len(options)
    for index, option in enumerate(options):
        state[editor_key(event_id, f"option.{index}")] = option
    show_if = field.get("show_if") or {}
    state[editor_key(event_id, "show_if_field")] = show_if.get("field") or ALWAYS_SHOWN
    state[editor_key(event_id, "show_if_value")] = show_if.get("value")


EMPTY: dict[str, Any] = {"key": "", "label": "", "help": "", "required": False, "personal": False, "purpose": "",
                          "pattern": "", "pattern_hint": "", "decimals": 0}


def editor_values(event_id: int) -> dict[str, Any]:
    """The editor's inputs as core.form_builder.edited takes them; attributes not on screen are left out."""
    state = st.session_state
    values = {name: state[editor_key(event_id, name)] for name in EDITABLE
              if editor_key(event_id, name) in state and name not in ("options", "show_if")}
    if editor_key(event_id, "option_count") in state:
        values["options"] = [state.get(editor_key(event_id, f"option.{index}")) or ""
                             for index in range(state[editor_key(event_id, "option_count")])]
    if editor_key(event_id, "show_if_field") in state:
        target = state[editor_key(event_id, "show_if_field")]
        values["show_if"] = {"field": target, "value": state.get(editor_key(event_id, "show_if_value"))} \
            if target else None
    return values


def outcome_scope(event_id: int) -> str:
    """Where the last operation's errors are kept (ui/feedback.Kept): by attribute, "notice", "newer", "json"."""
    return state_key(event_id, "outcome")


def errors(event_id: int) -> dict[str, str]:
    """The last operation's errors, by the editor's attribute (and "notice", "newer", "json")."""
    return feedback.kept_errors(outcome_scope(event_id))


def operate(actor: Actor, event_id: int, operation: Callable[[Session], Draft]) -> Draft | None:
    """Run one builder operation in its own unit of work; keep its outcome for the run that follows.

    Field errors go beside the editor's inputs, other errors above the list. Returns the new draft, or None.
    """
    state = st.session_state
    for name in ("removed", "saved"):
        state.pop(state_key(event_id, name), None)
    # A newer saved version gets its own message, with "Save anyway" beside it.
    draft = feedback.apply(operation, Kept(outcome_scope(event_id), "notice", by_error=((NewerFormSaved, "newer"),)))
    if draft is None:
        return None
    if draft.focus is not None:
        state[state_key(event_id, "open")] = draft.focus
    fill_editor(draft, state.get(state_key(event_id, "open")))
    return draft


def toggle(event_id: int, key: str) -> None:
    state = st.session_state
    state[state_key(event_id, "open")] = None if state.get(state_key(event_id, "open")) == key else key
    state[state_key(event_id, "seen")] = None  # the next run fills the editor for the newly open field
