"""Fulfilment: every status change of an order (received, sent to vendor, ..., delivered or cancelled), the
forward-only steps, tracking numbers, and each order's status history.

Organisers move orders with `change_status`/`move_orders` (the Orders page, a vendor's status file through
core/status_upload.py); attendees cancel their own through core/lookup.py (`cancel_by_attendee`); vendors move
their lines through their portal (`move_vendor_lines`). Placing an order records its first step, received
(`record_status`); nothing else changes an order's status. Telling the attendee is core/order_mail.py's
`StatusNotifier`.

A vendor who makes only part of an order (the hoodies, while a bakery brings the breakfast box) moves only its
lines: they get a status of their own, ahead of the order, and the order follows once every line has moved past
it, to the least advanced of them. An organiser's move applies to the whole order (a vendor's file that the
organiser uploads naming the vendor moves that vendor's lines, core/status_upload.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, and_, case, or_, select
from sqlalchemy.orm import Session, selectinload

from core import audit
from core.auth import Actor, Permission, require, require_actor
from core.config import Settings, load_settings
from core.errors import FormValidationError, NotFound, SchemaError, StatusChangeRefused
from core.mail_templates import item_lines
from core.models import Event, Order, OrderLine, OrderStatus, OrderStatusChange, utcnow
from core.order_mail import StatusNotifier
from core.stock import release_order

STATUS_LABELS: dict[OrderStatus, str] = {
    OrderStatus.RECEIVED: "Received",
    OrderStatus.SENT_TO_VENDOR: "Sent to vendor",
    OrderStatus.IN_PRODUCTION: "In production",
    OrderStatus.SHIPPED: "Shipped",
    OrderStatus.DELIVERED: "Delivered",
    OrderStatus.CANCELLED: "Cancelled",
}
# The fulfilment steps in order; an order only moves forward (skipping steps is fine: not every vendor reports
# each one), so a stray click cannot send a delivered order back to "received".
FULFILMENT_STEPS = (OrderStatus.RECEIVED, OrderStatus.SENT_TO_VENDOR, OrderStatus.IN_PRODUCTION,
                    OrderStatus.SHIPPED, OrderStatus.DELIVERED)
# Nothing more happens to such an order: its attendee may have their personal data deleted at once
# (core/purge.py's `forget_order`).
FORGETTABLE = frozenset({OrderStatus.DELIVERED, OrderStatus.CANCELLED})
# What a vendor reports about its own lines (its portal, its file uploaded by an organiser), in step order;
# "received", "sent to vendor" and cancelling stay with the organisers.
VENDOR_STATUSES = (OrderStatus.IN_PRODUCTION, OrderStatus.SHIPPED, OrderStatus.DELIVERED)
MAX_TRACKING_LENGTH = 500  # the column's size
MAX_TRACKING_CODE_LENGTH = 100
MAX_PART_LENGTH = 500  # order_status_changes.part
# Carriers' codes: letters and digits, sometimes grouped with spaces, dashes, dots or slashes ("JD 0146 0000").
_TRACKING_CODE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ./-]*[A-Za-z0-9])?")
_URL_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f<>\"'\\`]")
TRACKING_HINT = "Enter a tracking number (letters, digits, spaces, - . /) or a link starting with https://."


def record_status(session: Session, order: Order, status: OrderStatus, actor: str, *,
                  tracking: str | None = None, at: datetime | None = None, part: str | None = None,
                  ) -> OrderStatusChange:
    """Append a step to the order's history (the caller has set `order.status`, or the status of the lines
    `part` describes); `actor` is a username, "attendee", "vendor:<name>" or the system, never a person's name."""
    change = OrderStatusChange(status=status, actor=actor, tracking=tracking, at=at or utcnow(), part=part)
    order.history.append(change)
    return change


def line_status(order: Order, line: OrderLine) -> OrderStatus:
    """Where `line` is: its own status while its vendor has moved it ahead of the order, else the order's."""
    if line.status is None or order.status == OrderStatus.CANCELLED:
        return order.status
    return line.status


# `line_status` in SQL, for lists and sheets of lines (a query that joins OrderLine to its Order).
LINE_STATUS = case((and_(OrderLine.status.is_not(None), Order.status != OrderStatus.CANCELLED), OrderLine.status),
                   else_=Order.status)


