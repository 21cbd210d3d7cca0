"""Two workers behind HAProxy, as `make serve` starts them (deploy/serve.py): client addresses, an attendee's
journey, the tick done once across workers, a worker killed mid-burst, and the security headers in Chromium.

Each test runs on the suite's database: a SQLite file in WAL shared by both workers (`make serve`'s default),
or, on the suite's PostgreSQL pass, PostgreSQL (how workers span machines). Without haproxy the tests that
need it skip with the reason; CI installs it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.config import PROJECT_DIR
from core.db import make_engine, read_only, unit_of_work
from core.demo import seed_demo
from core.lookup import NOT_FOUND_MESSAGE
from core.models import AuditEntry, JobLease, LoginThrottle, Order, OrderPersonalData, PurgeReceipt, UserRole, utcnow
from core.throttle import client_key
from deploy.serve import STICKY_COOKIE, Stack, free_port, running_stack
from deploy.streamlit_client import Run, Session, run_sync
from tests.e2e.conftest import E2E_COOKIE_KEY, choose, screenshot, stored, textbox
from tests.factories import PASSWORD, make_shop, make_user
from tests.factories.exports import make_vendor, route
from tests.factories.orders import place, tshirts
from tests.mail_server import MailServer, running_mail_server
from tests.streamlit_server import start_streamlit, stop_streamlit

HAPROXY = shutil.which(os.environ.get("HAPROXY") or "haproxy")
needs_haproxy = pytest.mark.skipif(
    HAPROXY is None, reason="HAProxy is not installed (Debian: apt-get install haproxy); tests behind the proxy need it")
VENDOR = "orders@print.example"
ORGANISER = "olivia@example.org"
FORM_VALUES: dict[str, str | int | bool] = {
    "Full name *": "Attendee {n}", "Email *": "attendee{n}@example.org", "T-shirt type": "Fitted",
    "T-shirt size": "M", "T-shirt colour": "Black", "T-shirt quantity": 1,
    "I agree that my details are used for this order and deleted after the event. *": True,
}


def _seed(database_url: str) -> None:
    """The demo event and an admin `e2e`, in the database the workers will use."""
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        seed_demo(session)
        make_user(session, "e2e", role=UserRole.ADMIN)
    engine.dispose()


def _env(database_url: str, **settings: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "COOKIE_KEY": E2E_COOKIE_KEY, "DEMO": "false",
            "MAIL_DISPATCH_SECONDS": "0", "TICK_SECONDS": "0", "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
            **settings}


@contextmanager
def _serving(database_url: str, tmp_path: Path, **settings: str) -> Iterator[Stack]:
    _seed(database_url)
    with running_stack(2, free_port(), _env(database_url, **settings), tmp_path, log_dir=tmp_path / "logs") as stack:
        yield stack


def _mail_settings(server: MailServer) -> dict[str, str]:
    return {"SMTP_HOST": server.host, "SMTP_PORT": str(server.port), "SMTP_SECURITY": "none",
            "MAIL_FROM": "Event Orders <orders@example.org>"}


async def _failed_lookup(url: str, *, local_address: str, headers: Mapping[str, str] | None = None) -> Run:
    """Ask /lookup for an order that does not exist, as a client connecting from `local_address`."""
    async with Session(url, page="lookup", local_address=local_address, headers=headers, timeout=60) as client:
        await client.run()
        return await client.run({"Order reference": "NOSUCHREF", "Email address": "nobody@example.org"},
                                click="Find my order")


def _throttle_keys(database_url: str) -> set[str]:
    return {row.key for row in stored(database_url, LoginThrottle)}


# --- client addresses ----------------------------------------------------------------------------------------------


@needs_haproxy
def test_each_client_behind_the_proxy_has_its_own_throttle_key_and_a_forged_header_is_ignored(
        database_url: str, tmp_path: Path) -> None:
    with _serving(database_url, tmp_path) as stack:
        async def clients() -> list[Run]:
            return [
                await _failed_lookup(stack.url, local_address="127.0.0.2"),
                # The proxy appends the address it saw after the one this client made up.
                await _failed_lookup(stack.url, local_address="127.0.0.3",
                                     headers={"X-Forwarded-For": "198.51.100.7"}),
                # Straight to a worker, not through the proxy: an untrusted peer's header counts for nothing.
                await _failed_lookup(stack.workers[0].url, local_address="127.0.0.4",
                                     headers={"X-Forwarded-For": "198.51.100.9"}),
            ]

        runs = run_sync(clients())
    assert all(any(NOT_FOUND_MESSAGE in problem for problem in run.problems) for run in runs)  # each one counted
    keys = _throttle_keys(database_url)
    assert {client_key("lookup-client", address) for address in ("127.0.0.2", "127.0.0.3", "127.0.0.4")} <= keys
    for forged in ("198.51.100.7", "198.51.100.9", "unknown"):
        assert client_key("lookup-client", forged) not in keys


def test_a_forged_header_the_server_itself_would_believe_is_not_taken_as_the_address(
        database_url: str, tmp_path: Path) -> None:
    """uvicorn's own default (FORWARDED_ALLOW_IPS unset: 127.0.0.1 and ::1) swaps a local peer's address for its
    X-Forwarded-For; a deployment that kept that default must not let a local client pick its throttle key."""
    _seed(database_url)
    env = {**_env(database_url), "FORWARDED_ALLOW_IPS": "127.0.0.1,::1", "TRUSTED_PROXIES": ""}
    process, url = start_streamlit("app.py", env, tmp_path / "streamlit.log")
    try:
        run_sync(_failed_lookup(url, local_address="127.0.0.1", headers={"X-Forwarded-For": "198.51.100.9"}))
    finally:
        stop_streamlit(process)
    keys = _throttle_keys(database_url)
    assert client_key("lookup-client", "198.51.100.9") not in keys
    assert client_key("lookup-client", "unknown") in keys  # counted, against everyone without a known address


# --- an attendee, and the tick, across two workers --------------------------------------------------------------


def _rush_event(database_url: str) -> int:
    """An event with an order, whose batch vendor's cutoff and whose retention end come within seconds."""
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        now = utcnow()
        event = make_shop(session, slug="rush", opens_at=now - timedelta(days=40), closes_at=now - timedelta(days=35),
                          ends_at=now - timedelta(days=30) + timedelta(seconds=8), retention_days=30,
                          vendor_cutoff_at=now + timedelta(seconds=4))
        make_user(session, "olivia", member_of=[event])
        route(session, event, make_vendor(session, "Print Shop", emails=[VENDOR]), "tshirt")
        place(session, event, "rush-1", now=now - timedelta(days=38), items=tshirts(2))
        event_id = event.id
    engine.dispose()
    return event_id


