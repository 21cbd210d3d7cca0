"""Login throttling under attack: simulated hours of one attacker hammering, against the clock the code is given.

Each attempt goes the way pages/login_page.py runs it: the credentials for this client (throttled usernames
get a hash no password matches), the password checked against them, and a failure recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import bcrypt
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.db import unit_of_work
from core.login_throttle import (
    CLIENT_MAX_DELAY,
    FREE_FAILURES,
    USERNAME_MAX_DELAY,
    login_credentials,
    login_wait,
    record_failed_login,
)
from core.models import User, UserRole, utcnow
from core.users import create_user

OFFICE = "198.51.100.7"  # the attacker and the colleagues behind one address
ELSEWHERE = "203.0.113.9"
PASSWORDS = {"alice": "alice's long password", "bob": "bob's long password", "carol": "carol's long password"}
HOUR = timedelta(hours=1)


@dataclass
class Outcome:
    logged_in: bool
    wait: int  # what the page shows after a failure; 0 is "Username or password is incorrect."
    checked: bool  # whether the password was compared at all (not refused for throttling)


@dataclass
class Tally:
    attempts: int = 0
    checked: int = 0
    waits: list[int] = field(default_factory=list)
    logins: int = 0


def attempt(session: Session, client: str, username: str, password: str, now: datetime) -> Outcome:
    """One submit of the login form, as the page runs it."""
    offered = login_credentials(session, client, now)["usernames"].get(username)
    real = session.scalars(select(User.password_hash).where(User.username == username)).first()
    checked = offered is not None and offered["password"] == real
    if offered is not None and bcrypt.checkpw(password.encode(), offered["password"].encode()):
        return Outcome(True, 0, checked)
    wait = record_failed_login(session, username if offered is not None else None, client, now)
    return Outcome(False, wait, checked)


@pytest.fixture
def organisers(engine: Engine) -> Engine:
    with unit_of_work(engine) as session:
        for username, password in PASSWORDS.items():
            create_user(session, None, username=username, display_name=username.title(), role=UserRole.ORGANISER,
                        password=password)
    return engine


def _hammer(engine: Engine, attacker: str, colleague: str, victim_from: str,
            duration: timedelta = HOUR) -> tuple[Tally, Tally, Tally]:
    """`attacker` guesses alice's password every 2 s and an unknown username every 10 s; bob logs in from
    `colleague` every minute; alice tries her own password from `victim_from` every minute, half a minute later."""
    start = utcnow()
    attack, bob, alice = Tally(), Tally(), Tally()
    with unit_of_work(engine) as session:
        for second in range(0, int(duration.total_seconds()), 2):
            now = start + timedelta(seconds=second)
            outcome = attempt(session, attacker, "alice", f"guess {second}", now)
            attack.attempts += 1
            attack.checked += outcome.checked
            if second % 10 == 0:
                attempt(session, attacker, f"nobody{second}", "guess", now)
            for who, tally, client, offset in (("bob", bob, colleague, 0), ("alice", alice, victim_from, 30)):
                if second % 60 == offset:
                    outcome = attempt(session, client, who, PASSWORDS[who], now)
                    tally.attempts += 1
                    tally.logins += outcome.logged_in
                    tally.waits.append(outcome.wait)
    return attack, bob, alice


@pytest.mark.parametrize(("attacker", "colleague", "victim"), [
    (OFFICE, OFFICE, ELSEWHERE),
    # Where Streamlit knows no address, a client is its browser session (ui/runtime.py).
    ("session:attacker", "session:bob", "session:alice"),
])
def test_an_hour_of_hammering_never_keeps_a_colleague_behind_the_same_address_out(
    organisers: Engine, attacker: str, colleague: str, victim: str
) -> None:
    attack, bob, alice = _hammer(organisers, attacker, colleague, victim)
    assert bob.logins == bob.attempts == 60  # every single time, at once
    # The attacker's password was compared only for its free attempts: after that, every guess waits.
    assert attack.checked <= FREE_FAILURES + 1 and attack.attempts == 1800
    # Alice, from her own address, is slowed at most USERNAME_MAX_DELAY, and only while the attacker's free
    # attempts ran: she gets in nearly every time.
    assert max(alice.waits) <= USERNAME_MAX_DELAY.total_seconds()
    assert alice.logins >= alice.attempts - 1


def test_the_attacked_username_at_the_attackers_address_waits_and_is_free_soon_after_the_attack(
    organisers: Engine,
) -> None:
    """The one organiser slowed for long: the attacked one, behind the attacker's own address (they cannot be told
    apart). Fifteen minutes after the attack stops, she logs in again."""
    start = utcnow()
    with unit_of_work(organisers) as session:
        for second in range(0, int(HOUR.total_seconds()), 2):
            attempt(session, OFFICE, "alice", "guess", start + timedelta(seconds=second))
        stopped = start + HOUR
        assert 0 < login_wait(session, "alice", OFFICE, stopped) <= CLIENT_MAX_DELAY.total_seconds()
        assert login_wait(session, "alice", ELSEWHERE, stopped) == 0
        assert attempt(session, OFFICE, "alice", PASSWORDS["alice"], stopped + CLIENT_MAX_DELAY).logged_in


def test_password_spraying_slows_the_client_for_the_usernames_it_tried_and_unknown_ones(organisers: Engine) -> None:
    now = utcnow()
    with unit_of_work(organisers) as session:
        # One failure each for many usernames: no single pair gets past its free failures.
        for n in range(8):
            attempt(session, OFFICE, "alice" if n == 0 else f"nobody{n}", "Summer2027!", now)
        # Now the client waits for usernames it failed on and for unknown ones (which answer alike) ...
        assert attempt(session, OFFICE, "alice", PASSWORDS["alice"], now).logged_in is False
        assert attempt(session, OFFICE, "nobody-else", "Summer2027!", now).wait > 0
        assert attempt(session, OFFICE, "carol", "Summer2027!", now).wait > 0  # failed on now, like an unknown
        # ... but an organiser it never failed on logs in, and alice does from elsewhere.
        assert attempt(session, OFFICE, "bob", PASSWORDS["bob"], now).logged_in
        assert attempt(session, ELSEWHERE, "alice", PASSWORDS["alice"], now).logged_in
        # Half an hour later (the scores halve every ten minutes) the client may try again.
        later = now + timedelta(minutes=30)
        assert attempt(session, OFFICE, "alice", PASSWORDS["alice"], later).logged_in


def test_a_few_typos_cost_nothing(organisers: Engine) -> None:
    now = utcnow()
    with unit_of_work(organisers) as session:
        waits = [attempt(session, OFFICE, "alice", "typo", now).wait for _ in range(int(FREE_FAILURES) - 1)]
        assert waits == [0] * (int(FREE_FAILURES) - 1)
        assert attempt(session, OFFICE, "alice", PASSWORDS["alice"], now).logged_in