def in_statuses(statuses: Collection[OrderStatus]) -> ColumnElement[bool]:
    """SQL: the order is in one of `statuses`, or a line of it is (a vendor moved its part there ahead)."""
    chosen = sorted(statuses)
    return or_(Order.status.in_(chosen),
               and_(Order.status != OrderStatus.CANCELLED, Order.lines.any(OrderLine.status.in_(chosen))))


# --- Tracking ------------------------------------------------------------------------------------------------


def tracking_problem(text: str) -> str | None:
    """Why `text` (already stripped, not empty) is no tracking number or link, or None when it is one.

    A link must be http(s) with a host: it is shown to the attendee as a link, so `javascript:` and the like
    are refused, as are spaces, quotes and angle brackets that no carrier's link needs.
    """
    if len(text) > MAX_TRACKING_LENGTH:
        return f"Use at most {MAX_TRACKING_LENGTH} characters (you used {len(text)})."
    if "://" in text or text.lower().startswith(("http:", "https:")):
        try:
            parts = urlsplit(text)
        except ValueError:
            return TRACKING_HINT
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or _URL_FORBIDDEN.search(text):
            return TRACKING_HINT
        return None
    if len(text) > MAX_TRACKING_CODE_LENGTH or not _TRACKING_CODE.fullmatch(text):
        return TRACKING_HINT
    return None


def clean_tracking(raw: str | None, status: OrderStatus) -> str | None:
    """The tracking number or link to record with a move to `status`: stripped, None when empty.

    Raises FormValidationError under "tracking" for a malformed one, or one given with a status other than
    shipped (only a shipped order has a parcel to follow).
    """
    text = (raw or "").strip()
    if not text:
        return None
    if status != OrderStatus.SHIPPED:
        raise FormValidationError({"tracking": "A tracking number or link goes with the status Shipped only."})
    if problem := tracking_problem(text):
        raise FormValidationError({"tracking": problem})
    return text


def current_tracking(order: Order) -> str | None:
    """The tracking number or link of the order's latest shipped step that has one."""
    tracked = [step for step in order.history if step.status == OrderStatus.SHIPPED and step.tracking]
    return tracked[-1].tracking if tracked else None


def vendor_actor(vendor_name: str) -> str:
    """How the history and the audit log name a vendor reporting its lines: as its organiser named it, one line,
    bounded."""
    return f"vendor:{' '.join(vendor_name.split())}"[:64]


def part_tracking(order: Order, actor: str) -> str | None:
    """The tracking of what `actor` (a vendor) shipped of `order`: its own latest shipped step's, or the order's
    when the whole order was shipped."""
    own = [step for step in order.history
           if step.status == OrderStatus.SHIPPED and step.actor == actor and step.tracking]
    if own:
        return own[-1].tracking
    return current_tracking(order) if order.status == OrderStatus.SHIPPED else None


# --- History -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusStep:
    """One step of an order's history; `actor` (a username, "attendee" or "system") only in organisers' views."""

    status: OrderStatus
    at: datetime
    tracking: str | None
    actor: str | None = None
    part: str | None = None  # the lines a vendor moved, when it moved only its part of the order

    @property
    def label(self) -> str:
        return f"{STATUS_LABELS[self.status]}: {self.part}" if self.part else STATUS_LABELS[self.status]


def status_history(session: Session, order_id: int) -> tuple[StatusStep, ...]:
    """The order's steps, oldest first, as the attendee may see them: without who made each change.

    Checks no permission: the caller has already shown the order is theirs to see (its lookup link).
    """
    return tuple(StatusStep(step.status, step.at, step.tracking, part=step.part) for step in _steps(session, order_id))


def organiser_history(session: Session, order_id: int) -> tuple[StatusStep, ...]:
    """The order's steps, oldest first, with who made each; for callers that checked ORDERS_VIEW."""
    return tuple(StatusStep(step.status, step.at, step.tracking, step.actor, step.part)
                 for step in _steps(session, order_id))


def _steps(session: Session, order_id: int) -> list[OrderStatusChange]:
    return list(session.scalars(select(OrderStatusChange).where(OrderStatusChange.order_id == order_id)
                                .order_by(OrderStatusChange.at, OrderStatusChange.id)))


# --- Changing the status ---------------------------------------------------------------------------------------


