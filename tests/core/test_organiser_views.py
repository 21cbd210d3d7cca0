"""Smaller points of issue 13 in core: the XLSX export's tracking column, filter and frozen header, the dashboard's
hourly chart for a day of orders, and readable audit details."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook
from sqlalchemy import Engine

from core.audit import readable_details
from core.dashboard import event_dashboard
from core.db import unit_of_work
from core.exports import ExportFilters, export_orders
from core.fulfilment import change_status
from core.models import OrderStatus
from tests.factories import make_shop, make_user
from tests.factories.exports import read_sheets, records
from tests.factories.orders import place

NOON = datetime(2027, 3, 1, 11, 0, tzinfo=UTC)  # 12:00 in Berlin


def test_the_xlsx_has_a_tracking_column_a_filter_and_a_frozen_header_row(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        alice = make_user(session, "alice", member_of=[event])
        shipped, waiting = place(session, event, "a", now=NOON), place(session, event, "b", now=NOON)
        change_status(session, alice, event.id, [shipped], OrderStatus.SHIPPED, tracking="https://track.example/1")
        xlsx = export_orders(session, alice, event.id, ExportFilters(), "xlsx")
    tracking = {row["Reference"]: row["Tracking"] for row in records(read_sheets(xlsx.data)["Orders"])}
    assert tracking == {shipped: "https://track.example/1", waiting: None}
    workbook = load_workbook(io.BytesIO(xlsx.data))
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title
        # The filter spans the header and every row, over every column.
        assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, sheet.max_column).column_letter}{sheet.max_row}"


def test_a_day_of_orders_is_counted_per_hour_in_the_events_time_zone(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session, timezone="Europe/Berlin")
        alice = make_user(session, "alice", member_of=[event])
        for key, later in (("a", 0), ("b", 10), ("c", 150)):
            place(session, event, key, now=NOON + timedelta(minutes=later))
        board = event_dashboard(session, alice, event.id, now=NOON + timedelta(hours=3))
    assert board.orders_per_hour is not None
    assert board.orders_per_hour.to_dict("records") == [
        {"Hour": "2027-03-01 12:00", "Orders": 2}, {"Hour": "2027-03-01 13:00", "Orders": 0},
        {"Hour": "2027-03-01 14:00", "Orders": 1}]


def test_orders_on_three_days_are_counted_per_day_only(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        event = make_shop(session)
        alice = make_user(session, "alice", member_of=[event])
        place(session, event, "a", now=NOON)
        place(session, event, "b", now=NOON + timedelta(days=2))
        board = event_dashboard(session, alice, event.id, now=NOON + timedelta(days=3))
    assert board.orders_per_hour is None
    assert len(board.orders_per_day) == 3


def test_audit_details_read_as_key_value_lines_without_json() -> None:
    assert readable_details({"fields": ["title", "slug"], "old": None, "new": 20, "public": True,
                             "filters": {"statuses": [], "date_from": "2027-01-01"}}) == [
        "fields: title, slug", "old: none", "new: 20", "public: yes", "filters: statuses none, date from 2027-01-01"]
    assert readable_details('{"order": "K7M2QX9P"}') == ["order: K7M2QX9P"]
    assert readable_details("") == [] and readable_details(None) == []
