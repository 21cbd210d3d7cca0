"""Behaviour of form schemas (`parse_form_spec`) and answer validation (`validate_answers`).

Schemas are written as the JSON documents the app stores; catalogues are built directly from the dataclasses in
`core.catalogue`, so no database is needed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from core.catalogue import VARIANT_KEY_SEPARATOR, CatalogueItem, Dimension, VariantChoice
from core.errors import FormValidationError, SchemaError
from core.forms import REQUIRED, ChosenLine, CleanAnswers, FieldType, FormSpec, parse_form_spec, validate_answers

# Field types that identify a person and therefore need a purpose in every schema.
_NEEDS_PURPOSE = {"email", "phone", "address"}


# --- helpers -------------------------------------------------------------------------------------------------------

def make_field(key: str, type_: str, **attributes: Any) -> dict[str, Any]:
    """A field document with a label (and, for personal types, a purpose) filled in."""
    document: dict[str, Any] = {"key": key, "type": type_, "label": key.replace("_", " ").capitalize()}
    if type_ in _NEEDS_PURPOSE or attributes.get("personal"):
        document["purpose"] = "To deliver the order."
    document.update(attributes)
    return document


def make_form(*fields: dict[str, Any]) -> FormSpec:
    return parse_form_spec({"fields": list(fields)})


def make_item(
    key: str,
    *,
    name: str | None = None,
    dimensions: Sequence[tuple[str, Sequence[str]]] = (),
    max_per_order: int = 10,
    unavailable: Sequence[str] = (),
) -> CatalogueItem:
    """A catalogue item with one variant per combination of its dimension options, as `add_item` creates them."""
    dims = tuple(Dimension(name=dim, label=dim.capitalize(), options=tuple(options)) for dim, options in dimensions)
    variants = []
    for combination in itertools.product(*(d.options for d in dims)):
        variant_key = VARIANT_KEY_SEPARATOR.join(combination)
        variants.append(VariantChoice(key=variant_key, options={d.name: o for d, o in zip(dims, combination, strict=True)},
                                      label=", ".join(combination), available=variant_key not in unavailable))
    return CatalogueItem(key=key, name=name or key.capitalize(), description="", price=Decimal("10.00"),
                         dimensions=dims, variants=tuple(variants), max_per_order=max_per_order)


def make_catalogue() -> tuple[CatalogueItem, ...]:
    """A T-shirt in two cuts and three sizes (fitted L sold out, at most 5 a order) and a breakfast (at most 2)."""
    return (
        make_item("tshirt", name="T-shirt", dimensions=[("cut", ["Fitted", "Straight"]), ("size", ["S", "M", "L"])],
                  max_per_order=5, unavailable=["Fitted/L"]),
        make_item("breakfast", max_per_order=2),
    )


def line(item: str, quantity: int, **options: str) -> dict[str, Any]:
    """One entry of the item picker's answer."""
    return {"item": item, "quantity": quantity, "options": options}


def clean(form: FormSpec, answers: Mapping[str, object], catalogue: Sequence[CatalogueItem] = (),
          **options: Any) -> dict[str, Any]:
    """The cleaned values, failing the test if validation refuses the answers."""
    return validate_answers(form, answers, catalogue, **options).values


def errors_of(form: FormSpec, answers: Mapping[str, object], catalogue: Sequence[CatalogueItem] = (),
              **options: Any) -> dict[str, str]:
    """The {key: message} errors, failing the test if validation accepts the answers."""
    with pytest.raises(FormValidationError) as caught:
        validate_answers(form, answers, catalogue, **options)
    return caught.value.errors


def schema_error(*fields: Any) -> str:
    with pytest.raises(SchemaError) as caught:
        parse_form_spec({"fields": list(fields)})
    return str(caught.value)


# --- required fields -----------------------------------------------------------------------------------------------

# What a person sends when they leave each kind of field empty.
_BLANK_ANSWERS = [
    pytest.param(make_field("f", "short_text"), "   ", id="short_text whitespace"),
    pytest.param(make_field("f", "long_text"), "\n\n", id="long_text blank lines"),
    pytest.param(make_field("f", "email"), "", id="email empty"),
    pytest.param(make_field("f", "phone"), " ", id="phone blank"),
    pytest.param(make_field("f", "number"), "", id="number empty string"),
    pytest.param(make_field("f", "single_choice", options=["a", "b"]), "", id="single_choice nothing chosen"),
    pytest.param(make_field("f", "multiple_choice", options=["a", "b"]), [], id="multiple_choice empty list"),
    pytest.param(make_field("f", "date"), "", id="date empty"),
]


@pytest.mark.parametrize(("spec", "blank"), _BLANK_ANSWERS)
def test_required_field_left_blank_is_reported_under_its_key(spec: dict[str, Any], blank: object) -> None:
    form = make_form({**spec, "required": True})

    assert errors_of(form, {"f": blank}) == {"f": "This field is required."}
    assert errors_of(form, {}) == {"f": "This field is required."}


