"""Engines for SQLite and PostgreSQL, units of work (one at a time, or committed in groups), and Alembic
migrations applied at start."""

from __future__ import annotations

import copy
import fcntl
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from core.config import PROJECT_DIR

MIGRATIONS_DIR = PROJECT_DIR / "migrations"
# How long a SQLite writer waits for another writer before giving up; requests are short, so this is generous.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# FULL, not NORMAL: in WAL mode NORMAL never corrupts the file, but a power cut or OS crash may roll back the last
# commits, and an order whose reference the attendee was shown (or whose confirmation the outbox already sent)
# must not vanish. FULL syncs the WAL at every commit: ~0.3 ms per write transaction on this project's test
# machine, a few percent of placing an order (bench/README.md, "Placing orders").
SQLITE_SYNCHRONOUS = "FULL"
_READ_ONLY = "event_orders_read_only"
_HOLDS_WRITER = "event_orders_holds_writer_lock"
_WRITER_FILE = "event_orders_writer_file"  # the connection's own descriptor of the writers' lock file
_HOLDS_WRITER_FILE = "event_orders_holds_writer_file_lock"
_WRITERS: weakref.WeakKeyDictionary[Pool, threading.Lock] = weakref.WeakKeyDictionary()
_GROUPS: weakref.WeakKeyDictionary[Pool, _Group] = weakref.WeakKeyDictionary()  # group_commit's, per SQLite file
# How often a writer looks whether another process's writer let go of the database (writer_file_lock).
WRITER_FILE_LOCK_POLL_SECONDS = 0.0005
logger = logging.getLogger(__name__)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for `url`; SQLite gets WAL, busy_timeout, foreign keys and BEGIN IMMEDIATE writes."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    on_file = bool(parsed.database) and parsed.database != ":memory:"
    if on_file:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    # By pool: engines made by .execution_options() share them; dispose() makes a new pool, which keeps them. An
    # in-memory database gets no group: it is one database per thread, and a group runs in one thread.
    writer, group = threading.Lock(), _Group() if on_file else None
    _WRITERS[engine.pool] = writer
    if group is not None:
        _GROUPS[engine.pool] = group

    def keep_for_the_new_pool(disposed: Engine) -> None:
        _WRITERS[disposed.pool] = writer
        if group is not None:
            _GROUPS[disposed.pool] = group

    def connected(dbapi_connection: Any, record: Any) -> None:
        _configure_sqlite_connection(dbapi_connection, record)
        if on_file:
            _open_writer_file(record.info, writer_file_lock(parsed.database))

    event.listen(engine, "engine_disposed", keep_for_the_new_pool)
    event.listen(engine, "connect", connected)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    # Let go once COMMIT or ROLLBACK has run, not when SQLAlchemy announces it (its "commit" event comes before):
    # a writer let in during the COMMIT's WAL sync would only meet SQLite's lock and its polling busy handler.
    engine.dialect.do_commit = _letting_go_after(engine.dialect.do_commit)  # type: ignore[method-assign]
    engine.dialect.do_rollback = _letting_go_after(engine.dialect.do_rollback)  # type: ignore[method-assign]
    # A connection invalidated mid-transaction, or handed back to the pool without either, lets go too.
    event.listen(engine.pool, "invalidate", lambda _dbapi, record, _exception: _let_go(record.info))
    event.listen(engine.pool, "checkin", lambda _dbapi, record: _let_go(record.info) if record is not None else None)
    event.listen(engine.pool, "close", lambda _dbapi, record: _close_writer_file(record.info))
    return engine


