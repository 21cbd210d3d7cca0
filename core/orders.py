"""Orders: placing one (validate, then write order and lines in one transaction), and organisers finding,
reading and moving them along."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import ColumnElement, Text, and_, bindparam, cast, exists, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, selectinload

from core import audit
from core.auth import Actor, Permission, require
from core.catalogue import load_catalogue
from core.codes import CodeRefused, items_needing_code, redeem_code
from core.config import Settings, load_settings
from core.errors import DomainError, EventNotOpen, FormValidationError, NotFound, SchemaError
from core.events import EventPhase, event_phase
from core.forms import FieldType, FormSpec, parse_form_spec, parse_stored_form, validate_answers
from core.fulfilment import (
    STATUS_LABELS,
    StatusNotifier,
    StatusStep,
    clean_tracking,
    current_tracking,
    organiser_history,
    record_status,
)
from core.lookup import hash_lookup_token, new_lookup_token
from core.models import (
    EmailClaim,
    Event,
    FormVersion,
    Item,
    Order,
    OrderLine,
    OrderPersonalData,
    OrderStatus,
    OrderStatusChange,
    utcnow,
)
from core.stock import SoldOut, everything_sold_out, release_order, take_stock
from core.submissions import find_repeated_submission, submission_hash
from core.vendors import DisclosureView, disclosure_register, notify_order_placed

# Upper-case letters and digits without look-alikes (0/O, 1/I/L): 31^8 ≈ 8.5e11 references, read aloud safely.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 8
MAX_IDEMPOTENCY_KEY_LENGTH = 64
# Built once: they run for every order placed. Core tables rather than ORM classes: the statements skip the ORM's
# compile and result layers, which cost more than SQLite takes to run them.
_ORDERS = Order.__table__
_ORDER_ID_BY_KEY = select(_ORDERS.c.id).where(_ORDERS.c.event_id == bindparam("event_id"),
                                              _ORDERS.c.idempotency_key == bindparam("key"))
_ORDER_ID_BY_REFERENCE = select(_ORDERS.c.id).where(_ORDERS.c.reference == bindparam("reference"))
_FORM_VERSIONS = FormVersion.__table__
# The schema as its stored JSON text: the key of the parsed-form cache, and decoded only when not cached.
_CURRENT_FORM = (
    select(_FORM_VERSIONS.c.id, cast(_FORM_VERSIONS.c.schema, Text).label("schema"))
    .where(_FORM_VERSIONS.c.event_id == bindparam("event_id"))
    .order_by(_FORM_VERSIONS.c.number.desc()).limit(1))
_INSERT_ORDER = insert(_ORDERS)
_INSERT_STATUS_CHANGE = insert(OrderStatusChange.__table__)
_INSERT_PERSONAL_DATA = insert(OrderPersonalData.__table__)
_INSERT_LINES = insert(OrderLine.__table__)


@dataclass(frozen=True)
class ReceiptLine:
    item_name: str
    variant_label: str
    quantity: int
    unit_price: Decimal | None


@dataclass(frozen=True)
class OrderReceipt:
    """What the attendee is shown after submitting; `created` is False when a repeated submit found the order."""

    reference: str
    placed_at: datetime
    lines: tuple[ReceiptLine, ...]
    created: bool
    # The secret of the order's lookup link; only known when this call created the order (only its hash is kept).
    lookup_token: str | None = None

    @property
    def total(self) -> Decimal | None:
        if any(line.unit_price is None for line in self.lines):
            return None
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal("0"))  # type: ignore[operator]


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def place_order(
    session: Session,
    event: Event,
    answers: Mapping[str, object],
    *,
    idempotency_key: str,
    code: str = "",
    code_key: bytes = b"",
    check_deliverability: bool = False,
    now: datetime | None = None,
) -> OrderReceipt:
    """Validate `answers` against the event's current form and write the order, its lines and personal data.

    In the same transaction it takes the lines' stock (`stock.take_stock`), redeems `code` when the event's code
    mode asks for one (`codes.redeem_code`; `code_key` is the codes' HMAC key, also used, derived, for the
    one-order-per-email claim), claims the email address when the event allows one order per address, closes
    an event that closes when sold out once nothing is left, and queues its mails (`notify_order_placed`).
    The same `idempotency_key` (one per form session) always yields the first order's receipt, so a double
    click or a rerun never orders, takes stock or uses a code twice; and so do the same answers (lines and code
    included) within `submissions.SUBMISSION_WINDOW` of an order that is not cancelled, from any session, process
    or restart (core/submissions.py; needs `code_key`). Raises EventNotOpen, FormValidationError
    (stock beside the item, `code`, one order per email beside the email field), or SchemaError for a broken
    stored form. Does not commit.
    """
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValueError("idempotency_key must be 1 to 64 characters")
    now = now or utcnow()
    # A plain id lookup first: almost every submit is a first one, and loading an Order costs more.
    if session.scalar(_ORDER_ID_BY_KEY, {"event_id": event.id, "key": idempotency_key}) is not None:
        existing = _find_by_idempotency_key(session, event, idempotency_key)
        if existing is not None:
            return _receipt(existing, created=False)
    if event_phase(event, now) != EventPhase.OPEN:
        raise EventNotOpen("This event is not taking orders right now.")

    version_id, form = _current_form(session, event)
    catalogue = load_catalogue(session, event, images=False)
    clean = validate_answers(form, answers, catalogue, phone_region=event.phone_region,
                             check_deliverability=check_deliverability)

    fingerprint = submission_hash(code_key, event_id=event.id, form_version_id=version_id, values=clean.values,
                                  lines=clean.lines, code=code)
    if fingerprint is not None:
        first = find_repeated_submission(session, event.id, fingerprint, now)
        if first is not None:
            return _receipt(_load_order(session, first), created=False)

    personal_keys = {spec.key for spec in form.personal_fields}
    lookup_token = new_lookup_token()
    # Unsaved objects that hold what is written (for the mails and the receipt); `_insert_order` writes them.
    order = Order(
        event_id=event.id, form_version_id=version_id, reference=new_reference(), status=OrderStatus.RECEIVED,
        idempotency_key=idempotency_key, created_at=now, lookup_token_hash=hash_lookup_token(lookup_token),
        answers={k: v for k, v in clean.values.items() if k not in personal_keys}, submission_hash=fingerprint,
    )
    record_status(session, order, OrderStatus.RECEIVED, audit.SYSTEM, at=now)
    personal = {k: v for k, v in clean.values.items() if k in personal_keys}
    if personal:
        order.personal = OrderPersonalData(answers=personal)
    # The catalogue was read in this transaction, so its ids, names and prices are the ones being ordered.
    offered = {item.key: item for item in catalogue}
    for chosen in clean.lines:
        item = offered[chosen.item_key]
        variant = next(v for v in item.variants if v.key == chosen.variant_key)
        order.lines.append(OrderLine(
            item_id=item.id, variant_id=variant.id, item_key=item.key, item_name=item.name,
            variant_key=variant.key, variant_label=variant.label, quantity=chosen.quantity, unit_price=item.price,
        ))
    items_field = next((spec.key for spec in form.fields if spec.type == FieldType.ITEMS), "")
    ordered = [offered[key] for key in dict.fromkeys(line.item_key for line in clean.lines)]
    # items_needing_code reads only `key` and `requires_code`, which catalogue items carry as Items do.
    needing_code = items_needing_code(event, ordered)  # type: ignore[arg-type]
    while True:
        try:
            # A savepoint, so that losing a race for the same idempotency key leaves the caller's transaction
            # usable, and a refused code or stock rolls back what was taken before it.
            with session.begin_nested():
                _insert_order(session, order)
                # Locks in the order stock.py documents: email claim, code, variants, pools.
                if event.one_order_per_email:
                    _claim_email(session, event, order, form, clean.values, code_key)
                if needing_code is not None:
                    redeem_code(session, event, code, needing_code, order.id, key=code_key, now=now)
                take_stock(session, order.lines, item_pools={item.id: item.pool_id for item in ordered})
            break
        except IntegrityError:
            existing = _find_by_idempotency_key(session, event, idempotency_key)
            if existing is not None:
                return _receipt(existing, created=False)
            if session.scalar(_ORDER_ID_BY_REFERENCE, {"reference": order.reference}) is None:
                raise
            # Another order has this reference (about one order in a million, with a million orders stored):
            # the unique constraint said so, which saves looking each new reference up first.
            order.reference = new_reference()
        except CodeRefused as exc:
            raise FormValidationError({"code": str(exc)}) from None
        except SoldOut as exc:
            raise FormValidationError({f"{items_field}.{exc.item_key}": str(exc)}) from None
    if event.close_when_sold_out and event.sold_out_at is None and everything_sold_out(session, event):
        event.sold_out_at = now
        audit.record(session, None, "event.sold_out", event=event, subject=f"event:{event.slug}",
                     details={"order": order.reference})
    # In this same transaction: the order and its mails are committed together or not at all.
    notify_order_placed(session, event, order, form, clean, lookup_token=lookup_token)
    return _receipt(order, created=True, lookup_token=lookup_token)


def email_claim_hash(email: str, code_key: bytes) -> str:
    """The keyed hash (hex) that stands for an email address in EmailClaim; case and outer spaces ignored.

    Keyed with a key derived from the codes' key, so a copy of the database cannot be checked against a list of
    addresses, and the claim means nothing on its own.
    """
    if not code_key:
        raise ValueError("one order per email needs the code key")
    key = hmac.new(code_key, b"email-claims", hashlib.sha256).digest()
    return hmac.new(key, email.strip().casefold().encode(), hashlib.sha256).hexdigest()


def _claim_email(session: Session, event: Event, order: Order, form: FormSpec, values: Mapping[str, object],
                 code_key: bytes) -> None:
    """Record the order's email address for the event; refuses a second order with it beside the email field.

    A form without an email field, or an order without an address, claims nothing.
    """
    email_key = next((spec.key for spec in form.fields if spec.type == FieldType.EMAIL), None)
    email = values.get(email_key) if email_key else None
    if not isinstance(email, str) or not email:
        return
    try:
        # Its own savepoint: the unique (event, hash) constraint must be told apart from an idempotency race.
        with session.begin_nested():
            session.add(EmailClaim(event_id=event.id, email_hash=email_claim_hash(email, code_key),
                                   order_id=order.id))
            session.flush()
    except IntegrityError:
        raise FormValidationError(
            {email_key: "An order with this email address already exists for this event."}) from None  # type: ignore[dict-item]


def _load_order(session: Session, order_id: int) -> Order:
    return session.scalars(select(Order).where(Order.id == order_id).options(selectinload(Order.lines))).one()


def _find_by_idempotency_key(session: Session, event: Event, key: str) -> Order | None:
    return session.scalars(
        select(Order).where(Order.event_id == event.id, Order.idempotency_key == key)
        .options(selectinload(Order.lines))
    ).first()


def _current_form(session: Session, event: Event) -> tuple[int, FormSpec]:
    """The id and the parsed form of the event's newest form version; raises NotFound when it has none.

    `form_versions.current_form_version` without loading a FormVersion, parsed from the stored text through
    `forms.parse_stored_form`'s cache (a form is parsed once per content, not once per order).
    """
    found = session.execute(_CURRENT_FORM, {"event_id": event.id}).first()
    if found is None:
        raise NotFound("This event has no order form yet.")
    return found.id, parse_stored_form(found.schema)


def _insert_order(session: Session, order: Order) -> None:
    """Write the unsaved `order`, its history, personal data and lines with Core INSERTs; sets `order.id`.

    About a third of what an ORM flush of the same rows costs (bench/bench_place_order.py). The objects never
    join the session, so nothing writes them a second time; a later query in this transaction loads the order
    from the database like any other. Raises IntegrityError for a taken idempotency key or reference.
    """
    if order in session:  # e.g. cascaded in by a related object someone added: its flush would write it again
        raise RuntimeError("the order to insert is already in the session")
    order.id = session.execute(_INSERT_ORDER, {
        column: getattr(order, column) for column in (
            "event_id", "form_version_id", "reference", "idempotency_key", "status", "answers", "created_at",
            "lookup_token_hash", "submission_hash")}).inserted_primary_key[0]
    session.execute(_INSERT_STATUS_CHANGE, [
        {"order_id": order.id, "status": step.status, "at": step.at, "actor": step.actor, "tracking": step.tracking}
        for step in order.history])
    if order.personal is not None:
        session.execute(_INSERT_PERSONAL_DATA, {"order_id": order.id, "answers": order.personal.answers})
    if order.lines:
        session.execute(_INSERT_LINES, [
            {"order_id": order.id, "item_id": line.item_id, "variant_id": line.variant_id, "item_key": line.item_key,
             "item_name": line.item_name, "variant_key": line.variant_key, "variant_label": line.variant_label,
             "quantity": line.quantity, "unit_price": line.unit_price} for line in order.lines])


def _receipt(order: Order, *, created: bool, lookup_token: str | None = None) -> OrderReceipt:
    return OrderReceipt(
        reference=order.reference,
        placed_at=order.created_at,
        lines=tuple(ReceiptLine(line.item_name, line.variant_label, line.quantity, line.unit_price)
                    for line in order.lines),
        created=created,
        lookup_token=lookup_token,
    )


# --- Organiser services: finding, reading and moving orders along ------------------------------------------------

MAX_PAGE_SIZE = 500
MAX_SEARCH_LENGTH = 100

# The fulfilment steps in order; an order only moves forward (skipping steps is fine: not every vendor reports
# each one), so a stray click cannot send a delivered order back to "received".
FULFILMENT_STEPS = (OrderStatus.RECEIVED, OrderStatus.SENT_TO_VENDOR, OrderStatus.IN_PRODUCTION,
                    OrderStatus.SHIPPED, OrderStatus.DELIVERED)
ORDER_COLUMNS = ("reference", "placed_at", "status", "items", "total", "name", "email")


class StatusChangeRefused(DomainError):
    """A status change that makes no sense for an order (e.g. a cancelled order cannot come back)."""


@dataclass(frozen=True)
class OrderFilters:
    """What the organiser's order list is narrowed to; empty values filter nothing.

    `text` matches a reference prefix or part of the name or email; `date_from`/`date_to` are inclusive days in
    the event's timezone.
    """

    text: str = ""
    statuses: frozenset[OrderStatus] = frozenset()
    item_key: str | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class OrderPage:
    """One page of an event's orders, newest first, with what the filters on the orders page need.

    `rows` has ORDER_COLUMNS; `placed_at` is in the event's timezone and `total` is a float (NaN when an item has
    no price), for display only. `page` is the page actually returned (a page past the end gives the last one).
    """

    rows: pd.DataFrame
    total: int
    page: int
    page_size: int
    timezone: str
    item_choices: dict[str, str]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class OrderLineView:
    item_key: str
    item_name: str
    variant_label: str
    quantity: int
    unit_price: Decimal | None


@dataclass(frozen=True)
class AnswerView:
    """One answered form field, its value written out for people ("Yes", "1 High St, London, N1 1AA")."""

    key: str
    label: str
    value: str
    personal: bool


@dataclass(frozen=True)
class OrderDetail:
    """Everything about one order for its organiser; `personal_data_kept` is False once it was purged."""

    reference: str
    status: OrderStatus
    placed_at: datetime
    timezone: str
    form_version: int
    lines: tuple[OrderLineView, ...]
    answers: tuple[AnswerView, ...]
    personal_data_kept: bool
    # The disclosure register: which vendor received which fields of this order, when, in which mail.
    disclosures: tuple[DisclosureView, ...] = ()
    # Every status the order went through, oldest first, with who set it and any tracking number or link.
    history: tuple[StatusStep, ...] = ()

    @property
    def total(self) -> Decimal | None:
        return _total(self.lines)

    @property
    def local_placed_at(self) -> datetime:
        return self.placed_at.astimezone(ZoneInfo(self.timezone))


def search_orders(
    session: Session, actor: Actor, event_id: int, filters: OrderFilters, *, page: int, page_size: int
) -> OrderPage:
    """The `page`-th (from 1) page of the event's orders matching `filters`, newest first, and how many match.

    Filtering, counting and paging run in SQL; only the page's rows and their lines are loaded. Raises
    PermissionDenied, NotFound for an unknown event, SchemaError for a bad date range or an overlong search.
    """
    require(session, actor, Permission.ORDERS_VIEW, event_id)
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page must be >= 1 and page_size 1 to {MAX_PAGE_SIZE}")
    event = _get_event(session, event_id)
    forms = _form_specs(session, event.id)
    conditions = _order_conditions(event, filters, forms)
    total = session.scalar(select(func.count()).select_from(Order).where(*conditions)) or 0
    page = min(page, max(1, -(-total // page_size)))
    # The id breaks ties between orders placed in the same instant, so paging never skips or repeats one.
    found = session.execute(
        select(Order.id, Order.reference, Order.created_at, Order.status, Order.form_version_id,
               OrderPersonalData.answers)
        .outerjoin(OrderPersonalData, OrderPersonalData.order_id == Order.id)
        .where(*conditions)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(page_size).offset((page - 1) * page_size)
    ).all()
    lines: dict[int, list[OrderLineView]] = {row.id: [] for row in found}
    if lines:
        for line in session.execute(
            select(OrderLine.order_id, OrderLine.item_key, OrderLine.item_name, OrderLine.variant_label,
                   OrderLine.quantity, OrderLine.unit_price)
            .where(OrderLine.order_id.in_(lines)).order_by(OrderLine.id)
        ):
            lines[line.order_id].append(OrderLineView(line.item_key, line.item_name, line.variant_label,
                                                      line.quantity, line.unit_price))
    contacts = {version_id: _contact_keys(spec) for version_id, spec in forms.items()}
    names, emails = [], []
    for row in found:
        personal = row.answers or {}
        name_key, email_key = contacts.get(row.form_version_id, (None, None))
        names.append(_text_or_none(personal.get(name_key)) if name_key else None)
        emails.append(_text_or_none(personal.get(email_key)) if email_key else None)
    totals = [_total(lines[row.id]) for row in found]
    rows = pd.DataFrame({
        "reference": pd.Series([row.reference for row in found], dtype="str"),
        "placed_at": pd.Series(pd.to_datetime([row.created_at for row in found], utc=True).tz_convert(event.timezone)),
        "status": pd.Series([row.status.value for row in found], dtype="str"),
        "items": pd.Series([summarise_lines(lines[row.id]) for row in found], dtype="str"),
        "total": pd.Series([float(t) if t is not None else math.nan for t in totals], dtype="float64"),
        "name": pd.Series(names, dtype="str"),
        "email": pd.Series(emails, dtype="str"),
    }, columns=list(ORDER_COLUMNS))
    item_choices = {key: name for key, name in session.execute(
        select(Item.key, Item.name).where(Item.event_id == event.id).order_by(Item.position, Item.id))}
    return OrderPage(rows=rows, total=total, page=page, page_size=page_size, timezone=event.timezone,
                     item_choices=item_choices)


def summarise_lines(lines: Sequence[OrderLineView]) -> str:
    """A one-line summary such as "2× T-shirt (Fitted, M); 1× Breakfast box"."""
    return "; ".join(f"{line.quantity}× {line.item_name}" + (f" ({line.variant_label})" if line.variant_label else "")
                     for line in lines)


def order_detail(session: Session, actor: Actor, event_id: int, reference: str) -> OrderDetail:
    """One order of the event with its lines and every answer, personal ones included.

    Raises PermissionDenied, or NotFound when the event has no order with this reference.
    """
    require(session, actor, Permission.ORDERS_VIEW, event_id)
    event = _get_event(session, event_id)
    order = session.scalars(
        select(Order).where(Order.event_id == event.id, Order.reference == _normalise_reference(reference))
        .options(selectinload(Order.lines), selectinload(Order.personal))
    ).first()
    if order is None:
        raise NotFound(f"There is no order {reference.strip()} in this event.")
    version = session.get_one(FormVersion, order.form_version_id)
    spec = _parse_or_none(version.schema)
    personal = order.personal.answers if order.personal is not None else {}
    return OrderDetail(
        reference=order.reference, status=order.status, placed_at=order.created_at, timezone=event.timezone,
        form_version=version.number,
        lines=tuple(OrderLineView(line.item_key, line.item_name, line.variant_label, line.quantity, line.unit_price)
                    for line in order.lines),
        answers=_answer_views(spec, order.answers, personal),
        personal_data_kept=order.personal is not None,
        disclosures=disclosure_register(session, order.id, spec),
        history=organiser_history(session, order.id),
    )


def change_status(
    session: Session, actor: Actor, event_id: int, references: Sequence[str], new_status: OrderStatus, *,
    tracking: str | None = None, notify_attendee: bool = False, settings: Settings | None = None,
) -> int:
    """Move each order to `new_status`; returns how many changed (orders already there are left alone).

    `tracking`, a number or an http(s) link, goes with SHIPPED only and is kept in each order's history; a
    shipped order given a different one counts as changed, so a number that comes after the parcel left is
    recorded too. With `notify_attendee`, each changed order's attendee is told in this same transaction
    (`fulfilment.StatusNotifier`: a mail, and an SMS if they opted in and `settings` configure SMS).
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
    event = _get_event(session, event_id)
    wanted: dict[str, str | None] = {}
    for reference, tracking in tracking_by_reference.items():
        wanted.setdefault(_normalise_reference(reference), clean_tracking(tracking, new_status))
    if not wanted:
        raise SchemaError("Choose at least one order.")
    # FOR UPDATE (PostgreSQL; SQLite already holds the write lock) so two organisers cannot both move an order;
    # locking in id order keeps two overlapping bulk changes from deadlocking.
    # The history tells a new tracking number from a repeated one; lines and personal data go into messages.
    loaded = [selectinload(Order.history)] + ([selectinload(Order.lines), selectinload(Order.personal)]
                                              if notify_attendee else [])
    orders = {order.reference: order for order in session.scalars(
        select(Order).where(Order.event_id == event.id, Order.reference.in_(wanted)).order_by(Order.id)
        .options(*loaded).with_for_update())}
    if missing := [reference for reference in wanted if reference not in orders]:
        raise NotFound(f"There is no order {missing[0]} in this event.")
    moving = [(orders[reference], tracking) for reference, tracking in wanted.items()
              if orders[reference].status != new_status
              or (tracking is not None and current_tracking(orders[reference]) != tracking)]
    for order, _ in moving:
        if order.status != new_status:
            check_transition(order, new_status)
    notifier = StatusNotifier(session, event, settings or load_settings()) if notify_attendee else None
    for order, tracking in moving:
        old_status = order.status
        order.status = new_status
        record_status(session, order, new_status, actor.username, tracking=tracking)
        details: dict[str, Any] = {"reference": order.reference, "old_status": old_status.value}
        if tracking is not None:
            # That a tracking number was recorded, not the number: it may lead to the attendee's address.
            details["tracking"] = True
        if notifier is not None:
            details["notified"] = len(notifier.notify(order, tracking))
        if new_status == OrderStatus.CANCELLED:
            release_order(session, order)  # its stock, code use and email claim go back
            audit.record(session, actor, "order.cancelled", event=event.id, subject=f"order:{order.reference}",
                         details=details)
        else:
            action = "order.status_changed" if old_status != new_status else "order.tracking_changed"
            audit.record(session, actor, action, event=event.id, subject=f"order:{order.reference}",
                         details={**details, "new_status": new_status.value})
    return len(moving)


