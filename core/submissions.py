"""A repeated submission finds the first order: the same answers from the same attendee, within a short window.

The idempotency key of a form session dies with the Streamlit process: an attendee whose order committed just
before a crash, and who submits again after reloading, would otherwise get a second order. So each order keeps a
fingerprint of its submission (event, form version, every normalised answer, personal ones included, the lines
and the normalised code), as an HMAC under a key derived from the codes' key: the database alone cannot be
checked against guessed answers, and the purge destroys it with the rest of the personal data. A submission with
the fingerprint of an order of the same event placed within SUBMISSION_WINDOW, and not cancelled, gets that
order's receipt instead of a second order.

Race-safe across processes: on SQLite every write transaction holds the database's write lock from its BEGIN
(core/db.py), so the look-up and the insert of two processes cannot interleave; on PostgreSQL a transaction-level
advisory lock on the fingerprint makes the second wait for the first to commit, then find its order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from core.codes import normalise_code
from core.db import transaction_connection
from core.forms import ChosenLine
from core.models import Order, OrderStatus

SUBMISSION_WINDOW = timedelta(minutes=15)
# The first key of the two-key advisory locks taken here, so they never meet another lock of the application.
_ADVISORY_LOCK_CLASS = 0x4F52  # "OR"
_ORDERS = Order.__table__
_RECENT_ORDER = (
    select(_ORDERS.c.id)
    .where(_ORDERS.c.event_id == bindparam("event_id"), _ORDERS.c.submission_hash == bindparam("submission_hash"),
           _ORDERS.c.created_at >= bindparam("since"), _ORDERS.c.status != OrderStatus.CANCELLED)
    .order_by(_ORDERS.c.created_at.desc(), _ORDERS.c.id.desc()).limit(1))


def submission_hash(
    code_key: bytes, *, event_id: int, form_version_id: int, values: Mapping[str, Any],
    lines: Sequence[ChosenLine], code: str,
) -> str | None:
    """The keyed fingerprint (hex) of one submission; None without a key (then repeats are not recognised).

    `values` are the validated, normalised answers (personal ones included) and `lines` the validated lines, so
    what the attendee typed differently but means the same ("Ada@Example.org ", "ada@example.org") matches.
    """
    if not code_key:
        return None
    key = hmac.new(code_key, b"order-submissions", hashlib.sha256).digest()
    document = json.dumps({
        "event": event_id,
        "form_version": form_version_id,
        "answers": values,
        "lines": sorted([line.item_key, line.variant_key, line.quantity] for line in lines),
        "code": normalise_code(code),
    }, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hmac.new(key, document.encode(), hashlib.sha256).hexdigest()


def find_repeated_submission(session: Session, event_id: int, fingerprint: str, now: datetime) -> int | None:
    """The id of the order of `event_id` placed with `fingerprint` within SUBMISSION_WINDOW before `now` and not
    cancelled, or None.

    Call inside the transaction that will insert the new order: on PostgreSQL this first takes a lock on the
    fingerprint that the transaction holds until it ends, so a concurrent twin waits, then finds this order.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:lock_class, :lock_key)"),
                        {"lock_class": _ADVISORY_LOCK_CLASS, "lock_key": _lock_key(fingerprint)})
    return transaction_connection(session).scalar(_RECENT_ORDER, {
        "event_id": event_id, "submission_hash": fingerprint, "since": now - SUBMISSION_WINDOW})


def _lock_key(fingerprint: str) -> int:
    """A signed 32-bit integer from the fingerprint (advisory locks take int4 pairs)."""
    return int.from_bytes(bytes.fromhex(fingerprint[:8]), "big", signed=True)
