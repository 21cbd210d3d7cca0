"""Events as attendees see them: finding one by slug, whether it takes orders now, and its public face."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.auth import Actor, visible_events
from core.catalogue import CatalogueItem, load_catalogue
from core.errors import NotFound, SchemaError
from core.form_versions import current_form_version
from core.forms import FormSpec, parse_form_spec
from core.models import Event

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


class EventPhase(StrEnum):
    NOT_OPEN_YET = "not_open_yet"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class PublicEvent:
    """What the public page of an event shows; `form` and `catalogue` are set only while it is open."""

    slug: str
    title: str
    description: str
    accent_colour: str
    has_header_image: bool
    phase: EventPhase
    opens_at: datetime | None
    timezone: str
    closed_message: str
    form: FormSpec | None = None
    catalogue: tuple[CatalogueItem, ...] = ()

    def local_time(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.timezone))


def event_phase(event: Event, now: datetime) -> EventPhase:
    """Whether `event` takes orders at `now` (an unpublished event never does)."""
    if not event.published or (event.opens_at is not None and now < event.opens_at):
        return EventPhase.NOT_OPEN_YET
    if event.closes_at is not None and now >= event.closes_at:
        return EventPhase.CLOSED
    return EventPhase.OPEN


def get_published_event(session: Session, slug: object) -> Event:
    """The published event with this slug; raises NotFound for unknown, malformed and unpublished slugs alike."""
    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        raise NotFound("There is no event at this address.")
    event = session.scalars(select(Event).where(Event.slug == slug, Event.published)).first()
    if event is None:
        raise NotFound("There is no event at this address.")
    return event


def load_public_event(session: Session, slug: object, now: datetime) -> PublicEvent:
    """Everything the public page needs for `slug` at `now`.

    Raises NotFound for an unknown slug, and SchemaError when the stored form or catalogue is broken (the page
    tells the attendee the form is unavailable; the organiser sees the details in the builder).
    """
    event = get_published_event(session, slug)
    phase = event_phase(event, now)
    public = PublicEvent(
        slug=event.slug, title=event.title, description=event.description, accent_colour=event.accent_colour,
        has_header_image=event.header_image_type is not None, phase=phase, opens_at=event.opens_at,
        timezone=event.timezone, closed_message=event.closed_message,
    )
    if phase != EventPhase.OPEN:
        return public
    form = parse_form_spec(current_form_version(session, event).schema)
    return replace(public, form=form, catalogue=load_catalogue(session, event))


def get_header_image(session: Session, slug: str) -> tuple[bytes, str] | None:
    """The header image bytes and MIME type of a published event, if it has one."""
    event = get_published_event(session, slug)
    if event.header_image is None or event.header_image_type is None:
        return None
    return event.header_image, event.header_image_type


def create_event(session: Session, *, slug: str, title: str, **attributes: object) -> Event:
    """Create an event; raises SchemaError when the slug is malformed or taken."""
    if not SLUG.fullmatch(slug):
        raise SchemaError("The address name may use lower-case letters, digits and hyphens (not at either end).")
    if session.scalar(select(Event.id).where(Event.slug == slug)) is not None:
        raise SchemaError(f"The address name '{slug}' is already taken.")
    event = Event(slug=slug, title=title, **attributes)
    session.add(event)
    return event


@dataclass(frozen=True)
class EventSummary:
    id: int
    slug: str
    title: str
    archived: bool


def list_events(session: Session, actor: Actor, *, include_archived: bool = False) -> list[EventSummary]:
    """The events `actor` may see, newest first."""
    query = visible_events(actor)
    if not include_archived:
        query = query.where(Event.archived_at.is_(None))
    return [EventSummary(e.id, e.slug, e.title, e.archived_at is not None) for e in session.scalars(query)]