def cancel_order(session: Session, actor: Actor, event_id: int, reference: str) -> None:
    """Cancel one order (audited as `order.cancelled`); cancelling a cancelled order changes nothing.

    Raises PermissionDenied, NotFound, or StatusChangeRefused for a delivered order.
    """
    change_status(session, actor, event_id, [reference], OrderStatus.CANCELLED)


def check_transition(order: Order, new_status: OrderStatus) -> None:
    """Raise StatusChangeRefused, naming the order, unless it may move from its status to `new_status`."""
    old = order.status
    if old == OrderStatus.CANCELLED:
        raise StatusChangeRefused(f"Order {order.reference} is cancelled; a cancelled order cannot change.")
    if new_status == OrderStatus.CANCELLED:
        if old == OrderStatus.DELIVERED:
            raise StatusChangeRefused(f"Order {order.reference} was delivered; it cannot be cancelled.")
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


def _form_specs(session: Session, event_id: int) -> dict[int, FormSpec | None]:
    """Every form version of the event, parsed, by id (None where the stored form is broken)."""
    return {version_id: _parse_or_none(schema) for version_id, schema in session.execute(
        select(FormVersion.id, FormVersion.schema).where(FormVersion.event_id == event_id))}


def _parse_or_none(document: object) -> FormSpec | None:
    try:
        return parse_form_spec(document)
    except SchemaError:
        return None


