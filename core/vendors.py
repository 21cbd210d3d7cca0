"""Vendors: who receives which items of an order, which order fields they may see, and what they were sent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from core.forms import FormSpec
from core.models import Disclosure, OutboxMessage, Vendor, utcnow


def disclosed_fields(vendor: Vendor, form: FormSpec) -> list[str]:
    """The keys of `form`'s fields that `vendor` may see, in form order (unknown keys are ignored)."""
    allowed = set(vendor.visible_fields)
    return [spec.key for spec in form.fields if spec.key in allowed]


def record_disclosure(
    session: Session, vendor: Vendor, order_ids: Iterable[int], fields: Sequence[str], message: OutboxMessage | None
) -> None:
    """Record that `vendor` received `fields` of these orders in `message` (the order's disclosure register)."""
    now = utcnow()
    session.add_all(
        Disclosure(vendor_id=vendor.id, vendor_name=vendor.name, order_id=order_id, fields=list(fields),
                   message_id=message.id if message else None, at=now)
        for order_id in order_ids
    )
