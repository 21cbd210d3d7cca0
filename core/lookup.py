"""Attendee self-service: finding one's own order by its secret link, or by reference plus email; seeing it,
changing or cancelling it until the change deadline, and deleting one's personal data once it is done.

Who may act is proven by the secret link or by reference plus email; these functions take the order's id that
such a lookup returned, so callers (the lookup page) keep it in the session and never show it. Rules:

- Changes and cancellations are open while the order is received or sent to the vendor, until the event's
  change deadline, or, without one, until orders close (an event that never closes has no deadline). An
  order in production, shipped, delivered or cancelled is beyond changing: the vendor may already be at work.
- A change is validated against the order's own form version, like the order itself; its stock is given back
  and taken again in the same transaction (a sold-out choice fails beside its item and nothing changes); the
  order keeps its code use, and the code must still cover every item that needs one.
- Personal data can be deleted at once when the order is delivered or cancelled (`core.purge.forget_order`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from core import audit
from core.audit import ATTENDEE
from core.catalogue import CatalogueItem, load_catalogue, parse_dimensions, variant_label
from core.codes import items_needing_code
from core.errors import ChangeRefused, FormValidationError, LookupThrottled, NotFound, SchemaError, SoldOut
from core.forms import FieldType, FormSpec, parse_form_spec, validate_answers
from core.fulfilment import (
    FORGETTABLE,
    STATUS_LABELS,
    StatusStep,
    cancel_by_attendee,
    line_status,
    status_history,
    tracking_problem,
)
from core.mail_templates import delete_after
from core.models import (
    CodeRedemption,
    EmailClaim,
    Event,
    FormVersion,
    Item,
    Order,
    OrderLine,
    OrderPersonalData,
    OrderStatus,
    RedemptionCode,
    utcnow,
)
from core.money import DEFAULT_CURRENCY, lines_total
from core.order_mail import notify_order_changed, per_order_shares, queue_confirmation
from core.orders import ReceiptLine
from core.stock import change_stock
from core.throttle import client_key, record_hit, seconds_blocked
from core.tokens import email_claim_hash, hash_lookup_token, new_lookup_token

NOT_FOUND_MESSAGE = "We couldn't find an order with these details. Please check the reference and the email address."
# Failed lookups add 1 to a score per client and per reference that halves every 10 minutes (core/throttle.py).
# A client may fail 10 times before it waits (2 s, doubling, up to 15 minutes); a reference 5 times, and at most a
# minute, so that a stranger who knows a reference can slow its owner down but never lock them out.
CLIENT_FREE_FAILURES = 10.0
CLIENT_MAX_DELAY = timedelta(minutes=15)
REFERENCE_FREE_FAILURES = 5.0
REFERENCE_MAX_DELAY = timedelta(minutes=1)
MAX_REFERENCE_LENGTH = 16
MAX_EMAIL_LENGTH = 254
MAX_TOKEN_LENGTH = 100
CHANGEABLE = frozenset({OrderStatus.RECEIVED, OrderStatus.SENT_TO_VENDOR})


# --- Finding an order ---------------------------------------------------------------------------------------------


def find_order_by_token(session: Session, token: object) -> int | None:
    """The id of the order whose lookup link holds `token`, or None.

    The database is searched by the token's hash, so the comparison never leaks the token through its timing.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return session.scalar(select(Order.id).where(Order.lookup_token_hash == hash_lookup_token(token)))


