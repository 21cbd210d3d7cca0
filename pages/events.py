"""Placeholder, replaced by the page's real implementation."""

import streamlit as st

from pages import runtime


def render() -> None:
    runtime.require_actor()
    st.info("This page is being built.")
