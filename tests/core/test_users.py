"""Accounts, login throttling that decays, and revocation of login cookies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bcrypt
import jwt
import pytest
from sqlalchemy import Engine, select

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.errors import DomainError, PasswordChangeRequired, PermissionDenied, SchemaError
from core.event_admin import create_event_for, list_events
from core.login_throttle import USERNAME_MAX_DELAY, login_credentials, login_wait, record_failed_login
from core.models import AuditEntry, User, UserRole, utcnow
from core.users import (
    change_own_password,
    change_password,
    check_password,
    create_user,
    ensure_initial_admin,
    get_user,
    list_users,
    log_out_everywhere,
    login_cookie_claims,
    remove_user,
    revoke_sessions,
    session_actor,
    set_own_password,
)

PASSWORD = "correct horse battery"
KEY = "k" * 40


def _add(engine: Engine, username: str, role: UserRole = UserRole.ORGANISER) -> Actor:
    with unit_of_work(engine) as session:
        user = create_user(session, None, username=username, display_name=username.title(), role=role,
                           password=PASSWORD)
        return Actor(user.id, user.username, user.role)


def _cookie(username: str, issued: datetime, days: float = 7.0, key: str = KEY) -> str:
    return jwt.encode({"username": username, "exp_date": (issued + timedelta(days=days)).timestamp()}, key,
                      algorithm="HS256")


def test_passwords_are_stored_as_bcrypt_hashes(engine: Engine) -> None:
    _add(engine, "alice")
    with read_only(engine) as session:
        stored = get_user(session, "alice").password_hash
    assert PASSWORD not in stored
    assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())


@pytest.mark.parametrize("password", ["short", "x" * 73])
def test_weak_or_overlong_passwords_are_refused(engine: Engine, password: str) -> None:
    with pytest.raises(SchemaError), unit_of_work(engine) as session:
        create_user(session, None, username="bob", display_name="Bob", role=UserRole.ORGANISER, password=password)


def test_first_start_creates_one_admin_with_a_random_password(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        first = ensure_initial_admin(session)
        again = ensure_initial_admin(session)
    assert first is not None and len(first) >= 20 and again is None
    with read_only(engine) as session:
        admin = get_user(session, "admin")
        assert admin.role == UserRole.ADMIN
        assert bcrypt.checkpw(first.encode(), admin.password_hash.encode())


def test_the_printed_admin_password_must_be_replaced_before_anything_else(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        printed = ensure_initial_admin(session)
    assert printed is not None
    with read_only(engine) as session:
        admin = session_actor(session, "admin", utcnow())
    assert admin is not None and admin.must_change_password
    with pytest.raises(PasswordChangeRequired), unit_of_work(engine) as session:
        create_event_for(session, admin, slug="fair", title="Fair")
    with pytest.raises(PasswordChangeRequired), read_only(engine) as session:
        list_events(session, admin)
    with pytest.raises(PasswordChangeRequired), read_only(engine) as session:
        list_users(session, admin)
    with pytest.raises(SchemaError, match="not the one you were given"), unit_of_work(engine) as session:
        change_password(session, admin, "admin", printed)
    with unit_of_work(engine) as session:
        change_password(session, admin, "admin", "a password only I know")
    with read_only(engine) as session:
        admin = session_actor(session, "admin", utcnow())
        assert admin is not None and not admin.must_change_password
        assert list_events(session, admin) == []


def test_a_password_an_admin_chose_for_someone_must_be_replaced_but_not_ones_own(engine: Engine) -> None:
    admin = _add(engine, "root", UserRole.ADMIN)
    with unit_of_work(engine) as session:
        create_user(session, admin, username="olga", display_name="Olga", role=UserRole.ORGANISER, password=PASSWORD)
        assert get_user(session, "olga").must_change_password
        olga = session_actor(session, "olga", utcnow())
        assert olga is not None and olga.must_change_password
        change_password(session, olga, "olga", "olga's very own password")
        assert not get_user(session, "olga").must_change_password
        change_password(session, admin, "olga", "reset by the admin again")
        assert get_user(session, "olga").must_change_password
        change_password(session, None, "root", "set by the operator in a shell")
        assert not get_user(session, "root").must_change_password


def test_only_admins_manage_users_and_the_last_admin_stays(engine: Engine) -> None:
    organiser = _add(engine, "olga")
    admin = _add(engine, "root", UserRole.ADMIN)
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        list_users(session, organiser)
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        create_user(session, organiser, username="mallory", display_name="M", role=UserRole.ADMIN, password=PASSWORD)
    with pytest.raises(DomainError, match="your own"), unit_of_work(engine) as session:
        remove_user(session, admin, "root")
    with pytest.raises(DomainError, match="last admin"), unit_of_work(engine) as session:
        remove_user(session, None, "root")
    with unit_of_work(engine) as session:
        remove_user(session, admin, "olga")
        assert [u.username for u in list_users(session, admin)] == ["root"]


def test_user_changes_are_audited(engine: Engine) -> None:
    admin = _add(engine, "root", UserRole.ADMIN)
    with unit_of_work(engine) as session:
        create_user(session, admin, username="olga", display_name="Olga", role=UserRole.ORGANISER, password=PASSWORD)
        change_password(session, admin, "olga", "another long password")
    with read_only(engine) as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.actor, e.action, e.subject) for e in entries][-2:] == [
        ("root", "user.created", "user:olga"), ("root", "user.password_changed", "user:olga")]
    assert all(PASSWORD not in str(e.details) for e in entries)


def test_cookie_of_a_logged_out_user_is_refused(engine: Engine) -> None:
    _add(engine, "alice")
    claims = login_cookie_claims(_cookie("alice", utcnow()), KEY, 7.0)
    assert claims is not None
    with read_only(engine) as session:
        assert session_actor(session, *claims) is not None
    with unit_of_work(engine) as session:
        revoke_sessions(session, get_user(session, "alice"))  # logout
    with read_only(engine) as session:
        assert session_actor(session, *claims) is None
        fresh = login_cookie_claims(_cookie("alice", utcnow() + timedelta(seconds=1)), KEY, 7.0)
        assert fresh is not None and session_actor(session, *fresh) is not None


def test_password_change_revokes_existing_cookies(engine: Engine) -> None:
    _add(engine, "alice")
    claims = login_cookie_claims(_cookie("alice", utcnow()), KEY, 7.0)
    with read_only(engine) as session:
        assert session_actor(session, *claims) is not None
    with unit_of_work(engine) as session:
        change_password(session, None, "alice", "a brand new password")
    with read_only(engine) as session:
        assert session_actor(session, *claims) is None


@pytest.mark.parametrize("token", [
    None, "", "not-a-jwt",
    _cookie("alice", datetime.now(UTC), key="an attacker's guess at the key, long enough"),  # forged
    _cookie("alice", datetime.now(UTC) - timedelta(days=8)),  # expired
])
def test_forged_expired_and_malformed_cookies_give_no_login(token: str | None) -> None:
    assert login_cookie_claims(token, KEY, 7.0) is None


def test_removed_user_loses_the_login(engine: Engine) -> None:
    _add(engine, "alice")
    _add(engine, "root", UserRole.ADMIN)
    claims = ("alice", utcnow())
    with unit_of_work(engine) as session:
        remove_user(session, None, "alice")
    with read_only(engine) as session:
        assert session_actor(session, *claims) is None


def test_failed_logins_throttle_the_client_and_the_delay_decays(engine: Engine) -> None:
    now = utcnow()
    with unit_of_work(engine) as session:
        waits = [record_failed_login(session, "alice", "198.51.100.7", now) for _ in range(8)]
        assert waits[:4] == [0, 0, 0, 0]  # a few typos cost nothing
        assert waits[-1] > waits[-2] > 0  # then the wait grows
        assert login_wait(session, None, "198.51.100.7", now) > 0
        assert login_wait(session, None, "203.0.113.9", now) == 0  # other clients are not affected
        # An hour later the score has decayed: the next failure costs nothing again.
        later = now + timedelta(hours=1)
        assert login_wait(session, "alice", "198.51.100.7", later) == 0
        assert record_failed_login(session, "alice", "198.51.100.7", later) == 0


def test_a_stranger_cannot_lock_a_user_out_for_long(engine: Engine) -> None:
    """Hammering one username from many clients delays its owner by at most USERNAME_MAX_DELAY."""
    now = utcnow()
    with unit_of_work(engine) as session:
        for attempt in range(200):
            record_failed_login(session, "alice", f"203.0.113.{attempt % 250}", now)
        owner_wait = login_wait(session, "alice", "192.0.2.1", now)
    assert 0 < owner_wait <= USERNAME_MAX_DELAY.total_seconds()


def test_throttled_username_gets_an_unmatchable_hash_in_the_login_form(engine: Engine) -> None:
    _add(engine, "alice")
    _add(engine, "bob")
    now = utcnow()
    with unit_of_work(engine) as session:
        for _ in range(8):
            record_failed_login(session, "alice", "198.51.100.7", now)
        credentials = login_credentials(session, "203.0.113.50", now)["usernames"]  # from anywhere
        assert not bcrypt.checkpw(PASSWORD.encode(), credentials["alice"]["password"].encode())
        assert bcrypt.checkpw(PASSWORD.encode(), credentials["bob"]["password"].encode())
        later = login_credentials(session, "203.0.113.50", now + timedelta(minutes=5))["usernames"]
        assert bcrypt.checkpw(PASSWORD.encode(), later["alice"]["password"].encode())


def test_throttle_keys_hold_no_client_address(engine: Engine) -> None:
    from core.models import LoginThrottle

    with unit_of_work(engine) as session:
        record_failed_login(session, "alice", "198.51.100.7")
    with read_only(engine) as session:
        keys = session.scalars(select(LoginThrottle.key)).all()
    assert "user:alice" in keys and not any("198.51.100.7" in key for key in keys)


def test_roles_are_read_fresh_on_every_check(engine: Engine) -> None:
    _add(engine, "alice")
    issued = utcnow()
    with unit_of_work(engine) as session:
        session.scalars(select(User).where(User.username == "alice")).one().role = UserRole.ADMIN
    with read_only(engine) as session:
        assert session_actor(session, "alice", issued).is_admin


def test_a_user_email_is_validated_and_normalised(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        user = create_user(session, None, username="eve", display_name="Eve", role=UserRole.ORGANISER,
                           password=PASSWORD, email="  Eve@Example.ORG ")
        assert user.email == "Eve@example.org"
    with pytest.raises(SchemaError, match="email address is not valid"), unit_of_work(engine) as session:
        create_user(session, None, username="mal", display_name="M", role=UserRole.ORGANISER, password=PASSWORD,
                    email="not an address")


def test_changing_ones_own_password_needs_the_current_one_and_the_new_one_twice(engine: Engine) -> None:
    olga = _add(engine, "olga")
    new = "another long enough password"
    with unit_of_work(engine) as session, pytest.raises(DomainError, match="The two new passwords differ."):
        change_own_password(session, olga, PASSWORD, new, new + "!")
    with unit_of_work(engine) as session, pytest.raises(DomainError, match="The current password is not correct."):
        change_own_password(session, olga, "wrong", new, new)
    with unit_of_work(engine) as session:
        change_own_password(session, olga, PASSWORD, new, new)
    with read_only(engine) as session:
        assert check_password(session, "olga", new)


def test_the_given_password_is_replaced_by_a_new_one_typed_twice_and_not_kept(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        printed = ensure_initial_admin(session)
    assert printed is not None
    with read_only(engine) as session:
        admin = session_actor(session, "admin", utcnow())
    assert admin is not None and admin.must_change_password
    new = "a password only I know"
    with unit_of_work(engine) as session, pytest.raises(DomainError, match="The two passwords differ."):
        set_own_password(session, admin, new, new + "!")
    with unit_of_work(engine) as session, pytest.raises(SchemaError, match="not the one you were given"):
        set_own_password(session, admin, printed, printed)
    with unit_of_work(engine) as session, pytest.raises(PermissionDenied):
        set_own_password(session, None, new, new)  # type: ignore[arg-type]
    with read_only(engine) as session:
        assert get_user(session, "admin").must_change_password and check_password(session, "admin", printed)
    with unit_of_work(engine) as session:
        set_own_password(session, admin, new, new)
    with read_only(engine) as session:
        assert not get_user(session, "admin").must_change_password and check_password(session, "admin", new)


def test_logging_out_everywhere_revokes_every_login_of_the_account(engine: Engine) -> None:
    olga = _add(engine, "olga")
    issued = utcnow() - timedelta(minutes=1)
    with unit_of_work(engine) as session:
        log_out_everywhere(session, olga)
    with read_only(engine) as session:
        assert session_actor(session, "olga", issued) is None
