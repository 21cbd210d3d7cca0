"""Placing orders: validate against the event's form, then write the order and its lines in one transaction."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from core.catalogue import load_catalogue
from core.errors import EventNotOpen
from core.events import EventPhase, event_phase
from core.form_versions import current_form_version
from core.forms import parse_form_spec, validate_answers
from core.models import Event, Item, Order, OrderLine, OrderPersonalData, utcnow

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

    The same `idempotency_key` (one per form session) always yields the first order's receipt, so a double
    click or a rerun never orders twice. Raises EventNotOpen, FormValidationError, or SchemaError for a
    broken stored form. Does not commit.
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
    order = Order(
        event_id=event.id, form_version_id=version.id, reference=_unused_reference(session),
        idempotency_key=idempotency_key, created_at=now,
        answers={k: v for k, v in clean.values.items() if k not in personal_keys},
    )
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
    return _receipt(order, created=True)


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


def _receipt(order: Order, *, created: bool) -> OrderReceipt:
    return OrderReceipt(
        reference=order.reference,
        placed_at=order.created_at,
        lines=tuple(ReceiptLine(line.item_name, line.variant_label, line.quantity, line.unit_price)
                    for line in order.lines),
        created=created,
    )
