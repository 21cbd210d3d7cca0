"""Mail templates of the chosen event: subject and body per kind of mail, the placeholders, and a live preview."""

from __future__ import annotations

import streamlit as st

from core import mail_templates
from core.db import read_only, unit_of_work
from core.errors import DomainError, FormValidationError
from core.mail_templates import KIND_LABELS, TEMPLATE_KINDS, RenderedMail
from core.models import MessageKind
from ui import runtime

DONE_KEY = "templates.done"
# Bumped after a save or reset, so that the inputs are drawn afresh from the database.
GENERATION_KEY = "templates.generation"


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Mail templates")
    st.caption(event.title)
    kind: MessageKind = st.radio("Mail", TEMPLATE_KINDS, format_func=KIND_LABELS.get, horizontal=True,
                                 key="templates.kind")
    try:
        with read_only(runtime.engine()) as session:
            stored = mail_templates.load_template(session, actor, event.id, kind)
    except DomainError as exc:
        st.error(str(exc))
        return
    if done := st.session_state.pop(DONE_KEY, None):
        st.success(done, icon=":material/check_circle:")
    st.caption("The default wording: save to use your own." if stored.is_default else "This event's own wording.")
    prefix = f"templates.{event.id}.{kind.value}.{st.session_state.get(GENERATION_KEY, 0)}"
    subject = st.text_input("Subject", value=stored.subject, max_chars=mail_templates.SUBJECT_MAX_LENGTH,
                            key=f"{prefix}.subject")
    slots = {"subject": st.empty()}
    body = st.text_area("Body", value=stored.body, height=300, max_chars=mail_templates.BODY_MAX_LENGTH,
                        key=f"{prefix}.body")
    slots["body"] = st.empty()
    with st.expander("Placeholders", expanded=True):
        st.markdown("\n".join(f"- `{{{name}}}`: {meaning}" for name, meaning in
                              mail_templates.placeholders_for(kind).items())
                    + "\n\nWrite `{{` and `}}` for a brace itself. Values are filled in as plain text.")
    errors: dict[str, str] = {}
    save, reset = st.columns(2)
    if save.button("Save", type="primary", key=f"{prefix}.save", icon=":material/save:"):
        try:
            with unit_of_work(runtime.engine()) as session:
                mail_templates.save_template(session, actor, event.id, kind, subject, body)
        except FormValidationError as exc:
            errors = exc.errors
        except DomainError as exc:
            st.error(str(exc))
        else:
            _done(f"Saved the {KIND_LABELS[kind].lower()}.")
    if not stored.is_default and reset.button("Use the default wording", key=f"{prefix}.reset",
                                              icon=":material/restart_alt:"):
        try:
            with unit_of_work(runtime.engine()) as session:
                mail_templates.reset_template(session, actor, event.id, kind)
        except DomainError as exc:
            st.error(str(exc))
        else:
            _done(f"The {KIND_LABELS[kind].lower()} uses the default wording again.")
    try:
        with read_only(runtime.engine()) as session:
            preview = mail_templates.preview_template(session, actor, event.id, kind, subject, body,
                                                 public_base_url=runtime.settings().public_base_url)
    except FormValidationError as exc:
        errors = errors or exc.errors
        preview = None
    except DomainError as exc:
        st.error(str(exc))
        return
    for part, message in errors.items():
        slots[part].error(message, icon=":material/error:")
    if preview is not None:
        _preview(preview)


def _preview(preview: RenderedMail) -> None:
    st.subheader("Preview")
    st.caption("With a made-up attendee and sample answers, and this event's own items.")
    text, marked_up = st.tabs(["Plain text", "HTML"])
    text.code(f"Subject: {preview.subject}\n\n{preview.text}", language=None, wrap_lines=True)
    # Safe to draw: core escapes the template and every value, so the only markup is its own <br>; and
    # st.html sanitises whatever it is given (no scripts) on top. It shows what a mail program shows.
    marked_up.html(preview.html)


def _done(message: str) -> None:
    st.session_state[DONE_KEY] = message
    st.session_state[GENERATION_KEY] = st.session_state.get(GENERATION_KEY, 0) + 1
    st.rerun()
