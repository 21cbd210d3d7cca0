"""The form builder: an event's form as a table of rows (one per field), and saving it as a form version.

A row is a flat dict with the columns in COLUMNS; `options` is one text (comma- or newline-separated) and
`show_if` is split into `show_if_field` and `show_if_value`. Rows are sorted by `position`; rows without a key
and a label are ignored (the empty rows a table editor adds). Problems are reported per row, as the organiser
sees the table: "Row 3 ('email')", counting every row from 1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, Permission
from core.catalogue import CatalogueItem, load_catalogue
from core.errors import NotFound, SchemaError
from core.event_admin import get_event_for
from core.form_versions import current_form_version, is_in_use, save_form
from core.forms import ALWAYS_PERSONAL, FieldType, FormSpec, parse_form_spec
from core.models import Event, FormVersion

TEXT_COLUMNS = ("key", "label", "type", "options", "help", "purpose", "min_date", "max_date", "pattern",
                "pattern_hint", "show_if_field", "show_if_value")
FLAG_COLUMNS = ("required", "personal")
WHOLE_COLUMNS = ("min_length", "max_length", "decimals")
VALUE_COLUMNS = ("min_value", "max_value")
# The order in which the table shows them.
COLUMNS = ("position", "key", "label", "type", "required", "options", "help", "personal", "purpose", "min_length",
           "max_length", "min_value", "max_value", "decimals", "min_date", "max_date", "pattern", "pattern_hint",
           "show_if_field", "show_if_value")
COLUMN_TITLES = {
    "position": "Position", "key": "Key", "label": "Label", "type": "Type", "required": "Required",
    "options": "Options", "help": "Help text", "personal": "Personal", "purpose": "Purpose",
    "min_length": "Min length", "max_length": "Max length", "min_value": "Min value", "max_value": "Max value",
    "decimals": "Decimals", "min_date": "Earliest date", "max_date": "Latest date", "pattern": "Pattern",
    "pattern_hint": "Pattern hint", "show_if_field": "Show if field", "show_if_value": "Show if value",
}
# core.forms.FieldKey's rule, checked here too so that the organiser reads it in words, not as a regex.
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_TRUE = frozenset({"", "true", "yes", "ticked", "checked", "1"})
_FALSE = frozenset({"false", "no", "unticked", "unchecked", "0"})
_SCHEMA_PREFIX = "The form schema is invalid. "
_PROBLEMS_PREFIX = "Please fix the form: "
PURPOSE_PREVIEW_LENGTH = 40


# --- rows <-> schema documents ------------------------------------------------------------------------------


def rows_from_form(spec: FormSpec) -> list[dict[str, Any]]:
    """The builder rows of a parsed form, positioned 1, 2, 3, ..."""
    return rows_from_document(spec.model_dump(mode="json", exclude_defaults=True))


def rows_from_document(document: object) -> list[dict[str, Any]]:
    """The builder rows of a stored schema document; lenient, so that a broken stored form can still be repaired."""
    fields = document.get("fields") if isinstance(document, Mapping) else None
    if not isinstance(fields, list):
        return []
    return [_row_from_field(raw, position) for position, raw in enumerate(fields, start=1) if isinstance(raw, Mapping)]


# What most events ask: a new event's builder offers it as a start, so nobody begins from an empty table.
STARTER_FORM: dict[str, Any] = {"fields": [
    {"key": "name", "type": "short_text", "label": "Full name", "required": True, "personal": True,
     "purpose": "To label your order and hand it to you.", "max_length": 100},
    {"key": "email", "type": "email", "label": "Email", "required": True,
     "purpose": "To send your confirmation and tell you about your order."},
    {"key": "items", "type": "items", "label": "What would you like?", "required": True},
    {"key": "consent", "type": "checkbox", "required": True,
     "label": "I agree that my details are used for this order and deleted after the event."},
]}


def starter_rows() -> list[dict[str, Any]]:
    """The builder rows of STARTER_FORM: name, email, the items and a consent box."""
    return rows_from_document(STARTER_FORM)


def blank_row(position: int | None = None) -> dict[str, Any]:
    """A row with every column empty."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(dict.fromkeys(TEXT_COLUMNS, ""), required=False, personal=False, position=position)
    return row


