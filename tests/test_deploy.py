"""deploy/: the proxy's configuration (rendered, checked by haproxy, HSTS only over TLS), the workers'
environment, the systemd units and the environment file example."""

from __future__ import annotations

import configparser
import http.server
import os
import shutil
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deploy.serve import (
    DEPLOY_DIR,
    PRODUCTION_CERT,
    PRODUCTION_WORKERS,
    STICKY_COOKIE,
    content_security_policy,
    free_port,
    render_config,
    worker_env,
)

HAPROXY = shutil.which(os.environ.get("HAPROXY") or "haproxy")
needs_haproxy = pytest.mark.skipif(
    HAPROXY is None, reason="HAProxy is not installed (Debian: apt-get install haproxy); these tests run it")
SYSTEMD = DEPLOY_DIR / "systemd"
SECRET_SETTINGS = {"COOKIE_KEY", "CODE_KEY", "SMTP_PASSWORD", "SMS_TOKEN", "DATABASE_URL",
                   "STREAMLIT_SERVER_COOKIE_SECRET"}


def test_the_shipped_proxy_config_is_the_template_rendered_for_the_installed_streamlit() -> None:
    """A Streamlit upgrade changes the hashes of its inline scripts: then regenerate deploy/haproxy.cfg with
    `python -m deploy.serve --print-config --tls-cert /etc/haproxy/certs/event-orders.pem > deploy/haproxy.cfg`."""
    rendered = render_config(PRODUCTION_WORKERS.split(","), listen=":80", tls_cert=PRODUCTION_CERT)
    assert (DEPLOY_DIR / "haproxy.cfg").read_text() == rendered


def test_the_csp_allows_scripts_only_from_the_site_and_by_hash() -> None:
    policy = dict(part.strip().split(" ", 1) for part in content_security_policy().split(";"))
    assert policy["default-src"] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["script-src"].count("'sha256-") == 2  # Streamlit's page and the login cookie's component
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'self'"


def test_workers_trust_their_proxy_and_link_mails_to_it() -> None:
    env = worker_env({"PATH": "/usr/bin"}, "http://127.0.0.1:8600", "secret")
    assert env["FORWARDED_ALLOW_IPS"] == ""
    assert env["TRUSTED_PROXIES"] == "127.0.0.1"
    assert env["PUBLIC_BASE_URL"] == "http://127.0.0.1:8600"
    assert env["STREAMLIT_SERVER_COOKIE_SECRET"] == "secret"


def test_workers_keep_what_the_operator_set() -> None:
    base = {"TRUSTED_PROXIES": "10.0.0.0/8", "PUBLIC_BASE_URL": "https://orders.example.org",
            "STREAMLIT_SERVER_COOKIE_SECRET": "theirs"}
    env = worker_env(base, "http://127.0.0.1:8600", "ours")
    assert env["TRUSTED_PROXIES"] == "10.0.0.0/8 127.0.0.1"
    assert env["PUBLIC_BASE_URL"] == "https://orders.example.org"
    assert env["STREAMLIT_SERVER_COOKIE_SECRET"] == "theirs"


@needs_haproxy
def test_haproxy_accepts_both_configurations(tmp_path: Path) -> None:
    local = tmp_path / "local.cfg"
    local.write_text(render_config(["127.0.0.1:8601", "127.0.0.1:8602"], listen=f"127.0.0.1:{free_port()}"))
    server = tmp_path / "server.cfg"
    server.write_text((DEPLOY_DIR / "haproxy.cfg").read_text().replace(PRODUCTION_CERT, str(_certificate(tmp_path))))
    for config in (local, server):
        done = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr


def _certificate(directory: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 with its key, in one PEM as HAProxy wants it."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
                   .not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    path = directory / "cert.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


class _Health(http.server.BaseHTTPRequestHandler):
    """A stand-in worker: 200 and a short body for everything."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _stand_in_worker() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@needs_haproxy
def test_over_tls_the_proxy_sends_hsts_and_a_secure_cookie_and_plain_http_only_redirects(tmp_path: Path) -> None:
    http_port, https_port = free_port(), free_port()
    with _stand_in_worker() as worker_port:
        config = tmp_path / "haproxy.cfg"
        config.write_text(render_config([f"127.0.0.1:{worker_port}"], listen=f"127.0.0.1:{http_port}",
                                        tls_cert=str(_certificate(tmp_path)), tls_listen=f"127.0.0.1:{https_port}"))
        with subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) as proxy:
            try:
                context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
                secure = _get(f"https://127.0.0.1:{https_port}/", context)
                with pytest.raises(urllib.error.HTTPError) as plain:
                    urllib.request.build_opener(_NoRedirect).open(f"http://127.0.0.1:{http_port}/", timeout=5)
                plain.value.close()
            finally:
                proxy.terminate()
                proxy.wait(timeout=10)
    assert secure.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert "Secure" in secure.headers["Set-Cookie"] and STICKY_COOKIE in secure.headers["Set-Cookie"]
    assert secure.headers["X-Content-Type-Options"] == "nosniff"
    assert plain.value.code == 301
    assert plain.value.headers["Location"] == f"https://127.0.0.1:{http_port}/"  # same host, https (port: :443)
    assert plain.value.headers["Strict-Transport-Security"] is None


def _get(url: str, context: ssl.SSLContext) -> object:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, context=context, timeout=5) as response:
                return response
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((SYSTEMD / name).read_text())
    return parser


def test_the_worker_unit_serves_its_port_on_loopback_without_believing_forwarded_headers_itself() -> None:
    unit = _unit("event-orders@.service")
    assert "streamlit run app.py --server.address 127.0.0.1 --server.port %i" in unit["Service"]["ExecStart"]
    assert "Environment=FORWARDED_ALLOW_IPS=" in (SYSTEMD / "event-orders@.service").read_text().splitlines()
    assert unit["Service"]["ExecStartPost"].endswith("-m deploy.warm http://127.0.0.1:%i")
    assert unit["Unit"]["Requires"] == "event-orders-migrate.service"
    assert unit["Install"]["WantedBy"] == "event-orders.target"


def test_the_tick_timer_runs_the_tick_every_minute() -> None:
    assert _unit("event-orders-tick.service")["Service"]["ExecStart"].endswith("-m core tick")
    assert _unit("event-orders-tick.timer")["Timer"]["OnCalendar"] == "*-*-* *:*:00"


def test_the_environment_file_example_holds_no_secret() -> None:
    assignments = [line.split("=", 1) for line in (DEPLOY_DIR / "event-orders.env.example").read_text().splitlines()
                   if line.strip() and not line.startswith("#")]
    assert assignments and all(len(pair) == 2 for pair in assignments)
    assert not [name for name, _ in assignments if name in SECRET_SETTINGS]
    assert dict(assignments)["TRUSTED_PROXIES"] == "127.0.0.1"