@pytest.mark.parametrize(("spec", "blank"), _BLANK_ANSWERS)
def test_optional_field_left_blank_is_left_out_of_the_values(spec: dict[str, Any], blank: object) -> None:
    assert clean(make_form(spec), {"f": blank}) == {}


# --- text ----------------------------------------------------------------------------------------------------------

def test_text_is_stored_without_surrounding_whitespace() -> None:
    form = make_form(make_field("name", "short_text"), make_field("note", "long_text"))

    assert clean(form, {"name": "  Ada Lovelace \t", "note": "\n Line one\nLine two \n"}) == {
        "name": "Ada Lovelace", "note": "Line one\nLine two"}


def test_text_answer_that_is_not_a_string_is_refused() -> None:
    form = make_form(make_field("name", "short_text"))

    assert errors_of(form, {"name": 42}) == {"name": "Enter text."}
    assert errors_of(form, {"name": ["Ada"]}) == {"name": "Enter text."}


def test_text_longer_than_max_length_is_refused() -> None:
    form = make_form(make_field("nick", "short_text", max_length=5))

    assert clean(form, {"nick": "Ada L"}) == {"nick": "Ada L"}
    assert errors_of(form, {"nick": "Ada Lo"}) == {"nick": "Use at most 5 characters (you used 6)."}


def test_max_length_counts_the_stripped_text() -> None:
    form = make_form(make_field("nick", "short_text", max_length=3))

    assert clean(form, {"nick": "   Ada   "}) == {"nick": "Ada"}


def test_text_shorter_than_min_length_is_refused() -> None:
    form = make_form(make_field("motto", "long_text", min_length=10))

    assert errors_of(form, {"motto": "  too short  "}) == {"motto": "Use at least 10 characters."}
    assert clean(form, {"motto": "long enough"}) == {"motto": "long enough"}


@pytest.mark.parametrize(("type_", "cap"), [("short_text", 200), ("long_text", 4000)])
def test_text_is_capped_even_when_the_organiser_sets_no_limit(type_: str, cap: int) -> None:
    form = make_form(make_field("text", type_))

    assert clean(form, {"text": "x" * cap}) == {"text": "x" * cap}
    assert errors_of(form, {"text": "x" * (cap + 1)}) == {"text": f"Use at most {cap} characters (you used {cap + 1})."}


@pytest.mark.parametrize(("type_", "cap"), [("short_text", 200), ("long_text", 4000)])
def test_max_length_above_the_hard_cap_is_a_schema_error(type_: str, cap: int) -> None:
    message = schema_error(make_field("text", type_, max_length=cap + 1))

    assert "Field 1 ('text')" in message
    assert f"at most {cap}" in message


def test_short_text_refuses_line_breaks_inside_the_answer() -> None:
    form = make_form(make_field("name", "short_text"))

    for answer in ["Ada\nLovelace", "Ada\rLovelace"]:
        assert errors_of(form, {"name": answer}) == {"name": "Remove the line breaks or control characters."}


def test_long_text_keeps_line_breaks_and_tabs() -> None:
    form = make_form(make_field("note", "long_text"))

    assert clean(form, {"note": "one\n\ttwo"}) == {"note": "one\n\ttwo"}


@pytest.mark.parametrize("character", ["\x00", "\x07", "\x1b", "\x7f"], ids=["NUL", "bell", "escape", "delete"])
@pytest.mark.parametrize("type_", ["short_text", "long_text"])
def test_text_with_nul_or_control_characters_is_refused(type_: str, character: str) -> None:
    # PostgreSQL cannot store NUL in text or JSON, and the other control characters are never typed on purpose.
    form = make_form(make_field("text", type_))

    errors = errors_of(form, {"text": f"Ada{character}Lovelace"})

    assert list(errors) == ["text"]
    assert "control characters" in errors["text"]


def test_pattern_mismatch_shows_the_pattern_hint() -> None:
    form = make_form(make_field("member_no", "short_text", pattern=r"[A-Z]{2}[0-9]{4}",
                                pattern_hint="Use two capital letters and four digits, e.g. AB1234."))

    assert clean(form, {"member_no": " AB1234 "}) == {"member_no": "AB1234"}
    assert errors_of(form, {"member_no": "ab1234"}) == {
        "member_no": "Use two capital letters and four digits, e.g. AB1234."}


def test_pattern_must_match_the_whole_answer() -> None:
    form = make_form(make_field("code", "short_text", pattern=r"[0-9]{4}"))

    assert errors_of(form, {"code": "12345"}) == {"code": "This does not have the expected format."}
    assert errors_of(form, {"code": "x1234"}) == {"code": "This does not have the expected format."}


# --- email ---------------------------------------------------------------------------------------------------------

def test_email_is_normalised() -> None:
    form = make_form(make_field("email", "email"))

    assert clean(form, {"email": "  Ada@EXAMPLE.Org "}) == {"email": "Ada@example.org"}


