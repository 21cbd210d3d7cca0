"""An event's dashboard: how many orders, what was ordered, when, and what needs the organiser's attention.

Everything here is counted from orders and order lines; personal data is never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import pandas as pd
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from core.auth import Actor, Permission
from core.catalogue import NO_VARIANT
from core.event_admin import EventState, event_state, get_event_for
from core.events import utc_to_local
from core.lifecycle import BATCH_REFUSED
from core.models import (
    AuditEntry,
    Event,
    FormVersion,
    Item,
    Order,
    OrderLine,
    OrderStatus,
    Variant,
    VendorSnapshot,
    utcnow,
)
from core.outbox import outbox_health
from core.purge import retention_end
from core.vendor_batches import VendorSendState, vendor_send_states

CLOSING_SOON = timedelta(hours=48)
HOURLY_DAYS = 2


class NoticeLevel(StrEnum):
    WARNING = "warning"  # attendees are affected, or data is kept longer than it should be
    INFO = "info"


@dataclass(frozen=True)
class Notice:
    level: NoticeLevel
    message: str


@dataclass(frozen=True)
class Milestone:
    """A date on the event's timeline: `at` is the wall-clock time in the event's time zone."""

    label: str
    at: datetime
    passed: bool


@dataclass(frozen=True, eq=False)
class Dashboard:
    """The figures of one event. `items` has columns Item, Variant, Quantity; `orders_per_day` has Day (an ISO
    date, so that a chart shows one bar per day rather than a time axis) and Orders."""

    event_id: int
    slug: str
    title: str
    state: EventState
    next_step: str  # what happens next, e.g. "Orders close on Fri 11 Jun 2027, 19:00 (Europe/London)."
    timeline: tuple[Milestone, ...]  # the event's dates, earliest first
    timezone: str
    orders: int  # not cancelled
    cancelled: int
    items_ordered: int
    order_value: Decimal  # of priced lines in orders that are not cancelled
    currency: str  # ISO 4217, of order_value
    items: pd.DataFrame
    orders_per_day: pd.DataFrame
    notices: tuple[Notice, ...]
    vendor_sends: tuple[VendorSendState, ...] = ()  # batch vendors: last list sent, changes waiting
    # Hour (ISO, "2027-06-01 13:00") and Orders when all orders came on at most HOURLY_DAYS calendar days, else
    # None: one day of orders drawn per day is a single bar as wide as the chart.
    orders_per_hour: pd.DataFrame | None = None

    @property
    def public_path(self) -> str:
        return f"/?event={self.slug}"


def event_dashboard(session: Session, actor: Actor, event_id: int, *, now: datetime | None = None) -> Dashboard:
    """The dashboard of one event; raises PermissionDenied unless `actor` may view its orders."""
    event = get_event_for(session, actor, event_id, Permission.ORDERS_VIEW)
    now = now or utcnow()
    counts = dict(session.execute(
        select(Order.status, func.count()).where(Order.event_id == event.id).group_by(Order.status)).all())
    cancelled = counts.pop(OrderStatus.CANCELLED, 0)
    orders = sum(counts.values())
    items = items_ordered(session, event)
    state = event_state(event, now)
    return Dashboard(
        event_id=event.id, slug=event.slug, title=event.title, state=state, next_step=_next_step(event, state, now),
        timeline=timeline(event, now), timezone=event.timezone, orders=orders, cancelled=cancelled, items_ordered=int(items["Quantity"].sum()),
        order_value=_order_value(session, event), currency=event.currency, items=items,
        orders_per_day=orders_per_day(session, event), orders_per_hour=orders_per_hour(session, event),
        notices=(*_mail_notices(session, actor, event.id, now), *_vendor_list_notices(session, event),
                 *_notices(session, event, state, orders, now)),
        vendor_sends=vendor_send_states(session, actor, event.id, now),
    )


def timeline(event: Event, now: datetime) -> tuple[Milestone, ...]:
    """The event's dates that are set, earliest first, in its time zone; purged events show when that happened."""
    deleted = event.purged_at or retention_end(event)
    moments = [("Orders open", event.opens_at), ("Orders close", event.closes_at),
               ("Sold out: orders closed", event.sold_out_at), ("Vendor lists sent (cutoff)", event.vendor_cutoff_at),
               ("Changes allowed until", event.change_deadline), ("Event ends", event.ends_at),
               ("Personal data deleted" if event.purged_at else "Personal data to be deleted", deleted)]
    dated = sorted(((at, label) for label, at in moments if at is not None), key=lambda pair: pair[0])
    return tuple(Milestone(label, utc_to_local(at, event.timezone), at <= now) for at, label in dated)


