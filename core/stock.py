"""Stock: taking and giving back units of variants and shared pools, and what is left of them.

`Variant.sold` and `StockPool.sold` count the units in orders that are not cancelled. They change only through
conditional UPDATEs (`sold = sold + q WHERE stock IS NULL OR sold + q <= stock`), never read-then-write: SQLite
runs them under the write lock (BEGIN IMMEDIATE) and PostgreSQL re-checks the WHERE under the row lock once a
concurrent update commits, so no number of simultaneous orders can sell more than there is. Rows are updated in
a fixed order (variants, then pools, each by id) so that two PostgreSQL transactions never wait on each other in
a circle. A pool's `sold` is the sum of its items' variants' `sold` (`core.catalogue_admin.set_item_pool` keeps it so).

An attendee's change of an order goes through `change_stock`, which moves each counter once by the difference.
The order's code use and its email claim are given back with its stock (`release_order`); callers take locks
in one order: email claim, code, variants, pools (`core.orders.place_order`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, case, delete, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from core.catalogue import load_catalogue
from core.codes import release_code
from core.db import transaction_connection
from core.errors import SoldOut
from core.models import EmailClaim, Event, Item, Order, OrderLine, StockPool, Variant

# Built once: these run for every order line, and building a statement costs more than running it on SQLite.
_VARIANTS, _POOLS = Variant.__table__, StockPool.__table__
_TAKE_VARIANT = (
    update(_VARIANTS)
    .where(_VARIANTS.c.id == bindparam("row_id"),
           or_(_VARIANTS.c.stock.is_(None), _VARIANTS.c.sold + bindparam("quantity") <= _VARIANTS.c.stock))
    .values(sold=_VARIANTS.c.sold + bindparam("quantity")))
_TAKE_POOL = (
    update(_POOLS)
    .where(_POOLS.c.id == bindparam("row_id"), _POOLS.c.sold + bindparam("quantity") <= _POOLS.c.capacity)
    .values(sold=_POOLS.c.sold + bindparam("quantity")))
# Orders older than the counters (or moved between pools) must not drive them negative.
_RELEASE_VARIANT, _RELEASE_POOL = (
    update(table).where(table.c.id == bindparam("row_id"))
    .values(sold=case((table.c.sold >= bindparam("quantity"), table.c.sold - bindparam("quantity")), else_=0))
    for table in (_VARIANTS, _POOLS))


@dataclass(frozen=True)
class _Want:
    quantity: int
    item_key: str
    label: str


def take_stock(session: Session, lines: Iterable[OrderLine], *,
               item_pools: Mapping[int, int | None] | None = None) -> None:
    """Take the lines' units from their variants and their items' pools, all or nothing.

    Lines need `variant_id`, `item_id`, `quantity` and the labels (an OrderLine before or after flushing).
    `item_pools` (item id -> pool id) saves a query when the caller read the items in this transaction.
    Raises SoldOut naming the first variant or pool without enough left ("Only 2 left of …"); the caller must
    then roll back (its savepoint or transaction), since units taken before the failing row stay taken.
    """
    change_stock(session, (), lines, item_pools=item_pools)


def release_stock(session: Session, lines: Iterable[OrderLine]) -> None:
    """Give the lines' units back to their variants and their items' current pools (never below zero).

    Lines whose variant or item was deleted give nothing back.
    """
    change_stock(session, lines, ())


def change_stock(session: Session, released: Iterable[OrderLine], taken: Iterable[OrderLine], *,
                 item_pools: Mapping[int, int | None] | None = None) -> None:
    """Give back `released` and take `taken` in one pass, e.g. when an attendee changes an order.

    Each variant and pool changes once, by the difference, in the fixed lock order; releasing first and then
    taking would lock rows out of order, which lets two concurrent changes deadlock on PostgreSQL. Raises
    SoldOut as take_stock does ("Only 3 left" counts the units `released` gives back); roll back then.
    """
    back_variants, back_pools = _wanted(session, released, item_pools)
    want_variants, want_pools = _wanted(session, taken, item_pools)
    connection = transaction_connection(session)
    for statement_take, statement_release, wanted, back, where in (
            (_TAKE_VARIANT, _RELEASE_VARIANT, want_variants, back_variants, Variant),
            (_TAKE_POOL, _RELEASE_POOL, want_pools, back_pools, StockPool)):
        for row_id in sorted(wanted.keys() | back.keys()):
            given_back = back[row_id].quantity if row_id in back else 0
            want = wanted.get(row_id)
            delta = (want.quantity if want else 0) - given_back
            if delta < 0:
                connection.execute(statement_release, {"row_id": row_id, "quantity": -delta})
            elif delta > 0 and want and connection.execute(
                    statement_take, {"row_id": row_id, "quantity": delta}).rowcount != 1:
                raise SoldOut(_shortage_of(session, where, row_id, want, given_back), want.item_key)
    _expire_counters(session, want_variants.keys() | back_variants.keys(), want_pools.keys() | back_pools.keys())


def _shortage_of(session: Session, model: type[Variant] | type[StockPool], row_id: int, want: _Want,
                 given_back: int) -> str:
    if model is Variant:
        stock, sold = session.execute(select(Variant.stock, Variant.sold).where(Variant.id == row_id)).one()
        return _shortage(want.label, stock - sold + given_back)
    name, capacity, sold = session.execute(
        select(StockPool.name, StockPool.capacity, StockPool.sold).where(StockPool.id == row_id)).one()
    return _shortage(name, capacity - sold + given_back)


def release_order(session: Session, order: Order) -> None:
    """Give back everything a cancelled `order` held: its stock, its code use and its email claim.

    Call it once, when the order leaves the non-cancelled states (the caller checks that it was not cancelled
    already, or the units would be given back twice).
    """
    release_code(session, order.id)
    release_stock(session, order.lines)
    session.execute(delete(EmailClaim).where(EmailClaim.order_id == order.id))


def availability(session: Session, event: Event) -> dict[tuple[str, str], int | None]:
    """Units left per offered (item key, variant key) of the event's active items; None means unlimited."""
    return {(item.key, variant.key): variant.remaining
            for item in load_catalogue(session, event, images=False) for variant in item.variants}