@pytest.mark.parametrize("address", ["ada@", "a b@x.org", "@example.org", "ada@@example.org", "ada.example.org"])
def test_email_with_bad_syntax_is_refused_with_the_validators_reason(address: str) -> None:
    form = make_form(make_field("email", "email"))

    errors = errors_of(form, {"email": address})

    assert list(errors) == ["email"]
    assert errors["email"].endswith(".")  # a sentence from email-validator, not a blank or a class name


def test_email_longer_than_254_characters_is_refused() -> None:
    form = make_form(make_field("email", "email"))

    assert errors_of(form, {"email": "a" * 64 + "@" + "b" * 186 + ".org"}) == {
        "email": "An email address has at most 254 characters."}


def test_email_answer_that_is_not_a_string_is_refused() -> None:
    form = make_form(make_field("email", "email"))

    assert errors_of(form, {"email": ["ada@example.org"]}) == {"email": "Enter an email address."}


# --- phone ---------------------------------------------------------------------------------------------------------

def test_phone_is_stored_in_e164() -> None:
    form = make_form(make_field("phone", "phone"))

    assert clean(form, {"phone": "020 7946 0958"}, phone_region="GB") == {"phone": "+442079460958"}


def test_phone_without_country_code_is_read_for_the_events_region() -> None:
    form = make_form(make_field("phone", "phone"))

    assert clean(form, {"phone": "(201) 555-0123"}, phone_region="US") == {"phone": "+12015550123"}


def test_phone_with_a_country_code_ignores_the_events_region() -> None:
    form = make_form(make_field("phone", "phone"))

    assert clean(form, {"phone": "+44 20 7946 0958"}, phone_region="US") == {"phone": "+442079460958"}


@pytest.mark.parametrize("phone", ["not a phone", "12", "020 7946", "+44 20 7946 0958 0958 0958", "9" * 41])
def test_phone_that_is_not_a_valid_number_is_refused_with_an_example(phone: str) -> None:
    form = make_form(make_field("phone", "phone"))

    errors = errors_of(form, {"phone": phone}, phone_region="GB")

    assert errors == {"phone": "Enter a valid phone number, e.g. +44 121 234 5678."}


def test_phone_answer_that_is_not_a_string_is_refused() -> None:
    form = make_form(make_field("phone", "phone"))

    assert errors_of(form, {"phone": 2079460958}) == {"phone": "Enter a phone number."}


# --- number --------------------------------------------------------------------------------------------------------

def test_whole_number_field_accepts_ints_and_numeric_text() -> None:
    form = make_form(make_field("guests", "number"))

    assert clean(form, {"guests": 3}) == {"guests": 3}
    assert clean(form, {"guests": " 4 "}) == {"guests": 4}
    assert clean(form, {"guests": 5.0}) == {"guests": 5}
    assert isinstance(clean(form, {"guests": "4"})["guests"], int)


def test_whole_number_field_refuses_fractions() -> None:
    form = make_form(make_field("guests", "number"))

    assert errors_of(form, {"guests": 2.5}) == {"guests": "Enter a whole number."}
    assert errors_of(form, {"guests": "2.5"}) == {"guests": "Enter a whole number."}


def test_number_with_decimals_allows_that_many_places_and_no_more() -> None:
    form = make_form(make_field("height", "number", decimals=2))

    assert clean(form, {"height": "1.75"}) == {"height": 1.75}
    assert clean(form, {"height": 1.8}) == {"height": 1.8}
    assert errors_of(form, {"height": "1.755"}) == {"height": "Use at most 2 decimal places."}


def test_number_outside_its_range_is_refused_and_the_bounds_are_allowed() -> None:
    form = make_form(make_field("guests", "number", min_value=1, max_value=8))

    assert clean(form, {"guests": 1}) == {"guests": 1}
    assert clean(form, {"guests": 8}) == {"guests": 8}
    assert errors_of(form, {"guests": 0}) == {"guests": "Enter 1 or more."}
    assert errors_of(form, {"guests": 9}) == {"guests": "Enter 8 or less."}


def test_number_range_with_fractional_bounds_is_shown_as_written() -> None:
    form = make_form(make_field("weight", "number", decimals=1, min_value=0.5, max_value=2.5))

    assert errors_of(form, {"weight": "0.4"}) == {"weight": "Enter 0.5 or more."}
    assert errors_of(form, {"weight": "2.6"}) == {"weight": "Enter 2.5 or less."}


@pytest.mark.parametrize("answer", ["three", "1,5", "0x10", "nan", "inf", float("nan"), float("inf"), True, [3], {}])
def test_number_field_refuses_what_is_not_a_finite_number(answer: object) -> None:
    form = make_form(make_field("guests", "number"))

    assert errors_of(form, {"guests": answer}) == {"guests": "Enter a number."}


@pytest.mark.parametrize("answer", [10**30, "1e30", "12345678901234567890123456789", 1e300])
def test_number_too_large_for_the_field_is_refused_not_crashing(answer: object) -> None:
    # Beyond 28 significant digits (the default Decimal precision) rounding raises decimal.InvalidOperation;
    # that must never escape: the person gets a message beside the field.
    form = make_form(make_field("guests", "number", max_value=100))

    errors = errors_of(form, {"guests": answer})

    assert list(errors) == ["guests"]


