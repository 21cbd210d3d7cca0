"""Factories for the export, spreadsheet and batch vendor tests: vendors created directly, items routed to them,
and the world of two shops and two batch vendors that test_exports and test_vendor_batches share."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import read_only, unit_of_work
from core.models import Event, Item, MessageKind, Order, OrderLine, OrderStatus, OutboxMessage, Vendor
from core.vendor_batches import send_batch
from tests.factories import make_shop, make_user
from tests.factories.orders import place
from tests.factories.vendors import make_vendor


def route(session: Session, event: Event, vendor: Vendor, *item_keys: str) -> None:
    """Send the event's items with these keys to `vendor`."""
    for item in session.scalars(select(Item).where(Item.event_id == event.id, Item.key.in_(item_keys))):
        item.vendor_id = vendor.id
    session.flush()


# OOXML writes control characters such as CR as _x000D_; Excel reads them back as the character, openpyxl not.
_OOXML_ESCAPE = re.compile(r"_x([0-9A-F]{4})_")


def read_sheets(data: bytes) -> dict[str, list[list[object]]]:
    """Every sheet of an XLSX file as rows of cell values (header first), text as Excel reads it.

    Fails if any cell is a formula.
    """
    workbook = load_workbook(io.BytesIO(data))
    sheets = {}
    for sheet in workbook.worksheets:
        assert isinstance(sheet, Worksheet)
        formulas = [cell.coordinate for row in sheet.iter_rows() for cell in row if cell.data_type == "f"]
        assert formulas == [], f"formula cells in {sheet.title}: {formulas}"
        sheets[sheet.title] = [[_unescape(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    return sheets


def _unescape(value: object) -> object:
    return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value) if isinstance(value, str) else value


def records(rows: list[list[object]]) -> list[dict[str, object]]:
    """Rows (header first) as dicts by header."""
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


# Berlin is UTC+1 in March: an order at 23:30 UTC on 1 March was placed on 2 March there.
TIMEZONE = "Europe/Berlin"
BASE = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
ADDRESS = {"street": "1 High St", "city": "London", "postcode": "N1 1AA", "country": "GB"}
ADDRESS_TEXT = "1 High St, London, N1 1AA, GB"
PHONE = "+44 20 7946 0958"
PHONE_E164 = "+442079460958"
BREAKFAST = [{"item": "breakfast", "options": {}, "quantity": 1}]


@dataclass(frozen=True)
class World:
    engine: Engine
    event_id: int
    other_event_id: int
    alice: Actor  # organiser of the event
    bob: Actor  # organiser of the other event only
    printer_id: int  # batch vendor of t-shirts, sees names
    caterer_id: int  # batch vendor of breakfast, sees name and delivery address


def make_world(engine: Engine) -> World:
    """Two shops, an organiser of each, and two batch vendors of the first: t-shirts to print, breakfast to cater."""
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


def place_at(world: World, key: str, items: list[dict[str, Any]], *, at: datetime = BASE,
             status: OrderStatus = OrderStatus.RECEIVED, event_id: int | None = None, **answers: Any) -> str:
    """Place an order in the world's event (or `event_id`) at `at`, then set its status directly."""
    with unit_of_work(world.engine) as session:
        event = session.get_one(Event, event_id or world.event_id)
        reference = place(session, event, key, now=at, items=items, **answers)
        if status != OrderStatus.RECEIVED:
            session.execute(update(Order).where(Order.reference == reference).values(status=status))
        return reference


def send_list(world: World, vendor_id: int | None = None, *, actor: Actor | None | str = "alice",
              now: datetime = BASE) -> Any:
    """`send_batch` to the printer (or `vendor_id`) as alice, or as `actor` (None: the system)."""
    with unit_of_work(world.engine) as session:
        who = world.alice if actor == "alice" else actor
        return send_batch(session, who, world.event_id, vendor_id or world.printer_id, now)  # type: ignore[arg-type]


def batch_mails(world: World) -> list[OutboxMessage]:
    """The queued VENDOR_BATCH mails, oldest first, with their attachments loaded."""
    with read_only(world.engine) as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.VENDOR_BATCH)
                               .order_by(OutboxMessage.id)).all()
        for row in rows:
            assert row.attachment is not None  # loads the deferred column while the session is open
        return list(rows)


def read_csv(data: bytes) -> list[list[Any]]:
    """Rows of a CSV file; unquoted fields come back as floats, so numbers are told from text."""
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM, so that Excel reads UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), quoting=csv.QUOTE_NONNUMERIC))


def line_id(world: World, reference: str, item_key: str) -> int:
    """The id of the line of `item_key` in the order `reference`."""
    with read_only(world.engine) as session:
        return session.scalars(select(OrderLine.id).join(Order).where(Order.reference == reference,
                                                                      OrderLine.item_key == item_key)).one()
