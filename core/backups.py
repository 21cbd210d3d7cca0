"""Backups that restore: `python -m core backup` writes a consistent copy while the app runs, `restore` brings
one back into a fresh database.

SQLite: the online backup API of sqlite3 copies the database as of one moment, while other processes keep
writing (WAL). PostgreSQL: `pg_dump --format=custom` of the same major version as the server (it reads one
snapshot), with the connection details from DATABASE_URL and the password in its environment, never on its
command line; `pg_restore` brings it back. Files are named with their UTC time (`event-orders-
20270105T020000Z.sqlite3`), written under a temporary name and renamed when complete, readable by their owner
only (0600, in a directory of mode 0700 when it is created here).

Backups hold personal data, and a purge cannot reach into them: each run deletes the backups older than
`keep_days` (by default the shortest retention of the events not purged yet, at most MAX_KEEP_DAYS), and records
itself, so that a purge receipt can say when the last backup holding the purged data is due to go.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from core.db import make_engine, read_only, unit_of_work
from core.errors import BackupError
from core.models import BackupRun, Event, utcnow

MAX_KEEP_DAYS = 30
BACKUP_NAME = re.compile(r"event-orders-(\d{8}T\d{6})Z(?:-\d+)?\.(sqlite3|pgdump)")
SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
# A dump of a large database takes a while; one that hangs for hours is broken.
PG_TOOL_TIMEOUT_SECONDS = 3 * 3600
# URL query parameters libpq also reads from the environment.
_LIBPQ_ENVIRONMENT = {"host": "PGHOST", "port": "PGPORT", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
                      "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT"}


@dataclass(frozen=True)
class BackupResult:
    path: Path
    taken_at: datetime
    keep_days: int
    pruned: tuple[Path, ...]


# --- Backing up ---------------------------------------------------------------------------------------------------


def default_keep_days(session: Session) -> int:
    """The shortest `retention_days` of the events not purged yet, at most MAX_KEEP_DAYS (and that without any)."""
    shortest = session.scalar(select(func.min(Event.retention_days)).where(Event.purged_at.is_(None)))
    return MAX_KEEP_DAYS if shortest is None else max(0, min(int(shortest), MAX_KEEP_DAYS))


def backup_database(engine: Engine, directory: Path, *, keep_days: int | None = None,
                    now: datetime | None = None) -> BackupResult:
    """Write a consistent copy of the database into `directory`, record the run, then delete the backups there
    older than `keep_days` (None: `default_keep_days`). Raises BackupError."""
    now = now or utcnow()
    if keep_days is None:
        with read_only(engine) as session:
            keep_days = default_keep_days(session)
    if keep_days < 0:
        raise BackupError("--keep-days cannot be negative.")
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700)
    sqlite = engine.dialect.name == "sqlite"
    final = _free_name(directory, now, "sqlite3" if sqlite else "pgdump")
    partial = directory / f".{final.name}.partial"  # never matches BACKUP_NAME: not pruned, not restored
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            if sqlite:
                _copy_sqlite(_sqlite_path(engine.url), partial)
            else:
                _dump_postgresql(engine, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    with unit_of_work(engine) as session:
        session.add(BackupRun(taken_at=now, keep_days=keep_days))
    return BackupResult(final, now, keep_days, prune_backups(directory, keep_days, now, keep=final))


def prune_backups(directory: Path, keep_days: int, now: datetime, *, keep: Path | None = None) -> tuple[Path, ...]:
    """Delete this tool's backups in `directory` taken more than `keep_days` before `now`; other files stay."""
    pruned = []
    for path in sorted(directory.iterdir()):
        taken = backup_time(path)
        if taken is not None and path != keep and taken < now - timedelta(days=keep_days):
            path.unlink()
            pruned.append(path)
    return tuple(pruned)


def backup_time(path: Path) -> datetime | None:
    """When the backup at `path` was taken, read from its name; None for a file that is not one of ours."""
    match = BACKUP_NAME.fullmatch(path.name)
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC) if match else None


def backups_hold_data_until(session: Session, now: datetime) -> datetime | None:
    """When the last backup taken before `now` is due to be deleted (its run's time plus its `keep_days`), if a
    backup run was recorded and that day is still ahead; else None (unknown).

    The deletion happens at the first backup run after that day, so backups must keep running.
    """
    latest = session.scalars(select(BackupRun).where(BackupRun.taken_at <= now)
                             .order_by(BackupRun.taken_at.desc(), BackupRun.id.desc()).limit(1)).first()
    if latest is None:
        return None
    until = latest.taken_at + timedelta(days=latest.keep_days)
    return until if until > now else None


def _free_name(directory: Path, now: datetime, extension: str) -> Path:
    stem = f"event-orders-{now.astimezone(UTC):%Y%m%dT%H%M%S}Z"
    path, number = directory / f"{stem}.{extension}", 0
    while path.exists():
        number += 1
        path = directory / f"{stem}-{number}.{extension}"
    return path


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up.")
    return Path(url.database)


def _copy_sqlite(source: Path, target: Path) -> None:
    """Copy `source` into the (empty) file `target` with SQLite's online backup API: one step, so the copy is the
    database as of one moment while writers go on in the WAL."""
    if not source.exists():
        raise BackupError(f"There is no database file at {source}.")
    # Read-write, though it only reads: a read-only connection could not clean up the WAL files it may create.
    reader = sqlite3.connect(source, timeout=30)
    writer = sqlite3.connect(target)
    try:
        reader.backup(writer)
        # A self-contained file: no WAL beside it.
        writer.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite could not copy the database: {exc}") from None
    finally:
        writer.close()
        reader.close()


