"""The mail outbox: messages are written in the caller's transaction and sent after commit by a dispatcher.

Delivery is at least once and never silently a different mail. `dispatch` claims due rows with a lease
(status "sending" until `claimed_until`) and commits, then sends, then records the outcome per message. If the
dispatcher dies between sending and recording, nothing is lost: the lease runs out, the row is due again and is
sent again with the SAME Message-ID, Date and content, so the recipient's mail program sees one message twice,
never two different ones. Without SMTP configured, mail is held and waits, readable on the Outbox page.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Row, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

from core import audit
from core.auth import Actor, Permission, require, visible_events
from core.config import Settings
from core.db import bookkeeping_durability, transaction_connection, unit_of_work
from core.errors import MessageNotRetryable, NotFound, PermissionDenied
from core.mailer import (
    Mailer,
    MailError,
    MailServerUnavailable,
    OutgoingMail,
    TemporaryMailError,
    YagmailMailer,
)
from core.models import (
    Event,
    EventMember,
    MessageChannel,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    User,
    utcnow,
)
from core.portal_links import fill_portal_links
from core.sms import SmsMailer, sms_configured, sms_sender
from core.wording import counted

MESSAGE_ID_DOMAIN = "event-orders.invalid"
DEFAULT_LEASE = timedelta(minutes=5)
# Temporary failures are retried after about 1, 2, 4 … minutes, at most an hour apart: for 2-4 hours in all.
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
MAX_ATTEMPTS = 10
# A message still failing after this many attempts raises an alarm, as a permanent failure does at once.
ALARM_AFTER_ATTEMPTS = 3
ALARM_INTERVAL = timedelta(hours=1)
STALE_AFTER = timedelta(hours=1)
MAX_LISTED = 500
OUTBOX_COLUMNS = ("id", "kind", "recipients", "subject", "status", "attempts", "last_error", "created_at",
                  "next_attempt_at", "sent_at")


_INSERT_MESSAGE = insert(OutboxMessage.__table__)


def new_message_id() -> str:
    """A globally unique Message-ID, fixed when the message is queued, so a resend is recognisably the same mail."""
    return f"<{secrets.token_hex(16)}@{MESSAGE_ID_DOMAIN}>"


def enqueue_message(
    session: Session,
    *,
    kind: MessageKind,
    recipients: Sequence[str],
    subject: str,
    body_text: str,
    body_html: str = "",
    event_id: int | None = None,
    order_id: int | None = None,
    vendor_id: int | None = None,
    attachment: tuple[str, bytes] | None = None,
    channel: MessageChannel = MessageChannel.EMAIL,
    flush: bool = True,
) -> OutboxMessage:
    """Queue one email (or, with `channel` SMS, a text to E.164 numbers whose words are `body_text`) in the
    caller's transaction; nothing is sent until `dispatch` runs after commit.

    Subjects must not contain line breaks (they would inject headers); callers build them from templates that
    strip them, and this refuses any that slip through. `flush=False` leaves the row's id unset until the
    caller's next flush, so that queuing many messages inserts them together.
    """
    if "\r" in subject or "\n" in subject:
        raise ValueError("a mail subject may not contain line breaks")
    now = utcnow()
    # Every column, so that the message below is complete without reading it back.
    values: dict[str, Any] = dict(
        message_id=new_message_id(), kind=kind, recipients=list(recipients), subject=subject, body_text=body_text,
        body_html=body_html, event_id=event_id, order_id=order_id, vendor_id=vendor_id,
        attachment_name=attachment[0] if attachment else None, attachment=attachment[1] if attachment else None,
        channel=channel, purged_at=None, status=MessageStatus.PENDING, attempts=0, next_attempt_at=now,
        claimed_until=None, last_error="", sent_at=None, created_at=now,
    )
    if not flush:
        message = OutboxMessage(**values)
        session.add(message)
        return message
    # One Core INSERT, then the row joins the session as a loaded, unchanged object: what add() and flush() give,
    # at half the cost of the ORM's flush (it runs for every order placed; bench/bench_place_order.py).
    inserted = transaction_connection(session).execute(_INSERT_MESSAGE, values)
    message = OutboxMessage(id=inserted.inserted_primary_key[0], **values)
    make_transient_to_detached(message)
    session.add(message)
    return message


# --- Sending -------------------------------------------------------------------------------------------------


@dataclass
class DispatchReport:
    """What one dispatch run did; `released` rows were claimed but handed back untried (server down, time up)."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0
    held: int = 0
    alarms: int = 0

    def add(self, other: DispatchReport) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class _Claimed:
    id: int
    mail: OutgoingMail


