"""Organiser login. streamlit-authenticator draws the form and sets the cookie; core/users.py decides who is in.

Our layer closes the library's gaps (DESIGN.md): every run re-checks the login against the database, so
logout and password changes revoke cookies; failed logins are throttled per client and username with a delay
that decays (core/login_throttle.py), and the form is never hidden, so an attacker behind an address does not
keep its other organisers out; the cookie key comes from settings and must be strong.
"""

from __future__ import annotations

import streamlit as st
import streamlit_authenticator as stauth

from core.config import cookie_key
from core.db import read_only, unit_of_work
from core.errors import LoginThrottled
from core.login_throttle import login_credentials, record_failed_login
from core.models import utcnow
from core.users import login_cookie_claims, session_actor
from pages import runtime

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


def render() -> None:
    if runtime.current_actor() is not None:  # app.py sends a logged-in organiser on to the Dashboard
        st.success("You are logged in. The organiser pages are in the menu on the left.")
        runtime.page_link("dashboard", "Go to the Dashboard", icon=":material/dashboard:")
        return
    st.title("Organiser login")
    # Where Streamlit knows no address, the browser session: one key for all of them would let an attacker keep
    # the username it attacks refused to every address-less client.
    client = runtime.client_address(unknown="session")
    with read_only(runtime.engine()) as session:
        # Usernames this client may not try now get a hash no password matches; everyone else logs in as usual.
        credentials = login_credentials(session, client)
    # Whatever cookie this browser holds was already judged by restore_session(); never let the library
    # log in from it on its own (it would accept a revoked one).
    st.session_state["logout"] = True
    failures_before = {name: user.get("failed_login_attempts", 0) for name, user in credentials["usernames"].items()}
    authenticator(credentials).login(location="main", key="organiser_login",
                                     fields={"Form name": "Log in", "Login": "Log in"})
    status = st.session_state.get("authentication_status")
    if status:
        with read_only(runtime.engine()) as session:
            issued = utcnow()
            st.session_state[runtime.ACTOR_KEY] = session_actor(session, st.session_state["username"], issued)
            st.session_state[ISSUED_KEY] = issued
        st.success(f"Welcome, {st.session_state.get('name')}.")
        # No st.rerun() here: the cookie component needs this run to finish to store the cookie (DESIGN.md).
        st.button("Continue", type="primary")  # app.py then lands them on the Dashboard
    elif status is False:
        st.session_state["authentication_status"] = None  # so that the next run does not count it again
        failed = [name for name, user in credentials["usernames"].items()
                  if user.get("failed_login_attempts", 0) > failures_before[name]]
        with unit_of_work(runtime.engine()) as session:
            wait = record_failed_login(session, failed[0] if failed else None, client)
        st.error(str(LoginThrottled(wait)) if wait else "Username or password is incorrect.")