def find_order_by_reference(
    session: Session, reference: str, email: str, *, client: str, now: datetime | None = None
) -> int | None:
    """The id of the order with this reference whose email answer is `email` (any case), or None.

    An unknown reference, a wrong email and an order without personal data all give None, and count as a
    failure against the client and the reference, so the answer never tells whether an order exists. Raises
    LookupThrottled, before looking, while either must wait. Call in a unit of work that commits on None.
    """
    now = now or utcnow()
    wanted = reference.strip().upper()[:MAX_REFERENCE_LENGTH]
    keys = [client_key("lookup-client", client), client_key("lookup-reference", wanted)]
    if wait := max(seconds_blocked(session, key, now) for key in keys):
        raise LookupThrottled(wait)
    found = session.execute(
        select(Order.id, Order.form_version_id, OrderPersonalData.answers)
        .join(OrderPersonalData, OrderPersonalData.order_id == Order.id)
        .where(Order.reference == wanted)
    ).first() if wanted else None
    if found is not None and _email_matches(session, found.form_version_id, found.answers, email):
        return found.id
    record_hit(session, keys[0], now, free=CLIENT_FREE_FAILURES, cap=CLIENT_MAX_DELAY)
    record_hit(session, keys[1], now, free=REFERENCE_FREE_FAILURES, cap=REFERENCE_MAX_DELAY)
    return None


def _email_matches(session: Session, version_id: int, personal: Mapping[str, Any], given: str) -> bool:
    try:
        form = parse_form_spec(session.get_one(FormVersion, version_id).schema)
    except SchemaError:
        return False  # as if there were no such order: a broken stored form must not tell that there is one
    email_key = _email_key(form)
    stored = personal.get(email_key) if email_key else None
    if not isinstance(stored, str) or not stored or len(given) > MAX_EMAIL_LENGTH:
        return False
    return hmac.compare_digest(stored.strip().casefold().encode(), given.strip().casefold().encode())


# --- Seeing it ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnOrder:
    """An attendee's own order: what was ordered, where it is, what they may still do, and when their data goes.

    Times are UTC (`local` shows them in the event's timezone). `change_until` is None when there is no
    deadline; `locked_reason` says why changing is closed (empty while it is open).
    """

    reference: str
    event_title: str
    timezone: str
    status: OrderStatus
    status_label: str
    placed_at: datetime
    changed_at: datetime | None
    lines: tuple[ReceiptLine, ...]
    history: tuple[StatusStep, ...]
    delete_after: str
    personal_data_kept: bool
    change_until: datetime | None
    locked_reason: str
    currency: str = DEFAULT_CURRENCY
    # Each line's status, when a vendor moved its part ahead of the rest (empty while all are where the order is).
    line_status_labels: tuple[str, ...] = ()

    @property
    def can_change(self) -> bool:
        return not self.locked_reason

    @property
    def can_forget(self) -> bool:
        return self.personal_data_kept and self.status in FORGETTABLE

    @property
    def total(self) -> Decimal | None:
        return lines_total((line.unit_price, line.quantity) for line in self.lines)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.timezone))


def own_order(session: Session, order_id: int, *, now: datetime | None = None) -> OwnOrder:
    """The order as its attendee sees it; raises NotFound (e.g. an id kept in a session that outlived it)."""
    now = now or utcnow()
    order = _order(session, order_id)
    event = session.get_one(Event, order.event_id)
    return OwnOrder(
        reference=order.reference, event_title=event.title, timezone=event.timezone, status=order.status,
        status_label=STATUS_LABELS[order.status], placed_at=order.created_at, changed_at=order.changed_at,
        lines=tuple(ReceiptLine(line.item_name, line.variant_label, line.quantity, line.unit_price)
                    for line in order.lines),
        history=status_history(session, order.id),
        delete_after=delete_after(event), personal_data_kept=order.personal is not None,
        change_until=change_deadline(event), locked_reason=_locked_reason(order, event, now),
        currency=event.currency,
        line_status_labels=tuple(STATUS_LABELS[line_status(order, line)] for line in order.lines)
        if any(line_status(order, line) != order.status for line in order.lines) else (),
    )


def change_deadline(event: Event) -> datetime | None:
    """Until when attendees may change or cancel: the change deadline, else the close of orders, else no end."""
    return event.change_deadline or event.closes_at


def tracking_link(tracking: str | None) -> str | None:
    """`tracking` if it is a web address that passes the tracking checks (http(s), a host, no quotes or
    brackets), so it can be shown as a link; None for a tracking number or anything else."""
    if not tracking or not tracking.lower().startswith(("http://", "https://")):
        return None
    return tracking if tracking_problem(tracking) is None else None


