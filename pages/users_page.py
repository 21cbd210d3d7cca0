"""Admins manage organiser and admin accounts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.models import UserRole
from core.users import change_password, create_user, list_users, remove_user
from ui import feedback, runtime


def render() -> None:
    actor = runtime.require_actor()
    st.title("Users")
    users = feedback.read(lambda session: list_users(session, actor))
    if users is None:
        return
    st.dataframe(pd.DataFrame([{"Username": u.username, "Name": u.display_name, "Role": u.role.value,
                                "Email": u.email, "Created": u.created_at} for u in users]), hide_index=True,
                 width="stretch")

    with st.form("add_user", clear_on_submit=True):
        st.subheader("Add a user")
        username = st.text_input("Username")
        display_name = st.text_input("Name")
        email = st.text_input("Email", help="Where alarms about undeliverable mail of their events go.")
        role = st.selectbox("Role", list(UserRole), format_func=lambda r: r.value.title())
        password = st.text_input("Initial password", type="password", help="At least 12 characters.")
        if st.form_submit_button("Add user"):
            feedback.apply(lambda session: create_user(session, actor, username=username, display_name=display_name,
                                                       role=role, password=password, email=email),
                           done=f"Added {username}.")

    usernames = [u.username for u in users]
    with st.form("manage_user"):
        st.subheader("Reset a password or remove a user")
        chosen = st.selectbox("User", usernames)
        password = st.text_input("New password", type="password", help="Resetting it logs the user out everywhere.")
        reset, remove = st.columns(2)
        if reset.form_submit_button("Reset password"):
            feedback.apply(lambda session: change_password(session, actor, chosen, password),
                           done=f"Password of {chosen} reset.")
        if remove.form_submit_button("Remove user", type="secondary"):
            feedback.apply(lambda session: remove_user(session, actor, chosen), done=f"Removed {chosen}.")
