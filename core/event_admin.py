"""Events for organisers: creating, listing, editing, publishing and archiving them, their state on the
dashboard, their settings page, and who organises each.

What attendees see of an event (its public page, whether it takes orders) and the time-zone helpers both sides
use are core/events.py's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time
from enum import Enum, StrEnum
from typing import Final

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, Permission, require, require_actor, visible_events
from core.codes import PublicCodeRules, public_code_rules
from core.errors import DomainError, EventValidationError, NotFound, PermissionDenied, SchemaError
from core.events import (
    ACCENT_COLOUR,
    SLUG,
    EventPhase,
    PublicEvent,
    event_phase,
    local_moment,
    public_event,
    timezone_names,
    utc_to_local,
)
from core.images import prepare_image
from core.models import Event, EventMember, Order, User, utcnow
from core.money import DEFAULT_CURRENCY, currency_problem

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 20_000
CLOSED_MESSAGE_MAX_LENGTH = 2_000
RETENTION_DAYS_MAX = 3650
SLUG_MAX_LENGTH = 64
_SLUG_RULE = "Use lower-case letters, digits and hyphens (not at either end), at most 64 characters."


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


class EventState(StrEnum):
    """Where an event stands for its organisers."""

    DRAFT = "draft"  # not published
    SCHEDULED = "scheduled"  # published, orders not open yet
    OPEN = "open"
    CLOSED = "closed"  # orders closed; attendees may still change theirs until the change deadline
    FULFILMENT = "fulfilment"  # closed and past the change deadline: the orders are final, vendors deliver
    PURGED = "purged"  # attendees' personal data destroyed; the event and its anonymous counts stay
    ARCHIVED = "archived"


def event_state(event: Event, now: datetime) -> EventState:
    """The event's state at `now`: archived first (it leaves the everyday lists), then purged, then its dates.

    Closed without a change deadline still ahead is fulfilment at once: nothing can change any more.
    """
    if event.archived_at is not None:
        return EventState.ARCHIVED
    if event.purged_at is not None:
        return EventState.PURGED
    if not event.published:
        return EventState.DRAFT
    phase = event_phase(event, now)
    if phase != EventPhase.CLOSED:
        return EventState.SCHEDULED if phase == EventPhase.NOT_OPEN_YET else EventState.OPEN
    if event.change_deadline is not None and now < event.change_deadline:
        return EventState.CLOSED
    return EventState.FULFILMENT


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET


@dataclass(frozen=True)
class EventChanges:
    """The settings to change; a field left UNSET keeps its value, None clears a date.

    Datetimes must be timezone-aware (`local_to_utc` turns the page's wall-clock times into UTC).
    """

    slug: str | _Unset = UNSET
    title: str | _Unset = UNSET
    description: str | _Unset = UNSET
    accent_colour: str | _Unset = UNSET
    timezone: str | _Unset = UNSET
    phone_region: str | _Unset = UNSET
    currency: str | _Unset = UNSET
    opens_at: datetime | None | _Unset = UNSET
    closes_at: datetime | None | _Unset = UNSET
    closed_message: str | _Unset = UNSET
    ends_at: datetime | None | _Unset = UNSET
    retention_days: int | _Unset = UNSET
    change_deadline: datetime | None | _Unset = UNSET
    vendor_cutoff_at: datetime | None | _Unset = UNSET
    close_when_sold_out: bool | _Unset = UNSET
    one_order_per_email: bool | _Unset = UNSET

    def given(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not UNSET}


@dataclass(frozen=True)
class Member:
    username: str
    display_name: str


@dataclass(frozen=True)
class EventSettings:
    """An event as its settings page shows it; datetimes are UTC, `local()` gives the event's wall-clock time."""

    id: int
    slug: str
    title: str
    description: str
    accent_colour: str
    timezone: str
    phone_region: str
    published: bool
    opens_at: datetime | None
    closes_at: datetime | None
    closed_message: str
    ends_at: datetime | None
    retention_days: int
    change_deadline: datetime | None
    archived_at: datetime | None
    state: EventState
    header_image: bytes | None
    header_image_type: str | None
    members: tuple[Member, ...]
    close_when_sold_out: bool = False
    one_order_per_email: bool = False
    currency: str = DEFAULT_CURRENCY
    vendor_cutoff_at: datetime | None = None  # batch vendors get their list then (core/vendor_batches.py)

    def local(self, moment: datetime | None) -> datetime | None:
        return _local_or_none(moment, self.timezone)


@dataclass(frozen=True)
class EventRow:
    """One line of the organiser's list of events; times are wall-clock times in the event's time zone."""

    id: int
    title: str
    slug: str
    state: EventState
    opens: datetime | None
    closes: datetime | None
    timezone: str


def phone_regions() -> tuple[str, ...]:
    """Region codes that phone numbers can be read for (GB, DE, ...), sorted."""
    return tuple(sorted(phonenumbers.SUPPORTED_REGIONS))


def _local_or_none(moment: datetime | None, timezone: str) -> datetime | None:
    return None if moment is None else utc_to_local(moment, timezone)


def get_event_for(session: Session, actor: Actor, event_id: int, permission: Permission) -> Event:
    """The event, once `actor` holds `permission` for it; raises PermissionDenied, then NotFound.

    Permission comes first, so that an organiser cannot learn which ids exist.
    """
    require(session, actor, permission, event_id)
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound("There is no such event.")
    return event


@dataclass(frozen=True)
class EventPreview:
    """An event's public page as attendees will see it once it is open, for its organisers only."""

    event: PublicEvent
    header_image: tuple[bytes, str] | None
    code_rules: PublicCodeRules


def preview_event(session: Session, actor: Actor, slug: object, now: datetime | None = None) -> EventPreview:
    """The public page of the event at `slug`, published or not, drawn as when it takes orders.

    Raises PermissionDenied without an actor, NotFound for an unknown slug and for an event `actor` may not see (so
    a preview link tells a stranger no more than the public page does), SchemaError as `events.load_public_event`.
    Orders stay refused by `orders.place_order` whatever a preview shows.
    """
    actor = require_actor(actor)
    event_id = session.scalar(select(Event.id).where(Event.slug == slug)) if isinstance(slug, str) else None
    try:
        event = get_event_for(session, actor, event_id or 0, Permission.EVENT_VIEW)
    except (PermissionDenied, NotFound):
        raise NotFound("There is no event at this address.") from None
    image = (event.header_image, event.header_image_type) if event.header_image and event.header_image_type else None
    return EventPreview(public_event(session, event, EventPhase.OPEN, now or utcnow()), image,
                        public_code_rules(session, event))


def create_event_for(session: Session, actor: Actor, *, slug: str, title: str) -> Event:
    """Create a draft event with `actor` as its first organiser; raises EventValidationError naming the field."""
    event = new_draft_event(session, actor, slug=slug, title=title)
    audit.record(session, actor, "event.created", event=event, subject=f"event:{event.slug}")
    return event


def new_draft_event(session: Session, actor: Actor, *, slug: str, title: str) -> Event:
    """A draft event with `actor` as its first organiser, not audited (the caller says how it came about).

    Raises EventValidationError naming the field.
    """
    require(session, actor, Permission.EVENTS_CREATE)
    slug, title = slug.strip(), title.strip()
    errors = {name: message for name, message in (("slug", _slug_problem(session, slug, None)),
                                                  ("title", _title_problem(title))) if message}
    if errors:
        raise EventValidationError(errors)
    try:
        # A savepoint: on PostgreSQL two organisers may claim the same slug at once; the loser gets a field error.
        with session.begin_nested():
            event = create_event(session, slug=slug, title=title)
            session.flush()
            session.add(EventMember(event_id=event.id, user_id=actor.user_id))
    except IntegrityError:
        raise EventValidationError({"slug": _slug_taken(slug)}) from None
    return event


def slugify(title: str) -> str:
    """An address name made from a title: "Summer Meetup 2027!" -> "summer-meetup-2027" ("" if nothing is left)."""
    # Apostrophes join their word ("Alice's" -> "alices"); accents fall off their letters ("Café" -> "cafe").
    ascii_title = unicodedata.normalize("NFKD", re.sub("['\u2019]", "", title)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:SLUG_MAX_LENGTH].strip("-")


def suggest_slug(session: Session, title: str) -> str:
    """A free address name for `title`: its slug, or the slug with the next free "-2", "-3", ... ("" for a title
    without a letter or digit)."""
    base = slugify(title)
    if not base:
        return ""
    taken = set(session.scalars(select(Event.slug).where(
        (Event.slug == base) | Event.slug.startswith(base[:SLUG_MAX_LENGTH - 4] + "-", autoescape=True))))
    number = 1
    candidate = base
    while candidate in taken:
        number += 1
        suffix = f"-{number}"
        candidate = base[:SLUG_MAX_LENGTH - len(suffix)].rstrip("-") + suffix
    return candidate


def moments_from_local(picked: Mapping[str, tuple[date | None, time | None]], timezone: str,
                       ) -> dict[str, datetime | None]:
    """The UTC instants of the dates and times picked in `timezone` for the date settings (`opens_at`, ...);
    no date means no moment, no time means midnight. Raises EventValidationError naming each bad one."""
    moments: dict[str, datetime | None] = {}
    errors: dict[str, str] = {}
    for name, (day, at) in picked.items():
        try:
            moments[name] = local_moment(day, at, timezone)
        except DomainError as exc:
            errors[name] = str(exc)
    if errors:
        raise EventValidationError(errors)
    return moments


def _differs(stored: object, value: object) -> bool:
    # Times are edited to the minute: a stored time with seconds (set from the shell, or the demo's) is unchanged
    # by a form that shows the same minute, so saving a page unchanged never moves a date.
    if isinstance(stored, datetime) and isinstance(value, datetime):
        return stored.replace(second=0, microsecond=0) != value.replace(second=0, microsecond=0)
    return stored != value


def update_event(session: Session, actor: Actor, event_id: int, changes: EventChanges) -> tuple[str, ...]:
    """Apply `changes` and return the names of the settings that really changed.

    Raises EventValidationError mapping each bad setting to its message; nothing is changed then. Rules
    between dates are checked only when one of the dates involved is being changed.
    """
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    clean, errors = _clean_changes(session, event, changes.given())
    if errors:
        raise EventValidationError(errors)
    changed = tuple(name for name, value in clean.items() if _differs(getattr(event, name), value))
    if not changed:
        return changed
    try:
        with session.begin_nested():
            for name in changed:
                setattr(event, name, clean[name])
            if "close_when_sold_out" in changed:
                event.sold_out_at = None  # a sold-out close of before must not linger to close it later
    except IntegrityError:
        raise EventValidationError({"slug": _slug_taken(str(clean.get("slug")))}) from None
    audit.record(session, actor, "event.updated", event=event, subject=f"event:{event.slug}",
                 details={"fields": list(changed)})
    return changed


def _clean_changes(session: Session, event: Event, given: Mapping[str, object]) -> tuple[dict[str, object],
                                                                                          dict[str, str]]:
    clean: dict[str, object] = {}
    errors: dict[str, str] = {}

    def check(name: str, problem: str | None, value: object) -> None:
        if problem:
            errors[name] = problem
        else:
            clean[name] = value

    for name, value in given.items():
        if name in ("slug", "title", "description", "accent_colour", "timezone", "phone_region", "currency",
                    "closed_message") and not isinstance(value, str):
            errors[name] = "Enter some text."
        elif name == "slug":
            slug = str(value).strip()
            check(name, _slug_problem(session, slug, event.id), slug)
        elif name == "title":
            title = str(value).strip()
            check(name, _title_problem(title), title)
        elif name == "description":
            check(name, _length_problem(str(value), DESCRIPTION_MAX_LENGTH), value)
        elif name == "closed_message":
            check(name, _length_problem(str(value), CLOSED_MESSAGE_MAX_LENGTH), str(value).strip())
        elif name == "accent_colour":
            ok = ACCENT_COLOUR.fullmatch(str(value))
            check(name, None if ok else "Use a colour such as #3b5bdb.", str(value).lower())
        elif name == "timezone":
            check(name, None if value in timezone_names() else "Choose a time zone from the list.", value)
        elif name == "phone_region":
            ok = value in phonenumbers.SUPPORTED_REGIONS
            check(name, None if ok else "Choose a region code such as GB.", value)
        elif name == "currency":
            check(name, currency_problem(value) or _currency_locked(session, event, value), value)
        elif name in ("close_when_sold_out", "one_order_per_email"):
            check(name, None if isinstance(value, bool) else "Either on or off.", value)
        elif name == "retention_days":
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= RETENTION_DAYS_MAX
            check(name, None if ok else f"Use a whole number of days from 0 to {RETENTION_DAYS_MAX}.", value)
        elif value is None:
            clean[name] = None
        elif isinstance(value, datetime) and value.tzinfo is not None:
            clean[name] = value.astimezone(UTC)
        else:
            errors[name] = "Give a date and time with a time zone."
    for name, problem in _date_order_problems(event, clean, given).items():
        errors.setdefault(name, problem)
    return clean, errors


def _date_order_problems(event: Event, clean: Mapping[str, object], given: Mapping[str, object]) -> dict[str, str]:
    def moment(name: str) -> datetime | None:
        value = clean[name] if name in clean else getattr(event, name)
        return value if isinstance(value, datetime) else None

    opens, closes, ends, deadline, cutoff = (moment(n) for n in ("opens_at", "closes_at", "ends_at", "change_deadline",
                                                                   "vendor_cutoff_at"))
    rules = [
        ("closes_at", ("opens_at", "closes_at"), opens and closes and closes <= opens,
         "Orders must close after they open."),
        ("ends_at", ("closes_at", "ends_at"), closes and ends and ends < closes,
         "The event cannot end before orders close (personal data is deleted counting from its end)."),
        ("change_deadline", ("opens_at", "change_deadline"), opens and deadline and deadline < opens,
         "The change deadline cannot be before orders open."),
        ("change_deadline", ("ends_at", "change_deadline"), ends and deadline and deadline > ends,
         "The change deadline cannot be after the event ends."),
        # Before orders open there is nothing to send; after the event ends the personal data may already be gone.
        ("vendor_cutoff_at", ("opens_at", "vendor_cutoff_at"), opens and cutoff and cutoff < opens,
         "Vendor lists cannot be sent before orders open."),
        ("vendor_cutoff_at", ("ends_at", "vendor_cutoff_at"), ends and cutoff and cutoff > ends,
         "Vendor lists must be sent before the event ends."),
    ]
    return {name: message for name, involved, broken, message in reversed(rules)
            if broken and any(n in given for n in involved)}


def _currency_locked(session: Session, event: Event, currency: object) -> str | None:
    """Why the currency may not change: stored orders keep their prices, not the currency they were paid in."""
    if currency == event.currency or session.scalar(select(Order.id).where(Order.event_id == event.id).limit(1)) is None:
        return None
    return f"The currency stays {event.currency}: this event has orders, and their prices were in {event.currency}."


def _slug_problem(session: Session, slug: str, event_id: int | None) -> str | None:
    if not SLUG.fullmatch(slug):
        return _SLUG_RULE
    other = session.scalar(select(Event.id).where(Event.slug == slug))
    return _slug_taken(slug) if other is not None and other != event_id else None


def _slug_taken(slug: str) -> str:
    return f"The address name '{slug}' is already taken."


def _title_problem(title: str) -> str | None:
    if not title:
        return "Give the event a title."
    return _length_problem(title, TITLE_MAX_LENGTH)


def _length_problem(text: str, limit: int) -> str | None:
    return f"Use at most {limit:,} characters (this has {len(text):,})." if len(text) > limit else None


def publish_event(session: Session, actor: Actor, event_id: int) -> bool:
    """Show the event on its public page; returns whether anything changed."""
    return _set_published(session, actor, event_id, True)


def unpublish_event(session: Session, actor: Actor, event_id: int) -> bool:
    """Take the event off its public page (it answers "not found" again); returns whether anything changed."""
    return _set_published(session, actor, event_id, False)


def _set_published(session: Session, actor: Actor, event_id: int, published: bool) -> bool:
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    if event.published == published:
        return False
    event.published = published
    audit.record(session, actor, "event.published" if published else "event.unpublished", event=event,
                 subject=f"event:{event.slug}")
    return True


def archive_event(session: Session, actor: Actor, event_id: int, *, now: datetime | None = None) -> None:
    """Move the event out of the everyday lists; refused while it takes orders (DomainError)."""
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    if event.archived_at is not None:
        return
    now = now or utcnow()
    if event_state(event, now) == EventState.OPEN:
        raise DomainError("This event is taking orders; unpublish it or let orders close before archiving it.")
    event.archived_at = now
    audit.record(session, actor, "event.archived", event=event, subject=f"event:{event.slug}")


def unarchive_event(session: Session, actor: Actor, event_id: int) -> None:
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    if event.archived_at is None:
        return
    event.archived_at = None
    audit.record(session, actor, "event.unarchived", event=event, subject=f"event:{event.slug}")


def set_header_image(session: Session, actor: Actor, event_id: int, data: bytes | None) -> None:
    """Store a cleaned copy of an uploaded header image (`images.prepare_image`), or remove it with None.

    Raises SchemaError when the upload is not an acceptable image.
    """
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    if data is None:
        if event.header_image_type is None:
            return
        event.header_image, event.header_image_type = None, None
        details: dict[str, object] = {"removed": True}
    else:
        event.header_image, event.header_image_type = prepare_image(data)
        details = {"type": event.header_image_type, "bytes": len(event.header_image)}
    audit.record(session, actor, "event.image_changed", event=event, subject=f"event:{event.slug}", details=details)


def get_event_for_edit(session: Session, actor: Actor, event_id: int, *,
                       now: datetime | None = None) -> EventSettings:
    """Everything the settings page shows about one event, members included."""
    event = get_event_for(session, actor, event_id, Permission.EVENT_VIEW)
    members = session.execute(
        select(User.username, User.display_name).join(EventMember, EventMember.user_id == User.id)
        .where(EventMember.event_id == event.id).order_by(User.username)
    ).all()
    return EventSettings(
        id=event.id, slug=event.slug, title=event.title, description=event.description,
        accent_colour=event.accent_colour, timezone=event.timezone, phone_region=event.phone_region,
        published=event.published, opens_at=event.opens_at, closes_at=event.closes_at,
        closed_message=event.closed_message, ends_at=event.ends_at, retention_days=event.retention_days,
        change_deadline=event.change_deadline, archived_at=event.archived_at,
        state=event_state(event, now or utcnow()), header_image=event.header_image,
        header_image_type=event.header_image_type,
        members=tuple(Member(username, display_name) for username, display_name in members),
        close_when_sold_out=event.close_when_sold_out, one_order_per_email=event.one_order_per_email,
        currency=event.currency, vendor_cutoff_at=event.vendor_cutoff_at,
    )


def list_event_rows(session: Session, actor: Actor, *, now: datetime | None = None) -> list[EventRow]:
    """Every event `actor` may see, archived ones included, newest first, with its state."""
    now = now or utcnow()
    rows = []
    for event in session.scalars(visible_events(actor)):
        rows.append(EventRow(id=event.id, title=event.title, slug=event.slug, state=event_state(event, now),
                             opens=_local_or_none(event.opens_at, event.timezone),
                             closes=_local_or_none(event.closes_at, event.timezone), timezone=event.timezone))
    return rows


def organiser_addresses(session: Session, event_id: int) -> list[str]:
    """The email addresses of the event's organisers who gave one (for alarms and receipts), by username."""
    return list(session.scalars(
        select(User.email).join(EventMember, EventMember.user_id == User.id)
        .where(EventMember.event_id == event_id, User.email != "").order_by(User.username)))


def add_member(session: Session, actor: Actor, event_id: int, username: str) -> None:
    """Let another organiser see and change this event; raises NotFound for an unknown username."""
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    username = username.strip().lower()
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"There is no user '{username}'.")
    if session.get(EventMember, (event.id, user.id)) is not None:
        raise EventValidationError({"username": f"'{username}' is already an organiser of this event."})
    session.add(EventMember(event_id=event.id, user_id=user.id))
    audit.record(session, actor, "event.member_added", event=event, subject=f"user:{username}")


def remove_member(session: Session, actor: Actor, event_id: int, username: str) -> None:
    """Take an organiser off this event; the last one cannot be removed (DomainError)."""
    event = get_event_for(session, actor, event_id, Permission.EVENT_EDIT)
    username = username.strip().lower()
    membership = session.scalars(
        select(EventMember).join(User, User.id == EventMember.user_id)
        .where(EventMember.event_id == event.id, User.username == username)
    ).first()
    if membership is None:
        raise NotFound(f"'{username}' is not an organiser of this event.")
    count = session.scalar(select(func.count()).select_from(EventMember).where(EventMember.event_id == event.id))
    if count == 1:
        raise DomainError("An event needs at least one organiser; add another before removing this one.")
    session.delete(membership)
    audit.record(session, actor, "event.member_removed", event=event, subject=f"user:{username}")
