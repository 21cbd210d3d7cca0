"""The tick: the periodic job that moves events through their lifecycle and does the work that falls due.

`python -m core tick` (cron, a systemd timer) and the app's background thread run the same `run_tick`. It claims
the "tick" lease row with one conditional UPDATE (or the first INSERT), so two processes on one database never
run it at once. Each step is also safe on its own should a lease run out mid-run and another process start:
phase changes and sold-out closures are conditional UPDATEs, `send_batch` locks its vendor and finds an earlier
list, and a purge finds the event already purged.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, exists, or_, select, update
from sqlalchemy.exc import IntegrityError

from core import audit, purge
from core.config import Settings
from core.db import read_only, unit_of_work
from core.errors import DomainError
from core.event_admin import organiser_addresses
from core.events import EventPhase, event_phase
from core.models import AuditEntry, Event, JobLease, JobName, MessageKind, utcnow
from core.outbox import DispatchReport, drain_outbox, enqueue_message
from core.stock import everything_sold_out
from core.vendor_batches import BatchKind, DueBatch, batches_after_cutoff, due_batches, send_batch

# Longer than a tick takes; should a tick die, the next one after this time takes over.
TICK_LEASE = timedelta(minutes=10)
# Audited once per (event, vendor) when the list could not be sent at the cutoff: the organisers' alarm is
# raised with it, so a vendor still without an address does not alarm again on every tick.
BATCH_REFUSED = "vendor.batch_refused"

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    """What one tick did; `ran` is False when another process held the lease and this one did nothing."""

    ran: bool = False
    opened: int = 0
    closed: int = 0
    sold_out: int = 0
    batches_sent: int = 0
    batches_refused: int = 0
    purged: int = 0
    mail: DispatchReport = field(default_factory=DispatchReport)
    failed: list[str] = field(default_factory=list)  # the steps (or items) that raised; details are in the log

    @property
    def summary(self) -> str:
        if not self.ran:
            return "Tick skipped: another process is running it."
        text = (f"Tick: {self.opened} opened, {self.closed} closed, {self.sold_out} sold out, "
                f"{self.batches_sent} vendor lists sent, {self.batches_refused} refused, {self.purged} purged; "
                f"mail {self.mail.sent} sent, {self.mail.retrying} to retry, {self.mail.failed} failed, "
                f"{self.mail.held} held.")
        return f"{text} Failed: {', '.join(self.failed)} (see the log)." if self.failed else text


def default_holder() -> str:
    """Who claims a lease: host, process and thread, so that every runner is told apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:100]


def claim_job(engine: Engine, name: JobName, holder: str, now: datetime, lease: timedelta) -> datetime | None:
    """Claim the job's lease until `now + lease` unless another holder's lease is still running.

    Returns the lease's end, which with `holder` identifies this claim for `release_job`, or None when the job
    is taken. One conditional UPDATE decides (PostgreSQL re-checks its WHERE after waiting for a concurrent
    claim's row lock; SQLite writers are serial); the very first claim INSERTs, and of two first claims the
    second fails on the primary key.
    """
    until = now + lease
    with unit_of_work(engine) as session:
        claimed = session.execute(
            update(JobLease).where(JobLease.name == name,
                                   or_(JobLease.lease_until.is_(None), JobLease.lease_until <= now))
            .values(holder=holder, lease_until=until, last_started_at=now)
        ).rowcount
        if claimed:
            return until
        if session.get(JobLease, name) is not None:
            return None
        try:
            with session.begin_nested():
                session.add(JobLease(name=name, holder=holder, lease_until=until, last_started_at=now))
        except IntegrityError:
            return None
    return until


def release_job(engine: Engine, name: JobName, holder: str, until: datetime, finished_at: datetime) -> None:
    """Give the lease back, unless it ran out and another holder claimed it meanwhile."""
    with unit_of_work(engine) as session:
        session.execute(update(JobLease).where(JobLease.name == name, JobLease.holder == holder,
                                               JobLease.lease_until == until)
                        .values(lease_until=None, last_finished_at=finished_at))


