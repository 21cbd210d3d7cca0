"""An order's lines as a table with its total: on the confirmation, the attendee's own order and the Orders page."""

from __future__ import annotations

from collections.abc import Sequence
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


def show_order_lines(lines: Sequence[OrderLineLike], total: Decimal | None, currency: str,
                     statuses: Sequence[str] | None = None) -> None:
    """An order's lines as a table, and the total when every item has a price, in the event's `currency`;
    `statuses`, one per line, adds a Status column."""
    rows = [{"Item": line.item_name, "Choice": line.variant_label, "Quantity": line.quantity,
             "Price each": line.unit_price} for line in lines]
    if statuses is not None:
        rows = [{**row, "Status": status} for row, status in zip(rows, statuses, strict=True)]
    # An Arrow table, which Streamlit sends as it is: given a list, it builds a pandas frame and converts that to
    # Arrow, some 5 ms of CPU for two lines, paid by every confirmation in a rush (bench/README.md).
    st.dataframe(
        pa.Table.from_pylist(rows),
        hide_index=True, width="stretch",
        column_config={"Price each": st.column_config.NumberColumn(format=column_format(currency))},
    )
    if total is not None:
        st.markdown(f"**Total: {escape_markdown(format_money(total, currency))}**")
