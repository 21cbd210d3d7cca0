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
