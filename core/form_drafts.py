"""An event's form draft, kept in the database until it is saved or discarded, and the builder's operations on it.

Every operation checks `event.edit`, changes the draft in one go (core/form_builder.py has the rules) and writes
it at once, so the draft survives a reload and is the same in a second tab. Saves and discards are audited;
each change is not. Without a draft row the draft is the saved form; the first change starts a row from it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, Permission, require
from core.catalogue import CatalogueItem, load_catalogue
from core.errors import DomainError, NewerFormSaved, NotFound, SchemaError
from core.event_admin import get_event_for
from core.form_builder import (
    STARTER_FORM,
    Condition,
    Field,
    FieldRow,
    RemovedField,
    added,
    canonical,
    conditions_for,
    deleted,
    duplicated,
    edited,
    field_rows,
    fields_from_json,
    form_json,
    form_problem,
    moved,
    new_field,
    restored,
    template_field,
)
from core.form_versions import is_in_use, save_form
from core.forms import FieldType, FormSpec, parse_form_spec
from core.models import AuditEntry, Event, FormDraft, FormVersion, utcnow
from core.money import DEFAULT_CURRENCY


@dataclass(frozen=True)
class Draft:
    """What the builder shows of an event's form: the draft (or the saved form, when there is no draft)."""

    event_id: int
    slug: str
    timezone: str
    fields: tuple[Field, ...]
    rows: tuple[FieldRow, ...]
    spec: FormSpec | None  # the draft as a form, for the preview; None when empty or broken (see `problem`)
    problem: str
    catalogue: tuple[CatalogueItem, ...]  # items for the preview and conditions; with pictures from load_draft only
    saved_number: int | None  # the current saved version; None before the first save
    saved_in_use: bool  # orders use the saved version, so saving creates a new one
    saved_keys: frozenset[str]  # keys of the saved form: orders, exports and vendors know them
    changed: bool  # the draft differs from the saved form
    changed_by: str | None
    changed_at: datetime | None
    newer_version: int | None  # a version saved since the draft started, which saving would replace
    focus: str | None = None  # the field the operation that returned this draft added, changed or moved
    removed: RemovedField | None = None  # what delete_field took away, for undo
    currency: str = DEFAULT_CURRENCY  # the event's, for the preview's prices and total

    def field(self, key: str) -> Field:
        """The draft's field `key`; raises NotFound when it is gone."""
        found = next((f for f in self.fields if f.get("key") == key), None)
        if found is None:
            raise NotFound("That field is no longer in the draft; someone may have changed it in another tab.")
        return copy.deepcopy(found)

    def conditions(self, key: str) -> tuple[Condition, ...]:
        """What "show only if" may choose for the field `key`: earlier fields and their answers."""
        return conditions_for(self.fields, key, self.catalogue)


@dataclass(frozen=True)
class SavedForm:
    """The outcome of saving: the version now current, and the builder afresh (no draft)."""

    number: int
    previous_in_use: bool  # a new version was created because orders use the previous one
    draft: Draft


# --- reading ----------------------------------------------------------------------------------------------------


def load_draft(session: Session, actor: Actor, event_id: int) -> Draft:
    """The event's draft as the builder shows it; raises PermissionDenied or NotFound."""
    event = get_event_for(session, actor, event_id, Permission.EVENT_VIEW)
    return _view(session, event, session.get(FormDraft, event.id), load_catalogue(session, event))


def export_form_json(draft: Draft) -> tuple[str, str, bytes]:
    """The draft as a JSON file: (filename, mimetype, bytes)."""
    return f"form-{draft.slug}.json", "application/json", form_json(draft.fields).encode()


# --- operations -------------------------------------------------------------------------------------------------


def add_field_from_template(session: Session, actor: Actor, event_id: int, template: str) -> Draft:
    """Add the template's field (core.form_builder.TEMPLATES) at the end; the draft's focus is the new field."""
    def change(fields: list[Field], _: _Context) -> _Outcome:
        field = template_field(template, fields)
        return added(fields, field), field["key"], None
    return _change(session, actor, event_id, change)


def add_field_of_type(session: Session, actor: Actor, event_id: int, field_type: FieldType | str) -> Draft:
    """Add a new field of `field_type` at the end; the draft's focus is the new field."""
    def change(fields: list[Field], _: _Context) -> _Outcome:
        field = new_field(field_type, fields)
        return added(fields, field), field["key"], None
    return _change(session, actor, event_id, change)


