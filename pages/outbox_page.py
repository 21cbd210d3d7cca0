"""The outbox of the chosen event: what was sent, what waits or failed; read a message, retry a failed one."""

from __future__ import annotations

import streamlit as st

from core.auth import Actor
from core.outbox import (
    MESSAGE_STATUS_LABELS,
    mail_configured,
    outbox_overview,
    read_message,
    release_held,
    retry_message,
)
from ui import feedback, fresh, runtime

PREFIX = "outbox"


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Outbox")
    st.caption(f"{event.title} · mail to attendees, vendors and organisers (times in UTC)")
    configured = mail_configured(runtime.settings())
    if not configured:
        st.info("Mail is held: set SMTP_HOST and MAIL_FROM (in .streamlit/secrets.toml or the environment) to "
                "send it. Until then messages wait here and can be read.", icon=":material/pause_circle:")
    status = st.selectbox("Status", [None, *MESSAGE_STATUS_LABELS], key=f"{PREFIX}.status",
                          format_func=lambda s: "Any status" if s is None else MESSAGE_STATUS_LABELS[s])
    overview = feedback.read(lambda session: outbox_overview(session, actor, event.id, status))
    if overview is None:
        return
    fresh.show_notice(PREFIX)
    feedback.show(PREFIX)
    if overview.health.summary:
        st.caption(overview.health.summary)
    if configured and overview.health.held:
        st.button("Send held mail now", key=f"{PREFIX}.release", icon=":material/send:", on_click=_release,
                  args=(actor, event.id))
    messages = overview.messages
    if messages.empty:
        st.info("No messages" + (" with this status." if status else " for this event yet."),
                icon=":material/inbox:")
        return
    st.dataframe(messages, hide_index=True, width="stretch", column_config={
        "id": None,
        "kind": st.column_config.TextColumn("Kind"),
        "recipients": st.column_config.TextColumn("To"),
        "subject": st.column_config.TextColumn("Subject", width="large"),
        "status": st.column_config.TextColumn("Status"),
        "attempts": st.column_config.NumberColumn("Attempts"),
        "last_error": st.column_config.TextColumn("Last error", width="medium"),
        "created_at": st.column_config.DatetimeColumn("Queued", format="D MMM YYYY, HH:mm"),
        "next_attempt_at": st.column_config.DatetimeColumn("Next attempt", format="D MMM YYYY, HH:mm"),
        "sent_at": st.column_config.DatetimeColumn("Sent", format="D MMM YYYY, HH:mm"),
    })
    subjects = dict(zip(messages["id"].tolist(), messages["subject"].tolist(), strict=True))
    chosen = st.selectbox("Read a message", list(subjects), key=f"{PREFIX}.chosen",
                          format_func=lambda i: f"{i} · {subjects[i]}")
    _reader(actor, event.id, chosen)


def _reader(actor: Actor, event_id: int, outbox_id: int) -> None:
    message = feedback.read(lambda session: read_message(session, actor, event_id, outbox_id))
    if message is None:
        return
    # st.text, not markdown: subjects and bodies carry attendees' input.
    st.text(f"Subject: {message.subject}\nTo: {', '.join(message.recipients)}\nMessage-ID: {message.message_id}\n"
            f"Status: {MESSAGE_STATUS_LABELS[message.status]}, {message.attempts} attempt(s)"
            + (f"\nLast error: {message.last_error}" if message.last_error else "")
            + (f"\nAttachment: {message.attachment_name}" if message.attachment_name else ""))
    st.code(message.body_text, language=None, wrap_lines=True)
    if message.retryable:
        st.button("Retry", key=f"{PREFIX}.retry", icon=":material/replay:", on_click=_retry,
                  args=(actor, event_id, outbox_id))


def _retry(actor: Actor, event_id: int, outbox_id: int) -> None:
    if feedback.apply(lambda s: retry_message(s, actor, event_id, outbox_id), feedback.Kept(PREFIX)) is not None:
        fresh.refresh(PREFIX, f"Message {outbox_id} will be sent again shortly.", rerun=False)


def _release(actor: Actor, event_id: int) -> None:
    count = feedback.apply(lambda session: release_held(session, actor, event_id), feedback.Kept(PREFIX))
    if count is not None:
        fresh.refresh(PREFIX, f"{count} held message{'s' if count != 1 else ''} will be sent shortly.", rerun=False)
