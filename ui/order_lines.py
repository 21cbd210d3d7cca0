"""An order's lines as a table with its total: on the confirmation, the attendee's own order and the Orders page."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

import streamlit as st


class OrderLineLike(Protocol):
    """What the table shows of a line (core.orders.ReceiptLine, core.order_admin.OrderLineView)."""

    item_name: str
    variant_label: str
    quantity: int
    unit_price: Decimal | None


def show_order_lines(lines: Sequence[OrderLineLike], total: Decimal | None) -> None:
    """An order's lines as a table, and the total when every item has a price."""
    st.dataframe(
        [{"Item": line.item_name, "Choice": line.variant_label, "Quantity": line.quantity,
          "Price each": line.unit_price} for line in lines],
        hide_index=True, width="stretch",
        column_config={"Price each": st.column_config.NumberColumn(format="%.2f")},
    )
    if total is not None:
        st.markdown(f"**Total: {total:.2f}**")
