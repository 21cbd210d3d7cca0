"""The form builder: forms as table rows and back, errors named by row, saving as versions, and who may do it."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from core.db import read_only, unit_of_work
from core.demo import DEMO_FORM
from core.errors import NotFound, PermissionDenied, SchemaError
from core.form_builder import (
    blank_row,
    form_document_from_rows,
    form_from_rows,
    load_event_form,
    personal_data_surface,
    rows_frame,
    rows_from_form,
    rows_from_frame,
    save_event_form,
)
from core.form_versions import current_form_version
from core.forms import FieldType, parse_form_spec
from core.models import Event, FormVersion, Order, UserRole
from core.orders import place_order
from tests.builder_factories import audit_entries
from tests.factories import BASIC_FORM, answers, make_event, make_shop, make_user


def _rows(document: dict[str, Any] = BASIC_FORM) -> list[dict[str, Any]]:
    return rows_from_form(parse_form_spec(document))


def _row(**values: Any) -> dict[str, Any]:
    row = blank_row()
    row.update(values)
    return row


def _problem(rows: list[dict[str, Any]]) -> str:
    with pytest.raises(SchemaError) as caught:
        form_document_from_rows(rows)
    return str(caught.value)


# --- rows <-> documents -----------------------------------------------------------------------------------------


def test_rows_turn_back_into_the_same_document() -> None:
    rows = _rows()
    assert [row["key"] for row in rows] == ["name", "email", "phone", "items", "delivery", "size_note"]
    assert rows[4]["show_if_field"] == "items" and rows[4]["show_if_value"] == "breakfast"
    assert form_document_from_rows(rows) == BASIC_FORM


def test_every_attribute_of_the_demo_form_survives_the_table() -> None:
    assert parse_form_spec(form_document_from_rows(_rows(DEMO_FORM))) == parse_form_spec(DEMO_FORM)


def test_attributes_of_numbers_dates_and_patterns_survive_the_table() -> None:
    document = {"fields": [
        {"key": "code", "type": "short_text", "label": "Code", "min_length": 2, "max_length": 8,
         "pattern": "[A-Z]+ ?", "pattern_hint": "Capitals only"},
        {"key": "guests", "type": "number", "label": "Guests", "min_value": 1, "max_value": 2.5, "decimals": 1},
        {"key": "day", "type": "date", "label": "Day", "min_date": "2027-06-01", "max_date": "2027-06-30"},
        {"key": "extras", "type": "multiple_choice", "label": "Extras", "options": ["Milk, oat", "Sugar"]},
    ]}
    rows = _rows(document)
    assert rows[3]["options"] == "Milk, oat\nSugar"  # an option with a comma forces one option per line
    assert form_document_from_rows(rows) == document


def test_the_table_as_a_dataframe_gives_back_the_same_rows_even_with_empty_cells() -> None:
    rows = _rows(DEMO_FORM) + [blank_row()]
    frame = rows_frame(rows)
    assert list(frame["min_length"].isna())[0] and frame.loc[0, "max_length"] == 100
    back = rows_from_frame(frame)
    assert back[-1]["min_value"] is None and back[-1]["key"] == ""
    assert form_document_from_rows(back) == form_document_from_rows(rows)


def test_fields_follow_the_position_column_and_empty_rows_are_ignored() -> None:
    rows = [
        _row(key="b", label="Second", type="short_text", position=2),
        _row(position=1),  # a new row the table editor added and nobody filled
        _row(key="c", label="Last", type="short_text", position=None),
        _row(key="a", label="First", type="short_text", position=1.5),
        _row(key="z", label="Before all", type="short_text", position=-1),
    ]
    assert [field.key for field in form_from_rows(rows).fields] == ["z", "a", "b", "c"]


def test_options_are_split_by_commas_or_by_lines() -> None:
    rows = [_row(key="size", label="Size", type="single_choice", options=" S, M ,L,, "),
            _row(key="fit", label="Fit", type="single_choice", options="Fitted, narrow\nStraight\n\n")]
    size, fit = form_from_rows(rows).fields
    assert size.options == ("S", "M", "L")
    assert fit.options == ("Fitted, narrow", "Straight")


def test_email_phone_and_address_rows_show_as_personal_and_store_no_redundant_flag() -> None:
    rows = _rows()
    assert [row["personal"] for row in rows] == [True, True, True, False, True, False]
    rows[1]["personal"] = False  # unticking cannot make an email anonymous
    assert form_from_rows(rows).field("email").is_personal
    assert "personal" not in form_document_from_rows(rows)["fields"][1]


def test_dataframe_cells_from_a_table_editor_are_read() -> None:
    rows = [{"key": "n", "label": "N", "type": "number", "required": True, "min_value": 2.0, "max_value": math.nan,
             "min_length": pd.NA, "position": 1.0, "personal": None, "show_if_field": None}]
    [field] = form_document_from_rows(rows)["fields"]
    assert field == {"key": "n", "type": "number", "label": "N", "required": True, "min_value": 2}


# --- conditional display ----------------------------------------------------------------------------------------


def test_show_if_on_a_checkbox_stores_the_boolean_true() -> None:
    rows = [_row(key="gift", label="Is it a gift?", type="checkbox"),
            _row(key="note", label="Gift note", type="long_text", show_if_field="gift"),
            _row(key="why", label="Why not?", type="long_text", show_if_field="gift", show_if_value="false")]
    fields = form_document_from_rows(rows)["fields"]
    assert fields[1]["show_if"] == {"field": "gift", "value": True}
    assert fields[2]["show_if"] == {"field": "gift", "value": False}


def test_show_if_on_the_item_picker_takes_an_item_key() -> None:
    rows = _rows()
    assert form_from_rows(rows).field("delivery").show_if.value == "breakfast"


@pytest.mark.parametrize("change, message", [
    ({"show_if_field": "size_note"}, "Row 5 ('delivery'): show_if refers to 'size_note', which is not an earlier"),
    ({"show_if_field": "items", "show_if_value": ""}, "Row 5 ('delivery'): give the show-if value"),
    ({"show_if_field": "", "show_if_value": "x"}, "Row 5 ('delivery'): a show-if value needs a show-if field"),
])
def test_broken_show_if_is_named_by_row(change: dict[str, Any], message: str) -> None:
    rows = _rows()
    rows[4].update(change)
    assert message in _problem(rows)


def test_show_if_on_a_choice_must_name_one_of_its_options() -> None:
    rows = [_row(key="diet", label="Diet", type="single_choice", options="Vegan, Other"),
            _row(key="details", label="Details", type="short_text", show_if_field="diet", show_if_value="vegan")]
    assert "Row 2 ('details'): show_if value is not an option of 'diet'" in _problem(rows)


def test_a_checkbox_show_if_value_must_be_true_or_false() -> None:
    rows = [_row(key="gift", label="Gift?", type="checkbox"),
            _row(key="note", label="Note", type="short_text", show_if_field="gift", show_if_value="maybe")]
    assert "Row 2 ('note'): a checkbox show-if value is 'true' or 'false'" in _problem(rows)


# --- malformed rows ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index, change, message", [
    (1, {"purpose": ""}, "Row 2 ('email'): collects personal data, so 'purpose' must say why"),
    (2, {"key": "Phone Number"}, "Row 3 ('Phone Number'): the key must start with a lower-case letter"),
    (2, {"key": ""}, "Row 3: give the field a key"),
    (2, {"label": ""}, "Row 3 ('phone'): give the field a label"),
    (2, {"type": ""}, "Row 3 ('phone'): choose a type"),
    (2, {"type": "telephone"}, "Row 3 ('phone'): 'telephone' is not a field type"),
    (2, {"key": "email"}, "Row 3 ('email'): the key is used twice"),
    (5, {"min_length": "three"}, "Row 6 ('size_note'): min length must be a number"),
    (5, {"max_length": 2.5}, "Row 6 ('size_note'): max length must be a whole number"),
    (5, {"max_length": 9000}, "Row 6 ('size_note'): max_length can be at most 200 for short_text"),
    (5, {"min_value": 3}, "Row 6 ('size_note'): min_value and max_value only apply to number fields"),
    (5, {"min_date": "next week"}, "Row 6 ('size_note'): earliest date must be a date like 2027-06-30"),
    (5, {"pattern": "(["}, "Row 6 ('size_note'): pattern is not a valid regular expression"),
    (5, {"position": "soon"}, "Row 6 ('size_note'): position must be a number"),
    (3, {"type": "single_choice"}, "Row 4 ('items'): a choice field needs at least one option"),
])
def test_malformed_rows_are_named_by_their_row(index: int, change: dict[str, Any], message: str) -> None:
    rows = _rows()
    rows[index].update(change)
    problem = _problem(rows)
    assert message in problem
    assert "Field " not in problem  # the organiser sees rows, not the schema's field numbers


def test_rows_are_named_as_the_table_shows_them_even_when_positions_reorder_them() -> None:
    rows = [_row(key="late", label="Late", type="short_text", position=9),
            _row(),
            _row(key="early", label="Early", type="email", position=1)]
    assert _problem(rows) == "Please fix the form: Row 3 ('early'): collects personal data, so 'purpose' must say why"


def test_every_bad_row_is_reported_at_once() -> None:
    rows = _rows()
    rows[0]["type"] = "bogus"
    rows[5]["min_length"] = "x"
    problem = _problem(rows)
    assert "Row 1 ('name')" in problem and "Row 6 ('size_note')" in problem


def test_a_table_without_fields_is_refused_with_a_plain_message() -> None:
    assert _problem([blank_row(), blank_row()]) == "Add at least one field: give a row a key, a label and a type."


# --- the personal data surface ----------------------------------------------------------------------------------


def test_personal_data_surface_names_every_personal_field_and_its_purpose() -> None:
    assert personal_data_surface(parse_form_spec(BASIC_FORM)) == (
        "Personal data collected: Name (To label the order), Email (To confirm the order), Phone (For the courier), "
        "Delivery address (To deliver breakfast) — 4 fields; every one states its purpose.")


def test_personal_data_surface_shortens_long_purposes_and_says_when_there_is_none() -> None:
    surface = personal_data_surface(parse_form_spec(DEMO_FORM))
    assert "Email (To send your confirmation and tell you…)" in surface and "5 fields" in surface
    anonymous = {"fields": [{"key": "size", "type": "single_choice", "label": "Size", "options": ["S"]}]}
    assert personal_data_surface(parse_form_spec(anonymous)) == "Personal data collected: none."


# --- loading and saving -----------------------------------------------------------------------------------------


def _with_extra_row(rows: list[dict[str, Any]], label: str = "Extra") -> list[dict[str, Any]]:
    return [*copy.deepcopy(rows), _row(key="extra", label=label, type="short_text")]


def test_saving_edits_the_form_in_place_while_no_order_uses_it(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        actor = make_user(session, member_of=[event])
        saved = save_event_form(session, actor, event.id, _with_extra_row(_rows()))
    assert (saved.number, saved.previous_in_use) == (1, False)
    assert saved.rows[-1]["key"] == "extra" and saved.rows[-1]["position"] == 7
    with read_only(engine) as session:
        [version] = session.scalars(select(FormVersion)).all()
        assert version.schema["fields"][-1] == {"key": "extra", "type": "short_text", "label": "Extra"}


def test_saving_after_an_order_creates_a_new_version_and_the_order_keeps_its_own(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        actor = make_user(session, member_of=[event])
        place_order(session, event, answers(), idempotency_key="k1")
    with read_only(engine) as session:
        before = load_event_form(session, actor, event.id)
    assert (before.number, before.in_use) == (1, True)
    with unit_of_work(engine) as session:
        saved = save_event_form(session, actor, event.id, _with_extra_row(before.rows, "Added later"))
    assert (saved.number, saved.previous_in_use) == (2, True)
    with read_only(engine) as session:
        order = session.scalars(select(Order)).one()
        assert session.get(FormVersion, order.form_version_id).schema == BASIC_FORM
        after = load_event_form(session, actor, event.id)
    assert (after.number, after.in_use) == (2, False)
    assert after.rows[-1]["label"] == "Added later"
    # Saving again edits version 2 in place: no order uses it yet.
    with unit_of_work(engine) as session:
        again = save_event_form(session, actor, event.id, after.rows)
    assert (again.number, again.previous_in_use) == (2, False)


def test_saving_invalid_rows_changes_nothing_and_audits_nothing(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        actor = make_user(session, member_of=[event])
    rows = _rows()
    rows[1]["purpose"] = ""
    with pytest.raises(SchemaError, match=r"Row 2 \('email'\)"), unit_of_work(engine) as session:
        save_event_form(session, actor, event.id, rows)
    with read_only(engine) as session:
        assert session.scalars(select(FormVersion)).one().schema == BASIC_FORM
        assert audit_entries(session, "form.") == []


def test_saving_is_audited_with_the_version_and_field_keys_but_no_personal_data(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        actor = make_user(session, member_of=[event])
        place_order(session, event, answers(name="Ada Lovelace", email="ada@example.com"), idempotency_key="k1")
    with unit_of_work(engine) as session:
        save_event_form(session, actor, event.id, _rows())
    with read_only(engine) as session:
        [entry] = audit_entries(session, "form.")
    assert (entry.action, entry.actor, entry.event_id) == ("form.saved", "olga", event.id)
    assert entry.details == {"version": 2, "new_version": True,
                             "fields": ["name", "email", "phone", "items", "delivery", "size_note"]}
    recorded = json.dumps(entry.details) + entry.subject
    assert "Ada" not in recorded and "example.com" not in recorded and "label the order" not in recorded


def test_an_event_without_a_form_loads_as_an_empty_table_and_its_first_save_is_version_1(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_event(session, form=None)
        actor = make_user(session, member_of=[event])
        loaded = load_event_form(session, actor, event.id)
        assert (loaded.rows, loaded.spec, loaded.number, loaded.in_use) == ([], None, None, False)
        saved = save_event_form(session, actor, event.id, _rows())
    assert (saved.number, saved.previous_in_use) == (1, False)
    with read_only(engine) as session:
        assert current_form_version(session, session.get(Event, event.id)).schema == BASIC_FORM


def test_a_broken_stored_form_loads_as_rows_to_repair_with_the_problem(engine: Engine) -> None:
    broken = copy.deepcopy(BASIC_FORM)
    broken["fields"][1]["type"] = "telegram"
    with unit_of_work(engine) as session:
        event = make_shop(session)
        actor = make_user(session, member_of=[event])
        session.scalars(select(FormVersion)).one().schema = broken
    with read_only(engine) as session:
        loaded = load_event_form(session, actor, event.id)
    assert loaded.spec is None and "Field 2 ('email')" in loaded.problem
    assert [row["key"] for row in loaded.rows] == [field["key"] for field in BASIC_FORM["fields"]]
    loaded.rows[1]["type"] = FieldType.EMAIL.value
    assert form_document_from_rows(loaded.rows) == BASIC_FORM


def test_the_loaded_form_comes_with_the_catalogue_for_the_preview(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        actor = make_user(session, member_of=[event])
    with read_only(engine) as session:
        loaded = load_event_form(session, actor, event.id)
    assert [item.key for item in loaded.catalogue] == ["tshirt", "hoodie", "breakfast"]
    assert loaded.spec == parse_form_spec(BASIC_FORM)


# --- permissions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda session, actor, event_id: load_event_form(session, actor, event_id),
    lambda session, actor, event_id: save_event_form(session, actor, event_id, _rows()),
])
def test_an_organiser_who_is_not_a_member_is_refused(engine: Engine, call: Any) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        make_user(session, "owner", member_of=[event])
        stranger = make_user(session, "stranger", member_of=[make_event(session, slug="other")])
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        call(session, stranger, event.id)
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        call(session, None, event.id)
    with read_only(engine) as session:
        assert audit_entries(session, "form.") == []
        assert session.scalars(select(FormVersion).where(FormVersion.event_id == event.id)).one().schema == BASIC_FORM


def test_an_admin_may_edit_any_form_and_gets_not_found_for_a_missing_event(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        admin = make_user(session, "root", role=UserRole.ADMIN)
        assert save_event_form(session, admin, event.id, _with_extra_row(_rows())).number == 1
        with pytest.raises(NotFound):
            load_event_form(session, admin, event.id + 100)
