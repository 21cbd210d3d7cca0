"""The audit log: every change an organiser or the system makes, with a dotted action code and no personal data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from core.auth import Actor, Permission, require, visible_events
from core.errors import SchemaError
from core.models import AuditEntry, Event, utcnow

# Who acted, when no organiser did: the system (CLI, timer), or an attendee through their own order.
SYSTEM = "system"
ATTENDEE = "attendee"
MAX_LIMIT = 500
AUDIT_COLUMNS = ("at", "actor", "action", "event", "subject", "details")


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    *,
    event: Event | int | None = None,
    subject: str = "",
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry such as `order.status_changed`. A None actor is the system (CLI, timer).

    Callers pass only non-personal details: ids, references, field keys, old and new statuses, never answers.
    """
    if isinstance(event, Event) and event.id is None:
        session.flush()  # a new event gets its id here, so the entry can point at it
    event_id = event.id if isinstance(event, Event) else event
    entry = AuditEntry(at=utcnow(), actor=actor.username if actor else SYSTEM, action=action, event_id=event_id,
                       subject=subject, details=dict(details or {}))
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilters:
    """What the audit list is narrowed to; empty values filter nothing. Days are inclusive, in UTC."""

    action_prefix: str = ""
    actor: str = ""
    event_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None


def list_audit_entries(
    session: Session, actor: Actor, filters: AuditFilters, *, limit: int, offset: int
) -> tuple[pd.DataFrame, int]:
    """Audit entries matching `filters`, newest first, as a frame of AUDIT_COLUMNS, and how many match in all.

    Admins see every entry; organisers only those of events they are members of, never entries without an
    event (user management, system work). `at` is UTC; `details` is JSON text. Raises PermissionDenied, or
    SchemaError for a bad date range.
    """
    require(session, actor, Permission.AUDIT_VIEW)
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise ValueError(f"limit must be 1 to {MAX_LIMIT} and offset >= 0")
    conditions = _audit_conditions(actor, filters)
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    found = session.execute(
        select(AuditEntry.at, AuditEntry.actor, AuditEntry.action, Event.title, AuditEntry.subject,
               AuditEntry.details)
        .outerjoin(Event, Event.id == AuditEntry.event_id)
        .where(*conditions)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit).offset(offset)
    ).all()
    frame = pd.DataFrame({
        "at": pd.Series(pd.to_datetime([row.at for row in found], utc=True)),
        "actor": pd.Series([row.actor for row in found], dtype="str"),
        "action": pd.Series([row.action for row in found], dtype="str"),
        "event": pd.Series([row.title for row in found], dtype="str"),
        "subject": pd.Series([row.subject for row in found], dtype="str"),
        "details": pd.Series([json.dumps(row.details, ensure_ascii=False, sort_keys=True) if row.details else ""
                              for row in found], dtype="str"),
    }, columns=list(AUDIT_COLUMNS))
    return frame, total


def _audit_conditions(actor: Actor, filters: AuditFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if not actor.is_admin:
        # IN excludes NULL, so entries without an event stay hidden from organisers.
        mine = visible_events(actor).with_only_columns(Event.id).order_by(None)
        conditions.append(AuditEntry.event_id.in_(mine))
    if filters.action_prefix.strip():
        conditions.append(AuditEntry.action.startswith(filters.action_prefix.strip().lower(), autoescape=True))
    if filters.actor.strip():
        conditions.append(AuditEntry.actor == filters.actor.strip().lower())
    if filters.event_id is not None:
        conditions.append(AuditEntry.event_id == filters.event_id)
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise SchemaError("The first day is after the last day.")
    if filters.date_from:
        conditions.append(AuditEntry.at >= datetime.combine(filters.date_from, time(), UTC))
    if filters.date_to:
        conditions.append(AuditEntry.at < datetime.combine(filters.date_to + timedelta(days=1), time(), UTC))
    return conditions
