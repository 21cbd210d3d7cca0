"""The tick: phases recorded once, sold-out events closed, vendor lists at the cutoff, purges, the outbox, and one
runner at a time across processes (threads with their own engines here, on the same database file or server)."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, func, select, text, update

import core.lifecycle
from core.config import Settings
from core.dashboard import event_dashboard
from core.db import make_engine, read_only, unit_of_work
from core.lifecycle import (
    TICK_LEASE,
    TICK_SPREAD,
    TickReport,
    claim_job,
    next_tick_after,
    release_job,
    run_scheduler,
    run_tick,
)
from core.models import (
    AuditEntry,
    Event,
    Item,
    JobLease,
    JobName,
    MessageKind,
    MessageStatus,
    OrderPersonalData,
    OutboxMessage,
    PurgeReceipt,
    User,
    Variant,
    Vendor,
    utcnow,
)
from core.users import actor_for
from tests.factories import make_shop, make_user
from tests.factories.exports import make_vendor, route
from tests.factories.orders import place, tshirts
from tests.mail_server import running_mail_server, wait_for

T0 = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
OPERATOR = "ops@example.org"
# Mail is not configured: the outbox step holds what is queued, so the tests can read every message.
SETTINGS = Settings(mail_from=f"Event Orders <{OPERATOR}>")


@dataclass(frozen=True)
class World:
    engine: Engine
    event_id: int  # opens at T0, closes a day later; a batch printer gets its t-shirts at the cutoff


@pytest.fixture
def world(engine: Engine) -> World:
    with unit_of_work(engine) as session:
        event = make_shop(session, opens_at=T0, closes_at=T0 + timedelta(days=1), ends_at=T0 + timedelta(days=3),
                          retention_days=30)
        make_user(session, "olivia", member_of=[event])
        session.scalars(select(User).where(User.username == "olivia")).one().email = "olivia@example.org"
        route(session, event, make_vendor(session, "Print Shop"), "tshirt")
        place(session, event, "a", now=T0 + timedelta(minutes=5), items=tshirts(2))
    return World(engine, event.id)


def _actions(engine: Engine, prefix: str = "") -> list[str]:
    with read_only(engine) as session:
        return list(session.scalars(select(AuditEntry.action).where(AuditEntry.action.startswith(prefix))
                                    .order_by(AuditEntry.id)))


def _event(engine: Engine, event_id: int) -> Event:
    with read_only(engine) as session:
        return session.get_one(Event, event_id)


def _messages(engine: Engine, kind: MessageKind) -> list[OutboxMessage]:
    with read_only(engine) as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                    .order_by(OutboxMessage.id)))


def _tick(world: World, now: datetime, **kwargs: object) -> TickReport:
    report = run_tick(world.engine, SETTINGS, now=now, **kwargs)  # type: ignore[arg-type]
    assert report.ran and not report.failed, report.summary
    return report


# --- phases -------------------------------------------------------------------------------------------------------


def test_opening_and_closing_are_recorded_and_audited_once_by_the_system(world: World) -> None:
    _tick(world, T0 - timedelta(minutes=1))
    assert _event(world.engine, world.event_id).recorded_phase == "not_open_yet"
    assert _actions(world.engine, "event.") == []  # not open yet is where every event starts: nothing to audit
    assert _tick(world, T0).opened == 1
    assert _tick(world, T0 + timedelta(minutes=1)).opened == 0
    closing = _tick(world, T0 + timedelta(days=1))
    assert (closing.opened, closing.closed) == (0, 1)
    _tick(world, T0 + timedelta(days=1, minutes=1))
    with read_only(world.engine) as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("event."))
                                  .order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor, e.event_id, e.details) for e in entries] == [
        ("event.opened", "system", world.event_id, {"from": "not_open_yet"}),
        ("event.closed", "system", world.event_id, {"from": "open", "reason": "schedule"})]
    assert _event(world.engine, world.event_id).recorded_phase == "closed"


def test_closing_time_moved_later_reopens_the_event_and_says_so(world: World) -> None:
    _tick(world, T0 + timedelta(days=1))
    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).closes_at = T0 + timedelta(days=2)
    assert _tick(world, T0 + timedelta(days=1, hours=1)).opened == 1
    assert _actions(world.engine, "event.") == ["event.closed", "event.opened"]


def test_archived_and_unpublished_events_are_not_announced(world: World) -> None:
    with unit_of_work(world.engine) as session:
        make_shop(session, slug="draft", published=False, closes_at=T0 + timedelta(days=1))
        make_shop(session, slug="archived", closes_at=T0 + timedelta(days=1), archived_at=T0 - timedelta(days=1))
    report = _tick(world, T0)
    assert (report.opened, report.closed) == (1, 0)  # only the world's event
    assert _actions(world.engine, "event.") == ["event.opened"]


# --- sold out -----------------------------------------------------------------------------------------------------


def _sell_out(engine: Engine, event_id: int) -> None:
    with unit_of_work(engine) as session:
        session.execute(update(Variant).where(Variant.item_id.in_(select(Item.id).where(Item.event_id == event_id)))
                        .values(stock=Variant.sold))


def test_an_event_that_closes_when_sold_out_is_closed_by_the_tick_once(world: World) -> None:
    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).close_when_sold_out = True
        keeps_selling = make_shop(session, slug="keeps-selling", opens_at=T0, closes_at=T0 + timedelta(days=1))
    _sell_out(world.engine, world.event_id)
    _sell_out(world.engine, keeps_selling.id)
    now = T0 + timedelta(hours=1)
    report = _tick(world, now)
    assert (report.sold_out, report.opened, report.closed) == (1, 1, 1)  # the other event opened
    assert _tick(world, now + timedelta(minutes=1)).sold_out == 0
    assert _event(world.engine, world.event_id).sold_out_at == now
    assert _event(world.engine, keeps_selling.id).sold_out_at is None  # it did not ask to close
    with read_only(world.engine) as session:
        closed = session.scalars(select(AuditEntry).where(AuditEntry.action == "event.closed")).one()
    assert closed.details == {"from": None, "reason": "sold_out"} and closed.event_id == world.event_id
    assert _actions(world.engine, "event.sold_out") == ["event.sold_out"]


def test_an_event_with_units_left_stays_open(world: World) -> None:
    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).close_when_sold_out = True
    assert _tick(world, T0 + timedelta(hours=1)).sold_out == 0
    assert _event(world.engine, world.event_id).sold_out_at is None


# --- vendor lists at the cutoff -----------------------------------------------------------------------------------


def test_a_batch_vendor_gets_its_list_once_when_the_cutoff_passes(world: World) -> None:
    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).vendor_cutoff_at = T0 + timedelta(days=1)
    assert _tick(world, T0 + timedelta(hours=23)).batches_sent == 0
    assert _tick(world, T0 + timedelta(days=1)).batches_sent == 1
    assert _tick(world, T0 + timedelta(days=1, minutes=1)).batches_sent == 0
    [mail] = _messages(world.engine, MessageKind.VENDOR_BATCH)
    assert mail.recipients == ["orders@print.example"]
    with read_only(world.engine) as session:
        sent = session.scalars(select(AuditEntry).where(AuditEntry.action == "vendor.batch_sent")).one()
    assert (sent.actor, sent.details["kind"], sent.details["rows"]) == ("system", "full", 1)


def test_a_vendor_without_an_address_alarms_the_organisers_once_and_gets_its_list_once_fixed(world: World) -> None:
    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).vendor_cutoff_at = T0
        session.execute(update(Vendor).values(emails=[]))
    for minute in range(3):
        assert _tick(world, T0 + timedelta(minutes=minute)).batches_refused == 1
    [alarm] = _messages(world.engine, MessageKind.ALARM)
    assert alarm.recipients == ["olivia@example.org"] and alarm.event_id == world.event_id
    assert "Print Shop has no email address" in alarm.body_text
    assert _actions(world.engine, "vendor.") == ["vendor.batch_refused"]
    with read_only(world.engine) as session:
        olivia = session.scalars(select(User).where(User.username == "olivia")).one()
        notices = [n.message for n in event_dashboard(session, actor_for(olivia), world.event_id,
                                                      now=T0 + timedelta(minutes=3)).notices]
    assert any("Print Shop has no email address" in notice for notice in notices)

    with unit_of_work(world.engine) as session:
        session.execute(update(Vendor).values(emails=["orders@print.example"]))
    assert _tick(world, T0 + timedelta(minutes=4)).batches_sent == 1
    assert len(_messages(world.engine, MessageKind.VENDOR_BATCH)) == 1
    with read_only(world.engine) as session:
        notices = [n.message for n in event_dashboard(session, actor_for(olivia), world.event_id,
                                                      now=T0 + timedelta(minutes=5)).notices]
    assert not any("vendor cutoff" in notice for notice in notices)


def test_the_alarm_goes_to_the_operator_when_no_organiser_gave_an_address(world: World) -> None:
    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).vendor_cutoff_at = T0
        session.execute(update(Vendor).values(emails=[]))
        session.execute(update(User).values(email=""))
    _tick(world, T0)
    [alarm] = _messages(world.engine, MessageKind.ALARM)
    assert alarm.recipients == [OPERATOR]


# --- purges -------------------------------------------------------------------------------------------------------


def test_an_event_past_its_retention_is_purged_once_by_the_timer(world: World) -> None:
    due = T0 + timedelta(days=3 + 30)  # ends_at + retention_days
    assert _tick(world, due - timedelta(minutes=1)).purged == 0
    assert _tick(world, due).purged == 1
    assert _tick(world, due + timedelta(minutes=1)).purged == 0
    with read_only(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(OrderPersonalData)) == 0
        [receipt] = session.scalars(select(PurgeReceipt)).all()
    assert (receipt.event_id, receipt.actor) == (world.event_id, "system")
    assert _event(world.engine, world.event_id).purged_at == due
    assert _actions(world.engine, "event.purged") == ["event.purged"]


# --- the outbox ---------------------------------------------------------------------------------------------------


def test_the_tick_sends_the_mail_that_is_due(world: World) -> None:
    with running_mail_server() as server:
        settings = Settings(smtp_host=server.host, smtp_port=server.port, smtp_security="none",
                            mail_from=f"Event Orders <{OPERATOR}>")
        skipped = run_tick(world.engine, settings, now=T0 + timedelta(hours=1), drain_mail=False)
        assert skipped.mail.sent == 0 and server.received == []
        report = run_tick(world.engine, settings, now=T0 + timedelta(hours=1), holder="cron")
        assert report.mail.sent == 1  # the order's confirmation
        assert wait_for(server, 1)[0].rcpt_tos == ("ada@example.com",)
    [confirmation] = _messages(world.engine, MessageKind.CONFIRMATION)
    assert confirmation.status == MessageStatus.SENT


# --- failures -----------------------------------------------------------------------------------------------------


def test_a_failing_step_is_logged_without_its_message_and_the_others_run(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: object) -> bool:
        raise RuntimeError("ada@example.com broke it")

    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).close_when_sold_out = True
        session.get_one(Event, world.event_id).vendor_cutoff_at = T0
    monkeypatch.setattr(core.lifecycle, "everything_sold_out", broken)
    with caplog.at_level(logging.ERROR, logger="core.lifecycle"):
        report = run_tick(world.engine, SETTINGS, now=T0)
    assert report.failed == ["sold out"]
    assert (report.opened, report.batches_sent, report.mail.held) == (1, 1, 2)  # confirmation and vendor list
    assert "RuntimeError" in caplog.text and "ada@" not in caplog.text
    assert "Failed: sold out" in report.summary
    with read_only(world.engine) as session:
        lease = session.get_one(JobLease, JobName.TICK)
    assert lease.lease_until is None and lease.last_finished_at == T0  # released all the same


# --- one runner at a time -----------------------------------------------------------------------------------------


def test_a_tick_while_another_holds_the_lease_does_nothing_until_the_lease_runs_out(world: World) -> None:
    held_until = claim_job(world.engine, JobName.TICK, "crashed", T0, TICK_LEASE)
    assert held_until == T0 + TICK_LEASE
    skipped = run_tick(world.engine, SETTINGS, now=T0 + timedelta(minutes=1), holder="me")
    assert not skipped.ran and skipped.summary == "Tick skipped: another process is running it."
    assert _actions(world.engine, "event.") == []
    assert _tick(world, T0 + TICK_LEASE, holder="me").opened == 1  # the lease ran out: taken over
    # The crashed holder coming back cannot release what is no longer its claim.
    taken = claim_job(world.engine, JobName.TICK, "next", T0 + TICK_LEASE * 2, TICK_LEASE)
    release_job(world.engine, JobName.TICK, "crashed", held_until, T0 + TICK_LEASE * 2)
    with read_only(world.engine) as session:
        lease = session.get_one(JobLease, JobName.TICK)
    assert (lease.holder, lease.lease_until) == ("next", taken)


@contextmanager
def _engines(database_url: str, count: int) -> Iterator[list[Engine]]:
    """An engine each, as separate processes have: no shared connection pool."""
    engines = [make_engine(database_url) for _ in range(count)]
    try:
        yield engines
    finally:
        for engine in engines:
            engine.dispose()


def _at_once(count: int, work: object) -> list[object]:
    """Run `work(i)` in `count` threads that start together; returns the results in order."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(10)
            results[i] = work(i)  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


