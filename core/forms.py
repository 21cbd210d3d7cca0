"""Form schemas as data: field types, the FormSpec a schema document parses into, and validate_answers()."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.catalogue import CatalogueItem
from core.errors import FormValidationError, SchemaError


class FieldType(StrEnum):
    SHORT_TEXT = "short_text"
    LONG_TEXT = "long_text"
    EMAIL = "email"
    PHONE = "phone"
    NUMBER = "number"
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    CHECKBOX = "checkbox"
    DATE = "date"
    ADDRESS = "address"
    ITEMS = "items"


# These types identify a person whatever the organiser says, so they always count as personal data.
ALWAYS_PERSONAL = frozenset({FieldType.EMAIL, FieldType.PHONE, FieldType.ADDRESS})
TEXT_TYPES = frozenset({FieldType.SHORT_TEXT, FieldType.LONG_TEXT})
CHOICE_TYPES = frozenset({FieldType.SINGLE_CHOICE, FieldType.MULTIPLE_CHOICE})
# Hard caps that hold even when the organiser sets no limit, so one answer cannot bloat the database.
MAX_TEXT_LENGTH = {FieldType.SHORT_TEXT: 200, FieldType.LONG_TEXT: 4000}
MAX_EMAIL_LENGTH = 254
MAX_PHONE_LENGTH = 40
ADDRESS_PARTS = {"street": ("Street and number", 200), "city": ("City", 100), "postcode": ("Postcode", 20),
                 "country": ("Country", 100)}
MAX_QUANTITY = 1000
# Beyond this a number answer is surely a typo, and floats would start to lose digits.
MAX_NUMBER = Decimal(10) ** 15

REQUIRED = "This field is required."
# The key of the checkbox by which an attendee opts in to status texts to the form's phone number (core/sms.py).
SMS_OPT_IN_KEY = "sms_opt_in"
# Control characters and lone surrogates: neither belongs in an answer, and PostgreSQL cannot store NUL or surrogates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_LINE_BREAK = re.compile(r"[\r\n]")

FieldKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
ShortLabel = Annotated[str, Field(min_length=1, max_length=200)]


class ShowIf(BaseModel):
    """Show a field only when the answer to an earlier field equals (or, for lists and items, contains) `value`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: FieldKey
    value: str | bool