@pytest.mark.parametrize(("decimals", "answer"), [
    (0, "1.00000000000000000000000000001"),
    (0, "0.99999999999999999999999999999"),
    (2, "2.50000000000000000000000000001"),
])
def test_fraction_past_the_28th_significant_digit_is_still_refused(decimals: int, answer: str) -> None:
    # Decimal's default context keeps 28 significant digits; rounding to it must not turn a fraction into a
    # whole number (0.999...9 stored as 0) or hide extra decimal places.
    form = make_form(make_field("guests", "number", decimals=decimals))

    assert list(errors_of(form, {"guests": answer})) == ["guests"]


# --- choices -------------------------------------------------------------------------------------------------------

def test_single_choice_accepts_one_of_its_options() -> None:
    form = make_form(make_field("meal", "single_choice", options=["Meat", "Vegetarian"]))

    assert clean(form, {"meal": "Vegetarian"}) == {"meal": "Vegetarian"}


@pytest.mark.parametrize("answer", ["Fish", "vegetarian", " Vegetarian", ["Meat"], 1])
def test_single_choice_refuses_anything_not_in_its_options(answer: object) -> None:
    form = make_form(make_field("meal", "single_choice", options=["Meat", "Vegetarian"]))

    assert errors_of(form, {"meal": answer}) == {"meal": "Choose one of the options."}


def test_multiple_choice_follows_the_option_order_and_drops_repeats() -> None:
    form = make_form(make_field("diet", "multiple_choice", options=["Vegan", "Gluten-free", "Nut-free"]))

    assert clean(form, {"diet": ["Nut-free", "Vegan", "Nut-free"]}) == {"diet": ["Vegan", "Nut-free"]}


def test_multiple_choice_refuses_an_entry_not_in_its_options() -> None:
    form = make_form(make_field("diet", "multiple_choice", options=["Vegan", "Gluten-free"]))

    assert errors_of(form, {"diet": ["Vegan", "Halal"]}) == {"diet": "Choose only from the options."}


@pytest.mark.parametrize("answer", ["Vegan", ["Vegan", 3], {"Vegan": True}])
def test_multiple_choice_must_be_a_list_of_strings(answer: object) -> None:
    form = make_form(make_field("diet", "multiple_choice", options=["Vegan", "Gluten-free"]))

    assert errors_of(form, {"diet": answer}) == {"diet": "Choose from the options."}


# --- checkbox ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer", [False, None])
def test_required_consent_checkbox_must_be_ticked(answer: object) -> None:
    form = make_form(make_field("consent", "checkbox", required=True))

    assert errors_of(form, {"consent": answer}) == {"consent": "Please tick this box to continue."}


def test_ticked_consent_checkbox_is_stored_as_true() -> None:
    form = make_form(make_field("consent", "checkbox", required=True))

    assert clean(form, {"consent": True}) == {"consent": True}


def test_optional_checkbox_left_empty_is_stored_as_false() -> None:
    form = make_form(make_field("newsletter", "checkbox"))

    assert clean(form, {}) == {"newsletter": False}


@pytest.mark.parametrize("answer", ["yes", 1, "true"])
def test_checkbox_refuses_anything_but_true_or_false(answer: object) -> None:
    form = make_form(make_field("newsletter", "checkbox"))

    assert errors_of(form, {"newsletter": answer}) == {"newsletter": "Tick the box or leave it empty."}


# --- date ----------------------------------------------------------------------------------------------------------

def test_date_is_stored_as_an_iso_string() -> None:
    form = make_form(make_field("arrival", "date"))

    assert clean(form, {"arrival": date(2025, 6, 1)}) == {"arrival": "2025-06-01"}
    assert clean(form, {"arrival": " 2025-06-01 "}) == {"arrival": "2025-06-01"}


def test_date_outside_its_bounds_is_refused_and_the_bounds_are_allowed() -> None:
    form = make_form(make_field("arrival", "date", min_date="2025-06-01", max_date="2025-06-30"))

    assert clean(form, {"arrival": "2025-06-01"}) == {"arrival": "2025-06-01"}
    assert clean(form, {"arrival": "2025-06-30"}) == {"arrival": "2025-06-30"}
    assert errors_of(form, {"arrival": "2025-05-31"}) == {"arrival": "Choose 2025-06-01 or later."}
    assert errors_of(form, {"arrival": date(2025, 7, 1)}) == {"arrival": "Choose 2025-06-30 or earlier."}


@pytest.mark.parametrize("answer", ["01/06/2025", "2025-02-30", "tomorrow"])
def test_date_that_cannot_be_read_is_refused(answer: str) -> None:
    form = make_form(make_field("arrival", "date"))

    assert errors_of(form, {"arrival": answer}) == {"arrival": "Enter a date as YYYY-MM-DD."}


def test_date_answer_of_the_wrong_type_is_refused() -> None:
    form = make_form(make_field("arrival", "date"))

    assert errors_of(form, {"arrival": 20250601}) == {"arrival": "Enter a date."}


