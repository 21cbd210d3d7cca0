"""Exports: sheets, pivot totals, filters, the vendor's view and its field limits, file names, permissions."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.db import read_only, unit_of_work
from core.errors import NotFound, PermissionDenied, SchemaError
from core.exports import ExportFilters, export_orders, order_sheets, prepare_export, vendor_export
from core.models import AuditEntry, Event, OrderStatus
from tests.factories import make_event, make_item, make_user
from tests.factories.exports import (
    ADDRESS,
    ADDRESS_TEXT,
    BASE,
    BREAKFAST,
    PHONE,
    PHONE_E164,
    World,
    batch_mails,
    make_vendor,
    make_world,
    place_at,
    read_csv,
    read_sheets,
    records,
    route,
    send_list,
)
from tests.factories.orders import hoodie, place, tshirts

FILE_NAME = re.compile(r"test-event-[a-z0-9-]+-\d{8}-\d{6}\.(xlsx|csv)")


@pytest.fixture
def world(engine: Engine) -> World:
    return make_world(engine)


def _export(world: World, fmt: str = "xlsx", filters: ExportFilters | None = None) -> Any:
    with unit_of_work(world.engine) as session:
        return export_orders(session, world.alice, world.event_id, filters or ExportFilters(), fmt)  # type: ignore[arg-type]


def _sheets(world: World, filters: ExportFilters | None = None) -> dict[str, list[list[object]]]:
    return read_sheets(_export(world, "xlsx", filters).data)


# --- the organiser's spreadsheet -------------------------------------------------------------------------------


def test_the_spreadsheet_has_orders_line_items_and_summary_sheets(world: World) -> None:
    ada = place_at(world, "a", [*tshirts(2), *hoodie(1)], size_note="Roomy, please")
    grace = place_at(world, "b", BREAKFAST, at=BASE + timedelta(hours=1), name="Grace Hopper",
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
    place_at(world, "late", tshirts(), at=datetime(2027, 3, 1, 23, 30, tzinfo=UTC))
    placed = records(_sheets(world)["Orders"])[0]["Placed at"]
    assert placed == datetime(2027, 3, 2, 0, 30)  # Berlin's time, naive: Excel has no time zones


def test_the_summary_pivots_quantities_per_item_and_variant_with_totals_leaving_out_cancelled_orders(
    world: World,
) -> None:
    place_at(world, "a", tshirts(2, size="M"))
    place_at(world, "b", [*tshirts(1, size="S"), *hoodie(1)])
    place_at(world, "c", tshirts(5, size="M"), status=OrderStatus.CANCELLED)
    place_at(world, "d", BREAKFAST, delivery=ADDRESS)
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
    place_at(world, "a", [*tshirts(1), {"item": "pin", "options": {}, "quantity": 2}])
    sheets = _sheets(world)
    assert records(sheets["Orders"])[0]["Total"] is None
    assert [row[4] for row in sheets["Line items"][1:]] == [12.5, None]


def test_filters_narrow_by_status_and_by_days_in_the_events_time_zone(world: World) -> None:
    first = place_at(world, "first", tshirts(), at=datetime(2027, 3, 1, 22, 30, tzinfo=UTC))  # 23:30 on 1 March
    second = place_at(world, "second", tshirts(), at=datetime(2027, 3, 1, 23, 30, tzinfo=UTC))  # 00:30 on 2 March
    shipped = place_at(world, "shipped", hoodie(), at=datetime(2027, 3, 2, 12, 0, tzinfo=UTC),
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
    both = place_at(world, "both", [*tshirts(2), *hoodie(1)])
    place_at(world, "hoodie", hoodie(1))
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
    ada = place_at(world, "a", [*tshirts(2), *hoodie(1)])
    exported = _export(world, "csv")
    assert exported.mimetype == "text/csv"
    assert "line-items" in exported.filename and exported.filename.endswith(".csv")
    assert read_csv(exported.data) == [
        ["Reference", "Item", "Variant", "Quantity", "Unit price", "Status"],
        [ada, "T-shirt", "Fitted, M", 2.0, 12.5, "Received"],
        [ada, "Hoodie", "L", 1.0, 30.0, "Received"],
    ]


def test_file_names_are_built_from_the_slug_and_a_timestamp_only(world: World) -> None:
    with unit_of_work(world.engine) as session:
        session.get_one(Event, world.event_id).title = "../../etc/passwd <b>"
    place_at(world, "a", tshirts())
    names = [_export(world, "xlsx").filename, _export(world, "csv").filename]
    with unit_of_work(world.engine) as session:
        names += [vendor_export(session, world.alice, world.event_id, world.printer_id, fmt=fmt).filename
                  for fmt in ("xlsx", "csv")]
    send_list(world)
    names.append(batch_mails(world)[0].attachment_name)
    assert all(FILE_NAME.fullmatch(str(name)) for name in names), names


def test_exports_are_audited_with_filters_and_counts_but_no_personal_data(world: World) -> None:
    place_at(world, "a", [*tshirts(2), *hoodie(1)])
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


# --- what a vendor sees ----------------------------------------------------------------------------------------


def test_a_vendor_export_holds_only_that_vendors_lines_and_the_fields_it_may_see(world: World) -> None:
    ada = place_at(world, "a", [*tshirts(2), *BREAKFAST], phone=PHONE, delivery=ADDRESS, size_note="secret note")
    place_at(world, "b", hoodie(1), name="Grace Hopper", email="grace@example.com")
    place_at(world, "c", tshirts(1), name="Alan Turing")
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
    csv_cells = [cell for row in read_csv(csv_file.data) for cell in row]
    assert all(cell in allowed | {"", 1.0} for cell in csv_cells), csv_cells
    assert {"Ada Lovelace", ADDRESS_TEXT} <= set(cells) and {"Ada Lovelace", ADDRESS_TEXT} <= set(csv_cells)


# --- permissions -----------------------------------------------------------------------------------------------

CALLS: dict[str, Callable[[Session, World], object]] = {
    "order_sheets": lambda s, w: order_sheets(s, w.bob, w.event_id, ExportFilters()),
    "export_orders": lambda s, w: export_orders(s, w.bob, w.event_id, ExportFilters(), "xlsx"),
    "vendor_export": lambda s, w: vendor_export(s, w.bob, w.event_id, w.printer_id),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_an_organiser_of_another_event_is_refused_by_every_function(
    world: World, call: Callable[[Session, World], object]
) -> None:
    place_at(world, "a", tshirts())
    with unit_of_work(world.engine) as session, pytest.raises(PermissionDenied):
        call(session, world)
    assert batch_mails(world) == []
    with read_only(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action.in_(["orders.exported", "vendor.batch_sent"]))) == 0


def test_the_exports_page_file_is_the_vendors_own_only_in_the_vendor_view(world: World) -> None:
    place_at(world, "a", [*tshirts(1), *BREAKFAST], delivery=ADDRESS)
    caterer = ExportFilters(vendor_id=world.caterer_id)
    with unit_of_work(world.engine) as session:
        own = prepare_export(session, world.alice, world.event_id, caterer, "xlsx")
        vendors = prepare_export(session, world.alice, world.event_id, caterer, "xlsx", vendor_view=True)
        unfiltered = prepare_export(session, world.alice, world.event_id, ExportFilters(), "xlsx", vendor_view=True)
    assert list(read_sheets(own.data)) == ["Orders", "Line items", "Summary"]
    assert list(read_sheets(vendors.data)) == ["Line items", "Summary"] and f"vendor-{world.caterer_id}" in vendors.filename
    assert list(read_sheets(unfiltered.data)) == ["Orders", "Line items", "Summary"]  # no vendor chosen: the organiser's
