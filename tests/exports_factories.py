"""Factories for the export and batch vendor tests: vendors created directly, and items routed to them."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.models import Event, Item, Vendor, VendorMode


def make_vendor(
    session: Session,
    name: str = "Print Shop",
    *,
    mode: VendorMode = VendorMode.BATCH,
    emails: Sequence[str] = ("orders@print.example",),
    visible_fields: Sequence[str] = ("name",),
    owner: Actor | None = None,
) -> Vendor:
    vendor = Vendor(name=name, mode=mode, emails=list(emails), visible_fields=list(visible_fields),
                    owner_id=owner.user_id if owner else None)
    session.add(vendor)
    session.flush()
    return vendor


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