def mail_configured(settings: Settings) -> bool:
    """Whether mail can be sent: an SMTP server and a From address are set."""
    return bool(settings.smtp_host and settings.mail_from)


def drain_outbox(engine: Engine, settings: Settings, *, now: datetime | None = None, limit: int = 100,
                 max_batches: int = 50) -> DispatchReport:
    """What the timer runs: send what is due through YagmailMailer (and SMS through the configured provider), or
    hold it while its channel is not configured.

    Sends batch after batch until fewer than `limit` were due, a batch handed rows back, or `max_batches` ran.
    Alarms go to MAIL_FROM, the operator's address (users have no email address yet).
    """
    report = DispatchReport()
    if not mail_configured(settings) or not sms_configured(settings):
        with unit_of_work(engine) as session:
            report.held = hold_if_unconfigured(session, settings, now=now)
    operator = parseaddr(settings.mail_from)[1]
    alarm_to = [operator] if operator else []
    transports: list[tuple[MessageChannel, Mailer]] = []
    if mail_configured(settings):
        transports.append((MessageChannel.EMAIL, YagmailMailer(settings)))
    if (texts := sms_sender(settings)) is not None:
        transports.append((MessageChannel.SMS, SmsMailer(texts)))
    for channel, transport in transports:
        for _ in range(max_batches):
            batch = dispatch(engine, transport, now=now, limit=limit, alarm_to=alarm_to, channel=channel,
                             settings=settings)
            report.add(batch)
            if batch.claimed < limit or batch.released:
                break
    return report


def dispatch(
    engine: Engine,
    mailer: Mailer,
    *,
    now: datetime | None = None,
    limit: int = 100,
    lease: timedelta = DEFAULT_LEASE,
    alarm_to: Sequence[str] = (),
    group_commit: timedelta = timedelta(0),
    channel: MessageChannel = MessageChannel.EMAIL,
    settings: Settings | None = None,
) -> DispatchReport:
    """Claim up to `limit` due messages, send them through `mailer`, and record each outcome in its own commit.

    Due: pending with `next_attempt_at` reached, or sending with an expired lease (a dispatcher died). Claiming
    is atomic (PostgreSQL `FOR UPDATE SKIP LOCKED`, SQLite's write lock), so concurrent dispatchers never send
    the same row at once. A temporary failure is retried with exponential backoff and jitter, up to MAX_ATTEMPTS;
    a permanent one fails the message at once. When the server itself is unavailable the rest of the batch is
    handed back untried, to wait as long as the failed one. Failures alarm `alarm_to` (at most hourly per event).
    `now` fixes the clock for tests; the lease also bounds real time: past half of it, the rest is handed back.
    `group_commit` > 0 records deliveries made within that time in one commit: faster against a fast relay, but
    a dispatcher killed in that window sends those messages again (with their Message-IDs) once the lease ends.
    Only rows of `channel` are claimed: SMS rows go through an `sms.SmsMailer`. A vendor mail's portal link is
    put in here, from `settings`' key (core/portal_links.py); without settings it says there is none.
    """
    clock = (lambda: now) if now is not None else utcnow
    started = time.monotonic()
    claimed_at = clock()
    token = claimed_at + lease  # claimed_until doubles as this run's claim token
    report = DispatchReport()
    with unit_of_work(engine) as session:
        batch, gave_up = _claim(session, claimed_at, token, limit, channel)
        if filled := fill_portal_links(session, settings, [(claimed.id, claimed.mail) for claimed in batch]):
            batch = [_Claimed(claimed.id, filled.get(claimed.id, claimed.mail)) for claimed in batch]
        for row in gave_up:
            report.failed += 1
            report.alarms += _fail_and_alarm(session, row, claimed_at, alarm_to)
    report.claimed = len(batch)
    pending = list(batch)
    try:
        with engine.connect() as connection, bookkeeping_durability(connection):
            delivered = _Deliveries(connection, group_commit.total_seconds())
            try:
                while pending:
                    if time.monotonic() - started > lease.total_seconds() / 2:
                        break
                    claimed = pending.pop(0)
                    try:
                        mailer.send(claimed.mail)
                    except MailError as exc:
                        delivered.record()
                        status, alarmed, retry_at = _record_failure(engine, claimed.id, token, exc, clock(),
                                                                    alarm_to)
                        report.retrying += status is MessageStatus.PENDING
                        report.failed += status is MessageStatus.FAILED
                        report.alarms += alarmed
                        if isinstance(exc, MailServerUnavailable):
                            report.released += _release(engine, pending, token, retry_at)
                            pending = []
                    else:
                        delivered.add(claimed.id, clock())
                        report.sent += 1
            finally:
                delivered.record()
    finally:
        if pending:  # time is up, or something unexpected was raised: hand the untried rows back now
            report.released += _release(engine, pending, token, None)
        mailer.close()
    return report


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: doubling from BACKOFF_BASE up to BACKOFF_CAP,
    then a random 50-100% of that, so that messages failing together do not retry together."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return delay * random.uniform(0.5, 1.0)


