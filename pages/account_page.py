"""The logged-in user's own account: change the password, log out (both end every login of this user)."""

from __future__ import annotations

import streamlit as st

from core.db import unit_of_work
from core.errors import DomainError
from core.users import change_password, check_password, get_user, revoke_sessions
from ui import runtime
from ui.login_session import authenticator, forget_login


def render() -> None:
    actor = runtime.require_actor()
    st.title("Your account")
    st.write(f"Logged in as **{actor.username}** ({actor.role.value}).")
    with st.form("change_password", clear_on_submit=True):
        st.subheader("Change password")
        current = st.text_input("Current password", type="password", autocomplete="current-password")
        new = st.text_input("New password", type="password", autocomplete="new-password",
                            help="At least 12 characters. Changing it logs you out everywhere.")
        repeated = st.text_input("New password again", type="password", autocomplete="new-password")
        if st.form_submit_button("Change password"):
            _change_password(actor.username, current, new, repeated)
    st.subheader("Log out")
    st.caption("Logging out ends your login on every device.")
    if st.button("Log out", icon=":material/logout:"):
        with unit_of_work(runtime.engine()) as session:
            revoke_sessions(session, get_user(session, actor.username))
        authenticator().cookie_controller.delete_cookie()
        forget_login()
        st.success("You are logged out.")


def _change_password(username: str, current: str, new: str, repeated: str) -> None:
    if new != repeated:
        st.error("The two new passwords differ.")
        return
    try:
        with unit_of_work(runtime.engine()) as session:
            if not check_password(session, username, current):
                st.error("The current password is not correct.")
                return
            change_password(session, runtime.current_actor(), username, new)
    except DomainError as exc:
        st.error(str(exc))
        return
    forget_login()
    st.success("Password changed. Please log in again with the new password.")