@pytest.mark.parametrize("existing_row", [False, True], ids=["first-claim", "claim-after-release"])
def test_of_several_processes_claiming_at_once_exactly_one_gets_the_lease(database_url: str, engine: Engine,
                                                                          existing_row: bool) -> None:
    if existing_row:
        release_job(engine, JobName.TICK, "old", claim_job(engine, JobName.TICK, "old", T0, TICK_LEASE), T0)  # type: ignore[arg-type]
    with _engines(database_url, 4) as engines:
        claims = _at_once(4, lambda i: claim_job(engines[i], JobName.TICK, f"runner-{i}", T0, TICK_LEASE))
    assert sum(claim is not None for claim in claims) == 1
    with read_only(engine) as session:
        lease = session.get_one(JobLease, JobName.TICK)
    assert lease.holder == f"runner-{next(i for i, claim in enumerate(claims) if claim is not None)}"


@pytest.mark.parametrize("second_clock", [timedelta(0), TICK_LEASE + timedelta(seconds=1)],
                         ids=["same-instant", "lease-ran-out-so-both-run"])
def test_two_processes_ticking_at_once_do_the_work_once(database_url: str, world: World,
                                                        second_clock: timedelta) -> None:
    """At the same instant the lease lets one run; with the second's clock past the first's lease both run the
    steps side by side, and the steps' own guards keep every piece of work to one."""
    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).vendor_cutoff_at = T0
        past = make_shop(session, slug="past", closes_at=T0 - timedelta(days=40), ends_at=T0 - timedelta(days=31),
                         retention_days=30)
        place(session, past, "b", now=T0 - timedelta(days=41))
    with _engines(database_url, 2) as engines:
        reports = _at_once(2, lambda i: run_tick(engines[i], SETTINGS, now=T0 + i * second_clock,
                                                 holder=f"process-{i}"))
    assert any(report.ran for report in reports)  # type: ignore[attr-defined]
    assert not [report.failed for report in reports if report.failed]  # type: ignore[attr-defined]
    assert _actions(world.engine, "event.opened") == ["event.opened"]
    assert _actions(world.engine, "event.purged") == ["event.purged"]
    assert _actions(world.engine, "vendor.batch_sent") == ["vendor.batch_sent"]
    assert len(_messages(world.engine, MessageKind.VENDOR_BATCH)) == 1
    with read_only(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(PurgeReceipt)) == 1


