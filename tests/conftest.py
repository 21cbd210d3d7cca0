"""Test databases: a fresh migrated SQLite file per test, or the PostgreSQL database in TEST_DATABASE_URL.

In CI (CI=true) a skipped test counts as a failure: everything a test needs must be installed there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from core.db import make_engine, migrate

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
IN_CI = os.environ.get("CI") == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"Skipped in CI, which must provide everything tests need: {reason}"


def pytest_report_header() -> str:
    return f"database: {_redacted(TEST_DATABASE_URL) if TEST_DATABASE_URL else 'a fresh SQLite file per test'}"


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt's production cost makes every created user take a quarter second; the tests need no such cost."""
    import core.users

    monkeypatch.setattr(core.users, "BCRYPT_ROUNDS", 4)


@pytest.fixture(scope="session")
def _migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database to start every test from: a template SQLite file, or the emptied PostgreSQL one."""
    if TEST_DATABASE_URL:
        engine = make_engine(TEST_DATABASE_URL)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        migrate(engine)
        engine.dispose()
        yield TEST_DATABASE_URL
        return
    template = tmp_path_factory.mktemp("template") / "event-orders.db"
    engine = make_engine(f"sqlite:///{template}")
    migrate(engine)
    engine.dispose()
    yield str(template)


@pytest.fixture
def database_url(_migrated_database: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a migrated, empty database for this test alone."""
    if TEST_DATABASE_URL:
        yield TEST_DATABASE_URL
        _empty_postgresql(TEST_DATABASE_URL)
        return
    path = tmp_path / "event-orders.db"
    shutil.copyfile(_migrated_database, path)
    yield f"sqlite:///{path}"


def _empty_postgresql(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join('"' + name + '"' for name in inspect(engine).get_table_names() if name != "alembic_version")
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()