def _claim(session: Session, now: datetime, token: datetime, limit: int,
           channel: MessageChannel = MessageChannel.EMAIL) -> tuple[list[_Claimed], list[OutboxMessage]]:
    """Lock and claim the due rows; also returns those given up on (see below), already marked failed."""
    due = and_(OutboxMessage.channel == channel, or_(
        and_(OutboxMessage.status == MessageStatus.PENDING, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == MessageStatus.SENDING, OutboxMessage.claimed_until <= now),
    ))
    # Columns, not ORM objects, and one UPDATE for the batch: loading and flushing objects took as long as sending.
    rows = session.execute(
        select(*_CLAIMED_COLUMNS).where(due).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit).with_for_update(skip_locked=True)
    ).all()
    # Its dispatchers kept dying mid-send (a message too large to send?): stop before it takes more down.
    dying = [row.id for row in rows if row.status == MessageStatus.SENDING and row.attempts >= MAX_ATTEMPTS]
    claimed = [_Claimed(row.id, _outgoing(row)) for row in rows if row.id not in dying]
    if claimed:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_([c.id for c in claimed])).values(
            status=MessageStatus.SENDING, claimed_until=token, attempts=OutboxMessage.attempts + 1),
            execution_options={"synchronize_session": False})
    gave_up = list(session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(dying)))) if dying else []
    for row in gave_up:
        row.last_error = f"gave up after {row.attempts} attempts: the dispatcher stopped while sending"
    return claimed, gave_up


_CLAIMED_COLUMNS = (OutboxMessage.id, OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.message_id,
                    OutboxMessage.recipients, OutboxMessage.subject, OutboxMessage.body_text, OutboxMessage.body_html,
                    OutboxMessage.created_at, OutboxMessage.attachment_name, OutboxMessage.attachment)


def _outgoing(row: Row[Any]) -> OutgoingMail:
    attachment = (row.attachment_name or "attachment", row.attachment) if row.attachment is not None else None
    return OutgoingMail(message_id=row.message_id, recipients=tuple(str(r) for r in row.recipients),
                        subject=row.subject, body_text=row.body_text, body_html=row.body_html, date=row.created_at,
                        attachment=attachment)


