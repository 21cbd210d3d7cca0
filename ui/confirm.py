"""A question with Yes and No buttons, for a change that cannot be undone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st


def confirm(question: str, yes: str, on_yes: Callable[..., None], args: Sequence[Any] = (), *, no: str,
            on_no: Callable[..., None], no_args: Sequence[Any] = (), key: str | None = None,
            icon: str = ":material/warning:", stretch: bool = False) -> None:
    """Ask `question`; the buttons call `on_yes(*args)` or `on_no(*no_args)` before the rerun."""
    st.warning(question, icon=icon)
    width = "stretch" if stretch else "content"
    yes_column, no_column = st.columns(2)
    yes_column.button(yes, key=key and f"{key}_yes", type="primary", on_click=on_yes, args=tuple(args), width=width)
    no_column.button(no, key=key and f"{key}_no", on_click=on_no, args=tuple(no_args), width=width)
