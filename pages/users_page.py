"""Admins manage organiser and admin accounts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.db import read_only, unit_of_work
from core.errors import DomainError
from core.models import UserRole
from core.users import change_password, create_user, list_users, remove_user
from ui import runtime


def render() -> None:
    actor = runtime.require_actor()
    st.title("Users")
    try:
        with read_only(runtime.engine()) as session:
            users = list_users(session, actor)
    except DomainError as exc:
        st.error(str(exc))
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
            _act(lambda session: create_user(session, actor, username=username, display_name=display_name,
                                             role=role, password=password, email=email), f"Added {username}.")

    usernames = [u.username for u in users]
    with st.form("manage_user"):
        st.subheader("Reset a password or remove a user")
        chosen = st.selectbox("User", usernames)
        password = st.text_input("New password", type="password", help="Resetting it logs the user out everywhere.")
        reset, remove = st.columns(2)
        if reset.form_submit_button("Reset password"):
            _act(lambda session: change_password(session, actor, chosen, password), f"Password of {chosen} reset.")
        if remove.form_submit_button("Remove user", type="secondary"):
            _act(lambda session: remove_user(session, actor, chosen), f"Removed {chosen}.")


def _act(action, success: str) -> None:  # noqa: ANN001 - a one-argument callable taking the session
    try:
        with unit_of_work(runtime.engine()) as session:
            action(session)
    except DomainError as exc:
        st.error(str(exc))
    else:
        st.success(success)