def _locked_reason(order: Order, event: Event, now: datetime) -> str:
    if order.status == OrderStatus.CANCELLED:
        return "This order is cancelled."
    if order.status not in CHANGEABLE:
        return "Your order is already being made or delivered, so it can no longer be changed or cancelled."
    if any(line.status is not None and line.status not in CHANGEABLE for line in order.lines):
        return "Part of your order is already being made or delivered, so it can no longer be changed or cancelled."
    if event.purged_at is not None:
        return "The details of this order have been deleted, so it can no longer be changed."
    deadline = change_deadline(event)
    if deadline is not None and now >= deadline:
        return "The deadline for changes has passed, so this order can no longer be changed or cancelled."
    return ""


# --- Changing it --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeForm:
    """The order's own form version, the items on offer to it, and its current answers in the form's shape."""

    form: FormSpec
    catalogue: tuple[CatalogueItem, ...]
    answers: dict[str, Any]
    # Lines whose item or choice is no longer offered: the form cannot show them, so a change drops them.
    unavailable: tuple[str, ...] = ()
    currency: str = DEFAULT_CURRENCY


def change_form(session: Session, order_id: int, *, now: datetime | None = None) -> ChangeForm:
    """What the change form draws for the order, prefilled; raises NotFound or ChangeRefused."""
    order, event = _changeable(session, order_id, now or utcnow())
    form = parse_form_spec(session.get_one(FormVersion, order.form_version_id).schema)
    catalogue = _catalogue_for(session, event, order)
    answers: dict[str, Any] = {**order.answers, **(order.personal.answers if order.personal else {})}
    items_key = _items_key(form)
    variants = {(item.key, variant.key): variant for item in catalogue for variant in item.variants}
    if items_key:
        answers[items_key] = [
            {"item": line.item_key, "options": dict(variants[(line.item_key, line.variant_key)].options),
             "quantity": line.quantity}
            for line in order.lines if (line.item_key, line.variant_key) in variants]
    unavailable = tuple(f"{line.item_name} ({line.variant_label})" if line.variant_label else line.item_name
                        for line in order.lines if (line.item_key, line.variant_key) not in variants)
    return ChangeForm(form, catalogue, answers, unavailable, event.currency)


def change_order(
    session: Session,
    order_id: int,
    answers: Mapping[str, object],
    *,
    code_key: bytes = b"",
    check_deliverability: bool = False,
    public_base_url: str | None = None,
    now: datetime | None = None,
) -> str:
    """Replace the order's answers and lines with `answers`, as the attendee changed them; returns the new secret
    of its lookup link.

    Validated like a new order against the order's form version; stock is given back and taken again, the
    code use stays (and must cover the new items), the one-order-per-email claim follows a changed address
    (`code_key` keys it, as in place_order). Per-order vendors that had the order are told what changed
    (`order_mail.notify_order_changed`), the attendee gets a fresh confirmation with a new link (the old link
    stops working), `changed_at` is set and `order.changed_by_attendee` audited. Raises NotFound,
    ChangeRefused, or FormValidationError (a sold-out choice beside its item); then nothing may be committed.
    """
    now = now or utcnow()
    order, event = _changeable(session, order_id, now)
    form = parse_form_spec(session.get_one(FormVersion, order.form_version_id).schema)
    clean = validate_answers(form, answers, _catalogue_for(session, event, order), phone_region=event.phone_region,
                             check_deliverability=check_deliverability)
    items_key = _items_key(form)
    items = {item.key: item for item in session.scalars(
        select(Item).where(Item.event_id == event.id).options(selectinload(Item.variants)))}
    _check_code_still_covers(session, event, order, {items[line.item_key] for line in clean.lines}, items_key)
    personal_keys = {spec.key for spec in form.personal_fields}
    before = per_order_shares(session, order, form, _all_answers(order))
    old_lines = [(line.item_key, line.variant_key, line.quantity) for line in order.lines]

    wanted = {(line.item_key, line.variant_key): line.quantity for line in clean.lines}
    released, taken = _replace_lines(order, items, wanted)
    try:
        change_stock(session, released, taken)
    except SoldOut as exc:
        raise FormValidationError({f"{items_key}.{exc.item_key}": str(exc)}) from None
    personal = {k: v for k, v in clean.values.items() if k in personal_keys}
    if event.one_order_per_email:
        _move_email_claim(session, event, order, form, personal, code_key)
    order.answers = {k: v for k, v in clean.values.items() if k not in personal_keys}
    if order.personal is not None:
        order.personal.answers = personal
    elif personal:
        order.personal = OrderPersonalData(answers=personal)
    order.changed_at = now
    token = new_lookup_token()
    order.lookup_token_hash = hash_lookup_token(token)
    # The fingerprint was of the submission as first placed; a repeat of that is no longer this order.
    order.submission_hash = None
    session.flush()
    session.refresh(order, ["lines"])
    notify_order_changed(session, event, order, before, per_order_shares(session, order, form, clean.values))
    queue_confirmation(session, event, order, form, clean.values, lookup_token=token,
                       public_base_url=public_base_url)
    new_lines = [(line.item_key, line.variant_key, line.quantity) for line in order.lines]
    _record(session, order, "order.changed_by_attendee", {
        "reference": order.reference, "lines_changed": set(old_lines) != set(new_lines),
        "items": sorted({line.item_key for line in order.lines})})
    return token


