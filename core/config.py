"""One typed Settings object, read from the environment, `.streamlit/secrets.toml` and defaults (in that order)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_DIR / "data"
SECRETS_FILE = PROJECT_DIR / ".streamlit" / "secrets.toml"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Deployment settings; each field is read from the variable of the same name in upper case."""

    database_url: str = f"sqlite:///{DATA_DIR / 'event-orders.db'}"
    # Deliverability asks DNS whether the domain takes mail: slower and needs a network, so it is opt-in.
    email_check_deliverability: bool = False


def load_settings(secrets: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings; `secrets` defaults to the project's secrets.toml and `environ` to os.environ.

    Raises ValueError naming the setting when a value has the wrong shape, so a bad deployment fails at start.
    """
    if secrets is None:
        secrets = tomllib.loads(SECRETS_FILE.read_text()) if SECRETS_FILE.exists() else {}
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for field in fields(Settings):
        name = field.name.upper()
        raw = environ.get(name, secrets.get(name))
        if raw is None:
            continue
        values[field.name] = _coerce(name, raw, field.default)
    return Settings(**values)


def _coerce(name: str, raw: object, default: object) -> object:
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError(f"Setting {name} must be true or false, not {raw!r}")
    if not isinstance(raw, str):
        raise ValueError(f"Setting {name} must be a string")
    return raw.strip()