def _row_from_field(raw: Mapping[str, Any], position: int) -> dict[str, Any]:
    row = blank_row(position)
    for column in TEXT_COLUMNS:
        value = raw.get(column)
        row[column] = value if isinstance(value, str) else ""
    for column in WHOLE_COLUMNS + VALUE_COLUMNS:
        value = raw.get(column)
        row[column] = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    options = raw.get("options")
    if isinstance(options, (list, tuple)):
        texts = [str(option) for option in options]
        # Options that contain a comma can only be written one per line.
        row["options"] = "\n".join(texts) if any("," in text for text in texts) else ", ".join(texts)
    show_if = raw.get("show_if")
    if isinstance(show_if, Mapping):
        row["show_if_field"] = show_if.get("field") if isinstance(show_if.get("field"), str) else ""
        value = show_if.get("value")
        row["show_if_value"] = ("true" if value else "false") if isinstance(value, bool) else str(value or "")
    row["required"] = raw.get("required") is True
    # Email, phone and address are personal whatever the schema says; the table shows that.
    row["personal"] = raw.get("personal") is True or raw.get("type") in {t.value for t in ALWAYS_PERSONAL}
    return row


def form_document_from_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The schema document the rows describe, validated.

    Raises SchemaError listing every problem, each naming its row ("Row 3 ('email'): ...").
    """
    document, names = _document_from_rows(rows)
    _parse(document, names)
    return document


def form_from_rows(rows: Sequence[Mapping[str, Any]]) -> FormSpec:
    """The FormSpec the rows describe (for the preview); raises SchemaError like form_document_from_rows."""
    return _parse(*_document_from_rows(rows))


def _parse(document: dict[str, Any], names: Sequence[tuple[str, str]]) -> FormSpec:
    if not document["fields"]:
        raise SchemaError("Add at least one field: give a row a key, a label and a type.")
    try:
        return parse_form_spec(document)
    except SchemaError as exc:
        message = str(exc).removeprefix(_SCHEMA_PREFIX)
        # core.forms names fields by their place in the document ("Field 2 ('email')"); the organiser sees rows.
        for number, (key, where) in enumerate(names, start=1):
            message = message.replace(f"Field {number} ('{key}')", where)
        raise SchemaError(_PROBLEMS_PREFIX + message) from None


class _Problems:
    """The problems found in one row, each prefixed with where the row is."""

    def __init__(self, where: str):
        self.where = where
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(f"{self.where}: {message}")


@dataclass
class _Entry:
    """One non-empty row on its way into the document."""

    order: tuple[bool, float, int]
    field: dict[str, Any]
    where: str
    show_if: tuple[str, str] | None


def _document_from_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Convert rows into a document (not yet validated) and, per field in document order, (key, row name)."""
    problems: list[str] = []
    entries: list[_Entry] = []
    for number, row in enumerate(rows, start=1):
        key, label = _text(row.get("key")), _text(row.get("label"))
        if not key and not label:
            continue
        row_problems = _Problems(f"Row {number} ('{key}')" if key else f"Row {number}")
        field = _field_from_row(row, key, label, row_problems)
        position = _number(row.get("position"), "position", row_problems)
        target, value = _text(row.get("show_if_field")), _text(row.get("show_if_value"))
        if value and not target:
            row_problems.add("a show-if value needs a show-if field")
        problems.extend(row_problems.messages)
        # Rows without a position go last, in table order.
        order = (position is None, position if position is not None else 0.0, number)
        entries.append(_Entry(order, field, row_problems.where, (target, value) if target else None))
    entries.sort(key=lambda entry: entry.order)
    types = {entry.field["key"]: entry.field["type"] for entry in entries}
    for entry in entries:
        if entry.show_if is None:
            continue
        target, value = entry.show_if
        shown_when = _show_if_value(types.get(target), value)
        if shown_when is None:
            problems.append(f"{entry.where}: a checkbox show-if value is 'true' or 'false'" if value
                            else f"{entry.where}: give the show-if value (an option of '{target}', or an item key)")
        else:
            entry.field["show_if"] = {"field": target, "value": shown_when}
    if problems:
        raise SchemaError(_PROBLEMS_PREFIX + "; ".join(problems))
    return {"fields": [entry.field for entry in entries]}, [(entry.field["key"], entry.where) for entry in entries]


