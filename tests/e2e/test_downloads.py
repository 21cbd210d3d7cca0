"""Issue 15, point 5: tables show personal data, so their toolbar offers no download of its own.

Streamlit's "Download as CSV" writes cells as they are (a name starting with = is a formula in a spreadsheet) and
nothing records it; the screens offer our own exports instead, neutralised and audited. config.toml switches the
toolbar's export off for every table (`client.disableDataExport`), which a browser shows or not.
"""

from __future__ import annotations

import re
import tomllib

from core.config import PROJECT_DIR
from core.db import make_engine, unit_of_work
from core.events import get_published_event
from core.orders import place_order
from tests.e2e.conftest import Server, log_in, screenshot


def test_the_configuration_switches_the_tables_own_export_off() -> None:
    config = tomllib.loads((PROJECT_DIR / ".streamlit" / "config.toml").read_text())
    assert config["client"]["disableDataExport"] is True


def test_the_orders_table_offers_no_csv_download_of_its_own(server: Server, browser) -> None:  # noqa: ANN001
    engine = make_engine(server.database_url)
    with unit_of_work(engine) as session:
        place_order(session, get_published_event(session, "demo"), {
            "name": "=HYPERLINK(\"https://evil.example\")", "email": "formula@example.com", "consent": True,
            "items": [{"item": "hoodie", "options": {"size": "M"}, "quantity": 1}],
        }, idempotency_key="e2e-download")
    engine.dispose()
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, server)
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Orders", exact=True).click()
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for()
    table.hover()
    # The toolbar is there (its search shows on hover); only its download is not.
    page.get_by_role("button", name=re.compile("^Search")).first.wait_for()
    screenshot(page, "orders-table-toolbar")
    assert page.get_by_role("button", name=re.compile("Download as CSV")).count() == 0
    context.close()
