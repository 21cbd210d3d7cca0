"""Backups that restore: taken while orders are being placed, restored into a fresh database, every order there."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from core.backups import (
    BackupError,
    backup_database,
    backup_kind,
    default_keep_days,
    find_pg_tool,
    libpq_environment,
    restore_backup,
)
from core.config import PROJECT_DIR
from core.db import alembic_config, make_engine, read_only, unit_of_work
from core.models import BackupRun, Event, MessageKind, Order, OutboxMessage, UserRole
from core.order_admin import OrderFilters, search_orders
from core.purge import purge_event
from core.users import actor_for, get_user
from tests.factories import make_event, make_shop, make_user

ACKNOWLEDGED_BEFORE_THE_BACKUP = 30
T0 = datetime(2030, 6, 1, 2, 0, tzinfo=UTC)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=PROJECT_DIR, text=True, capture_output=True,
                          env={**os.environ, "DATABASE_URL": database_url}, timeout=300, check=False)


@pytest.fixture
def fresh_database_url(engine: Engine, tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's kind to restore into: a new SQLite file, or a new PostgreSQL database."""
    if engine.dialect.name == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'event-orders.db'}"
        return
    name = f"{engine.url.database}_restored"
    admin = make_engine(_url(engine), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(_url(engine)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _wait_for_lines(path: Path, count: int, timeout: float = 120) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().split() if path.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"the writer acknowledged fewer than {count} orders in {timeout} s")


def test_a_backup_under_load_restores_every_acknowledged_order(engine: Engine, tmp_path: Path,
                                                               fresh_database_url: str) -> None:
    with unit_of_work(engine) as session:
        make_shop(session)
        make_user(session, "root", role=UserRole.ADMIN)
    url, acks, stop, backups = _url(engine), tmp_path / "acks.txt", tmp_path / "stop", tmp_path / "backups"
    writer = subprocess.Popen([sys.executable, "-m", "tests.backup_writer", url, str(acks), str(stop)],
                              cwd=PROJECT_DIR)
    try:
        acknowledged = _wait_for_lines(acks, ACKNOWLEDGED_BEFORE_THE_BACKUP)
        backup = _cli("backup", "--to", str(backups), database_url=url)
        still_writing = writer.poll() is None
        written_meanwhile = len(_wait_for_lines(acks, 0)) - len(acknowledged)
    finally:
        stop.touch()
        writer.wait(timeout=120)
    assert backup.returncode == 0, backup.stderr
    assert still_writing and written_meanwhile > 0  # orders were being placed while the backup ran
    [file] = [path for path in backups.iterdir() if not path.name.startswith(".")]
    assert backup_kind(file) == engine.dialect.name
    assert str(file) in backup.stdout and (engine.url.password or "no password") not in backup.stdout + backup.stderr

    restored = _cli("restore", str(file), "--to", fresh_database_url, database_url=url)
    assert restored.returncode == 0, restored.stderr
    target = make_engine(fresh_database_url)
    try:
        with read_only(target) as session:
            references = set(session.scalars(select(Order.reference)))
            assert set(acknowledged) <= references  # every order acknowledged before the backup started
            event_id = session.scalars(select(Event.id)).one()
            assert session.scalars(select(BackupRun)).all() == []  # the run is recorded after the copy

        command.check(alembic_config(target))  # the restored schema is exactly the models'
        with read_only(target) as session:  # and the app reads it as it reads its own
            root = actor_for(get_user(session, "root"))
            page = search_orders(session, root, event_id, OrderFilters(), page=1, page_size=50)
            assert page.total == len(references)
            found = search_orders(session, root, event_id, OrderFilters(text=acknowledged[0]), page=1, page_size=50)
            assert list(found.rows["reference"]) == [acknowledged[0]]
    finally:
        target.dispose()

    # The restored database is not fresh any more: a second restore must be forced.
    again = _cli("restore", str(file), "--to", fresh_database_url, database_url=url)
    assert again.returncode == 1 and "not empty" in again.stderr
    forced = _cli("restore", str(file), "--to", fresh_database_url, "--force", database_url=url)
    assert forced.returncode == 0, forced.stderr
    target = make_engine(fresh_database_url)
    with read_only(target) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == len(references)
    target.dispose()


def test_backups_are_private_and_those_past_keep_days_are_deleted(engine: Engine, tmp_path: Path) -> None:
    with unit_of_work(engine) as session:
        make_shop(session)
    directory = tmp_path / "backups"
    first = backup_database(engine, directory, keep_days=7, now=T0 - timedelta(days=8))
    second = backup_database(engine, directory, keep_days=7, now=T0 - timedelta(days=2))
    unrelated = directory / "notes.txt"
    unrelated.write_text("not a backup")
    third = backup_database(engine, directory, keep_days=7, now=T0)
    assert third.pruned == (first.path,)
    assert sorted(directory.iterdir()) == sorted([second.path, third.path, unrelated])
    assert third.path.name == f"event-orders-20300601T020000Z.{first.path.suffix[1:]}"
    assert stat.S_IMODE(third.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    with read_only(engine) as session:
        assert [run.keep_days for run in session.scalars(select(BackupRun))] == [7, 7, 7]


def test_backups_are_kept_as_long_as_the_shortest_retention_and_never_past_30_days(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        assert default_keep_days(session) == 30
        make_event(session, slug="long", retention_days=90)
        assert default_keep_days(session) == 30
        make_event(session, slug="short", retention_days=10)
        purged = make_event(session, slug="gone", retention_days=3)
        purged.purged_at = T0  # a purged event has nothing left to keep
        session.flush()
        assert default_keep_days(session) == 10


def test_a_purge_receipt_says_until_when_backups_hold_the_data(engine: Engine, tmp_path: Path) -> None:
    with unit_of_work(engine) as session:
        before = make_shop(session, slug="before-any-backup").id
        after = make_shop(session, slug="after-a-backup").id
    with unit_of_work(engine) as session:
        unknown = purge_event(session, None, before, now=T0, notify_fallback=["ops@example.org"])
    backup_database(engine, tmp_path / "backups", keep_days=14, now=T0 + timedelta(days=1))
    with unit_of_work(engine) as session:
        known = purge_event(session, None, after, now=T0 + timedelta(days=2), notify_fallback=["ops@example.org"])
    assert unknown.backups_until is None and "if any" in unknown.backup_note
    assert known.backups_until == T0 + timedelta(days=15)
    assert "due for deletion on 2030-06-16" in known.backup_note
    with read_only(engine) as session:
        mails = session.scalars(select(OutboxMessage.body_text).where(
            OutboxMessage.kind == MessageKind.PURGE_RECEIPT).order_by(OutboxMessage.id)).all()
    assert unknown.backup_note in mails[0] and known.backup_note in mails[1]


def test_the_database_password_goes_to_pg_dump_only_in_its_environment() -> None:
    url = make_url("postgresql+psycopg://orders:s3cret-pw@db.example.org:5433/event_orders?sslmode=require")
    environment = libpq_environment(url)
    assert (environment["PGPASSWORD"], environment["PGUSER"], environment["PGHOST"], environment["PGPORT"],
            environment["PGDATABASE"], environment["PGSSLMODE"]) == (
        "s3cret-pw", "orders", "db.example.org", "5433", "event_orders", "require")


def test_a_pg_dump_of_another_major_version_than_the_server_is_refused() -> None:
    with pytest.raises(BackupError, match="of PostgreSQL 99, the server's version, is needed"):
        find_pg_tool("pg_dump", 99)


def test_restore_refuses_a_file_that_is_no_backup_and_a_backup_of_the_other_kind(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"hello")
    with pytest.raises(BackupError, match="neither"):
        restore_backup(junk, f"sqlite:///{tmp_path / 'x.db'}")
    dump = tmp_path / "x.pgdump"
    dump.write_bytes(b"PGDMP\x01\x0e")
    with pytest.raises(BackupError, match="cannot be restored into a sqlite database"):
        restore_backup(dump, f"sqlite:///{tmp_path / 'x.db'}")
