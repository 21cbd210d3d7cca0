"""The Items page's variants table: what an empty stock cell shows, and the stock a cell holds as core checks it."""

from __future__ import annotations

import math
import numbers

# What an empty Stock or Left cell means.
UNLIMITED = "Unlimited"


def typed_stock(cell: object) -> object:
    """The stock typed into a cell as core checks it: None for an empty cell, else the number as typed.

    Never rounded here (int(19.6) would save 19): core refuses what is not a whole number, beside the table.
    """
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return None
    if isinstance(cell, str):  # a column that held no number yet hands over what was typed
        text = cell.strip()
        return None if not text else int(text) if text.isdigit() else text
    if isinstance(cell, numbers.Integral) and not isinstance(cell, bool):
        return int(cell)
    return float(cell) if isinstance(cell, numbers.Real) and not isinstance(cell, bool) else cell
