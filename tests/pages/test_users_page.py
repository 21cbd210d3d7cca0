"""The Users page: admins add and remove accounts; organisers are refused by core, not only by the menu."""

from __future__ import annotations

from functools import partial

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.models import UserRole
from core.users import create_user, list_users
from tests.pages.conftest import render_page

_page = partial(render_page, "users_page")


def _field(at: AppTest, label: str):  # noqa: ANN202 - AppTest's TextInput
    return next(w for w in at.text_input if w.label == label)


def _user(engine: Engine, username: str, role: UserRole) -> Actor:
    with unit_of_work(engine) as session:
        user = create_user(session, None, username=username, display_name=username.title(), role=role,
                           password="a long enough password")
        return Actor(user.id, user.username, user.role)


def test_admin_adds_a_user_and_sees_the_list(engine: Engine) -> None:
    at = _page(_user(engine, "root", UserRole.ADMIN))
    assert at.dataframe[0].value["Username"].tolist() == ["root"]
    _field(at, "Username").input("olga")
    _field(at, "Name").input("Olga")
    _field(at, "Email").input("olga@example.org")
    _field(at, "Initial password").input("a long enough password")
    at = next(b for b in at.button if b.label == "Add user").click().run()
    assert at.success[0].value == "Added olga."
    with read_only(engine) as session:
        assert [(u.username, u.email) for u in list_users(session, None)] == [("olga", "olga@example.org"),
                                                                               ("root", "")]


def test_short_password_is_refused_with_the_reason(engine: Engine) -> None:
    at = _page(_user(engine, "root", UserRole.ADMIN))
    _field(at, "Username").input("olga")
    _field(at, "Initial password").input("short")
    at = next(b for b in at.button if b.label == "Add user").click().run()
    assert "at least 12 characters" in at.error[0].value


def test_organiser_sees_no_users(engine: Engine) -> None:
    at = _page(_user(engine, "olga", UserRole.ORGANISER))
    assert at.error[0].value == "You do not have permission to do this."
    assert not at.dataframe
