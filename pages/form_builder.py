"""The form builder: an event's form as an editable table, a live preview beside it, and Save."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import form_builder
from core.auth import Actor
from core.db import read_only, unit_of_work
from core.errors import DomainError
from core.form_builder import COLUMN_TITLES, EventForm
from core.forms import FieldType
from pages import form_renderer, runtime

# Per event: the rows being edited, the saved rows they started from, and a generation that names a fresh editor.
DRAFT_KEY = "form_builder.draft.{event_id}"
SAVED_KEY = "form_builder.saved"
PREVIEW_PREFIX = "preview"


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Form builder")
    st.caption(event.title)
    try:
        with read_only(runtime.engine()) as session:
            current = form_builder.load_event_form(session, actor, event.id)
    except DomainError as exc:
        st.error(str(exc))
        return
    if saved := st.session_state.pop(SAVED_KEY, None):
        st.success(saved, icon=":material/check_circle:")
    st.caption(_version_note(current))
    if current.problem:
        st.warning(f"The stored form is broken, so attendees cannot order until it is fixed: {current.problem}")
    draft = _draft(event.id, current)
    if draft["base"] != current.rows:
        st.info("The saved form changed since you started editing here. Discard your changes to see it.",
                icon=":material/sync_problem:")
    if not draft["rows"]:
        st.button("Start from the usual form: name, email, items and consent", icon=":material/auto_awesome:",
                  on_click=_start_from_starter, args=(event.id, draft["base"]))
    surface = st.empty()  # filled below, once the edited rows are known
    table, preview = st.columns([3, 2], gap="large")
    with table:
        edited = st.data_editor(
            form_builder.rows_frame(draft["rows"]), key=f"form_builder.editor.{event.id}.{draft['generation']}",
            num_rows="dynamic", hide_index=True, column_config=_column_config(draft["rows"]),
            column_order=form_builder.COLUMNS,
        )
        rows = form_builder.rows_from_frame(edited)
        if _keys(rows) != _keys(draft["rows"]):
            # The show-if picker offers the keys in the table: restart the editor from the edited rows.
            _restart(event.id, rows, draft["base"])
        try:
            spec, problem = form_builder.form_from_rows(rows), ""
        except DomainError as exc:
            spec, problem = None, str(exc)
        saving = st.button("Save form", type="primary", icon=":material/save:")
        discarding = st.button("Discard changes", type="tertiary")
        if saving:
            _save(actor, event.id, rows)
        if discarding:
            _restart(event.id, current.rows, current.rows)
    surface.markdown(form_builder.personal_data_surface(spec) if spec else "Personal data collected: "
                     "shown once the form has no problems.")
    with preview:
        st.subheader("Preview")
        if spec is None:
            st.error(problem, icon=":material/error:")
        else:
            form_renderer.render_form(spec, current.catalogue, prefix=PREVIEW_PREFIX, errors={})
        if current.catalogue:
            st.caption("Item keys for show-if: " + ", ".join(item.key for item in current.catalogue))


def _version_note(current: EventForm) -> str:
    if current.number is None:
        return "This event has no form yet: add rows below and save."
    if current.in_use:
        return (f"Version {current.number}. Orders were placed with it, so saving creates version "
                f"{current.number + 1}; those orders keep theirs.")
    return f"Version {current.number}. No orders use it yet, so saving changes it in place."


def _draft(event_id: int, current: EventForm) -> dict[str, Any]:
    key = DRAFT_KEY.format(event_id=event_id)
    if key not in st.session_state:
        st.session_state[key] = {"rows": current.rows, "base": current.rows, "generation": 0}
    return st.session_state[key]


def _restart(event_id: int, rows: list[dict[str, Any]], base: list[dict[str, Any]]) -> None:
    """Draw a fresh table editor from `rows` now."""
    _replace_draft(event_id, rows, base)
    st.rerun()


def _start_from_starter(event_id: int, base: list[dict[str, Any]]) -> None:
    """Fill the table with the starter rows (not saved yet: the organiser reviews them, then saves)."""
    _replace_draft(event_id, form_builder.starter_rows(), base)


def _replace_draft(event_id: int, rows: list[dict[str, Any]], base: list[dict[str, Any]]) -> None:
    # A new generation gives the editor a new key, which drops the old editor's pending edits.
    key = DRAFT_KEY.format(event_id=event_id)
    generation = st.session_state[key]["generation"] + 1
    st.session_state[key] = {"rows": rows, "base": base, "generation": generation}


def _save(actor: Actor, event_id: int, rows: list[dict[str, Any]]) -> None:
    try:
        with unit_of_work(runtime.engine()) as session:
            saved = form_builder.save_event_form(session, actor, event_id, rows)
    except DomainError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    note = (f" Orders use version {saved.number - 1}, so a new version was created; those orders keep theirs."
            if saved.previous_in_use else "")
    st.session_state[SAVED_KEY] = f"Saved as version {saved.number}.{note}"
    _restart(event_id, saved.rows, saved.rows)


def _keys(rows: list[dict[str, Any]]) -> list[str]:
    return [str(row["key"]).strip() for row in rows if row.get("key") and str(row["key"]).strip()]


def _column_config(rows: list[dict[str, Any]]) -> dict[str, Any]:
    column = st.column_config
    title = COLUMN_TITLES
    return {
        "position": column.NumberColumn(title["position"], format="%g", width="small",
                                        help="Fields are shown in this order; 2.5 goes between 2 and 3."),
        "key": column.TextColumn(title["key"], help="Lower-case letters, digits and _; unique in the form."),
        "label": column.TextColumn(title["label"], help="What the attendee reads."),
        "type": column.SelectboxColumn(title["type"], options=[t.value for t in FieldType], default="short_text"),
        "required": column.CheckboxColumn(title["required"], default=False,
                                          help="For a checkbox: it must be ticked (consent)."),
        "options": column.TextColumn(title["options"], help="Choices, separated by commas (or one per line); "
                                                            "for an address, the countries delivered to."),
        "help": column.TextColumn(title["help"], help="A hint shown with the field."),
        "personal": column.CheckboxColumn(title["personal"], default=False,
                                          help="Identifies a person. Email, phone and address always do."),
        "purpose": column.TextColumn(title["purpose"], help="Why you need it; required for personal data."),
        "min_length": column.NumberColumn(title["min_length"], min_value=0, step=1, help="Text fields only."),
        "max_length": column.NumberColumn(title["max_length"], min_value=1, step=1, help="Text fields only."),
        "min_value": column.NumberColumn(title["min_value"], help="Number fields only."),
        "max_value": column.NumberColumn(title["max_value"], help="Number fields only."),
        "decimals": column.NumberColumn(title["decimals"], min_value=0, max_value=6, step=1,
                                        help="Number fields only: decimal places allowed."),
        "min_date": column.TextColumn(title["min_date"], help="Date fields only: YYYY-MM-DD."),
        "max_date": column.TextColumn(title["max_date"], help="Date fields only: YYYY-MM-DD."),
        "pattern": column.TextColumn(title["pattern"], help="Text fields only: a regular expression."),
        "pattern_hint": column.TextColumn(title["pattern_hint"], help="Shown when an answer does not match."),
        "show_if_field": column.SelectboxColumn(title["show_if_field"], options=_keys(rows),
                                                help="Show this field only when that earlier field..."),
        "show_if_value": column.TextColumn(title["show_if_value"],
                                           help="...has this answer: an option, an item key, or true for a "
                                                "checkbox."),
    }
