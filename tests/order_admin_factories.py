"""Factories for the organiser's order and audit tests: users, memberships and orders placed at a given time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.auth import Actor
from core.models import Event, EventMember, UserRole
from core.orders import place_order
from core.users import actor_for, create_user
from tests.factories import answers

PASSWORD = "a-long-password-123"


def make_user(session: Session, username: str, *, role: UserRole = UserRole.ORGANISER,
              member_of: Sequence[Event] = ()) -> Actor:
    """A user (created as from the shell), a member of `member_of`, as the Actor that pages put in state."""
    user = create_user(session, None, username=username, display_name=username.title(), role=role, password=PASSWORD)
    for event in member_of:
        session.add(EventMember(event_id=event.id, user_id=user.id))
    session.flush()
    return actor_for(user)


def place(session: Session, event: Event, key: str, *, now: datetime | None = None, **overrides: Any) -> str:
    """Place an order with `answers(**overrides)`; returns its reference."""
    return place_order(session, event, answers(**overrides), idempotency_key=key, now=now).reference


def tshirts(quantity: int = 1, *, size: str = "M") -> list[dict[str, Any]]:
    return [{"item": "tshirt", "options": {"type": "Fitted", "size": size}, "quantity": quantity}]


def hoodie(quantity: int = 1, *, size: str = "L") -> list[dict[str, Any]]:
    return [{"item": "hoodie", "options": {"size": size}, "quantity": quantity}]