# Unconditional: it was delivered, even if our lease ran out and another dispatcher holds the row now.
_MARK_SENT = (update(OutboxMessage.__table__).where(OutboxMessage.__table__.c.id == bindparam("outbox_id"))
              .values(status=MessageStatus.SENT, sent_at=bindparam("sent_at"), claimed_until=None, last_error=""))


class _Deliveries:
    """Marks delivered messages sent: each in its own commit, or those within `window` seconds in one."""

    def __init__(self, connection: Connection, window: float):
        self._connection = connection
        self._window = window
        self._due: list[dict[str, object]] = []
        self._since = 0.0

    def add(self, outbox_id: int, at: datetime) -> None:
        if not self._due:
            self._since = time.monotonic()
        self._due.append({"outbox_id": outbox_id, "sent_at": at})
        if time.monotonic() - self._since >= self._window:
            self.record()

    def record(self) -> None:
        # A kept connection and a prepared Core statement, not a Session: this runs once per message, and a
        # Session with a fresh ORM statement took longer than sending the message to a local relay.
        if self._due:
            with self._connection.begin():
                self._connection.execute(_MARK_SENT, self._due)
            self._due = []


def _record_failure(
    engine: Engine, outbox_id: int, token: datetime, exc: MailError, now: datetime, alarm_to: Sequence[str]
) -> tuple[MessageStatus | None, bool, datetime]:
    """Mark a failed attempt; returns the new status (None if another dispatcher took the row), alarmed, retry time."""
    with unit_of_work(engine) as session:
        row = session.scalars(select(OutboxMessage).where(
            OutboxMessage.id == outbox_id, OutboxMessage.status == MessageStatus.SENDING,
            OutboxMessage.claimed_until == token).with_for_update()).one_or_none()
        if row is None:
            return None, False, now
        row.last_error = str(exc)[:500]
        row.claimed_until = None
        if isinstance(exc, TemporaryMailError) and row.attempts < MAX_ATTEMPTS:
            row.status = MessageStatus.PENDING
            row.next_attempt_at = now + backoff(row.attempts)
            alarmed = row.attempts >= ALARM_AFTER_ATTEMPTS and _raise_alarm(session, row, now, alarm_to)
            return row.status, alarmed, row.next_attempt_at
        if isinstance(exc, TemporaryMailError):
            row.last_error = f"gave up after {row.attempts} attempts: {exc}"[:500]
        return MessageStatus.FAILED, _fail_and_alarm(session, row, now, alarm_to), now


def _fail_and_alarm(session: Session, row: OutboxMessage, now: datetime, alarm_to: Sequence[str]) -> bool:
    row.status = MessageStatus.FAILED
    row.claimed_until = None
    audit.record(session, None, "mail.failed", event=row.event_id, subject=f"message:{row.id}",
                 details={"kind": row.kind.value, "attempts": row.attempts, "error": row.last_error[:120]})
    return _raise_alarm(session, row, now, alarm_to)


def _release(engine: Engine, claimed: Sequence[_Claimed], token: datetime, retry_at: datetime | None) -> int:
    """Hand claimed but untried rows back as pending, their attempt uncounted; returns how many."""
    if not claimed:
        return 0
    values: dict[str, object] = {"status": MessageStatus.PENDING, "claimed_until": None,
                                 "attempts": OutboxMessage.attempts - 1}
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    with unit_of_work(engine) as session:
        result = session.execute(update(OutboxMessage).where(
            OutboxMessage.id.in_([c.id for c in claimed]), OutboxMessage.status == MessageStatus.SENDING,
            OutboxMessage.claimed_until == token).values(values))
    return result.rowcount


