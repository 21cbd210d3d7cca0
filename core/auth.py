"""Who may do what: the acting user (Actor), permissions, and `require()`, which every core service calls."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core.errors import PasswordChangeRequired, PermissionDenied
from core.models import Event, EventMember, UserRole


class Permission(StrEnum):
    EVENTS_CREATE = "events.create"
    EVENT_VIEW = "event.view"
    EVENT_EDIT = "event.edit"  # details, branding, form, items, members
    ORDERS_VIEW = "orders.view"
    ORDERS_UPDATE = "orders.update"
    ORDERS_EXPORT = "orders.export"
    EVENT_PURGE = "event.purge"  # destroy an event's personal data now
    AUDIT_VIEW = "audit.view"  # organisers see the entries of their own events only
    VENDORS_MANAGE = "vendors.manage"  # organisers manage their own vendors, admins all
    USERS_MANAGE = "users.manage"


# Granted to an organiser only for the events they are a member of.
EVENT_PERMISSIONS = frozenset({Permission.EVENT_VIEW, Permission.EVENT_EDIT, Permission.ORDERS_VIEW,
                               Permission.ORDERS_UPDATE, Permission.ORDERS_EXPORT, Permission.EVENT_PURGE})
# Granted to every organiser.
ORGANISER_PERMISSIONS = frozenset({Permission.EVENTS_CREATE, Permission.AUDIT_VIEW, Permission.VENDORS_MANAGE})


@dataclass(frozen=True)
class Actor:
    """The logged-in user on whose behalf a core function acts."""

    user_id: int
    username: str
    role: UserRole
    # The password was printed on a console or set by someone else: nothing but setting a new one is allowed.
    must_change_password: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == UserRole.ADMIN


def require_actor(actor: Actor | None) -> Actor:
    """`actor`, or PermissionDenied when there is none (a service that needs a logged-in user)."""
    if actor is None:
        raise PermissionDenied("Please log in.")
    return actor


def require(session: Session, actor: Actor | None, permission: Permission, event: Event | int | None = None) -> None:
    """Raise PermissionDenied unless `actor` holds `permission` (for `event`, when the permission is per event)."""
    actor = require_actor(actor)
    require_own_password(actor)
    if actor.is_admin:
        return
    if permission in ORGANISER_PERMISSIONS:
        return
    if permission in EVENT_PERMISSIONS and event is not None:
        event_id = event if isinstance(event, int) else event.id
        if is_member(session, actor, event_id):
            return
        raise PermissionDenied("You do not have access to this event.")
    raise PermissionDenied("You do not have permission to do this.")


def require_own_password(actor: Actor | None) -> None:
    """Raise PasswordChangeRequired while `actor` still logs in with a password someone else knows (and
    PermissionDenied without an actor)."""
    if require_actor(actor).must_change_password:
        raise PasswordChangeRequired("Set a new password of your own first (you are still using the one you "
                                     "were given).")


def is_member(session: Session, actor: Actor, event_id: int) -> bool:
    """Whether `actor` organises the event; raises PermissionDenied without an actor."""
    return session.get(EventMember, (event_id, require_actor(actor).user_id)) is not None


def visible_events(actor: Actor) -> Select[tuple[Event]]:
    """A query for the events `actor` may see: all for admins, their own for organisers; raises PermissionDenied
    without an actor.

    Raises PasswordChangeRequired like `require()`: listing is the first thing every organiser page does.
    """
    actor = require_actor(actor)
    require_own_password(actor)
    query = select(Event).order_by(Event.created_at.desc(), Event.id.desc())
    if actor.is_admin:
        return query
    return query.join(EventMember, EventMember.event_id == Event.id).where(EventMember.user_id == actor.user_id)
