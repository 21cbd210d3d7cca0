"""Property tests of forms: whatever a schema document or a set of answers holds, parsing and validation only ever
end in a FormSpec/CleanAnswers or in the domain errors SchemaError/FormValidationError; what is accepted is clean
and storable as JSON; numbers are stored as given or refused; and valid answers come back as typed, only stripped.

Answers arrive from the browser (or a crafted request) as JSON-like values, so the strategies mix plausible answers
for each field with arbitrary JSON-like junk: NaN and infinities, control characters, huge strings, nesting.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.catalogue import CatalogueItem, Dimension, VariantChoice
from core.errors import FormValidationError, SchemaError
from core.forms import ADDRESS_PARTS, CleanAnswers, FieldSpec, FieldType, FormSpec, parse_form_spec, validate_answers

PROPERTY_SETTINGS = settings(max_examples=250, deadline=None)

# --- a fixed catalogue ---------------------------------------------------------------------------------------------

CATALOGUE = (
    CatalogueItem(
        key="tshirt", name="T-shirt", description="", price=None,
        dimensions=(Dimension("size", "Size", ("S", "M")),),
        variants=(VariantChoice("S", {"size": "S"}, "S"), VariantChoice("M", {"size": "M"}, "M", available=False)),
        max_per_order=3,
    ),
    CatalogueItem(key="breakfast", name="Breakfast", description="", price=None, dimensions=(),
                  variants=(VariantChoice("", {}, ""),), max_per_order=2),
)

# --- JSON-like junk ------------------------------------------------------------------------------------------------

# Default text includes NUL and other control characters; the repeated form reaches far past every length cap.
def _repeated(piece: str, times: int) -> str:
    return piece * times


texts = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=30),
    st.builds(_repeated, st.text(min_size=1, max_size=4), st.integers(50, 3000)),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)),
    max_leaves=12,
)

# --- answers for a given field ------------------------------------------------------------------------------------

# Numbers as a number input or a crafted request sends them: small and huge, as numbers and as text.
_NUMBERS = st.one_of(
    st.integers(-100, 100), st.integers(), st.floats(), st.floats(-1e6, 1e6).map(str),
    st.from_regex(r" ?-?[0-9]{1,40}(\.[0-9]{1,8})?([eE][+-]?[0-9]{1,3})? ?", fullmatch=True),
)
_DATES = st.one_of(st.dates(), st.dates().map(lambda day: day.isoformat()))
_PHONES = st.text(alphabet="0123456789 +()-", max_size=20)
_VALID_PHONES = st.sampled_from(["020 7946 0958", "+44 20 7946 0958", "0161 496 0000", "+353 1 234 5678"])
# Characters that are neither whitespace nor control characters, plus the plain space.
_VISIBLE = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), include_characters=" ")


def _items_answers() -> st.SearchStrategy[list[Any]]:
    options = st.dictionaries(st.sampled_from(["size", "colour"]), st.sampled_from(["S", "M", "L"]) | json_values,
                              max_size=2)
    entry = st.fixed_dictionaries(
        {"item": st.sampled_from(["tshirt", "breakfast", "mug"]) | json_values},
        optional={"quantity": st.integers(-2, 5) | json_values, "options": options | json_values},
    )
    return st.lists(entry | json_values, max_size=5)


def edge_answer(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Answers a person or a crafted request might send for `spec`, near or past the edges of its rules."""
    match spec.type:
        case FieldType.SHORT_TEXT | FieldType.LONG_TEXT:
            return texts
        case FieldType.EMAIL:
            return st.emails() | st.emails().map(lambda email: f" {email.upper()} ") | texts
        case FieldType.PHONE:
            return _PHONES
        case FieldType.NUMBER:
            return _NUMBERS
        case FieldType.SINGLE_CHOICE:
            return st.sampled_from(spec.options) | texts
        case FieldType.MULTIPLE_CHOICE:
            return st.lists(st.sampled_from(spec.options) | texts, max_size=4)
        case FieldType.CHECKBOX:
            return st.booleans()
        case FieldType.DATE:
            return _DATES
        case FieldType.ADDRESS:
            part = st.sampled_from([*spec.options, "United Kingdom"]) | texts | json_values
            return st.dictionaries(st.sampled_from(sorted(ADDRESS_PARTS)), part, max_size=4)
        case FieldType.ITEMS:
            return _items_answers()
    raise AssertionError(f"no strategy for {spec.type}")


