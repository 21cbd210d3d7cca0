"""Redemption codes: what attendees enter to open an event's form or to order certain items.

Only a keyed HMAC of each code is stored (`code_hash`), with a short hint for organisers, so a copy of the
database hands out no usable code. Entry ignores case, spaces, hyphens and underscores (`normalise_code`).
A use is taken by one conditional UPDATE inside the order's transaction (`redeem_code`), as stock is, so no code
is used more often than allowed however many orders arrive at once; cancelling an order gives it back
(`release_code`).

Organisers generate, import, list and revoke codes through core/code_admin.py.

Which orders need a code (`items_needing_code`):
- CodeMode.NONE: none; a code typed anyway is ignored.
- CodeMode.FORM: every order; the code must be valid for every item ordered.
- CodeMode.ITEMS: orders with an item marked `requires_code`; the code must be valid for those items (others
  need no code). An order without such items takes no use, even if a code was typed.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from core.db import transaction_connection
from core.errors import CodeRefused, CodeThrottled, SubmitThrottled
from core.models import CodeMode, CodeRedemption, Event, Item, RedemptionCode
from core.throttle import admit_hit, client_key, record_hit, seconds_blocked

# Characters entry ignores, besides case: people copy codes with spaces, or as printed in groups ("AB-CD").
_IGNORED = frozenset("-_")
MAX_CODE_LENGTH = 64


# Built once: they run for every order placed with a code. Core tables, so no ORM state is touched.
_CODES, _REDEMPTIONS = RedemptionCode.__table__, CodeRedemption.__table__
_TAKE_USE = (
    update(_CODES)
    .where(_CODES.c.event_id == bindparam("in_event"), _CODES.c.code_hash == bindparam("with_hash"),
           _CODES.c.uses < _CODES.c.max_uses, _CODES.c.revoked_at.is_(None),
           or_(_CODES.c.expires_at.is_(None), _CODES.c.expires_at > bindparam("now")))
    .values(uses=_CODES.c.uses + 1)
    .returning(_CODES.c.id, _CODES.c.item_keys))
_GIVE_USE_BACK = update(_CODES).where(_CODES.c.id == bindparam("taken_id")).values(uses=_CODES.c.uses - 1)
_INSERT_REDEMPTION = insert(_REDEMPTIONS)


@dataclass(frozen=True)
class CodeCheck:
    """What a valid code allows: the items it unlocks (empty: all) and how many uses it has left."""

    item_keys: tuple[str, ...]
    uses_left: int
    expires_at: datetime | None

    def allows(self, item_key: str) -> bool:
        return not self.item_keys or item_key in self.item_keys


def normalise_code(text: str) -> str:
    """`text` as stored and compared: NFKC, upper case, without whitespace, hyphens or underscores."""
    folded = unicodedata.normalize("NFKC", text).upper()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in _IGNORED)


def code_hash(code: str, key: bytes) -> str:
    """HMAC-SHA256 (hex) of the normalised code under `key`; without the key, the hash reveals no code."""
    if not key:
        raise ValueError("the code key is empty")
    return hmac.new(key, normalise_code(code).encode(), hashlib.sha256).hexdigest()


def items_needing_code(event: Event, ordered_items: Iterable[Item]) -> frozenset[str] | None:
    """The keys of the ordered items a code must be valid for, or None when this order needs no code.

    An empty set (FORM mode, an order without items) still means a code is needed.
    """
    if event.code_mode == CodeMode.FORM:
        return frozenset(item.key for item in ordered_items)
    if event.code_mode == CodeMode.ITEMS:
        keys = frozenset(item.key for item in ordered_items if item.requires_code)
        return keys or None
    return None


def check_code(session: Session, event: Event, entered: str, *, key: bytes, now: datetime) -> CodeCheck:
    """What `entered` allows at `now`, without using it (e.g. to open a FORM-mode form); raises CodeRefused."""
    code = _find(session, event, entered, key)
    _refuse_if_unusable(code, now)
    return CodeCheck(item_keys=tuple(code.item_keys), uses_left=code.max_uses - code.uses, expires_at=code.expires_at)


def redeem_code(session: Session, event: Event, entered: str, item_keys: Collection[str], order_id: int, *,
                key: bytes, now: datetime) -> None:
    """Take one use of `entered` for the (flushed) order `order_id`, which orders `item_keys` needing the code.

    Call it inside the order's transaction: the use is taken by a single conditional UPDATE, which SQLite runs
    under the write lock (BEGIN IMMEDIATE) and PostgreSQL re-checks under the row lock after a concurrent
    update commits, so a code is never used more often than allowed. Raises CodeRefused (nothing is taken).
    """
    # The usual case is one statement: the use is taken, and what the code allows comes back with it.
    connection = transaction_connection(session)
    taken = connection.execute(_TAKE_USE, {"in_event": event.id, "with_hash": code_hash(_entered(entered), key),
                                           "now": now}).first()
    if taken is None:
        # Unknown or unusable; the UPDATE ran under the lock, so reading the code now gives the reason.
        code = _find(session, event, entered, key)
        session.refresh(code)
        _refuse_if_unusable(code, now)
        # Usable again: a cancelled order gave its use back in between. Rare, and trying again works.
        raise CodeRefused("This code cannot be used right now. Please try again.")
    code_id, allowed = taken
    try:
        _refuse_if_items_not_covered(session, event, allowed, item_keys)
    except CodeRefused:
        connection.execute(_GIVE_USE_BACK, {"taken_id": code_id})  # nothing is taken, even if the caller goes on
        raise
    finally:
        # The UPDATEs bypassed the session: a RedemptionCode loaded in it reloads `uses` when next read.
        loaded = session.identity_map.get(identity_key(RedemptionCode, code_id))
        if loaded is not None:
            session.expire(loaded, ["uses"])
    connection.execute(_INSERT_REDEMPTION, {"code_id": code_id, "order_id": order_id, "at": now})


def release_code(session: Session, order_id: int) -> bool:
    """Give back the code use of order `order_id` (when it is cancelled); False if it used no code."""
    code_id = session.scalar(
        delete(CodeRedemption).where(CodeRedemption.order_id == order_id).returning(CodeRedemption.code_id))
    if code_id is None:
        return False
    # "fetch": a RedemptionCode loaded in this session learns its new count.
    session.execute(
        update(RedemptionCode).where(RedemptionCode.id == code_id, RedemptionCode.uses > 0)
        .values(uses=RedemptionCode.uses - 1).execution_options(synchronize_session="fetch"))
    return True


def _entered(entered: str) -> str:
    """The normalised code; raises CodeRefused for an empty or overlong one."""
    normalised = normalise_code(entered)
    if not normalised:
        raise CodeRefused("Please enter your code.")
    if len(normalised) > MAX_CODE_LENGTH:
        raise CodeRefused("This code is not known. Please check it and try again.")
    return normalised


def _find(session: Session, event: Event, entered: str, key: bytes) -> RedemptionCode:
    code = session.scalar(select(RedemptionCode).where(
        RedemptionCode.event_id == event.id, RedemptionCode.code_hash == code_hash(_entered(entered), key)))
    if code is None:
        raise CodeRefused("This code is not known. Please check it and try again.")
    return code


def _refuse_if_unusable(code: RedemptionCode, now: datetime) -> None:
    if code.revoked_at is not None:
        raise CodeRefused("This code is no longer valid.")
    if code.expires_at is not None and code.expires_at <= now:
        raise CodeRefused("This code has expired.")
    if code.uses >= code.max_uses:
        raise CodeRefused("This code has already been used." if code.max_uses == 1
                          else f"This code has already been used {code.max_uses} times, as often as it allows.")


def _refuse_if_items_not_covered(session: Session, event: Event, allowed: Collection[str],
                                 item_keys: Collection[str]) -> None:
    """`allowed` is the code's `item_keys` (empty: every item)."""
    if not allowed:
        return
    outside = sorted(set(item_keys) - set(allowed))
    if outside:
        name = session.scalar(select(Item.name).where(Item.event_id == event.id, Item.key == outside[0]))
        raise CodeRefused(f"This code is not valid for {name or outside[0]}.")


