"""ui/feedback.py through AppTest: a DomainError is shown, beside its input when it names one, and nothing is
written; from a callback, the outcome waits for the rerun."""

from __future__ import annotations

from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from core.db import read_only
from core.models import AuditEntry


def _script() -> None:
    import streamlit as st  # AppTest runs this function's body as the script

    from core.errors import FormValidationError, NotFound
    from core.models import AuditEntry
    from ui import feedback

    def refuse_name(session):  # noqa: ANN001, ANN202
        session.add(AuditEntry(actor="test", action="test.written", subject="x", details={}))
        session.flush()
        raise FormValidationError({"name": "Enter a name.", "other": "Elsewhere."})

    def not_found(session):  # noqa: ANN001, ANN202
        raise NotFound("There is no such thing.")

    st.text_input("Name", key="name")
    slots = {"name": st.empty()}
    if st.button("Save"):
        st.session_state["applied"] = feedback.apply(refuse_name, slots)
    if st.button("Open", on_click=lambda: feedback.read(not_found, feedback.Kept("scope", "top"))):
        pass
    feedback.show("scope", "top")
    st.session_state["read"] = feedback.read(lambda session: 42)



def test_a_refused_change_writes_nothing_and_shows_each_message_beside_its_input(engine: Engine) -> None:
    at = AppTest.from_function(_script, default_timeout=30).run()
    assert at.session_state["read"] == 42
    at = at.button[0].click().run()
    assert not at.exception
    assert at.session_state["applied"] is None
    children = list(at.main)
    name_at = next(i for i, child in enumerate(children) if getattr(child, "key", None) == "name")
    assert children[name_at + 1].type == "error" and children[name_at + 1].value == "Enter a name."
    assert [e.value for e in at.error] == ["Enter a name.", "Elsewhere."]  # a field without a slot: at the top
    with read_only(engine) as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "test.written")).all() == []


def test_an_error_read_in_a_callback_is_shown_by_the_rerun(engine: Engine) -> None:
    at = AppTest.from_function(_script, default_timeout=30).run()
    at = at.button[1].click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["There is no such thing."]
