"""Events as the public page sees them, and the time-zone helpers both sides use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from core.db import read_only, unit_of_work
from core.errors import NotFound, SchemaError
from core.events import EventPhase, load_public_event, local_to_utc, utc_to_local
from core.models import utcnow
from tests.factories import make_shop


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
