"""What an event offers: items, their own variant dimensions, and the variants an attendee can choose."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.errors import SchemaError
from core.models import Event, Item, Variant

# Joins a variant's option values into its key: "fitted/M/black". Dimension options may not contain it.
VARIANT_KEY_SEPARATOR = "/"
_ITEM_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class Dimension:
    """One way an item varies, e.g. size with options S, M, L."""

    name: str
    label: str
    options: tuple[str, ...]


@dataclass(frozen=True)
class VariantChoice:
    """One orderable combination of an item's dimension options."""

    key: str
    options: Mapping[str, str]
    label: str
    available: bool = True


@dataclass(frozen=True)
class CatalogueItem:
    """An item as the order form sees it; built from the database by `items.load_catalogue`."""

    key: str
    name: str
    description: str
    price: Decimal | None
    dimensions: tuple[Dimension, ...]
    variants: tuple[VariantChoice, ...]
    max_per_order: int

    def variant_for(self, options: Mapping[str, object]) -> VariantChoice | None:
        """The variant matching `options` (one value per dimension), or None."""
        wanted = variant_key(self.dimensions, options)
        return next((v for v in self.variants if v.key == wanted), None)


def variant_key(dimensions: tuple[Dimension, ...], options: Mapping[str, object]) -> str | None:
    """The key of the variant that `options` picks, or None if an option is missing or not a string."""
    values = [options.get(d.name) for d in dimensions]
    if not all(isinstance(v, str) for v in values):
        return None
    return VARIANT_KEY_SEPARATOR.join(values)  # type: ignore[arg-type]


def variant_label(dimensions: tuple[Dimension, ...], options: Mapping[str, str]) -> str:
    """A human label such as "Fitted, M, Black"; empty for items without dimensions."""
    return ", ".join(options[d.name] for d in dimensions)


def add_item(
    session: Session,
    event: Event,
    *,
    key: str,
    name: str,
    dimensions: Sequence[Mapping[str, Any]] = (),
    description: str = "",
    price: Decimal | None = None,
    max_per_order: int = 10,
) -> Item:
    """Add an item and one variant per combination of its dimension options.

    `dimensions` look like [{"name": "size", "label": "Size", "options": ["S", "M"]}]; raises SchemaError
    naming the problem when they are malformed.
    """
    parsed = parse_dimensions(dimensions)
    if not _ITEM_KEY.fullmatch(key):
        raise SchemaError(f"Item key '{key}' must be lower-case letters, digits and underscores.")
    if max_per_order < 1:
        raise SchemaError(f"Item '{key}': the maximum per order must be at least 1.")
    item = Item(event=event, key=key, name=name, description=description, price=price, max_per_order=max_per_order,
                dimensions=[{"name": d.name, "label": d.label, "options": list(d.options)} for d in parsed],
                position=len(event.items))
    for combination in itertools.product(*(d.options for d in parsed)):
        options = {d.name: option for d, option in zip(parsed, combination, strict=True)}
        item.variants.append(Variant(key=VARIANT_KEY_SEPARATOR.join(combination), options=options))
    session.add(item)
    return item


def parse_dimensions(dimensions: Sequence[Mapping[str, Any]]) -> tuple[Dimension, ...]:
    """Check and convert stored dimension definitions; raises SchemaError naming the bad dimension."""
    parsed: list[Dimension] = []
    for position, raw in enumerate(dimensions, start=1):
        name, label, options = raw.get("name"), raw.get("label"), raw.get("options")
        where = f"Dimension {position} ('{name}')"
        if not isinstance(name, str) or not _ITEM_KEY.fullmatch(name):
            raise SchemaError(f"{where}: the name must be lower-case letters, digits and underscores.")
        if not isinstance(label, str) or not label.strip():
            raise SchemaError(f"{where}: give it a label.")
        if not isinstance(options, (list, tuple)) or not options or not all(isinstance(o, str) and o for o in options):
            raise SchemaError(f"{where}: give it at least one option.")
        if len(set(options)) != len(options) or any(VARIANT_KEY_SEPARATOR in o for o in options):
            raise SchemaError(f"{where}: options must be unique and may not contain '{VARIANT_KEY_SEPARATOR}'.")
        if any(d.name == name for d in parsed):
            raise SchemaError(f"{where}: the name is used twice.")
        parsed.append(Dimension(name=name, label=label.strip(), options=tuple(options)))
    return tuple(parsed)


def load_catalogue(session: Session, event: Event) -> tuple[CatalogueItem, ...]:
    """The event's active items with their variants, in display order."""
    items = session.scalars(
        select(Item).where(Item.event_id == event.id, Item.active).order_by(Item.position, Item.id)
        .options(selectinload(Item.variants))
    ).all()
    catalogue = []
    for item in items:
        dimensions = parse_dimensions(item.dimensions)
        variants = tuple(
            VariantChoice(key=v.key, options=dict(v.options), label=variant_label(dimensions, v.options),
                          available=v.active)
            for v in item.variants
        )
        catalogue.append(CatalogueItem(key=item.key, name=item.name, description=item.description, price=item.price,
                                       dimensions=dimensions, variants=variants, max_per_order=item.max_per_order))
    return tuple(catalogue)