def writer_lock(engine: Engine) -> threading.Lock | None:
    """The lock this process's write transactions on the SQLite `engine` queue on (held from BEGIN to their
    commit or rollback); None for other databases."""
    return _WRITERS.get(engine.pool)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy's "begin" event: pysqlite would otherwise start deferred
    # transactions on its own, and a deferred read-then-write transaction fails with "database is locked".
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    # Deleted and overwritten rows are zeroed on their pages, so a purge leaves no bytes behind (core/purge.py).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _begin_sqlite_transaction(connection: Any) -> None:
    # Writers take the write lock up front so they queue on busy_timeout instead of failing mid-transaction;
    # readers stay deferred so they never wait for a writer (WAL lets them read the last commit).
    read_only = connection.get_execution_options().get(_READ_ONLY, False)
    writer = _WRITERS.get(connection.engine.pool)
    if not read_only and writer is not None and writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
        # Writers of this process queue on a lock of its own first. SQLite's busy handler polls, sleeping up to
        # 100 ms between tries, so with many sessions submitting at once the file's lock sat free between one
        # writer's commit and the next one's wake-up; a waiter here starts the moment the lock is let go. Taken
        # at BEGIN, as SQLite's own lock is, and let go once COMMIT or ROLLBACK has run. Other processes meet at
        # the writers' lock file, then at SQLite's lock. After the busy timeout it goes on without this lock (and
        # SQLite decides).
        connection.info[_HOLDS_WRITER] = writer
    try:
        if not read_only and writer is not None:
            _take_writer_file_lock(connection.info)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
    except BaseException:
        if not connection.invalidated:  # then the pool's "invalidate" event let go (and .info would reconnect)
            _let_go(connection.info)
        raise


def _letting_go_after(end: Callable[[Any], None]) -> Callable[[Any], None]:
    def ended(dbapi_connection: Any) -> None:
        try:
            end(dbapi_connection)
        finally:
            _let_go_of(dbapi_connection)
    return ended


def _let_go_of(dbapi_connection: Any) -> None:
    try:
        info = dbapi_connection.info  # the pool's proxy: its record's info
    except (AttributeError, NotImplementedError):  # the dialect's own first connection holds nothing
        return
    _let_go(info)


def _let_go(info: dict[Any, Any]) -> None:
    descriptor = info.pop(_HOLDS_WRITER_FILE, None)
    if descriptor is not None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
    writer = info.pop(_HOLDS_WRITER, None)
    if writer is not None:
        writer.release()


def writer_file_lock(database: str) -> Path:
    """The file that writers of every process on the SQLite file `database` lock, BEGIN to commit or rollback."""
    return Path(f"{database}-writer-lock")


def _open_writer_file(info: dict[Any, Any], path: Path) -> None:
    # One descriptor per connection: flock belongs to the open file, so connections (of one process, or a fork's)
    # that shared one would all "hold" it at once. Read-only is enough to lock it, so the file may belong to
    # whoever made it first; where it cannot be opened, writers do without it (SQLite's lock still decides).
    try:
        info[_WRITER_FILE] = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError as exc:
        logger.warning("writers go without their lock file %s: %s", path, exc.strerror)


def _close_writer_file(info: dict[Any, Any]) -> None:
    descriptor = info.pop(_WRITER_FILE, None)
    if descriptor is not None:
        os.close(descriptor)


def _take_writer_file_lock(info: dict[Any, Any]) -> None:
    # SQLite's own busy handler polls, sleeping up to 100 ms between tries: with two worker processes, a writer
    # of one waited up to 100 ms after the other let go, and while it slept the other took the lock again and
    # again (the writers of one process hand it on at once through `writer`), so the processes wrote in turns of
    # hundreds of milliseconds (bench/README.md, "The rush"). This lock, taken just before SQLite's, is looked
    # at every half millisecond. Like `writer`, it is given up after the busy timeout, and SQLite decides.
    descriptor = info.get(_WRITER_FILE)
    if descriptor is None:
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() > deadline:
                return
            time.sleep(WRITER_FILE_LOCK_POLL_SECONDS)
        else:
            info[_HOLDS_WRITER_FILE] = descriptor
            return


@contextmanager
def bookkeeping_durability(connection: Connection) -> Iterator[Connection]:
    """Commits on `connection` skip the WAL sync (SQLite synchronous=NORMAL) until the block ends.

    Only for records whose loss on a power cut is harmless by design, such as marking mail sent: a lost mark
    makes the outbox send that one message again, with its stable Message-ID, which it must survive anyway
    (a dispatcher killed mid-send does the same). Orders never go through here. Call before the connection
    begins a transaction (SQLite refuses to change the safety level inside one).
    """
    if connection.dialect.name != "sqlite":
        yield connection
        return
    raw = connection.connection.driver_connection
    raw.execute("PRAGMA synchronous=NORMAL")
    try:
        yield connection
    finally:
        try:
            raw.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        except sqlite3.Error:
            connection.invalidate()  # never hand a relaxed connection back to the pool


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One write transaction: commits when the block ends, rolls back if it raises."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


