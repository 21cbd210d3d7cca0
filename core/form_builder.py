"""The form builder's rules, apart from storage: field types by friendly name, one-click templates, keys derived
from labels, and every change to a draft's list of fields, checked, with errors keyed by the attribute at fault.

A draft is a list of field dicts shaped like a stored schema's fields (core.forms.FieldSpec). The functions here
never change their input; they return a new list, which core/form_drafts.py stores. A change that would break a
form that worked is refused, so a draft built here always parses (only a broken stored form can be broken).
"""

from __future__ import annotations

import copy
import json
import math
import re
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError

from core.catalogue import CatalogueItem
from core.errors import DomainError, FormValidationError, NotFound, SchemaError
from core.forms import (
    ALWAYS_PERSONAL,
    CHOICE_TYPES,
    MAX_TEXT_LENGTH,
    FieldSpec,
    FieldType,
    FormSpec,
    parse_form_spec,
)
from core.wording import counted

Field = dict[str, Any]

# What the organiser reads instead of the stored type names.
FIELD_TYPE_NAMES: dict[FieldType, str] = {
    FieldType.SHORT_TEXT: "Short answer",
    FieldType.LONG_TEXT: "Paragraph",
    FieldType.EMAIL: "Email address",
    FieldType.PHONE: "Phone number",
    FieldType.NUMBER: "Number",
    FieldType.SINGLE_CHOICE: "Single choice",
    FieldType.MULTIPLE_CHOICE: "Multiple choice",
    FieldType.CHECKBOX: "Tick box",
    FieldType.DATE: "Date",
    FieldType.ADDRESS: "Postal address",
    FieldType.ITEMS: "Items to order",
}
FIELD_TYPE_HINTS: dict[FieldType, str] = {
    FieldType.SHORT_TEXT: "One line of text: a name, a team, a licence plate.",
    FieldType.LONG_TEXT: "Several lines of text: notes, wishes, questions.",
    FieldType.EMAIL: "An email address, checked; always personal data.",
    FieldType.PHONE: "A phone number, checked for the event's country; always personal data.",
    FieldType.NUMBER: "A number, whole or with decimals, within limits you set.",
    FieldType.SINGLE_CHOICE: "One answer from a list you give.",
    FieldType.MULTIPLE_CHOICE: "Any number of answers from a list you give.",
    FieldType.CHECKBOX: "One box to tick: consent, or a yes/no question.",
    FieldType.DATE: "A day from a calendar, between dates you set.",
    FieldType.ADDRESS: "Street, city, postcode and country; always personal data.",
    FieldType.ITEMS: "The event's items with their sizes and quantities; one per form.",
}

# The attributes every field has, then those of each type. "personal" is absent where it cannot be chosen: email,
# phone and address are always personal, the item picker never is.
COMMON_ATTRIBUTES = ("type", "key", "label", "help", "required", "show_if")
_TEXT = ("personal", "purpose", "min_length", "max_length", "pattern", "pattern_hint")
TYPE_ATTRIBUTES: dict[FieldType, tuple[str, ...]] = {
    FieldType.SHORT_TEXT: _TEXT,
    FieldType.LONG_TEXT: _TEXT,
    FieldType.EMAIL: ("purpose",),
    FieldType.PHONE: ("purpose",),
    FieldType.NUMBER: ("personal", "purpose", "min_value", "max_value", "decimals"),
    FieldType.SINGLE_CHOICE: ("personal", "purpose", "options"),
    FieldType.MULTIPLE_CHOICE: ("personal", "purpose", "options"),
    FieldType.CHECKBOX: ("personal", "purpose"),
    FieldType.DATE: ("personal", "purpose", "min_date", "max_date"),
    FieldType.ADDRESS: ("purpose", "options"),
    FieldType.ITEMS: (),
}
EDITABLE = COMMON_ATTRIBUTES + ("personal", "purpose", "options", "min_length", "max_length", "pattern",
                                "pattern_hint", "min_value", "max_value", "decimals", "min_date", "max_date")
# Where a problem that belongs to no single attribute is reported (FormValidationError's key).
WHOLE_FIELD = "field"