@pytest.mark.parametrize("bounds", [{}, {"min_date": "2025-01-01"}], ids=["no bounds", "with min_date"])
def test_date_given_a_datetime_never_stores_a_time_or_crashes(bounds: dict[str, str]) -> None:
    # datetime is a subclass of date: it must either be refused beside the field or reduced to its day, never
    # compared with a date (TypeError) nor stored with a time of day.
    form = make_form(make_field("arrival", "date", **bounds))

    try:
        values = clean(form, {"arrival": datetime(2025, 6, 1, 10, 30)})
    except FormValidationError as exc:
        assert list(exc.errors) == ["arrival"]
    else:
        assert values == {"arrival": "2025-06-01"}


# --- address -------------------------------------------------------------------------------------------------------

ADDRESS = {"street": " 1 High Street ", "city": "London", "postcode": "N1 9GU", "country": "United Kingdom"}


def test_address_parts_are_stored_stripped() -> None:
    form = make_form(make_field("delivery", "address", required=True))

    assert clean(form, {"delivery": ADDRESS}) == {"delivery": {**ADDRESS, "street": "1 High Street"}}


def test_address_ignores_parts_it_does_not_know() -> None:
    form = make_form(make_field("delivery", "address"))

    assert clean(form, {"delivery": {**ADDRESS, "flat": "2b"}})["delivery"].keys() == ADDRESS.keys()


def test_required_address_reports_each_missing_part_beside_its_input() -> None:
    form = make_form(make_field("delivery", "address", required=True))

    assert errors_of(form, {}) == {f"delivery.{part}": REQUIRED for part in ADDRESS}
    assert errors_of(form, {"delivery": {**ADDRESS, "postcode": "  "}}) == {"delivery.postcode": REQUIRED}


def test_partly_filled_optional_address_needs_every_part() -> None:
    form = make_form(make_field("delivery", "address"))

    assert errors_of(form, {"delivery": {"street": "1 High Street", "city": "London"}}) == {
        "delivery.postcode": REQUIRED, "delivery.country": REQUIRED}


def test_empty_optional_address_is_left_out() -> None:
    form = make_form(make_field("delivery", "address"))

    assert clean(form, {"delivery": {part: "" for part in ADDRESS}}) == {}


def test_address_country_is_limited_to_the_fields_options() -> None:
    form = make_form(make_field("delivery", "address", options=["United Kingdom", "Ireland"]))

    assert clean(form, {"delivery": ADDRESS})["delivery"]["country"] == "United Kingdom"
    assert errors_of(form, {"delivery": {**ADDRESS, "country": "France"}}) == {
        "delivery.country": "Choose one of the countries we deliver to."}


def test_address_part_with_a_line_break_or_nul_is_refused() -> None:
    form = make_form(make_field("delivery", "address"))

    assert errors_of(form, {"delivery": {**ADDRESS, "street": "1 High\nStreet", "city": "Lon\x00don"}}) == {
        "delivery.street": "Remove the line breaks or control characters.",
        "delivery.city": "Remove the line breaks or control characters."}


def test_address_part_that_is_too_long_or_not_text_is_refused() -> None:
    form = make_form(make_field("delivery", "address"))

    assert errors_of(form, {"delivery": {**ADDRESS, "postcode": "9" * 21, "city": 42}}) == {
        "delivery.postcode": "Use at most 20 characters.", "delivery.city": "Enter the city."}


def test_address_that_is_not_a_set_of_parts_is_refused() -> None:
    form = make_form(make_field("delivery", "address"))

    assert errors_of(form, {"delivery": "1 High Street, London"}) == {"delivery": "Enter the address."}


# --- items ---------------------------------------------------------------------------------------------------------

ITEMS_FORM = make_form(make_field("items", "items", required=True))


def test_chosen_items_become_order_lines() -> None:
    result = validate_answers(ITEMS_FORM, {"items": [line("tshirt", 2, cut="Fitted", size="M"),
                                                     line("breakfast", 1)]}, make_catalogue())

    assert result == CleanAnswers(values={}, lines=(ChosenLine("tshirt", "Fitted/M", 2),
                                                    ChosenLine("breakfast", "", 1)))


def test_quantities_of_the_same_variant_add_up() -> None:
    result = validate_answers(ITEMS_FORM, {"items": [line("tshirt", 2, cut="Straight", size="S"),
                                                     line("tshirt", 3, cut="Straight", size="S")]}, make_catalogue())

    assert result.lines == (ChosenLine("tshirt", "Straight/S", 5),)


def test_lines_with_quantity_zero_are_ignored() -> None:
    result = validate_answers(ITEMS_FORM, {"items": [line("tshirt", 0), line("breakfast", 1)]}, make_catalogue())

    assert result.lines == (ChosenLine("breakfast", "", 1),)


@pytest.mark.parametrize("answer", [None, [], [line("breakfast", 0)]], ids=["missing", "empty", "only zeros"])
def test_required_items_field_without_items_is_reported_on_the_field(answer: object) -> None:
    assert errors_of(ITEMS_FORM, {"items": answer}, make_catalogue()) == {"items": "Choose at least one item."}


