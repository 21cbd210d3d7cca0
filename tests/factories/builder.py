"""Helpers for the form builder, catalogue and stock tests."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import AuditEntry


def audit_entries(session: Session, prefix: str) -> list[AuditEntry]:
    """The audit entries whose action starts with `prefix`, oldest first."""
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix))
                                .order_by(AuditEntry.id)))