def start_from_usual_form(session: Session, actor: Actor, event_id: int) -> Draft:
    """Fill an empty draft with the usual form: name, email, the items and a consent box (not saved yet)."""
    def change(fields: list[Field], _: _Context) -> _Outcome:
        if fields:
            raise DomainError("The usual form is offered only while the form is empty.")
        return [canonical(field) for field in STARTER_FORM["fields"]], None, None
    return _change(session, actor, event_id, change)


def update_field(session: Session, actor: Actor, event_id: int, key: str, values: Mapping[str, Any]) -> Draft:
    """Change the field `key` to `values` (attribute -> value; see core.form_builder.edited).

    Raises FormValidationError keyed by attribute, and then the draft keeps its last valid state. The draft's
    focus is the field's key, which a new label may have changed.
    """
    def change(fields: list[Field], context: _Context) -> _Outcome:
        result, new_key = edited(fields, key, values, catalogue=context.catalogue, fixed_keys=context.saved_keys)
        return result, new_key, None
    return _change(session, actor, event_id, change)


def move_field(session: Session, actor: Actor, event_id: int, key: str, offset: int) -> Draft:
    """Move the field one place up (offset -1) or down (+1); raises DomainError at the edges and where a
    condition would come before the field it waits for."""
    return _change(session, actor, event_id, lambda fields, _: (moved(fields, key, offset), key, None))


def duplicate_field(session: Session, actor: Actor, event_id: int, key: str) -> Draft:
    """Copy the field right below itself, under a new key; the draft's focus is the copy."""
    def change(fields: list[Field], _: _Context) -> _Outcome:
        result, copy_key = duplicated(fields, key)
        return result, copy_key, None
    return _change(session, actor, event_id, change)


def delete_field(session: Session, actor: Actor, event_id: int, key: str) -> Draft:
    """Remove the field; the draft's `removed` is what undo_delete needs. Refused while a condition waits for it."""
    def change(fields: list[Field], _: _Context) -> _Outcome:
        result, removed = deleted(fields, key)
        return result, None, removed
    return _change(session, actor, event_id, change)


def undo_delete(session: Session, actor: Actor, event_id: int, removed: RemovedField) -> Draft:
    """Put a deleted field back where it was; the draft's focus is that field."""
    def change(fields: list[Field], _: _Context) -> _Outcome:
        result, key = restored(fields, removed)
        return result, key, None
    return _change(session, actor, event_id, change)


def import_form_json(session: Session, actor: Actor, event_id: int, text: str | bytes) -> Draft:
    """Replace the draft's fields with a schema document given as JSON.

    Raises FormValidationError({"json": message}) naming what is wrong; then the draft is unchanged.
    """
    return _change(session, actor, event_id, lambda fields, _: (fields_from_json(text), None, None))


def discard_draft(session: Session, actor: Actor, event_id: int) -> Draft:
    """Drop the draft: the builder shows the saved form again. Audited as `form.draft_discarded`."""
    event = _event_for_edit(session, actor, event_id)
    row = session.get(FormDraft, event.id)
    if row is not None:
        current = _current_version(session, event)
        audit.record(session, actor, "form.draft_discarded", event=event, subject="form:draft",
                     details={"fields": len(row.document.get("fields") or []),
                              "saved_version": current.number if current else None})
        session.delete(row)
        session.flush()
    return _view(session, event, None, load_catalogue(session, event, images=False))


def save_draft(session: Session, actor: Actor, event_id: int, *, replace_newer: bool = False) -> SavedForm:
    """Store the draft as the event's form (in place, or as a new version once orders use the current one) and
    drop the draft. Audited as `form.saved`.

    Raises NewerFormSaved when a version was saved since the draft started, unless `replace_newer`; SchemaError
    when the draft is not a valid form; DomainError when there is no draft.
    """
    event = _event_for_edit(session, actor, event_id)
    row = session.get(FormDraft, event.id)
    if row is None:
        raise DomainError("There are no unsaved changes: the form is as saved.")
    current = _current_version(session, event)
    newer = _newer_version(row, current)
    if newer is not None and not replace_newer:
        raise NewerFormSaved(f"{_saved_by(session, event)} saved version {newer.number} of the form since this "
                             f"draft started. Save anyway to replace it with this draft, or discard the draft to "
                             f"start again from version {newer.number}.")
    fields = list(row.document.get("fields") or [])
    if not fields:
        raise SchemaError("Add at least one field before saving.")
    if current is not None and _same_form(fields, _saved_fields(current)):
        raise DomainError("There are no unsaved changes: the form is as saved.")
    previous_in_use = current is not None and is_in_use(session, current)
    version, spec = save_form(session, event, {"fields": fields})
    audit.record(session, actor, "form.saved", event=event, subject=f"form:{version.number}",
                 details={"version": version.number, "fields": [f.key for f in spec.fields],
                          "new_version": previous_in_use})
    session.delete(row)
    session.flush()
    draft = _view(session, event, None, load_catalogue(session, event, images=False))
    return SavedForm(number=version.number, previous_in_use=previous_in_use, draft=draft)


