"""Login throttling: an attacker's failures slow the attacker and the attacked username, not their neighbours.

Three scores per failure (core/throttle.py: each failure adds 1, halving every 10 minutes; past FREE_FAILURES the
key waits 2 s doubling per failure, up to a cap):

- the pair of client and username (`pair:`): this client may not try this username for a while. Capped at
  CLIENT_MAX_DELAY, so one address guessing one password is slowed to a crawl.
- the username (`user:`): nobody may try it for a while, capped at USERNAME_MAX_DELAY (30 s), so a stranger
  can delay its owner but never lock them out. Only failures whose password was checked count: attempts the
  pair or client throttle refused would otherwise keep renewing the username's wait for ever.
- the client (`client:`), across usernames, against password spraying: while it waits, the client may not try
  usernames it has failed on lately, nor unknown ones (which then answer like known ones).

The login form is never hidden: a different organiser behind the same address (an office, a proxy) whose
username this client has not failed on logs in as usual. A client is its address, or its browser session where
Streamlit knows no address (ui/runtime.py): a key shared by every address-less client would let one attacker
keep the attacked username refused to all of them for as long as the attack goes on.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import bcrypt
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import User, utcnow
from core.throttle import client_key, decayed_score, entries, entry, record_hit, wait_of

FREE_FAILURES = 5.0
CLIENT_MAX_DELAY = timedelta(minutes=15)
USERNAME_MAX_DELAY = timedelta(seconds=30)
# Enough score for the longest wait (2 s * 2^9 > 15 min); more would only make a long attack's tail longer.
MAX_SCORE = FREE_FAILURES + 10
# A client "has failed on" a username while its pair score is above this (about 40 minutes after one failure).
FAILED_ON_SCORE = 0.05

# The hash of a random secret nobody knows; cheap rounds suffice since no password can match it.
_UNMATCHABLE_HASH = bcrypt.hashpw(secrets.token_bytes(32), bcrypt.gensalt(rounds=4)).decode()


def login_credentials(session: Session, client: str, now: datetime | None = None) -> dict[str, Any]:
    """Credentials in streamlit-authenticator's shape, read from the database for one login form of `client`.

    Usernames this client may not try right now (`login_wait`) get a hash no password matches, so the library
    refuses them without our seeing the password.
    """
    now = now or utcnow()
    users = list(session.scalars(select(User)))
    blocked = _blocked_usernames(session, [user.username for user in users], client, now)
    return {"usernames": {
        user.username: {"name": user.display_name, "roles": [user.role.value],
                        "password": _UNMATCHABLE_HASH if user.username in blocked else user.password_hash}
        for user in users
    }}


def login_wait(session: Session, username: str | None, client: str, now: datetime | None = None) -> int:
    """Seconds `client` must wait before it may try `username` again; 0 if it may now.

    `username` None stands for one that does not exist: it waits while the client does.
    """
    now = now or utcnow()
    client_wait = wait_of(entry(session, _client_key(client)), now)
    if username is None:
        return client_wait
    pair = entry(session, _pair_key(client, username))
    failed_on = pair is not None and decayed_score(pair, now) > FAILED_ON_SCORE
    return max(wait_of(entry(session, _user_key(username)), now), wait_of(pair, now), client_wait if failed_on else 0)


def record_failed_login(session: Session, username: str | None, client: str, now: datetime | None = None) -> int:
    """Count a failed login of `client` for `username` (None: a username that does not exist).

    Returns the seconds the client must now wait before trying that username again (0: "wrong password").
    """
    now = now or utcnow()
    if username is not None:
        username = _normalised(username)
        refused_by_client = max(wait_of(entry(session, _pair_key(client, username)), now),
                                wait_of(entry(session, _client_key(client)), now)) > 0
        _record(session, _pair_key(client, username), now, CLIENT_MAX_DELAY)
        if not refused_by_client:
            _record(session, _user_key(username), now, USERNAME_MAX_DELAY)
    _record(session, _client_key(client), now, CLIENT_MAX_DELAY)
    return login_wait(session, username, client, now)


def _blocked_usernames(session: Session, usernames: Iterable[str], client: str, now: datetime) -> set[str]:
    names = list(usernames)
    keys = [_client_key(client)] + [_user_key(name) for name in names] + [_pair_key(client, name) for name in names]
    found = entries(session, keys)
    client_waits = wait_of(found.get(_client_key(client)), now) > 0
    blocked = set()
    for name in names:
        pair = found.get(_pair_key(client, name))
        failed_on = pair is not None and decayed_score(pair, now) > FAILED_ON_SCORE
        if wait_of(found.get(_user_key(name)), now) or wait_of(pair, now) or (client_waits and failed_on):
            blocked.add(name)
    return blocked


def _record(session: Session, key: str, now: datetime, cap: timedelta) -> None:
    record_hit(session, key, now, free=FREE_FAILURES, cap=cap, max_score=MAX_SCORE)


def _normalised(username: str) -> str:
    return username.strip().lower()[:64]


# Only hashes of client addresses are stored: they are personal data we don't need in the clear.
def _client_key(client: str) -> str:
    return client_key("client", client)


def _user_key(username: str) -> str:
    return f"user:{_normalised(username)}"


def _pair_key(client: str, username: str) -> str:
    digest = hashlib.sha256(f"{client}\n{_normalised(username)}".encode()).hexdigest()[:32]
    return f"pair:{digest}"
