"""One typed Settings object, read from the environment, `.streamlit/secrets.toml` and defaults (in that order)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from core.proxies import parse_trusted_proxies

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_DIR / "data"
SECRETS_FILE = PROJECT_DIR / ".streamlit" / "secrets.toml"

DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:8501"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Deployment settings; each field is read from the variable of the same name in upper case."""

    database_url: str = f"sqlite:///{DATA_DIR / 'event-orders.db'}"
    # Deliverability asks DNS whether the domain takes mail: slower and needs a network, so it is opt-in.
    email_check_deliverability: bool = False
    # Signs the organisers' login cookie: at least 32 random characters, from secrets or the environment.
    cookie_key: str = ""
    # Keys the HMAC under which redemption codes are stored: at least 32 random characters. Unset, it is derived
    # from COOKIE_KEY; either way, changing it makes every code already handed out unknown (see README, Codes).
    code_key: str = ""
    cookie_name: str = "event_orders_login"
    cookie_expiry_days: float = 7.0
    # The demo (`make run`) may generate and keep its own cookie key under data/; a real deployment may not.
    demo: bool = False
    # Outgoing mail. Without SMTP_HOST, mail waits in the outbox as "held" and can be read on the Outbox page.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    # "starttls" (port 587), "ssl" (port 465) or "none" (a local relay without TLS).
    smtp_security: str = "starttls"
    mail_from: str = ""
    # How often the app's background dispatcher sends queued mail; 0 switches it off (cron runs
    # `python -m core outbox` instead).
    mail_dispatch_seconds: int = 15
    # How often the app's background thread runs the tick (events opening and closing, vendor lists at the
    # cutoff, purges, the outbox); 0 switches it off (cron or a systemd timer runs `python -m core tick` instead).
    tick_seconds: int = 60
    # The address attendees reach the app at, for links in mails (e.g. https://orders.example.org). `make run` and
    # `make serve` set it to the port they serve on unless it is configured.
    public_base_url: str = DEFAULT_PUBLIC_BASE_URL
    # Where `python -m core backup` writes (core/backups.py); empty means data/backups. Backups hold personal data.
    backup_dir: str = ""
    # Status texts to attendees who opted in (core/sms.py); SMS is off unless all three are set.
    sms_provider_url: str = ""
    sms_token: str = ""
    sms_sender: str = ""
    # Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For the app believes when picking a client's
    # address for its throttles; none by default. `make serve` trusts its own proxy on 127.0.0.1 (core/proxies.py).
    trusted_proxies: str = ""

    def __post_init__(self) -> None:
        parse_trusted_proxies(self.trusted_proxies)  # a bad entry fails at start, naming the setting


_NAMES = tuple(field.name.upper() for field in fields(Settings))


