"""Factories for the organiser's order, fulfilment and audit tests: orders placed at a given time, their items,
and two shops with an organiser of the first (test_order_admin, test_fulfilment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.fulfilment import change_status
from core.models import AuditEntry, Event, MessageKind, Order, OrderStatus, OutboxMessage
from core.orders import place_order
from tests.factories import answers, make_shop, make_user


def place(session: Session, event: Event, key: str, *, now: datetime | None = None, **overrides: Any) -> str:
    """Place an order with `answers(**overrides)`; returns its reference."""
    return place_order(session, event, answers(**overrides), idempotency_key=key, now=now).reference


def tshirts(quantity: int = 1, *, size: str = "M") -> list[dict[str, Any]]:
    return [{"item": "tshirt", "options": {"type": "Fitted", "size": size}, "quantity": quantity}]


def hoodie(quantity: int = 1, *, size: str = "L") -> list[dict[str, Any]]:
    return [{"item": "hoodie", "options": {"size": size}, "quantity": quantity}]


@dataclass(frozen=True)
class TwoOrders:
    """A shop with its organiser olivia and two orders: Ada's two t-shirts and Grace's hoodie (references)."""

    engine: Engine
    event_id: int
    organiser: Actor
    ada: str
    grace: str

    def status(self, reference: str) -> OrderStatus:
        with read_only(self.engine) as session:
            return session.scalars(select(Order.status).where(Order.reference == reference)).one()

    def status_mails(self) -> list[OutboxMessage]:
        with read_only(self.engine) as session:
            return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.STATUS_UPDATE)))


def make_two_orders(engine: Engine) -> TwoOrders:
    with unit_of_work(engine) as session:
        event = make_shop(session, title="Summer Meetup")
        organiser = make_user(session, "olivia", member_of=[event])
        ada = place(session, event, "a", items=tshirts(2), name="Ada Lovelace", email="ada@example.com")
        grace = place(session, event, "b", items=hoodie(), name="Grace Hopper", email="grace@example.com")
    return TwoOrders(engine, event.id, organiser, ada, grace)


# Auckland is UTC+12 in June, so its calendar days differ from UTC's by half a day.
TIMEZONE = "Pacific/Auckland"
BASE = datetime(2027, 6, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class TwoShops:
    engine: Engine
    event_id: int
    other_event_id: int
    organiser: Actor


def make_two_shops(engine: Engine) -> TwoShops:
    """A shop in Auckland's time zone, another shop, and olivia, organiser of the first only."""
    with unit_of_work(engine) as session:
        event = make_shop(session, timezone=TIMEZONE)
        other = make_shop(session, slug="other-event")
        organiser = make_user(session, "olivia", member_of=[event])
    return TwoShops(engine, event.id, other.id, organiser)


def place_after(shops: TwoShops, key: str, *, minutes: float = 0, event_id: int | None = None,
                **overrides: object) -> str:
    """Place an order in the first shop (or `event_id`) `minutes` after BASE; returns its reference."""
    with unit_of_work(shops.engine) as session:
        event = session.get_one(Event, event_id or shops.event_id)
        return place(session, event, key, now=BASE + timedelta(minutes=minutes), **overrides)


def change_as_organiser(shops: TwoShops, references: list[str], status: OrderStatus) -> int:
    """`change_status` of the orders as the organiser."""
    with unit_of_work(shops.engine) as session:
        return change_status(session, shops.organiser, shops.event_id, references, status)


def status_of(shops: TwoShops, reference: str) -> OrderStatus:
    """The order's status now."""
    with read_only(shops.engine) as session:
        return session.scalars(select(Order.status).where(Order.reference == reference)).one()


def order_audit(shops: TwoShops) -> list[AuditEntry]:
    """The audit entries of orders (`order.*`), oldest first."""
    with read_only(shops.engine) as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action.like("order.%"))
                                    .order_by(AuditEntry.id)))
