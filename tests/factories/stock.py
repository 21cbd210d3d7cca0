"""Factories for stock, shared pools and redemption codes, written as the organiser pages and core would."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.codes import code_hash
from core.models import CodeMode, Event, Item, RedemptionCode, StockPool, Variant

# The codes' HMAC key in tests (also the email claims' key is derived from it).
CODE_KEY = b"test-code-key-0123456789abcdef-0123456789"


def set_stock(session: Session, event: Event, item_key: str, variant_key: str, stock: int | None) -> Variant:
    """Give a variant a stock directly (the organiser's `set_variant_stock` is tested on its own)."""
    variant = session.scalars(select(Variant).join(Item).where(
        Item.event_id == event.id, Item.key == item_key, Variant.key == variant_key)).one()
    variant.stock = stock
    session.flush()
    return variant


def make_pool(session: Session, event: Event, name: str, capacity: int, item_keys: list[str]) -> StockPool:
    """A shared stock that the given items (with nothing sold yet) draw on."""
    pool = StockPool(event_id=event.id, name=name, capacity=capacity, sold=0)
    session.add(pool)
    session.flush()
    for item in session.scalars(select(Item).where(Item.event_id == event.id, Item.key.in_(item_keys))):
        item.pool_id = pool.id
    session.flush()
    return pool


def make_code(session: Session, event: Event, code: str, *, max_uses: int = 1, mode: CodeMode = CodeMode.FORM,
              expires_at: datetime | None = None) -> RedemptionCode:
    """A redemption code stored as core.codes stores it (its HMAC only); switches the event to `mode`."""
    event.code_mode = mode
    row = RedemptionCode(event_id=event.id, code_hash=code_hash(code, CODE_KEY), hint=code[:4], max_uses=max_uses,
                         expires_at=expires_at)
    session.add(row)
    session.flush()
    return row