def _one_tshirt(page) -> None:  # noqa: ANN001
    page.get_by_role("spinbutton", name="T-shirt quantity").fill("1")
    page.get_by_role("spinbutton", name="T-shirt quantity").press("Tab")


class LeaseWatcher:
    """Notes every holder of the tick's lease, polling the database, until stopped."""

    def __init__(self, database_url: str):
        self.holders: set[str] = set()
        self._engine = make_engine(database_url)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> LeaseWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._engine.dispose()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            with read_only(self._engine) as session:
                holder = session.scalar(select(JobLease.holder).where(JobLease.name == "tick"))
            if holder:
                self.holders.add(holder)

    def pids(self) -> set[int]:
        return {int(holder.split(":")[1]) for holder in self.holders}


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@needs_haproxy
def test_behind_the_proxy_an_attendee_orders_and_the_tick_in_both_workers_does_each_job_once(
        database_url: str, tmp_path: Path, page) -> None:  # noqa: ANN001
    with running_mail_server() as mail:
        settings = {**_mail_settings(mail), "TICK_SECONDS": "1", "MAIL_DISPATCH_SECONDS": "1"}
        with _serving(database_url, tmp_path, **settings) as stack, LeaseWatcher(database_url) as leases:
            event_id = _rush_event(database_url)
            page.goto(f"{stack.url}/?event=demo")
            textbox(page, "Full name *").fill("Ada Lovelace")
            textbox(page, "Email *").fill("ada@proxy.example")
            choose(page, "T-shirt type", "Fitted")
            choose(page, "T-shirt size", "M")
            choose(page, "T-shirt colour", "Black")
            _one_tshirt(page)
            page.get_by_text("I agree that my details").click()
            page.get_by_role("button", name="Place order").click()
            page.get_by_text("Your order reference is").wait_for()
            screenshot(page, "serve-1-confirmation")
            reference = re.search(r"\b([A-Z0-9]{6,})\b", page.get_by_text("Your order reference is").inner_text())
            assert reference is not None
            assert reference.group(1) in {order.reference for order in stored(database_url, Order)}

            def confirmation() -> list[str]:
                return [m.message.get_body(("plain",)).get_content() for m in mail.received
                        if "ada@proxy.example" in m.rcpt_tos]

            _wait(lambda: bool(confirmation()), 30, "the confirmation mail")
            link = re.search(r"(http://\S+/lookup\?t=\S+)", confirmation()[0])
            assert link is not None and link.group(1).startswith(f"{stack.url}/lookup?t=")  # the proxy, not a worker
            page.goto(link.group(1))
            page.get_by_text(reference.group(1)).first.wait_for()  # the secret link works through the proxy

            def vendor_lists() -> int:
                return sum(VENDOR in m.rcpt_tos for m in mail.received)

            def purged() -> bool:
                return bool(stored(database_url, PurgeReceipt))

            _wait(lambda: vendor_lists() >= 1 and purged(), 60, "the vendor list and the purge")
            _wait(lambda: len(leases.pids()) >= 2, 45, "both workers to have held the tick's lease")
            time.sleep(4)  # several more ticks in each worker: none may repeat the work
            workers = {worker.process.pid for worker in stack.workers}
        assert leases.pids() == workers
        assert vendor_lists() == 1
        assert len(confirmation()) == 1
    [receipt] = stored(database_url, PurgeReceipt)
    assert (receipt.event_id, receipt.actor) == (event_id, "system")
    actions = [entry.action for entry in stored(database_url, AuditEntry)]
    assert actions.count("vendor.batch_sent") == 1 and actions.count("event.purged") == 1


