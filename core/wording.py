"""How counts read in messages: "1 order", "2,000 orders"."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` with thousands separators and `noun`, or its plural (`noun` + "s" unless given) when not one."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