def _field_from_row(row: Mapping[str, Any], key: str, label: str, problems: _Problems) -> dict[str, Any]:
    field: dict[str, Any] = {"key": key, "type": _text(row.get("type")), "label": label}
    if not key:
        problems.add("give the field a key")
    elif not _KEY.fullmatch(key):
        problems.add("the key must start with a lower-case letter and use only lower-case letters, digits and _ "
                     "(at most 40)")
    if not label:
        problems.add("give the field a label")
    try:
        field_type: FieldType | None = FieldType(field["type"])
    except ValueError:
        field_type = None
        problems.add(f"choose a type ({', '.join(t.value for t in FieldType)})" if not field["type"]
                     else f"'{field['type']}' is not a field type")
    if _flag(row.get("required"), "required", problems):
        field["required"] = True
    if _flag(row.get("personal"), "personal", problems) and field_type not in ALWAYS_PERSONAL:
        field["personal"] = True
    for column in ("help", "purpose", "pattern_hint"):
        if text := _text(row.get(column)):
            field[column] = text
    if options := _options(row.get("options")):
        field["options"] = options
    for column in WHOLE_COLUMNS:
        whole = _whole(row.get(column), column, problems)
        if whole is not None and not (column == "decimals" and whole == 0):
            field[column] = whole
    for column in VALUE_COLUMNS:
        number = _number(row.get(column), column, problems)
        if number is not None:
            field[column] = int(number) if number.is_integer() else number
    for column in ("min_date", "max_date"):
        if text := _text(row.get(column)):
            try:
                field[column] = date.fromisoformat(text).isoformat()
            except ValueError:
                problems.add(f"{COLUMN_TITLES[column].lower()} must be a date like 2027-06-30")
    pattern = row.get("pattern")
    if isinstance(pattern, str) and pattern.strip():
        field["pattern"] = pattern  # spaces may matter in a regular expression
    return field


def _show_if_value(target_type: object, value: str) -> str | bool | None:
    """The stored show_if value; a checkbox target takes true/false (blank means ticked). None if unusable."""
    if target_type == FieldType.CHECKBOX.value:
        lowered = value.casefold()
        return True if lowered in _TRUE else False if lowered in _FALSE else None
    return value or None


def _missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, bytes, list, tuple, dict, set)):
        return False
    return bool(pd.isna(value))  # NaN, pd.NA and NaT from a table editor


def _text(value: object) -> str:
    if _missing(value):
        return ""
    return value.strip() if isinstance(value, str) else str(value).strip()


def _options(value: object) -> list[str]:
    text = _text(value)
    parts = text.splitlines() if "\n" in text else text.split(",")
    return [part.strip() for part in parts if part.strip()]


def _flag(value: object, column: str, problems: _Problems) -> bool:
    if _missing(value):
        return False
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    problems.add(f"{COLUMN_TITLES[column].lower()} is either ticked or not")
    return False


def _number(value: object, column: str, problems: _Problems) -> float | None:
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = math.nan if isinstance(value, bool) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        problems.add(f"{COLUMN_TITLES[column].lower()} must be a number")
        return None
    return number


def _whole(value: object, column: str, problems: _Problems) -> int | None:
    number = _number(value, column, problems)
    if number is None:
        return None
    if not number.is_integer():
        problems.add(f"{COLUMN_TITLES[column].lower()} must be a whole number")
        return None
    return int(number)


# --- the table as a DataFrame, for st.data_editor ---------------------------------------------------------------


