"""Set a password of one's own: the only screen open to a user who logged in with one printed on the console or
chosen by an admin (`users.must_change_password`). The login continues with the new password."""

from __future__ import annotations

import streamlit as st

from core.users import set_own_password
from ui import feedback, runtime
from ui.login_session import start_login


def render() -> None:
    actor = runtime.current_actor()
    if actor is None:
        st.warning("Please log in to see this page.", icon=":material/lock:")
        return
    st.title("Set your own password")
    if not actor.must_change_password:
        st.success("Your password is your own.")
        runtime.page_link("dashboard", "Continue to the Dashboard", icon=":material/dashboard:")
        return
    st.write("You logged in with a password that someone else has seen (printed on the console, or set by an "
             "admin). Choose one that only you know before you go on.")
    with st.form("new_password", clear_on_submit=True):
        new = st.text_input("New password", type="password", autocomplete="new-password",
                            help="At least 12 characters.")
        repeated = st.text_input("New password again", type="password", autocomplete="new-password")
        submitted = st.form_submit_button("Set password", type="primary")
    if not submitted or not feedback.apply(lambda session: set_own_password(session, actor, new, repeated)):
        return
    # The change revoked every login issued until now, this one too: issue this session and its cookie anew, and
    # go on to the Dashboard (app.py lands them there).
    start_login(actor.username, note="Your new password is set.",
                refused="Your new password is set, but this login was ended meanwhile. Please log in again with "
                        "your new password.")
    runtime.page_link("login", "Log in", icon=":material/login:")  # reached only when the login did not start