def cancel_own_order(session: Session, order_id: int, *, now: datetime | None = None) -> None:
    """Cancel the order at its attendee's request: stock, code use and email claim go back, per-order vendors
    that had it are told, `order.cancelled_by_attendee` is audited. Raises NotFound or ChangeRefused."""
    now = now or utcnow()
    order, event = _changeable(session, order_id, now)
    form = parse_form_spec(session.get_one(FormVersion, order.form_version_id).schema)
    before = per_order_shares(session, order, form, _all_answers(order))
    old_status = cancel_by_attendee(session, order, at=now)
    notify_order_changed(session, event, order, before, {})
    _record(session, order, "order.cancelled_by_attendee",
            {"reference": order.reference, "old_status": old_status.value})


def _order(session: Session, order_id: int, *, lock: bool = False) -> Order:
    query = select(Order).where(Order.id == order_id).options(
        selectinload(Order.lines), selectinload(Order.history), selectinload(Order.personal))
    # FOR UPDATE on PostgreSQL (SQLite's writer already holds the lock): an organiser moving the order to
    # production and the attendee changing it must not both succeed.
    order = session.scalars(query.with_for_update(of=Order) if lock else query).one_or_none()
    if order is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return order


def _changeable(session: Session, order_id: int, now: datetime) -> tuple[Order, Event]:
    order = _order(session, order_id, lock=True)
    event = session.get_one(Event, order.event_id)
    if reason := _locked_reason(order, event, now):
        raise ChangeRefused(reason)
    return order, event


def _all_answers(order: Order) -> dict[str, Any]:
    return {**order.answers, **(order.personal.answers if order.personal else {})}


def _email_key(form: FormSpec) -> str | None:
    return next((spec.key for spec in form.fields if spec.type == FieldType.EMAIL), None)


def _items_key(form: FormSpec) -> str:
    return next((spec.key for spec in form.fields if spec.type == FieldType.ITEMS), "")


def _catalogue_for(session: Session, event: Event, order: Order) -> tuple[CatalogueItem, ...]:
    """The event's catalogue, in which what the order already holds stays choosable: its units are its own
    (switched off or sold out since or not), and the stock check happens when they are taken again."""
    held: dict[tuple[str, str], int] = {}
    for line in order.lines:
        held[(line.item_key, line.variant_key)] = held.get((line.item_key, line.variant_key), 0) + line.quantity
    catalogue = []
    for item in load_catalogue(session, event):
        variants = tuple(
            replace(variant, available=True,
                    remaining=None if variant.remaining is None else variant.remaining + held[(item.key, variant.key)])
            if (item.key, variant.key) in held else variant
            for variant in item.variants)
        catalogue.append(replace(item, variants=variants))
    return tuple(catalogue)


