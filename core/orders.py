"""Orders: placing one (validate, then write order and lines in one transaction), and organisers finding,
reading and moving them along."""

from __future__ import annotations

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
from sqlalchemy import ColumnElement, Text, and_, cast, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, selectinload

from core import audit
from core.auth import Actor, Permission, require
from core.catalogue import load_catalogue
from core.errors import DomainError, EventNotOpen, NotFound, SchemaError
from core.events import EventPhase, event_phase
from core.form_versions import current_form_version
from core.forms import FieldType, FormSpec, parse_form_spec, validate_answers
from core.fulfilment import record_status
from core.lookup import hash_lookup_token, new_lookup_token
from core.models import Event, FormVersion, Item, Order, OrderLine, OrderPersonalData, OrderStatus, utcnow
from core.vendors import DisclosureView, disclosure_register, notify_order_placed

# Upper-case letters and digits without look-alikes (0/O, 1/I/L): 31^8 ≈ 8.5e11 references, read aloud safely.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 8
MAX_IDEMPOTENCY_KEY_LENGTH = 64


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
    check_deliverability: bool = False,
    now: datetime | None = None,
) -> OrderReceipt:
    """Validate `answers` against the event's current form and write the order, its lines and personal data.

    Also queues its mails (the attendee's confirmation, per-order vendors' mails: `notify_order_placed`). The
    same `idempotency_key` (one per form session) always yields the first order's receipt, so a double click or
    a rerun never orders twice. Raises EventNotOpen, FormValidationError, or SchemaError for a broken stored
    form. Does not commit.
    """
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValueError("idempotency_key must be 1 to 64 characters")
    now = now or utcnow()
    existing = _find_by_idempotency_key(session, event, idempotency_key)
    if existing is not None:
        return _receipt(existing, created=False)
    if event_phase(event, now) != EventPhase.OPEN:
        raise EventNotOpen("This event is not taking orders right now.")

    version = current_form_version(session, event)
    form = parse_form_spec(version.schema)
    catalogue = load_catalogue(session, event)
    clean = validate_answers(form, answers, catalogue, phone_region=event.phone_region,
                             check_deliverability=check_deliverability)

    personal_keys = {spec.key for spec in form.personal_fields}
    lookup_token = new_lookup_token()
    order = Order(
        event_id=event.id, form_version_id=version.id, reference=_unused_reference(session),
        idempotency_key=idempotency_key, created_at=now, lookup_token_hash=hash_lookup_token(lookup_token),
        answers={k: v for k, v in clean.values.items() if k not in personal_keys},
    )
    record_status(session, order, OrderStatus.RECEIVED, audit.SYSTEM, at=now)
    personal = {k: v for k, v in clean.values.items() if k in personal_keys}
    if personal:
        order.personal = OrderPersonalData(answers=personal)
    items = {item.key: item for item in session.scalars(
        select(Item).where(Item.event_id == event.id).options(selectinload(Item.variants)))}
    offered = {item.key: item for item in catalogue}
    for chosen in clean.lines:
        item = items[chosen.item_key]
        variant = next(v for v in item.variants if v.key == chosen.variant_key)
        label = next(v.label for v in offered[chosen.item_key].variants if v.key == chosen.variant_key)
        order.lines.append(OrderLine(
            item_id=item.id, variant_id=variant.id, item_key=item.key, item_name=item.name,
            variant_key=variant.key, variant_label=label, quantity=chosen.quantity, unit_price=item.price,
        ))
    try:
        # A savepoint, so that losing a race for the same idempotency key leaves the caller's transaction usable.
        with session.begin_nested():
            session.add(order)
    except IntegrityError:
        existing = _find_by_idempotency_key(session, event, idempotency_key)
        if existing is None:
            raise
        return _receipt(existing, created=False)
    # In this same transaction: the order and its mails are committed together or not at all.
    notify_order_placed(session, event, order, form, clean, lookup_token=lookup_token)
    return _receipt(order, created=True, lookup_token=lookup_token)


def _find_by_idempotency_key(session: Session, event: Event, key: str) -> Order | None:
    return session.scalars(
        select(Order).where(Order.event_id == event.id, Order.idempotency_key == key)
        .options(selectinload(Order.lines))
    ).first()


def _unused_reference(session: Session) -> str:
    while True:
        reference = new_reference()
        if session.scalar(select(Order.id).where(Order.reference == reference)) is None:
            return reference


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
    )


def change_status(
    session: Session, actor: Actor, event_id: int, references: Sequence[str], new_status: OrderStatus
) -> int:
    """Move each order to `new_status`; returns how many changed (orders already there are left alone).

    All or nothing: raises NotFound naming a reference the event does not have, or StatusChangeRefused naming
    the first order that cannot make the move, before anything is changed. Audits each change.
    """
    require(session, actor, Permission.ORDERS_UPDATE, event_id)
    event = _get_event(session, event_id)
    wanted = list(dict.fromkeys(_normalise_reference(r) for r in references))
    if not wanted:
        raise SchemaError("Choose at least one order.")
    # FOR UPDATE (PostgreSQL; SQLite already holds the write lock) so two organisers cannot both move an order;
    # locking in id order keeps two overlapping bulk changes from deadlocking.
    orders = {order.reference: order for order in session.scalars(
        select(Order).where(Order.event_id == event.id, Order.reference.in_(wanted)).order_by(Order.id)
        .with_for_update())}
    if missing := [reference for reference in wanted if reference not in orders]:
        raise NotFound(f"There is no order {missing[0]} in this event.")
    moving = [orders[reference] for reference in wanted if orders[reference].status != new_status]
    for order in moving:
        _check_transition(order, new_status)
    for order in moving:
        old_status = order.status
        order.status = new_status
        record_status(session, order, new_status, actor.username)
        if new_status == OrderStatus.CANCELLED:
            audit.record(session, actor, "order.cancelled", event=event.id, subject=f"order:{order.reference}",
                         details={"reference": order.reference, "old_status": old_status.value})
        else:
            audit.record(session, actor, "order.status_changed", event=event.id, subject=f"order:{order.reference}",
                         details={"reference": order.reference, "old_status": old_status.value,
                                  "new_status": new_status.value})
    return len(moving)


def cancel_order(session: Session, actor: Actor, event_id: int, reference: str) -> None:
    """Cancel one order (audited as `order.cancelled`); cancelling a cancelled order changes nothing.

    Raises PermissionDenied, NotFound, or StatusChangeRefused for a delivered order.
    """
    change_status(session, actor, event_id, [reference], OrderStatus.CANCELLED)


def _check_transition(order: Order, new_status: OrderStatus) -> None:
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