Result = TypeVar("Result")


@dataclass(eq=False)
class _Work(Generic[Result]):
    run: Callable[[Session], Result]
    result: Result | None = None
    error: BaseException | None = None
    shared_error: bool = False  # the group's failure, not this work's own
    done: bool = False


class _Group:
    """The work of this process's threads waiting for the next group commit on one SQLite database."""

    def __init__(self) -> None:
        self.leader = threading.Lock()  # held by the thread that runs and commits a group
        self.guard = threading.Lock()
        self.waiting: list[_Work[Any]] = []


def group_commit(engine: Engine, run: Callable[[Session], Result]) -> Result:
    """Run `run(session)` in a write transaction and return its result once that has committed, or raise its
    error; on SQLite the transaction may be shared with other threads' work queued at the same moment.

    SQLite takes one writer at a time. When many attendees submit at once, the writers queue, and each one's
    BEGIN, COMMIT (with its WAL sync) and hand-over of the lock between processes came on top of its own
    statements. Here the first thread to arrive runs every work then waiting, each in a savepoint of its own,
    and commits them together; threads that arrive meanwhile wait for the next group (group commit, as
    databases do for their logs). A work that raises rolls back its own savepoint only. If the commit fails,
    every work of the group gets that error: nothing of it was stored. `run` must not start a unit of work of
    its own or call this again (the group's lock is not reentrant), and must not keep the session; nor may the
    caller hold a write transaction. On PostgreSQL, which takes several writers at once, and on SQLite engines
    not made by `make_engine` for a file, it is simply `run` in a `unit_of_work` of its own.
    """
    group = _GROUPS.get(engine.pool)
    if group is None:
        with unit_of_work(engine) as session:
            return run(session)
    work: _Work[Result] = _Work(run)
    with group.guard:
        group.waiting.append(work)
    while not work.done:
        with group.leader:
            if not work.done:  # else the group that just committed held it
                with group.guard:
                    works, group.waiting = group.waiting, []
                _commit_group(engine, works)
    if work.error is None:
        return work.result  # type: ignore[return-value]
    if work.shared_error:  # raised in every thread of the group: each raises a copy, so tracebacks stay apart
        try:
            own = copy.copy(work.error)
        except Exception:  # noqa: BLE001 - an error that cannot be copied is raised as it is
            raise work.error from None
        raise own from work.error
    raise work.error


def _commit_group(engine: Engine, works: list[_Work[Any]]) -> None:
    try:
        with unit_of_work(engine) as session:
            for work in works:
                try:
                    with session.begin_nested():
                        work.result = work.run(session)
                except Exception as exc:  # noqa: BLE001 - this work's own error, raised in its own thread
                    work.error = exc
    except BaseException as exc:
        # The transaction failed (or was interrupted): nothing of the group is stored, so no work has a result.
        for work in works:
            if work.error is None:
                work.result, work.error, work.shared_error = None, exc, True
        if not isinstance(exc, Exception):
            raise  # e.g. KeyboardInterrupt, in the thread it reached, after telling the group
    finally:
        for work in works:
            work.done = True


@contextmanager
def read_only(engine: Engine) -> Iterator[Session]:
    """A transaction for reading; never takes SQLite's write lock and is always rolled back."""
    # Closing the session rolls back whatever it began.
    with Session(engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False) as session:
        yield session


def transaction_connection(session: Session) -> Connection:
    """The connection of `session`'s transaction, for running prebuilt Core statements on a hot path.

    Flushes pending ORM changes first, as `Session.execute` does before each statement (unless in
    `no_autoflush`), so the statements see them. Per statement, `Session.execute` costs about 15-20 µs more in
    the order path (bind lookup, ORM execution options and events; bench/bench_place_order_floor.py), none of
    which a Core statement on a table needs.
    """
    if session.autoflush:
        session.flush()
    return session.connection()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema up to the newest migration; safe to call on every start."""
    command.upgrade(alembic_config(engine), "head")