class FieldSpec(BaseModel):
    """One field of a form; which attributes apply depends on `type`."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    key: FieldKey
    type: FieldType
    label: ShortLabel
    help: Annotated[str, Field(max_length=500)] = ""
    required: bool = False
    personal: bool = False
    purpose: Annotated[str, Field(max_length=300)] = ""
    options: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = ()
    min_length: Annotated[int, Field(ge=0)] | None = None
    max_length: Annotated[int, Field(ge=1)] | None = None
    pattern: Annotated[str, Field(max_length=200)] | None = None
    pattern_hint: Annotated[str, Field(max_length=200)] = ""
    min_value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    max_value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    decimals: Annotated[int, Field(ge=0, le=6)] = 0
    min_date: date | None = None
    max_date: date | None = None
    show_if: ShowIf | None = None

    @property
    def is_personal(self) -> bool:
        return self.personal or self.type in ALWAYS_PERSONAL

    @model_validator(mode="after")
    def _check_attributes_fit_type(self) -> FieldSpec:
        t = self.type
        if self.is_personal and not self.purpose.strip():
            raise ValueError("collects personal data, so 'purpose' must say why")
        if t in CHOICE_TYPES and not self.options:
            raise ValueError("a choice field needs at least one option")
        if self.options and t not in CHOICE_TYPES | {FieldType.ADDRESS}:
            raise ValueError("'options' only applies to choice and address fields")
        if len(set(self.options)) != len(self.options):
            raise ValueError("options must be unique")
        if (self.min_length is not None or self.max_length is not None or self.pattern) and t not in TEXT_TYPES:
            raise ValueError("length limits and patterns only apply to text fields")
        if t in TEXT_TYPES and (self.max_length or 0) > MAX_TEXT_LENGTH[t]:
            raise ValueError(f"max_length can be at most {MAX_TEXT_LENGTH[t]} for {t.value}")
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError("min_length is greater than max_length")
        if (self.min_value is not None or self.max_value is not None) and t != FieldType.NUMBER:
            raise ValueError("min_value and max_value only apply to number fields")
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError("min_value is greater than max_value")
        if (self.min_date or self.max_date) and t != FieldType.DATE:
            raise ValueError("min_date and max_date only apply to date fields")
        if self.min_date and self.max_date and self.min_date > self.max_date:
            raise ValueError("min_date is after max_date")
        if self.pattern is not None:
            try:
                with warnings.catch_warnings():
                    # Python warns of sets it will read differently in future ("[[0-9]"): refused rather than
                    # left to change meaning under an event's form one day.
                    warnings.simplefilter("error", FutureWarning)
                    re.compile(self.pattern)
            except (re.error, OverflowError, RecursionError, FutureWarning) as exc:
                raise ValueError(f"pattern is not a valid regular expression ({exc})") from None
        return self


class FormSpec(BaseModel):
    """A whole form: its fields in display order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fields: Annotated[tuple[FieldSpec, ...], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _check_references(self) -> FormSpec:
        seen: dict[str, FieldSpec] = {}
        for position, spec in enumerate(self.fields, start=1):
            where = f"Field {position} ('{spec.key}')"
            if spec.key in seen:
                raise ValueError(f"{where}: the key is used twice")
            if spec.show_if is not None:
                target = seen.get(spec.show_if.field)
                if target is None:
                    raise ValueError(f"{where}: show_if refers to '{spec.show_if.field}', which is not an earlier field")
                if target.type in CHOICE_TYPES and spec.show_if.value not in target.options:
                    raise ValueError(f"{where}: show_if value is not an option of '{target.key}'")
            if spec.type == FieldType.ITEMS and any(earlier.type == FieldType.ITEMS for earlier in seen.values()):
                raise ValueError(f"{where}: a form can have only one items field")
            seen[spec.key] = spec
        opt_in = seen.get(SMS_OPT_IN_KEY)
        if opt_in is not None:
            where = f"Field {self.fields.index(opt_in) + 1} ('{SMS_OPT_IN_KEY}')"
            # Consent to texts is about a person and goes with their number: stored and purged with it.
            if opt_in.type != FieldType.CHECKBOX or not opt_in.personal:
                raise ValueError(f"{where}: the SMS opt-in must be a checkbox marked personal, with its purpose")
            if not any(spec.type == FieldType.PHONE for spec in self.fields):
                raise ValueError(f"{where}: the SMS opt-in needs a phone field to text")
        return self

    def field(self, key: str) -> FieldSpec:
        return next(spec for spec in self.fields if spec.key == key)

    @property
    def personal_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(spec for spec in self.fields if spec.is_personal)


def parse_form_spec(document: object) -> FormSpec:
    """Parse a stored schema document (already JSON-decoded) into a FormSpec.

    Raises SchemaError with one sentence per problem, each naming the field by position and key.
    """
    try:
        return FormSpec.model_validate(document)
    except ValidationError as exc:
        raise SchemaError(_describe_schema_errors(document, exc)) from None


@lru_cache(maxsize=128)
def parse_stored_form(text: str) -> FormSpec:
    """`parse_form_spec` of a stored schema given as its JSON text; cached by that text.

    Safe to share: the result depends on the text alone and a FormSpec is immutable (frozen models, tuples),
    so an edited form (new text) is parsed anew and a cached one can never be changed by a caller. Broken
    schemas raise SchemaError every time (errors are not cached).
    """
    return parse_form_spec(json.loads(text))


def _describe_schema_errors(document: object, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        message = error["msg"].removeprefix("Value error, ")
        if len(loc) >= 2 and loc[0] == "fields" and isinstance(loc[1], int):
            where = f"Field {loc[1] + 1}{_key_of(document, loc[1])}"
            attribute = ".".join(str(part) for part in loc[2:] if not str(part).startswith("function-"))
            problems.append(f"{where}{', ' + attribute if attribute else ''}: {message}")
        elif loc:
            problems.append(f"{'.'.join(str(part) for part in loc)}: {message}")
        else:
            problems.append(message)
    return "The form schema is invalid. " + "; ".join(problems)


def _key_of(document: object, index: int) -> str:
    try:
        key = document["fields"][index]["key"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return ""
    return f" ('{key}')" if isinstance(key, str) else ""


@dataclass(frozen=True)
class ChosenLine:
    """One validated order line: an item's variant and how many."""

    item_key: str
    variant_key: str
    quantity: int


@dataclass(frozen=True)
class CleanAnswers:
    """Validated, normalised answers of the visible fields; item lines apart from the other values."""

    values: dict[str, Any] = field(default_factory=dict)
    lines: tuple[ChosenLine, ...] = ()


def is_shown(spec: FieldSpec, answers: Mapping[str, object]) -> bool:
    """Whether `spec` is shown for these (raw) answers; hidden fields are neither validated nor stored."""
    if spec.show_if is None:
        return True
    answer = answers.get(spec.show_if.field)
    wanted = spec.show_if.value
    if isinstance(answer, (list, tuple)):
        return any(_line_is_for(entry, wanted) or entry == wanted for entry in answer)
    return answer == wanted


def _line_is_for(entry: object, item_key: object) -> bool:
    if not isinstance(entry, Mapping) or entry.get("item") != item_key:
        return False
    quantity = entry.get("quantity")
    return isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0


def visible_fields(form: FormSpec, answers: Mapping[str, object]) -> tuple[FieldSpec, ...]:
    """The fields a person filling the form sees right now.

    A condition only sees answers of fields that are shown themselves: a stale answer left in a hidden field
    must not reveal the fields that depend on it.
    """
    shown: list[FieldSpec] = []
    shown_answers: dict[str, object] = {}
    for spec in form.fields:
        if is_shown(spec, shown_answers):
            shown.append(spec)
            shown_answers[spec.key] = answers.get(spec.key)
    return tuple(shown)


def validate_answers(
    form: FormSpec,
    answers: Mapping[str, object],
    catalogue: Sequence[CatalogueItem] = (),
    *,
    phone_region: str = "GB",
    check_deliverability: bool = False,
) -> CleanAnswers:
    """Check `answers` against `form` and return them cleaned (emails normalised, phones in E.164, ...).

    Raises FormValidationError mapping each bad field key (or `key.part`) to a message; answers to unknown
    or hidden fields are dropped.
    """
    values: dict[str, Any] = {}
    lines: tuple[ChosenLine, ...] = ()
    errors: dict[str, str] = {}
    for spec in visible_fields(form, answers):
        raw = answers.get(spec.key)
        if spec.type == FieldType.ITEMS:
            lines = _clean_items(spec, raw, catalogue, errors)
            continue
        try:
            if spec.type == FieldType.ADDRESS:
                cleaned = _clean_address(spec, raw, errors)
            else:
                cleaned = _CLEANERS[spec.type](spec, raw, phone_region=phone_region,
                                               check_deliverability=check_deliverability)
        except _Invalid as exc:
            errors[spec.key] = str(exc)
            continue
        if cleaned is None:
            # An address reports its own missing parts, each beside its input.
            if spec.required and spec.type != FieldType.ADDRESS:
                errors[spec.key] = REQUIRED
            continue
        values[spec.key] = cleaned
    if errors:
        raise FormValidationError(errors)
    return CleanAnswers(values=values, lines=lines)


class _Invalid(Exception):
    """An answer that breaks its field's rules; the message is shown beside the field."""


def _clean_text(spec: FieldSpec, raw: object, **_: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _Invalid("Enter text.")
    text = raw.strip()
    if spec.type == FieldType.LONG_TEXT:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text:
        return None
    if _CONTROL.search(text) or (spec.type == FieldType.SHORT_TEXT and _LINE_BREAK.search(text)):
        raise _Invalid("Remove the line breaks or control characters." if spec.type == FieldType.SHORT_TEXT
                       else "Remove the control characters.")
    longest = min(spec.max_length or MAX_TEXT_LENGTH[spec.type], MAX_TEXT_LENGTH[spec.type])
    if len(text) > longest:
        raise _Invalid(f"Use at most {longest} characters (you used {len(text)}).")
    if spec.min_length is not None and len(text) < spec.min_length:
        raise _Invalid(f"Use at least {spec.min_length} characters.")
    if spec.pattern is not None and re.fullmatch(spec.pattern, text) is None:
        raise _Invalid(spec.pattern_hint or "This does not have the expected format.")
    return text


def _clean_email(spec: FieldSpec, raw: object, *, check_deliverability: bool, **_: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _Invalid("Enter an email address.")
    text = raw.strip()
    if not text:
        return None
    if len(text) > MAX_EMAIL_LENGTH:
        raise _Invalid(f"An email address has at most {MAX_EMAIL_LENGTH} characters.")
    try:
        return validate_email(text, check_deliverability=check_deliverability).normalized
    except EmailNotValidError as exc:
        raise _Invalid(str(exc)) from None


def _clean_phone(spec: FieldSpec, raw: object, *, phone_region: str, **_: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _Invalid("Enter a phone number.")
    text = raw.strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, phone_region) if len(text) <= MAX_PHONE_LENGTH else None
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise _Invalid(f"Enter a valid phone number{_example_phone(phone_region)}.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _example_phone(region: str) -> str:
    example = phonenumbers.example_number(region)
    if example is None:
        return ", with its country code"
    return f", e.g. {phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)}"


def _clean_number(spec: FieldSpec, raw: object, **_: object) -> int | float | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
        raise _Invalid("Enter a number.")
    try:
        number = Decimal(raw.strip() if isinstance(raw, str) else str(raw))
    except InvalidOperation:
        raise _Invalid("Enter a number.") from None
    if not number.is_finite():
        raise _Invalid("Enter a number.")
    if abs(number) > MAX_NUMBER:
        raise _Invalid("This number is out of range.")
    # Safe only below MAX_NUMBER: quantize fails once the result needs more than Decimal's 28 digits.
    if number != number.quantize(Decimal(1).scaleb(-spec.decimals)):
        raise _Invalid("Enter a whole number." if spec.decimals == 0 else f"Use at most {spec.decimals} decimal places.")
    if spec.min_value is not None and number < Decimal(str(spec.min_value)):
        raise _Invalid(f"Enter {_plain(spec.min_value)} or more.")
    if spec.max_value is not None and number > Decimal(str(spec.max_value)):
        raise _Invalid(f"Enter {_plain(spec.max_value)} or less.")
    return int(number) if spec.decimals == 0 else float(number)


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _clean_single_choice(spec: FieldSpec, raw: object, **_: object) -> str | None:
    if raw is None or raw == "":
        return None
    if raw not in spec.options:
        raise _Invalid("Choose one of the options.")
    return raw  # type: ignore[return-value]


def _clean_multiple_choice(spec: FieldSpec, raw: object, **_: object) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, (list, tuple)) or not all(isinstance(entry, str) for entry in raw):
        raise _Invalid("Choose from the options.")
    if any(entry not in spec.options for entry in raw):
        raise _Invalid("Choose only from the options.")
    chosen = [option for option in spec.options if option in raw]
    return chosen or None


def _clean_checkbox(spec: FieldSpec, raw: object, **_: object) -> bool | None:
    if raw is None:
        raw = False
    if not isinstance(raw, bool):
        raise _Invalid("Tick the box or leave it empty.")
    if spec.required and not raw:
        raise _Invalid("Please tick this box to continue.")
    return raw


def _clean_date(spec: FieldSpec, raw: object, **_: object) -> str | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        day = raw.date()
    elif isinstance(raw, date):
        day = raw
    elif isinstance(raw, str):
        try:
            day = date.fromisoformat(raw.strip())
        except ValueError:
            raise _Invalid("Enter a date as YYYY-MM-DD.") from None
    else:
        raise _Invalid("Enter a date.")
    if spec.min_date and day < spec.min_date:
        raise _Invalid(f"Choose {spec.min_date.isoformat()} or later.")
    if spec.max_date and day > spec.max_date:
        raise _Invalid(f"Choose {spec.max_date.isoformat()} or earlier.")
    return day.isoformat()


def _clean_address(spec: FieldSpec, raw: object, errors: dict[str, str]) -> dict[str, str] | None:
    """Clean an address; a partly filled address needs every part, and errors go to `key.part`."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise _Invalid("Enter the address.")
    parts: dict[str, str] = {}
    for part, (label, longest) in ADDRESS_PARTS.items():
        value = raw.get(part)
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[f"{spec.key}.{part}"] = f"Enter the {label.lower()}."
            continue
        value = value.strip()
        if _CONTROL.search(value) or _LINE_BREAK.search(value):
            errors[f"{spec.key}.{part}"] = "Remove the line breaks or control characters."
        elif len(value) > longest:
            errors[f"{spec.key}.{part}"] = f"Use at most {longest} characters."
        elif part == "country" and spec.options and value and value not in spec.options:
            errors[f"{spec.key}.{part}"] = "Choose one of the countries we deliver to."
        parts[part] = value
    if any(f"{spec.key}.{part}" in errors for part in ADDRESS_PARTS):
        return None
    if not any(parts.values()) and not spec.required:
        return None
    for part in ADDRESS_PARTS:
        if not parts[part]:
            errors[f"{spec.key}.{part}"] = REQUIRED
    return None if any(f"{spec.key}.{part}" in errors for part in ADDRESS_PARTS) else parts


def _clean_items(
    spec: FieldSpec, raw: object, catalogue: Sequence[CatalogueItem], errors: dict[str, str]
) -> tuple[ChosenLine, ...]:
    """Clean the item picker's lines; quantities of the same variant add up; errors go to `key.item_key`."""
    if raw is None:
        raw = []
    if not isinstance(raw, (list, tuple)):
        errors[spec.key] = "Choose your items again."
        return ()
    items = {item.key: item for item in catalogue}
    quantities: dict[tuple[str, str], int] = {}
    for entry in raw:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("item"), str):
            errors[spec.key] = "Choose your items again."
            continue
        item = items.get(entry["item"])
        if item is None:
            errors[spec.key] = "One of the chosen items is no longer offered."
            continue
        where = f"{spec.key}.{item.key}"
        quantity = entry.get("quantity", 0)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 <= quantity <= MAX_QUANTITY:
            errors[where] = f"Enter a whole quantity from 0 to {item.max_per_order}."
            continue
        if quantity == 0:
            continue
        options = entry.get("options") or {}
        variant = item.variant_for(options) if isinstance(options, Mapping) else None
        if variant is None:
            errors[where] = f"Choose {', '.join(d.label.lower() for d in item.dimensions)} for {item.name}."
            continue
        if not variant.available:
            errors[where] = f"{item.name} ({variant.label}) is not available."
            continue
        quantities[(item.key, variant.key)] = quantities.get((item.key, variant.key), 0) + quantity
    for item in catalogue:
        total = sum(q for (item_key, _), q in quantities.items() if item_key == item.key)
        if total > item.max_per_order:
            errors.setdefault(f"{spec.key}.{item.key}", f"You can order at most {item.max_per_order} of {item.name}.")
    if spec.required and not quantities and not any(key.split(".")[0] == spec.key for key in errors):
        errors[spec.key] = "Choose at least one item."
    return tuple(ChosenLine(item_key, variant_key, quantity) for (item_key, variant_key), quantity in quantities.items())


_CLEANERS = {
    FieldType.SHORT_TEXT: _clean_text,
    FieldType.LONG_TEXT: _clean_text,
    FieldType.EMAIL: _clean_email,
    FieldType.PHONE: _clean_phone,
    FieldType.NUMBER: _clean_number,
    FieldType.SINGLE_CHOICE: _clean_single_choice,
    FieldType.MULTIPLE_CHOICE: _clean_multiple_choice,
    FieldType.CHECKBOX: _clean_checkbox,
    FieldType.DATE: _clean_date,
}


def format_answer(value: object) -> str:
    """A stored answer written out for people: Yes/No, lists and address parts joined with commas."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Mapping):
        return ", ".join(str(v) for v in value.values() if v not in (None, ""))
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)
