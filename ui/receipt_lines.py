"""An order's lines as the attendee sees them: on the confirmation and on their own order."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import streamlit as st

from core.orders import ReceiptLine


def show_receipt_lines(lines: Sequence[ReceiptLine], total: Decimal | None) -> None:
    """An order's lines as a table, and the total when every item has a price (also the confirmation screen's)."""
    st.dataframe(
        [{"Item": line.item_name, "Choice": line.variant_label, "Quantity": line.quantity,
          "Price each": line.unit_price} for line in lines],
        hide_index=True, width="stretch",
        column_config={"Price each": st.column_config.NumberColumn(format="%.2f")},
    )
    if total is not None:
        st.markdown(f"**Total: {total:.2f}**")