def change_status(
    session: Session, actor: Actor, event_id: int, references: Sequence[str], new_status: OrderStatus, *,
    tracking: str | None = None, notify_attendee: bool = False, settings: Settings | None = None,
) -> int:
    """Move each order to `new_status`; returns how many changed (orders already there are left alone).

    `tracking`, a number or an http(s) link, goes with SHIPPED only and is kept in each order's history; a
    shipped order given a different one counts as changed, so a number that comes after the parcel left is
    recorded too. With `notify_attendee`, each changed order's attendee is told in this same transaction
    (`order_mail.StatusNotifier`: a mail, and an SMS if they opted in and `settings` configure SMS).
    All or nothing: raises FormValidationError under "tracking", NotFound naming a reference the event does not
    have, or StatusChangeRefused naming the first order that cannot make the move, before anything is changed.
    Audits each change.
    """
    return move_orders(session, actor, event_id, {reference: tracking for reference in references}, new_status,
                       notify_attendee=notify_attendee, settings=settings)


def move_orders(
    session: Session, actor: Actor, event_id: int, tracking_by_reference: Mapping[str, str | None],
    new_status: OrderStatus, *, notify_attendee: bool = False, settings: Settings | None = None,
) -> int:
    """`change_status` with a tracking number or link (or None) per order, as a vendor's file gives them."""
    require(session, actor, Permission.ORDERS_UPDATE, event_id)
    return move_orders_by(session, actor, _get_event(session, event_id), tracking_by_reference, new_status,
                          notify_attendee=notify_attendee, settings=settings)


def move_orders_by(
    session: Session, actor: Actor | str, event: Event, tracking_by_reference: Mapping[str, str | None],
    new_status: OrderStatus, *, notify_attendee: bool = False, settings: Settings | None = None,
    applied_by: Actor | None = None,
) -> int:
    """`move_orders` without a permission check, for callers that checked who acts: `actor` is a user, or the
    name of an outside party ("vendor:<name>", core/vendor_portal.py) kept in the history and the audit log.
    `applied_by`, an organiser who applies an outside party's report (its file), is the audit log's actor then,
    the party its `reported_by`. Lines a vendor has moved further along than `new_status` stay there; the
    attendee is told about the others."""
    actor_name = actor if isinstance(actor, str) else require_actor(actor).username
    wanted, orders = _lock_orders(session, event, tracking_by_reference, new_status, with_personal=notify_attendee)
    moving = [(orders[reference], tracking) for reference, tracking in wanted.items()
              if orders[reference].status != new_status
              or (tracking is not None and current_tracking(orders[reference]) != tracking)]
    for order, _ in moving:
        if order.status != new_status:
            check_transition(order, new_status)
    notifier = StatusNotifier(session, event, settings or load_settings()) if notify_attendee else None
    for order, tracking in moving:
        old_status = order.status
        # Lines a vendor moved further along stay there; the attendee hears about the others only.
        moved = [line for line in order.lines if new_status == OrderStatus.CANCELLED or line.status is None
                 or FULFILMENT_STEPS.index(line.status) <= FULFILMENT_STEPS.index(new_status)]
        order.status = new_status
        _lines_follow(order)
        record_status(session, order, new_status, actor_name, tracking=tracking)
        details: dict[str, Any] = {"reference": order.reference, "old_status": old_status.value}
        if tracking is not None:
            # That a tracking number was recorded, not the number: it may lead to the attendee's address.
            details["tracking"] = True
        if notifier is not None:
            details["notified"] = len(notifier.notify(order, tracking, status_label=STATUS_LABELS[new_status],
                                                      part=None if len(moved) == len(order.lines) else moved))
        if new_status == OrderStatus.CANCELLED:
            release_order(session, order)  # its stock, code use and email claim go back
            _audit(session, actor, applied_by, "order.cancelled", event, order, details)
        else:
            action = "order.status_changed" if old_status != new_status else "order.tracking_changed"
            _audit(session, actor, applied_by, action, event, order, {**details, "new_status": new_status.value})
    return len(moving)