# --- a worker killed during a burst --------------------------------------------------------------------------------


async def _order(url: str, number: int, delay: float, shown: list[str], failed: list[str]) -> None:
    try:
        async with Session(url, "event=demo", timeout=60) as client:
            await client.run()
            values = {label: value.format(n=number) if isinstance(value, str) else value
                      for label, value in FORM_VALUES.items()}
            await client.run(values)
            await asyncio.sleep(delay)
            done = await client.run(values, click="Place order")
    except Exception as exc:  # noqa: BLE001 - a session on the killed worker breaks off; that is counted
        failed.append(f"{type(exc).__name__}: {exc}")
        return
    if done.reference:
        shown.append(done.reference)
    else:
        failed.append("; ".join(done.problems) or "no reference shown")


@needs_haproxy
def test_a_worker_killed_during_a_burst_loses_no_acknowledged_order_and_its_visitors_reload_onto_the_other(
        database_url: str, tmp_path: Path, page) -> None:  # noqa: ANN001
    with _serving(database_url, tmp_path) as stack:
        page.goto(f"{stack.url}/?event=demo")
        textbox(page, "Full name *").wait_for()
        [sticky] = [cookie["value"] for cookie in page.context.cookies() if cookie["name"] == STICKY_COOKIE]
        victim = next(worker for worker in stack.workers if worker.name == sticky)
        survivor = next(worker for worker in stack.workers if worker is not victim)
        shown: list[str] = []
        failed: list[str] = []

        async def burst() -> None:
            orders = [asyncio.create_task(_order(stack.url, n, 0.15 * n, shown, failed)) for n in range(30)]
            async with asyncio.timeout(90):
                while len(shown) < 5:  # the burst is under way: the first orders are confirmed, most still coming
                    await asyncio.sleep(0.05)
            victim.process.send_signal(signal.SIGKILL)
            await asyncio.gather(*orders)

        run_sync(burst())
        assert victim.process.wait(timeout=10) == -signal.SIGKILL
        assert failed, "the kill broke off no session: it did not happen during the burst"
        after: list[str] = []

        async def later_visitors() -> None:
            await asyncio.gather(*(_order(stack.url, 100 + n, 0, after, failed) for n in range(5)))

        run_sync(later_visitors())
        assert len(after) == 5  # the survivor serves every new visitor

        page.reload()  # the tab that was on the dead worker
        textbox(page, "Full name *").fill("Grace Hopper")
        textbox(page, "Email *").fill("grace@example.com")
        choose(page, "T-shirt type", "Fitted")
        choose(page, "T-shirt size", "M")
        choose(page, "T-shirt colour", "Black")
        _one_tshirt(page)
        page.get_by_text("I agree that my details").click()
        page.get_by_role("button", name="Place order").click()
        page.get_by_text("Your order reference is").wait_for()
        screenshot(page, "serve-2-after-failover")
        [now_sticky] = [cookie["value"] for cookie in page.context.cookies() if cookie["name"] == STICKY_COOKIE]
        assert now_sticky == survivor.name
        assert survivor.process.poll() is None
    references = {order.reference for order in stored(database_url, Order)}
    assert shown and set(shown) <= references  # every reference a client saw was stored
    assert set(after) <= references
    assert [answers["name"] for answers in _personal_answers(database_url)].count("Grace Hopper") == 1


def _personal_answers(database_url: str) -> list[dict[str, object]]:
    return [row.answers for row in stored(database_url, OrderPersonalData)]


# --- security headers in Chromium ----------------------------------------------------------------------------------

