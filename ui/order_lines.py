"""An order's lines as a table with its total: for the attendee who placed it (the confirmation, their own order on
Find my order) and for its organisers (the Orders page)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Protocol

import pyarrow as pa
import streamlit as st

from core.markup import escape_markdown
from core.money import column_format, format_money


class OrderLineLike(Protocol):
    """What the table shows of a line (core.orders.ReceiptLine, core.order_admin.OrderLineView)."""

    item_name: str
    variant_label: str
    quantity: int
    unit_price: Decimal | None


def show_receipt_lines(lines: Sequence[OrderLineLike], total: Decimal | None, currency: str,
                       statuses: Sequence[str] | None = None) -> None:
    """An order's lines for the attendee who placed it, as `show_order_lines` but a static HTML table, prices
    written out: a handful of lines all in view at once (the data grid draws on a canvas after the page), their
    text selectable, read as a table by a screen reader, without the grid's search and column tools."""
    rows = _rows(lines, statuses, price=lambda amount: format_money(amount, currency))
    st.table(pa.Table.from_pylist(rows), hide_index=True)
    _total(total, currency)


def show_order_lines(lines: Sequence[OrderLineLike], total: Decimal | None, currency: str,
                     statuses: Sequence[str] | None = None) -> None:
    """An order's lines for its organisers as a data grid (sorting, search, full screen), and the total when every
    item has a price, in the event's `currency`; `statuses`, one per line, adds a Status column."""
    rows = _rows(lines, statuses, price=lambda amount: amount)
    # An Arrow table, which Streamlit sends as it is: given a list, it builds a pandas frame and converts that to
    # Arrow, some 5 ms of CPU for two lines (bench/README.md).
    st.dataframe(
        pa.Table.from_pylist(rows),
        hide_index=True, width="stretch",
        column_config={"Price each": st.column_config.NumberColumn(format=column_format(currency))},
    )
    _total(total, currency)


def _rows(lines: Sequence[OrderLineLike], statuses: Sequence[str] | None,
          price: Callable[[Decimal | None], object]) -> list[dict[str, object]]:
    rows = [{"Item": line.item_name, "Choice": line.variant_label, "Quantity": line.quantity,
             "Price each": price(line.unit_price)} for line in lines]
    if statuses is not None:
        rows = [{**row, "Status": status} for row, status in zip(rows, statuses, strict=True)]
    return rows


def _total(total: Decimal | None, currency: str) -> None:
    if total is not None:
        st.markdown(f"**Total: {escape_markdown(format_money(total, currency))}**")