def _contact_keys(spec: FormSpec | None) -> tuple[str | None, str | None]:
    """The keys of the name (the first personal short-text field) and the email field of a form, if it has them."""
    if spec is None:
        return None, None
    name = next((f.key for f in spec.fields if f.type == FieldType.SHORT_TEXT and f.is_personal), None)
    email = next((f.key for f in spec.fields if f.type == FieldType.EMAIL), None)
    return name, email


def _order_conditions(
    event: Event, filters: OrderFilters, forms: Mapping[int, FormSpec | None]
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Order.event_id == event.id]
    if filters.statuses:
        conditions.append(Order.status.in_(sorted(filters.statuses)))
    if filters.item_key:
        conditions.append(exists().where(OrderLine.order_id == Order.id, OrderLine.item_key == filters.item_key))
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise SchemaError("The first day is after the last day.")
    zone = ZoneInfo(event.timezone)
    if filters.date_from:
        conditions.append(Order.created_at >= datetime.combine(filters.date_from, time(), zone).astimezone(UTC))
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), zone).astimezone(UTC)
        conditions.append(Order.created_at < end)
    term = filters.text.strip()
    if len(term) > MAX_SEARCH_LENGTH:
        raise SchemaError(f"Search for at most {MAX_SEARCH_LENGTH} characters.")
    if term:
        conditions.append(or_(Order.reference.startswith(_normalise_reference(term), autoescape=True),
                              *_personal_text_match(term, forms)))
    return conditions