def _raise_alarm(session: Session, failed: OutboxMessage, now: datetime, alarm_to: Sequence[str]) -> bool:
    """Queue one ALARM mail about `failed` unless its event had one within ALARM_INTERVAL; returns whether queued."""
    if not alarm_to or failed.kind == MessageKind.ALARM:
        return False
    event_title = "mail without an event"
    organisers: list[str] = []
    recipients = list(alarm_to)
    if failed.event_id is not None:
        # Locks the event row, so that two dispatchers failing at once raise one alarm between them.
        event = session.scalars(select(Event).where(Event.id == failed.event_id).with_for_update()).one_or_none()
        if event is not None:
            event_title = " ".join(event.title.split())
            members = session.execute(
                select(User.username, User.email).join(EventMember, EventMember.user_id == User.id)
                .where(EventMember.event_id == event.id).order_by(User.username)).all()
            organisers = [username for username, _ in members]
            # The event's organisers hear of it themselves where they gave an address; the operator otherwise.
            recipients = [email for _, email in members if email] or recipients
    same_event = (OutboxMessage.event_id == failed.event_id if failed.event_id is not None
                  else OutboxMessage.event_id.is_(None))
    recent = session.scalar(select(exists().where(
        OutboxMessage.kind == MessageKind.ALARM, same_event, OutboxMessage.created_at > now - ALARM_INTERVAL)))
    if recent:
        return False
    state = "failed" if failed.status == MessageStatus.FAILED else f"is still failing after {failed.attempts} attempts"
    body = "\n".join([
        f"Mail for {event_title} is not getting through.",
        "",
        f"Message {failed.id} ({failed.kind.value}) {state}.",
        f"Last error: {failed.last_error or 'none recorded'}",
        "",
        "Open the Outbox page to read it and retry. More failures of this event in the next hour raise no "
        "further alarm.",
        f"Organisers of this event: {', '.join(organisers) or 'none'}.",
    ])
    alarm = enqueue_message(session, kind=MessageKind.ALARM, recipients=recipients,
                            subject=f"Mail is failing: {event_title}"[:300], body_text=body,
                            event_id=failed.event_id)
    alarm.created_at = now
    alarm.next_attempt_at = now
    audit.record(session, None, "mail.alarm_raised", event=failed.event_id, subject=f"message:{failed.id}",
                 details={"alarm": alarm.id})
    return True


# --- Held mail and retries -----------------------------------------------------------------------------------


def hold_if_unconfigured(session: Session, settings: Settings, *, now: datetime | None = None) -> int:
    """Without mail (or SMS) configured, turn waiting messages of that channel into held ones (kept, readable);
    returns how many.

    Waiting: pending, or claimed by a dispatcher whose lease ran out (mail was configured when it started).
    """
    unconfigured = [channel for channel, configured in ((MessageChannel.EMAIL, mail_configured(settings)),
                                                        (MessageChannel.SMS, sms_configured(settings)))
                    if not configured]
    if not unconfigured:
        return 0
    now = now or utcnow()
    waiting = or_(OutboxMessage.status == MessageStatus.PENDING,
                  and_(OutboxMessage.status == MessageStatus.SENDING, OutboxMessage.claimed_until <= now))
    result = session.execute(update(OutboxMessage).where(waiting, OutboxMessage.channel.in_(unconfigured))
                             .values(status=MessageStatus.HELD, claimed_until=None))
    return result.rowcount


def release_held(session: Session, actor: Actor, event_id: int | None = None, *,
                 now: datetime | None = None) -> int:
    """Make held messages pending again, those of `event_id` or of every event `actor` may update; returns how many.

    Call it once mail is configured; the dispatcher then sends them. Raises PermissionDenied.
    """
    if actor is None:
        raise PermissionDenied("Please log in.")
    now = now or utcnow()
    conditions = [OutboxMessage.status == MessageStatus.HELD]
    if event_id is not None:
        require(session, actor, Permission.ORDERS_UPDATE, event_id)
        conditions.append(OutboxMessage.event_id == event_id)
    elif not actor.is_admin:
        mine = visible_events(actor).with_only_columns(Event.id).order_by(None)
        conditions.append(OutboxMessage.event_id.in_(mine))
    result = session.execute(update(OutboxMessage).where(*conditions).values(
        status=MessageStatus.PENDING, next_attempt_at=now))
    count = result.rowcount
    if count:
        audit.record(session, actor, "mail.released", event=event_id, subject="outbox", details={"count": count})
    return count


