"""Process-wide resources for pages: Settings and the Engine (migrated on first use), cached by Streamlit."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from core.config import Settings, load_settings
from core.db import make_engine, migrate


def settings() -> Settings:
    """Settings from the environment and secrets.toml; read on each run so that tests can change them."""
    return load_settings()


@st.cache_resource(show_spinner=False)
def _engine_for(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine


def engine() -> Engine:
    """The one Engine for the configured database URL, created and migrated once per process."""
    return _engine_for(settings().database_url)
