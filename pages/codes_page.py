"""Codes: whether the chosen event needs redemption codes, and generating, importing, listing and revoking them."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import streamlit as st
from sqlalchemy.orm import Session
from streamlit.delta_generator import DeltaGenerator

from core import code_admin
from core.auth import Actor
from core.code_admin import CodeBatch, CodeFilters, CodeOverview, CodeStatus, NewCodes
from core.config import code_key
from core.event_admin import EventSummary
from core.models import CodeMode
from core.spreadsheets import ExportFile
from ui import feedback, fresh, runtime
from ui.downloads import prepared_download

NEW_CODES_KEY = "codes.new"
# Every change starts a new generation of the inputs, drawn afresh from the database.
SCOPE = "codes"
MODE_LABELS = {CodeMode.NONE: "No code needed", CodeMode.FORM: "A code opens the order form",
               CodeMode.ITEMS: "A code is needed for some items"}


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Codes")
    st.caption(f"{event.title} · Attendees enter a code to open the form or to order certain items. Only a keyed "
               "hash of each code is stored, so nobody can read them back — not even from a copy of the database.")
    overview = feedback.read(lambda session: code_admin.code_overview(session, actor, event.id))
    if overview is None:
        return
    fresh.show_notice(SCOPE)
    generation = fresh.generation(SCOPE)
    _mode(actor, event, overview, generation)
    _new_codes()
    generate_tab, import_tab = st.tabs(["Generate codes", "Import codes"])
    with generate_tab:
        _generate(actor, event, overview, generation)
    with import_tab:
        _import(actor, event, generation)
    _code_list(actor, event, overview, generation)


def _mode(actor: Actor, event: EventSummary, overview: CodeOverview, generation: int) -> None:
    st.subheader("When a code is needed")
    with st.form(f"codes.mode.{generation}"):
        mode = st.radio("Code", list(CodeMode), format_func=MODE_LABELS.get, label_visibility="collapsed",
                        index=list(CodeMode).index(overview.mode))
        items = st.multiselect("Items that need a code", list(overview.items), format_func=overview.items.get,
                               default=sorted(overview.items_requiring_code),
                               help="Only used with \"A code is needed for some items\".")
        slots = {"items": st.empty()}
        if st.form_submit_button("Save", type="primary"):
            _change(slots, lambda session: code_admin.set_code_mode(session, actor, event.id, mode, items),
                    "Saved when a code is needed.")


def _generate(actor: Actor, event: EventSummary, overview: CodeOverview, generation: int) -> None:
    with st.form(f"codes.generate.{generation}"):
        slots: dict[str, DeltaGenerator] = {}
        count_column, prefix_column, length_column = st.columns(3)
        count = count_column.number_input("How many", min_value=1, max_value=code_admin.MAX_GENERATE, value=100)
        slots["count"] = count_column.empty()
        prefix = prefix_column.text_input("Prefix", max_chars=code_admin.MAX_PREFIX_LENGTH, placeholder="e.g. SUMMER",
                                          help="Letters and digits put before each code, e.g. to tell batches apart.")
        slots["prefix"] = prefix_column.empty()
        length = length_column.number_input("Random characters", min_value=code_admin.RANDOM_LENGTHS.start,
                                            max_value=code_admin.RANDOM_LENGTHS.stop - 1, value=10)
        slots["length"] = length_column.empty()
        uses_column, expires_column = st.columns(2)
        max_uses = uses_column.number_input("Uses per code", min_value=1, max_value=code_admin.MAX_USES, value=1,
                                            help="How many orders may use each code.")
        slots["max_uses"] = uses_column.empty()
        expires_on = expires_column.date_input("Last day valid", value=None, format="YYYY-MM-DD",
                                               help="Empty: no end. Days in the event's time zone, "
                                                    f"{overview.timezone}.")
        item_keys = st.multiselect("Only for these items", list(overview.items), format_func=overview.items.get,
                                   placeholder="All items")
        slots["item_keys"] = st.empty()
        note = st.text_input("Note", max_chars=code_admin.MAX_NOTE_LENGTH, placeholder="e.g. speakers",
                             help="For you: shown in the list, never to attendees.")
        slots["note"] = st.empty()
        if st.form_submit_button("Generate codes", type="primary", icon=":material/key:"):
            batch = CodeBatch(count=int(count), prefix=prefix, length=int(length), max_uses=int(max_uses),
                              expires_on=expires_on, item_keys=tuple(item_keys), note=note)
            key = code_key(runtime.settings())
            new = feedback.apply(lambda session: code_admin.generate_codes(session, actor, event.id, batch, key=key),
                                 slots)
            if new is not None:
                st.session_state[NEW_CODES_KEY] = new
                fresh.refresh(SCOPE, f"Generated {len(new.codes):,} codes.")


def _new_codes() -> None:
    """The download of freshly generated codes: the one chance to get them, kept until the organiser is done."""
    new: NewCodes | None = st.session_state.get(NEW_CODES_KEY)
    if new is None:
        return
    st.warning(f"Download the {len(new.codes):,} new codes now: only their hashes are stored, so they cannot be "
               "shown or downloaded again.", icon=":material/warning:")
    download, done = st.columns(2)
    download.download_button("Download codes (CSV for a mail merge)", data=new.csv, file_name=new.filename,
                             mime=new.mimetype, type="primary", icon=":material/download:", on_click="ignore")
    done.button("I have saved them", on_click=st.session_state.pop, args=(NEW_CODES_KEY, None))


def _import(actor: Actor, event: EventSummary, generation: int) -> None:
    st.caption("A CSV file with a column `code`, and if you like `max_uses` (default 1), `expires` (the last "
               "valid day, YYYY-MM-DD), `items` (item keys separated by spaces) and `note`. Nothing is imported "
               "unless every row is fine.")
    upload = st.file_uploader("CSV file of codes", type=["csv"], key=f"codes.upload.{generation}")
    if upload is None or not st.button("Import codes", type="primary", icon=":material/upload:"):
        return
    count = feedback.apply(lambda session: code_admin.import_codes(session, actor, event.id, upload.getvalue(),
                                                                   key=code_key(runtime.settings())))
    if count is not None:
        fresh.refresh(SCOPE, f"Imported {count:,} codes.")


def _code_list(actor: Actor, event: EventSummary, overview: CodeOverview, generation: int) -> None:
    st.subheader("Codes")
    st.caption(" · ".join(f"{count:,} {status.value}" for status, count in overview.counts.items()))
    status_column, text_column = st.columns(2)
    status = status_column.selectbox("Status", [None, *CodeStatus], key="codes.status",
                                     format_func=lambda s: "Any status" if s is None else s.value.capitalize())
    text = text_column.text_input("Search", key="codes.search", placeholder="Start of a code or a word of the note")
    filters = CodeFilters(status=status, text=text)
    listed = feedback.read(lambda session: code_admin.list_codes(session, actor, event.id, filters))
    if listed is None:
        return
    if listed.total == 0:
        st.info("No codes match." if status or text.strip() else "This event has no codes yet.",
                icon=":material/key_off:")
        return
    if listed.total > len(listed.rows):
        st.caption(f"Showing the newest {len(listed.rows):,} of {listed.total:,}; search to narrow the list.")
    rows = listed.rows
    st.dataframe(rows.drop(columns=["id"]), hide_index=True, width="stretch", column_config={
        "hint": "Code starts with", "max_uses": "Uses allowed",
        "valid_until": "Valid until",
        "created": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD HH:mm"),
    })
    labels = {row.id: f"{row.hint} · {row.status} · {row.uses}/{row.max_uses}"
              + (f" · {row.note}" if row.note else "") for row in rows.itertuples()}
    _export(actor, event, filters)
    _uses(actor, event, {row.id: labels[row.id] for row in rows.itertuples() if row.uses})
    with st.form(f"codes.revoke.{generation}"):
        chosen = st.multiselect("Codes to revoke", list(labels), format_func=labels.get, placeholder="Choose codes")
        st.caption("A revoked code stops working at once and for good; orders already placed with it stay.")
        if st.form_submit_button("Revoke", icon=":material/block:"):
            _change({}, lambda session: code_admin.revoke_codes(session, actor, event.id, chosen),
                    f"Revoked {len(chosen):,} code{'s' if len(chosen) != 1 else ''}.")


def _export(actor: Actor, event: EventSummary, filters: CodeFilters) -> None:
    if prepared_download("codes.export", (event.id, filters), lambda session: ExportFile(
            *code_admin.export_code_list(session, actor, event.id, filters)), prepare="Prepare the list as CSV",
            download="Download the list (CSV)", icon=":material/csv:", spinner="Building the list…",
            help="Hints, uses, expiry, items and notes. Not the codes: they are not stored."):
        st.caption("The list has no codes in it: only their first characters.")


def _uses(actor: Actor, event: EventSummary, used: Mapping[int, str]) -> None:
    if not used:
        return
    code_id = st.selectbox("Orders that used a code", [None, *used], key="codes.uses",
                           format_func=lambda i: "Choose a code" if i is None else used[i])
    if code_id is None:
        return
    orders = feedback.read(lambda session: code_admin.code_uses(session, actor, event.id, code_id))
    if orders is None:
        return
    st.dataframe(orders, hide_index=True, width="stretch", column_config={
        "reference": "Order", "placed_at": st.column_config.DatetimeColumn("Placed", format="YYYY-MM-DD HH:mm"),
        "status": "Status"})


def _change(slots: Mapping[str, DeltaGenerator], change: Callable[[Session], object], done: str) -> None:
    if feedback.apply(change, slots) is not None:
        fresh.refresh(SCOPE, done)
