"""Process-wide resources and per-session helpers for pages: Settings, the Engine, the logged-in Actor."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from streamlit.delta_generator import DeltaGenerator

from core.auth import Actor
from core.config import Settings, load_settings
from core.db import make_engine, migrate, read_only, unit_of_work
from core.errors import DomainError, FormValidationError
from core.events import EventSummary, list_events
from core.notify import drain_outbox

ACTOR_KEY = "auth.actor"
EVENT_KEY = "organiser.event_id"


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


@st.cache_resource(show_spinner=False)
def _mail_dispatcher(url: str, interval: int) -> threading.Thread:
    thread = threading.Thread(target=_send_mail_forever, args=(engine(), settings(), interval),
                              name="mail-dispatcher", daemon=True)
    thread.start()
    return thread


def start_mail_dispatcher() -> None:
    """Send queued mail every MAIL_DISPATCH_SECONDS in a background thread, one per process and database.

    Several processes may run it on one database: each message is claimed in the database before it is sent.
    """
    interval = settings().mail_dispatch_seconds
    if interval > 0:
        _mail_dispatcher(settings().database_url, interval)


def _send_mail_forever(database: Engine, config: Settings, interval: int) -> None:
    while True:
        try:
            drain_outbox(database, config)
        except Exception as exc:  # noqa: BLE001 - the thread must outlive a bad run; the next one retries
            # The type only: SMTP error texts can carry addresses, and logs carry no personal data.
            logging.getLogger(__name__).error("mail dispatch failed: %s", type(exc).__name__)
        time.sleep(interval)


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



def apply_change(slots: Mapping[str, DeltaGenerator], change: Callable[[Session], Any]) -> Any:
    """Run `change` in one unit of work; show each error beside its input (`slots` by field), else at the top.

    Returns what `change` returned, or None when it failed (and nothing was written).
    """
    try:
        with unit_of_work(engine()) as session:
            return change(session)
    except FormValidationError as exc:
        for field, message in exc.errors.items():
            slot = slots.get(field)
            (slot if slot is not None else st).error(message, icon=":material/error:")
    except DomainError as exc:
        st.error(str(exc), icon=":material/error:")
    return None
