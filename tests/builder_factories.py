"""Factories for the form builder and catalogue tests: organisers with or without access to an event."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.models import AuditEntry, Event, EventMember, UserRole
from core.users import actor_for, create_user

PASSWORD = "a-long-password-123"


def make_organiser(session: Session, username: str = "olga", *, member_of: Sequence[Event] = (),
                   role: UserRole = UserRole.ORGANISER) -> Actor:
    """A user created as from the shell, a member of `member_of`, as the Actor that pages put in state."""
    user = create_user(session, None, username=username, display_name=username.title(), role=role, password=PASSWORD)
    for event in member_of:
        session.add(EventMember(event_id=event.id, user_id=user.id))
    session.flush()
    return actor_for(user)


def audit_entries(session: Session, prefix: str) -> list[AuditEntry]:
    """The audit entries whose action starts with `prefix`, oldest first."""
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix))
                                .order_by(AuditEntry.id)))