def _next_step(event: Event, state: EventState, now: datetime) -> str:
    """One sentence on where the event stands and the next date that matters to its organisers."""
    def when(moment: datetime) -> str:
        return f"{utc_to_local(moment, event.timezone):%a %d %b %Y, %H:%M} ({event.timezone})"

    deleted = retention_end(event)
    deletion = (f"Personal data will be deleted on {when(deleted)}." if deleted is not None else
                "Personal data is kept until you set an end date, or purge it yourself.")
    if event.purged_at is not None:
        return f"Personal data was deleted (purged) on {when(event.purged_at)}; the anonymous counts remain."
    if state == EventState.DRAFT:
        return "Not published: attendees cannot see it."
    if state == EventState.SCHEDULED:
        return f"Orders open on {when(event.opens_at)}." if event.opens_at else "Orders open once it is published."
    if state == EventState.OPEN:
        return f"Orders close on {when(event.closes_at)}." if event.closes_at else "Orders are open."
    if state == EventState.CLOSED and event.change_deadline is not None:
        return f"Orders are closed; attendees may change theirs until {when(event.change_deadline)}."
    return deletion  # fulfilment, and archived events not purged yet


def _vendor_list_notices(session: Session, event: Event) -> tuple[Notice, ...]:
    """Batch vendors whose list the timer could not send at the cutoff and that still have none, with the reason."""
    refused = session.scalars(select(AuditEntry.details).where(
        AuditEntry.action == BATCH_REFUSED, AuditEntry.event_id == event.id).order_by(AuditEntry.id)).all()
    if not refused:
        return ()
    sent = set(session.scalars(select(VendorSnapshot.vendor_id).where(VendorSnapshot.event_id == event.id)))
    return tuple(Notice(NoticeLevel.WARNING, f"A vendor's list was not sent at the vendor cutoff: "
                                             f"{details.get('problem', 'see the audit log.')} The timer sends it "
                                             "on its next run once that is fixed.")
                 for details in refused if details.get("vendor_id") not in sent)


def _mail_notices(session: Session, actor: Actor, event_id: int, now: datetime) -> tuple[Notice, ...]:
    """Undelivered, late or held mail comes first: an attendee or vendor may be waiting for it."""
    return tuple(Notice(NoticeLevel.WARNING, warning)
                 for warning in outbox_health(session, actor, event_id, now=now).warnings)


def items_ordered(session: Session, event: Event) -> pd.DataFrame:
    """Quantities per item and variant over the orders that are not cancelled, in catalogue order.

    Grouped by the keys copied onto each line, so an item renamed or deleted since still counts as one.
    """
    position = func.coalesce(func.min(Item.position), 1_000_000)
    variant_order = func.coalesce(func.min(Variant.id), 0)
    rows = session.execute(
        select(func.max(OrderLine.item_name), func.max(OrderLine.variant_label), func.sum(OrderLine.quantity))
        .join(Order, Order.id == OrderLine.order_id)
        .outerjoin(Item, Item.id == OrderLine.item_id)
        .outerjoin(Variant, Variant.id == OrderLine.variant_id)
        .where(Order.event_id == event.id, Order.status != OrderStatus.CANCELLED)
        .group_by(OrderLine.item_key, OrderLine.variant_key)
        .order_by(position, func.max(OrderLine.item_name), variant_order, func.max(OrderLine.variant_label))
    ).all()
    return pd.DataFrame(
        {"Item": pd.Series([r[0] for r in rows], dtype="string"),
         "Variant": pd.Series([r[1] or NO_VARIANT for r in rows], dtype="string"),
         "Quantity": pd.Series([int(r[2]) for r in rows], dtype="int64")})


