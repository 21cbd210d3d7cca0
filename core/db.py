"""Engines for SQLite and PostgreSQL, units of work, and Alembic migrations applied at start."""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
_WRITERS: weakref.WeakKeyDictionary[Pool, threading.Lock] = weakref.WeakKeyDictionary()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for `url`; SQLite gets WAL, busy_timeout, foreign keys and BEGIN IMMEDIATE writes."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    # By pool: engines made by .execution_options() share it; dispose() makes a new pool, which keeps the lock.
    _WRITERS[engine.pool] = writer = threading.Lock()
    event.listen(engine, "engine_disposed", lambda disposed: _WRITERS.__setitem__(disposed.pool, writer))
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    for ended in ("commit", "rollback"):
        event.listen(engine, ended, _release_writer)
    # A connection invalidated mid-transaction, or handed back to the pool without either, lets go too.
    event.listen(engine.pool, "invalidate", lambda _dbapi, record, _exception: _let_go(record.info))
    event.listen(engine.pool, "checkin", lambda _dbapi, record: _let_go(record.info) if record is not None else None)
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
        # at BEGIN, as SQLite's own lock is, and let go at commit or rollback. Other processes still meet at
        # SQLite's lock. After the busy timeout it goes on without this lock (and SQLite decides).
        connection.info[_HOLDS_WRITER] = writer
    try:
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
    except BaseException:
        _release_writer(connection)
        raise


def _release_writer(connection: Any) -> None:
    if not connection.invalidated:  # then the pool's "invalidate" event let go (and .info would reconnect)
        _let_go(connection.info)


def _let_go(info: dict[Any, Any]) -> None:
    writer = info.pop(_HOLDS_WRITER, None)
    if writer is not None:
        writer.release()


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