def everything_sold_out(session: Session, event: Event) -> bool:
    """Whether the event offers variants and none of them has a unit left (switched-off variants don't count)."""
    offered = [variant for item in load_catalogue(session, event, images=False)
               for variant in item.variants if variant.available]
    return bool(offered) and all(variant.sold_out for variant in offered)


def _wanted(session: Session, lines: Iterable[OrderLine], item_pools: Mapping[int, int | None] | None = None
            ) -> tuple[dict[int, _Want], dict[int, _Want]]:
    """Units wanted per variant id and per pool id, each with the first line's item key and label."""
    variants: dict[int, _Want] = {}
    by_item: dict[int, list[_Want]] = {}
    for line in lines:
        if line.variant_id is None or line.quantity <= 0:
            continue
        label = f"{line.item_name} ({line.variant_label})" if line.variant_label else line.item_name
        before = variants.get(line.variant_id)
        want = _Want(line.quantity + (before.quantity if before else 0), line.item_key, before.label if before
                     else label)
        variants[line.variant_id] = want
        if line.item_id is not None:
            by_item.setdefault(line.item_id, []).append(_Want(line.quantity, line.item_key, label))
    pools: dict[int, _Want] = {}
    if by_item:
        if item_pools is None:
            item_pools = dict(session.execute(
                select(Item.id, Item.pool_id).where(Item.id.in_(by_item), Item.pool_id.is_not(None))).all())
        for item_id, pool_id in item_pools.items():
            if pool_id is None or item_id not in by_item:
                continue
            quantity = sum(want.quantity for want in by_item[item_id])
            before = pools.get(pool_id)
            pools[pool_id] = _Want(quantity + (before.quantity if before else 0),
                                   before.item_key if before else by_item[item_id][0].item_key, "")
    return variants, pools


def _shortage(label: str, left: int | None) -> str:
    left = max(0, left or 0)
    return f"{label} is sold out." if left == 0 else f"Only {left} left of {label}."


def _expire_counters(session: Session, variants: Iterable[int], pools: Iterable[int]) -> None:
    """Loaded Variant/StockPool objects hold the old `sold`; the UPDATEs bypassed them, so reload it on access."""
    for model, ids in ((Variant, variants), (StockPool, pools)):
        for row_id in ids:
            loaded = session.identity_map.get(identity_key(model, row_id))
            if loaded is not None:
                session.expire(loaded, ["sold"])
