"""Many OS processes race place_order for the last unit, a shared pool and a code, on the test's real database.

Each racer is a separate process (multiprocessing, "spawn") with its own engine on the same SQLite file or
PostgreSQL database; a barrier releases them into place_order at the same instant. Exactly the allowed number
may succeed, every other racer must get the expected refusal beside its field, nothing else may fail, and the
counters must equal the order lines afterwards.

`test_the_harness_catches_a_broken_lock` proves the checks have teeth: its racers run a deliberately broken
stock step (read what is left, wait, write the new count) and the same checks must fail. On PostgreSQL that
broken step oversells. On SQLite the lock is the write transaction itself (BEGIN IMMEDIATE serialises whole
orders, so no step inside one can oversell); the broken racers there also start their transactions deferred,
as pysqlite would by default, and the checks see them fail with "database is locked".
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator, Sequence
from itertools import cycle
from multiprocessing.pool import Pool
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

import core.db
import core.orders
from core.db import make_engine, read_only, unit_of_work
from core.errors import FormValidationError, SoldOut
from core.models import CodeRedemption, Event, Item, Order, OrderLine, RedemptionCode, StockPool, Variant
from core.orders import place_order
from tests.factories import make_shop
from tests.factories.stock import CODE_KEY, make_code, make_pool, set_stock

RACERS = 8
# How long the broken stock step waits between reading and writing: every racer reads before anyone writes.
RACE_WINDOW_SECONDS = 0.3
BARRIER_TIMEOUT_SECONDS = 60

_barrier: Any = None


def _start_racer(barrier: Any) -> None:
    global _barrier
    _barrier = barrier


def _race(task: tuple[str, str, dict[str, Any], str, bool]) -> tuple[str, Any]:
    """One racer: place an order when the barrier opens; ("ok", reference), ("refused", errors) or ("error", …)."""
    url, key, given, code, broken = task
    originals = core.orders.take_stock, core.db._begin_sqlite_transaction
    if broken:
        core.orders.take_stock = _read_then_write_take_stock  # type: ignore[assignment]
        core.db._begin_sqlite_transaction = _deferred_begin  # type: ignore[assignment]
    engine = make_engine(url)
    try:
        with engine.connect():
            pass  # connect before the barrier, so the race is about the orders, not about opening connections
        _barrier.wait(timeout=BARRIER_TIMEOUT_SECONDS)
        with unit_of_work(engine) as session:
            event = session.scalars(select(Event)).one()
            receipt = place_order(session, event, given, idempotency_key=key, code=code, code_key=CODE_KEY)
        return "ok", receipt.reference
    except FormValidationError as exc:
        return "refused", exc.errors
    except Exception as exc:  # noqa: BLE001 - any other failure is what the test looks for
        return "error", f"{type(exc).__name__}: {exc}"
    finally:
        engine.dispose()
        core.orders.take_stock, core.db._begin_sqlite_transaction = originals  # type: ignore[assignment]


def _read_then_write_take_stock(session: Session, lines: Sequence[OrderLine], **_: object) -> None:
    """The bug take_stock exists to avoid: look at what is left, then write the new count in a second step."""
    for line in lines:
        stock, sold = session.execute(select(Variant.stock, Variant.sold).where(Variant.id == line.variant_id)).one()
        if stock is not None and sold + line.quantity > stock:
            raise SoldOut(f"{line.item_name} ({line.variant_label}) is sold out.", line.item_key)
        time.sleep(RACE_WINDOW_SECONDS)
        session.execute(update(Variant).where(Variant.id == line.variant_id).values(sold=sold + line.quantity))


def _deferred_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


@pytest.fixture(scope="module")
def racers() -> Iterator[Pool]:
    """RACERS processes, started once for the module (spawning them costs more than the races)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(RACERS)
    pool = context.Pool(RACERS, initializer=_start_racer, initargs=(barrier,))
    yield pool
    pool.terminate()
    pool.join()


def _run_race(pool: Pool, url: str, orders: Sequence[dict[str, Any]], *, code: str = "",
              broken: bool = False) -> list[tuple[str, Any]]:
    assert len(orders) == RACERS
    tasks = [(url, f"racer-{n}", given, code, broken) for n, given in enumerate(orders)]
    # chunksize=1: each process takes one order and blocks at the barrier, so all RACERS run at once.
    return pool.map_async(_race, tasks, chunksize=1).get(timeout=BARRIER_TIMEOUT_SECONDS * 2)


def _order(n: int, *, size: str = "M", kind: str = "Fitted") -> dict[str, Any]:
    return {"name": f"Racer {n}", "email": f"racer{n}@example.com", "phone": "",
            "items": [{"item": "tshirt", "options": {"type": kind, "size": size}, "quantity": 1}]}


