"""Previous and Next under a paged table, with where the reader is."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st


def pager(key: str, page: int, pages: int, caption: str, turn_to: Callable[[int], None]) -> None:
    """Buttons to the page before and after `page` (of `pages`), calling `turn_to(page)` before the rerun."""
    previous, where, following = st.columns([1, 3, 1], vertical_alignment="center")
    previous.button("Previous", key=f"{key}.previous", icon=":material/chevron_left:", disabled=page <= 1,
                    on_click=turn_to, args=(page - 1,))
    where.caption(caption)
    following.button("Next", key=f"{key}.next", icon=":material/chevron_right:", disabled=page >= pages,
                     on_click=turn_to, args=(page + 1,))
