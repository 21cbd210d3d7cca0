"""Organiser login. streamlit-authenticator draws the form and sets the cookie; core/users.py decides who is in.

Our layer closes the library's gaps (DESIGN.md): every run re-checks the login against the database, so
logout and password changes revoke cookies; failed logins are throttled per client and username with a delay
that decays (core/login_throttle.py), and the form is never hidden, so an attacker behind an address does not
keep its other organisers out; the cookie key comes from settings and must be strong.
"""

from __future__ import annotations

import streamlit as st

from core.errors import LoginThrottled
from core.login_throttle import login_credentials, record_failed_login
from ui import feedback, runtime
from ui.login_session import authenticator, start_login

# The same for a wrong password, an unknown username, and a login revoked while it was checked.
INCORRECT = "Username or password is incorrect."


def render() -> None:
    if runtime.current_actor() is not None:  # app.py sends a logged-in organiser on to the Dashboard
        st.success("You are logged in. The organiser pages are in the menu on the left.")
        runtime.page_link("dashboard", "Go to the Dashboard", icon=":material/dashboard:")
        return
    st.title("Organiser login")
    # Where Streamlit knows no address, the browser session: one key for all of them would let an attacker keep
    # the username it attacks refused to every address-less client.
    client = runtime.client_address(unknown="session")
    # Usernames this client may not try now get a hash no password matches; everyone else logs in as usual.
    credentials = feedback.read(lambda session: login_credentials(session, client))
    if credentials is None:
        return
    # Whatever cookie this browser holds was already judged by restore_session(); never let the library
    # log in from it on its own (it would accept a revoked one).
    st.session_state["logout"] = True
    failures_before = {name: user.get("failed_login_attempts", 0) for name, user in credentials["usernames"].items()}
    authenticator(credentials).login(location="main", key="organiser_login",
                                     fields={"Form name": "Log in", "Login": "Log in"})
    status = st.session_state.get("authentication_status")
    if status:
        # app.py lands them on the Dashboard and keeps the cookie component drawn until the cookie is stored.
        start_login(st.session_state["username"], refused=INCORRECT)
    elif status is False:
        st.session_state["authentication_status"] = None  # so that the next run does not count it again
        failed = [name for name, user in credentials["usernames"].items()
                  if user.get("failed_login_attempts", 0) > failures_before[name]]
        wait = feedback.apply(lambda session: record_failed_login(session, failed[0] if failed else None, client))
        st.error(str(LoginThrottled(wait)) if wait else INCORRECT)
