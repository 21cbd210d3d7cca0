"""Stock, shared pools, codes and one order per email in place_order; cancelling gives everything back."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from core.catalogue import load_catalogue
from core.catalogue_admin import (
    delete_pool,
    list_items_for_edit,
    list_pools,
    save_pool,
    set_item_pool,
    set_variant_active,
    set_variant_stock,
)
from core.db import read_only, unit_of_work
from core.errors import EventNotOpen, FormValidationError, SoldOut
from core.event_admin import EventChanges, get_event_for_edit, update_event
from core.events import EventPhase, event_phase, load_public_event
from core.fulfilment import cancel_order
from core.models import (
    CodeMode,
    CodeRedemption,
    EmailClaim,
    Event,
    Item,
    Order,
    OrderLine,
    RedemptionCode,
    StockPool,
    User,
    Variant,
    utcnow,
)
from core.orders import OrderReceipt, place_order
from core.stock import availability, change_stock, everything_sold_out
from core.users import actor_for
from tests.factories import answers, make_shop, make_user
from tests.factories.builder import audit_entries
from tests.factories.stock import CODE_KEY, make_code, make_pool, set_stock

FITTED_M = {"type": "Fitted", "size": "M"}


def _tshirt(quantity: int = 1, **options: str) -> list[dict[str, Any]]:
    return [{"item": "tshirt", "options": {**FITTED_M, **options}, "quantity": quantity}]


def _place(engine: Engine, key: str, *, code: str = "", **overrides: Any) -> OrderReceipt:
    """An order by the attendee `key`: each key is someone else, so the same items are a new order, not a repeat
    of an earlier submission (core/submissions.py)."""
    with unit_of_work(engine) as session:
        event = session.scalars(select(Event)).one()
        given = answers(**{"name": f"Attendee {key}", **overrides})
        return place_order(session, event, given, idempotency_key=key, code=code, code_key=CODE_KEY)


def _refused(engine: Engine, key: str, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(FormValidationError) as caught:
        _place(engine, key, **kwargs)
    return caught.value.errors


def _sold(engine: Engine, item_key: str = "tshirt", variant_key: str = "Fitted/M") -> int:
    with read_only(engine) as session:
        return session.scalar(select(Variant.sold).join(Item).where(Item.key == item_key, Variant.key == variant_key))


def _pool_sold(engine: Engine) -> int:
    with read_only(engine) as session:
        return session.scalars(select(StockPool.sold)).one()


def _count(engine: Engine, model: type) -> int:
    with read_only(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def _cancel(engine: Engine, reference: str) -> None:
    with unit_of_work(engine) as session:
        event = session.scalars(select(Event)).one()
        user = session.scalars(select(User).where(User.username == "canceller")).first()
        actor = actor_for(user) if user else make_user(session, "canceller", member_of=[event])
        cancel_order(session, actor, event.id, reference)


@pytest.fixture
def shop(engine: Engine) -> Engine:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        set_stock(session, event, "tshirt", "Fitted/M", 2)
    return engine


def test_last_unit_is_sold_once_and_the_next_order_hears_it_is_sold_out(shop: Engine) -> None:
    _place(shop, "a", items=_tshirt(2))
    errors = _refused(shop, "b", email="bob@example.com", items=_tshirt(1))
    assert errors == {"items.tshirt": "T-shirt (Fitted, M) is sold out."}
    assert (_sold(shop), _count(shop, Order)) == (2, 1)


def test_asking_for_more_than_is_left_says_how_many_are_left(shop: Engine) -> None:
    _place(shop, "a", items=_tshirt(1))
    assert _refused(shop, "b", items=_tshirt(2)) == {"items.tshirt": "Only 1 left of T-shirt (Fitted, M)."}
    _place(shop, "c", items=_tshirt(1))
    assert _sold(shop) == 2


def test_unlimited_variants_still_count_what_is_sold(shop: Engine) -> None:
    _place(shop, "a", items=_tshirt(3, size="L"))
    assert _sold(shop, variant_key="Fitted/L") == 3


def test_repeated_submit_takes_stock_once(shop: Engine) -> None:
    first = _place(shop, "same", items=_tshirt(1))
    again = _place(shop, "same", items=_tshirt(1))
    assert (again.reference, again.created) == (first.reference, False)
    assert _sold(shop) == 1


def test_per_order_maximum_is_refused_beside_the_item(shop: Engine) -> None:
    errors = _refused(shop, "a", items=[{"item": "hoodie", "options": {"size": "M"}, "quantity": 3}])
    assert errors == {"items.hoodie": "You can order at most 2 of Hoodie."}
    assert _sold(shop, "hoodie", "M") == 0


def test_pool_is_shared_by_sizes_and_items(shop: Engine) -> None:
    with unit_of_work(shop) as session:
        make_pool(session, session.scalars(select(Event)).one(), "Shirts and hoodies", 3, ["tshirt", "hoodie"])
    _place(shop, "a", items=_tshirt(1, size="S"))
    _place(shop, "b", items=[{"item": "hoodie", "options": {"size": "L"}, "quantity": 1}])
    errors = _refused(shop, "c", items=_tshirt(2, size="L"))
    assert errors == {"items.tshirt": "Only 1 left of Shirts and hoodies."}
    assert (_pool_sold(shop), _sold(shop, variant_key="Fitted/L")) == (2, 0)  # the variant's units went back too
    _place(shop, "d", items=_tshirt(1, size="L"))
    assert _refused(shop, "e", items=_tshirt(1, size="S")) == {"items.tshirt": "Shirts and hoodies is sold out."}


def test_catalogue_shows_units_left_of_variant_and_pool(shop: Engine) -> None:
    with unit_of_work(shop) as session:
        event = session.scalars(select(Event)).one()
        make_pool(session, event, "Hoodies", 5, ["hoodie"])
        set_stock(session, event, "hoodie", "S", 1)
    _place(shop, "a", items=[*_tshirt(2), {"item": "hoodie", "options": {"size": "M"}, "quantity": 2}])
    with read_only(shop) as session:
        left = availability(session, session.scalars(select(Event)).one())
        tshirt = next(item for item in load_catalogue(session, session.scalars(select(Event)).one())
                      if item.key == "tshirt")
    assert left[("tshirt", "Fitted/M")] == 0
    assert left[("tshirt", "Fitted/S")] is None
    assert (left[("hoodie", "S")], left[("hoodie", "M")]) == (1, 3)  # its own stock, then the pool's 5 - 2
    assert next(v for v in tshirt.variants if v.key == "Fitted/M").sold_out


def test_cancelling_gives_back_stock_code_use_and_email_claim(shop: Engine) -> None:
    with unit_of_work(shop) as session:
        event = session.scalars(select(Event)).one()
        event.one_order_per_email = True
        make_pool(session, event, "Shirts", 10, ["tshirt"])
        make_code(session, event, "ABCD-1234")
    reference = _place(shop, "a", code="abcd 1234", items=_tshirt(2)).reference
    assert (_sold(shop), _pool_sold(shop), _count(shop, CodeRedemption), _count(shop, EmailClaim)) == (2, 2, 1, 1)
    _cancel(shop, reference)
    assert (_sold(shop), _pool_sold(shop), _count(shop, CodeRedemption), _count(shop, EmailClaim)) == (0, 0, 0, 0)
    with read_only(shop) as session:
        assert session.scalars(select(RedemptionCode.uses)).one() == 0
    # The same person, with the same single-use code, may order again.
    assert _place(shop, "b", code="ABCD1234", items=_tshirt(2)).created


def test_cancelling_twice_gives_back_once(shop: Engine) -> None:
    _place(shop, "a", items=_tshirt(1))
    reference = _place(shop, "b", email="bob@example.com", items=_tshirt(1)).reference
    _cancel(shop, reference)
    _cancel(shop, reference)
    assert _sold(shop) == 1


def test_release_never_drives_a_counter_below_zero(shop: Engine) -> None:
    reference = _place(shop, "a", items=_tshirt(1)).reference
    with unit_of_work(shop) as session:  # as for an order placed before the counters existed
        session.scalars(select(Variant).where(Variant.key == "Fitted/M").join(Item).where(Item.key == "tshirt")
                        ).one().sold = 0
    _cancel(shop, reference)
    assert _sold(shop) == 0


def test_single_use_code_is_used_once(shop: Engine) -> None:
    with unit_of_work(shop) as session:
        make_code(session, session.scalars(select(Event)).one(), "ONLY-ONCE")
    assert _refused(shop, "a", items=_tshirt(3, size="L")) == {"code": "Please enter your code."}
    _place(shop, "b", code="ONLY-ONCE", items=_tshirt(1, size="L"))
    errors = _refused(shop, "c", code="only-once", email="bob@example.com", items=_tshirt(1, size="L"))
    assert errors == {"code": "This code has already been used."}
    assert (_count(shop, Order), _sold(shop, variant_key="Fitted/L")) == (1, 1)


def test_refused_stock_gives_the_code_use_back(shop: Engine) -> None:
    with unit_of_work(shop) as session:
        make_code(session, session.scalars(select(Event)).one(), "ONLY-ONCE")
    assert _refused(shop, "a", code="ONLY-ONCE", items=_tshirt(3))["items.tshirt"].startswith("Only 2 left")
    with read_only(shop) as session:
        assert session.scalars(select(RedemptionCode.uses)).one() == 0
    assert _place(shop, "b", code="ONLY-ONCE", items=_tshirt(2)).created


def test_items_mode_asks_a_code_only_for_items_that_need_one(shop: Engine) -> None:
    with unit_of_work(shop) as session:
        event = session.scalars(select(Event)).one()
        make_code(session, event, "HOODIE-1", mode=CodeMode.ITEMS)
        session.scalars(select(Item).where(Item.key == "hoodie")).one().requires_code = True
    _place(shop, "a", items=_tshirt(1))  # no code needed, none used
    assert _refused(shop, "b", items=[{"item": "hoodie", "options": {"size": "M"}, "quantity": 1}]) == {
        "code": "Please enter your code."}


def test_one_order_per_email_address(shop: Engine) -> None:
    with unit_of_work(shop) as session:
        session.scalars(select(Event)).one().one_order_per_email = True
    _place(shop, "a", email="ada@example.com", items=_tshirt(1))
    errors = _refused(shop, "b", email="ADA@example.com ", items=_tshirt(1))
    assert errors == {"email": "An order with this email address already exists for this event."}
    assert (_sold(shop), _count(shop, Order)) == (1, 1)
    with read_only(shop) as session:
        claim = session.scalars(select(EmailClaim)).one()
    assert "ada" not in claim.email_hash and len(claim.email_hash) == 64
    _place(shop, "c", email="bob@example.com", items=_tshirt(1))


def test_several_orders_per_email_unless_the_event_says_otherwise(shop: Engine) -> None:
    _place(shop, "a", items=_tshirt(1))
    _place(shop, "b", items=_tshirt(1))
    assert _count(shop, EmailClaim) == 0


def test_event_closes_itself_when_the_last_unit_goes(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session, close_when_sold_out=True)
        for item in session.scalars(select(Item)):
            for variant in item.variants:
                variant.stock = 1 if (item.key, variant.key) == ("tshirt", "Fitted/M") else 0
    _place(engine, "a", items=_tshirt(1))
    with read_only(engine) as session:
        event = session.scalars(select(Event)).one()
        assert event.sold_out_at is not None
        assert event_phase(event, utcnow()) == EventPhase.CLOSED
        assert [entry.actor for entry in audit_entries(session, "event.sold_out")] == ["system"]
    with pytest.raises(EventNotOpen):
        _place(engine, "b", items=_tshirt(1))


def test_everything_sold_out_ignores_switched_off_variants_and_sees_unlimited_ones(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        actor = make_user(session, member_of=[event])
        for variant in session.scalars(select(Variant)):
            variant.stock = 0
        session.flush()
        assert everything_sold_out(session, event)
        set_variant_stock(session, actor, event.id, "tshirt", "Fitted/S", None)
        assert not everything_sold_out(session, event)
        set_variant_active(session, actor, event.id, "tshirt", "Fitted/S", False)
        assert everything_sold_out(session, event)


def test_an_event_that_does_not_close_when_sold_out_stays_open(shop: Engine) -> None:
    with unit_of_work(shop) as session:
        for variant in session.scalars(select(Variant)):
            variant.stock = 0 if variant.key != "Fitted/M" else 2
    _place(shop, "a", items=_tshirt(2))
    with read_only(shop) as session:
        assert session.scalars(select(Event.sold_out_at)).one() is None


# --- organiser: stock per variant and shared pools ---------------------------------------------------------------

def test_organiser_sets_stock_but_not_below_what_is_sold(shop: Engine) -> None:
    _place(shop, "a", items=_tshirt(2))
    with unit_of_work(shop) as session:
        event = session.scalars(select(Event)).one()
        actor = make_user(session, member_of=[event])
        with pytest.raises(FormValidationError) as caught:
            set_variant_stock(session, actor, event.id, "tshirt", "Fitted/M", 1)
        assert caught.value.errors == {"stock": "2 are already sold: enter at least that many, or nothing for no "
                                                "limit."}
        variant = set_variant_stock(session, actor, event.id, "tshirt", "Fitted/M", 5)
        assert (variant.stock, variant.sold, variant.remaining) == (5, 2, 3)
        with pytest.raises(FormValidationError):
            set_variant_stock(session, actor, event.id, "tshirt", "Fitted/M", -1)
        assert [e.details for e in audit_entries(session, "variant.stock_set")] == [
            {"item": "tshirt", "variant": "Fitted/M", "old": 2, "new": 5}]
    _place(shop, "b", items=_tshirt(3))


def test_more_stock_reopens_an_event_closed_as_sold_out(shop: Engine) -> None:
    with unit_of_work(shop) as session:
        event = session.scalars(select(Event)).one()
        event.close_when_sold_out, event.sold_out_at = True, utcnow()
        actor = make_user(session, member_of=[event])
        set_variant_stock(session, actor, event.id, "tshirt", "Fitted/M", 4)
        assert event.sold_out_at is None


def test_pool_assignment_moves_sold_units_with_the_item(shop: Engine) -> None:
    _place(shop, "a", items=[*_tshirt(2), {"item": "hoodie", "options": {"size": "M"}, "quantity": 1}])
    with unit_of_work(shop) as session:
        event = session.scalars(select(Event)).one()
        actor = make_user(session, member_of=[event])
        save_pool(session, actor, event.id, name="Tops", capacity=10)
        set_item_pool(session, actor, event.id, "tshirt", "Tops")
        item = set_item_pool(session, actor, event.id, "hoodie", "Tops")
        assert item.pool == "Tops"
        pool = list_pools(session, actor, event.id)[0]
        assert (pool.name, pool.capacity, pool.sold, pool.item_keys, pool.remaining) == (
            "Tops", 10, 3, ("tshirt", "hoodie"), 7)
        with pytest.raises(FormValidationError) as caught:
            save_pool(session, actor, event.id, name="Tops", capacity=2, old_name="Tops")
        assert caught.value.errors == {"capacity": "3 are already sold: enter at least that many."}
        set_item_pool(session, actor, event.id, "tshirt", None)
        assert list_pools(session, actor, event.id)[0].sold == 1
        assert [i.pool for i in list_items_for_edit(session, actor, event.id)] == [None, "Tops", None]
        delete_pool(session, actor, event.id, "Tops")
        assert list_pools(session, actor, event.id) == []
        assert {e.action for e in audit_entries(session, "pool.")} == {"pool.created", "pool.deleted"}


def test_pool_names_are_unique_and_capacity_a_whole_number(shop: Engine) -> None:
    with unit_of_work(shop) as session:
        event = session.scalars(select(Event)).one()
        actor = make_user(session, member_of=[event])
        save_pool(session, actor, event.id, name="Tops", capacity=10)
        with pytest.raises(FormValidationError) as caught:
            save_pool(session, actor, event.id, name=" Tops ", capacity=-3)
        assert set(caught.value.errors) == {"name", "capacity"}


def test_order_lines_match_the_counters(shop: Engine) -> None:
    for n, quantity in enumerate((1, 1, 3)):
        _place(shop, f"k{n}", items=_tshirt(quantity, size="S"))
    with read_only(shop) as session:
        lines = session.scalar(select(func.sum(OrderLine.quantity)).where(OrderLine.variant_key == "Fitted/S"))
    assert _sold(shop, variant_key="Fitted/S") == lines == 5


def test_event_settings_switch_sold_out_closing_and_one_order_per_email(shop: Engine) -> None:
    with unit_of_work(shop) as session:
        event = session.scalars(select(Event)).one()
        actor = make_user(session, member_of=[event])
        event.sold_out_at = utcnow()  # closed as sold out once, before the setting was switched off and on
        changed = update_event(session, actor, event.id, EventChanges(close_when_sold_out=True,
                                                                      one_order_per_email=True))
        assert set(changed) == {"close_when_sold_out", "one_order_per_email"}
        assert event.sold_out_at is None
        settings = get_event_for_edit(session, actor, event.id)
        assert (settings.close_when_sold_out, settings.one_order_per_email) == (True, True)
        with pytest.raises(FormValidationError) as caught:
            update_event(session, actor, event.id, EventChanges(one_order_per_email="yes"))  # type: ignore[arg-type]
        assert caught.value.errors == {"one_order_per_email": "Either on or off."}


def test_changing_an_order_moves_each_counter_once_by_the_difference(shop: Engine) -> None:
    _place(shop, "a", items=_tshirt(2))
    with unit_of_work(shop) as session:
        order = session.scalars(select(Order)).one()
        old_lines = list(order.lines)
        m_line, = old_lines
        with pytest.raises(SoldOut) as caught, session.begin_nested():
            change_stock(session, old_lines, [_line_like(m_line, 3)])
        assert (str(caught.value), caught.value.item_key) == ("Only 2 left of T-shirt (Fitted, M).", "tshirt")
        change_stock(session, old_lines, [_line_like(m_line, 1)])
    assert _sold(shop) == 1


def _line_like(line: OrderLine, quantity: int) -> OrderLine:
    return OrderLine(item_id=line.item_id, variant_id=line.variant_id, item_key=line.item_key,
                     item_name=line.item_name, variant_key=line.variant_key, variant_label=line.variant_label,
                     quantity=quantity, unit_price=line.unit_price)


def test_the_public_event_says_it_closed_because_it_sold_out(shop: Engine) -> None:
    with unit_of_work(shop) as session:
        event = session.scalars(select(Event)).one()
        assert not load_public_event(session, event.slug, utcnow()).sold_out
        event.close_when_sold_out, event.sold_out_at = True, utcnow()
        public = load_public_event(session, event.slug, utcnow())
        assert (public.phase, public.sold_out, public.form) == (EventPhase.CLOSED, True, None)