# A new field of a type starts as this; always-personal types come with a purpose the organiser can reword.
_NEW_FIELD: dict[FieldType, Field] = {
    FieldType.SHORT_TEXT: {"label": "Short answer"},
    FieldType.LONG_TEXT: {"label": "Paragraph"},
    FieldType.EMAIL: {"label": "Email", "purpose": "To send your confirmation and tell you about your order."},
    FieldType.PHONE: {"label": "Phone", "purpose": "To reach you about your order."},
    FieldType.NUMBER: {"label": "Number"},
    FieldType.SINGLE_CHOICE: {"label": "Choose one", "options": ["Option 1", "Option 2"]},
    FieldType.MULTIPLE_CHOICE: {"label": "Choose any", "options": ["Option 1", "Option 2"]},
    FieldType.CHECKBOX: {"label": "Yes, please"},
    FieldType.DATE: {"label": "Date"},
    FieldType.ADDRESS: {"label": "Address", "purpose": "To deliver your order."},
    FieldType.ITEMS: {"label": "What would you like?", "required": True},
}
CONSENT_LABEL = "I agree that my details are used for this order and deleted after the event."


@dataclass(frozen=True)
class FieldTemplate:
    """A field added with one click; without a `key` in `field`, the key is derived from the label."""

    name: str
    field: Mapping[str, Any]


TEMPLATES: dict[str, FieldTemplate] = {
    "full_name": FieldTemplate("Full name", {
        "key": "name", "type": "short_text", "label": "Full name", "required": True, "personal": True,
        "purpose": "To label your order and hand it to you.", "max_length": 100}),
    "email": FieldTemplate("Email", {
        "key": "email", "type": "email", "label": "Email", "required": True,
        "purpose": "To send your confirmation and tell you about your order."}),
    "phone": FieldTemplate("Phone", {
        "key": "phone", "type": "phone", "label": "Phone", "purpose": "To reach you about your order."}),
    "delivery_address": FieldTemplate("Delivery address", {
        "key": "delivery", "type": "address", "label": "Delivery address", "required": True,
        "purpose": "To deliver your order."}),
    "consent": FieldTemplate("Consent", {
        "key": "consent", "type": "checkbox", "label": CONSENT_LABEL, "required": True}),
    "choice": FieldTemplate("A choice", {
        "type": "single_choice", "label": "Choose one", "options": ["Option 1", "Option 2"], "required": True}),
    "free_text": FieldTemplate("Free text", {
        "type": "long_text", "label": "Anything else we should know?", "max_length": 500}),
}

# What most events ask: a new event's builder offers it as a start, so nobody begins from an empty form.
STARTER_FORM: dict[str, Any] = {"fields": [
    {"key": "name", "type": "short_text", "label": "Full name", "required": True, "personal": True,
     "purpose": "To label your order and hand it to you.", "max_length": 100},
    {"key": "email", "type": "email", "label": "Email", "required": True,
     "purpose": "To send your confirmation and tell you about your order."},
    {"key": "items", "type": "items", "label": "What would you like?", "required": True},
    {"key": "consent", "type": "checkbox", "required": True, "label": CONSENT_LABEL},
]}

KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Letters that NFKD does not take apart into an ASCII letter and an accent.
_SPELLED_OUT = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "Oe", "ł": "l",
                              "Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "Th"})
_KEY_BASE_LENGTH = 30  # derived keys stop at a whole word within this, leaving room for a "_2"
MAX_JSON_LENGTH = 200_000
PURPOSE_PREVIEW_LENGTH = 40


def attributes_of(field_type: FieldType) -> frozenset[str]:
    """The attributes a field of `field_type` has."""
    return frozenset(COMMON_ATTRIBUTES + TYPE_ATTRIBUTES[field_type])


def always_personal_note(field_type: FieldType) -> str:
    """"A postal address is always personal data", with the article its friendly name takes."""
    name = FIELD_TYPE_NAMES[field_type].lower()
    return f"{'An' if name[0] in 'aeiou' else 'A'} {name} is always personal data"