def _bounded(limit: float | None, default: int) -> int:
    """A finite, modest integer bound from a number field's limit."""
    if limit is None or not math.isfinite(limit):
        return default
    return max(-10**6, min(10**6, math.ceil(limit) if default < 0 else math.floor(limit)))


def valid_answer(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Answers that usually meet `spec`'s rules (patterns and contradictory limits aside)."""
    match spec.type:
        case FieldType.SHORT_TEXT | FieldType.LONG_TEXT:
            low = max(spec.min_length or 0, 1)
            high = max(low, min(spec.max_length or 200, low + 20))
            return st.text(alphabet=_VISIBLE, min_size=low, max_size=high)
        case FieldType.EMAIL:
            return st.sampled_from(["ada@example.org", " Grace.Hopper@EXAMPLE.com "])
        case FieldType.PHONE:
            return _VALID_PHONES
        case FieldType.NUMBER:
            low, high = _bounded(spec.min_value, -1000), _bounded(spec.max_value, 1000)
            return st.integers(low, high) if low <= high else st.just(low)
        case FieldType.SINGLE_CHOICE:
            return st.sampled_from(spec.options)
        case FieldType.MULTIPLE_CHOICE:
            return st.lists(st.sampled_from(spec.options), min_size=1)
        case FieldType.CHECKBOX:
            return st.just(True) if spec.required else st.booleans()
        case FieldType.DATE:
            return st.dates(spec.min_date or date.min, spec.max_date or date.max).map(lambda day: day.isoformat())
        case FieldType.ADDRESS:
            return st.fixed_dictionaries({"street": st.just("1 High Street"), "city": st.just("London"),
                                          "postcode": st.just("N1 9GU"),
                                          "country": st.sampled_from(spec.options or ("United Kingdom",))})
        case FieldType.ITEMS:
            line = st.one_of(
                st.fixed_dictionaries({"item": st.just("breakfast"), "quantity": st.integers(1, 2)}),
                st.fixed_dictionaries({"item": st.just("tshirt"), "quantity": st.integers(1, 3),
                                       "options": st.just({"size": "S"})}),
            )
            return st.lists(line, min_size=1, max_size=1)
    raise AssertionError(f"no strategy for {spec.type}")


@st.composite
def answers_for(draw: st.DrawFn, form: FormSpec) -> dict[str, Any]:
    """Mostly valid answers to every field, then a few replaced by edge cases or junk, dropped, or added."""
    answers = {spec.key: draw(valid_answer(spec), label=spec.key) for spec in form.fields}
    for spec in draw(st.lists(st.sampled_from(form.fields), max_size=4, unique_by=lambda spec: spec.key)):
        answers[spec.key] = draw(edge_answer(spec) | json_values, label=f"{spec.key} replaced")
    for key in draw(st.lists(st.sampled_from(sorted(answers)), max_size=2)):
        answers.pop(key, None)
    answers.update(draw(st.dictionaries(texts, json_values, max_size=2), label="unknown fields"))
    return answers


# --- what every validation must satisfy ----------------------------------------------------------------------------

def allowed_error_keys(form: FormSpec) -> set[str]:
    keys = {spec.key for spec in form.fields}
    for spec in form.fields:
        if spec.type == FieldType.ADDRESS:
            keys |= {f"{spec.key}.{part}" for part in ADDRESS_PARTS}
        elif spec.type == FieldType.ITEMS:
            keys |= {f"{spec.key}.{item.key}" for item in CATALOGUE}
    return keys


def _strings_in(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for key, item in value.items() for s in [*_strings_in(key), *_strings_in(item)]]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _strings_in(item)]
    return []