def test_optional_items_field_may_stay_empty() -> None:
    form = make_form(make_field("items", "items"))

    assert validate_answers(form, {"items": []}, make_catalogue()) == CleanAnswers()


def test_quantity_over_the_items_maximum_is_reported_on_the_item() -> None:
    errors = errors_of(ITEMS_FORM, {"items": [line("breakfast", 3)]}, make_catalogue())

    assert errors == {"items.breakfast": "You can order at most 2 of Breakfast."}


def test_maximum_per_order_counts_every_variant_of_the_item() -> None:
    answer = [line("tshirt", 3, cut="Fitted", size="S"), line("tshirt", 3, cut="Straight", size="M")]

    assert errors_of(ITEMS_FORM, {"items": answer}, make_catalogue()) == {
        "items.tshirt": "You can order at most 5 of T-shirt."}


def test_same_variant_added_twice_over_the_maximum_is_refused() -> None:
    answer = [line("breakfast", 1), line("breakfast", 2)]

    assert list(errors_of(ITEMS_FORM, {"items": answer}, make_catalogue())) == ["items.breakfast"]


@pytest.mark.parametrize("options", [{"cut": "Fitted", "size": "XXL"}, {"cut": "Fitted"}, {},
                                     {"cut": "Fitted", "size": ["M"]}],
                         ids=["unknown size", "size missing", "no options", "size not text"])
def test_variant_options_that_match_no_variant_are_refused(options: dict[str, Any]) -> None:
    errors = errors_of(ITEMS_FORM, {"items": [line("tshirt", 1, **options)]}, make_catalogue())

    assert errors == {"items.tshirt": "Choose cut, size for T-shirt."}


def test_options_that_are_not_a_mapping_are_refused() -> None:
    answer = [{"item": "tshirt", "quantity": 1, "options": ["Fitted", "M"]}]

    assert list(errors_of(ITEMS_FORM, {"items": answer}, make_catalogue())) == ["items.tshirt"]


def test_unavailable_variant_is_refused() -> None:
    errors = errors_of(ITEMS_FORM, {"items": [line("tshirt", 1, cut="Fitted", size="L")]}, make_catalogue())

    assert errors == {"items.tshirt": "T-shirt (Fitted, L) is not available."}


def test_unknown_item_is_refused_on_the_items_field() -> None:
    errors = errors_of(ITEMS_FORM, {"items": [line("breakfast", 1), line("mug", 1)]}, make_catalogue())

    assert errors == {"items": "One of the chosen items is no longer offered."}


@pytest.mark.parametrize("quantity", [-1, 1.5, True, "2", None, 1001])
def test_quantity_that_is_not_a_sensible_whole_number_is_refused(quantity: object) -> None:
    errors = errors_of(ITEMS_FORM, {"items": [{"item": "breakfast", "quantity": quantity}]}, make_catalogue())

    assert list(errors) == ["items.breakfast"]


@pytest.mark.parametrize("answer", ["breakfast", {"breakfast": 1}, ["breakfast"], [{"quantity": 1}]])
def test_items_answer_in_the_wrong_shape_asks_to_choose_again(answer: object) -> None:
    assert errors_of(ITEMS_FORM, {"items": answer}, make_catalogue()) == {"items": "Choose your items again."}


# --- conditional fields (show_if) ----------------------------------------------------------------------------------

def _conditional_form(condition: dict[str, Any]) -> FormSpec:
    """A form whose required `detail` field shows only under `condition`."""
    return make_form(
        make_field("items", "items"),
        make_field("meal", "single_choice", options=["Meat", "Vegetarian"]),
        make_field("diet", "multiple_choice", options=["Vegan", "Nut-free"]),
        make_field("helper", "checkbox"),
        make_field("detail", "short_text", required=True, show_if=condition),
    )


# Each condition, with answers under which it holds and answers under which it does not.
_CONDITIONS = [
    pytest.param({"field": "items", "value": "breakfast"},
                 {"items": [line("tshirt", 1, cut="Fitted", size="M"), line("breakfast", 1)]},
                 {"items": [line("tshirt", 1, cut="Fitted", size="M"), line("breakfast", 0)]},
                 id="items has a line for the item with quantity > 0"),
    pytest.param({"field": "meal", "value": "Vegetarian"}, {"meal": "Vegetarian"}, {"meal": "Meat"},
                 id="single choice equals the value"),
    pytest.param({"field": "diet", "value": "Vegan"}, {"diet": ["Nut-free", "Vegan"]}, {"diet": ["Nut-free"]},
                 id="multiple choice contains the value"),
    pytest.param({"field": "helper", "value": True}, {"helper": True}, {"helper": False},
                 id="checkbox ticked"),
]


