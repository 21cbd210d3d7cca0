"""Orders for organisers: finding them (search, filters, pages), reading one (answers, disclosures, history),
sending one to its per-order vendors again (batch vendors' lists are core/vendor_batches.py's).

Status changes are core/fulfilment.py's; placing an order is core/orders.py's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import ColumnElement, Text, and_, cast, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from core import audit
from core.auth import Actor, Permission, require
from core.errors import DomainError, NotFound, SchemaError
from core.forms import FieldType, FormSpec, format_answer, parse_form_spec
from core.fulfilment import (
    LINE_STATUS,
    STATUS_LABELS,
    StatusStep,
    in_statuses,
    line_status,
    organiser_history,
)
from core.models import Event, FormVersion, Item, Order, OrderLine, OrderPersonalData, OrderStatus, Vendor
from core.money import DEFAULT_CURRENCY, lines_total
from core.order_mail import resend_to_vendors
from core.vendors import DisclosureView, disclosure_register

MAX_PAGE_SIZE = 500
MAX_SEARCH_LENGTH = 100
ORDER_COLUMNS = ("reference", "placed_at", "status", "items", "total", "name", "email")


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
    currency: str = DEFAULT_CURRENCY

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
    # Where the line is (`fulfilment.line_status`): ahead of its order when its vendor moved only its part.
    status: OrderStatus | None = None


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
    currency: str = DEFAULT_CURRENCY

    @property
    def total(self) -> Decimal | None:
        return _total(self.lines)

    @property
    def line_status_labels(self) -> tuple[str, ...]:
        """Each line's status while a vendor has moved its part ahead of the rest; empty while all are together."""
        if all(line.status in (None, self.status) for line in self.lines):
            return ()
        return tuple(STATUS_LABELS[line.status or self.status] for line in self.lines)

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
                   OrderLine.quantity, OrderLine.unit_price, LINE_STATUS.label("status"))
            .join(Order, Order.id == OrderLine.order_id)
            .where(OrderLine.order_id.in_(lines)).order_by(OrderLine.id)
        ):
            lines[line.order_id].append(OrderLineView(line.item_key, line.item_name, line.variant_label,
                                                      line.quantity, line.unit_price, line.status))
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
        "items": pd.Series([summarise_lines(lines[row.id], row.status) for row in found], dtype="str"),
        "total": pd.Series([float(t) if t is not None else math.nan for t in totals], dtype="float64"),
        "name": pd.Series(names, dtype="str"),
        "email": pd.Series(emails, dtype="str"),
    }, columns=list(ORDER_COLUMNS))
    item_choices = {key: name for key, name in session.execute(
        select(Item.key, Item.name).where(Item.event_id == event.id).order_by(Item.position, Item.id))}
    return OrderPage(rows=rows, total=total, page=page, page_size=page_size, timezone=event.timezone,
                     item_choices=item_choices, currency=event.currency)


def summarise_lines(lines: Sequence[OrderLineView], order_status: OrderStatus | None = None) -> str:
    """A one-line summary such as "2× T-shirt (Fitted, M); 1× Breakfast box"; a line whose vendor moved it ahead
    of `order_status` says where it is: "2× T-shirt (Fitted, M), shipped"."""
    return "; ".join(f"{line.quantity}× {line.item_name}" + (f" ({line.variant_label})" if line.variant_label else "")
                     + (f", {STATUS_LABELS[line.status].lower()}"
                        if order_status is not None and line.status not in (None, order_status) else "")
                     for line in lines)


def order_detail(session: Session, actor: Actor, event_id: int, reference: str) -> OrderDetail:
    """One order of the event with its lines and every answer, personal ones included.

    Raises PermissionDenied, or NotFound when the event has no order with this reference.
    """
    require(session, actor, Permission.ORDERS_VIEW, event_id)
    event = _get_event(session, event_id)
    order = _find_order(session, event, reference)
    version = session.get_one(FormVersion, order.form_version_id)
    spec = _parse_or_none(version.schema)
    personal = order.personal.answers if order.personal is not None else {}
    return OrderDetail(
        reference=order.reference, status=order.status, placed_at=order.created_at, timezone=event.timezone,
        form_version=version.number, currency=event.currency,
        lines=tuple(OrderLineView(line.item_key, line.item_name, line.variant_label, line.quantity, line.unit_price,
                                  line_status(order, line)) for line in order.lines),
        answers=_answer_views(spec, order.answers, personal),
        personal_data_kept=order.personal is not None,
        disclosures=disclosure_register(session, order.id, spec),
        history=organiser_history(session, order.id),
    )


def _find_order(session: Session, event: Event, reference: str) -> Order:
    """The event's order with this reference, its lines and personal data loaded; raises NotFound."""
    order = session.scalars(
        select(Order).where(Order.event_id == event.id, Order.reference == _normalise_reference(reference))
        .options(selectinload(Order.lines), selectinload(Order.personal))
    ).first()
    if order is None:
        raise NotFound(f"There is no order {reference.strip()} in this event.")
    return order


def resend_order_to_vendors(session: Session, actor: Actor, event_id: int, reference: str) -> tuple[str, ...]:
    """Send the order again to its per-order vendors (the vendor lost the mail); returns their names.

    Each mail holds what the vendor may see of the order as it is now, goes into the disclosure register and
    is audited as `order.resent_to_vendors`. Raises PermissionDenied, NotFound, or DomainError for a cancelled
    order, one whose personal details were deleted, or one without items of a per-order vendor.
    """
    require(session, actor, Permission.ORDERS_UPDATE, event_id)
    event = _get_event(session, event_id)
    order = _find_order(session, event, reference)
    if order.status == OrderStatus.CANCELLED:
        raise DomainError(f"Order {order.reference} is cancelled; there is nothing to send.")
    if event.purged_at is not None:
        raise DomainError(f"The personal details of order {order.reference} were deleted; it cannot be sent again.")
    spec = _parse_or_none(session.get_one(FormVersion, order.form_version_id).schema)
    if spec is None:
        raise DomainError("This order's form can no longer be read; it cannot be sent again.")
    answers = {**order.answers, **(order.personal.answers if order.personal is not None else {})}
    messages = resend_to_vendors(session, event, order, spec, answers)
    if not messages:
        raise DomainError(f"No item of order {order.reference} goes to a per-order vendor. Batch vendors get "
                          "their lists on the Exports page.")
    vendor_ids = sorted({message.vendor_id for message in messages if message.vendor_id is not None})
    audit.record(session, actor, "order.resent_to_vendors", event=event.id, subject=f"order:{order.reference}",
                 details={"reference": order.reference, "vendor_ids": vendor_ids,
                          "message_ids": [message.id for message in messages]})
    return tuple(session.get_one(Vendor, vendor_id).name for vendor_id in dict.fromkeys(
        message.vendor_id for message in messages) if vendor_id is not None)


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
        conditions.append(in_statuses(filters.statuses))
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


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _total(lines: Sequence[OrderLineView]) -> Decimal | None:
    return lines_total((line.unit_price, line.quantity) for line in lines)
