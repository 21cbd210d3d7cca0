"""After a change: a notice for the next run, and fresh inputs (their keys carry a generation that a change bumps)."""

from __future__ import annotations

import streamlit as st

DONE_ICON = ":material/check_circle:"


def generation(scope: str) -> int:
    """The current generation of `scope`'s inputs: part of their keys, so that a new one draws them afresh."""
    return st.session_state.get(f"{scope}.generation", 0)


def refresh(scope: str, notice: str | None = None, *, rerun: bool = True, renew: bool = True) -> None:
    """Keep `notice` for the next run, start a new generation of `scope`'s inputs (unless not `renew`: what was
    typed elsewhere stays), and rerun (unless in a callback, where the rerun follows anyway)."""
    if notice:
        st.session_state[f"{scope}.done"] = notice
    if renew:
        st.session_state[f"{scope}.generation"] = generation(scope) + 1
    if rerun:
        st.rerun()


def show_notice(scope: str) -> None:
    """Show, once, the notice a `refresh` of `scope` left."""
    if notice := st.session_state.pop(f"{scope}.done", None):
        st.success(notice, icon=DONE_ICON)
