"""The outbox dispatcher against a real SMTP server and database: retries, failures, crashes, concurrency, alarms."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.config import Settings
from core.db import read_only, unit_of_work
from core.errors import MessageNotRetryable, NotFound, PermissionDenied
from core.mailer import OutgoingMail, YagmailMailer
from core.models import AuditEntry, MessageKind, MessageStatus, OutboxMessage, User
from core.outbox import (
    ALARM_AFTER_ATTEMPTS,
    BACKOFF_BASE,
    BACKOFF_CAP,
    MAX_ATTEMPTS,
    MESSAGE_STATUS_LABELS,
    backoff,
    dispatch,
    drain_outbox,
    enqueue_message,
    hold_if_unconfigured,
    list_messages,
    outbox_health,
    outbox_overview,
    read_message,
    release_held,
    retry_message,
)
from tests.factories import make_event, make_user
from tests.mail_server import Fault, MailServer, running_mail_server, wait_for

T0 = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
OPERATOR = "ops@example.org"
ATTENDEE = "ada@example.org"


@pytest.fixture
def server() -> Iterator[MailServer]:
    with running_mail_server() as running:
        yield running


@dataclass(frozen=True)
class World:
    engine: Engine
    server: MailServer
    event_id: int
    other_event_id: int
    olivia: Actor  # organiser of the event
    bob: Actor  # organiser of the other event only

    @property
    def settings(self) -> Settings:
        return Settings(smtp_host=self.server.host, smtp_port=self.server.port, smtp_security="none",
                        mail_from=f"Event Orders <{OPERATOR}>")

    def mailer(self) -> YagmailMailer:
        return YagmailMailer(self.settings)

    def dispatch(self, now: datetime, **kwargs: Any) -> Any:
        return dispatch(self.engine, self.mailer(), now=now, alarm_to=[OPERATOR], **kwargs)

    def queue(self, count: int = 1, *, event_id: int | None = None, at: datetime = T0, **kwargs: Any) -> list[int]:
        with unit_of_work(self.engine) as session:
            return queue(session, count, event_id=event_id or self.event_id, at=at, **kwargs)

    def row(self, outbox_id: int) -> OutboxMessage:
        with read_only(self.engine) as session:
            row = session.get(OutboxMessage, outbox_id)
            assert row is not None
            return row

    def alarms(self) -> list[OutboxMessage]:
        with read_only(self.engine) as session:
            return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.ALARM)
                                        .order_by(OutboxMessage.id)))

    def audit_actions(self) -> list[str]:
        with read_only(self.engine) as session:
            return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def queue(session: Session, count: int, *, event_id: int | None, at: datetime = T0,
          recipients: tuple[str, ...] = (ATTENDEE,), **kwargs: Any) -> list[int]:
    ids = []
    for number in range(count):
        message = enqueue_message(session, kind=MessageKind.CONFIRMATION, recipients=recipients,
                                  subject=f"Your order {number}", body_text=f"Hello Ada, order {number}.",
                                  event_id=event_id, **kwargs)
        message.created_at = message.next_attempt_at = at
        ids.append(message.id)
    return ids


@pytest.fixture
def world(engine: Engine, server: MailServer) -> World:
    with unit_of_work(engine) as session:
        event = make_event(session, slug="fest", title="Summer Fest")
        other = make_event(session, slug="other", title="Other Fest")
        olivia = make_user(session, "olivia", member_of=[event])
        bob = make_user(session, "bob", member_of=[other])
    return World(engine, server, event.id, other.id, olivia, bob)


def test_due_messages_are_sent_once_with_their_message_id_and_marked_sent(world: World) -> None:
    ids = world.queue(3)
    later = world.queue(1, at=T0 + timedelta(hours=1))
    report = world.dispatch(T0)
    assert (report.claimed, report.sent) == (3, 3)
    rows = [world.row(i) for i in ids]
    assert [row.status for row in rows] == [MessageStatus.SENT] * 3
    assert all(row.sent_at == T0 and row.attempts == 1 and row.claimed_until is None for row in rows)
    assert sorted(world.server.message_ids()) == sorted(row.message_id for row in rows)
    assert world.row(later[0]).status == MessageStatus.PENDING
    assert world.dispatch(T0).claimed == 0  # nothing is sent twice


def test_temporary_failures_back_off_exponentially_then_the_message_goes_out(world: World) -> None:
    [outbox_id] = world.queue()
    world.server.fault = Fault.DATA_451
    report = world.dispatch(T0)
    assert (report.retrying, report.sent) == (1, 0)
    row = world.row(outbox_id)
    assert (row.status, row.attempts) == (MessageStatus.PENDING, 1)
    assert row.last_error.startswith("451 4.3.0")
    assert T0 + BACKOFF_BASE / 2 <= row.next_attempt_at <= T0 + BACKOFF_BASE
    assert world.dispatch(row.next_attempt_at - timedelta(seconds=1)).claimed == 0  # not due yet
    second = row.next_attempt_at
    world.dispatch(second)
    row = world.row(outbox_id)
    assert row.attempts == 2
    assert second + BACKOFF_BASE <= row.next_attempt_at <= second + 2 * BACKOFF_BASE
    world.server.fault = Fault.NONE
    assert world.dispatch(row.next_attempt_at).sent == 1
    row = world.row(outbox_id)
    assert (row.status, row.last_error) == (MessageStatus.SENT, "")
    assert world.server.message_ids() == [row.message_id]


def test_backoff_is_capped_and_jittered() -> None:
    delays = [backoff(attempts) for attempts in (20, 20, 20, 20, 20, 20, 20, 20)]
    assert all(BACKOFF_CAP / 2 <= delay <= BACKOFF_CAP for delay in delays)
    assert len(set(delays)) > 1
    assert BACKOFF_BASE * 4 <= backoff(4) <= BACKOFF_BASE * 8


def test_a_message_that_keeps_failing_gives_up_after_the_last_attempt(world: World) -> None:
    [outbox_id] = world.queue()
    world.server.deferred_recipients = {ATTENDEE}
    now = T0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = world.dispatch(now)
        assert report.claimed >= 1
        row = world.row(outbox_id)
        assert row.attempts == attempt
        now = max(now, row.next_attempt_at)
    assert row.status == MessageStatus.FAILED
    assert row.last_error.startswith(f"gave up after {MAX_ATTEMPTS} attempts: 450 recipient refused: 4.2.1 <address>:")
    assert ATTENDEE not in row.last_error
    assert "mail.failed" in world.audit_actions()


def test_a_permanent_failure_stops_at_once_and_a_manual_retry_sends_the_same_message(world: World) -> None:
    [outbox_id] = world.queue()
    world.server.fault = Fault.RCPT_550
    report = world.dispatch(T0)
    assert (report.failed, report.retrying) == (1, 0)
    row = world.row(outbox_id)
    assert (row.status, row.attempts) == (MessageStatus.FAILED, 1)
    assert row.last_error == "550 recipient refused: 5.1.1 <address>: Recipient address rejected: mailbox unavailable"
    world.dispatch(T0 + timedelta(days=1))  # sends (fails) only the alarm: a failed message is never retried alone
    assert (world.row(outbox_id).status, world.row(outbox_id).attempts) == (MessageStatus.FAILED, 1)
    with unit_of_work(world.engine) as session:
        retry_message(session, world.olivia, world.event_id, outbox_id, now=T0 + timedelta(hours=2))
    row = world.row(outbox_id)
    assert (row.status, row.attempts) == (MessageStatus.PENDING, 0)
    assert world.audit_actions()[-1] == "mail.retried"
    world.server.fault = Fault.NONE
    assert world.dispatch(T0 + timedelta(hours=2)).sent == 1
    assert [mail.message_id for mail in world.server.received if OPERATOR not in mail.rcpt_tos] == [row.message_id]


def test_only_the_events_organisers_retry_and_only_failed_messages(world: World) -> None:
    [outbox_id] = world.queue()
    with unit_of_work(world.engine) as session:
        with pytest.raises(PermissionDenied):
            retry_message(session, world.bob, world.event_id, outbox_id)
        with pytest.raises(NotFound):
            retry_message(session, world.bob, world.other_event_id, outbox_id)
        with pytest.raises(MessageNotRetryable, match="is pending"):
            retry_message(session, world.olivia, world.event_id, outbox_id)


class CrashAfterSending:
    """A dispatcher process dying right after the server accepted message number `crash_on` (counting from 1)."""

    def __init__(self, mailer: YagmailMailer, crash_on: int):
        self.mailer, self.crash_on, self.sent = mailer, crash_on, 0

    def send(self, message: OutgoingMail) -> None:
        self.mailer.send(message)
        self.sent += 1
        if self.sent == self.crash_on:
            raise SystemExit("killed")

    def close(self) -> None:
        self.mailer.close()


def test_a_dispatcher_killed_mid_send_loses_nothing_and_resends_the_same_message_once(world: World) -> None:
    first, second, third = world.queue(3)
    with pytest.raises(SystemExit):
        dispatch(world.engine, CrashAfterSending(world.mailer(), crash_on=2), now=T0)
    assert world.row(first).status == MessageStatus.SENT
    assert world.row(second).status == MessageStatus.SENDING  # delivered, but the dispatcher died before saying so
    assert world.row(third).status == MessageStatus.PENDING  # never tried: handed back
    assert world.dispatch(T0 + timedelta(minutes=1)).sent == 1  # the third; the second's lease still runs
    assert world.dispatch(T0 + timedelta(minutes=4)).claimed == 0
    report = world.dispatch(T0 + timedelta(minutes=5))  # the lease ran out
    assert report.sent == 1
    assert world.row(second).status == MessageStatus.SENT
    counts = Counter(world.server.message_ids())
    assert counts == {world.row(first).message_id: 1, world.row(second).message_id: 2, world.row(third).message_id: 1}
    copies = [mail.message for mail in world.server.received if mail.message_id == world.row(second).message_id]
    assert copies[0]["Date"] == copies[1]["Date"] and copies[0]["Subject"] == copies[1]["Subject"]
    assert copies[0].get_body(("plain",)).get_content() == copies[1].get_body(("plain",)).get_content()


def test_grouped_commits_still_record_every_delivery(world: World) -> None:
    ids = world.queue(4)
    with pytest.raises(SystemExit):
        dispatch(world.engine, CrashAfterSending(world.mailer(), crash_on=3), now=T0,
                 group_commit=timedelta(hours=1))
    # The two delivered before the crash were recorded on the way out; the third is left to its lease.
    assert [world.row(i).status for i in ids] == [MessageStatus.SENT, MessageStatus.SENT, MessageStatus.SENDING,
                                                   MessageStatus.PENDING]
    report = dispatch(world.engine, world.mailer(), now=T0 + timedelta(minutes=5), group_commit=timedelta(hours=1))
    assert report.sent == 2
    assert {world.row(i).status for i in ids} == {MessageStatus.SENT}


def test_a_lease_running_out_hands_untried_messages_back(world: World) -> None:
    ids = world.queue(3)
    report = world.dispatch(T0, lease=timedelta(0))
    assert (report.claimed, report.released, report.sent) == (3, 3, 0)
    assert [(world.row(i).status, world.row(i).attempts) for i in ids] == [(MessageStatus.PENDING, 0)] * 3
    assert world.server.received == []


def test_an_unreachable_server_costs_one_attempt_and_the_batch_waits_with_it(world: World) -> None:
    ids = world.queue(5)
    world.server.refuse()
    report = world.dispatch(T0)
    assert (report.claimed, report.retrying, report.released) == (5, 1, 4)
    rows = [world.row(i) for i in ids]
    assert [row.attempts for row in rows] == [1, 0, 0, 0, 0]
    assert "Connection refused" in rows[0].last_error
    assert {row.next_attempt_at for row in rows} == {rows[0].next_attempt_at}
    world.server.accept()
    assert world.dispatch(rows[0].next_attempt_at).sent == 5


@pytest.mark.parametrize("dispatchers", [4])
def test_concurrent_dispatchers_never_send_the_same_message_twice(world: World, dispatchers: int) -> None:
    ids = world.queue(60)
    start = threading.Barrier(dispatchers)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            while dispatch(world.engine, world.mailer(), now=T0, limit=4).claimed:
                pass
        except BaseException as exc:  # noqa: B036 - reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(dispatchers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    received = wait_for(world.server, 60)
    assert len(received) == 60
    assert len(set(world.server.message_ids())) == 60
    assert {world.row(i).status for i in ids} == {MessageStatus.SENT}


def test_without_mail_configured_messages_are_held_then_released_and_sent(world: World) -> None:
    ids = world.queue(2)
    [others] = world.queue(1, event_id=world.other_event_id)
    with unit_of_work(world.engine) as session:  # claimed while mail was still configured; that dispatcher died
        row = session.get(OutboxMessage, ids[1])
        assert row is not None
        row.status, row.claimed_until = MessageStatus.SENDING, T0 - timedelta(minutes=1)
    report = drain_outbox(world.engine, Settings(smtp_host="", mail_from=""), now=T0)
    assert report.held == 3
    assert {world.row(i).status for i in [*ids, others]} == {MessageStatus.HELD}
    with unit_of_work(world.engine) as session:
        with pytest.raises(PermissionDenied):
            release_held(session, world.bob, world.event_id)
        assert release_held(session, world.olivia, now=T0) == 2  # all of her events: not Bob's
    assert world.audit_actions()[-1] == "mail.released"
    assert world.row(others).status == MessageStatus.HELD
    report = drain_outbox(world.engine, world.settings, now=T0)
    assert report.sent == 2
    assert {world.row(i).status for i in ids} == {MessageStatus.SENT}


def test_a_message_whose_dispatchers_keep_dying_is_given_up(world: World) -> None:
    [outbox_id] = world.queue()
    with unit_of_work(world.engine) as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        row.status, row.attempts, row.claimed_until = MessageStatus.SENDING, MAX_ATTEMPTS, T0
    report = world.dispatch(T0 + timedelta(seconds=1))
    assert (report.failed, report.sent, report.alarms) == (1, 0, 1)
    row = world.row(outbox_id)
    assert row.status == MessageStatus.FAILED
    assert row.last_error == f"gave up after {MAX_ATTEMPTS} attempts: the dispatcher stopped while sending"
    assert [mail.rcpt_tos for mail in world.server.received] == []  # the alarm waits for the next run


def test_holding_leaves_mail_alone_once_mail_is_configured(world: World) -> None:
    [outbox_id] = world.queue()
    with unit_of_work(world.engine) as session:
        assert hold_if_unconfigured(session, world.settings) == 0
    assert world.row(outbox_id).status == MessageStatus.PENDING


def test_failures_alarm_the_operator_at_most_hourly_per_event(world: World) -> None:
    world.server.refused_recipients = {ATTENDEE}
    world.queue(3)
    report = world.dispatch(T0)
    assert (report.failed, report.alarms) == (3, 1)
    [alarm] = world.alarms()
    assert (alarm.event_id, alarm.recipients) == (world.event_id, [OPERATOR])
    assert alarm.subject == "Mail is failing: Summer Fest"
    assert "olivia" in alarm.body_text and ATTENDEE not in alarm.body_text
    assert world.dispatch(T0).sent == 1  # the alarm itself goes out
    [sent] = wait_for(world.server, 1)
    assert sent.rcpt_tos == (OPERATOR,) and ATTENDEE.encode() not in sent.data

    world.queue(1, at=T0 + timedelta(minutes=30))
    assert world.dispatch(T0 + timedelta(minutes=30)).alarms == 0  # within the hour
    world.queue(1, event_id=world.other_event_id, at=T0 + timedelta(minutes=30))
    assert world.dispatch(T0 + timedelta(minutes=31)).alarms == 1  # another event has its own
    world.queue(1, at=T0 + timedelta(minutes=61))
    assert world.dispatch(T0 + timedelta(minutes=61)).alarms == 1
    assert [a.event_id for a in world.alarms()] == [world.event_id, world.other_event_id, world.event_id]


def test_alarms_go_to_the_event_organisers_who_gave_an_address(world: World) -> None:
    with unit_of_work(world.engine) as session:
        session.scalars(select(User).where(User.username == "olivia")).one().email = "olivia@example.org"
    world.server.refused_recipients = {ATTENDEE}
    world.queue(1)
    assert world.dispatch(T0).alarms == 1
    [alarm] = world.alarms()
    assert alarm.recipients == ["olivia@example.org"]  # not the operator: an organiser of this event can act


def test_a_message_still_failing_after_a_few_attempts_alarms_once(world: World) -> None:
    [outbox_id] = world.queue()
    world.server.deferred_recipients = {ATTENDEE}
    now = T0
    for _ in range(ALARM_AFTER_ATTEMPTS - 1):
        assert world.dispatch(now).alarms == 0
        now = world.row(outbox_id).next_attempt_at
    assert world.dispatch(now).alarms == 1
    [alarm] = world.alarms()
    assert f"is still failing after {ALARM_AFTER_ATTEMPTS} attempts" in alarm.body_text


def test_a_failing_alarm_raises_no_alarm_about_itself(world: World) -> None:
    world.server.fault = Fault.RCPT_550
    world.queue(1)
    assert world.dispatch(T0).alarms == 1
    report = world.dispatch(T0 + timedelta(hours=2))  # the alarm fails too, after the hour
    assert (report.failed, report.alarms) == (1, 0)


def test_outbox_health_counts_what_needs_attention(world: World) -> None:
    sent, failed, stale, held = (world.queue(1)[0] for _ in range(4))
    with unit_of_work(world.engine) as session:
        session.get(OutboxMessage, sent).status = MessageStatus.SENT  # type: ignore[union-attr]
        session.get(OutboxMessage, failed).status = MessageStatus.FAILED  # type: ignore[union-attr]
        row = session.get(OutboxMessage, stale)
        assert row is not None
        row.attempts, row.created_at = 2, T0 - timedelta(hours=3)
        session.get(OutboxMessage, held).status = MessageStatus.HELD  # type: ignore[union-attr]
        health = outbox_health(session, world.olivia, world.event_id, now=T0)
        with pytest.raises(PermissionDenied):
            outbox_health(session, world.bob, world.event_id)
    assert health.counts == {MessageStatus.SENT: 1, MessageStatus.FAILED: 1, MessageStatus.PENDING: 1,
                             MessageStatus.HELD: 1}
    assert (health.failed, health.held, health.retrying) == (1, 1, 1)
    assert health.oldest_waiting == timedelta(hours=3)
    assert health.summary == "4 messages: 1 waiting, 1 sent, 1 failed, 1 held"
    assert health.warnings == (
        "1 message could not be delivered. Open the Outbox page to read and retry it.",
        "Mail is late: the oldest message has waited 3 hours (1 being retried).",
        "1 message held because mail is not configured (SMTP_HOST).",
    )


def test_organisers_list_and_read_only_their_events_messages(world: World) -> None:
    ids = world.queue(2)
    [theirs] = world.queue(1, event_id=world.other_event_id)
    with unit_of_work(world.engine) as session:
        session.get(OutboxMessage, ids[0]).status = MessageStatus.FAILED  # type: ignore[union-attr]
    with read_only(world.engine) as session:
        frame = list_messages(session, world.olivia, world.event_id)
        assert sorted(frame["id"]) == ids
        assert list(frame["recipients"]) == [ATTENDEE, ATTENDEE]
        failed = list_messages(session, world.olivia, world.event_id, MessageStatus.FAILED)
        assert list(failed["id"]) == [ids[0]] and list(failed["status"]) == ["failed"]
        message = read_message(session, world.olivia, world.event_id, ids[1])
        assert (message.body_text, message.retryable) == ("Hello Ada, order 1.", False)
        with pytest.raises(PermissionDenied):
            list_messages(session, world.bob, world.event_id)
        with pytest.raises(PermissionDenied):
            read_message(session, world.bob, world.event_id, ids[1])
        with pytest.raises(NotFound):
            read_message(session, world.olivia, world.event_id, theirs)


def test_the_outbox_overview_counts_every_status_and_lists_the_chosen_one(world: World) -> None:
    world.queue(2)
    world.dispatch(T0)
    world.queue(1, at=T0 + timedelta(hours=1))
    with read_only(world.engine) as session:
        everything = outbox_overview(session, world.olivia, world.event_id)
        waiting = outbox_overview(session, world.olivia, world.event_id, MessageStatus.PENDING)
    assert everything.health.summary == "3 messages: 1 waiting, 2 sent"
    assert len(everything.messages) == 3 and len(waiting.messages) == 1
    assert MESSAGE_STATUS_LABELS[MessageStatus.HELD] == "Held (no mail server set up)"
