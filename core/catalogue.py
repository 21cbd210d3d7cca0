"""What an event offers, as the order form sees it: items, their variant dimensions, the variants an attendee
can choose and the units left of each (`load_catalogue`).

Organisers edit items, variants, stock, pools and pictures through core/catalogue_admin.py.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from sqlalchemy import Text, bindparam, cast, select
from sqlalchemy.orm import Session

from core.db import transaction_connection
from core.errors import SchemaError
from core.models import Event, Item, StockPool, Variant
from core.money import lines_total

# How summaries show an item without dimensions (a breakfast box) in the variant column.
NO_VARIANT = "—"

# Joins a variant's option values into its key: "fitted/M/black". Dimension options may not contain it.
VARIANT_KEY_SEPARATOR = "/"
# Item keys and dimension names: lower-case letters, digits and _, starting with a letter.
ITEM_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


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
    # Units left (the variant's own stock and its item's pool, whichever is less); None means unlimited.
    remaining: int | None = None
    id: int = 0  # the Variant row's id (0 when built by hand, e.g. in tests)

    @property
    def sold_out(self) -> bool:
        return self.remaining == 0


@dataclass(frozen=True)
class CatalogueItem:
    """An item as the order form sees it; built from the database by `load_catalogue`."""

    key: str
    name: str
    description: str
    price: Decimal | None
    dimensions: tuple[Dimension, ...]
    variants: tuple[VariantChoice, ...]
    max_per_order: int
    image: bytes | None = None
    id: int = 0  # the Item row's id (0 when built by hand, e.g. in tests)
    pool_id: int | None = None
    requires_code: bool = False
    vendor_id: int | None = None

    def variant_for(self, options: Mapping[str, object]) -> VariantChoice | None:
        """The variant matching `options` (one value per dimension), or None."""
        wanted = variant_key(self.dimensions, options)
        return next((v for v in self.variants if v.key == wanted), None)


def chosen_total(catalogue: Sequence[CatalogueItem], lines: Sequence[Mapping[str, Any]]) -> Decimal | None:
    """What the chosen lines ({"item", "options", "quantity"}, as the form reads them) cost, before submitting.

    `money.lines_total` of each line's price and quantity, as the stored order's total will be; lines of items
    not on offer or without a whole positive quantity count for nothing (validation speaks of them). None when a
    chosen item has no price.
    """
    prices = {item.key: item.price for item in catalogue}
    return lines_total((prices[line["item"]], line["quantity"]) for line in lines
                       if line.get("item") in prices and type(line.get("quantity")) is int and line["quantity"] > 0)


def variant_key(dimensions: tuple[Dimension, ...], options: Mapping[str, object]) -> str | None:
    """The key of the variant that `options` picks, or None if an option is missing or not a string."""
    values = [options.get(d.name) for d in dimensions]
    if not all(isinstance(v, str) for v in values):
        return None
    return VARIANT_KEY_SEPARATOR.join(values)  # type: ignore[arg-type]


def variant_label(dimensions: tuple[Dimension, ...], options: Mapping[str, str]) -> str:
    """A human label such as "Fitted, M, Black"; empty for items without dimensions."""
    return ", ".join(options[d.name] for d in dimensions)


def variant_combinations(dimensions: Sequence[Dimension]) -> list[tuple[str, dict[str, str]]]:
    """(variant key, options) of every combination of the dimensions' options, in display order."""
    return [(VARIANT_KEY_SEPARATOR.join(combination),
             {d.name: option for d, option in zip(dimensions, combination, strict=True)})
            for combination in itertools.product(*(d.options for d in dimensions))]


def current_variant_keys(dimensions: Sequence[Dimension]) -> set[str]:
    """The keys of the variants an item with these dimensions offers now."""
    return {key for key, _ in variant_combinations(dimensions)}


def parse_dimensions(dimensions: Sequence[Mapping[str, Any]]) -> tuple[Dimension, ...]:
    """Check and convert stored dimension definitions; raises SchemaError naming the bad dimension."""
    parsed: list[Dimension] = []
    for position, raw in enumerate(dimensions, start=1):
        name, label, options = raw.get("name"), raw.get("label"), raw.get("options")
        where = f"Dimension {position} ('{name}')"
        if not isinstance(name, str) or not ITEM_KEY.fullmatch(name):
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


# Built once (it runs for every order placed and every form drawn): every active item of an event with each of
# its variants and what its pool has left, in display order, as plain rows. Core tables rather than ORM classes:
# the ORM's compile and result layers cost more than SQLite takes to run the query. Dimensions and options come
# as their stored JSON text: hashable, so that every column but the stock ones is the catalogue's fingerprint.
_ITEMS, _VARIANTS, _POOLS = Item.__table__, Variant.__table__, StockPool.__table__
_CATALOGUE_ROWS = (
    select(_ITEMS.c.id, _ITEMS.c.key, _ITEMS.c.name, _ITEMS.c.description, _ITEMS.c.price,
           cast(_ITEMS.c.dimensions, Text).label("dimensions"), _ITEMS.c.max_per_order, _ITEMS.c.pool_id,
           _ITEMS.c.requires_code, _ITEMS.c.vendor_id, _VARIANTS.c.id.label("variant_id"),
           _VARIANTS.c.key.label("variant_key"), cast(_VARIANTS.c.options, Text).label("options"), _VARIANTS.c.active.label("variant_active"),
           _VARIANTS.c.stock, _VARIANTS.c.sold, (_POOLS.c.capacity - _POOLS.c.sold).label("pool_left"))
    .join(_VARIANTS, _VARIANTS.c.item_id == _ITEMS.c.id)
    .outerjoin(_POOLS, _POOLS.c.id == _ITEMS.c.pool_id)
    .where(_ITEMS.c.event_id == bindparam("event_id"), _ITEMS.c.active)
    .order_by(_ITEMS.c.position, _ITEMS.c.id, _VARIANTS.c.id)
)
_ITEM_IMAGES = select(_ITEMS.c.id, _ITEMS.c.image).where(_ITEMS.c.event_id == bindparam("event_id"), _ITEMS.c.active,
                                                         _ITEMS.c.image_type.is_not(None))


