"""`python -m core` as an admin or `make run` uses it: a real subprocess on a real database file."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import select

from core.config import PROJECT_DIR
from core.db import make_engine, read_only, unit_of_work
from core.demo import DEMO_SLUG
from core.events import load_public_event
from core.models import AuditEntry, Event, JobLease, JobName, utcnow
from tests.factories import make_shop


def _run(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=PROJECT_DIR, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_migrate_builds_the_schema_from_nothing(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'event-orders.db'}"
    result = _run("migrate", database_url=url)
    assert result.returncode == 0, result.stderr
    engine = make_engine(url)
    with read_only(engine) as session:
        assert session.scalars(select(Event)).all() == []
    engine.dispose()


def test_demo_seeds_once_and_the_demo_shows_every_item_shape(database_url: str) -> None:
    first, second = _run("demo", database_url=database_url), _run("demo", database_url=database_url)
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert "created" in first.stdout and "already exists" in second.stdout
    engine = make_engine(database_url)
    with read_only(engine) as session:
        demo = load_public_event(session, DEMO_SLUG, utcnow())
    engine.dispose()
    shapes = {item.key: [d.name for d in item.dimensions] for item in demo.catalogue}
    assert shapes == {"tshirt": ["type", "size", "colour"], "hoodie": ["size"], "breakfast": []}
    assert {"name", "email", "phone"} <= {field.key for field in demo.form.fields}
    assert demo.has_header_image


def test_unknown_command_fails_with_usage() -> None:
    result = _run("frobnicate", database_url="sqlite://")
    assert result.returncode == 2
    assert "usage" in result.stderr


def test_users_commands_manage_accounts_from_the_shell(database_url: str) -> None:
    def users(*args: str, password: str = "") -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DATABASE_URL": database_url}
        return subprocess.run([sys.executable, "-m", "core", "users", *args], cwd=PROJECT_DIR, env=env, text=True,
                              input=f"{password}\n", capture_output=True, timeout=120, check=False)

    assert users("add", "olga", "--name", "Olga", password="a long enough password").returncode == 0
    assert users("add", "root", "--role", "admin", password="another long password").returncode == 0
    listing = users("list").stdout.splitlines()
    assert listing == ["olga\torganiser\tOlga", "root\tadmin\troot"]
    refused = users("add", "shorty", password="short")
    assert refused.returncode == 1 and "at least 12 characters" in refused.stderr
    assert users("passwd", "olga", password="a different long password").returncode == 0
    assert users("remove", "olga").returncode == 0
    assert users("list").stdout.splitlines() == ["root\tadmin\troot"]
    last_admin = users("remove", "root")
    assert last_admin.returncode == 1 and "last admin" in last_admin.stderr


def test_demo_creates_the_first_admin_once_and_prints_the_password(database_url: str) -> None:
    first, second = _run("demo", database_url=database_url), _run("demo", database_url=database_url)
    password = next(line.split(": ", 1)[1] for line in first.stdout.splitlines() if "shown only this once" in line)
    assert "shown only this once" not in second.stdout
    engine = make_engine(database_url)
    with read_only(engine) as session:
        from core.users import check_password

        assert check_password(session, "admin", password)
    engine.dispose()


def test_tick_does_the_timers_work_once_and_prints_a_summary(database_url: str) -> None:
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        make_shop(session, opens_at=utcnow() - timedelta(hours=1))
    first, second = _run("tick", database_url=database_url), _run("tick", database_url=database_url)
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert first.stdout.startswith("Tick: 1 opened, 0 closed") and first.stdout.count("\n") == 1
    assert second.stdout.startswith("Tick: 0 opened, 0 closed")
    with read_only(engine) as session:
        assert session.scalars(select(AuditEntry.action)).all() == ["event.opened"]
        lease = session.get_one(JobLease, JobName.TICK)
    engine.dispose()
    assert lease.lease_until is None and lease.last_finished_at is not None


def test_public_url_is_this_port_unless_configured(database_url: str, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    result = _run("public-url", "--port", "8601", database_url=database_url)
    assert (result.returncode, result.stdout) == (0, "http://127.0.0.1:8601\n"), result.stderr
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://orders.example.org")
    assert _run("public-url", "--port", "8601", database_url=database_url).stdout == "https://orders.example.org\n"


def test_make_run_passes_its_port_to_the_mail_links() -> None:
    """`make run PORT=8601` serves on 8601 and sets PUBLIC_BASE_URL from `public-url` for that port (dry run)."""
    recipe = subprocess.run(["make", "-n", "run", "PORT=8601"], cwd=PROJECT_DIR, capture_output=True, text=True,
                            timeout=60, check=True).stdout
    serve = recipe[recipe.index("PUBLIC_BASE_URL="):]
    assert serve.startswith('PUBLIC_BASE_URL="$(.venv/bin/python -m core public-url --port 8601)"')
    assert "streamlit run app.py" in serve and "--server.port 8601" in serve