def _personal_text_match(term: str, forms: Mapping[int, FormSpec | None]) -> list[ColumnElement[bool]]:
    """A condition matching orders whose name or email answer contains `term`, ignoring (ASCII) case.

    Trade-off: a LIKE '%term%' cannot use a B-tree index, so a search reads the personal row of every order of
    the event it has to check (one primary-key lookup each): ~0.2 s per search of 100k orders on SQLite (see
    bench/bench_orders_page.py); far more would need a trigram (pg_trgm) or FTS5 index, i.e. a migration.
    We match the extracted name and email values (json_extract on SQLite, ->> on PostgreSQL) rather than only a
    LIKE over the JSON cast to text: that text also holds the keys ("email" would find every order) and the
    other personal answers (phone, address, notes), and SQLAlchemy writes non-ASCII letters into it as \\uXXXX,
    so "Zoë" would never match. SQLite's lower() folds ASCII only, so "ZOË" does not find "zoë" there
    (PostgreSQL's ILIKE does).
    """
    keys = sorted({key for spec in forms.values() for key in _contact_keys(spec) if key is not None})
    if not keys:
        return []
    # An alias, so that the subquery stays its own when the page's query joins order_personal_data too.
    searched = aliased(OrderPersonalData)
    match: ColumnElement[bool] = or_(*(searched.answers[key].as_string().icontains(term, autoescape=True)
                                       for key in keys))
    if json.dumps(term) == f'"{term}"':
        # The term is written as is inside the stored JSON text, so finding it there is a necessary condition
        # that is much cheaper than parsing the JSON: checked first, it skips the parsing for most rows
        # (~2x faster on 100k orders). Terms that JSON escapes (non-ASCII, quotes) go straight to the values.
        match = and_(cast(searched.answers, Text).icontains(term, autoescape=True), match)
    return [exists().where(searched.order_id == Order.id, match)]


def _answer_views(
    spec: FormSpec | None, answers: Mapping[str, Any], personal: Mapping[str, Any]
) -> tuple[AnswerView, ...]:
    combined = {**answers, **personal}
    fields = [(f.key, f.label) for f in spec.fields if f.type != FieldType.ITEMS] if spec else []
    known = {key for key, _ in fields}
    # Keys the form does not know (only possible with a broken stored form) are still shown, under their key.
    fields += [(key, key) for key in combined if key not in known]
    return tuple(AnswerView(key, label, format_answer(combined[key]), key in personal)
                 for key, label in fields if key in combined)


def format_answer(value: object) -> str:
    """A stored answer written out for people: Yes/No, lists and address parts joined with commas."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Mapping):
        return ", ".join(str(v) for v in value.values() if v not in (None, ""))
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _total(lines: Sequence[OrderLineView]) -> Decimal | None:
    if any(line.unit_price is None for line in lines):
        return None
    return sum((line.unit_price * line.quantity for line in lines), Decimal("0"))  # type: ignore[operator]
