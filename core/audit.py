"""The audit log: every change an organiser or the system makes, with a dotted action code and no personal data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from core.auth import Actor
from core.models import AuditEntry, Event, utcnow

SYSTEM = "system"


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    *,
    event: Event | int | None = None,
    subject: str = "",
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry such as `order.status_changed`; `actor` None means the system (CLI, timer).

    Callers pass only non-personal details: ids, references, field keys, old and new statuses, never answers.
    """
    if isinstance(event, Event) and event.id is None:
        session.flush()  # a new event gets its id here, so the entry can point at it
    event_id = event.id if isinstance(event, Event) else event
    entry = AuditEntry(at=utcnow(), actor=actor.username if actor else SYSTEM, action=action, event_id=event_id,
                       subject=subject, details=dict(details or {}))
    session.add(entry)
    return entry