# --- Throttling the public form: wrong codes and submissions, per client (core/throttle.py) ----------------------

# Each wrong code adds 1 to the client's score, which halves every 10 minutes; from a score of 5 the client waits
# 2 s, doubling per further wrong code, at most 15 minutes: a person mistyping never notices, a script guessing
# codes gets a few dozen tries an hour.
WRONG_CODES_FREE = 5.0
WRONG_CODES_MAX_DELAY = timedelta(minutes=15)
# Submissions of the order form (accepted or not), counted the same way from a score of 20: generous, so that
# people never meet it, but a script cannot hammer the form (each submit costs a write transaction and a mail).
SUBMITS_FREE = 20.0
SUBMITS_MAX_DELAY = timedelta(minutes=10)


@dataclass(frozen=True)
class CodeEntry:
    """The outcome of typing a code on the public form: `check` if valid, else the message to show."""

    check: CodeCheck | None
    message: str = ""


def code_entry_wait(session: Session, client: str, now: datetime) -> int:
    """Seconds `client` (an IP address or session id) must wait before entering another code; 0 if none."""
    return seconds_blocked(session, client_key("code", client), now)


def record_wrong_code(session: Session, client: str, now: datetime) -> int:
    """Count a wrong code against `client`; returns the wait now imposed, in seconds."""
    return record_hit(session, client_key("code", client), now, free=WRONG_CODES_FREE, cap=WRONG_CODES_MAX_DELAY)