def test_two_ticks_waiting_on_the_same_event_record_its_opening_once(database_url: str, world: World) -> None:
    """Both runs read the event as never recorded, then queue behind a row lock: the conditional UPDATE lets only
    the first record (and audit) the opening. On SQLite the write lock serialises the runs whole instead."""
    blocker = make_engine(database_url)
    try:
        with blocker.connect() as connection:
            transaction = connection.begin()
            connection.execute(select(Event.id).where(Event.id == world.event_id).with_for_update())
            with _engines(database_url, 2) as engines:
                clocks = [T0, T0 + TICK_LEASE + timedelta(seconds=1)]  # the second finds the first's lease run out
                threads = [threading.Thread(target=run_tick, args=(engines[i], SETTINGS),
                                            kwargs={"now": clocks[i], "holder": f"process-{i}"}) for i in range(2)]
                for waiting, thread in enumerate(threads, start=1):
                    thread.start()  # one after the other: the second must find the first's lease, not the reverse
                    _wait_for_lock_waiters(connection, waiting)
                transaction.commit()
                for thread in threads:
                    thread.join(30)
    finally:
        blocker.dispose()
    assert _actions(world.engine, "event.opened") == ["event.opened"]


def _wait_for_lock_waiters(connection: Connection, count: int) -> None:
    if connection.dialect.name != "postgresql":
        time.sleep(0.3)  # SQLite: the ticks wait for the write lock (busy_timeout); nothing to observe
        return
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND wait_event_type = 'Lock'")
    deadline = time.monotonic() + 20
    with connection.engine.connect() as observer:
        while observer.scalar(waiting) < count:
            assert time.monotonic() < deadline, "the ticks never queued behind the row lock"
            time.sleep(0.02)
            observer.rollback()


