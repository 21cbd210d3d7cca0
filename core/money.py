"""Money: an event's currency (ISO 4217), how an amount is written, and what a set of lines costs.

One home for both, so that the public form's running total, the receipt, the mails, the order list, the
dashboard and the exports agree to the cent. Codes and symbols come from CLDR through Babel.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import Decimal
from functools import cache, lru_cache

from babel.core import get_global
from babel.numbers import (
    format_currency,
    get_currency_name,
    get_currency_precision,
    get_currency_symbol,
    get_territory_currencies,
)

DEFAULT_CURRENCY = "EUR"
# Amounts are written in English, as the rest of the interface is.
LOCALE = "en"
NO_BREAK_SPACE = "\u00a0"


@cache
def currency_codes() -> tuple[str, ...]:
    """The ISO 4217 codes of the currencies that are legal tender somewhere today, sorted (EUR, GBP, USD, ...)."""
    today = datetime.date.today()
    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory, start_date=today, tender=True))
    return tuple(sorted(codes))


def currency_problem(code: object) -> str | None:
    """Why `code` is not a currency an event can use, or None when it is one."""
    if isinstance(code, str) and code in currency_codes():
        return None
    return "Choose a currency from the list (an ISO 4217 code such as EUR)."


def currency_label(code: str) -> str:
    """A code with its English name for a picker: "EUR · Euro"."""
    return f"{code} · {get_currency_name(code, locale=LOCALE)}"


def format_money(amount: Decimal | float | int | None, currency: str) -> str:
    """`amount` as people read it in `currency`: "€12.50", "CHF 12.50", "¥1,200"; empty for None.

    A symbol that ends in a letter (CHF, SEK, CA$ does not) gets a no-break space before the number. Digits
    after the point are the currency's own (none for JPY, three for KWD).
    """
    # By its text, not its value: -0 equals 0 (and hashes alike) but is written "-€0.00".
    return "" if amount is None else _formatted(str(amount), currency)


@lru_cache(maxsize=4096)
def _formatted(amount: str, currency: str) -> str:
    """Cached: Babel takes some 50 µs a call, and a submit formats the same few prices several times (the
    form's total, the receipt, the confirmation mail)."""
    symbol = get_currency_symbol(currency, locale=LOCALE)
    gap = NO_BREAK_SPACE if symbol[-1:].isalpha() else ""
    return format_currency(Decimal(amount), currency, format=f"¤{gap}#,##0.00", locale=LOCALE,
                           currency_digits=True)


def column_format(currency: str) -> str:
    """A printf-style number format for a table column of amounts in `currency` ("€%.2f")."""
    symbol = get_currency_symbol(currency, locale=LOCALE).replace("%", "%%")
    gap = " " if symbol[-1:].isalpha() else ""
    return f"{symbol}{gap}%.{get_currency_precision(currency)}f"


def lines_total(lines: Iterable[tuple[Decimal | None, int]]) -> Decimal | None:
    """What (unit price, quantity) lines cost together; None when a line has no price (never a low guess).

    No lines cost nothing (zero). Used for the running total before submitting and for every stored order.
    """
    total = Decimal("0")
    for unit_price, quantity in lines:
        if unit_price is None:
            return None
        total += unit_price * quantity
    return total