def check_validation(form: FormSpec, answers: Mapping[str, Any]) -> CleanAnswers | None:
    """Validate and check the outcome: clean JSON-storable values, or errors keyed by the form's fields.

    Any exception other than FormValidationError propagates and fails the test.
    """
    try:
        result = validate_answers(form, answers, CATALOGUE, phone_region="GB")
    except FormValidationError as exc:
        assert isinstance(exc.errors, dict) and exc.errors
        assert set(exc.errors) <= allowed_error_keys(form), exc.errors
        assert all(isinstance(message, str) and message for message in exc.errors.values())
        return None
    assert isinstance(result, CleanAnswers)
    assert set(result.values) <= {spec.key for spec in form.fields}
    # Stored as JSON (PostgreSQL refuses NaN, infinities and NUL), so all three must be impossible.
    json.dumps(result.values, allow_nan=False)
    assert not any("\x00" in text for text in _strings_in(result.values))
    for key, value in result.values.items():
        check_clean_value(form.field(key), value)
    check_conditions_hold(form, result)
    items = {item.key: item for item in CATALOGUE}
    for chosen in result.lines:
        assert 0 < chosen.quantity <= items[chosen.item_key].max_per_order
        assert chosen.variant_key in {v.key for v in items[chosen.item_key].variants if v.available}
    return result


def check_conditions_hold(form: FormSpec, result: CleanAnswers) -> None:
    """A stored field whose show_if names a choice, checkbox or items field has its condition met by the stored
    answers, so a field behind a hidden field is never stored. (Conditions on other types compare the raw answer,
    which cleaning may change, so they are left out.)"""
    for key in result.values:
        condition = form.field(key).show_if
        if condition is None:
            continue
        target = form.field(condition.field)
        stored = result.values.get(target.key)
        reason = f"'{key}' is stored though its condition on '{target.key}' does not hold"
        if target.type == FieldType.ITEMS:
            assert any(chosen.item_key == condition.value for chosen in result.lines), reason
        elif target.type == FieldType.MULTIPLE_CHOICE:
            assert condition.value in (stored or []), reason
        elif target.type in {FieldType.SINGLE_CHOICE, FieldType.CHECKBOX}:
            assert stored is not None and stored == condition.value, reason


def check_clean_value(spec: FieldSpec, value: Any) -> None:
    """A cleaned value has the shape its field type promises and keeps to the field's rules."""
    match spec.type:
        case FieldType.SHORT_TEXT | FieldType.LONG_TEXT:
            assert value and value == value.strip() and len(value) <= (spec.max_length or 4000)
            assert "\x00" not in value and (spec.type == FieldType.LONG_TEXT or "\n" not in value)
        case FieldType.EMAIL:
            assert "@" in value and value == value.strip()
        case FieldType.PHONE:
            assert value.startswith("+") and value[1:].isdigit()
        case FieldType.NUMBER:
            assert isinstance(value, int if spec.decimals == 0 else float) and not isinstance(value, bool)
            assert spec.min_value is None or value >= spec.min_value
            assert spec.max_value is None or value <= spec.max_value
        case FieldType.SINGLE_CHOICE:
            assert value in spec.options
        case FieldType.MULTIPLE_CHOICE:
            assert value == [option for option in spec.options if option in value]
        case FieldType.CHECKBOX:
            assert value is True or (value is False and not spec.required)
        case FieldType.DATE:
            day = date.fromisoformat(value)
            assert (spec.min_date or day) <= day <= (spec.max_date or day)
        case FieldType.ADDRESS:
            assert set(value) == set(ADDRESS_PARTS) and all(value.values())
            assert not spec.options or value["country"] in spec.options
        case _:
            raise AssertionError(f"{spec.type} has no place among the values")


# --- (a) random answers to a form with every field type ------------------------------------------------------------

