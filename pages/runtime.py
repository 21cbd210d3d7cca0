"""Process-wide resources and per-session helpers for pages: Settings, the Engine, the logged-in Actor."""

from __future__ import annotations

import runpy

import streamlit as st
from sqlalchemy import Engine

from core.auth import Actor
from core.config import PROJECT_DIR, Settings, load_settings
from core.db import make_engine, migrate, read_only
from core.events import EventSummary, list_events

ACTOR_KEY = "auth.actor"
EVENT_KEY = "organiser.event_id"


def run_app_instead() -> None:
    """Run app.py (login gate, navigation) in place of a pages/ file that Streamlit ran as a script.

    Until some session has called st.navigation, Streamlit treats pages/ as a legacy multipage folder and runs
    e.g. pages/orders.py directly for /orders. Every page module ends with a __main__ guard calling this, so the
    first request after a start gets the real page, through app.py's gate, instead of a blank one.
    """
    runpy.run_path(str(PROJECT_DIR / "app.py"), run_name="__main__")


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


def current_actor() -> Actor | None:
    """The logged-in user of this session; app.py re-checks it against the database at the start of every run."""
    return st.session_state.get(ACTOR_KEY)


def require_actor() -> Actor:
    """The logged-in Actor, or stop the page here: every protected page calls this first, on its own."""
    actor = current_actor()
    if actor is None:
        st.warning("Please log in to see this page.", icon=":material/lock:")
        st.stop()
    return actor


def choose_event(actor: Actor) -> EventSummary | None:
    """A sidebar picker of the events `actor` may see; remembers the choice for the session."""
    with read_only(engine()) as session:
        events = list_events(session, actor)
    if not events:
        st.info("There are no events yet. Create one on the Events page.", icon=":material/event:")
        return None
    ids = [event.id for event in events]
    if st.session_state.get(EVENT_KEY) not in ids:
        st.session_state[EVENT_KEY] = ids[0]
    by_id = {event.id: event for event in events}
    chosen = st.sidebar.selectbox("Event", ids, key=EVENT_KEY, format_func=lambda i: by_id[i].title)
    return by_id[chosen]


if __name__ == "__main__":
    run_app_instead()
