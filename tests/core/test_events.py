"""Events as the public page sees them, and the time-zone helpers both sides use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from core.db import read_only, unit_of_work
from core.errors import NotFound, SchemaError
from core.events import EventPhase, PublicEvent, load_public_event, local_to_utc, utc_to_local
from core.form_versions import save_form
from core.models import Event, Item, utcnow
from core.orders import place_order
from tests.factories import BASIC_FORM, answers, make_shop


@pytest.mark.parametrize("slug", ["missing", "unpublished", "../etc/passwd", "", "DROP TABLE", None, 42])
def test_unknown_unpublished_and_malformed_slugs_are_all_not_found(engine: Engine, slug: object) -> None:
    with unit_of_work(engine) as session:
        make_shop(session, slug="unpublished", published=False)
    with pytest.raises(NotFound), read_only(engine) as session:
        load_public_event(session, slug, utcnow())


def test_open_event_carries_its_form_and_catalogue(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_shop(session)
    with read_only(engine) as session:
        event = load_public_event(session, "test-event", utcnow())
    assert event.phase == EventPhase.OPEN
    assert event.form is not None and event.form.fields[0].key == "name"
    assert [item.key for item in event.catalogue] == ["tshirt", "hoodie", "breakfast"]
    assert [v.key for v in event.catalogue[1].variants] == ["S", "M", "L"]


def _public(engine: Engine) -> PublicEvent:
    with read_only(engine) as session:
        return load_public_event(session, "test-event", utcnow())


def test_loads_of_an_unchanged_event_share_the_parsed_form_and_catalogue(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_shop(session)
    first, second = _public(engine), _public(engine)
    assert second.form is first.form
    assert all(a is b for a, b in zip(second.catalogue, first.catalogue, strict=True))


def test_an_edit_of_an_item_or_a_variant_is_seen_at_the_next_load(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_shop(session)
    assert _public(engine).catalogue[1].name == "Hoodie"  # loaded, so cached
    with unit_of_work(engine) as session:
        hoodie = session.scalars(select(Item).where(Item.key == "hoodie")).one()
        hoodie.name, hoodie.price = "Zip hoodie", Decimal("32.50")
        hoodie.variants[0].active = False
    hoodie = _public(engine).catalogue[1]
    assert (hoodie.name, hoodie.price) == ("Zip hoodie", Decimal("32.50"))
    assert [variant.available for variant in hoodie.variants] == [False, True, True]
    with unit_of_work(engine) as session:
        session.scalars(select(Item).where(Item.key == "breakfast")).one().active = False
    assert [item.key for item in _public(engine).catalogue] == ["tshirt", "hoodie"]


def test_stock_is_read_anew_at_every_load(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_shop(session)
        session.flush()
        hoodie = session.scalars(select(Item).where(Item.key == "hoodie")).one()
        hoodie.variants[1].stock = 5
    assert _public(engine).catalogue[1].variants[1].remaining == 5
    with unit_of_work(engine) as session:
        event = session.scalars(select(Event)).one()
        place_order(session, event, answers(items=[{"item": "hoodie", "options": {"size": "M"}, "quantity": 2}]),
                    idempotency_key="stock-1")
    hoodie = _public(engine).catalogue[1]
    assert [variant.remaining for variant in hoodie.variants] == [None, 3, None]


def test_a_new_form_version_and_an_unused_one_edited_in_place_are_seen(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_shop(session)
    assert [spec.key for spec in _public(engine).form.fields][-1] == "size_note"
    extra = {"key": "diet", "type": "short_text", "label": "Diet"}
    with unit_of_work(engine) as session:  # no order uses the version yet: edited in place, same id
        save_form(session, session.scalars(select(Event)).one(), {"fields": [*BASIC_FORM["fields"], extra]})
    assert [spec.key for spec in _public(engine).form.fields][-1] == "diet"
    with unit_of_work(engine) as session:
        event = session.scalars(select(Event)).one()
        place_order(session, event, answers(), idempotency_key="form-1")
        save_form(session, event, BASIC_FORM)  # in use now: a new version
    assert [spec.key for spec in _public(engine).form.fields][-1] == "size_note"


def test_phase_follows_the_opening_and_closing_times(engine: Engine) -> None:
    now = utcnow()
    with unit_of_work(engine) as session:
        make_shop(session, opens_at=now + timedelta(hours=1), closes_at=now + timedelta(hours=2))
    with read_only(engine) as session:
        phases = [load_public_event(session, "test-event", now + timedelta(minutes=m)).phase for m in (0, 60, 120)]
    assert phases == [EventPhase.NOT_OPEN_YET, EventPhase.OPEN, EventPhase.CLOSED]


def test_a_purged_event_takes_no_more_orders(engine: Engine) -> None:
    now = utcnow()
    with unit_of_work(engine) as session:
        make_shop(session, purged_at=now - timedelta(minutes=1))
    with read_only(engine) as session:
        event = load_public_event(session, "test-event", now)
    assert event.phase == EventPhase.CLOSED and event.form is None


def test_closed_event_does_not_load_its_form(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        make_shop(session, closes_at=utcnow() - timedelta(seconds=1))
    with read_only(engine) as session:
        event = load_public_event(session, "test-event", utcnow())
    assert (event.phase, event.form) == (EventPhase.CLOSED, None)


def test_local_times_around_clock_changes_are_resolved_predictably() -> None:
    # London, 2027-10-31: 01:30 happens twice (BST, then GMT); the first is meant.
    assert local_to_utc(datetime(2027, 10, 31, 1, 30), "Europe/London") == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    # London, 2027-03-28: 01:30 never happens; it moves an hour later, to 02:30 BST.
    skipped = local_to_utc(datetime(2027, 3, 28, 1, 30), "Europe/London")
    assert utc_to_local(skipped, "Europe/London") == datetime(2027, 3, 28, 2, 30)
    assert local_to_utc(datetime(2027, 1, 1, 5, 45), "Asia/Kathmandu") == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    with pytest.raises(SchemaError):
        local_to_utc(datetime(2027, 1, 1), "Nowhere/Atlantis")
    with pytest.raises(ValueError):
        local_to_utc(datetime(2027, 6, 1, 12, 0, tzinfo=UTC), "UTC")  # already aware
