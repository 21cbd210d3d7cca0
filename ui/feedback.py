"""The two ways a screen talks to core: `read` something, or `apply` a change; both show a DomainError for it.

Every screen uses these instead of its own try/except: a DomainError's message is safe to show, anything else is a
bug and surfaces. A change made from a widget's callback (before the rerun that draws the page) keeps its outcome
in session state with `Kept`; the rerun draws each message beside its input with `show`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.orm import Session
from streamlit.delta_generator import DeltaGenerator

from core.db import read_only, unit_of_work
from core.errors import CodeImportError, DomainError, FormValidationError
from ui import runtime

T = TypeVar("T")
ERROR_ICON = ":material/error:"
DONE_ICON = ":material/check_circle:"


@dataclass(frozen=True)
class Kept:
    """Where a change run from a widget callback keeps its outcome for the rerun, under `scope`: each field error
    for `show(scope, field)`, any other error and the `done` message for `show(scope, section)`."""

    scope: str
    section: str = ""
    # Errors of these classes go under a section of their own (say, one with a "Save anyway" button beside it).
    by_error: tuple[tuple[type[DomainError], str], ...] = ()


Slots = Mapping[str, DeltaGenerator] | Kept


def read(query: Callable[[Session], T], slots: Slots | None = None) -> T | None:
    """`query(session)` in a read-only session: its result, or None after showing the DomainError (each
    FormValidationError message beside its input, `slots` by field; any other at the top). `query` must not return
    None itself."""
    try:
        with read_only(runtime.engine()) as session:
            return query(session)
    except DomainError as exc:
        _show(slots, exc)
        return None


def apply(change: Callable[[Session], T], slots: Slots | None = None, *, done: str | None = None) -> T | bool | None:
    """Run `change(session)` in one unit of work; show each FormValidationError message beside its input (`slots`
    by field) and any other DomainError at the top, or `done` on success.

    Returns what `change` returned (True when that was None), or None when it failed and nothing was written.
    """
    if isinstance(slots, Kept):
        st.session_state[_kept_key(slots.scope)] = {}
    try:
        with unit_of_work(runtime.engine()) as session:
            result = change(session)
    except DomainError as exc:
        _show(slots, exc)
        return None
    if done:
        if isinstance(slots, Kept):
            _kept(slots.scope)[slots.section] = ("success", done)
        else:
            st.success(done, icon=DONE_ICON)
    return True if result is None else result


def attempt(flow: Callable[[], T], slots: Slots | None = None) -> T | None:
    """`flow()` for the one kind of core function that owns its transactions (`orders.submit_public_order`): its
    result, or None after showing the DomainError as `apply` does."""
    if isinstance(slots, Kept):
        st.session_state[_kept_key(slots.scope)] = {}
    try:
        return flow()
    except DomainError as exc:
        _show(slots, exc)
        return None


def kept_errors(scope: str) -> dict[str, str]:
    """The errors a `Kept` change left under `scope`, by field ("" or its section for the others)."""
    return {name: message for name, (kind, message) in st.session_state.get(_kept_key(scope), {}).items()
            if kind == "error"}


def note(kept: Kept, message: str) -> None:
    """Keep a success `message` for `show(kept.scope, kept.section)` (say, one that depends on the result)."""
    _kept(kept.scope)[kept.section] = ("success", message)


def show(scope: str, name: str = "") -> None:
    """Draw here what a `Kept` change left under `scope` for the input or section `name`: an error or a success."""
    kind, message = st.session_state.get(_kept_key(scope), {}).get(name, (None, None))
    if kind == "error":
        st.error(message, icon=ERROR_ICON)
    elif kind == "success":
        st.success(message, icon=DONE_ICON)


def has_errors(scope: str, *names: str) -> bool:
    """Whether a `Kept` change left an error under `scope` for any of `names` (say, to keep a form open)."""
    kept = st.session_state.get(_kept_key(scope), {})
    return any(kept.get(name, ("",))[0] == "error" for name in names)


def forget(scope: str) -> None:
    """Drop what a `Kept` change left under `scope` (say, when the section closes)."""
    st.session_state.pop(_kept_key(scope), None)


def _show(slots: Slots | None, exc: DomainError) -> None:
    if isinstance(exc, CodeImportError) and not isinstance(slots, Kept):  # each bad row in a table
        _error(slots, None, exc.summary)
        st.dataframe({"Problem": exc.problems}, hide_index=True, width="stretch")
    elif isinstance(exc, FormValidationError):
        for field, message in exc.errors.items():
            _error(slots, field, message)
    elif isinstance(slots, Kept):
        section = next((name for cls, name in slots.by_error if isinstance(exc, cls)), slots.section)
        _kept(slots.scope)[section] = ("error", str(exc))
    else:
        _error(slots, None, str(exc))


def _error(slots: Slots | None, field: str | None, message: str) -> None:
    if isinstance(slots, Kept):
        _kept(slots.scope)[field if field is not None else slots.section] = ("error", message)
        return
    slot: Any = (slots or {}).get(field) if field is not None else None
    (slot if slot is not None else st).error(message, icon=ERROR_ICON)


def _kept(scope: str) -> dict[str, tuple[str, str]]:
    return st.session_state.setdefault(_kept_key(scope), {})


def _kept_key(scope: str) -> str:
    return f"{scope}.feedback"