def _check_race(engine: Engine, results: Sequence[tuple[str, Any]], allowed: int, refusal: dict[str, str]) -> None:
    """Exactly `allowed` racers won, every other got `refusal`, nothing else failed, counters match the lines."""
    errors = [detail for outcome, detail in results if outcome == "error"]
    assert not errors, f"racers failed otherwise: {errors}"
    refused = [detail for outcome, detail in results if outcome == "refused"]
    assert all(detail == refusal for detail in refused), f"unexpected refusals: {refused}"
    winners = sum(outcome == "ok" for outcome, _ in results)
    assert winners == allowed, f"{winners} orders succeeded, {allowed} allowed"
    with read_only(engine) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == winners
        sold_lines = dict(session.execute(
            select(OrderLine.variant_id, func.sum(OrderLine.quantity)).group_by(OrderLine.variant_id)).all())
        for variant_id, sold, stock in session.execute(select(Variant.id, Variant.sold, Variant.stock)):
            assert sold == sold_lines.get(variant_id, 0), f"variant {variant_id}: sold {sold}, lines disagree"
            assert stock is None or sold <= stock, f"variant {variant_id}: sold {sold} of {stock}"
        for pool_id, sold, capacity in session.execute(select(StockPool.id, StockPool.sold, StockPool.capacity)):
            in_lines = session.scalar(select(func.coalesce(func.sum(OrderLine.quantity), 0)).join(
                Item, Item.id == OrderLine.item_id).where(Item.pool_id == pool_id))
            assert sold == in_lines <= capacity, f"pool {pool_id}: sold {sold}, lines {in_lines}, of {capacity}"
        for code_id, uses, max_uses in session.execute(
                select(RedemptionCode.id, RedemptionCode.uses, RedemptionCode.max_uses)):
            redeemed = session.scalar(select(func.count()).where(CodeRedemption.code_id == code_id))
            assert uses == redeemed <= max_uses, f"code {code_id}: uses {uses}, redemptions {redeemed}"


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_last_unit_is_sold_to_exactly_one_process(engine: Engine, racers: Pool) -> None:
    with unit_of_work(engine) as session:
        set_stock(session, make_shop(session), "tshirt", "Fitted/M", 1)
    results = _run_race(racers, _url(engine), [_order(n) for n in range(RACERS)])
    _check_race(engine, results, 1, {"items.tshirt": "T-shirt (Fitted, M) is sold out."})


def test_shared_pool_sells_its_capacity_across_sizes(engine: Engine, racers: Pool) -> None:
    with unit_of_work(engine) as session:
        make_pool(session, make_shop(session), "Shirts", 3, ["tshirt"])
    sizes = cycle([("S", "Fitted"), ("M", "Fitted"), ("L", "Straight"), ("M", "Straight")])
    orders = [_order(n, size=size, kind=kind) for n, (size, kind) in zip(range(RACERS), sizes, strict=False)]
    results = _run_race(racers, _url(engine), orders)
    _check_race(engine, results, 3, {"items.tshirt": "Shirts is sold out."})


@pytest.mark.parametrize(("max_uses", "refusal"), [
    (1, "This code has already been used."),
    (3, "This code has already been used 3 times, as often as it allows."),
])
def test_code_is_used_exactly_as_often_as_it_allows(engine: Engine, racers: Pool, max_uses: int,
                                                    refusal: str) -> None:
    with unit_of_work(engine) as session:
        make_code(session, make_shop(session), "RACE-CODE", max_uses=max_uses)
    results = _run_race(racers, _url(engine), [_order(n) for n in range(RACERS)], code="race-code")
    _check_race(engine, results, max_uses, {"code": refusal})


def test_the_same_answers_submitted_by_every_process_at_once_give_one_order(engine: Engine, racers: Pool) -> None:
    """An attendee's repeated submit (new form sessions after a restart, two workers) racing itself: every racer
    gets the one order's receipt, whichever of them placed it (core/submissions.py)."""
    with unit_of_work(engine) as session:
        make_shop(session)
    results = _run_race(racers, _url(engine), [_order(0)] * RACERS)
    assert [outcome for outcome, _ in results] == ["ok"] * RACERS, results
    assert len({reference for _, reference in results}) == 1
    with read_only(engine) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 1
        assert session.scalar(select(func.sum(Variant.sold))) == 1  # stock taken once


def test_the_harness_catches_a_broken_lock(engine: Engine, racers: Pool) -> None:
    with unit_of_work(engine) as session:
        set_stock(session, make_shop(session), "tshirt", "Fitted/M", 1)
    results = _run_race(racers, _url(engine), [_order(n) for n in range(RACERS)], broken=True)
    sqlite = engine.dialect.name == "sqlite"
    with pytest.raises(AssertionError, match="database is locked" if sqlite else "orders succeeded, 1 allowed"):
        _check_race(engine, results, 1, {"items.tshirt": "T-shirt (Fitted, M) is sold out."})
    errors = [detail for outcome, detail in results if outcome == "error"]
    if sqlite:  # the racers that lost the missing lock failed, and for no other reason
        assert errors and all("database is locked" in error for error in errors), errors
    else:  # no error at all: several racers bought the one unit
        assert not errors, errors
        with read_only(engine) as session:
            assert session.scalar(select(func.count()).select_from(Order)) > 1