@pytest.mark.parametrize(("condition", "holds", "fails"), _CONDITIONS)
def test_conditional_field_is_validated_when_its_condition_holds(
        condition: dict[str, Any], holds: dict[str, Any], fails: dict[str, Any]) -> None:
    form = _conditional_form(condition)

    assert errors_of(form, holds, make_catalogue()) == {"detail": REQUIRED}
    assert clean(form, {**holds, "detail": " Yes "}, make_catalogue())["detail"] == "Yes"


@pytest.mark.parametrize(("condition", "holds", "fails"), _CONDITIONS)
def test_hidden_field_is_neither_validated_nor_returned(
        condition: dict[str, Any], holds: dict[str, Any], fails: dict[str, Any]) -> None:
    form = _conditional_form(condition)

    assert "detail" not in clean(form, fails, make_catalogue())
    # Even an answer that would be refused is dropped while the field is hidden.
    assert "detail" not in clean(form, {**fails, "detail": "bad\x00answer"}, make_catalogue())


def test_field_behind_a_hidden_field_is_hidden_too() -> None:
    # `cooking` depends on `meal`, which is hidden because `attending` is unticked. The renderer passes the stale
    # answer of the hidden `meal` along, so `cooking` must not be shown, validated or stored because of it.
    form = make_form(
        make_field("attending", "checkbox"),
        make_field("meal", "single_choice", options=["Meat", "Vegetarian"], show_if={"field": "attending",
                                                                                    "value": True}),
        make_field("cooking", "single_choice", options=["Rare", "Well done"], required=True,
                   show_if={"field": "meal", "value": "Meat"}),
    )

    assert clean(form, {"attending": False, "meal": "Meat"}) == {"attending": False}


# --- the answers as a whole ----------------------------------------------------------------------------------------

def test_answers_to_unknown_fields_are_dropped() -> None:
    form = make_form(make_field("name", "short_text"))

    assert clean(form, {"name": "Ada", "is_admin": True, "price": 0}) == {"name": "Ada"}


def test_errors_of_every_field_are_reported_together() -> None:
    form = make_form(
        make_field("name", "short_text", required=True),
        make_field("email", "email", required=True),
        make_field("guests", "number", max_value=4),
        make_field("delivery", "address", required=True),
        make_field("items", "items", required=True),
        make_field("note", "long_text"),
    )
    answers = {"email": "ada@", "guests": 5, "delivery": {**ADDRESS, "postcode": ""},
               "items": [line("breakfast", 3)], "note": "fine"}

    errors = errors_of(form, answers, make_catalogue())

    assert set(errors) == {"name", "email", "guests", "delivery.postcode", "items.breakfast"}
    assert errors["name"] == REQUIRED


def test_form_validation_error_names_the_bad_fields() -> None:
    form = make_form(make_field("name", "short_text", required=True), make_field("email", "email", required=True))

    with pytest.raises(FormValidationError, match="email, name"):
        validate_answers(form, {})


def test_valid_answers_of_every_type_are_cleaned_together() -> None:
    form = make_form(
        make_field("name", "short_text", required=True, personal=True),
        make_field("note", "long_text"),
        make_field("email", "email"),
        make_field("phone", "phone"),
        make_field("guests", "number"),
        make_field("meal", "single_choice", options=["Meat", "Vegetarian"]),
        make_field("diet", "multiple_choice", options=["Vegan", "Nut-free"]),
        make_field("consent", "checkbox", required=True),
        make_field("arrival", "date"),
        make_field("delivery", "address"),
        make_field("items", "items"),
    )
    answers = {"name": " Ada ", "note": "Hi", "email": "ada@example.org", "phone": "020 7946 0958", "guests": "2",
               "meal": "Meat", "diet": ["Vegan"], "consent": True, "arrival": "2025-06-01", "delivery": ADDRESS,
               "items": [line("breakfast", 2)]}

    result = validate_answers(form, answers, make_catalogue(), phone_region="GB")

    assert result.values == {"name": "Ada", "note": "Hi", "email": "ada@example.org", "phone": "+442079460958",
                             "guests": 2, "meal": "Meat", "diet": ["Vegan"], "consent": True, "arrival": "2025-06-01",
                             "delivery": {**ADDRESS, "street": "1 High Street"}}
    assert result.lines == (ChosenLine("breakfast", "", 2),)


# --- schema parsing ------------------------------------------------------------------------------------------------

def test_schema_parses_into_fields_in_display_order() -> None:
    form = make_form(make_field("name", "short_text", personal=True), make_field("email", "email"),
                     make_field("meal", "single_choice", options=["Meat"]))

    assert [(spec.key, spec.type) for spec in form.fields] == [
        ("name", FieldType.SHORT_TEXT), ("email", FieldType.EMAIL), ("meal", FieldType.SINGLE_CHOICE)]
    assert [spec.key for spec in form.personal_fields] == ["name", "email"]


