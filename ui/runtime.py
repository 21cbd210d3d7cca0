"""Process-wide resources and per-session helpers for pages: Settings, the Engine, the logged-in Actor."""

from __future__ import annotations

import gc
import os
import secrets
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import streamlit as st
from sqlalchemy import Engine

from core.auth import Actor
from core.config import Settings, load_settings
from core.db import make_engine, migrate, read_only
from core.event_admin import EventSummary, list_events
from core.lifecycle import run_scheduler
from core.proxies import client_address as pick_client_address
from core.proxies import parse_trusted_proxies, server_believes_forwarded_for

ACTOR_KEY = "auth.actor"
EVENT_KEY = "organiser.event_id"
PAGES_KEY = "runtime.pages"  # url path -> st.Page, registered by app.py on every run
NEW_PASSWORD_PATH = "new-password"


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
def _scheduler(url: str, tick_seconds: int, mail_dispatch_seconds: int) -> threading.Thread:
    # The arguments key the cache: one thread per database and intervals, however many sessions run this.
    thread = threading.Thread(target=run_scheduler, args=(engine(), settings(), threading.Event()),
                              name="scheduler", daemon=True)
    thread.start()
    return thread


def start_scheduler() -> None:
    """Run the tick every TICK_SECONDS and send queued mail every MAIL_DISPATCH_SECONDS (0 turns either off), in
    one background thread per process and database.

    Several processes may run it on one database: the tick and each message are claimed in the database.
    """
    config = settings()
    if config.tick_seconds > 0 or config.mail_dispatch_seconds > 0:
        _scheduler(config.database_url, config.tick_seconds, config.mail_dispatch_seconds)


@st.cache_resource(show_spinner=False)
def _startup_heap_frozen() -> bool:
    gc.collect()
    gc.freeze()
    return True


def freeze_startup_heap() -> None:
    """Once per process, after its first whole run: leave what the start created out of Python's collections.

    By then the app's modules, the engine and the caches are loaded: some 200,000 objects that live as long as
    the process. Python's full collection walked them all every time it ran, 120-170 ms in which the process
    did nothing else (a submit waited, or held SQLite's write lock meanwhile); frozen, a full collection walks
    only what came after (bench/README.md, "The rush"). Objects are still freed by reference counting; only
    cycles among the frozen ones (the start's, and the first session's) are never collected, a one-time cost.
    """
    _startup_heap_frozen()


CLIENT_KEY = "runtime.client"
LOCAL_PEER = "127.0.0.1"


def client_address(*, unknown: str = "shared") -> str:
    """Whom a throttle counts against: the client's IP address (through TRUSTED_PROXIES, core/proxies.py).

    Streamlit knows no address for local connections (nor, then, do we for a proxy that is not trusted). With
    `unknown="shared"` those clients share one key, which errs on the safe side for guesses (logins, lookups);
    with "session" each browser session gets its own, so that a budget of ordinary actions (submitting orders)
    never blocks attendees behind one proxy, at the price that a script can open new sessions.
    """
    address = _connection_client()
    if address is not None:
        return address
    if unknown == "session":
        return st.session_state.setdefault(CLIENT_KEY, "session:" + secrets.token_urlsafe(16))
    return "unknown"


def _connection_client() -> str | None:
    forwarded = st.context.headers.get_all("X-Forwarded-For")
    if forwarded and server_believes_forwarded_for(os.environ):
        return None  # the server may have put the header's claim in place of the peer already
    # Streamlit reports the loopback peers 127.0.0.1 and ::1 as None; a local proxy connects from 127.0.0.1.
    peer = st.context.ip_address or LOCAL_PEER
    address = pick_client_address(peer, forwarded, parse_trusted_proxies(settings().trusted_proxies))
    return None if address == LOCAL_PEER else address


def current_actor() -> Actor | None:
    """The logged-in user of this session; app.py re-checks it against the database at the start of every whole run
    (a fragment's rerun skips app.py: ui/public_page re-checks it itself for a preview of the order form)."""
    return st.session_state.get(ACTOR_KEY)


def require_actor() -> Actor:
    """The logged-in Actor, or stop the page here: every protected page calls this first, on its own.

    A user who still has the password they were given is stopped too, until they set their own (core refuses
    them as well: `auth.require_own_password`).
    """
    actor = current_actor()
    if actor is None:
        st.warning("Please log in to see this page.", icon=":material/lock:")
        st.stop()
    if actor.must_change_password:
        st.warning("Set a new password of your own before anything else.", icon=":material/password:")
        page_link(NEW_PASSWORD_PATH, "Set a new password", icon=":material/password:")
        st.stop()
    return actor


def register_pages(pages: Mapping[str, Any]) -> None:
    """Remember this run's pages by url path (app.py), so that screens can link to each other by path."""
    st.session_state[PAGES_KEY] = dict(pages)


def page_link(url_path: str, label: str, *, icon: str | None = None,
              query_params: Mapping[str, str] | None = None) -> None:
    """A link to the screen at `/url_path` ("order" is the public page at `/`): Streamlit's page link when app.py
    registered that page in this run, else (a screen run alone, a page this user may not open) a Markdown link."""
    page = st.session_state.get(PAGES_KEY, {}).get(url_path)
    if page is not None:
        st.page_link(page, label=label, icon=icon, query_params=dict(query_params or {}))
    else:
        query = f"?{urlencode(query_params)}" if query_params else ""
        st.markdown(f"[{label}](/{'' if url_path == 'order' else url_path}{query})")


def switch_to(url_path: str) -> None:
    """Go to the registered page at `/url_path` (ends this run); does nothing when it is not registered."""
    page = st.session_state.get(PAGES_KEY, {}).get(url_path)
    if page is not None:
        st.switch_page(page)


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
