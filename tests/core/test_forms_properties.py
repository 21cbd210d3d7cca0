"""Property tests of forms: whatever a schema document or a set of answers holds, parsing and validation only ever
end in a FormSpec/CleanAnswers or in the domain errors SchemaError/FormValidationError, and valid answers survive.

Answers arrive from the browser (or a crafted request) as JSON-like values, so the strategies mix plausible answers
for each field with arbitrary JSON-like junk: NaN and infinities, control characters, huge strings, nesting.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
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
texts = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=30),
    st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=4), st.integers(50, 3000)),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)),
    max_leaves=12,
)

# --- plausible answers for a given field ---------------------------------------------------------------------------

# Numbers as a number input or a crafted request sends them: small and huge, as numbers and as text.
_NUMBERS = st.one_of(
    st.integers(-100, 100), st.integers(), st.floats(), st.floats(-1e6, 1e6).map(str),
    st.from_regex(r" ?-?[0-9]{1,40}(\.[0-9]{1,8})?([eE][+-]?[0-9]{1,3})? ?", fullmatch=True),
)
_DATES = st.one_of(st.dates(), st.dates().map(lambda day: day.isoformat()))
_PHONES = st.text(alphabet="0123456789 +()-", max_size=20)


def _items_answers() -> st.SearchStrategy[list[dict[str, Any]]]:
    options = st.dictionaries(st.sampled_from(["size", "colour"]), st.sampled_from(["S", "M", "L"]) | json_values,
                              max_size=2)
    entry = st.fixed_dictionaries(
        {"item": st.sampled_from(["tshirt", "breakfast", "mug"]) | json_values},
        optional={"quantity": st.integers(-2, 5) | json_values, "options": options | json_values},
    )
    return st.lists(entry | json_values, max_size=5)


def plausible_answer(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Answers a person might really send for `spec`, near the edges of its rules."""
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
            return st.sampled_from(spec.options)
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


def answers_for(form: FormSpec) -> st.SearchStrategy[dict[str, Any]]:
    """Answers to some of the form's fields (plausible or junk) plus answers to fields it does not have."""
    per_field = {spec.key: plausible_answer(spec) | json_values for spec in form.fields}
    return st.fixed_dictionaries({}, optional={**per_field, "unknown_field": json_values})


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
    items = {item.key: item for item in CATALOGUE}
    for chosen in result.lines:
        assert 0 < chosen.quantity <= items[chosen.item_key].max_per_order
    return result


# --- (a) random answers to a form with every field type ------------------------------------------------------------

EVERY_TYPE_FORM = parse_form_spec({"fields": [
    {"key": "name", "type": "short_text", "label": "Name", "required": True, "personal": True, "purpose": "Label",
     "max_length": 50, "pattern": r"[^0-9]+", "pattern_hint": "No digits."},
    {"key": "note", "type": "long_text", "label": "Note", "min_length": 3},
    {"key": "email", "type": "email", "label": "Email", "required": True, "purpose": "Confirm"},
    {"key": "phone", "type": "phone", "label": "Phone", "purpose": "Courier"},
    {"key": "guests", "type": "number", "label": "Guests", "min_value": 0, "max_value": 10},
    {"key": "budget", "type": "number", "label": "Budget", "decimals": 2},
    {"key": "meal", "type": "single_choice", "label": "Meal", "options": ["Meat", "Vegetarian"]},
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
_KEYS = st.sampled_from(["name", "email", "meal", "items", "extra"]) | st.from_regex(r"[a-z][a-z0-9_]{0,5}",
                                                                                        fullmatch=True) | texts
# Patterns built from regex atoms and quantifiers, so valid and invalid expressions and odd repeat counts come up.
_ATOMS = st.sampled_from(["a", "[0-9]", r"\w", ".", "(", ")", "(a|b)", "|", "^", "$", "[", "]", "\\", "{"])
_COUNTS = st.integers(0, 5) | st.integers(0, 2**40)
_QUANTIFIERS = st.one_of(st.sampled_from(["", "*", "+", "?", "*?"]), _COUNTS.map("{{{}}}".format),
                         st.tuples(_COUNTS, _COUNTS).map(lambda low_high: "{{{},{}}}".format(*low_high)))
_PATTERNS = st.lists(st.tuples(_ATOMS, _QUANTIFIERS).map("".join), max_size=4).map("".join) | texts
_OPTIONS = st.lists(st.sampled_from(["Meat", "Vegetarian", "United Kingdom", "S"]) | texts, max_size=4)
_LIMITS = st.one_of(st.none(), st.integers(-100, 100), st.integers(), st.floats(), texts,
                    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e300]))
_DAYS = st.one_of(_DATES, st.integers(), texts)

# Every attribute a field may have, with plausible and wrong values; "colour" is one it may not have.
_ATTRIBUTES: dict[str, st.SearchStrategy[Any]] = {
    "required": st.booleans() | json_values,
    "personal": st.booleans(),
    "purpose": st.just("To deliver the order.") | texts,
    "help": texts,
    "options": _OPTIONS | json_values,
    "min_length": st.integers(-1, 300) | json_values,
    "max_length": st.integers(-1, 5000),
    "pattern": _PATTERNS,
    "pattern_hint": texts,
    "min_value": _LIMITS,
    "max_value": _LIMITS,
    "decimals": st.integers(-1, 8),
    "min_date": _DAYS,
    "max_date": _DAYS,
    "colour": json_values,
}


@st.composite
def field_documents(draw: st.DrawFn, earlier: list[dict[str, Any]]) -> Any:
    """A field document: mostly well-typed with a few attributes, sometimes junk."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    document: dict[str, Any] = {"key": draw(_KEYS), "type": draw(st.sampled_from(_TYPES) | texts),
                                "label": draw(st.just("A label") | texts)}
    if document["type"] in {"email", "phone", "address"} and draw(st.integers(0, 4)) > 0:
        document["purpose"] = "To deliver the order."
    if document["type"] in {"single_choice", "multiple_choice"} and draw(st.integers(0, 4)) > 0:
        document["options"] = draw(st.lists(st.sampled_from(["Meat", "Vegetarian", "Fish"]), min_size=1, unique=True))
    for name in draw(st.lists(st.sampled_from(sorted(_ATTRIBUTES)), max_size=3, unique=True)):
        document[name] = draw(_ATTRIBUTES[name])
    if earlier and draw(st.booleans()):
        target = draw(st.sampled_from(earlier))
        target_options = target.get("options") if isinstance(target.get("options"), list) else []
        value = draw(st.sampled_from(["breakfast", True, *target_options]) | texts | st.booleans())
        document["show_if"] = {"field": target.get("key"), "value": value}
    return document


@st.composite
def schema_documents(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    fields: list[Any] = []
    for _ in range(draw(st.integers(1, 6))):
        fields.append(draw(field_documents([f for f in fields if isinstance(f, dict)])))
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


# --- (c) valid answers to a valid simple schema survive validation -------------------------------------------------

# Characters that are not whitespace or control characters, so stripping leaves them alone; plus the plain space
# inside an answer.
_VISIBLE = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), include_characters=" ")
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
                .filter(lambda t: t == t.strip() and len(t) >= max(low, 1)))
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
    pattern = r"[A-Z]{2}[0-9]{2,4}"
    answer = draw(st.from_regex(pattern, fullmatch=True))
    document = {"key": key, "type": "short_text", "label": key, "pattern": pattern, "pattern_hint": "e.g. AB123"}
    return document, draw(_PADDING) + answer + draw(_PADDING), answer


@st.composite
def valid_forms_with_answers(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
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