def _replace_lines(
    order: Order, items: Mapping[str, Item], wanted: Mapping[tuple[str, str], int]
) -> tuple[list[OrderLine], list[OrderLine]]:
    """Make the order's lines match `wanted` ((item, variant) -> quantity), keeping the lines (ids, prices) that
    stay, so that batch vendors' deltas show a changed quantity, not a removed and a new line.

    Returns lines standing for the units to give back and to take (unsaved copies for quantity changes).
    """
    released: list[OrderLine] = []
    taken: list[OrderLine] = []
    for line in list(order.lines):
        quantity = wanted.get((line.item_key, line.variant_key), 0)
        if quantity < line.quantity:
            released.append(_units(line, line.quantity - quantity))
        elif quantity > line.quantity:
            taken.append(_units(line, quantity - line.quantity))
        if quantity:
            line.quantity = quantity
        else:
            order.lines.remove(line)
    kept = {(line.item_key, line.variant_key) for line in order.lines}
    for (item_key, variant_key), quantity in wanted.items():
        if (item_key, variant_key) in kept:
            continue
        item = items[item_key]
        variant = next(v for v in item.variants if v.key == variant_key)
        line = OrderLine(item_id=item.id, variant_id=variant.id, item_key=item.key, item_name=item.name,
                         variant_key=variant.key, variant_label=_variant_label(item, variant.options),
                         quantity=quantity, unit_price=item.price)
        order.lines.append(line)
        taken.append(line)
    return released, taken


def _units(line: OrderLine, quantity: int) -> OrderLine:
    """A stand-in line (never added to the session) for `quantity` units of `line`'s variant."""
    return OrderLine(item_id=line.item_id, variant_id=line.variant_id, item_key=line.item_key,
                     item_name=line.item_name, variant_key=line.variant_key, variant_label=line.variant_label,
                     quantity=quantity)


def _variant_label(item: Item, options: Mapping[str, str]) -> str:
    return variant_label(parse_dimensions(item.dimensions), options)


def _check_code_still_covers(
    session: Session, event: Event, order: Order, ordered: set[Item], items_key: str
) -> None:
    """The order keeps the code it used (or its lack of one): the changed items must not need more."""
    needed = items_needing_code(event, ordered)
    if not needed:
        # No code needed, or FORM mode without items: the form was opened with the order's code already.
        return
    code = session.scalar(select(RedemptionCode).join(CodeRedemption, CodeRedemption.code_id == RedemptionCode.id)
                          .where(CodeRedemption.order_id == order.id))
    if code is None:
        outside = sorted(needed)
    else:
        # A code without item keys is good for every item.
        outside = sorted(needed - set(code.item_keys)) if code.item_keys else []
    if outside:
        name = next(item.name for item in ordered if item.key == outside[0])
        raise FormValidationError({f"{items_key}.{outside[0]}": f"{name} needs a code that this order does not have."})


def _move_email_claim(session: Session, event: Event, order: Order, form: FormSpec,
                      personal: Mapping[str, object], code_key: bytes) -> None:
    """Point the order's one-order-per-email claim at its (possibly changed) address."""
    email_key = _email_key(form)
    email = personal.get(email_key) if email_key else None
    claim = session.scalar(select(EmailClaim).where(EmailClaim.order_id == order.id))
    if not isinstance(email, str) or not email:
        if claim is not None:
            session.delete(claim)
        return
    new_hash = email_claim_hash(email, code_key)
    if claim is not None and claim.email_hash == new_hash:
        return
    try:
        with session.begin_nested():
            if claim is not None:
                session.delete(claim)
                session.flush()
            session.add(EmailClaim(event_id=event.id, email_hash=new_hash, order_id=order.id))
            session.flush()
    except IntegrityError:
        raise FormValidationError(
            {str(email_key): "An order with this email address already exists for this event."}) from None


def _record(session: Session, order: Order, action: str, details: Mapping[str, Any]) -> None:
    # Only the reference, statuses and item keys: no answer of the attendee.
    entry = audit.record(session, None, action, event=order.event_id, subject=f"order:{order.reference}",
                         details=details)
    entry.actor = ATTENDEE