# --- the machinery ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    catalogue: tuple[CatalogueItem, ...]
    saved_keys: frozenset[str]


# The fields after a change, the field it concerns, and what a deletion removed.
_Outcome = tuple[list[Field], str | None, RemovedField | None]


def _change(session: Session, actor: Actor, event_id: int,
            change: Callable[[list[Field], _Context], _Outcome]) -> Draft:
    """Apply `change` to the draft (started from the saved form if there is none) and write it."""
    event = _event_for_edit(session, actor, event_id)
    current = _current_version(session, event)
    row = session.get(FormDraft, event.id)
    fields = copy.deepcopy(list(row.document.get("fields") or [])) if row else _saved_fields(current)
    catalogue = load_catalogue(session, event, images=False)
    result, focus, removed = change(fields, _Context(catalogue, _saved_keys(current)))
    if row is None:
        row = FormDraft(event_id=event.id, base_version_id=current.id if current else None)
        session.add(row)
    row.document = {"fields": result}  # a new dict: SQLAlchemy sees JSON changes by assignment only
    row.updated_by, row.updated_at = actor.username, utcnow()
    session.flush()
    return _view(session, event, row, catalogue, focus=focus, removed=removed)


def _event_for_edit(session: Session, actor: Actor, event_id: int) -> Event:
    """The event, locked for this transaction, so that two tabs' changes to its draft queue instead of clashing."""
    require(session, actor, Permission.EVENT_EDIT, event_id)
    event = session.get(Event, event_id, with_for_update=True)
    if event is None:
        raise NotFound("There is no such event.")
    return event


def _view(session: Session, event: Event, row: FormDraft | None, catalogue: Sequence[CatalogueItem], *,
          focus: str | None = None, removed: RemovedField | None = None) -> Draft:
    current = _current_version(session, event)
    saved = _saved_fields(current)
    fields = list(row.document.get("fields") or []) if row else saved
    problem = form_problem(fields)
    spec = parse_form_spec({"fields": fields}) if not problem else None
    newer = _newer_version(row, current) if row else None
    return Draft(
        event_id=event.id, slug=event.slug, timezone=event.timezone, currency=event.currency,
        fields=tuple(copy.deepcopy(fields)),
        rows=field_rows(fields, catalogue), spec=spec, problem=problem, catalogue=tuple(catalogue),
        saved_number=current.number if current else None,
        saved_in_use=current is not None and is_in_use(session, current), saved_keys=_saved_keys(current),
        changed=row is not None and not _same_form(fields, saved),
        changed_by=row.updated_by if row else None, changed_at=row.updated_at if row else None,
        newer_version=newer.number if newer else None, focus=focus, removed=removed,
    )


def _current_version(session: Session, event: Event) -> FormVersion | None:
    return session.scalars(select(FormVersion).where(FormVersion.event_id == event.id)
                           .order_by(FormVersion.number.desc()).limit(1)).first()


def _newer_version(row: FormDraft, current: FormVersion | None) -> FormVersion | None:
    """The current version when it is not the one the draft started from."""
    return current if current is not None and current.id != row.base_version_id else None


def _saved_fields(version: FormVersion | None) -> list[Field]:
    """The saved form's fields as the builder keeps them (a broken stored form is kept as it is, to repair)."""
    if version is None:
        return []
    fields = copy.deepcopy(list((version.schema or {}).get("fields") or []))
    if form_problem(fields):
        return fields
    return [canonical(field) for field in fields]


def _saved_keys(version: FormVersion | None) -> frozenset[str]:
    return frozenset(str(field.get("key")) for field in _saved_fields(version) if isinstance(field, dict))


def _same_form(fields: Sequence[Field], saved: Sequence[Field]) -> bool:
    if form_problem(fields) or form_problem(saved):
        return list(fields) == list(saved)
    return parse_form_spec({"fields": list(fields)}) == parse_form_spec({"fields": list(saved)})


def _saved_by(session: Session, event: Event) -> str:
    """Who saved the event's form last, as the audit log says; "Someone" when it does not."""
    actor = session.scalar(select(AuditEntry.actor).where(AuditEntry.event_id == event.id,
                                                          AuditEntry.action == "form.saved")
                           .order_by(AuditEntry.id.desc()).limit(1))
    return actor or "Someone"