def run_tick(engine: Engine, settings: Settings, *, now: datetime | None = None, holder: str | None = None,
             drain_mail: bool = True) -> TickReport:
    """Run every lifecycle step once, unless another process holds the tick's lease (then `ran` is False).

    Each step runs in its own unit of work, each vendor list and each purge in one of its own; one that raises
    is logged (its type only: messages can carry personal data) and the rest go on. `now` fixes the clock.
    `drain_mail` False leaves the outbox to its own dispatcher (the app with MAIL_DISPATCH_SECONDS=0 sends none).
    """
    clock_fixed = now is not None
    now = now or utcnow()
    holder = holder or default_holder()
    report = TickReport()
    until = claim_job(engine, JobName.TICK, holder, now, TICK_LEASE)
    if until is None:
        return report
    report.ran = True
    steps: list[tuple[str, Callable[[], None]]] = [
        # Sold out first, so that the phase step records the closing it causes in the same tick.
        ("sold out", lambda: _close_sold_out(engine, now, report)),
        ("phases", lambda: _record_phases(engine, now, report)),
        ("vendor lists", lambda: _send_due_batches(engine, settings, now, report)),
        ("purges", lambda: _purge_due(engine, settings, now, report)),
    ]
    if drain_mail:
        steps.append(("outbox", lambda: _drain(engine, settings, now if clock_fixed else None, report)))
    try:
        for name, step in steps:
            _guarded(report, name, step)
    finally:
        release_job(engine, JobName.TICK, holder, until, now if clock_fixed else utcnow())
    return report


TICK_SPREAD = 0.1  # each interval between ticks is TICK_SECONDS give or take this share of it


def next_tick_after(started: float, every: float, rng: random.Random | None = None) -> float:
    """When the tick after one started at `started` is due: `every` seconds later, give or take TICK_SPREAD.

    Workers started together would otherwise keep trying for the lease in the same instant, the same one winning
    every time; the spread lets their turns drift apart, as systemd's RandomizedDelaySec does for timers.
    """
    return started + every * (rng or random).uniform(1 - TICK_SPREAD, 1 + TICK_SPREAD)


def run_scheduler(engine: Engine, settings: Settings, stop: threading.Event) -> None:
    """Until `stop` is set: the tick about every TICK_SECONDS (`next_tick_after`), and the outbox every
    MAIL_DISPATCH_SECONDS in between.

    Either set to 0 is off; with both off this returns at once. The app runs this in one background thread.
    """
    tick_every, mail_every = settings.tick_seconds, settings.mail_dispatch_seconds
    next_tick = next_mail = time.monotonic()
    while not stop.is_set() and (tick_every > 0 or mail_every > 0):
        started = time.monotonic()
        if tick_every > 0 and started >= next_tick:
            _logged("tick", lambda: run_tick(engine, settings, drain_mail=mail_every > 0))
            next_tick, next_mail = next_tick_after(started, tick_every), started + mail_every  # outbox drained
        elif mail_every > 0 and started >= next_mail:
            _logged("mail dispatch", lambda: drain_outbox(engine, settings))
            next_mail = started + mail_every
        due = min(moment for moment, every in ((next_tick, tick_every), (next_mail, mail_every)) if every > 0)
        stop.wait(max(due - time.monotonic(), 0))


# --- the steps ---------------------------------------------------------------------------------------------------


def _close_sold_out(engine: Engine, now: datetime, report: TickReport) -> None:
    """Close open events that asked to close when sold out and have nothing left (sets `sold_out_at`)."""
    with unit_of_work(engine) as session:
        candidates = session.scalars(select(Event).where(
            Event.close_when_sold_out, Event.sold_out_at.is_(None), Event.archived_at.is_(None),
            Event.purged_at.is_(None)).order_by(Event.id)).all()
        for event in candidates:
            if event_phase(event, now) != EventPhase.OPEN or not everything_sold_out(session, event):
                continue
            closed = session.execute(update(Event).where(Event.id == event.id, Event.sold_out_at.is_(None))
                                     .values(sold_out_at=now), execution_options={"synchronize_session": False})
            if closed.rowcount:
                audit.record(session, None, "event.sold_out", event=event.id, subject=f"event:{event.slug}")
                report.sold_out += 1


def _record_phases(engine: Engine, now: datetime, report: TickReport) -> None:
    """Record each event's phase when it changed since the last tick; opening and closing are audited once."""
    with unit_of_work(engine) as session:
        events = session.scalars(select(Event).where(Event.archived_at.is_(None), Event.purged_at.is_(None))
                                 .order_by(Event.id)).all()
        for event in events:
            phase, previous = event_phase(event, now), event.recorded_phase
            if phase.value == previous:
                continue
            unchanged = Event.recorded_phase.is_(None) if previous is None else Event.recorded_phase == previous
            # Conditional, so that of two ticks that both saw the old phase only one records (and audits) it.
            recorded = session.execute(update(Event).where(Event.id == event.id, unchanged)
                                       .values(recorded_phase=phase.value),
                                       execution_options={"synchronize_session": False})
            if not recorded.rowcount or phase == EventPhase.NOT_OPEN_YET:
                continue  # back to "not open yet" is an unpublish or a new opening time, audited where made
            details: dict[str, object] = {"from": previous}
            if phase == EventPhase.OPEN:
                report.opened += 1
            else:
                report.closed += 1
                sold_out = event.sold_out_at is not None and (event.closes_at is None or now < event.closes_at)
                details["reason"] = "sold_out" if sold_out else "schedule"
            audit.record(session, None, "event.opened" if phase == EventPhase.OPEN else "event.closed",
                         event=event.id, subject=f"event:{event.slug}", details=details)