def test_a_second_run_after_a_lease_ran_out_mid_run_repeats_nothing(world: World) -> None:
    """Every step is idempotent on its own: a run that starts while a slow one is still working does no work twice."""
    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).vendor_cutoff_at = T0
        past = make_shop(session, slug="past", closes_at=T0 - timedelta(days=40), ends_at=T0 - timedelta(days=31),
                         retention_days=30)
        place(session, past, "b", now=T0 - timedelta(days=41))
    _tick(world, T0, holder="slow")
    # As if "slow" still held a lease that ran out: the newcomer finds the work done.
    again = _tick(world, T0, holder="newcomer")
    assert (again.opened, again.closed, again.batches_sent, again.purged) == (0, 0, 0, 0)
    assert len(_actions(world.engine, "event.")) == len(set(_actions(world.engine, "event.")))


# --- the scheduler thread -----------------------------------------------------------------------------------------


def test_the_scheduler_ticks_in_its_thread_until_stopped(world: World) -> None:
    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).opens_at = utcnow() - timedelta(hours=1)
    stop = threading.Event()
    settings = Settings(tick_seconds=1, mail_dispatch_seconds=0)
    thread = threading.Thread(target=run_scheduler, args=(world.engine, settings, stop), daemon=True)
    thread.start()
    try:
        for _ in range(500):
            with read_only(world.engine) as session:
                lease = session.get(JobLease, JobName.TICK)
                if lease is not None and lease.last_finished_at is not None:
                    break
            stop.wait(0.02)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert lease is not None and lease.last_finished_at is not None
    # By the real clock the event is open; the outbox was left alone (MAIL_DISPATCH_SECONDS=0).
    assert _actions(world.engine, "event.opened") == ["event.opened"]
    assert {m.status for m in _messages(world.engine, MessageKind.CONFIRMATION)} == {MessageStatus.PENDING}


