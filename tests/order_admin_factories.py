"""Factories for the organiser's order and audit tests: orders placed at a given time, and their items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.models import Event
from core.orders import place_order
from tests.factories import answers


def place(session: Session, event: Event, key: str, *, now: datetime | None = None, **overrides: Any) -> str:
    """Place an order with `answers(**overrides)`; returns its reference."""
    return place_order(session, event, answers(**overrides), idempotency_key=key, now=now).reference


def tshirts(quantity: int = 1, *, size: str = "M") -> list[dict[str, Any]]:
    return [{"item": "tshirt", "options": {"type": "Fitted", "size": size}, "quantity": quantity}]


def hoodie(quantity: int = 1, *, size: str = "L") -> list[dict[str, Any]]:
    return [{"item": "hoodie", "options": {"size": size}, "quantity": quantity}]
