"""The builder's rules without storage: templates, types by name, keys from labels, moves, copies, deletions,
edits with errors keyed by attribute, type changes, "show only if" choices, JSON, and the personal data line."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from core.catalogue import CatalogueItem, VariantChoice
from core.demo import DEMO_FORM
from core.errors import DomainError, FormValidationError
from core.form_builder import (
    FIELD_TYPE_NAMES,
    STARTER_FORM,
    TEMPLATES,
    WHOLE_FIELD,
    Answer,
    added,
    always_personal_note,
    canonical,
    conditions_for,
    deleted,
    derive_key,
    duplicated,
    edited,
    field_rows,
    fields_from_json,
    form_json,
    form_problem,
    moved,
    new_field,
    personal_data_surface,
    restored,
    template_field,
)
from core.forms import FieldType, parse_form_spec
from tests.factories import BASIC_FORM


def _fields(document: dict[str, Any] = BASIC_FORM) -> list[dict[str, Any]]:
    return [canonical(field) for field in document["fields"]]


def _keys(fields: list[dict[str, Any]]) -> list[str]:
    return [field["key"] for field in fields]


def _errors(fields: list[dict[str, Any]], key: str, /, **values: Any) -> dict[str, str]:
    before = copy.deepcopy(fields)
    with pytest.raises(FormValidationError) as caught:
        edited(fields, key, values)
    assert fields == before  # the input is never changed
    return caught.value.errors


def _item(key: str, name: str) -> CatalogueItem:
    return CatalogueItem(key=key, name=name, description="", price=Decimal("1"), dimensions=(),
                         variants=(VariantChoice(key="", options={}, label=""),),
                         max_per_order=3)


CATALOGUE = (_item("tshirt", "T-shirt"), _item("breakfast", "Breakfast box"))


# --- keys -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label, taken, key", [
    ("Pickup point", set(), "pickup_point"),
    ("Pickup point", {"pickup_point", "pickup_point_2"}, "pickup_point_3"),
    ("Größe / Taille (cm)", set(), "grosse_taille_cm"),
    ("Café au lait?", set(), "cafe_au_lait"),
    ("2nd choice", set(), "field_2nd_choice"),
    ("!!!", set(), "field"),
    ("I agree that my details are used for this order and deleted after the event.", set(),
     "i_agree_that_my_details_are"),
])
def test_keys_are_derived_from_labels_lower_case_and_unique(label: str, taken: set[str], key: str) -> None:
    assert derive_key(label, taken) == key


# --- adding -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_template_adds_a_valid_field_with_a_key_of_its_own(name: str) -> None:
    fields = _fields(STARTER_FORM)
    result = added(fields, template_field(name, fields))
    assert form_problem(result) == ""
    assert len(set(_keys(result))) == len(result) == len(fields) + 1


def test_a_template_whose_key_is_taken_gets_a_numbered_key() -> None:
    fields = _fields(STARTER_FORM)
    assert template_field("email", fields)["key"] == "email_2"
    assert template_field("full_name", fields)["key"] == "name_2"
    assert template_field("choice", fields) == {"key": "choose_one", "type": "single_choice", "label": "Choose one",
                                                "required": True, "options": ["Option 1", "Option 2"]}


@pytest.mark.parametrize("field_type", [t for t in FieldType if t != FieldType.ITEMS])
def test_every_type_can_be_added_by_its_friendly_name(field_type: FieldType) -> None:
    fields = _fields()
    field = new_field(field_type, fields)
    result = added(fields, field)
    assert result[-1]["type"] == field_type.value and form_problem(result) == ""
    assert field["key"] not in _keys(fields)
    assert field_rows(result, ())[-1].type_name == FIELD_TYPE_NAMES[field_type]


def test_a_form_gets_only_one_item_picker() -> None:
    fields = _fields()
    with pytest.raises(DomainError, match="one item picker, and this one has it: 'Items'"):
        added(fields, new_field(FieldType.ITEMS, fields))
    assert added([], new_field(FieldType.ITEMS, []))[0]["label"] == "What would you like?"


def test_an_unknown_type_or_template_is_refused() -> None:
    with pytest.raises(DomainError, match="'telegram' is not a field type"):
        new_field("telegram", [])
    with pytest.raises(DomainError, match="no field template 'shoe_size'"):
        template_field("shoe_size", [])


# --- moving -----------------------------------------------------------------------------------------------------


def test_moving_swaps_with_the_neighbour_and_leaves_the_input_alone() -> None:
    fields = _fields()
    before = copy.deepcopy(fields)
    assert _keys(moved(fields, "phone", -1)) == ["name", "phone", "email", "items", "delivery", "size_note"]
    assert _keys(moved(fields, "phone", 1)) == ["name", "email", "items", "phone", "delivery", "size_note"]
    assert fields == before


def test_moving_past_the_edges_is_refused() -> None:
    fields = _fields()
    with pytest.raises(DomainError, match="'Name' is already the first field"):
        moved(fields, "name", -1)
    with pytest.raises(DomainError, match="'Anything about sizes\\?' is already the last field"):
        moved(fields, "size_note", 1)


def test_a_field_never_moves_above_the_field_its_condition_waits_for() -> None:
    fields = _fields()
    message = "'Delivery address' is shown only depending on 'Items', so it stays below it"
    with pytest.raises(DomainError, match=message):
        moved(fields, "delivery", -1)
    with pytest.raises(DomainError, match=message):
        moved(fields, "items", 1)


# --- duplicating, deleting, undoing -----------------------------------------------------------------------------


def test_a_duplicate_goes_right_below_with_a_new_unique_key() -> None:
    fields = _fields()
    result, key = duplicated(fields, "phone")
    assert key == "phone_copy" and _keys(result)[3] == "phone_copy"
    assert result[3] == {**result[2], "key": "phone_copy", "label": "Phone (copy)"}
    again, second = duplicated(result, "phone")
    assert second == "phone_copy_2"


def test_the_item_picker_cannot_be_duplicated() -> None:
    with pytest.raises(DomainError, match="one item picker"):
        duplicated(_fields(), "items")


def test_a_deleted_field_comes_back_in_its_place_with_undo() -> None:
    fields = _fields()
    result, removed = deleted(fields, "phone")
    assert _keys(result) == ["name", "email", "items", "delivery", "size_note"]
    assert removed.index == 2 and removed.field == fields[2]
    back, key = restored(result, removed)
    assert back == fields and key == "phone"


def test_undo_gives_a_new_key_when_the_old_one_was_taken_meanwhile() -> None:
    result, removed = deleted(_fields(), "phone")
    result = added(result, template_field("phone", result))  # a new "phone" at the end
    back, key = restored(result, removed)
    assert key == "phone_2" and _keys(back)[2] == "phone_2"


def test_a_field_that_a_condition_waits_for_cannot_be_deleted() -> None:
    with pytest.raises(DomainError, match="'Delivery address' is shown only depending on 'Items'. Change that"):
        deleted(_fields(), "items")


def test_an_unknown_field_is_reported_as_gone() -> None:
    with pytest.raises(DomainError, match="no longer in the draft"):
        moved(_fields(), "nope", 1)


# --- editing: values checked, errors keyed by attribute ---------------------------------------------------------


def test_an_edit_changes_only_what_it_names() -> None:
    fields = _fields()
    result, key = edited(fields, "size_note", {"help": "  S, M or L  ", "required": True, "max_length": 40})
    assert key == "size_note"
    assert result[5] == {"key": "size_note", "type": "short_text", "label": "Anything about sizes?",
                         "help": "S, M or L", "required": True, "max_length": 40}
    assert result[:5] == fields[:5]


@pytest.mark.parametrize("values, attribute, message", [
    ({"label": "  "}, "label", "Give the field a label."),
    ({"label": "x" * 201}, "label", "Use at most 200 characters."),
    ({"personal": True}, "purpose", "Personal data needs a purpose: say why you collect it."),
    ({"min_length": 60}, "min_length", "The shortest is longer than the longest (50)."),
    ({"max_length": 500}, "max_length", "A short answer holds at most 200 characters."),
    ({"max_length": 2.5}, "max_length", "Enter a whole number."),
    ({"pattern": "(["}, "pattern", "This is not a valid pattern (a regular expression)"),
    ({"pattern": "[[0-9]"}, "pattern", "This is not a valid pattern (a regular expression)"),
    ({"key": "Size Note"}, "key", "A key starts with a lower-case letter"),
    ({"key": "email"}, "key", "Another field has this key."),
    ({"show_if": {"field": "later", "value": "x"}}, "show_if", "Choose an earlier field."),
    ({"show_if": {"field": "items", "value": None}}, "show_if", "Choose the answer of 'Items' that shows this"),
    ({"type": "telegram"}, "type", "Choose a type from the list."),
])
def test_a_bad_value_is_refused_with_the_error_beside_its_attribute(values: dict[str, Any], attribute: str,
                                                                   message: str) -> None:
    errors = _errors(_fields(), "size_note", **values)
    assert message in errors[attribute]


def test_every_problem_of_an_edit_is_reported_at_once() -> None:
    errors = _errors(_fields(), "size_note", label="", personal=True, min_length=60)
    assert set(errors) == {"label", "purpose", "min_length"}


def test_email_phone_and_address_always_need_a_purpose() -> None:
    errors = _errors(_fields(), "email", purpose=" ")
    assert errors == {"purpose": "An email address is always personal data: say why you collect it."}
    assert [always_personal_note(field_type) for field_type in (FieldType.PHONE, FieldType.ADDRESS)] == [
        "A phone number is always personal data", "A postal address is always personal data"]


@pytest.mark.parametrize("options, message", [
    (["Vegan", ""], "Option 2 is empty: type it, or remove it."),
    (["Vegan", "Vegan"], "'Vegan' is listed twice."),
    (["x" * 101], "Option 1 is longer than 100 characters."),
    ([], "Add at least one option."),
])
def test_options_are_an_edited_list_checked_one_by_one(options: list[str], message: str) -> None:
    fields = [*_fields(), {"key": "diet", "type": "single_choice", "label": "Diet", "options": ["Vegan", "Other"]}]
    assert _errors(fields, "diet", options=options) == {"options": message}
    result, _ = edited(fields, "diet", {"options": [" Other ", "Vegan", "Halal"]})
    assert result[-1]["options"] == ["Other", "Vegan", "Halal"]


def test_number_and_date_limits_are_checked_beside_their_inputs() -> None:
    fields = [{"key": "guests", "type": "number", "label": "Guests"}, {"key": "day", "type": "date", "label": "Day"}]
    assert _errors(fields, "guests", min_value=5, max_value=2) == {"min_value": "The smallest is larger than the "
                                                                                "largest."}
    assert _errors(fields, "guests", decimals=7) == {"decimals": "Use 0 to 6 decimal places."}
    assert _errors(fields, "day", min_date=date(2027, 6, 30), max_date=date(2027, 6, 1)) == {
        "min_date": "The earliest day is after the latest."}
    result, _ = edited(fields, "guests", {"min_value": 1.0, "max_value": 2.5, "decimals": 1})
    assert result[0] == {"key": "guests", "type": "number", "label": "Guests", "min_value": 1, "max_value": 2.5,
                         "decimals": 1}
    result, _ = edited(fields, "day", {"min_date": date(2027, 6, 1), "max_date": None})
    assert result[1] == {"key": "day", "type": "date", "label": "Day", "min_date": "2027-06-01"}


def test_a_new_fields_key_follows_its_label_until_the_form_is_saved_with_it() -> None:
    fields = added(_fields(), template_field("choice", _fields()))
    result, key = edited(fields, "choose_one", {"label": "Pickup point"})
    assert key == "pickup_point" and result[-1]["key"] == "pickup_point"
    # Once saved, orders, exports and vendors know the key: a new label keeps it.
    kept, key = edited(result, "pickup_point", {"label": "Where to pick up"}, fixed_keys=frozenset({"pickup_point"}))
    assert key == "pickup_point" and kept[-1]["label"] == "Where to pick up"
    # A key given by hand (Advanced) is not one derived from the label, so the label no longer moves it.
    named, key = edited(result, "pickup_point", {"key": "stall"})
    renamed, key = edited(named, "stall", {"label": "Stall"})
    assert key == "stall"


def test_a_condition_follows_the_key_it_waits_for() -> None:
    fields = [{"key": "gift", "type": "checkbox", "label": "Gift"},
              {"key": "note", "type": "short_text", "label": "Note", "show_if": {"field": "gift", "value": True}}]
    result, key = edited(fields, "gift", {"label": "Is it a gift?"})
    assert key == "is_it_a_gift" and result[1]["show_if"] == {"field": "is_it_a_gift", "value": True}
    result, key = edited(result, "is_it_a_gift", {"key": "present"})
    assert result[1]["show_if"] == {"field": "present", "value": True}


def test_an_option_that_a_condition_waits_for_cannot_be_removed() -> None:
    fields = [{"key": "diet", "type": "single_choice", "label": "Diet", "options": ["Vegan", "Other"]},
              {"key": "details", "type": "short_text", "label": "Details",
               "show_if": {"field": "diet", "value": "Other"}}]
    assert _errors(fields, "diet", options=["Vegan"]) == {
        "options": "'Details' is shown only if this field is 'Other': keep that option, or change that condition "
                   "first."}
    assert _errors(fields, "diet", type="checkbox") == {
        "type": "'Details' is shown only if this field is 'Other': change that condition before the type."}


def test_an_edit_that_would_break_the_form_is_refused_as_a_whole() -> None:
    fields = [{"key": "sms_opt_in", "type": "checkbox", "label": "Texts", "personal": True, "purpose": "To text."},
              {"key": "phone", "type": "phone", "label": "Phone", "purpose": "To text you."}]
    errors = _errors(fields, "phone", type="short_text")
    assert "the SMS opt-in needs a phone field to text" in errors[WHOLE_FIELD]


# --- changing the type keeps what still applies -----------------------------------------------------------------


def _note(**extra: Any) -> list[dict[str, Any]]:
    return [{"key": "gift", "type": "checkbox", "label": "Gift?"},
            {"key": "note", "type": "short_text", "label": "Note", "help": "For the card", "required": True,
             "personal": True, "purpose": "To write the card.", "max_length": 80, "pattern": "[A-Za-z ]+",
             "pattern_hint": "Letters only", "show_if": {"field": "gift", "value": True}, **extra}]


def test_a_text_field_that_becomes_a_paragraph_keeps_everything() -> None:
    result, _ = edited(_note(), "note", {"type": "long_text"})
    assert result[1] == {**_note()[1], "type": "long_text"}


def test_a_text_field_that_becomes_a_number_keeps_what_numbers_have() -> None:
    result, _ = edited(_note(), "note", {"type": "number"})
    assert result[1] == {"key": "note", "type": "number", "label": "Note", "help": "For the card",
                         "required": True, "personal": True, "purpose": "To write the card.",
                         "show_if": {"field": "gift", "value": True}}


def test_a_field_that_becomes_a_choice_starts_with_two_options() -> None:
    result, _ = edited(_note(), "note", {"type": "single_choice"})
    assert result[1]["options"] == ["Option 1", "Option 2"] and "max_length" not in result[1]
    multiple, _ = edited(result, "note", {"type": "multiple_choice", "options": ["Red", "Blue"]})
    kept, _ = edited(multiple, "note", {"type": "single_choice"})
    assert kept[1]["options"] == ["Red", "Blue"]


def test_a_field_that_becomes_an_email_is_personal_by_its_type_and_keeps_its_purpose() -> None:
    result, _ = edited(_note(), "note", {"type": "email"})
    assert result[1] == {"key": "note", "type": "email", "label": "Note", "help": "For the card", "required": True,
                         "purpose": "To write the card.", "show_if": {"field": "gift", "value": True}}
    plain = [{"key": "contact", "type": "short_text", "label": "Contact"}]
    result, _ = edited(plain, "contact", {"type": "phone"})
    assert result[0]["purpose"] == "To reach you about your order."  # a start, which the editor shows


# --- "show only if" ---------------------------------------------------------------------------------------------


def test_show_if_offers_only_earlier_fields_that_have_answers_and_those_answers() -> None:
    fields = [
        {"key": "name", "type": "short_text", "label": "Name"},
        {"key": "items", "type": "items", "label": "What would you like?"},
        {"key": "gift", "type": "checkbox", "label": "Gift?"},
        {"key": "diet", "type": "single_choice", "label": "Diet", "options": ["Vegan", "Other"]},
        {"key": "pickup", "type": "single_choice", "label": "Pickup", "options": ["North", "South"]},
    ]
    conditions = conditions_for(fields, "diet", CATALOGUE)
    assert [(c.key, c.label) for c in conditions] == [("items", "What would you like?"), ("gift", "Gift?")]
    assert conditions[0].answers == (Answer("tshirt", "T-shirt"), Answer("breakfast", "Breakfast box"))
    assert conditions[1].answers == (Answer(True, "ticked"), Answer(False, "not ticked"))
    assert [c.key for c in conditions_for(fields, "pickup", CATALOGUE)] == ["items", "gift", "diet"]
    assert conditions_for(fields, "name", CATALOGUE) == ()


def test_show_if_takes_only_an_answer_the_earlier_field_has() -> None:
    fields = [{"key": "items", "type": "items", "label": "Items"},
              {"key": "pickup", "type": "single_choice", "label": "Pickup point", "options": ["North", "South"]}]
    result, _ = edited(fields, "pickup", {"show_if": {"field": "items", "value": "breakfast"}}, catalogue=CATALOGUE)
    assert result[1]["show_if"] == {"field": "items", "value": "breakfast"}
    with pytest.raises(FormValidationError) as caught:
        edited(fields, "pickup", {"show_if": {"field": "items", "value": "socks"}}, catalogue=CATALOGUE)
    assert caught.value.errors == {"show_if": "Choose one of the answers of 'Items'."}
    cleared, _ = edited(result, "pickup", {"show_if": None})
    assert "show_if" not in cleared[1]


def test_a_condition_on_an_item_that_left_the_catalogue_stays_visible_and_editable() -> None:
    fields = [{"key": "items", "type": "items", "label": "Items"},
              {"key": "box", "type": "short_text", "label": "Box note", "show_if": {"field": "items", "value": "gone"}}]
    [condition] = conditions_for(fields, "box", CATALOGUE)
    assert condition.answers[-1] == Answer("gone", "gone (no longer offered)")
    result, _ = edited(fields, "box", {"label": "Note for the box"}, catalogue=CATALOGUE)
    assert result[1]["label"] == "Note for the box"


def test_the_list_shows_friendly_types_and_badges() -> None:
    rows = field_rows(_fields(DEMO_FORM), CATALOGUE)
    assert [(row.type_name, row.required, row.personal) for row in rows[:4]] == [
        ("Short answer", True, True), ("Email address", True, True), ("Phone number", False, True),
        ("Items to order", True, False)]
    assert rows[4].shown_if == "Shown if What would you like? includes Breakfast box"
    checkbox = field_rows([{"key": "gift", "type": "checkbox", "label": "Gift?"},
                           {"key": "note", "type": "short_text", "label": "Note",
                            "show_if": {"field": "gift", "value": False}}], ())
    assert checkbox[1].shown_if == "Shown if Gift? is not ticked"
    assert all(row.problem == "" for row in rows)


# --- JSON -------------------------------------------------------------------------------------------------------


def test_json_export_and_import_give_back_the_same_fields() -> None:
    fields = _fields(DEMO_FORM)
    text = form_json(fields)
    assert text.startswith('{\n  "fields": [\n')  # readable: indented, one attribute per line
    assert fields_from_json(text) == fields
    assert fields_from_json(text.encode()) == fields
    assert parse_form_spec(json.loads(text)) == parse_form_spec(DEMO_FORM)


@pytest.mark.parametrize("text, message", [
    ('{"fields": [', "This is not valid JSON: Expecting value (line 1, column 13)."),
    ('{"fields": {}}', 'Give an object with a list of fields: {"fields": [...]}.'),
    ('{"fields": [{"key": "email", "type": "email", "label": "Email"}]}',
     "Field 1 ('email'): collects personal data, so 'purpose' must say why"),
    (b"\xff\xfe", "The file is not UTF-8 text."),
])
def test_json_that_is_not_a_valid_form_is_refused_with_the_reason(text: str | bytes, message: str) -> None:
    with pytest.raises(FormValidationError) as caught:
        fields_from_json(text)
    assert message in caught.value.errors["json"]


def test_a_bare_list_of_fields_is_accepted_as_json_too() -> None:
    assert fields_from_json(json.dumps(BASIC_FORM["fields"])) == _fields()


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


def test_a_condition_on_a_text_answer_from_json_stays_offered_so_that_no_edit_drops_it() -> None:
    fields = [{"key": "team", "type": "short_text", "label": "Team"},
              {"key": "kit", "type": "short_text", "label": "Kit", "show_if": {"field": "team", "value": "Red"}}]
    [condition] = conditions_for(fields, "kit", ())
    assert (condition.key, condition.answers) == ("team", (Answer("Red", "Red"),))
    result, _ = edited(fields, "kit", {"label": "Kit size", "show_if": {"field": "team", "value": "Red"}})
    assert result[1]["show_if"] == {"field": "team", "value": "Red"}