def load_settings(secrets: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings; `secrets` defaults to the project's secrets.toml and `environ` to os.environ.

    Raises ValueError naming the setting when a value has the wrong shape, so a bad deployment fails at start.
    Without arguments the result is cached by the settings' environment variables and the secrets file's
    stamp (pages read settings several times per script run, and the order path once per order), so a changed
    variable or an edited file is seen at the next call.
    """
    if secrets is None and environ is None:
        return _current_settings(tuple(os.environ.get(name) for name in _NAMES), _secrets_stamp())
    return _build_settings(secrets, environ)


def _secrets_stamp() -> tuple[int, int, int] | None:
    try:
        stat = SECRETS_FILE.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


@lru_cache(maxsize=8)
def _current_settings(_environment: tuple[str | None, ...], _stamp: tuple[int, int, int] | None) -> Settings:
    """Settings read afresh; the arguments are only the cache key (Settings is frozen, so sharing is safe)."""
    return _build_settings(None, None)


def _build_settings(secrets: Mapping[str, object] | None, environ: Mapping[str, str] | None) -> Settings:
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
    if isinstance(default, int):
        try:
            return int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"Setting {name} must be a whole number, not {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"Setting {name} must be a number, not {raw!r}") from None
    if not isinstance(raw, str):
        raise ValueError(f"Setting {name} must be a string")
    return raw.strip()


def local_public_base_url(settings: Settings, port: int) -> str:
    """PUBLIC_BASE_URL for `make run` on `port`: the configured address, else this machine's on that port."""
    if settings.public_base_url != DEFAULT_PUBLIC_BASE_URL:
        return settings.public_base_url
    return f"http://127.0.0.1:{port}"


def public_base_url_warning(settings: Settings, browser_url: str | None, server_port: int | None) -> str | None:
    """Why links in mail may lead elsewhere than this app, or None: PUBLIC_BASE_URL differs from the address in the
    organiser's browser (`browser_url`; loopback names count as one), or, without one, PUBLIC_BASE_URL is the
    default while the app serves on another port."""
    configured = urlsplit(settings.public_base_url)
    if browser_url:
        used = urlsplit(browser_url)
        if _origin(used) != _origin(configured):
            return (f"Links in mail lead to {settings.public_base_url}, but you are using this app at "
                    f"{used.scheme}://{used.netloc}. If attendees use this address too, set PUBLIC_BASE_URL to it "
                    "(README, Configuration).")
        return None
    if settings.public_base_url == DEFAULT_PUBLIC_BASE_URL and server_port and server_port != configured.port:
        return (f"PUBLIC_BASE_URL is not set, so links in mail lead to {settings.public_base_url}, but this app "
                f"serves on port {server_port}. Set PUBLIC_BASE_URL (README, Configuration), or start it with "
                "`make run PORT=...`, which sets it.")
    return None


def _origin(url: SplitResult) -> tuple[str, str, int | None]:
    host = (url.hostname or "").lower()
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, "loopback" if host in LOOPBACK_HOSTS else host, port


def backup_dir(settings: Settings) -> Path:
    """The directory backups go to: BACKUP_DIR, or data/backups."""
    return Path(settings.backup_dir).expanduser() if settings.backup_dir else DATA_DIR / "backups"


MIN_COOKIE_KEY_LENGTH = 32
DEMO_COOKIE_KEY_FILE = DATA_DIR / ".cookie-key"


def cookie_key(settings: Settings) -> str:
    """The key that signs login cookies; raises ValueError with instructions when it is missing or weak.

    Only the demo may go without one: it generates a random key once and keeps it in data/ (gitignored).
    """
    key = settings.cookie_key
    if key and len(key) < MIN_COOKIE_KEY_LENGTH:
        raise ValueError(f"COOKIE_KEY is too short: use at least {MIN_COOKIE_KEY_LENGTH} random characters.")
    if key:
        return key
    if not settings.demo:
        raise ValueError("COOKIE_KEY is not set. Put a random value of at least 32 characters in "
                         ".streamlit/secrets.toml or the environment, e.g. the output of "
                         "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`.")
    if not DEMO_COOKIE_KEY_FILE.exists():
        DEMO_COOKIE_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        DEMO_COOKIE_KEY_FILE.touch(mode=0o600)
        DEMO_COOKIE_KEY_FILE.write_text(secrets.token_urlsafe(48))
    return DEMO_COOKIE_KEY_FILE.read_text().strip()


def code_key(settings: Settings) -> bytes:
    """The HMAC key for redemption codes: CODE_KEY, or else one derived from the cookie key.

    Raises ValueError when CODE_KEY is too short, or (as `cookie_key` does) when there is no key to derive from.
    """
    if settings.code_key:
        if len(settings.code_key) < MIN_COOKIE_KEY_LENGTH:
            raise ValueError(f"CODE_KEY is too short: use at least {MIN_COOKIE_KEY_LENGTH} random characters.")
        return settings.code_key.encode()
    # A separate label, so the codes' key is not the cookie-signing key itself.
    return hmac.new(cookie_key(settings).encode(), b"redemption-codes", hashlib.sha256).digest()
