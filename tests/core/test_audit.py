"""Reading the audit log: filters, paging, and organisers seeing only the entries of their own events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, update

from core import audit
from core.audit import AUDIT_COLUMNS, AuditFilters, list_audit_entries
from core.auth import Actor
from core.db import read_only, unit_of_work
from core.errors import PermissionDenied, SchemaError
from core.models import AuditEntry, UserRole
from tests.factories import make_event, make_user


@dataclass(frozen=True)
class Log:
    engine: Engine
    ours: int
    theirs: int
    admin: Actor
    olivia: Actor  # a member of "ours"
    bob: Actor  # a member of "theirs"


def _entry(session: object, actor: Actor | None, action: str, at: datetime, event: int | None = None) -> None:
    entry = audit.record(session, actor, action, event=event, subject=action)  # type: ignore[arg-type]
    entry.at = at


@pytest.fixture
def log(engine: Engine) -> Log:
    with unit_of_work(engine) as session:
        ours = make_event(session, slug="ours", title="Our event")
        theirs = make_event(session, slug="theirs", title="Their event")
        admin = make_user(session, "root", role=UserRole.ADMIN)
        olivia = make_user(session, "olivia", member_of=[ours])
        bob = make_user(session, "bob", member_of=[theirs])
        # create_user above logged three user.created entries without an event; all entries get fixed times.
        session.execute(update(AuditEntry).values(at=datetime(2027, 5, 1, tzinfo=UTC)))
        _entry(session, olivia, "order.status_changed", datetime(2027, 6, 1, 10, tzinfo=UTC), ours.id)
        _entry(session, olivia, "order.cancelled", datetime(2027, 6, 2, 10, tzinfo=UTC), ours.id)
        _entry(session, bob, "order.status_changed", datetime(2027, 6, 3, 10, tzinfo=UTC), theirs.id)
        _entry(session, admin, "event.edited", datetime(2027, 6, 4, 10, tzinfo=UTC), ours.id)
    return Log(engine, ours.id, theirs.id, admin, olivia, bob)


def _list(log: Log, who: Actor, *, limit: int = 50, offset: int = 0, **filters: object) -> tuple[list[str], int]:
    with read_only(log.engine) as session:
        frame, total = list_audit_entries(session, who, AuditFilters(**filters),  # type: ignore[arg-type]
                                          limit=limit, offset=offset)
    return [f"{row.actor} {row.action}" for row in frame.itertuples()], total


def test_admin_sees_every_entry_newest_first_including_those_without_an_event(log: Log) -> None:
    entries, total = _list(log, log.admin)
    assert total == 7
    assert entries[:4] == ["root event.edited", "bob order.status_changed", "olivia order.cancelled",
                           "olivia order.status_changed"]
    assert sorted(entries[4:]) == ["system user.created"] * 3


def test_organiser_sees_only_entries_of_events_they_are_a_member_of(log: Log) -> None:
    assert _list(log, log.olivia) == (
        ["root event.edited", "olivia order.cancelled", "olivia order.status_changed"], 3)
    assert _list(log, log.bob) == (["bob order.status_changed"], 1)


def test_organiser_asking_for_another_organisers_event_gets_nothing(log: Log) -> None:
    assert _list(log, log.olivia, event_id=log.theirs) == ([], 0)
    assert _list(log, log.admin, event_id=log.theirs) == (["bob order.status_changed"], 1)


def test_filters_by_action_prefix_actor_and_days(log: Log) -> None:
    assert _list(log, log.admin, action_prefix="order.")[1] == 3
    assert _list(log, log.admin, action_prefix="order.cancel")[0] == ["olivia order.cancelled"]
    assert _list(log, log.admin, action_prefix="order%")[1] == 0  # a wildcard is taken literally
    assert _list(log, log.admin, actor=" Olivia ")[1] == 2
    assert _list(log, log.admin, date_from=date(2027, 6, 2), date_to=date(2027, 6, 3))[0] == [
        "bob order.status_changed", "olivia order.cancelled"]
    assert _list(log, log.admin, date_from=date(2027, 6, 1), date_to=date(2027, 6, 1))[0] == [
        "olivia order.status_changed"]
    assert _list(log, log.admin, date_to=date(2027, 5, 31))[0] == ["system user.created"] * 3
    assert _list(log, log.admin, date_from=date(2027, 6, 4))[0] == ["root event.edited"]
    assert _list(log, log.olivia, actor="olivia", action_prefix="order.status")[0] == ["olivia order.status_changed"]


def test_a_range_that_ends_before_it_starts_is_refused(log: Log) -> None:
    with pytest.raises(SchemaError, match="first day is after the last day"):
        _list(log, log.admin, date_from=date(2027, 6, 2), date_to=date(2027, 6, 1))


def test_pages_slice_the_list_and_total_counts_every_match(log: Log) -> None:
    everything, total = _list(log, log.admin, action_prefix="order.")
    pages = [_list(log, log.admin, action_prefix="order.", limit=2, offset=offset) for offset in (0, 2)]
    assert [page for page, _ in pages] == [everything[:2], everything[2:]]
    assert {page_total for _, page_total in pages} == {total} == {3}


def test_frame_has_event_title_subject_and_details_as_json(log: Log) -> None:
    with unit_of_work(log.engine) as session:
        _entry(session, log.olivia, "order.shipped", datetime(2027, 6, 5, tzinfo=UTC), log.ours)
        session.flush()
        audit.record(session, log.olivia, "order.noted", event=log.ours, subject="order:ABCD2345",
                     details={"reference": "ABCD2345"}).at = datetime(2027, 6, 6, tzinfo=UTC)
    with read_only(log.engine) as session:
        frame, _ = list_audit_entries(session, log.olivia, AuditFilters(), limit=1, offset=0)
    assert list(frame.columns) == list(AUDIT_COLUMNS)
    row = frame.iloc[0]
    assert (row["event"], row["subject"], row["action"]) == ("Our event", "order:ABCD2345", "order.noted")
    assert json.loads(row["details"]) == {"reference": "ABCD2345"}
    assert row["at"] == datetime(2027, 6, 6, tzinfo=UTC)
    assert str(frame["at"].dt.tz) == "UTC"


def test_nobody_logged_in_is_refused(log: Log) -> None:
    with read_only(log.engine) as session, pytest.raises(PermissionDenied):
        list_audit_entries(session, None, AuditFilters(), limit=10, offset=0)  # type: ignore[arg-type]
