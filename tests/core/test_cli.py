"""`python -m core` as an admin or `make run` uses it: a real subprocess on a real database file."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select

from core.config import PROJECT_DIR
from core.db import make_engine, read_only
from core.demo import DEMO_SLUG
from core.events import load_public_event
from core.models import Event, utcnow


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
