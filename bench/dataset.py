"""The benchmarks' shared data set: an event like the demo, filled with generated orders by bulk inserts."""

from __future__ import annotations

import os
import platform
import random
import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select

from core.auth import Actor
from core.catalogue_admin import add_item
from core.db import read_only, unit_of_work
from core.demo import DEMO_FORM
from core.event_admin import create_event
from core.form_versions import save_form
from core.models import (
    Item,
    Order,
    OrderLine,
    OrderPersonalData,
    OrderStatus,
    UserRole,
    Variant,
    Vendor,
    VendorMode,
    utcnow,
)
from core.orders import REFERENCE_ALPHABET, REFERENCE_LENGTH
from core.users import actor_for, create_user

ADMIN = "bench-admin"
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Katherine", "Linus",
               "Margaret", "Niklaus", "Radia", "Tim", "Zoë", "Ken", "Dennis", "Hedy", "Annie", "Claude"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Johnson",
              "Torvalds", "Hamilton", "Wirth", "Perlman", "Berners-Lee", "Brontë", "Thompson", "Ritchie", "Lamarr",
              "Easley", "Shannon"]
# Most orders wait or are on their way; few are cancelled, as at a real event.
STATUS_WEIGHTS = {OrderStatus.RECEIVED: 30, OrderStatus.SENT_TO_VENDOR: 20, OrderStatus.IN_PRODUCTION: 15,
                  OrderStatus.SHIPPED: 15, OrderStatus.DELIVERED: 17, OrderStatus.CANCELLED: 3}
# A few notes that a spreadsheet would read as formulas, so that neutralising is part of the work measured.
NOTES = ["", "", "", "", "Please knock twice", "=HYPERLINK(\"http://evil.example\")", "-no onions", "@reception"]


def build_event(
    engine: Engine, orders: int, *, lines_per_order: int | None = None, batch_vendor: bool = False, seed: int = 2027
) -> tuple[int, Actor]:
    """An event like the demo with `orders` orders and their personal data; returns its id and an admin Actor.

    Each order has `lines_per_order` lines (None: one or two at random). With `batch_vendor`, every item goes to
    one batch vendor. Rows go in by three executemany inserts in one transaction: the fast way to fill SQLite.
    """
    event_id, version_id, admin = _event(engine, batch_vendor)
    with read_only(engine) as session:
        variants = [(item.id, item.key, item.name, item.price, [d["name"] for d in item.dimensions], variant.id,
                     variant.key, variant.options)
                    for item, variant in session.execute(
                        select(Item, Variant).join(Variant, Variant.item_id == Item.id)
                        .where(Item.event_id == event_id).order_by(Variant.id))]
    rng = random.Random(seed)
    statuses, weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    start = utcnow() - timedelta(days=60)
    references: set[str] = set()
    order_rows: list[dict[str, Any]] = []
    personal: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for order_id in range(1, orders + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        chosen = rng.sample(variants, lines_per_order or (1 if rng.random() < 0.5 else 2))
        breakfast = any(c[1] == "breakfast" for c in chosen)
        order_rows.append({"id": order_id, "event_id": event_id, "form_version_id": version_id,
                           "reference": _reference(rng, references), "idempotency_key": f"bench-{order_id}",
                           "status": rng.choices(statuses, weights)[0],
                           "answers": {"consent": True, **({"dietary": "Vegetarian"} if breakfast else {})},
                           "created_at": start + timedelta(seconds=rng.uniform(0, 60 * 86400))})
        answers: dict[str, Any] = {"name": f"{first} {last}", "email": f"{first}.{last}{order_id}@example.org".lower()}
        if breakfast:
            answers |= {"phone": f"+4479{rng.randrange(10**8):08d}",
                        "delivery": {"street": f"{rng.randint(1, 200)} High Street", "city": "London",
                                     "postcode": "N1 1AA", "country": "United Kingdom"}}
        if note := rng.choice(NOTES):
            answers["notes"] = note
        personal.append({"order_id": order_id, "answers": answers})
        for item_id, item_key, item_name, price, dimension_names, variant_id, variant_key, options in chosen:
            lines.append({"order_id": order_id, "item_id": item_id, "variant_id": variant_id, "item_key": item_key,
                          "item_name": item_name, "variant_key": variant_key,
                          "variant_label": ", ".join(options[d] for d in dimension_names),
                          "quantity": rng.randint(1, 3), "unit_price": price})
    with engine.begin() as connection:
        connection.execute(insert(Order.__table__), order_rows)
        connection.execute(insert(OrderPersonalData.__table__), personal)
        connection.execute(insert(OrderLine.__table__), lines)
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
    return event_id, admin


def _event(engine: Engine, batch_vendor: bool) -> tuple[int, int, Actor]:
    with unit_of_work(engine) as session:
        event = create_event(session, slug="bench", title="Benchmark Meetup", published=True,
                             timezone="Europe/London")
        add_item(session, event, key="tshirt", name="T-shirt", price=Decimal("15.00"), max_per_order=5,
                 dimensions=[{"name": "type", "label": "Type", "options": ["Fitted", "Straight"]},
                             {"name": "size", "label": "Size", "options": ["S", "M", "L", "XL"]},
                             {"name": "colour", "label": "Colour", "options": ["Black", "Forest green"]}])
        add_item(session, event, key="hoodie", name="Hoodie", price=Decimal("35.00"), max_per_order=2,
                 dimensions=[{"name": "size", "label": "Size", "options": ["S", "M", "L", "XL"]}])
        add_item(session, event, key="breakfast", name="Breakfast box", price=Decimal("9.50"), max_per_order=4)
        version, _ = save_form(session, event, DEMO_FORM)
        admin = create_user(session, None, username=ADMIN, display_name="Bench", role=UserRole.ADMIN,
                            password="a-long-password-123")
        if batch_vendor:
            vendor = Vendor(name="Bench Batch", mode=VendorMode.BATCH, emails=["batch@vendor.example"],
                            visible_fields=["name", "phone", "delivery", "dietary"])
            session.add(vendor)
            session.flush()
            for item in event.items:
                item.vendor_id = vendor.id
        session.flush()
        return event.id, version.id, actor_for(admin)


def _reference(rng: random.Random, taken: set[str]) -> str:
    while True:
        reference = "".join(rng.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
        if reference not in taken:
            taken.add(reference)
            return reference


def print_machine() -> None:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"Machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}; "
          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
