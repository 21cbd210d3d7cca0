"""Settings: environment over secrets.toml over defaults, with clear errors for bad values."""

from __future__ import annotations

import pytest

from core.config import DATA_DIR, load_settings


def test_defaults_use_the_sqlite_file_under_data() -> None:
    settings = load_settings(secrets={}, environ={})
    assert settings.database_url == f"sqlite:///{DATA_DIR / 'event-orders.db'}"
    assert settings.email_check_deliverability is False


def test_environment_overrides_secrets() -> None:
    settings = load_settings(
        secrets={"DATABASE_URL": "sqlite:///from-secrets.db", "EMAIL_CHECK_DELIVERABILITY": True},
        environ={"DATABASE_URL": "postgresql+psycopg://u@127.0.0.1/db"},
    )
    assert settings.database_url == "postgresql+psycopg://u@127.0.0.1/db"
    assert settings.email_check_deliverability is True


def test_malformed_boolean_names_the_setting() -> None:
    with pytest.raises(ValueError, match="EMAIL_CHECK_DELIVERABILITY"):
        load_settings(secrets={}, environ={"EMAIL_CHECK_DELIVERABILITY": "maybe"})


def test_settings_of_the_process_follow_a_changed_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://one.example.org")
    first = load_settings()
    assert load_settings() is first  # read once while nothing changed
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://two.example.org")
    assert load_settings().public_base_url == "https://two.example.org"
    monkeypatch.setenv("TICK_SECONDS", "not a number")
    with pytest.raises(ValueError, match="TICK_SECONDS"):
        load_settings()