def type_of(field: Mapping[str, Any]) -> FieldType | None:
    """The field's type, or None when a broken stored form names no known type."""
    try:
        return FieldType(field.get("type"))
    except ValueError:
        return None


# --- keys -------------------------------------------------------------------------------------------------------


def derive_key(label: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A key for `label`: lower-case ASCII words joined by _, unique among `taken` ("size", "size_2", ...)."""
    spelled = label.translate(_SPELLED_OUT)
    text = unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", text)
    base = ""
    for word in words:
        longer = f"{base}_{word}" if base else word
        if len(longer) > _KEY_BASE_LENGTH:
            break
        base = longer
    if not base and words:
        base = words[0][:_KEY_BASE_LENGTH]
    if not base[:1].isalpha():
        base = f"field_{base}" if base else "field"
    base = base[:_KEY_BASE_LENGTH + 6]
    key, number = base, 2
    while key in taken:
        key, number = f"{base}_{number}", number + 1
    return key


def _follows_label(key: str, label: str) -> bool:
    """Whether `key` is what derive_key made of `label` (so a new label may give it a new key)."""
    base = derive_key(label)
    return key == base or re.fullmatch(re.escape(base) + r"_\d+", key) is not None


# --- reading a draft --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One answer a condition can wait for: an option, ticked/not ticked, or an item of the catalogue."""

    value: str | bool
    label: str


@dataclass(frozen=True)
class Condition:
    """An earlier field that can decide whether a field is shown, with the answers to choose from."""

    key: str
    label: str
    answers: tuple[Answer, ...]


@dataclass(frozen=True)
class FieldRow:
    """One line of the builder's list of fields."""

    key: str
    type: FieldType | None
    type_name: str
    label: str
    required: bool
    personal: bool
    shown_if: str  # "Shown if Diet is Vegan", or ""
    problem: str  # why a field of a broken stored form cannot be saved as it is; "" when it can


def condition_answers(target: Mapping[str, Any], catalogue: Sequence[CatalogueItem]) -> tuple[Answer, ...]:
    """The answers of `target` that a later field's "show only if" can name; none for other types."""
    field_type = type_of(target)
    if field_type in CHOICE_TYPES:
        return tuple(Answer(option, option) for option in target.get("options") or ())
    if field_type == FieldType.CHECKBOX:
        return (Answer(True, "ticked"), Answer(False, "not ticked"))
    if field_type == FieldType.ITEMS:
        return tuple(Answer(item.key, item.name) for item in catalogue)
    return ()


def conditions_for(fields: Sequence[Field], key: str | None, catalogue: Sequence[CatalogueItem]) -> tuple[Condition, ...]:
    """What "show only if" offers the field `key`: the earlier fields that have answers to wait for, and those.

    The field's own condition stays offered even when its answer left the catalogue (or, in a form written as
    JSON, waits for a text answer), so that it can be seen and changed rather than lost.
    """
    index = _index_of(fields, key) if key is not None else len(fields)
    own = fields[index].get("show_if") if key is not None else None
    conditions = []
    for target in fields[:index]:
        answers = condition_answers(target, catalogue)
        if isinstance(own, Mapping) and own.get("field") == target.get("key") and own.get("value") not in [
                answer.value for answer in answers]:
            value = own.get("value")
            gone = type_of(target) == FieldType.ITEMS
            answers += (Answer(value, f"{value} (no longer offered)" if gone else str(value)),)
        if answers:
            conditions.append(Condition(str(target.get("key")), str(target.get("label") or target.get("key")),
                                        answers))
    return tuple(conditions)


def field_rows(fields: Sequence[Field], catalogue: Sequence[CatalogueItem]) -> tuple[FieldRow, ...]:
    """The list the builder shows: each field's friendly type, label, and badges."""
    rows = []
    by_key = {field.get("key"): field for field in fields}
    for field in fields:
        field_type = type_of(field)
        rows.append(FieldRow(
            key=str(field.get("key") or ""), type=field_type,
            type_name=FIELD_TYPE_NAMES[field_type] if field_type else f"Unknown type '{field.get('type')}'",
            label=str(field.get("label") or ""), required=field.get("required") is True,
            personal=field.get("personal") is True or field_type in ALWAYS_PERSONAL,
            shown_if=_shown_if(field.get("show_if"), by_key, catalogue), problem=_field_problem(field),
        ))
    return tuple(rows)


def _shown_if(show_if: object, by_key: Mapping[Any, Field], catalogue: Sequence[CatalogueItem]) -> str:
    if not isinstance(show_if, Mapping):
        return ""
    target = by_key.get(show_if.get("field"))
    if target is None:
        return f"Shown if '{show_if.get('field')}' (missing) is {show_if.get('value')}"
    value = show_if.get("value")
    answer = next((a.label for a in condition_answers(target, catalogue) if a.value == value), str(value))
    verb = "includes" if type_of(target) in {FieldType.MULTIPLE_CHOICE, FieldType.ITEMS} else "is"
    return f"Shown if {target.get('label') or target.get('key')} {verb} {answer}"


def _field_problem(field: Mapping[str, Any]) -> str:
    try:
        FieldSpec.model_validate(field)
    except ValidationError as exc:
        return "; ".join(_message(error) for error in exc.errors(include_url=False))
    return ""


def form_problem(fields: Sequence[Field]) -> str:
    """Why the fields are not a form that can be saved, in one sentence; "" when they are."""
    if not fields:
        return "The form has no fields yet."
    try:
        parse_form_spec({"fields": list(fields)})
    except SchemaError as exc:
        return str(exc)
    return ""


def personal_data_surface(spec: FormSpec) -> str:
    """One line naming every personal field of the form and why it is collected."""
    fields = spec.personal_fields
    if not fields:
        return "Personal data collected: none."
    parts = [f"{field.label} ({_shortened(field.purpose.strip().rstrip('.'))})" for field in fields]
    count = counted(len(fields), "field")
    # Every personal field states its purpose: FieldSpec refuses one that does not.
    return f"Personal data collected: {', '.join(parts)} — {count}; every one states its purpose."


def _shortened(text: str) -> str:
    return text if len(text) <= PURPOSE_PREVIEW_LENGTH else text[:PURPOSE_PREVIEW_LENGTH - 1].rstrip() + "…"


# --- changes ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemovedField:
    """A deleted field and where it was, so that the deletion can be undone."""

    field: Field
    index: int


def canonical(field: Mapping[str, Any]) -> Field:
    """The field as the builder stores it: checked by FieldSpec, defaults left out, whole numbers without ".0".

    Raises pydantic's ValidationError when the field breaks FieldSpec's rules.
    """
    spec = FieldSpec.model_validate(field)
    stored = spec.model_dump(mode="json", exclude_defaults=True)
    if spec.type in ALWAYS_PERSONAL:
        stored.pop("personal", None)  # implied by the type
    for name in ("min_value", "max_value"):
        if isinstance(stored.get(name), float) and stored[name].is_integer():
            stored[name] = int(stored[name])
    return stored


def new_field(field_type: FieldType | str, fields: Sequence[Field]) -> Field:
    """A field of `field_type` with its starting label (and options or purpose where the type needs them)."""
    try:
        field_type = FieldType(field_type)
    except ValueError:
        raise DomainError(f"'{field_type}' is not a field type.") from None
    field = {"type": field_type.value, **copy.deepcopy(_NEW_FIELD[field_type])}
    field["key"] = derive_key(field["label"], _keys(fields))
    return canonical(field)


def template_field(name: str, fields: Sequence[Field]) -> Field:
    """The field of the template `name` (see TEMPLATES), with a key no other field uses."""
    template = TEMPLATES.get(name)
    if template is None:
        raise DomainError(f"There is no field template '{name}'.")
    field = copy.deepcopy(dict(template.field))
    field["key"] = derive_key(field.get("key") or field["label"], _keys(fields))
    return canonical(field)


def added(fields: Sequence[Field], field: Field) -> list[Field]:
    """`fields` with `field` at the end; raises DomainError when the form cannot take it."""
    if type_of(field) == FieldType.ITEMS and _items_field(fields) is not None:
        raise DomainError(f"A form has one item picker, and this one has it: '{_items_field(fields)}'.")
    return _checked(fields, [*copy.deepcopy(list(fields)), field])


def moved(fields: Sequence[Field], key: str, offset: int) -> list[Field]:
    """`fields` with `key` moved `offset` places (-1 up, +1 down).

    Raises DomainError at the edges, and when a field would come before the field its condition waits for.
    """
    index = _index_of(fields, key)
    target = index + offset
    if offset not in (-1, 1):
        raise ValueError("move a field one place at a time")
    label = _label(fields[index])
    if not 0 <= target < len(fields):
        raise DomainError(f"'{label}' is already the {'first' if offset < 0 else 'last'} field.")
    upper, lower = (fields[target], fields[index]) if offset < 0 else (fields[index], fields[target])
    if _waits_for(lower, upper):
        raise DomainError(f"'{_label(lower)}' is shown only depending on '{_label(upper)}', so it stays below it. "
                          f"Change its condition first.")
    result = copy.deepcopy(list(fields))
    result[index], result[target] = result[target], result[index]
    return _checked(fields, result)


def duplicated(fields: Sequence[Field], key: str) -> tuple[list[Field], str]:
    """`fields` with a copy of `key` right below it, labelled "(copy)" under a new key; returns the new key."""
    index = _index_of(fields, key)
    original = fields[index]
    if type_of(original) == FieldType.ITEMS:
        raise DomainError("A form has one item picker, so it cannot be duplicated.")
    copied = copy.deepcopy(dict(original))
    copied["label"] = f"{_label(original)} (copy)"[:200]
    copied["key"] = derive_key(copied["label"], _keys(fields))
    result = copy.deepcopy(list(fields))
    result.insert(index + 1, copied)
    return _checked(fields, result), copied["key"]


def deleted(fields: Sequence[Field], key: str) -> tuple[list[Field], RemovedField]:
    """`fields` without `key`, and what undo needs; refused while a later field's condition waits for it."""
    index = _index_of(fields, key)
    dependants = [f"'{_label(field)}'" for field in fields if _waits_for(field, fields[index])]
    if len(dependants) == 1:
        raise DomainError(f"{dependants[0]} is shown only depending on '{_label(fields[index])}'. "
                          "Change that condition first.")
    if dependants:
        raise DomainError(f"{', '.join(dependants)} are shown only depending on '{_label(fields[index])}'. "
                          "Change those conditions first.")
    result = copy.deepcopy(list(fields))
    removed = result.pop(index)
    return _checked(fields, result), RemovedField(field=removed, index=index)


def restored(fields: Sequence[Field], removed: RemovedField) -> tuple[list[Field], str]:
    """`fields` with a deleted field back in its place (under a new key if its key was taken meanwhile)."""
    field = copy.deepcopy(dict(removed.field))
    if field.get("key") in _keys(fields):
        field["key"] = derive_key(_label(field), _keys(fields))
    if type_of(field) == FieldType.ITEMS and _items_field(fields) is not None:
        raise DomainError("The deleted item picker cannot come back: the form has another one now.")
    result = copy.deepcopy(list(fields))
    result.insert(min(max(removed.index, 0), len(result)), field)
    try:
        return _checked(fields, result), field["key"]
    except SchemaError as exc:
        raise DomainError(f"The deleted field cannot come back as it was: {exc}") from None


def edited(
    fields: Sequence[Field],
    key: str,
    values: Mapping[str, Any],
    *,
    catalogue: Sequence[CatalogueItem] = (),
    fixed_keys: frozenset[str] = frozenset(),
) -> tuple[list[Field], str]:
    """`fields` with the field `key` changed to `values` (attribute -> value, as the editor shows them).

    Attributes missing from `values` keep their value. A new type keeps what still applies and drops the rest;
    a choice gets two options and an email, phone or address a purpose, to start from. A new label gives a new
    key while the key is still the one derived from the label and not part of the saved form (`fixed_keys`:
    orders, exports and vendors know those). Conditions that wait for a renamed key follow it.

    Returns the new fields and the field's (maybe new) key. Raises FormValidationError keyed by attribute
    (WHOLE_FIELD for what belongs to none); then nothing changed.
    """
    index = _index_of(fields, key)
    old = fields[index]
    errors: dict[str, str] = {}
    try:
        field_type = FieldType(values.get("type", old.get("type")))
    except ValueError:
        raise FormValidationError({"type": "Choose a type from the list."}) from None
    merged = {name: values[name] if name in values else old.get(name) for name in EDITABLE}
    retyped = type_of(old) != field_type
    field = _shaped(merged, field_type, retyped, errors)
    others = [other for position, other in enumerate(fields) if position != index]
    new_key = _new_key(old, field, values, others, fixed_keys, errors)
    if field_type == FieldType.ITEMS and (other := _items_field(others)) is not None:
        errors["type"] = f"A form has one item picker, and this one has it: '{other}'."
    _check_condition(field, fields[:index], old, catalogue, errors)
    _check_dependants(field, fields[index + 1:], old, catalogue, errors)
    if errors:
        raise FormValidationError(errors)
    try:
        stored = canonical({"key": new_key, **field})
    except ValidationError as exc:
        raise FormValidationError(_attribute_errors(exc)) from None
    result = copy.deepcopy(list(fields))
    result[index] = stored
    if new_key != key:
        for later in result[index + 1:]:
            if isinstance(later.get("show_if"), dict) and later["show_if"].get("field") == key:
                later["show_if"]["field"] = new_key
    try:
        return _checked(fields, result), new_key
    except SchemaError as exc:
        raise FormValidationError({WHOLE_FIELD: str(exc)}) from None


def _shaped(merged: Mapping[str, Any], field_type: FieldType, retyped: bool, errors: dict[str, str]) -> Field:
    """The attributes of a `field_type` field from the editor's values, each checked; the key comes later."""
    applies = attributes_of(field_type)
    starting = _NEW_FIELD[field_type] if retyped else {}
    field: Field = {"type": field_type.value}
    field["label"] = _text(merged["label"])
    if not field["label"]:
        errors["label"] = "Give the field a label."
    _limit(field, "label", 200, errors)
    if help_text := _text(merged["help"]):
        field["help"] = help_text
        _limit(field, "help", 500, errors)
    if merged["required"] is True:
        field["required"] = True
    if "personal" in applies and merged["personal"] is True:
        field["personal"] = True
    if "purpose" in applies and (field_type in ALWAYS_PERSONAL or field.get("personal")):
        purpose = _text(merged["purpose"]) or starting.get("purpose", "")
        if not purpose:
            errors["purpose"] = ("Personal data needs a purpose: say why you collect it."
                                 if field_type not in ALWAYS_PERSONAL else
                                 f"{always_personal_note(field_type)}: say why you collect it.")
        field["purpose"] = purpose
        _limit(field, "purpose", 300, errors)
    if "options" in applies:
        options = _options(merged["options"], errors)
        if not options and field_type in CHOICE_TYPES:
            options = list(starting.get("options", []))
            if not options and "options" not in errors:
                errors["options"] = "Add at least one option."
        if options:
            field["options"] = options
    if "min_length" in applies:
        _text_limits(field, merged, field_type, errors)
    if "min_value" in applies:
        _number_limits(field, merged, errors)
    if "min_date" in applies:
        _date_limits(field, merged, errors)
    show_if = merged["show_if"]
    if isinstance(show_if, Mapping) and show_if.get("field"):
        field["show_if"] = {"field": show_if.get("field"), "value": show_if.get("value")}
    return field


def _text_limits(field: Field, merged: Mapping[str, Any], field_type: FieldType, errors: dict[str, str]) -> None:
    longest = MAX_TEXT_LENGTH[field_type]
    for name, smallest in (("min_length", 0), ("max_length", 1)):
        number = _whole(merged[name], name, errors)
        if number is None:
            continue
        if number < smallest:
            errors[name] = f"Use {smallest} or more."
        elif number > longest:
            errors[name] = f"A {FIELD_TYPE_NAMES[field_type].lower()} holds at most {longest} characters."
        field[name] = number
    if field.get("min_length") is not None and field.get("max_length") is not None \
            and field["min_length"] > field["max_length"]:
        errors["min_length"] = f"The shortest is longer than the longest ({field['max_length']})."
    pattern = merged["pattern"]
    if isinstance(pattern, str) and pattern.strip():
        field["pattern"] = pattern  # spaces may matter in a regular expression
        try:
            with warnings.catch_warnings():
                # As core.forms: sets Python will read differently one day ("[[0-9]") are refused now.
                warnings.simplefilter("error", FutureWarning)
                re.compile(pattern)
        except (re.error, OverflowError, RecursionError, FutureWarning) as exc:
            errors["pattern"] = f"This is not a valid pattern (a regular expression): {exc}."
        _limit(field, "pattern", 200, errors)
    if hint := _text(merged["pattern_hint"]):
        field["pattern_hint"] = hint
        _limit(field, "pattern_hint", 200, errors)


def _number_limits(field: Field, merged: Mapping[str, Any], errors: dict[str, str]) -> None:
    for name in ("min_value", "max_value"):
        value = merged[name]
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            errors[name] = "Enter a number."
            continue
        field[name] = value
    if field.get("min_value") is not None and field.get("max_value") is not None \
            and field["min_value"] > field["max_value"]:
        errors["min_value"] = "The smallest is larger than the largest."
    decimals = _whole(merged["decimals"], "decimals", errors)
    if decimals is not None:
        if not 0 <= decimals <= 6:
            errors["decimals"] = "Use 0 to 6 decimal places."
        elif decimals:
            field["decimals"] = decimals


def _date_limits(field: Field, merged: Mapping[str, Any], errors: dict[str, str]) -> None:
    for name in ("min_date", "max_date"):
        value = merged[name]
        if value is None or value == "":
            continue
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:
            errors[name] = "Enter a date like 2027-06-30."
            continue
        field[name] = day.isoformat()
    if field.get("min_date") and field.get("max_date") and field["min_date"] > field["max_date"]:
        errors["min_date"] = "The earliest day is after the latest."


def _options(value: object, errors: dict[str, str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        errors["options"] = "Give the options as a list."
        return []
    options: list[str] = []
    for number, option in enumerate(value, start=1):
        text = _text(option)
        if not text:
            errors["options"] = f"Option {number} is empty: type it, or remove it."
        elif len(text) > 100:
            errors["options"] = f"Option {number} is longer than 100 characters."
        elif text in options:
            errors["options"] = f"'{text}' is listed twice."
        options.append(text)
    return options


def _new_key(old: Mapping[str, Any], field: Field, values: Mapping[str, Any], others: Sequence[Field],
             fixed_keys: frozenset[str], errors: dict[str, str]) -> str:
    old_key = str(old.get("key") or "")
    taken = _keys(others)
    asked = _text(values.get("key")) if "key" in values else old_key
    if asked != old_key:
        if not KEY_PATTERN.fullmatch(asked):
            errors["key"] = ("A key starts with a lower-case letter and has only lower-case letters, digits and _ "
                             "(at most 40).")
        elif asked in taken:
            errors["key"] = "Another field has this key."
        return asked
    if field["label"] and field["label"] != old.get("label") and old_key not in fixed_keys \
            and _follows_label(old_key, str(old.get("label") or "")):
        return derive_key(field["label"], taken)
    return old_key


def _check_condition(field: Field, earlier: Sequence[Field], old: Mapping[str, Any],
                     catalogue: Sequence[CatalogueItem], errors: dict[str, str]) -> None:
    show_if = field.get("show_if")
    if show_if is None:
        return
    target = next((other for other in earlier if other.get("key") == show_if["field"]), None)
    if target is None:
        errors["show_if"] = "Choose an earlier field."
        return
    if show_if["value"] is None or show_if["value"] == "":
        errors["show_if"] = f"Choose the answer of '{_label(target)}' that shows this field."
        return
    if show_if == old.get("show_if"):
        return  # unchanged: an item that left the catalogue does not block other edits
    answers = [answer.value for answer in condition_answers(target, catalogue)]
    if not any(type(value) is type(show_if["value"]) and value == show_if["value"] for value in answers):
        errors["show_if"] = f"Choose one of the answers of '{_label(target)}'."


def _check_dependants(field: Field, later: Sequence[Field], old: Mapping[str, Any],
                      catalogue: Sequence[CatalogueItem], errors: dict[str, str]) -> None:
    """A change may not take away the answer that a later field's condition waits for."""
    field_type = FieldType(field["type"])
    for dependant in later:
        if not _waits_for(dependant, old):
            continue
        value = dependant["show_if"].get("value")
        if field_type == FieldType.ITEMS:
            continue  # items come from the catalogue, not from this field
        answers = condition_answers(field, catalogue)
        if any(type(answer.value) is type(value) and answer.value == value for answer in answers):
            continue
        shown = f"'{_label(dependant)}' is shown only if this field is '{value}'"
        if field_type in CHOICE_TYPES and type_of(old) in CHOICE_TYPES:
            errors["options"] = f"{shown}: keep that option, or change that condition first."
        else:
            errors["type"] = f"{shown}: change that condition before the type."


def _checked(before: Sequence[Field], after: list[Field]) -> list[Field]:
    """`after`, when it is a valid form, or empty, or `before` was broken already; else SchemaError."""
    problem = form_problem(after) if after else ""
    if problem and (not before or not form_problem(before)):
        raise SchemaError(problem)
    return after


def _attribute_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        attribute = str(loc[0]) if loc and str(loc[0]) in EDITABLE else WHOLE_FIELD
        errors.setdefault(attribute, _message(error, with_place=False))
    return errors


def _message(error: Mapping[str, Any], *, with_place: bool = True) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    place = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
    return f"{place}: {message}" if with_place and place else message


# --- JSON for power users ---------------------------------------------------------------------------------------


def form_json(fields: Sequence[Field]) -> str:
    """The fields as a readable schema document, as stored."""
    return json.dumps({"fields": list(fields)}, indent=2, ensure_ascii=False) + "\n"


def fields_from_json(text: str | bytes) -> list[Field]:
    """The fields of a schema document given as JSON text (`{"fields": [...]}`), checked as a whole.

    Raises FormValidationError({"json": message}) for text that is not JSON or not a valid form.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FormValidationError({"json": "The file is not UTF-8 text."}) from None
    if len(text) > MAX_JSON_LENGTH:
        raise FormValidationError({"json": f"That is more than {MAX_JSON_LENGTH:,} characters."})
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormValidationError({"json": f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column "
                                           f"{exc.colno})."}) from None
    if isinstance(document, list):
        document = {"fields": document}
    if not isinstance(document, dict) or not isinstance(document.get("fields"), list):
        raise FormValidationError({"json": 'Give an object with a list of fields: {"fields": [...]}.'})
    try:
        spec = parse_form_spec(document)
    except SchemaError as exc:
        raise FormValidationError({"json": str(exc)}) from None
    return [canonical(field.model_dump()) for field in spec.fields]


# --- small helpers ----------------------------------------------------------------------------------------------


def _index_of(fields: Sequence[Field], key: str) -> int:
    for index, field in enumerate(fields):
        if field.get("key") == key:
            return index
    raise NotFound("That field is no longer in the draft; someone may have changed it in another tab.")


def _keys(fields: Sequence[Field]) -> set[str]:
    return {str(field.get("key")) for field in fields if field.get("key")}


def _label(field: Mapping[str, Any]) -> str:
    return str(field.get("label") or field.get("key") or "")


def _items_field(fields: Sequence[Field]) -> str | None:
    return next((_label(field) for field in fields if type_of(field) == FieldType.ITEMS), None)


def _waits_for(field: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
    show_if = field.get("show_if")
    return isinstance(show_if, Mapping) and show_if.get("field") == target.get("key")


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _limit(field: Field, name: str, longest: int, errors: dict[str, str]) -> None:
    if len(field.get(name) or "") > longest:
        errors[name] = f"Use at most {longest} characters."


def _whole(value: object, name: str, errors: dict[str, str]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        errors[name] = "Enter a whole number."
        return None
    return int(value)
