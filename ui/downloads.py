"""A download that is built on request: a button prepares the file (an audited export), then offers it.

The file is kept in the session until what it was built for changes (other filters), so that a rerun neither
builds nor audits it again.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextlib import nullcontext

import streamlit as st
from sqlalchemy.orm import Session
from streamlit.delta_generator import DeltaGenerator

from core.spreadsheets import ExportFile
from ui import feedback


def prepared_download(key: str, built_for: Hashable, build: Callable[[Session], ExportFile], *, prepare: str,
                      download: str, icon: str, spinner: str, where: DeltaGenerator | None = None,
                      help: str | None = None, primary: bool = False) -> ExportFile | None:
    """A "`prepare`" button that builds the file with `build(session)` in one unit of work (exports are audited),
    then a "`download`" button; the file, kept in session state under `key`, or None while not prepared."""
    place = where if where is not None else st
    state = st.session_state
    if key not in state or state.get(f"{key}.for") != built_for:
        if not place.button(prepare, key=f"{key}.prepare", icon=icon, help=help):
            return None
        with where if where is not None else nullcontext(), st.spinner(spinner):
            file = feedback.apply(build)
        if file is None:
            return None
        state[key], state[f"{key}.for"] = file, built_for
    file = state[key]
    place.download_button(download, data=file.data, file_name=file.filename, mime=file.mimetype,
                          key=f"{key}.download", icon=":material/download:", on_click="ignore",
                          type="primary" if primary else "secondary")
    return file
