"""The audit page through AppTest: filters, paging, and organisers never seeing other events' entries."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from core import audit
from core.auth import Actor
from core.db import unit_of_work
from core.models import UserRole
from pages.audit_page import PAGE_SIZE
from tests.factories import make_event, make_user
from tests.pages.conftest import render_page


@dataclass(frozen=True)
class Log:
    engine: Engine
    ours: int
    admin: Actor
    olivia: Actor


@pytest.fixture
def log(engine: Engine) -> Log:
    with unit_of_work(engine) as session:
        ours = make_event(session, slug="ours", title="Our event")
        theirs = make_event(session, slug="theirs", title="Their event")
        admin = make_user(session, "root", role=UserRole.ADMIN)
        olivia = make_user(session, "olivia", member_of=[ours])
        bob = make_user(session, "bob", member_of=[theirs])
        audit.record(session, olivia, "order.status_changed", event=ours, subject="order:OURS2345")
        audit.record(session, olivia, "event.edited", event=ours, subject="event:ours")
        audit.record(session, bob, "order.cancelled", event=theirs, subject="order:THEIRS23")
    return Log(engine, ours.id, admin, olivia)


_page = partial(render_page, "audit_page")


def _subjects(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["subject"])


def test_anonymous_session_sees_the_login_warning_and_no_entries(log: Log) -> None:
    at = _page(None)
    assert not at.exception
    assert [w.value for w in at.warning] == ["Please log in to see this page."]
    assert not at.dataframe


def test_organiser_sees_only_entries_of_their_own_events(log: Log) -> None:
    at = _page(log.olivia)
    assert not at.exception
    assert _subjects(at) == ["event:ours", "order:OURS2345"]
    at.toggle(key="audit.only_event").set_value(False).run()
    # Still neither the other organiser's event nor the user management entries, which have no event.
    assert _subjects(at) == ["event:ours", "order:OURS2345"]


def test_admin_sees_everything_once_not_limited_to_the_chosen_event(log: Log) -> None:
    at = _page(log.admin)
    at.sidebar.selectbox[0].select(log.ours).run()
    assert _subjects(at) == ["event:ours", "order:OURS2345"]
    at.toggle(key="audit.only_event").set_value(False).run()
    subjects = _subjects(at)
    assert subjects[:3] == ["order:THEIRS23", "event:ours", "order:OURS2345"]
    assert sorted(subjects[3:]) == ["user:bob", "user:olivia", "user:root"]


def test_filters_by_action_and_user(log: Log) -> None:
    at = _page(log.admin)
    at.toggle(key="audit.only_event").set_value(False).run()
    at.text_input(key="audit.action").input("order.").run()
    assert _subjects(at) == ["order:THEIRS23", "order:OURS2345"]
    at.text_input(key="audit.actor").input("bob").run()
    assert _subjects(at) == ["order:THEIRS23"]
    at.text_input(key="audit.actor").input("nobody").run()
    assert not at.dataframe
    assert [i.value for i in at.info] == ["No entries match."]


def test_entries_are_paged(log: Log) -> None:
    with unit_of_work(log.engine) as session:
        for n in range(PAGE_SIZE):
            audit.record(session, log.olivia, "order.noted", event=log.ours, subject=f"note:{n}")
    at = _page(log.olivia)
    assert len(_subjects(at)) == PAGE_SIZE
    assert "52 entries · page 1 of 2" in at.caption[1].value
    at = next(b for b in at.button if b.label == "Next").click().run()
    assert _subjects(at) == ["event:ours", "order:OURS2345"]