# A catalogue row's columns that describe what is offered (everything but stock), in the query's order.
_STATIC_COLUMNS = ("id", "key", "name", "description", "price", "dimensions", "max_per_order", "pool_id",
                   "requires_code", "vendor_id", "variant_id", "variant_key", "options", "variant_active")
_STATIC_COUNT = len(_STATIC_COLUMNS)
assert tuple(column.name for column in _CATALOGUE_ROWS.selected_columns[:_STATIC_COUNT]) == _STATIC_COLUMNS
CatalogueFingerprint = tuple[tuple[Any, ...], ...]


def load_catalogue(session: Session, event: Event, *, images: bool = True) -> tuple[CatalogueItem, ...]:
    """The event's active items with their variants and the units left of each, in display order.

    `images=False` leaves the items' pictures unread (for callers that only check choices or stock). One query;
    the items are built once per catalogue content (`catalogue_fingerprint`, cached by `_offered`) and only the
    units left are applied on each call, so an organiser's edit shows at once and stock is always read anew.
    """
    rows = transaction_connection(session).execute(_CATALOGUE_ROWS, {"event_id": event.id}).all()
    offered = _offered(catalogue_fingerprint(rows))
    remaining = tuple(remaining_units(row.stock, row.sold, row.pool_left) for row in rows)
    catalogue = offered if not any(left is not None for left in remaining) else _with_remaining(offered, rows,
                                                                                                remaining)
    if not images or not catalogue:
        return catalogue
    pictures = dict(session.execute(_ITEM_IMAGES, {"event_id": event.id}).all())
    return tuple(replace(item, image=pictures[item.id]) if item.id in pictures else item for item in catalogue)


def catalogue_fingerprint(rows: Sequence[Any]) -> CatalogueFingerprint:
    """What the catalogue rows offer, without their stock: equal fingerprints give equal catalogues but for stock."""
    return tuple(row[:_STATIC_COUNT] for row in rows)  # the static columns come first in _CATALOGUE_ROWS


@lru_cache(maxsize=64)
def _offered(fingerprint: CatalogueFingerprint) -> tuple[CatalogueItem, ...]:
    """The catalogue described by `fingerprint`, every variant unlimited; cached by that content.

    Safe to share: items and variants are frozen and their parts immutable (tuples; a variant's options are a
    mapping proxy). Any edit of an item or variant changes the fingerprint, so it is built anew; the cache only
    spares rebuilding the same objects on every script run and every order.
    """
    by_item: dict[int, list[dict[str, Any]]] = {}
    for values in fingerprint:
        row = dict(zip(_STATIC_COLUMNS, values, strict=True))
        by_item.setdefault(row["id"], []).append(row)
    catalogue = []
    for item_id, rows in by_item.items():
        item = rows[0]
        # Variants of options an organiser removed stay in the database for the orders that name them.
        dimensions, current = _stored_dimensions(item["dimensions"])
        choices = []
        for v in rows:
            if v["variant_key"] in current:
                options = _stored_options(v["options"])
                choices.append(VariantChoice(key=v["variant_key"], options=options,
                                             label=variant_label(dimensions, options), available=v["variant_active"],
                                             id=v["variant_id"]))
        catalogue.append(CatalogueItem(key=item["key"], name=item["name"], description=item["description"],
                                       price=item["price"], dimensions=dimensions, variants=tuple(choices),
                                       max_per_order=item["max_per_order"], id=item_id, pool_id=item["pool_id"],
                                       requires_code=item["requires_code"], vendor_id=item["vendor_id"]))
    return tuple(catalogue)


def _with_remaining(offered: tuple[CatalogueItem, ...], rows: Sequence[Any],
                    remaining: tuple[int | None, ...]) -> tuple[CatalogueItem, ...]:
    """`offered` with each variant's units left (`remaining`, in the order of `rows`)."""
    left_by_variant = {row.variant_id: left for row, left in zip(rows, remaining, strict=True)}
    return tuple(
        replace(item, variants=tuple(
            VariantChoice(key=v.key, options=v.options, label=v.label, available=v.available,
                          remaining=left_by_variant[v.id], id=v.id) for v in item.variants))
        for item in offered)


@lru_cache(maxsize=1024)
def _stored_options(text: str) -> Mapping[str, str]:
    """A variant's stored options (JSON text), read-only; cached by the text."""
    return MappingProxyType(json.loads(text))


@lru_cache(maxsize=256)
def _stored_dimensions(text: str) -> tuple[tuple[Dimension, ...], frozenset[str]]:
    """An item's stored dimensions (JSON text) parsed, and the keys of the variants they offer; cached by the text.

    Safe to share: both depend on the text alone and are immutable (frozen dataclasses, tuples, a frozenset).
    Stock is not here: it is read anew for every call of `load_catalogue`.
    """
    dimensions = parse_dimensions(json.loads(text))
    return dimensions, frozenset(current_variant_keys(dimensions))


def remaining_units(stock: int | None, sold: int, pool_left: int | None) -> int | None:
    """Units left of a variant: its own stock and its pool's, whichever is less; None when neither limits it."""
    limits = [left for left in (None if stock is None else stock - sold, pool_left) if left is not None]
    return max(0, min(limits)) if limits else None