def retry_message(session: Session, actor: Actor, event_id: int, outbox_id: int, *,
                  now: datetime | None = None) -> None:
    """Send a failed message again from scratch (attempts reset); raises PermissionDenied, NotFound or
    MessageNotRetryable when it has not failed."""
    require(session, actor, Permission.ORDERS_UPDATE, event_id)
    row = session.scalars(select(OutboxMessage).where(
        OutboxMessage.id == outbox_id, OutboxMessage.event_id == event_id).with_for_update()).one_or_none()
    if row is None:
        raise NotFound("There is no such message in this event.")
    if row.status != MessageStatus.FAILED:
        raise MessageNotRetryable(f"Only failed messages can be retried; message {row.id} is {row.status.value}.")
    previous_attempts = row.attempts
    row.status = MessageStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = now or utcnow()
    row.claimed_until = None
    audit.record(session, actor, "mail.retried", event=event_id, subject=f"message:{row.id}",
                 details={"kind": row.kind.value, "attempts": previous_attempts})


# --- Reading -------------------------------------------------------------------------------------------------

MESSAGE_STATUS_LABELS = {MessageStatus.HELD: "Held (no mail server set up)", MessageStatus.PENDING: "Waiting",
                         MessageStatus.SENDING: "Being sent", MessageStatus.SENT: "Sent",
                         MessageStatus.FAILED: "Failed"}


@dataclass(frozen=True)
class MessageView:
    """One outbox message as the Outbox page shows it (the text part; HTML is not rendered)."""

    id: int
    message_id: str
    kind: MessageKind
    recipients: tuple[str, ...]
    subject: str
    body_text: str
    attachment_name: str | None
    status: MessageStatus
    attempts: int
    last_error: str
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None

    @property
    def retryable(self) -> bool:
        return self.status == MessageStatus.FAILED


@dataclass(frozen=True)
class OutboxHealth:
    """Counts of an event's messages per status, and what needs the organisers' attention."""

    counts: dict[MessageStatus, int] = field(default_factory=dict)
    oldest_waiting: timedelta | None = None  # age of the oldest pending or sending message
    retrying: int = 0  # pending after a failed attempt

    @property
    def failed(self) -> int:
        return self.counts.get(MessageStatus.FAILED, 0)

    @property
    def held(self) -> int:
        return self.counts.get(MessageStatus.HELD, 0)

    @property
    def summary(self) -> str:
        """E.g. "4 messages: 1 waiting, 1 sent, 1 failed, 1 held"; empty when there are none."""
        total = sum(self.counts.values())
        if not total:
            return ""
        order = (MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.FAILED,
                 MessageStatus.HELD)
        return f"{_messages(total)}: " + ", ".join(
            f"{self.counts[status]} {_STATUS_WORDS[status]}" for status in order if self.counts.get(status))

    @property
    def warnings(self) -> tuple[str, ...]:
        """Sentences for the dashboard, most urgent first; empty when mail flows."""
        found: list[str] = []
        if self.failed:
            found.append(f"{_messages(self.failed)} could not be delivered. Open the Outbox page to read and retry "
                         f"{'it' if self.failed == 1 else 'them'}.")
        if self.oldest_waiting is not None and self.oldest_waiting > STALE_AFTER:
            hours = int(self.oldest_waiting.total_seconds() // 3600)
            found.append(f"Mail is late: the oldest message has waited {hours} hour{'s' if hours != 1 else ''} "
                         f"({self.retrying} being retried).")
        if self.held:
            found.append(f"{_messages(self.held)} held because mail is not configured (SMTP_HOST).")
        return tuple(found)


# As a count reads them: "1 waiting, 2 held".
_STATUS_WORDS = {status: "held" if status == MessageStatus.HELD else label.lower()
                 for status, label in MESSAGE_STATUS_LABELS.items()}


def _messages(count: int) -> str:
    return counted(count, "message")


def outbox_health(session: Session, actor: Actor, event_id: int, *, now: datetime | None = None) -> OutboxHealth:
    """The event's outbox at a glance, for a dashboard notice; raises PermissionDenied."""
    require(session, actor, Permission.ORDERS_VIEW, event_id)
    now = now or utcnow()
    counts = {MessageStatus(status): count for status, count in session.execute(
        select(OutboxMessage.status, func.count()).where(OutboxMessage.event_id == event_id)
        .group_by(OutboxMessage.status)).all()}
    waiting = [MessageStatus.PENDING, MessageStatus.SENDING]
    oldest = session.scalar(select(func.min(OutboxMessage.created_at)).where(
        OutboxMessage.event_id == event_id, OutboxMessage.status.in_(waiting)))
    retrying = session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.event_id == event_id, OutboxMessage.status == MessageStatus.PENDING,
        OutboxMessage.attempts > 0)) or 0
    return OutboxHealth(counts=counts, oldest_waiting=max(now - oldest, timedelta(0)) if oldest else None,
                        retrying=retrying)


