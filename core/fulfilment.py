"""Fulfilment: each order's status history (received, sent to vendor, ..., delivered or cancelled)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.models import Order, OrderStatus, OrderStatusChange, utcnow


def record_status(session: Session, order: Order, status: OrderStatus, actor: str, *,
                  tracking: str | None = None, at: datetime | None = None) -> OrderStatusChange:
    """Append a step to the order's history (the caller has set `order.status`); `actor` is a username,
    "attendee" or the system, never a person's name."""
    change = OrderStatusChange(status=status, actor=actor, tracking=tracking, at=at or utcnow())
    order.history.append(change)
    return change