def rows_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The rows as a DataFrame with one typed column per COLUMNS entry (so that an empty column is still editable)."""
    def column(name: str) -> list[Any]:
        return [None if _missing(row.get(name)) else row.get(name) for row in rows]

    data: dict[str, pd.Series] = {}
    for name in COLUMNS:
        if name in TEXT_COLUMNS:
            data[name] = pd.Series([_text(value) for value in column(name)], dtype="string")
        elif name in FLAG_COLUMNS:
            data[name] = pd.Series([value is True for value in column(name)], dtype="boolean")
        elif name in WHOLE_COLUMNS:
            data[name] = pd.Series(_numbers(column(name), whole=True), dtype="Int64")
        else:
            data[name] = pd.Series(_numbers(column(name), whole=False), dtype="Float64")
    return pd.DataFrame(data, columns=list(COLUMNS))


def _numbers(values: Sequence[Any], *, whole: bool) -> list[Any]:
    # A value that is not a number stays visible as missing; form_document_from_rows reports bad input.
    converted: list[Any] = []
    for value in values:
        try:
            number = float(value) if value is not None and not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is not None and (not math.isfinite(number) or (whole and not number.is_integer())):
            number = None
        converted.append(None if number is None else int(number) if whole else number)
    return converted


def rows_from_frame(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of an edited table as plain dicts; missing cells become None."""
    return [{name: (None if _missing(record.get(name)) else record.get(name)) for name in COLUMNS}
            for record in frame.to_dict("records")]


# --- what the organiser reads -----------------------------------------------------------------------------------


def personal_data_surface(spec: FormSpec) -> str:
    """One line naming every personal field of the form and why it is collected."""
    fields = spec.personal_fields
    if not fields:
        return "Personal data collected: none."
    parts = [f"{field.label} ({_shortened(field.purpose.strip().rstrip('.'))})" for field in fields]
    count = f"{len(fields)} field{'s' if len(fields) != 1 else ''}"
    # Every personal field states its purpose: FieldSpec refuses one that does not.
    return f"Personal data collected: {', '.join(parts)} — {count}; every one states its purpose."


def _shortened(text: str) -> str:
    return text if len(text) <= PURPOSE_PREVIEW_LENGTH else text[:PURPOSE_PREVIEW_LENGTH - 1].rstrip() + "…"


# --- loading and saving -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventForm:
    """An event's current form as the builder shows it, with the catalogue its preview needs."""

    rows: list[dict[str, Any]]
    spec: FormSpec | None  # None before the first save, or when the stored form is broken (see `problem`)
    number: int | None  # the current version; None before the first save
    in_use: bool  # orders were placed with the current version, so saving creates a new one
    problem: str  # why the stored form does not parse; "" when it does
    catalogue: tuple[CatalogueItem, ...]


@dataclass(frozen=True)
class SavedForm:
    """The outcome of saving: the version now current, and the form as the table shows it afresh."""

    number: int
    spec: FormSpec
    rows: list[dict[str, Any]]
    previous_in_use: bool  # a new version was created because orders use the previous one


def load_event_form(session: Session, actor: Actor, event_id: int) -> EventForm:
    """The current form of an event as builder rows, with its version; raises PermissionDenied or NotFound."""
    event = get_event_for(session, actor, event_id, Permission.EVENT_VIEW)
    catalogue = load_catalogue(session, event)
    version = _current_version(session, event)
    if version is None:
        return EventForm(rows=[], spec=None, number=None, in_use=False, problem="", catalogue=catalogue)
    in_use = is_in_use(session, version)
    try:
        spec = parse_form_spec(version.schema)
    except SchemaError as exc:
        return EventForm(rows=rows_from_document(version.schema), spec=None, number=version.number, in_use=in_use,
                         problem=str(exc), catalogue=catalogue)
    return EventForm(rows=rows_from_form(spec), spec=spec, number=version.number, in_use=in_use, problem="",
                     catalogue=catalogue)


def save_event_form(
    session: Session, actor: Actor, event_id: int, rows: Sequence[Mapping[str, Any]]
) -> SavedForm:
    """Store the rows as the event's form: in place, or as a new version once orders use the current one.

    Raises PermissionDenied, NotFound, or SchemaError naming the bad rows (and then changes nothing).
    """
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    document = form_document_from_rows(rows)
    previous = _current_version(session, event)
    previous_in_use = previous is not None and is_in_use(session, previous)
    version, spec = save_form(session, event, document)
    audit.record(session, actor, "form.saved", event=event, subject=f"form:{version.number}",
                 details={"version": version.number, "fields": [field.key for field in spec.fields],
                          "new_version": previous_in_use})
    return SavedForm(number=version.number, spec=spec, rows=rows_from_form(spec), previous_in_use=previous_in_use)


def _current_version(session: Session, event: Event) -> FormVersion | None:
    try:
        return current_form_version(session, event)
    except NotFound:
        return None