# Runs before the page's own scripts: collects every CSP violation the page reports.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
    (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@needs_haproxy
def test_the_public_form_the_login_and_the_dashboard_run_under_the_proxys_security_headers(
        database_url: str, tmp_path: Path, browser) -> None:  # noqa: ANN001
    with _serving(database_url, tmp_path) as stack:
        shown: list[str] = []
        run_sync(_order(stack.url, 1, 0, shown, []))  # so that the dashboard draws its charts
        assert shown
        context = browser.new_context(viewport={"width": 1000, "height": 1400})
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        page.set_default_timeout(20_000)
        console: list[str] = []
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        try:
            response = page.goto(f"{stack.url}/?event=demo")
            assert response is not None
            headers = response.headers
            assert "script-src 'self' 'wasm-unsafe-eval' 'sha256-" in headers["content-security-policy"]
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
            assert "strict-transport-security" not in headers  # plain http: no HSTS
            page.get_by_role("button", name="Place order").wait_for()
            textbox(page, "Full name *").fill("Ada Lovelace")
            violations_form = page.evaluate("window.__cspViolations")

            page.goto(f"{stack.url}/login")
            page.get_by_role("textbox", name="Username").wait_for()
            page.keyboard.press("Escape")  # a "Page not found" notice, if this worker had not drawn /login yet
            page.get_by_role("textbox", name="Username").fill("e2e")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url("**/dashboard")  # where a login lands
            # The login cookie's component runs in its iframe (under the CSP), and stores the cookie. Asked of the
            # browser context: the CSP refuses the eval behind page.wait_for_function, as it should.
            for _ in range(80):
                if any(cookie["name"] == "event_orders_login" for cookie in context.cookies()):
                    break
                page.wait_for_timeout(250)
            else:
                raise AssertionError("the login cookie was not stored within 20 s")
            violations_login = page.evaluate("window.__cspViolations")
            screenshot(page, "serve-3-login-under-csp")
            page.goto(f"{stack.url}/dashboard")  # tables and charts
            page.get_by_role("heading", name="Items ordered").wait_for()
            page.locator("canvas, svg.marks").first.wait_for()  # a chart drawn
            page.wait_for_timeout(1000)
            violations_dashboard = page.evaluate("window.__cspViolations")
        finally:
            context.close()
    assert violations_form == [] and violations_login == [] and violations_dashboard == []
    assert not [line for line in console if "Content Security Policy" in line or "Refused to" in line]


# --- the launcher ----------------------------------------------------------------------------------------------------


def test_make_serve_without_haproxy_says_how_to_install_it_and_fails(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "deploy.serve", "--workers", "2", "--port", str(free_port())],
                          cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HAPROXY": str(tmp_path / "no-haproxy-here")})
    assert done.returncode == 2
    assert "apt-get install haproxy" in done.stderr
    assert "Demo event" not in done.stdout  # it stopped before doing anything


def test_warming_a_worker_that_cannot_serve_names_the_problem(database_url: str, tmp_path: Path) -> None:
    """systemd's ExecStartPost: a worker without COOKIE_KEY starts, but its app refuses to run."""
    process, url = start_streamlit("app.py", {**_env(database_url), "COOKIE_KEY": ""}, tmp_path / "streamlit.log")
    try:
        done = subprocess.run([sys.executable, "-m", "deploy.warm", url], cwd=PROJECT_DIR, capture_output=True,
                              text=True, timeout=120)
    finally:
        stop_streamlit(process)
    assert done.returncode == 1
    assert "COOKIE_KEY is not set" in done.stderr


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(child) for child in (task / "children").read_text().split()}
    return found


@needs_haproxy
def test_make_serve_runs_in_the_foreground_and_ctrl_c_stops_every_child(database_url: str) -> None:
    port = free_port()
    with subprocess.Popen([sys.executable, "-m", "deploy.serve", "--workers", "2", "--port", str(port)],
                          cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=_env(database_url)) as launcher:
        try:
            assert launcher.stdout is not None
            output = []
            for line in launcher.stdout:
                output.append(line)
                if "Stop it with Ctrl+C" in line:
                    break
            assert f"Event Orders runs at http://127.0.0.1:{port}/" in "".join(output)
            children = _children(launcher.pid)
            assert len(children) == 3  # two workers and the proxy
            launcher.send_signal(signal.SIGINT)
            assert launcher.wait(timeout=120) == 0  # SIGTERM, up to 15 s per process, then SIGKILL
        finally:
            if launcher.poll() is None:
                launcher.kill()
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists() and
             "zombie" not in Path(f"/proc/{pid}/status").read_text()]
    assert alive == []
