"""Factories for the organiser side of events: memberships, orders placed at a chosen moment, and images."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.models import Event, EventMember, Order, OrderStatus
from core.orders import OrderReceipt, place_order
from tests.factories import answers


def make_member(session: Session, event: Event, actor: Actor) -> None:
    session.add(EventMember(event_id=event.id, user_id=actor.user_id))
    session.flush()


def make_order(
    session: Session,
    event: Event,
    items: list[dict[str, Any]],
    *,
    key: str,
    now: datetime | None = None,
    status: OrderStatus = OrderStatus.RECEIVED,
    code_key: bytes = b"",
    **overrides: Any,
) -> OrderReceipt:
    """An order of `items` (answers() with those lines) placed at `now`, then set to `status`; with `code_key`,
    it keeps the fingerprint that recognises a repeated submission (core/submissions.py)."""
    receipt = place_order(session, event, answers(items=items, **overrides), idempotency_key=key, now=now,
                          code_key=code_key)
    if status != OrderStatus.RECEIVED:
        session.scalars(select(Order).where(Order.reference == receipt.reference)).one().status = status
    session.flush()
    return receipt


def image_bytes(size: tuple[int, int] = (40, 20), *, mode: str = "RGB", image_format: str = "PNG",
                colour: Any = "steelblue", **save: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format=image_format, **save)
    return buffer.getvalue()