def _dump_postgresql(engine: Engine, out: object) -> None:
    tool = find_pg_tool("pg_dump", server_major_version(engine))
    completed = subprocess.run([str(tool), "--format=custom", "--no-password"], stdout=out,
                               stderr=subprocess.PIPE, env=libpq_environment(engine.url),
                               timeout=PG_TOOL_TIMEOUT_SECONDS, check=False)
    if completed.returncode != 0:
        raise BackupError(f"pg_dump failed: {_last_lines(completed.stderr)}")


# --- Restoring ----------------------------------------------------------------------------------------------------


def restore_backup(backup: Path, target_url: str, *, force: bool = False) -> None:
    """Bring `backup` back into the database at `target_url`, which must hold no rows unless `force`.

    A SQLite backup goes into a SQLite database, a PostgreSQL dump into a PostgreSQL one (which must exist; its
    tables are replaced). Stop the app first. Raises BackupError.
    """
    kind = backup_kind(backup)
    target = make_url(target_url)
    backend = target.get_backend_name()
    if (kind, backend) not in (("sqlite", "sqlite"), ("postgresql", "postgresql")):
        raise BackupError(f"{backup.name} is a {kind} backup; it cannot be restored into a {backend} database.")
    engine = make_engine(target_url)
    try:
        if not force and holds_data(engine):
            raise BackupError("The target database is not empty. Restore into a fresh one, or pass --force to "
                              "replace what it holds.")
        if kind == "sqlite":
            engine.dispose()
            _restore_sqlite(backup, _sqlite_path(target))
        else:
            _restore_postgresql(backup, engine)
    finally:
        engine.dispose()


def backup_kind(path: Path) -> str:
    """"sqlite" or "postgresql", from the file's first bytes; raises BackupError for anything else."""
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"Cannot read {path}: {exc.strerror}.") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path.name} is neither a SQLite backup nor a pg_dump archive.")


def holds_data(engine: Engine) -> bool:
    """Whether any table but Alembic's own has a row (a migrated, empty database counts as empty)."""
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            if table != "alembic_version" and connection.execute(
                    text(f'SELECT 1 FROM "{table}" LIMIT 1')).first() is not None:
                return True
    return False


def _restore_sqlite(backup: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    reader = sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)
    writer = sqlite3.connect(target, timeout=30)
    try:
        reader.backup(writer)
        writer.execute("PRAGMA journal_mode=WAL")  # as the app keeps it (core/db.py)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite could not restore the backup: {exc}") from None
    finally:
        writer.close()
        reader.close()


def _restore_postgresql(backup: Path, engine: Engine) -> None:
    tool = find_pg_tool("pg_restore", server_major_version(engine))
    completed = subprocess.run(
        [str(tool), "--clean", "--if-exists", "--no-owner", "--no-privileges", "--exit-on-error",
         "--single-transaction", "--no-password", f"--dbname={engine.url.database}", str(backup)],
        capture_output=True, env=libpq_environment(engine.url),
        timeout=PG_TOOL_TIMEOUT_SECONDS, check=False)
    if completed.returncode != 0:
        raise BackupError(f"pg_restore failed: {_last_lines(completed.stderr)}")


# --- PostgreSQL's tools ---------------------------------------------------------------------------------------------


def server_major_version(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SHOW server_version_num")).scalar_one()) // 10_000


def find_pg_tool(name: str, major: int) -> Path:
    """`name` (pg_dump, pg_restore) of PostgreSQL `major`: Debian's versioned copy, else the one on PATH if it is
    that version. Raises BackupError: a dump by an older pg_dump may miss what a newer server has, and pg_restore
    cannot read archives of a newer pg_dump."""
    found = []
    for candidate in (Path(f"/usr/lib/postgresql/{major}/bin/{name}"), shutil.which(name)):
        if candidate is None or not Path(candidate).exists():
            continue
        version = tool_major_version(Path(candidate))
        if version == major:
            return Path(candidate)
        found.append(f"{candidate} is {version}")
    seen = f" ({'; '.join(found)})" if found else ""
    raise BackupError(f"{name} of PostgreSQL {major}, the server's version, is needed{seen}. On Debian: "
                      f"apt-get install postgresql-client-{major}.")


def tool_major_version(path: Path) -> int | None:
    """The major version `path --version` reports ("pg_dump (PostgreSQL) 15.18" is 15)."""
    try:
        output = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60,
                                check=False).stdout
    except OSError:
        return None
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", output)
    return int(match.group(1)) if match else None


def libpq_environment(url: URL) -> dict[str, str]:
    """The environment for pg_dump/pg_restore to reach `url`'s database: PGHOST, PGPORT, PGUSER, PGDATABASE,
    PGPASSWORD and the SSL settings. The password goes only here, never into a command line (which every user of
    the machine can read) or a log."""
    environment = dict(os.environ)
    for parameter, variable in _LIBPQ_ENVIRONMENT.items():
        value = url.query.get(parameter)
        if isinstance(value, str):
            environment[variable] = value
    if url.host:
        environment["PGHOST"] = url.host
    if url.port:
        environment["PGPORT"] = str(url.port)
    if url.username:
        environment["PGUSER"] = url.username
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    if url.database:
        environment["PGDATABASE"] = url.database
    return environment


def _last_lines(stderr: bytes | None, lines: int = 5) -> str:
    message = (stderr or b"").decode(errors="replace").strip().splitlines()
    return " / ".join(message[-lines:]) or "no message"