def move_vendor_lines(
    session: Session, actor: str, event: Event, item_ids: Set[int], tracking_by_reference: Mapping[str, str | None],
    new_status: OrderStatus, *, notify_attendee: bool = False, settings: Settings | None = None,
    applied_by: Actor | None = None,
) -> int:
    """Move a vendor's lines (those of `item_ids`) of each order to `new_status`; returns how many orders changed.

    An order made of the vendor's lines only moves as a whole, as `move_orders_by` moves it. In an order that
    also holds other lines, only the vendor's lines move, ahead of the rest: the history records the step with
    the lines it moved, the attendee is told about those lines, and the order itself moves once every line has
    moved past it, to the least advanced of them. `actor` is "vendor:<name>"; the caller checked who acts (an
    organiser applying the vendor's file is `applied_by`, as in `move_orders_by`).
    All or nothing: raises StatusChangeRefused before anything is changed, NotFound for an order without such
    lines, and what `move_orders_by` raises.
    """
    wanted, orders = _lock_orders(session, event, tracking_by_reference, new_status, with_personal=notify_attendee)
    if stray := [reference for reference in wanted if not any(line.item_id in item_ids
                                                               for line in orders[reference].lines)]:
        raise NotFound(f"Order {stray[0]} holds none of these items.")
    whole = {reference: tracking for reference, tracking in wanted.items()
             if all(line.item_id in item_ids for line in orders[reference].lines)}
    parts = [(orders[reference], [line for line in orders[reference].lines if line.item_id in item_ids], tracking)
             for reference, tracking in wanted.items() if reference not in whole]
    for order, lines, _ in parts:
        check_part(order, lines, new_status)
    moved = move_orders_by(session, actor, event, whole, new_status, notify_attendee=notify_attendee,
                           settings=settings, applied_by=applied_by) if whole else 0
    notifier = StatusNotifier(session, event, settings or load_settings()) if notify_attendee else None
    for order, lines, tracking in parts:
        moved += _move_part(session, actor, event, order, lines, new_status, tracking, notifier, applied_by)
    return moved


def _lock_orders(
    session: Session, event: Event, tracking_by_reference: Mapping[str, str | None], new_status: OrderStatus, *,
    with_personal: bool,
) -> tuple[dict[str, str | None], dict[str, Order]]:
    """The references asked for, normalised, each with its cleaned tracking; and their orders, locked.

    Raises SchemaError for none, FormValidationError for a bad tracking, NotFound naming a missing reference.
    """
    wanted: dict[str, str | None] = {}
    for reference, tracking in tracking_by_reference.items():
        wanted.setdefault(_normalise_reference(reference), clean_tracking(tracking, new_status))
    if not wanted:
        raise SchemaError("Choose at least one order.")
    # FOR UPDATE (PostgreSQL; SQLite already holds the write lock) so two organisers cannot both move an order;
    # locking in id order keeps two overlapping bulk changes from deadlocking. The history tells a new tracking
    # number from a repeated one; the lines may have moved ahead of the order (`move_vendor_lines`); lines and
    # personal data go into messages.
    loaded = [selectinload(Order.history), selectinload(Order.lines)] + (
        [selectinload(Order.personal)] if with_personal else [])
    orders = {order.reference: order for order in session.scalars(
        select(Order).where(Order.event_id == event.id, Order.reference.in_(wanted)).order_by(Order.id)
        .options(*loaded).with_for_update())}
    if missing := [reference for reference in wanted if reference not in orders]:
        raise NotFound(f"There is no order {missing[0]} in this event.")
    return wanted, orders


def check_part(order: Order, lines: Sequence[OrderLine], new_status: OrderStatus) -> None:
    """Raise StatusChangeRefused, naming the order and the lines, unless `lines` of `order` may move to
    `new_status` (forward only, per part; never in a cancelled order)."""
    if order.status == OrderStatus.CANCELLED:
        raise StatusChangeRefused(f"Order {order.reference} is cancelled; a cancelled order cannot change.")
    furthest = max((line_status(order, line) for line in lines), key=FULFILMENT_STEPS.index)
    if FULFILMENT_STEPS.index(new_status) < FULFILMENT_STEPS.index(furthest):
        raise StatusChangeRefused(
            f"Order {order.reference}: {describe_lines(lines)} is already {STATUS_LABELS[furthest].lower()}; it "
            f"cannot go back to {STATUS_LABELS[new_status].lower()}.")


