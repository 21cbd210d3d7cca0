"""Factories for the redemption code tests (test_codes, test_code_admin): one shop, its organiser, and codes
generated, checked and redeemed through the real services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.code_admin import CodeBatch, generate_codes
from core.codes import CodeCheck, check_code, redeem_code
from core.db import read_only, unit_of_work
from core.models import Event, Order, RedemptionCode
from tests.factories import make_shop, make_user
from tests.factories.orders import place

KEY = b"k" * 32
NOW = datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
TIMEZONE = "Europe/Berlin"


@dataclass(frozen=True)
class World:
    engine: Engine
    event_id: int
    organiser: Actor


def make_world(engine: Engine) -> World:
    """A shop in Berlin's time zone and its organiser, olivia."""
    with unit_of_work(engine) as session:
        event = make_shop(session, timezone=TIMEZONE)
        organiser = make_user(session, "olivia", member_of=[event])
    return World(engine, event.id, organiser)


def generate_codes_for(world: World, **batch: object) -> tuple[str, ...]:
    """Generate codes as the organiser (one by default); returns them in clear."""
    with unit_of_work(world.engine) as session:
        return generate_codes(session, world.organiser, world.event_id, CodeBatch(**{"count": 1, **batch}),
                              key=KEY, now=NOW).codes


def place_order_id(session: Session, event: Event, key: str) -> int:
    """Place an order in `session` and return its id."""
    reference = place(session, event, key, now=NOW)
    session.flush()
    return session.scalars(select(Order.id).where(Order.reference == reference)).one()


def redeem_for_order(world: World, code: str, order_key: str, items: tuple[str, ...] = ("tshirt",), *,
                     now: datetime = NOW) -> int:
    """Place an order and redeem `code` for it; returns the order's id."""
    with unit_of_work(world.engine) as session:
        event = session.get_one(Event, world.event_id)
        order_id = place_order_id(session, event, order_key)
        redeem_code(session, event, code, items, order_id, key=KEY, now=now)
        return order_id


def check_code_for(world: World, code: str, *, now: datetime = NOW, key: bytes = KEY) -> CodeCheck:
    """What `check_code` says of `code` in the shop."""
    with read_only(world.engine) as session:
        return check_code(session, session.get_one(Event, world.event_id), code, key=key, now=now)


def uses_per_code(world: World) -> list[int]:
    """The uses taken of each code, in the order they were made."""
    with read_only(world.engine) as session:
        return list(session.scalars(select(RedemptionCode.uses).order_by(RedemptionCode.id)))