# Each malformed schema is preceded by a valid `name` field, so the bad one is always field 2.
_MALFORMED_FIELDS = [
    pytest.param(make_field("name", "short_text"), "the key is used twice", id="duplicate key"),
    pytest.param(make_field("meal", "short_text", show_if={"field": "later", "value": "x"}),
                 "show_if refers to 'later', which is not an earlier field", id="show_if refers to an unknown field"),
    pytest.param(make_field("meal", "single_choice", options=["Meat"], show_if={"field": "meal", "value": "Meat"}),
                 "which is not an earlier field", id="show_if refers to the field itself"),
    pytest.param(make_field("meal", "single_choice"), "a choice field needs at least one option",
                 id="choice without options"),
    pytest.param({"key": "nick", "type": "short_text", "label": "Nick", "personal": True},
                 "'purpose' must say why", id="personal field without purpose"),
    pytest.param({"key": "email", "type": "email", "label": "Email", "purpose": "  "},
                 "'purpose' must say why", id="email field with a blank purpose"),
    pytest.param(make_field("nick", "short_text", min_length=5, max_length=3), "min_length is greater than max_length",
                 id="min_length over max_length"),
    pytest.param(make_field("code", "short_text", pattern="[0-9"), "pattern is not a valid regular expression",
                 id="invalid pattern"),
    pytest.param(make_field("nick", "short_text", colour="red"), "colour: Extra inputs are not permitted",
                 id="unknown attribute"),
    pytest.param(make_field("nick", "signature"), "type: Input should be", id="unknown type"),
    pytest.param(make_field("guests", "number", min_value=5, max_value=1), "min_value is greater than max_value",
                 id="min_value over max_value"),
    pytest.param(make_field("nick", "short_text", options=["a"]), "'options' only applies",
                 id="options on a text field"),
    pytest.param(make_field("meal", "single_choice", options=["Meat", "Meat"]), "options must be unique",
                 id="repeated option"),
]


@pytest.mark.parametrize(("bad_field", "problem"), _MALFORMED_FIELDS)
def test_malformed_field_is_named_by_position_and_key(bad_field: dict[str, Any], problem: str) -> None:
    message = schema_error(make_field("name", "short_text"), bad_field)

    assert message.startswith("The form schema is invalid. ")
    assert f"Field 2 ('{bad_field['key']}')" in message
    assert problem in message


@pytest.mark.parametrize("key", ["Name", "1st", "first-name", "", "x" * 41])
def test_key_in_the_wrong_format_is_named_in_the_error(key: str) -> None:
    message = schema_error(make_field("name", "short_text"), {"key": key, "type": "short_text", "label": "X"})

    assert f"Field 2 ('{key}'), key:" in message


def test_show_if_value_must_be_an_option_of_the_choice_it_refers_to() -> None:
    message = schema_error(make_field("meal", "single_choice", options=["Meat"]),
                           make_field("cooking", "short_text", show_if={"field": "meal", "value": "Fish"}))

    assert "Field 2 ('cooking'): show_if value is not an option of 'meal'" in message


def test_second_items_field_is_named_by_position_and_key() -> None:
    message = schema_error(make_field("name", "short_text"), make_field("shop", "items"),
                           make_field("more_shop", "items"))

    assert "only one items field" in message
    assert "Field 3 ('more_shop')" in message


@pytest.mark.parametrize("pattern", ["a{4294967296}", "[0-9]{99999999999}"])
def test_pattern_with_a_repeat_count_too_large_for_python_is_a_schema_error(pattern: str) -> None:
    # re.compile raises OverflowError (not re.error) for these; it must still come out as a SchemaError.
    message = schema_error(make_field("code", "short_text", pattern=pattern))

    assert "Field 1 ('code')" in message


@pytest.mark.parametrize("pattern", ["[[0-9]", "[a--b]", "[a&&b]"])
def test_pattern_python_will_read_differently_in_future_is_a_schema_error(pattern: str) -> None:
    # re.compile only warns (FutureWarning) about these nested or set-operation sets; they are refused instead.
    message = schema_error(make_field("code", "short_text", pattern=pattern))

    assert "Field 1 ('code')" in message and "not a valid regular expression" in message


@pytest.mark.parametrize("attribute", ["min_value", "max_value"])
def test_number_limit_that_is_not_a_number_is_a_schema_error(attribute: str) -> None:
    # A NaN limit would make every answer's range check raise (Decimal comparisons with NaN signal).
    message = schema_error(make_field("guests", "number", **{attribute: float("nan")}))

    assert "Field 1 ('guests')" in message


@pytest.mark.parametrize("document", [None, [], "fields", {"fields": []}, {"fields": "name"}, {"form": []}])
def test_document_that_is_not_a_form_raises_schema_error(document: object) -> None:
    with pytest.raises(SchemaError, match="^The form schema is invalid. "):
        parse_form_spec(document)


def test_field_that_is_not_an_object_is_named_by_position() -> None:
    with pytest.raises(SchemaError, match=r"Field 2: Input should be a valid dictionary"):
        parse_form_spec({"fields": [make_field("name", "short_text"), "email"]})


def test_every_problem_of_a_schema_is_reported() -> None:
    message = schema_error(make_field("name", "short_text", colour="red"), make_field("meal", "single_choice"))

    assert "Field 1 ('name'), colour" in message
    assert "Field 2 ('meal'): a choice field needs at least one option" in message