def _move_part(session: Session, actor: str, event: Event, order: Order, lines: Sequence[OrderLine],
               new_status: OrderStatus, tracking: str | None, notifier: StatusNotifier | None,
               applied_by: Actor | None) -> int:
    """`move_vendor_lines` for one order shared with other lines; returns 1 if it changed, else 0."""
    part = describe_lines(lines)
    old = {line_status(order, line) for line in lines}
    own_tracking = part_tracking(order, actor)
    if old == {new_status} and (tracking is None or tracking == own_tracking):
        return 0
    for line in lines:
        line.status = new_status
    record_status(session, order, new_status, actor, tracking=tracking, part=part)
    details: dict[str, Any] = {"reference": order.reference, "old_status": min(old, key=FULFILMENT_STEPS.index).value,
                               "new_status": new_status.value, "lines": len(lines)}
    if tracking is not None:
        details["tracking"] = True
    # The order follows once every line has moved past it, to the least advanced of them.
    now_at = {line_status(order, line) for line in order.lines}
    least = min(now_at, key=FULFILMENT_STEPS.index)
    if FULFILMENT_STEPS.index(least) > FULFILMENT_STEPS.index(order.status):
        details["order_status"] = least.value
        order.status = least
        _lines_follow(order)
        record_status(session, order, least, audit.SYSTEM)
    if notifier is not None:
        # The whole order, once every line is where these are; else these lines, and whether the rest follows.
        whole = now_at == {new_status}
        details["notified"] = len(notifier.notify(
            order, tracking, status_label=STATUS_LABELS[new_status], part=None if whole else lines,
            rest_behind=FULFILMENT_STEPS.index(least) < FULFILMENT_STEPS.index(new_status)))
    _audit(session, actor, applied_by, "order.status_changed" if old != {new_status} else "order.tracking_changed",
           event, order, details)
    return 1


def _audit(session: Session, actor: Actor | str, applied_by: Actor | None, action: str, event: Event, order: Order,
           details: dict[str, Any]) -> None:
    """Audit a change of `order` by `actor`, or by the organiser `applied_by` who applied `actor`'s report."""
    if applied_by is not None:
        details = {**details, "reported_by": actor if isinstance(actor, str) else actor.username}
    audit.record(session, applied_by or actor, action, event=event.id, subject=f"order:{order.reference}",
                 details=details)


def describe_lines(lines: Sequence[OrderLine]) -> str:
    """ "1 × Hoodie (M), 2 × Socks", cut to fit the history's column."""
    text = item_lines([(line.quantity, line.item_name, line.variant_label) for line in lines], separator=", ")
    return text if len(text) <= MAX_PART_LENGTH else text[:MAX_PART_LENGTH - 1] + "…"


def _lines_follow(order: Order) -> None:
    """Lines a vendor moved ahead follow the order again once it has caught up with them, or was cancelled."""
    for line in order.lines:
        if line.status is not None and (order.status == OrderStatus.CANCELLED
                                        or FULFILMENT_STEPS.index(line.status) <= FULFILMENT_STEPS.index(order.status)):
            line.status = None


def cancel_order(session: Session, actor: Actor, event_id: int, reference: str) -> None:
    """Cancel one order (audited as `order.cancelled`); cancelling a cancelled order changes nothing.

    Raises PermissionDenied, NotFound, or StatusChangeRefused for a delivered order.
    """
    change_status(session, actor, event_id, [reference], OrderStatus.CANCELLED)


def cancel_by_attendee(session: Session, order: Order, *, at: datetime) -> OrderStatus:
    """Cancel `order` at its attendee's request, which core/lookup.py has checked: the step goes into its
    history by "attendee", and its stock, code use and email claim go back. Returns the status it had."""
    old_status = order.status
    order.status = OrderStatus.CANCELLED
    _lines_follow(order)
    record_status(session, order, OrderStatus.CANCELLED, audit.ATTENDEE, at=at)
    release_order(session, order)
    return old_status


def check_transition(order: Order, new_status: OrderStatus) -> None:
    """Raise StatusChangeRefused, naming the order, unless it may move from its status to `new_status`."""
    old = order.status
    if old == OrderStatus.CANCELLED:
        raise StatusChangeRefused(f"Order {order.reference} is cancelled; a cancelled order cannot change.")
    if new_status == OrderStatus.CANCELLED:
        if old == OrderStatus.DELIVERED:
            raise StatusChangeRefused(f"Order {order.reference} was delivered; it cannot be cancelled.")
        if any(line.status == OrderStatus.DELIVERED for line in order.lines):
            raise StatusChangeRefused(f"Part of order {order.reference} was delivered; it cannot be cancelled.")
        return
    if FULFILMENT_STEPS.index(new_status) < FULFILMENT_STEPS.index(old):
        raise StatusChangeRefused(f"Order {order.reference} is already {STATUS_LABELS[old].lower()}; it cannot go "
                                  f"back to {STATUS_LABELS[new_status].lower()}.")


def _get_event(session: Session, event_id: int) -> Event:
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound("There is no such event.")
    return event


def _normalise_reference(reference: str) -> str:
    return reference.strip().upper()
