"""Settings: environment over secrets.toml over defaults, with clear errors for bad values."""

from __future__ import annotations

import pytest

from core.config import DATA_DIR, load_settings, local_public_base_url, public_base_url_warning


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


def test_make_run_links_mail_to_its_own_port_unless_an_address_is_configured() -> None:
    assert local_public_base_url(load_settings(secrets={}, environ={}), 8601) == "http://127.0.0.1:8601"
    configured = load_settings(secrets={"PUBLIC_BASE_URL": "https://orders.example.org"}, environ={})
    assert local_public_base_url(configured, 8601) == "https://orders.example.org"


def test_organisers_are_warned_when_mail_links_lead_elsewhere_than_the_app() -> None:
    default = load_settings(secrets={}, environ={})
    assert public_base_url_warning(default, None, 8501) is None
    assert "serves on port 8601" in public_base_url_warning(default, None, 8601)
    # With the browser's address, that is what counts; loopback names are one machine.
    assert public_base_url_warning(default, "http://localhost:8501/dashboard", 8501) is None
    assert "you are using this app at http://127.0.0.1:8601" in public_base_url_warning(
        default, "http://127.0.0.1:8601/dashboard", 8601)
    public = load_settings(secrets={}, environ={"PUBLIC_BASE_URL": "https://orders.example.org"})
    assert public_base_url_warning(public, "https://orders.example.org/dashboard", 8502) is None  # behind a proxy
    assert public_base_url_warning(public, "https://orders.example.org:443/", 8502) is None
    assert "https://admin.example.org" in public_base_url_warning(public, "https://admin.example.org/dashboard", 8502)
    assert public_base_url_warning(public, None, 8502) is None  # configured: the operator knows
