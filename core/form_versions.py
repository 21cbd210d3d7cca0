"""Stored form schemas: the current version of an event's form, and saving a new one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, bindparam, cast, exists, func, select
from sqlalchemy.orm import Session

from core.db import transaction_connection
from core.errors import NotFound
from core.forms import FormSpec, parse_form_spec, parse_stored_form
from core.models import Event, FormVersion, Order

_FORM_VERSIONS = FormVersion.__table__
# Built once (it runs for every order and every script run of the public form). The schema comes as its stored
# JSON text, the key of `forms.parse_stored_form`'s cache.
_CURRENT_FORM = (
    select(_FORM_VERSIONS.c.id, cast(_FORM_VERSIONS.c.schema, Text).label("schema"))
    .where(_FORM_VERSIONS.c.event_id == bindparam("event_id"))
    .order_by(_FORM_VERSIONS.c.number.desc()).limit(1))


def current_form_version(session: Session, event: Event) -> FormVersion:
    """The newest form version of `event`; raises NotFound when the event has no form yet."""
    version = session.scalars(
        select(FormVersion).where(FormVersion.event_id == event.id).order_by(FormVersion.number.desc()).limit(1)
    ).first()
    if version is None:
        raise NotFound("This event has no order form yet.")
    return version


def current_form(session: Session, event_id: int) -> tuple[int, FormSpec]:
    """The id and the parsed form of the event's newest version; raises NotFound when it has none.

    `current_form_version` without loading a FormVersion, parsed once per version and content: the parse is
    cached by the stored text, so a new version, or an unused one edited in place, is parsed anew.
    """
    found = transaction_connection(session).execute(_CURRENT_FORM, {"event_id": event_id}).first()
    if found is None:
        raise NotFound("This event has no order form yet.")
    return found.id, parse_stored_form(found.schema)


def save_form(session: Session, event: Event, document: dict[str, Any]) -> tuple[FormVersion, FormSpec]:
    """Validate `document` and store it as the event's form.

    The current version is edited in place while no order uses it; otherwise a new version is created, so
    every order keeps the form it was placed with. Raises SchemaError naming the bad field.
    """
    spec = parse_form_spec(document)
    latest = session.scalars(
        select(FormVersion).where(FormVersion.event_id == event.id).order_by(FormVersion.number.desc()).limit(1)
    ).first()
    if latest is not None and not is_in_use(session, latest):
        latest.schema = document
        return latest, spec
    number = (session.scalar(select(func.max(FormVersion.number)).where(FormVersion.event_id == event.id)) or 0) + 1
    version = FormVersion(event=event, number=number, schema=document)
    session.add(version)
    return version, spec


def is_in_use(session: Session, version: FormVersion) -> bool:
    """Whether an order was placed with `version` (which makes it immutable)."""
    return bool(session.scalar(select(exists().where(Order.form_version_id == version.id))))
