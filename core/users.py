"""Organisers and admins: accounts with bcrypt hashes and session revocation (throttling: core/login_throttle.py)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import bcrypt
import jwt
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import audit
from core.auth import Actor, Permission, require, require_actor
from core.errors import DomainError, NotFound, SchemaError
from core.models import User, UserRole, utcnow

USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,63}")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (5.x: refuses) anything longer
BCRYPT_ROUNDS = 12  # tests lower it (tests/conftest.py): hashing is deliberately slow



@dataclass(frozen=True)
class UserSummary:
    username: str
    display_name: str
    role: UserRole
    created_at: datetime
    email: str = ""


def hash_password(password: str) -> str:
    _check_password(password)
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise SchemaError(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise SchemaError(f"Use a password of at most {MAX_PASSWORD_BYTES} bytes.")


def actor_for(user: User) -> Actor:
    return Actor(user_id=user.id, username=user.username, role=user.role,
                 must_change_password=user.must_change_password)


def get_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username.strip().lower())).first()
    if user is None:
        raise NotFound(f"There is no user '{username}'.")
    return user


def create_user(
    session: Session, actor: Actor | None, *, username: str, display_name: str, role: UserRole, password: str,
    email: str = "",
) -> User:
    """Create an account; raises SchemaError on bad input. A None actor is the shell (`python -m core users add`).

    An account an admin creates on the Users page must set its own password at its first login: the admin knows
    the initial one.
    """
    if actor is not None:
        require(session, actor, Permission.USERS_MANAGE)
    username = username.strip().lower()
    if not USERNAME.fullmatch(username):
        raise SchemaError("A username is 2-64 lower-case letters, digits, dots, hyphens or underscores, "
                          "starting with a letter.")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise SchemaError(f"The username '{username}' is taken.")
    user = User(username=username, display_name=display_name.strip() or username, role=role,
                email=_checked_email(email), password_hash=hash_password(password),
                must_change_password=actor is not None)
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.created", subject=f"user:{username}", details={"role": role.value})
    return user


def _checked_email(email: str) -> str:
    if not email.strip():
        return ""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise SchemaError(f"The email address is not valid: {exc}") from None


def ensure_initial_admin(session: Session) -> str | None:
    """On a database without users, create `admin` with a random password and return it (shown once).

    The password is printed on a console, so the first login must replace it (`must_change_password`).
    """
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(15)
    admin = create_user(session, None, username="admin", display_name="Administrator", role=UserRole.ADMIN,
                        password=password)
    admin.must_change_password = True
    return password


def change_password(session: Session, actor: Actor | None, username: str, new_password: str) -> None:
    """Set a new password and revoke every existing login of that user. Users may change their own.

    A None actor is the shell (`python -m core users password`). A password an admin sets for someone else must
    be replaced at that user's next login; one the users set themselves (or the shell's operator set) need not.
    A user who must replace theirs may not keep it (SchemaError).
    """
    user = get_user(session, username)
    by_someone_else = actor is not None and actor.user_id != user.id
    if by_someone_else:
        require(session, actor, Permission.USERS_MANAGE)
    elif user.must_change_password and check_password(session, user.username, new_password):
        raise SchemaError("Choose a new password, not the one you were given.")
    user.password_hash = hash_password(new_password)
    user.must_change_password = by_someone_else
    revoke_sessions(session, user)
    audit.record(session, actor, "user.password_changed", subject=f"user:{user.username}",
                 details={"must_change": by_someone_else})


def check_password(session: Session, username: str, password: str) -> bool:
    """Whether `password` is the user's current one (for confirming a password change)."""
    user = get_user(session, username)
    encoded = password.encode()
    return len(encoded) <= MAX_PASSWORD_BYTES and bcrypt.checkpw(encoded, user.password_hash.encode())


def change_own_password(session: Session, actor: Actor, current: str, new: str, repeated: str) -> None:
    """The account page's change: `new` twice and the `current` password, then as `change_password`.

    Raises PermissionDenied without an actor, DomainError when the two new ones differ or `current` is wrong.
    """
    actor = require_actor(actor)
    if new != repeated:
        raise DomainError("The two new passwords differ.")
    if not check_password(session, actor.username, current):
        raise DomainError("The current password is not correct.")
    change_password(session, actor, actor.username, new)


def set_own_password(session: Session, actor: Actor, new: str, repeated: str) -> None:
    """The first run's change (pages/new_password_page.py): `new` twice, then as `change_password`, which refuses
    keeping the given password. Raises PermissionDenied without an actor, DomainError when the two differ."""
    actor = require_actor(actor)
    if new != repeated:
        raise DomainError("The two passwords differ.")
    change_password(session, actor, actor.username, new)


def log_out_everywhere(session: Session, actor: Actor) -> None:
    """End every login of the actor's own account (the account page's "Log out")."""
    revoke_sessions(session, get_user(session, require_actor(actor).username))


def revoke_sessions(session: Session, user: User) -> None:
    """Refuse every login cookie and session issued until now (logout, password change)."""
    user.sessions_valid_after = utcnow()


def remove_user(session: Session, actor: Actor | None, username: str) -> None:
    """Delete an account (never the last admin, nor one's own). A None actor is the shell."""
    user = get_user(session, username)
    if actor is not None:
        require(session, actor, Permission.USERS_MANAGE)
        if actor.user_id == user.id:
            raise DomainError("You cannot remove your own account.")
    if user.role == UserRole.ADMIN and session.scalar(
            select(func.count()).select_from(User).where(User.role == UserRole.ADMIN)) == 1:
        raise DomainError("This is the last admin; make someone else admin first.")
    session.delete(user)
    audit.record(session, actor, "user.removed", subject=f"user:{user.username}")


def list_users(session: Session, actor: Actor | None) -> list[UserSummary]:
    """Every account, by username; admins only. A None actor is the shell."""
    if actor is not None:
        require(session, actor, Permission.USERS_MANAGE)
    users = session.scalars(select(User).order_by(User.username)).all()
    return [UserSummary(u.username, u.display_name, u.role, u.created_at, u.email) for u in users]


def session_actor(session: Session, username: str, issued_at: datetime) -> Actor | None:
    """The Actor for a login (cookie or session) issued at `issued_at`, or None if revoked or the user is gone."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or issued_at < user.sessions_valid_after:
        return None
    return actor_for(user)


def login_cookie_token(username: str, key: str, expiry_days: float, issued_at: datetime) -> str:
    """The login cookie for `username` issued at `issued_at`, as streamlit-authenticator writes it (the username
    and an expiry date, signed with `key`); `login_cookie_claims` reads it back."""
    expires = issued_at + timedelta(days=expiry_days)
    return jwt.encode({"username": username, "exp_date": expires.timestamp()}, key, algorithm="HS256")


def login_cookie_claims(token: str | None, key: str, expiry_days: float) -> tuple[str, datetime] | None:
    """Read streamlit-authenticator's login cookie: (username, issued at), or None if absent, forged or expired.

    The library stores only the username and an expiry date, so the issue time is derived from the expiry.
    """
    if not token:
        return None
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    username, expires = claims.get("username"), claims.get("exp_date")
    if not isinstance(username, str) or not isinstance(expires, (int, float)):
        return None
    expires_at = datetime.fromtimestamp(expires, UTC)
    if expires_at <= utcnow():
        return None
    return username, expires_at - timedelta(days=expiry_days)
