"""`make serve`: N Streamlit workers behind HAProxy on 127.0.0.1, in the foreground; Ctrl+C stops them all.

    .venv/bin/python -m deploy.serve --workers 2 --port 8501     # what `make serve WORKERS=2 PORT=8501` runs
    .venv/bin/python -m deploy.serve --print-config --tls-cert /etc/haproxy/certs/event-orders.pem \\
        --workers-at 127.0.0.1:8601,127.0.0.1:8602 > haproxy.cfg      # a server's proxy config (deploy/README.md)

Set-up as `make run` does it (migrations, the demo seed and its first admin), then one `streamlit run app.py`
per worker on a free 127.0.0.1 port, each warmed by one session (so the first visitor does not wait for the
app's imports, and every worker's tick thread runs from the start), then HAProxy on 127.0.0.1:PORT with sticky
sessions. Workers trust only their own proxy's X-Forwarded-For (TRUSTED_PROXIES, FORWARDED_ALLOW_IPS=""),
share one Streamlit cookie secret, and put the proxy's address, not their own, in mail links. A worker that
dies is reported and its visitors go to the others; the launcher stops when the proxy or the last worker does.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import importlib.util
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import IO

import streamlit

if not __package__:  # run as `python deploy/serve.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import PROJECT_DIR, SECRETS_FILE, cookie_key, load_settings  # noqa: E402
from deploy.streamlit_client import open_page, run_sync  # noqa: E402

DEPLOY_DIR = Path(__file__).resolve().parent
TEMPLATE = DEPLOY_DIR / "haproxy.cfg.in"
STICKY_COOKIE = "event_orders_worker"
LOOPBACK = "127.0.0.1"
PROXY_MISSING = ("HAProxy is not installed, and `make serve` needs it as its reverse proxy.\n"
                 "  Debian/Ubuntu: apt-get install haproxy\n"
                 "  (`make run` serves one process without it.)")
HEALTH_TIMEOUT_SECONDS = 90
# deploy/haproxy.cfg: the systemd units' two workers (event-orders@8601, event-orders@8602).
PRODUCTION_WORKERS = "127.0.0.1:8601,127.0.0.1:8602"
PRODUCTION_CERT = "/etc/haproxy/certs/event-orders.pem"


class ServeError(Exception):
    """Why the workers or the proxy could not be started; the message is for the operator."""


# --- the proxy's configuration -------------------------------------------------------------------------------------


def inline_script_pages() -> list[Path]:
    """The HTML pages we serve that carry inline scripts: Streamlit's own, and the login cookie's component
    (extra_streamlit_components, used by streamlit-authenticator), which runs in an iframe from our origin."""
    cookie_manager = importlib.util.find_spec("extra_streamlit_components")
    pages = [Path(streamlit.__file__).parent / "static" / "index.html"]
    if cookie_manager is not None and cookie_manager.origin is not None:
        pages.append(Path(cookie_manager.origin).parent / "CookieManager" / "frontend" / "build" / "index.html")
    return pages


def content_security_policy() -> str:
    """A CSP that the installed Streamlit frontend runs under: its inline scripts allowed by their hashes.

    'wasm-unsafe-eval' lets Streamlit compile its WebAssembly (protobuf decoding); it allows no JavaScript eval.
    """
    scripts = [script for page in inline_script_pages()
               for script in re.findall(r"<script>(.*?)</script>", page.read_text(), flags=re.DOTALL)]
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
                      for script in scripts)
    return ("default-src 'self'; "
            f"script-src 'self' 'wasm-unsafe-eval' {hashes}; "
            "style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; "
            "font-src 'self' data:; "
            "connect-src 'self'; "
            "media-src 'self' data: blob:; "
            "worker-src 'self' blob:; "
            "frame-src 'self'; "
            "frame-ancestors 'self'; "
            "object-src 'none'; "
            "base-uri 'self'; "
            "form-action 'self'")


def render_config(workers: Sequence[str], *, listen: str, tls_cert: str | None = None,
                  tls_listen: str = ":443") -> str:
    """HAProxy's configuration for Streamlit workers at `workers` ("host:port" each).

    Without `tls_cert`: plain http on `listen` (host:port), as `make serve` runs. With it: http on `listen`
    redirecting to https on `tls_listen` with that certificate (a PEM with its key), HSTS and a Secure cookie.
    """
    if tls_cert:
        binds = f"    bind {listen}\n    bind {tls_listen} ssl crt {tls_cert} alpn h2,http/1.1"
        redirect = "    http-request redirect scheme https code 301 unless { ssl_fc }\n"
        global_tls = ("    # Mozilla's \"intermediate\" TLS settings.\n"
                      "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets\n"
                      "    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305\n")
    else:
        binds, redirect, global_tls = f"    bind {listen}", "", ""
    servers = "\n".join(f"    server w{n} {address} cookie w{n}" for n, address in enumerate(workers, 1))
    return Template(TEMPLATE.read_text()).substitute(
        binds=binds, redirect=redirect, global_tls=global_tls, servers=servers, csp=content_security_policy(),
        cookie_name=STICKY_COOKIE, cookie_secure=" secure" if tls_cert else "")


def find_proxy(binary: str | None = None) -> str:
    """The haproxy executable (`binary`, else HAPROXY from the environment, else `haproxy` on PATH)."""
    found = shutil.which(binary or os.environ.get("HAPROXY") or "haproxy")
    if found is None:
        raise ServeError(PROXY_MISSING)
    return found


# --- the workers' environment ---------------------------------------------------------------------------------------


def worker_env(base: Mapping[str, str], proxy_url: str, cookie_secret: str) -> dict[str, str]:
    """`base` plus what every worker behind our proxy needs (see the module's docstring)."""
    settings = load_settings(environ=base)  # the environment, then secrets.toml
    env = dict(base)
    env["FORWARDED_ALLOW_IPS"] = ""  # uvicorn must not swap the peer for the header: core/proxies.py decides
    if LOOPBACK not in settings.trusted_proxies.replace(",", " ").split():
        env["TRUSTED_PROXIES"] = f"{settings.trusted_proxies} {LOOPBACK}".strip()
    if "PUBLIC_BASE_URL" not in base and not _in_secrets("PUBLIC_BASE_URL"):
        env["PUBLIC_BASE_URL"] = proxy_url  # mail links lead to the proxy, never to one worker
    # One secret for all, so that a session's XSRF cookie from one worker is valid at another after a failover.
    env.setdefault("STREAMLIT_SERVER_COOKIE_SECRET", cookie_secret)
    return env


def _in_secrets(name: str) -> bool:
    return SECRETS_FILE.exists() and name in tomllib.loads(SECRETS_FILE.read_text())


# --- processes ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Worker:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


@dataclass(frozen=True)
class Stack:
    url: str
    workers: tuple[Worker, ...]
    proxy: subprocess.Popen[bytes]
    config: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@contextmanager
def running_stack(workers: int, port: int, env: Mapping[str, str], run_dir: Path, *, log_dir: Path | None = None,
                  warm: bool = True, proxy_binary: str | None = None, script: str = "app.py") -> Iterator[Stack]:
    """Start `workers` Streamlit processes and HAProxy on 127.0.0.1:`port`; stop them all on leaving.

    `env` is the whole environment the workers start from (worker_env is applied to it). Logs go to
    `log_dir` (worker-N.log, haproxy.log), else to this process's output. Raises ServeError when something
    does not come up, after stopping what did.
    """
    proxy = find_proxy(proxy_binary)
    url = f"http://{LOOPBACK}:{port}"
    environment = worker_env(env, url, secrets.token_urlsafe(32))
    with ExitStack() as stack:
        started: list[Worker] = []
        for n in range(1, workers + 1):
            worker_port = free_port()
            command = [sys.executable, "-m", "streamlit", "run", script, "--server.address", LOOPBACK,
                       "--server.port", str(worker_port), "--server.headless", "true"]
            process = _start(command, environment, _log(stack, log_dir, f"worker-{n}.log"))
            started.append(Worker(f"w{n}", worker_port, process))
        stack.callback(_stop, *(worker.process for worker in started))
        for worker in started:
            _wait_healthy(worker.url, worker.process, f"worker {worker.name}")
        if warm:
            _warm(started)
        config = run_dir / "haproxy.cfg"
        config.write_text(render_config([f"{LOOPBACK}:{worker.port}" for worker in started],
                                        listen=f"{LOOPBACK}:{port}"))
        proxy_process = _start([proxy, "-db", "-f", str(config)], os.environ, _log(stack, log_dir, "haproxy.log"))
        stack.callback(_stop, proxy_process)
        _wait_healthy(url, proxy_process, "HAProxy")
        yield Stack(url, tuple(started), proxy_process, config)


def _log(stack: ExitStack, log_dir: Path | None, name: str) -> IO[bytes] | None:
    if log_dir is None:
        return None
    log_dir.mkdir(parents=True, exist_ok=True)
    return stack.enter_context((log_dir / name).open("ab"))


def _start(command: Sequence[str], env: Mapping[str, str], log: IO[bytes] | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(command), cwd=PROJECT_DIR, env=dict(env), stdout=log,
                            stderr=subprocess.STDOUT if log else None)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServeError(f"{what} exited with status {process.returncode} while starting (see its log)")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise ServeError(f"{what} did not answer its health check at {url} within {HEALTH_TIMEOUT_SECONDS} s")


def _warm(workers: Sequence[Worker]) -> None:
    """One session per worker: imports the app, migrates, starts its tick thread; shows why it cannot start."""
    async def all_of_them() -> list[object]:
        return await asyncio.gather(*(open_page(worker.url) for worker in workers), return_exceptions=True)

    for worker, outcome in zip(workers, run_sync(all_of_them()), strict=True):
        problems = [f"{type(outcome).__name__}: {outcome}"] if isinstance(outcome, BaseException) else \
            outcome.problems  # type: ignore[attr-defined]
        if problems:
            raise ServeError(f"worker {worker.name} cannot serve the app: " + "; ".join(problems))


def _stop(*processes: subprocess.Popen[bytes]) -> None:
    """SIGTERM to all at once, then wait for each (SIGKILL after 15 s)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# --- `make serve` ---------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2")),
                        help="Streamlit processes (default 2, or WORKERS)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8501")),
                        help="the proxy's port on 127.0.0.1 (default 8501, or PORT)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the proxy's configuration for a server (see --workers-at, --listen, --tls-cert)")
    parser.add_argument("--workers-at", default=PRODUCTION_WORKERS,
                        help=f"with --print-config: the workers, host:port,... (default {PRODUCTION_WORKERS})")
    parser.add_argument("--listen", default=":80", help="with --print-config: where http is served (default :80)")
    parser.add_argument("--tls-cert", help="with --print-config: a PEM (certificate and key) for https on :443")
    args = parser.parse_args(argv)
    if args.print_config:
        print(render_config(args.workers_at.split(","), listen=args.listen, tls_cert=args.tls_cert), end="")
        return 0
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    try:
        find_proxy()
        _set_up()
        # SIGTERM (systemd, a test) stops the children as Ctrl+C does.
        signal.signal(signal.SIGTERM, _interrupt)
        with tempfile.TemporaryDirectory(prefix="event-orders-serve-") as run_dir, \
                running_stack(args.workers, args.port, os.environ, Path(run_dir)) as stack:
            _announce(stack)
            return _supervise(stack)
    except ServeError as exc:
        print(f"\nmake serve: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nStopped every worker and the proxy.", file=sys.stderr)
        return 0


def _set_up() -> None:
    """What `make run` does before it serves: migrate, seed the demo (printing a first admin's password)."""
    done = subprocess.run([sys.executable, "-m", "core", "demo"], cwd=PROJECT_DIR, check=False)
    if done.returncode != 0:
        raise ServeError("`python -m core demo` failed (see above)")
    try:  # the demo's generated cookie key is made here, once, rather than by N workers racing for the file
        cookie_key(load_settings())
    except ValueError as exc:
        raise ServeError(f"Event Orders is not configured: {exc}") from None


def _announce(stack: Stack) -> None:
    workers = ", ".join(f"{worker.name} on :{worker.port} (pid {worker.process.pid})" for worker in stack.workers)
    print(f"\n  Event Orders runs at {stack.url}/ (demo event: {stack.url}/?event=demo), through HAProxy to "
          f"{len(stack.workers)} workers: {workers}.\n  Organisers log in at {stack.url}/login\n"
          "  Stop it with Ctrl+C.\n", flush=True)


def _supervise(stack: Stack) -> int:
    """Wait; report a worker that exits (the proxy sends its visitors to the others); end with the last one."""
    reported: set[str] = set()
    while True:
        if stack.proxy.poll() is not None:
            print(f"make serve: HAProxy exited with status {stack.proxy.returncode}; stopping.", file=sys.stderr)
            return 1
        for worker in stack.workers:
            if worker.process.poll() is not None and worker.name not in reported:
                reported.add(worker.name)
                print(f"make serve: worker {worker.name} (port {worker.port}) exited with status "
                      f"{worker.process.returncode}; the proxy sends its visitors to the others.", file=sys.stderr)
        if len(reported) == len(stack.workers):
            print("make serve: every worker has exited; stopping.", file=sys.stderr)
            return 1
        time.sleep(0.5)


if __name__ == "__main__":
    raise SystemExit(main())
