"""The logged-in user's own account: change the password, log out (both end every login of this user)."""

from __future__ import annotations

import streamlit as st

from core.users import change_own_password, log_out_everywhere
from ui import feedback, runtime
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
        if st.form_submit_button("Change password") and feedback.apply(
                lambda session: change_own_password(session, actor, current, new, repeated)):
            forget_login()
            st.success("Password changed. Please log in again with the new password.")
    st.subheader("Log out")
    st.caption("Logging out ends your login on every device.")
    if st.button("Log out", icon=":material/logout:") and feedback.apply(
            lambda session: log_out_everywhere(session, actor)):
        authenticator().cookie_controller.delete_cookie()
        forget_login()
        st.success("You are logged out.")
