"""The organiser's login in this session: restored from the cookie and re-checked against the database on every
whole run (app.py; a fragment's rerun skips it), kept in the browser's cookie once it starts, forgotten on logout;
the streamlit-authenticator object both the login and the account screens use."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import streamlit as st

from core.config import cookie_key
from core.db import read_only
from core.models import utcnow
from core.users import login_cookie_claims, login_cookie_token, session_actor
from ui import feedback, runtime

ISSUED_KEY = "auth.issued_at"
# The login cookie the browser has not yet confirmed storing: its token, and the key of the component whose
# answer says it is stored (one per cookie: a late answer about an earlier cookie must not count for this one).
COOKIE_PENDING_KEY = "auth.cookie_pending"
NOTE_KEY = "auth.note"
# streamlit-authenticator's own session keys; cleared together with ours.
LIBRARY_KEYS = ("authentication_status", "username", "name", "email", "roles")


def restore_session() -> None:
    """At the start of every run: drop a revoked login, or log in from a valid cookie."""
    state = st.session_state
    settings = runtime.settings()
    with read_only(runtime.engine()) as session:
        actor = runtime.current_actor()
        if actor is not None:
            actor = session_actor(session, actor.username, state[ISSUED_KEY])
            if actor is None:
                forget_login()
            else:
                state[runtime.ACTOR_KEY] = actor  # the role may have changed since the last run
            return
        claims = login_cookie_claims(st.context.cookies.get(settings.cookie_name), cookie_key(settings),
                                     settings.cookie_expiry_days)
        if claims is not None and (actor := session_actor(session, *claims)) is not None:
            state[runtime.ACTOR_KEY], state[ISSUED_KEY] = actor, claims[1]


def forget_login() -> None:
    for key in (runtime.ACTOR_KEY, ISSUED_KEY, COOKIE_PENDING_KEY, NOTE_KEY, *LIBRARY_KEYS):
        st.session_state.pop(key, None)


def start_login(username: str, *, refused: str, note: str = "") -> None:
    """Log `username` in for this session from now, have the browser keep the login (`store_login_cookie`), and
    rerun, so that app.py lands them where they belong, with `note` shown there.

    If the user was removed or their logins revoked since their password was checked (an admin's "log out
    everywhere" in that instant), nothing starts: the session forgets the login and shows `refused`.
    """
    issued = utcnow()
    found = feedback.read(lambda session: [session_actor(session, username, issued)])
    if found is None:
        return  # the database could not be read: feedback said so
    state = st.session_state
    if (actor := found[0]) is None:
        forget_login()  # the library's own "logged in" too, so that its login form is drawn again
        st.error(refused, icon=":material/error:")
        return
    settings = runtime.settings()
    state[runtime.ACTOR_KEY], state[ISSUED_KEY] = actor, issued
    token = login_cookie_token(actor.username, cookie_key(settings), settings.cookie_expiry_days, issued)
    state[COOKIE_PENDING_KEY] = (token, f"auth.cookie_stored.{secrets.token_hex(4)}")
    if note:
        state[NOTE_KEY] = note
    st.rerun()


def store_login_cookie() -> None:
    """In app.py's frame, on every run whatever the page, until the browser confirms it stored the login cookie.

    The cookie is set by a component in the browser after its run has reached it. Drawn only by the login screen,
    a rerun or a switch to another page right after logging in took it away before it ran, and the next visit
    found no login; drawn here, it stays until its answer comes back.
    """
    state = st.session_state
    if note := state.pop(NOTE_KEY, None):
        st.toast(note, icon=":material/check_circle:")
    pending = state.get(COOKIE_PENDING_KEY)
    if pending is None:
        return
    token, stored_key = pending
    if state.get(stored_key):
        del state[COOKIE_PENDING_KEY]
        return
    # deferred: only a session that has just logged in needs it
    from extra_streamlit_components import CookieManager

    settings = runtime.settings()
    # The token's own expiry, with its timezone: the browser reads a naive time as its own local time.
    CookieManager(key="auth.cookies").set(settings.cookie_name, token, key=stored_key,
                                          expires_at=state[ISSUED_KEY] + timedelta(days=settings.cookie_expiry_days))


def authenticator(credentials: dict | None = None) -> Any:  # a streamlit_authenticator.Authenticate
    # deferred: importing it takes ~0.3 s of a worker's first page, and only the login form needs it
    import streamlit_authenticator as stauth

    settings = runtime.settings()
    return stauth.Authenticate(
        credentials or {"usernames": {}}, cookie_name=settings.cookie_name, cookie_key=cookie_key(settings),
        cookie_expiry_days=settings.cookie_expiry_days, auto_hash=False,
        login_sleep_time=0,  # the library's default sleeps on every anonymous run, the public form's too
    )
