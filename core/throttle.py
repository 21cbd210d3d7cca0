"""Throttling that decays: failures (or requests) add to a score per key that halves every HALF_LIFE.

Used for logins (core/users.py), and per client for the public form, code entry and order lookup. Keys are
"<scope>:<value>"; client addresses are stored only as a hash (`client_key`).

Entries are read and written with prebuilt Core statements, never as ORM objects: every public submit counts
one inside the order's write transaction, and `Session.get` plus a flush of the entry cost about a third of
that transaction's time (bench/README.md, "The rush"). So that no session ever holds a stale copy, nothing
loads them through the ORM (`entry` and `entries` are the way to read them).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.db import transaction_connection
from core.models import LoginThrottle

HALF_LIFE = timedelta(minutes=10)
BASE_DELAY_SECONDS = 2.0


def client_key(scope: str, client: str) -> str:
    """The throttle key of a client (an IP address or session id) for `scope`; only a hash of it is stored."""
    return f"{scope}:{hashlib.sha256(client.encode()).hexdigest()[:32]}"


_TABLE = LoginThrottle.__table__
_ENTRY = select(_TABLE.c.key, _TABLE.c.score, _TABLE.c.updated_at, _TABLE.c.blocked_until)
_ENTRY_BY_KEY = _ENTRY.where(_TABLE.c.key == bindparam("key"))
_ENTRY_TO_UPDATE = _ENTRY_BY_KEY.with_for_update()  # PostgreSQL locks the row; SQLite's writer holds the file
# A key's first hit from two transactions at once (two tabs, or several people behind one address) must not fail
# the second one's order on the unique key: the later INSERT does nothing (and returns no row), and that hit
# updates the row instead.
_INSERT_NEW_ENTRY = {
    "postgresql": postgresql_insert(_TABLE).on_conflict_do_nothing(index_elements=[_TABLE.c.key]).returning(_TABLE.c.key),
    "sqlite": sqlite_insert(_TABLE).on_conflict_do_nothing(index_elements=[_TABLE.c.key]).returning(_TABLE.c.key),
}
_UPDATE_ENTRY = update(_TABLE).where(_TABLE.c.key == bindparam("entry_key")).values(
    score=bindparam("score"), updated_at=bindparam("updated_at"), blocked_until=bindparam("blocked_until"))


def entry(session: Session, key: str) -> Row | None:
    """The stored entry of `key` (key, score, updated_at, blocked_until), or None."""
    return transaction_connection(session).execute(_ENTRY_BY_KEY, {"key": key}).first()


def entries(session: Session, keys: Iterable[str]) -> dict[str, Row]:
    """The stored entries of `keys`, by key."""
    rows = transaction_connection(session).execute(_ENTRY.where(_TABLE.c.key.in_(list(keys))))
    return {row.key: row for row in rows}


def wait_of(found: Row | None, now: datetime) -> int:
    """How long an entry still blocks, in whole seconds; 0 for none, or one that no longer blocks."""
    return _wait_until(found.blocked_until if found is not None else None, now)


def seconds_blocked(session: Session, key: str, now: datetime) -> int:
    """How long `key` must still wait, in whole seconds; 0 if it need not."""
    return wait_of(entry(session, key), now)


def _wait_until(blocked_until: datetime | None, now: datetime) -> int:
    if blocked_until is None or blocked_until <= now:
        return 0
    return math.ceil((blocked_until - now).total_seconds())


def record_hit(session: Session, key: str, now: datetime, *, free: float, cap: timedelta,
               weight: float = 1.0, max_score: float | None = None) -> int:
    """Add `weight` to the key's decayed score; past `free` the key waits 2 s doubling per extra hit, at most
    `cap`. Returns the wait now imposed, in seconds.

    `max_score` bounds the score, so that the wait ends soon after the hits stop however long they went on.
    """
    connection = transaction_connection(session)
    found = connection.execute(_ENTRY_TO_UPDATE, {"key": key}).first()
    values = _store_hit(connection, key, found, now, free=free, cap=cap, weight=weight, max_score=max_score)
    return _wait_until(values["blocked_until"], now)


def admit_hit(session: Session, key: str, now: datetime, *, free: float, cap: timedelta) -> int:
    """`seconds_blocked`, then `record_hit` if it is 0, with one read of the entry: returns how long the key must
    still wait (nothing counted), or 0 once this hit is counted. Every public submit runs it while holding the
    write lock, so the read saved is one statement fewer per order in a rush. (A hit that races the key's very
    first one is counted unchecked, as before: one hit blocks nobody while `free` is at least 1.)"""
    connection = transaction_connection(session)
    found = connection.execute(_ENTRY_TO_UPDATE, {"key": key}).first()
    if wait := wait_of(found, now):
        return wait
    _store_hit(connection, key, found, now, free=free, cap=cap, weight=1.0, max_score=None)
    return 0


def _store_hit(connection: Connection, key: str, found: Row | None, now: datetime, *, free: float, cap: timedelta,
               weight: float, max_score: float | None) -> dict[str, Any]:
    """Write one more hit onto `found`, the key's entry read FOR UPDATE (None: its first); returns the values."""
    if found is None:
        values = _hit(None, now, free=free, cap=cap, weight=weight, max_score=max_score)
        if connection.execute(_INSERT_NEW_ENTRY[connection.dialect.name], {"key": key, **values}).first():
            return values
        found = connection.execute(_ENTRY_TO_UPDATE, {"key": key}).first()  # another transaction's, just made
    values = _hit(found, now, free=free, cap=cap, weight=weight, max_score=max_score)
    connection.execute(_UPDATE_ENTRY, {"entry_key": key, **values})
    return values


def _hit(found: Row | None, now: datetime, *, free: float, cap: timedelta, weight: float,
         max_score: float | None) -> dict[str, Any]:
    """The entry's values after one more hit."""
    score = (decayed_score(found, now) if found is not None else 0.0) + weight
    if max_score is not None:
        score = min(score, max_score)
    blocked_until = found.blocked_until if found is not None else None
    excess = score - free
    if excess >= 0:
        blocked_until = now + min(timedelta(seconds=BASE_DELAY_SECONDS * 2 ** min(excess, 20)), cap)
    return {"score": score, "updated_at": now, "blocked_until": blocked_until}


def decayed_score(found: Row, now: datetime) -> float:
    """An entry's score decayed to `now`."""
    elapsed = max((now - found.updated_at).total_seconds(), 0.0)
    return float(found.score * math.pow(0.5, elapsed / HALF_LIFE.total_seconds()))
