"""The mail outbox: messages are written in the caller's transaction and sent after commit by a dispatcher."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy.orm import Session

from core.models import MessageKind, MessageStatus, OutboxMessage, utcnow

MESSAGE_ID_DOMAIN = "event-orders.invalid"


def new_message_id() -> str:
    """A globally unique Message-ID, fixed when the message is queued, so a resend is recognisably the same mail."""
    return f"<{secrets.token_hex(16)}@{MESSAGE_ID_DOMAIN}>"


def enqueue_message(
    session: Session,
    *,
    kind: MessageKind,
    recipients: Sequence[str],
    subject: str,
    body_text: str,
    body_html: str = "",
    event_id: int | None = None,
    order_id: int | None = None,
    vendor_id: int | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> OutboxMessage:
    """Queue one email in the caller's transaction; nothing is sent until `dispatch` runs after commit.

    Subjects must not contain line breaks (they would inject headers); callers build them from templates that
    strip them, and this refuses any that slip through.
    """
    if "\r" in subject or "\n" in subject:
        raise ValueError("a mail subject may not contain line breaks")
    message = OutboxMessage(
        message_id=new_message_id(), kind=kind, recipients=list(recipients), subject=subject, body_text=body_text,
        body_html=body_html, event_id=event_id, order_id=order_id, vendor_id=vendor_id,
        attachment_name=attachment[0] if attachment else None, attachment=attachment[1] if attachment else None,
        status=MessageStatus.PENDING, next_attempt_at=utcnow(),
    )
    session.add(message)
    session.flush()
    return message
