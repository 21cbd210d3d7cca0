"""The Outbox page through AppTest: the event's mail, reading one, retrying a failed one, releasing held mail."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pytest
from sqlalchemy import Engine, select

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.models import AuditEntry, MessageKind, MessageStatus, OutboxMessage
from core.outbox import enqueue_message
from tests.factories import make_event, make_user
from tests.pages.conftest import render_page

HTML_NAME = "<b>Ada</b> <script>alert(1)</script>"


@dataclass(frozen=True)
class Outbox:
    engine: Engine
    olivia: Actor
    sent: int
    failed: int
    held: int
    theirs: int

    def status(self, outbox_id: int) -> MessageStatus:
        with read_only(self.engine) as session:
            row = session.get(OutboxMessage, outbox_id)
            assert row is not None
            return row.status


@pytest.fixture
def outbox(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Outbox:
    monkeypatch.setenv("SMTP_HOST", "")
    monkeypatch.setenv("MAIL_FROM", "")
    with unit_of_work(engine) as session:
        ours = make_event(session, slug="ours", title="Our event")
        theirs = make_event(session, slug="theirs", title="Their event")
        olivia = make_user(session, "olivia", member_of=[ours])

        def message(event_id: int, subject: str, status: MessageStatus, body: str = "Hello") -> int:
            row = enqueue_message(session, kind=MessageKind.CONFIRMATION, recipients=["ada@example.org"],
                                  subject=subject, body_text=body, event_id=event_id)
            row.status = status
            if status == MessageStatus.FAILED:
                row.attempts, row.last_error = 1, "550 recipient refused: 5.1.1 <address>"
            return row.id

        sent = message(ours.id, "Order sent", MessageStatus.SENT, body=f"Hello {HTML_NAME}")
        failed = message(ours.id, "Order failed", MessageStatus.FAILED)
        held = message(ours.id, "Order held", MessageStatus.HELD)
        other = message(theirs.id, "Their order", MessageStatus.SENT)
    return Outbox(engine, olivia, sent, failed, held, other)


_page = partial(render_page, "outbox_page")


def test_anonymous_session_sees_the_login_warning_and_no_mail(outbox: Outbox) -> None:
    at = _page(None)
    assert not at.exception
    assert [w.value for w in at.warning] == ["Please log in to see this page."]
    assert not at.dataframe and not at.code


def test_organiser_sees_their_events_mail_and_that_it_is_held(outbox: Outbox) -> None:
    at = _page(outbox.olivia)
    assert not at.exception
    assert sorted(at.dataframe[0].value["subject"]) == ["Order failed", "Order held", "Order sent"]
    assert any(info.value.startswith("Mail is held: set SMTP_HOST") for info in at.info)
    assert "3 messages: 1 sent, 1 failed, 1 held" in [caption.value for caption in at.caption]
    assert not [b for b in at.button if b.key == "outbox.release"]  # nothing to send it with


def test_a_message_is_shown_as_text_never_as_html(outbox: Outbox) -> None:
    at = _page(outbox.olivia)
    at.selectbox(key="outbox.chosen").select(outbox.sent).run()
    assert at.code[0].value == f"Hello {HTML_NAME}"
    assert "Subject: Order sent" in at.text[0].value
    assert not [b for b in at.button if b.key == "outbox.retry"]  # sent: nothing to retry


def test_a_failed_message_is_retried_from_the_reader(outbox: Outbox) -> None:
    at = _page(outbox.olivia)
    at.selectbox(key="outbox.chosen").select(outbox.failed).run()
    assert "Last error: 550 recipient refused: 5.1.1 <address>" in at.text[0].value
    at.button(key="outbox.retry").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [f"Message {outbox.failed} will be sent again shortly."]
    assert outbox.status(outbox.failed) == MessageStatus.PENDING
    with read_only(outbox.engine) as session:
        assert session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(1)) == "mail.retried"


def test_held_mail_is_released_once_mail_is_configured(outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MAIL_FROM", "orders@example.org")
    at = _page(outbox.olivia)
    assert not any(info.value.startswith("Mail is held") for info in at.info)
    at.button(key="outbox.release").click().run()
    assert [s.value for s in at.success] == ["1 held message will be sent shortly."]
    assert outbox.status(outbox.held) == MessageStatus.PENDING
    assert not [b for b in at.button if b.key == "outbox.release"]


def test_the_status_filter_narrows_the_list(outbox: Outbox) -> None:
    at = _page(outbox.olivia)
    at.selectbox(key="outbox.status").select(MessageStatus.FAILED).run()
    assert list(at.dataframe[0].value["subject"]) == ["Order failed"]
    at.selectbox(key="outbox.status").select(MessageStatus.SENDING).run()
    assert not at.dataframe
    assert [i.value for i in at.info][-1] == "No messages with this status."
