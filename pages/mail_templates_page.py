"""Mail templates of the chosen event: subject and body per kind of mail, the placeholders, and a live preview."""

from __future__ import annotations

import streamlit as st

from core import mail_templates
from core.mail_templates import KIND_LABELS, TEMPLATE_KINDS, RenderedMail
from core.models import MessageKind
from ui import feedback, fresh, runtime

# A save or reset starts a new generation of the inputs, drawn afresh from the database.
SCOPE = "templates"


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Mail templates")
    st.caption(event.title)
    kind: MessageKind = st.radio("Mail", TEMPLATE_KINDS, format_func=KIND_LABELS.get, horizontal=True,
                                 key="templates.kind")
    stored = feedback.read(lambda session: mail_templates.load_template(session, actor, event.id, kind))
    if stored is None:
        return
    fresh.show_notice(SCOPE)
    st.caption("The default wording: save to use your own." if stored.is_default else "This event's own wording.")
    prefix = f"templates.{event.id}.{kind.value}.{fresh.generation(SCOPE)}"
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
    save, reset = st.columns(2)
    if save.button("Save", type="primary", key=f"{prefix}.save", icon=":material/save:") and feedback.apply(
            lambda session: mail_templates.save_template(session, actor, event.id, kind, subject, body), slots):
        fresh.refresh(SCOPE, f"Saved the {KIND_LABELS[kind].lower()}.")
    if not stored.is_default and reset.button("Use the default wording", key=f"{prefix}.reset",
                                              icon=":material/restart_alt:") and feedback.apply(
            lambda session: mail_templates.reset_template(session, actor, event.id, kind)):
        fresh.refresh(SCOPE, f"The {KIND_LABELS[kind].lower()} uses the default wording again.")
    preview = feedback.read(lambda session: mail_templates.preview_template(
        session, actor, event.id, kind, subject, body, public_base_url=runtime.settings().public_base_url), slots)
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