def orders_per_day(session: Session, event: Event) -> pd.DataFrame:
    """Orders (not cancelled) per calendar day in the event's time zone, days without orders included."""
    # Counted in pandas, not SQL: SQLite has no time zone database, and an offset like +05:45 or a DST change
    # moves orders across midnight. Only the timestamps are read.
    placed = session.scalars(
        select(Order.created_at).where(Order.event_id == event.id, Order.status != OrderStatus.CANCELLED)).all()
    if not placed:
        return pd.DataFrame({"Day": pd.Series(dtype="string"), "Orders": pd.Series(dtype="int64")})
    days = pd.DatetimeIndex(pd.to_datetime(placed, utc=True)).tz_convert(event.timezone).tz_localize(None).normalize()
    counts = pd.Series(1, index=days).groupby(level=0).sum()
    calendar = pd.date_range(counts.index.min(), counts.index.max(), freq="D")
    counts = counts.reindex(calendar, fill_value=0)
    return pd.DataFrame({"Day": pd.Series(calendar.strftime("%Y-%m-%d"), dtype="string"),
                         "Orders": counts.to_numpy(dtype="int64")})


def orders_per_hour(session: Session, event: Event) -> pd.DataFrame | None:
    """Orders (not cancelled) per hour in the event's time zone, hours without orders included, when they all
    came on at most HOURLY_DAYS calendar days there; None otherwise (and without orders)."""
    placed = session.scalars(
        select(Order.created_at).where(Order.event_id == event.id, Order.status != OrderStatus.CANCELLED)).all()
    if not placed:
        return None
    local = pd.DatetimeIndex(pd.to_datetime(placed, utc=True)).tz_convert(event.timezone).tz_localize(None)
    if (local.max().normalize() - local.min().normalize()).days >= HOURLY_DAYS:
        return None
    hours = local.floor("h")
    counts = pd.Series(1, index=hours).groupby(level=0).sum()
    clock = pd.date_range(counts.index.min(), counts.index.max(), freq="h")
    counts = counts.reindex(clock, fill_value=0)
    return pd.DataFrame({"Hour": pd.Series(clock.strftime("%Y-%m-%d %H:00"), dtype="string"),
                         "Orders": counts.to_numpy(dtype="int64")})


def _order_value(session: Session, event: Event) -> Decimal:
    value = session.scalar(
        select(func.sum(OrderLine.quantity * OrderLine.unit_price)).join(Order, Order.id == OrderLine.order_id)
        .where(Order.event_id == event.id, Order.status != OrderStatus.CANCELLED)
    )
    return Decimal(str(value)).quantize(Decimal("0.01")) if value is not None else Decimal("0.00")


def _notices(session: Session, event: Event, state: EventState, orders: int, now: datetime) -> tuple[Notice, ...]:
    notices: list[Notice] = []

    def add(level: NoticeLevel, message: str) -> None:
        notices.append(Notice(level, message))

    has_form = session.scalar(select(exists().where(FormVersion.event_id == event.id)))
    has_items = session.scalar(select(exists().where(Item.event_id == event.id, Item.active)))
    if state == EventState.ARCHIVED:
        add(NoticeLevel.INFO, "This event is archived.")
    elif state == EventState.DRAFT:
        add(NoticeLevel.INFO, "This event is a draft: attendees cannot see it until you publish it.")
    else:
        if not has_form:
            add(NoticeLevel.WARNING, "This event is published but has no order form: attendees see "
                                     "\"Event not found\". Build its form.")
        if not has_items:
            add(NoticeLevel.WARNING, "This event is published but offers no items to order.")
        if event.closes_at is None:
            add(NoticeLevel.INFO, "No closing time is set: orders stay open until you unpublish the event.")
    if state == EventState.OPEN:
        if event.closes_at is not None and event.closes_at - now <= CLOSING_SOON:
            hours = max(int((event.closes_at - now).total_seconds() // 3600), 0)
            closes = utc_to_local(event.closes_at, event.timezone)
            add(NoticeLevel.INFO, f"Orders close in {hours} hours, on {closes:%A %d %B at %H:%M} ({event.timezone}).")
        if orders == 0:
            add(NoticeLevel.INFO, "Orders are open, but none have come in yet. Have you shared the link?")
    if event.ends_at is None and state not in (EventState.ARCHIVED, EventState.PURGED):
        if event.closes_at is None:
            add(NoticeLevel.WARNING, "No end date is set, so attendees' personal data is kept until you set one "
                                     f"(it is deleted {event.retention_days} days after the event ends).")
        else:
            add(NoticeLevel.WARNING, "No end date is set, so attendees' personal data is deleted "
                                     f"{event.retention_days} days after orders close. Set when the event ends if "
                                     "you need it until then.")
    return tuple(notices)