def _send_due_batches(engine: Engine, settings: Settings, now: datetime, report: TickReport) -> None:
    """Queue their list for batch vendors whose event passed its cutoff, then to those sent a list before what
    changed since (nothing when nothing did); a refusal alarms the organisers once."""
    with read_only(engine) as session:
        due = due_batches(session, now)
        # Read before the first lists go out: a vendor sent its full list in this tick has no changes yet.
        due += [batch for batch in batches_after_cutoff(session, now) if batch not in due]
    for batch in due:
        def send(batch: DueBatch = batch) -> None:
            try:
                with unit_of_work(engine) as session:
                    result = send_batch(session, None, batch.event_id, batch.vendor_id, now)
            except DomainError as exc:
                report.batches_refused += 1
                _alarm_refused_batch(engine, settings, batch, str(exc))
                return
            if result.kind != BatchKind.NO_CHANGES:  # nothing changed, or another tick sent it first
                report.batches_sent += 1
        _guarded(report, f"vendor list {batch.event_id}/{batch.vendor_id}", send)


def _purge_due(engine: Engine, settings: Settings, now: datetime, report: TickReport) -> None:
    """Purge each event whose retention ended, each in its own commit, then scrub the database file."""
    with read_only(engine) as session:
        due = purge.events_due_for_purge(session, now)
    for event_id in due:
        def purge_one(event_id: int = event_id) -> None:
            with unit_of_work(engine) as session:
                receipt = purge.purge_event(session, None, event_id, now=now,
                                            notify_fallback=purge.receipt_fallback(settings))
            if receipt.created:  # not created: another tick purged it first
                report.purged += 1
        _guarded(report, f"purge {event_id}", purge_one)
    if report.purged:
        # After the commits: the freed pages are overwritten only once the deleting transaction is done.
        _guarded(report, "scrub", lambda: purge.scrub_storage(engine))


def _drain(engine: Engine, settings: Settings, now: datetime | None, report: TickReport) -> None:
    report.mail = drain_outbox(engine, settings, now=now)


def _guarded(report: TickReport, name: str, work: Callable[[], None]) -> None:
    """Run one piece of the tick; what it raises is logged by type and noted, and the tick goes on."""
    try:
        work()
    except Exception as exc:  # noqa: BLE001 - one failing step must not stop the others; the next tick retries
        log.error("tick: %s failed: %s", name, type(exc).__name__)
        report.failed.append(name)


def _logged(name: str, work: Callable[[], object]) -> None:
    try:
        work()
    except Exception as exc:  # noqa: BLE001 - the scheduler thread must outlive a bad run; the next one retries
        # The type only: error texts can carry addresses, and logs carry no personal data.
        log.error("%s failed: %s", name, type(exc).__name__)


def _alarm_refused_batch(engine: Engine, settings: Settings, batch: DueBatch, problem: str) -> None:
    """Tell the event's organisers (or the operator) that a vendor's list was not sent, once per vendor and event.

    `problem` is send_batch's message, safe to show an organiser (it names the vendor, never an attendee); the
    audit entry keeps it for the dashboard.
    """
    subject = f"vendor:{batch.vendor_id}"
    with unit_of_work(engine) as session:
        # Locks the event, so that of two ticks refused at once only one alarms.
        event = session.scalars(select(Event).where(Event.id == batch.event_id).with_for_update()).one()
        if session.scalar(select(exists().where(AuditEntry.action == BATCH_REFUSED, AuditEntry.event_id == event.id,
                                                AuditEntry.subject == subject))):
            return
        audit.record(session, None, BATCH_REFUSED, event=event, subject=subject,
                     details={"vendor_id": batch.vendor_id, "problem": problem[:300]})
        organisers = organiser_addresses(session, event.id)
        # Like mail alarms and purge receipts: the organisers who gave an address, else the operator (MAIL_FROM).
        recipients = list(organisers) or purge.receipt_fallback(settings)
        if recipients:
            title = " ".join(event.title.split())
            body = "\n".join([
                f"The vendor cutoff of {title} has passed, but a vendor's list could not be sent:",
                "",
                problem,
                "",
                "Fix it on the Vendors page; the timer sends the list on its next run. This alarm is not repeated.",
            ])
            enqueue_message(session, kind=MessageKind.ALARM, recipients=recipients,
                            subject=f"Vendor list not sent: {title}"[:300], body_text=body, event_id=event.id)
