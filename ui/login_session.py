"""The organiser's login in this session: restored from the cookie and re-checked against the database on every
run, forgotten on logout; the streamlit-authenticator object both the login and the account screens use."""

from __future__ import annotations

import streamlit as st
import streamlit_authenticator as stauth

from core.config import cookie_key
from core.db import read_only
from core.users import login_cookie_claims, session_actor
from ui import runtime

ISSUED_KEY = "auth.issued_at"
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
    for key in (runtime.ACTOR_KEY, ISSUED_KEY, *LIBRARY_KEYS):
        st.session_state.pop(key, None)


def authenticator(credentials: dict | None = None) -> stauth.Authenticate:
    settings = runtime.settings()
    return stauth.Authenticate(
        credentials or {"usernames": {}}, cookie_name=settings.cookie_name, cookie_key=cookie_key(settings),
        cookie_expiry_days=settings.cookie_expiry_days, auto_hash=False,
        login_sleep_time=0,  # the library's default sleeps on every anonymous run, the public form's too
    )