def enter_code(session: Session, event: Event, entered: str, client: str, *, key: bytes,
               now: datetime) -> CodeEntry:
    """Check a code typed on the public form, throttled per client; never raises for a wrong or refused code.

    A wrong entry is recorded in `session` and the refusal returned, so the caller's unit of work commits the
    record (raising would roll it back). An empty entry costs nothing.
    """
    if wait := code_entry_wait(session, client, now):
        return CodeEntry(None, str(CodeThrottled(wait)))
    try:
        return CodeEntry(check_code(session, event, entered, key=key, now=now))
    except CodeRefused as exc:
        if normalise_code(entered):
            if wait := record_wrong_code(session, client, now):
                return CodeEntry(None, f"{exc} {CodeThrottled(wait)}")
        return CodeEntry(None, str(exc))


def admit_submit(session: Session, client: str, now: datetime, *, code_entered: bool = False) -> None:
    """Count one submission of the public order form by `client`, before placing the order.

    Raises SubmitThrottled (counting nothing) while the client must wait, and CodeThrottled when the submission
    carries a code while the client must wait after wrong ones: submitting must not be a way round that.
    """
    if code_entered and (wait := code_entry_wait(session, client, now)):
        raise CodeThrottled(wait)
    if wait := admit_hit(session, client_key("submit", client), now, free=SUBMITS_FREE, cap=SUBMITS_MAX_DELAY):
        raise SubmitThrottled(wait)


def count_submit(session: Session, client: str, now: datetime) -> None:
    """Count one submission by `client` without checking: for a submission `admit_submit` admitted in a
    transaction that was then rolled back (the order failed), so that failing orders count too."""
    record_hit(session, client_key("submit", client), now, free=SUBMITS_FREE, cap=SUBMITS_MAX_DELAY)


@dataclass(frozen=True)
class PublicCodeRules:
    """What the public form says about codes: the event's mode and the names of the items that need one."""

    mode: CodeMode
    items_needing_code: tuple[str, ...]


def public_code_rules(session: Session, event: Event) -> PublicCodeRules:
    """The event's code rules for its public page (ITEMS mode lists the active items that need a code)."""
    names: tuple[str, ...] = ()
    if event.code_mode == CodeMode.ITEMS:
        names = tuple(session.scalars(select(Item.name).where(
            Item.event_id == event.id, Item.active, Item.requires_code).order_by(Item.position, Item.id)))
    return PublicCodeRules(event.code_mode, names)
