"""Counts in messages read as a person would write them."""

from __future__ import annotations

import pytest

from core.wording import counted


@pytest.mark.parametrize(("count", "noun", "plural", "expected"), [
    (0, "order", None, "0 orders"),
    (1, "order", None, "1 order"),
    (2, "line item", None, "2 line items"),
    (2_000, "message", None, "2,000 messages"),
    (1, "entry", "entries", "1 entry"),
    (3, "entry", "entries", "3 entries"),
])
def test_a_count_takes_its_noun_in_the_singular_only_for_one(count: int, noun: str, plural: str | None,
                                                             expected: str) -> None:
    assert counted(count, noun, plural) == expected
