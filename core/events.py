"""Events as attendees meet them: the published event behind an address, its public page, whether it takes
orders now (`event_phase`), its header image, and the time-zone helpers organisers' screens use too.

Organisers create, edit, publish and archive events through core/event_admin.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from core.catalogue import CatalogueItem, load_catalogue
from core.errors import NotFound, SchemaError
from core.form_versions import current_form
from core.forms import FormSpec
from core.models import Event
from core.money import DEFAULT_CURRENCY

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
    # Closed because everything sold out (the event asked for that), rather than by its dates.
    sold_out: bool = False
    # ISO 4217 code of every price and total on the page.
    currency: str = DEFAULT_CURRENCY

    def local_time(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.timezone))


def event_phase(event: Event, now: datetime) -> EventPhase:
    """Whether `event` takes orders at `now` (an unpublished event never does).

    An event set to close when sold out is closed once `sold_out_at` is set (by the order that took the last
    unit, or by the tick). A purged event is closed for good: new orders would start its personal data again.
    """
    if event.purged_at is not None:
        return EventPhase.CLOSED
    if not event.published or (event.opens_at is not None and now < event.opens_at):
        return EventPhase.NOT_OPEN_YET
    if event.closes_at is not None and now >= event.closes_at:
        return EventPhase.CLOSED
    if event.close_when_sold_out and event.sold_out_at is not None and now >= event.sold_out_at:
        return EventPhase.CLOSED
    return EventPhase.OPEN


# Built once: the public page and every order load the event by its slug, and building this statement (its
# comparisons and cache key) took two thirds of the call (bench/README.md, "Placing orders").
_PUBLISHED_EVENT = select(Event).where(Event.slug == bindparam("slug"), Event.published)


def get_published_event(session: Session, slug: object) -> Event:
    """The published event with this slug; raises NotFound for unknown, malformed and unpublished slugs alike."""
    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        raise NotFound("There is no event at this address.")
    event = session.scalars(_PUBLISHED_EVENT, {"slug": slug}).first()
    if event is None:
        raise NotFound("There is no event at this address.")
    return event


def load_public_event(session: Session, slug: object, now: datetime) -> PublicEvent:
    """Everything the public page needs for `slug` at `now`.

    Raises NotFound for an unknown slug, and SchemaError when the stored form or catalogue is broken (the page
    tells the attendee the form is unavailable; the organiser sees the details in the builder).
    """
    event = get_published_event(session, slug)
    return public_event(session, event, event_phase(event, now), now)


def public_event(session: Session, event: Event, phase: EventPhase, now: datetime) -> PublicEvent:
    """The public page of `event` in `phase` (its real one, or OPEN for an organiser's preview); raises SchemaError
    as `load_public_event` does."""
    public = PublicEvent(
        slug=event.slug, title=event.title, description=event.description, accent_colour=event.accent_colour,
        has_header_image=event.header_image_type is not None, phase=phase, opens_at=event.opens_at,
        timezone=event.timezone, closed_message=event.closed_message, currency=event.currency,
        sold_out=phase == EventPhase.CLOSED and event.close_when_sold_out and event.sold_out_at is not None
        and (event.closes_at is None or now < event.closes_at),
    )
    if phase != EventPhase.OPEN:
        return public
    try:
        _, form = current_form(session, event.id)  # parsed once per version (core/form_versions.py)
    except NotFound:
        # Published before its form was built: the page says "not available", not "no such event".
        raise SchemaError("This event has no order form yet.") from None
    return replace(public, form=form, catalogue=load_catalogue(session, event))


def get_header_image(session: Session, slug: str) -> tuple[bytes, str] | None:
    """The header image bytes and MIME type of a published event, if it has one."""
    event = get_published_event(session, slug)
    if event.header_image is None or event.header_image_type is None:
        return None
    return event.header_image, event.header_image_type


# --- The public page's colours, and time zones ---------------------------------------------------------------

# Validated before it is ever written into the public page's CSS.
ACCENT_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def readable_text_colour(background: str) -> str:
    """Black or white, whichever reads better on the #rrggbb `background` (WCAG relative luminance)."""
    if not ACCENT_COLOUR.fullmatch(background):
        raise ValueError("background must be #rrggbb")
    channels = [int(background[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    # Contrast with white is (1.05)/(L+0.05), with black (L+0.05)/0.05; they are equal at L ≈ 0.179.
    return "#000000" if luminance > 0.179 else "#ffffff"


@cache
def timezone_names() -> tuple[str, ...]:
    """Every IANA time zone name this system knows, sorted."""
    return tuple(sorted(available_timezones()))


def local_to_utc(local: datetime, timezone: str) -> datetime:
    """The UTC instant of the naive wall-clock time `local` in `timezone`.

    A time that occurs twice (clocks go back) means its first occurrence; a time skipped when clocks go
    forward moves later by the gap (PEP 495, fold=0). Raises SchemaError for an unknown time zone.
    """
    if local.tzinfo is not None:
        raise ValueError("local_to_utc takes a naive wall-clock time")
    return local.replace(tzinfo=_zone(timezone)).astimezone(UTC)


def local_moment(day: date | None, at: time | None, timezone: str) -> datetime | None:
    """The UTC instant of a date and time picked in `timezone`; no date means no moment, no time means midnight.

    Raises SchemaError for a time without a date, and for an unknown time zone.
    """
    if day is None:
        if at is not None:
            raise SchemaError("Choose a date as well as a time.")
        return None
    return local_to_utc(datetime.combine(day, at or time(0)), timezone)


def utc_to_local(moment: datetime, timezone: str) -> datetime:
    """The naive wall-clock time in `timezone` of the aware instant `moment`."""
    return moment.astimezone(_zone(timezone)).replace(tzinfo=None)


def _zone(timezone: str) -> ZoneInfo:
    if timezone not in timezone_names():
        raise SchemaError(f"Unknown time zone '{timezone}'.")
    return ZoneInfo(timezone)
