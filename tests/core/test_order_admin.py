"""Organisers finding and reading orders: filters and paging in SQL, one order's detail, permissions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.errors import NotFound, PermissionDenied, SchemaError
from core.form_versions import save_form
from core.fulfilment import change_status
from core.models import AuditEntry, Event, OrderPersonalData, OrderStatus, UserRole
from core.order_admin import ORDER_COLUMNS, OrderFilters, OrderPage, order_detail, search_orders
from tests.factories import BASIC_FORM, make_user
from tests.factories.orders import (
    BASE,
    TIMEZONE,
    TwoShops,
    change_as_organiser,
    hoodie,
    make_two_shops,
    order_audit,
    place_after,
    status_of,
    tshirts,
)


@pytest.fixture
def world(engine: Engine) -> TwoShops:
    return make_two_shops(engine)


def _search(world: TwoShops, filters: OrderFilters | None = None, *, page: int = 1,
            page_size: int = 50) -> OrderPage:
    with read_only(world.engine) as session:
        return search_orders(session, world.organiser, world.event_id, filters or OrderFilters(), page=page,
                             page_size=page_size)


def _found(world: TwoShops, **filters: object) -> set[str]:
    return set(_search(world, OrderFilters(**filters)).rows["reference"])  # type: ignore[arg-type]


def test_first_page_lists_the_newest_orders_with_items_total_name_and_email(world: TwoShops) -> None:
    older = place_after(world, "a", items=tshirts(2) + hoodie(1), name="Ada Lovelace", email="ada@example.com")
    newer = place_after(world, "b", minutes=5, items=hoodie(1), name="Grace Hopper", email="grace@example.com")
    page = _search(world)
    assert (page.total, page.pages, page.page) == (2, 1, 1)
    assert list(page.rows.columns) == list(ORDER_COLUMNS)
    assert list(page.rows["reference"]) == [newer, older]
    row = page.rows.iloc[1]
    assert row["items"] == "2× T-shirt (Fitted, M); 1× Hoodie (L)"
    assert row["total"] == 55.0
    assert (row["name"], row["email"], row["status"]) == ("Ada Lovelace", "ada@example.com", "received")
    # Shown in the event's timezone: 09:00 UTC is 21:00 in Auckland, the same instant.
    assert str(page.rows["placed_at"].dt.tz) == TIMEZONE
    assert row["placed_at"] == pd.Timestamp(BASE)
    assert row["placed_at"].hour == 21
    assert page.item_choices == {"tshirt": "T-shirt", "hoodie": "Hoodie", "breakfast": "Breakfast box"}


def test_an_event_without_orders_gives_an_empty_page_with_the_same_columns(world: TwoShops) -> None:
    page = _search(world)
    assert (page.total, page.pages, len(page.rows)) == (0, 1, 0)
    assert list(page.rows.columns) == list(ORDER_COLUMNS)


def test_pages_slice_the_newest_first_list_and_total_counts_every_match(world: TwoShops) -> None:
    # Pairs placed in the same minute: the id breaks the tie, so no order is skipped or shown twice.
    references = [place_after(world, f"k{n}", minutes=n // 2) for n in range(7)]
    newest_first = references[::-1]
    pages = [_search(world, page=n, page_size=3) for n in (1, 2, 3)]
    assert [list(p.rows["reference"]) for p in pages] == [newest_first[:3], newest_first[3:6], newest_first[6:]]
    assert {(p.total, p.pages) for p in pages} == {(7, 3)}
    past_the_end = _search(world, page=9, page_size=3)
    assert past_the_end.page == 3
    assert list(past_the_end.rows["reference"]) == newest_first[6:]


def test_orders_of_other_events_are_never_listed(world: TwoShops) -> None:
    mine = place_after(world, "mine")
    place_after(world, "theirs", event_id=world.other_event_id)
    assert _found(world) == {mine}
    assert _found(world, text="ada") == {mine}


def test_status_filter_keeps_only_the_chosen_statuses(world: TwoShops) -> None:
    received, shipped, delivered = (place_after(world, key, minutes=n) for n, key in enumerate("abc"))
    change_as_organiser(world, [shipped, delivered], OrderStatus.SHIPPED)
    change_as_organiser(world, [delivered], OrderStatus.DELIVERED)
    assert _found(world, statuses=frozenset({OrderStatus.RECEIVED})) == {received}
    assert _found(world, statuses=frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED})) == {shipped, delivered}
    assert _found(world, statuses=frozenset({OrderStatus.CANCELLED})) == set()


def test_item_filter_keeps_orders_with_a_line_of_that_item(world: TwoShops) -> None:
    shirt = place_after(world, "a", items=tshirts())
    hood = place_after(world, "b", items=hoodie())
    both = place_after(world, "c", items=tshirts() + hoodie())
    assert _found(world, item_key="hoodie") == {hood, both}
    assert _found(world, item_key="tshirt") == {shirt, both}
    assert _found(world, item_key="breakfast") == set()


def test_date_range_is_in_days_of_the_events_timezone(world: TwoShops) -> None:
    # 11:30 UTC is 23:30 on 1 June in Auckland; 12:30 UTC is already 00:30 on 2 June there.
    late_on_the_first = place_after(world, "a", minutes=150)
    early_on_the_second = place_after(world, "b", minutes=210)
    assert _found(world, date_from=date(2027, 6, 2), date_to=date(2027, 6, 2)) == {early_on_the_second}
    assert _found(world, date_to=date(2027, 6, 1)) == {late_on_the_first}
    assert _found(world, date_from=date(2027, 6, 1)) == {late_on_the_first, early_on_the_second}
    assert _found(world, date_from=date(2027, 6, 3)) == set()


def test_a_range_that_ends_before_it_starts_is_refused(world: TwoShops) -> None:
    with pytest.raises(SchemaError, match="first day is after the last day"):
        _search(world, OrderFilters(date_from=date(2027, 6, 2), date_to=date(2027, 6, 1)))


def test_text_search_finds_by_reference_prefix_name_and_email(world: TwoShops) -> None:
    ada = place_after(world, "a", name="Ada Lovelace", email="ada@example.com")
    grace = place_after(world, "b", name="Grace Hopper", email="grace.h@navy.example")
    references = {ada, grace}
    prefix = ada[:3]
    assert _found(world, text=prefix.lower()) == {r for r in references if r.startswith(prefix)}
    assert _found(world, text=ada) == {ada}
    assert _found(world, text="LOVEL") == {ada}
    assert _found(world, text="navy.exa") == {grace}
    assert _found(world, text="  hopper ") == {grace}
    assert _found(world, text="Nobody") == set()


def test_text_search_looks_only_at_name_and_email_values(world: TwoShops) -> None:
    place_after(world, "a", name="Ada Lovelace", email="ada@example.com", phone="020 7946 0958")
    assert _found(world, text="email") == set()  # a key of the stored answers, not a value
    assert _found(world, text="7946") == set()  # the phone number is personal but not searched
    assert _found(world, text="%") == set()  # LIKE wildcards are taken literally
    assert _found(world, text="_") == set()


def test_text_search_finds_names_with_accents(world: TwoShops) -> None:
    zoe = place_after(world, "a", name="Zoë Brontë")
    place_after(world, "b", name="Zoe Bronte")
    assert _found(world, text="Zoë") == {zoe}
    assert _found(world, text="brontë") == {zoe}


def test_an_order_whose_personal_data_was_purged_is_listed_without_name_or_email(world: TwoShops) -> None:
    reference = place_after(world, "a")
    with unit_of_work(world.engine) as session:
        session.execute(delete(OrderPersonalData))
    rows = _search(world).rows
    assert list(rows["reference"]) == [reference]
    assert rows["name"].isna().all() and rows["email"].isna().all()
    assert _found(world, text="ada") == set()


def test_filters_combine(world: TwoShops) -> None:
    ada_shirt = place_after(world, "a", items=tshirts(), name="Ada Lovelace")
    ada_hoodie = place_after(world, "b", items=hoodie(), name="Ada Lovelace")
    grace_hoodie = place_after(world, "c", items=hoodie(), name="Grace Hopper", email="grace@example.com")
    change_as_organiser(world, [ada_shirt, grace_hoodie], OrderStatus.SHIPPED)
    assert _found(world, text="ada", item_key="hoodie") == {ada_hoodie}
    assert _found(world, text="ada", statuses=frozenset({OrderStatus.SHIPPED})) == {ada_shirt}
    assert _found(world, item_key="hoodie", statuses=frozenset({OrderStatus.SHIPPED})) == {grace_hoodie}
    assert _found(world, text="grace", item_key="tshirt") == set()
    assert _search(world, OrderFilters(item_key="hoodie")).total == 2


def test_order_detail_shows_lines_answers_and_the_form_version_it_was_placed_with(world: TwoShops) -> None:
    reference = place_after(world, "a", items=tshirts(2) + hoodie(1), phone="020 7946 0958", size_note="Runs small?")
    with unit_of_work(world.engine) as session:
        renamed = {"fields": [{**f, "label": "Your name"} if f["key"] == "name" else f for f in BASIC_FORM["fields"]]}
        save_form(session, session.get_one(Event, world.event_id), renamed)
    later = place_after(world, "b", minutes=1)
    with read_only(world.engine) as session:
        detail = order_detail(session, world.organiser, world.event_id, f" {reference.lower()} ")
        later_detail = order_detail(session, world.organiser, world.event_id, later)
    assert (detail.reference, detail.status, detail.form_version) == (reference, OrderStatus.RECEIVED, 1)
    assert detail.placed_at == BASE
    assert detail.local_placed_at.hour == 21
    assert [(line.item_name, line.variant_label, line.quantity, line.unit_price) for line in detail.lines] == [
        ("T-shirt", "Fitted, M", 2, Decimal("12.50")), ("Hoodie", "L", 1, Decimal("30.00"))]
    assert detail.total == Decimal("55.00")
    assert [(a.key, a.label, a.value, a.personal) for a in detail.answers] == [
        ("name", "Name", "Ada Lovelace", True),
        ("email", "Email", "ada@example.com", True),
        ("phone", "Phone", "+442079460958", True),
        ("size_note", "Anything about sizes?", "Runs small?", False),
    ]
    assert detail.personal_data_kept
    assert later_detail.form_version == 2
    assert later_detail.answers[0].label == "Your name"


def test_order_detail_of_another_events_order_is_not_found(world: TwoShops) -> None:
    theirs = place_after(world, "a", event_id=world.other_event_id)
    with read_only(world.engine) as session, pytest.raises(NotFound, match=theirs):
        order_detail(session, world.organiser, world.event_id, theirs)


OrganiserCall = Callable[[Session, Actor, int, str], object]
CALLS: dict[str, OrganiserCall] = {
    "search_orders": lambda s, a, e, r: search_orders(s, a, e, OrderFilters(), page=1, page_size=50),
    "order_detail": lambda s, a, e, r: order_detail(s, a, e, r),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_an_organiser_who_is_not_a_member_is_refused(world: TwoShops, call: OrganiserCall) -> None:
    reference = place_after(world, "a")
    with unit_of_work(world.engine) as session:
        # A member of another event: membership elsewhere must not count.
        outsider = make_user(session, "oscar", member_of=[session.get_one(Event, world.other_event_id)])
    with unit_of_work(world.engine) as session, pytest.raises(PermissionDenied):
        call(session, outsider, world.event_id, reference)
    assert status_of(world, reference) == OrderStatus.RECEIVED
    assert order_audit(world) == []


def test_an_admin_may_act_on_any_event(world: TwoShops) -> None:
    reference = place_after(world, "a")
    with unit_of_work(world.engine) as session:
        admin = make_user(session, "root", role=UserRole.ADMIN)
        change_status(session, admin, world.event_id, [reference], OrderStatus.SHIPPED)
        assert search_orders(session, admin, world.event_id, OrderFilters(), page=1, page_size=50).total == 1
    assert status_of(world, reference) == OrderStatus.SHIPPED
    with read_only(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.actor == "root")) == 1