def list_messages(session: Session, actor: Actor, event_id: int, status: MessageStatus | None = None, *,
                  limit: int = MAX_LISTED) -> pd.DataFrame:
    """The event's messages, newest first, as a frame of OUTBOX_COLUMNS (times in UTC); raises PermissionDenied."""
    require(session, actor, Permission.ORDERS_VIEW, event_id)
    query = (select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.recipients, OutboxMessage.subject,
                    OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.last_error, OutboxMessage.created_at,
                    OutboxMessage.next_attempt_at, OutboxMessage.sent_at)
             .where(OutboxMessage.event_id == event_id)
             .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit))
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    rows = session.execute(query).all()

    def times(values: list[datetime | None]) -> pd.Series:
        return pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[us, UTC]")

    return pd.DataFrame({
        "id": pd.Series([row.id for row in rows], dtype="int64"),
        "kind": pd.Series([row.kind.value for row in rows], dtype="str"),
        "recipients": pd.Series([", ".join(str(r) for r in row.recipients) for row in rows], dtype="str"),
        "subject": pd.Series([row.subject for row in rows], dtype="str"),
        "status": pd.Series([row.status.value for row in rows], dtype="str"),
        "attempts": pd.Series([row.attempts for row in rows], dtype="int64"),
        "last_error": pd.Series([row.last_error for row in rows], dtype="str"),
        "created_at": times([row.created_at for row in rows]),
        "next_attempt_at": times([row.next_attempt_at for row in rows]),
        "sent_at": times([row.sent_at for row in rows]),
    }, columns=list(OUTBOX_COLUMNS))


@dataclass(frozen=True)
class OutboxOverview:
    """What the Outbox page shows: the counts, and the messages with one status (or all)."""

    health: OutboxHealth
    messages: pd.DataFrame


def outbox_overview(session: Session, actor: Actor, event_id: int, status: MessageStatus | None = None,
                    ) -> OutboxOverview:
    """The event's outbox health and its messages with `status`; raises PermissionDenied."""
    return OutboxOverview(outbox_health(session, actor, event_id), list_messages(session, actor, event_id, status))


def read_message(session: Session, actor: Actor, event_id: int, outbox_id: int) -> MessageView:
    """One message of the event; raises PermissionDenied or NotFound."""
    require(session, actor, Permission.ORDERS_VIEW, event_id)
    row = session.scalars(select(OutboxMessage).where(
        OutboxMessage.id == outbox_id, OutboxMessage.event_id == event_id)).one_or_none()
    if row is None:
        raise NotFound("There is no such message in this event.")
    return MessageView(
        id=row.id, message_id=row.message_id, kind=row.kind, recipients=tuple(str(r) for r in row.recipients),
        subject=row.subject, body_text=row.body_text, attachment_name=row.attachment_name, status=row.status,
        attempts=row.attempts, last_error=row.last_error, created_at=row.created_at,
        next_attempt_at=row.next_attempt_at, sent_at=row.sent_at)