EVERY_TYPE_FORM = parse_form_spec({"fields": [
    {"key": "name", "type": "short_text", "label": "Name", "required": True, "personal": True, "purpose": "Label",
     "max_length": 50, "pattern": r"[^0-9]+", "pattern_hint": "No digits."},
    {"key": "note", "type": "long_text", "label": "Note", "min_length": 3},
    {"key": "email", "type": "email", "label": "Email", "required": True, "purpose": "Confirm"},
    {"key": "phone", "type": "phone", "label": "Phone", "purpose": "Courier"},
    {"key": "guests", "type": "number", "label": "Guests", "min_value": 0, "max_value": 10},
    {"key": "budget", "type": "number", "label": "Budget", "decimals": 2},
    {"key": "staying", "type": "checkbox", "label": "Staying for dinner"},
    {"key": "meal", "type": "single_choice", "label": "Meal", "options": ["Meat", "Vegetarian"],
     "show_if": {"field": "staying", "value": True}},
    {"key": "diet", "type": "multiple_choice", "label": "Diet", "options": ["Vegan", "Nut-free"]},
    {"key": "consent", "type": "checkbox", "label": "Consent", "required": True},
    {"key": "arrival", "type": "date", "label": "Arrival", "min_date": "2025-01-01", "max_date": "2025-12-31"},
    {"key": "items", "type": "items", "label": "Items", "required": True},
    {"key": "delivery", "type": "address", "label": "Delivery", "purpose": "Deliver", "required": True,
     "options": ["United Kingdom", "Ireland"], "show_if": {"field": "items", "value": "breakfast"}},
    {"key": "cooking", "type": "single_choice", "label": "Cooking", "options": ["Rare", "Well done"],
     "required": True, "show_if": {"field": "meal", "value": "Meat"}},
    {"key": "vegan_note", "type": "short_text", "label": "Vegan note", "show_if": {"field": "diet", "value": "Vegan"}},
    {"key": "consent_note", "type": "short_text", "label": "Thanks", "show_if": {"field": "consent", "value": True}},
]})


@PROPERTY_SETTINGS
@given(answers=answers_for(EVERY_TYPE_FORM))
def test_any_answers_give_clean_answers_or_field_errors(answers: dict[str, Any]) -> None:
    check_validation(EVERY_TYPE_FORM, answers)


@PROPERTY_SETTINGS
@given(answers=st.dictionaries(st.sampled_from([spec.key for spec in EVERY_TYPE_FORM.fields]) | texts, json_values))
def test_pure_junk_answers_give_clean_answers_or_field_errors(answers: dict[str, Any]) -> None:
    check_validation(EVERY_TYPE_FORM, answers)


# --- (b) random schema documents -----------------------------------------------------------------------------------

_TYPES = [t.value for t in FieldType]
_PERSONAL_TYPES = {"email", "phone", "address"}
# Patterns built from regex atoms and quantifiers, so valid and invalid expressions and odd repeat counts come up.
_ATOMS = st.sampled_from(["a", "[0-9]", r"\w", ".", "(", ")", "(a|b)", "|", "^", "$", "[", "]", "\\", "{"])
_COUNTS = st.integers(0, 5) | st.integers(0, 2**40)
_QUANTIFIERS = st.one_of(st.sampled_from(["", "*", "+", "?", "*?"]), _COUNTS.map("{{{}}}".format),
                         st.tuples(_COUNTS, _COUNTS).map(lambda low_high: "{{{},{}}}".format(*low_high)))
_PATTERNS = st.lists(st.tuples(_ATOMS, _QUANTIFIERS).map("".join), max_size=4).map("".join)
_LIMITS = st.one_of(st.integers(-100, 100), st.integers(), st.floats(),
                    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e300]))
_CHOICES = st.lists(st.sampled_from(["Meat", "Vegetarian", "Fish", "United Kingdom"]), min_size=1, unique=True)

