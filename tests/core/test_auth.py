"""Permissions: admins do everything, organisers only what concerns their own events."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from core.auth import EVENT_PERMISSIONS, Actor, Permission, require
from core.db import read_only, unit_of_work
from core.errors import PermissionDenied
from core.event_admin import list_events
from core.models import EventMember, UserRole
from core.users import create_user
from tests.factories import make_event


@pytest.fixture
def actors(engine: Engine) -> dict[str, Actor]:
    with unit_of_work(engine) as session:
        made = {}
        for name, role in [("root", UserRole.ADMIN), ("olga", UserRole.ORGANISER), ("otto", UserRole.ORGANISER)]:
            user = create_user(session, None, username=name, display_name=name, role=role,
                               password="a long enough password")
            made[name] = Actor(user.id, user.username, user.role)
        mine = make_event(session, slug="olgas-event")
        make_event(session, slug="ottos-event")
        session.add(EventMember(event_id=mine.id, user_id=made["olga"].user_id))
    return made


@pytest.mark.parametrize("permission", sorted(EVENT_PERMISSIONS))
def test_organiser_holds_event_permissions_only_for_own_events(
    engine: Engine, actors: dict[str, Actor], permission: Permission
) -> None:
    with read_only(engine) as session:
        [mine] = [e for e in list_events(session, actors["root"]) if e.slug == "olgas-event"]
        [theirs] = [e for e in list_events(session, actors["root"]) if e.slug == "ottos-event"]
        require(session, actors["olga"], permission, mine.id)
        require(session, actors["root"], permission, theirs.id)
        with pytest.raises(PermissionDenied):
            require(session, actors["olga"], permission, theirs.id)
        with pytest.raises(PermissionDenied):
            require(session, actors["olga"], permission)  # an event permission needs its event


def test_only_admins_manage_users(engine: Engine, actors: dict[str, Actor]) -> None:
    with read_only(engine) as session:
        require(session, actors["root"], Permission.USERS_MANAGE)
        with pytest.raises(PermissionDenied):
            require(session, actors["olga"], Permission.USERS_MANAGE)


def test_anonymous_is_refused_everything(engine: Engine, actors: dict[str, Actor]) -> None:
    with read_only(engine) as session:
        for permission in Permission:
            with pytest.raises(PermissionDenied, match="log in"):
                require(session, None, permission, 1)


def test_event_lists_show_organisers_their_own_events_only(engine: Engine, actors: dict[str, Actor]) -> None:
    with read_only(engine) as session:
        assert [e.slug for e in list_events(session, actors["olga"])] == ["olgas-event"]
        assert [e.slug for e in list_events(session, actors["otto"])] == []
        assert sorted(e.slug for e in list_events(session, actors["root"])) == ["olgas-event", "ottos-event"]