def test_ticks_are_spread_around_the_interval_so_that_workers_started_together_take_turns() -> None:
    rng = random.Random(7)
    gaps = [next_tick_after(1000.0, 60, rng) - 1000.0 for _ in range(200)]
    assert all(60 * (1 - TICK_SPREAD) <= gap <= 60 * (1 + TICK_SPREAD) for gap in gaps)
    assert max(gaps) - min(gaps) > 60 * TICK_SPREAD  # not the same instant every time


def test_the_scheduler_with_everything_off_returns_at_once(world: World) -> None:
    stop = threading.Event()
    run_scheduler(world.engine, Settings(tick_seconds=0, mail_dispatch_seconds=0), stop)
    with read_only(world.engine) as session:
        assert session.get(JobLease, JobName.TICK) is None


def test_the_scheduler_drains_the_outbox_between_ticks(world: World) -> None:
    with running_mail_server() as server:
        settings = Settings(smtp_host=server.host, smtp_port=server.port, smtp_security="none",
                            mail_from=f"Event Orders <{OPERATOR}>", tick_seconds=0, mail_dispatch_seconds=1)
        stop = threading.Event()
        thread = threading.Thread(target=run_scheduler, args=(world.engine, settings, stop), daemon=True)
        thread.start()
        try:
            received = wait_for(server, 1, timeout=10)
        finally:
            stop.set()
            thread.join(10)
    assert [mail.rcpt_tos for mail in received] == [("ada@example.com",)]
    with read_only(world.engine) as session:
        assert session.get(JobLease, JobName.TICK) is None  # TICK_SECONDS=0: no tick ran
