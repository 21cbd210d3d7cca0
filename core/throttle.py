"""Throttling that decays: failures (or requests) add to a score per key that halves every HALF_LIFE.

Used for logins (core/users.py), and per client for the public form, code entry and order lookup. Keys are
"<scope>:<value>"; client addresses are stored only as a hash (`client_key`).
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core.models import LoginThrottle

HALF_LIFE = timedelta(minutes=10)
BASE_DELAY_SECONDS = 2.0


def client_key(scope: str, client: str) -> str:
    """The throttle key of a client (an IP address or session id) for `scope`; only a hash of it is stored."""
    return f"{scope}:{hashlib.sha256(client.encode()).hexdigest()[:32]}"


def seconds_blocked(session: Session, key: str, now: datetime) -> int:
    """How long `key` must still wait, in whole seconds; 0 if it need not."""
    entry = session.get(LoginThrottle, key)
    if entry is None or entry.blocked_until is None or entry.blocked_until <= now:
        return 0
    return math.ceil((entry.blocked_until - now).total_seconds())


def record_hit(session: Session, key: str, now: datetime, *, free: float, cap: timedelta,
               weight: float = 1.0, max_score: float | None = None) -> int:
    """Add `weight` to the key's decayed score; past `free` the key waits 2 s doubling per extra hit, at most
    `cap`. Returns the wait now imposed, in seconds.

    `max_score` bounds the score, so that the wait ends soon after the hits stop however long they went on.
    """
    entry = session.get(LoginThrottle, key)
    if entry is None:
        entry = LoginThrottle(key=key, score=0.0, updated_at=now)
        session.add(entry)
    entry.score = decayed_score(entry, now) + weight
    if max_score is not None:
        entry.score = min(entry.score, max_score)
    entry.updated_at = now
    excess = entry.score - free
    if excess >= 0:
        entry.blocked_until = now + min(timedelta(seconds=BASE_DELAY_SECONDS * 2 ** min(excess, 20)), cap)
    return seconds_blocked(session, key, now)


def decayed_score(entry: LoginThrottle, now: datetime) -> float:
    elapsed = max((now - entry.updated_at).total_seconds(), 0.0)
    return entry.score * math.pow(0.5, elapsed / HALF_LIFE.total_seconds())