# The attributes that fit each type, with plausible values (which may still contradict each other).
_COMMON = {"required": st.booleans(), "help": st.just("Some help"), "personal": st.booleans()}
_FITTING: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "short_text": {"min_length": st.integers(0, 30), "max_length": st.integers(1, 250), "pattern": _PATTERNS,
                   "pattern_hint": st.just("Like this.")},
    "long_text": {"min_length": st.integers(0, 30), "max_length": st.integers(1, 4100), "pattern": _PATTERNS},
    "number": {"min_value": _LIMITS, "max_value": _LIMITS, "decimals": st.integers(0, 6)},
    "single_choice": {"options": _CHOICES},
    "multiple_choice": {"options": _CHOICES},
    "address": {"options": _CHOICES},
    "date": {"min_date": _DATES, "max_date": _DATES},
}
# Any attribute with a junk value, "colour" being one no field has.
_JUNK_ATTRIBUTE = st.tuples(
    st.sampled_from(["key", "type", "label", "required", "purpose", "options", "min_length", "max_length", "pattern",
                     "min_value", "max_value", "decimals", "min_date", "max_date", "show_if", "colour"]),
    json_values,
)


def _now_and_then(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in `one_in` draws; a middle value is the rare one, as hypothesis favours the bounds."""
    return draw(st.integers(0, one_in - 1)) == one_in // 2


@st.composite
def field_documents(draw: st.DrawFn, position: int, earlier: list[dict[str, Any]]) -> Any:
    """A field document: mostly a plausible field of some type, sometimes with junk in it, rarely junk outright."""
    if _now_and_then(draw, 20):
        return draw(json_values)
    type_ = draw(st.sampled_from(_TYPES))
    document: dict[str, Any] = {"key": f"field_{position}", "type": type_, "label": "A label"}
    fitting = {**_COMMON, **_FITTING.get(type_, {})}
    for name in draw(st.lists(st.sampled_from(sorted(fitting)), max_size=3, unique=True)):
        document[name] = draw(fitting[name])
    if type_ in {"single_choice", "multiple_choice"} and not _now_and_then(draw, 10):
        document["options"] = draw(_CHOICES)
    if (type_ in _PERSONAL_TYPES or document.get("personal")) and not _now_and_then(draw, 10):
        document["purpose"] = "To deliver the order."
    if earlier and draw(st.booleans()):
        target = draw(st.sampled_from(earlier))
        value = draw(st.sampled_from(["breakfast", "tshirt", True, *target.get("options", [])]) | texts)
        document["show_if"] = {"field": target["key"], "value": value}
    if _now_and_then(draw, 10):
        name, value = draw(_JUNK_ATTRIBUTE)
        document[name] = value
    return document


@st.composite
def schema_documents(draw: st.DrawFn) -> Any:
    """A schema document of up to six fields, or (rarely) any JSON-like value at all."""
    if _now_and_then(draw, 20):
        return draw(json_values)
    fields: list[Any] = []
    for position in range(draw(st.integers(1, 6))):
        plausible = [f for f in fields if isinstance(f, dict) and isinstance(f.get("key"), str)
                     and isinstance(f.get("options", []), list)]
        fields.append(draw(field_documents(position, plausible)))
    return {"fields": fields}


@PROPERTY_SETTINGS
@given(document=schema_documents(), data=st.data())
def test_any_schema_parses_or_raises_schema_error_and_its_answers_validate(document: Any, data: st.DataObject) -> None:
    try:
        form = parse_form_spec(document)
    except SchemaError as exc:
        assert str(exc).startswith("The form schema is invalid. ")
        return
    assert isinstance(form, FormSpec)
    check_validation(form, data.draw(answers_for(form), label="answers"))


# --- (d) numbers are stored as given or refused -----------------------------------------------------------------

def _fraction_with_a_run(whole: int, run: int, digit: str, last: int) -> str:
    """Decimal text such as 1.0000001 or 0.9999997, whose last digit may sit far to the right."""
    return f"{whole}.{digit * run}{last}"


# Decimal text as typed: plain, with long runs of zeros or nines before the last digit, or in exponent form.
_DECIMAL_TEXTS = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.builds(_fraction_with_a_run, st.integers(-10**6, 10**6), st.integers(0, 40), st.sampled_from("09"),
              st.integers(1, 9)),
    st.from_regex(r"-?[0-9]{1,20}(\.[0-9]{1,12})?[eE][+-]?[0-9]{1,2}", fullmatch=True),
)


@PROPERTY_SETTINGS
@given(decimals=st.integers(0, 6), answer=_DECIMAL_TEXTS)
def test_number_is_stored_as_given_or_refused(decimals: int, answer: str) -> None:
    form = parse_form_spec({"fields": [{"key": "n", "type": "number", "label": "N", "decimals": decimals}]})
    given_number = Decimal(answer)

    try:
        stored = validate_answers(form, {"n": answer}).values["n"]
    except FormValidationError as exc:
        assert list(exc.errors) == ["n"]
        return
    # Accepted only with at most `decimals` places, and stored as that very number (a float for decimals > 0).
    assert given_number == given_number.quantize(Decimal(1).scaleb(-decimals))
    if decimals == 0:
        assert isinstance(stored, int) and stored == given_number
    else:
        assert stored == float(given_number)


# --- (c) valid answers to a valid simple schema survive validation -------------------------------------------------

_PADDING = st.text(alphabet=" \t\n", max_size=3)
_OPTION = st.text(alphabet=string.ascii_letters + string.digits + " -", min_size=1, max_size=20)


@st.composite
def text_field_with_answer(draw: st.DrawFn, key: str) -> tuple[dict[str, Any], str, str]:
    """A text field with limits, a raw answer within them (padded with whitespace) and the stripped answer."""
    type_ = draw(st.sampled_from(["short_text", "long_text"]))
    cap = 200 if type_ == "short_text" else 4000
    low = draw(st.integers(0, 30))
    high = draw(st.integers(max(low, 1), cap))
    document: dict[str, Any] = {"key": key, "type": type_, "label": key, "required": draw(st.booleans())}
    if low:
        document["min_length"] = low
    if high < cap or draw(st.booleans()):
        document["max_length"] = high
    text = draw(st.text(alphabet=_VISIBLE, min_size=max(low, 1), max_size=min(high, low + 40))
                .filter(lambda t: t == t.strip()))
    return document, draw(_PADDING) + text + draw(_PADDING), text


@st.composite
def choice_field_with_answer(draw: st.DrawFn, key: str) -> tuple[dict[str, Any], Any, Any]:
    """A choice field, a chosen answer (for multiple choice in any order) and the answer as stored."""
    options = draw(st.lists(_OPTION.filter(lambda o: o == o.strip()), min_size=1, max_size=6, unique=True))
    if draw(st.booleans()):
        document = {"key": key, "type": "single_choice", "label": key, "options": options, "required": True}
        chosen = draw(st.sampled_from(options))
        return document, chosen, chosen
    picked = draw(st.lists(st.sampled_from(options), min_size=1, unique=True))
    document = {"key": key, "type": "multiple_choice", "label": key, "options": options, "required": True}
    return document, draw(st.permutations(picked)), [option for option in options if option in picked]


@st.composite
def pattern_field_with_answer(draw: st.DrawFn, key: str) -> tuple[dict[str, Any], str, str]:
    """A short text field with a pattern, a padded answer matching it and the answer as stored."""
    pattern = r"[A-Z]{2}[0-9]{2,4}"
    answer = draw(st.from_regex(pattern, fullmatch=True))
    document = {"key": key, "type": "short_text", "label": key, "pattern": pattern, "pattern_hint": "e.g. AB123"}
    return document, draw(_PADDING) + answer + draw(_PADDING), answer


@st.composite
def valid_forms_with_answers(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A schema document of text and choice fields, raw answers that meet it and the values they clean to."""
    makers = [text_field_with_answer, choice_field_with_answer, pattern_field_with_answer]
    fields, answers, expected = [], {}, {}
    for position in range(draw(st.integers(1, 5))):
        key = f"field_{position}"
        document, raw, stored = draw(draw(st.sampled_from(makers))(key))
        fields.append(document)
        answers[key] = raw
        expected[key] = stored
    return {"fields": fields}, answers, expected


@PROPERTY_SETTINGS
@given(case=valid_forms_with_answers())
def test_valid_answers_to_a_valid_schema_come_back_stripped(case: tuple[dict, dict, dict]) -> None:
    document, answers, expected = case

    result = validate_answers(parse_form_spec(document), answers)

    assert result == CleanAnswers(values=expected)
